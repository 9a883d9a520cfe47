//! Figure 1, row 1: NSGAN on the 3-D Gaussian mixture, real (orange) and generated (blue) points
//! projected on the xy-plane at epochs 0, 15, 60, 450, 850, 980. Row 2: held-out real MNIST
//! (coloured by label) and generated digits (black) of the MNIST image run, embedded together in
//! 3-D by UMAP (`crate::embed`) at the run's within-epoch points (configs/images.yaml
//! `umap_points`: the paper's 0(0), 0(8), 0(32), 0(64), 32(0), 47(0), scaled at ci).

use anyhow::{bail, Result};
use serde::Deserialize;

use super::gmm::{self, note_panel, scatter};
use super::Ctx;
use crate::output::{frame, ItemOutput};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    epochs: Vec<usize>,
    width: u32,
    height: u32,
    row2_height: u32,
    /// UMAP settings of row 2.
    umap: crate::embed::UmapSettings,
}

struct Panel {
    title: String,
    points: Vec<[f64; 3]>,
    /// 0-9 = real digit label, 10 = generated.
    labels: Vec<u8>,
}

struct Row2 {
    panels: Vec<Panel>,
    note: String,
    caption: String,
}

/// Row 2: one UMAP per snapshot of real held-out and generated images.
fn row2(ctx: &Ctx, s: &Settings, out: &mut ItemOutput) -> Result<Row2> {
    let r = super::image_runs::ensure(ctx, super::image_runs::Dataset::Mnist, 0.0)?;
    let dim = r.settings.dim();
    let to_f = |v: &[u8]| v.iter().map(|&p| p as f32 / 127.5 - 1.0).collect::<Vec<f32>>();
    let real = to_f(&r.real_heldout);
    let n_real = r.real_heldout_labels.len();
    let mut panels = Vec::new();
    let (mut pe, mut pb, mut kind, mut lab, mut xs, mut ys, mut zs) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let pb_ = ctx.progress(r.settings.umap_points.len() as u64, "fig1 row 2 UMAP");
    for &[e, b] in &r.settings.umap_points {
        let p = r.dir.file(&format!("umap/e{e:04}-b{b:05}.u8"));
        let Ok(g) = std::fs::read(&p) else { continue };
        let gen = to_f(&g);
        let mut rows = real.clone();
        rows.extend_from_slice(&gen);
        let emb = crate::embed::umap_3d(&rows, dim, ctx.seed, &s.umap)?;
        let mut labels: Vec<u8> = r.real_heldout_labels.clone();
        labels.extend(std::iter::repeat_n(10u8, gen.len() / dim));
        for (k, (pt, l)) in emb.iter().zip(&labels).enumerate() {
            pe.push(e as i64);
            pb.push(b as i64);
            kind.push(if k < n_real { "real" } else { "generated" });
            lab.push(*l as i64);
            xs.push(pt[0]);
            ys.push(pt[1]);
            zs.push(pt[2]);
        }
        panels.push(Panel { title: format!("MNIST {e}({b})"), points: emb, labels });
        pb_.inc(1);
    }
    pb_.finish_and_clear();
    out.csv(
        "fig1_mnist_umap.csv",
        "Row 2: 3-D UMAP coordinates of held-out real MNIST (label 0-9) and generated images (label 10) at each epoch(batch) point",
        frame(vec![("epoch", pe.into()), ("batch", pb.into()), ("kind", kind.into()), ("label", lab.into()), ("u1", xs.into()), ("u2", ys.into()), ("u3", zs.into())])?,
    )?;
    let pts: Vec<String> = r.settings.umap_points.iter().map(|[e, b]| format!("{e}({b})")).collect();
    let note = format!(
        "Row 2 ({}): {n_real} held-out real digits and {} generated digits of fixed latents at epoch(batch) {}, embedded together in 3-D by UMAP (n_neighbors {}, min_dist {}, seed {}); the paper's points are 0(0), 0(8), 0(32), 0(64), 32(0), 47(0) of a run that collapses at 46.",
        r.label(),
        r.settings.umap_images,
        pts.join(", "),
        s.umap.n_neighbors,
        s.umap.min_dist,
        ctx.seed
    );
    let caption = format!("Row 2: {} at epoch(batch) {}; colour = real digit label, black = generated.", r.label(), pts.join(" "));
    Ok(Row2 { panels, note, caption })
}

/// A 3-D scatter (plotters' 3-D coordinates, fixed view): labels 0-9 in the palette, 10 black.
fn scatter3(area: &crate::plot::Area, title: &str, pts: &[[f64; 3]], labels: &[u8]) -> Result<()> {
    use plotters::prelude::*;
    let range = |i: usize| {
        let (lo, hi) = pts.iter().map(|p| p[i]).filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if lo < hi { lo..hi } else { -1.0..1.0 }
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, crate::plot::font(15))
        .margin(4)
        .build_cartesian_3d(range(0), range(1), range(2))
        .map_err(crate::plot::err)?;
    chart.with_projection(|mut p| {
        p.yaw = 0.6;
        p.pitch = 0.3;
        p.scale = 0.8;
        p.into_matrix()
    });
    chart.configure_axes().max_light_lines(0).draw().map_err(crate::plot::err)?;
    for (want_gen, size) in [(false, 2), (true, 2)] {
        chart
            .draw_series(pts.iter().zip(labels).filter(|(_, l)| (**l == 10) == want_gen).map(|(p, l)| {
                let c = if *l == 10 { BLACK } else { crate::plot::color(*l as usize) };
                Circle::new((p[0], p[1], p[2]), size, c.filled())
            }))
            .map_err(crate::plot::err)?;
    }
    Ok(())
}

