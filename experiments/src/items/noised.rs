//! Appendix G.7 (Figures 7, 20, 21): the noise-free GAN and the noised GAN (Gaussian noise of sd
//! 0.1 after each intermediate discriminator layer) trained side by side on Fashion-MNIST.
//!
//! **The pair.** Both are image runs of the run store (`image_runs::ensure` with `d_noise_sd` 0
//! and `noise_sd`): the same settings and the same seed, so the same G and D initialisation (the
//! noise sd draws nothing at initialisation) and the same real batches and latents at every step
//! (both come from the host stream of (seed, epoch); the noise from the backend RNG reseeded per
//! step; `models::train`'s test `noised_and_noise_free_runs_share_init_batches_and_latents`).
//! Each item checks the stored pair again: settings equal apart from the noise, and the epoch-0
//! sample grids (the untrained generators on the shared grid latents) byte-identical.
//!
//! **The histograms (fig7, fig21).** ||grad d(x)/d(x)|| = ||grad_x log d(x)|| on `samples`
//! generated images of fixed latents (the same for both models and every epoch), G in inference
//! mode, on every stored checkpoint of both runs, so that a finished run gains them without
//! retraining; the values are stored beside each run (`grad-ratios-<hash>/`). The noised D is
//! evaluated twice: with its noise layers on (BatchNorm running statistics, noise drawn from a
//! seeded backend RNG) and off. The paper does not say which it used; the figures draw the one
//! `noise_at_eval` names (default: on, because the noised discriminator is defined with its noise
//! (App. G.7: "incorporate Gaussian noise ... before forwarding the input to the subsequent
//! layer"), its BatchNorm running statistics were accumulated with the noise, and Algorithm 2's
//! q_d during training sees it), and the CSVs and the bottom panel of fig7 give the other.
//!
//! **Which epochs (fig7, fig20).** The paper shows the epochs around the noise-free model's
//! collapse (epoch 54 there). Here the collapse is the runs' written rule (`ImageRun::collapse`);
//! a noise-free run without one is centred on Algorithm 2's stop, else on the run's last epochs,
//! and the captions and CSVs say which (no collapse is made up).

use anyhow::{anyhow, bail, Result};
use metrics::collapse::Collapse;
use models::burn::module::Module;
use models::burn::tensor::backend::AutodiffBackend;
use models::nets::{tensor2, GanGenerator, Mode};
use plotters::style::RGBColor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};
use run_store::RunKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

use super::image_figs::scale_note;
use super::image_runs::{self, Dataset, ImageRun, ImagesConfig};
use super::Ctx;
use crate::output::{frame, Col, ItemOutput};
use crate::plot::{image_grid, Area, Chart, Series};

/// `configs/noised.yaml`: what fig7, fig20 and fig21 share (one file, so that the three items
/// describe the same pair and the same evaluation; `--set` does not reach it).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoisedConfig {
    /// The data set of the pair (the paper: Fashion-MNIST).
    pub dataset: Dataset,
    /// Noise sd after each intermediate D layer of the noised run (the paper: 0.1).
    pub noise_sd: f64,
    /// Generated images (fixed latents) per histogram.
    pub samples: usize,
    /// Images per forward/backward pass (memory; part of the stored values' key).
    pub chunk: usize,
    /// Log-spaced histogram bins.
    pub bins: usize,
    /// Whether the figures draw the noised D with its noise layers on (true) or off.
    pub noise_at_eval: bool,
    /// The paper's noise-free collapse epoch (App. G.7: 54), for comparison only.
    pub paper_collapse_epoch: usize,
    /// Epochs the paper trained the noised GAN without seeing a collapse (1000), for comparison.
    pub paper_noised_epochs: usize,
}

impl NoisedConfig {
    pub fn load(ctx: &Ctx) -> Result<Self> {
        let c: Self = crate::config::load(&ctx.config_dir, "noised", ctx.profile, &[])?;
        let file = ctx.config_dir.join("noised.yaml").display().to_string();
        if !(c.noise_sd > 0.0 && c.noise_sd.is_finite()) {
            bail!("{file}: noise_sd must be > 0 (the noised run), got {}", c.noise_sd);
        }
        if c.samples < 10 || c.chunk == 0 || c.bins < 2 {
            bail!("{file}: need samples >= 10, chunk >= 1 and bins >= 2");
        }
        Ok(c)
    }
}

/// Colours of the paper's figures: blue for the noise-free model, red for the noised one.
const BLUE: RGBColor = RGBColor(31, 119, 180);
const RED: RGBColor = RGBColor(214, 39, 40);

/// The stored pair of runs and what the items say about it.
pub struct Pair {
    pub cfg: NoisedConfig,
    pub plain: ImageRun,
    pub noised: ImageRun,
    pub collapse_plain: Collapse,
    pub collapse_noised: Collapse,
    /// Whether the stored pair is a pair (same settings but the noise, same seed, identical
    /// epoch-0 samples), and the sentence saying so.
    pub paired: bool,
    pub pairing: String,
}

