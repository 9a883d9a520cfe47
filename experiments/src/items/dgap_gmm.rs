//! dgap-gmm (beyond the paper): the duality gap and the perturbed duality gap along the mixture
//! runs, next to the paper's two probes, on runs whose collapse is measured from the samples.
//! Appendix G.5 compares the gaps with q_d and the steepness on images, where collapse is judged
//! by eye; here the same comparison has a ground truth, so it can say which signal moves first.
//!
//! The gaps are evaluated on the networks the run store keeps every `checkpoint_every` epochs
//! (`configs/gmm.yaml`), every `every` epochs, on two fresh samples of the true mixture (one to
//! search the worst-case players on, one to evaluate V on), and stored beside the run
//! (`gaps-<hash>.csv`, hash of the gap settings), so a finished run gains them without retraining
//! and a second call reads them. A non-finite evaluation is kept as NaN with its reason.
//!
//! Per signal (DG, PDG, q_d, S, all on the same grid of evaluation epochs, so that the
//! comparison is not one of sampling rates): the first departure from its recent level after the
//! run's fit (the first epoch of its peak coverage: what moves while the generator is still
//! fitting says nothing about collapse; `metrics::signals::first_departure`), its lead over the
//! measured collapse, and its mean in a window before and after the collapse. Modes covered, the
//! ground truth itself, is drawn but not scored.

use anyhow::{anyhow, bail, Context, Result};
use models::duality_gap::{duality_gaps, DualityGapSettings};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::gap_store::{gap_settings, stored_gaps};
use super::gmm::{self, replay, Criteria, GmmRun, GmmSettings};
use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    seeds: usize,
    /// Epochs between gap evaluations (a multiple of gmm.yaml's checkpoint_every).
    every: usize,
    /// `ci` (30 search steps at lr 1e-3) or `paper` (300 steps at lr 1e-5): models::duality_gap.
    gaps: String,
    /// Points of each fresh mixture sample (search split and evaluation split).
    gap_points: usize,
    /// Collapse rule of detector-gmm: coverage below the run's peak for this many epochs.
    persist: usize,
    /// Departure rule (metrics::signals): against the median of the last `window` evaluations,
    /// a change of more than `rel_change` of it and more than `z` robust standard deviations.
    window: usize,
    rel_change: f64,
    z: f64,
    /// Epochs before / after the collapse over which the signals are averaged.
    around: usize,
    /// Seeds drawn in the picture (the CSVs have every seed).
    plot_seeds: usize,
    width: u32,
    height: u32,
}

/// What names a stored gap table: the search settings and the evaluation grid and samples.
#[derive(Serialize)]
struct GapKey<'a> {
    gaps: &'a DualityGapSettings,
    every: usize,
    gap_points: usize,
}


/// The stored gaps of one run (evaluated on its checkpoints first where missing).
fn gaps_of(ctx: &Ctx, gs: &GmmSettings, s: &Settings, run: &GmmRun, epochs: &[usize]) -> Result<(run_store::Table, Vec<(usize, String)>)> {
    let dir = gmm::run_dir(ctx, gs, run.seed)?;
    let ds = gap_settings("dgap-gmm.yaml", &s.gaps, run.seed)?;
    let mix = gs.mixture()?;
    let draw = |salt: u64| -> Vec<f32> { mix.sample(&mut StdRng::seed_from_u64(run.seed ^ salt), s.gap_points).0.iter().flatten().map(|v| *v as f32).collect() };
    let (search, eval) = (draw(0x5EA4C4), draw(0xE7A10A));
    let ckpt = models::checkpoint::CheckpointDir::new(dir.file("checkpoints"));
    let cfg = gs.mlp();
    let pb = ctx.progress(epochs.len() as u64, &format!("gaps, seed {}", run.seed));
    let key = GapKey { gaps: &ds, every: s.every, gap_points: s.gap_points };
    let r = stored_gaps(&dir, &key, run.seed, epochs, |e| {
        let g = models::with_backend!(ctx.backend, |B, device| (|| -> Result<_> {
            let (g, d) = models::train::load_networks::<B, _, _>(&ckpt, e, cfg.init_generator::<B>(&device), cfg.init_discriminator::<B>(&device), &device)
                .with_context(|| format!("checkpoint of epoch {e} in {} (remove the run folder to retrain it)", dir.path().display()))?;
            Ok(duality_gaps(&g, &d, &search, &eval, gs.dim, &ds, &device))
        })())
        .map_err(|e| anyhow!("{e}"))??;
        pb.inc(1);
        Ok(g)
    })
    .with_context(|| format!("duality gaps of GMM seed {}", run.seed));
    pb.finish_and_clear();
    r
}

