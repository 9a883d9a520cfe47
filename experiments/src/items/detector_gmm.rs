//! detector-gmm: how well Algorithm 2 with the paper's thresholds finds the transition from
//! fitting to collapse, measured against a ground truth read from the samples themselves, over
//! many seeds of the 3-D mixture run (configs/gmm.yaml).
//!
//! Per seed: modes covered and high-quality rate every epoch; fitted epoch (first epoch of the
//! run's peak coverage sustained for `persist` epochs); collapse epoch (first later epoch from
//! which coverage stays below that peak for `persist` epochs); the epoch and reason of Algorithm 2's stop (replayed with the
//! `models` monitor on the recorded per-epoch metrics; training is not cut, so what follows is
//! visible); lead time = collapse - stop; coverage and quality at the stop, at the best checkpoint
//! before it, and at the end. Verdicts: `never` (no stop), `early` (stop before the fitted epoch),
//! `in time` (between fit and collapse), `late` (after the collapse), `no collapse` (stopped after
//! the fit in a run that never collapsed).

use anyhow::Result;
use serde::Deserialize;

use super::gmm::{self, replay, Criteria, GmmRun, GmmSettings, Truth};
use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    seeds: usize,
    persist: usize,
    checkpoint_every: usize,
    width: u32,
    height: u32,
}

/// The verdict for one run and one detector.
pub fn verdict(stop: Option<usize>, t: &Truth) -> &'static str {
    match (stop, t.collapse_epoch) {
        (None, _) => "never",
        (Some(s), _) if s < t.fitted_epoch => "early",
        (Some(s), Some(c)) if s <= c => "in time",
        (Some(_), Some(_)) => "late",
        (Some(_), None) => "no collapse",
    }
}

struct Row {
    seed: u64,
    truth: Truth,
    stops: Vec<Option<models::StopEvent>>,
}

