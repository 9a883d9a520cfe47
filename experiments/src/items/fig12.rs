//! Figure 12 (Appendix G.1): what the discriminator looks like around the modes just before
//! collapse. k-means (metrics::clustering, linfa) on real training images; the discriminator of
//! the checkpoint before collapse evaluated at the cluster centres and at the centres plus
//! N(0, s^2 I) noise of growing scale s; the mean d against s, a least-squares line over its
//! decline and where it reaches zero.
//!
//! The checkpoint: the last one stored before the written rule's collapse epoch, else the
//! checkpoint Algorithm 2 would restore (the best earlier one at its stop). A run with neither
//! (no collapse and no stop) is reported and skipped, not faked.
//!
//! Appendix G.1 runs the scale "up to 4 sigma / dim". With the paper's own sigma = sqrt(V / D)
//! that literal reading is 4 sigma / D; the reading Assumption 4.1 implies is the scale at which
//! the expected distance from a centre, s sqrt(D), is 4 sigma, i.e. s = 4 sigma / sqrt(D). Both
//! are marked; the grid itself runs to `max_scale` times the classes' per-dimension standard
//! deviation, so that the whole decline is visible (the figure says so).

use anyhow::{anyhow, bail, Result};
use metrics::clustering::{kmeans, Init, KMeansOptions};
use models::burn::module::Module;
use models::burn::tensor::backend::AutodiffBackend;
use models::nets::{tensor2, to_vec, GanDiscriminator, Mode};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use serde::Deserialize;

use super::image_runs::{self, Dataset, ImageRun, ImagesConfig};
use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    clusters: usize,
    /// Real training images clustered (fewer if the run trained on fewer).
    points: usize,
    /// k-means: independent starts and Lloyd iterations at most.
    kmeans_runs: usize,
    kmeans_iter: usize,
    /// Noise scales: `scales` points from 0 to `max_scale` x the per-dimension class sd.
    scales: usize,
    max_scale: f64,
    /// Noise draws per centre and scale.
    draws: usize,
    /// d below this counts as "reached zero".
    zero: f64,
    sets: Vec<Dataset>,
    width: u32,
    height: u32,
}

struct Curve {
    run: ImageRun,
    epoch: usize,
    why: String,
    scales: Vec<f64>,
    mean_d: Vec<f64>,
    sd_d: Vec<f64>,
    literal: f64,
    assumption: f64,
    inertia: f64,
}

/// Which checkpoint, and why; None with the reason when there is none to use.
fn checkpoint_before_collapse(run: &ImageRun, rule: &metrics::collapse::CollapseRule) -> Result<std::result::Result<(usize, String), String>> {
    let every = run.settings.checkpoint_every;
    if every == 0 {
        return Ok(Err("the run stores no checkpoints (checkpoint_every 0)".into()));
    }
    if let Some(at) = run.collapse(rule)?.at {
        // Record row `at` is the state after `at` epochs; the last checkpoint strictly before it.
        let e = (at.saturating_sub(1) / every) * every;
        if e >= 1 {
            return Ok(Ok((e, format!("the last checkpoint before the written rule's collapse at epoch {at}"))));
        }
        return Ok(Err(format!("the collapse comes at epoch {at}, before the first checkpoint (every {every})")));
    }
    if let Some(b) = run.summary.stop.as_ref().and_then(|s| s.best_checkpoint) {
        if b.at >= 1 {
            return Ok(Ok((b.at, format!("no collapse by the written rule; Algorithm 2's best checkpoint before its stop at epoch {}", run.summary.stop.as_ref().map_or(0, |s| s.t)))));
        }
    }
    Ok(Err(format!("no collapse by the written rule and no stop of Algorithm 2 in its {} epochs, so there is no pre-collapse checkpoint", run.settings.epochs)))
}

fn curve<B: AutodiffBackend>(run: &ImageRun, epoch: usize, centres: &[f64], s: &Settings, scales: &[f64], device: &B::Device) -> Result<(Vec<f64>, Vec<f64>)> {
    let (_, d) = image_runs::networks::<B>(run, epoch, device)?;
    let dim = run.settings.dim();
    let k = centres.len() / dim;
    let mut rng = StdRng::seed_from_u64(run.dir.key().seed ^ 0xF1612);
    let (mut means, mut sds) = (Vec::new(), Vec::new());
    for &sc in scales {
        let mut vals = Vec::with_capacity(k * s.draws);
        for _ in 0..s.draws.max(1) {
            let x: Vec<f32> = centres
                .iter()
                .map(|&c| {
                    let z: f64 = StandardNormal.sample(&mut rng);
                    (c + sc * z) as f32
                })
                .collect();
            let l = to_vec(d.clone().no_grad().logits(tensor2::<B>(x, k, dim, device), Mode::Eval));
            vals.extend(l.iter().map(|&v| 1.0 / (1.0 + (-(v as f64)).exp())));
        }
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        means.push(m);
        sds.push((vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64).sqrt());
    }
    Ok((means, sds))
}

