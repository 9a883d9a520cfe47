//! Figure 18 (Appendix G.5): the paper's two probes against the duality gap (Grnarova et al.)
//! and the perturbed duality gap (Sidheekh et al.) along the image runs. Rows: q_d per epoch,
//! the mean steepness per epoch, DG and PDG every `every` epochs; one column per data set; the
//! written collapse rule's epoch and Algorithm 2's stop marked.
//!
//! The gaps are evaluated on the run store's checkpoints (so a finished run gains them without
//! retraining) and stored beside the run (`items::gap_store`); the real data are the run's
//! held-out split, its first half to search the worst-case players on, its second half to
//! evaluate V on. One evaluation costs a sizeable share of a CPU training epoch (README), so
//! `every` is per profile and printed.

use anyhow::{anyhow, bail, Result};
use models::duality_gap::{duality_gaps, DualityGapSettings};
use serde::{Deserialize, Serialize};

use super::gap_store::{gap_settings, stored_gaps};
use super::image_runs::{self, Dataset, ImageRun, ImagesConfig};
use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Epochs between gap evaluations (a multiple of images.yaml's checkpoint_every).
    every: usize,
    /// `ci` or `paper` worst-case search settings (models::duality_gap).
    gaps: String,
    /// Held-out images in each split (search, evaluation).
    gap_points: usize,
    sets: Vec<Dataset>,
    width: u32,
    height: u32,
}

#[derive(Serialize)]
struct GapKey<'a> {
    gaps: &'a DualityGapSettings,
    gap_points: usize,
}

struct Column {
    run: ImageRun,
    gap_epochs: Vec<f64>,
    dg: Vec<f64>,
    pdg: Vec<f64>,
    seconds: Vec<f64>,
    failures: Vec<(usize, String)>,
    collapse: Option<usize>,
}


