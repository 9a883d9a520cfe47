//! 2-D feature matrices (one sample a row) as a researcher has them: NumPy `.npy` files
//! (float32 or float64, C order, either byte order; format versions 1.0, 2.0 and 3.0) or CSV
//! without a header. The NPY format is small enough that a reader of our own (with typed errors
//! and fuzzing) is simpler than a dependency; see numpy's `numpy/lib/format.py` for the layout.

use std::path::Path;

use crate::{DataError, Result};

/// A row-major matrix of f64: `data[r * cols + c]`.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl FeatureMatrix {
    pub fn row(&self, r: usize) -> &[f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

/// Reads a feature matrix: `.npy` when the file starts with the NPY magic, else CSV.
pub fn read_matrix(path: &Path) -> Result<FeatureMatrix> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io { path: path.into(), source })?;
    if bytes.starts_with(NPY_MAGIC) {
        parse_npy(&bytes, path)
    } else {
        parse_csv(&bytes, path)
    }
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Parses a `.npy` file holding a 2-D float32/float64 array in C order.
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<FeatureMatrix> {
    if !bytes.starts_with(NPY_MAGIC) {
        let found = u32::from_be_bytes([0, 1, 2, 3].map(|i| bytes.get(i).copied().unwrap_or(0)));
        return Err(DataError::WrongMagic { path: path.into(), found, expected: 0x934e_554d, what: "NPY file (\\x93NUMPY)" });
    }
    let trunc = |what: &str, needed: usize| DataError::Truncated {
        path: path.into(),
        what: what.into(),
        needed: needed as u64,
        found: bytes.len() as u64,
    };
    if bytes.len() < 10 {
        return Err(trunc("the NPY preamble", 10));
    }
    let major = bytes[6];
    let (hlen, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(trunc("the NPY preamble", 12));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(DataError::invalid(path, "NPY preamble", format!("unknown format version {v}"))),
    };
    let end = start.checked_add(hlen).ok_or_else(|| trunc("the NPY header", usize::MAX))?;
    if bytes.len() < end {
        return Err(trunc("the NPY header", end));
    }
    let header = std::str::from_utf8(&bytes[start..end])
        .map_err(|_| DataError::invalid(path, "NPY header", "not ASCII/UTF-8 text"))?;
    let bad = |reason: String| DataError::invalid(path, "NPY header", reason);
    let descr = dict_value(header, "descr").ok_or_else(|| bad(format!("no 'descr' in {header:?}")))?;
    let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
    let (width, big_endian) = match descr {
        "<f8" | "=f8" | "f8" => (8, false),
        ">f8" => (8, true),
        "<f4" | "=f4" | "f4" => (4, false),
        ">f4" => (4, true),
        other => return Err(bad(format!("dtype {other:?} is not float32 or float64"))),
    };
    let fortran = dict_value(header, "fortran_order").ok_or_else(|| bad("no 'fortran_order'".into()))?;
    match fortran.trim() {
        "False" => {}
        "True" => return Err(bad("Fortran-ordered array; save it with np.ascontiguousarray first".into())),
        other => return Err(bad(format!("fortran_order {other:?} is not True/False"))),
    }
    let shape = dict_value(header, "shape").ok_or_else(|| bad("no 'shape'".into()))?;
    let dims: Vec<usize> = shape
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| bad(format!("shape {shape:?} is not a tuple of integers"))))
        .collect::<Result<_>>()?;
    if dims.len() != 2 {
        return Err(bad(format!("shape {dims:?}: expected a 2-D array (samples x features)")));
    }
    let (rows, cols) = (dims[0], dims[1]);
    let needed = rows
        .checked_mul(cols)
        .and_then(|n| n.checked_mul(width))
        .and_then(|n| n.checked_add(end))
        .ok_or_else(|| bad(format!("shape {dims:?} overflows")))?;
    if bytes.len() < needed {
        return Err(trunc(&format!("a {rows} x {cols} array of {width}-byte floats"), needed));
    }
    if bytes.len() > needed {
        return Err(DataError::invalid(path, "after the data", format!("{} trailing bytes", bytes.len() - needed)));
    }
    let body = &bytes[end..];
    let data: Vec<f64> = if width == 8 {
        body.chunks_exact(8)
            .map(|c| {
                let a: [u8; 8] = c.try_into().expect("8 bytes");
                if big_endian { f64::from_be_bytes(a) } else { f64::from_le_bytes(a) }
            })
            .collect()
    } else {
        body.chunks_exact(4)
            .map(|c| {
                let a: [u8; 4] = c.try_into().expect("4 bytes");
                (if big_endian { f32::from_be_bytes(a) } else { f32::from_le_bytes(a) }) as f64
            })
            .collect()
    };
    Ok(FeatureMatrix { rows, cols, data })
}

/// The text after `'key':` up to the next top-level comma or closing brace of a Python dict
/// literal (commas inside parentheses belong to the value).
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let pat1 = format!("'{key}'");
    let pat2 = format!("\"{key}\"");
    let at = header.find(&pat1).map(|i| i + pat1.len()).or_else(|| header.find(&pat2).map(|i| i + pat2.len()))?;
    let rest = header.get(at..)?.trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, ch) in rest.char_indices() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth <= 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