const DETECTORS: [(Criteria, &str); 3] = [(Criteria::Both, "paper (both criteria)"), (Criteria::DiscOnly, "q_d only"), (Criteria::SteepnessOnly, "steepness only")];

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("detector-gmm")?;
    let gs = GmmSettings::load(ctx)?;
    let mcfg = gs.monitor();
    let arcs = gmm::seed_runs(ctx, &gs, s.seeds)?;
    let runs: Vec<&GmmRun> = arcs.iter().map(|a| a.as_ref()).collect();
    let mut rows = Vec::new();
    for r in &runs {
        let truth = gmm::truth(&r.quality, s.persist);
        let stops = DETECTORS.iter().map(|(c, _)| replay(r, &mcfg, *c, s.checkpoint_every)).collect();
        rows.push(Row { seed: r.seed, truth, stops });
    }
    let end = gs.epochs;
    let q = |r: &GmmRun, e: usize| r.quality[e.min(end)].clone();

    // Per seed, per detector.
    let mut c = PerSeed::default();
    for (row, r) in rows.iter().zip(runs.iter().copied()) {
        for ((_, name), stop) in DETECTORS.iter().zip(&row.stops) {
            let st = stop.as_ref().map(|e| e.t);
            let best = stop.as_ref().and_then(|e| e.best_checkpoint).map(|b| b.at);
            c.seed.push(row.seed as i64);
            c.detector.push(name.to_string());
            c.stop.push(st.map_or(-1, |v| v as i64));
            c.reason.push(stop.as_ref().map_or("none".into(), |e| e.reason.name().to_string()));
            c.q_d_at_stop.push(stop.as_ref().map_or(f64::NAN, |e| e.q_d));
            c.ds_at_stop.push(stop.as_ref().and_then(|e| e.delta_s).unwrap_or(f64::NAN));
            c.peak.push(row.truth.peak as i64);
            c.fitted.push(row.truth.fitted_epoch as i64);
            c.collapse.push(row.truth.collapse_epoch.map_or(-1, |v| v as i64));
            c.lead.push(match (st, row.truth.collapse_epoch) {
                (Some(s), Some(cc)) => cc as f64 - s as f64,
                _ => f64::NAN,
            });
            c.verdict.push(verdict(st, &row.truth).to_string());
            let at_stop = st.map(|e| q(r, e));
            let at_best = best.map(|e| q(r, e));
            let at_end = q(r, end);
            c.cov_stop.push(at_stop.as_ref().map_or(-1, |x| x.covered as i64));
            c.hq_stop.push(at_stop.as_ref().map_or(f64::NAN, |x| x.hq));
            c.best.push(best.map_or(-1, |v| v as i64));
            c.cov_best.push(at_best.as_ref().map_or(-1, |x| x.covered as i64));
            c.hq_best.push(at_best.as_ref().map_or(f64::NAN, |x| x.hq));
            c.cov_end.push(at_end.covered as i64);
            c.hq_end.push(at_end.hq);
            c.max_qd.push(r.history.iter().map(|h| h.q_d).fold(f64::NEG_INFINITY, f64::max));
        }
    }
    // Summary per detector.
    let mut md = format!(
        "{} seeds ({}..{}), 3-D mixture, {} epochs each, {} backend, {:.0} s in all. Algorithm 2 with the paper's settings \
         (k_d/(2 sigma) = {:.2}, k_g = {}, N_w = {}, m = {}), fed per-epoch values (q_d = mean over the epoch's batches of the \
         per-batch (1-1/m) quantile; S = mean exact steepness on 128 fixed latents at the end of the epoch). Ground truth: a mode \
         counts when it holds >= {} x n/m of {} samples within 3 sigma; peak = largest coverage sustained for {p} epochs; collapse = coverage below that peak for {p} epochs.\n\n",
        s.seeds,
        ctx.seed,
        ctx.seed + s.seeds as u64 - 1,
        gs.epochs,
        ctx.backend,
        runs.iter().map(|r| r.seconds).sum::<f64>(),
        mcfg.disc_threshold(),
        mcfg.k_g,
        mcfg.warmup,
        gs.modes(),
        gs.cover_share,
        gs.eval_samples,
        p = s.persist
    );
    let collapsed = rows.iter().filter(|r| r.truth.collapse_epoch.is_some()).count();
    let full = rows.iter().filter(|r| r.truth.peak == gs.modes()).count();
    md.push_str(&format!(
        "Ground truth: {full}/{} runs covered all {} modes (sustained); {collapsed}/{} collapsed (lost modes for good after their peak). \
         Largest per-epoch q_d over all runs: {:.2}.\n\n",
        s.seeds,
        gs.modes(),
        s.seeds,
        c.max_qd.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
    ));
    md.push_str("| detector | never | early | in time | late | no collapse | median lead (epochs) | modes at stop | modes at best | modes at end |\n|---|---|---|---|---|---|---|---|---|---|\n");
    let (mut sd, mut sn, mut se, mut si, mut sl, mut snc, mut slead, mut scs, mut scb, mut sce) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (k, (_, name)) in DETECTORS.iter().enumerate() {
        let idx: Vec<usize> = (0..c.seed.len()).filter(|i| i % DETECTORS.len() == k).collect();
        let count = |v: &str| idx.iter().filter(|i| c.verdict[**i] == v).count() as i64;
        let mut leads: Vec<f64> = idx.iter().map(|i| c.lead[*i]).filter(|v| v.is_finite()).collect();
        leads.sort_by(|a, b| a.total_cmp(b));
        let med = if leads.is_empty() { f64::NAN } else { leads[leads.len() / 2] };
        let mean_i = |v: &Vec<i64>| {
            let xs: Vec<f64> = idx.iter().map(|i| v[*i]).filter(|x| *x >= 0).map(|x| x as f64).collect();
            if xs.is_empty() { f64::NAN } else { xs.iter().sum::<f64>() / xs.len() as f64 }
        };
        let (cs, cb, ce) = (mean_i(&c.cov_stop), mean_i(&c.cov_best), mean_i(&c.cov_end));
        md.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |\n",
            count("never"),
            count("early"),
            count("in time"),
            count("late"),
            count("no collapse"),
            if med.is_finite() { format!("{med:.0}") } else { "n/a".into() },
            if cs.is_finite() { format!("{cs:.2}") } else { "n/a".into() },
            if cb.is_finite() { format!("{cb:.2}") } else { "n/a".into() },
            ce
        ));
        sd.push(name.to_string());
        sn.push(count("never"));
        se.push(count("early"));
        si.push(count("in time"));
        sl.push(count("late"));
        snc.push(count("no collapse"));
        slead.push(med);
        scs.push(cs);
        scb.push(cb);
        sce.push(ce);
    }
    md.push_str("\n(modes at stop / best / end: means over the runs where the detector stopped; best = best-scored checkpoint before the stop, checkpoints every ");
    md.push_str(&format!("{} epochs, score = modes covered + high-quality rate.)", s.checkpoint_every));
    out.markdown(md.clone());
    out.csv(
        "detector_gmm_summary.csv",
        "Per detector: how often it never fired, stopped early (before the fit), in time, late (after the collapse), or in a run without collapse; median lead time; mean modes covered at stop, best checkpoint and end",
        frame(vec![
            ("detector", sd.into()),
            ("never", sn.into()),
            ("early", se.into()),
            ("in_time", si.into()),
            ("late", sl.into()),
            ("no_collapse", snc.into()),
            ("median_lead_epochs", slead.into()),
            ("mean_modes_at_stop", scs.into()),
            ("mean_modes_at_best", scb.into()),
            ("mean_modes_at_end", sce.into()),
        ])?,
    )?;
    out.csv("detector_gmm_runs.csv", "Per seed and detector: stop epoch and reason, ground truth, lead time, verdict, modes covered / high-quality rate at stop, best checkpoint and end (-1 / NaN = none)", c.frame()?)?;
    // Per-epoch series of every run.
    let (mut se_, mut ee, mut cc, mut hh, mut qq, mut ss) = (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in runs.iter() {
        for h in &r.history {
            se_.push(r.seed as i64);
            ee.push(h.epoch as i64);
            cc.push(r.quality[h.epoch].covered as i64);
            hh.push(r.quality[h.epoch].hq);
            qq.push(h.q_d);
            ss.push(h.steepness);
        }
    }
    out.csv(
        "detector_gmm_epochs.csv",
        "Per seed and epoch: modes covered, high-quality rate, q_d, mean steepness",
        frame(vec![("seed", se_.into()), ("epoch", ee.into()), ("modes_covered", cc.into()), ("hq_rate", hh.into()), ("q_d", qq.into()), ("steepness", ss.into())])?,
    )?;
    out.text("detector_gmm.md", "The summary as markdown, with the settings", &format!("{md}\n\nconfigs/gmm.yaml:\n\n```yaml\n{}```\n", gs.yaml()))?;
    // Picture: one panel per seed, modes covered over epochs with the stop (black) and collapse (red).
    let n = runs.len();
    let cols = 4.min(n.max(1));
    let rows_n = n.div_ceil(cols);
    out.png(
        "detector_gmm.png",
        "Per seed: modes covered (blue) and q_d (orange, scaled to the threshold = 8 modes) per epoch; black line: Algorithm 2's stop; red line: measured collapse",
        (s.width, s.height.max(260 * rows_n as u32)),
        |area| {
            let cells = area.split_evenly((rows_n, cols));
            for (i, ((cell, r), row)) in cells.iter().zip(runs.iter()).zip(&rows).enumerate() {
                // The legend on the first panel only: the others read the same way.
                let label = |l: &str| if i == 0 { l.to_string() } else { String::new() };
                let stop = row.stops[0].as_ref().map(|e| e.t);
                let mut ch = Chart::new(format!("seed {}: {}", r.seed, verdict(stop, &row.truth)), "epoch", "modes");
                ch.y_range = Some((0.0, gs.modes() as f64 + 0.5));
                ch.series.push(Series::thin(label("modes covered"), r.quality.iter().enumerate().map(|(e, q)| (e as f64, q.covered as f64)).collect(), color(0)));
                let scale = gs.modes() as f64 / mcfg.disc_threshold();
                ch.series.push(Series::thin(label("q_d (threshold = top)"), r.history.iter().map(|h| (h.epoch as f64, h.q_d * scale)).collect(), color(1)));
                if let Some(t) = stop {
                    ch.vlines.push((t as f64, format!("stop {t}")));
                }
                if let Some(cl) = row.truth.collapse_epoch {
                    ch.series.push(Series::dashed(label("collapse"), vec![(cl as f64, 0.0), (cl as f64, gs.modes() as f64)], color(3)));
                }
                ch.draw(cell)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

#[derive(Default)]
struct PerSeed {
    seed: Vec<i64>,
    detector: Vec<String>,
    stop: Vec<i64>,
    reason: Vec<String>,
    q_d_at_stop: Vec<f64>,
    ds_at_stop: Vec<f64>,
    peak: Vec<i64>,
    fitted: Vec<i64>,
    collapse: Vec<i64>,
    lead: Vec<f64>,
    verdict: Vec<String>,
    cov_stop: Vec<i64>,
    hq_stop: Vec<f64>,
    best: Vec<i64>,
    cov_best: Vec<i64>,
    hq_best: Vec<f64>,
    cov_end: Vec<i64>,
    hq_end: Vec<f64>,
    max_qd: Vec<f64>,
}

impl PerSeed {
    fn frame(self) -> Result<polars::prelude::DataFrame> {
        frame(vec![
            ("seed", self.seed.into()),
            ("detector", self.detector.into()),
            ("stop_epoch", self.stop.into()),
            ("reason", self.reason.into()),
            ("q_d_at_stop", self.q_d_at_stop.into()),
            ("delta_s_at_stop", self.ds_at_stop.into()),
            ("peak_modes", self.peak.into()),
            ("fitted_epoch", self.fitted.into()),
            ("collapse_epoch", self.collapse.into()),
            ("lead_epochs", self.lead.into()),
            ("verdict", self.verdict.into()),
            ("modes_at_stop", self.cov_stop.into()),
            ("hq_at_stop", self.hq_stop.into()),
            ("best_checkpoint", self.best.into()),
            ("modes_at_best", self.cov_best.into()),
            ("hq_at_best", self.hq_best.into()),
            ("modes_at_end", self.cov_end.into()),
            ("hq_at_end", self.hq_end.into()),
            ("max_q_d", self.max_qd.into()),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let t = Truth { peak: 8, fitted_epoch: 100, collapse_epoch: Some(300) };
        assert_eq!(verdict(None, &t), "never");
        assert_eq!(verdict(Some(60), &t), "early");
        assert_eq!(verdict(Some(200), &t), "in time");
        assert_eq!(verdict(Some(300), &t), "in time");
        assert_eq!(verdict(Some(301), &t), "late");
        let t = Truth { collapse_epoch: None, ..t };
        assert_eq!(verdict(Some(200), &t), "no collapse");
    }
}
