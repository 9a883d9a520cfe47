//! Training-mode batch normalisation as one autodiff operation (Ioffe & Szegedy 2015), with its
//! gradient in closed form.
//!
//! Written out of burn's tensor ops (the other path of `nets::batch_norm`), a training-mode
//! BatchNorm is about six passes over the activations forward and ten backward (sub, square, two
//! reductions, mul, add, and the backward of each, broadcasts materialised): about 15% of a 32x32
//! DCGAN step and 20% of a 28x28 one on burn-flex (measured by removing the layers). As one
//! operation:
//!
//! - forward: per channel mean and (biased) variance over batch and positions, then
//!   y = (x - mean) * (gamma / sqrt(var + eps)) + beta;
//! - backward, with M = batch x positions and xhat = (x - mean) / sqrt(var + eps):
//!   dbeta = sum dy, dgamma = sum dy xhat,
//!   dx = gamma / sqrt(var + eps) * (dy - dbeta / M - xhat * dgamma / M),
//!
//! the textbook gradient of the same function. On burn-flex (f32) each is one fused kernel:
//! the statistics and reductions accumulate in f64, one channel per task (the sums' order
//! depends on the shapes only, so the result is the same on any number of threads), and the
//! output is written in one pass. On other backends the same formulas run as burn tensor ops.
//!
//! `nets::batch_norm` takes this path in `Mode::Train` on the autodiff backends of
//! `backends` (found by type at run time: the model code stays generic over `B: Backend`,
//! and every other backend keeps the tensor-op path).

use std::any::Any;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, TensorData, TensorPrimitive};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// Moves `t` to type `U` when it is one (the same type behind a generic parameter).
fn cast<T: 'static, U: 'static>(t: T) -> Result<U, T> {
    let b: Box<dyn Any> = Box::new(t);
    match b.downcast::<U>() {
        Ok(u) => Ok(*u),
        Err(b) => Err(*b.downcast::<T>().expect("the value's own type")),
    }
}

/// Training-mode BatchNorm of `x` (`[batch, channels, positions]`) when `B` is one of the
/// autodiff backends of [`crate::backends`]: `(y, mean, biased variance)`, the statistics
/// detached. `Err(x)` on any other backend.
pub(crate) fn train<B: Backend>(
    x: Tensor<B, 3>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    eps: f64,
) -> Result<(Tensor<B, 3>, Tensor<B, 1>, Tensor<B, 1>), Tensor<B, 3>> {
    macro_rules! on {
        ($inner:ty, $x:expr) => {
            match cast::<Tensor<B, 3>, Tensor<Autodiff<$inner>, 3>>($x) {
                Ok(x) => {
                    let gamma = cast::<_, Tensor<Autodiff<$inner>, 1>>(gamma).ok().expect("same backend as x");
                    let beta = cast::<_, Tensor<Autodiff<$inner>, 1>>(beta).ok().expect("same backend as x");
                    let (y, mean, var) = autodiff_train::<$inner>(x, gamma, beta, eps);
                    let back = |t| cast::<Tensor<Autodiff<$inner>, 1>, Tensor<B, 1>>(t).ok().expect("B is this backend");
                    return Ok((cast(y).ok().expect("B is this backend"), back(mean), back(var)));
                }
                Err(x) => x,
            }
        };
    }
    let x = on!(Flex, x);
    let x = on!(crate::backends::NdArray, x);
    #[cfg(feature = "cuda")]
    let x = on!(crate::backends::Cuda, x);
    Err(x)
}

/// The operation on `Autodiff<I>`: forward on the inner backend, the closed-form backward.
fn autodiff_train<I: Backend>(
    x: Tensor<Autodiff<I>, 3>,
    gamma: Tensor<Autodiff<I>, 1>,
    beta: Tensor<Autodiff<I>, 1>,
    eps: f64,
) -> (Tensor<Autodiff<I>, 3>, Tensor<Autodiff<I>, 1>, Tensor<Autodiff<I>, 1>) {
    let (x, gamma, beta) = (float(x), float(gamma), float(beta));
    let fwd = forward::<I>(x.primitive.clone(), gamma.primitive.clone(), beta.primitive.clone(), eps);
    let stats = (fwd.mean.clone(), fwd.var.clone());
    let prep = <BatchNormBackward as Backward<I, 3>>::prepare::<NoCheckpointing>(BatchNormBackward, [x.node.clone(), gamma.node.clone(), beta.node.clone()]);
    let y = match prep.compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish(
            State { x: x.primitive, mean: fwd.mean, inv_std: fwd.inv_std, gamma: gamma.primitive },
            fwd.y,
        ),
        OpsKind::UnTracked(prep) => prep.finish(fwd.y),
    };
    let lift = |t: FloatTensor<I>| Tensor::<Autodiff<I>, 1>::from_inner(Tensor::from_primitive(TensorPrimitive::Float(t)));
    (Tensor::from_primitive(TensorPrimitive::Float(y)), lift(stats.0), lift(stats.1))
}

