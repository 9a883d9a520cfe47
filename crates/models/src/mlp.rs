//! Fully connected generator and discriminator for the Gaussian mixtures (Appendix F.2: "both the
//! generator and the discriminator are implemented as fully-connected neural networks with SGD
//! optimizers"). The paper gives neither widths, depths nor activations; the defaults below are
//! this project's choice (README, "Choices where the paper is silent"): three hidden layers of
//! 128 units, ReLU in the generator, LeakyReLU(0.2) in the discriminator, linear output layers
//! (no tanh: the modes sit at +-1 and their tails must be reachable).
//!
//! The discriminator can carry two architecture remedies ([`MlpConfig::with_remedies`]):
//! spectral normalisation of its Linear weights and minibatch discrimination on its last hidden
//! layer. They live in a part appended to the module ([`Appended`]), so the records of plain
//! discriminators are the ones written before remedies existed.

use burn::config::Config;
use burn::module::{Initializer, Module, Param, ParamId};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::backend::Backend;
use burn::tensor::module::linear;
use burn::tensor::{Distribution, ElementConversion, Tensor};

use crate::checkpoint::Appended;
use crate::nets::{materialize, noise_layer, to_vec, GanDiscriminator, GanGenerator, Mode};
use crate::remedies::{self, MinibatchDiscrimination, Remedies, SpectralNorm};

/// Sizes of the mixture MLPs. The latent dimension equals the data dimension (Assumption 2.2).
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Data dimension n (= latent dimension).
    pub data_dim: usize,
    /// Hidden widths of the generator.
    #[config(default = "vec![128, 128, 128]")]
    pub g_hidden: Vec<usize>,
    /// Hidden widths of the discriminator.
    #[config(default = "vec![128, 128, 128]")]
    pub d_hidden: Vec<usize>,
    /// Negative slope of the discriminator's LeakyReLU.
    #[config(default = 0.2)]
    pub d_slope: f64,
    /// Gaussian noise sd after each hidden layer of the discriminator (Appendix G.7; 0 = off).
    #[config(default = 0.0)]
    pub d_noise_sd: f64,
    /// Spectral normalisation of the discriminator's Linear weights (`remedies.spectral_norm`).
    pub d_spectral_norm: Option<SpectralNorm>,
    /// Minibatch discrimination on the discriminator's last hidden layer
    /// (`remedies.minibatch_discrimination`).
    pub d_minibatch_discrimination: Option<MinibatchDiscrimination>,
}

#[derive(Module, Debug)]
pub struct MlpGenerator<B: Backend> {
    layers: Vec<Linear<B>>,
    latent: usize,
    out: usize,
}

#[derive(Module, Debug)]
pub struct MlpDiscriminator<B: Backend> {
    pub(crate) layers: Vec<Linear<B>>,
    input: usize,
    pub(crate) slope: f64,
    noise_sd: f64,
    /// Architecture remedies; must stay the last field (see [`Appended`]).
    remedy: Appended<MlpRemedyParts<B>>,
}

/// The discriminator's architecture remedies.
#[derive(Module, Debug)]
pub struct MlpRemedyParts<B: Backend> {
    /// Spectral normalisation's persistent u, one per layer (`[out]`; not trained: no gradient
    /// reaches it), empty without spectral normalisation.
    sn_u: Vec<Param<Tensor<B, 1>>>,
    sn_iterations: usize,
    /// Minibatch discrimination's T (`[A, kernels * kernel_dim]`) as a bias-free Linear.
    md: Option<Linear<B>>,
    md_kernels: usize,
    md_dim: usize,
}

fn stack<B: Backend>(sizes: &[usize], device: &B::Device) -> Vec<Linear<B>> {
    sizes.windows(2).map(|w| LinearConfig::new(w[0], w[1]).init(device)).collect()
}

impl MlpConfig {
    /// A new generator with burn's default (Kaiming-uniform) initialisation.
    pub fn init_generator<B: Backend>(&self, device: &B::Device) -> MlpGenerator<B> {
        let mut sizes = vec![self.data_dim];
        sizes.extend(&self.g_hidden);
        sizes.push(self.data_dim);
        materialize(MlpGenerator { layers: stack(&sizes, device), latent: self.data_dim, out: self.data_dim })
    }

    /// A new discriminator (burn's default initialisation). With minibatch discrimination the
    /// output layer takes the last hidden layer's A units plus the `kernels` minibatch features,
    /// and T ~ N(0, 0.05^2) (the authors' code); with spectral normalisation each u starts as a
    /// normalised N(0, I) draw. The weights are drawn first, as in the plain network (without
    /// minibatch discrimination they are the plain network's).
    pub fn init_discriminator<B: Backend>(&self, device: &B::Device) -> MlpDiscriminator<B> {
        let mut sizes = vec![self.data_dim];
        sizes.extend(&self.d_hidden);
        let last_hidden = *sizes.last().expect("data_dim");
        let mut layers = stack(&sizes, device);
        let extra = self.d_minibatch_discrimination.map_or(0, |m| m.kernels);
        layers.push(LinearConfig::new(last_hidden + extra, 1).init(device));
        // burn initialises lazily: draw the weights now, before the remedies' draws.
        let layers = materialize(layers);
        let remedy = (self.d_spectral_norm.is_some() || self.d_minibatch_discrimination.is_some()).then(|| {
            let md = self.d_minibatch_discrimination.map(|m| {
                LinearConfig::new(last_hidden, m.kernels * m.kernel_dim)
                    .with_bias(false)
                    .with_initializer(Initializer::Normal { mean: 0.0, std: 0.05 })
                    .init(device)
            });
            let sn_u = match self.d_spectral_norm {
                None => vec![],
                Some(_) => layers
                    .iter()
                    .map(|l| {
                        let out = l.weight.dims()[1];
                        let u = Tensor::<B, 1>::random([out], Distribution::Normal(0.0, 1.0), device);
                        let n = u.clone().square().sum().sqrt().clamp_min(1e-12);
                        Param::initialized(ParamId::new(), u / n)
                    })
                    .collect(),
            };
            MlpRemedyParts {
                sn_u,
                sn_iterations: self.d_spectral_norm.map_or(0, |s| s.power_iterations),
                md,
                md_kernels: self.d_minibatch_discrimination.map_or(0, |m| m.kernels),
                md_dim: self.d_minibatch_discrimination.map_or(0, |m| m.kernel_dim),
            }
        });
        materialize(MlpDiscriminator { layers, input: self.data_dim, slope: self.d_slope, noise_sd: self.d_noise_sd, remedy: Appended(remedy) })
    }

