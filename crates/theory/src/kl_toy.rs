//! Divergences between 1-D densities and the two-Gaussian toy of the companion notes.
//!
//! Seed 001, section 2: with the optimal discriminator D* = p_data / (p_data + p_g), the GAN value
//! is V(G, D*) = E_{p_data} log D* + E_{p_g} log(1 - D*) = -log 4 + 2 JS(p_data || p_g), and the
//! non-saturating generator loss becomes L_NS = -E_{p_g} log D* = E_{p_g} log(1 + p_g / p_data).
//! Seed 001, section 16.7: fitting q = N(m, s^2) to p = 0.5 N(-mu, sigma^2) + 0.5 N(mu, sigma^2)
//! by forward KL (closed form m = 0, s^2 = mu^2 + sigma^2), reverse KL (mode seeking; numerical)
//! and JS (numerical).
//!
//! # Quadrature
//! Every divergence is one integral over R of a smooth integrand built from log densities
//! (log-sum-exp for the mixture (p + q) / 2, so nothing underflows to log 0). The rule is
//! composite Gauss-Legendre (15 nodes per panel, nodes from `gauss-quad`) with adaptive bisection
//! of each panel until halving changes its value by less than its share of [`QUAD_TOL`].
//! gauss-quad only provides fixed rules, so the ~20-line bisection driver is written here.
//! Panels start at every component mean +- 2k standard deviations (k = 0..6), so each Gaussian
//! bump is resolved on its own scale whatever the ratio of scales; the bisection then resolves
//! the narrow transition of log p between two separated modes (width sigma^2 / (2 mu), much
//! narrower than sigma when mu >> sigma).
//!
//! Range: [min_i (c_i - 12 s_i), max_i (c_i + 12 s_i)] over the components (c_i, s_i) of both
//! densities. Each integrand is a density of one of them times a log ratio that grows at most
//! quadratically, |log ratio| <= C (1 + x^2 / s_min^2); the mass of a Gaussian beyond 12 standard
//! deviations is 1.8e-33, so the neglected tails are below 1e-25 even for a ratio of scales of
//! 1e3.

use crate::mixture::{log_sum_exp, Mixture1d};
use crate::TheoryError;
use argmin::core::{CostFunction, Executor, State};
use argmin::solver::brent::BrentOpt;
use argmin::solver::neldermead::NelderMead;
use gauss_quad::GaussLegendre;
use std::f64::consts::{LN_2, PI};
use std::num::NonZeroUsize;
use std::sync::OnceLock;

/// Half-width of the integration range, in standard deviations of each component.
pub const RANGE_SDS: f64 = 12.0;
/// Absolute tolerance of one adaptive integral (shared among panels in proportion to width).
pub const QUAD_TOL: f64 = 1e-13;
const GL_NODES: usize = 15;
const MAX_DEPTH: u32 = 24;
/// Threshold of "the optimum has left m = 0", in units of sigma (the bifurcation criterion).
pub const SPLIT_THRESHOLD: f64 = 1e-3;

fn rule() -> &'static GaussLegendre {
    static RULE: OnceLock<GaussLegendre> = OnceLock::new();
    RULE.get_or_init(|| GaussLegendre::new(NonZeroUsize::new(GL_NODES).expect("15 > 0")))
}

fn adaptive(
    f: &mut dyn FnMut(f64) -> f64,
    a: f64,
    b: f64,
    whole: f64,
    tol: f64,
    depth: u32,
) -> f64 {
    let c = 0.5 * (a + b);
    let left = rule().integrate(a, c, &mut *f);
    let right = rule().integrate(c, b, &mut *f);
    let both = left + right;
    // Stop at the tolerance, at rounding level (a halved absolute tolerance can fall below the
    // rounding error of a large panel value and would otherwise split forever), or at the cap.
    let err = (both - whole).abs();
    if depth == 0 || err <= tol || err <= 1e-14 * both.abs() || c <= a || c >= b {
        return both;
    }
    adaptive(f, a, c, left, 0.5 * tol, depth - 1) + adaptive(f, c, b, right, 0.5 * tol, depth - 1)
}

/// Initial panel breakpoints: every component mean +- 0, 2, ..., 12 of its standard deviations.
fn breakpoints(densities: &[&Mixture1d]) -> Vec<f64> {
    let mut pts = Vec::new();
    for d in densities {
        let s = d.sigma();
        for &c in d.means() {
            for k in -6..=6 {
                pts.push(c + 2.0 * f64::from(k) * s);
            }
        }
    }
    pts.sort_by(f64::total_cmp);
    let width = pts[pts.len() - 1] - pts[0];
    let mut out: Vec<f64> = Vec::with_capacity(pts.len());
    for x in pts {
        if out.last().is_none_or(|&l| x - l > 1e-12 * width) {
            out.push(x);
        }
    }
    out
}

/// Integral of `f` over R, on the range and panels set by `densities` (module docs: composite
/// adaptive Gauss-Legendre on [min c_i - 12 s_i, max c_i + 12 s_i]). Used for every expectation
/// of seed 001 sections 2 and 16.7; `f` should decay like one of the densities.
pub fn integrate_1d(densities: &[&Mixture1d], mut f: impl FnMut(f64) -> f64) -> f64 {
    let pts = breakpoints(densities);
    let total = pts[pts.len() - 1] - pts[0];
    if total <= 0.0 {
        return 0.0;
    }
    pts.windows(2)
        .map(|w| {
            let whole = rule().integrate(w[0], w[1], &mut f);
            adaptive(
                &mut f,
                w[0],
                w[1],
                whole,
                QUAD_TOL * (w[1] - w[0]) / total,
                MAX_DEPTH,
            )
        })
        .sum()
}

