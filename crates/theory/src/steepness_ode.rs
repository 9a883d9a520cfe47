//! Theorem 3.3 (= Theorem C.6): the evolution of the steepness k = g_t'(0) of a 1-D generator
//! trained against the exact optimal discriminator, when p_data = 0.5 N(-mu, sigma^2) +
//! 0.5 N(mu, sigma^2) and g_0 is odd:
//!
//! ```text
//! dk/dt = ((mu^2 - sigma^2)/sigma^4 k^3 + k + g3) / (exp(-mu^2/(2 sigma^2))/sigma k^3 + k^2),
//! ```
//! with g3 = g_t'''(0). The module has four parts.
//!
//! 1. The right-hand side in the two forms the paper prints (main text / statement of C.6, and
//!    the last display of the proof, which has exp(-mu^2/sigma^2) instead of
//!    exp(-mu^2/(2 sigma^2))), and an independent re-derivation
//!    [`steepness_rhs_from_densities`] that evaluates dk/dt = (log d)''(0) k from the densities
//!    themselves ([`Mixture1d`] for p_data, the change-of-variables formula for p_g). The
//!    re-derivation agrees with the main-text form to rounding; the end-of-proof form is a slip.
//!    The proof also prints p_data(0) = exp(-mu^2/(2 sigma^2))/(sqrt(2 pi) sigma^2): the correct
//!    value has sigma, not sigma^2 ([`p_data_at_zero_as_printed`]).
//! 2. [`SteepnessOde::integrate`]: the ODE with constant g3, by the adaptive Dormand-Prince 5(4)
//!    solver of `ode_solvers`.
//! 3. [`simulate_generator_flow`]: a direct simulation of the PDE dg_t/dt(z) = (d_t'/d_t)(g_t(z))
//!    that the theorem starts from, on a z-grid, with no use of the theorem's formula; it records
//!    k(t), g3(t) and the instantaneous dk/dt so the ODE can be checked against it
//!    ([`compare_flow_with_ode`]).
//! 4. The "early exponential growth with rate (mu^2 - sigma^2)/sigma^4" claim:
//!    [`measure_growth_window`] measures d log k/dt along an ODE solution, and
//!    [`growth_window_g3_zero`] gives the closed-form window of k for g3 = 0.
//!
//! # The fixed point sigma exp(mu^2/(2 sigma^2)) and what the ODE does there
//! The optimal-transport map g* = Psi^{-1} o Phi has g*'(0) = phi(0)/p_data(0) =
//! sigma exp(mu^2/(2 sigma^2)) =: k_ot ([`ot_steepness_at_zero`]): at that steepness p_g(0) =
//! p_data(0), and the term exp(-mu^2/(2 sigma^2))/sigma k^3 of the denominator equals k^2 (its
//! size relative to k^2 is exactly k/k_ot). At the stationary point of the flow (p_g = p_data,
//! d = 1/2 everywhere) the numerator must vanish, which forces
//! g3 = -((mu^2 - sigma^2)/sigma^4 k_ot^3 + k_ot) ([`ot_third_derivative_at_zero`]; the tests
//! check it against finite differences of the quantile map). With g3 = 0 held fixed, instead,
//! the numerator stays positive for every k > 0 when mu > sigma, so k passes through k_ot without
//! slowing down and grows for ever, asymptotically linearly with slope
//! (mu^2 - sigma^2)/sigma^4 k_ot (the ratio numerator/denominator tends to that constant). The
//! g3 = 0 ODE therefore describes the early phase only; what stops the real flow at k_ot is
//! g3(t) becoming strongly negative, which the direct simulation shows.

use crate::mixture::Mixture1d;
use crate::TheoryError;
use argmin::core::{CostFunction, Executor, State};
use argmin::solver::brent::BrentRoot;
use ode_solvers::{Dopri5, OutputType, System, Vector1};

const LN_2PI: f64 = 1.837_877_066_409_345_5;
/// phi(0) = 1/sqrt(2 pi).
const PHI0: f64 = 0.398_942_280_401_432_7;
/// Integration stops when k leaves (K_MIN, K_MAX).
pub const K_MAX: f64 = 1e12;
/// Lower guard: with g3 < -k the ODE drives k to 0 in finite time, where the RHS is singular.
pub const K_MIN: f64 = 1e-12;

use crate::positive;

fn finite(name: &'static str, v: f64) -> Result<(), TheoryError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(TheoryError::invalid(
            name,
            format!("must be finite, got {v}"),
        ))
    }
}

/// The rate (mu^2 - sigma^2)/sigma^4 of the early exponential growth claimed after Theorem 3.3.
pub fn growth_rate(mu: f64, sigma: f64) -> f64 {
    (mu * mu - sigma * sigma) / sigma.powi(4)
}

/// Steepness of the optimal-transport map g* = Psi^{-1} o Phi at 0 for the symmetric pair of
/// Theorem 3.3: phi(0)/p_data(0) = sigma exp(mu^2/(2 sigma^2)).
pub fn ot_steepness_at_zero(mu: f64, sigma: f64) -> f64 {
    sigma * (mu * mu / (2.0 * sigma * sigma)).exp()
}

/// g*'''(0) of the optimal-transport map (Theorem 3.3 setting): the value of g3 that makes the
/// numerator of the ODE vanish at k = k_ot, -((mu^2 - sigma^2)/sigma^4 k_ot^3 + k_ot).
/// Derived from differentiating g*'(z) p_data(g*(z)) = phi(z) twice at 0.
pub fn ot_third_derivative_at_zero(mu: f64, sigma: f64) -> f64 {
    let k = ot_steepness_at_zero(mu, sigma);
    -(growth_rate(mu, sigma) * k.powi(3) + k)
}

/// p_data(0) as printed in step (iv) of the proof of Theorem C.6:
/// exp(-mu^2/(2 sigma^2))/(sqrt(2 pi) sigma^2). The true value is
/// exp(-mu^2/(2 sigma^2))/(sqrt(2 pi) sigma) (`Mixture1d::symmetric_pair(mu, sigma).pdf(0)`),
/// so the printed one is off by a factor 1/sigma.
pub fn p_data_at_zero_as_printed(mu: f64, sigma: f64) -> f64 {
    PHI0 * (-mu * mu / (2.0 * sigma * sigma)).exp() / (sigma * sigma)
}

fn rhs_with_exponent(mu: f64, sigma: f64, k: f64, g3: f64, exponent: f64) -> f64 {
    // Divided through by k^2 so that k up to 1e12 stays far from overflow.
    let e = (-exponent).exp() / sigma;
    (growth_rate(mu, sigma) * k + 1.0 / k + g3 / (k * k)) / (e * k + 1.0)
}

fn check_rhs_args(mu: f64, sigma: f64, k: f64, g3: f64) -> Result<(), TheoryError> {
    positive("mu", mu)?;
    positive("sigma", sigma)?;
    positive("k", k)?;
    finite("g3", g3)
}

/// Theorem 3.3 (and the statement of Theorem C.6), right-hand side as printed in the main text:
/// ((mu^2 - sigma^2)/sigma^4 k^3 + k + g3) / (exp(-mu^2/(2 sigma^2))/sigma k^3 + k^2).
/// This is the form the independent re-derivation confirms.
pub fn steepness_rhs(mu: f64, sigma: f64, k: f64, g3: f64) -> Result<f64, TheoryError> {
    check_rhs_args(mu, sigma, k, g3)?;
    Ok(rhs_with_exponent(
        mu,
        sigma,
        k,
        g3,
        mu * mu / (2.0 * sigma * sigma),
    ))
}

/// Theorem C.6, right-hand side as printed at the end of its proof, with exp(-mu^2/sigma^2)
/// in the denominator. Differs from [`steepness_rhs`] by a relative amount of about
/// (k/k_ot)(1 - exp(-mu^2/(2 sigma^2)))/(1 + k/k_ot), k_ot = sigma exp(mu^2/(2 sigma^2)):
/// negligible only while k << k_ot, whatever mu/sigma.
pub fn steepness_rhs_end_of_proof_as_printed(
    mu: f64,
    sigma: f64,
    k: f64,
    g3: f64,
) -> Result<f64, TheoryError> {
    check_rhs_args(mu, sigma, k, g3)?;
    Ok(rhs_with_exponent(
        mu,
        sigma,
        k,
        g3,
        mu * mu / (sigma * sigma),
    ))
}

