//! What the training loop and the probes need from a generator and a discriminator, whatever
//! their architecture: flat inputs and outputs (`[batch, features]`; image networks reshape
//! inside), and an explicit [`Mode`] instead of burn's implicit "autodiff backend = training".
//!
//! burn 0.21's `BatchNorm::forward` picks batch statistics whenever the backend is an autodiff
//! backend and updates its running statistics as a side effect. The steepness probe must
//! differentiate the generator *in inference mode* without touching those statistics, so the
//! networks here call [`batch_norm`] with the mode given by the caller.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};

/// Training (batch statistics, running statistics updated, noise layers active) or inference
/// (running statistics, no side effects, no noise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// A generator g: R^latent -> R^out, batched as `[batch, latent] -> [batch, out]`.
pub trait GanGenerator<B: Backend>: Module<B> {
    fn latent_dim(&self) -> usize;
    fn out_dim(&self) -> usize;
    fn generate(&self, z: Tensor<B, 2>, mode: Mode) -> Tensor<B, 2>;
    /// Whether samples of a batch interact in `Mode::Train` (BatchNorm). In `Mode::Eval` they
    /// never do.
    fn batch_coupled(&self) -> bool;
}

/// A discriminator returning logits l(x), d(x) = sigmoid(l(x)), batched as `[batch, in] -> [batch]`.
pub trait GanDiscriminator<B: Backend>: Module<B> {
    fn in_dim(&self) -> usize;
    fn logits(&self, x: Tensor<B, 2>, mode: Mode) -> Tensor<B, 1>;
    /// Whether samples of a batch interact in `Mode::Train` (BatchNorm).
    fn batch_coupled(&self) -> bool;
    /// Standard deviation of the Gaussian noise added after each intermediate layer in
    /// `Mode::Train` (Appendix G.7: 0.1 in the paper's noised GAN; 0 = noise-free).
    fn noise_sd(&self) -> f64;
}

/// Batch normalisation with an explicit mode; same arithmetic as burn's `BatchNorm` (whose public
/// parameters and running statistics it uses, so records stay burn's), but `Mode::Eval` never
/// updates the running statistics, on any backend.
pub fn batch_norm<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>, mode: Mode) -> Tensor<B, D> {
    let dims = x.dims();
    let channels = dims[1];
    let mut shape = [1; D];
    shape[1] = channels;
    let device = x.device();
    let (mean, var) = match mode {
        Mode::Eval => (
            bn.running_mean.value_sync().to_device(&device).reshape(shape),
            bn.running_var.value_sync().to_device(&device).reshape(shape),
        ),
        Mode::Train => {
            let flat: usize = dims.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, d)| *d).product();
            let mean = x.clone().swap_dims(0, 1).reshape([channels, flat]).mean_dim(1).reshape(shape);
            let var = x
                .clone()
                .sub(mean.clone())
                .square()
                .swap_dims(0, 1)
                .reshape([channels, flat])
                .mean_dim(1)
                .reshape(shape);
            let m = bn.momentum;
            let rm = bn.running_mean.value_sync().to_device(&device);
            let rv = bn.running_var.value_sync().to_device(&device);
            bn.running_mean
                .update(rm.mul_scalar(1.0 - m).add(mean.clone().detach().mul_scalar(m).reshape([channels])).detach());
            bn.running_var
                .update(rv.mul_scalar(1.0 - m).add(var.clone().detach().mul_scalar(m).reshape([channels])).detach());
            (mean, var)
        }
    };
    let std = var.add_scalar(bn.epsilon).sqrt();
    x.sub(mean)
        .div(std)
        .mul(bn.gamma.val().reshape(shape))
        .add(bn.beta.val().reshape(shape))
}

/// Adds N(0, sd^2) noise in `Mode::Train` when `sd > 0` (Appendix G.7); identity otherwise.
/// Draws from the backend's RNG, which the trainer seeds per step under [`crate::backends::rng_lock`].
pub fn noise_layer<B: Backend, const D: usize>(x: Tensor<B, D>, sd: f64, mode: Mode) -> Tensor<B, D> {
    if sd > 0.0 && mode == Mode::Train {
        let n = Tensor::random(x.shape(), Distribution::Normal(0.0, sd), &x.device());
        x + n
    } else {
        x
    }
}

/// A `[rows, cols]` tensor from row-major f32 values.
pub fn tensor2<B: Backend>(values: Vec<f32>, rows: usize, cols: usize, device: &B::Device) -> Tensor<B, 2> {
    assert_eq!(values.len(), rows * cols, "tensor2: {} values for [{rows}, {cols}]", values.len());
    Tensor::from_data(TensorData::new(values, [rows, cols]), device)
}

/// The values of any float tensor as f32, row-major.
pub fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec::<f32>().expect("f32 data after convert")
}

/// Forces every parameter of `module` to be initialised now. burn 0.21 initialises parameters
/// lazily, on first use, and each *clone* of a not-yet-used module initialises on its own with
/// fresh random draws; the training step and the probes clone modules, so without this the
/// clones would hold different weights. Every `init_*` of this crate calls it, so that the
/// weights are drawn right away from the RNG state the caller seeded.
pub fn materialize<B: Backend, M: Module<B>>(module: M) -> M {
    struct V;
    impl<B: Backend> burn::module::ModuleVisitor<B> for V {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
            let _ = param.val();
        }
    }
    module.visit(&mut V);
    module
}