/// KL(p || q) = E_p[log p - log q] by quadrature (seed 001 sections 2 and 16.7).
pub fn kl(p: &Mixture1d, q: &Mixture1d) -> f64 {
    integrate_1d(&[p, q], |x| {
        let (lp, lq) = (p.log_pdf(x), q.log_pdf(x));
        lp.exp() * (lp - lq)
    })
}

/// JS(p, q) = KL(p || M)/2 + KL(q || M)/2 with M = (p + q)/2, log M by log-sum-exp (seed 001
/// section 2). Lies in [0, ln 2].
pub fn js(p: &Mixture1d, q: &Mixture1d) -> f64 {
    integrate_1d(&[p, q], |x| {
        let (lp, lq) = (p.log_pdf(x), q.log_pdf(x));
        let lm = log_sum_exp(&[lp, lq]) - LN_2;
        0.5 * (lp.exp() * (lp - lm) + lq.exp() * (lq - lm))
    })
}

/// log D*(x) and log(1 - D*(x)) for D* = p_data / (p_data + p_g) (seed 001 section 2), in log
/// space: log D* = log p_data - logsumexp(log p_data, log p_g).
pub fn log_optimal_discriminator(p_data: &Mixture1d, p_g: &Mixture1d, x: f64) -> (f64, f64) {
    let (lp, lq) = (p_data.log_pdf(x), p_g.log_pdf(x));
    let l = log_sum_exp(&[lp, lq]);
    (lp - l, lq - l)
}

/// V(G, D*) = E_{p_data} log D* + E_{p_g} log(1 - D*), from its definition (seed 001 section 2;
/// the notes state it equals -log 4 + 2 JS(p_data || p_g)).
pub fn value_at_optimal_discriminator(p_data: &Mixture1d, p_g: &Mixture1d) -> f64 {
    integrate_1d(&[p_data, p_g], |x| {
        let (ld, l1md) = log_optimal_discriminator(p_data, p_g, x);
        p_data.log_pdf(x).exp() * ld + p_g.log_pdf(x).exp() * l1md
    })
}

/// The non-saturating generator loss under D*, from its definition: -E_{p_g} log D*(x)
/// (seed 001 section 2, L_NS = -E_z log D(G(z))).
pub fn ns_loss_at_optimal_discriminator(p_data: &Mixture1d, p_g: &Mixture1d) -> f64 {
    integrate_1d(&[p_data, p_g], |x| {
        let (ld, _) = log_optimal_discriminator(p_data, p_g, x);
        -p_g.log_pdf(x).exp() * ld
    })
}

/// The notes' closed form of the NS loss under D*: E_{p_g} log(1 + p_g/p_data) (seed 001
/// section 2), with log(1 + e^t) evaluated stably for t = log p_g - log p_data.
pub fn ns_loss_ratio_form(p_data: &Mixture1d, p_g: &Mixture1d) -> f64 {
    integrate_1d(&[p_data, p_g], |x| {
        let (lp, lq) = (p_data.log_pdf(x), p_g.log_pdf(x));
        let t = lq - lp;
        lq.exp() * (t.max(0.0) + (-t.abs()).exp().ln_1p())
    })
}

/// The three fitting criteria of seed 001 section 16.7, as functions of the model q = N(m, s^2)
/// against the target p.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToyObjective {
    /// KL(p || q): mass covering.
    ForwardKl,
    /// KL(q || p): mode seeking.
    ReverseKl,
    /// JS(p, q): the minimax GAN value under D* up to -log 4 and a factor 2.
    Js,
}

/// An optimum of one criterion: the fitted q = N(m, s^2) and the criterion's value there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToyOptimum {
    pub m: f64,
    pub s: f64,
    pub value: f64,
}

fn check_toy(mu: f64, sigma: f64) -> Result<(), TheoryError> {
    if !(mu.is_finite() && mu > 0.0) {
        return Err(TheoryError::invalid(
            "mu",
            format!("need a finite mu > 0, got {mu}"),
        ));
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(TheoryError::invalid(
            "sigma",
            format!("need a finite sigma > 0, got {sigma}"),
        ));
    }
    Ok(())
}

/// The seed-001 section 16.7 target p = 0.5 N(-mu, sigma^2) + 0.5 N(mu, sigma^2), validated.
pub fn toy_target(mu: f64, sigma: f64) -> Result<Mixture1d, TheoryError> {
    check_toy(mu, sigma)?;
    Mixture1d::symmetric_pair(mu, sigma)
}

fn eval_objective(obj: ToyObjective, p: &Mixture1d, m: f64, s: f64) -> Result<f64, TheoryError> {
    let q = Mixture1d::new(vec![m], s, None)?;
    Ok(match obj {
        ToyObjective::ForwardKl => kl(p, &q),
        ToyObjective::ReverseKl => kl(&q, p),
        ToyObjective::Js => js(p, &q),
    })
}

/// The criterion `obj` of seed 001 section 16.7 at q = N(m, s^2) for the target with (mu, sigma).
pub fn toy_objective(
    obj: ToyObjective,
    mu: f64,
    sigma: f64,
    m: f64,
    s: f64,
) -> Result<f64, TheoryError> {
    let p = toy_target(mu, sigma)?;
    if !m.is_finite() {
        return Err(TheoryError::invalid(
            "m",
            format!("need a finite m, got {m}"),
        ));
    }
    if !(s.is_finite() && s > 0.0) {
        return Err(TheoryError::invalid(
            "s",
            format!("need a finite s > 0, got {s}"),
        ));
    }
    eval_objective(obj, &p, m, s)
}