/// Trains (or reads) both runs and checks that they are paired.
pub fn pair(ctx: &Ctx) -> Result<Pair> {
    let cfg = NoisedConfig::load(ctx)?;
    let rule = ImagesConfig::load(ctx)?.collapse;
    let plain = image_runs::ensure(ctx, cfg.dataset, 0.0)?;
    let noised = image_runs::ensure(ctx, cfg.dataset, cfg.noise_sd)?;
    let mut a = serde_yaml::to_value(&plain.settings)?;
    let mut b = serde_yaml::to_value(&noised.settings)?;
    for v in [&mut a, &mut b] {
        if let Some(m) = v.as_mapping_mut() {
            m.remove("d_noise_sd");
        }
    }
    let same_settings = a == b;
    let same_seed = plain.dir.key().seed == noised.dir.key().seed;
    let (g0, g1) = (plain.samples(0, 0)?, noised.samples(0, 0)?);
    let same_start = g0 == g1;
    let paired = same_settings && same_seed && same_start;
    let pairing = if paired {
        format!(
            "Paired: same settings apart from D's noise (sd 0 / {}), same seed {}, and the stored epoch-0 sample grids (untrained generators on the shared grid latents) are byte-identical",
            cfg.noise_sd,
            plain.dir.key().seed
        )
    } else {
        let diff = g0.iter().zip(&g1).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
        format!(
            "NOT PAIRED: settings apart from the noise {}, seeds {} / {}, epoch-0 grids {} (largest pixel difference {diff})",
            if same_settings { "equal" } else { "differ" },
            plain.dir.key().seed,
            noised.dir.key().seed,
            if same_start { "identical" } else { "differ" }
        )
    };
    Ok(Pair { collapse_plain: plain.collapse(&rule)?, collapse_noised: noised.collapse(&rule)?, cfg, plain, noised, paired, pairing })
}

/// The epoch the shown epochs are centred on, and why.
pub struct Reference {
    /// `collapse`, `stop` or `end`.
    pub kind: &'static str,
    pub epoch: usize,
    pub why: String,
}

pub fn reference(p: &Pair) -> Reference {
    let e = p.plain.settings.epochs;
    if let Some(c) = p.collapse_plain.at {
        return Reference { kind: "collapse", epoch: c, why: format!("the noise-free run collapses at epoch {c} by the written rule (the paper: epoch {})", p.cfg.paper_collapse_epoch) };
    }
    if let Some(s) = p.plain.summary.stop.as_ref() {
        return Reference {
            kind: "stop",
            epoch: s.t,
            why: format!("the noise-free run does NOT collapse by the written rule in its {e} epochs; centred instead on Algorithm 2's stop at epoch {} (the paper's collapse: epoch {})", s.t, p.cfg.paper_collapse_epoch),
        };
    }
    Reference {
        kind: "end",
        epoch: e,
        why: format!(
            "the noise-free run does NOT collapse by the written rule in its {e} epochs and Algorithm 2 does not stop it; the last epochs are shown instead (the paper's collapse: epoch {})",
            p.cfg.paper_collapse_epoch
        ),
    }
}

/// The epochs with a stored checkpoint (every `checkpoint_every` epochs).
pub fn checkpoint_epochs(run: &ImageRun) -> Result<Vec<usize>> {
    let every = run.settings.checkpoint_every;
    if every == 0 {
        bail!("{}: the run stores no checkpoints (images.yaml checkpoint_every 0), so its discriminator cannot be evaluated afterwards", run.label());
    }
    let v: Vec<usize> = (1..=run.settings.epochs).filter(|e| e % every == 0).collect();
    if v.is_empty() {
        bail!("{}: no checkpoint within its {} epochs (checkpoint_every {every})", run.label(), run.settings.epochs);
    }
    Ok(v)
}

/// The checkpoint epochs within `window` checkpoints of `r` (for `end`: the last 2 window + 1).
pub fn around(epochs: &[usize], r: &Reference, window: usize) -> Vec<usize> {
    if r.kind == "end" {
        return epochs[epochs.len().saturating_sub(2 * window + 1)..].to_vec();
    }
    let i = epochs.iter().position(|&e| e >= r.epoch).unwrap_or(epochs.len() - 1);
    epochs[i.saturating_sub(window)..(i + window + 1).min(epochs.len())].to_vec()
}

/// Which evaluation: the noise-free D, the noised D with its noise off or on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Which {
    Plain,
    NoisedOff,
    NoisedOn,
}

impl Which {
    pub fn model(self) -> &'static str {
        if self == Which::Plain {
            "noise-free"
        } else {
            "noised"
        }
    }
    pub fn d_noise(self) -> &'static str {
        if self == Which::NoisedOn {
            "on"
        } else {
            "off"
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Which::Plain => "noise-free",
            Which::NoisedOff => "noised (D noise off)",
            Which::NoisedOn => "noised (D noise on)",
        }
    }
}

/// ||grad d/d|| of every evaluated checkpoint: `values[(which, epoch)]`.
pub struct Ratios {
    pub epochs: Vec<usize>,
    pub values: BTreeMap<(Which, usize), Vec<f32>>,
    /// The noised evaluation the figures draw (`noise_at_eval`).
    pub drawn: Which,
    /// Seconds spent evaluating (0 when every value was stored).
    pub seconds: f64,
}

/// What the stored values depend on besides the run (hashed into their folder name).
#[derive(Serialize)]
struct RatioKey {
    samples: usize,
    chunk: usize,
    latent_stream: u64,
    noise_stream: u64,
    d_noise: bool,
}

/// Stream of the fixed latents of the histograms (their own: never a training stream).
const LATENT_STREAM: u64 = 0xF167_0000;
/// Stream of the noise of `Mode::EvalWithNoise` (per epoch and chunk).
const NOISE_STREAM: u64 = 0xF167_4000;

