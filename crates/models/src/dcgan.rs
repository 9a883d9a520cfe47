//! DCGAN-style convolutional generator and discriminator (Radford et al. 2016) for the image
//! experiments: transposed convolutions with BatchNorm and ReLU and a Tanh output in the
//! generator; strided convolutions with LeakyReLU(0.2) and (optionally) BatchNorm in the
//! discriminator; weights N(0, 0.02), BatchNorm scales N(1, 0.02). Latent 100; 28x28, 32x32 or
//! 64x64 images with 1 or 3 channels. Appendix F says only "convolutional neural networks with
//! Adam optimizers"; the trainer's DCGAN preset uses Adam(lr 2e-4, betas (0.5, 0.999)).
//!
//! Layouts (f = `features`; spatial size per layer):
//! - 64: G 1 -> 4 -> 8 -> 16 -> 32 -> 64 (8f, 4f, 2f, f, c); D 64 -> 32 -> 16 -> 8 -> 4 -> 1
//! - 32: G 1 -> 4 -> 8 -> 16 -> 32 (4f, 2f, f, c);           D 32 -> 16 -> 8 -> 4 -> 1
//! - 28: G 1 -> 7 -> 14 -> 28 (2f, f, c);                    D 28 -> 14 -> 7 -> 1

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::{leaky_relu, relu, tanh};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

use crate::nets::{batch_norm, materialize, noise_layer, GanDiscriminator, GanGenerator, Mode};

#[derive(Config, Debug)]
pub struct DcganConfig {
    #[config(default = 100)]
    pub latent_dim: usize,
    /// 28, 32 or 64.
    #[config(default = 32)]
    pub image_size: usize,
    /// 1 or 3.
    #[config(default = 1)]
    pub channels: usize,
    /// Base width f of the generator.
    #[config(default = 64)]
    pub g_features: usize,
    /// Base width f of the discriminator.
    #[config(default = 64)]
    pub d_features: usize,
    /// BatchNorm in the discriminator's inner layers (DCGAN does; the per-sample discriminator
    /// gradient is then coupled across the batch in training mode).
    #[config(default = true)]
    pub d_batchnorm: bool,
    /// Gaussian noise sd after each intermediate discriminator layer (Appendix G.7; 0 = off).
    #[config(default = 0.0)]
    pub d_noise_sd: f64,
}

/// Invalid DCGAN sizes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DcganError {
    #[error("invalid DCGAN setting `{0}`: {1}")]
    Invalid(&'static str, String),
}

#[derive(Module, Debug)]
pub struct DcganGenerator<B: Backend> {
    convs: Vec<ConvTranspose2d<B>>,
    bns: Vec<BatchNorm<B>>,
    latent: usize,
    channels: usize,
    size: usize,
}

#[derive(Module, Debug)]
pub struct DcganDiscriminator<B: Backend> {
    convs: Vec<Conv2d<B>>,
    bns: Vec<BatchNorm<B>>,
    channels: usize,
    size: usize,
    noise_sd: f64,
}

const W_INIT: Initializer = Initializer::Normal { mean: 0.0, std: 0.02 };

fn bn<B: Backend>(c: usize, device: &B::Device) -> BatchNorm<B> {
    let mut b: BatchNorm<B> = BatchNormConfig::new(c).init(device);
    // DCGAN: BatchNorm scale ~ N(1, 0.02), shift 0.
    let g = Tensor::random([c], Distribution::Normal(1.0, 0.02), device);
    b.gamma = Param::from_tensor(g);
    b
}

impl DcganConfig {
    /// (start size, number of stride-2 layers) of the layout for `image_size`.
    fn layout(&self) -> Result<(usize, usize), DcganError> {
        if self.channels != 1 && self.channels != 3 {
            return Err(DcganError::Invalid("channels", format!("must be 1 or 3, got {}", self.channels)));
        }
        if self.latent_dim == 0 || self.g_features == 0 || self.d_features == 0 {
            return Err(DcganError::Invalid("latent_dim/features", "must be >= 1".into()));
        }
        match self.image_size {
            64 => Ok((4, 4)),
            32 => Ok((4, 3)),
            28 => Ok((7, 2)),
            s => Err(DcganError::Invalid("image_size", format!("must be 28, 32 or 64, got {s}"))),
        }
    }

    /// Number of values of one image (channels * size * size).
    pub fn image_dim(&self) -> usize {
        self.channels * self.image_size * self.image_size
    }