/// Density of g_# N(0,1) and its first two derivatives at x = 0 for an odd increasing g with
/// g'(0) = k, g''(0) = 0, g'''(0) = g3 (proof of Theorem C.6, step (iv)):
/// p_g(0) = phi(0)/k, p_g'(0) = 0, p_g''(0) = -phi(0)(k + g3)/k^4.
/// From p_g(g(z)) = phi(z)/g'(z): d/dx = (1/g') d/dz applied twice at z = 0. The tests check it
/// against finite differences of the push-forward CDF Phi(g^{-1}(x)).
pub fn pushforward_density_at_zero(k: f64, g3: f64) -> Result<[f64; 3], TheoryError> {
    positive("k", k)?;
    finite("g3", g3)?;
    Ok([PHI0 / k, 0.0, -PHI0 * (k + g3) / k.powi(4)])
}

/// Independent re-derivation of Theorem 3.3's right-hand side: dk/dt = (log d)''(0) k with
/// d = p_data/(p_data + p_g), where p_data, p_data', p_data'' come from [`Mixture1d`]
/// (not from the paper's step (iv)), p_g from [`pushforward_density_at_zero`], and
/// (log d)'' = (log p)'' - (log(p + q))'' is expanded with the general quotient rule (first
/// derivatives kept, not assumed zero). Needs p_data(0) to be a normal f64
/// (mu^2/(2 sigma^2) below about 700), else `Numerical`.
pub fn steepness_rhs_from_densities(
    mu: f64,
    sigma: f64,
    k: f64,
    g3: f64,
) -> Result<f64, TheoryError> {
    check_rhs_args(mu, sigma, k, g3)?;
    let m = Mixture1d::symmetric_pair(mu, sigma)?;
    let (p, p1, p2) = (m.pdf(0.0), m.dpdf(0.0), m.d2pdf(0.0));
    if !p.is_normal() {
        return Err(TheoryError::Numerical(format!(
            "p_data(0) = {p} underflows for mu = {mu}, sigma = {sigma}"
        )));
    }
    let [q, q1, q2] = pushforward_density_at_zero(k, g3)?;
    let log_p_dd = p2 / p - (p1 / p).powi(2);
    let s = p + q;
    let log_s_dd = (p2 + q2) / s - ((p1 + q1) / s).powi(2);
    Ok((log_p_dd - log_s_dd) * k)
}

/// Which printed right-hand side to integrate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteepnessRhsForm {
    /// Theorem 3.3 / statement of C.6 (confirmed by the re-derivation).
    MainText,
    /// Last display of the proof of C.6 (exp(-mu^2/sigma^2)); a slip.
    EndOfProofAsPrinted,
}

/// The Theorem 3.3 ODE for k = g_t'(0) with constant g3 = g_t'''(0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SteepnessOde {
    mu: f64,
    sigma: f64,
    g3: f64,
    form: SteepnessRhsForm,
}

/// Why an integration stopped before `t_end` (the solution holds the output points reached).
#[derive(Clone, Debug, PartialEq)]
pub struct OdeStop {
    /// Time of the last accepted solver step (or the start of the failing interval).
    pub t: f64,
    /// k there.
    pub k: f64,
    pub reason: String,
}

/// k at evenly spaced output times. If k left (K_MIN, K_MAX) or the solver failed, `t` and
/// `k` hold only the output times reached before that and `stopped` says why.
#[derive(Clone, Debug, PartialEq)]
pub struct SteepnessOdeSolution {
    pub t: Vec<f64>,
    pub k: Vec<f64>,
    pub stopped: Option<OdeStop>,
}

struct OdeSystem {
    ode: SteepnessOde,
}

impl System<f64, Vector1<f64>> for OdeSystem {
    fn system(&self, _t: f64, y: &Vector1<f64>, dy: &mut Vector1<f64>) {
        dy[0] = self.ode.rhs_unchecked(y[0]);
    }
    fn solout(&mut self, _t: f64, y: &Vector1<f64>, _dy: &Vector1<f64>) -> bool {
        !(y[0] > K_MIN && y[0] < K_MAX)
    }
}

impl SteepnessOde {
    /// The main-text ODE (Theorem 3.3) with g3 = 0. Needs mu > 0, sigma > 0.
    pub fn new(mu: f64, sigma: f64) -> Result<Self, TheoryError> {
        positive("mu", mu)?;
        positive("sigma", sigma)?;
        Ok(Self {
            mu,
            sigma,
            g3: 0.0,
            form: SteepnessRhsForm::MainText,
        })
    }
    /// Holds g_t'''(0) at the constant `g3` (Theorem 3.3 treats it as given).
    pub fn with_g3(mut self, g3: f64) -> Result<Self, TheoryError> {
        finite("g3", g3)?;
        self.g3 = g3;
        Ok(self)
    }
    /// Chooses the printed form of the right-hand side.
    pub fn with_form(mut self, form: SteepnessRhsForm) -> Self {
        self.form = form;
        self
    }
    pub fn mu(&self) -> f64 {
        self.mu
    }
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    pub fn g3(&self) -> f64 {
        self.g3
    }
    pub fn form(&self) -> SteepnessRhsForm {
        self.form
    }

    fn rhs_unchecked(&self, k: f64) -> f64 {
        let s2 = self.sigma * self.sigma;
        let exponent = match self.form {
            SteepnessRhsForm::MainText => self.mu * self.mu / (2.0 * s2),
            SteepnessRhsForm::EndOfProofAsPrinted => self.mu * self.mu / s2,
        };
        rhs_with_exponent(self.mu, self.sigma, k, self.g3, exponent)
    }

    /// dk/dt at k (Theorem 3.3 right-hand side in the chosen form).
    pub fn rhs(&self, k: f64) -> Result<f64, TheoryError> {
        positive("k", k)?;
        Ok(self.rhs_unchecked(k))
    }