struct ToyCost<'a> {
    obj: ToyObjective,
    p: &'a Mixture1d,
}

impl CostFunction for ToyCost<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, x: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let s = x[1].exp();
        // Outside the representable scales the criterion is effectively infinite; a large finite
        // value keeps Nelder-Mead's ordering well defined.
        if !(s.is_finite() && s > 1e-150 && x[0].is_finite()) {
            return Ok(1e300);
        }
        Ok(eval_objective(self.obj, self.p, x[0], s).unwrap_or(1e300))
    }
}

/// Nelder-Mead over (m, log s) from one start; returns (m, s, value).
fn nelder_mead(
    obj: ToyObjective,
    p: &Mixture1d,
    m0: f64,
    s0: f64,
) -> Result<ToyOptimum, TheoryError> {
    let l0 = s0.ln();
    let dm = 0.3 * s0;
    let simplex = vec![vec![m0, l0], vec![m0 + dm, l0], vec![m0, l0 + 0.3]];
    let err = |e: argmin::core::Error| TheoryError::Numerical(format!("Nelder-Mead: {e}"));
    let solver = NelderMead::new(simplex)
        .with_sd_tolerance(1e-13)
        .map_err(err)?;
    let res = Executor::new(ToyCost { obj, p }, solver)
        .configure(|st| st.max_iters(600))
        .run()
        .map_err(err)?;
    let best = res
        .state()
        .get_best_param()
        .cloned()
        .ok_or_else(|| TheoryError::Numerical("Nelder-Mead returned no parameter".into()))?;
    Ok(ToyOptimum {
        m: best[0],
        s: best[1].exp(),
        value: res.state().get_best_cost(),
    })
}

/// Global minimum over both basins: Nelder-Mead from the three candidate shapes of the toy, the
/// two single-mode fits (m0, s0) = (-mu, sigma), (mu, sigma) and the covering fit
/// (0, sqrt(mu^2 + sigma^2)); the best is folded to m >= 0 (p is symmetric, so (m, s) and
/// (-m, s) have the same value: the optimum is unique up to the sign of m).
fn global_minimum(obj: ToyObjective, mu: f64, sigma: f64) -> Result<ToyOptimum, TheoryError> {
    let p = toy_target(mu, sigma)?;
    let wide = (mu * mu + sigma * sigma).sqrt();
    let mut best: Option<ToyOptimum> = None;
    for (m0, s0) in [(-mu, sigma), (0.0, wide), (mu, sigma)] {
        let o = nelder_mead(obj, &p, m0, s0)?;
        if best.is_none_or(|b| o.value < b.value) {
            best = Some(o);
        }
    }
    let mut b = best.expect("three starts");
    b.m = b.m.abs();
    if !(b.value.is_finite() && b.s.is_finite()) {
        return Err(TheoryError::Numerical(format!(
            "no finite optimum for mu = {mu}, sigma = {sigma}"
        )));
    }
    Ok(b)
}

/// Forward-KL optimum in closed form (seed 001 section 16.7.1): m* = 0, s*^2 = mu^2 + sigma^2;
/// the value KL(p || q*) by quadrature.
pub fn forward_kl_optimum_closed_form(mu: f64, sigma: f64) -> Result<ToyOptimum, TheoryError> {
    let p = toy_target(mu, sigma)?;
    let s = (mu * mu + sigma * sigma).sqrt();
    let value = eval_objective(ToyObjective::ForwardKl, &p, 0.0, s)?;
    Ok(ToyOptimum { m: 0.0, s, value })
}

/// Forward-KL optimum by numerical minimisation of the quadrature KL(p || q) over (m, log s)
/// (an independent check of seed 001 section 16.7.1's closed form).
pub fn forward_kl_optimum_numerical(mu: f64, sigma: f64) -> Result<ToyOptimum, TheoryError> {
    global_minimum(ToyObjective::ForwardKl, mu, sigma)
}

/// Reverse-KL optimum argmin_{m, s} KL(q || p) (seed 001 section 16.7.2): global Nelder-Mead
/// over both basins, then Newton polishing on the exact gradient (by quadrature) where the
/// Hessian is positive definite. Returned with m >= 0; the optimum is unique up to the sign of m.
pub fn reverse_kl_optimum(mu: f64, sigma: f64) -> Result<ToyOptimum, TheoryError> {
    let o = global_minimum(ToyObjective::ReverseKl, mu, sigma)?;
    let p = toy_target(mu, sigma)?;
    let (m, s) = polish_reverse(&p, mu, sigma, o.m, o.s);
    let value = eval_objective(ToyObjective::ReverseKl, &p, m, s)?;
    // Keep the polished point only if it is at least as good (up to quadrature noise).
    if value <= o.value + 1e-12 {
        Ok(ToyOptimum {
            m: m.abs(),
            s,
            value,
        })
    } else {
        Ok(o)
    }
}

/// JS optimum argmin_{m, s} JS(p, q) (seed 001 section 2 applied to the 16.7 toy): global
/// Nelder-Mead over both basins, returned with m >= 0 (unique up to the sign of m).
pub fn js_optimum(mu: f64, sigma: f64) -> Result<ToyOptimum, TheoryError> {
    global_minimum(ToyObjective::Js, mu, sigma)
}