    pub fn init_generator<B: Backend>(&self, device: &B::Device) -> Result<DcganGenerator<B>, DcganError> {
        let (start, ups) = self.layout()?;
        let f = self.g_features;
        // widths: f * 2^(ups-1), ..., f, then channels
        let widths: Vec<usize> = (0..ups).rev().map(|k| f << k).collect();
        let mut convs = Vec::new();
        let mut bns = Vec::new();
        convs.push(
            ConvTranspose2dConfig::new([self.latent_dim, widths[0]], [start, start])
                .with_bias(false)
                .with_initializer(W_INIT)
                .init(device),
        );
        bns.push(bn(widths[0], device));
        for k in 0..ups {
            let c_in = widths[k];
            let c_out = if k + 1 < ups { widths[k + 1] } else { self.channels };
            convs.push(
                ConvTranspose2dConfig::new([c_in, c_out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1])
                    .with_bias(k + 1 == ups)
                    .with_initializer(W_INIT)
                    .init(device),
            );
            if k + 1 < ups {
                bns.push(bn(c_out, device));
            }
        }
        Ok(materialize(DcganGenerator { convs, bns, latent: self.latent_dim, channels: self.channels, size: self.image_size }))
    }

    pub fn init_discriminator<B: Backend>(&self, device: &B::Device) -> Result<DcganDiscriminator<B>, DcganError> {
        let (start, downs) = self.layout()?;
        let f = self.d_features;
        let widths: Vec<usize> = (0..downs).map(|k| f << k).collect();
        let mut convs = Vec::new();
        let mut bns = Vec::new();
        for k in 0..downs {
            let c_in = if k == 0 { self.channels } else { widths[k - 1] };
            convs.push(
                Conv2dConfig::new([c_in, widths[k]], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_bias(k == 0 || !self.d_batchnorm)
                    .with_initializer(W_INIT)
                    .init(device),
            );
            if k > 0 && self.d_batchnorm {
                bns.push(bn(widths[k], device));
            }
        }
        convs.push(
            Conv2dConfig::new([widths[downs - 1], 1], [start, start])
                .with_initializer(W_INIT)
                .init(device),
        );
        Ok(materialize(DcganDiscriminator { convs, bns, channels: self.channels, size: self.image_size, noise_sd: self.d_noise_sd }))
    }
}

impl<B: Backend> GanGenerator<B> for DcganGenerator<B> {
    fn latent_dim(&self) -> usize {
        self.latent
    }
    fn out_dim(&self) -> usize {
        self.channels * self.size * self.size
    }
    fn generate(&self, z: Tensor<B, 2>, mode: Mode) -> Tensor<B, 2> {
        let b = z.dims()[0];
        let mut h: Tensor<B, 4> = z.reshape([b, self.latent, 1, 1]);
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward(h);
            if i < last {
                h = relu(batch_norm(&self.bns[i], h, mode));
            }
        }
        tanh(h).reshape([b, self.out_dim()])
    }
    fn batch_coupled(&self) -> bool {
        true
    }
}

impl<B: Backend> GanDiscriminator<B> for DcganDiscriminator<B> {
    fn in_dim(&self) -> usize {
        self.channels * self.size * self.size
    }
    fn logits(&self, x: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1> {
        let b = x.dims()[0];
        let mut h: Tensor<B, 4> = x.reshape([b, self.channels, self.size, self.size]);
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward(h);
            if i < last {
                if i > 0 && !self.bns.is_empty() {
                    h = batch_norm(&self.bns[i - 1], h, mode);
                }
                h = noise_layer(leaky_relu(h, 0.2), self.noise_sd, mode);
            }
        }
        h.reshape([b])
    }
    fn batch_coupled(&self) -> bool {
        !self.bns.is_empty()
    }
    fn noise_sd(&self) -> f64 {
        self.noise_sd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{ndarray_device, NdArray};

    #[test]
    fn shapes_for_every_size_and_channel_count() {
        let device = ndarray_device();
        let _l = crate::backends::rng_lock(); // backend RNG draws below
        for size in [28, 32, 64] {
            for ch in [1, 3] {
                let cfg = DcganConfig::new().with_image_size(size).with_channels(ch).with_g_features(4).with_d_features(4);
                let g = cfg.init_generator::<NdArray>(&device).unwrap();
                let d = cfg.init_discriminator::<NdArray>(&device).unwrap();
                let z = Tensor::<NdArray, 2>::random([3, 100], Distribution::Normal(0.0, 1.0), &device);
                let x = g.generate(z, Mode::Train);
                assert_eq!(x.dims(), [3, ch * size * size]);
                assert_eq!(d.logits(x, Mode::Train).dims(), [3]);
            }
        }
        let bad = DcganConfig::new().with_image_size(48);
        assert!(bad.init_generator::<NdArray>(&device).unwrap_err().to_string().contains("image_size"));
    }
}
