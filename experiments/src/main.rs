//! `experiments`: regenerates the reproduction's figures, tables and paper checks by id.
//!
//!   cargo run --release -p experiments -- list
//!   cargo run --release -p experiments -- all
//!   cargo run --release -p experiments -- fig2 fig3 --profile ci --seed 7
//!   cargo run --release -p experiments -- theory ode --mu 1 --sigma 0.5 --k0 0.5 --t-end 1
//!   cargo run --release -p experiments -- paper-checks

mod bench;
mod bench_train;
mod calculator;
mod catalogue;
mod config;
mod data_fetch;
mod detect_cli;
mod embed;
mod inception_cli;
mod index;
mod items;
mod metrics_cli;
mod output;
mod paper_checks;
mod plot;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::MultiProgress;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use catalogue::Status;
use config::Profile;
use items::Ctx;
use output::ItemOutput;

#[derive(Parser)]
#[command(
    name = "experiments",
    version,
    about = "Rebuilds the figures, tables and paper checks of 'Evolution of Discriminator and Generator Gradients in GAN Training'",
    after_help = "Items can also be named directly: `experiments fig2 fig3 --profile ci`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Scale profile: `ci` (CPU, minutes) or `paper` (the paper's settings; GPU for images).
    #[arg(long, value_enum, default_value = "ci")]
    profile: Profile,
    /// Output folder; each item writes into <out>/<id>/.
    #[arg(long, default_value = "figures")]
    out: PathBuf,
    /// Seed of every random draw (recorded in each output).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Folder of the item settings (YAML, one file per item).
    #[arg(long)]
    config_dir: Option<PathBuf>,
    /// Override one setting of the item being run: --set key=value (repeatable; one item only).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// burn backend of the training items: flex (default, the faster CPU backend here), ndarray,
    /// or cuda (needs a build with `--features cuda` and a CUDA GPU).
    #[arg(long, default_value = "flex", value_parser = parse_backend)]
    backend: models::BackendKind,
    /// Training runs at a time (worker processes; default: the machine's cores). The outputs do not depend on it.
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only share i of n of the many-seed items' runs (detector-gmm, detector-baselines,
    /// mitigations-gmm), into the run store, and write no figure; the same call without --shard
    /// assembles the figures from every finished run (see scripts/slurm/).
    #[arg(long, value_name = "I/N")]
    shard: Option<run_store::Shard>,
}

pub fn parse_backend(s: &str) -> Result<models::BackendKind, String> {
    s.parse().map_err(|e: models::BackendError| e.to_string())
}