fn float<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

#[derive(Debug)]
struct BatchNormBackward;

/// What the backward needs: the input, the statistics and the scale (inner-backend tensors).
#[derive(Clone, Debug)]
struct State<I: Backend> {
    x: FloatTensor<I>,
    mean: FloatTensor<I>,
    inv_std: FloatTensor<I>,
    gamma: FloatTensor<I>,
}

impl<I: Backend> Backward<I, 3> for BatchNormBackward {
    type State = State<I>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<I>(&ops.node);
        let s = ops.state;
        let g = backward::<I>(s.x, s.mean, s.inv_std, s.gamma, dy);
        if let Some(node) = node_x {
            grads.register::<I>(node.id, g.dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<I>(node.id, g.dgamma);
        }
        if let Some(node) = node_beta {
            grads.register::<I>(node.id, g.dbeta);
        }
    }
}

/// Forward results on the inner backend; `mean`, `var` (biased) and `inv_std` are `[channels]`.
struct Forward<I: Backend> {
    y: FloatTensor<I>,
    mean: FloatTensor<I>,
    var: FloatTensor<I>,
    inv_std: FloatTensor<I>,
}

struct Grads<I: Backend> {
    dx: FloatTensor<I>,
    dgamma: FloatTensor<I>,
    dbeta: FloatTensor<I>,
}

fn forward<I: Backend>(x: FloatTensor<I>, gamma: FloatTensor<I>, beta: FloatTensor<I>, eps: f64) -> Forward<I> {
    let flex = (cast::<FloatTensor<I>, FlexTensor>(x), cast::<FloatTensor<I>, FlexTensor>(gamma), cast::<FloatTensor<I>, FlexTensor>(beta));
    let (x, gamma, beta) = match flex {
        (Ok(x), Ok(g), Ok(b)) if [x.dtype(), g.dtype(), b.dtype()] == [DType::F32; 3] => {
            let [y, mean, var, inv_std] = flex_forward(&x.to_contiguous(), &g.to_contiguous(), &b.to_contiguous(), eps).map(|t| {
                cast::<FlexTensor, FloatTensor<I>>(t).ok().expect("I is Flex")
            });
            return Forward { y, mean, var, inv_std };
        }
        (x, g, b) => (back::<I>(x), back::<I>(g), back::<I>(b)),
    };
    let x: Tensor<I, 3> = Tensor::from_primitive(TensorPrimitive::Float(x));
    let [_, c, _] = x.dims();
    let per = |t: Tensor<I, 1>| t.reshape([1, c, 1]);
    let mean = x.clone().mean_dim(2).mean_dim(0);
    let centered = x.sub(mean.clone());
    let var = centered.clone().square().mean_dim(2).mean_dim(0);
    let inv_std = var.clone().add_scalar(eps).sqrt().recip();
    let gamma: Tensor<I, 1> = Tensor::from_primitive(TensorPrimitive::Float(gamma));
    let beta: Tensor<I, 1> = Tensor::from_primitive(TensorPrimitive::Float(beta));
    let y = centered.mul(inv_std.clone().mul(per(gamma))).add(per(beta));
    Forward { y: float(y), mean: float(mean.reshape([c])), var: float(var.reshape([c])), inv_std: float(inv_std.reshape([c])) }
}

fn backward<I: Backend>(x: FloatTensor<I>, mean: FloatTensor<I>, inv_std: FloatTensor<I>, gamma: FloatTensor<I>, dy: FloatTensor<I>) -> Grads<I> {
    let all = [x, mean, inv_std, gamma, dy].map(cast::<FloatTensor<I>, FlexTensor>);
    if all.iter().all(|t| t.as_ref().is_ok_and(|t| t.dtype() == DType::F32)) {
        let [x, mean, inv_std, gamma, dy] = all.map(|t| t.ok().expect("checked").to_contiguous());
        let [dx, dgamma, dbeta] = flex_backward(&x, &mean, &inv_std, &gamma, &dy).map(|t| cast::<FlexTensor, FloatTensor<I>>(t).ok().expect("I is Flex"));
        return Grads { dx, dgamma, dbeta };
    }
    let [x, mean, inv_std, gamma, dy] = all.map(back::<I>);
    let x: Tensor<I, 3> = Tensor::from_primitive(TensorPrimitive::Float(x));
    let dy: Tensor<I, 3> = Tensor::from_primitive(TensorPrimitive::Float(dy));
    let [n, c, r] = x.dims();
    let m = (n * r) as f64;
    let per = |t: FloatTensor<I>| Tensor::<I, 1>::from_primitive(TensorPrimitive::Float(t)).reshape([1, c, 1]);
    let inv_std = per(inv_std);
    let xhat = x.sub(per(mean)).mul(inv_std.clone());
    let dbeta = dy.clone().sum_dim(2).sum_dim(0);
    let dgamma = dy.clone().mul(xhat.clone()).sum_dim(2).sum_dim(0);
    let k = per(gamma).mul(inv_std);
    let dx = dy.sub(dbeta.clone().div_scalar(m)).sub(xhat.mul(dgamma.clone().div_scalar(m))).mul(k);
    Grads { dx: float(dx), dgamma: float(dgamma.reshape([c])), dbeta: float(dbeta.reshape([c])) }
}

