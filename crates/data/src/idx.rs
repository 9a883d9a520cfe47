//! IDX files, the format of MNIST and Fashion-MNIST (`train-images-idx3-ubyte[.gz]`, ...).
//!
//! Layout (big-endian): two zero bytes, a type byte (0x08 = unsigned byte, the only one these
//! data sets use), the number of dimensions, then one u32 per dimension, then the data. Images
//! are `0x00000803` (n, rows, cols), labels `0x00000801` (n). gzip compression is detected from
//! the content, not from the file name.

use std::path::Path;

use crate::{read_maybe_gz, DataError, Images, Result};

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Parses an IDX array of unsigned bytes with the given magic: returns (dims, data). `path`
/// only names the file in errors.
pub fn parse(bytes: &[u8], expected_magic: u32, what: &'static str, path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let found_len = bytes.len() as u64;
    if bytes.len() < 4 {
        return Err(DataError::Truncated { path: path.into(), what: "the IDX magic number".into(), needed: 4, found: found_len });
    }
    let magic = be_u32(bytes);
    if magic != expected_magic {
        return Err(DataError::WrongMagic { path: path.into(), found: magic, expected: expected_magic, what });
    }
    let ndims = (magic & 0xff) as usize;
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(DataError::Truncated { path: path.into(), what: format!("the IDX header ({ndims} dimensions)"), needed: header as u64, found: found_len });
    }
    let dims: Vec<usize> = (0..ndims).map(|k| be_u32(&bytes[4 + 4 * k..]) as usize).collect();
    // u64 arithmetic: the product of up to three u32 values can exceed u64 only past 2^64, so
    // check it rather than trusting the header.
    let mut count: u64 = 1;
    for &d in &dims {
        count = count.checked_mul(d as u64).ok_or_else(|| {
            DataError::invalid(path, "IDX header", format!("dimensions {dims:?} overflow"))
        })?;
    }
    let needed = header as u64 + count;
    if found_len < needed {
        return Err(DataError::Truncated { path: path.into(), what: format!("{what} of dimensions {dims:?}"), needed, found: found_len });
    }
    if found_len > needed {
        return Err(DataError::invalid(
            path,
            "after the data",
            format!("{} trailing bytes beyond the {needed} that the header {dims:?} describes", found_len - needed),
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

/// Reads an IDX image file (magic 0x00000803): returns (n, rows, cols, pixels).
pub fn read_images(path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    let bytes = read_maybe_gz(path)?;
    parse_images(&bytes, path)
}

/// [`read_images`] on bytes already in memory (decompressed).
pub fn parse_images(bytes: &[u8], path: &Path) -> Result<(usize, usize, usize, Vec<u8>)> {
    let (dims, data) = parse(bytes, IMAGES_MAGIC, "IDX images (unsigned bytes, 3 dimensions)", path)?;
    Ok((dims[0], dims[1], dims[2], data))
}

/// Reads an IDX label file (magic 0x00000801).
pub fn read_labels(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_maybe_gz(path)?;
    parse_labels(&bytes, path)
}

/// [`read_labels`] on bytes already in memory (decompressed).
pub fn parse_labels(bytes: &[u8], path: &Path) -> Result<Vec<u8>> {
    Ok(parse(bytes, LABELS_MAGIC, "IDX labels (unsigned bytes, 1 dimension)", path)?.1)
}

/// Reads an image file and its label file into [`Images`]; the counts must agree and every
/// label must be below `classes`.
pub fn read_pair(images: &Path, labels: &Path, classes: usize) -> Result<Images> {
    let (n, rows, cols, pixels) = read_images(images)?;
    let labs = read_labels(labels)?;
    pair(n, rows, cols, pixels, labs, images, labels, classes)
}

/// Assembles [`Images`] from parsed parts, checking counts and labels.
#[allow(clippy::too_many_arguments)]
pub fn pair(
    n: usize,
    rows: usize,
    cols: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    images_path: &Path,
    labels_path: &Path,
    classes: usize,
) -> Result<Images> {
    if labels.len() != n {
        return Err(DataError::CountMismatch {
            path: labels_path.into(),
            what: "labels",
            found: labels.len(),
            other: images_path.into(),
            expected: n,
        });
    }
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        return Err(DataError::invalid(labels_path, format!("label {i}"), format!("value {l} is not below {classes}")));
    }
    Ok(Images { channels: 1, height: rows, width: cols, pixels, labels })
}

/// Writes images as an IDX file (uncompressed): for tests and for users who want to hand the
/// runner their own images.
pub fn encode_images(n: usize, rows: usize, cols: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + pixels.len());
    out.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
    for d in [n, rows, cols] {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(pixels);
    out
}

/// Writes labels as an IDX file (uncompressed).
pub fn encode_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    out.extend_from_slice(labels);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let px: Vec<u8> = (0..2 * 3 * 4).map(|v| v as u8).collect();
        let p = Path::new("t.idx");
        let (n, r, c, d) = parse_images(&encode_images(2, 3, 4, &px), p).unwrap();
        assert_eq!((n, r, c, d), (2, 3, 4, px));
        assert_eq!(parse_labels(&encode_labels(&[3, 1]), p).unwrap(), vec![3, 1]);
    }

    #[test]
    fn each_fault_is_named() {
        let p = Path::new("imgs.idx");
        let good = encode_images(2, 2, 2, &[0; 8]);
        let e = parse_labels(&good, p).unwrap_err().to_string();
        assert!(e.contains("imgs.idx") && e.contains("wrong magic number 0x00000803"), "{e}");
        let e = parse_images(&good[..20], p).unwrap_err().to_string();
        assert!(e.contains("truncated") && e.contains("needs 24 bytes, the file has 20"), "{e}");
        let e = parse_images(&good[..9], p).unwrap_err().to_string();
        assert!(e.contains("truncated") && e.contains("header"), "{e}");
        let mut long = good.clone();
        long.push(0);
        assert!(parse_images(&long, p).unwrap_err().to_string().contains("1 trailing bytes"));
        let mut huge = good;
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse_images(&huge, p).unwrap_err(), DataError::Truncated { .. }));
        let e = pair(2, 2, 2, vec![0; 8], vec![1], p, Path::new("labs.idx"), 10).unwrap_err().to_string();
        assert_eq!(e, "labs.idx: 1 labels but imgs.idx has 2");
        let e = pair(1, 2, 2, vec![0; 4], vec![10], p, Path::new("labs.idx"), 10).unwrap_err().to_string();
        assert!(e.contains("label 0") && e.contains("value 10"), "{e}");
    }
}
