//! Remedies against GAN failure modes, as options of [`crate::TrainConfig`] (`remedies:`) and,
//! for those that change the discriminator's architecture, of [`crate::mlp::MlpConfig`]
//! ([`crate::mlp::MlpConfig::with_remedies`]). `{}` (the default) is plain NSGAN, bit for bit.
//!
//! | key | reference | where |
//! |---|---|---|
//! | `instance_noise` | Sønderby et al. 2017; Arjovsky & Bottou 2017 | inputs of D in both steps |
//! | `minimax` | Goodfellow et al. 2014, eq. 1 | generator loss |
//! | `wgan_gp` | Gulrajani et al. 2017, Algorithm 1 | critic loss and generator loss |
//! | `spectral_norm` | Miyato et al. 2018, Algorithm 1 | D's Linear weights (MLP only) |
//! | `minibatch_discrimination` | Salimans et al. 2016, Section 3.2 | D's last hidden layer (MLP only) |
//! | `feature_matching` | Salimans et al. 2016, Section 3.1 | generator loss (MLP only) |
//! | `unrolled_steps` | Metz et al. 2017, eqs. 6-7 | the D the generator's step uses |
//! | `mode_seeking` | Mao et al. 2019 (MSGAN), eq. 3 | added to the generator loss |
//!
//! Two time-scale learning rates (TTUR, Heusel et al. 2017) need no option: `lr_g` and `lr_d`
//! of [`crate::TrainConfig`] are already separate.
//!
//! Simplifications, each stated where it is implemented:
//! - WGAN-GP: burn 0.21 has no double backward, so the penalty's parameter gradient is taken
//!   through a central difference of the critic along the penalty's own input-gradient direction
//!   ([`gradient_penalty`]); `critic_steps` critic updates run on the step's one (real, fake)
//!   batch with fresh interpolates each (the paper draws a new batch per critic update).
//! - Unrolled GAN: first order (the generator's gradient is taken at the unrolled D, without
//!   backpropagating through the unrolling).
//! - Mode seeking: the official implementation's form, not the ratio of eq. 3 itself.
//! - Spectral norm: the power iteration runs once per discriminator update (Algorithm 1), in
//!   [`GanDiscriminator::power_iteration`], not in every forward pass as PyTorch's hook does, so
//!   evaluations never change the state; sigma = ||W u|| with the persistent u held constant.
//!
//! ```yaml
//! remedies:                                    # every key optional; {} = none
//!   instance_noise: { sd: 0.1, anneal_epochs: 50 }   # anneal_epochs defaults to 0 (constant)
//!   minimax: false
//!   wgan_gp: { lambda: 10.0, critic_steps: 5 }       # {} = these (the paper's)
//!   spectral_norm: { power_iterations: 1 }           # {} = 1
//!   minibatch_discrimination: { kernels: 100, kernel_dim: 5 }   # {} = these
//!   feature_matching: false
//!   unrolled_steps: 0
//!   mode_seeking: { lambda: 1.0 }                    # {} = 1
//! ```
//!
//! Random draws (instance noise, interpolates) come from the backend RNG inside
//! [`crate::Gan::step`]; [`crate::Gan::draws_random`] tells the epoch loop to seed it per step.

use burn::module::AutodiffModule;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Distribution, ElementConversion, Tensor};
use serde::{Deserialize, Serialize};

use crate::gan::{discriminator_step, Opt};
use crate::nets::{GanDiscriminator, Mode};

/// Instance noise: N(0, sd_t^2) added to every input of D (real and generated, in D's step and
/// in G's), so that the two distributions D separates overlap and its gradient stays informative
/// (Arjovsky & Bottou 2017, Section 4; Sønderby et al. 2017, Section 3.1, annealed).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceNoise {
    pub sd: f64,
    /// sd_t falls linearly from sd (epoch 1) to 0 (epoch anneal_epochs + 1); 0 = constant.
    #[serde(default)]
    pub anneal_epochs: usize,
}

impl InstanceNoise {
    /// sd_t = sd * max(0, 1 - (epoch - 1) / anneal_epochs) for the 1-based `epoch`.
    pub fn sd_at(&self, epoch: usize) -> f64 {
        if self.anneal_epochs == 0 {
            return self.sd;
        }
        self.sd * (1.0 - epoch.saturating_sub(1) as f64 / self.anneal_epochs as f64).max(0.0)
    }
}

/// WGAN-GP. Defaults are the paper's (lambda 10, n_critic 5).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WganGp {
    #[serde(default = "ten")]
    pub lambda: f64,
    #[serde(default = "five")]
    pub critic_steps: usize,
}

impl Default for WganGp {
    fn default() -> Self {
        Self { lambda: 10.0, critic_steps: 5 }
    }
}

/// Spectral normalisation; the paper uses one power iteration per update.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpectralNorm {
    #[serde(default = "one")]
    pub power_iterations: usize,
}

impl Default for SpectralNorm {
    fn default() -> Self {
        Self { power_iterations: 1 }
    }
}

/// Minibatch discrimination with `kernels` (B) kernels of dimension `kernel_dim` (C); defaults
/// are those of the authors' code (100 x 5).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinibatchDiscrimination {
    #[serde(default = "hundred")]
    pub kernels: usize,
    #[serde(default = "five")]
    pub kernel_dim: usize,
}

impl Default for MinibatchDiscrimination {
    fn default() -> Self {
        Self { kernels: 100, kernel_dim: 5 }
    }
}

/// Mode-seeking regularisation; MSGAN uses lambda = 1 in most of its experiments.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeSeeking {
    #[serde(default = "onef")]
    pub lambda: f64,
}

impl Default for ModeSeeking {
    fn default() -> Self {
        Self { lambda: 1.0 }
    }
}

fn ten() -> f64 {
    10.0
}
fn onef() -> f64 {
    1.0
}
fn one() -> usize {
    1
}
fn five() -> usize {
    5
}
fn hundred() -> usize {
    100
}

/// The remedies of one run; `{}` = none. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Remedies {
    /// Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): N(0, sd_t^2) added to real
    /// AND generated inputs of D, sd_t = sd * max(0, 1 - (epoch-1)/anneal_epochs) (linear anneal;
    /// anneal_epochs 0 = constant). Fresh noise for every D update and for G's step.
    pub instance_noise: Option<InstanceNoise>,
    /// Generator loss: the original minimax E log(1 - d(g(z))) (minimised) instead of the
    /// non-saturating one (Goodfellow et al. 2014, eq. 1; the loss that saturates where d(g(z)) ~ 0).
    pub minimax: bool,
    /// WGAN-GP (Gulrajani et al. 2017): D is a critic f = logits, loss E f(fake) - E f(real)
    /// + lambda E (||grad f(x_hat)|| - 1)^2 on random interpolates x_hat; critic_steps critic
    /// updates per generator update; G loss -E f(g(z)).
    pub wgan_gp: Option<WganGp>,
    /// Spectral normalisation of every Linear weight of D (Miyato et al. 2018), power_iterations
    /// per update with a persistent u vector. MLP discriminator only (built by `MlpConfig`).
    pub spectral_norm: Option<SpectralNorm>,
    /// Minibatch discrimination (Salimans et al. 2016) on D's last hidden layer. MLP only.
    pub minibatch_discrimination: Option<MinibatchDiscrimination>,
    /// Feature matching (Salimans et al. 2016): G minimises || mean f(real) - mean f(g(z)) ||^2,
    /// f = D's last hidden layer. Needs [`GanDiscriminator::features`] (the MLP).
    pub feature_matching: bool,
    /// Unrolled GAN (Metz et al. 2017): G's step uses D advanced k more updates on the current
    /// batch, first order (no backpropagation through the unrolling); D itself keeps its
    /// ordinary update. 0 = plain step. k here is Metz et al.'s K - 1 (their first unrolling
    /// step is D's own update).
    pub unrolled_steps: usize,
    /// Mode-seeking regularisation (Mao et al. 2019, MSGAN): G's loss adds
    /// lambda / (mean|G(z1)-G(z2)| / mean|z1-z2| + 1e-5) over the pairs (row i, row i + m/2) of
    /// the batch's two halves: the form of the authors' code (eq. 3 maximises the ratio itself).
    pub mode_seeking: Option<ModeSeeking>,
}

