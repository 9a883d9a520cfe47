//! The one-dimensional measure-preserving map g = Psi^{-1} o Phi (section 3.2, Theorem C.2 with
//! h = id, Appendix I / Figure 22 / Table 3): the monotone (optimal-transport) map that pushes
//! N(0, 1) forward to a 1-D Gaussian mixture p_data with CDF Psi and density psi.
//!
//! Numerics. Between two modes that are d apart, g' reaches about sigma * exp(d^2 / (8 sigma^2)),
//! so everything is carried in log space: log g'(z) = log phi(z) - log psi(g(z)). g is evaluated
//! on the lower-tail side (Psi(x) = Phi(z)) for z <= 0 and on the survival side
//! (1 - Psi(x) = Phi(-z)) for z > 0, by solving the lower-tail quantile of the mirrored mixture
//! x -> -x, so that g keeps full relative accuracy for |z| up to [`Z_MAX`] = 37
//! (Phi(-37) ~ 6e-300, the edge of f64's normal range).
//!
//! The steepness of g (Definition 2.1; in 1-D simply g' since g is increasing) is most easily
//! written as a function of the OUTPUT point y = g(z):
//! S(y) = g'(g^{-1}(y)) = phi(Phi^{-1}(Psi(y))) / psi(y),
//! which needs no root finding; [`TransportMap::max_steepness`] maximises it over y.

use crate::mixture::{std_normal_cdf, std_normal_quantile, std_normal_sf};
use crate::{Mixture1d, TheoryError};
use argmin::core::{CostFunction, Executor, State};
use argmin::solver::brent::{BrentOpt, BrentRoot};

/// log(sqrt(2 pi)).
pub(crate) const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Largest |z| at which [`TransportMap::g`] is evaluated: Phi(-37) ~ 5.7e-300 is still a normal
/// f64 with a well-defined logarithm; beyond it the tail probability underflows.
pub const Z_MAX: f64 = 37.0;

/// Smallest tail probability handed to the quantile solver (see [`Z_MAX`]).
const P_MIN: f64 = 1e-300;

/// A closure seen as an argmin cost function (argmin's solvers need a `CostFunction`; this is the
/// only glue needed to run its Brent root finder / minimiser on a Rust closure).
struct FnCost<F>(F);

impl<F: Fn(f64) -> Result<f64, TheoryError>> CostFunction for FnCost<F> {
    type Param = f64;
    type Output = f64;
    fn cost(&self, x: &f64) -> Result<f64, argmin::core::Error> {
        Ok((self.0)(*x)?)
    }
}

/// Root of `f` in [lo, hi] (f(lo), f(hi) of opposite signs) by argmin's Brent root finder.
pub(crate) fn brent_root<F>(f: F, lo: f64, hi: f64, what: &str) -> Result<f64, TheoryError>
where
    F: Fn(f64) -> Result<f64, TheoryError>,
{
    let res = Executor::new(FnCost(f), BrentRoot::new(lo, hi, 1e-14))
        .configure(|s| s.max_iters(400))
        .run()
        .map_err(|e| TheoryError::Numerical(format!("{what}: {e}")))?;
    res.state()
        .get_best_param()
        .copied()
        .ok_or_else(|| TheoryError::Numerical(format!("{what}: no root found")))
}

/// Minimiser of `f` in [lo, hi] by argmin's Brent minimiser (golden section + parabolas).
pub(crate) fn brent_min<F>(f: F, lo: f64, hi: f64, what: &str) -> Result<(f64, f64), TheoryError>
where
    F: Fn(f64) -> Result<f64, TheoryError>,
{
    let solver = BrentOpt::new(lo, hi).set_tolerance(f64::EPSILON.sqrt(), 1e-13);
    let res = Executor::new(FnCost(f), solver)
        .configure(|s| s.max_iters(500))
        .run()
        .map_err(|e| TheoryError::Numerical(format!("{what}: {e}")))?;
    let st = res.state();
    let x = st
        .get_best_param()
        .copied()
        .ok_or_else(|| TheoryError::Numerical(format!("{what}: no minimiser found")))?;
    Ok((x, st.get_best_cost()))
}

