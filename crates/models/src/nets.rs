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
///
/// `EvalWithNoise` is inference with the discriminator's noise layers left on: BatchNorm reads
/// its running statistics (no side effects, samples independent) but the Gaussian noise of
/// Appendix G.7 is drawn as in training, from the backend RNG (the caller seeds it under
/// [`crate::backends::rng_lock`]). It exists for evaluating a noised discriminator the way it
/// was trained (fig7/fig21); networks without noise layers treat it as `Eval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
    EvalWithNoise,
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
    /// The last hidden layer's activations f(x) (`[batch, features]`, as the next layer sees
    /// them), for feature matching (Salimans et al. 2016); `None` where the network does not
    /// expose them (the DCGAN).
    fn features(&self, _x: Tensor<B, 2>, _mode: Mode) -> Option<Tensor<B, 2>> {
        None
    }
    /// Advances the state a discriminator keeps across its updates, before each optimizer step:
    /// spectral normalisation's power iteration (Miyato et al. 2018, Algorithm 1, one per
    /// update). Identity by default. Forward passes themselves never change that state, so
    /// evaluations and clones trained elsewhere (duality gaps) leave the training state alone.
    fn power_iteration(self) -> Self {
        self
    }
    /// The architecture remedies this network was built with (`spectral_norm`,
    /// `minibatch_discrimination`; everything else default), checked by [`crate::Gan::try_new`].
    fn built_remedies(&self) -> crate::remedies::Remedies {
        crate::remedies::Remedies::default()
    }
}

/// Batch normalisation with an explicit mode; same arithmetic as burn's `BatchNorm` (whose public
/// parameters and running statistics it uses, so records stay burn's), but `Mode::Eval` never
/// updates the running statistics, on any backend.
///
/// Written so that every full-size tensor stays contiguous and every broadcast is one that
/// burn-flex's SIMD kernels take (README, "Training-step speed"): the input is viewed as
/// `[batch, channels, rest]` (a free reshape), the per-channel statistics are reduced over the
/// last axis and then the batch axis (contiguous reductions; the mean of equal-sized group means
/// is the mean), and the per-channel scale and shift are repeated to `[batch, channels, 1]`
/// (batch x channels values) before they meet the activations, so each element-wise op is a
/// "per-row scalar" broadcast. The former `swap_dims(0, 1)` + reshape for the statistics and
/// `[1, C, 1, 1]` broadcasts made burn-flex copy and walk the activations element by element
/// (`StridedIter`). y = (x - mean) * (gamma / sqrt(var + eps)) + beta is the same function.
///
/// In `Mode::Train` on the autodiff backends of [`crate::backends`] the normalisation is one
/// operation with its closed-form gradient (module `batch_norm`: fused kernels on burn-flex);
/// the tensor ops below serve the other backends and `Mode::Eval`.
pub fn batch_norm<B: Backend, const D: usize>(bn: &BatchNorm<B>, x: Tensor<B, D>, mode: Mode) -> Tensor<B, D> {
    let dims = x.dims();
    let (batch, channels) = (dims[0], dims[1]);
    let rest: usize = dims[2..].iter().product();
    let device = x.device();
    let x3: Tensor<B, 3> = x.reshape([batch, channels, rest]);
    // [1, C, 1] -> [batch, C, 1], contiguous.
    let per_row = |t: Tensor<B, 3>| t.repeat_dim(0, batch);
    let (centered, var) = match mode {
        Mode::Eval | Mode::EvalWithNoise => {
            let mean = bn.running_mean.value_sync().to_device(&device).reshape([1, channels, 1]);
            let var = bn.running_var.value_sync().to_device(&device).reshape([1, channels, 1]);
            (x3.sub(per_row(mean)), var)
        }
        Mode::Train => {
            // The running statistics: an exponential average of the batch mean and (biased)
            // variance, as burn's BatchNorm.
            let update = |mean: Tensor<B, 1>, var: Tensor<B, 1>| {
                let m = bn.momentum;
                let rm = bn.running_mean.value_sync().to_device(&device);
                let rv = bn.running_var.value_sync().to_device(&device);
                bn.running_mean.update(rm.mul_scalar(1.0 - m).add(mean.detach().mul_scalar(m)).detach());
                bn.running_var.update(rv.mul_scalar(1.0 - m).add(var.detach().mul_scalar(m)).detach());
            };
            // On the autodiff backends: one operation with its closed-form gradient.
            let x3 = match crate::batch_norm::train(x3, bn.gamma.val(), bn.beta.val(), bn.epsilon) {
                Ok((y, mean, var)) => {
                    update(mean, var);
                    return y.reshape(dims);
                }
                Err(x3) => x3,
            };
            let mean = x3.clone().mean_dim(2).mean_dim(0);
            let centered = x3.sub(per_row(mean.clone()));
            let var = centered.clone().square().mean_dim(2).mean_dim(0);
            update(mean.reshape([channels]), var.clone().reshape([channels]));
            (centered, var)
        }
    };
    let scale = bn.gamma.val().reshape([1, channels, 1]).div(var.add_scalar(bn.epsilon).sqrt());
    let shift = bn.beta.val().reshape([1, channels, 1]);
    centered.mul(per_row(scale)).add(per_row(shift)).reshape(dims)
}