#[derive(Subcommand)]
enum Command {
    /// Print the catalogue with each item's status.
    List(Common),
    /// Regenerate every item this build can make, then the index.
    All(Common),
    /// Regenerate the named items (same as naming them directly).
    Run {
        #[arg(required = true)]
        ids: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Recompute the paper-checks ledger (paper-checks/LEDGER.md and ledger.csv).
    PaperChecks {
        /// The claims file.
        #[arg(long, default_value = "paper-checks/claims.yaml")]
        claims: PathBuf,
        /// Where LEDGER.md and ledger.csv go.
        #[arg(long, default_value = "paper-checks")]
        out: PathBuf,
        /// Where the items' outputs are (claims about the data sets read what fig8/fig9 computed).
        #[arg(long, default_value = "figures")]
        figures: PathBuf,
    },
    /// Closed forms and solvers of the theory crate, printed as CSV.
    #[command(subcommand)]
    Theory(calculator::TheoryCmd),
    /// Metrics on your own feature files (.npy or CSV) or images (IDX, PNG folder), printed as one line of JSON.
    #[command(subcommand)]
    Metrics(metrics_cli::MetricsCmd),
    /// Benchmarks: `bench probes` (gradient-probe cost per training step) and `bench metrics`
    /// (FID and PRDC against the usual Python tools). Not part of the tests.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Algorithm 2 on a training log of q_d and the mean steepness from any framework (CSV or
    /// JSON lines): where it stops, why, and the best logged checkpoint; --plot draws fig5's top row.
    Detect(detect_cli::DetectCmd),
    #[command(external_subcommand)]
    Items(Vec<String>),
}

/// Parses `fig2 fig3 --profile ci` given as an external subcommand.
#[derive(Parser)]
#[command(name = "experiments")]
struct ItemsArgs {
    ids: Vec<String>,
    #[command(flatten)]
    common: Common,
}

fn main() -> ExitCode {
    match real_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::List(c) => {
            list(&c);
            Ok(())
        }
        Command::All(c) => {
            let ids: Vec<String> = catalogue::entries()
                .iter()
                .filter(|e| matches!(e.status, Status::Ready(_)))
                .map(|e| e.id.to_string())
                .collect();
            let pending: Vec<&str> = catalogue::entries()
                .iter()
                .filter(|e| matches!(e.status, Status::Pending(_)))
                .map(|e| e.id)
                .collect();
            if !pending.is_empty() {
                eprintln!("not built yet (see `experiments list`): {}", pending.join(", "));
            }
            run_items(&ids, &c, true)
        }
        Command::Run { ids, common } => run_items(&ids, &common, false),
        Command::Items(args) => {
            let mut argv = vec!["experiments".to_string()];
            argv.extend(args);
            let a = ItemsArgs::try_parse_from(argv)?;
            run_items(&a.ids, &a.common, false)
        }
        Command::PaperChecks { claims, out, figures } => paper_checks::run(&claims, &out, &figures),
        Command::Theory(cmd) => calculator::run(cmd),
        Command::Metrics(cmd) => metrics_cli::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Detect(cmd) => detect_cli::run(cmd),
    }
}

fn list(c: &Common) {
    println!("{:<20} {:<10} {:<26} title", "id", "status", "needs");
    for e in catalogue::entries() {
        let status = match e.status {
            Status::Ready(_) => match output::read_meta(&c.out, e.id) {
                Some(m) => format!("built:{}", m.profile),
                None => "ready".to_string(),
            },
            Status::Pending(_) => "pending".to_string(),
        };
        let id = if e.aliases.is_empty() { e.id.to_string() } else { format!("{}+{}", e.id, e.aliases.join("+")) };
        println!("{:<20} {:<10} {:<26} {}", id, status, e.needs, e.title);
    }
}

/// Whether an item's error is a [`items::Skip`] that this run accepts (`all` does; naming the
/// item explicitly does not).
fn skipped(e: &anyhow::Error, allow_skips: bool) -> Option<String> {
    if !allow_skips {
        return None;
    }
    e.downcast_ref::<items::Skip>().map(|s| s.0.clone())
}

