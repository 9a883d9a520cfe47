//! The two gradient probes of the paper, usable on any burn GAN that implements
//! [`GanGenerator`] / [`GanDiscriminator`]:
//!
//! - the discriminator-gradient ratio ||grad d(x) / d(x)||_2 = ||grad_x log d(x)||_2 (Section 2.2,
//!   Algorithm 2 line 3), computed from the logits l(x) with the stable log d = log_sigmoid(l)
//!   = -softplus(-l); and its (1 - 1/m) quantile over a batch;
//! - the steepness S_g(z) = ||J_g(z)||_2 (Definition 2.1), exactly for small outputs (mixtures)
//!   and by warm-started power iteration for images.
//!
//! Neither probe changes the training state: the generator runs in [`Mode::Eval`] (BatchNorm
//! running statistics are read, never updated), no noise layer is active, no backend RNG is
//! drawn from, and parameters are frozen (their gradients are not even computed). The one
//! exception is asked for explicitly: [`disc_grad_ratio`] in [`Mode::EvalWithNoise`] draws the
//! discriminator's noise from the backend RNG, which the caller seeds (fig7/fig21).
//!
//! **J v for the power iteration.** Power iteration on J^T J needs J v and J^T u. J^T u is one
//! reverse pass. burn 0.21 has no forward mode, and its autodiff does not differentiate a
//! backward pass (no double backward), so the "reverse pass through the linearisation"
//! (J v = d/du <J^T u, v>) is not available; J v therefore comes from central differences
//! (g(z + h v) - g(z - h v)) / 2h, two inference forward passes without any autodiff graph.
//! With f32 arithmetic the error is O(h^2 |g'''|) + O(eps |g| / h); h = 1e-2 (latent z ~ N(0, I))
//! balances the two. The tests compare the estimate with the exact Jacobian.

use burn::module::AutodiffModule;
use burn::tensor::activation::log_sigmoid;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::gan::row_norms;
use crate::nets::{tensor2, to_vec, GanDiscriminator, GanGenerator, Mode};

/// ||grad_x log d(x_i)||_2 for each row x_i of `x` (`[batch, n]`), with the discriminator in
/// `mode` and its parameters frozen. In `Mode::Eval` each value depends on its own sample only;
/// in `Mode::Train` with a BatchNorm discriminator it is the batch-coupled field (what the
/// generator step receives; [`crate::gan::StepStats::disc_grad_norms`] reuses that one for free).
pub fn disc_grad_ratio<B, D>(d: &D, x: Tensor<B, 2>, mode: Mode) -> Vec<f32>
where
    B: AutodiffBackend,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let frozen = d.clone().no_grad();
    let x = x.detach().require_grad();
    let log_d = log_sigmoid(frozen.logits(x.clone(), mode));
    let g = x.grad(&log_d.sum().backward()).expect("x requires grad");
    row_norms(g, 1.0)
}

// The quantile of Algorithm 2 line 3 and the mean live in the burn-free `early-stopping` crate
// (the monitor and the Python bindings use them); re-exported so `probes::quantile` still works.
pub use ::early_stopping::{mean, mode_quantile, quantile};

/// Largest singular value of a `rows x cols` row-major matrix (nalgebra's SVD, f64).
pub fn spectral_norm(m: &[f64], rows: usize, cols: usize) -> f64 {
    let a = nalgebra::DMatrix::from_row_slice(rows, cols, m);
    a.singular_values().iter().cloned().fold(0.0, f64::max)
}

/// Per-latent Jacobians J_g(z_i) (each `out x latent`, row-major, f64) by reverse mode, generator
/// in inference mode. All `out` backward passes are folded into one: the batch is replicated
/// `out` times and copy j is seeded with e_j, which is exact because inference-mode samples do
/// not interact. Cost: one forward and one backward pass on `out * k` rows; meant for small
/// outputs (the mixtures: out = 2 or 3) and for tests.
pub fn jacobians<B, G>(g: &G, z: Tensor<B, 2>) -> Vec<Vec<f64>>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
{
    let [k, q] = z.dims();
    let p = g.out_dim();
    let device = z.device();
    let frozen = g.clone().no_grad();
    let zr = z.detach().repeat_dim(0, p).require_grad(); // block j = copy j of the batch
    let out = frozen.generate(zr.clone(), Mode::Eval); // [p*k, p]
    let mut seed = vec![0f32; p * k * p];
    for j in 0..p {
        for i in 0..k {
            seed[(j * k + i) * p + j] = 1.0;
        }
    }
    let seed = tensor2::<B>(seed, p * k, p, &device);
    let gz = to_vec(zr.grad(&(out * seed).sum().backward()).expect("z requires grad"));
    (0..k)
        .map(|i| {
            let mut jm = vec![0f64; p * q];
            for j in 0..p {
                let row = (j * k + i) * q;
                for c in 0..q {
                    jm[j * q + c] = gz[row + c] as f64;
                }
            }
            jm
        })
        .collect()
}

