//! Appendix D: suboptimal discriminators d_hat = p_data/(p_data + f(r) p_g), r = p_data/p_g,
//! for a user-given positive f with derivative f' ([`RatioDistortion`]); f = 1 is the optimal
//! discriminator d* of Goodfellow et al.
//!
//! Proposition D.1: the angle between grad d_hat/d_hat and grad d*/d* has
//! cos(theta) = sign(f(r)/r - f'(r)). Both vectors are multiples of grad log r:
//! grad log d_hat = (f - r f')/(f + r) grad log r and grad log d* = grad log r/(1 + r), so the
//! sign holds for every f > 0 ([`prop_d1_cos_theta`]; the tests compare it with finite
//! differences of log d_hat and log d* on random 2-D mixtures).
//!
//! Two remarks on the proof's "consequently" part (small r gives cos = 1):
//! * it needs f(0) > 0, i.e. f continuous at 0 with a positive limit, which f in C^2(0, inf)
//!   does not give: f(r) = r^b with b > 1 has cos = -1 for every r, however small
//!   (f/r - f' = (1 - b) r^(b-1));
//! * its Taylor step writes f(r) - r f'(r) = f(0) + r^2 f''(xi)/2; with h(r) = f - r f',
//!   h' = -r f'', the remainder is -r^2 f''(xi)/2 (sign slip). For f = exp(c r), c != 0,
//!   f - r f' = e^{cr}(1 - cr) < 1 = f(0) for every r > 0 while the printed right side is
//!   >= f(0). The conclusion survives (the remainder is O(r^2) either way).
//!
//! Proposition D.2 (the Theorem C.5 recurrence with d_hat): printed
//! k_{t+1} = k_t + s (1/k_t^2 - 1/k*^2) (f(r) - r f'(r))/(r + f(r)),
//! r = k_t phi(k_t x0/k*)/(k* phi(x0)); the particle argument gives the same missing factor
//! k_t and the n-D ratio (k_t/k*)^n phi(k_t x0/k*)/phi(x0) as in Theorem C.5
//! ([`d2_step_as_printed`], [`d2_step`], [`d2_steepness_after_direct_step`]). With f = 1 both
//! reduce to the corresponding forms of C.5. At k = k*, r = 1 for every x0, so the fixed point
//! k* is attracting iff f(1) > f'(1); for f = r^b (b > 1) or f = exp(c r) (c > 1) it repels.
//! The paper's remark that f = 1 leads "to the same conclusion as in theorem 3.3" refers to
//! Theorem C.5.

use crate::mixture::{Density, Mixture};
use crate::recurrence::{
    check_step_args, inv_one_plus_exp, log_density_ratio_at_particle,
    log_density_ratio_at_particle_as_printed,
};
use crate::TheoryError;

/// The distortion f of the density ratio in d_hat = p_data/(p_data + f(r) p_g) (Appendix D.1),
/// with its derivative. f must be positive where it is used (d_hat in (0, 1)).
pub trait RatioDistortion {
    fn f(&self, r: f64) -> f64;
    fn df(&self, r: f64) -> f64;
}

/// A distortion from two closures (f and f').
#[derive(Clone, Copy, Debug)]
pub struct FnDistortion<F, G> {
    f: F,
    df: G,
}

impl<F: Fn(f64) -> f64, G: Fn(f64) -> f64> FnDistortion<F, G> {
    pub fn new(f: F, df: G) -> Self {
        Self { f, df }
    }
}

impl<F: Fn(f64) -> f64, G: Fn(f64) -> f64> RatioDistortion for FnDistortion<F, G> {
    fn f(&self, r: f64) -> f64 {
        (self.f)(r)
    }
    fn df(&self, r: f64) -> f64 {
        (self.df)(r)
    }
}