/// The optimum of any of the three criteria (dispatches to the functions above).
pub fn toy_optimum(obj: ToyObjective, mu: f64, sigma: f64) -> Result<ToyOptimum, TheoryError> {
    match obj {
        ToyObjective::ForwardKl => forward_kl_optimum_numerical(mu, sigma),
        ToyObjective::ReverseKl => reverse_kl_optimum(mu, sigma),
        ToyObjective::Js => js_optimum(mu, sigma),
    }
}

/// (log p)'(x) and (log p)''(x) for the symmetric pair, from
/// log p = -(x^2 + mu^2)/(2 sigma^2) + log cosh(mu x / sigma^2) - log(sigma sqrt(2 pi)).
fn pair_dlog(mu: f64, sigma: f64, x: f64) -> (f64, f64) {
    let s2 = sigma * sigma;
    let t = (mu * x / s2).tanh();
    (
        (-x + mu * t) / s2,
        -1.0 / s2 + mu * mu * (1.0 - t * t) / (s2 * s2),
    )
}

/// Gradient and Hessian of KL(q || p) in (m, s), by the reparametrisation x = m + s z:
/// d/dm = -E[(log p)'], d/ds = -1/s - E[(log p)' z], d2/dm2 = -E[(log p)''],
/// d2/dmds = -E[(log p)'' z], d2/ds2 = 1/s^2 - E[(log p)'' z^2].
fn reverse_grad_hess(p: &Mixture1d, mu: f64, sigma: f64, m: f64, s: f64) -> ([f64; 2], [f64; 3]) {
    let q = Mixture1d::new(vec![m], s, None).expect("s > 0 checked by caller");
    let mut acc = [0.0; 5];
    for (k, a) in acc.iter_mut().enumerate() {
        *a = integrate_1d(&[p, &q], |x| {
            let w = q.log_pdf(x).exp();
            let z = (x - m) / s;
            let (d1, d2) = pair_dlog(mu, sigma, x);
            w * match k {
                0 => d1,
                1 => d1 * z,
                2 => d2,
                3 => d2 * z,
                _ => d2 * z * z,
            }
        });
    }
    (
        [-acc[0], -1.0 / s - acc[1]],
        [-acc[2], -acc[3], 1.0 / (s * s) - acc[4]],
    )
}

fn polish_reverse(p: &Mixture1d, mu: f64, sigma: f64, m0: f64, s0: f64) -> (f64, f64) {
    let (mut m, mut s) = (m0, s0);
    let (mut g, mut h) = reverse_grad_hess(p, mu, sigma, m, s);
    for _ in 0..8 {
        let det = h[0] * h[2] - h[1] * h[1];
        if !(h[0] > 0.0 && det > 0.0) {
            break;
        }
        let dm = (h[2] * g[0] - h[1] * g[1]) / det;
        let ds = (h[0] * g[1] - h[1] * g[0]) / det;
        let (mn, sn) = (m - dm, s - ds);
        if !(sn > 0.0 && mn.is_finite()) {
            break;
        }
        let (gn, hn) = reverse_grad_hess(p, mu, sigma, mn, sn);
        if gn[0].hypot(gn[1]) >= g[0].hypot(g[1]) {
            break;
        }
        (m, s, g, h) = (mn, sn, gn, hn);
    }
    (m, s)
}

/// The gradient of KL(q || p) in (m, s) at q = N(m, s^2) for the seed-001 toy, from the
/// reparametrisation x = m + s z and the closed form (log p)' = (-x + mu tanh(mu x/sigma^2))/sigma^2
/// (used to polish the reverse-KL optimum; tested against finite differences of the quadrature KL).
pub fn reverse_kl_gradient(mu: f64, sigma: f64, m: f64, s: f64) -> Result<[f64; 2], TheoryError> {
    let p = toy_target(mu, sigma)?;
    if !(m.is_finite() && s.is_finite() && s > 0.0) {
        return Err(TheoryError::invalid(
            "s",
            format!("need finite m and s > 0, got m = {m}, s = {s}"),
        ));
    }
    Ok(reverse_grad_hess(&p, mu, sigma, m, s).0)
}

/// Minimiser of the criterion along the symmetric branch m = 0: argmin_s obj(0, s) by Brent's
/// method on log s in [log(sigma/10), log(10 sqrt(mu^2 + sigma^2))].
pub fn symmetric_branch(obj: ToyObjective, mu: f64, sigma: f64) -> Result<ToyOptimum, TheoryError> {
    let p = toy_target(mu, sigma)?;
    struct Branch<'a> {
        obj: ToyObjective,
        p: &'a Mixture1d,
    }
    impl CostFunction for Branch<'_> {
        type Param = f64;
        type Output = f64;
        fn cost(&self, l: &f64) -> Result<f64, argmin::core::Error> {
            Ok(eval_objective(self.obj, self.p, 0.0, l.exp()).unwrap_or(1e300))
        }
    }
    let lo = (0.1 * sigma).ln();
    let hi = (10.0 * (mu * mu + sigma * sigma).sqrt()).ln();
    let solver = BrentOpt::new(lo, hi).set_tolerance(1e-10, 1e-12);
    let err = |e: argmin::core::Error| TheoryError::Numerical(format!("Brent on the branch: {e}"));
    let res = Executor::new(Branch { obj, p: &p }, solver)
        .configure(|st| st.max_iters(200))
        .run()
        .map_err(err)?;
    let l = *res
        .state()
        .get_best_param()
        .ok_or_else(|| TheoryError::Numerical("Brent returned no parameter".into()))?;
    Ok(ToyOptimum {
        m: 0.0,
        s: l.exp(),
        value: res.state().get_best_cost(),
    })
}

