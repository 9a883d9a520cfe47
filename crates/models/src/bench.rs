//! Cost of the probes relative to a plain training step (README, "Performance"), on any backend.
//!
//! Baseline: [`Gan::step_with`]`(.., probe = false)` — the ordinary NSGAN iteration (one backward
//! pass through D and G in the generator step, discriminator parameters frozen there).
//! Probed: [`Gan::step`] (the generator step split at x, per-sample ||grad log d|| taken from its
//! backward pass and copied to the host, the (1 - 1/m) quantile) plus the steepness probe:
//! the exact Jacobian on `k` fixed latents for the mixture MLP, one warm-started power iteration
//! on `k` fixed latents for the DCGAN.
//! Steps are timed in alternating blocks (plain, probed, plain, ...) so that drifts in machine
//! load hit both alike; `ratio` is the ratio of the median block times, `ratio_min` that of the
//! fastest blocks (on a machine shared with other jobs the least disturbed estimate).

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};
use std::time::Instant;

use crate::dcgan::DcganConfig;
use crate::gan::{Gan, TrainConfig};
use crate::mlp::MlpConfig;
use crate::nets::{tensor2, GanDiscriminator, GanGenerator};
use crate::probes::{mean, mode_quantile, steepness_exact, PowerSteepness};
use crate::train::init_seeded;

/// One benchmark's result.
#[derive(Clone, Debug)]
pub struct BenchResult {
    pub name: String,
    pub backend: String,
    /// Median seconds per plain step.
    pub plain_s: f64,
    /// Median seconds per step with both probes.
    pub probed_s: f64,
    /// probed_s / plain_s.
    pub ratio: f64,
    /// Fastest probed block / fastest plain block (least disturbed by other load).
    pub ratio_min: f64,
    /// Steps per second of the plain step.
    pub steps_per_s: f64,
    /// Relative error of the probe's steepness estimate (mean over probe latents) against the
    /// exact value at the end of the timed run; 0 for the exact probe.
    pub probe_rel_error: f64,
    /// What was measured, in words.
    pub setup: String,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn normal(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// Like [`alternate`], the probed step being [`Gan::step_with_jacobians`] every `every` steps.
fn alternate_fused<B, G, D>(gan: &mut Gan<B, G, D>, batch: usize, rounds: usize, per_block: usize, zp: burn::tensor::Tensor<B, 2>, every: usize, fused: bool) -> (f64, f64, f64)
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let mut rng = StdRng::seed_from_u64(1);
    let (dim, latent) = (gan.d.in_dim(), gan.g.latent_dim());
    let device = gan.device.clone();
    let batch_pair = |rng: &mut StdRng| {
        (tensor2::<B>(normal(rng, batch * dim), batch, dim, &device), tensor2::<B>(normal(rng, batch * latent), batch, latent, &device))
    };
    for _ in 0..2 {
        let (r, z) = batch_pair(&mut rng);
        gan.step_with(r, z, false);
    }
    let (mut plain, mut probed) = (vec![], vec![]);
    let mut count = 0usize;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_block {
            let (r, z) = batch_pair(&mut rng);
            std::hint::black_box(gan.step_with(r, z, false));
        }
        plain.push(t.elapsed().as_secs_f64() / per_block as f64);
        let t = Instant::now();
        for _ in 0..per_block {
            let (r, z) = batch_pair(&mut rng);
            count += 1;
            let s = if every > 0 && count % every == 0 && !fused {
                let s = gan.step(r, z);
                std::hint::black_box(mean(&steepness_exact(&gan.g, zp.clone())));
                s
            } else if every > 0 && count % every == 0 {
                let (s, jac) = gan.step_with_jacobians(r, z, zp.clone());
                let p = gan.g.out_dim();
                std::hint::black_box(mean(&jac.expect("MLP").iter().map(|j| crate::probes::spectral_norm(j, p, latent)).collect::<Vec<_>>()));
                s
            } else {
                gan.step(r, z)
            };
            std::hint::black_box(mode_quantile(&s.disc_grad_norms, 8));
        }
        probed.push(t.elapsed().as_secs_f64() / per_block as f64);
    }
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    (median(plain.clone()), median(probed.clone()), min(&probed) / min(&plain))
}

