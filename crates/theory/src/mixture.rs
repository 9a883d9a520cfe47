//! Assumption 2.1 densities: isotropic Gaussian mixtures in R^n,
//! p(x) = sum_i w_i (2 pi sigma^2)^{-n/2} exp(-||x - x_i||^2 / (2 sigma^2)),
//! with the paper's equal weights w_i = 1/N as the default and general weights allowed
//! (Table 3 varies them). Everything is evaluated in log space (log-sum-exp) so that densities
//! far from the modes neither underflow nor lose their gradient direction.
//!
//! [`Mixture1d`] adds what only exists in one dimension: the CDF Psi, its quantile Psi^{-1}
//! (by Brent's method from argmin, bracketed and solved on the survival side in the upper tail so
//! that it stays accurate to 1e-300), and the first two derivatives of the density that
//! Theorem 3.3's proof uses.

use crate::TheoryError;
use argmin::core::{CostFunction, Executor, State};
use argmin::solver::brent::BrentRoot;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use statrs::function::erf::erfc;

const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Something with a log density and its gradient on R^n: the two ingredients of the particle
/// field of Theorem C.1.
pub trait Density {
    fn dim(&self) -> usize;
    /// log p(x); `f64::NEG_INFINITY` outside the support.
    fn log_pdf(&self, x: &[f64]) -> f64;
    /// grad_x log p(x); zeros outside the support (the field is undefined there anyway).
    fn grad_log_pdf(&self, x: &[f64]) -> Vec<f64>;
    fn pdf(&self, x: &[f64]) -> f64 {
        self.log_pdf(x).exp()
    }
}

/// Numerically stable log(sum(exp(a_i))).
pub fn log_sum_exp(a: &[f64]) -> f64 {
    let m = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + a.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// Standard normal CDF Phi.
pub fn std_normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal survival 1 - Phi, accurate in the upper tail.
pub fn std_normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Standard normal density phi.
pub fn std_normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z - 0.5 * LN_2PI).exp()
}

/// Standard normal quantile Phi^{-1} (statrs' inverse erfc, accurate in both tails).
pub fn std_normal_quantile(u: f64) -> f64 {
    use statrs::function::erf::erfc_inv;
    -std::f64::consts::SQRT_2 * erfc_inv(2.0 * u)
}

/// An isotropic Gaussian mixture in R^n (Assumption 2.1, weights allowed).
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture {
    means: Vec<Vec<f64>>,
    log_weights: Vec<f64>,
    sigma: f64,
    dim: usize,
}