/// Undoes a failed [`cast`] to `FlexTensor` (the value is `I`'s own tensor then).
fn back<I: Backend>(t: Result<FlexTensor, FloatTensor<I>>) -> FloatTensor<I> {
    match t {
        Ok(flex) => cast::<FlexTensor, FloatTensor<I>>(flex).ok().expect("I is Flex"),
        Err(t) => t,
    }
}

fn flex_vec(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

/// Sum in f64 over eight interleaved partial sums (vectorisable; the order depends on the
/// length only).
fn sum_f64(values: impl ExactSizeIterator<Item = f64>) -> f64 {
    let mut acc = [0f64; 8];
    for (i, v) in values.enumerate() {
        acc[i % 8] += v;
    }
    acc.iter().sum()
}

/// `[batch, channels, positions]` of a contiguous f32 FlexTensor.
fn dims3(x: &FlexTensor) -> [usize; 3] {
    x.layout().shape().to_vec().try_into().expect("[batch, channels, positions]")
}

/// [y, mean, var, inv_std] of `x` `[n, c, r]` (contiguous f32); see the module documentation.
fn flex_forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, eps: f64) -> [FlexTensor; 4] {
    let dims = dims3(x);
    let [n, c, r] = dims;
    let (xs, gs, bs) = (x.storage::<f32>(), gamma.storage::<f32>(), beta.storage::<f32>());
    let m = (n * r) as f64;
    let run = |b: usize, ch: usize| &xs[(b * c + ch) * r..][..r];
    // Two passes per channel (the mean, then the centred squares), as np.var.
    let stats: Vec<[f64; 3]> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let mean = (0..n).map(|b| sum_f64(run(b, ch).iter().map(|&v| v as f64))).sum::<f64>() / m;
            let var = (0..n).map(|b| sum_f64(run(b, ch).iter().map(|&v| (v as f64 - mean).powi(2)))).sum::<f64>() / m;
            [mean, var, 1.0 / (var + eps).sqrt()]
        })
        .collect();
    let mut y = vec![0f32; xs.len()];
    if r > 0 {
        y.par_chunks_mut(c * r).zip(xs.par_chunks(c * r)).for_each(|(yb, xb)| {
            for (ch, (yr, xr)) in yb.chunks_exact_mut(r).zip(xb.chunks_exact(r)).enumerate() {
                let [mean, _, inv_std] = stats[ch];
                let (mean, scale, shift) = (mean as f32, (gs[ch] as f64 * inv_std) as f32, bs[ch]);
                for (o, &v) in yr.iter_mut().zip(xr) {
                    *o = (v - mean) * scale + shift;
                }
            }
        });
    }
    let col = |k: usize| flex_vec(stats.iter().map(|s| s[k] as f32).collect(), &[c]);
    [flex_vec(y, &dims), col(0), col(1), col(2)]
}