fn evaluate(ctx: &Ctx, s: &Settings, run: ImageRun, rule: &metrics::collapse::CollapseRule) -> Result<Column> {
    let rs = &run.settings;
    if s.every == 0 || s.every % rs.checkpoint_every.max(1) != 0 || rs.checkpoint_every == 0 {
        bail!("fig18.yaml: every = {} must be a positive multiple of images.yaml's checkpoint_every = {} (the gaps are evaluated on stored checkpoints)", s.every, rs.checkpoint_every);
    }
    let epochs: Vec<usize> = (1..=rs.epochs / s.every).map(|k| k * s.every).collect();
    if epochs.is_empty() {
        bail!("fig18.yaml: every = {} is more than the {} epochs of {}", s.every, rs.epochs, run.label());
    }
    let seed = run.dir.key().seed;
    let ds = gap_settings("fig18.yaml", &s.gaps, seed)?;
    let dim = rs.dim();
    // The held-out images mean reading the data set again: only when a gap must be computed.
    let mut held: Option<Vec<f32>> = None;
    let pb = ctx.progress(epochs.len() as u64, &format!("{} gaps", rs.dataset.name()));
    let key = GapKey { gaps: &ds, gap_points: s.gap_points };
    let (table, failures) = stored_gaps(&run.dir, &key, seed, &epochs, |e| {
        if held.is_none() {
            let h = image_runs::real_images(ctx, &run, 2 * s.gap_points, true)?;
            if h.len() / dim < 2 {
                bail!("{}: {} held-out images, need at least 2 for the two splits", run.label(), h.len() / dim);
            }
            held = Some(h);
        }
        let h = held.as_deref().unwrap_or_default();
        let (search, eval) = h.split_at((h.len() / dim / 2) * dim);
        let g = models::with_backend!(ctx.backend, |B, device| (|| -> Result<_> {
            let (g, d) = image_runs::networks::<B>(&run, e, &device)?;
            Ok(duality_gaps(&g, &d, search, eval, dim, &ds, &device))
        })())
        .map_err(|e| anyhow!("{e}"))??;
        pb.inc(1);
        Ok(g)
    })?;
    pb.finish_and_clear();
    let collapse = run.collapse(rule)?.at;
    Ok(Column { gap_epochs: table.column("epoch"), dg: table.column("dg"), pdg: table.column("pdg"), seconds: table.column("seconds"), failures, collapse, run })
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("fig18")?;
    let c = ImagesConfig::load(ctx)?;
    let (runs, skipped) = super::image_figs::runs(ctx, &s.sets, 0.0)?;
    for (name, why) in &skipped {
        out.markdown(format!("**{name}: not built on this machine.** {why}"));
    }
    if runs.is_empty() {
        return Err(super::Skip("fig18: no image run could be built here (see the lines above)".into()).into());
    }
    let cols: Vec<Column> = runs.into_iter().map(|r| evaluate(ctx, &s, r, &c.collapse)).collect::<Result<_>>()?;

    for col in &cols {
        let r = &col.run;
        let key = r.settings.dataset.key().replace('-', "_");
        let ep = r.epochs();
        let at = |v: &[f64], e: f64| col.gap_epochs.iter().position(|x| *x == e).map_or(f64::NAN, |i| v[i]);
        out.csv(
            &format!("fig18_{key}.csv"),
            &format!("{}: per epoch q_d, mean steepness, FID, classes covered, and the duality gap / perturbed duality gap at the evaluated epochs (NaN elsewhere)", r.label()),
            frame(vec![
                ("epoch", ep.clone().into()),
                ("q_d", r.col("q_d").into()),
                ("steepness", r.col("steepness").into()),
                ("fid", r.col("fid").into()),
                ("classes_covered", r.col("classes_covered").into()),
                ("dg", ep.iter().map(|&e| at(&col.dg, e)).collect::<Vec<f64>>().into()),
                ("pdg", ep.iter().map(|&e| at(&col.pdg, e)).collect::<Vec<f64>>().into()),
            ])?,
        )?;
        let mut sec = col.seconds.iter().cloned().filter(|v| v.is_finite()).collect::<Vec<_>>();
        sec.sort_by(|a, b| a.total_cmp(b));
        let med = sec.get(sec.len() / 2).copied().unwrap_or(f64::NAN);
        let epoch_s = r.summary.seconds_per_epoch_training;
        let stop = r.summary.stop.as_ref().map(|e| e.t);
        let gaps_note = match col.collapse {
            Some(cl) => {
                let before = |v: &[f64]| mean(col.gap_epochs.iter().zip(v).filter(|(e, _)| **e < cl as f64).map(|(_, x)| *x));
                let after = |v: &[f64]| mean(col.gap_epochs.iter().zip(v).filter(|(e, _)| **e >= cl as f64).map(|(_, x)| *x));
                format!(
                    "collapse (written rule) at epoch {cl}: DG mean {:.4} before, {:.4} after; PDG {:.4} before, {:.4} after",
                    before(&col.dg),
                    after(&col.dg),
                    before(&col.pdg),
                    after(&col.pdg)
                )
            }
            None => "no collapse by the written rule in this run, so the paper's statement about the gaps after collapse cannot be checked on it".into(),
        };
        out.markdown(format!(
            "**{}**: gaps at epochs {:?} (every {}; `{}` search settings, {} + {} held-out images), one DG + PDG evaluation {:.1} s (median) = {:.2} training epochs ({:.1} s an epoch); \
             Algorithm 2 {}; {gaps_note}.{}",
            r.label(),
            col.gap_epochs.iter().map(|e| *e as usize).collect::<Vec<_>>(),
            s.every,
            s.gaps,
            s.gap_points.min(r.settings.heldout_images / 2),
            s.gap_points.min(r.settings.heldout_images / 2),
            med,
            med / epoch_s,
            epoch_s,
            stop.map_or("did not stop".into(), |t| format!("stopped at epoch {t}")),
            if col.failures.is_empty() { String::new() } else { format!(" Non-finite evaluations (NaN in the CSV): {:?}.", col.failures) }
        ));
    }

    let n = cols.len();
    out.png(
        "fig18.png",
        "Per data set (columns): q_d per epoch (top), mean steepness per epoch (middle), DG and perturbed DG at the evaluated epochs (bottom); vertical lines, labelled: the collapse by the written rule and Algorithm 2's stop (none in a run without them)",
        (s.width.max(520 * n as u32), s.height),
        |area| {
            let cells = area.split_evenly((3, n));
            for (j, col) in cols.iter().enumerate() {
                let r = &col.run;
                let label = |l: &str| if j == 0 { l.to_string() } else { String::new() };
                let ep = r.epochs();
                let xy = |x: &[f64], y: &[f64]| x.iter().cloned().zip(y.iter().cloned()).filter(|p| p.1.is_finite()).collect::<Vec<_>>();
                let mark = |ch: &mut Chart| {
                    if let Some(c) = col.collapse {
                        ch.vlines.push((c as f64, format!("collapse {c}")));
                    }
                    if let Some(t) = r.summary.stop.as_ref().map(|e| e.t) {
                        ch.vlines.push((t as f64, format!("stop {t}")));
                    }
                };
                let mut a = Chart::new(format!("{}: q_d", r.label()), "epoch", "q_d");
                a.series.push(Series::line(label("q_d"), xy(&ep, &r.col("q_d")), color(0)));
                mark(&mut a);
                a.draw(&cells[j])?;
                let mut b = Chart::new("mean steepness", "epoch", "S");
                b.series.push(Series::line(label("S"), xy(&ep, &r.col("steepness")), color(2)));
                mark(&mut b);
                b.draw(&cells[n + j])?;
                let mut g = Chart::new("duality gaps", "epoch", "gap");
                g.series.push(Series::line(label("DG"), xy(&col.gap_epochs, &col.dg), color(1)));
                g.series.push(Series::line(label("perturbed DG"), xy(&col.gap_epochs, &col.pdg), color(3)));
                mark(&mut g);
                g.draw(&cells[2 * n + j])?;
            }
            Ok(())
        },
    )?;
    Ok(())
}