impl Mixture {
    /// A mixture with means `means`, common standard deviation `sigma` per coordinate and
    /// weights `weights` (equal weights when `None`). Weights must be positive and sum to 1.
    pub fn new(
        means: Vec<Vec<f64>>,
        sigma: f64,
        weights: Option<Vec<f64>>,
    ) -> Result<Self, TheoryError> {
        if means.is_empty() {
            return Err(TheoryError::invalid("means", "at least one mode is needed"));
        }
        let dim = means[0].len();
        if dim == 0 || means.iter().any(|m| m.len() != dim) {
            return Err(TheoryError::invalid(
                "means",
                "every mean must have the same, non-zero dimension",
            ));
        }
        if means.iter().flatten().any(|v| !v.is_finite()) {
            return Err(TheoryError::invalid("means", "must be finite"));
        }
        if !(sigma.is_finite() && sigma > 0.0) {
            return Err(TheoryError::invalid(
                "sigma",
                format!("must be finite and > 0, got {sigma}"),
            ));
        }
        let n = means.len();
        let weights = match weights {
            None => vec![1.0 / n as f64; n],
            Some(w) => {
                if w.len() != n {
                    return Err(TheoryError::invalid(
                        "weights",
                        format!("{} weights for {} means", w.len(), n),
                    ));
                }
                if w.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                    return Err(TheoryError::invalid("weights", "every weight must be > 0"));
                }
                let s: f64 = w.iter().sum();
                if (s - 1.0).abs() > 1e-9 {
                    return Err(TheoryError::invalid(
                        "weights",
                        format!("must sum to 1, they sum to {s}"),
                    ));
                }
                w
            }
        };
        Ok(Self {
            means,
            log_weights: weights.iter().map(|w| w.ln()).collect(),
            sigma,
            dim,
        })
    }

    /// One isotropic Gaussian N(mean, sd^2 I).
    pub fn gaussian(mean: Vec<f64>, sd: f64) -> Result<Self, TheoryError> {
        Self::new(vec![mean], sd, None)
    }

    /// Modes at every vertex of {-a, +a}^n, equal weights (the paper's 2-D and 3-D toys).
    pub fn hypercube(dim: usize, a: f64, sigma: f64) -> Result<Self, TheoryError> {
        let means = (0..1usize << dim)
            .map(|bits| {
                (0..dim)
                    .map(|k| if bits >> k & 1 == 1 { a } else { -a })
                    .collect()
            })
            .collect();
        Self::new(means, sigma, None)
    }

    pub fn means(&self) -> &[Vec<f64>] {
        &self.means
    }
    pub fn weights(&self) -> Vec<f64> {
        self.log_weights.iter().map(|l| l.exp()).collect()
    }
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    pub fn n_modes(&self) -> usize {
        self.means.len()
    }

    /// log of w_i N(x; x_i, sigma^2 I) for each component.
    fn component_log_terms(&self, x: &[f64]) -> Vec<f64> {
        let s2 = self.sigma * self.sigma;
        let norm = -0.5 * self.dim as f64 * (LN_2PI + s2.ln());
        self.means
            .iter()
            .zip(&self.log_weights)
            .map(|(m, lw)| {
                let d2: f64 = m.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum();
                lw + norm - d2 / (2.0 * s2)
            })
            .collect()
    }

    /// Posterior responsibilities of the components at x (they sum to 1).
    pub fn responsibilities(&self, x: &[f64]) -> Vec<f64> {
        let t = self.component_log_terms(x);
        let l = log_sum_exp(&t);
        t.iter().map(|v| (v - l).exp()).collect()
    }

    /// Samples `n` points; returns them with the index of the component each came from.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, n: usize) -> (Vec<Vec<f64>>, Vec<usize>) {
        let w = self.weights();
        let mut pts = Vec::with_capacity(n);
        let mut labels = Vec::with_capacity(n);
        for _ in 0..n {
            let u: f64 = rng.random();
            let mut acc = 0.0;
            let mut k = w.len() - 1;
            for (i, wi) in w.iter().enumerate() {
                acc += wi;
                if u < acc {
                    k = i;
                    break;
                }
            }
            let p: Vec<f64> = self.means[k]
                .iter()
                .map(|m| {
                    let e: f64 = StandardNormal.sample(rng);
                    m + self.sigma * e
                })
                .collect();
            pts.push(p);
            labels.push(k);
        }
        (pts, labels)
    }
}

impl Density for Mixture {
    fn dim(&self) -> usize {
        self.dim
    }
    fn log_pdf(&self, x: &[f64]) -> f64 {
        log_sum_exp(&self.component_log_terms(x))
    }
    /// grad log p(x) = sum_i gamma_i(x) (x_i - x) / sigma^2 with responsibilities gamma_i.
    fn grad_log_pdf(&self, x: &[f64]) -> Vec<f64> {
        let g = self.responsibilities(x);
        let s2 = self.sigma * self.sigma;
        (0..self.dim)
            .map(|k| {
                g.iter()
                    .zip(&self.means)
                    .map(|(gi, m)| gi * (m[k] - x[k]))
                    .sum::<f64>()
                    / s2
            })
            .collect()
    }
}

/// The uniform density on an axis-aligned box (Table 2, case 2's p_g).
#[derive(Clone, Debug, PartialEq)]
pub struct UniformBox {
    lo: Vec<f64>,
    hi: Vec<f64>,
}

impl UniformBox {
    pub fn new(lo: Vec<f64>, hi: Vec<f64>) -> Result<Self, TheoryError> {
        if lo.len() != hi.len() || lo.is_empty() || lo.iter().zip(&hi).any(|(a, b)| a.partial_cmp(b) != Some(std::cmp::Ordering::Less)) {
            return Err(TheoryError::invalid("box", "need lo < hi in every coordinate"));
        }
        Ok(Self { lo, hi })
    }
    pub fn contains(&self, x: &[f64]) -> bool {
        x.iter()
            .zip(self.lo.iter().zip(&self.hi))
            .all(|(v, (a, b))| *a <= *v && *v <= *b)
    }
}