/// A small family of distortions used by the tests and the ledger.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DistortionFamily {
    /// f = 1 (the optimal discriminator).
    Optimal,
    /// f(r) = 1 + a r (a >= 0 keeps f > 0): cos(theta) = 1 everywhere.
    Affine { a: f64 },
    /// f(r) = r^b: cos(theta) = sign(1 - b) everywhere (f(0) = 0).
    Power { b: f64 },
    /// f(r) = exp(c r): cos(theta) = sign(1 - c r).
    Exp { c: f64 },
}

impl RatioDistortion for DistortionFamily {
    fn f(&self, r: f64) -> f64 {
        match *self {
            Self::Optimal => 1.0,
            Self::Affine { a } => 1.0 + a * r,
            Self::Power { b } => r.powf(b),
            Self::Exp { c } => (c * r).exp(),
        }
    }
    fn df(&self, r: f64) -> f64 {
        match *self {
            Self::Optimal => 0.0,
            Self::Affine { a } => a,
            Self::Power { b } => b * r.powf(b - 1.0),
            Self::Exp { c } => c * (c * r).exp(),
        }
    }
}

fn softplus(y: f64) -> f64 {
    if y > 0.0 {
        y + (-y).exp().ln_1p()
    } else {
        y.exp().ln_1p()
    }
}

/// f(r) and f'(r), checked: f must be finite and > 0, f' finite.
fn eval_f<F: RatioDistortion + ?Sized>(f: &F, r: f64) -> Result<(f64, f64), TheoryError> {
    let (v, d) = (f.f(r), f.df(r));
    if !(v.is_finite() && v > 0.0) {
        return Err(TheoryError::invalid(
            "f",
            format!("f(r) must be finite and > 0, got f({r}) = {v}"),
        ));
    }
    if !d.is_finite() {
        return Err(TheoryError::invalid(
            "f",
            format!("f'(r) must be finite, got f'({r}) = {d}"),
        ));
    }
    Ok((v, d))
}

fn log_ratio<P: Density + ?Sized, Q: Density + ?Sized>(
    p_data: &P,
    p_g: &Q,
    x: &[f64],
) -> Result<f64, TheoryError> {
    if x.len() != p_data.dim() || x.len() != p_g.dim() {
        return Err(TheoryError::invalid(
            "x",
            "dimension differs from the densities'",
        ));
    }
    let lr = p_data.log_pdf(x) - p_g.log_pdf(x);
    if lr.is_finite() {
        Ok(lr)
    } else {
        Err(TheoryError::invalid(
            "x",
            "needs p_data(x) p_g(x) > 0 (Proposition D.1)",
        ))
    }
}

/// log d*(x) = -log(1 + 1/r) (Appendix D.1 with f = 1), in log space.
pub fn log_optimal_discriminator<P: Density + ?Sized, Q: Density + ?Sized>(
    p_data: &P,
    p_g: &Q,
    x: &[f64],
) -> Result<f64, TheoryError> {
    Ok(-softplus(-log_ratio(p_data, p_g, x)?))
}

/// log d_hat(x) = -log(1 + f(r)/r) (Appendix D.1), in log space.
pub fn log_suboptimal_discriminator<
    P: Density + ?Sized,
    Q: Density + ?Sized,
    F: RatioDistortion + ?Sized,
>(
    p_data: &P,
    p_g: &Q,
    f: &F,
    x: &[f64],
) -> Result<f64, TheoryError> {
    let lr = log_ratio(p_data, p_g, x)?;
    let (fv, _) = eval_f(f, lr.exp())?;
    Ok(-softplus(fv.ln() - lr))
}

