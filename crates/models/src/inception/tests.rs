//! Tests of the FID Inception network. No torch and no network here, so the tests write their own
//! PyTorch-format `.pth` file (the layout `torch.save(state_dict)` produces since PyTorch 1.6) in
//! pytorch-fid's key layout, with shapes taken from a table written from the Python sources
//! (torchvision `Inception3` + pytorch-fid's patched blocks), independently of the burn module.

use super::*;
use crate::backends::Flex;
use burn_store::BurnToPyTorchAdapter;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

type B = Flex;

// ---------- the state-dict layout, from torchvision/pytorch-fid's inception.py ----------

/// (name, in, out, kh, kw) of every `BasicConv2d`, in the Python modules' order.
fn conv_table() -> Vec<(String, usize, usize, usize, usize)> {
    let mut t: Vec<(String, usize, usize, usize, usize)> = vec![
        ("Conv2d_1a_3x3".into(), 3, 32, 3, 3),
        ("Conv2d_2a_3x3".into(), 32, 32, 3, 3),
        ("Conv2d_2b_3x3".into(), 32, 64, 3, 3),
        ("Conv2d_3b_1x1".into(), 64, 80, 1, 1),
        ("Conv2d_4a_3x3".into(), 80, 192, 3, 3),
    ];
    let mut add = |block: &str, rows: Vec<(&str, usize, usize, usize, usize)>| {
        for (n, i, o, kh, kw) in rows {
            t.push((format!("{block}.{n}"), i, o, kh, kw));
        }
    };
    // InceptionA(in_channels, pool_features)
    for (b, i, p) in [("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)] {
        add(b, vec![
            ("branch1x1", i, 64, 1, 1),
            ("branch5x5_1", i, 48, 1, 1),
            ("branch5x5_2", 48, 64, 5, 5),
            ("branch3x3dbl_1", i, 64, 1, 1),
            ("branch3x3dbl_2", 64, 96, 3, 3),
            ("branch3x3dbl_3", 96, 96, 3, 3),
            ("branch_pool", i, p, 1, 1),
        ]);
    }
    // InceptionB(288)
    add("Mixed_6a", vec![
        ("branch3x3", 288, 384, 3, 3),
        ("branch3x3dbl_1", 288, 64, 1, 1),
        ("branch3x3dbl_2", 64, 96, 3, 3),
        ("branch3x3dbl_3", 96, 96, 3, 3),
    ]);
    // InceptionC(768, channels_7x7)
    for (b, c7) in [("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)] {
        add(b, vec![
            ("branch1x1", 768, 192, 1, 1),
            ("branch7x7_1", 768, c7, 1, 1),
            ("branch7x7_2", c7, c7, 1, 7),
            ("branch7x7_3", c7, 192, 7, 1),
            ("branch7x7dbl_1", 768, c7, 1, 1),
            ("branch7x7dbl_2", c7, c7, 7, 1),
            ("branch7x7dbl_3", c7, c7, 1, 7),
            ("branch7x7dbl_4", c7, c7, 7, 1),
            ("branch7x7dbl_5", c7, 192, 1, 7),
            ("branch_pool", 768, 192, 1, 1),
        ]);
    }
    // InceptionD(768)
    add("Mixed_7a", vec![
        ("branch3x3_1", 768, 192, 1, 1),
        ("branch3x3_2", 192, 320, 3, 3),
        ("branch7x7x3_1", 768, 192, 1, 1),
        ("branch7x7x3_2", 192, 192, 1, 7),
        ("branch7x7x3_3", 192, 192, 7, 1),
        ("branch7x7x3_4", 192, 192, 3, 3),
    ]);
    // InceptionE(1280), InceptionE(2048)
    for (b, i) in [("Mixed_7b", 1280), ("Mixed_7c", 2048)] {
        add(b, vec![
            ("branch1x1", i, 320, 1, 1),
            ("branch3x3_1", i, 384, 1, 1),
            ("branch3x3_2a", 384, 384, 1, 3),
            ("branch3x3_2b", 384, 384, 3, 1),
            ("branch3x3dbl_1", i, 448, 1, 1),
            ("branch3x3dbl_2", 448, 384, 3, 3),
            ("branch3x3dbl_3a", 384, 384, 1, 3),
            ("branch3x3dbl_3b", 384, 384, 3, 1),
            ("branch_pool", i, 192, 1, 1),
        ]);
    }
    t
}

/// A tensor of the state dict: f32 values, or an int64 scalar (`num_batches_tracked`).
#[derive(Clone)]
enum Entry {
    F32(Vec<usize>, Vec<f32>),
    I64(i64),
}

/// splitmix64 -> uniform in [lo, hi): fast enough for 24M values in a test.
struct Rng(u64);
impl Rng {
    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + (hi - lo) * ((z >> 40) as f32 / (1u64 << 24) as f32)
    }
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// pytorch-fid's full state dict with random values scaled so activations stay O(1):
/// conv weights of variance 2/fan_in, BatchNorm near identity; plus `fc.*` (1008 classes) and
/// `num_batches_tracked`, which the loader must skip.
fn full_state_dict() -> &'static BTreeMap<String, Entry> {
    static SD: OnceLock<BTreeMap<String, Entry>> = OnceLock::new();
    SD.get_or_init(|| {
        let mut rng = Rng(5);
        let mut sd = BTreeMap::new();
        for (name, i, o, kh, kw) in conv_table() {
            let fan_in = (i * kh * kw) as f32;
            let a = (6.0 / fan_in).sqrt();
            sd.insert(format!("{name}.conv.weight"), Entry::F32(vec![o, i, kh, kw], rng.vec(o * i * kh * kw, -a, a)));
            sd.insert(format!("{name}.bn.weight"), Entry::F32(vec![o], rng.vec(o, 0.5, 1.5)));
            sd.insert(format!("{name}.bn.bias"), Entry::F32(vec![o], rng.vec(o, -0.1, 0.1)));
            sd.insert(format!("{name}.bn.running_mean"), Entry::F32(vec![o], rng.vec(o, -0.1, 0.1)));
            sd.insert(format!("{name}.bn.running_var"), Entry::F32(vec![o], rng.vec(o, 0.5, 1.5)));
            sd.insert(format!("{name}.bn.num_batches_tracked"), Entry::I64(0));
        }
        sd.insert("fc.weight".into(), Entry::F32(vec![1008, 2048], rng.vec(1008 * 2048, -0.01, 0.01)));
        sd.insert("fc.bias".into(), Entry::F32(vec![1008], rng.vec(1008, -0.01, 0.01)));
        sd
    })
}

// ---------- a minimal torch.save writer ----------

fn pickle_global(p: &mut Vec<u8>, module: &str, name: &str) {
    p.push(b'c');
    p.extend_from_slice(format!("{module}\n{name}\n").as_bytes());
}
fn pickle_str(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}
fn pickle_int(p: &mut Vec<u8>, v: usize) {
    p.push(b'J');
    p.extend_from_slice(&(v as i32).to_le_bytes());
}
fn pickle_int_tuple(p: &mut Vec<u8>, v: &[usize]) {
    p.push(b'(');
    for &x in v {
        pickle_int(p, x);
    }
    p.push(b't');
}

/// Writes `sd` as `torch.save` does (zip: `archive/data.pkl`, `archive/data/<key>`,
/// `archive/version`): the pickle (protocol 2) is an `OrderedDict` of
/// `torch._utils._rebuild_tensor_v2(persistent_id(('storage', torch.FloatStorage, key, 'cpu',
/// numel)), 0, shape, stride, False, OrderedDict())`, storages raw little-endian.
fn write_pth(path: &Path, sd: &BTreeMap<String, Entry>) {
    let mut p = vec![0x80, 2];
    pickle_global(&mut p, "collections", "OrderedDict");
    p.extend_from_slice(b")R");
    p.push(b'(');
    let mut storages: Vec<(String, Vec<u8>)> = Vec::new();
    for (idx, (key, entry)) in sd.iter().enumerate() {
        let skey = idx.to_string();
        let (storage, shape, bytes): (&str, Vec<usize>, Vec<u8>) = match entry {
            Entry::F32(shape, v) => ("FloatStorage", shape.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Entry::I64(v) => ("LongStorage", vec![], v.to_le_bytes().to_vec()),
        };
        let numel: usize = shape.iter().product();
        let mut stride = vec![1usize; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * shape[d + 1];
        }
        pickle_str(&mut p, key);
        pickle_global(&mut p, "torch._utils", "_rebuild_tensor_v2");
        p.push(b'(');
        p.push(b'(');
        pickle_str(&mut p, "storage");
        pickle_global(&mut p, "torch", storage);
        pickle_str(&mut p, &skey);
        pickle_str(&mut p, "cpu");
        pickle_int(&mut p, numel);
        p.push(b't');
        p.push(b'Q'); // BINPERSID
        pickle_int(&mut p, 0);
        pickle_int_tuple(&mut p, &shape);
        pickle_int_tuple(&mut p, &stride);
        p.push(0x89); // NEWFALSE
        pickle_global(&mut p, "collections", "OrderedDict");
        p.extend_from_slice(b")R");
        p.push(b't');
        p.push(b'R');
        storages.push((skey, bytes));
    }
    p.push(b'u'); // SETITEMS
    p.push(b'.');

    let tmp = path.with_extension("tmp");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&tmp).unwrap());
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("archive/data.pkl", opts).unwrap();
    z.write_all(&p).unwrap();
    for (k, bytes) in &storages {
        z.start_file(format!("archive/data/{k}"), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.start_file("archive/version", opts).unwrap();
    z.write_all(b"3\n").unwrap();
    z.finish().unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn tmp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("models-inception-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The network loaded from the full file, written once per test process and deleted once loaded
/// (it is ~100 MB; the loaded tensors are in memory).
fn loaded() -> &'static InceptionFid<B> {
    static NET: OnceLock<InceptionFid<B>> = OnceLock::new();
    NET.get_or_init(|| {
        let p = tmp_path(WEIGHTS_FILE);
        write_pth(&p, full_state_dict());
        let net = InceptionFid::<B>::load(&p, &Default::default()).expect("load");
        std::fs::remove_file(&p).ok();
        net
    })
}

// ---------- loading ----------

#[test]
fn every_parameter_is_loaded_with_the_written_values() {
    let net = loaded();
    let sd = full_state_dict();
    // Collect the module's tensors under PyTorch names (gamma/beta -> weight/bias).
    let snaps = net.collect(None, Some(Box::new(BurnToPyTorchAdapter)), true);
    let expected: Vec<&String> = sd.keys().filter(|k| !is_skipped_key(k)).collect();
    assert_eq!(snaps.len(), expected.len(), "tensor count of the network vs the file");
    assert_eq!(expected.len(), conv_table().len() * 5);
    for s in &snaps {
        let key = s.full_path();
        let Some(Entry::F32(shape, values)) = sd.get(&key) else { panic!("{key} is not a key of the file") };
        assert_eq!(s.shape.to_vec(), *shape, "{key}");
        let got: Vec<f32> = s.to_data().unwrap().to_vec().unwrap();
        assert!(got == *values, "{key}: values differ from the file");
    }
}

#[test]
fn missing_file_names_the_cache_and_the_url() {
    let e = InceptionFid::<B>::load(tmp_path("absent.pth"), &Default::default()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, InceptionError::MissingFile { .. }));
    assert!(msg.contains(WEIGHTS_CACHE_HINT) && msg.contains(WEIGHTS_URL), "{msg}");
}

/// The stem's entries only: a small file.
fn stem_only() -> BTreeMap<String, Entry> {
    full_state_dict().iter().filter(|(k, _)| k.starts_with("Conv2d_")).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[test]
fn missing_keys_are_listed() {
    let p = tmp_path("stem.pth");
    write_pth(&p, &stem_only());
    let e = InceptionFid::<B>::load(&p, &Default::default()).unwrap_err();
    let InceptionError::MissingKeys { count, examples, .. } = &e else { panic!("{e}") };
    assert_eq!(*count, (conv_table().len() - 5) * 5, "{e}");
    assert!(!examples.is_empty() && examples.iter().all(|k| k.starts_with("Mixed_")), "{e}");
    assert!(e.to_string().contains(&examples[0]));
    std::fs::remove_file(&p).ok();
}

#[test]
fn wrong_shape_is_an_error() {
    let mut sd = stem_only();
    sd.insert("Conv2d_1a_3x3.conv.weight".into(), Entry::F32(vec![32, 3, 1, 1], vec![0.0; 96]));
    let p = tmp_path("shape.pth");
    write_pth(&p, &sd);
    let e = InceptionFid::<B>::load(&p, &Default::default()).unwrap_err();
    assert!(matches!(e, InceptionError::Mismatch { .. }), "{e}");
    assert!(e.to_string().contains("Conv2d_1a_3x3.conv.weight"), "{e}");
    std::fs::remove_file(&p).ok();
}

#[test]
fn unknown_keys_are_an_error_but_fc_and_counters_are_skipped() {
    assert!(is_skipped_key("fc.weight") && is_skipped_key("AuxLogits.fc.bias"));
    assert!(is_skipped_key("Mixed_5b.branch1x1.bn.num_batches_tracked"));
    assert!(!is_skipped_key("Mixed_5b.branch1x1.bn.weight") && !is_skipped_key("fcx.weight"));
    let mut sd = full_state_dict().clone();
    sd.insert("Mixed_8a.branch1x1.conv.weight".into(), Entry::F32(vec![2], vec![0.0, 1.0]));
    let p = tmp_path("extra.pth");
    write_pth(&p, &sd);
    let e = InceptionFid::<B>::load(&p, &Default::default()).unwrap_err();
    let InceptionError::UnexpectedKeys { count, examples, .. } = &e else { panic!("{e}") };
    assert_eq!((*count, examples.as_slice()), (1, &["Mixed_8a.branch1x1.conv.weight".to_string()][..]));
    std::fs::remove_file(&p).ok();
}

// ---------- the forward pass ----------

#[test]
fn features_are_finite_rows_of_2048() {
    let net = loaded();
    let device = Default::default();
    // Two 1-channel 28x28 images (MNIST size), one batch of 1 each: resized to 299, grey -> RGB.
    let mut rng = Rng(11);
    let imgs = rng.vec(2 * 28 * 28, 0.0, 1.0);
    let f = net.features(&imgs, 2, 1, 28, 28, 1, &device).unwrap();
    assert_eq!(f.len(), 2 * FEATURE_DIM);
    assert!(f.iter().all(|v| v.is_finite() && *v >= 0.0), "pool of ReLU outputs is finite and >= 0");
    assert!(f.iter().any(|v| *v > 0.0));
    assert!(f[..FEATURE_DIM] != f[FEATURE_DIM..], "different images, different features");
    // Bad inputs are errors, not panics.
    assert!(matches!(net.features(&imgs, 2, 2, 28, 28, 1, &device), Err(InceptionError::BadInput(_))));
    assert!(matches!(net.features(&imgs[1..], 2, 1, 28, 28, 1, &device), Err(InceptionError::BadInput(_))));
    let mut bad = imgs.clone();
    bad[3] = 1.5;
    assert!(matches!(net.features(&bad, 2, 1, 28, 28, 1, &device), Err(InceptionError::BadInput(_))));
}

/// CPU time of one 299x299 forward (README "Inception FID"):
/// `cargo test --release -p models inception::tests::time_one_forward -- --ignored --nocapture`.
#[test]
#[ignore]
fn time_one_forward() {
    let net = loaded();
    let device = Default::default();
    let img = Rng(3).vec(3 * 299 * 299, 0.0, 1.0);
    for round in 0..3 {
        let t = std::time::Instant::now();
        let f = net.features(&img, 1, 3, 299, 299, 1, &device).unwrap();
        println!("round {round}: one 299x299 forward {:.3} s", t.elapsed().as_secs_f64());
        assert!(f.iter().all(|v| v.is_finite()));
    }
}

// ---------- the pieces whose PyTorch semantics are easy to get wrong ----------

fn tensor(v: Vec<f32>, shape: [usize; 4]) -> Tensor<B, 4> {
    Tensor::from_data(TensorData::new(v, shape), &Default::default())
}
fn values(t: Tensor<B, 4>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

/// `F.interpolate(mode="bilinear", align_corners=False)`: source coordinate
/// `max((dst + 0.5) * in / out - 0.5, 0)`, neighbours `floor` and `min(floor + 1, in - 1)`.
fn torch_bilinear(x: &[f32], h: usize, w: usize, oh: usize, ow: usize) -> Vec<f32> {
    let src = |d: usize, n_in: usize, n_out: usize| {
        let s = ((d as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        (i0, i1, s - i0 as f64)
    };
    let mut out = Vec::new();
    for oy in 0..oh {
        let (y0, y1, ly) = src(oy, h, oh);
        for ox in 0..ow {
            let (x0, x1, lx) = src(ox, w, ow);
            let g = |y: usize, xx: usize| x[y * w + xx] as f64;
            let v = (1.0 - ly) * ((1.0 - lx) * g(y0, x0) + lx * g(y0, x1)) + ly * ((1.0 - lx) * g(y1, x0) + lx * g(y1, x1));
            out.push(v as f32);
        }
    }
    out
}

#[test]
fn bilinear_resize_is_torch_align_corners_false() {
    let mut rng = Rng(7);
    for (h, w, oh, ow) in [(3, 4, 7, 9), (8, 6, 5, 4), (28, 28, 299, 299)] {
        let x = rng.vec(h * w, 0.0, 1.0);
        let got = values(interpolate(
            tensor(x.clone(), [1, 1, h, w]),
            [oh, ow],
            InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false),
        ));
        let want = torch_bilinear(&x, h, w, oh, ow);
        let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(err < 1e-5, "{h}x{w} -> {oh}x{ow}: max error {err}");
    }
    // The network's resize is that one.
    let x = rng.vec(2 * 3 * 5 * 5, 0.0, 1.0);
    let got = values(resize_bilinear(tensor(x.clone(), [2, 3, 5, 5]), 11));
    let want: Vec<f32> = x.chunks(25).flat_map(|c| torch_bilinear(c, 5, 5, 11, 11)).collect();
    assert!(got.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5));
}

#[test]
fn avg_pool_excludes_padding_and_max_pool_pads_with_minus_infinity() {
    // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let got = values(tf_avg_pool3(tensor(x.clone(), [1, 1, 3, 3])));
    // corner: mean of 4 in-image cells; edge: of 6; centre: of 9 (not /9 everywhere).
    let want = [
        (1. + 2. + 4. + 5.) / 4., (1. + 2. + 3. + 4. + 5. + 6.) / 6., (2. + 3. + 5. + 6.) / 4.,
        (1. + 2. + 4. + 5. + 7. + 8.) / 6., 45. / 9., (2. + 3. + 5. + 6. + 8. + 9.) / 6.,
        (4. + 5. + 7. + 8.) / 4., (4. + 5. + 6. + 7. + 8. + 9.) / 6., (5. + 6. + 8. + 9.) / 4.,
    ];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{got:?}");
    }
    // Mixed_7c's max pool (3x3, stride 1, pad 1) on negative values: padding never wins.
    let neg: Vec<f32> = x.iter().map(|v| -v).collect();
    let got = values(max_pool2d(tensor(neg, [1, 1, 3, 3]), [3, 3], [1, 1], [1, 1], [1, 1], false));
    assert_eq!(got, vec![-1., -1., -2., -1., -1., -2., -4., -4., -5.]);
}

#[test]
fn basic_conv_uses_running_stats_and_eps_0_001() {
    let device = Default::default();
    let mut bc = BasicConv2d::<B>::new(1, 1, [1, 1], 1, [0, 0], &device);
    let one = |v: f32| Tensor::<B, 1>::from_floats([v], &device);
    bc.conv.weight = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vec![2.0f32], [1, 1, 1, 1]), &device));
    bc.bn.gamma = burn::module::Param::from_tensor(one(1.5));
    bc.bn.beta = burn::module::Param::from_tensor(one(0.25));
    bc.bn.running_mean = burn::module::RunningState::new(one(0.5));
    // A variance comparable with eps so that eps = 1e-5 (burn's default) would be visible.
    bc.bn.running_var = burn::module::RunningState::new(one(0.002));
    let x = vec![-0.3f32, 0.1, 0.26, 0.9];
    let got = values(bc.forward(tensor(x.clone(), [1, 1, 2, 2])));
    for (xi, g) in x.iter().zip(got) {
        let y = 2.0 * *xi as f64;
        let want = (1.5 * (y - 0.5) / (0.002f64 + 0.001).sqrt() + 0.25).max(0.0);
        assert!((g as f64 - want).abs() < 1e-4 * want.abs().max(1.0), "x={xi}: {g} vs {want}");
    }
}