    /// Integrates Theorem 3.3's ODE from k(0) = k0 over [0, t_end] with Dopri5 (rtol 1e-10,
    /// atol 1e-12), restarting the solver between consecutive output times so that the values
    /// at the `n_out` evenly spaced times (0 and t_end included) are the solver's own end points.
    /// Needs k0 > 0, t_end >= 0, n_out >= 2. If k leaves (1e-12, 1e12) (it can reach 0 in finite
    /// time when g3 < -k; with g3 >= 0 it grows at most linearly) the integration stops and the
    /// solution holds the output points before that, with `stopped` set.
    pub fn integrate(
        &self,
        k0: f64,
        t_end: f64,
        n_out: usize,
    ) -> Result<SteepnessOdeSolution, TheoryError> {
        positive("k0", k0)?;
        if !(t_end.is_finite() && t_end >= 0.0) {
            return Err(TheoryError::invalid(
                "t_end",
                format!("must be finite and >= 0, got {t_end}"),
            ));
        }
        if n_out < 2 {
            return Err(TheoryError::invalid(
                "n_out",
                format!("need at least 2 output times, got {n_out}"),
            ));
        }
        if !(k0 > K_MIN && k0 < K_MAX) {
            return Err(TheoryError::invalid(
                "k0",
                format!("must lie in ({K_MIN}, {K_MAX})"),
            ));
        }
        let times: Vec<f64> = (0..n_out)
            .map(|i| t_end * i as f64 / (n_out - 1) as f64)
            .collect();
        let mut out_t = vec![0.0];
        let mut out_k = vec![k0];
        let mut y = k0;
        for w in times.windows(2) {
            let (a, b) = (w[0], w[1]);
            if b <= a {
                out_t.push(b);
                out_k.push(y);
                continue;
            }
            let mut solver = Dopri5::new(
                OdeSystem { ode: *self },
                a,
                b,
                b - a,
                Vector1::new(y),
                1e-10,
                1e-12,
            );
            solver.set_output(OutputType::Sparse);
            if let Err(e) = solver.integrate() {
                return Ok(SteepnessOdeSolution {
                    t: out_t,
                    k: out_k,
                    stopped: Some(OdeStop {
                        t: a,
                        k: y,
                        reason: format!("Dopri5 failed on [{a}, {b}]: {e:?}"),
                    }),
                });
            }
            let t_last = *solver.x_out().last().unwrap_or(&a);
            let k_last = solver.y_out().last().map(|v| v[0]).unwrap_or(y);
            if !(k_last > K_MIN && k_last < K_MAX) || (b - t_last).abs() > 1e-9 * b.abs().max(1.0) {
                return Ok(SteepnessOdeSolution {
                    t: out_t,
                    k: out_k,
                    stopped: Some(OdeStop {
                        t: t_last,
                        k: k_last,
                        reason: format!("k left ({K_MIN}, {K_MAX}) at t = {t_last}"),
                    }),
                });
            }
            y = k_last;
            out_t.push(b);
            out_k.push(y);
        }
        Ok(SteepnessOdeSolution {
            t: out_t,
            k: out_k,
            stopped: None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Early exponential growth
// ---------------------------------------------------------------------------------------------

/// Along an ODE solution: the local growth rate (d log k/dt) / ((mu^2 - sigma^2)/sigma^4) and
/// the longest stretch where it is within `tol` of 1.
#[derive(Clone, Debug, PartialEq)]
pub struct GrowthWindow {
    /// (mu^2 - sigma^2)/sigma^4.
    pub rate: f64,
    pub t: Vec<f64>,
    pub k: Vec<f64>,
    /// (d log k/dt)/rate, measured by finite differences of log k on the output grid
    /// (second order: central inside, one-sided at the two ends).
    pub ratio: Vec<f64>,
    /// The longest run of output points with |ratio - 1| <= tol, or `None`.
    pub window: Option<WindowSpan>,
}

/// A stretch of an ODE solution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSpan {
    pub t_lo: f64,
    pub t_hi: f64,
    pub k_lo: f64,
    pub k_hi: f64,
    /// ln(k_hi/k_lo): how many e-folds of growth happen inside the window.
    pub e_folds: f64,
}

/// Checks the claim after Theorem 3.3 ("at an early stage g_t'(0) grows exponentially with rate
/// (mu^2 - sigma^2)/sigma^4") on an ODE solution: integrates `ode` from k0 over [0, t_end] at
/// `n_out` points, measures d log k/dt numerically, divides by the rate and reports where the
/// ratio is within `tol` of 1. The dominant-term argument needs
/// sigma^2/sqrt(mu^2 - sigma^2) << k << sigma exp(mu^2/(2 sigma^2)); below that k grows like
/// sqrt(t) (the +k term wins), above it the growth turns linear. Needs mu > sigma.
pub fn measure_growth_window(
    ode: &SteepnessOde,
    k0: f64,
    t_end: f64,
    n_out: usize,
    tol: f64,
) -> Result<GrowthWindow, TheoryError> {
    if ode.mu <= ode.sigma {
        return Err(TheoryError::invalid(
            "mu",
            "the growth claim needs mu > sigma",
        ));
    }
    positive("tol", tol)?;
    if n_out < 3 {
        return Err(TheoryError::invalid(
            "n_out",
            "need at least 3 output times to differentiate",
        ));
    }
    let sol = ode.integrate(k0, t_end, n_out)?;
    let n = sol.k.len();
    if n < 3 || t_end <= 0.0 {
        return Err(TheoryError::Numerical(format!(
            "only {n} output points before the integration stopped ({:?})",
            sol.stopped
        )));
    }
    let rate = growth_rate(ode.mu, ode.sigma);
    let h = sol.t[1] - sol.t[0];
    let lk: Vec<f64> = sol.k.iter().map(|k| k.ln()).collect();
    let ratio: Vec<f64> = (0..n)
        .map(|i| {
            let d = if i == 0 {
                (-3.0 * lk[0] + 4.0 * lk[1] - lk[2]) / (2.0 * h)
            } else if i == n - 1 {
                (3.0 * lk[n - 1] - 4.0 * lk[n - 2] + lk[n - 3]) / (2.0 * h)
            } else {
                (lk[i + 1] - lk[i - 1]) / (2.0 * h)
            };
            d / rate
        })
        .collect();
    let window = longest_window(&sol.t, &sol.k, &ratio, tol);
    Ok(GrowthWindow {
        rate,
        t: sol.t,
        k: sol.k,
        ratio,
        window,
    })
}

/// The longest run of consecutive points with |ratio - 1| <= tol.
fn longest_window(t: &[f64], k: &[f64], ratio: &[f64], tol: f64) -> Option<WindowSpan> {
    let mut best: Option<(usize, usize)> = None;
    let mut start: Option<usize> = None;
    let flags = ratio.iter().map(|r| (r - 1.0).abs() <= tol);
    for (i, inside) in flags.chain(std::iter::once(false)).enumerate() {
        match (inside, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if best.is_none_or(|(a, b)| b - a + 1 < i - s) {
                    best = Some((s, i - 1));
                }
                start = None;
            }
            _ => {}
        }
    }
    best.map(|(a, b)| WindowSpan {
        t_lo: t[a],
        t_hi: t[b],
        k_lo: k[a],
        k_hi: k[b],
        e_folds: (k[b] / k[a]).ln(),
    })
}

/// Closed form of the local growth ratio for g3 = 0 (Theorem 3.3 main form):
/// (d log k/dt)/rate = (1 + 1/(rate k^2)) / (1 + k/k_ot), k_ot = sigma exp(mu^2/(2 sigma^2)).
/// Strictly decreasing in k when mu > sigma. Evaluated in log space (k_ot may overflow).
pub fn growth_ratio_g3_zero(mu: f64, sigma: f64, k: f64) -> Result<f64, TheoryError> {
    check_rhs_args(mu, sigma, k, 0.0)?;
    if mu <= sigma {
        return Err(TheoryError::invalid(
            "mu",
            "the growth ratio needs mu > sigma",
        ));
    }
    Ok(log_growth_ratio(mu, sigma, k.ln()).exp())
}

fn softplus(y: f64) -> f64 {
    if y > 0.0 {
        y + (-y).exp().ln_1p()
    } else {
        y.exp().ln_1p()
    }
}

fn log_growth_ratio(mu: f64, sigma: f64, u: f64) -> f64 {
    let ln_kot = sigma.ln() + mu * mu / (2.0 * sigma * sigma);
    softplus(-growth_rate(mu, sigma).ln() - 2.0 * u) - softplus(u - ln_kot)
}

/// The interval [k_lo, k_hi] of k where the g3 = 0 growth ratio [`growth_ratio_g3_zero`] lies
/// within `tol` of 1 (it always exists since the ratio decreases from +inf to 0; the question is
/// how wide it is: ln(k_hi/k_lo) is the number of e-folds an exponential phase can last).
/// Solved with Brent's method (argmin) on log k. Needs mu > sigma and 0 < tol < 1.
pub fn growth_window_g3_zero(mu: f64, sigma: f64, tol: f64) -> Result<(f64, f64), TheoryError> {
    positive("mu", mu)?;
    positive("sigma", sigma)?;
    if mu <= sigma {
        return Err(TheoryError::invalid(
            "mu",
            "the growth claim needs mu > sigma",
        ));
    }
    if !(tol > 0.0 && tol < 1.0) {
        return Err(TheoryError::invalid(
            "tol",
            format!("must lie in (0, 1), got {tol}"),
        ));
    }
    struct Eq {
        mu: f64,
        sigma: f64,
        target: f64,
    }
    impl CostFunction for Eq {
        type Param = f64;
        type Output = f64;
        fn cost(&self, u: &f64) -> Result<f64, argmin::core::Error> {
            Ok(log_growth_ratio(self.mu, self.sigma, *u) - self.target)
        }
    }
    let ln_kot = sigma.ln() + mu * mu / (2.0 * sigma * sigma);
    let lo = -0.5 * growth_rate(mu, sigma).ln() - 40.0;
    let hi = ln_kot + 40.0;
    let solve = |target: f64| -> Result<f64, TheoryError> {
        let res = Executor::new(Eq { mu, sigma, target }, BrentRoot::new(lo, hi, 1e-13))
            .configure(|s| s.max_iters(300))
            .run()
            .map_err(|e| TheoryError::Numerical(format!("growth window: {e}")))?;
        res.state()
            .get_best_param()
            .map(|u| u.exp())
            .ok_or_else(|| TheoryError::Numerical("growth window: no root".into()))
    };
    Ok((solve((1.0 + tol).ln())?, solve((1.0 - tol).ln())?))
}

// ---------------------------------------------------------------------------------------------
// Direct simulation of the generator flow
// ---------------------------------------------------------------------------------------------

/// Discretisation of [`simulate_generator_flow`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlowConfig {
    /// The z-grid is [-z_max, z_max]; beyond 6 the latent mass is 2e-9.
    pub z_max: f64,
    /// Number of grid points (odd, so that z = 0 is a node; at least 101).
    pub n_grid: usize,
    /// Largest time step; the step actually used divides each output interval evenly.
    pub dt: f64,
}

impl Default for FlowConfig {
    /// z in [-6, 6] with 2401 nodes (dz = 0.005), dt = 1e-3. The z-scale of g_t near 0 is
    /// about sqrt(k/|g3|) (0.078 at the equilibrium of mu = 1, sigma = 0.5), so dz = 0.005
    /// resolves the whole run for mu/sigma <= 2; larger ratios only early on (for
    /// mu/sigma = 2.4 the last 60% of a t in [0, 1.5] run is flagged unresolved, see
    /// [`FlowOdeComparison::resolved`]). A t in [0, 1.5] run takes about a second in release.
    fn default() -> Self {
        Self {
            z_max: 6.0,
            n_grid: 2401,
            dt: 1e-3,
        }
    }
}

/// Output of [`simulate_generator_flow`], at evenly spaced times.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowTrajectory {
    pub t: Vec<f64>,
    /// g_t'(0) (fourth-order 5-point stencil).
    pub k: Vec<f64>,
    /// g_t'''(0) (fourth-order 7-point stencil).
    pub g3: Vec<f64>,
    /// Instantaneous dk/dt = d/dz (dg_t/dt)(0): the z-derivative at 0 of the flow's velocity
    /// field at time t, evaluated from the grid values of g_t with fourth-order stencils. No
    /// time-stepping error and no use of Theorem 3.3.
    pub dkdt: Vec<f64>,
    /// The z-grid and g at the last output time.
    pub z: Vec<f64>,
    pub g_final: Vec<f64>,
    /// Number of time steps taken and the step size used.
    pub steps: usize,
    pub dt: f64,
}

