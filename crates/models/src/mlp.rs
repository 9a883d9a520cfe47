//! Fully connected generator and discriminator for the Gaussian mixtures (Appendix F.2: "both the
//! generator and the discriminator are implemented as fully-connected neural networks with SGD
//! optimizers"). The paper gives neither widths, depths nor activations; the defaults below are
//! this project's choice (README, "Choices where the paper is silent"): three hidden layers of
//! 128 units, ReLU in the generator, LeakyReLU(0.2) in the discriminator, linear output layers
//! (no tanh: the modes sit at +-1 and their tails must be reachable).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{leaky_relu, relu};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::nets::{materialize, noise_layer, GanDiscriminator, GanGenerator, Mode};

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
}

#[derive(Module, Debug)]
pub struct MlpGenerator<B: Backend> {
    layers: Vec<Linear<B>>,
    latent: usize,
    out: usize,
}

#[derive(Module, Debug)]
pub struct MlpDiscriminator<B: Backend> {
    layers: Vec<Linear<B>>,
    input: usize,
    slope: f64,
    noise_sd: f64,
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

    pub fn init_discriminator<B: Backend>(&self, device: &B::Device) -> MlpDiscriminator<B> {
        let mut sizes = vec![self.data_dim];
        sizes.extend(&self.d_hidden);
        sizes.push(1);
        materialize(MlpDiscriminator { layers: stack(&sizes, device), input: self.data_dim, slope: self.d_slope, noise_sd: self.d_noise_sd })
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
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(h);
            if i < last {
                h = noise_layer(leaky_relu(h, self.slope), self.noise_sd, mode);
            }
        }
        let b = h.dims()[0];
        h.reshape([b])
    }
    fn batch_coupled(&self) -> bool {
        false
    }
    fn noise_sd(&self) -> f64 {
        self.noise_sd
    }
}