/// Curvature d2/dm2 of the criterion at (m = 0, s0*) on the symmetric branch, by a central
/// second difference with h = 1e-3 s0* (d/dm d/ds vanishes there by symmetry, so the branch is
/// a local minimum iff this is positive; a continuous, pitchfork-like bifurcation would need it to
/// cross 0). Returns (s0*, curvature).
pub fn symmetric_branch_curvature(
    obj: ToyObjective,
    mu: f64,
    sigma: f64,
) -> Result<(f64, f64), TheoryError> {
    let b = symmetric_branch(obj, mu, sigma)?;
    let p = toy_target(mu, sigma)?;
    let h = 1e-3 * b.s;
    let fp = eval_objective(obj, &p, h, b.s)?;
    let fm = eval_objective(obj, &p, -h, b.s)?;
    let f0 = eval_objective(obj, &p, 0.0, b.s)?;
    Ok((b.s, (fp - 2.0 * f0 + fm) / (h * h)))
}

fn check_bracket(lo: f64, hi: f64) -> Result<(), TheoryError> {
    if !(lo.is_finite() && lo > 0.0) {
        return Err(TheoryError::invalid(
            "lo",
            format!("need a finite lo > 0, got {lo}"),
        ));
    }
    if !(hi.is_finite() && hi > lo) {
        return Err(TheoryError::invalid(
            "hi",
            format!("need a finite hi > lo, got {hi}"),
        ));
    }
    Ok(())
}

/// Whether the global optimum of `obj` at separation mu/sigma = `ratio` (sigma = 1) has left the
/// symmetric branch: m* > [`SPLIT_THRESHOLD`] sigma.
pub fn optimum_is_split(obj: ToyObjective, ratio: f64) -> Result<bool, TheoryError> {
    Ok(toy_optimum(obj, ratio, 1.0)?.m > SPLIT_THRESHOLD)
}

fn bisect_ratio(
    lo: f64,
    hi: f64,
    tol: f64,
    what: &str,
    mut pred: impl FnMut(f64) -> Result<bool, TheoryError>,
) -> Result<f64, TheoryError> {
    check_bracket(lo, hi)?;
    if !(tol.is_finite() && tol > 0.0) {
        return Err(TheoryError::invalid(
            "tol",
            format!("need a finite tol > 0, got {tol}"),
        ));
    }
    if pred(lo)? || !pred(hi)? {
        return Err(TheoryError::Numerical(format!(
            "{what}: false at {lo} and true at {hi} is needed"
        )));
    }
    let (mut a, mut b) = (lo, hi);
    while b - a > tol {
        let c = 0.5 * (a + b);
        if pred(c)? {
            b = c;
        } else {
            a = c;
        }
    }
    Ok(0.5 * (a + b))
}

/// The separation mu/sigma at which the GLOBAL optimum of `obj` (seed 001 section 16.7) leaves
/// m = 0, by bisection of [`optimum_is_split`] on [lo, hi] down to width `tol`. Errors if the
/// predicate is not false at `lo` and true at `hi`.
pub fn bifurcation_ratio_global(
    obj: ToyObjective,
    lo: f64,
    hi: f64,
    tol: f64,
) -> Result<f64, TheoryError> {
    bisect_ratio(lo, hi, tol, &format!("{obj:?} split optimum"), |r| {
        optimum_is_split(obj, r)
    })
}

/// The single-mode local minimum of `obj` near (m, s) = (mu, sigma): Nelder-Mead started there
/// (polished by Newton for the reverse KL). `None` when the descent slides back to the symmetric
/// branch (|m| <= [`SPLIT_THRESHOLD`] sigma), i.e. no such local minimum exists.
pub fn mode_locked_local_minimum(
    obj: ToyObjective,
    mu: f64,
    sigma: f64,
) -> Result<Option<ToyOptimum>, TheoryError> {
    let p = toy_target(mu, sigma)?;
    let mut o = nelder_mead(obj, &p, mu, sigma)?;
    if obj == ToyObjective::ReverseKl {
        let (m, s) = polish_reverse(&p, mu, sigma, o.m, o.s);
        let value = eval_objective(obj, &p, m, s)?;
        if value <= o.value + 1e-12 {
            o = ToyOptimum { m, s, value };
        }
    }
    o.m = o.m.abs();
    Ok((o.m > SPLIT_THRESHOLD * sigma).then_some(o))
}

/// The separation mu/sigma above which a single-mode local minimum exists (the spinodal of the
/// first-order switch), by bisection of [`mode_locked_local_minimum`] on [lo, hi] (sigma = 1).
pub fn mode_locked_onset_ratio(
    obj: ToyObjective,
    lo: f64,
    hi: f64,
    tol: f64,
) -> Result<f64, TheoryError> {
    bisect_ratio(
        lo,
        hi,
        tol,
        &format!("{obj:?} single-mode local minimum"),
        |r| Ok(mode_locked_local_minimum(obj, r, 1.0)?.is_some()),
    )
}

/// Relative distance of the reverse-KL optimum from the single mode (mu, sigma), the large
/// separation limit claimed in seed 001 section 16.7.2: (|m*/mu - 1|, |s*/sigma - 1|).
pub fn reverse_kl_mode_lock_error(mu: f64, sigma: f64) -> Result<(f64, f64), TheoryError> {
    let o = reverse_kl_optimum(mu, sigma)?;
    Ok(((o.m / mu - 1.0).abs(), (o.s / sigma - 1.0).abs()))
}

