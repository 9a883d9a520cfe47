//! CIFAR-10 binary version (`cifar-10-batches-bin/`): each batch file is a sequence of 3,073-byte
//! records, one label byte (0..=9) then 3,072 pixel bytes: the red, green and blue 32x32 planes,
//! each row-major. Five training batches (`data_batch_1.bin` ... `data_batch_5.bin`, 10,000
//! images each) and `test_batch.bin`. No registry reachable here ships these files; a user puts
//! them in the data folder, and the reader is tested on files the tests write in this format.

use std::path::{Path, PathBuf};

use crate::{read_maybe_gz, DataError, Images, Result};

/// Bytes of one record: label + 3 x 32 x 32 pixels.
pub const RECORD: usize = 1 + 3 * 32 * 32;

/// The class names, in label order.
pub const CLASSES: [&str; 10] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Which part of CIFAR-10.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// The batch files of a split, in order.
pub fn batch_files(dir: &Path, split: Split) -> Vec<PathBuf> {
    match split {
        Split::Train => (1..=5).map(|k| dir.join(format!("data_batch_{k}.bin"))).collect(),
        Split::Test => vec![dir.join("test_batch.bin")],
    }
}

/// Whether every batch file of the split is present.
pub fn available(dir: &Path, split: Split) -> bool {
    batch_files(dir, split).iter().all(|p| p.is_file())
}

/// Reads one batch file.
pub fn read_batch(path: &Path) -> Result<Images> {
    let bytes = read_maybe_gz(path)?;
    parse_batch(&bytes, path)
}

/// [`read_batch`] on bytes already in memory.
pub fn parse_batch(bytes: &[u8], path: &Path) -> Result<Images> {
    if bytes.is_empty() {
        return Err(DataError::Truncated { path: path.into(), what: "one CIFAR-10 record".into(), needed: RECORD as u64, found: 0 });
    }
    #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; the workspace allows 1.85
    if bytes.len() % RECORD != 0 {
        return Err(DataError::WrongRecordLength {
            path: path.into(),
            where_: format!("file of {} bytes ({} whole records and {} bytes left over)", bytes.len(), bytes.len() / RECORD, bytes.len() % RECORD),
            found: (bytes.len() % RECORD) as u64,
            expected: RECORD as u64,
        });
    }
    let n = bytes.len() / RECORD;
    let mut pixels = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(DataError::invalid(path, format!("record {i} (byte {})", i * RECORD), format!("label {} is not 0..=9", rec[0])));
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok(Images { channels: 3, height: 32, width: 32, pixels, labels })
}

/// Reads every batch of a split from `dir` and concatenates them.
pub fn read_split(dir: &Path, split: Split) -> Result<Images> {
    let mut all = Images { channels: 3, height: 32, width: 32, pixels: vec![], labels: vec![] };
    for f in batch_files(dir, split) {
        let b = read_batch(&f)?;
        all.pixels.extend_from_slice(&b.pixels);
        all.labels.extend_from_slice(&b.labels);
    }
    Ok(all)
}

/// Encodes images (3 x 32 x 32) as a batch file (for tests).
pub fn encode_batch(images: &Images) -> Vec<u8> {
    let mut out = Vec::with_capacity(images.len() * RECORD);
    for i in 0..images.len() {
        out.push(images.labels[i]);
        out.extend_from_slice(images.image(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_faults() {
        let im = Images {
            channels: 3,
            height: 32,
            width: 32,
            pixels: (0..2 * 3072).map(|v| (v * 7 % 256) as u8).collect(),
            labels: vec![9, 2],
        };
        let b = encode_batch(&im);
        let p = Path::new("data_batch_1.bin");
        assert_eq!(parse_batch(&b, p).unwrap(), im);
        let e = parse_batch(&b[..b.len() - 5], p).unwrap_err().to_string();
        assert!(e.contains("data_batch_1.bin") && e.contains("wrong record length") && e.contains("1 whole records"), "{e}");
        let mut bad = b.clone();
        bad[RECORD] = 10;
        let e = parse_batch(&bad, p).unwrap_err().to_string();
        assert!(e.contains("record 1") && e.contains("label 10"), "{e}");
        assert!(parse_batch(&[], p).unwrap_err().to_string().contains("truncated"));
    }
}