struct FlowGrid<'a> {
    p_data: &'a Mixture1d,
    log_w: Vec<f64>,
    z: Vec<f64>,
    dz: f64,
    /// Velocity F at each node and its partial derivatives in g, g', g'' (work buffers).
    f: Vec<f64>,
    f_g: Vec<f64>,
    f_g1: Vec<f64>,
    f_g2: Vec<f64>,
    // tridiagonal system and scratch
    lo: Vec<f64>,
    di: Vec<f64>,
    up: Vec<f64>,
    rhs: Vec<f64>,
    scratch: Vec<f64>,
}

impl<'a> FlowGrid<'a> {
    fn new(p_data: &'a Mixture1d, cfg: &FlowConfig) -> Self {
        let n = cfg.n_grid;
        let dz = 2.0 * cfg.z_max / (n - 1) as f64;
        let z = (0..n).map(|i| -cfg.z_max + i as f64 * dz).collect();
        Self {
            p_data,
            log_w: p_data.weights().iter().map(|w| w.ln()).collect(),
            z,
            dz,
            f: vec![0.0; n],
            f_g: vec![0.0; n],
            f_g1: vec![0.0; n],
            f_g2: vec![0.0; n],
            lo: vec![0.0; n],
            di: vec![0.0; n],
            up: vec![0.0; n],
            rhs: vec![0.0; n],
            scratch: vec![0.0; n],
        }
    }

    /// (log p_data, (log p_data)', (log p_data)'') at x in one allocation-free pass. The first
    /// two are `Mixture1d::log_pdf` / `dlog_pdf`, inlined because the flow evaluates them ~10^7
    /// times; the second derivative is sum_i gamma_i (mu_i - x)^2/s^4 - 1/s^2 - ((log p)')^2.
    fn log_data(&self, x: f64) -> (f64, f64, f64) {
        let s = self.p_data.sigma();
        let inv_s2 = 1.0 / (s * s);
        let norm = -0.5 * LN_2PI - s.ln();
        let mut m = f64::NEG_INFINITY;
        for (mu, lw) in self.p_data.means().iter().zip(&self.log_w) {
            m = m.max(lw - 0.5 * (x - mu) * (x - mu) * inv_s2);
        }
        let (mut sum, mut d1, mut d2) = (0.0, 0.0, 0.0);
        for (mu, lw) in self.p_data.means().iter().zip(&self.log_w) {
            let e = (lw - 0.5 * (x - mu) * (x - mu) * inv_s2 - m).exp();
            let u = (mu - x) * inv_s2;
            sum += e;
            d1 += e * u;
            d2 += e * u * u;
        }
        let a = d1 / sum;
        (m + sum.ln() + norm, a, d2 / sum - inv_s2 - a * a)
    }

    /// Velocity F(z, g, g', g'') = (1-d)((log p_data)'(g) + z/g' + g''/g'^2) at every node and
    /// its partial derivatives (see [`simulate_generator_flow`]).
    fn evaluate(&mut self, g: &[f64], t: f64) -> Result<(), TheoryError> {
        let n = g.len();
        let dz = self.dz;
        for i in 0..n {
            let (gp, gpp) = if i == 0 {
                ((g[1] - g[0]) / dz, 0.0)
            } else if i == n - 1 {
                ((g[n - 1] - g[n - 2]) / dz, 0.0)
            } else {
                (
                    (g[i + 1] - g[i - 1]) / (2.0 * dz),
                    (g[i + 1] - 2.0 * g[i] + g[i - 1]) / (dz * dz),
                )
            };
            if !(gp > 0.0 && gp.is_finite()) {
                return Err(TheoryError::Numerical(format!(
                    "g_t stopped being increasing at z = {} (t = {t}, g' = {gp})",
                    self.z[i]
                )));
            }
            let zi = self.z[i];
            let log_pg = -0.5 * zi * zi - 0.5 * LN_2PI - gp.ln();
            let (log_pd, a, a1) = self.log_data(g[i]);
            // w = 1 - d = p_g/(p_data + p_g) and d, both as logistic functions of the log ratio.
            let w = 1.0 / (1.0 + (log_pd - log_pg).exp());
            let d = 1.0 / (1.0 + (log_pg - log_pd).exp());
            let b = a + zi / gp + gpp / (gp * gp);
            // dw/d(log_pd - log_pg) = -w d; d(log_pd - log_pg)/dg = a, /dg' = 1/g'.
            self.f[i] = w * b;
            self.f_g[i] = -w * d * a * b + w * a1;
            self.f_g1[i] = -w * d * b / gp + w * (-zi / (gp * gp) - 2.0 * gpp / gp.powi(3));
            self.f_g2[i] = w / (gp * gp);
        }
        Ok(())
    }

    /// (k, g3, dk/dt) at z = 0 from g. k uses the 5-point and g3 the 7-point fourth-order
    /// stencils; dk/dt is the 5-point derivative at 0 of the velocity F, itself re-evaluated at
    /// the nodes -2..2 with fourth-order (5-point) g' and g'' (the stepping uses second-order
    /// ones; this only sharpens the measurement, O(dz^4) instead of O(dz^2)).
    fn probe(&self, g: &[f64]) -> (f64, f64, f64) {
        let c = (g.len() - 1) / 2;
        let h = self.dz;
        let d1 = |i: usize| (-g[i + 2] + 8.0 * g[i + 1] - 8.0 * g[i - 1] + g[i - 2]) / (12.0 * h);
        let d2 = |i: usize| {
            (-g[i + 2] + 16.0 * g[i + 1] - 30.0 * g[i] + 16.0 * g[i - 1] - g[i - 2])
                / (12.0 * h * h)
        };
        let k = d1(c);
        let g3 = (-g[c + 3] + 8.0 * g[c + 2] - 13.0 * g[c + 1] + 13.0 * g[c - 1] - 8.0 * g[c - 2]
            + g[c - 3])
            / (8.0 * h * h * h);
        let v = |i: usize| {
            let (gp, gpp, zi) = (d1(i), d2(i), self.z[i]);
            let log_pg = -0.5 * zi * zi - 0.5 * LN_2PI - gp.ln();
            let (log_pd, a, _) = self.log_data(g[i]);
            let w = 1.0 / (1.0 + (log_pd - log_pg).exp());
            w * (a + zi / gp + gpp / (gp * gp))
        };
        let dkdt = (-v(c + 2) + 8.0 * v(c + 1) - 8.0 * v(c - 1) + v(c - 2)) / (12.0 * h);
        (k, g3, dkdt)
    }