impl Density for UniformBox {
    fn dim(&self) -> usize {
        self.lo.len()
    }
    fn log_pdf(&self, x: &[f64]) -> f64 {
        if self.contains(x) {
            -self.lo.iter().zip(&self.hi).map(|(a, b)| (b - a).ln()).sum::<f64>()
        } else {
            f64::NEG_INFINITY
        }
    }
    fn grad_log_pdf(&self, x: &[f64]) -> Vec<f64> {
        vec![0.0; x.len()]
    }
}

/// A one-dimensional mixture sum_i w_i N(mu_i, sigma^2), with CDF and quantile.
#[derive(Clone, Debug, PartialEq)]
pub struct Mixture1d {
    means: Vec<f64>,
    weights: Vec<f64>,
    sigma: f64,
    inner: Mixture,
}

impl Mixture1d {
    pub fn new(means: Vec<f64>, sigma: f64, weights: Option<Vec<f64>>) -> Result<Self, TheoryError> {
        let inner = Mixture::new(means.iter().map(|m| vec![*m]).collect(), sigma, weights)?;
        Ok(Self {
            weights: inner.weights(),
            means,
            sigma,
            inner,
        })
    }
    /// The symmetric two-mode mixture 0.5 N(-mu, sigma^2) + 0.5 N(mu, sigma^2) of Theorem 3.3.
    pub fn symmetric_pair(mu: f64, sigma: f64) -> Result<Self, TheoryError> {
        Self::new(vec![-mu, mu], sigma, None)
    }
    pub fn means(&self) -> &[f64] {
        &self.means
    }
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    /// The same mixture seen as an n-D [`Mixture`] with n = 1.
    pub fn as_mixture(&self) -> &Mixture {
        &self.inner
    }
    pub fn pdf(&self, x: f64) -> f64 {
        self.inner.log_pdf(&[x]).exp()
    }
    pub fn log_pdf(&self, x: f64) -> f64 {
        self.inner.log_pdf(&[x])
    }
    /// (log psi)'(x).
    pub fn dlog_pdf(&self, x: f64) -> f64 {
        self.inner.grad_log_pdf(&[x])[0]
    }
    /// psi'(x).
    pub fn dpdf(&self, x: f64) -> f64 {
        self.pdf(x) * self.dlog_pdf(x)
    }
    /// psi''(x) = sum_i w_i N(x; mu_i, s^2) ((x - mu_i)^2 / s^4 - 1 / s^2).
    pub fn d2pdf(&self, x: f64) -> f64 {
        let s2 = self.sigma * self.sigma;
        self.means
            .iter()
            .zip(&self.weights)
            .map(|(m, w)| {
                let u = (x - m) / self.sigma;
                w * std_normal_pdf(u) / self.sigma * (u * u - 1.0) / s2
            })
            .sum()
    }
    /// Psi(x).
    pub fn cdf(&self, x: f64) -> f64 {
        self.means
            .iter()
            .zip(&self.weights)
            .map(|(m, w)| w * std_normal_cdf((x - m) / self.sigma))
            .sum()
    }
    /// 1 - Psi(x), accurate in the upper tail.
    pub fn sf(&self, x: f64) -> f64 {
        self.means
            .iter()
            .zip(&self.weights)
            .map(|(m, w)| w * std_normal_sf((x - m) / self.sigma))
            .sum()
    }
    /// Psi^{-1}(u) for u in (0, 1).
    pub fn quantile(&self, u: f64) -> Result<f64, TheoryError> {
        if !(u > 0.0 && u < 1.0) {
            return Err(TheoryError::invalid("u", format!("quantile needs 0 < u < 1, got {u}")));
        }
        if u <= 0.5 {
            self.solve_tail(u, false)
        } else {
            self.solve_tail(1.0 - u, true)
        }
    }
    /// Solves Psi(x) = p (lower tail) or 1 - Psi(x) = p (upper tail), with p <= 1/2.
    fn solve_tail(&self, p: f64, upper: bool) -> Result<f64, TheoryError> {
        struct Eq<'a> {
            m: &'a Mixture1d,
            p: f64,
            upper: bool,
        }
        impl CostFunction for Eq<'_> {
            type Param = f64;
            type Output = f64;
            fn cost(&self, x: &f64) -> Result<f64, argmin::core::Error> {
                // Relative residual in log space: exact zero at the root and well scaled at 1e-300.
                let v = if self.upper { self.m.sf(*x) } else { self.m.cdf(*x) };
                let r = v.max(f64::MIN_POSITIVE).ln() - self.p.ln();
                Ok(if self.upper { -r } else { r })
            }
        }
        // The bracket [min mu - 40 sigma, max mu + 40 sigma] covers every p >= 1e-340.
        let lo = self.means.iter().copied().fold(f64::INFINITY, f64::min) - 40.0 * self.sigma;
        let hi = self.means.iter().copied().fold(f64::NEG_INFINITY, f64::max) + 40.0 * self.sigma;
        let solver = BrentRoot::new(lo, hi, 1e-14);
        let res = Executor::new(Eq { m: self, p, upper }, solver)
            .configure(|s| s.max_iters(300))
            .run()
            .map_err(|e| TheoryError::Numerical(format!("quantile of p = {p}: {e}")))?;
        res.state()
            .get_best_param()
            .copied()
            .ok_or_else(|| TheoryError::Numerical(format!("quantile of p = {p}: no root")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn gaussian_log_pdf_matches_formula() {
        let g = Mixture::gaussian(vec![1.0, -2.0], 0.5).unwrap();
        let x = [0.3, -1.1];
        let d2 = (0.3f64 - 1.0).powi(2) + (-1.1f64 + 2.0).powi(2);
        let expect = -d2 / (2.0 * 0.25) - (2.0 * std::f64::consts::PI * 0.25).ln();
        assert!((g.log_pdf(&x) - expect).abs() < 1e-12);
    }

    #[test]
    fn log_pdf_finite_far_from_modes() {
        let m = Mixture::hypercube(2, 1.0, 0.05).unwrap();
        let lp = m.log_pdf(&[40.0, -40.0]);
        assert!(lp.is_finite() && lp < -1e5);
        let g = m.grad_log_pdf(&[40.0, -40.0]);
        // Points back to the nearest mode (1, -1).
        assert!(g[0] < 0.0 && g[1] > 0.0);
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = Mixture1d::new(vec![0.0], -1.0, None).unwrap_err();
        assert!(e.to_string().contains("sigma"));
        let e = Mixture1d::new(vec![0.0, 1.0], 1.0, Some(vec![0.3, 0.3])).unwrap_err();
        assert!(e.to_string().contains("weights"));
    }

    proptest! {
        #[test]
        fn grad_log_pdf_matches_central_differences(
            means in prop::collection::vec(prop::collection::vec(-3.0f64..3.0, 2), 1..5),
            sigma in 0.2f64..2.0,
            x in prop::collection::vec(-4.0f64..4.0, 2),
        ) {
            let m = Mixture::new(means, sigma, None).unwrap();
            let g = m.grad_log_pdf(&x);
            for k in 0..2 {
                let h = 1e-5;
                let mut a = x.clone(); a[k] += h;
                let mut b = x.clone(); b[k] -= h;
                let fd = (m.log_pdf(&a) - m.log_pdf(&b)) / (2.0 * h);
                prop_assert!((fd - g[k]).abs() <= 1e-5 * (1.0 + g[k].abs()));
            }
        }

        #[test]
        fn quantile_inverts_cdf(
            means in prop::collection::vec(-10.0f64..10.0, 1..6),
            sigma in 0.1f64..3.0,
            u in 1e-12f64..(1.0 - 1e-12),
        ) {
            let m = Mixture1d::new(means, sigma, None).unwrap();
            let x = m.quantile(u).unwrap();
            let back = if u <= 0.5 { m.cdf(x) } else { 1.0 - m.sf(x) };
            prop_assert!((back - u).abs() <= 1e-10 * u.min(1.0 - u).max(1e-3), "u={u} x={x} back={back}");
        }

        #[test]
        fn second_derivative_matches_differences(
            means in prop::collection::vec(-3.0f64..3.0, 1..4),
            sigma in 0.3f64..2.0,
            x in -4.0f64..4.0,
        ) {
            let m = Mixture1d::new(means, sigma, None).unwrap();
            let h = 1e-4;
            let fd = (m.dpdf(x + h) - m.dpdf(x - h)) / (2.0 * h);
            prop_assert!((fd - m.d2pdf(x)).abs() <= 1e-6 * (1.0 + m.d2pdf(x).abs()));
        }
    }
}