/// What the generator descends under the remedies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// -E log d(g(z)).
    NonSaturating,
    /// E log(1 - d(g(z))).
    Minimax,
    /// -E f(g(z)) (WGAN-GP).
    Wasserstein,
    /// || mean f(real) - mean f(g(z)) ||^2 over D's last hidden layer.
    FeatureMatching,
}

/// Out-of-range or incompatible remedy settings; every message names the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemedyError {
    #[error("remedies.{key} must be {rule} (got {got})")]
    OutOfRange { key: &'static str, rule: &'static str, got: String },
    #[error("remedies.{0} and remedies.{1} both replace the generator loss; choose one")]
    Exclusive(&'static str, &'static str),
    #[error("remedies.{key}: {why}")]
    Unsupported { key: &'static str, why: String },
}

fn check_f(key: &'static str, v: f64) -> Result<(), RemedyError> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(RemedyError::OutOfRange { key, rule: ">= 0", got: v.to_string() })
    }
}

fn check_n(key: &'static str, v: usize) -> Result<(), RemedyError> {
    if v >= 1 {
        Ok(())
    } else {
        Err(RemedyError::OutOfRange { key, rule: ">= 1", got: v.to_string() })
    }
}

impl Remedies {
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }

    /// Checks ranges; the error names the key, e.g. "remedies.wgan_gp.lambda must be >= 0 (got -1)".
    pub fn validate(&self) -> Result<(), RemedyError> {
        if let Some(n) = &self.instance_noise {
            check_f("instance_noise.sd", n.sd)?;
        }
        if let Some(w) = &self.wgan_gp {
            check_f("wgan_gp.lambda", w.lambda)?;
            check_n("wgan_gp.critic_steps", w.critic_steps)?;
        }
        if let Some(s) = &self.spectral_norm {
            check_n("spectral_norm.power_iterations", s.power_iterations)?;
        }
        if let Some(m) = &self.minibatch_discrimination {
            check_n("minibatch_discrimination.kernels", m.kernels)?;
            check_n("minibatch_discrimination.kernel_dim", m.kernel_dim)?;
        }
        if let Some(m) = &self.mode_seeking {
            check_f("mode_seeking.lambda", m.lambda)?;
        }
        let losses: Vec<&'static str> = [(self.minimax, "minimax"), (self.wgan_gp.is_some(), "wgan_gp"), (self.feature_matching, "feature_matching")]
            .into_iter()
            .filter_map(|(on, k)| on.then_some(k))
            .collect();
        if losses.len() > 1 {
            return Err(RemedyError::Exclusive(losses[0], losses[1]));
        }
        Ok(())
    }

    /// The generator's objective.
    pub fn objective(&self) -> Objective {
        if self.wgan_gp.is_some() {
            Objective::Wasserstein
        } else if self.minimax {
            Objective::Minimax
        } else if self.feature_matching {
            Objective::FeatureMatching
        } else {
            Objective::NonSaturating
        }
    }

    /// Whether a step draws from the backend RNG (instance noise, WGAN-GP interpolates).
    pub fn draws_random(&self) -> bool {
        self.instance_noise.is_some_and(|n| n.sd > 0.0) || self.wgan_gp.is_some_and(|w| w.lambda > 0.0)
    }

    /// Only the architecture remedies (what a discriminator is built with).
    pub fn architecture(&self) -> Remedies {
        Remedies {
            spectral_norm: self.spectral_norm,
            minibatch_discrimination: self.minibatch_discrimination,
            ..Remedies::default()
        }
    }

    /// What Algorithm 2's probe ||grad d / d|| = ||grad log d|| ([`crate::gan::StepStats::disc_grad_norms`])
    /// means under these remedies.
    pub fn monitored(&self) -> &'static str {
        match self.objective() {
            Objective::NonSaturating => {
                "||grad_x log d(x)|| per generated sample (Algorithm 2's ||grad d / d||), from the generator step's own backward \
                 pass, of the discriminator that step uses (after the unrolled updates under unrolled_steps) at the inputs it \
                 sees (noised under instance_noise)"
            }
            Objective::Minimax => {
                "||grad_x log d(x)|| per generated sample, from a separate backward pass: the generator follows grad log(1 - d), \
                 which differs from grad log d by the factor -d/(1 - d) per sample; Algorithm 2's thresholds are those of the NS field"
            }
            Objective::FeatureMatching => {
                "||grad_x log d(x)|| per generated sample, from a separate backward pass: the generator follows the feature-matching \
                 gradient, not this field; Algorithm 2's thresholds are those of the NS field"
            }
            Objective::Wasserstein => {
                "||grad_x f(x)|| per generated sample of the WGAN-GP critic f (the logits): the field the generator follows. The \
                 critic has no d in (0, 1), so this is not ||grad log d||, the penalty pulls it towards 1 on interpolates, and \
                 Algorithm 2's thresholds do not apply"
            }
        }
    }

    /// false when Algorithm 2's thresholds do not apply (WGAN-GP).
    pub fn algorithm2_applies(&self) -> bool {
        self.wgan_gp.is_none()
    }
}

/// N(0, sd^2) noise of `t`'s shape from the backend RNG.
pub(crate) fn gaussian<B: Backend>(t: &Tensor<B, 2>, sd: f64) -> Tensor<B, 2> {
    Tensor::random(t.shape(), Distribution::Normal(0.0, sd), &t.device())
}

/// The discriminator's update of one step: one NS step, or `critic_steps` WGAN-GP critic steps,
/// each on freshly noised inputs under instance noise (`sd` = this epoch's sd_t). Returns the
/// loss before the first update.
pub(crate) fn discriminator_update<B, D>(mut d: D, opt: &mut Opt<B, D>, lr: f64, r: &Remedies, sd: f64, real: Tensor<B, 2>, fake: Tensor<B, 2>) -> (D, f64)
where
    B: AutodiffBackend,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let steps = r.wgan_gp.map_or(1, |w| w.critic_steps);
    let mut first = f64::NAN;
    for k in 0..steps {
        let (rk, fk) = if sd > 0.0 {
            (real.clone() + gaussian(&real, sd), fake.clone() + gaussian(&fake, sd))
        } else {
            (real.clone(), fake.clone())
        };
        let (next, v) = match r.wgan_gp {
            None => discriminator_step(d, opt, lr, rk, fk),
            Some(w) => critic_step(d, opt, lr, w.lambda, rk, fk),
        };
        d = next;
        if k == 0 {
            first = v;
        }
    }
    (d, first)
}

