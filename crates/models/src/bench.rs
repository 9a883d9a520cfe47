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