/// [dx, dgamma, dbeta]; see the module documentation.
fn flex_backward(x: &FlexTensor, mean: &FlexTensor, inv_std: &FlexTensor, gamma: &FlexTensor, dy: &FlexTensor) -> [FlexTensor; 3] {
    let dims = dims3(x);
    let [n, c, r] = dims;
    let (xs, ms, is, gs, ds) = (x.storage::<f32>(), mean.storage::<f32>(), inv_std.storage::<f32>(), gamma.storage::<f32>(), dy.storage::<f32>());
    let m = (n * r) as f64;
    let run = |b: usize, ch: usize| (b * c + ch) * r..(b * c + ch + 1) * r;
    // Per channel: sum dy and sum dy * xhat.
    let sums: Vec<[f64; 2]> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let (mu, is) = (ms[ch], is[ch]);
            let sd = (0..n).map(|b| sum_f64(ds[run(b, ch)].iter().map(|&d| d as f64))).sum::<f64>();
            let sdx = (0..n)
                .map(|b| {
                    let rg = run(b, ch);
                    sum_f64(xs[rg.clone()].iter().zip(&ds[rg]).map(|(&v, &d)| d as f64 * ((v - mu) * is) as f64))
                })
                .sum::<f64>();
            [sd, sdx]
        })
        .collect();
    let mut dx = vec![0f32; xs.len()];
    if r > 0 {
        dx.par_chunks_mut(c * r).zip(xs.par_chunks(c * r).zip(ds.par_chunks(c * r))).for_each(|(ob, (xb, db))| {
            for ch in 0..c {
                let (mu, is) = (ms[ch], is[ch]);
                let (a, bc) = ((sums[ch][0] / m) as f32, (sums[ch][1] / m) as f32);
                let k = gs[ch] * is;
                let rg = ch * r..(ch + 1) * r;
                for ((o, &v), &d) in ob[rg.clone()].iter_mut().zip(&xb[rg.clone()]).zip(&db[rg]) {
                    *o = k * (d - a - (v - mu) * is * bc);
                }
            }
        });
    }
    let col = |k: usize| flex_vec(sums.iter().map(|s| s[k] as f32).collect(), &[c]);
    [flex_vec(dx, &dims), col(1), col(0)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{FlexAd, NdArrayAd};
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::Distribution;

    fn vals<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().to_vec().unwrap()
    }

    /// The fused operation against BatchNorm written out of burn's own ops (autodiffed by burn):
    /// outputs, statistics and the gradients of x, gamma and beta.
    fn matches_tensor_ops<B: AutodiffBackend>() {
        let dev = Default::default();
        B::seed(&dev, 7);
        for [n, c, r] in [[6, 3, 5], [64, 4, 16], [2, 1, 1], [3, 8, 49]] {
            let x = Tensor::<B, 3>::random([n, c, r], Distribution::Normal(0.5, 2.0), &dev).require_grad();
            let gamma = Tensor::<B, 1>::random([c], Distribution::Normal(1.0, 0.3), &dev).require_grad();
            let beta = Tensor::<B, 1>::random([c], Distribution::Normal(0.0, 0.3), &dev).require_grad();
            let w = Tensor::<B, 3>::random([n, c, r], Distribution::Normal(0.0, 1.0), &dev);
            let eps = 1e-5;

            let (y, mean, var) = train(x.clone(), gamma.clone(), beta.clone(), eps).ok().expect("an autodiff backend of `backends`");
            let g = (y.clone() * w.clone()).sum().backward();
            let got = [vals(y.inner()), vals(mean.inner()), vals(var.inner()), vals(x.grad(&g).unwrap()), vals(gamma.grad(&g).unwrap()), vals(beta.grad(&g).unwrap())];

            let mu = x.clone().mean_dim(2).mean_dim(0);
            let centered = x.clone() - mu.clone();
            let v = centered.clone().square().mean_dim(2).mean_dim(0);
            let y_ref = centered / (v.clone() + eps).sqrt() * gamma.clone().reshape([1, c, 1]) + beta.clone().reshape([1, c, 1]);
            let g = (y_ref.clone() * w).sum().backward();
            let want = [vals(y_ref.inner()), vals(mu.reshape([c]).inner()), vals(v.reshape([c]).inner()), vals(x.grad(&g).unwrap()), vals(gamma.grad(&g).unwrap()), vals(beta.grad(&g).unwrap())];

            for (k, (a, b)) in got.into_iter().zip(want).enumerate() {
                assert_eq!(a.len(), b.len());
                // Relative to the largest value, at least 0.05 (a gradient of ~0 is rounding noise either way).
                let scale = b.iter().fold(0.05f32, |m, v| m.max(v.abs()));
                for (p, q) in a.iter().zip(&b) {
                    assert!((p - q).abs() <= 2e-5 * scale, "[{n}, {c}, {r}] output {k}: {p} vs {q} (scale {scale})");
                }
            }
        }
    }

    #[test]
    fn fused_batch_norm_matches_tensor_ops_on_flex() {
        matches_tensor_ops::<FlexAd>();
    }

    #[test]
    fn fused_batch_norm_matches_tensor_ops_on_ndarray() {
        matches_tensor_ops::<NdArrayAd>();
    }

    /// The same call twice gives the same bits (the sums' order depends on the shapes only).
    #[test]
    fn fused_batch_norm_is_deterministic() {
        let dev = Default::default();
        let x = Tensor::<FlexAd, 3>::random([64, 32, 64], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let (gamma, beta) = (Tensor::<FlexAd, 1>::ones([32], &dev).require_grad(), Tensor::<FlexAd, 1>::zeros([32], &dev).require_grad());
        let run = || {
            let (y, _, _) = train(x.clone(), gamma.clone(), beta.clone(), 1e-5).ok().unwrap();
            let g = (y.clone() * y.clone()).sum().backward();
            (y.into_data(), x.grad(&g).unwrap().into_data())
        };
        assert_eq!(run(), run());
    }
}