/// Metz et al. 2017: the discriminator advanced `k` more updates on the same batch, from a copy of
/// D and of its optimizer state (D's own parameters and state stay as they are). First order:
/// the result is a constant for the generator's gradient.
pub(crate) fn unrolled<B, D>(d: D, mut opt: Opt<B, D>, lr: f64, r: &Remedies, sd: f64, real: Tensor<B, 2>, fake: Tensor<B, 2>) -> D
where
    B: AutodiffBackend,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    (0..r.unrolled_steps).fold(d, |d, _| discriminator_update(d, &mut opt, lr, r, sd, real.clone(), fake.clone()).0)
}

/// Central-difference step (along unit input directions) of [`gradient_penalty`]'s parameter
/// gradient; inputs are O(1) here (mixture modes, images in [-1, 1]).
pub const GP_FD_STEP: f64 = 1e-3;

/// The WGAN-GP penalty lambda * mean_i (||grad_{x_i} F(X)|| - 1)^2 at the interpolates X = `x_hat`
/// (F = sum of the critic's logits over the batch, so each row gets its own gradient and a
/// batch-coupled critic gets the coupled one, as `autograd.grad(f.sum(), x_hat)` does), as
/// (value, surrogate): the surrogate's parameter gradient is the penalty's.
///
/// burn 0.21 cannot differentiate a backward pass, so the parameter gradient is not taken by
/// double backpropagation. With c_i = dP/dg_i (g_i = grad_{x_i} F, held fixed),
/// grad_theta P = grad_theta sum_i c_i . g_i(theta), and sum_i c_i . g_i is the directional derivative of F
/// along C: the surrogate is s (F(X + tU) - F(X - tU)) / 2t with U = C / s, s = max_i ||c_i||,
/// t = [`GP_FD_STEP`]. For a piecewise-linear critic (LeakyReLU MLP) it is exact except for samples
/// whose ±t segment crosses a kink; otherwise its error is O(t^2). Noise layers in the critic
/// would make the two evaluations differ by their noise, so `Gan::try_new` refuses them.
pub fn gradient_penalty<B, D>(d: &D, x_hat: Tensor<B, 2>, lambda: f64) -> (f64, Tensor<B, 1>)
where
    B: AutodiffBackend,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let m = x_hat.dims()[0];
    let x_hat = x_hat.detach();
    let xh = x_hat.clone().require_grad();
    let g = xh.grad(&d.clone().no_grad().logits(xh.clone(), Mode::Train).sum().backward()).expect("x_hat requires grad");
    let norms = g.clone().square().sum_dim(1).sqrt();
    let dev = norms.clone().sub_scalar(1.0);
    let value: f64 = dev.clone().square().mean().into_scalar().elem::<f64>() * lambda;
    let c = g * (dev / norms.clamp_min(1e-12)).mul_scalar(2.0 * lambda / m as f64);
    let s: f64 = c.clone().square().sum_dim(1).sqrt().max().into_scalar().elem();
    if !(s > 0.0 && s.is_finite()) {
        return (value, Tensor::zeros([1], &x_hat.device()));
    }
    let u = Tensor::from_inner(c.div_scalar(s).mul_scalar(GP_FD_STEP));
    let (plus, minus) = (x_hat.clone() + u.clone(), x_hat - u);
    let (fp, fm) = if d.batch_coupled() {
        (d.logits(plus, Mode::Train).sum(), d.logits(minus, Mode::Train).sum())
    } else {
        let l = d.logits(Tensor::cat(vec![plus, minus], 0), Mode::Train);
        (l.clone().narrow(0, 0, m).sum(), l.narrow(0, m, m).sum())
    };
    (value, (fp - fm).mul_scalar(s / (2.0 * GP_FD_STEP)))
}

/// The WGAN-GP critic loss E f(fake) - E f(real) + penalty at x_hat = e real + (1 - e) fake,
/// e ~ U[0, 1] per sample (Gulrajani et al., Algorithm 1, lines 4-7), as (loss to descend, value).
pub fn critic_loss<B, D>(d: &D, real: Tensor<B, 2>, fake: Tensor<B, 2>, lambda: f64) -> (Tensor<B, 1>, f64)
where
    B: AutodiffBackend,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let m = real.dims()[0];
    assert_eq!(fake.dims()[0], m, "WGAN-GP pairs real and generated samples: equal batch sizes");
    let (fr, ff) = if d.batch_coupled() {
        (d.logits(real.clone(), Mode::Train), d.logits(fake.clone(), Mode::Train))
    } else {
        let l = d.logits(Tensor::cat(vec![real.clone(), fake.clone()], 0), Mode::Train);
        (l.clone().narrow(0, 0, m), l.narrow(0, m, m))
    };
    let loss = ff.mean() - fr.mean();
    let mut value: f64 = loss.clone().into_scalar().elem();
    if lambda <= 0.0 {
        return (loss, value);
    }
    let e = Tensor::<B, 2>::random([m, 1], Distribution::Uniform(0.0, 1.0), &real.device());
    let x_hat = real.detach() * e.clone() + fake.detach() * (e.neg().add_scalar(1.0));
    let (gp, surrogate) = gradient_penalty(d, x_hat, lambda);
    value += gp;
    (loss + surrogate, value)
}

/// One critic update (after D's power iteration, as [`discriminator_step`]); returns the updated
/// critic and its loss (with the penalty) before the update.
pub fn critic_step<B, D>(d: D, opt: &mut Opt<B, D>, lr: f64, lambda: f64, real: Tensor<B, 2>, fake: Tensor<B, 2>) -> (D, f64)
where
    B: AutodiffBackend,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let d = d.power_iteration();
    let (loss, value) = critic_loss(&d, real, fake, lambda);
    let grads = GradientsParams::from_grads(loss.backward(), &d);
    (opt.step(lr, d, grads), value)
}

