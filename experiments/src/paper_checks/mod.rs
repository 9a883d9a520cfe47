//! The paper-checks ledger: `paper-checks/claims.yaml` lists the paper's checkable statements;
//! each names a `check` below, which recomputes the statement with the library crates,
//! independently of the expression being checked, and returns the recomputed value and a verdict.
//! The results go to `paper-checks/LEDGER.md` and `paper-checks/ledger.csv`.

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_yaml::{Mapping, Value};
use std::fmt::Write as _;
use std::path::Path;

use crate::output::{csv_bytes, frame, write_atomic};

mod checks;

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub id: String,
    pub location: String,
    pub claim: String,
    pub paper_value: String,
    /// Name of the recomputation in `checks.rs`.
    pub check: String,
    /// How the value is recomputed, in one sentence (shown in the ledger).
    pub how: String,
    /// Inputs of the recomputation taken from the paper (data, not results).
    #[serde(default)]
    pub args: Mapping,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Holds,
    Differs,
    NotCheckableHere,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Differs => "differs",
            Verdict::NotCheckableHere => "not-checkable-here",
        }
    }
}

/// The result of one recomputation.
pub struct Outcome {
    pub recomputed: String,
    pub verdict: Verdict,
    pub note: String,
}

impl Outcome {
    pub fn new(recomputed: impl Into<String>, verdict: Verdict, note: impl Into<String>) -> Self {
        Self { recomputed: recomputed.into(), verdict, note: note.into() }
    }
    pub fn holds_if(ok: bool, recomputed: impl Into<String>, note: impl Into<String>) -> Self {
        Self::new(recomputed, if ok { Verdict::Holds } else { Verdict::Differs }, note)
    }
}

/// Typed access to a claim's `args`.
pub struct Args<'a> {
    claim: &'a str,
    map: &'a Mapping,
    /// The claim's `paper_value`, as printed.
    pub paper: &'a str,
    /// Where the items' outputs are (claims about data read what the items computed).
    pub figures: &'a Path,
}

impl Args<'_> {
    pub fn f64(&self, key: &str) -> Result<f64> {
        self.map
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| anyhow!("claim {}: args.{key} (a number) is missing", self.claim))
    }
    pub fn str(&self, key: &str) -> Result<&str> {
        self.map
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("claim {}: args.{key} (a string) is missing", self.claim))
    }
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.map
            .get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| anyhow!("claim {}: args.{key} (an integer) is missing", self.claim))
    }
}

/// Does `computed` give the paper's printed value at the paper's printed precision, by rounding or
/// by truncation (the paper prints "~" values both ways, e.g. 4391.7 as 4391)?
pub fn matches_printed(printed: &str, computed: f64) -> bool {
    let Ok(p) = printed.trim().parse::<f64>() else { return false };
    let decimals = printed.trim().split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let unit = 10f64.powi(-decimals);
    let rounded = (computed - p).abs() <= 0.5 * unit + 1e-12;
    let truncated = (computed.abs() - p.abs()) >= -1e-12 && (computed.abs() - p.abs()) < unit && computed.signum() == p.signum();
    rounded || truncated
}

/// Significant-digit formatting for the ledger.
pub fn fmt(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if (1e-3..1e6).contains(&a) {
        let digits = (4 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.4e}")
    }
}

pub fn run(claims_path: &Path, out: &Path, figures: &Path) -> Result<()> {
    let text = std::fs::read_to_string(claims_path)
        .with_context(|| format!("{}: cannot read the claims file", claims_path.display()))?;
    let claims: Vec<Claim> = serde_yaml::from_str(&text)
        .map_err(|e| anyhow!("{}: {e}; fix that entry", claims_path.display()))?;
    let mut seen = std::collections::HashSet::new();
    for c in &claims {
        if !seen.insert(c.id.as_str()) {
            bail!("{}: claim id `{}` appears twice", claims_path.display(), c.id);
        }
    }
    let pb = indicatif::ProgressBar::new(claims.len() as u64);
    let mut rows = Vec::new();
    for c in &claims {
        pb.set_message(c.id.clone());
        let args = Args { claim: &c.id, map: &c.args, paper: &c.paper_value, figures };
        let o = checks::recompute(&c.check, &args).with_context(|| format!("claim {} (check {})", c.id, c.check))?;
        rows.push((c, o));
        pb.inc(1);
    }
    pb.finish_and_clear();

    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let col = |f: &dyn Fn(&(&Claim, Outcome)) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let mut df = frame(vec![
        ("id", col(&|r| r.0.id.clone()).into()),
        ("location", col(&|r| one_line(&r.0.location)).into()),
        ("claim", col(&|r| one_line(&r.0.claim)).into()),
        ("paper_value", col(&|r| one_line(&r.0.paper_value)).into()),
        ("recomputed", col(&|r| one_line(&r.1.recomputed)).into()),
        ("verdict", col(&|r| r.1.verdict.as_str().to_string()).into()),
        ("note", col(&|r| one_line(&r.1.note)).into()),
    ])?;
    write_atomic(&out.join("ledger.csv"), &csv_bytes(&mut df)?)?;

    let count = |v: Verdict| rows.iter().filter(|r| r.1.verdict == v).count();
    let mut md = String::new();
    writeln!(md, "# Paper-checks ledger\n")?;
    writeln!(
        md,
        "Recomputed by `cargo run --release -p experiments -- paper-checks` from `paper-checks/claims.yaml`. \
         {} claims: **{} hold**, **{} differ**, {} cannot be checked here.\n",
        rows.len(),
        count(Verdict::Holds),
        count(Verdict::Differs),
        count(Verdict::NotCheckableHere)
    )?;
    let esc = |s: &str| one_line(s).replace('|', "\\|");
    if count(Verdict::Differs) > 0 {
        writeln!(md, "## Where the paper and the recomputation differ\n")?;
        for (c, o) in rows.iter().filter(|r| r.1.verdict == Verdict::Differs) {
            writeln!(md, "- **{}** ({}): paper `{}`, recomputed `{}`. {}", c.id, one_line(&c.location), one_line(&c.paper_value), one_line(&o.recomputed), one_line(&o.note))?;
        }
        writeln!(md)?;
    }
    writeln!(md, "## All claims\n")?;
    writeln!(md, "| id | where | claim | paper | recomputed | verdict | how / note |\n|---|---|---|---|---|---|---|")?;
    for (c, o) in &rows {
        writeln!(
            md,
            "| {} | {} | {} | {} | {} | **{}** | {} {} |",
            c.id,
            esc(&c.location),
            esc(&c.claim),
            esc(&c.paper_value),
            esc(&o.recomputed),
            o.verdict.as_str(),
            esc(&c.how),
            esc(&o.note)
        )?;
    }
    write_atomic(&out.join("LEDGER.md"), md.as_bytes())?;
    eprintln!(
        "paper-checks: {} claims ({} hold, {} differ, {} not checkable here) -> {}",
        rows.len(),
        count(Verdict::Holds),
        count(Verdict::Differs),
        count(Verdict::NotCheckableHere),
        out.join("LEDGER.md").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_precision_is_respected() {
        assert!(matches_printed("8.9", 8.944));
        assert!(!matches_printed("8.9", 9.05));
        assert!(!matches_printed("8.9", 8.84));
        assert!(matches_printed("1877", 1877.2));
        assert!(!matches_printed("1877", 1878.0));
        assert!(matches_printed("4391", 4391.7), "truncation");
        assert!(!matches_printed("4391", 4390.4));
        assert!(matches_printed("0.45", 0.4472));
    }
}