/// Runs items; with `allow_skips` (the `all` command) an item that returns [`items::Skip`] is
/// reported as skipped, neither built nor failed.
fn run_items(ids: &[String], c: &Common, allow_skips: bool) -> Result<()> {
    if ids.is_empty() {
        bail!("name at least one item (see `experiments list`)");
    }
    let mut entries = Vec::new();
    for id in ids {
        let Some(e) = catalogue::find(id) else {
            bail!("unknown item `{id}`; valid ids: {}", catalogue::all_ids().join(", "));
        };
        let Status::Ready(run) = e.status else {
            let Status::Pending(why) = e.status else { unreachable!() };
            bail!("item `{id}` ({}) is not built yet: it needs {}; waiting for {why}", e.title, e.needs);
        };
        if c.shard.is_some() && !catalogue::SHARDABLE.contains(&e.id) {
            if allow_skips {
                continue; // `all --shard`: the many-seed items only
            }
            bail!("--shard: item `{id}` has no many-seed runs to split; items that take --shard: {}", catalogue::SHARDABLE.join(", "));
        }
        if !entries.iter().any(|(x, _, _, _): &(&str, _, _, _)| *x == e.id) {
            entries.push((e.id, e.title, catalogue::scale(&e, c.profile), run));
        }
    }
    if !c.set.is_empty() && entries.len() != 1 {
        bail!("--set applies to one item at a time; run the items separately");
    }
    let overrides = c.set.iter().map(|s| config::parse_override(s)).collect::<Result<Vec<_>>>()?;
    // The settings that reproduce an item's outputs: recorded as each item's command, and given
    // to its worker processes.
    let mut replay = vec!["--profile".to_string(), c.profile.name().to_string(), "--seed".to_string(), c.seed.to_string()];
    if c.backend != models::BackendKind::DEFAULT_CPU {
        replay.extend(["--backend".to_string(), c.backend.to_string()]);
    }
    for s in &c.set {
        replay.extend(["--set".to_string(), s.clone()]);
    }
    let config_dir = c.config_dir.clone().unwrap_or_else(config::default_config_dir);
    let config_dir = std::fs::canonicalize(&config_dir).unwrap_or(config_dir);
    let ctx = Ctx {
        profile: c.profile,
        seed: c.seed,
        config_dir: config_dir.clone(),
        overrides,
        multi: MultiProgress::new(),
        backend: c.backend,
        jobs: c.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1),
        shard: c.shard,
        workers: std::env::current_exe().ok().map(|exe| {
            let mut args = replay.clone();
            args.extend(["--config-dir".to_string(), config_dir.display().to_string()]);
            items::Workers { exe, args, item: std::sync::Mutex::new("") }
        }),
    };
    let overall = ctx.progress(entries.len() as u64, "items");
    let mut failures = Vec::new();
    let mut skips: Vec<(String, String)> = Vec::new();
    for (id, title, scale, run) in entries {
        overall.set_message(format!("items ({id})"));
        let t0 = Instant::now();
        let command = format!("experiments {id} {}", replay.join(" "));
        let mut out = ItemOutput::new(&c.out, id, title, c.profile.name(), scale, c.seed, &command)?;
        if let Some(w) = &ctx.workers {
            *w.item.lock().expect("item lock") = id;
        }
        match run(&ctx, &mut out) {
            Ok(()) => {
                let meta = out.commit()?;
                ctx.multi.suspend(|| {
                    eprintln!(
                        "{id}: wrote {} picture(s), {} data file(s) to {} in {:.1}s",
                        meta.images.len(),
                        meta.data.len(),
                        c.out.join(id).display(),
                        t0.elapsed().as_secs_f64()
                    )
                });
            }
            Err(e) => {
                out.abandon();
                if let Some(done) = e.downcast_ref::<items::ShardDone>() {
                    // A worker's parent reports for it.
                    if !items::worker_process() {
                        ctx.multi.suspend(|| eprintln!("{id}: {done} (no figure written: run it without --shard to assemble) in {:.1}s", t0.elapsed().as_secs_f64()));
                    }
                } else if let Some(reason) = skipped(&e, allow_skips) {
                    ctx.multi.suspend(|| eprintln!("{id}: SKIPPED (not built): {reason}"));
                    skips.push((id.to_string(), reason));
                } else {
                    ctx.multi.suspend(|| eprintln!("{id}: FAILED: {e:#}"));
                    failures.push(id);
                }
            }
        }
        overall.inc(1);
    }
    overall.finish_and_clear();
    index::write(&c.out, &skips)?;
    if !skips.is_empty() {
        let ids: Vec<&str> = skips.iter().map(|s| s.0.as_str()).collect();
        eprintln!("{} item(s) skipped, not built (data this machine lacks): {}", skips.len(), ids.join(", "));
    }
    if !failures.is_empty() {
        bail!("{} item(s) failed: {}", failures.len(), failures.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_all_accepts_skips_and_only_skips() {
        let skip: anyhow::Error = items::Skip("no CIFAR-10".into()).into();
        assert_eq!(skipped(&skip, true).as_deref(), Some("no CIFAR-10"));
        assert_eq!(skipped(&skip, false), None, "an item named explicitly fails instead");
        let other = anyhow::anyhow!("broken");
        assert_eq!(skipped(&other, true), None, "a real failure is never a skip");
    }
}