    /// The architecture remedies of `r` (spectral norm, minibatch discrimination) for the
    /// discriminator; the others are loss-level and need nothing here.
    pub fn with_remedies(mut self, r: &Remedies) -> Self {
        self.d_spectral_norm = r.spectral_norm;
        self.d_minibatch_discrimination = r.minibatch_discrimination;
        self
    }
}

impl<B: Backend> MlpDiscriminator<B> {
    fn sn(&self) -> Option<&MlpRemedyParts<B>> {
        self.remedy.0.as_ref().filter(|p| p.sn_iterations > 0)
    }

    /// Layer `i` applied to `h`, its weight divided by sigma = ||W u|| under spectral norm.
    fn layer(&self, i: usize, h: Tensor<B, 2>) -> Tensor<B, 2> {
        let l = &self.layers[i];
        match self.sn() {
            None => l.forward(h),
            Some(p) => {
                let w = l.weight.val();
                let sigma = remedies::spectral_sigma(w.clone(), p.sn_u[i].val()).reshape([1, 1]);
                linear(h, w / sigma, l.bias.as_ref().map(|b| b.val()))
            }
        }
    }

    /// The last hidden layer (after its activation and noise layer).
    fn hidden(&self, x: Tensor<B, 2>, mode: Mode) -> Tensor<B, 2> {
        (0..self.layers.len() - 1).fold(x, |h, i| noise_layer(leaky_relu(self.layer(i, h), self.slope), self.noise_sd, mode))
    }

    /// Spectral normalisation's current estimates sigma_l = ||W_l u_l|| per layer (empty without it).
    pub fn spectral_sigmas(&self) -> Vec<f64> {
        match self.sn() {
            None => vec![],
            Some(p) => self.layers.iter().zip(&p.sn_u).map(|(l, u)| remedies::spectral_sigma(l.weight.val(), u.val()).into_scalar().elem()).collect(),
        }
    }

    /// The raw (unnormalised) Linear weights as (row-major `[in, out]` values, in, out).
    pub fn weights(&self) -> Vec<(Vec<f32>, usize, usize)> {
        self.layers
            .iter()
            .map(|l| {
                let [i, o] = l.weight.dims();
                (to_vec(l.weight.val()), i, o)
            })
            .collect()
    }
}

impl<B: Backend> GanGenerator<B> for MlpGenerator<B> {
    fn latent_dim(&self) -> usize {
        self.latent
    }
    fn out_dim(&self) -> usize {
        self.out
    }
    fn generate(&self, z: Tensor<B, 2>, _mode: Mode) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        let mut h = z;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i < last {
                h = relu(h);
            }
        }
        h
    }
    fn batch_coupled(&self) -> bool {
        false
    }
}

impl<B: Backend> GanDiscriminator<B> for MlpDiscriminator<B> {
    fn in_dim(&self) -> usize {
        self.input
    }
    fn logits(&self, x: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1> {
        let b = x.dims()[0];
        let mut h = self.hidden(x, mode);
        if let Some(p) = &self.remedy.0 {
            if let Some(t) = &p.md {
                h = remedies::minibatch_discrimination(h, t, p.md_kernels, p.md_dim);
            }
        }
        self.layer(self.layers.len() - 1, h).reshape([b])
    }
    fn batch_coupled(&self) -> bool {
        self.remedy.0.as_ref().is_some_and(|p| p.md.is_some())
    }
    fn noise_sd(&self) -> f64 {
        self.noise_sd
    }
    fn features(&self, x: Tensor<B, 2>, mode: Mode) -> Option<Tensor<B, 2>> {
        Some(self.hidden(x, mode))
    }
    fn power_iteration(mut self) -> Self {
        if let Some(p) = self.remedy.0.as_mut().filter(|p| p.sn_iterations > 0) {
            for (l, u) in self.layers.iter().zip(p.sn_u.iter_mut()) {
                let next = remedies::power_iterate(l.weight.val(), u.val(), p.sn_iterations);
                *u = Param::initialized(u.id, next);
            }
        }
        self
    }
    fn built_remedies(&self) -> Remedies {
        let p = self.remedy.0.as_ref();
        Remedies {
            spectral_norm: p.filter(|p| p.sn_iterations > 0).map(|p| SpectralNorm { power_iterations: p.sn_iterations }),
            minibatch_discrimination: p.filter(|p| p.md.is_some()).map(|p| MinibatchDiscrimination { kernels: p.md_kernels, kernel_dim: p.md_dim }),
            ..Remedies::default()
        }
    }
}
