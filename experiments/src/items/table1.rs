//! Table 1: the two phases and the roles of the two gradients, as the paper states them, with
//! evidence measured over the NSGAN runs of the 3-D mixture (configs/gmm.yaml, the runs that
//! detector-gmm evaluates; trained once per process).

use anyhow::Result;
use serde::Deserialize;

use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{err, font};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Mixture runs (seeds --seed ..) the measured column summarises.
    seeds: usize,
    /// Epochs a coverage change must last to count (see detector-gmm).
    persist: usize,
    width: u32,
    height: u32,
}

/// (aspect, fitting, collapse) as printed in the paper's Table 1.
const ROWS: [(&str, &str, &str); 3] = [
    (
        "Description",
        "Particles move toward and converge around the modes, reducing their spread and mitigating mode mixture.",
        "Particles near mode boundaries are pushed away, eventually leading to mode collapse.",
    ),
    (
        "Discriminator gradient",
        "Guides particles from the initial noise prior toward regions close to the modes.",
        "Pushes particles near mode boundaries away with significant force and magnitude.",
    ),
    (
        "Generator gradient",
        "Measures how the generator maps nearby points in the latent space to distant points in the output space, quantitatively measure the severity of mode mixture.",
        "Drops in magnitude as particles near mode boundaries are pushed away and concentrate around fewer modes.",
    ),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter().filter(|x| x.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)))
}