fn ratio_folder(run: &ImageRun, cfg: &NoisedConfig, d_noise: bool) -> Result<String> {
    let key = RatioKey { samples: cfg.samples, chunk: cfg.chunk, latent_stream: LATENT_STREAM, noise_stream: NOISE_STREAM, d_noise };
    Ok(format!("grad-ratios-{}", RunKey::new("grad-ratios", &key, run.dir.key().seed)?.hash()))
}

fn read_f32(path: &std::path::Path, n: usize) -> Option<Vec<f32>> {
    let b = std::fs::read(path).ok()?;
    (b.len() == 4 * n).then(|| b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// ||grad log d(x)|| of the checkpoint of `epoch` on `z`'s images, for each noise setting asked.
fn evaluate<B: AutodiffBackend>(run: &ImageRun, epoch: usize, z: &[f32], chunk: usize, noise: &[bool], device: &B::Device) -> Result<Vec<Vec<f32>>> {
    let (g, d) = image_runs::networks::<B>(run, epoch, device)?;
    let q = g.latent_dim();
    let frozen = g.no_grad();
    let seed = run.dir.key().seed;
    let mut out = vec![Vec::with_capacity(z.len() / q); noise.len()];
    for (k, zc) in z.chunks(chunk * q).enumerate() {
        let x = frozen.generate(tensor2::<B>(zc.to_vec(), zc.len() / q, q, device), Mode::Eval);
        for (o, &on) in out.iter_mut().zip(noise) {
            let r = if on {
                // The noise layers draw from the backend RNG: seeded per (epoch, chunk) under the
                // lock, so that the values are the same on every call.
                let _l = models::backends::rng_lock();
                B::seed(device, models::train::derive_seed(seed, epoch as u64, NOISE_STREAM + k as u64));
                models::probes::disc_grad_ratio(&d, x.clone(), Mode::EvalWithNoise)
            } else {
                models::probes::disc_grad_ratio(&d, x.clone(), Mode::Eval)
            };
            o.extend(r);
        }
    }
    Ok(out)
}

/// The values of one run on every checkpoint of `epochs`, read where stored, else evaluated and
/// stored.
fn run_ratios(ctx: &Ctx, run: &ImageRun, cfg: &NoisedConfig, epochs: &[usize], noise: &[bool], z: &[f32], out: &mut BTreeMap<(bool, usize), Vec<f32>>) -> Result<f64> {
    let folders: Vec<String> = noise.iter().map(|&n| ratio_folder(run, cfg, n)).collect::<Result<_>>()?;
    let file = |f: &str, e: usize| format!("{f}/e{e:04}.f32");
    let mut todo = Vec::new();
    for &e in epochs {
        let mut missing = false;
        for (f, &n) in folders.iter().zip(noise) {
            match read_f32(&run.dir.file(&file(f, e)), cfg.samples) {
                Some(v) => {
                    out.insert((n, e), v);
                }
                None => missing = true,
            }
        }
        if missing {
            todo.push(e);
        }
    }
    if todo.is_empty() {
        return Ok(0.0);
    }
    let t0 = Instant::now();
    let pb = ctx.progress(todo.len() as u64, &format!("{} ||grad d/d||", if run.settings.d_noise_sd > 0.0 { "noised" } else { "noise-free" }));
    for &e in &todo {
        let vals = models::with_backend!(ctx.backend, |B, device| evaluate::<B>(run, e, z, cfg.chunk, noise, &device)).map_err(|e| anyhow!("{e}"))??;
        for ((f, &n), v) in folders.iter().zip(noise).zip(vals) {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            run.dir.write(&file(f, e), &bytes)?;
            out.insert((n, e), v);
        }
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(t0.elapsed().as_secs_f64())
}

/// ||grad d/d|| of both runs on every stored checkpoint (the noised D with its noise on and off).
pub fn ratios(ctx: &Ctx, p: &Pair) -> Result<Ratios> {
    let epochs = checkpoint_epochs(&p.plain)?;
    if checkpoint_epochs(&p.noised)? != epochs {
        bail!("{} and {} store checkpoints at different epochs", p.plain.label(), p.noised.label());
    }
    let q = p.plain.settings.dcgan().latent_dim;
    let mut rng = StdRng::seed_from_u64(models::train::derive_seed(p.plain.dir.key().seed, 0, LATENT_STREAM));
    let z: Vec<f32> = (0..p.cfg.samples * q).map(|_| StandardNormal.sample(&mut rng)).collect();
    let mut plain = BTreeMap::new();
    let mut noised = BTreeMap::new();
    let mut seconds = run_ratios(ctx, &p.plain, &p.cfg, &epochs, &[false], &z, &mut plain)?;
    seconds += run_ratios(ctx, &p.noised, &p.cfg, &epochs, &[false, true], &z, &mut noised)?;
    let mut values = BTreeMap::new();
    for ((_, e), v) in plain {
        values.insert((Which::Plain, e), v);
    }
    for ((n, e), v) in noised {
        values.insert((if n { Which::NoisedOn } else { Which::NoisedOff }, e), v);
    }
    let drawn = if p.cfg.noise_at_eval { Which::NoisedOn } else { Which::NoisedOff };
    Ok(Ratios { epochs, values, drawn, seconds })
}

/// Quantiles (10/50/90), mean, count, zeros (log-axis underflow) and non-finite values.
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    pub p10: f64,
    pub p50: f64,
    pub p90: f64,
    pub mean: f64,
    pub count: usize,
    pub zeros: usize,
    pub nonfinite: usize,
}

pub fn stats(v: &[f32]) -> Stats {
    let f: Vec<f64> = v.iter().map(|x| *x as f64).filter(|x| x.is_finite()).collect();
    let q = |l| models::probes::quantile(&f, l);
    Stats {
        p10: q(0.1),
        p50: q(0.5),
        p90: q(0.9),
        mean: if f.is_empty() { f64::NAN } else { f.iter().sum::<f64>() / f.len() as f64 },
        count: v.len(),
        zeros: f.iter().filter(|x| **x <= 0.0).count(),
        nonfinite: v.len() - f.len(),
    }
}

/// `n` log-spaced bin edges from the smallest positive to the largest finite value of `sets`.
pub fn log_edges<'a>(sets: impl Iterator<Item = &'a [f32]>, n: usize) -> Option<Vec<f64>> {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in sets.flatten().map(|x| *x as f64).filter(|x| x.is_finite() && *x > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return None;
    }
    if hi <= lo * 1.000_001 {
        (lo, hi) = (lo / 1.5, hi * 1.5);
    }
    let (a, b) = (lo.log10(), hi.log10());
    Some((0..=n).map(|i| 10f64.powf(a + (b - a) * i as f64 / n as f64)).collect())
}

/// Counts per bin (values at the top edge in the last bin) and the density per unit of log10(x)
/// relative to all `v.len()` values (zeros and non-finite values count in the total, so the
/// drawn area is the share of values the log axis can show).
pub fn histogram(v: &[f32], edges: &[f64]) -> (Vec<usize>, Vec<f64>) {
    let n = edges.len() - 1;
    let (a, b) = (edges[0].log10(), edges[n].log10());
    let mut counts = vec![0usize; n];
    for x in v.iter().map(|x| *x as f64).filter(|x| x.is_finite() && *x > 0.0) {
        let t = ((x.log10() - a) / (b - a) * n as f64).floor();
        if t >= 0.0 {
            counts[(t as usize).min(n - 1)] += 1;
        }
    }
    let w = (b - a) / n as f64;
    let dens = counts.iter().map(|&c| c as f64 / (v.len().max(1) as f64 * w)).collect();
    (counts, dens)
}

/// One histogram panel: both models overlaid (filled steps), their 90th percentiles dashed.
fn panel(area: &Area, title: &str, r: &Ratios, epoch: usize, edges: &[f64], y_max: f64, legend: bool) -> Result<()> {
    let mut ch = Chart::new(title, "||grad d/d|| (log)", "density");
    ch.log_x = true;
    ch.x_range = Some((edges[0], edges[edges.len() - 1]));
    ch.y_range = Some((0.0, y_max));
    for (w, c) in [(Which::Plain, BLUE), (r.drawn, RED)] {
        let v = &r.values[&(w, epoch)];
        let (_, dens) = histogram(v, edges);
        let mut poly = vec![(edges[0], 0.0)];
        for (i, d) in dens.iter().enumerate() {
            poly.push((edges[i], *d));
            poly.push((edges[i + 1], *d));
        }
        poly.push((edges[edges.len() - 1], 0.0));
        ch.fills.push((poly.clone(), c));
        ch.series.push(Series::thin(if legend { w.label() } else { "" }, poly, c));
        let p90 = stats(v).p90;
        if p90 > 0.0 {
            ch.series.push(Series::dashed(if legend { format!("90th pct {}", w.model()) } else { String::new() }, vec![(p90, 0.0), (p90, y_max)], c));
        }
    }
    ch.draw(area)
}

/// The largest density over the shown panels (a common y axis makes the panels comparable).
fn y_max(r: &Ratios, epochs: &[usize], edges: &[f64]) -> f64 {
    let m = epochs
        .iter()
        .flat_map(|&e| [Which::Plain, r.drawn].map(|w| histogram(&r.values[&(w, e)], edges).1.into_iter().fold(0.0, f64::max)))
        .fold(0.0, f64::max);
    if m > 0.0 {
        1.08 * m
    } else {
        1.0
    }
}

const ORDER: [Which; 3] = [Which::Plain, Which::NoisedOn, Which::NoisedOff];

/// Per epoch and evaluation: quantiles, mean, count (`shown`: in the item's figure).
fn summary_frame(r: &Ratios, shown: &[usize]) -> Result<polars::prelude::DataFrame> {
    let mut cols: (Vec<i64>, Vec<String>, Vec<String>, Vec<i64>, Vec<i64>) = Default::default();
    let mut num: Vec<Vec<f64>> = vec![vec![]; 4];
    let mut cnt: Vec<Vec<i64>> = vec![vec![]; 3];
    for &e in &r.epochs {
        for w in ORDER {
            let s = stats(&r.values[&(w, e)]);
            cols.0.push(e as i64);
            cols.1.push(w.model().into());
            cols.2.push(w.d_noise().into());
            cols.3.push(i64::from(w == Which::Plain || w == r.drawn));
            cols.4.push(i64::from(shown.contains(&e)));
            for (c, v) in num.iter_mut().zip([s.p10, s.p50, s.p90, s.mean]) {
                c.push(v);
            }
            for (c, v) in cnt.iter_mut().zip([s.count, s.zeros, s.nonfinite]) {
                c.push(v as i64);
            }
        }
    }
    let [p10, p50, p90, mean]: [Vec<f64>; 4] = num.try_into().map_err(|_| anyhow!("columns"))?;
    let [count, zeros, nonfinite]: [Vec<i64>; 3] = cnt.try_into().map_err(|_| anyhow!("columns"))?;
    frame(vec![
        ("epoch", cols.0.into()),
        ("model", cols.1.into()),
        ("d_noise", cols.2.into()),
        ("drawn", cols.3.into()),
        ("shown", cols.4.into()),
        ("p10", p10.into()),
        ("p50", p50.into()),
        ("p90", p90.into()),
        ("mean", mean.into()),
        ("count", count.into()),
        ("zeros", zeros.into()),
        ("nonfinite", nonfinite.into()),
    ])
}

/// The histogram bins of the shown epochs, every evaluation, on the figure's bins.
fn histogram_frame(r: &Ratios, shown: &[usize], edges: &[f64]) -> Result<polars::prelude::DataFrame> {
    let (mut ep, mut model, mut noise, mut bin, mut lo, mut hi, mut count, mut dens) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for &e in shown {
        for w in ORDER {
            let (c, d) = histogram(&r.values[&(w, e)], edges);
            for i in 0..c.len() {
                ep.push(e as i64);
                model.push(w.model().to_string());
                noise.push(w.d_noise().to_string());
                bin.push(i as i64);
                lo.push(edges[i]);
                hi.push(edges[i + 1]);
                count.push(c[i] as i64);
                dens.push(d[i]);
            }
        }
    }
    frame(vec![
        ("epoch", ep.into()),
        ("model", model.into()),
        ("d_noise", noise.into()),
        ("bin", bin.into()),
        ("lo", lo.into()),
        ("hi", hi.into()),
        ("count", count.into()),
        ("density", dens.into()),
    ])
}

/// Per-epoch order of the 90th percentiles: (epochs where the noised one is lower, epochs), for
/// epochs before `split` and from it on (all epochs count as before without a split).
pub fn p90_order(r: &Ratios, noised: Which, split: Option<usize>) -> ((usize, usize), (usize, usize)) {
    let (mut b, mut a) = ((0, 0), (0, 0));
    for &e in &r.epochs {
        let lower = stats(&r.values[&(noised, e)]).p90 < stats(&r.values[&(Which::Plain, e)]).p90;
        let t = if split.is_some_and(|s| e >= s) { &mut a } else { &mut b };
        t.0 += usize::from(lower);
        t.1 += 1;
    }
    (b, a)
}

fn stop_text(run: &ImageRun) -> String {
    run.summary.stop.as_ref().map_or(format!("did not stop in {} epochs", run.settings.epochs), |s| format!("stopped at epoch {} ({})", s.t, s.reason.name()))
}

/// Markdown shared by the three items: the pair, the scale, collapse and stop of each run.
fn describe_pair(out: &mut ItemOutput, p: &Pair, r: &Reference) {
    let mut why = r.why.clone();
    if let Some(c) = why.get_mut(0..1) {
        c.make_ascii_uppercase();
    }
    out.markdown(format!("{}. {why}.", p.pairing));
    for (run, col) in [(&p.plain, &p.collapse_plain), (&p.noised, &p.collapse_noised)] {
        out.markdown(format!(
            "{}: collapse by the written rule {}; Algorithm 2 {}.",
            scale_note(run),
            col.at.map_or("not reached".into(), |e| format!("at epoch {e}")),
            stop_text(run)
        ));
    }
}

fn check_pair(p: &Pair) -> Result<()> {
    if !p.paired {
        bail!("{}; remove both run folders of the pair to retrain them", p.pairing);
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fig7Settings {
    /// Checkpoints shown either side of the reference epoch.
    window: usize,
    columns: usize,
    panel_width: u32,
    panel_height: u32,
    /// Height of the bottom panel (90th percentiles of every evaluated epoch).
    trend_height: u32,
}

/// Per run: the facts the ledger reads (collapse, Algorithm 2's stop, FID and classes).
fn runs_frame(p: &Pair, r: &Reference) -> Result<polars::prelude::DataFrame> {
    let mut c: Vec<Vec<f64>> = vec![vec![]; 13];
    let mut reason = Vec::new();
    for (run, col) in [(&p.plain, &p.collapse_plain), (&p.noised, &p.collapse_noised)] {
        let fid = run.col("fid");
        let cov = run.col("classes_covered");
        let at = |v: &[f64], e: Option<usize>| e.and_then(|e| v.get(e).copied()).unwrap_or(f64::NAN);
        let stop = run.summary.stop.as_ref().map(|s| s.t);
        let best = run.summary.stop.as_ref().and_then(|s| s.best_checkpoint).map(|b| b.at);
        let end = Some(fid.len().saturating_sub(1));
        let o = |x: Option<usize>| x.map_or(f64::NAN, |v| v as f64);
        let vals = [
            run.dir.key().seed as f64,
            run.settings.d_noise_sd,
            run.settings.epochs as f64,
            o(col.at),
            o(stop),
            o(best),
            at(&fid, stop),
            at(&fid, best),
            at(&fid, end),
            at(&cov, stop),
            at(&cov, end),
            r.epoch as f64,
            f64::from(u8::from(p.paired)),
        ];
        for (c, v) in c.iter_mut().zip(vals) {
            c.push(v);
        }
        reason.push(run.summary.stop.as_ref().map_or("-".to_string(), |s| s.reason.name().to_string()));
    }
    let names = [
        "seed", "d_noise_sd", "epochs", "collapse_epoch", "stop_epoch", "best_checkpoint", "fid_stop", "fid_best", "fid_end", "classes_stop", "classes_end", "reference_epoch", "paired",
    ];
    let mut cols: Vec<(&str, Col)> = vec![("model", vec!["noise-free", "noised"].into()), ("stop_reason", reason.into()), ("reference", vec![r.kind, r.kind].into())];
    for (n, v) in names.iter().zip(c) {
        cols.push((n, Col::F64(v)));
    }
    frame(cols)
}

fn ratio_note(r: &Ratios, p: &Pair) -> String {
    format!(
        "||grad d/d|| on {} generated images of fixed latents per checkpoint ({} checkpoints a run), G and BatchNorm in inference mode; the noised D drawn with its noise {} (noise_at_eval in configs/noised.yaml: the paper does not say; the noised D is defined with its noise and its BatchNorm statistics were gathered with it), the other evaluation in the CSVs. {}",
        p.cfg.samples,
        r.epochs.len(),
        if r.drawn == Which::NoisedOn { "ON (sd as trained, seeded)" } else { "OFF" },
        if r.seconds > 0.0 { format!("Evaluated here in {:.1} s.", r.seconds) } else { "All values read from the run store.".into() }
    )
}

/// Figure 7: the histograms of the epochs around the noise-free model's collapse, both models
/// overlaid, and (bottom) the 90th percentiles of every evaluated epoch.
pub fn fig7(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Fig7Settings = ctx.settings("fig7")?;
    let p = pair(ctx)?;
    check_pair(&p)?;
    let r = ratios(ctx, &p)?;
    let rf = reference(&p);
    let shown = around(&r.epochs, &rf, s.window);
    describe_pair(out, &p, &rf);
    out.markdown(ratio_note(&r, &p));
    let split = p.collapse_plain.at;
    for w in [r.drawn, if r.drawn == Which::NoisedOn { Which::NoisedOff } else { Which::NoisedOn }] {
        let ((bl, bn), (al, an)) = p90_order(&r, w, split);
        out.markdown(format!(
            "90th percentiles, {} vs noise-free: the noised one is lower in {bl} of {bn} epochs {}{}.",
            w.label(),
            if split.is_some() { "before the collapse" } else { "(all epochs: no collapse)" },
            match split {
                Some(c) => format!(", higher in {} of {an} epochs from the collapse at {c} on", an - al),
                None => String::new(),
            }
        ));
    }
    let edges = log_edges(shown.iter().flat_map(|&e| [Which::Plain, r.drawn].map(|w| r.values[&(w, e)].as_slice())), p.cfg.bins)
        .ok_or_else(|| anyhow!("fig7: every ||grad d/d|| value of the shown epochs is zero or non-finite"))?;
    out.csv(
        "fig7_summary.csv",
        &format!("Per evaluated checkpoint epoch and model: 10/50/90th percentiles, mean and count of ||grad d/d|| over {} generated images (d_noise: the noised D with its noise layers on/off; drawn: in the figure; shown: an epoch of the top row; zeros: values the log axis cannot show)", p.cfg.samples),
        summary_frame(&r, &shown)?,
    )?;
    out.csv("fig7_histograms.csv", "Histogram bins (log-spaced, shared by the panels) of the shown epochs: counts and density per unit of log10 ||grad d/d||", histogram_frame(&r, &shown, &edges)?)?;
    out.csv(
        "fig7_runs.csv",
        &format!("Per run of the pair: seed, noise sd, epochs, collapse by the written rule, Algorithm 2's stop (reason, epoch, best earlier checkpoint), FID and classes covered at the stop / best / end; reference: what the shown epochs are centred on ({})", rf.kind),
        runs_frame(&p, &rf)?,
    )?;
    let cols = s.columns.max(1).min(shown.len());
    let rows = shown.len().div_ceil(cols);
    let ym = y_max(&r, &shown, &edges);
    let w = s.panel_width * cols as u32;
    let h = s.panel_height * rows as u32 + s.trend_height;
    let (ref_label, around_what) = match rf.kind {
        "collapse" => (format!("collapse {}", rf.epoch), format!("around the noise-free collapse at epoch {} (written rule)", rf.epoch)),
        "stop" => (format!("stop {} (no collapse)", rf.epoch), format!("around Algorithm 2's stop at epoch {} of the noise-free run (it does not collapse here)", rf.epoch)),
        _ => (String::new(), "at the last checkpoints (the noise-free run neither collapses nor is stopped here)".to_string()),
    };
    out.png(
        "fig7.png",
        &format!(
            "Histograms (log x) of ||grad d/d|| on generated images and their 90th percentiles (dashed), blue: noise-free, red: noised D (noise {}), {around_what}; bottom: the 90th percentiles of every checkpoint epoch",
            if r.drawn == Which::NoisedOn { "on" } else { "off" },
        ),
        (w, h),
        |area| {
            let (top, bottom) = area.split_vertically(s.panel_height * rows as u32);
            let cells = top.split_evenly((rows, cols));
            for (k, (cell, &e)) in cells.iter().zip(&shown).enumerate() {
                let tag = if Some(e) == split { " (collapse)" } else { "" };
                panel(cell, &format!("epoch {e}{tag}"), &r, e, &edges, ym, k == 0)?;
            }
            let mut ch = Chart::new("90th percentile of ||grad d/d|| per checkpoint", "epoch", "90th percentile (log)");
            ch.log_y = true;
            let line = |w: Which| r.epochs.iter().map(|&e| (e as f64, stats(&r.values[&(w, e)]).p90)).collect::<Vec<_>>();
            ch.series.push(Series::line("noise-free", line(Which::Plain), BLUE));
            ch.series.push(Series::line(r.drawn.label(), line(r.drawn), RED));
            let other = if r.drawn == Which::NoisedOn { Which::NoisedOff } else { Which::NoisedOn };
            ch.series.push(Series::dashed(other.label(), line(other), RED));
            if rf.kind != "end" {
                ch.vlines.push((rf.epoch as f64, ref_label.clone()));
            }
            ch.draw(&bottom)
        },
    )?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fig21Settings {
    /// At most this many panels, evenly spread over the checkpoint epochs (the CSV has them all).
    max_panels: usize,
    columns: usize,
    panel_width: u32,
    panel_height: u32,
}

/// At most `max` of `epochs`, evenly spread, first and last included.
fn spread(epochs: &[usize], max: usize) -> Vec<usize> {
    if epochs.len() <= max {
        return epochs.to_vec();
    }
    if max < 2 {
        return epochs.last().copied().into_iter().collect();
    }
    let mut v: Vec<usize> = (0..max).map(|i| epochs[i * (epochs.len() - 1) / (max - 1)]).collect();
    v.dedup();
    v
}

/// Figure 21: the histograms of every checkpoint epoch (small multiples).
pub fn fig21(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Fig21Settings = ctx.settings("fig21")?;
    let p = pair(ctx)?;
    check_pair(&p)?;
    let r = ratios(ctx, &p)?;
    let rf = reference(&p);
    let shown = spread(&r.epochs, s.max_panels);
    describe_pair(out, &p, &rf);
    out.markdown(ratio_note(&r, &p));
    if shown.len() < r.epochs.len() {
        out.markdown(format!("{} of the {} checkpoint epochs are drawn (max_panels {}); the CSVs hold every epoch's quantiles.", shown.len(), r.epochs.len(), s.max_panels));
    }
    let edges = log_edges(shown.iter().flat_map(|&e| [Which::Plain, r.drawn].map(|w| r.values[&(w, e)].as_slice())), p.cfg.bins)
        .ok_or_else(|| anyhow!("fig21: every ||grad d/d|| value is zero or non-finite"))?;
    out.csv(
        "fig21_summary.csv",
        &format!("Per checkpoint epoch and model: 10/50/90th percentiles, mean and count of ||grad d/d|| over {} generated images (d_noise: the noised D's noise layers on/off; drawn: in the figure; shown: a panel of the figure)", p.cfg.samples),
        summary_frame(&r, &shown)?,
    )?;
    out.csv("fig21_histograms.csv", "Histogram bins (log-spaced, shared by the panels) of the drawn epochs: counts and density per unit of log10 ||grad d/d||", histogram_frame(&r, &shown, &edges)?)?;
    let cols = s.columns.max(1).min(shown.len());
    let rows = shown.len().div_ceil(cols);
    let ym = y_max(&r, &shown, &edges);
    let split = p.collapse_plain.at;
    out.png(
        "fig21.png",
        &format!(
            "Histograms (log x) of ||grad d/d|| and their 90th percentiles (dashed) at every checkpoint epoch (panel titles), blue: noise-free, red: noised D (noise {}); {}",
            if r.drawn == Which::NoisedOn { "on" } else { "off" },
            match split {
                Some(c) => format!("the noise-free run collapses at epoch {c} (written rule)"),
                None => "the noise-free run does not collapse in this run (written rule)".into(),
            }
        ),
        (s.panel_width * cols as u32, s.panel_height * rows as u32),
        |area| {
            let cells = area.split_evenly((rows, cols));
            for (k, (cell, &e)) in cells.iter().zip(&shown).enumerate() {
                let tag = if Some(e) == split { " (collapse)" } else { "" };
                panel(cell, &format!("epoch {e}{tag}"), &r, e, &edges, ym, k == 0)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Fig20Settings {
    /// Epochs shown per model.
    panels: usize,
    /// Epochs between panels around a collapse (without one the panels spread over the run).
    step: usize,
    /// Images per row of a grid.
    columns: usize,
    panel_width: u32,
    panel_height: u32,
}

/// The shown epochs: `panels` epochs `step` apart around the collapse (the collapse epoch the
/// middle one), else spread from epoch 1 to the end.
fn fig20_epochs(s: &Fig20Settings, epochs: usize, collapse: Option<usize>) -> Vec<usize> {
    let n = s.panels.max(1);
    match collapse {
        Some(c) => {
            let step = s.step.max(1);
            let first = c.saturating_sub(step * ((n - 1) / 2));
            let last = (first + step * (n - 1)).min(epochs);
            let first = last.saturating_sub(step * (n - 1));
            (0..n).map(|i| first + i * step).filter(|e| *e <= epochs).collect()
        }
        None => {
            let all: Vec<usize> = (1..=epochs).collect();
            spread(&all, n)
        }
    }
}

/// Figure 20: the generated images of both models (fixed grid latents) at chosen epochs: the
/// noise-free GAN above, the noised GAN below.
pub fn fig20(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Fig20Settings = ctx.settings("fig20")?;
    let p = pair(ctx)?;
    check_pair(&p)?;
    let rf = reference(&p);
    let shown = fig20_epochs(&s, p.plain.settings.epochs, p.collapse_plain.at);
    describe_pair(out, &p, &rf);
    out.markdown(match p.collapse_plain.at {
        Some(c) => format!("Epochs {shown:?}: {} apart around the noise-free collapse at epoch {c}.", s.step),
        None => format!("Epochs {shown:?}, spread over the run: the noise-free run does not collapse here, so there is no collapse to centre on."),
    });
    out.markdown("The grids are the images the runs stored at each epoch boundary (the generator of that epoch, inference mode, on the run's fixed grid latents: the same latents for both models).");
    let (mut ep, mut model, mut fid, mut cov, mut tv) = (vec![], vec![], vec![], vec![], vec![]);
    let mut grids = Vec::new();
    for run in [&p.plain, &p.noised] {
        let (f, c, t) = (run.col("fid"), run.col("classes_covered"), run.col("tv"));
        let mut row = Vec::new();
        for &e in &shown {
            ep.push(e as i64);
            model.push(if run.settings.d_noise_sd > 0.0 { "noised" } else { "noise-free" }.to_string());
            let g = |v: &[f64]| v.get(e).copied().unwrap_or(f64::NAN);
            fid.push(g(&f));
            cov.push(g(&c));
            tv.push(g(&t));
            row.push((e, g(&f), g(&c), run.samples(e, 0)?));
        }
        grids.push(row);
    }
    out.csv(
        "fig20.csv",
        "Per model and shown epoch: FID (classifier features, held-out split), classes covered and TV distance of the class histogram, from the runs' records",
        frame(vec![("epoch", ep.into()), ("model", model.into()), ("fid", fid.into()), ("classes_covered", cov.into()), ("tv", tv.into())])?,
    )?;
    let n = shown.len().max(1);
    let (size, ch) = (p.plain.settings.image_size, p.plain.settings.channels);
    out.png(
        "fig20.png",
        &format!(
            "Generated images of fixed latents, upper row: noise-free GAN, lower row: noised GAN (D noise sd {}), at epochs {shown:?}{}",
            p.cfg.noise_sd,
            match p.collapse_plain.at {
                Some(c) => format!(" (noise-free collapse at epoch {c}, written rule)"),
                None => " (no collapse of the noise-free run here)".into(),
            }
        ),
        (s.panel_width * n as u32, 2 * s.panel_height + 30),
        |area| {
            let (head, body) = area.split_vertically(30);
            head.draw_text("upper: noise-free GAN   lower: noised GAN", &crate::plot::font(15), (8, 6)).map_err(crate::plot::err)?;
            let cells = body.split_evenly((2, n));
            for (k, row) in grids.iter().enumerate() {
                let name = if k == 0 { "noise-free" } else { "noised" };
                for (j, (e, f, c, g)) in row.iter().enumerate() {
                    image_grid(&cells[k * n + j], &format!("{name}, epoch {e}: FID {f:.0}, classes covered {c}"), g, ch, size, s.columns, false)?;
                }
            }
            Ok(())
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_count_every_positive_value_once() {
        let v = [0.0f32, 0.01, 0.1, 1.0, 10.0, 10.0, f32::NAN];
        let e = log_edges(std::iter::once(&v[..]), 4).unwrap();
        assert!((e[0] / 0.01 - 1.0).abs() < 1e-6 && (e[4] / 10.0 - 1.0).abs() < 1e-6, "{e:?}");
        let (c, d) = histogram(&v, &e);
        assert_eq!(c.iter().sum::<usize>(), 5, "zero and NaN are not drawn, the top edge is in the last bin");
        let w = (e[4].log10() - e[0].log10()) / 4.0;
        let area: f64 = d.iter().map(|x| x * w).sum();
        assert!((area - 5.0 / 7.0).abs() < 1e-12, "density integrates to the share of drawable values");
        let s = stats(&v);
        assert_eq!((s.count, s.zeros, s.nonfinite), (7, 1, 1));
        assert!((s.p50 - 0.55).abs() < 1e-6, "{}", s.p50);
    }

    #[test]
    fn shown_epochs_around_a_reference() {
        let ep: Vec<usize> = (1..=10).map(|k| 2 * k).collect();
        let r = |kind, epoch| Reference { kind, epoch, why: String::new() };
        assert_eq!(around(&ep, &r("collapse", 9), 2), vec![6, 8, 10, 12, 14]);
        assert_eq!(around(&ep, &r("collapse", 2), 2), vec![2, 4, 6]);
        assert_eq!(around(&ep, &r("end", 20), 1), vec![16, 18, 20]);
        assert_eq!(spread(&ep, 3), vec![2, 10, 20]);
        assert_eq!(spread(&ep, 20), ep);
        let s = Fig20Settings { panels: 5, step: 2, columns: 4, panel_width: 1, panel_height: 1 };
        assert_eq!(fig20_epochs(&s, 60, Some(54)), vec![50, 52, 54, 56, 58]);
        assert_eq!(fig20_epochs(&s, 55, Some(54)), vec![47, 49, 51, 53, 55]);
        assert_eq!(fig20_epochs(&s, 12, None), vec![1, 3, 6, 9, 12]);
    }
}