/// Adds N(0, sd^2) noise in `Mode::Train` and `Mode::EvalWithNoise` when `sd > 0` (Appendix
/// G.7); identity otherwise. Draws from the backend's RNG, which the trainer seeds per step under
/// [`crate::backends::rng_lock`].
pub fn noise_layer<B: Backend, const D: usize>(x: Tensor<B, D>, sd: f64, mode: Mode) -> Tensor<B, D> {
    if sd > 0.0 && mode != Mode::Eval {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{flex_device, ndarray_device, Flex, NdArray};
    use burn::nn::BatchNormConfig;

    fn values(n: usize) -> Vec<f32> {
        // deterministic, irregular, both signs
        (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0 + (i % 7) as f32 * 0.01).collect()
    }

    /// `batch_norm` in training mode against the textbook per-channel computation in f64,
    /// outputs and running statistics, on both CPU backends.
    fn batch_norm_matches_direct<B: Backend>(device: &B::Device) {
        let (b, c, h, w) = (4, 3, 5, 2);
        let x = values(b * c * h * w);
        let mut bn: BatchNorm<B> = BatchNormConfig::new(c).init(device);
        bn.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vec![1.5f32, -0.5, 2.0], [c]), device));
        bn.beta = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(vec![0.1f32, 0.2, -0.3], [c]), device));
        let xt: Tensor<B, 4> = Tensor::from_data(TensorData::new(x.clone(), [b, c, h, w]), device);
        let y = to_vec(batch_norm(&bn, xt.clone(), Mode::Train));
        let (gamma, beta) = ([1.5f64, -0.5, 2.0], [0.1f64, 0.2, -0.3]);
        let idx = |i: usize, ch: usize, s: usize| (i * c + ch) * h * w + s;
        let rm = to_vec(bn.running_mean.value_sync());
        let rv = to_vec(bn.running_var.value_sync());
        for ch in 0..c {
            let vals: Vec<f64> = (0..b).flat_map(|i| (0..h * w).map(move |s| (i, s))).map(|(i, s)| x[idx(i, ch, s)] as f64).collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
            for i in 0..b {
                for s in 0..h * w {
                    let want = (x[idx(i, ch, s)] as f64 - mean) / (var + 1e-5).sqrt() * gamma[ch] + beta[ch];
                    let got = y[idx(i, ch, s)] as f64;
                    assert!((got - want).abs() < 1e-5 * (1.0 + want.abs()), "channel {ch}: {got} vs {want}");
                }
            }
            // momentum 0.1 from (0, 1)
            assert!((rm[ch] as f64 - 0.1 * mean).abs() < 1e-6, "running mean {ch}");
            assert!((rv[ch] as f64 - (0.9 + 0.1 * var)).abs() < 1e-6, "running var {ch}");
        }
        // inference mode uses the running statistics and leaves them alone
        let ye = to_vec(batch_norm(&bn, xt, Mode::Eval));
        assert_eq!(to_vec(bn.running_mean.value_sync()), rm);
        for ch in 0..c {
            let want = (x[idx(1, ch, 3)] as f64 - rm[ch] as f64) / (rv[ch] as f64 + 1e-5).sqrt() * gamma[ch] + beta[ch];
            assert!((ye[idx(1, ch, 3)] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()));
        }
    }

    #[test]
    fn batch_norm_is_the_textbook_one_on_both_cpu_backends() {
        batch_norm_matches_direct::<Flex>(&flex_device());
        batch_norm_matches_direct::<NdArray>(&ndarray_device());
    }

    /// The carried burn-flex patch (patches/burn-flex): materialising N-D strided views (the
    /// `swap_dims(0, 1)` of NCHW that burn's conv backward passes make, permutations, narrowed
    /// views) gives the values a direct index computation gives.
    #[test]
    fn flex_copies_of_strided_views_are_exact() {
        let device = flex_device();
        let dims = [3usize, 4, 5, 6];
        let v = values(dims.iter().product());
        let t: Tensor<Flex, 4> = Tensor::from_data(TensorData::new(v.clone(), dims), &device);
        let at = |i: [usize; 4]| v[((i[0] * 4 + i[1]) * 5 + i[2]) * 6 + i[3]];
        // swap_dims(0, 1): [4, 3, 5, 6]
        let s = to_vec(t.clone().swap_dims(0, 1).reshape([4 * 3 * 5 * 6]));
        let mut want = vec![];
        for a in 0..4 {
            for b in 0..3 {
                for c in 0..5 {
                    for d in 0..6 {
                        want.push(at([b, a, c, d]));
                    }
                }
            }
        }
        assert_eq!(s, want);
        // permute [2, 0, 3, 1]: out[a][b][c][d] = in[b][d][a][c]
        let p = to_vec(t.clone().permute([2, 0, 3, 1]));
        let mut want = vec![];
        for a in 0..5 {
            for b in 0..3 {
                for c in 0..6 {
                    for d in 0..4 {
                        want.push(at([b, d, a, c]));
                    }
                }
            }
        }
        assert_eq!(p, want);
        // narrowed (offset, gaps) then swapped: [3, 4, 5, 6] -> [2, 4, 5, 3] -> [4, 2, 5, 3]
        let n = to_vec(t.narrow(3, 2, 3).narrow(0, 1, 2).swap_dims(0, 1).reshape([4 * 2 * 5 * 3]));
        let mut want = vec![];
        for a in 0..4 {
            for b in 0..2 {
                for c in 0..5 {
                    for d in 0..3 {
                        want.push(at([b + 1, a, c, d + 2]));
                    }
                }
            }
        }
        assert_eq!(n, want);
    }

    /// Gradients of `x`, weight and bias of `conv2d` and `conv_transpose2d` on Flex (whose weight
    /// gradients and transposed convolution the carried patch computes, patches/burn-flex) against
    /// burn-ndarray, over strides, paddings, dilations, groups and output paddings.
    #[test]
    fn flex_conv_gradients_agree_with_ndarray() {
        use burn::backend::Autodiff;
        use burn::tensor::module::{conv2d, conv_transpose2d};
        use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};

        fn grads<B: burn::tensor::backend::AutodiffBackend>(
            device: &B::Device,
            transpose: bool,
            x: &[f32],
            xs: [usize; 4],
            w: &[f32],
            ws: [usize; 4],
            bias: &[f32],
            s: [usize; 2],
            p: [usize; 2],
            d: [usize; 2],
            po: [usize; 2],
            groups: usize,
        ) -> [Vec<f32>; 4] {
            let x = Tensor::<B, 4>::from_data(TensorData::new(x.to_vec(), xs), device).require_grad();
            let w = Tensor::<B, 4>::from_data(TensorData::new(w.to_vec(), ws), device).require_grad();
            let b = Tensor::<B, 1>::from_data(TensorData::new(bias.to_vec(), [bias.len()]), device).require_grad();
            let y = if transpose {
                conv_transpose2d(x.clone(), w.clone(), Some(b.clone()), ConvTransposeOptions::new(s, p, po, d, groups))
            } else {
                conv2d(x.clone(), w.clone(), Some(b.clone()), ConvOptions::new(s, p, d, groups))
            };
            // A weighted sum, so that every output position has its own gradient.
            let n = y.dims().iter().product::<usize>();
            let wts: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32 - 14.0) / 7.0).collect();
            let loss = (y.clone() * Tensor::<B, 4>::from_data(TensorData::new(wts, y.dims()), device)).sum();
            let g = loss.backward();
            let v = |t: Tensor<B::InnerBackend, 4>| t.into_data().to_vec::<f32>().unwrap();
            [
                to_vec(y.inner()),
                v(x.grad(&g).unwrap()),
                v(w.grad(&g).unwrap()),
                b.grad(&g).unwrap().into_data().to_vec::<f32>().unwrap(),
            ]
        }
        // (transpose, x dims, c_out, kernel, stride, padding, dilation, output padding, groups)
        let cases = [
            (false, [6, 1, 28, 28], 16, [4, 4], [2, 2], [1, 1], [1, 1], [0, 0], 1),
            (false, [5, 16, 14, 14], 32, [4, 4], [2, 2], [1, 1], [1, 1], [0, 0], 1),
            (false, [3, 32, 7, 7], 1, [7, 7], [1, 1], [0, 0], [1, 1], [0, 0], 1),
            (false, [4, 6, 9, 8], 4, [3, 2], [2, 1], [2, 0], [2, 1], [0, 0], 2),
            (true, [6, 20, 1, 1], 32, [7, 7], [1, 1], [0, 0], [1, 1], [0, 0], 1),
            (true, [5, 32, 7, 7], 16, [4, 4], [2, 2], [1, 1], [1, 1], [0, 0], 1),
            (true, [4, 16, 14, 14], 1, [4, 4], [2, 2], [1, 1], [1, 1], [0, 0], 1),
            (true, [3, 6, 5, 4], 4, [3, 3], [2, 3], [1, 2], [1, 2], [1, 2], 2),
        ];
        for (i, &(transpose, xs, c_out, k, s, p, d, po, groups)) in cases.iter().enumerate() {
            let ws = if transpose { [xs[1], c_out / groups, k[0], k[1]] } else { [c_out, xs[1] / groups, k[0], k[1]] };
            let x = values(xs.iter().product());
            let w: Vec<f32> = values(ws.iter().product::<usize>() + 3)[3..].iter().map(|v| v * 0.1).collect();
            let bias: Vec<f32> = (0..c_out).map(|c| c as f32 * 0.05 - 0.1).collect();
            let ours = grads::<Autodiff<Flex>>(&flex_device(), transpose, &x, xs, &w, ws, &bias, s, p, d, po, groups);
            let reference = grads::<Autodiff<NdArray>>(&ndarray_device(), transpose, &x, xs, &w, ws, &bias, s, p, d, po, groups);
            for (what, (a, b)) in ["output", "x grad", "weight grad", "bias grad"].iter().zip(ours.iter().zip(&reference)) {
                assert_eq!(a.len(), b.len(), "case {i} {what}");
                let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
                for (j, (u, v)) in a.iter().zip(b).enumerate() {
                    assert!((u - v).abs() <= 2e-5 * scale, "case {i} {what}[{j}]: flex {u} vs ndarray {v}");
                }
            }
        }
    }
}