/// The global maximum of the steepness of g (Definition 2.1) with where it is attained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MaxSteepness {
    /// max_z g'(z); `f64::INFINITY` if it overflows (use `log_value`).
    pub value: f64,
    /// log max_z g'(z).
    pub log_value: f64,
    /// The latent point z* attaining the maximum.
    pub argmax_z: f64,
    /// Its image y* = g(z*).
    pub argmax_y: f64,
}

/// The map g = Psi^{-1} o Phi of Theorem C.2 (h = identity) and Theorem 3.1 for a 1-D mixture.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportMap {
    mix: Mixture1d,
    /// The mixture mirrored through 0 (means -mu_i, same weights): its lower tail is the upper
    /// tail of `mix`, so g on z > 0 is minus the lower-tail quantile of the mirror.
    mirror: Mixture1d,
    /// Sorted distinct means.
    modes: Vec<f64>,
}

impl TransportMap {
    /// The transport map of `mix` (Theorem C.2 with h = id; section 3.2).
    pub fn new(mix: Mixture1d) -> Self {
        let mirror = Mixture1d::new(
            mix.means().iter().map(|m| -m).collect(),
            mix.sigma(),
            Some(mix.weights().to_vec()),
        )
        .expect("mirroring a valid mixture keeps it valid");
        let mut modes = mix.means().to_vec();
        modes.sort_by(f64::total_cmp);
        modes.dedup();
        Self { mix, mirror, modes }
    }

    /// The target mixture p_data.
    pub fn mixture(&self) -> &Mixture1d {
        &self.mix
    }

    /// g(z) = Psi^{-1}(Phi(z)) (Theorem 3.1's map), solved on the survival side for z > 0, so
    /// that Psi(g(z)) = Phi(z) (resp. 1 - Psi = 1 - Phi) holds to ~1e-12 relative for all
    /// |z| <= [`Z_MAX`]. Errors for |z| > [`Z_MAX`] or non-finite z. Note the conditioning: where
    /// g' is huge (between separated modes) Psi is flat to rounding over a range of x, so g(z)
    /// is only determined to about eps * Psi / psi (e.g. +-1e-2 at z = 0 for +-8, sigma = 1);
    /// the steepness is then better taken from the output side ([`Self::log_steepness_at_output`]).
    pub fn g(&self, z: f64) -> Result<f64, TheoryError> {
        if !(z.is_finite() && z.abs() <= Z_MAX) {
            return Err(TheoryError::invalid(
                "z",
                format!("g is evaluated for |z| <= {Z_MAX} (tail probability >= 1e-300), got {z}"),
            ));
        }
        if z <= 0.0 {
            self.mix.quantile(std_normal_cdf(z))
        } else {
            // 1 - Psi(x) = Phi(-z)  <=>  Psi_mirror(-x) = Phi(-z).
            Ok(-self.mirror.quantile(std_normal_sf(z))?)
        }
    }

    /// g^{-1}(x) = Phi^{-1}(Psi(x)) (Appendix I computes Figure 22 through it), taken from the
    /// survival function when Psi(x) > 1/2. Errors where the tail probability underflows.
    pub fn g_inv(&self, x: f64) -> Result<f64, TheoryError> {
        if !x.is_finite() {
            return Err(TheoryError::invalid("x", "must be finite"));
        }
        let c = self.mix.cdf(x);
        let s = self.mix.sf(x);
        let (p, sign) = if c <= s { (c, 1.0) } else { (s, -1.0) };
        if p < P_MIN {
            return Err(TheoryError::invalid(
                "x",
                format!("tail probability of x = {x} is {p:e}, below 1e-300"),
            ));
        }
        Ok(sign * std_normal_quantile(p))
    }

    /// log g'(z) = log phi(z) - log psi(g(z)) (derivative of Psi^{-1} o Phi, Theorem C.3's proof).
    pub fn log_dg(&self, z: f64) -> Result<f64, TheoryError> {
        let x = self.g(z)?;
        Ok(-0.5 * z * z - LN_SQRT_2PI - self.mix.log_pdf(x))
    }

    /// g'(z) = phi(z) / psi(g(z)) (exp of [`Self::log_dg`]; may overflow to +inf for huge gaps).
    pub fn dg(&self, z: f64) -> Result<f64, TheoryError> {
        Ok(self.log_dg(z)?.exp())
    }

