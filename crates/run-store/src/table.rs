//! A numeric table with named columns, stored as CSV: the per-epoch records of a run. Values are
//! f64 written with Rust's shortest round-trip formatting, so a record read back is bit-identical
//! (NaN and infinities included), which the resume test relies on. Written by hand rather than
//! with polars because the run store is burn- and polars-free and needs exact round trips plus
//! line-and-column errors for truncated files.

use std::path::Path;

use crate::{Result, StoreError};

#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<f64>>,
}

impl Table {
    pub fn new(columns: &[&str]) -> Self {
        Self { columns: columns.iter().map(|c| c.to_string()).collect(), rows: vec![] }
    }

    /// Index of column `name`.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The values of column `name` (empty if there is no such column).
    pub fn column(&self, name: &str) -> Vec<f64> {
        match self.col(name) {
            Some(i) => self.rows.iter().map(|r| r[i]).collect(),
            None => vec![],
        }
    }

    /// Appends a row; its length must match the columns.
    pub fn push(&mut self, row: Vec<f64>) {
        assert_eq!(row.len(), self.columns.len(), "row of {} values for {} columns", row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// Keeps the rows whose column `name` is at most `max` (resume: drop what the checkpoint does
    /// not cover).
    pub fn truncate_after(&mut self, name: &str, max: f64) {
        if let Some(i) = self.col(name) {
            self.rows.retain(|r| r[i] <= max);
        }
    }

    pub fn to_csv(&self) -> String {
        let mut s = self.columns.join(",");
        s.push('\n');
        for r in &self.rows {
            let line: Vec<String> = r.iter().map(|v| fmt(*v)).collect();
            s.push_str(&line.join(","));
            s.push('\n');
        }
        s
    }

    /// Parses what [`Table::to_csv`] writes; a short row, a bad number or a missing final
    /// newline (a truncated file) is an error naming the line and column.
    pub fn parse_csv(text: &str, path: &Path) -> Result<Self> {
        let bad = |msg: String| StoreError::Table { path: path.to_path_buf(), msg };
        let mut lines = text.split_inclusive('\n');
        let header = lines.next().ok_or_else(|| bad("empty file (no header line)".into()))?;
        if !header.ends_with('\n') {
            return Err(bad("truncated: the header line has no end".into()));
        }
        let columns: Vec<String> = header.trim_end().split(',').map(|c| c.to_string()).collect();
        let mut rows = Vec::new();
        for (i, raw) in lines.enumerate() {
            let line_no = i + 2;
            if !raw.ends_with('\n') {
                return Err(bad(format!("line {line_no}: truncated (no end of line); remove the run folder or rerun to rewrite it")));
            }
            let fields: Vec<&str> = raw.trim_end().split(',').collect();
            if fields.len() != columns.len() {
                return Err(bad(format!("line {line_no}: {} values for {} columns", fields.len(), columns.len())));
            }
            let mut row = Vec::with_capacity(fields.len());
            for (c, f) in fields.iter().enumerate() {
                let v = parse(f).ok_or_else(|| bad(format!("line {line_no}, column `{}`: {f:?} is not a number", columns[c])))?;
                row.push(v);
            }
            rows.push(row);
        }
        Ok(Self { columns, rows })
    }
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:?}")
    }
}

fn parse(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn csv_round_trip_is_bit_exact(rows in proptest::collection::vec(proptest::collection::vec(any::<f64>(), 3), 0..20)) {
            let mut t = Table::new(&["a", "b", "c"]);
            for r in rows { t.push(r); }
            let back = Table::parse_csv(&t.to_csv(), Path::new("t.csv")).unwrap();
            prop_assert_eq!(back.columns.clone(), t.columns.clone());
            for (x, y) in back.rows.iter().flatten().zip(t.rows.iter().flatten()) {
                prop_assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
            }
        }
    }

    #[test]
    fn truncated_and_bad_files_name_the_line() {
        let p = Path::new("r.csv");
        let e = Table::parse_csv("epoch,fid\n1,2.5\n2,3", p).unwrap_err().to_string();
        assert!(e.contains("r.csv") && e.contains("line 3") && e.contains("truncated"), "{e}");
        let e = Table::parse_csv("epoch,fid\n1,x\n", p).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("`fid`"), "{e}");
        let e = Table::parse_csv("epoch,fid\n1\n", p).unwrap_err().to_string();
        assert!(e.contains("1 values for 2 columns"), "{e}");
        assert!(Table::parse_csv("", p).is_err());
    }

    #[test]
    fn truncate_after_keeps_the_checkpointed_rows() {
        let mut t = Table::new(&["epoch", "v"]);
        for e in 1..=5 {
            t.push(vec![e as f64, 0.5 * e as f64]);
        }
        t.truncate_after("epoch", 3.0);
        assert_eq!(t.column("epoch"), vec![1.0, 2.0, 3.0]);
    }
}