    /// One linearly implicit (Rosenbrock-Euler) step of size h from g at time t:
    /// (I - h J) delta = h F(g), J the exact tridiagonal Jacobian of the discrete velocity.
    /// If the result is not strictly increasing, the step is redone as two half steps (at most
    /// 30 halvings). Returns the number of steps taken.
    fn advance(
        &mut self,
        g: &mut Vec<f64>,
        t: f64,
        h: f64,
        depth: u32,
    ) -> Result<usize, TheoryError> {
        self.evaluate(g, t)?;
        let n = g.len();
        let dz = self.dz;
        let (c1, c2) = (1.0 / (2.0 * dz), 1.0 / (dz * dz));
        for i in 0..n {
            let (jl, jd, ju) = if i == 0 {
                (0.0, self.f_g[0] - self.f_g1[0] / dz, self.f_g1[0] / dz)
            } else if i == n - 1 {
                (-self.f_g1[i] / dz, self.f_g[i] + self.f_g1[i] / dz, 0.0)
            } else {
                (
                    -self.f_g1[i] * c1 + self.f_g2[i] * c2,
                    self.f_g[i] - 2.0 * self.f_g2[i] * c2,
                    self.f_g1[i] * c1 + self.f_g2[i] * c2,
                )
            };
            self.lo[i] = -h * jl;
            self.di[i] = 1.0 - h * jd;
            self.up[i] = -h * ju;
            self.rhs[i] = h * self.f[i];
        }
        solve_tridiagonal(
            &self.lo,
            &self.di,
            &self.up,
            &mut self.rhs,
            &mut self.scratch,
        );
        let ok = self.rhs.iter().all(|v| v.is_finite())
            && (1..n).all(|i| g[i] + self.rhs[i] > g[i - 1] + self.rhs[i - 1]);
        if ok {
            for (gi, di) in g.iter_mut().zip(&self.rhs) {
                *gi += di;
            }
            return Ok(1);
        }
        if depth >= 30 {
            return Err(TheoryError::Numerical(format!(
                "the flow step at t = {t} keeps breaking monotonicity after 30 halvings"
            )));
        }
        let a = self.advance(g, t, 0.5 * h, depth + 1)?;
        let b = self.advance(g, t + 0.5 * h, 0.5 * h, depth + 1)?;
        Ok(a + b)
    }
}

/// Solves the tridiagonal system a_i x_{i-1} + b_i x_i + c_i x_{i+1} = d_i in place (Thomas
/// algorithm). Hand-written: nalgebra has no banded solver. The matrices here are I - h J with
/// a dominant implicit diffusion part (cell Peclet number z dz < 0.1), so no pivoting is needed.
fn solve_tridiagonal(a: &[f64], b: &[f64], c: &[f64], d: &mut [f64], scratch: &mut [f64]) {
    let n = d.len();
    scratch[0] = c[0] / b[0];
    d[0] /= b[0];
    for i in 1..n {
        let m = b[i] - a[i] * scratch[i - 1];
        scratch[i] = c[i] / m;
        d[i] = (d[i] - a[i] * d[i - 1]) / m;
    }
    for i in (0..n - 1).rev() {
        d[i] -= scratch[i] * d[i + 1];
    }
}

/// Direct simulation of the generator flow that Theorem 3.3 starts from,
/// dg_t/dt(z) = (d_t'/d_t)(g_t(z)), d_t = p_data/(p_data + p_{g_t}), p_{g_t} = (g_t)_# N(0,1),
/// from g_0(z) = k0 z, for any 1-D mixture p_data (Theorem 3.3 takes the symmetric pair).
/// Nothing of the theorem's formula is used.
///
/// Space. g_t is stored on a uniform grid of [-z_max, z_max] (default 2401 nodes, dz = 0.005).
/// At a node, with g', g'' from central differences, p_g(g(z)) = phi(z)/g'(z) and
/// (log p_g)'(g(z)) = (-z - g''/g')/g' (change of variables), and
/// (log d)' = (1 - d)((log p_data)' - (log p_g)'), with 1 - d a logistic function of
/// log p_g - log p_data (log space throughout). The velocity is thus
/// F = (1-d)((log p_data)'(g) + z/g' + g''/g'^2): a drift plus a nonlinear diffusion in z
/// with coefficient (1-d)/g'^2, which is large where particles pile up (g' small).
///
/// Time. Linearly implicit (Rosenbrock-) Euler, first order: (I - dt J) delta = dt F(g) with the
/// exact Jacobian J of the discrete velocity (tridiagonal, since F at a node depends on its two
/// neighbours only), so the stiff diffusion and the z/g' drift do not limit dt (explicit Euler
/// or RK would need dt < dz^2 g'^2/2, about 1e-7 where particles pile up in the tails); a step that
/// would make g non-increasing is halved (at most 30 times). dt = 1e-3 by default; the tests
/// check that halving dt or refining the grid changes k(t) by < 0.5%.
///
/// Boundary. At the two end nodes g' is the one-sided first difference and g'' = 0 (linear
/// extrapolation); they move with the drift only. The latent mass beyond |z| = 6 is 2e-9, and
/// the tests check that z_max = 5 instead of 6 leaves k(t) unchanged to 1e-6.
///
/// Records k(t) = g_t'(0), g3(t) = g_t'''(0) and the instantaneous dk/dt (see
/// [`FlowTrajectory`]) at `n_out` evenly spaced times in [0, t_end].
pub fn simulate_generator_flow(
    p_data: &Mixture1d,
    k0: f64,
    t_end: f64,
    n_out: usize,
    cfg: &FlowConfig,
) -> Result<FlowTrajectory, TheoryError> {
    positive("k0", k0)?;
    if !(t_end.is_finite() && t_end >= 0.0) {
        return Err(TheoryError::invalid(
            "t_end",
            format!("must be finite and >= 0, got {t_end}"),
        ));
    }
    if n_out < 2 {
        return Err(TheoryError::invalid(
            "n_out",
            format!("need at least 2 output times, got {n_out}"),
        ));
    }
    positive("z_max", cfg.z_max)?;
    positive("dt", cfg.dt)?;
    if cfg.n_grid < 101 || cfg.n_grid & 1 == 0 {
        return Err(TheoryError::invalid(
            "n_grid",
            format!("must be odd and >= 101, got {}", cfg.n_grid),
        ));
    }
    let mut grid = FlowGrid::new(p_data, cfg);
    let mut g: Vec<f64> = grid.z.iter().map(|z| k0 * z).collect();
    let interval = t_end / (n_out - 1) as f64;
    let sub = if interval > 0.0 {
        (interval / cfg.dt).ceil().max(1.0) as usize
    } else {
        0
    };
    let dt = if sub > 0 { interval / sub as f64 } else { 0.0 };
    let mut traj = FlowTrajectory {
        t: Vec::with_capacity(n_out),
        k: Vec::with_capacity(n_out),
        g3: Vec::with_capacity(n_out),
        dkdt: Vec::with_capacity(n_out),
        z: grid.z.clone(),
        g_final: Vec::new(),
        steps: 0,
        dt,
    };
    for j in 0..n_out {
        let t = j as f64 * interval;
        grid.evaluate(&g, t)?;
        let (k, g3, dkdt) = grid.probe(&g);
        traj.t.push(t);
        traj.k.push(k);
        traj.g3.push(g3);
        traj.dkdt.push(dkdt);
        if j + 1 == n_out {
            break;
        }
        for s in 0..sub {
            traj.steps += grid.advance(&mut g, t + s as f64 * dt, dt, 0)?;
        }
    }
    traj.g_final = g;
    Ok(traj)
}