    /// log S(y) where S(y) = g'(g^{-1}(y)) = phi(Phi^{-1}(Psi(y))) / psi(y), the steepness seen
    /// from the output point y (the reciprocal of (g^{-1})'(y) in Theorem C.3's proof).
    pub fn log_steepness_at_output(&self, y: f64) -> Result<f64, TheoryError> {
        let u = self.g_inv(y)?;
        Ok(-0.5 * u * u - LN_SQRT_2PI - self.mix.log_pdf(y))
    }

    /// S(y) = phi(Phi^{-1}(Psi(y))) / psi(y) (see [`Self::log_steepness_at_output`]).
    pub fn steepness_at_output(&self, y: f64) -> Result<f64, TheoryError> {
        Ok(self.log_steepness_at_output(y)?.exp())
    }

    /// The output-space scan grid: every inter-mode interval and 8 sigma of each tail, with a
    /// spacing h = min(sigma / 40, sigma^2 / (4 d)) on an interval of length d. The ridge of
    /// log S between two modes d apart has curvature about a^2 with a = d / (2 sigma^2) (the
    /// log-cosh of the two-component log-sum-exp), so half a cell costs at most a^2 h^2 / 8
    /// <= 1/512 in log S: the best grid point is within ~0.002 of the true maximum (for any gap),
    /// and Brent only has to polish it.
    fn scan_pieces(&self) -> Vec<(f64, f64)> {
        let s = self.mix.sigma();
        let first = self.modes[0];
        let last = *self.modes.last().unwrap_or(&first);
        // In a tail, the component that dominates can change far from the modes: components i, j
        // swap dominance at distance s^2 |ln(w_i/w_j)| / |mu_i - mu_j| from their midpoint, and
        // g' has a (small) bump there. Close modes of unequal weight put it beyond 8 sigma (proptest
        // found 0.59/0.605, weights 0.27/0.73, sigma 0.3: a bump 3e-5 above the bulk maximum at
        // ~20 sigma), so the tails reach past the farthest swap, capped at 30 sigma (beyond, the
        // tail probabilities g is computed from approach f64's underflow at 1e-300).
        let (means, weights) = (self.mix.means(), self.mix.weights());
        let mut reach: f64 = 8.0 * s;
        for i in 0..means.len() {
            for j in i + 1..means.len() {
                let gap = (means[i] - means[j]).abs();
                if gap > 0.0 && weights[i] > 0.0 && weights[j] > 0.0 {
                    let swap = s * s * (weights[i] / weights[j]).ln().abs() / gap;
                    reach = reach.max(swap + 4.0 * s);
                }
            }
        }
        let reach = reach.min(30.0 * s);
        let mut pieces = vec![(first - reach, first)];
        for w in self.modes.windows(2) {
            pieces.push((w[0], w[1]));
        }
        pieces.push((last, last + reach));
        pieces
    }

    fn grid(&self, pieces: &[(f64, f64)]) -> Vec<f64> {
        let s = self.mix.sigma();
        let mut ys = Vec::new();
        for &(a, b) in pieces {
            let len = b - a;
            if len <= 0.0 {
                continue;
            }
            let h = s / 40.0_f64.max(4.0 * len / s);
            let m = (len / h).ceil().max(8.0) as usize;
            for j in 0..m {
                ys.push(a + len * j as f64 / m as f64);
            }
        }
        if let Some(&(_, b)) = pieces.last() {
            ys.push(b);
        }
        ys
    }

    /// Maximises log S(y) over the grid of `pieces`, then polishes every grid local maximum
    /// within 1 (in log) of the best by Brent's minimiser (argmin `BrentOpt`) on -log S between
    /// its two grid neighbours.
    fn maximise(&self, pieces: &[(f64, f64)]) -> Result<MaxSteepness, TheoryError> {
        let ys = self.grid(pieces);
        let vals = ys
            .iter()
            .map(|&y| self.log_steepness_at_output(y))
            .collect::<Result<Vec<_>, _>>()?;
        let best_grid = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut best = (
            best_grid,
            ys[vals.iter().position(|v| *v == best_grid).unwrap_or(0)],
        );
        for i in 0..ys.len() {
            let left = if i > 0 {
                vals[i - 1]
            } else {
                f64::NEG_INFINITY
            };
            let right = if i + 1 < ys.len() {
                vals[i + 1]
            } else {
                f64::NEG_INFINITY
            };
            if !(vals[i] >= left && vals[i] >= right && vals[i] >= best_grid - 1.0) {
                continue;
            }
            let lo = ys[i.saturating_sub(1)];
            let hi = ys[(i + 1).min(ys.len() - 1)];
            if hi <= lo {
                continue;
            }
            let (y, c) = brent_min(
                |y| Ok(-self.log_steepness_at_output(y)?),
                lo,
                hi,
                "max steepness refinement",
            )?;
            if -c > best.0 {
                best = (-c, y);
            }
        }
        let (log_value, y) = best;
        Ok(MaxSteepness {
            value: log_value.exp(),
            log_value,
            argmax_z: self.g_inv(y)?,
            argmax_y: y,
        })
    }

