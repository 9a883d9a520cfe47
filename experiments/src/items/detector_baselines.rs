//! detector-baselines: the collapse signals of the companion notes as stop rules, set against
//! Algorithm 2 and its variants, on the mixture runs of detector-gmm (collapse measured from the
//! samples), each rule's threshold tuned on the first half of the seeds and judged on the second.
//!
//! Signals (per epoch, from the run store's record; `items::gmm::sample_signals`): the
//! mode-histogram divergences (total variation and chi-squared against the real, uniform
//! allocation), the marginal entropy H(y) of the mode assignments, the modes captured (the ground
//! truth's own quantity, without its persistence: an upper bound for sample-based rules, not a
//! fair competitor), pairwise diversity E||G(z1) - G(z2)||, the Frechet distance on raw
//! coordinates (the mixture has no embedding network), recall (k = 5), both losses (Appendix
//! G.6's "terminating when they increase or decrease beyond a certain threshold"), and the duality
//! gap every few epochs (dgap-gmm's stored evaluations). Every rule is armed after Algorithm 2's
//! warm-up N_w, so all start together. The rules, the tuning objective and the outcomes are
//! `early_stopping::rules`; this module only wires them to the runs.

use anyhow::{anyhow, bail, Context, Result};
use early_stopping::rules::{judge, quantile_grid, split_half, tune, Alg2Variant, Direction, Outcome, Reference, Score, ThresholdRule, Truth};
use serde::Deserialize;
use std::time::Instant;

use super::gmm::{self, GmmRun, GmmSettings};
use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// The detector-gmm runs: seeds --seed .. --seed + seeds - 1 (keep equal to detector-gmm.yaml's).
    seeds: usize,
    /// Collapse rule (detector-gmm's): coverage below the run's sustained peak for this many epochs.
    persist: usize,
    /// Candidate thresholds per rule: this many quantiles of the statistic over the tuning runs.
    grid: usize,
    /// Persistence values tried for every threshold rule.
    rule_persist: Vec<usize>,
    /// Include the duality-gap rule (gaps on the stored checkpoints, configs/dgap-gmm.yaml).
    duality_gap: bool,
    /// Repetitions of each timed evaluation (the median is reported).
    cost_repeats: usize,
    width: u32,
    height: u32,
}