/// Exact steepness ||J_g(z_i)||_2 per latent row (see [`jacobians`]).
pub fn steepness_exact<B, G>(g: &G, z: Tensor<B, 2>) -> Vec<f64>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
{
    let q = z.dims()[1];
    let p = g.out_dim();
    jacobians(g, z).iter().map(|j| spectral_norm(j, p, q)).collect()
}

/// Warm-started power iteration on J^T J for a fixed set of probe latents. Each [`step`] does one
/// iteration per latent (J v by central differences, J^T u by one reverse pass) starting from
/// the previous right singular vector estimate, so over a training run that changes the
/// generator slowly one iteration per training step tracks the top singular value. The estimate
/// reported is ||J^T J v|| / ||J v|| (a lower bound of sigma_max that is tighter than ||J v||).
///
/// The state (latents, vectors) is plain data, serialisable into checkpoints.
///
/// [`step`]: PowerSteepness::step
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PowerSteepness {
    /// Probe latents, `k x latent`, row-major.
    pub z: Vec<f32>,
    /// Current right singular vector estimates, `k x latent`, unit rows.
    pub v: Vec<f32>,
    pub k: usize,
    pub latent: usize,
    /// Central-difference step h.
    pub h: f64,
    /// Iterations done so far.
    pub iterations: usize,
}

impl PowerSteepness {
    /// `k` probe latents z ~ N(0, I) and random unit start vectors, from their own RNG (`seed`),
    /// so creating the probe never touches the training RNG streams.
    pub fn new(k: usize, latent: usize, h: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let z: Vec<f32> = (0..k * latent).map(|_| StandardNormal.sample(&mut rng)).collect();
        let mut v: Vec<f32> = (0..k * latent).map(|_| StandardNormal.sample(&mut rng)).collect();
        normalise_rows(&mut v, latent);
        Self { z, v, k, latent, h, iterations: 0 }
    }

    /// The same, with given probe latents (`k x latent` row-major).
    pub fn with_latents(z: Vec<f32>, latent: usize, h: f64, seed: u64) -> Self {
        let k = z.len() / latent;
        let mut p = Self::new(k, latent, h, seed);
        p.z = z;
        p
    }

    /// One warm-started power iteration for every probe latent; returns the per-latent estimates.
    pub fn step<B, G>(&mut self, g: &G, device: &B::Device) -> Vec<f64>
    where
        B: AutodiffBackend,
        G: GanGenerator<B> + AutodiffModule<B>,
    {
        let (k, q, h) = (self.k, self.latent, self.h as f32);
        // J v by central differences, both signs in one inference batch; nothing requires a
        // gradient, so autodiff records no graph.
        let frozen = g.clone().no_grad();
        let mut zz = Vec::with_capacity(2 * k * q);
        for s in [h, -h] {
            zz.extend(self.z.iter().zip(&self.v).map(|(z, v)| z + s * v));
        }
        let out = to_vec(frozen.generate(tensor2::<B>(zz, 2 * k, q, device), Mode::Eval));
        let p = out.len() / (2 * k);
        let half = k * p;
        let u: Vec<f32> = (0..half).map(|i| (out[i] - out[half + i]) / (2.0 * h)).collect();
        // J^T u by one reverse pass with frozen parameters.
        let z = tensor2::<B>(self.z.clone(), k, q, device).require_grad();
        let x = frozen.generate(z.clone(), Mode::Eval);
        let w = to_vec(z.grad(&(x * tensor2::<B>(u.clone(), k, p, device)).sum().backward()).expect("z requires grad"));
        let mut est = Vec::with_capacity(k);
        for i in 0..k {
            let un: f64 = u[i * p..(i + 1) * p].iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            let wn: f64 = w[i * q..(i + 1) * q].iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            est.push(if un > 0.0 { wn / un } else { 0.0 });
            if wn > 0.0 && wn.is_finite() {
                for c in 0..q {
                    self.v[i * q + c] = (w[i * q + c] as f64 / wn) as f32;
                }
            }
        }
        self.iterations += 1;
        est
    }

    /// `iters` iterations; returns the last estimates.
    pub fn run<B, G>(&mut self, g: &G, device: &B::Device, iters: usize) -> Vec<f64>
    where
        B: AutodiffBackend,
        G: GanGenerator<B> + AutodiffModule<B>,
    {
        let mut e = vec![];
        for _ in 0..iters.max(1) {
            e = self.step(g, device);
        }
        e
    }