/// Feature matching's loss || mean_i f(real_i) - mean_i f(fake_i) ||^2, f = D's last hidden
/// layer (Salimans et al. 2016, Section 3.1); the real features are constants.
pub fn feature_matching_loss<B: AutodiffBackend, D: GanDiscriminator<B>>(d: &D, real: Tensor<B, 2>, fake: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1> {
    const NEEDS: &str = "remedies.feature_matching needs the discriminator's last hidden layer (GanDiscriminator::features: the MLP)";
    let fr = d.features(real, mode).expect(NEEDS).detach().mean_dim(0);
    let ff = d.features(fake, mode).expect(NEEDS).mean_dim(0);
    (fr - ff).square().sum()
}

/// ε of the mode-seeking term (the authors' code).
pub const MODE_SEEKING_EPS: f64 = 1e-5;

/// MSGAN's regulariser lambda / (mean|x1 - x2| / mean|z1 - z2| + 1e-5), with (x1, z1) the first
/// half of the batch and (x2, z2) the second (row i paired with row i + m/2; an odd last row is
/// unused). The means run over all pairs and coordinates, as in the authors' code; `None` for
/// fewer than two rows.
pub fn mode_seeking_term<B: Backend>(x: Tensor<B, 2>, z: Tensor<B, 2>, lambda: f64) -> Option<Tensor<B, 1>> {
    let h = x.dims()[0] / 2;
    if h == 0 {
        return None;
    }
    let dx = (x.clone().narrow(0, 0, h) - x.narrow(0, h, h)).abs().mean();
    let dz = (z.clone().narrow(0, 0, h) - z.narrow(0, h, h)).abs().mean();
    Some((dx / dz).add_scalar(MODE_SEEKING_EPS).recip().mul_scalar(lambda))
}

/// Minibatch discrimination's o(x_i)_b = sum_j exp(-||M_{i,b} - M_{j,b}||_1) for M = `mm`
/// (`[n, kernels, kernel_dim]`), j running over the whole batch including i (so a batch of n
/// identical rows gives n): Salimans et al. 2016, Section 3.2. Returns `[n, kernels]`.
/// The L1 distances are summed over kernel_dim slices of `[kernels, n, n]` differences of
/// repeated (not broadcast) operands: of the layouts tried, the fastest on both CPU backends
/// (burn-flex's broadcasts take its slow strided path). The cost is O(n^2 kernels kernel_dim).
pub fn minibatch_features<B: Backend>(mm: Tensor<B, 3>) -> Tensor<B, 2> {
    let [n, k, c] = mm.dims();
    let t = mm.swap_dims(0, 1); // [k, n, c]
    let l1 = (0..c)
        .map(|j| {
            let col = t.clone().narrow(2, j, 1); // [k, n, 1]: sample i
            let row = col.clone().swap_dims(1, 2); // [k, 1, n]: sample j
            (col.repeat_dim(2, n) - row.repeat_dim(1, n)).abs()
        })
        .reduce(|a, b| a + b)
        .expect("kernel_dim >= 1");
    l1.neg().exp().sum_dim(2).reshape([k, n]).swap_dims(0, 1)
}

/// [h, o(h)]: the last hidden layer `h` (`[n, A]`) with its minibatch features appended, M = h T
/// (T = `t`'s weight, `[A, kernels * kernel_dim]`).
pub fn minibatch_discrimination<B: Backend>(h: Tensor<B, 2>, t: &Linear<B>, kernels: usize, kernel_dim: usize) -> Tensor<B, 2> {
    let n = h.dims()[0];
    let o = minibatch_features(t.forward(h.clone()).reshape([n, kernels, kernel_dim]));
    Tensor::cat(vec![h, o], 1)
}

/// x / max(||x||, 1e-12), as PyTorch's `normalize`.
fn normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let n = x.clone().square().sum().sqrt().clamp_min(1e-12).reshape([1, 1]);
    x / n
}

/// `n` power iterations on a Linear weight `w` (burn's layout `[in, out]`, y = x w) from the
/// persistent `u` (`[out]`): v = normalize(w u), u = normalize(w^T v) (Miyato et al. 2018,
/// Algorithm 1, in burn's transposed layout). No gradient flows (Algorithm 1 treats u as constant).
pub fn power_iterate<B: Backend>(w: Tensor<B, 2>, u: Tensor<B, 1>, n: usize) -> Tensor<B, 1> {
    let w = w.detach();
    let out = u.dims()[0];
    let mut u = u.detach().reshape([out, 1]);
    for _ in 0..n {
        let v = normalize(w.clone().matmul(u));
        u = normalize(w.clone().transpose().matmul(v));
    }
    u.reshape([out])
}

