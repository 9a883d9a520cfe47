//! One module per catalogue item. Each `run` reads its settings, calls the library crates, and
//! writes pictures and data through [`ItemOutput`]; none of them holds mathematics of its own.

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::de::DeserializeOwned;
use serde_yaml::Value;
use std::path::PathBuf;

use crate::config::{self, Profile};
use crate::output::ItemOutput;

pub mod classifier;
pub mod detector_baselines;
pub mod detector_gmm;
pub mod dgap_gmm;
pub mod fig1;
pub mod fig11;
pub mod fig12;
pub mod fig13;
pub mod fig18;
pub mod fig2;
pub mod fig22;
pub mod fig3;
pub mod fig5;
pub mod gap_store;
pub mod gmm;
pub mod image_figs;
pub mod image_runs;
pub mod kl_toy;
pub mod mitigations_gmm;
pub mod mode_distances;
pub mod noised;
pub mod ode;
pub mod table1;

pub type RunFn = fn(&Ctx, &mut ItemOutput) -> Result<()>;

/// An item that cannot be built on this machine for a reason outside the project (data a user
/// must provide): returned as the item's error. `all` reports it as skipped (not a failure, and
/// not built); naming the item explicitly makes it an error.
#[derive(Debug)]
pub struct Skip(pub String);

/// The run store of this workspace (`$GAN_RUNS_DIR` or `runs/` beside the workspace's
/// `Cargo.toml`): the image runs and the Gaussian-mixture runs live there.
pub fn run_store() -> run_store::RunStore {
    let default = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.join("runs")).unwrap_or_else(|| "runs".into());
    run_store::RunStore::from_env(default)
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Skip {}

/// What a many-seed item returns under `--shard i/n` once its share of the runs is in the run
/// store: nothing is written (the figures need every shard); the call without `--shard`
/// assembles them.
#[derive(Debug)]
pub struct ShardDone(pub String);

impl std::fmt::Display for ShardDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ShardDone {}

/// Runs `work` on every job, `ctx.jobs` at a time on threads of this process, results in the
/// jobs' order; the first error wins. Under `--shard i/n` only the jobs at positions the shard
/// takes run, and the call then ends with [`ShardDone`] (their results live in the run store).
///
/// Each job is one independent training run: the runs are deterministic on the CPU backends
/// whatever runs beside them (the backend RNG is reseeded under a lock wherever a step draws
/// from it), so the outputs do not depend on `--jobs` (tested).
pub fn run_jobs<J: Sync, T: Send>(ctx: &Ctx, what: &str, jobs: &[J], work: impl Fn(&J) -> Result<T> + Sync) -> Result<Vec<T>> {
    let mine: Vec<usize> = (0..jobs.len()).filter(|i| ctx.shard.is_none_or(|s| s.takes(*i))).collect();
    let overall = ctx.progress(mine.len() as u64, what);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<Result<T>>>> = mine.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..ctx.jobs.clamp(1, mine.len().max(1)) {
            scope.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(&i) = mine.get(k) else { break };
                let r = work(&jobs[i]);
                let failed = r.is_err();
                *results[k].lock().expect("result slot") = Some(r);
                overall.inc(1);
                if failed {
                    // stop handing out work: the first error is reported
                    next.store(mine.len(), std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    overall.finish_and_clear();
    let mut out = Vec::with_capacity(mine.len());
    for slot in results {
        // a slot is empty only after a failed job, whose error comes first
        if let Some(r) = slot.into_inner().expect("result slot") {
            out.push(r?);
        }
    }
    if let Some(s) = ctx.shard {
        return Err(ShardDone(format!("shard {}/{}: {} of {} {what} in the run store", s.index, s.count, out.len(), jobs.len())).into());
    }
    Ok(out)
}

/// What every item gets: profile, seed, settings and a place for progress bars.
pub struct Ctx {
    pub profile: Profile,
    pub seed: u64,
    pub config_dir: PathBuf,
    pub overrides: Vec<(String, Value)>,
    pub multi: MultiProgress,
    /// burn backend of the training items (`--backend`).
    pub backend: models::BackendKind,
    /// Training runs at a time on this machine (`--jobs`).
    pub jobs: usize,
    /// This process's share of the many-seed items' runs (`--shard i/n`).
    pub shard: Option<run_store::Shard>,
}

impl Ctx {
    /// The item's settings from `<config_dir>/<id>.yaml`, profile and `--set` applied.
    pub fn settings<T: DeserializeOwned>(&self, id: &str) -> Result<T> {
        config::load(&self.config_dir, id, self.profile, &self.overrides)
    }

    /// A progress bar for `len` steps of work (hidden when stderr is not a terminal).
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        let pb = self.multi.add(ProgressBar::new(len));
        pb.set_style(
            ProgressStyle::with_template("  {msg:<28} [{bar:30}] {pos}/{len} {elapsed_precise}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_message(what.to_string());
        pb
    }
}

/// Evenly spaced points from `a` to `b` inclusive.
pub fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    (0..n).map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect()
}