/// Parses header-less CSV: one sample a line, the same number of numeric fields on every line.
pub fn parse_csv(bytes: &[u8], path: &Path) -> Result<FeatureMatrix> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DataError::invalid(path, format!("byte {}", e.valid_up_to()), "neither an NPY file nor UTF-8 CSV text"))?;
    let mut data = Vec::new();
    let mut cols = 0;
    let mut rows = 0;
    for (k, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let start = data.len();
        for (c, f) in line.split(',').enumerate() {
            let v: f64 = f.trim().parse().map_err(|_| {
                DataError::invalid(path, format!("line {}, column {}", k + 1, c + 1), format!("{:?} is not a number (CSV without header expected)", f.trim()))
            })?;
            data.push(v);
        }
        let n = data.len() - start;
        if rows == 0 {
            cols = n;
        } else if n != cols {
            return Err(DataError::WrongRecordLength { path: path.into(), where_: format!("line {}", k + 1), found: n as u64, expected: cols as u64 });
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::invalid(path, "whole file", "no rows"));
    }
    Ok(FeatureMatrix { rows, cols, data })
}

/// Encodes a row-major f64 matrix as a version-1.0 `.npy` file ('<f8', C order).
pub fn encode_npy_f64(rows: usize, cols: usize, data: &[f64]) -> Vec<u8> {
    encode_npy(rows, cols, "<f8", data.iter().flat_map(|v| v.to_le_bytes()).collect())
}

/// Encodes a row-major matrix as a version-1.0 `.npy` file of float32 ('<f4', C order).
pub fn encode_npy_f32(rows: usize, cols: usize, data: &[f32]) -> Vec<u8> {
    encode_npy(rows, cols, "<f4", data.iter().flat_map(|v| v.to_le_bytes()).collect())
}

fn encode_npy(rows: usize, cols: usize, descr: &str, body: Vec<u8>) -> Vec<u8> {
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Pad with spaces so that magic + preamble + header + '\n' is a multiple of 64 bytes.
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + body.len());
    out.extend_from_slice(NPY_MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_both_widths() {
        let p = Path::new("f.npy");
        let d = vec![1.5, -2.0, 3.25, 0.0, 1e-3, 7.0];
        let m = parse_npy(&encode_npy_f64(2, 3, &d), p).unwrap();
        assert_eq!(m, FeatureMatrix { rows: 2, cols: 3, data: d.clone() });
        let f: Vec<f32> = d.iter().map(|&v| v as f32).collect();
        let m = parse_npy(&encode_npy_f32(3, 2, &f), p).unwrap();
        assert_eq!((m.rows, m.cols), (3, 2));
        assert_eq!(m.data, f.iter().map(|&v| v as f64).collect::<Vec<_>>());
        assert_eq!(encode_npy_f64(2, 3, &d).len() % 8, 0);
        assert_eq!((encode_npy_f64(2, 3, &d).len() - 48) % 64, 0, "header padded to 64 bytes");
    }

    fn replace(b: &[u8], from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let i = b.windows(from.len()).position(|w| w == from.as_bytes()).expect("pattern present");
        let mut out = b.to_vec();
        out[i..i + to.len()].copy_from_slice(to.as_bytes());
        out
    }

    #[test]
    fn npy_faults_are_named() {
        let p = Path::new("f.npy");
        let good = encode_npy_f64(2, 2, &[1.0; 4]);
        let e = parse_npy(&good[..good.len() - 3], p).unwrap_err().to_string();
        assert!(e.contains("f.npy: truncated") && e.contains("2 x 2"), "{e}");
        assert!(parse_npy(&replace(&good, "<f8", "<i8"), p).unwrap_err().to_string().contains("not float32 or float64"));
        assert!(parse_npy(&replace(&good, "(2, 2)", "(4,)  "), p).unwrap_err().to_string().contains("2-D"));
        assert!(parse_npy(&replace(&good, "False", "True "), p).unwrap_err().to_string().contains("Fortran"));
        assert!(matches!(parse_npy(b"NOTNUMPY", p).unwrap_err(), DataError::WrongMagic { .. }));
    }

    #[test]
    fn csv_reads_and_checks_row_lengths() {
        let p = Path::new("f.csv");
        let m = parse_csv(b"1,2,3\n4,5,6e-1\n\n", p).unwrap();
        assert_eq!(m, FeatureMatrix { rows: 2, cols: 3, data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 0.6] });
        let e = parse_csv(b"1,2,3\n4,5\n", p).unwrap_err().to_string();
        assert_eq!(e, "f.csv: line 2: wrong record length 2 (expected 3)");
        let e = parse_csv(b"a,b\n1,2\n", p).unwrap_err().to_string();
        assert!(e.contains("line 1, column 1") && e.contains("without header"), "{e}");
    }
}
