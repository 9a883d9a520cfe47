//! One module per catalogue item. Each `run` reads its settings, calls the library crates, and
//! writes pictures and data through [`ItemOutput`]; none of them holds mathematics of its own.

use anyhow::{Context, Result};
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

/// Runs `work` on every job, results in the jobs' order; the first error wins. Under
/// `--shard i/n` only the jobs at positions the shard takes run, and the call then ends with
/// [`ShardDone`] (their results live in the run store).
///
/// Each job is one independent training run into the run store. With `--jobs N > 1` the runs are
/// trained by N worker processes (this binary again, `run <item> --shard ..`, one run at a time
/// each), and this process then reads them back from the store; runs that are not stored (a
/// diverged run) are redone here. Processes, not threads: burn-autodiff 0.21 keeps one global
/// graph registry whose clean-up after a backward pass walks every thread's graphs, and training
/// runs on threads side by side were seen to differ from run to run (minibatch discrimination
/// beside WGAN-GP in mitigations-gmm), while a run alone in its process is deterministic. So the
/// outputs do not depend on `--jobs` (tested).
pub fn run_jobs<J, T>(ctx: &Ctx, what: &str, jobs: &[J], work: impl Fn(&J) -> Result<T>) -> Result<Vec<T>> {
    let mine: Vec<usize> = (0..jobs.len()).filter(|i| ctx.shard.is_none_or(|s| s.takes(*i))).collect();
    let workers = ctx.jobs.min(mine.len());
    if workers > 1 && !worker_process() {
        if let Some(w) = &ctx.workers {
            train_in_workers(ctx, w, what, workers, mine.len())?;
        }
    }
    let overall = ctx.progress(mine.len() as u64, what);
    let mut out = Vec::with_capacity(mine.len());
    for &i in &mine {
        out.push(work(&jobs[i])?);
        overall.inc(1);
        if worker_process() {
            // The parent counts these lines for its progress bar.
            println!("{WORKER_DONE}");
        }
    }
    overall.finish_and_clear();
    if let Some(s) = ctx.shard {
        return Err(ShardDone(format!("shard {}/{}: {} of {} {what} in the run store", s.index, s.count, out.len(), jobs.len())).into());
    }
    Ok(out)
}

/// Set in a worker's environment (see [`run_jobs`]).
pub const WORKER_ENV: &str = "GANWB_WORKER";
/// A worker's stdout line per finished job.
const WORKER_DONE: &str = "ganwb-worker: job done";

/// Whether this process is a worker of another one.
pub fn worker_process() -> bool {
    std::env::var_os(WORKER_ENV).is_some()
}

/// How this process starts its workers: set by the runner's `main` (library use and unit tests
/// have none, and run their jobs one after another).
pub struct Workers {
    pub exe: PathBuf,
    /// What every worker is given: the item's replay settings (profile, seed, backend, `--set`s)
    /// and the config folder.
    pub args: Vec<String>,
    /// The item under way, which its workers run again under `--shard`.
    pub item: std::sync::Mutex<&'static str>,
}

/// Trains this process's share of an item's runs (all of them, or shard i/n's) in `n` workers:
/// worker k takes shard (i + n_s k)/(n_s n) of n_s shards, i.e. every n-th of this share. Their
/// stderr is passed through (training messages); a failed worker fails the call, naming it.
fn train_in_workers(ctx: &Ctx, w: &Workers, what: &str, n: usize, total: usize) -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let item = *w.item.lock().expect("item lock");
    let (i, count) = ctx.shard.map_or((0, 1), |s| (s.index, s.count));
    let store = run_store().root().to_path_buf();
    // The worker processes share the cores, as the jobs on threads shared one pool.
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let threads = (cores / n).max(1);
    let bar = ctx.progress(total as u64, &format!("{what} ({n} processes)"));
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|k| {
                let bar = &bar;
                let store = &store;
                scope.spawn(move || -> Result<()> {
                    let shard = format!("{}/{}", i + count * k, count * n);
                    let out = std::env::temp_dir().join(format!("ganwb-worker-{}-{item}-{k}", std::process::id()));
                    let mut child = Command::new(&w.exe)
                        .arg("run")
                        .arg(item)
                        .args(&w.args)
                        .args(["--jobs", "1", "--shard", &shard, "--out"])
                        .arg(&out)
                        .env("GAN_RUNS_DIR", store)
                        .env(WORKER_ENV, "1")
                        .env("RAYON_NUM_THREADS", threads.to_string())
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped())
                        .spawn()
                        .with_context(|| format!("{item}: cannot start worker {shard} ({})", w.exe.display()))?;
                    let (stdout, stderr) = (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
                    // The worker's own failure line becomes this process's error, so that the
                    // failure is still one line; its closing `error:` summary is dropped.
                    let failed_prefix = format!("{item}: FAILED: ");
                    let (failure, last) = std::thread::scope(|s| {
                        s.spawn(|| {
                            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                                if line == WORKER_DONE {
                                    bar.inc(1);
                                }
                            }
                        });
                        let (mut failure, mut last) = (None, String::new());
                        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                            if let Some(m) = line.strip_prefix(&failed_prefix) {
                                failure.get_or_insert_with(|| m.to_string());
                            } else if !line.starts_with("error: ") {
                                ctx.multi.suspend(|| eprintln!("{line}"));
                            }
                            last = line;
                        }
                        (failure, last)
                    });
                    let status = child.wait().with_context(|| format!("{item}: waiting for worker {shard}"))?;
                    let _ = std::fs::remove_dir_all(&out);
                    if !status.success() {
                        return Err(match failure {
                            Some(m) => anyhow::anyhow!("{m}"),
                            None => anyhow::anyhow!("worker process for shard {shard} failed ({status}): {last}"),
                        });
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("{item}: a worker thread panicked")))).collect()
    });
    bar.finish_and_clear();
    results.into_iter().collect()
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
    /// Worker processes for [`run_jobs`] (the runner's `main` sets them).
    pub workers: Option<Workers>,
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