/// Times `rounds` alternating blocks of `per_block` plain and probed steps.
fn alternate<B, G, D>(
    gan: &mut Gan<B, G, D>,
    batch: usize,
    rounds: usize,
    per_block: usize,
    mut probe: impl FnMut(&Gan<B, G, D>) -> f64,
    modes: usize,
) -> (f64, f64, f64)
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let mut rng = StdRng::seed_from_u64(1);
    let (dim, latent) = (gan.d.in_dim(), gan.g.latent_dim());
    let device = gan.device.clone();
    let batch_pair = |rng: &mut StdRng| {
        (
            tensor2::<B>(normal(rng, batch * dim), batch, dim, &device),
            tensor2::<B>(normal(rng, batch * latent), batch, latent, &device),
        )
    };
    // warm-up (allocations, thread pools)
    for _ in 0..2 {
        let (r, z) = batch_pair(&mut rng);
        gan.step_with(r, z, false);
    }
    let (mut plain, mut probed) = (vec![], vec![]);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..per_block {
            let (r, z) = batch_pair(&mut rng);
            std::hint::black_box(gan.step_with(r, z, false));
        }
        plain.push(t.elapsed().as_secs_f64() / per_block as f64);
        let t = Instant::now();
        for _ in 0..per_block {
            let (r, z) = batch_pair(&mut rng);
            let s = gan.step(r, z);
            std::hint::black_box(mode_quantile(&s.disc_grad_norms, modes));
            std::hint::black_box(probe(gan));
        }
        probed.push(t.elapsed().as_secs_f64() / per_block as f64);
    }
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    (median(plain.clone()), median(probed.clone()), min(&probed) / min(&plain))
}

/// The mixture MLP (3-D, widths 128x3, batch `batch`), exact steepness on `k` latents per step,
/// taken inside the training step ([`Gan::step_with_jacobians`]).
pub fn mixture_mlp<B: AutodiffBackend>(device: &B::Device, backend: &str, batch: usize, k: usize, rounds: usize, per_block: usize) -> BenchResult {
    mixture_mlp_every::<B>(device, backend, batch, k, rounds, per_block, 1, true)
}

/// [`mixture_mlp`] with the steepness probed every `every` steps (0 = never), inside the training
/// step (`fused`) or after it ([`steepness_exact`]).
#[allow(clippy::too_many_arguments)]
pub fn mixture_mlp_every<B: AutodiffBackend>(device: &B::Device, backend: &str, batch: usize, k: usize, rounds: usize, per_block: usize, every: usize, fused: bool) -> BenchResult {
    let cfg = MlpConfig::new(3);
    let (g, d) = init_seeded::<B, _>(device, 1, |dv| (cfg.init_generator(dv), cfg.init_discriminator(dv)));
    let mut gan = Gan::new(g, d, TrainConfig::sgd(0.01, 0.01), device.clone());
    let mut rng = StdRng::seed_from_u64(2);
    let zp = tensor2::<B>(normal(&mut rng, k * 3), k, 3, device);
    let (plain, probed, ratio_min) = alternate_fused(&mut gan, batch, rounds, per_block, zp, every, fused);
    BenchResult {
        name: "mixture MLP (3-D)".into(),
        backend: backend.into(),
        plain_s: plain,
        probed_s: probed,
        ratio: probed / plain,
        ratio_min,
        steps_per_s: 1.0 / plain,
        probe_rel_error: 0.0,
        setup: format!(
            "batch {batch}, G/D 3-128-128-128-3/1, SGD; ||grad log d|| from every G step, {}",
            if every == 0 { "no steepness probe".to_string() } else { format!("exact Jacobian on {k} latents every {every} step(s), {}", if fused { "inside the training step" } else { "after the step" }) }
        ),
    }
}

