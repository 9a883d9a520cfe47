//! The figures on the image GAN runs (`image_runs`): fig4, fig14, fig15 (class-pair heatmaps,
//! Appendix F.1 / G.2), fig5's image columns (Algorithm 2, Section 6.2), fig6 / fig17 (steepness
//! and q_d against FID, Section 6 and Appendix G.4), fig16 (particle dynamics, Appendix G.3),
//! fig19 (losses with the stop line, Appendix G.6) and detector-images (Algorithm 2 against the
//! written collapse rule). Each reads the run store; none trains what is stored.

use anyhow::Result;
use plotters::style::RGBColor;

use super::image_runs::{self, Dataset, ImageRun, ImagesConfig};
use super::{Ctx, Skip};
use crate::output::{frame, Col, ItemOutput};
use crate::plot::{color, heatmap, image_grid, Chart, Series};

/// The plain runs of `sets` that this machine can train or read; data sets it cannot (CIFAR-10
/// without its files) come back as (name, reason) and are reported, not faked.
pub fn runs(ctx: &Ctx, sets: &[Dataset], d_noise_sd: f64) -> Result<(Vec<ImageRun>, Vec<(String, String)>)> {
    let mut ok = Vec::new();
    let mut skipped = Vec::new();
    for &d in sets {
        match image_runs::ensure(ctx, d, d_noise_sd) {
            Ok(r) => ok.push(r),
            Err(e) => match e.downcast_ref::<Skip>() {
                Some(s) => skipped.push((d.name().to_string(), s.0.clone())),
                None => return Err(e),
            },
        }
    }
    Ok((ok, skipped))
}

/// One markdown line per skipped data set.
fn note_skips(out: &mut ItemOutput, skipped: &[(String, String)]) {
    for (name, why) in skipped {
        out.markdown(format!("**{name}: not built on this machine.** {why}"));
    }
}

pub fn scale_note(r: &ImageRun) -> String {
    format!(
        "{}: {} training images, {}x{}, G/D width {}/{}, {} epochs, batch {}, backend {}",
        r.label(),
        r.settings.train_images,
        r.settings.image_size,
        r.settings.image_size,
        r.settings.g_features,
        r.settings.d_features,
        r.settings.epochs,
        r.settings.batch,
        r.summary.backend
    )
}

fn xy(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter().cloned().zip(y.iter().cloned()).collect()
}

fn stop_lines(r: &ImageRun) -> Vec<(f64, String)> {
    r.summary.stop.as_ref().map(|s| vec![(s.t as f64, format!(" stop {}", s.t))]).unwrap_or_default()
}

/// Heatmap labels: class indices (the data set's class names are too long for the cells).
fn labels() -> Vec<String> {
    (0..10).map(|i| i.to_string()).collect()
}

