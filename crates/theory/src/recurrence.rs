//! Theorem C.5: the steepness k_t of a linear generator g(z) = k_t z trained against the exact
//! optimal discriminator when p_data = N(0, k*^2 I_n), p_g = N(0, k_t^2 I_n).
//!
//! The proof follows one particle x_t = k_t x0 under the field of Theorem C.1,
//! x_{t+1} = x_t + s grad r(x_t)/(r(x_t)(1 + r(x_t))), with r = p_data/p_g. Since
//! grad log r(x) = (1/k_t^2 - 1/k*^2) x, the particle moves by s (1/k_t^2 - 1/k*^2) x_t/(1 + r),
//! and dividing by x0 gives
//!
//! ```text
//! k_{t+1} = k_t + s k_t (1/k_t^2 - 1/k*^2) / (1 + r(k_t x0)),
//! r(k_t x0) = (k_t/k*)^n phi(k_t x0/k*)/phi(x0)                       (corrected)
//! ```
//! The paper prints k_{t+1} = k_t + s (1/k_t^2 - 1/k*^2)/(1 + k_t phi(k_t x0/k*)/(k* phi(x0))):
//! the factor k_t of the increment is missing, and the density ratio has k_t/k* where the n-D
//! densities phi(x/k)/k^n give (k_t/k*)^n (the proof writes the 1-D normalisation phi(x/k)/k
//! for N(0, k^2 I_n)). For n = 1 only the factor k_t differs. Both forms are here
//! ([`recurrence_step_as_printed`], [`recurrence_step`]), with a direct particle step
//! ([`particle_step_direct`]) that uses the densities of [`Mixture::gaussian`] and evaluates the
//! field in log space, so the tests can say which form a particle actually follows.
//!
//! Both forms have the fixed point k* (footnote 5), where r = 1 for every x0, and both converge
//! to it monotonically for small s; near k* the corrected map contracts by 1 - s/k*^2 per step,
//! the printed one by 1 - s/k*^3.

use crate::mixture::{Density, Mixture};
use crate::TheoryError;

use crate::positive;

pub(crate) fn check_step_args(
    k_t: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
) -> Result<(), TheoryError> {
    positive("k_t", k_t)?;
    positive("k_star", k_star)?;
    if !(s.is_finite() && s >= 0.0) {
        return Err(TheoryError::invalid(
            "s",
            format!("step size must be finite and >= 0, got {s}"),
        ));
    }
    if x0.is_empty() || x0.iter().any(|v| !v.is_finite()) {
        return Err(TheoryError::invalid(
            "x0",
            "must be a non-empty finite vector",
        ));
    }
    Ok(())
}

fn norm2(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum()
}

/// 1/(1 + e^l) without overflow.
pub(crate) fn inv_one_plus_exp(l: f64) -> f64 {
    if l > 0.0 {
        let e = (-l).exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + l.exp())
    }
}

/// log r(k_t x0) for p_data = N(0, k*^2 I_n), p_g = N(0, k_t^2 I_n), n = x0.len():
/// n ln(k_t/k*) - |x0|^2 (k_t^2/k*^2 - 1)/2 (Theorem C.5, corrected normalisation).
pub fn log_density_ratio_at_particle(
    k_t: f64,
    k_star: f64,
    x0: &[f64],
) -> Result<f64, TheoryError> {
    check_step_args(k_t, k_star, 0.0, x0)?;
    let q = k_t / k_star;
    Ok(x0.len() as f64 * q.ln() - 0.5 * norm2(x0) * (q * q - 1.0))
}

/// log of the ratio printed in Theorem C.5, k_t phi(k_t x0/k*)/(k* phi(x0)) with phi the n-D
/// standard normal density: ln(k_t/k*) - |x0|^2 (k_t^2/k*^2 - 1)/2.
pub fn log_density_ratio_at_particle_as_printed(
    k_t: f64,
    k_star: f64,
    x0: &[f64],
) -> Result<f64, TheoryError> {
    check_step_args(k_t, k_star, 0.0, x0)?;
    let q = k_t / k_star;
    Ok(q.ln() - 0.5 * norm2(x0) * (q * q - 1.0))
}

fn checked_next(k_next: f64, k_t: f64, s: f64) -> Result<f64, TheoryError> {
    if k_next.is_finite() && k_next > 0.0 {
        Ok(k_next)
    } else {
        Err(TheoryError::Numerical(format!(
            "step s = {s} from k_t = {k_t} gives k = {k_next} (step size too large)"
        )))
    }
}