    /// The probe latents as a tensor.
    pub fn latents<B: burn::tensor::backend::Backend>(&self, device: &B::Device) -> Tensor<B, 2> {
        tensor2::<B>(self.z.clone(), self.k, self.latent, device)
    }
}

fn normalise_rows(v: &mut [f32], n: usize) {
    for row in v.chunks_mut(n) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            row.iter_mut().for_each(|x| *x /= norm);
        }
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{ndarray_device, rng_lock, NdArrayAd};
    use crate::dcgan::DcganConfig;
    use crate::gan::{flat_params, Gan, TrainConfig};
    use crate::mlp::MlpConfig;
    use burn::tensor::backend::Backend;
    use burn::module::Module;
    use burn::tensor::Distribution;

    type B = NdArrayAd;

    #[test]
    fn quantile_matches_numpy_linear() {
        let v = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        // numpy.quantile(v, 0.875) = 6.375 ; 0.5 -> 3.5 ; 0 -> 1 ; 1 -> 9
        assert!((quantile(&v, 0.875) - 6.375).abs() < 1e-12);
        assert!((quantile(&v, 0.5) - 3.5).abs() < 1e-12);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 9.0);
        assert_eq!(mode_quantile(&v, 8), quantile(&v, 0.875));
        assert!(quantile::<f32>(&[], 0.5).is_nan());
    }

    /// The probe on the logits equals ||grad d / d|| computed from d = sigmoid(l) by finite
    /// differences in f64 of the same network, and stays finite where d underflows in f32.
    #[test]
    fn disc_grad_ratio_matches_finite_differences_and_is_stable() {
        let device = ndarray_device();
        let d = {
            let _l = rng_lock();
            <B as Backend>::seed(&device, 2);
            MlpConfig::new(2).with_d_hidden(vec![8, 8]).init_discriminator::<B>(&device)
        };
        let pts: Vec<f32> = vec![0.3, -0.7, 1.5, 0.2, -2.0, 2.0];
        let x = tensor2::<B>(pts.clone(), 3, 2, &device);
        let r = disc_grad_ratio(&d, x, Mode::Eval);
        let inner = d.valid();
        let logd = |p: [f64; 2]| -> f64 {
            let l = to_vec(inner.logits(tensor2(vec![p[0] as f32, p[1] as f32], 1, 2, &device), Mode::Eval))[0] as f64;
            -(1.0 + (-l).exp()).ln()
        };
        for i in 0..3 {
            let p = [pts[2 * i] as f64, pts[2 * i + 1] as f64];
            let h = 1e-2;
            let gx = (logd([p[0] + h, p[1]]) - logd([p[0] - h, p[1]])) / (2.0 * h);
            let gy = (logd([p[0], p[1] + h]) - logd([p[0], p[1] - h])) / (2.0 * h);
            let fd = (gx * gx + gy * gy).sqrt();
            assert!((r[i] as f64 - fd).abs() < 1e-3 * fd.max(1.0), "sample {i}: probe {} vs fd {fd}", r[i]);
        }
        // Far out, d(x) underflows to 0 in f32 but log d(x) = -softplus(-l) stays finite.
        let far = tensor2::<B>(vec![1e4, -1e4], 1, 2, &device);
        let r = disc_grad_ratio(&d, far, Mode::Eval);
        assert!(r[0].is_finite(), "{r:?}");
    }

    /// The exact Jacobian by the folded reverse pass equals finite differences of the network.
    #[test]
    fn jacobian_matches_central_differences() {
        let device = ndarray_device();
        let g = {
            let _l = rng_lock();
            <B as Backend>::seed(&device, 3);
            MlpConfig::new(3).with_g_hidden(vec![16, 16]).init_generator::<B>(&device)
        };
        let zs: Vec<f32> = vec![0.1, -0.4, 0.9, 1.2, 0.3, -0.8];
        let js = jacobians(&g, tensor2::<B>(zs.clone(), 2, 3, &device));
        let inner = g.valid();
        let f = |z: Vec<f32>| to_vec(inner.generate(tensor2(z, 1, 3, &device), Mode::Eval));
        for i in 0..2 {
            for c in 0..3 {
                // The ReLU network is piecewise linear and this latent has kinks within 1e-3
                // (measured: FD at h = 1e-2 / 1e-3 / 1e-4 gives -0.0339 / -0.0308 / -0.0300 for
                // J[0,0] = -0.0299), so h is small; f32 rounding then costs ~1e-4 absolute.
                let h = 1e-4f32;
                let mut zp = zs[3 * i..3 * i + 3].to_vec();
                let mut zm = zp.clone();
                zp[c] += h;
                zm[c] -= h;
                let (a, b) = (f(zp), f(zm));
                for r in 0..3 {
                    let fd = ((a[r] - b[r]) / (2.0 * h)) as f64;
                    let ex = js[i][r * 3 + c];
                    assert!((fd - ex).abs() < 2e-3 * (1.0 + ex.abs()), "J[{i}][{r},{c}] fd {fd} vs {ex}");
                }
            }
        }
    }

    /// Power iteration against the exact spectral norm, to 1e-3 relative: on an MLP (latent 6,
    /// output 10) and on a small DCGAN generator (latent 100, 28x28x1) whose exact Jacobian is
    /// taken by the folded reverse pass (784 rows).
    #[test]
    fn power_iteration_matches_exact_steepness() {
        let device = ndarray_device();
        let (mlp, dc) = {
            let _l = rng_lock();
            <B as Backend>::seed(&device, 5);
            let mlp = MlpConfig::new(6).with_g_hidden(vec![32, 32]).init_generator::<B>(&device);
            let dc = DcganConfig::new().with_image_size(28).with_g_features(4).init_generator::<B>(&device).unwrap();
            (mlp, dc)
        };
        // MLP: latent 6 -> output 6 (MlpConfig ties them), use 4 latents.
        let mut p = PowerSteepness::new(4, 6, 1e-2, 9);
        let est = p.run(&mlp, &device, 200);
        let exact = steepness_exact(&mlp, p.latents::<B>(&device));
        for (e, x) in est.iter().zip(&exact) {
            assert!((e - x).abs() / x < 1e-3, "MLP power {e} vs exact {x}");
        }
        // DCGAN 28x28: run a few training-mode forwards first so the running statistics are not
        // the initial (0, 1); then probe in inference mode.
        for k in 0..3 {
            let z = tensor2::<B>((0..800).map(|i| ((i * 7 + k) % 13) as f32 / 6.0 - 1.0).collect(), 8, 100, &device);
            let _ = dc.generate(z, Mode::Train);
        }
        // (an inference forward first: it folds the pending running-statistics updates into the
        // stored value, which `flat_params` reads)
        let _ = dc.valid().generate(Tensor::zeros([1, 100], &device), Mode::Eval);
        let before = flat_params(&dc);
        let mut p = PowerSteepness::new(1, 100, 1e-2, 10);
        let est = p.run(&dc, &device, 300);
        let exact = steepness_exact(&dc, p.latents::<B>(&device));
        assert!((est[0] - exact[0]).abs() / exact[0] < 1e-3, "DCGAN power {} vs exact {}", est[0], exact[0]);
        assert_eq!(flat_params(&dc), before, "the probe leaves parameters untouched");
    }

    /// Probing changes no training state: BatchNorm running statistics, parameters and the
    /// backend RNG stream are the same after a probe as before.
    #[test]
    fn probes_leave_training_state_alone() {
        let device = ndarray_device();
        let _l = rng_lock();
        <B as Backend>::seed(&device, 8);
        let cfg = DcganConfig::new().with_image_size(28).with_g_features(4).with_d_features(4);
        let g = cfg.init_generator::<B>(&device).unwrap();
        let d = cfg.init_discriminator::<B>(&device).unwrap();
        let gan = Gan::new(g, d, TrainConfig::dcgan(), device);
        let z = Tensor::<B, 2>::random([4, 100], Distribution::Normal(0.0, 1.0), &device);
        let _ = gan.g.generate(z.clone(), Mode::Train); // move running stats off their init
        let snapshot = |gan: &Gan<B, crate::dcgan::DcganGenerator<B>, crate::dcgan::DcganDiscriminator<B>>| {
            let r = crate::checkpoint::record_to_bytes::<B, _>(gan.g.clone().into_record());
            let s = crate::checkpoint::record_to_bytes::<B, _>(gan.d.clone().into_record());
            (r, s)
        };
        <B as Backend>::seed(&device, 99);
        let before = snapshot(&gan);
        let mut p = PowerSteepness::new(2, 100, 1e-2, 1);
        let _ = p.step(&gan.g, &device);
        let x = gan.g.valid().generate(tensor2(p.z.clone(), 2, 100, &device), Mode::Eval);
        let _ = disc_grad_ratio(&gan.d, Tensor::from_inner(x), Mode::Eval);
        assert_eq!(snapshot(&gan), before, "records (incl. BatchNorm running stats) unchanged");
        let after_probe: Vec<f32> = to_vec(Tensor::<B, 1>::random([5], Distribution::Default, &device));
        <B as Backend>::seed(&device, 99);
        let fresh: Vec<f32> = to_vec(Tensor::<B, 1>::random([5], Distribution::Default, &device));
        assert_eq!(after_probe, fresh, "the backend RNG stream was not advanced by the probes");
    }
}