/// Pair-count heatmaps at the given (epoch, batch, label) points of one run.
fn pair_figure(out: &mut ItemOutput, id: &str, r: &ImageRun, points: &[(usize, usize, String)], annotate: bool, cols: usize, caption: &str) -> Result<()> {
    let mut e_col = Vec::new();
    let mut b_col = Vec::new();
    let (mut ic, mut jc, mut cc) = (Vec::new(), Vec::new(), Vec::new());
    let mut shown = Vec::new();
    for (e, b, l) in points {
        if let Some(m) = r.pair_matrix(*e, *b) {
            for (i, row) in m.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    e_col.push(*e as i64);
                    b_col.push(*b as i64);
                    ic.push(i as i64);
                    jc.push(j as i64);
                    cc.push(*v as i64);
                }
            }
            shown.push((l.clone(), m));
        }
    }
    out.csv(
        &format!("{id}_pairs.csv"),
        "Pair counts (i, j) with p_i, p_j > tau in the fixed batch of generated images (diagonal: a class alone above tau), per (0-based epoch, batches done in it)",
        frame(vec![("epoch", e_col.into()), ("batch", b_col.into()), ("i", ic.into()), ("j", jc.into()), ("count", cc.into())])?,
    )?;
    let rows = shown.len().div_ceil(cols).max(1);
    let cell = if annotate { 420 } else { 330 };
    let lab = labels();
    out.png(&format!("{id}.png"), caption, ((cols * cell) as u32, (rows * (cell - 30)) as u32), |area| {
        let cells = area.split_evenly((rows, cols));
        for (c, (l, m)) in cells.iter().zip(&shown) {
            let lg: Vec<Vec<f64>> = m.iter().map(|row| row.iter().map(|v| v.ln_1p()).collect()).collect();
            heatmap(c, l, &lg, &lab, annotate)?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The class-pair summary the ledger reads: per epoch label, off-diagonal pairs and non-zero
/// entries.
fn pair_summary(r: &ImageRun, points: &[(usize, usize, String)]) -> Vec<(String, f64, f64)> {
    points
        .iter()
        .filter_map(|(e, b, l)| {
            let m = r.pair_matrix(*e, *b)?;
            let off: f64 = (0..10).flat_map(|i| (0..10).filter(move |j| *j != i).map(move |j| (i, j))).map(|(i, j)| m[i][j]).sum::<f64>() / 2.0;
            let nz = m.iter().flatten().filter(|v| **v > 0.0).count() as f64;
            Some((l.clone(), off, nz))
        })
        .collect()
}

pub fn fig4(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let r = image_runs::ensure(ctx, Dataset::Mnist, 0.0)?;
    let e = r.settings.epochs;
    let pts: Vec<(usize, usize, String)> = [0, 1, 2, 4, 8].iter().filter(|k| **k <= e).map(|k| (*k, 0, format!("epoch {k}"))).collect();
    out.markdown(format!("Smoke scale unless the profile says paper. {}. Epoch k = after k epochs (epoch 0 = the untrained generator).", scale_note(&r)));
    pair_figure(out, "fig4", &r, &pts, false, pts.len(), "log(1 + count) of class pairs (i, j) with p_i, p_j > 1e-2 in a batch of 256 generated MNIST images, epochs 0, 1, 2, 4, 8")?;
    let s = pair_summary(&r, &pts);
    let md: Vec<String> = s.iter().map(|(l, off, nz)| format!("{l}: {off} off-diagonal pairs, {nz} non-zero entries")).collect();
    out.markdown(md.join("; "));
    Ok(())
}

pub fn fig14(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let r = image_runs::ensure(ctx, Dataset::Mnist, 0.0)?;
    let last = r.settings.epochs.min(38);
    let pts: Vec<(usize, usize, String)> = (0..=last).map(|k| (k, 0, format!("epoch {k}"))).collect();
    out.markdown(format!("{}. The paper's figure covers epochs 0..38 of a run that collapses at 46; this one covers 0..{last}.", scale_note(&r)));
    pair_figure(out, "fig14", &r, &pts, true, 6, "Annotated log(1 + count) pair heatmaps, MNIST, every epoch")?;
    let s = pair_summary(&r, &pts);
    out.csv(
        "fig14_summary.csv",
        "Per epoch: off-diagonal pairs (mode mixture) and non-zero entries of the pair matrix",
        frame(vec![
            ("label", s.iter().map(|x| x.0.clone()).collect::<Vec<String>>().into()),
            ("off_diagonal_pairs", s.iter().map(|x| x.1).collect::<Vec<f64>>().into()),
            ("nonzero_entries", s.iter().map(|x| x.2).collect::<Vec<f64>>().into()),
        ])?,
    )?;
    Ok(())
}

pub fn fig15(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let r = image_runs::ensure(ctx, Dataset::FashionMnist, 0.0)?;
    let per = r.summary.batches_per_epoch;
    let n = r.settings.pair_collections;
    let mut pts = Vec::new();
    for e in 0..r.settings.pair_epochs.min(r.settings.epochs) {
        for c in 0..n {
            pts.push((e, c * per / n, format!("{e}, {c}")));
        }
    }
    out.markdown(format!("{}. Label \"e, b\": the b-th of {n} collections of batches in 0-based epoch e ({per} batches an epoch).", scale_note(&r)));
    pair_figure(out, "fig15", &r, &pts, true, n, "Annotated log(1 + count) pair heatmaps, Fashion-MNIST, first epochs, 5 batch collections each")?;
    Ok(())
}

/// Relative change of steepness per epoch (Algorithm 2 line 5), NaN where undefined.
fn delta(st: &[f64]) -> Vec<f64> {
    let mut ds = vec![f64::NAN];
    ds.extend(st.windows(2).map(|w| (w[1] - w[0]) / w[0]));
    ds
}

/// fig5's column for one image run: metrics panels and sample grids around the stop.
pub fn fig5_column(out: &mut ItemOutput, r: &ImageRun, offsets: &[i64], width: u32, height: u32) -> Result<()> {
    let key = r.settings.dataset.key().replace('-', "_");
    let ep = r.epochs();
    let qd = r.col("q_d");
    let st = r.col("steepness");
    let ds = delta(&st);
    let fid = r.col("fid");
    let cov = r.col("classes_covered");
    let th = r.settings.thresholds;
    out.csv(
        &format!("fig5_{key}_metrics.csv"),
        &format!("{}: per epoch q_d, steepness, its relative change, FID, classes covered, both losses (epoch 0 = before training)", r.label()),
        frame(vec![
            ("epoch", ep.clone().into()),
            ("q_d", qd.clone().into()),
            ("q_d_max", r.col("q_d_max").into()),
            ("steepness", st.clone().into()),
            ("delta_steepness", ds.clone().into()),
            ("fid", fid.clone().into()),
            ("classes_covered", cov.clone().into()),
            ("loss_d", r.col("loss_d").into()),
            ("loss_g", r.col("loss_g").into()),
        ])?,
    )?;
    let e_max = r.settings.epochs;
    let stop = r.summary.stop.clone();
    let centre = stop.as_ref().map(|s| s.t).unwrap_or(e_max / 2);
    let best = stop.as_ref().and_then(|s| s.best_checkpoint).map(|c| c.at);
    let shown: Vec<usize> = offsets
        .iter()
        .map(|o| (centre as i64 + o).clamp(0, e_max as i64) as usize)
        .chain(best)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let grids: Vec<(usize, Vec<u8>)> = shown.iter().map(|&e| Ok((e, r.samples(e, 0)?))).collect::<Result<_>>()?;
    let md = match &stop {
        Some(s) => format!("**{}**: Algorithm 2 (recomputed k_d/(2 sigma) = {:.1} for {}x{}: k_d {:.2}, sigma {:.5}; paper's printed value at 64x64 for its data: {}; k_g {}, N_w {}): {}.", r.label(), th.threshold, r.settings.image_size, r.settings.image_size, th.k_d, th.sigma, paper_threshold(r), r.settings.k_g, r.settings.warmup, s.describe("epoch")),
        None => format!("**{}**: Algorithm 2 (k_d/(2 sigma) = {:.1}, k_g {}, N_w {}) did not fire in {} epochs.", r.label(), th.threshold, r.settings.k_g, r.settings.warmup, e_max),
    };
    let max_q = qd.iter().cloned().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    out.markdown(format!("{md} Largest per-epoch q_d {max_q:.3}. {}", scale_note(r)));
    let title = r.settings.dataset.name();
    let size = r.settings.image_size;
    let ch = r.settings.channels;
    out.png(
        &format!("fig5_{key}.png"),
        &format!("Early stopping on {title}: q_d with threshold, steepness and its relative change with k_g, stop line; sample grids around the stop (red frame: best earlier checkpoint by FID)"),
        (width, height),
        |area| {
            let (top, bottom) = area.split_vertically((height as f64 * 0.5) as u32);
            let panels = top.split_evenly((1, 3));
            let vl = stop_lines(r);
            let mut c = Chart::new(format!("{title}: (1-1/m) quantile of ||grad d/d||"), "epoch", "q_d (log)");
            c.log_y = true;
            c.series.push(Series::line("q_d (mean over batches)", xy(&ep, &qd), color(0)));
            c.series.push(Series::dashed(format!("k_d/(2 sigma) = {:.0}", th.threshold), vec![(0.0, th.threshold), (e_max as f64, th.threshold)], color(3)));
            c.vlines = vl.clone();
            c.draw(&panels[0])?;
            let mut c = Chart::new("mean steepness (power iteration)", "epoch", "S");
            c.series.push(Series::line("S", xy(&ep, &st), RGBColor(120, 180, 230)));
            c.vlines = vl.clone();
            c.draw(&panels[1])?;
            let mut c = Chart::new("relative change of S", "epoch", "dS/S");
            c.series.push(Series::line("dS/S", xy(&ep, &ds), color(4)));
            c.series.push(Series::dashed(format!("k_g = {}", r.settings.k_g), vec![(0.0, r.settings.k_g), (e_max as f64, r.settings.k_g)], color(3)));
            c.vlines = vl;
            c.draw(&panels[2])?;
            let cells = bottom.split_evenly((1, grids.len().max(1)));
            for (p, (e, g)) in cells.iter().zip(&grids) {
                let tag = if Some(*e) == stop.as_ref().map(|s| s.t) { " stop" } else if Some(*e) == best { " best" } else { "" };
                let f = fid.get(*e).copied().unwrap_or(f64::NAN);
                image_grid(p, &format!("epoch {e}{tag}, FID {f:.1}"), g, ch, size, 6, Some(*e) == best)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

fn paper_threshold(r: &ImageRun) -> String {
    // The printed value comes from images.yaml (datasets.<set>.paper_threshold), not the code.
    format!("{}", r.printed.paper_threshold)
}

/// fig6 / fig17: a probe (steepness or q_d) and FID per epoch, one column per data set.
fn probe_vs_fid(ctx: &Ctx, out: &mut ItemOutput, id: &str, col: &str, name: &str) -> Result<()> {
    let (runs, skipped) = runs(ctx, &Dataset::ALL, 0.0)?;
    note_skips(out, &skipped);
    if runs.is_empty() {
        return Err(Skip("no image data set is available".into()).into());
    }
    let mut epoch = Vec::new();
    let mut set = Vec::new();
    let mut probe = Vec::new();
    let mut fid = Vec::new();
    for r in &runs {
        let e = r.epochs();
        set.extend(std::iter::repeat_n(r.settings.dataset.name().to_string(), e.len()));
        epoch.extend(e);
        probe.extend(r.col(col));
        fid.extend(r.col("fid"));
        out.markdown(scale_note(r));
    }
    out.csv(
        &format!("{id}.csv"),
        &format!("Per data set and epoch: {name} and FID (classifier features, held-out real split)"),
        frame(vec![("dataset", set.into()), ("epoch", epoch.into()), (col, probe.into()), ("fid", fid.into())])?,
    )?;
    let n = runs.len();
    out.png(&format!("{id}.png"), &format!("{name} (top) and FID (bottom) per epoch, stop line of Algorithm 2"), ((520 * n) as u32, 760), |area| {
        let cols = area.split_evenly((2, n));
        for (k, r) in runs.iter().enumerate() {
            let ep = r.epochs();
            let mut c = Chart::new(format!("{}: {name}", r.settings.dataset.name()), "epoch", name);
            c.log_y = col == "q_d";
            c.series.push(Series::line(name, xy(&ep, &r.col(col)), color(0)));
            c.vlines = stop_lines(r);
            c.draw(&cols[k])?;
            let mut c = Chart::new(format!("{}: FID", r.settings.dataset.name()), "epoch", "FID");
            c.series.push(Series::line("FID", xy(&ep, &r.col("fid")), color(3)));
            c.vlines = stop_lines(r);
            c.draw(&cols[n + k])?;
        }
        Ok(())
    })?;
    Ok(())
}

pub fn fig6(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    probe_vs_fid(ctx, out, "fig6", "steepness", "mean steepness")
}

pub fn fig17(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    probe_vs_fid(ctx, out, "fig17", "q_d", "q_d = (1-1/m) quantile of ||grad d/d||")
}

pub fn fig19(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let c = ImagesConfig::load(ctx)?;
    let (runs, skipped) = runs(ctx, &Dataset::ALL, 0.0)?;
    note_skips(out, &skipped);
    if runs.is_empty() {
        return Err(Skip("no image data set is available".into()).into());
    }
    let mut set = Vec::new();
    let (mut epoch, mut ld, mut lg) = (Vec::new(), Vec::new(), Vec::new());
    for r in &runs {
        let e = r.epochs();
        set.extend(std::iter::repeat_n(r.settings.dataset.name().to_string(), e.len()));
        epoch.extend(e);
        ld.extend(r.col("loss_d"));
        lg.extend(r.col("loss_g"));
        let col = r.collapse(&c.collapse)?;
        out.markdown(format!(
            "{}: collapse by the written rule {}; Algorithm 2 {}.",
            scale_note(r),
            col.at.map_or("not reached".into(), |e| format!("at epoch {e}")),
            r.summary.stop.as_ref().map_or("did not fire".into(), |s| format!("stopped at epoch {} ({})", s.t, s.reason.name()))
        ));
    }
    out.csv(
        "fig19.csv",
        "Per data set and epoch: discriminator loss -E log d(x) - E log(1 - d(g(z))) and generator loss -E log d(g(z)) (epoch means)",
        frame(vec![("dataset", set.into()), ("epoch", epoch.into()), ("loss_d", ld.into()), ("loss_g", lg.into())])?,
    )?;
    let n = runs.len();
    out.png("fig19.png", "Discriminator (blue) and generator (red) losses per epoch with the stop line of Algorithm 2", ((520 * n) as u32, 420), |area| {
        let cols = area.split_evenly((1, n));
        for (k, r) in runs.iter().enumerate() {
            let ep = r.epochs();
            let mut c = Chart::new(format!("{}: losses", r.settings.dataset.name()), "epoch", "loss");
            c.series.push(Series::line("D loss", xy(&ep, &r.col("loss_d")), color(0)));
            c.series.push(Series::line("G loss", xy(&ep, &r.col("loss_g")), color(3)));
            c.vlines = stop_lines(r);
            c.draw(&cols[k])?;
        }
        Ok(())
    })?;
    Ok(())
}

pub fn fig16(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let (runs, skipped) = runs(ctx, &Dataset::ALL, 0.0)?;
    note_skips(out, &skipped);
    if runs.is_empty() {
        return Err(Skip("no image data set is available".into()).into());
    }
    if !runs.iter().any(|r| r.settings.dataset == Dataset::Cifar10) {
        out.markdown("The paper's Figure 16 is on CIFAR-10, which is not on this machine: the panels below show the same particle dynamics on the data sets that are, each panel naming its data set.");
    }
    for r in &runs {
        let key = r.settings.dataset.key().replace('-', "_");
        let p = &r.particles;
        let k = r.settings.particles;
        out.csv(
            &format!("fig16_{key}.csv"),
            &format!("{}: per fixed particle and epoch, ||grad d/d|| (D in inference mode) and the steepness ||J_g(z)||_2 (power iteration)", r.label()),
            frame(vec![
                ("epoch", Col::F64(p.column("epoch"))),
                ("particle", Col::F64(p.column("particle"))),
                ("disc_grad_ratio", Col::F64(p.column("disc_grad_ratio"))),
                ("steepness", Col::F64(p.column("steepness"))),
            ])?,
        )?;
        let e = r.settings.epochs;
        // epochs 0, 4, 9, 14, ... (the paper's spacing), at most 10 shown
        let mut shown: Vec<usize> = std::iter::once(0).chain((4..=e).step_by(5)).collect();
        if shown.len() > 10 {
            let step = shown.len().div_ceil(10);
            shown = shown.into_iter().step_by(step).collect();
        }
        let size = r.settings.image_size;
        let ch = r.settings.channels;
        let per = ch * size * size;
        let imgs: Vec<(usize, Vec<u8>)> = shown.iter().map(|&ep| Ok((ep, r.samples(ep, 0)?[..k * per].to_vec()))).collect::<Result<_>>()?;
        out.markdown(scale_note(r));
        out.png(
            &format!("fig16_{key}.png"),
            &format!("Particle dynamics on {}: fixed latents' images over epochs (top; one column per epoch, one row per particle), their ||grad d/d|| (bottom left) and steepness (bottom right)", r.settings.dataset.name()),
            (1400, 900),
            |area| {
                let (top, bottom) = area.split_vertically(470);
                let cells = top.split_evenly((1, imgs.len().max(1)));
                for (c, (ep, g)) in cells.iter().zip(&imgs) {
                    image_grid(c, &format!("epoch {ep}"), g, ch, size, 1, false)?;
                }
                let halves = bottom.split_evenly((1, 2));
                for (h, (col, name, log)) in halves.iter().zip([("disc_grad_ratio", "||grad d/d||", true), ("steepness", "||J_g(z)||_2", false)]) {
                    let mut c = Chart::new(format!("{}: {name} per particle", r.settings.dataset.name()), "epoch", name);
                    c.log_y = log;
                    for i in 0..k {
                        let pts: Vec<(f64, f64)> = p.rows.iter().filter(|row| row[1] as usize == i).map(|row| (row[0], row[p.col(col).unwrap_or(2)])).collect();
                        c.series.push(Series::thin(format!("particle {i}"), pts, color(i)));
                    }
                    c.draw(h)?;
                }
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// The verdict of Algorithm 2 against the ground-truth collapse on one run.
pub fn verdict(stop: Option<usize>, collapse: Option<usize>, best_fid_at: Option<usize>) -> &'static str {
    match (stop, collapse) {
        (None, None) => "never (no collapse)",
        (None, Some(_)) => "never (missed)",
        (Some(s), _) if best_fid_at.is_some_and(|b| s < b) && collapse.is_none() => "no collapse (stopped before the best FID)",
        (Some(_), None) => "no collapse",
        (Some(s), Some(c)) if s <= c => "in time",
        (Some(_), Some(_)) => "late",
    }
}

pub fn detector_images(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let c = ImagesConfig::load(ctx)?;
    let (runs, skipped) = runs(ctx, &Dataset::ALL, 0.0)?;
    note_skips(out, &skipped);
    if runs.is_empty() {
        return Err(Skip("no image data set is available".into()).into());
    }
    let at = |v: &[f64], e: Option<usize>| e.and_then(|e| v.get(e).copied()).unwrap_or(f64::NAN);
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut cols: Vec<(&str, Vec<f64>)> = vec![
        ("seed", vec![]),
        ("stop_epoch", vec![]),
        ("collapse_epoch", vec![]),
        ("lead_epochs", vec![]),
        ("best_checkpoint", vec![]),
        ("fid_stop", vec![]),
        ("fid_best", vec![]),
        ("fid_end", vec![]),
        ("classes_stop", vec![]),
        ("classes_best", vec![]),
        ("classes_end", vec![]),
        ("threshold", vec![]),
        ("max_q_d", vec![]),
    ];
    let mut names = Vec::new();
    let mut reasons = Vec::new();
    let mut verdicts = Vec::new();
    for r in &runs {
        let col = r.collapse(&c.collapse)?;
        let fid = r.col("fid");
        let cov = r.col("classes_covered");
        let stop = r.summary.stop.as_ref().map(|s| s.t);
        let best = r.summary.stop.as_ref().and_then(|s| s.best_checkpoint).map(|b| b.at);
        let end = Some(fid.len().saturating_sub(1));
        let v = verdict(stop, col.at, col.best_fid_at);
        let lead = match (stop, col.at) {
            (Some(s), Some(c)) => c as f64 - s as f64,
            _ => f64::NAN,
        };
        let maxq = r.col("q_d").into_iter().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
        let vals = [
            r.dir.key().seed as f64,
            stop.map_or(f64::NAN, |s| s as f64),
            col.at.map_or(f64::NAN, |s| s as f64),
            lead,
            best.map_or(f64::NAN, |s| s as f64),
            at(&fid, stop),
            at(&fid, best),
            at(&fid, end),
            at(&cov, stop),
            at(&cov, best),
            at(&cov, end),
            r.settings.thresholds.threshold,
            maxq,
        ];
        for (c, v) in cols.iter_mut().zip(vals) {
            c.1.push(v);
        }
        names.push(r.settings.dataset.name().to_string());
        reasons.push(r.summary.stop.as_ref().map_or("-".to_string(), |s| s.reason.name().to_string()));
        verdicts.push(v.to_string());
        let f = |x: f64| if x.is_finite() { format!("{x:.1}") } else { "-".into() };
        rows.push(vec![
            r.settings.dataset.name().into(),
            stop.map_or("-".into(), |s| s.to_string()),
            reasons.last().cloned().unwrap_or_default(),
            col.at.map_or("-".into(), |s| s.to_string()),
            f(lead),
            format!("{} / {} / {}", f(at(&fid, stop)), f(at(&fid, best)), f(at(&fid, end))),
            format!("{} / {} / {}", f(at(&cov, stop)), f(at(&cov, best)), f(at(&cov, end))),
            v.into(),
        ]);
    }
    let mut fr: Vec<(&str, Col)> = vec![("dataset", names.into()), ("reason", reasons.into()), ("verdict", verdicts.into())];
    for (n, v) in cols {
        fr.push((n, Col::F64(v)));
    }
    out.csv(
        "detector_images_summary.csv",
        "Per image run: Algorithm 2's stop (epoch, reason), ground-truth collapse by the written rule, lead = collapse - stop, FID and classes covered at the stop, at the best earlier checkpoint (lowest FID) and at the end",
        frame(fr)?,
    )?;
    let mut md = String::from("| data set | stop | reason | collapse (rule) | lead | FID stop / best / end | classes stop / best / end | verdict |\n|---|---|---|---|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!("| {} |\n", r.join(" | ")));
    }
    md.push_str(&format!(
        "\nCollapse rule (configs/images.yaml): {} consecutive epochs with classes covered <= running peak - {} or FID >= {} x running best. ",
        c.collapse.persist, c.collapse.classes_drop, c.collapse.fid_ratio
    ));
    out.markdown(md);
    for r in &runs {
        out.markdown(scale_note(r));
    }
    let n = runs.len();
    out.png("detector_images.png", "Per run: FID (top) and classes covered (bottom) per epoch, Algorithm 2's stop (black line) and the rule's collapse (labelled)", ((520 * n) as u32, 700), |area| {
        let cells = area.split_evenly((2, n));
        for (k, r) in runs.iter().enumerate() {
            let ep = r.epochs();
            let col = r.collapse(&c.collapse)?;
            let mut vl = stop_lines(r);
            if let Some(e) = col.at {
                vl.push((e as f64, format!(" collapse {e}")));
            }
            let mut ch = Chart::new(format!("{}: FID", r.settings.dataset.name()), "epoch", "FID");
            ch.series.push(Series::line("FID", xy(&ep, &r.col("fid")), color(3)));
            ch.vlines = vl.clone();
            ch.draw(&cells[k])?;
            let mut ch = Chart::new(format!("{}: classes covered", r.settings.dataset.name()), "epoch", "classes");
            ch.series.push(Series::line("classes covered", xy(&ep, &r.col("classes_covered")), color(2)));
            ch.vlines = vl;
            ch.draw(&cells[n + k])?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(None, Some(10), Some(5)), "never (missed)");
        assert_eq!(verdict(Some(8), Some(10), Some(5)), "in time");
        assert_eq!(verdict(Some(12), Some(10), Some(5)), "late");
        assert_eq!(verdict(Some(12), None, Some(5)), "no collapse");
        assert_eq!(verdict(Some(3), None, Some(5)), "no collapse (stopped before the best FID)");
        assert_eq!(verdict(None, None, None), "never (no collapse)");
    }
}