/// Theorem 3.3 checked against the direct flow for p_data = 0.5 N(-mu, sigma^2) +
/// 0.5 N(mu, sigma^2), g_0(z) = k0 z.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowOdeComparison {
    pub flow: FlowTrajectory,
    /// Main-text RHS at the simulated (k(t), g3(t)).
    pub rhs_main: Vec<f64>,
    /// End-of-proof RHS at the simulated (k(t), g3(t)).
    pub rhs_end_of_proof: Vec<f64>,
    /// Whether the grid resolves g_t near 0 at that time: sqrt(k/|g3|) >= 10 dz (the z-scale on
    /// which g_t bends). The error summaries use resolved times only.
    pub resolved: Vec<bool>,
    /// The main-text ODE integrated with g3 = 0 at the flow's output times (shorter if the
    /// integration stopped).
    pub k_ode_g3_zero: Vec<f64>,
    /// max over resolved t of |dkdt_sim - rhs| / max_t |dkdt_sim|, for the two printed forms.
    pub max_err_main: f64,
    pub max_err_end_of_proof: f64,
    /// max over resolved t with |dkdt_sim(t)| >= 5% of its maximum of |dkdt_sim - rhs|/|dkdt_sim|.
    pub max_rel_err_main: f64,
    pub max_rel_err_end_of_proof: f64,
    /// First output time where |k_ode_g3_zero - k_sim| > 5% of k_sim (None: never up to t_end).
    pub t_ode_leaves_5pct: Option<f64>,
    /// The flow's own growth ratio (dk/dt / k) / ((mu^2 - sigma^2)/sigma^4) and its longest
    /// stretch within 10% of 1 (only when mu > sigma).
    pub flow_growth_ratio: Option<Vec<f64>>,
    pub flow_growth_window: Option<WindowSpan>,
    /// k and g3 at the end, against the optimal-transport values they should approach.
    pub k_final: f64,
    pub g3_final: f64,
    pub k_ot: f64,
    pub g3_ot: f64,
}