/// Measured evidence for the six (phase, aspect) cells, in the order of `ROWS` x (fitting,
/// collapse), over the NSGAN runs of the 3-D mixture for seeds --seed .. --seed + seeds - 1
/// (configs/gmm.yaml; the runs detector-gmm evaluates, trained once per process).
fn evidence(ctx: &Ctx, seeds: usize, persist: usize) -> Result<Vec<String>> {
    let gs = super::gmm::GmmSettings::load(ctx)?;
    let runs = super::gmm::seed_runs(ctx, &gs, seeds)?;
    let m = gs.modes();
    let thr = gs.monitor().disc_threshold();
    let (mut peaks, mut hq_fit, mut s_ratio, mut q_fit, mut q_fit_max) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut lost, mut end_cov, mut q_before, mut s_before_after, mut min_drop, mut drop_hits) = (vec![], vec![], vec![], vec![], vec![], 0usize);
    let mut n_collapse = 0;
    for r in &runs {
        let t = super::gmm::truth(&r.quality, persist);
        let h = &r.history;
        let fit = t.fitted_epoch.max(1);
        let ep = |a: usize, b: usize| h.iter().filter(move |x| x.epoch >= a.max(1) && x.epoch <= b);
        peaks.push(t.peak as f64);
        hq_fit.push(r.quality[fit].hq);
        s_ratio.push(h[fit - 1].steepness / r.steepness0);
        let qf: Vec<f64> = ep(1, fit).map(|x| x.q_d).collect();
        q_fit_max.push(range(&qf).1);
        let qf_med = median(qf);
        q_fit.push(qf_med);
        if let Some(c) = t.collapse_epoch {
            n_collapse += 1;
            lost.push((t.peak - r.quality[c].covered) as f64);
            end_cov.push(r.quality[gs.epochs].covered as f64);
            let qb = range(&ep(c.saturating_sub(20), c.saturating_sub(1)).map(|x| x.q_d).collect::<Vec<_>>()).1;
            q_before.push(qb / qf_med);
            let sb = median(ep(c.saturating_sub(20), c.saturating_sub(1)).map(|x| x.steepness).collect());
            let sa = median(ep(c, c + 20).map(|x| x.steepness).collect());
            s_before_after.push(sa / sb);
            let around: Vec<&models::train::EpochRecord> = ep(c.saturating_sub(20), c + 20).collect();
            let d = around.windows(2).map(|w| (w[1].steepness - w[0].steepness) / w[0].steepness).fold(f64::INFINITY, f64::min);
            min_drop.push(d);
            if d < gs.k_g {
                drop_hits += 1;
            }
        }
    }
    let n = runs.len();
    let (lo, hi) = range(&s_ratio);
    let mut cells = vec![
        format!("{n} seeds: sustained peak coverage median {:.0}/{m} modes (range {:.0}-{:.0}); high-quality rate at the fitted epoch median {:.0}%", median(peaks.clone()), range(&peaks).0, range(&peaks).1, 100.0 * median(hq_fit)),
        String::new(),
        format!("q_d (per-epoch (1-1/m) quantile of ||grad d/d||) from epoch 1 to the fit: median of run medians {:.2}, largest {:.2}; threshold k_d/(2 sigma) = {thr:.2}", median(q_fit), range(&q_fit_max).1),
        String::new(),
        format!("mean steepness at the fitted epoch / at epoch 0: median x{:.0} (range x{lo:.0}-x{hi:.0}) - it rises during fitting", median(s_ratio)),
        String::new(),
    ];
    if n_collapse > 0 {
        cells[1] = format!("{n_collapse}/{n} runs lost modes for good after their peak (median {:.0} mode(s) lost at the collapse; median {:.0}/{m} covered at epoch {})", median(lost), median(end_cov), gs.epochs);
        cells[3] = format!("largest q_d in the 20 epochs before the collapse / fitting median: median x{:.1} over the {n_collapse} collapses; the threshold {thr:.2} was reached in {} of {n} runs", median(q_before), runs.iter().filter(|r| r.history.iter().any(|x| x.q_d > thr)).count());
        cells[5] = format!("median steepness in the 20 epochs after / before the collapse: median x{:.2}; a one-epoch drop below k_g = {} within +-20 epochs of the collapse in {drop_hits}/{n_collapse} collapses (median largest drop {:.2})", median(s_before_after), gs.k_g, median(min_drop));
    } else {
        for i in [1, 3, 5] {
            cells[i] = format!("none of the {n} runs collapsed within {} epochs", gs.epochs);
        }
    }
    Ok(cells)
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for w in text.split_whitespace() {
        let last = lines.last_mut().expect("non-empty");
        if !last.is_empty() && last.len() + 1 + w.len() > width {
            lines.push(w.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(w);
        }
    }
    lines
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("table1")?;
    let ev = evidence(ctx, s.seeds, s.persist)?;
    let mut phase = Vec::new();
    let mut aspect = Vec::new();
    let mut paper = Vec::new();
    let mut measured = Vec::new();
    for (i, (a, fit, col)) in ROWS.iter().enumerate() {
        for (j, (ph, text)) in [("fitting", fit), ("collapse", col)].into_iter().enumerate() {
            phase.push(ph);
            aspect.push(*a);
            paper.push(*text);
            measured.push(ev[2 * i + j].clone());
        }
    }
    out.csv(
        "table1.csv",
        "Table 1 as printed, one row per (phase, aspect), with the measured-evidence column",
        frame(vec![
            ("phase", phase.into()),
            ("aspect", aspect.into()),
            ("paper", paper.into()),
            ("measured_evidence", measured.into()),
        ])?,
    )?;
    let mut md = String::from("| | Fitting | Collapse |\n|---|---|---|\n");
    for (a, fit, col) in ROWS {
        md.push_str(&format!("| {a} | {fit} | {col} |\n"));
    }
    for (i, (a, _, _)) in ROWS.iter().enumerate() {
        md.push_str(&format!("| measured: {a} | {} | {} |\n", ev[2 * i], ev[2 * i + 1]));
    }
    md.push_str("\n(measured over the NSGAN runs of the 3-D mixture that detector-gmm evaluates: configs/gmm.yaml, seeds --seed onwards)\n");
    out.markdown(md);
    out.png("table1.png", "Table 1 as printed, with evidence measured over the 3-D mixture runs of detector-gmm", (s.width, s.height), |area| {
        let col_x = [12, 190, 700];
        let mut y = 14;
        for (x, h) in col_x.iter().zip(["", "Fitting", "Collapse"]) {
            area.draw_text(h, &font(18), (*x, y)).map_err(err)?;
        }
        y += 34;
        let measured: Vec<(String, String, String)> = ROWS.iter().enumerate().map(|(i, (a, _, _))| (format!("measured: {a}"), ev[2 * i].clone(), ev[2 * i + 1].clone())).collect();
        let rows: Vec<(&str, &str, &str)> = ROWS.iter().copied().chain(measured.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))).collect();
        for (a, fit, col) in rows {
            let cells = [wrap(a, 20), wrap(fit, 62), wrap(col, 62)];
            let n = cells.iter().map(|c| c.len()).max().unwrap_or(1);
            for (x, c) in col_x.iter().zip(&cells) {
                for (k, line) in c.iter().enumerate() {
                    area.draw_text(line, &font(15), (*x, y + 20 * k as i32)).map_err(err)?;
                }
            }
            y += 20 * n as i32 + 18;
        }
        Ok(())
    })?;
    Ok(())
}