/// A DCGAN (`size` px, 1 channel, base width `features`, batch `batch`), one warm-started power
/// iteration on `k` latents per step; accuracy against the exact Jacobian at the end.
#[allow(clippy::too_many_arguments)]
pub fn dcgan<B: AutodiffBackend>(
    device: &B::Device,
    backend: &str,
    size: usize,
    features: usize,
    batch: usize,
    k: usize,
    rounds: usize,
    per_block: usize,
) -> BenchResult {
    let cfg = DcganConfig::new().with_image_size(size).with_g_features(features).with_d_features(features);
    let (g, d) = init_seeded::<B, _>(device, 1, |dv| (cfg.init_generator(dv).expect("valid"), cfg.init_discriminator(dv).expect("valid")));
    let mut gan = Gan::new(g, d, TrainConfig::dcgan(), device.clone());
    let mut power = PowerSteepness::new(k, cfg.latent_dim, 1e-2, 3);
    let (plain, probed, ratio_min) = alternate(&mut gan, batch, rounds, per_block, |g| mean(&power.step(&g.g, device)), 10);
    let est = mean(&power.step(&gan.g, device));
    let exact = mean(&steepness_exact(&gan.g, power.latents::<B>(device)));
    BenchResult {
        name: format!("DCGAN {size}x{size}x1"),
        backend: backend.into(),
        plain_s: plain,
        probed_s: probed,
        ratio: probed / plain,
        ratio_min,
        steps_per_s: 1.0 / plain,
        probe_rel_error: (est - exact).abs() / exact,
        setup: format!(
            "batch {batch}, base width {features}, Adam; probes every step: ||grad log d|| from the G step, 1 warm-started power iteration on {k} latents ({} iterations by the end)",
            power.iterations
        ),
    }
}

/// Cost of one duality-gap evaluation ([`crate::duality_gap::duality_gaps`], both gaps)
/// relative to one training epoch.
#[derive(Clone, Debug)]
pub struct DualityGapCost {
    pub name: String,
    pub backend: String,
    /// Seconds per training step (batch 64; median).
    pub step_s: f64,
    pub steps_per_epoch: usize,
    /// step_s x steps_per_epoch (measured directly for the mixture MLP: median epoch time).
    pub epoch_s: f64,
    /// Seconds of one evaluation with the paper settings, and whether that was measured (else
    /// extrapolated from two short measured runs, see [`dcgan_duality_gap`]).
    pub dg_paper_s: f64,
    pub paper_measured: bool,
    /// Seconds of one evaluation with the ci settings.
    pub dg_ci_s: f64,
    pub ci_measured: bool,
    pub setup: String,
}