/// Runs [`simulate_generator_flow`] for the symmetric pair and compares it with Theorem 3.3:
/// (a) pointwise, the simulated dk/dt against both printed right-hand sides evaluated at the
/// simulated (k, g3); (b) the g3 = 0 ODE against the simulated k(t).
pub fn compare_flow_with_ode(
    mu: f64,
    sigma: f64,
    k0: f64,
    t_end: f64,
    n_out: usize,
    cfg: &FlowConfig,
) -> Result<FlowOdeComparison, TheoryError> {
    let ode = SteepnessOde::new(mu, sigma)?;
    let p = Mixture1d::symmetric_pair(mu, sigma)?;
    let flow = simulate_generator_flow(&p, k0, t_end, n_out, cfg)?;
    let dz = 2.0 * cfg.z_max / (cfg.n_grid - 1) as f64;
    let mut rhs_main = Vec::with_capacity(n_out);
    let mut rhs_eop = Vec::with_capacity(n_out);
    let mut resolved = Vec::with_capacity(n_out);
    for (k, g3) in flow.k.iter().zip(&flow.g3) {
        rhs_main.push(steepness_rhs(mu, sigma, *k, *g3)?);
        rhs_eop.push(steepness_rhs_end_of_proof_as_printed(mu, sigma, *k, *g3)?);
        resolved.push(g3.abs() <= k / (100.0 * dz * dz));
    }
    let sol = ode.integrate(k0, t_end, n_out)?;
    let vmax = flow
        .dkdt
        .iter()
        .zip(&resolved)
        .filter(|(_, r)| **r)
        .fold(0.0f64, |m, (v, _)| m.max(v.abs()));
    let err = |rhs: &[f64]| -> (f64, f64) {
        let mut abs_n = 0.0f64;
        let mut rel = 0.0f64;
        for ((v, r), ok) in flow.dkdt.iter().zip(rhs).zip(&resolved) {
            if !ok {
                continue;
            }
            abs_n = abs_n.max((v - r).abs() / vmax.max(f64::MIN_POSITIVE));
            if v.abs() >= 0.05 * vmax {
                rel = rel.max((v - r).abs() / v.abs());
            }
        }
        (abs_n, rel)
    };
    let (max_err_main, max_rel_err_main) = err(&rhs_main);
    let (max_err_end_of_proof, max_rel_err_end_of_proof) = err(&rhs_eop);
    let t_ode_leaves_5pct = sol
        .k
        .iter()
        .zip(&flow.k)
        .zip(&flow.t)
        .find(|((ko, ks), _)| (*ko - *ks).abs() > 0.05 * ks.abs())
        .map(|(_, t)| *t);
    let (flow_growth_ratio, flow_growth_window) = if mu > sigma {
        let rate = growth_rate(mu, sigma);
        let ratio: Vec<f64> = flow
            .dkdt
            .iter()
            .zip(&flow.k)
            .map(|(v, k)| v / (k * rate))
            .collect();
        let w = longest_window(&flow.t, &flow.k, &ratio, 0.1);
        (Some(ratio), w)
    } else {
        (None, None)
    };
    Ok(FlowOdeComparison {
        k_final: *flow.k.last().unwrap_or(&k0),
        g3_final: *flow.g3.last().unwrap_or(&0.0),
        k_ot: ot_steepness_at_zero(mu, sigma),
        g3_ot: ot_third_derivative_at_zero(mu, sigma),
        rhs_main,
        rhs_end_of_proof: rhs_eop,
        resolved,
        k_ode_g3_zero: sol.k,
        max_err_main,
        max_err_end_of_proof,
        max_rel_err_main,
        max_rel_err_end_of_proof,
        t_ode_leaves_5pct,
        flow_growth_ratio,
        flow_growth_window,
        flow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mixture::std_normal_cdf;
    use proptest::prelude::*;

    /// A grid that keeps the flow tests fast in debug builds (dz = 0.02).
    fn coarse() -> FlowConfig {
        FlowConfig {
            z_max: 6.0,
            n_grid: 601,
            dt: 2e-3,
        }
    }

    /// Closed-form time for the g3 = 0 main-text ODE to go from k0 to k:
    /// t(k) = [ln(R k^2 + 1)/(2R) + (k/R - atan(sqrt(R) k)/R^{3/2})/k_ot] from k0 to k (R > 0).
    fn time_to_reach(mu: f64, sigma: f64, k0: f64, k: f64) -> f64 {
        let r = growth_rate(mu, sigma);
        let kot = ot_steepness_at_zero(mu, sigma);
        let prim = |k: f64| {
            (r * k * k + 1.0).ln() / (2.0 * r) + (k / r - (r.sqrt() * k).atan() / r.powf(1.5)) / kot
        };
        prim(k) - prim(k0)
    }

    #[test]
    fn invalid_inputs_are_named() {
        let ode = |m, s| SteepnessOde::new(m, s).unwrap_err().to_string();
        assert!(ode(1.0, 0.0).contains("sigma"));
        assert!(ode(0.0, 1.0).contains("mu"));
        let o = SteepnessOde::new(1.0, 0.5).unwrap();
        assert!(o
            .integrate(0.0, 1.0, 5)
            .unwrap_err()
            .to_string()
            .contains("k0"));
        assert!(o
            .integrate(1.0, -1.0, 5)
            .unwrap_err()
            .to_string()
            .contains("t_end"));
        assert!(o
            .integrate(1.0, 1.0, 1)
            .unwrap_err()
            .to_string()
            .contains("n_out"));
        assert!(o.with_g3(f64::NAN).unwrap_err().to_string().contains("g3"));
        assert!(steepness_rhs(1.0, 0.5, -1.0, 0.0)
            .unwrap_err()
            .to_string()
            .contains("`k`"));
        let p = Mixture1d::symmetric_pair(1.0, 0.5).unwrap();
        let bad = FlowConfig {
            n_grid: 600,
            ..coarse()
        };
        assert!(simulate_generator_flow(&p, 0.5, 1.0, 3, &bad)
            .unwrap_err()
            .to_string()
            .contains("n_grid"));
        assert!(simulate_generator_flow(&p, -0.5, 1.0, 3, &coarse())
            .unwrap_err()
            .to_string()
            .contains("k0"));
        assert!(growth_window_g3_zero(0.5, 1.0, 0.1)
            .unwrap_err()
            .to_string()
            .contains("mu"));
    }

    #[test]
    fn zero_horizon_returns_the_start() {
        let sol = SteepnessOde::new(1.0, 0.5)
            .unwrap()
            .integrate(0.7, 0.0, 4)
            .unwrap();
        assert_eq!(sol.k, vec![0.7; 4]);
        assert_eq!(sol.t, vec![0.0; 4]);
    }

    /// The proof prints p_data(0) with sigma^2 where the density has sigma.
    #[test]
    fn printed_p_data_at_zero_is_off_by_one_over_sigma() {
        for (mu, sigma) in [(1.0, 0.5), (3.0, 2.0), (0.4, 0.1)] {
            let truth = Mixture1d::symmetric_pair(mu, sigma).unwrap().pdf(0.0);
            let printed = p_data_at_zero_as_printed(mu, sigma);
            assert!((printed / truth - 1.0 / sigma).abs() < 1e-12 / sigma);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Theorem 3.3 (main text) == (log d)''(0) k computed from the densities.
        #[test]
        fn main_text_rhs_matches_rederivation(
            mu in 0.05f64..4.0,
            sigma in 0.2f64..2.0,
            k in 0.02f64..60.0,
            g3 in -200.0f64..200.0,
        ) {
            prop_assume!(mu * mu / (2.0 * sigma * sigma) < 200.0);
            let main = steepness_rhs(mu, sigma, k, g3).unwrap();
            let dens = steepness_rhs_from_densities(mu, sigma, k, g3).unwrap();
            // Scale of the terms (the numerator can cancel).
            let r = growth_rate(mu, sigma);
            let e = (-mu * mu / (2.0 * sigma * sigma)).exp() / sigma;
            let scale = (r.abs() * k.powi(3) + k + g3.abs()) / (e * k.powi(3) + k * k);
            prop_assert!((main - dens).abs() <= 1e-10 * scale, "main {main} densities {dens}");
        }

        /// p_g(0) and p_g''(0) of the change-of-variables formula against finite differences of
        /// the push-forward CDF Phi(g^{-1}(x)), for g(z) = k z + c z^3 (g''' = 6c > 0) and
        /// g(z) = (k/b) tanh(b z) (g''' = -2 k b^2).
        #[test]
        fn pushforward_formula_matches_cdf(
            k in 0.3f64..3.0,
            c in 0.0f64..2.0,
            b in 0.1f64..1.5,
            use_tanh in any::<bool>(),
        ) {
            let g = |z: f64| if use_tanh { k / b * (b * z).tanh() } else { k * z + c * z.powi(3) };
            let dg = |z: f64| if use_tanh { k / (b * z).cosh().powi(2) } else { k + 3.0 * c * z * z };
            let g3 = if use_tanh { -2.0 * k * b * b } else { 6.0 * c };
            // g^{-1} by Newton from x/k (g is increasing and odd).
            let inv = |x: f64| {
                let mut z = x / k;
                for _ in 0..60 { z -= (g(z) - x) / dg(z); }
                z
            };
            let cdf = |x: f64| std_normal_cdf(inv(x));
            // x-scale on which p_g varies, and Richardson-extrapolated differences.
            let ell = k * (k / (g3.abs() + k)).sqrt();
            let d1 = |h: f64| (cdf(h) - cdf(-h)) / (2.0 * h);
            let d3 = |h: f64| (cdf(2.0 * h) - 2.0 * cdf(h) + 2.0 * cdf(-h) - cdf(-2.0 * h)) / (2.0 * h.powi(3));
            let h = 0.02 * ell;
            let p0 = (4.0 * d1(0.5 * h) - d1(h)) / 3.0;
            let p2 = (4.0 * d3(0.5 * h) - d3(h)) / 3.0;
            let [q0, q1, q2] = pushforward_density_at_zero(k, g3).unwrap();
            prop_assert_eq!(q1, 0.0);
            prop_assert!((p0 - q0).abs() < 1e-6 * q0, "fd {p0} formula {q0}");
            prop_assert!((p2 - q2).abs() < 1e-4 * (q2.abs() + q0 / (k * k)), "fd {p2} formula {q2}");
        }

        /// Dopri5's output against the closed-form solution t(k) of the g3 = 0 ODE.
        #[test]
        fn integrator_matches_closed_form_time(
            sigma in 0.3f64..1.0,
            ratio in 1.2f64..2.2,
            k0 in 0.1f64..2.0,
        ) {
            let mu = ratio * sigma;
            let ode = SteepnessOde::new(mu, sigma).unwrap();
            let t_end = 0.5 / growth_rate(mu, sigma);
            let sol = ode.integrate(k0, t_end, 6).unwrap();
            prop_assert!(sol.stopped.is_none());
            for (t, k) in sol.t.iter().zip(&sol.k) {
                let tt = time_to_reach(mu, sigma, k0, *k);
                prop_assert!((tt - t).abs() < 1e-7 * (1.0 + t_end), "t {t} closed form {tt}");
            }
        }
    }

    /// The end-of-proof form (exp(-mu^2/sigma^2)) is a slip: it disagrees with the
    /// re-derivation once k is comparable to k_ot, and only agrees while k << k_ot.
    #[test]
    fn end_of_proof_form_differs() {
        let (mu, sigma) = (1.0, 0.5);
        let kot = ot_steepness_at_zero(mu, sigma);
        for (k, g3) in [(3.0, 0.0), (1.0, -5.0), (kot, 0.0)] {
            let main = steepness_rhs(mu, sigma, k, g3).unwrap();
            let eop = steepness_rhs_end_of_proof_as_printed(mu, sigma, k, g3).unwrap();
            let dens = steepness_rhs_from_densities(mu, sigma, k, g3).unwrap();
            assert!((main - dens).abs() < 1e-12 * main.abs());
            // main/eop = (1 + k e^{-2}/s... ) ratio of denominators: well above rounding.
            assert!(
                (eop - dens).abs() > 0.1 * dens.abs(),
                "k={k}: eop {eop} densities {dens}"
            );
        }
        // Far below k_ot both forms agree (here k/k_ot = 1e-4 for mu/sigma = 4).
        let (mu, sigma) = (2.0, 0.5);
        let k = 1e-4 * ot_steepness_at_zero(mu, sigma);
        let main = steepness_rhs(mu, sigma, k, 0.0).unwrap();
        let eop = steepness_rhs_end_of_proof_as_printed(mu, sigma, k, 0.0).unwrap();
        assert!((main - eop).abs() < 2e-4 * main.abs());
    }

    /// g*'(0) and g*'''(0) of the OT map Psi^{-1} o Phi (finite differences of the quantile)
    /// against k_ot and the g3 that zeroes the ODE's numerator.
    #[test]
    fn ot_map_derivatives_at_zero() {
        for (mu, sigma) in [(1.0, 0.5), (0.8, 0.5), (1.0, 0.7), (0.3, 1.0)] {
            let m = Mixture1d::symmetric_pair(mu, sigma).unwrap();
            let g = |z: f64| m.quantile(std_normal_cdf(z)).unwrap();
            let kot = ot_steepness_at_zero(mu, sigma);
            let g3 = ot_third_derivative_at_zero(mu, sigma);
            // z-scale of g* near 0 and Richardson-extrapolated differences.
            let ell = (kot / g3.abs()).sqrt().min(1.0);
            let f1 = |h: f64| (-g(2.0 * h) + 8.0 * g(h) - 8.0 * g(-h) + g(-2.0 * h)) / (12.0 * h);
            let f3 =
                |h: f64| (g(2.0 * h) - 2.0 * g(h) + 2.0 * g(-h) - g(-2.0 * h)) / (2.0 * h.powi(3));
            let h = 0.05 * ell;
            let d1 = (16.0 * f1(0.5 * h) - f1(h)) / 15.0;
            let d3 = (4.0 * f3(0.5 * h) - f3(h)) / 3.0;
            assert!(
                (d1 / kot - 1.0).abs() < 1e-5,
                "mu={mu} sigma={sigma}: {d1} vs {kot}"
            );
            assert!(
                (d3 / g3 - 1.0).abs() < 1e-4,
                "mu={mu} sigma={sigma}: {d3} vs {g3}"
            );
            // ... and there the main-text right-hand side vanishes.
            assert!(steepness_rhs(mu, sigma, kot, g3).unwrap().abs() < 1e-9 * kot);
        }
    }

    /// With g3 = 0 the ODE does not stop at k_ot: it grows on, asymptotically linearly
    /// with slope rate * k_ot.
    #[test]
    fn g3_zero_ode_passes_the_ot_steepness() {
        let (mu, sigma) = (1.0, 0.5);
        let ode = SteepnessOde::new(mu, sigma).unwrap();
        let kot = ot_steepness_at_zero(mu, sigma);
        let sol = ode.integrate(0.5, 40.0, 401).unwrap();
        assert!(sol.stopped.is_none());
        let k_end = *sol.k.last().unwrap();
        assert!(k_end > 100.0 * kot);
        let slope = (sol.k[400] - sol.k[399]) / (sol.t[400] - sol.t[399]);
        assert!(
            (slope / (growth_rate(mu, sigma) * kot) - 1.0).abs() < 0.01,
            "slope {slope}"
        );
    }

    /// With g3 < -k the ODE drives k to 0 in finite time: the integration stops and returns
    /// what it computed.
    #[test]
    fn collapse_to_zero_is_reported() {
        let ode = SteepnessOde::new(0.5, 1.0).unwrap().with_g3(-1.0).unwrap();
        let sol = ode.integrate(0.5, 10.0, 101).unwrap();
        let stop = sol.stopped.expect("k reaches 0 before t = 10");
        assert!(stop.t < 10.0 && sol.t.len() < 101 && sol.t.len() == sol.k.len());
        assert!(sol.k.windows(2).all(|w| w[1] < w[0] && w[1] > 0.0));
    }

    /// The growth window along the ODE matches its closed form, and it is narrow: less than
    /// half an e-fold for mu = 1, sigma = 0.5, several e-folds only for mu/sigma = 4.
    #[test]
    fn growth_window_measured_matches_closed_form() {
        for (mu, sigma, t_end) in [(1.0, 0.5, 0.3), (2.0, 0.5, 0.15)] {
            let (lo, hi) = growth_window_g3_zero(mu, sigma, 0.1).unwrap();
            for (k, target) in [(lo, 1.1), (hi, 0.9)] {
                assert!((growth_ratio_g3_zero(mu, sigma, k).unwrap() - target).abs() < 1e-9);
            }
            let ode = SteepnessOde::new(mu, sigma).unwrap();
            let w = measure_growth_window(&ode, 0.3, t_end, 3001, 0.1).unwrap();
            let span = w.window.expect("a window exists");
            // Output-grid resolution: the window ends are within one output step of the truth.
            assert!((span.k_lo / lo - 1.0).abs() < 0.02, "{} vs {lo}", span.k_lo);
            assert!((span.k_hi / hi - 1.0).abs() < 0.02, "{} vs {hi}", span.k_hi);
            let e_folds = (hi / lo).ln();
            if mu == 1.0 {
                assert!(e_folds < 0.5, "{e_folds}");
            } else {
                assert!(e_folds > 5.0, "{e_folds}");
            }
        }
    }

    /// (a) The flow's instantaneous dk/dt matches the main-text RHS at its own (k, g3) and
    /// not the end-of-proof one; the measurement is independent of the time step.
    #[test]
    fn flow_matches_main_text_rhs_pointwise() {
        let c = compare_flow_with_ode(0.8, 0.5, 0.5, 0.6, 7, &coarse()).unwrap();
        assert!(c.resolved.iter().all(|r| *r));
        assert!(c.max_err_main < 2e-3, "main {}", c.max_err_main);
        assert!(
            c.max_err_end_of_proof > 0.1,
            "eop {}",
            c.max_err_end_of_proof
        );
        // The probe's dk/dt is the time derivative of the simulated k: compare with central
        // differences of a finely sampled k(t).
        let p = Mixture1d::symmetric_pair(0.8, 0.5).unwrap();
        let f = simulate_generator_flow(&p, 0.5, 0.2, 41, &coarse()).unwrap();
        for i in [10, 20, 30] {
            let fd = (f.k[i + 1] - f.k[i - 1]) / (f.t[i + 1] - f.t[i - 1]);
            assert!(
                (fd / f.dkdt[i] - 1.0).abs() < 0.02,
                "t={} fd {fd} probe {}",
                f.t[i],
                f.dkdt[i]
            );
        }
    }

    /// The discretisation choices do not matter at the stated accuracy: halving dt,
    /// refining the grid and moving the boundary from |z| = 6 to 5.
    #[test]
    fn flow_is_converged_in_dt_grid_and_boundary() {
        let p = Mixture1d::symmetric_pair(1.0, 0.5).unwrap();
        let base = simulate_generator_flow(&p, 0.5, 0.3, 4, &coarse()).unwrap();
        let half_dt = simulate_generator_flow(
            &p,
            0.5,
            0.3,
            4,
            &FlowConfig {
                dt: 1e-3,
                ..coarse()
            },
        )
        .unwrap();
        let fine = simulate_generator_flow(
            &p,
            0.5,
            0.3,
            4,
            &FlowConfig {
                n_grid: 1201,
                ..coarse()
            },
        )
        .unwrap();
        let short = simulate_generator_flow(
            &p,
            0.5,
            0.3,
            4,
            &FlowConfig {
                z_max: 5.0,
                n_grid: 501,
                ..coarse()
            },
        )
        .unwrap();
        for i in 0..4 {
            assert!((half_dt.k[i] / base.k[i] - 1.0).abs() < 5e-3);
            assert!((fine.k[i] / base.k[i] - 1.0).abs() < 5e-3);
            assert!(
                (short.k[i] / base.k[i] - 1.0).abs() < 1e-6,
                "{} vs {}",
                short.k[i],
                base.k[i]
            );
        }
        // g_t stays odd.
        let g = &base.g_final;
        let n = g.len();
        assert!((0..n).all(|i| (g[i] + g[n - 1 - i]).abs() < 1e-9));
    }

    /// Run long enough, the flow reaches the optimal-transport map: k -> k_ot, g3 -> g3_ot,
    /// and g_t -> Psi^{-1} o Phi on |z| <= 2.
    #[test]
    fn flow_converges_to_ot_map() {
        let (mu, sigma) = (0.8, 0.5);
        let p = Mixture1d::symmetric_pair(mu, sigma).unwrap();
        let cfg = FlowConfig {
            dt: 1e-2,
            ..coarse()
        };
        let f = simulate_generator_flow(&p, 0.5, 8.0, 2, &cfg).unwrap();
        let kot = ot_steepness_at_zero(mu, sigma);
        assert!((f.k[1] / kot - 1.0).abs() < 2e-3, "{} vs {kot}", f.k[1]);
        assert!((f.g3[1] / ot_third_derivative_at_zero(mu, sigma) - 1.0).abs() < 2e-2);
        for (z, g) in f.z.iter().zip(&f.g_final).filter(|(z, _)| z.abs() <= 2.0) {
            let ot = p.quantile(std_normal_cdf(*z)).unwrap();
            assert!((g - ot).abs() < 5e-3, "z={z}: {g} vs {ot}");
        }
    }

    /// (b) The g3 = 0 ODE tracks the flow only briefly: g3 turns negative at once (at t = 0,
    /// dg3/dt = -2 mu^4 k^3/sigma^8 + ...), and the ODE then overestimates k.
    #[test]
    fn g3_zero_ode_leaves_the_flow_early() {
        let c = compare_flow_with_ode(1.0, 0.5, 0.5, 0.5, 51, &coarse()).unwrap();
        let t5 = c.t_ode_leaves_5pct.expect("leaves within t = 0.5");
        assert!(t5 > 0.0 && t5 <= 0.05, "{t5}");
        assert!(c.flow.g3.iter().skip(1).all(|g| *g < 0.0));
        let last = c.flow.k.len() - 1;
        assert!(c.k_ode_g3_zero[last] > 2.0 * c.flow.k[last]);
    }
}