    /// sup_z g'(z) (the quantity Theorem 3.1 bounds from below), found by a fine scan of
    /// S(y) over [x_min - 8 sigma, x_max + 8 sigma] and Brent refinement. Outside that range g'
    /// decreases monotonically towards sigma (the tail segment of the outer mode), so the global
    /// maximum is inside it (checked by the `max_steepness_dominates_far_tails` property test,
    /// not proved). Robust for up to ~10 modes and gaps up to ~15 sigma (and beyond: the
    /// grid spacing shrinks with the gap).
    pub fn max_steepness(&self) -> Result<MaxSteepness, TheoryError> {
        self.maximise(&self.scan_pieces())
    }

    /// max of g' over outputs y in [a, b] (Table 3, row 1: "g' between the two modes").
    pub fn max_steepness_between(&self, a: f64, b: f64) -> Result<MaxSteepness, TheoryError> {
        if !(a.is_finite() && b.is_finite() && a < b) {
            return Err(TheoryError::invalid("a, b", "need finite a < b"));
        }
        self.maximise(&[(a, b)])
    }

    /// Number of local maxima of g' (as a function of the output y, equivalently of z since g is
    /// increasing) on the scan grid of [`Self::max_steepness`] whose topographic prominence in
    /// log g' is at least `min_log_prominence` (rounding noise on flat stretches is not a peak).
    /// Each peak is a transition between two segments of g (Table 3, row 4).
    pub fn count_steepness_peaks(&self, min_log_prominence: f64) -> Result<usize, TheoryError> {
        if !(min_log_prominence.is_finite() && min_log_prominence > 0.0) {
            return Err(TheoryError::invalid("min_log_prominence", "must be > 0"));
        }
        let ys = self.grid(&self.scan_pieces());
        let v = ys
            .iter()
            .map(|&y| self.log_steepness_at_output(y))
            .collect::<Result<Vec<_>, _>>()?;
        let n = v.len();
        let mut count = 0;
        for i in 1..n.saturating_sub(1) {
            if !(v[i] > v[i - 1] && v[i] >= v[i + 1]) {
                continue;
            }
            // Lowest point between i and the nearest strictly higher point (or the edge), per side.
            let mut lmin = v[i];
            for j in (0..i).rev() {
                if v[j] > v[i] {
                    break;
                }
                lmin = lmin.min(v[j]);
            }
            let mut rmin = v[i];
            for &vj in &v[i + 1..] {
                if vj > v[i] {
                    break;
                }
                rmin = rmin.min(vj);
            }
            if v[i] - lmin.max(rmin) >= min_log_prominence {
                count += 1;
            }
        }
        Ok(count)
    }
}

/// Table 3 row 1 ("larger |mu_i - mu_{i+1}| increases the magnitude of g' between the two
/// modes"), measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GapEffect {
    pub gap: f64,
    /// log max of g' over outputs between the two modes.
    pub log_max_dg: f64,
    /// Where (in latent space) that maximum is attained.
    pub argmax_z: f64,
}

/// Table 3 row 1 / Figure 22 (first panel): for 0.5 N(-gap/2, sigma^2) + 0.5 N(gap/2, sigma^2),
/// the maximum of g' between the two modes, for each gap.
pub fn table3_means_effect(gaps: &[f64], sigma: f64) -> Result<Vec<GapEffect>, TheoryError> {
    gaps.iter()
        .map(|&gap| {
            if !(gap.is_finite() && gap > 0.0) {
                return Err(TheoryError::invalid("gaps", "every gap must be > 0"));
            }
            let tm = TransportMap::new(Mixture1d::symmetric_pair(gap / 2.0, sigma)?);
            let m = tm.max_steepness_between(-gap / 2.0, gap / 2.0)?;
            Ok(GapEffect {
                gap,
                log_max_dg: m.log_value,
                argmax_z: m.argmax_z,
            })
        })
        .collect()
}

