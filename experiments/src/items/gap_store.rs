//! Duality gaps stored beside a run in the run store (`gaps-<hash>.csv`, hash of what the gaps
//! depend on): evaluated once on the run's checkpoints, read by every later call, so a finished
//! run gains them without retraining (dgap-gmm, fig18). A non-finite evaluation is kept as a NaN
//! row and its reason in `gaps-<hash>-failures.yaml`, not dropped.

use anyhow::{anyhow, bail, Context, Result};
use models::duality_gap::{DualityGapError, DualityGapSettings, DualityGaps};
use run_store::{RunDir, RunKey, Table};
use serde::Serialize;

pub const GAP_COLUMNS: [&str; 9] = ["epoch", "v", "dg", "pdg", "dg_v_worst_d", "dg_v_worst_g", "pdg_v_worst_d", "pdg_v_worst_g", "seconds"];

/// The worst-case search settings an item's YAML names (`ci` or `paper`), seeded per run.
pub fn gap_settings(file: &str, name: &str, seed: u64) -> Result<DualityGapSettings> {
    let s = match name {
        "ci" => DualityGapSettings::ci(),
        "paper" => DualityGapSettings::paper(),
        other => bail!("{file}: gaps: {other:?} is not one of ci, paper"),
    };
    Ok(DualityGapSettings { seed, ..s })
}

/// The gap table of `dir` for `epochs` under `key`, computing it with `eval(epoch)` where it is
/// not stored yet; returns it with the (epoch, reason) of every non-finite evaluation.
pub fn stored_gaps<K, F>(dir: &RunDir, key: &K, seed: u64, epochs: &[usize], mut eval: F) -> Result<(Table, Vec<(usize, String)>)>
where
    K: Serialize,
    F: FnMut(usize) -> Result<std::result::Result<DualityGaps, DualityGapError>>,
{
    let hash = RunKey::new("gaps", key, seed)?.hash();
    let name = format!("gaps-{hash}.csv");
    let failures_name = format!("gaps-{hash}-failures.yaml");
    let want: Vec<f64> = epochs.iter().map(|&e| e as f64).collect();
    if let Some(t) = dir.read_table(&name)? {
        if t.columns == GAP_COLUMNS && t.column("epoch") == want {
            let p = dir.file(&failures_name);
            let failures = match std::fs::read_to_string(&p) {
                Ok(y) => serde_yaml::from_str(&y).with_context(|| format!("{}", p.display()))?,
                Err(_) => vec![],
            };
            return Ok((t, failures));
        }
    }
    let mut t = Table::new(&GAP_COLUMNS);
    let mut failures = Vec::new();
    for &e in epochs {
        match eval(e)? {
            Ok(g) => t.push(vec![e as f64, g.v, g.dg.gap, g.perturbed.gap, g.dg.v_worst_d, g.dg.v_worst_g, g.perturbed.v_worst_d, g.perturbed.v_worst_g, g.seconds]),
            Err(err @ DualityGapError::NonFinite { .. }) => {
                failures.push((e, err.to_string()));
                let mut row = vec![f64::NAN; GAP_COLUMNS.len()];
                row[0] = e as f64;
                t.push(row);
            }
            Err(err) => return Err(anyhow!("epoch {e}: {err}")),
        }
    }
    // The failures first: a table without its failures file would read as "all finite".
    dir.write(&failures_name, serde_yaml::to_string(&failures)?.as_bytes())?;
    dir.write_table(&name, &t)?;
    Ok((t, failures))
}