/// The mixture MLP GAN of `configs/gmm.yaml` (3-D, widths 128x3, SGD, batch 64, 1,024 points =
/// 16 steps per epoch): median epoch time over `epochs` epochs; one evaluation of both gaps with
/// [`DualityGapSettings::paper`] and [`DualityGapSettings::ci`] (held-out split 1,024 points,
/// evaluation split 6,400 = the reference's 200 batches of 32), both measured.
pub fn mixture_duality_gap<B: AutodiffBackend>(device: &B::Device, backend: &str, epochs: usize) -> DualityGapCost {
    use crate::duality_gap::{duality_gaps, DualityGapSettings};
    let cfg = MlpConfig::new(3);
    let (g, d) = init_seeded::<B, _>(device, 1, |dv| (cfg.init_generator(dv), cfg.init_discriminator(dv)));
    let mut gan = Gan::new(g, d, TrainConfig::sgd(0.03, 0.03), device.clone());
    let mut rng = StdRng::seed_from_u64(3);
    let mut times = vec![];
    for e in 0..epochs + 1 {
        let t = Instant::now();
        for _ in 0..16 {
            let r = tensor2::<B>(normal(&mut rng, 64 * 3), 64, 3, device);
            let z = tensor2::<B>(normal(&mut rng, 64 * 3), 64, 3, device);
            std::hint::black_box(gan.step(r, z));
        }
        if e > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let epoch_s = median(times);
    let held = normal(&mut rng, 1024 * 3);
    let eval = normal(&mut rng, 6400 * 3);
    let time = |s: &DualityGapSettings| duality_gaps(&gan.g, &gan.d, &held, &eval, 3, s, device).map(|m| m.seconds).unwrap_or(f64::NAN);
    let dg_paper_s = time(&DualityGapSettings::paper());
    let dg_ci_s = time(&DualityGapSettings::ci());
    DualityGapCost {
        name: "mixture MLP (3-D)".into(),
        backend: backend.into(),
        step_s: epoch_s / 16.0,
        steps_per_epoch: 16,
        epoch_s,
        dg_paper_s,
        paper_measured: true,
        dg_ci_s,
        ci_measured: true,
        setup: format!("epoch = 16 NSGAN steps at batch 64 (median of {epochs}); gaps: held-out 1,024, evaluation 6,400 points"),
    }
}

/// A DCGAN (`size` px, 1 channel, base width `features`): the training step (batch 64, Adam;
/// median of `steps` steps) times ceil(60,000 / 64) = 938 steps gives the epoch estimate. The
/// gaps are too slow to run at the paper's settings on a CPU here, so the cost is extrapolated
/// from two measured runs of the same code with k = 1 and 3 search steps and no intermediate
/// evaluation (T(k) = 9 t_eval + 4 k t_step: 1 + 4 x 2 evaluations of V, 4 searches):
/// cost(steps, eval_every) = (1 + 4 (1 + steps / eval_every)) t_eval + 4 steps t_step, with
/// t_eval measured on `eval_rows` images and scaled linearly to 6,400 (200 batches of 32).
pub fn dcgan_duality_gap<B: AutodiffBackend>(device: &B::Device, backend: &str, size: usize, features: usize, steps: usize, eval_rows: usize) -> DualityGapCost {
    use crate::duality_gap::{duality_gaps, DualityGapSettings, Selection};
    let dcfg = DcganConfig::new().with_image_size(size).with_g_features(features).with_d_features(features);
    let (g, d) = init_seeded::<B, _>(device, 1, |dv| (dcfg.init_generator(dv).expect("valid"), dcfg.init_discriminator(dv).expect("valid")));
    let mut gan = Gan::new(g, d, TrainConfig::dcgan(), device.clone());
    let dim = size * size;
    let mut rng = StdRng::seed_from_u64(3);
    let mut times = vec![];
    for i in 0..steps + 1 {
        let r = tensor2::<B>(normal(&mut rng, 64 * dim), 64, dim, device);
        let z = tensor2::<B>(normal(&mut rng, 64 * dcfg.latent_dim), 64, dcfg.latent_dim, device);
        let t = Instant::now();
        std::hint::black_box(gan.step_with(r, z, false));
        if i > 0 {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    let step_s = median(times);
    let steps_per_epoch = 60_000usize.div_ceil(64);
    let held = normal(&mut rng, 256 * dim);
    let eval = normal(&mut rng, eval_rows * dim);
    let run = |k: usize| {
        let s = DualityGapSettings { steps: k, eval_every: 0, selection: Selection::Last, ..DualityGapSettings::paper() };
        duality_gaps(&gan.g, &gan.d, &held, &eval, dim, &s, device).map(|m| m.seconds).unwrap_or(f64::NAN)
    };
    let (t1, t3) = (run(1), run(3));
    let t_step = (t3 - t1) / 8.0;
    let t_eval = (t1 - 4.0 * t_step) / 9.0 * 6400.0 / eval_rows as f64;
    let cost = |s: &DualityGapSettings| (1.0 + 4.0 * (1.0 + (s.steps / s.eval_every.max(1)) as f64)) * t_eval + 4.0 * s.steps as f64 * t_step;
    DualityGapCost {
        name: format!("DCGAN {size}x{size}x1"),
        backend: backend.into(),
        step_s,
        steps_per_epoch,
        epoch_s: step_s * steps_per_epoch as f64,
        dg_paper_s: cost(&DualityGapSettings::paper()),
        paper_measured: false,
        dg_ci_s: cost(&DualityGapSettings::ci()),
        ci_measured: false,
        setup: format!(
            "base width {features}; epoch = 938 steps x median step of {steps} (batch 64, Adam); gaps extrapolated: per search step {:.3} s (batch 32), one V on 6,400 images {:.2} s (measured on {eval_rows})",
            t_step, t_eval
        ),
    }
}

/// A plain training step ([`Gan::step_with`]`(.., probe = false)`) ready to be timed, for
/// `experiments bench train`: [`TrainStepper::time`] runs `n` steps and returns seconds per step.
/// The batches are drawn once (4 pairs of N(0, 1) real and latent batches on the device) and
/// cycled, so the timed blocks hold only the step itself; the PyTorch reference
/// (`scripts/train_reference.py`) does the same.
pub struct TrainStepper {
    run: Box<dyn FnMut(usize) -> f64>,
    /// Parameter counts of (generator, discriminator), to check that the reference has the
    /// same layouts.
    pub params: (usize, usize),
}

impl TrainStepper {
    /// Runs `steps` steps; seconds per step (wall clock).
    pub fn time(&mut self, steps: usize) -> f64 {
        (self.run)(steps.max(1))
    }
}

fn stepper<B, G, D>(mut gan: Gan<B, G, D>, batch: usize) -> TrainStepper
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B> + 'static,
    D: GanDiscriminator<B> + AutodiffModule<B> + 'static,
{
    let mut rng = StdRng::seed_from_u64(1);
    let (dim, latent) = (gan.d.in_dim(), gan.g.latent_dim());
    let batches: Vec<_> = (0..4)
        .map(|_| {
            (tensor2::<B>(normal(&mut rng, batch * dim), batch, dim, &gan.device), tensor2::<B>(normal(&mut rng, batch * latent), batch, latent, &gan.device))
        })
        .collect();
    let params = (gan.g.num_params(), gan.d.num_params());
    let mut i = 0usize;
    let run = move |steps: usize| {
        let t = Instant::now();
        for _ in 0..steps {
            let (r, z) = batches[i % batches.len()].clone();
            i += 1;
            // The loss values are read back to the host inside the step, which also waits for
            // an asynchronous backend (CUDA) to finish the step's work.
            std::hint::black_box(gan.step_with(r, z, false));
        }
        t.elapsed().as_secs_f64() / steps as f64
    };
    TrainStepper { run: Box::new(run), params }
}

/// The DCGAN of [`DcganConfig`] (`size` px, 1 channel, base width `features` in both networks),
/// Adam as [`TrainConfig::dcgan`], NS loss, batch `batch`; one warm-up step already taken.
pub fn dcgan_train_stepper<B: AutodiffBackend>(device: &B::Device, size: usize, features: usize, batch: usize) -> TrainStepper {
    let cfg = DcganConfig::new().with_image_size(size).with_g_features(features).with_d_features(features);
    let (g, d) = init_seeded::<B, _>(device, 1, |dv| (cfg.init_generator::<B>(dv).expect("valid"), cfg.init_discriminator::<B>(dv).expect("valid")));
    let mut s = stepper(Gan::new(g, d, TrainConfig::dcgan(), device.clone()), batch);
    s.time(1);
    s
}

/// The mixture MLP of `configs/gmm.yaml` (3-D, widths 128x3), SGD(0.03), NS loss, batch
/// `batch`; one warm-up step already taken.
pub fn mlp_train_stepper<B: AutodiffBackend>(device: &B::Device, batch: usize) -> TrainStepper {
    let cfg = MlpConfig::new(3);
    let (g, d) = init_seeded::<B, _>(device, 1, |dv| (cfg.init_generator::<B>(dv), cfg.init_discriminator::<B>(dv)));
    let mut s = stepper(Gan::new(g, d, TrainConfig::sgd(0.03, 0.03), device.clone()), batch);
    s.time(1);
    s
}