/// Theorem C.5 as printed: k_{t+1} = k_t + s (1/k_t^2 - 1/k*^2) / (1 + k_t phi(k_t x0/k*)/(k* phi(x0))).
pub fn recurrence_step_as_printed(
    k_t: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
) -> Result<f64, TheoryError> {
    check_step_args(k_t, k_star, s, x0)?;
    let lr = log_density_ratio_at_particle_as_printed(k_t, k_star, x0)?;
    let inc = s * (1.0 / (k_t * k_t) - 1.0 / (k_star * k_star)) * inv_one_plus_exp(lr);
    checked_next(k_t + inc, k_t, s)
}

/// Theorem C.5 corrected (re-derived from its own proof):
/// k_{t+1} = k_t + s k_t (1/k_t^2 - 1/k*^2) / (1 + (k_t/k*)^n phi(k_t x0/k*)/phi(x0)).
pub fn recurrence_step(k_t: f64, k_star: f64, s: f64, x0: &[f64]) -> Result<f64, TheoryError> {
    check_step_args(k_t, k_star, s, x0)?;
    let lr = log_density_ratio_at_particle(k_t, k_star, x0)?;
    let inc = s * k_t * (1.0 / (k_t * k_t) - 1.0 / (k_star * k_star)) * inv_one_plus_exp(lr);
    checked_next(k_t + inc, k_t, s)
}

/// Which form of the Theorem C.5 recurrence to iterate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecurrenceForm {
    AsPrinted,
    Corrected,
}

/// Iterates Theorem C.5's recurrence `n_steps` times from k0; returns k_0, ..., k_{n_steps}.
pub fn iterate_recurrence(
    form: RecurrenceForm,
    k0: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
    n_steps: usize,
) -> Result<Vec<f64>, TheoryError> {
    check_step_args(k0, k_star, s, x0)?;
    let mut out = Vec::with_capacity(n_steps + 1);
    out.push(k0);
    let mut k = k0;
    for _ in 0..n_steps {
        k = match form {
            RecurrenceForm::AsPrinted => recurrence_step_as_printed(k, k_star, s, x0)?,
            RecurrenceForm::Corrected => recurrence_step(k, k_star, s, x0)?,
        };
        out.push(k);
    }
    Ok(out)
}

/// The optimal-discriminator field grad d/d = grad r/(r(1 + r)) = grad log r/(1 + r) of
/// Theorem C.1 at x for two densities, evaluated in log space (a local helper: the general
/// field module lives elsewhere; this one only serves the checks of this module and of
/// `suboptimal`).
pub(crate) fn optimal_field_local<P: Density + ?Sized, Q: Density + ?Sized>(
    p_data: &P,
    p_g: &Q,
    x: &[f64],
) -> Vec<f64> {
    let lr = p_data.log_pdf(x) - p_g.log_pdf(x);
    let w = inv_one_plus_exp(lr);
    p_data
        .grad_log_pdf(x)
        .iter()
        .zip(p_g.grad_log_pdf(x))
        .map(|(a, b)| (a - b) * w)
        .collect()
}

/// One particle step of the proof of Theorem C.5, done directly: x_t = k_t x0,
/// x_{t+1} = x_t + s grad r/(r(1 + r)) at x_t, with p_data = N(0, k*^2 I_n) and
/// p_g = N(0, k_t^2 I_n) from [`Mixture::gaussian`]. Returns x_{t+1}.
pub fn particle_step_direct(
    k_t: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
) -> Result<Vec<f64>, TheoryError> {
    check_step_args(k_t, k_star, s, x0)?;
    let n = x0.len();
    let p_data = Mixture::gaussian(vec![0.0; n], k_star)?;
    let p_g = Mixture::gaussian(vec![0.0; n], k_t)?;
    let x: Vec<f64> = x0.iter().map(|v| k_t * v).collect();
    let field = optimal_field_local(&p_data, &p_g, &x);
    Ok(x.iter().zip(&field).map(|(a, f)| a + s * f).collect())
}