/// Table 3 row 2 ("larger sigma^2 increases the asymptotic slope of g as x -> infinity"),
/// measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SigmaEffect {
    pub sigma: f64,
    /// g'(z_far), the exact derivative far in the upper tail.
    pub tail_slope: f64,
    /// The secant slope (g(z_far) - g(z_far - 6)) / 6, an independent estimate.
    pub tail_secant: f64,
    pub z_far: f64,
}

/// Table 3 row 2 / Figure 22 (second panel): the slope of g at z_far = [`Z_MAX`] - 1 = 36 for the
/// equal-weight mixture with `means` and each sigma. Asymptotically g'(z) = sigma
/// (1 + log(1/w_N)/z^2 + ...) (Mills ratio), so the slope tends to sigma.
pub fn table3_variance_effect(
    means: &[f64],
    sigmas: &[f64],
) -> Result<Vec<SigmaEffect>, TheoryError> {
    let z_far = Z_MAX - 1.0;
    sigmas
        .iter()
        .map(|&sigma| {
            let tm = TransportMap::new(Mixture1d::new(means.to_vec(), sigma, None)?);
            Ok(SigmaEffect {
                sigma,
                tail_slope: tm.dg(z_far)?,
                tail_secant: (tm.g(z_far)? - tm.g(z_far - 6.0)?) / 6.0,
                z_far,
            })
        })
        .collect()
}

/// Table 3 row 3 ("different combinations of alpha_i incline g towards specific modes"),
/// measured.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightEffect {
    pub weights: Vec<f64>,
    /// z_i = g^{-1}((mu_i + mu_{i+1}) / 2), found by solving g(z) = midpoint with Brent (on g
    /// itself, not through Psi): the latent points where g jumps from one mode to the next.
    pub transitions_z: Vec<f64>,
    /// Latent mass mapped to each segment between consecutive midpoints:
    /// Phi(z_1), Phi(z_2) - Phi(z_1), ..., 1 - Phi(z_{N-1}).
    pub segment_masses: Vec<f64>,
}

/// Table 3 row 3 / Figure 22 (third panel): for the mixture with sorted `means` and `sigma`, and
/// each weight vector, where g's transitions sit and how much latent mass each segment receives.
pub fn table3_weights_effect(
    means: &[f64],
    sigma: f64,
    weight_sets: &[Vec<f64>],
) -> Result<Vec<WeightEffect>, TheoryError> {
    if means.len() < 2
        || means
            .windows(2)
            .any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less))
    {
        return Err(TheoryError::invalid(
            "means",
            "need >= 2 strictly increasing means",
        ));
    }
    weight_sets
        .iter()
        .map(|w| {
            let tm = TransportMap::new(Mixture1d::new(means.to_vec(), sigma, Some(w.clone()))?);
            let transitions_z = means
                .windows(2)
                .map(|p| {
                    let mid = 0.5 * (p[0] + p[1]);
                    brent_root(|z| Ok(tm.g(z)? - mid), -Z_MAX, Z_MAX, "g(z) = midpoint")
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut cuts = vec![0.0];
            cuts.extend(transitions_z.iter().map(|z| std_normal_cdf(*z)));
            cuts.push(1.0);
            Ok(WeightEffect {
                weights: w.clone(),
                segment_masses: cuts.windows(2).map(|c| c[1] - c[0]).collect(),
                transitions_z,
            })
        })
        .collect()
}

/// Table 3 row 4 ("larger n increases the number of segments in g"), measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CountEffect {
    pub n: usize,
    /// Local maxima of g' with log-prominence >= 0.05 (transitions between segments).
    pub steepness_peaks: usize,
    /// steepness_peaks + 1.
    pub segments: usize,
}