/// The duality gap of `run` on dgap-gmm's grid and search settings (configs/dgap-gmm.yaml, without
/// this call's `--set`): evaluated on the stored checkpoints where missing, else read from the run
/// store, so detector-baselines and dgap-gmm share them. Returns the epochs, DG per epoch (NaN
/// where an evaluation diverged) and the seconds each evaluation took.
pub fn run_gaps(ctx: &Ctx, gs: &GmmSettings, run: &GmmRun) -> Result<(Vec<usize>, Vec<f64>, Vec<f64>)> {
    let s: Settings = crate::config::load(&ctx.config_dir, "dgap-gmm", ctx.profile, &[])?;
    if gs.checkpoint_every == 0 || s.every == 0 || s.every % gs.checkpoint_every != 0 {
        bail!("dgap-gmm.yaml: every = {} must be a positive multiple of gmm.yaml's checkpoint_every = {}", s.every, gs.checkpoint_every);
    }
    let epochs: Vec<usize> = (1..=gs.epochs / s.every).map(|k| k * s.every).collect();
    let (t, _) = gaps_of(ctx, gs, &s, run, &epochs)?;
    Ok((epochs, t.column("dg"), t.column("seconds")))
}

/// The signals compared, by name, on the evaluation grid of one run.
fn signals(run: &GmmRun, gaps: &run_store::Table, epochs: &[usize]) -> Vec<(&'static str, Vec<f64>)> {
    let at = |e: usize| &run.history[e - 1];
    vec![
        ("DG", gaps.column("dg")),
        ("PDG", gaps.column("pdg")),
        ("q_d", epochs.iter().map(|&e| at(e).q_d).collect()),
        ("steepness", epochs.iter().map(|&e| at(e).steepness).collect()),
    ]
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("dgap-gmm")?;
    let gs = GmmSettings::load(ctx)?;
    if gs.checkpoint_every == 0 || s.every == 0 || s.every % gs.checkpoint_every != 0 {
        bail!(
            "dgap-gmm.yaml: every = {} must be a positive multiple of gmm.yaml's checkpoint_every = {} (the gaps are evaluated on stored checkpoints)",
            s.every,
            gs.checkpoint_every
        );
    }
    if s.seeds == 0 || s.window == 0 || !(s.rel_change > 0.0) {
        bail!("dgap-gmm.yaml: need seeds >= 1, window >= 1 and rel_change > 0");
    }
    let epochs: Vec<usize> = (1..=gs.epochs / s.every).map(|k| k * s.every).collect();
    if epochs.len() <= s.window {
        bail!("dgap-gmm.yaml: every = {} gives {} evaluations in {} epochs, not more than window = {}", s.every, epochs.len(), gs.epochs, s.window);
    }
    let grid: Vec<f64> = epochs.iter().map(|&e| e as f64).collect();
    let mcfg = gs.monitor();
    let runs = gmm::seed_runs(ctx, &gs, s.seeds)?;

    let mut per_epoch = PerEpoch::default();
    let mut events = Events::default();
    let mut all_failures = Vec::new();
    let mut gap_seconds = Vec::new();
    let mut plotted = Vec::new();
    for r in &runs {
        let (gaps, failures) = gaps_of(ctx, &gs, &s, r, &epochs)?;
        all_failures.extend(failures.iter().map(|(e, why)| format!("seed {} epoch {e}: {why}", r.seed)));
        gap_seconds.extend(gaps.column("seconds").into_iter().filter(|v| v.is_finite()));
        let sig = signals(r, &gaps, &epochs);
        for (k, &e) in epochs.iter().enumerate() {
            per_epoch.seed.push(r.seed as i64);
            per_epoch.epoch.push(e as i64);
            per_epoch.dg.push(sig[0].1[k]);
            per_epoch.pdg.push(sig[1].1[k]);
            per_epoch.v.push(gaps.column("v")[k]);
            per_epoch.q_d.push(sig[2].1[k]);
            per_epoch.steepness.push(sig[3].1[k]);
            per_epoch.covered.push(r.quality[e].covered as i64);
            per_epoch.hq.push(r.quality[e].hq);
        }
        let truth = gmm::truth(&r.quality, s.persist);
        let collapse = truth.collapse_epoch;
        for (name, x) in &sig {
            let dep = metrics::signals::first_departure(&grid, x, s.window, s.rel_change, s.z, truth.fitted_epoch as f64)?.map(|k| epochs[k]);
            let (before, after) = collapse.map_or((f64::NAN, f64::NAN), |c| metrics::signals::before_after(&grid, x, c as f64, s.around as f64));
            events.push(r.seed, name, dep, truth.fitted_epoch, collapse, before, after);
        }
        let stop = replay(r, &mcfg, Criteria::Both, gs.checkpoint_every.max(1)).map(|e| e.t);
        events.push(r.seed, "Algorithm 2 stop", stop, truth.fitted_epoch, collapse, f64::NAN, f64::NAN);
        if plotted.len() < s.plot_seeds {
            let covered: Vec<f64> = epochs.iter().map(|&e| r.quality[e].covered as f64).collect();
            plotted.push((r.clone(), sig, covered, collapse, stop));
        }
    }
    gap_seconds.sort_by(|a, b| a.total_cmp(b));
    let med_gap_s = gap_seconds.get(gap_seconds.len() / 2).copied().unwrap_or(f64::NAN);
    let epoch_s = runs.iter().map(|r| r.seconds).sum::<f64>() / runs.iter().map(|_| gs.epochs as f64).sum::<f64>();

    // Summary per signal.
    let collapsed = runs.iter().filter(|r| gmm::truth(&r.quality, s.persist).collapse_epoch.is_some()).count();
    let mut md = format!(
        "{} seeds ({}..), 3-D mixture, {} epochs, {} backend. Gaps every {} epochs on the stored checkpoints, `{}` search settings \
         (models::duality_gap), {} points per split drawn fresh from the mixture; one DG + PDG evaluation took {:.2} s (median), \
         {:.0} training epochs' worth ({:.4} s an epoch). Collapse (detector-gmm's rule, persist {}) in {collapsed}/{} runs. \
         Departure: first evaluation after the run's fit (its first epoch at peak coverage) more than {:.0} % and more than {} robust sd \
         (1.4826 MAD) away from the median of the previous {} evaluations; lead = collapse - departure (positive: before the collapse); \
         before / after = means over {} epochs each side of the collapse (medians over the collapsed runs).\n\n",
        s.seeds,
        ctx.seed,
        gs.epochs,
        ctx.backend,
        s.every,
        s.gaps,
        s.gap_points,
        med_gap_s,
        med_gap_s / epoch_s,
        epoch_s,
        s.persist,
        s.seeds,
        100.0 * s.rel_change,
        s.z,
        s.window,
        s.around
    );
    md.push_str("| signal | collapsed runs | moved before the collapse | at or after it | never moved | median lead (epochs) | before | after |\n|---|---|---|---|---|---|---|---|\n");
    let mut summary = Summary::default();
    for name in ["DG", "PDG", "q_d", "steepness", "Algorithm 2 stop"] {
        let idx: Vec<usize> = (0..events.seed.len()).filter(|&i| events.signal[i] == name && events.collapse[i] >= 0).collect();
        let before = idx.iter().filter(|&&i| events.lead[i] > 0.0).count();
        let after = idx.iter().filter(|&&i| events.lead[i] <= 0.0).count();
        let never = idx.iter().filter(|&&i| events.departure[i] < 0).count();
        let med = |v: Vec<f64>| {
            let mut v: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let lead = med(idx.iter().map(|&i| events.lead[i]).collect());
        let (mb, ma) = (med(idx.iter().map(|&i| events.before[i]).collect()), med(idx.iter().map(|&i| events.after[i]).collect()));
        let f = |v: f64, p: usize| if v.is_finite() { format!("{v:.p$}") } else { "n/a".into() };
        md.push_str(&format!("| {name} | {} | {before} | {after} | {never} | {} | {} | {} |\n", idx.len(), f(lead, 0), f(mb, 3), f(ma, 3)));
        summary.signal.push(name.to_string());
        summary.runs.push(idx.len() as i64);
        summary.before.push(before as i64);
        summary.after.push(after as i64);
        summary.never.push(never as i64);
        summary.lead.push(lead);
        summary.before_mean.push(mb);
        summary.after_mean.push(ma);
    }
    if all_failures.is_empty() {
        md.push_str("\nEvery gap evaluation was finite.\n");
    } else {
        md.push_str(&format!("\n{} gap evaluations were not finite (NaN in the CSVs): {}\n", all_failures.len(), all_failures.join("; ")));
    }
    out.markdown(md.clone());
    out.csv(
        "dgap_gmm_summary.csv",
        "Per signal, over the runs that collapsed: how many moved (first departure after the fit) before the collapse, at or after it, never; median lead in epochs; medians of the signal's mean before and after the collapse",
        frame(vec![
            ("signal", summary.signal.into()),
            ("collapsed_runs", summary.runs.into()),
            ("moved_before", summary.before.into()),
            ("moved_at_or_after", summary.after.into()),
            ("never_moved", summary.never.into()),
            ("median_lead_epochs", summary.lead.into()),
            ("median_mean_before", summary.before_mean.into()),
            ("median_mean_after", summary.after_mean.into()),
        ])?,
    )?;
    out.csv(
        "dgap_gmm_events.csv",
        "Per seed and signal: first departure epoch after the fit (-1 = none), the fitted epoch, measured collapse (-1 = none), lead = collapse - departure, means before and after the collapse",
        frame(vec![
            ("seed", events.seed.into()),
            ("signal", events.signal.into()),
            ("departure", events.departure.into()),
            ("fitted", events.fitted.into()),
            ("collapse", events.collapse.into()),
            ("lead_epochs", events.lead.into()),
            ("mean_before", events.before.into()),
            ("mean_after", events.after.into()),
        ])?,
    )?;
    out.csv(
        "dgap_gmm_epochs.csv",
        "Per seed and evaluation epoch: duality gap, perturbed duality gap, V(G, D), q_d, mean steepness, modes covered, high-quality rate (NaN gap = a non-finite evaluation)",
        frame(vec![
            ("seed", per_epoch.seed.into()),
            ("epoch", per_epoch.epoch.into()),
            ("dg", per_epoch.dg.into()),
            ("pdg", per_epoch.pdg.into()),
            ("v", per_epoch.v.into()),
            ("q_d", per_epoch.q_d.into()),
            ("steepness", per_epoch.steepness.into()),
            ("modes_covered", per_epoch.covered.into()),
            ("hq_rate", per_epoch.hq.into()),
        ])?,
    )?;
    out.text("dgap_gmm.md", "The summary as markdown, with the settings", &format!("{md}\n\nconfigs/gmm.yaml:\n\n```yaml\n{}```\n", gs.yaml()))?;

    let cols = plotted.len().max(1);
    out.png(
        "dgap_gmm.png",
        "One column per seed: DG and PDG (top), q_d and the steepness (middle), modes covered (bottom) at the evaluation epochs; vertical lines, labelled: the measured collapse and Algorithm 2's stop",
        (s.width.max(420 * cols as u32), s.height),
        |area| {
            let cells = area.split_evenly((3, cols));
            for (j, (r, sig, covered, collapse, stop)) in plotted.iter().enumerate() {
                let label = |l: &str| if j == 0 { l.to_string() } else { String::new() };
                let xy = |v: &[f64]| grid.iter().cloned().zip(v.iter().cloned()).filter(|p| p.1.is_finite()).collect::<Vec<_>>();
                let mark = |ch: &mut Chart| {
                    if let Some(c) = collapse {
                        ch.vlines.push((*c as f64, format!("collapse {c}")));
                    }
                    if let Some(t) = stop {
                        ch.vlines.push((*t as f64, format!("stop {t}")));
                    }
                };
                let mut top = Chart::new(format!("seed {}: duality gaps", r.seed), "epoch", "gap");
                top.series.push(Series::line(label("DG"), xy(&sig[0].1), color(0)));
                top.series.push(Series::line(label("perturbed DG"), xy(&sig[1].1), color(1)));
                mark(&mut top);
                top.draw(&cells[j])?;
                let mut mid = Chart::new("q_d and S (each / its max)", "epoch", "relative");
                for (k, (name, v)) in sig[2..4].iter().enumerate() {
                    let m = v.iter().cloned().filter(|x| x.is_finite()).fold(f64::NEG_INFINITY, f64::max);
                    let scaled: Vec<f64> = v.iter().map(|x| x / m).collect();
                    mid.series.push(Series::line(label(name), xy(&scaled), color(2 + k)));
                }
                mark(&mut mid);
                mid.draw(&cells[cols + j])?;
                let mut bot = Chart::new("modes covered", "epoch", "modes");
                bot.y_range = Some((0.0, gs.modes() as f64 + 0.5));
                bot.series.push(Series::line(label("modes covered"), xy(covered), color(4)));
                mark(&mut bot);
                bot.draw(&cells[2 * cols + j])?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

#[derive(Default)]
struct PerEpoch {
    seed: Vec<i64>,
    epoch: Vec<i64>,
    dg: Vec<f64>,
    pdg: Vec<f64>,
    v: Vec<f64>,
    q_d: Vec<f64>,
    steepness: Vec<f64>,
    covered: Vec<i64>,
    hq: Vec<f64>,
}

#[derive(Default)]
struct Events {
    seed: Vec<i64>,
    signal: Vec<String>,
    departure: Vec<i64>,
    fitted: Vec<i64>,
    collapse: Vec<i64>,
    lead: Vec<f64>,
    before: Vec<f64>,
    after: Vec<f64>,
}

impl Events {
    #[allow(clippy::too_many_arguments)]
    fn push(&mut self, seed: u64, signal: &str, departure: Option<usize>, fitted: usize, collapse: Option<usize>, before: f64, after: f64) {
        self.seed.push(seed as i64);
        self.fitted.push(fitted as i64);
        self.signal.push(signal.to_string());
        self.departure.push(departure.map_or(-1, |v| v as i64));
        self.collapse.push(collapse.map_or(-1, |v| v as i64));
        self.lead.push(match (departure, collapse) {
            (Some(d), Some(c)) => c as f64 - d as f64,
            _ => f64::NAN,
        });
        self.before.push(before);
        self.after.push(after);
    }
}

#[derive(Default)]
struct Summary {
    signal: Vec<String>,
    runs: Vec<i64>,
    before: Vec<i64>,
    after: Vec<i64>,
    never: Vec<i64>,
    lead: Vec<f64>,
    before_mean: Vec<f64>,
    after_mean: Vec<f64>,
}