/// One run's series, observation t = 1..=E at index t - 1 (the duality gap: sparse).
struct RunData {
    seed: u64,
    truth: Truth,
    /// Modes covered + high-quality rate at epoch e (index e; 0 = before training).
    quality: Vec<f64>,
    covered: Vec<usize>,
    series: Vec<(&'static str, Vec<usize>, Vec<f64>)>,
}

impl RunData {
    /// The epoch an optional stop leaves the run at: the stop, else the end.
    fn at(&self, stop: Option<usize>) -> usize {
        stop.unwrap_or(self.covered.len() - 1).min(self.covered.len() - 1)
    }
    fn series(&self, name: &str) -> (&[usize], &[f64]) {
        let (_, t, v) = self.series.iter().find(|s| s.0 == name).expect("series by name");
        (t, v)
    }
}

/// A threshold rule on one signal.
struct Baseline {
    name: &'static str,
    signal: &'static str,
    direction: Direction,
    reference: Reference,
    /// What one evaluation costs beyond the training step (a key of the cost table).
    cost: &'static str,
}

const BASELINES: &[Baseline] = &[
    Baseline { name: "mode histogram TV", signal: "tv", direction: Direction::Above, reference: Reference::Absolute, cost: "histogram" },
    Baseline { name: "mode histogram chi2", signal: "chi2", direction: Direction::Above, reference: Reference::Absolute, cost: "histogram" },
    Baseline { name: "marginal entropy H(y)", signal: "entropy", direction: Direction::Below, reference: Reference::Absolute, cost: "histogram" },
    Baseline { name: "modes captured (oracle-like)", signal: "covered", direction: Direction::Below, reference: Reference::DiffFromBest, cost: "histogram" },
    Baseline { name: "diversity E||G(z1)-G(z2)||", signal: "diversity", direction: Direction::Below, reference: Reference::RatioToBest, cost: "diversity" },
    Baseline { name: "FD (raw coordinates)", signal: "fd", direction: Direction::Above, reference: Reference::RatioToBest, cost: "fd" },
    Baseline { name: "recall (k = 5)", signal: "recall", direction: Direction::Below, reference: Reference::DiffFromBest, cost: "prdc" },
    Baseline { name: "D loss low", signal: "loss_d", direction: Direction::Below, reference: Reference::Absolute, cost: "loss" },
    Baseline { name: "G loss high", signal: "loss_g", direction: Direction::Above, reference: Reference::Absolute, cost: "loss" },
    Baseline { name: "duality gap", signal: "dg", direction: Direction::Below, reference: Reference::Absolute, cost: "dg" },
];

#[derive(Clone, Copy, Debug)]
enum Param {
    Threshold(ThresholdRule),
    Alg2(Alg2Variant),
}

impl Param {
    fn describe(&self) -> String {
        match self {
            Param::Threshold(r) => format!(
                "{} {:.4} ({}), persist {}",
                if r.direction == Direction::Above { ">=" } else { "<=" },
                r.threshold,
                match r.reference {
                    Reference::Absolute => "value",
                    Reference::RatioToBest => "ratio to its best so far",
                    Reference::DiffFromBest => "difference from its best so far",
                },
                r.persist
            ),
            Param::Alg2(v) => format!(
                "{} {}, k_g {}, window {}, persist {}",
                if v.qd_relative { "q_d > c x running median, c =" } else { "q_d >" },
                if v.disc_threshold.is_finite() { format!("{:.3}", v.disc_threshold) } else { "off".into() },
                if v.k_g == f64::MIN { "off".into() } else { format!("{}", v.k_g) },
                v.window,
                v.persist
            ),
        }
    }
}

/// A detector: a name, the signal it reads and the candidates it is tuned over (one candidate:
/// not tuned).
struct Detector {
    name: String,
    kind: &'static str,
    cost: &'static str,
    signal: &'static str,
    candidates: Vec<Param>,
}

fn stop_of(p: &Param, d: &RunData, signal: &str) -> Option<usize> {
    match p {
        Param::Threshold(r) => {
            let (t, v) = d.series(signal);
            r.first_stop(t, v)
        }
        Param::Alg2(v) => v.first_stop(d.series("q_d").1, d.series("steepness").1),
    }
}

fn outcomes(p: &Param, runs: &[&RunData], signal: &str) -> Vec<(Option<usize>, Outcome, f64)> {
    runs.iter()
        .map(|d| {
            let s = stop_of(p, d, signal);
            let q = d.quality[d.at(s)];
            (s, judge(s, d.truth), q)
        })
        .collect()
}

fn score(o: &[(Option<usize>, Outcome, f64)]) -> Score {
    Score::of(&o.iter().map(|(_, o, q)| (*o, *q)).collect::<Vec<_>>())
}

fn run_data(r: &GmmRun, gs: &GmmSettings, persist: usize, dg: Option<(Vec<usize>, Vec<f64>)>) -> Result<RunData> {
    let t = gmm::truth(&r.quality, persist);
    let e = r.history.len();
    let ts: Vec<usize> = (1..=e).collect();
    let uniform = vec![1.0 / gs.modes() as f64; gs.modes()];
    let (mut tv, mut chi2, mut ent) = (vec![], vec![], vec![]);
    for q in &r.quality[1..] {
        let total: usize = q.counts.iter().sum();
        let p: Vec<f64> = q.counts.iter().map(|&c| if total > 0 { c as f64 / total as f64 } else { 0.0 }).collect();
        tv.push(metrics::classes::total_variation(&p, &uniform)?);
        chi2.push(metrics::classes::chi_squared(&p, &uniform)?);
        ent.push(metrics::classes::entropy(&p)?);
    }
    let sig = |f: fn(&gmm::SampleSignals) -> f64| r.signals[1..].iter().map(f).collect::<Vec<f64>>();
    let mut series = vec![
        ("tv", ts.clone(), tv),
        ("chi2", ts.clone(), chi2),
        ("entropy", ts.clone(), ent),
        ("covered", ts.clone(), r.quality[1..].iter().map(|q| q.covered as f64).collect()),
        ("diversity", ts.clone(), sig(|s| s.diversity)),
        ("fd", ts.clone(), sig(|s| s.fd)),
        ("recall", ts.clone(), sig(|s| s.recall)),
        ("loss_d", ts.clone(), r.history.iter().map(|h| h.loss_d).collect()),
        ("loss_g", ts.clone(), r.history.iter().map(|h| h.loss_g).collect()),
        ("q_d", ts.clone(), r.history.iter().map(|h| h.q_d).collect()),
        ("steepness", ts, r.history.iter().map(|h| h.steepness).collect()),
    ];
    if let Some((t, v)) = dg {
        series.push(("dg", t, v));
    }
    Ok(RunData {
        seed: r.seed,
        truth: Truth { fitted: t.fitted_epoch, collapse: t.collapse_epoch },
        quality: r.quality.iter().map(|q| q.score()).collect(),
        covered: r.quality.iter().map(|q| q.covered).collect(),
        series,
    })
}

/// Threshold candidates of a baseline from the tuning runs, most conservative first.
fn threshold_candidates(b: &Baseline, tuning: &[&RunData], warmup: usize, grid: usize, persists: &[usize]) -> Vec<Param> {
    let base = ThresholdRule { direction: b.direction, reference: b.reference, threshold: 0.0, warmup, persist: 1 };
    let pooled: Vec<f64> = tuning
        .iter()
        .flat_map(|d| {
            let (t, v) = d.series(b.signal);
            let st = base.statistic(v);
            t.iter().zip(st).filter(|(t, _)| **t > warmup).map(|(_, s)| s).collect::<Vec<_>>()
        })
        .collect();
    let mut thr = quantile_grid(&pooled, grid);
    if b.direction == Direction::Above {
        thr.reverse(); // a higher bar fires later
    }
    let mut ps = persists.to_vec();
    ps.sort_unstable_by(|a, b| b.cmp(a));
    thr.iter().flat_map(|&th| ps.iter().map(move |&p| Param::Threshold(ThresholdRule { threshold: th, persist: p, ..base }))).collect()
}

fn detectors(gs: &GmmSettings, s: &Settings, tuning: &[&RunData], with_dg: bool) -> Vec<Detector> {
    let mc = gs.monitor();
    let (thr, w) = (mc.disc_threshold(), mc.warmup);
    let paper = Alg2Variant::paper(thr, mc.k_g, w);
    let k_gs = [f64::MIN, -0.9, -0.7, -0.5, -0.3, -0.2, -0.1];
    let pooled_qd: Vec<f64> = tuning.iter().flat_map(|d| d.series("q_d").1[w.min(d.series("q_d").1.len())..].to_vec()).collect();
    let mut qd_grid = quantile_grid(&pooled_qd, 21);
    qd_grid.push(f64::INFINITY);
    qd_grid.reverse();
    let mut v = vec![Detector { name: "Algorithm 2 (paper's thresholds)".into(), kind: "Algorithm 2", cost: "alg2", signal: "q_d", candidates: vec![Param::Alg2(paper)] }];
    v.push(Detector {
        name: "Algorithm 2, thresholds tuned".into(),
        kind: "Algorithm 2 variant",
        cost: "alg2",
        signal: "q_d",
        candidates: qd_grid.iter().flat_map(|&d| k_gs.iter().map(move |&k| Param::Alg2(Alg2Variant { disc_threshold: d, k_g: k, ..paper }))).collect(),
    });
    v.push(Detector {
        name: "Algorithm 2, steepness change over a window".into(),
        kind: "Algorithm 2 variant",
        cost: "alg2",
        signal: "q_d",
        candidates: [20usize, 10, 5, 3, 2].iter().flat_map(|&win| k_gs[1..].iter().map(move |&k| Param::Alg2(Alg2Variant { window: win, k_g: k, ..paper }))).collect(),
    });
    v.push(Detector {
        name: "Algorithm 2, q_d against its running median".into(),
        kind: "Algorithm 2 variant",
        cost: "alg2",
        signal: "q_d",
        candidates: [20.0, 13.0, 8.0, 5.0, 3.0, 2.0, 1.5].iter().map(|&c| Param::Alg2(Alg2Variant { disc_threshold: c, qd_relative: true, ..paper })).collect(),
    });
    v.push(Detector {
        name: "Algorithm 2, persistence".into(),
        kind: "Algorithm 2 variant",
        cost: "alg2",
        signal: "q_d",
        candidates: [10usize, 5, 3, 2].iter().map(|&p| Param::Alg2(Alg2Variant { persist: p, ..paper })).collect(),
    });
    let coarse: Vec<f64> = qd_grid.iter().step_by(2).copied().collect();
    v.push(Detector {
        name: "Algorithm 2, tuned thresholds + window + persistence".into(),
        kind: "Algorithm 2 variant",
        cost: "alg2",
        signal: "q_d",
        candidates: coarse
            .iter()
            .flat_map(|&d| {
                k_gs.iter().flat_map(move |&k| {
                    [1usize, 5, 10].iter().flat_map(move |&win| [5usize, 3, 1].iter().map(move |&p| Param::Alg2(Alg2Variant { disc_threshold: d, k_g: k, window: win, persist: p, ..paper })))
                })
            })
            .collect(),
    });
    for b in BASELINES {
        if b.signal == "dg" && !with_dg {
            continue;
        }
        v.push(Detector {
            name: b.name.into(),
            kind: "baseline",
            cost: b.cost,
            signal: b.signal,
            candidates: threshold_candidates(b, tuning, w, s.grid, &s.rule_persist),
        });
    }
    v
}

/// Milliseconds of one evaluation of each signal on the last checkpoint of `run` (the median
/// of `repeats`), and the mean seconds of a training epoch (the run's own wall time per epoch
/// less these per-epoch evaluations, which this project's loop also does every epoch).
fn costs(ctx: &Ctx, gs: &GmmSettings, run: &GmmRun, repeats: usize, dg_seconds: &[f64]) -> Result<Vec<(&'static str, f64)>> {
    let dir = gmm::run_dir(ctx, gs, run.seed)?;
    let ckpt = models::checkpoint::CheckpointDir::new(dir.file("checkpoints"));
    let last = ckpt.latest().ok_or_else(|| anyhow!("{}: no checkpoint to time the signals on (gmm.yaml checkpoint_every > 0 needed)", dir.path().display()))?;
    let cfg = gs.mlp();
    let mix = gs.mixture()?;
    let data = gs.data_set(run.seed)?;
    let med = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let time = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let mut v = Vec::with_capacity(repeats.max(1));
        for _ in 0..repeats.max(1) {
            let t0 = Instant::now();
            f()?;
            v.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        Ok(med(v))
    };
    let (gen_ms, steep_ms, samples) = models::with_backend!(ctx.backend, |B, device| (|| -> Result<_> {
        let (g, _) = models::train::load_networks::<B, _, _>(&ckpt, last, cfg.init_generator::<B>(&device), cfg.init_discriminator::<B>(&device), &device)
            .with_context(|| format!("checkpoint of epoch {last} in {}", dir.path().display()))?;
        let mut x = vec![];
        let gen = time(&mut || {
            x = models::train::sample_generator(&g, gs.eval_samples, 7, &device);
            Ok(())
        })?;
        let z = models::train::probe_latents(run.seed, gs.steepness_latents, gs.dim);
        let steep = time(&mut || {
            let t = models::nets::tensor2::<B>(z.clone(), gs.steepness_latents, gs.dim, &device);
            std::hint::black_box(models::probes::steepness_exact(&g, t));
            Ok(())
        })?;
        Ok((gen, steep, x))
    })())
    .map_err(|e| anyhow!("{e}"))??;
    let uniform = vec![1.0 / gs.modes() as f64; gs.modes()];
    let hist = time(&mut || {
        let q = gmm::mode_quality(&samples, &mix, gs.cover_share);
        let total: usize = q.counts.iter().sum::<usize>().max(1);
        let p: Vec<f64> = q.counts.iter().map(|&c| c as f64 / total as f64).collect();
        std::hint::black_box((metrics::classes::total_variation(&p, &uniform)?, metrics::classes::chi_squared(&p, &uniform)?, metrics::classes::entropy(&p)?));
        Ok(())
    })?;
    let f: Vec<f64> = samples.iter().map(|v| *v as f64).collect();
    let r: Vec<f64> = data.iter().map(|v| *v as f64).collect();
    let k = gmm::PRDC_POINTS.min(gs.eval_samples).min(gs.n_data) * gs.dim;
    let div = time(&mut || {
        std::hint::black_box(metrics::mixture::pair_diversity(metrics::Rows::new(&f, gs.dim, "samples")?)?);
        Ok(())
    })?;
    let fd = time(&mut || {
        std::hint::black_box(metrics::fid(metrics::Rows::new(&r, gs.dim, "data")?, metrics::Rows::new(&f, gs.dim, "samples")?)?);
        Ok(())
    })?;
    let prdc = time(&mut || {
        std::hint::black_box(metrics::prdc(metrics::Rows::new(&r[..k], gs.dim, "data")?, metrics::Rows::new(&f[..k], gs.dim, "samples")?, 5)?);
        Ok(())
    })?;
    let dg = if dg_seconds.is_empty() { f64::NAN } else { med(dg_seconds.to_vec()) * 1e3 };
    Ok(vec![("samples", gen_ms), ("histogram", gen_ms + hist), ("diversity", gen_ms + div), ("fd", gen_ms + fd), ("prdc", gen_ms + prdc), ("loss", 0.0), ("dg", dg), ("alg2", steep_ms)])
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("detector-baselines")?;
    if s.seeds < 2 || s.grid < 2 || s.rule_persist.is_empty() || s.rule_persist.contains(&0) {
        bail!("detector-baselines.yaml: need seeds >= 2 (half tune, half judge), grid >= 2 and rule_persist values >= 1");
    }
    let gs = GmmSettings::load(ctx)?;
    let runs = gmm::seed_runs(ctx, &gs, s.seeds)?;
    let mut data = Vec::with_capacity(runs.len());
    let mut dg_seconds = Vec::new();
    for r in &runs {
        let dg = if s.duality_gap {
            let (t, v, sec) = super::dgap_gmm::run_gaps(ctx, &gs, r)?;
            dg_seconds.extend(sec.into_iter().filter(|x| x.is_finite()));
            Some((t, v))
        } else {
            None
        };
        data.push(run_data(r, &gs, s.persist, dg)?);
    }
    let all: Vec<&RunData> = data.iter().collect();
    let (tuning, judged) = split_half(&all);
    let dets = detectors(&gs, &s, &tuning, s.duality_gap);
    let cost = costs(ctx, &gs, &runs[0], s.cost_repeats, &dg_seconds)?;
    let cost_of = |k: &str| cost.iter().find(|c| c.0 == k).map_or(f64::NAN, |c| c.1);
    let eval_per_epoch_s = (cost_of("histogram") + cost_of("diversity") + cost_of("fd") + cost_of("prdc") - 3.0 * cost_of("samples")) / 1e3;
    let epoch_s = (runs.iter().map(|r| r.seconds).sum::<f64>() / (runs.len() * gs.epochs) as f64 - eval_per_epoch_s).max(1e-6);

    let (mut t_rule, mut t_kind, mut t_param, mut t_tune, mut t_in, mut t_early, mut t_late, mut t_missed, mut t_false, mut t_quiet) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut t_lead, mut t_modes, mut t_ms, mut t_share) = (vec![], vec![], vec![], vec![]);
    let (mut r_rule, mut r_seed, mut r_half, mut r_stop, mut r_outcome, mut r_lead, mut r_modes, mut r_collapse, mut r_fitted) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let n_judged_collapsed = judged.iter().filter(|d| d.truth.collapse.is_some()).count();
    let mut md = format!(
        "{} seeds of the 3-D mixture run ({}..{}, the detector-gmm runs, {} epochs each); thresholds tuned on seeds {} (first half), judged on seeds {} \
         (second half: {} of {} collapsed by detector-gmm's rule, persist {}). Tuning objective: in-time stops - early stops - false stops \
         (late stops and missed collapses score 0), ties to the better quality at the stop, then to the more conservative threshold. \
         Every rule is armed after N_w = {} epochs. Lead = collapse - stop (epochs); modes at stop: mean over the judged runs (at the end where no stop). \
         Cost: one evaluation in ms (generator samples included for the sample-based signals), and as a share of a training epoch ({:.1} ms: \
         this backend's wall time per epoch of the stored runs less this project's per-epoch evaluations).\n\n",
        s.seeds,
        ctx.seed,
        ctx.seed + s.seeds as u64 - 1,
        gs.epochs,
        seeds_of(&tuning),
        seeds_of(&judged),
        n_judged_collapsed,
        judged.len(),
        s.persist,
        gs.monitor().warmup,
        epoch_s * 1e3
    );
    md.push_str("| rule | tuned setting | tuning score | in time | early | late | missed | false stops | quiet | median lead | modes at stop | ms / eval | share of an epoch |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let mut panels = Vec::new();
    for d in &dets {
        let (best, tscore) = tune(&d.candidates, |p| score(&outcomes(p, &tuning, d.signal))).ok_or_else(|| anyhow!("{}: no candidate threshold (signal undefined on every tuning run)", d.name))?;
        let jo = outcomes(&best, &judged, d.signal);
        let js = score(&jo);
        let mut leads: Vec<f64> = jo
            .iter()
            .zip(&judged)
            .filter_map(|((st, o, _), r)| match (st, r.truth.collapse, o) {
                (Some(st), Some(c), Outcome::InTime | Outcome::Late | Outcome::Early) => Some(c as f64 - *st as f64),
                _ => None,
            })
            .collect();
        leads.sort_by(|a, b| a.total_cmp(b));
        let lead = leads.get(leads.len() / 2).copied().unwrap_or(f64::NAN);
        let modes = jo.iter().zip(&judged).map(|((st, _, _), r)| r.covered[r.at(*st)] as f64).sum::<f64>() / judged.len().max(1) as f64;
        let ms = cost_of(d.cost);
        let tuned = if d.candidates.len() == 1 { format!("not tuned: {}", best.describe()) } else { best.describe() };
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {} | {} |\n",
            d.name,
            tuned,
            tscore.value(),
            js.in_time,
            js.early,
            js.late,
            js.missed,
            js.false_stops,
            js.quiet,
            if lead.is_finite() { format!("{lead:.0}") } else { "n/a".into() },
            modes,
            if ms.is_finite() { format!("{ms:.2}") } else { "n/a".into() },
            if ms.is_finite() { format!("{:.1} %", 100.0 * ms / 1e3 / epoch_s) } else { "n/a".into() },
        ));
        t_rule.push(d.name.clone());
        t_kind.push(d.kind.to_string());
        t_param.push(tuned);
        t_tune.push(tscore.value());
        t_in.push(js.in_time as i64);
        t_early.push(js.early as i64);
        t_late.push(js.late as i64);
        t_missed.push(js.missed as i64);
        t_false.push(js.false_stops as i64);
        t_quiet.push(js.quiet as i64);
        t_lead.push(lead);
        t_modes.push(modes);
        t_ms.push(ms);
        t_share.push(ms / 1e3 / epoch_s);
        let to = outcomes(&best, &tuning, d.signal);
        let mut stops = Vec::new();
        for (half, os, rs) in [("tune", &to, &tuning), ("judge", &jo, &judged)] {
            for ((st, o, _), r) in os.iter().zip(rs.iter()) {
                r_rule.push(d.name.clone());
                r_seed.push(r.seed as i64);
                r_half.push(half.to_string());
                r_stop.push(st.map_or(-1, |v| v as i64));
                r_outcome.push(o.name().to_string());
                r_lead.push(match (st, r.truth.collapse) {
                    (Some(a), Some(c)) => c as f64 - *a as f64,
                    _ => f64::NAN,
                });
                r_modes.push(r.covered[r.at(*st)] as i64);
                r_collapse.push(r.truth.collapse.map_or(-1, |v| v as i64));
                r_fitted.push(r.truth.fitted as i64);
                stops.push(*st);
            }
        }
        panels.push((d.name.clone(), js, stops));
    }
    let paper_row = 0;
    let best_variant = (1..dets.len()).filter(|&i| dets[i].kind == "Algorithm 2 variant").max_by_key(|&i| (t_in[i] - t_early[i] - t_false[i], -(i as i64)));
    let judged_value = |i: usize| t_in[i] - t_early[i] - t_false[i];
    md.push_str(&format!(
        "\nOn the {} held-out seeds, Algorithm 2 with the paper's thresholds scores {} (in time {}, false stops {}). ",
        judged.len(),
        judged_value(paper_row),
        t_in[paper_row],
        t_false[paper_row]
    ));
    if let Some(b) = best_variant {
        let gain = judged_value(b) - judged_value(paper_row);
        md.push_str(&if gain > 0 && t_in[b] == 0 {
            format!(
                "The best variant tuned on the other half, \"{}\", scores {} there: {gain} more, but only by stopping less (no stop in time: {} early, {} late, {} missed), not by finding the collapse.",
                dets[b].name,
                judged_value(b),
                t_early[b],
                t_late[b],
                t_missed[b]
            )
        } else if gain > 0 {
            format!("The best variant tuned on the other half, \"{}\", scores {} there (in time {}, early {}, false stops {}): better by {gain} run(s) of {}.", dets[b].name, judged_value(b), t_in[b], t_early[b], t_false[b], judged.len())
        } else {
            format!("No variant tuned on the other half beats it on the held-out seeds (best: \"{}\", {}).", dets[b].name, judged_value(b))
        });
    }
    if judged.len() < 20 {
        md.push_str(&format!(" With {} held-out seeds the table is a smoke test of the method, not evidence (the paper profile runs 100 seeds).", judged.len()));
    }
    md.push('\n');
    out.markdown(md.clone());
    let costs_md: String = cost.iter().map(|(k, v)| format!("{k}: {v:.3} ms")).collect::<Vec<_>>().join(", ");
    out.csv(
        "detector_baselines_summary.csv",
        "Per rule: the setting tuned on the first half of the seeds, its score there, and on the held-out half the outcomes (in time, early, late, missed, false stops, quiet), median lead (collapse - stop, epochs), mean modes covered at the stop, the cost of one evaluation (ms) and its share of a training epoch",
        frame(vec![
            ("rule", t_rule.into()),
            ("kind", t_kind.into()),
            ("tuned_setting", t_param.into()),
            ("tuning_score", t_tune.into()),
            ("in_time", t_in.into()),
            ("early", t_early.into()),
            ("late", t_late.into()),
            ("missed", t_missed.into()),
            ("false_stops", t_false.into()),
            ("quiet", t_quiet.into()),
            ("median_lead_epochs", t_lead.into()),
            ("mean_modes_at_stop", t_modes.into()),
            ("ms_per_eval", t_ms.into()),
            ("share_of_epoch", t_share.into()),
        ])?,
    )?;
    out.csv(
        "detector_baselines_runs.csv",
        "Per rule and seed: the half (tune / judge), stop epoch (-1 = none), outcome, lead, modes covered at the stop (at the end without one), fitted and collapse epochs (-1 = none)",
        frame(vec![
            ("rule", r_rule.into()),
            ("seed", r_seed.into()),
            ("half", r_half.into()),
            ("stop_epoch", r_stop.into()),
            ("outcome", r_outcome.into()),
            ("lead_epochs", r_lead.into()),
            ("modes_at_stop", r_modes.into()),
            ("fitted_epoch", r_fitted.into()),
            ("collapse_epoch", r_collapse.into()),
        ])?,
    )?;
    out.text(
        "detector_baselines.md",
        "The summary as markdown, with the measured costs and the settings",
        &format!("{md}\n\nMeasured costs (median of {} repetitions, {} backend): {costs_md}\n\nconfigs/gmm.yaml:\n\n```yaml\n{}```\n", s.cost_repeats, ctx.backend, gs.yaml()),
    )?;
    // One panel per rule: a row per seed (tuning seeds at the bottom, judged above the grey line),
    // its fit (green), measured collapse (red) and the rule's stop (black).
    let n = panels.len();
    let cols = 4.min(n.max(1));
    let rows_n = n.div_ceil(cols);
    let k_tune = tuning.len();
    let y_label = format!("seed ({} tune, {} judge)", seeds_range(&tuning), seeds_range(&judged));
    out.png(
        "detector_baselines.png",
        "Per rule (threshold tuned on the seeds below the dashed line, judged on those above it): for each seed, the fitted epoch (green), the measured collapse (red) and the rule's stop (black); title: in-time and false stops on the held-out seeds",
        (s.width, s.height.max(230 * rows_n as u32)),
        |area| {
            let cells = area.split_evenly((rows_n, cols));
            for (i, (cell, (name, js, stops))) in cells.iter().zip(&panels).enumerate() {
                let label = |l: &str| if i == 0 { l.to_string() } else { String::new() };
                let mut ch = Chart::new(format!("{name}: {} in time, {} false", js.in_time, js.false_stops), "epoch", y_label.as_str());
                ch.x_range = Some((0.0, gs.epochs as f64));
                let ordered: Vec<&&RunData> = tuning.iter().chain(judged.iter()).collect();
                ch.y_range = Some((ordered[0].seed as f64 - 0.5, ordered[ordered.len() - 1].seed as f64 + 0.5));
                let row = |j: usize| ordered[j].seed as f64;
                ch.series.push(Series::points(label("fit"), ordered.iter().enumerate().map(|(j, r)| (r.truth.fitted as f64, row(j))).collect(), color(2)));
                ch.series.push(Series::points(label("collapse"), ordered.iter().enumerate().filter_map(|(j, r)| r.truth.collapse.map(|c| (c as f64, row(j)))).collect(), color(3)));
                ch.series.push(Series::points(label("stop"), stops.iter().enumerate().filter_map(|(j, st)| st.map(|v| (v as f64, row(j)))).collect(), plotters::style::RGBColor(0, 0, 0)));
                let split = ordered[k_tune - 1].seed as f64 + 0.5;
                ch.series.push(Series::dashed("", vec![(0.0, split), (gs.epochs as f64, split)], plotters::style::RGBColor(150, 150, 150)));
                ch.draw(cell)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

fn seeds_range(v: &[&RunData]) -> String {
    match (v.first(), v.last()) {
        (Some(a), Some(b)) if a.seed != b.seed => format!("{}-{}", a.seed, b.seed),
        (Some(a), _) => a.seed.to_string(),
        _ => "-".into(),
    }
}

fn seeds_of(v: &[&RunData]) -> String {
    v.iter().map(|d| d.seed.to_string()).collect::<Vec<_>>().join(", ")
}