/// KL between two Gaussians in closed form, KL(N(m1, s1^2) || N(m2, s2^2)) =
/// log(s2/s1) + (s1^2 + (m1 - m2)^2)/(2 s2^2) - 1/2 (a reference for the quadrature).
pub fn kl_gaussians(m1: f64, s1: f64, m2: f64, s2: f64) -> f64 {
    (s2 / s1).ln() + (s1 * s1 + (m1 - m2).powi(2)) / (2.0 * s2 * s2) - 0.5
}

/// -E_p log q for the toy target and q = N(m, s^2) in closed form (seed 001 section 16.7.1:
/// E_p (x - m)^2 = mu^2 + sigma^2 + m^2): 0.5 log(2 pi s^2) + (mu^2 + sigma^2 + m^2)/(2 s^2).
pub fn toy_cross_entropy(mu: f64, sigma: f64, m: f64, s: f64) -> f64 {
    0.5 * (2.0 * PI * s * s).ln() + (mu * mu + sigma * sigma + m * m) / (2.0 * s * s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn gauss(m: f64, s: f64) -> Mixture1d {
        Mixture1d::new(vec![m], s, None).unwrap()
    }

    #[test]
    fn kl_matches_gaussian_closed_form() {
        for &(m1, s1, m2, s2) in &[
            (0.0, 1.0, 0.0, 1.0),
            (0.3, 0.5, -1.0, 2.0),
            (5.0, 0.01, 0.0, 3.0),
            (0.0, 20.0, 1.0, 0.7),
        ] {
            let got = kl(&gauss(m1, s1), &gauss(m2, s2));
            let want = kl_gaussians(m1, s1, m2, s2);
            assert!(
                (got - want).abs() <= 1e-10 * (1.0 + want),
                "{got} vs {want}"
            );
        }
    }

    #[test]
    fn js_of_disjoint_supports_is_ln2() {
        let v = js(&gauss(-40.0, 1.0), &gauss(40.0, 1.0));
        assert!((v - LN_2).abs() < 1e-12, "{v}");
        assert!(js(&gauss(1.0, 2.0), &gauss(1.0, 2.0)).abs() < 1e-14);
    }

    #[test]
    fn cross_entropy_matches_quadrature() {
        // -E_p log q of 16.7.1, by quadrature, against its closed form: checks the variance
        // mu^2 + sigma^2 used for the forward optimum.
        let (mu, sigma, m, s) = (1.7, 0.4, 0.3, 1.1);
        let p = toy_target(mu, sigma).unwrap();
        let q = gauss(m, s);
        let ce = integrate_1d(&[&p, &q], |x| -p.log_pdf(x).exp() * q.log_pdf(x));
        assert!((ce - toy_cross_entropy(mu, sigma, m, s)).abs() < 1e-11);
    }

    #[test]
    fn invalid_parameters_are_named() {
        for (mu, sigma, name) in [
            (0.0, 1.0, "mu"),
            (-1.0, 1.0, "mu"),
            (f64::NAN, 1.0, "mu"),
            (1.0, 0.0, "sigma"),
            (1.0, -2.0, "sigma"),
        ] {
            for r in [
                reverse_kl_optimum(mu, sigma).map(|_| ()),
                js_optimum(mu, sigma).map(|_| ()),
                forward_kl_optimum_closed_form(mu, sigma).map(|_| ()),
            ] {
                match r {
                    Err(TheoryError::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
                    other => panic!("expected invalid {name}, got {other:?}"),
                }
            }
        }
        assert!(matches!(
            toy_objective(ToyObjective::Js, 1.0, 1.0, 0.0, -1.0),
            Err(TheoryError::InvalidParameter { name: "s", .. })
        ));
    }

    #[test]
    fn reverse_kl_gradient_matches_finite_differences() {
        let (mu, sigma, m, s) = (1.3, 0.8, 0.4, 0.9);
        let g = reverse_kl_gradient(mu, sigma, m, s).unwrap();
        let f = |m: f64, s: f64| toy_objective(ToyObjective::ReverseKl, mu, sigma, m, s).unwrap();
        let h = 1e-5;
        let fm = (f(m + h, s) - f(m - h, s)) / (2.0 * h);
        let fs = (f(m, s + h) - f(m, s - h)) / (2.0 * h);
        assert!(
            (g[0] - fm).abs() < 1e-7 && (g[1] - fs).abs() < 1e-7,
            "{g:?} vs {fm} {fs}"
        );
    }

    #[test]
    fn reverse_kl_curvature_fd_matches_analytic() {
        // At m = 0 the analytic d2/dm2 KL(q||p) = -E_q[(log p)''] must equal the finite difference.
        for mu in [0.8, 1.2, 2.0] {
            let (s0, fd) = symmetric_branch_curvature(ToyObjective::ReverseKl, mu, 1.0).unwrap();
            let p = toy_target(mu, 1.0).unwrap();
            let (_, h) = reverse_grad_hess(&p, mu, 1.0, 0.0, s0);
            assert!(
                (fd - h[0]).abs() < 1e-5 * (1.0 + h[0].abs()),
                "mu {mu}: {fd} vs {}",
                h[0]
            );
        }
    }

    #[test]
    fn forward_closed_form_is_a_stationary_point() {
        // Independent of the optimiser: the quadrature KL(p||q) is flat at the closed form.
        let (mu, sigma) = (2.0, 0.5);
        let o = forward_kl_optimum_closed_form(mu, sigma).unwrap();
        let f = |m: f64, s: f64| toy_objective(ToyObjective::ForwardKl, mu, sigma, m, s).unwrap();
        let h = 1e-4;
        assert!(((f(h, o.s) - f(-h, o.s)) / (2.0 * h)).abs() < 1e-8);
        assert!(((f(0.0, o.s + h) - f(0.0, o.s - h)) / (2.0 * h)).abs() < 1e-7);
    }

    #[test]
    fn reverse_kl_locks_onto_one_mode_for_large_separation() {
        // Seed 001 16.7.2: m* -> mu, s* -> sigma as mu/sigma -> infinity.
        let (em3, es3) = reverse_kl_mode_lock_error(3.0, 1.0).unwrap();
        let (em5, es5) = reverse_kl_mode_lock_error(5.0, 1.0).unwrap();
        assert!(em3 < 0.05 && es3 < 0.05, "{em3} {es3}");
        assert!(
            em5 < 1e-2 * em3 && es5 < 1e-2 * es3 && es5 < 1e-4,
            "{em5} {es5}"
        );
        let o = reverse_kl_optimum(10.0, 1.0).unwrap();
        assert!((o.m - 10.0).abs() < 1e-6 && (o.s - 1.0).abs() < 1e-6);
        assert!(
            (o.value - LN_2).abs() < 1e-9,
            "KL(N(mu,sigma)||p) -> log 2, got {}",
            o.value
        );
    }

    #[test]
    fn reverse_kl_is_symmetric_for_close_modes() {
        // For mu/sigma small the target is unimodal and the reverse optimum sits at m = 0.
        let o = reverse_kl_optimum(0.5, 1.0).unwrap();
        assert!(o.m < SPLIT_THRESHOLD, "{o:?}");
        let o = js_optimum(0.5, 1.0).unwrap();
        assert!(o.m < SPLIT_THRESHOLD, "{o:?}");
    }

    #[test]
    fn reverse_kl_switch_is_first_order() {
        // The global optimum jumps from the covering fit to a single mode; the covering fit stays
        // a local minimum past the switch and the single-mode fit exists before it.
        let g = bifurcation_ratio_global(ToyObjective::ReverseKl, 2.5, 3.2, 0.05).unwrap();
        assert!(
            toy_optimum(ToyObjective::ReverseKl, g + 0.05, 1.0)
                .unwrap()
                .m
                > 0.8 * g
        );
        assert!(
            symmetric_branch_curvature(ToyObjective::ReverseKl, g + 0.05, 1.0)
                .unwrap()
                .1
                > 0.05
        );
        assert!(
            mode_locked_local_minimum(ToyObjective::ReverseKl, g - 0.05, 1.0)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn multistart_optimum_is_global_on_a_grid() {
        // Independent of the three starts: a coarse grid over m in [-1.5 mu, 1.5 mu] and
        // log s in [log 0.3 sigma, log 3 (mu + sigma)] finds nothing below the returned optimum,
        // just past each switch where the two basins are nearly level.
        for (obj, r) in [(ToyObjective::ReverseKl, 2.9), (ToyObjective::Js, 4.4)] {
            let o = toy_optimum(obj, r, 1.0).unwrap();
            let p = toy_target(r, 1.0).unwrap();
            let (l0, l1) = (0.3f64.ln(), (3.0 * (r + 1.0)).ln());
            for i in 0..=16 {
                let m = -1.5 * r + 3.0 * r * f64::from(i) / 16.0;
                for j in 0..=16 {
                    let s = (l0 + (l1 - l0) * f64::from(j) / 16.0).exp();
                    let v = eval_objective(obj, &p, m, s).unwrap();
                    assert!(
                        v >= o.value - 1e-12,
                        "{obj:?} r {r}: ({m}, {s}) -> {v} < {o:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn js_switch_is_first_order() {
        let g = bifurcation_ratio_global(ToyObjective::Js, 4.0, 5.0, 0.1).unwrap();
        assert!(toy_optimum(ToyObjective::Js, g + 0.1, 1.0).unwrap().m > 0.8 * g);
        assert!(
            symmetric_branch_curvature(ToyObjective::Js, g + 0.1, 1.0)
                .unwrap()
                .1
                > 0.0
        );
        assert!(mode_locked_local_minimum(ToyObjective::Js, g - 0.1, 1.0)
            .unwrap()
            .is_some());
        // Far apart the single-mode JS tends to (3/4) log(4/3): M = 3q/4 on the fitted mode,
        // p/2 on the other.
        let o = js_optimum(8.0, 1.0).unwrap();
        assert!((o.value - 0.75 * (4.0f64 / 3.0).ln()).abs() < 1e-9, "{o:?}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn js_bounded_and_symmetric(
            m1 in prop::collection::vec(-5.0f64..5.0, 1..4), s1 in 0.2f64..3.0,
            m2 in prop::collection::vec(-5.0f64..5.0, 1..4), s2 in 0.2f64..3.0,
        ) {
            let p = Mixture1d::new(m1, s1, None).unwrap();
            let q = Mixture1d::new(m2, s2, None).unwrap();
            let a = js(&p, &q);
            let b = js(&q, &p);
            prop_assert!((-1e-13..=LN_2 + 1e-13).contains(&a), "{a}");
            prop_assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }

        #[test]
        fn value_at_optimal_d_is_minus_log4_plus_2js(
            m1 in prop::collection::vec(-5.0f64..5.0, 1..4), s1 in 0.2f64..3.0,
            m2 in prop::collection::vec(-5.0f64..5.0, 1..4), s2 in 0.2f64..3.0,
            w in 0.05f64..0.95,
        ) {
            let n = m1.len();
            let weights = if n == 1 { None } else {
                let mut v = vec![(1.0 - w) / (n - 1) as f64; n]; v[0] = w; Some(v)
            };
            let p = Mixture1d::new(m1, s1, weights).unwrap();
            let q = Mixture1d::new(m2, s2, None).unwrap();
            let v = value_at_optimal_discriminator(&p, &q);
            let j = js(&p, &q);
            prop_assert!((v - (-(4.0f64).ln() + 2.0 * j)).abs() < 1e-11, "V {v} JS {j}");
        }

        #[test]
        fn ns_loss_under_optimal_d_is_log_one_plus_ratio(
            m1 in prop::collection::vec(-5.0f64..5.0, 1..4), s1 in 0.2f64..3.0,
            m2 in prop::collection::vec(-5.0f64..5.0, 1..4), s2 in 0.2f64..3.0,
        ) {
            let p = Mixture1d::new(m1, s1, None).unwrap();
            let q = Mixture1d::new(m2, s2, None).unwrap();
            let a = ns_loss_at_optimal_discriminator(&p, &q);
            let b = ns_loss_ratio_form(&p, &q);
            prop_assert!(a.is_finite() && a > 0.0);
            prop_assert!((a - b).abs() < 1e-11 * (1.0 + a), "{a} vs {b}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6))]

        #[test]
        fn forward_numerical_optimum_is_the_closed_form(mu in 0.2f64..4.0, sigma in 0.3f64..2.0) {
            let c = forward_kl_optimum_closed_form(mu, sigma).unwrap();
            let n = forward_kl_optimum_numerical(mu, sigma).unwrap();
            let scale = c.s;
            prop_assert!(n.m.abs() < 1e-4 * scale, "{n:?} vs {c:?}");
            prop_assert!((n.s - c.s).abs() < 1e-4 * scale, "{n:?} vs {c:?}");
            prop_assert!(n.value >= c.value - 1e-12 && n.value - c.value < 1e-9);
        }

        #[test]
        fn reverse_optimum_beats_nearby_models(
            mu in 0.3f64..4.0, sigma in 0.3f64..2.0,
            dm in prop::collection::vec(-0.5f64..0.5, 4),
            dl in prop::collection::vec(-0.5f64..0.5, 4),
        ) {
            let o = reverse_kl_optimum(mu, sigma).unwrap();
            prop_assert!(o.m >= 0.0);
            for (a, b) in dm.iter().zip(&dl) {
                let m = o.m + a * sigma;
                let s = o.s * b.exp();
                let v = toy_objective(ToyObjective::ReverseKl, mu, sigma, m, s).unwrap();
                prop_assert!(o.value <= v + 1e-12, "{o:?} vs ({m}, {s}) -> {v}");
                // and the mirror image has the same value (unique up to the sign of m)
                let vm = toy_objective(ToyObjective::ReverseKl, mu, sigma, -m, s).unwrap();
                prop_assert!((v - vm).abs() < 1e-11);
            }
        }
    }
}

#[cfg(test)]
mod report {
    //! The numbers of the report, recomputed: `cargo test -p theory --release kl_toy::report --
    //! --ignored --nocapture` (a few minutes in a debug build).
    use super::*;

    #[test]
    #[ignore]
    fn print_toy_numbers() {
        for r in [0.5, 1.0, 2.0, 2.5, 3.0, 4.0, 5.0, 10.0] {
            for obj in [
                ToyObjective::ForwardKl,
                ToyObjective::ReverseKl,
                ToyObjective::Js,
            ] {
                let o = toy_optimum(obj, r, 1.0).unwrap();
                let (s0, c) = symmetric_branch_curvature(obj, r, 1.0).unwrap();
                let lock = mode_locked_local_minimum(obj, r, 1.0).unwrap();
                eprintln!("mu/sigma {r:5} {obj:?}: optimum {o:?}; branch s0 {s0:.6} curvature {c:.6e}; single-mode local min {lock:?}");
            }
            let c = forward_kl_optimum_closed_form(r, 1.0).unwrap();
            eprintln!("mu/sigma {r:5} ForwardKl closed form {c:?}");
        }
        for r in [2.0, 3.0, 5.0, 10.0] {
            let (em, es) = reverse_kl_mode_lock_error(r, 1.0).unwrap();
            eprintln!("reverse KL mode lock at mu/sigma {r}: |m/mu - 1| = {em:.3e}, |s/sigma - 1| = {es:.3e}");
        }
        for (obj, lo, hi) in [
            (ToyObjective::ReverseKl, 2.0, 3.5),
            (ToyObjective::Js, 3.5, 5.5),
        ] {
            let g = bifurcation_ratio_global(obj, lo, hi, 1e-5).unwrap();
            let just_after = toy_optimum(obj, g + 1e-4, 1.0).unwrap();
            let just_before = toy_optimum(obj, g - 1e-4, 1.0).unwrap();
            let onset = mode_locked_onset_ratio(obj, 1.0, g, 1e-4).unwrap();
            eprintln!("{obj:?}: global switch at mu/sigma = {g:.5}; before {just_before:?}; after {just_after:?}; single-mode local minimum from mu/sigma = {onset:.4}");
        }
    }
}