/// grad d_hat/d_hat = (f - r f')/(f + r) grad log r (proof of Proposition D.1), with the
/// analytic gradients of the densities.
pub fn suboptimal_field<P: Density + ?Sized, Q: Density + ?Sized, F: RatioDistortion + ?Sized>(
    p_data: &P,
    p_g: &Q,
    f: &F,
    x: &[f64],
) -> Result<Vec<f64>, TheoryError> {
    let lr = log_ratio(p_data, p_g, x)?;
    let r = lr.exp();
    let (fv, dv) = eval_f(f, r)?;
    // (f - r f')/(f + r) = (1 - r f'/f)/(1 + r/f), with r/f = exp(lr - ln f).
    let factor = (1.0 - r * dv / fv) * inv_one_plus_exp(lr - fv.ln());
    Ok(p_data
        .grad_log_pdf(x)
        .iter()
        .zip(p_g.grad_log_pdf(x))
        .map(|(a, b)| factor * (a - b))
        .collect())
}

/// Proposition D.1: cos(theta) = sign(f(r)/r - f'(r)) (0 where f(r)/r = f'(r), where the
/// suboptimal field vanishes).
pub fn prop_d1_cos_theta<F: RatioDistortion + ?Sized>(f: &F, r: f64) -> Result<f64, TheoryError> {
    if !(r.is_finite() && r > 0.0) {
        return Err(TheoryError::invalid(
            "r",
            format!("must be finite and > 0, got {r}"),
        ));
    }
    let (v, d) = eval_f(f, r)?;
    let m = v / r - d;
    Ok(if m > 0.0 {
        1.0
    } else if m < 0.0 {
        -1.0
    } else {
        0.0
    })
}

/// Cosine of the angle between two vectors (None if either is zero).
pub fn cosine(a: &[f64], b: &[f64]) -> Option<f64> {
    let na = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    let nb = b.iter().map(|v| v * v).sum::<f64>().sqrt();
    if na == 0.0 || nb == 0.0 || a.len() != b.len() {
        return None;
    }
    Some(a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (na * nb))
}

/// Proposition D.2 as printed:
/// k_{t+1} = k_t + s (1/k_t^2 - 1/k*^2) (f(r) - r f'(r))/(r + f(r)),
/// r = k_t phi(k_t x0/k*)/(k* phi(x0)).
pub fn d2_step_as_printed<F: RatioDistortion + ?Sized>(
    f: &F,
    k_t: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
) -> Result<f64, TheoryError> {
    check_step_args(k_t, k_star, s, x0)?;
    let lr = log_density_ratio_at_particle_as_printed(k_t, k_star, x0)?;
    let inc = s * (1.0 / (k_t * k_t) - 1.0 / (k_star * k_star)) * d2_factor(f, lr)?;
    next(k_t, inc, s)
}

/// Proposition D.2 corrected (particle argument, as for Theorem C.5):
/// k_{t+1} = k_t + s k_t (1/k_t^2 - 1/k*^2) (f(r) - r f'(r))/(r + f(r)),
/// r = (k_t/k*)^n phi(k_t x0/k*)/phi(x0).
pub fn d2_step<F: RatioDistortion + ?Sized>(
    f: &F,
    k_t: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
) -> Result<f64, TheoryError> {
    check_step_args(k_t, k_star, s, x0)?;
    let lr = log_density_ratio_at_particle(k_t, k_star, x0)?;
    let inc = s * k_t * (1.0 / (k_t * k_t) - 1.0 / (k_star * k_star)) * d2_factor(f, lr)?;
    next(k_t, inc, s)
}

/// (f(r) - r f'(r))/(r + f(r)) from log r.
fn d2_factor<F: RatioDistortion + ?Sized>(f: &F, lr: f64) -> Result<f64, TheoryError> {
    let r = lr.exp();
    let (v, d) = eval_f(f, r)?;
    Ok((1.0 - r * d / v) * inv_one_plus_exp(lr - v.ln()))
}

fn next(k_t: f64, inc: f64, s: f64) -> Result<f64, TheoryError> {
    let k = k_t + inc;
    if k.is_finite() && k > 0.0 {
        Ok(k)
    } else {
        Err(TheoryError::Numerical(format!(
            "step s = {s} from k_t = {k_t} gives k = {k} (step size too large)"
        )))
    }
}

