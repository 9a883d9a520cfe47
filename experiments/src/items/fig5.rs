//! Figure 5, Gaussian-mixture column: Algorithm 2 on the reference NSGAN run of the 3-D mixture.
//! Row 1: the per-epoch (1 - 1/m) quantile of ||grad d / d|| with the threshold k_d/(2 sigma), the
//! mean steepness and its relative change with k_g, and the stop line. Row 2: generated samples
//! at epochs around the stop, the best checkpoint before the stop framed in red. The MNIST,
//! Fashion-MNIST and CIFAR-10 columns (`image_figs::fig5_column`) read the image runs of the run
//! store; CIFAR-10's is reported as not built where its files are missing.

use anyhow::Result;
use serde::Deserialize;

use super::gmm::{self, replay, scatter, Criteria};
use super::Ctx;
use crate::output::{frame, ItemOutput};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    offsets: Vec<i64>,
    /// Epochs around the stop whose sample grids the image columns show.
    image_offsets: Vec<i64>,
    /// Which image columns to build (`[]`: the Gaussian-mixture column alone).
    image_sets: Vec<super::image_runs::Dataset>,
    checkpoint_every: usize,
    width: u32,
    height: u32,
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("fig5")?;
    let (gs, r) = gmm::reference(ctx)?;
    let mcfg = gs.monitor();
    let thr = mcfg.disc_threshold();
    let stop = replay(&r, &mcfg, Criteria::Both, s.checkpoint_every);
    let epochs: Vec<f64> = r.history.iter().map(|h| h.epoch as f64).collect();
    let qd: Vec<f64> = r.history.iter().map(|h| h.q_d).collect();
    let st: Vec<f64> = r.history.iter().map(|h| h.steepness).collect();
    let mut ds = vec![f64::NAN];
    ds.extend(st.windows(2).map(|w| (w[1] - w[0]) / w[0]));
    out.csv(
        "fig5_gmm_metrics.csv",
        "Per epoch: (1-1/m) quantile of ||grad d/d|| (mean over batches, and max), mean steepness, its relative change, modes covered, high-quality rate, losses",
        frame(vec![
            ("epoch", epochs.clone().into()),
            ("q_d", qd.clone().into()),
            ("q_d_max", r.history.iter().map(|h| h.q_d_max).collect::<Vec<f64>>().into()),
            ("steepness", st.clone().into()),
            ("delta_steepness", ds.clone().into()),
            ("modes_covered", r.history.iter().map(|h| r.quality[h.epoch].covered as i64).collect::<Vec<i64>>().into()),
            ("hq_rate", r.history.iter().map(|h| r.quality[h.epoch].hq).collect::<Vec<f64>>().into()),
            ("loss_d", r.history.iter().map(|h| h.loss_d).collect::<Vec<f64>>().into()),
            ("loss_g", r.history.iter().map(|h| h.loss_g).collect::<Vec<f64>>().into()),
        ])?,
    )?;
    let truth = gmm::truth(&r.quality, 5);
    let max_q = qd.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let stop_line = stop.as_ref().map(|e| e.t);
    let centre = stop_line.unwrap_or(truth.collapse_epoch.unwrap_or(gs.epochs / 2));
    let best = stop.as_ref().and_then(|e| e.best_checkpoint).map(|c| c.at);
    let shown: Vec<usize> = s
        .offsets
        .iter()
        .map(|o| (centre as i64 + o).clamp(0, gs.epochs as i64) as usize)
        .chain(best)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut md = match &stop {
        Some(e) => format!("Algorithm 2 (k_d/(2 sigma) = {thr:.2}, k_g = {}, N_w = {}, per epoch): {}.", mcfg.k_g, mcfg.warmup, e.describe("epoch")),
        None => format!("Algorithm 2 (k_d/(2 sigma) = {thr:.2}, k_g = {}, N_w = {}, per epoch) did not fire in {} epochs.", mcfg.k_g, mcfg.warmup, gs.epochs),
    };
    md.push_str(&format!(
        " Largest per-epoch q_d: {max_q:.2} (threshold {thr:.2}). Ground truth from the samples: peak {} modes first at epoch {}, collapse (coverage below the peak for 5 epochs) {}; peak = coverage sustained for 5 epochs.",
        truth.peak,
        truth.fitted_epoch,
        truth.collapse_epoch.map_or("never".to_string(), |c| format!("from epoch {c}"))
    ));
    out.markdown(md);
    out.png(
        "fig5_gmm.png",
        "Early stopping on the 3-D mixture: q_d with threshold, steepness and its relative change with k_g, stop line; samples around the stop (red frame: best earlier checkpoint)",
        (s.width, s.height),
        |area| {
            let (top, bottom) = area.split_vertically((s.height as f64 * 0.55) as u32);
            // The same panels as `experiments detect --plot` draws from a log.
            crate::detect_cli::draw_panels(
                &top,
                &crate::detect_cli::Panels {
                    title: String::new(),
                    steps: epochs.clone(),
                    q_d: qd.clone(),
                    steepness: st.clone(),
                    threshold: thr,
                    k_g: mcfg.k_g,
                    stop: stop_line.map(|t| t as f64),
                    unit: "epoch".into(),
                    q_d_label: "q_d (mean over batches)".into(),
                    steepness_label: "S (128 fixed latents)".into(),
                },
            )?;
            let cells = bottom.split_evenly((1, shown.len()));
            for (p, &e) in cells.iter().zip(&shown) {
                let q = &r.quality[e];
                let tag = if Some(e) == stop_line { " (stop)" } else if Some(e) == best { " (best)" } else { "" };
                scatter(p, &format!("epoch {e}{tag}: {} modes", q.covered), &r.real, &r.snapshots[e], gs.dim, Some(e) == best)?;
            }
            Ok(())
        },
    )?;
    let (runs, skipped) = super::image_figs::runs(ctx, &s.image_sets, 0.0)?;
    for (name, why) in &skipped {
        out.markdown(format!("**{name} column: not built on this machine.** {why}"));
    }
    for r in &runs {
        super::image_figs::fig5_column(out, r, &s.image_offsets, s.width, s.height)?;
    }
    Ok(())
}