/// The decline: from the largest mean d to the first scale after it below `zero` (inclusive).
fn decline(mean_d: &[f64], zero: f64) -> (usize, Option<usize>) {
    let top = mean_d.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    (top, (top..mean_d.len()).find(|&i| mean_d[i] < zero))
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("fig12")?;
    if s.clusters < 2 || s.scales < 3 || !(s.max_scale > 0.0) {
        bail!("fig12.yaml: need clusters >= 2, scales >= 3 and max_scale > 0");
    }
    let c = ImagesConfig::load(ctx)?;
    let (runs, skipped) = super::image_figs::runs(ctx, &s.sets, 0.0)?;
    let mut notes: Vec<String> = skipped.iter().map(|(n, why)| format!("**{n}: not built on this machine.** {why}")).collect();
    let mut curves = Vec::new();
    for run in runs {
        let (epoch, why) = match checkpoint_before_collapse(&run, &c.collapse)? {
            Ok(x) => x,
            Err(why) => {
                notes.push(format!("**{}: skipped.** {why}.", run.label()));
                continue;
            }
        };
        let dim = run.settings.dim();
        let real: Vec<f64> = image_runs::real_images(ctx, &run, s.points, false)?.iter().map(|&v| v as f64).collect();
        let n = real.len() / dim;
        if n < s.clusters {
            bail!("fig12.yaml: {} clusters but {} has {n} training images", s.clusters, run.label());
        }
        let opts = KMeansOptions { max_iter: s.kmeans_iter, n_runs: s.kmeans_runs, seed: run.dir.key().seed, init: Init::KMeansPlusPlus, ..KMeansOptions::default() };
        let fit = kmeans(metrics::Rows::new(&real, dim, "real images")?, s.clusters, &opts)?;
        let th = &run.settings.thresholds;
        let scales: Vec<f64> = (0..s.scales).map(|i| s.max_scale * th.sigma_per_dim * i as f64 / (s.scales - 1) as f64).collect();
        let (mean_d, sd_d) = models::with_backend!(ctx.backend, |B, device| curve::<B>(&run, epoch, &fit.centres, &s, &scales, &device)).map_err(|e| anyhow!("{e}"))??;
        let literal = 4.0 * th.sigma / dim as f64;
        let assumption = 4.0 * th.sigma / (dim as f64).sqrt();
        curves.push(Curve { run, epoch, why, scales, mean_d, sd_d, literal, assumption, inertia: fit.inertia });
    }
    for n in &notes {
        out.markdown(n.clone());
    }
    if curves.is_empty() {
        return Err(super::Skip(format!("fig12: no run has a checkpoint before a collapse here: {}", notes.join(" "))).into());
    }
    for cv in &curves {
        let r = &cv.run;
        let key = r.settings.dataset.key().replace('-', "_");
        out.csv(
            &format!("fig12_{key}.csv"),
            &format!("{}, checkpoint of epoch {}: mean and sd of d over the {} centres x {} noise draws, per noise scale s (per-dimension sd)", r.label(), cv.epoch, s.clusters, s.draws),
            frame(vec![("scale", cv.scales.clone().into()), ("mean_d", cv.mean_d.clone().into()), ("sd_d", cv.sd_d.clone().into())])?,
        )?;
        let (top, end) = decline(&cv.mean_d, s.zero);
        let stop = end.unwrap_or(cv.mean_d.len() - 1);
        let fit = metrics::signals::linear_fit(&cv.scales[top..=stop], &cv.mean_d[top..=stop]);
        let th = &r.settings.thresholds;
        out.markdown(format!(
            "**{}**: checkpoint of epoch {} ({}); k-means: {} clusters on {} training images (inertia {:.1}). Mean d at the centres {:.3}, largest {:.3} at s = {:.4}; {}; \
             a line over the decline (s = {:.4} .. {:.4}): {}. Scales marked: the literal \"4 sigma / dim\" = 4 x {:.5} / {} = {:.2e}, and 4 sigma / sqrt(dim) = {:.2e} \
             (expected distance from a centre = 4 sigma, Assumption 4.1's reading); the grid runs to {} x the classes' per-dimension sd {:.3}.",
            r.label(),
            cv.epoch,
            cv.why,
            s.clusters,
            s.points.min(r.settings.train_images),
            cv.inertia,
            cv.mean_d[0],
            cv.mean_d[top],
            cv.scales[top],
            match end {
                Some(i) => format!("d falls below {} at s = {:.4}", s.zero, cv.scales[i]),
                None => format!("d stays above {} over the whole grid", s.zero),
            },
            cv.scales[top],
            cv.scales[stop],
            fit.map_or("not enough points".into(), |(a, b, r2)| format!("d = {a:.3} {b:+.3} s, R^2 = {r2:.3}")),
            th.sigma,
            r.settings.dim(),
            cv.literal,
            cv.assumption,
            s.max_scale,
            th.sigma_per_dim
        ));
    }
    let n = curves.len();
    out.png(
        "fig12.png",
        "Mean discriminator value at k-means centres of real images plus N(0, s^2 I) noise, against s, on the checkpoint before collapse (band: +-1 sd over centres and draws); dashed: the two readings of Appendix G.1's 4 sigma / dim",
        (s.width.max(560 * n as u32), s.height),
        |area| {
            let cells = area.split_evenly((1, n));
            for (cell, cv) in cells.iter().zip(&curves) {
                let mut ch = Chart::new(format!("{}, epoch {}", cv.run.label(), cv.epoch), "noise scale s (per-dimension sd)", "mean d");
                ch.y_range = Some((0.0, 1.0));
                let xy = |v: &[f64]| cv.scales.iter().cloned().zip(v.iter().cloned()).collect::<Vec<_>>();
                ch.series.push(Series::line("mean d", xy(&cv.mean_d), color(0)));
                let hi: Vec<f64> = cv.mean_d.iter().zip(&cv.sd_d).map(|(m, d)| (m + d).min(1.0)).collect();
                let lo: Vec<f64> = cv.mean_d.iter().zip(&cv.sd_d).map(|(m, d)| (m - d).max(0.0)).collect();
                ch.series.push(Series::thin("+-1 sd", xy(&hi), color(0)));
                ch.series.push(Series::thin("", xy(&lo), color(0)));
                ch.vlines.push((cv.assumption, "4 sigma / sqrt(dim)".into()));
                ch.vlines.push((cv.literal, "4 sigma / dim".into()));
                ch.draw(cell)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}