/// The spectral-norm estimate sigma(w) = ||w u||_2 with u held constant (= v^T w u with
/// v = normalize(w u), Miyato et al.'s u^T W v); differentiable in `w`. `[1]`.
pub fn spectral_sigma<B: Backend>(w: Tensor<B, 2>, u: Tensor<B, 1>) -> Tensor<B, 1> {
    let out = u.dims()[0];
    w.matmul(u.detach().reshape([out, 1])).square().sum().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{ndarray_device, rng_lock, NdArrayAd};
    use crate::gan::{flat_gradient, flat_params, Gan, StepStats, TrainConfig};
    use crate::mlp::{MlpConfig, MlpDiscriminator, MlpGenerator};
    use crate::nets::{tensor2, to_vec, GanGenerator};
    use burn::module::{Module, ModuleMapper, Param};
    use burn::tensor::activation::log_sigmoid;
    use proptest::prelude::*;
    use rand::{rngs::StdRng, SeedableRng};
    use rand_distr::{Distribution as _, StandardNormal};

    type B = NdArrayAd;
    type TestGan = Gan<B, MlpGenerator<B>, MlpDiscriminator<B>>;

    fn normal(rng: &mut StdRng, n: usize) -> Vec<f32> {
        (0..n).map(|_| StandardNormal.sample(rng)).collect()
    }

    fn gan_with(r: Remedies, cfg: TrainConfig) -> TestGan {
        let device = ndarray_device();
        let _l = rng_lock();
        <B as Backend>::seed(&device, 11);
        let net = MlpConfig::new(3).with_g_hidden(vec![16, 16]).with_d_hidden(vec![16, 16]).with_remedies(&r);
        let (g, d) = (net.init_generator(&device), net.init_discriminator(&device));
        Gan::try_new(g, d, cfg.with_remedies(r), device).expect("valid remedies")
    }

    fn gan(r: Remedies) -> TestGan {
        gan_with(r, TrainConfig::sgd(0.01, 0.01))
    }

    fn batches(seed: u64, n: usize, m: usize) -> Vec<(Tensor<B, 2>, Tensor<B, 2>)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let dev = ndarray_device();
        (0..n).map(|_| (tensor2::<B>(normal(&mut rng, m * 3), m, 3, &dev), tensor2::<B>(normal(&mut rng, m * 3), m, 3, &dev))).collect()
    }

    /// Runs `n` steps with the backend RNG seeded per step, as the epoch loop does.
    fn run(gan: &mut TestGan, n: usize) -> Vec<StepStats> {
        batches(5, n, 16)
            .into_iter()
            .enumerate()
            .map(|(i, (real, z))| {
                let _l = rng_lock();
                <B as Backend>::seed(&gan.device, 100 + i as u64);
                gan.step(real, z)
            })
            .collect()
    }

    fn same_params(a: &TestGan, b: &TestGan) -> bool {
        flat_params(&a.g) == flat_params(&b.g) && flat_params(&a.d) == flat_params(&b.d)
    }

    fn rel_err(a: &[f32], b: &[f32]) -> f64 {
        let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt();
        num / b.iter().map(|y| (*y as f64).powi(2)).sum::<f64>().sqrt()
    }

    /// The pre-remedies `Gan::step` (NS form), verbatim, as the reference for bit-identity.
    fn reference_step(gan: &mut TestGan, real: Tensor<B, 2>, z: Tensor<B, 2>) -> (f64, f64, Vec<f32>) {
        let m = z.dims()[0];
        let x = gan.g.generate(z, Mode::Train);
        let (d, loss_d) = discriminator_step(gan.d.clone(), &mut gan.opt_d, gan.cfg.lr_d, real, x.clone().detach());
        gan.d = d;
        let frozen = gan.d.clone().no_grad();
        let xd = x.clone().detach().require_grad();
        let log_d = log_sigmoid(frozen.logits(xd.clone(), Mode::Train));
        let loss = -log_d.mean();
        let lv: f64 = loss.clone().into_scalar().elem();
        let gx = xd.grad(&loss.backward()).unwrap();
        let norms = crate::gan::row_norms(gx.clone(), m as f32);
        let surrogate = (x * Tensor::from_inner(gx)).sum();
        let grads = GradientsParams::from_grads(surrogate.backward(), &gan.g);
        gan.g = gan.opt_g.step(gan.cfg.lr_g, gan.g.clone(), grads);
        (loss_d, lv, norms)
    }

    #[test]
    fn no_remedies_is_the_pre_remedies_step_bit_for_bit() {
        for cfg in [TrainConfig::sgd(0.01, 0.02), TrainConfig { lr_g: 1e-3, lr_d: 1e-3, ..TrainConfig::dcgan() }] {
            let mut a = gan_with(Remedies::default(), cfg.clone());
            let mut b = gan_with(Remedies::default(), cfg);
            for (real, z) in batches(3, 4, 16) {
                let s = a.step(real.clone(), z.clone());
                let (ld, lg, norms) = reference_step(&mut b, real, z);
                assert_eq!((s.loss_d, s.loss_g, &s.disc_grad_norms), (ld, lg, &norms));
            }
            assert!(same_params(&a, &b));
        }
    }

    /// Remedies that are switched on but do nothing take the plain path's arithmetic exactly.
    #[test]
    fn inactive_remedies_equal_the_plain_step_bit_for_bit() {
        let idle = [
            Remedies { instance_noise: Some(InstanceNoise { sd: 0.0, anneal_epochs: 3 }), ..Default::default() },
            Remedies { mode_seeking: Some(ModeSeeking { lambda: 0.0 }), ..Default::default() },
            Remedies { unrolled_steps: 0, ..Default::default() },
        ];
        let mut plain = gan(Remedies::default());
        let want = run(&mut plain, 3);
        for r in idle {
            let mut g = gan(r.clone());
            let got = run(&mut g, 3);
            assert!(same_params(&g, &plain), "{r:?}");
            assert_eq!(got.iter().map(|s| (s.loss_d, s.loss_g)).collect::<Vec<_>>(), want.iter().map(|s| (s.loss_d, s.loss_g)).collect::<Vec<_>>());
        }
    }

    #[test]
    fn instance_noise_anneals_linearly_and_changes_the_discriminator_update() {
        let n = InstanceNoise { sd: 0.4, anneal_epochs: 4 };
        let sds: Vec<f64> = (1..=6).map(|e| n.sd_at(e)).collect();
        for (got, want) in sds.iter().zip([0.4, 0.3, 0.2, 0.1, 0.0, 0.0]) {
            assert!((got - want).abs() < 1e-12, "{sds:?}");
        }
        assert_eq!(InstanceNoise { sd: 0.4, anneal_epochs: 0 }.sd_at(1000), 0.4);

        let mut plain = gan(Remedies::default());
        run(&mut plain, 1);
        let r = Remedies { instance_noise: Some(InstanceNoise { sd: 0.5, anneal_epochs: 0 }), ..Default::default() };
        let mut noised = gan(r.clone());
        assert!(noised.draws_random());
        run(&mut noised, 1);
        assert_ne!(flat_params(&noised.d), flat_params(&plain.d), "noised inputs change D's update");
        // Past the anneal the noise is off: the step is the plain one again.
        let r = Remedies { instance_noise: Some(InstanceNoise { sd: 0.5, anneal_epochs: 2 }), ..Default::default() };
        let (mut late, mut plain) = (gan(r), gan(Remedies::default()));
        late.set_epoch(3);
        run(&mut late, 2);
        run(&mut plain, 2);
        assert!(same_params(&late, &plain));
    }

    /// d/dx log(1 - d) = -d/(1 - d) * d/dx log d per sample; the step's G update is the gradient
    /// of the minimax loss through D and G.
    #[test]
    fn minimax_field_is_d_over_1_minus_d_times_the_ns_field() {
        let g = gan(Remedies { minimax: true, ..Default::default() });
        let x = tensor2::<B>(normal(&mut StdRng::seed_from_u64(1), 12 * 3), 12, 3, &g.device);
        let frozen = g.d.clone().no_grad();
        let field = |loss: fn(Tensor<B, 1>) -> Tensor<B, 1>| {
            let xd = x.clone().require_grad();
            to_vec(xd.grad(&loss(frozen.logits(xd.clone(), Mode::Train)).backward()).unwrap())
        };
        let mm = field(|l| log_sigmoid(-l).mean());
        let ns = field(|l| log_sigmoid(l).mean());
        let d = to_vec(burn::tensor::activation::sigmoid(frozen.logits(x.clone(), Mode::Train)));
        for i in 0..12 {
            let k = -(d[i] / (1.0 - d[i]));
            for j in 0..3 {
                let (a, b) = (mm[i * 3 + j], k * ns[i * 3 + j]);
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "sample {i}: {a} vs {b}");
            }
        }
        check_generator_update(Remedies { minimax: true, ..Default::default() }, |d, _, x, _| log_sigmoid(-d.logits(x, Mode::Train)).mean());
    }

    /// G's SGD update of one step equals -lr_g times the gradient of `loss(D_after, real, g(z), z)`
    /// taken by one ordinary backward pass through D and G.
    fn check_generator_update(r: Remedies, loss: impl Fn(&MlpDiscriminator<B>, Tensor<B, 2>, Tensor<B, 2>, Tensor<B, 2>) -> Tensor<B, 1>) {
        let mut g = gan(r.clone());
        let g0 = g.g.clone();
        let (real, z) = batches(9, 1, 16).remove(0);
        {
            let _l = rng_lock(); // WGAN-GP draws its interpolates
            <B as Backend>::seed(&g.device, 1);
            g.step(real.clone(), z.clone());
        }
        let frozen = g.d.clone().no_grad();
        let l = loss(&frozen, real, g0.generate(z.clone(), Mode::Train), z);
        let want = flat_gradient::<B, _>(&g0, &GradientsParams::from_grads(l.backward(), &g0));
        let got: Vec<f32> = flat_params(&g0).iter().zip(flat_params(&g.g)).map(|(a, b)| (a - b) / g.cfg.lr_g as f32).collect();
        // Parameter differences of f32 values: ~1e-3 relative resolution (see gan.rs).
        assert!(rel_err(&got, &want) < 2e-3, "{r:?}: {}", rel_err(&got, &want));
    }

    /// A small smooth critic (tanh), for finite differences without kinks.
    #[derive(burn::module::Module, Debug)]
    struct Smooth<B: Backend> {
        a: Linear<B>,
        b: Linear<B>,
    }
    impl<BB: Backend> GanDiscriminator<BB> for Smooth<BB> {
        fn in_dim(&self) -> usize {
            3
        }
        fn logits(&self, x: Tensor<BB, 2>, _mode: Mode) -> Tensor<BB, 1> {
            let n = x.dims()[0];
            self.b.forward(burn::tensor::activation::tanh(self.a.forward(x))).reshape([n])
        }
        fn batch_coupled(&self) -> bool {
            false
        }
        fn noise_sd(&self) -> f64 {
            0.0
        }
    }

    /// Adds `h * delta` (flat, in visiting order) to every float parameter.
    struct Shift<'a>(&'a [f32], usize, f32);
    impl<BB: Backend> ModuleMapper<BB> for Shift<'_> {
        fn map_float<const N: usize>(&mut self, p: Param<Tensor<BB, N>>) -> Param<Tensor<BB, N>> {
            let (id, t, _) = p.consume();
            let n = t.shape().num_elements();
            let dt = Tensor::<BB, 1>::from_floats(&self.0[self.1..self.1 + n], &t.device()).reshape(t.shape());
            self.1 += n;
            Param::initialized(id, t + dt.mul_scalar(self.2))
        }
    }

    /// The penalty's surrogate has the penalty's parameter gradient: directional central
    /// differences of the penalty value (f64 from f32 passes) against the surrogate's gradient,
    /// for a smooth critic (for a LeakyReLU one the penalty jumps where an activation pattern
    /// changes, so finite differences in the parameters are meaningless there).
    fn penalty_gradient_matches_finite_differences<D: GanDiscriminator<B> + AutodiffModule<B>>(d: D, tol: f64) {
        let x_hat = x_hat();
        let (value, surrogate) = gradient_penalty(&d, x_hat.clone(), 10.0);
        assert!(value > 0.0);
        let grad = flat_gradient::<B, _>(&d, &GradientsParams::from_grads(surrogate.backward(), &d));
        for k in 0..3 {
            let delta = normal(&mut StdRng::seed_from_u64(30 + k), grad.len());
            let h = 1e-3f32;
            let at = |s: f32| gradient_penalty(&d.clone().map(&mut Shift(&delta, 0, s)), x_hat.clone(), 10.0).0;
            let fd = (at(h) - at(-h)) / (2.0 * h as f64);
            let an: f64 = grad.iter().zip(&delta).map(|(g, v)| (*g as f64) * (*v as f64)).sum();
            assert!((fd - an).abs() <= tol * an.abs().max(1e-3), "direction {k}: fd {fd} vs surrogate {an}");
        }
    }

    #[test]
    fn gradient_penalty_value_and_parameter_gradient() {
        let device = ndarray_device();
        let smooth = {
            let _l = rng_lock();
            <B as Backend>::seed(&device, 4);
            let s = Smooth { a: burn::nn::LinearConfig::new(3, 8).init(&device), b: burn::nn::LinearConfig::new(8, 1).init(&device) };
            crate::nets::materialize::<B, _>(s)
        };
        // The value is lambda * mean (||grad_x f|| - 1)^2.
        let x = tensor2::<B>(vec![0.3, -0.2, 0.5, 1.0, 0.1, -0.7], 2, 3, &device);
        let xd = x.clone().require_grad();
        let gx = to_vec(xd.grad(&smooth.logits(xd.clone(), Mode::Train).sum().backward()).unwrap());
        let want: f64 = (0..2).map(|i| ((gx[i * 3..i * 3 + 3].iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt()) - 1.0).powi(2)).sum::<f64>() / 2.0 * 10.0;
        let (value, _) = gradient_penalty(&smooth, x, 10.0);
        assert!((value - want).abs() < 1e-5 * want, "{value} vs {want}");
        penalty_gradient_matches_finite_differences(smooth, 2e-3);

        // The LeakyReLU MLP critic, against exact double backpropagation written out for it:
        // grad_x f = ((W3^T * s2) W2^T * s1) W1^T per sample, s_l the slopes (1 or 0.2) at the
        // sample's pre-activations, differentiated in the weights by autodiff.
        let d = gan(Remedies::default()).d;
        let x = x_hat();
        let m = x.dims()[0];
        let last = d.layers.len() - 1;
        let (mut h, mut slopes) = (x.clone(), vec![]);
        for l in &d.layers[..last] {
            let pre = l.forward(h).detach();
            slopes.push(pre.clone().greater_elem(0.0).float().mul_scalar(1.0 - d.slope).add_scalar(d.slope));
            h = burn::tensor::activation::leaky_relu(pre, d.slope);
        }
        let w = d.layers[last].weight.val();
        let a = w.dims()[0];
        let mut g = w.reshape([1, a]).repeat_dim(0, m);
        for (l, s) in d.layers[..last].iter().zip(slopes).rev() {
            g = (g * s).matmul(l.weight.val().transpose());
        }
        let exact = g.square().sum_dim(1).sqrt().sub_scalar(1.0).square().mean().mul_scalar(10.0);
        let exact_value: f64 = exact.clone().into_scalar().elem();
        let want = flat_gradient::<B, _>(&d, &GradientsParams::from_grads(exact.backward(), &d));
        let (value, surrogate) = gradient_penalty(&d, x, 10.0);
        let got = flat_gradient::<B, _>(&d, &GradientsParams::from_grads(surrogate.backward(), &d));
        assert!((value - exact_value).abs() < 1e-5 * exact_value, "{value} vs {exact_value}");
        // Exact but for samples whose +-t segment crosses a kink.
        assert!(rel_err(&got, &want) < 1e-2, "surrogate vs double backprop: {}", rel_err(&got, &want));
    }

    fn x_hat() -> Tensor<B, 2> {
        tensor2::<B>(normal(&mut StdRng::seed_from_u64(21), 10 * 3), 10, 3, &ndarray_device())
    }

    #[test]
    fn wgan_gp_runs_critic_steps_critic_updates_per_generator_update() {
        let w = |k| Remedies { wgan_gp: Some(WganGp { lambda: 10.0, critic_steps: k }), ..Default::default() };
        let mut a = gan(w(3));
        assert!(a.draws_random());
        let (real, z) = batches(2, 1, 16).remove(0);
        let d0 = a.d.clone();
        let x = a.g.generate(z.clone(), Mode::Train).detach();
        let _l = rng_lock();
        <B as Backend>::seed(&a.device, 7);
        let s = a.step(real.clone(), z);
        // By hand: three critic steps from the same RNG state.
        <B as Backend>::seed(&a.device, 7);
        let mut opt = Opt::new(a.cfg.optimizer);
        let mut d = d0;
        let mut first = None;
        for _ in 0..3 {
            let (next, v) = critic_step(d, &mut opt, a.cfg.lr_d, 10.0, real.clone(), x.clone());
            d = next;
            first.get_or_insert(v);
        }
        assert_eq!(flat_params(&a.d), flat_params(&d));
        assert_eq!(Some(s.loss_d), first);
        // ||grad_x f|| of the critic, G loss -E f.
        assert!(s.disc_grad_norms.iter().all(|v| v.is_finite() && *v > 0.0));
        assert!(!w(1).algorithm2_applies() && Remedies::default().algorithm2_applies());
        drop(_l);
        check_generator_update(w(1), |d, _, x, _| -d.logits(x, Mode::Train).mean());
    }

    #[test]
    fn spectral_norm_estimates_the_top_singular_value() {
        let device = ndarray_device();
        let mut rng = StdRng::seed_from_u64(8);
        let (rows, cols) = (7, 5);
        let wv = normal(&mut rng, rows * cols);
        let w = tensor2::<B>(wv.clone(), rows, cols, &device);
        let u = Tensor::<B, 1>::from_floats(&normal(&mut rng, cols)[..], &device);
        let u = power_iterate(w.clone(), u, 200);
        let sigma: f64 = spectral_sigma(w.clone(), u.clone()).into_scalar().elem();
        let wd: Vec<f64> = wv.iter().map(|v| *v as f64).collect();
        let exact = crate::probes::spectral_norm(&wd, rows, cols);
        assert!((sigma - exact).abs() < 1e-5 * exact, "{sigma} vs {exact}");
        let wn: Vec<f64> = wd.iter().map(|v| v / sigma).collect();
        assert!((crate::probes::spectral_norm(&wn, rows, cols) - 1.0).abs() < 1e-5);

        // In the MLP: every layer's estimate converges to its weight's top singular value, and
        // the estimates move only in D's updates (power_iteration), not in plain forwards.
        let r = Remedies { spectral_norm: Some(SpectralNorm { power_iterations: 100 }), ..Default::default() };
        let g = gan(r);
        let d = g.d.clone().power_iteration();
        for (sigma, (w, rows, cols)) in d.spectral_sigmas().iter().zip(d.weights()) {
            let wd: Vec<f64> = w.iter().map(|v| *v as f64).collect();
            let exact = crate::probes::spectral_norm(&wd, rows, cols);
            assert!((sigma - exact).abs() < 1e-4 * exact, "{sigma} vs {exact}");
        }
        let before = d.spectral_sigmas();
        let _ = d.logits(tensor2::<B>(vec![0.1; 6], 2, 3, &device), Mode::Train);
        assert_eq!(d.spectral_sigmas(), before);
    }

    #[test]
    fn minibatch_discrimination_counts_identical_rows_and_is_permutation_equivariant() {
        let device = ndarray_device();
        let row = [0.3f32, -1.0, 2.0, 0.5, 0.0, 1.5];
        let mm = Tensor::<B, 1>::from_floats(&row.repeat(4)[..], &device).reshape([4, 2, 3]);
        assert_eq!(to_vec(minibatch_features(mm)), vec![4.0; 8]);
        // Two distinct rows: 1 + exp(-L1) per kernel.
        let mm = Tensor::<B, 1>::from_floats(&[0f32, 0.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0][..], &device).reshape([2, 2, 2]);
        let o = to_vec(minibatch_features(mm));
        let want = [1.0 + (-0.5f32).exp(), 1.0 + (-2.0f32).exp()];
        for (a, b) in o.iter().zip([want[0], want[1], want[0], want[1]]) {
            assert!((a - b).abs() < 1e-6, "{o:?}");
        }
        let r = Remedies { minibatch_discrimination: Some(MinibatchDiscrimination { kernels: 6, kernel_dim: 3 }), ..Default::default() };
        let d = gan(r).d;
        assert!(d.batch_coupled());
        let xv = normal(&mut StdRng::seed_from_u64(3), 8 * 3);
        let perm = [3usize, 0, 7, 1, 6, 2, 5, 4];
        let xp: Vec<f32> = perm.iter().flat_map(|&i| xv[i * 3..i * 3 + 3].to_vec()).collect();
        let l = to_vec(d.logits(tensor2::<B>(xv, 8, 3, &device), Mode::Train));
        let lp = to_vec(d.logits(tensor2::<B>(xp, 8, 3, &device), Mode::Train));
        for (k, &i) in perm.iter().enumerate() {
            assert!((lp[k] - l[i]).abs() < 1e-5, "row {k}");
        }
    }

    #[test]
    fn feature_matching_is_zero_on_the_real_batch_and_its_step_descends() {
        let r = Remedies { feature_matching: true, ..Default::default() };
        let mut g = gan_with(r.clone(), TrainConfig::sgd(0.05, 0.0));
        let (real, z) = batches(4, 1, 32).remove(0);
        let fm = |g: &TestGan| -> f64 { feature_matching_loss(&g.d, real.clone(), g.g.generate(z.clone(), Mode::Train), Mode::Train).into_scalar().elem() };
        let zero: f64 = feature_matching_loss(&g.d, real.clone(), real.clone(), Mode::Train).into_scalar().elem();
        assert_eq!(zero, 0.0);
        let before = fm(&g);
        let s = g.step(real.clone(), z.clone());
        assert_eq!(s.loss_g, before, "loss_g is the FM loss (D unchanged at lr_d = 0)");
        assert!(fm(&g) < before, "{} !< {before}", fm(&g));
        assert_eq!(s.disc_grad_norms.len(), 32, "the NS probe from its own pass");
        check_generator_update(r, |d, real, x, _| feature_matching_loss(d, real, x, Mode::Train));
    }

    #[test]
    fn unrolling_changes_only_the_generator_update() {
        let adam = || TrainConfig { lr_g: 1e-3, lr_d: 1e-3, ..TrainConfig::dcgan() };
        let mut plain = gan_with(Remedies::default(), adam());
        let mut unrolled = gan_with(Remedies { unrolled_steps: 3, ..Default::default() }, adam());
        for (real, z) in batches(6, 2, 16) {
            plain.step(real.clone(), z.clone());
            unrolled.step(real, z);
            assert_eq!(flat_params(&plain.d), flat_params(&unrolled.d), "D keeps its ordinary update (and optimizer state)");
            assert_ne!(flat_params(&plain.g), flat_params(&unrolled.g));
            // the same generated batch next time, so that D's next update is comparable
            unrolled.g = plain.g.clone();
        }
    }

    #[test]
    fn mode_seeking_term_matches_a_hand_computation() {
        let device = ndarray_device();
        // x halves: [[0, 1], [2, 2]] vs [[1, 1], [2, 0]] -> mean|dx| = (1 + 0 + 0 + 2) / 4 = 0.75
        // z halves: [[0], [0]] vs [[1], [3]] -> mean|dz| = 2; the odd fifth row is unused.
        let x = tensor2::<B>(vec![0.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 0.0, 9.0, 9.0], 5, 2, &device);
        let z = tensor2::<B>(vec![0.0, 0.0, 1.0, 3.0, 7.0], 5, 1, &device);
        let t: f64 = mode_seeking_term(x, z, 2.0).unwrap().into_scalar().elem();
        let want = 2.0 / (0.75 / 2.0 + MODE_SEEKING_EPS);
        assert!((t - want).abs() < 1e-5 * want, "{t} vs {want}");
        let r = Remedies { mode_seeking: Some(ModeSeeking { lambda: 0.5 }), ..Default::default() };
        check_generator_update(r, |d, _, x, z| -log_sigmoid(d.logits(x.clone(), Mode::Train)).mean() + mode_seeking_term(x, z, 0.5).unwrap());
    }

    #[test]
    fn validate_names_the_key_and_serde_is_strict() {
        let bad = |r: Remedies| r.validate().unwrap_err().to_string();
        let e = bad(Remedies { wgan_gp: Some(WganGp { lambda: -1.0, critic_steps: 5 }), ..Default::default() });
        assert_eq!(e, "remedies.wgan_gp.lambda must be >= 0 (got -1)");
        assert!(bad(Remedies { wgan_gp: Some(WganGp { lambda: 1.0, critic_steps: 0 }), ..Default::default() }).contains("remedies.wgan_gp.critic_steps"));
        assert!(bad(Remedies { instance_noise: Some(InstanceNoise { sd: f64::NAN, anneal_epochs: 0 }), ..Default::default() }).contains("instance_noise.sd"));
        assert!(bad(Remedies { spectral_norm: Some(SpectralNorm { power_iterations: 0 }), ..Default::default() }).contains("spectral_norm.power_iterations"));
        assert!(bad(Remedies { minibatch_discrimination: Some(MinibatchDiscrimination { kernels: 0, kernel_dim: 5 }), ..Default::default() })
            .contains("minibatch_discrimination.kernels"));
        assert!(bad(Remedies { mode_seeking: Some(ModeSeeking { lambda: -0.5 }), ..Default::default() }).contains("mode_seeking.lambda"));
        assert!(bad(Remedies { minimax: true, feature_matching: true, ..Default::default() }).contains("remedies.minimax and remedies.feature_matching"));

        let none: Remedies = serde_yaml::from_str("{}").unwrap();
        assert!(none.is_none());
        assert!(serde_yaml::from_str::<Remedies>("minmax: true").unwrap_err().to_string().contains("minmax"));
        assert!(serde_yaml::from_str::<Remedies>("wgan_gp: {lambda: 1, steps: 2}").is_err());
        let r: Remedies = serde_yaml::from_str("wgan_gp: {}\nspectral_norm: {}\ninstance_noise: {sd: 0.1}").unwrap();
        assert_eq!(r.wgan_gp, Some(WganGp::default()));
        assert_eq!(r.spectral_norm, Some(SpectralNorm { power_iterations: 1 }));
        assert_eq!(r.instance_noise, Some(InstanceNoise { sd: 0.1, anneal_epochs: 0 }));
        assert!(serde_yaml::from_str::<Remedies>("instance_noise: {}").is_err(), "sd has no default");

        // TrainConfig: no remedies, no key (stored runs are named by hashes of these configs).
        let y = serde_yaml::to_string(&TrainConfig::sgd(0.1, 0.1)).unwrap();
        assert!(!y.contains("remedies"), "{y}");
        let old: TrainConfig = serde_yaml::from_str(&y).unwrap();
        assert!(old.remedies.is_none());
        let with = TrainConfig::sgd(0.1, 0.1).with_remedies(Remedies { minimax: true, ..Default::default() });
        assert_eq!(serde_yaml::from_str::<TrainConfig>(&serde_yaml::to_string(&with).unwrap()).unwrap(), with);
    }

    #[test]
    fn gan_refuses_what_its_networks_cannot_do() {
        let device = ndarray_device();
        let net = MlpConfig::new(3).with_g_hidden(vec![8]).with_d_hidden(vec![8]);
        let mk = |r: Remedies, net: &MlpConfig| {
            let _l = rng_lock();
            Gan::try_new(net.init_generator::<B>(&device), net.init_discriminator::<B>(&device), TrainConfig::sgd(0.1, 0.1).with_remedies(r), device)
                .err()
                .map(|e| e.to_string())
        };
        let sn = Remedies { spectral_norm: Some(SpectralNorm::default()), ..Default::default() };
        assert!(mk(sn.clone(), &net).unwrap().contains("remedies.spectral_norm"), "D built without it");
        assert!(mk(sn.clone(), &net.clone().with_remedies(&sn)).is_none());
        let w = Remedies { wgan_gp: Some(WganGp::default()), ..Default::default() };
        assert!(mk(w, &net.clone().with_d_noise_sd(0.1)).unwrap().contains("noise"));
        let fm = Remedies { feature_matching: true, ..Default::default() };
        let mut cfg = TrainConfig::sgd(0.1, 0.1).with_remedies(fm);
        cfg.loss = crate::GeneratorLoss::Particle { step: 0.1, halved: false };
        let _l = rng_lock();
        let e = Gan::try_new(net.init_generator::<B>(&device), net.init_discriminator::<B>(&device), cfg, device).err().unwrap().to_string();
        assert!(e.contains("remedies.feature_matching"), "{e}");
    }

    /// A plain MLP discriminator's record is the one written before remedies existed (that
    /// record is this one without its last byte, the absent appended part); remedied ones
    /// round-trip with their spectral-norm vectors and minibatch tensor.
    #[test]
    fn records_of_plain_discriminators_are_unchanged_and_remedied_ones_round_trip() {
        use crate::checkpoint::{record_from_bytes, record_to_bytes};
        let device = ndarray_device();
        let plain = gan(Remedies::default()).d;
        let bytes = record_to_bytes::<B, _>(plain.clone().into_record());
        assert_eq!(bytes.last(), Some(&0u8));
        let old = &bytes[..bytes.len() - 1];
        let fresh = gan_with(Remedies::default(), TrainConfig::sgd(0.5, 0.5)).d.map(&mut Shift(&[0.5; 1000], 0, 1.0));
        let loaded = fresh.load_record(record_from_bytes::<B, _>(old, &device).unwrap());
        assert_eq!(flat_params(&loaded), flat_params(&plain));

        let r = Remedies {
            spectral_norm: Some(SpectralNorm { power_iterations: 3 }),
            minibatch_discrimination: Some(MinibatchDiscrimination { kernels: 4, kernel_dim: 2 }),
            ..Default::default()
        };
        let d = gan(r.clone()).d.power_iteration();
        let bytes = record_to_bytes::<B, _>(d.clone().into_record());
        let other = gan(r).d.map(&mut Shift(&[0.25; 1000], 0, 1.0));
        assert_ne!(flat_params(&other), flat_params(&d));
        let loaded = other.load_record(record_from_bytes::<B, _>(&bytes, &device).unwrap());
        assert_eq!(flat_params(&loaded), flat_params(&d));
        assert_eq!(loaded.spectral_sigmas(), d.spectral_sigmas());
    }

    // The resume test of remedied runs is `tests/remedied_resume.rs` (a process of its own).

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// sd_t stays in [0, sd], never rises, and is 0 from epoch anneal_epochs + 1 on.
        #[test]
        fn instance_noise_schedule_is_a_linear_decay(sd in 0.0f64..3.0, anneal in 1usize..50, epoch in 1usize..80) {
            let n = InstanceNoise { sd, anneal_epochs: anneal };
            let (now, next) = (n.sd_at(epoch), n.sd_at(epoch + 1));
            prop_assert!((0.0..=sd).contains(&now) && next <= now);
            prop_assert_eq!(now == 0.0, epoch > anneal || sd == 0.0);
            if epoch < anneal { prop_assert!((now - next - sd / anneal as f64).abs() < 1e-12); }
        }

        /// Valid configurations pass validate() and survive a YAML round trip.
        #[test]
        fn valid_configurations_round_trip(sd in proptest::option::of(0.0f64..1.0), mm in any::<bool>(), wg in proptest::option::of((0.0f64..20.0, 1usize..6)),
            sn in proptest::option::of(1usize..4), md in proptest::option::of((1usize..8, 1usize..8)), k in 0usize..4, ms in proptest::option::of(0.0f64..2.0)) {
            let r = Remedies {
                instance_noise: sd.map(|sd| InstanceNoise { sd, anneal_epochs: k }),
                minimax: mm && wg.is_none(),
                wgan_gp: wg.map(|(lambda, critic_steps)| WganGp { lambda, critic_steps }),
                spectral_norm: sn.map(|power_iterations| SpectralNorm { power_iterations }),
                minibatch_discrimination: md.map(|(kernels, kernel_dim)| MinibatchDiscrimination { kernels, kernel_dim }),
                feature_matching: false,
                unrolled_steps: k,
                mode_seeking: ms.map(|lambda| ModeSeeking { lambda }),
            };
            prop_assert!(r.validate().is_ok());
            prop_assert_eq!(serde_yaml::from_str::<Remedies>(&serde_yaml::to_string(&r).unwrap()).unwrap(), r);
        }

        /// n identical rows give o_b = n for every kernel, whatever the sizes.
        #[test]
        fn identical_rows_give_the_batch_size(n in 1usize..6, k in 1usize..5, c in 1usize..4, v in -3.0f32..3.0) {
            let mm = Tensor::<crate::backends::NdArray, 1>::from_floats(&vec![v; n * k * c][..], &ndarray_device()).reshape([n, k, c]);
            prop_assert_eq!(to_vec(minibatch_features(mm)), vec![n as f32; n * k]);
        }
    }
}