/// The Figure 1 footnote against Appendix F (recorded for paper-checks).
pub const COVARIANCE_NOTE: &str = "**Inconsistency in the paper (mixture variance).** The footnote to Section 3.1 says that for \
the 3-D Gaussian mixture of Figure 1 \"the covariance of each Gaussian component is set to 0.1 I\", while Appendix F.2 \
(early stopping on the same 3-D mixture) uses sigma = sqrt(0.0125), i.e. covariance 0.0125 I, and derives the threshold \
k_d/(2 sigma) = 8.9 from it. With 0.1 I the threshold would be 2/(2 sqrt(0.1)) = 3.16 and the modes at {+-1}^3 would \
be only 2/sqrt(0.1) = 6.3 sd apart instead of 17.9. This reproduction uses 0.0125 I (Appendix F) for every mixture run.";

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("fig1")?;
    let (gs, r) = gmm::reference(ctx)?;
    if let Some(e) = s.epochs.iter().find(|e| **e > gs.epochs) {
        bail!("fig1.yaml: snapshot epoch {e} is beyond the run's {} epochs (configs/gmm.yaml)", gs.epochs);
    }
    let dim = gs.dim;
    // Data: every plotted point.
    let (mut ep, mut kind, mut xs, mut ys, mut zs) = (vec![], vec![], vec![], vec![], vec![]);
    for &e in &s.epochs {
        for (k, pts) in [("real", &r.real), ("generated", &r.snapshots[e])] {
            for p in pts.chunks(dim) {
                ep.push(e as i64);
                kind.push(k);
                xs.push(p[0] as f64);
                ys.push(p[1] as f64);
                zs.push(if dim > 2 { p[2] as f64 } else { 0.0 });
            }
        }
    }
    out.csv(
        "fig1_gmm_points.csv",
        "Row 1: real and generated points (all coordinates) at each snapshot epoch",
        frame(vec![("epoch", ep.into()), ("kind", kind.into()), ("x", xs.into()), ("y", ys.into()), ("z", zs.into())])?,
    )?;
    let q = |e: usize| &r.quality[e];
    let mut md = format!(
        "Row 1 (3-D mixture, 8 modes at {{+-1}}^3, sigma^2 = {}, seed {}, {} backend, {:.0} s): modes covered / \
         high-quality rate of {} generated samples at the snapshot epochs: {}.\n\n",
        gs.sigma2,
        r.seed,
        r.backend,
        r.seconds,
        gs.eval_samples,
        s.epochs.iter().map(|e| format!("epoch {e}: {}/{} ({:.0}%)", q(*e).covered, gs.modes(), 100.0 * q(*e).hq)).collect::<Vec<_>>().join(", ")
    );
    let row2 = row2(ctx, &s, out)?;
    md.push_str(&row2.note);
    md.push_str("\n\n");
    md.push_str(COVARIANCE_NOTE);
    out.markdown(md);
    out.text("fig1_notes.md", "The covariance inconsistency (footnote vs Appendix F) and the run settings", &format!("{COVARIANCE_NOTE}\n\nRun settings (configs/gmm.yaml):\n\n```yaml\n{}```\n", gs.yaml()))?;
    let n = s.epochs.len();
    out.png(
        "fig1.png",
        "Row 1: NSGAN on the 3-D mixture, xy-projection; orange real, blue generated. Row 2: MNIST real (coloured by label) and generated (black) embedded together in 3-D by UMAP",
        (s.width, s.height + s.row2_height),
        |area| {
            let (top, rest) = area.split_vertically((s.height as f64 * 0.86) as u32);
            let (middle, bottom) = rest.split_vertically(s.row2_height);
            let panels = top.split_evenly((1, n));
            for (p, &e) in panels.iter().zip(&s.epochs) {
                let title = format!("epoch {e}: {} modes, {:.0}% HQ", q(e).covered, 100.0 * q(e).hq);
                scatter(p, &title, &r.real, &r.snapshots[e], dim, false)?;
            }
            let cells = middle.split_evenly((1, row2.panels.len().max(1)));
            for (c, p) in cells.iter().zip(&row2.panels) {
                scatter3(c, &p.title, &p.points, &p.labels)?;
            }
            note_panel(
                &bottom,
                &[
                    &row2.caption,
                    "Mixture covariance 0.0125 I (Appendix F); the paper's footnote says 0.1 I for this figure - see fig1_notes.md.",
                ],
            )
        },
    )?;
    Ok(())
}