/// The steepness a particle implies after one direct step: <x_{t+1}, x0>/|x0|^2
/// (x_{t+1} stays parallel to x0). Needs x0 != 0.
pub fn steepness_after_direct_step(
    k_t: f64,
    k_star: f64,
    s: f64,
    x0: &[f64],
) -> Result<f64, TheoryError> {
    let n2 = norm2(x0);
    if n2 == 0.0 {
        return Err(TheoryError::invalid(
            "x0",
            "must be non-zero to read a steepness off the particle",
        ));
    }
    let x1 = particle_step_direct(k_t, k_star, s, x0)?;
    Ok(x1.iter().zip(x0).map(|(a, b)| a * b).sum::<f64>() / n2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    #[test]
    fn invalid_inputs_are_named() {
        let e = recurrence_step(-1.0, 1.0, 0.1, &[1.0]).unwrap_err();
        assert!(e.to_string().contains("k_t"));
        let e = recurrence_step(1.0, 0.0, 0.1, &[1.0]).unwrap_err();
        assert!(e.to_string().contains("k_star"));
        let e = recurrence_step_as_printed(1.0, 1.0, -0.1, &[1.0]).unwrap_err();
        assert!(e.to_string().contains("s"));
        let e = recurrence_step(1.0, 1.0, 0.1, &[]).unwrap_err();
        assert!(e.to_string().contains("x0"));
        let e = steepness_after_direct_step(1.0, 2.0, 0.1, &[0.0, 0.0]).unwrap_err();
        assert!(e.to_string().contains("x0"));
    }

    /// The printed recurrence misses the factor k_t: a concrete one-step counterexample.
    #[test]
    fn printed_form_disagrees_with_particle_in_1d() {
        let (k, ks, s, x0) = (2.0, 1.0, 0.01, [0.7]);
        let direct = steepness_after_direct_step(k, ks, s, &x0).unwrap();
        let fixed = recurrence_step(k, ks, s, &x0).unwrap();
        let printed = recurrence_step_as_printed(k, ks, s, &x0).unwrap();
        assert!(rel(fixed - k, direct - k) < 1e-12);
        // The printed increment is the true one divided by k_t = 2.
        assert!(rel(printed - k, (direct - k) / k) < 1e-12);
        assert!(rel(printed - k, direct - k) > 0.49);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// The corrected recurrence is exactly one particle step, in any dimension.
        #[test]
        fn corrected_step_equals_direct_particle_step(
            n in 1usize..5,
            k in 0.2f64..5.0,
            ks in 0.2f64..5.0,
            s in 0.0f64..0.5,
            x0 in prop::collection::vec(-2.5f64..2.5, 4),
        ) {
            let x0 = &x0[..n];
            prop_assume!(norm2(x0) > 1e-6);
            // Steps that would send the particle through 0 are refused by the recurrence.
            let fixed = recurrence_step(k, ks, s, x0);
            prop_assume!(fixed.is_ok());
            let fixed = fixed.unwrap();
            let direct = steepness_after_direct_step(k, ks, s, x0).unwrap();
            let x1 = particle_step_direct(k, ks, s, x0).unwrap();
            // The particle stays on the ray through x0.
            for (a, b) in x1.iter().zip(x0) {
                prop_assert!((a - direct * b).abs() <= 1e-12 * (1.0 + a.abs()));
            }
            prop_assert!((fixed - direct).abs() <= 1e-12 * (1.0 + direct.abs()),
                "corrected {fixed} direct {direct}");
        }

        /// The field used by the direct step is grad log r/(1 + r): cross-check the analytic
        /// mixture gradients with central differences of log r.
        #[test]
        fn local_field_matches_numerical_gradient(
            k in 0.3f64..3.0,
            ks in 0.3f64..3.0,
            x in prop::collection::vec(-2.0f64..2.0, 2),
        ) {
            let p = Mixture::gaussian(vec![0.0, 0.0], ks).unwrap();
            let q = Mixture::gaussian(vec![0.0, 0.0], k).unwrap();
            let f = optimal_field_local(&p, &q, &x);
            let lr = |y: &[f64]| p.log_pdf(y) - q.log_pdf(y);
            let r = lr(&x).exp();
            for j in 0..2 {
                let h = 1e-5;
                let mut a = x.clone(); a[j] += h;
                let mut b = x.clone(); b[j] -= h;
                let g = (lr(&a) - lr(&b)) / (2.0 * h) / (1.0 + r);
                prop_assert!((g - f[j]).abs() <= 1e-6 * (1.0 + g.abs()));
            }
        }

        /// In 1-D the printed increment is exactly the particle's divided by k_t; in n-D the
        /// density ratio differs too. Away from k* and k_t = 1 the printed step is wrong.
        #[test]
        fn printed_step_disagrees_with_particle(
            n in 1usize..4,
            k in 0.2f64..5.0,
            ks in 0.2f64..5.0,
            s in 1e-3f64..0.1,
            x0 in prop::collection::vec(-2.0f64..2.0, 3),
        ) {
            let x0 = &x0[..n];
            prop_assume!(norm2(x0) > 1e-4);
            prop_assume!((k / ks - 1.0).abs() > 0.05 && (k - 1.0).abs() > 0.05);
            let printed = recurrence_step_as_printed(k, ks, s, x0);
            prop_assume!(printed.is_ok());
            let printed = printed.unwrap();
            let direct = steepness_after_direct_step(k, ks, s, x0).unwrap();
            if n == 1 {
                prop_assert!(rel(printed - k, (direct - k) / k) < 1e-9);
            }
            prop_assert!(rel(printed - k, direct - k) > 1e-3,
                "printed {printed} direct {direct} (k={k}, k*={ks})");
        }

        /// Footnote 5 and the monotonicity claim: for small s both forms approach k*
        /// monotonically from either side, without crossing it, and reach it.
        #[test]
        fn both_forms_converge_monotonically_to_k_star(
            n in 1usize..4,
            ks in 0.5f64..3.0,
            ratio in prop_oneof![0.3f64..0.95, 1.05f64..3.0],
            x0 in prop::collection::vec(-1.5f64..1.5, 3),
        ) {
            let x0 = &x0[..n];
            let k0 = ratio * ks;
            let lo = k0.min(ks);
            // Small enough that no step overshoots: the printed increment is at most
            // 2 s |k - k*|/(k^2 k*) below k* and 2 s |k - k*|/k*^3 above it, the corrected one
            // 2 s |k - k*|/(k k*) resp. 2 s |k - k*|/k*^2.
            let s = 0.1 * lo.powi(3);
            for form in [RecurrenceForm::AsPrinted, RecurrenceForm::Corrected] {
                let path = iterate_recurrence(form, k0, ks, s, x0, 2000).unwrap();
                for w in path.windows(2) {
                    // Moves towards k* and never crosses it.
                    prop_assert!((w[1] - ks).abs() <= (w[0] - ks).abs());
                    prop_assert!((w[1] - ks) * (k0 - ks) >= 0.0);
                }
                let last = *path.last().unwrap();
                prop_assert!((last - ks).abs() < 0.9 * (k0 - ks).abs(), "{form:?} did not move");
            }
            // The limit, with a larger step that is still overshoot-free.
            let s = 0.25 * lo * lo * ks.min(1.0);
            for form in [RecurrenceForm::AsPrinted, RecurrenceForm::Corrected] {
                let path = iterate_recurrence(form, k0, ks, s, x0, 5000).unwrap();
                prop_assert!(rel(*path.last().unwrap(), ks) < 1e-8, "{form:?}: {}", path.last().unwrap());
            }
        }

        /// Near k* the corrected map contracts by 1 - s/k*^2 (r = 1 at k*), the printed one by
        /// 1 - s/k*^3; the direct particle step follows the corrected rate.
        #[test]
        fn contraction_rate_at_fixed_point(
            ks in 0.5f64..3.0,
            x0 in -1.5f64..1.5,
            c in 0.01f64..0.5,
        ) {
            let s = c * ks * ks;
            let eps = 1e-6 * ks;
            let k = ks + eps;
            let fixed = (recurrence_step(k, ks, s, &[x0]).unwrap() - ks) / eps;
            let printed = (recurrence_step_as_printed(k, ks, s, &[x0]).unwrap() - ks) / eps;
            let direct = if x0.abs() > 1e-3 {
                Some((steepness_after_direct_step(k, ks, s, &[x0]).unwrap() - ks) / eps)
            } else { None };
            prop_assert!((fixed - (1.0 - s / (ks * ks))).abs() < 1e-4);
            prop_assert!((printed - (1.0 - s / ks.powi(3))).abs() < 1e-4);
            if let Some(d) = direct {
                prop_assert!((d - fixed).abs() < 1e-4);
            }
        }
    }
}