/// Table 3 row 4 / Figure 22 (fourth panel): equal-weight mixtures with n modes at
/// 0, gap, ..., (n-1) gap and common sigma; counts the segments of g.
pub fn table3_count_effect(
    ns: &[usize],
    gap: f64,
    sigma: f64,
) -> Result<Vec<CountEffect>, TheoryError> {
    ns.iter()
        .map(|&n| {
            if n == 0 {
                return Err(TheoryError::invalid("ns", "every n must be >= 1"));
            }
            let means = (0..n).map(|i| i as f64 * gap).collect();
            let tm = TransportMap::new(Mixture1d::new(means, sigma, None)?);
            let peaks = tm.count_steepness_peaks(0.05)?;
            Ok(CountEffect {
                n,
                steepness_peaks: peaks,
                segments: peaks + 1,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Mixture;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn mixture_strategy() -> impl Strategy<Value = Mixture1d> {
        (
            prop::collection::vec((-10.0f64..10.0, 0.2f64..1.0), 1..6),
            0.3f64..2.0,
        )
            .prop_map(|(mw, sigma)| {
                let s: f64 = mw.iter().map(|p| p.1).sum();
                let means = mw.iter().map(|p| p.0).collect();
                let w = mw.iter().map(|p| p.1 / s).collect();
                Mixture1d::new(means, sigma, Some(w)).unwrap()
            })
    }

    #[test]
    fn symmetric_pair_peak_is_e32() {
        // 0.5 N(-8,1) + 0.5 N(8,1): g'(0) = phi(0)/psi(0) = e^32 exactly (up to e^-128 terms).
        let tm = TransportMap::new(Mixture1d::symmetric_pair(8.0, 1.0).unwrap());
        let m = tm.max_steepness().unwrap();
        assert!((m.log_value - 32.0).abs() < 1e-9, "{m:?}");
        assert!(m.argmax_z.abs() < 1e-6 && m.argmax_y.abs() < 1e-6, "{m:?}");
        // g(0) itself is ill-conditioned where g' = e^32: Psi is flat to 1e-16 over |x| < ~0.01,
        // so g(0) is only known to ~1e-2 and log g'(0) = 32 - log cosh(8 g(0)) to ~1e-2.
        let l0 = tm.log_dg(0.0).unwrap();
        assert!(
            l0 <= 32.0 + 1e-9 && l0 > 31.99,
            "log g'(0) = {l0}, g(0) = {}",
            tm.g(0.0).unwrap()
        );
    }

    #[test]
    fn g_is_accurate_deep_in_both_tails() {
        let tm = TransportMap::new(
            Mixture1d::new(vec![-3.0, 1.0, 9.0], 0.7, Some(vec![0.2, 0.5, 0.3])).unwrap(),
        );
        for z in [-37.0, -30.0, -20.0, 20.0, 30.0, 37.0] {
            let x = tm.g(z).unwrap();
            let (lhs, rhs) = if z < 0.0 {
                (tm.mixture().cdf(x), std_normal_cdf(z))
            } else {
                (tm.mixture().sf(x), std_normal_sf(z))
            };
            assert!(
                (lhs / rhs - 1.0).abs() < 1e-10,
                "z={z} x={x} {lhs:e} vs {rhs:e}"
            );
        }
        assert!(tm.g(37.5).is_err() && tm.g(f64::NAN).is_err());
    }

    #[test]
    fn two_sample_ks_against_direct_sampling() {
        // g applied to M fixed normal quantiles vs M draws from Mixture::sample (which samples
        // the component label, then the Gaussian: an independent path). 99.9% critical value
        // of the two-sample KS statistic: 1.95 sqrt(2/M).
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mixes = [
            Mixture1d::new(vec![-8.0, 8.0], 1.0, None).unwrap(),
            Mixture1d::new(vec![-5.0, 0.0, 7.0], 0.8, Some(vec![0.5, 0.2, 0.3])).unwrap(),
        ];
        let m = 1500;
        for mix in mixes {
            let tm = TransportMap::new(mix.clone());
            let mut a: Vec<f64> = (0..m)
                .map(|j| {
                    tm.g(std_normal_quantile((j as f64 + 0.5) / m as f64))
                        .unwrap()
                })
                .collect();
            let (pts, _) = Mixture::sample(mix.as_mixture(), &mut rng, m);
            let mut b: Vec<f64> = pts.into_iter().map(|p| p[0]).collect();
            a.sort_by(f64::total_cmp);
            b.sort_by(f64::total_cmp);
            let (mut i, mut j, mut d) = (0, 0, 0.0f64);
            while i < m && j < m {
                if a[i] <= b[j] {
                    i += 1;
                } else {
                    j += 1;
                }
                d = d.max((i as f64 - j as f64).abs() / m as f64);
            }
            let crit = 1.95 * (2.0 / m as f64).sqrt();
            assert!(d < crit, "KS {d} >= {crit}");
            // The one-sample statistic against Psi itself is 1/(2M) up to rounding.
            let ks1 = a
                .iter()
                .enumerate()
                .map(|(j, x)| {
                    let f = mix.cdf(*x);
                    (f - j as f64 / m as f64)
                        .abs()
                        .max((f - (j + 1) as f64 / m as f64).abs())
                })
                .fold(0.0, f64::max);
            assert!(ks1 <= 0.5 / m as f64 + 1e-9, "one-sample KS {ks1}");
        }
    }

    #[test]
    fn table3_rows_as_numbers() {
        // Row 1: max g' between the modes grows with the gap, like sigma e^{gap^2/8 sigma^2}.
        let r1 = table3_means_effect(&[2.0, 4.0, 6.0, 8.0, 10.0, 12.0], 1.0).unwrap();
        for w in r1.windows(2) {
            assert!(w[1].log_max_dg > w[0].log_max_dg + 0.5, "{r1:?}");
        }
        for r in &r1[2..] {
            assert!((r.log_max_dg - r.gap * r.gap / 8.0).abs() < 1e-6, "{r:?}");
        }
        // Row 2: the tail slope increases with sigma and tends to sigma.
        let r2 = table3_variance_effect(&[-4.0, 4.0], &[0.5, 1.0, 1.5, 2.0]).unwrap();
        for w in r2.windows(2) {
            assert!(w[1].tail_slope > w[0].tail_slope, "{r2:?}");
        }
        for r in &r2 {
            assert!((r.tail_slope / r.sigma - 1.0).abs() < 2e-3, "{r:?}");
            assert!((r.tail_secant / r.sigma - 1.0).abs() < 5e-3, "{r:?}");
        }
        // Row 3: segment masses follow the weights, transitions move right as w_1 grows.
        let ws = vec![vec![0.2, 0.8], vec![0.5, 0.5], vec![0.8, 0.2]];
        let r3 = table3_weights_effect(&[-6.0, 6.0], 1.0, &ws).unwrap();
        for r in &r3 {
            for (m, w) in r.segment_masses.iter().zip(&r.weights) {
                assert!((m - w).abs() < 1e-6, "{r:?}");
            }
        }
        assert!(r3[0].transitions_z[0] < r3[1].transitions_z[0]);
        assert!(r3[1].transitions_z[0] < r3[2].transitions_z[0]);
        // Row 4: n modes, n segments.
        let r4 = table3_count_effect(&[1, 2, 3, 4, 6, 8], 8.0, 1.0).unwrap();
        println!(
            "Table 3 row 1 (gap, log max g'): {:?}",
            r1.iter().map(|r| (r.gap, r.log_max_dg)).collect::<Vec<_>>()
        );
        println!(
            "Table 3 row 2 (sigma, g'(36), secant): {:?}",
            r2.iter()
                .map(|r| (r.sigma, r.tail_slope, r.tail_secant))
                .collect::<Vec<_>>()
        );
        println!(
            "Table 3 row 3 (w, z_mid, masses): {:?}",
            r3.iter()
                .map(|r| (
                    r.weights.clone(),
                    r.transitions_z.clone(),
                    r.segment_masses.clone()
                ))
                .collect::<Vec<_>>()
        );
        println!(
            "Table 3 row 4 (n, peaks, segments): {:?}",
            r4.iter()
                .map(|r| (r.n, r.steepness_peaks, r.segments))
                .collect::<Vec<_>>()
        );
        for r in &r4 {
            assert_eq!(r.segments, r.n, "{r4:?}");
        }
    }

    #[test]
    fn max_steepness_many_modes_wide_gaps() {
        // 10 equal-weight modes, gaps 15 sigma. At the central midpoint Psi = 1/2, so u = 0 and
        // psi = (2/10) N(7.5 sigma; 0, sigma^2) up to e^-253 terms: log g' = log sigma + 28.125
        // + log 5 there, and by symmetry it is a stationary point; the other gaps have |u| > 0.
        let sigma = 0.5;
        let means: Vec<f64> = (0..10).map(|i| i as f64 * 15.0 * sigma).collect();
        let tm = TransportMap::new(Mixture1d::new(means, sigma, None).unwrap());
        let m = tm.max_steepness().unwrap();
        let expect = sigma.ln() + 28.125 + 5.0f64.ln();
        assert!((m.log_value - expect).abs() < 1e-6, "{m:?} vs {expect}");
        assert!(
            (m.argmax_y - 33.75).abs() < 1e-4 && m.argmax_z.abs() < 1e-9,
            "{m:?}"
        );
        // Independent check: a 25x finer brute-force scan over outputs cannot beat it.
        let n = 100_000;
        let brute = (0..=n)
            .map(|i| -4.0 + 75.5 * i as f64 / n as f64)
            .map(|y| tm.log_steepness_at_output(y).unwrap())
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(
            brute <= m.log_value + 1e-9,
            "brute {brute} > {}",
            m.log_value
        );
        assert!(brute >= m.log_value - 1e-2, "brute {brute}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn g_pushes_normal_to_mixture(mix in mixture_strategy(), z in -37.0f64..37.0) {
            let tm = TransportMap::new(mix.clone());
            let x = tm.g(z).unwrap();
            let (lhs, rhs) = if z <= 0.0 {
                (mix.cdf(x), std_normal_cdf(z))
            } else {
                (mix.sf(x), std_normal_sf(z))
            };
            prop_assert!((lhs / rhs - 1.0).abs() < 1e-10, "z={} x={} {:e} {:e}", z, x, lhs, rhs);
            // g_inv undoes g.
            prop_assert!((tm.g_inv(x).unwrap() - z).abs() < 1e-8 * (1.0 + z.abs()));
        }

        #[test]
        fn dg_matches_central_differences(mix in mixture_strategy(), z in -6.0f64..6.0) {
            let tm = TransportMap::new(mix.clone());
            let d = tm.dg(z).unwrap();
            // Step well inside the scale on which log g' varies: |d log g'/dz| <=
            // |z| + |(log psi)'(g)| g'.
            let scale = 1.0 + z.abs() + mix.dlog_pdf(tm.g(z).unwrap()).abs() * d;
            let h = 1e-3 / scale;
            let fd = (tm.g(z + h).unwrap() - tm.g(z - h).unwrap()) / (2.0 * h);
            prop_assert!((fd / d - 1.0).abs() < 1e-5, "z={} g'={} fd={}", z, d, fd);
        }

        #[test]
        fn g_is_increasing(mix in mixture_strategy(), z in -30.0f64..30.0, dz in 1e-3f64..5.0) {
            let tm = TransportMap::new(mix);
            prop_assert!(tm.g(z + dz).unwrap() > tm.g(z).unwrap());
        }

        #[test]
        fn max_steepness_dominates_far_tails(mix in mixture_strategy(), t in 8.0f64..30.0) {
            // The scan reaches past the tail's last change of dominant component; beyond, g' only
            // decays to sigma.
            let tm = TransportMap::new(mix.clone());
            let m = tm.max_steepness().unwrap();
            let lo = mix.means().iter().copied().fold(f64::INFINITY, f64::min);
            let hi = mix.means().iter().copied().fold(f64::NEG_INFINITY, f64::max);
            for y in [lo - t * mix.sigma(), hi + t * mix.sigma()] {
                let tail = tm.log_steepness_at_output(y).unwrap();
                prop_assert!(tail <= m.log_value + 1e-12, "y={} tail {:.17} > max {:.17} (diff {:e})", y, tail, m.log_value, tail - m.log_value);
            }
            prop_assert!(m.log_value >= mix.sigma().ln() - 1e-9);
        }

        #[test]
        fn steepness_at_output_is_dg_at_preimage(mix in mixture_strategy(), z in -8.0f64..8.0) {
            let tm = TransportMap::new(mix);
            let y = tm.g(z).unwrap();
            let a = tm.log_steepness_at_output(y).unwrap();
            prop_assert!((a - tm.log_dg(z).unwrap()).abs() < 1e-7, "z={}", z);
        }
    }
}