/// One particle step of the proof of Proposition D.2 done directly, with the field
/// grad log d_hat taken by central differences of [`log_suboptimal_discriminator`] (step
/// 1e-6 (1 + |x|)), p_data = N(0, k*^2 I_n), p_g = N(0, k_t^2 I_n). Returns the steepness
/// <x_{t+1}, x0>/|x0|^2. Needs x0 != 0.
pub fn d2_steepness_after_direct_step<F: RatioDistortion + ?Sized>(
    f: &F,
    k_t: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
) -> Result<f64, TheoryError> {
    check_step_args(k_t, k_star, s, x0)?;
    let n2: f64 = x0.iter().map(|v| v * v).sum();
    if n2 == 0.0 {
        return Err(TheoryError::invalid(
            "x0",
            "must be non-zero to read a steepness off the particle",
        ));
    }
    let n = x0.len();
    let p_data = Mixture::gaussian(vec![0.0; n], k_star)?;
    let p_g = Mixture::gaussian(vec![0.0; n], k_t)?;
    let x: Vec<f64> = x0.iter().map(|v| k_t * v).collect();
    let mut x1 = x.clone();
    for j in 0..n {
        let h = 1e-6 * (1.0 + x[j].abs());
        let mut a = x.clone();
        a[j] += h;
        let mut b = x.clone();
        b[j] -= h;
        let g = (log_suboptimal_discriminator(&p_data, &p_g, f, &a)?
            - log_suboptimal_discriminator(&p_data, &p_g, f, &b)?)
            / (2.0 * h);
        x1[j] += s * g;
    }
    Ok(x1.iter().zip(x0).map(|(a, b)| a * b).sum::<f64>() / n2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recurrence::{recurrence_step, recurrence_step_as_printed};
    use proptest::prelude::*;

    fn family() -> impl Strategy<Value = DistortionFamily> {
        prop_oneof![
            Just(DistortionFamily::Optimal),
            (0.0f64..3.0).prop_map(|a| DistortionFamily::Affine { a }),
            (0.05f64..2.0).prop_map(|b| DistortionFamily::Power { b }),
            (-2.0f64..2.0).prop_map(|c| DistortionFamily::Exp { c }),
        ]
    }

    fn mixture2d() -> impl Strategy<Value = Mixture> {
        (
            prop::collection::vec(prop::collection::vec(-2.0f64..2.0, 2), 1..4),
            0.3f64..1.5,
        )
            .prop_map(|(m, s)| Mixture::new(m, s, None).unwrap())
    }

    fn num_grad(fun: &dyn Fn(&[f64]) -> f64, x: &[f64]) -> Vec<f64> {
        (0..x.len())
            .map(|j| {
                let h = 1e-5;
                let mut a = x.to_vec();
                a[j] += h;
                let mut b = x.to_vec();
                b[j] -= h;
                (fun(&a) - fun(&b)) / (2.0 * h)
            })
            .collect()
    }

    #[test]
    fn invalid_f_and_x_are_named() {
        let p = Mixture::gaussian(vec![0.0, 0.0], 1.0).unwrap();
        let q = Mixture::gaussian(vec![1.0, 0.0], 1.0).unwrap();
        let neg = FnDistortion::new(|_| -1.0, |_| 0.0);
        let e = log_suboptimal_discriminator(&p, &q, &neg, &[0.0, 0.0]).unwrap_err();
        assert!(e.to_string().contains("`f`"));
        let e =
            log_suboptimal_discriminator(&p, &q, &DistortionFamily::Optimal, &[0.0]).unwrap_err();
        assert!(e.to_string().contains("`x`"));
        let e = prop_d1_cos_theta(&DistortionFamily::Optimal, 0.0).unwrap_err();
        assert!(e.to_string().contains("`r`"));
        let e = d2_step(&DistortionFamily::Optimal, 1.0, -1.0, 0.1, &[1.0]).unwrap_err();
        assert!(e.to_string().contains("k_star"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Proposition D.1 against finite differences of log d_hat and log d* on random 2-D
        /// mixtures and random f.
        #[test]
        fn prop_d1_sign_matches_numerical_vectors(
            p in mixture2d(),
            q in mixture2d(),
            f in family(),
            x in prop::collection::vec(-3.0f64..3.0, 2),
        ) {
            let lr = p.log_pdf(&x) - q.log_pdf(&x);
            prop_assume!(lr.abs() < 12.0);
            let r = lr.exp();
            // f finite and positive near x (Exp with c r large overflows; skip those).
            let ld_hat = |y: &[f64]| log_suboptimal_discriminator(&p, &q, &f, y);
            prop_assume!(ld_hat(&x).is_ok());
            let margin = (f.f(r) - r * f.df(r)).abs() / (f.f(r) + (r * f.df(r)).abs());
            prop_assume!(margin > 1e-3);
            let g_hat = num_grad(&|y| ld_hat(y).unwrap(), &x);
            let g_opt = num_grad(&|y| log_optimal_discriminator(&p, &q, y).unwrap(), &x);
            let n_opt = g_opt.iter().map(|v| v * v).sum::<f64>().sqrt();
            let n_hat = g_hat.iter().map(|v| v * v).sum::<f64>().sqrt();
            // d_hat can equal 1 to the last bit (f(r)/r below 1e-300 for f = exp(c r), c < 0,
            // r large): its gradient then rounds to zero and has no direction to compare.
            prop_assume!(n_opt > 1e-4 && n_hat > 1e-8);
            let c = cosine(&g_hat, &g_opt).unwrap();
            let predicted = prop_d1_cos_theta(&f, r).unwrap();
            prop_assert!((c - predicted).abs() < 1e-4, "numerical cos {c}, Prop D.1 {predicted}, f {f:?}, r {r}");
            // The analytic field of the proof agrees with the numerical gradient too.
            let field = suboptimal_field(&p, &q, &f, &x).unwrap();
            for (a, b) in field.iter().zip(&g_hat) {
                prop_assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
            }
        }

        /// Proposition D.2 corrected == one direct particle step (numerical gradient of
        /// log d_hat), in 1..3 dimensions; f = 1 reduces both D.2 forms to Theorem C.5's.
        #[test]
        fn d2_corrected_equals_particle_step(
            f in family(),
            n in 1usize..4,
            k in 0.3f64..3.0,
            ks in 0.3f64..3.0,
            s in 1e-3f64..0.2,
            x0 in prop::collection::vec(-1.5f64..1.5, 3),
        ) {
            let x0 = &x0[..n];
            prop_assume!(x0.iter().map(|v| v * v).sum::<f64>() > 1e-4);
            let fixed = d2_step(&f, k, ks, s, x0);
            prop_assume!(fixed.is_ok());
            let fixed = fixed.unwrap();
            let direct = d2_steepness_after_direct_step(&f, k, ks, s, x0).unwrap();
            prop_assert!((fixed - direct).abs() <= 1e-8 * (1.0 + (direct - k).abs()),
                "corrected {fixed} direct {direct} f {f:?}");
            // f = 1 reduces both D.2 forms to Theorem C.5's (where those steps are defined).
            let one = DistortionFamily::Optimal;
            let (a, b) = (d2_step(&one, k, ks, s, x0), recurrence_step(k, ks, s, x0));
            prop_assert_eq!(a.is_ok(), b.is_ok());
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert!((a - b).abs() < 1e-14);
            }
            let (a, b) = (d2_step_as_printed(&one, k, ks, s, x0), recurrence_step_as_printed(k, ks, s, x0));
            prop_assert_eq!(a.is_ok(), b.is_ok());
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert!((a - b).abs() < 1e-14);
            }
        }
    }

    /// One-step disagreement of the printed D.2 with the particle (1-D: exactly 1/k_t).
    #[test]
    fn d2_printed_misses_factor_k() {
        let f = DistortionFamily::Exp { c: 0.5 };
        let (k, ks, s, x0) = (2.0, 1.0, 0.01, [0.7]);
        let direct = d2_steepness_after_direct_step(&f, k, ks, s, &x0).unwrap();
        let printed = d2_step_as_printed(&f, k, ks, s, &x0).unwrap();
        let fixed = d2_step(&f, k, ks, s, &x0).unwrap();
        assert!(((fixed - k) / (direct - k) - 1.0).abs() < 1e-6);
        assert!(((printed - k) / (direct - k) - 0.5).abs() < 1e-6);
    }

    /// The "consequently" part of D.1 needs f(0) > 0: with f = r^1.5 the two fields point in
    /// opposite directions even where r is tiny.
    #[test]
    fn d1_small_r_claim_fails_without_positive_f0() {
        let p = Mixture::gaussian(vec![2.0, 2.0], 0.5).unwrap();
        let q = Mixture::gaussian(vec![0.0, 0.0], 1.0).unwrap();
        let x = [-0.5, 0.3];
        let r = (p.log_pdf(&x) - q.log_pdf(&x)).exp();
        assert!(r < 1e-6, "r = {r}");
        let f = DistortionFamily::Power { b: 1.5 };
        let c = cosine(
            &suboptimal_field(&p, &q, &f, &x).unwrap(),
            &crate::recurrence::optimal_field_local(&p, &q, &x),
        )
        .unwrap();
        assert!((c + 1.0).abs() < 1e-12, "cos = {c}");
        assert_eq!(prop_d1_cos_theta(&f, r).unwrap(), -1.0);
    }

    /// The Taylor step of D.1's proof, f(r) - r f'(r) = f(0) + r^2 f''(xi)/2, cannot hold for
    /// f = exp(c r): the left side is below f(0) = 1 for every r > 0, the right side above it.
    #[test]
    fn d1_taylor_step_has_wrong_sign() {
        for c in [-1.5, -0.3, 0.4, 2.0] {
            let f = DistortionFamily::Exp { c };
            for r in [1e-3, 0.1, 0.7, 2.0] {
                let h = f.f(r) - r * f.df(r);
                assert!(h < 1.0, "c={c} r={r} h={h}");
                // f'' = c^2 exp(c xi) > 0, so the printed right side is > f(0) = 1;
                // the correct form f(0) - r^2 f''(xi)/2 has a xi in (0, r):
                let need = 2.0 * (1.0 - h) / (r * r * c * c); // = exp(c xi)
                let xi = need.ln() / c;
                assert!(xi > 0.0 && xi < r, "c={c} r={r} xi={xi}");
            }
        }
    }

    /// At k*, r = 1 for every x0: k* attracts iff f(1) > f'(1). f = r^1.5 (f(1) - f'(1) = -0.5)
    /// and f = exp(1.5 r) repel; f = 1 + r and f = exp(0.5 r) attract.
    #[test]
    fn d2_fixed_point_stability_depends_on_f() {
        let ks = 1.3;
        let x0 = [0.4];
        let cases: [(DistortionFamily, bool); 4] = [
            (DistortionFamily::Power { b: 1.5 }, false),
            (DistortionFamily::Exp { c: 1.5 }, false),
            (DistortionFamily::Affine { a: 1.0 }, true),
            (DistortionFamily::Exp { c: 0.5 }, true),
        ];
        for (f, attracts) in cases {
            assert_eq!(f.f(1.0) > f.df(1.0), attracts);
            for start in [0.98 * ks, 1.02 * ks] {
                let mut k = start;
                for _ in 0..200 {
                    k = d2_step(&f, k, ks, 0.05, &x0).unwrap();
                }
                let closer = (k - ks).abs() < (start - ks).abs();
                assert_eq!(closer, attracts, "{f:?} from {start}: {k}");
            }
        }
    }
}
