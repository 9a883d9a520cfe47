//! The collapse phase: the locally linear discriminator of Assumption 4.1, its particle field
//! `grad d / d`, the Jacobian H of that field used by Theorem 4.1 / 4.2 (proof of Theorem C.9),
//! and the Fig. 13 quantities on the 2-D toy of Appendix G.1.
//!
//! Assumption 4.1: `d(x) = 1/2 - ||x - x_i|| / (8 sigma)` on `B_{4 sigma}(x_i)`, 0 elsewhere, for
//! modes at least `8 sigma` apart. With `y = x - x_i`, `r = ||y||`:
//!
//! ```text
//! grad d / d = -y / (r (4 sigma - r)),      ||grad d / d|| = 1 / (4 sigma - r),
//! H = grad(grad d / d) = -I / (r (4s - r)) + y y^T / (r^3 (4s - r)) - y y^T / (r^2 (4s - r)^2),
//! ```
//!
//! whose eigenvalues are `-1 / (r (4 sigma - r))` (tangential, multiplicity n - 1) and
//! `-1 / (4 sigma - r)^2` (radial). One generator step (Theorem 4.1) maps the Jacobian J to
//! `(I + s H) J`.
//!
//! Theorem 4.2 claims `||(I + s H) J||_2 <= (1 - s / (4 sigma - r)^2) ||J||_2` for
//! `r < 2 sigma` and `s < (4 sigma - r)^2`. The proof takes `||I + s H||_2` to be the largest
//! eigenvalue of `I + s H`, which needs `|1 - s / (r (4 sigma - r))| <= 1 - s / (4 sigma - r)^2`.
//! In dimension n >= 2 that holds exactly when `s <= r (4 sigma - r)^2 / (2 sigma)`
//! ([`theorem_4_2_step_limit`]), a stricter condition than the printed `s < (4 sigma - r)^2`
//! ([`theorem_4_2_step_limit_as_printed`]); `I + s H` is positive definite (the proof's
//! stated reason) only for `s < r (4 sigma - r)` ([`positive_definite_step_limit`]). In n = 1
//! there is no tangential direction and the theorem holds (with equality) as printed.

use crate::field::{FieldRow, Grid2d};
use crate::TheoryError;
use nalgebra::DMatrix;

fn check_sigma(sigma: f64) -> Result<(), TheoryError> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(TheoryError::invalid(
            "sigma",
            format!("must be finite and > 0, got {sigma}"),
        ));
    }
    Ok(())
}

/// Checks `lo < r < hi` (or `<= hi` when `hi_closed`).
fn check_r(r: f64, hi: f64, hi_closed: bool, what: &str) -> Result<(), TheoryError> {
    let ok = r.is_finite() && r > 0.0 && (r < hi || (hi_closed && r <= hi));
    if !ok {
        return Err(TheoryError::invalid(
            "r",
            format!(
                "must lie in (0, {hi}{} ({what}), got {r}",
                if hi_closed { "]" } else { ")" }
            ),
        ));
    }
    Ok(())
}

fn check_s(s: f64) -> Result<(), TheoryError> {
    if !(s.is_finite() && s >= 0.0) {
        return Err(TheoryError::invalid(
            "s",
            format!("step size must be finite and >= 0, got {s}"),
        ));
    }
    Ok(())
}

/// Assumption 4.1: the radius `4 sigma` at which the locally linear discriminator reaches 0
/// (Appendix G.1: `4 sqrt(0.0125) ~ 0.45` on the toy of Fig. 11).
pub fn vanishing_radius(sigma: f64) -> Result<f64, TheoryError> {
    check_sigma(sigma)?;
    Ok(4.0 * sigma)
}

/// Section 4.1: `||grad d / d||_2 = 1 / (4 sigma - r)` at distance `r` in [0, 4 sigma) from a mode.
pub fn field_norm(sigma: f64, r: f64) -> Result<f64, TheoryError> {
    check_sigma(sigma)?;
    if !(r.is_finite() && (0.0..4.0 * sigma).contains(&r)) {
        return Err(TheoryError::invalid(
            "r",
            format!("must lie in [0, 4 sigma) = [0, {}), got {r}", 4.0 * sigma),
        ));
    }
    Ok(1.0 / (4.0 * sigma - r))
}

/// Proof of Theorem C.9: the eigenvalues of H, `(tangential, radial)` =
/// `(-1 / (r (4 sigma - r)), -1 / (4 sigma - r)^2)`; the tangential one has multiplicity n - 1.
/// (The proof prints the radial one as `-1/(r(4s - r)) + (4s - 2r)/(r(4s - r)^2)`, which simplifies
/// to this.) Requires `0 < r < 4 sigma`.
pub fn hessian_eigenvalues(sigma: f64, r: f64) -> Result<(f64, f64), TheoryError> {
    check_sigma(sigma)?;
    check_r(r, 4.0 * sigma, false, "inside the ball, off the centre")?;
    let q = 4.0 * sigma - r;
    Ok((-1.0 / (r * q), -1.0 / (q * q)))
}

/// Proof of Theorem C.9: the eigenvalues of `I + s H` in R^n, sorted increasingly
/// (`1 - s/(r(4 sigma - r))` n - 1 times, then `1 - s/(4 sigma - r)^2`; the latter is the largest
/// for r < 2 sigma).
pub fn update_eigenvalues(n: usize, sigma: f64, r: f64, s: f64) -> Result<Vec<f64>, TheoryError> {
    if n == 0 {
        return Err(TheoryError::invalid("n", "dimension must be >= 1"));
    }
    check_s(s)?;
    let (t, rad) = hessian_eigenvalues(sigma, r)?;
    let mut v = vec![1.0 + s * t; n - 1];
    v.push(1.0 + s * rad);
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// `||I + s H||_2 = max_k |lambda_k(I + s H)|`, the true factor by which one step can stretch the
/// generator's Jacobian (Theorem 4.1); Theorem 4.2 claims it is `1 - s / (4 sigma - r)^2`.
pub fn update_spectral_norm(n: usize, sigma: f64, r: f64, s: f64) -> Result<f64, TheoryError> {
    Ok(update_eigenvalues(n, sigma, r, s)?
        .iter()
        .fold(0.0f64, |m, l| m.max(l.abs())))
}

/// Theorem 4.2's contraction factor `1 - s / (4 sigma - r)^2`, for `0 < r <= 2 sigma`.
pub fn theorem_4_2_factor(sigma: f64, r: f64, s: f64) -> Result<f64, TheoryError> {
    check_sigma(sigma)?;
    check_r(
        r,
        2.0 * sigma,
        true,
        "Theorem 4.2 needs g(z) in B_{2 sigma}",
    )?;
    check_s(s)?;
    Ok(1.0 - s / (4.0 * sigma - r).powi(2))
}

/// Theorem 4.2's step-size condition as printed: `s < (4 sigma - r)^2`.
pub fn theorem_4_2_step_limit_as_printed(sigma: f64, r: f64) -> Result<f64, TheoryError> {
    check_sigma(sigma)?;
    check_r(
        r,
        2.0 * sigma,
        true,
        "Theorem 4.2 needs g(z) in B_{2 sigma}",
    )?;
    Ok((4.0 * sigma - r).powi(2))
}

/// The step sizes for which `I + s H` is positive definite (what the proof of Theorem C.9 says it
/// uses): `s < r (4 sigma - r)` in dimension n >= 2. Sufficient for Theorem 4.2, not necessary.
pub fn positive_definite_step_limit(sigma: f64, r: f64) -> Result<f64, TheoryError> {
    check_sigma(sigma)?;
    check_r(
        r,
        2.0 * sigma,
        true,
        "Theorem 4.2 needs g(z) in B_{2 sigma}",
    )?;
    Ok(r * (4.0 * sigma - r))
}

/// Corrected Theorem 4.2 condition: the bound `||(I + s H) J|| <= (1 - s/(4 sigma - r)^2) ||J||`
/// holds for every J iff `s <= limit`, with `limit = (4 sigma - r)^2` for n = 1 (as printed) and
/// `limit = r (4 sigma - r)^2 / (2 sigma)` for n >= 2 (where `|tangential| = radial`).
pub fn theorem_4_2_step_limit(n: usize, sigma: f64, r: f64) -> Result<f64, TheoryError> {
    if n == 0 {
        return Err(TheoryError::invalid("n", "dimension must be >= 1"));
    }
    let printed = theorem_4_2_step_limit_as_printed(sigma, r)?;
    Ok(if n == 1 {
        printed
    } else {
        r * (4.0 * sigma - r).powi(2) / (2.0 * sigma)
    })
}

/// Distance from the mode centre after one particle step `x + s grad d/d` from distance r
/// (Assumption 4.1): `|r - s / (4 sigma - r)|`; the step overshoots the centre iff
/// `s / (4 sigma - r) > r`, i.e. iff `s > r (4 sigma - r)` (the positive-definiteness limit).
pub fn landing_distance(sigma: f64, r: f64, s: f64) -> Result<f64, TheoryError> {
    let norm = field_norm(sigma, r)?;
    check_s(s)?;
    Ok((r - s * norm).abs())
}

/// Fig. 13 in closed form (2-D): the fraction of the area of `B_{4 sigma}` whose vector
/// `scale * grad d/d` (length `scale / (4 sigma - r)`) is longer than r, i.e. passes through the
/// mode centre: the set `r (4 sigma - r) < scale`. 1 when `scale >= 4 sigma^2`.
pub fn overshoot_fraction_exact_2d(sigma: f64, scale: f64) -> Result<f64, TheoryError> {
    check_sigma(sigma)?;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(TheoryError::invalid(
            "scale",
            format!("must be finite and > 0, got {scale}"),
        ));
    }
    let s2 = sigma * sigma;
    if scale >= 4.0 * s2 {
        return Ok(1.0);
    }
    let root = (4.0 * s2 - scale).sqrt();
    let (r_lo, r_hi) = (2.0 * sigma - root, 2.0 * sigma + root);
    Ok((r_lo * r_lo + 16.0 * s2 - r_hi * r_hi) / (16.0 * s2))
}

/// Spectral norm (largest singular value) by nalgebra's SVD; the steepness S_g = ||J_g||_2.
pub fn spectral_norm(m: &DMatrix<f64>) -> f64 {
    m.clone()
        .svd(false, false)
        .singular_values
        .iter()
        .fold(0.0f64, |a, b| a.max(*b))
}

/// Grid counts of the Fig. 13 overshoot criterion.
#[derive(Clone, Debug, PartialEq)]
pub struct OvershootStats {
    /// Grid points inside some ball `B_{4 sigma}(x_i)` (centres excluded).
    pub in_balls: usize,
    /// Those whose vector `scale * grad d/d` is longer than their distance to the centre.
    pub overshooting: usize,
    /// `overshooting / in_balls`.
    pub fraction: f64,
}

/// The locally linear discriminator of Assumption 4.1 around a set of modes in R^n.
#[derive(Clone, Debug, PartialEq)]
pub struct LocallyLinearDiscriminator {
    modes: Vec<Vec<f64>>,
    sigma: f64,
    dim: usize,
}

impl LocallyLinearDiscriminator {
    /// Modes (all of one dimension n >= 1, finite) and sigma > 0; Assumption 4.1 requires the
    /// separation `Delta = 8 sigma` (disjoint balls `B_{4 sigma}`), which is checked.
    pub fn new(modes: Vec<Vec<f64>>, sigma: f64) -> Result<Self, TheoryError> {
        check_sigma(sigma)?;
        if modes.is_empty() {
            return Err(TheoryError::invalid("modes", "at least one mode is needed"));
        }
        let dim = modes[0].len();
        if dim == 0 || modes.iter().any(|m| m.len() != dim) {
            return Err(TheoryError::invalid(
                "modes",
                "every mode must have the same, non-zero dimension",
            ));
        }
        if modes.iter().flatten().any(|v| !v.is_finite()) {
            return Err(TheoryError::invalid("modes", "must be finite"));
        }
        for i in 0..modes.len() {
            for j in i + 1..modes.len() {
                let d = dist(&modes[i], &modes[j]);
                if d < 8.0 * sigma * (1.0 - 1e-12) {
                    return Err(TheoryError::invalid(
                        "modes",
                        format!(
                            "modes {i} and {j} are {d} apart; Assumption 4.1 needs >= 8 sigma = {}",
                            8.0 * sigma
                        ),
                    ));
                }
            }
        }
        Ok(Self { modes, sigma, dim })
    }

    /// Appendix G.1's toy (Figs. 11, 13): modes at (+-1, +-1), variance 0.0125, sigma = sqrt(0.0125).
    pub fn fig13_toy() -> Self {
        let modes = vec![
            vec![1.0, 1.0],
            vec![1.0, -1.0],
            vec![-1.0, 1.0],
            vec![-1.0, -1.0],
        ];
        Self::new(modes, 0.0125f64.sqrt()).expect("the toy satisfies Assumption 4.1")
    }

    pub fn modes(&self) -> &[Vec<f64>] {
        &self.modes
    }
    pub fn sigma(&self) -> f64 {
        self.sigma
    }
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Assumption 4.1: `4 sigma`, where d reaches 0.
    pub fn vanishing_radius(&self) -> f64 {
        4.0 * self.sigma
    }

    fn check_x(&self, x: &[f64]) -> Result<(), TheoryError> {
        if x.len() != self.dim {
            return Err(TheoryError::invalid(
                "x",
                format!(
                    "has {} coordinates, the modes live in R^{}",
                    x.len(),
                    self.dim
                ),
            ));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(TheoryError::invalid("x", "coordinates must be finite"));
        }
        Ok(())
    }

    /// The mode whose open ball `B_{4 sigma}` contains x, with the distance r to it.
    pub fn locate(&self, x: &[f64]) -> Result<Option<(usize, f64)>, TheoryError> {
        self.check_x(x)?;
        Ok(self
            .modes
            .iter()
            .enumerate()
            .map(|(i, m)| (i, dist(m, x)))
            .find(|(_, r)| *r < 4.0 * self.sigma))
    }

    /// Assumption 4.1: `d(x) = 1/2 - ||x - x_i|| / (8 sigma)` in `B_{4 sigma}(x_i)`, 0 elsewhere.
    pub fn value(&self, x: &[f64]) -> Result<f64, TheoryError> {
        Ok(match self.locate(x)? {
            Some((_, r)) => 0.5 - r / (8.0 * self.sigma),
            None => 0.0,
        })
    }

    /// `(mode index, y = x - x_i, r)` where the field is defined: inside a ball, off its centre.
    fn local(&self, x: &[f64]) -> Result<Option<(usize, Vec<f64>, f64)>, TheoryError> {
        Ok(match self.locate(x)? {
            Some((i, r)) if r > 0.0 => {
                let y = x.iter().zip(&self.modes[i]).map(|(a, b)| a - b).collect();
                Some((i, y, r))
            }
            _ => None,
        })
    }

    /// Section 4.1: `grad d / d = -(x - x_i) / (r (4 sigma - r))`. `None` outside the balls
    /// (d = 0) and at a mode centre (d is not differentiable at the tip of the cone).
    pub fn field(&self, x: &[f64]) -> Result<Option<Vec<f64>>, TheoryError> {
        Ok(self.local(x)?.map(|(_, y, r)| {
            let k = 1.0 / (r * (4.0 * self.sigma - r));
            y.iter().map(|v| -k * v).collect()
        }))
    }

    /// Proof of Theorem C.9: the Jacobian of the field (also `grad^2 log d`),
    /// `H = -I/(r(4s - r)) + y y^T/(r^3(4s - r)) - y y^T/(r^2(4s - r)^2)` with `s = sigma`,
    /// `y = x - x_i`, `r = ||y||`. `None` where the field is undefined.
    pub fn field_jacobian(&self, x: &[f64]) -> Result<Option<DMatrix<f64>>, TheoryError> {
        let Some((_, y, r)) = self.local(x)? else {
            return Ok(None);
        };
        let q = 4.0 * self.sigma - r;
        let n = self.dim;
        let yy = DMatrix::from_fn(n, n, |a, b| y[a] * y[b]);
        Ok(Some(
            DMatrix::identity(n, n) * (-1.0 / (r * q)) + &yy * (1.0 / (r.powi(3) * q))
                - yy * (1.0 / (r * r * q * q)),
        ))
    }

    /// Theorem 4.1 / C.9: `I + s H`, the matrix one generator step applies to the Jacobian.
    pub fn update_matrix(&self, x: &[f64], s: f64) -> Result<Option<DMatrix<f64>>, TheoryError> {
        check_s(s)?;
        Ok(self
            .field_jacobian(x)?
            .map(|h| DMatrix::identity(self.dim, self.dim) + h * s))
    }

    /// Theorem 4.1: the updated generator Jacobian `(I + s H(g(z))) J`, with x = g(z).
    pub fn updated_jacobian(
        &self,
        x: &[f64],
        jacobian: &DMatrix<f64>,
        s: f64,
    ) -> Result<Option<DMatrix<f64>>, TheoryError> {
        if jacobian.nrows() != self.dim {
            return Err(TheoryError::invalid(
                "jacobian",
                format!(
                    "has {} rows, the data space is R^{}",
                    jacobian.nrows(),
                    self.dim
                ),
            ));
        }
        Ok(self.update_matrix(x, s)?.map(|m| m * jacobian))
    }

    /// Eigenvalues of `I + s H` at x (nalgebra's symmetric eigen-solver), sorted increasingly.
    pub fn update_matrix_eigenvalues(
        &self,
        x: &[f64],
        s: f64,
    ) -> Result<Option<Vec<f64>>, TheoryError> {
        Ok(self.update_matrix(x, s)?.map(|m| {
            let mut v: Vec<f64> = m.symmetric_eigen().eigenvalues.iter().copied().collect();
            v.sort_by(f64::total_cmp);
            v
        }))
    }

    /// Fig. 13: the field on a 2-D grid, rows in [`Grid2d::points`] order, only where the field is
    /// defined (inside the balls, off the centres). `d_star` holds d(x) and `log_r` holds
    /// `logit d(x) = log(d / (1 - d))`, the density ratio an optimal discriminator with this value
    /// would imply (so the rows read like those of [`crate::field::field_grid`]).
    pub fn field_grid(&self, grid: &Grid2d) -> Result<Vec<FieldRow>, TheoryError> {
        self.check_2d()?;
        let mut rows = Vec::new();
        for p in grid.points() {
            if let Some(f) = self.field(&p)? {
                let d = self.value(&p)?;
                rows.push(FieldRow {
                    x: p[0],
                    y: p[1],
                    field_x: f[0],
                    field_y: f[1],
                    d_star: d,
                    log_r: (d / (1.0 - d)).ln(),
                });
            }
        }
        Ok(rows)
    }

    /// Fig. 13 ("vectors passing through the mode centres"): among grid points inside the balls,
    /// how many have `scale * ||grad d/d|| = scale / (4 sigma - r) > r`, i.e. an arrow drawn at
    /// that scale crosses the centre. Fig. 13 draws scale 1 (left) and 1/10 (right).
    pub fn overshoot(&self, grid: &Grid2d, scale: f64) -> Result<OvershootStats, TheoryError> {
        self.check_2d()?;
        if !(scale.is_finite() && scale > 0.0) {
            return Err(TheoryError::invalid(
                "scale",
                format!("must be finite and > 0, got {scale}"),
            ));
        }
        let (mut inside, mut over) = (0usize, 0usize);
        for p in grid.points() {
            if let Some((_, _, r)) = self.local(&p)? {
                inside += 1;
                if scale / (4.0 * self.sigma - r) > r {
                    over += 1;
                }
            }
        }
        if inside == 0 {
            return Err(TheoryError::invalid(
                "grid",
                "no grid point lies inside a ball B_{4 sigma}",
            ));
        }
        Ok(OvershootStats {
            in_balls: inside,
            overshooting: over,
            fraction: over as f64 / inside as f64,
        })
    }

    fn check_2d(&self) -> Result<(), TheoryError> {
        if self.dim != 2 {
            return Err(TheoryError::invalid(
                "modes",
                format!("a 2-D grid needs 2-D modes, got dimension {}", self.dim),
            ));
        }
        Ok(())
    }
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(u, v)| (u - v) * (u - v))
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One mode at `centre`, and a point at distance `r` from it in direction `dir` (normalised).
    fn point(centre: &[f64], dir: &[f64], r: f64) -> Vec<f64> {
        let nd = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        centre
            .iter()
            .zip(dir)
            .map(|(c, u)| c + r * u / nd)
            .collect()
    }

    /// Direct simulation of Theorem 4.1: a linear generator g(z) = x0 + J z is moved by one particle
    /// step g'(z) = g(z) + s grad d/d (g(z)); J' = dg'/dz by central differences.
    fn simulated_updated_jacobian(
        d: &LocallyLinearDiscriminator,
        x0: &[f64],
        j: &DMatrix<f64>,
        s: f64,
        r: f64,
    ) -> DMatrix<f64> {
        let n = x0.len();
        let m = j.ncols();
        let g_new = |z: &[f64]| -> Vec<f64> {
            let x: Vec<f64> = (0..n)
                .map(|a| x0[a] + (0..m).map(|b| j[(a, b)] * z[b]).sum::<f64>())
                .collect();
            let f = d.field(&x).unwrap().unwrap();
            x.iter().zip(f).map(|(xa, fa)| xa + s * fa).collect()
        };
        let mut out = DMatrix::zeros(n, m);
        for b in 0..m {
            let col = j.column(b).norm();
            if col == 0.0 {
                continue;
            }
            let h = 1e-5 * r / col;
            let mut zp = vec![0.0; m];
            let mut zm = vec![0.0; m];
            zp[b] = h;
            zm[b] = -h;
            let (gp, gm) = (g_new(&zp), g_new(&zm));
            for a in 0..n {
                out[(a, b)] = (gp[a] - gm[a]) / (2.0 * h);
            }
        }
        out
    }

    #[test]
    fn toy_vanishing_radius() {
        let d = LocallyLinearDiscriminator::fig13_toy();
        let r4 = d.vanishing_radius();
        eprintln!("4 sigma for sigma = sqrt(0.0125): {r4:.6} (paper: ~0.45)");
        assert!((r4 - vanishing_radius(0.0125f64.sqrt()).unwrap()).abs() < 1e-15);
        // d measured along a ray: positive just inside 4 sigma, zero at and beyond it.
        let inside = d.value(&[-1.0 + 0.999 * r4, -1.0]).unwrap();
        assert!(inside > 0.0 && inside < 1e-3);
        assert_eq!(d.value(&[-1.0 + 1.001 * r4, -1.0]).unwrap(), 0.0);
        assert_eq!(d.value(&[0.0, 0.0]).unwrap(), 0.0);
        assert_eq!(d.value(&[1.0, -1.0]).unwrap(), 0.5);
        assert!((r4 - 0.45).abs() < 0.005);
    }

    /// Section 4.1: grad d/d equals central differences of log d, with norm 1/(4 sigma - r).
    #[test]
    fn field_matches_differences_of_log_d() {
        let d = LocallyLinearDiscriminator::new(vec![vec![0.5, -0.2, 1.0]], 0.3).unwrap();
        for (dir, r) in [
            ([1.0, 2.0, -1.0], 0.1),
            ([0.0, -1.0, 0.3], 0.7),
            ([1.0, 1.0, 1.0], 1.15),
        ] {
            let x = point(&d.modes()[0], &dir, r);
            let f = d.field(&x).unwrap().unwrap();
            for k in 0..3 {
                let h = 1e-6;
                let (mut a, mut b) = (x.clone(), x.clone());
                a[k] += h;
                b[k] -= h;
                let fd = (d.value(&a).unwrap().ln() - d.value(&b).unwrap().ln()) / (2.0 * h);
                assert!(
                    (fd - f[k]).abs() < 1e-6 * (1.0 + f[k].abs()),
                    "{fd} vs {}",
                    f[k]
                );
            }
            let norm = f.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!((norm - field_norm(0.3, r).unwrap()).abs() < 1e-12 * norm);
        }
        assert!(d.field(&[0.5, -0.2, 1.0]).unwrap().is_none());
        assert!(d.field(&[5.0, 5.0, 5.0]).unwrap().is_none());
    }

    /// The paper's numeric example (sigma = 1, r = 0.01, s = 1 < (4 sigma - r)^2 = 15.92):
    /// I + sH has eigenvalue -24.06 (tangential) and 0.937 (radial), so ||I + sH|| = 24.06 while
    /// Theorem 4.2 promises a factor 0.937.
    #[test]
    fn theorem_4_2_counterexample_numbers() {
        let (sigma, r, s) = (1.0, 0.01, 1.0);
        assert!(s < theorem_4_2_step_limit_as_printed(sigma, r).unwrap());
        let ev = update_eigenvalues(2, sigma, r, s).unwrap();
        let factor = theorem_4_2_factor(sigma, r, s).unwrap();
        let norm = update_spectral_norm(2, sigma, r, s).unwrap();
        eprintln!("sigma=1 r=0.01 s=1: eigenvalues {ev:?}, ||I+sH|| = {norm:.4}, printed factor {factor:.4}");
        assert!((ev[0] - (1.0 - 1.0 / (0.01 * 3.99))).abs() < 1e-12);
        assert!(ev[0] < -24.0 && ev[0] > -24.1);
        assert!((factor - (1.0 - 1.0 / 3.99f64.powi(2))).abs() < 1e-15);
        assert!(norm > 25.0 * factor);
        // Same via nalgebra on the actual matrix at a point and the steepness of J = I.
        let d = LocallyLinearDiscriminator::new(vec![vec![0.0, 0.0]], sigma).unwrap();
        let x = [0.006, 0.008];
        let j = DMatrix::identity(2, 2);
        let jp = d.updated_jacobian(&x, &j, s).unwrap().unwrap();
        assert!((spectral_norm(&jp) - norm).abs() < 1e-9 * norm);
        let sim = simulated_updated_jacobian(&d, &x, &j, s, r);
        assert!((spectral_norm(&sim) - norm).abs() < 1e-5 * norm);
        // Limits at this point: PD for s < 0.0399, bound valid for s <= 0.0796, printed 15.92.
        let pd = positive_definite_step_limit(sigma, r).unwrap();
        let sharp = theorem_4_2_step_limit(2, sigma, r).unwrap();
        eprintln!(
            "step limits at sigma=1 r=0.01: PD {pd:.5}, sharp {sharp:.5}, printed {:.4}",
            theorem_4_2_step_limit_as_printed(sigma, r).unwrap()
        );
        assert!(
            (pd - 0.0399).abs() < 1e-12 && (sharp - 0.01 * 3.99f64.powi(2) / 2.0).abs() < 1e-12
        );
        // Between the two: I + sH indefinite but the bound still holds (s = 0.06).
        let ev = update_eigenvalues(2, sigma, r, 0.06).unwrap();
        assert!(ev[0] < 0.0);
        assert!(
            update_spectral_norm(2, sigma, r, 0.06).unwrap()
                <= theorem_4_2_factor(sigma, r, 0.06).unwrap()
        );
    }

    /// Fig. 13: the grid fraction of overshooting vectors converges to the closed-form area
    /// fraction, and on the toy it is 1 at both scales the figure uses.
    #[test]
    fn fig13_overshoot_fractions() {
        let d = LocallyLinearDiscriminator::fig13_toy();
        let sigma = d.sigma();
        let grid = Grid2d::new((-1.5, 1.5), (-1.5, 1.5), 601, 601).unwrap();
        for scale in [1.0, 0.1, 0.04, 0.01, 0.001] {
            let st = d.overshoot(&grid, scale).unwrap();
            let exact = overshoot_fraction_exact_2d(sigma, scale).unwrap();
            eprintln!("scale {scale}: {} of {} grid points overshoot ({:.4}), exact area fraction {exact:.4}",
                st.overshooting, st.in_balls, st.fraction);
            assert!(
                (st.fraction - exact).abs() < 0.01,
                "{} vs {exact}",
                st.fraction
            );
        }
        assert_eq!(d.overshoot(&grid, 1.0).unwrap().fraction, 1.0);
        assert_eq!(d.overshoot(&grid, 0.1).unwrap().fraction, 1.0);
        // Below 4 sigma^2 = 0.05 some vectors stop short of the centre.
        assert!(d.overshoot(&grid, 0.01).unwrap().fraction < 0.2);
        // At scale 1 every particle lands at least 1/(4 sigma) = 2.236 from its mode, farther
        // than the neighbouring modes (2 away).
        for r in [1e-6, 0.1, 0.2, 0.3, 0.44] {
            assert!(landing_distance(sigma, r, 1.0).unwrap() >= 1.0 / (4.0 * sigma) - 1e-5);
        }
    }

    #[test]
    fn fig13_grid_rows() {
        let d = LocallyLinearDiscriminator::fig13_toy();
        let grid = Grid2d::new((-1.5, 1.5), (-1.5, 1.5), 61, 61).unwrap();
        let rows = d.field_grid(&grid).unwrap();
        assert!(!rows.is_empty());
        for row in &rows {
            let x = [row.x, row.y];
            let (_, r) = d.locate(&x).unwrap().unwrap();
            let f = d.field(&x).unwrap().unwrap();
            assert_eq!((row.field_x, row.field_y), (f[0], f[1]));
            assert!(row.d_star > 0.0 && row.d_star <= 0.5);
            assert!(
                (row.field_x.hypot(row.field_y) - field_norm(d.sigma(), r).unwrap()).abs() < 1e-9
            );
            assert!(row.log_r.is_finite() && row.log_r <= 0.0);
            assert!((1.0 / (1.0 + (-row.log_r).exp()) - row.d_star).abs() < 1e-12);
        }
        // Rows exist exactly for grid points strictly inside a ball and off the centres.
        let expected = grid
            .points()
            .filter(|p| matches!(d.locate(p).unwrap(), Some((_, r)) if r > 0.0))
            .count();
        assert_eq!(rows.len(), expected);
    }

    #[test]
    fn invalid_inputs_are_named() {
        let e = LocallyLinearDiscriminator::new(vec![vec![0.0, 0.0], vec![0.5, 0.0]], 0.1);
        assert!(e.unwrap_err().to_string().contains("8 sigma"));
        assert!(LocallyLinearDiscriminator::new(vec![vec![0.0]], 0.0).is_err());
        assert!(LocallyLinearDiscriminator::new(vec![], 1.0).is_err());
        assert!(LocallyLinearDiscriminator::new(vec![vec![0.0], vec![9.0, 0.0]], 1.0).is_err());
        let d = LocallyLinearDiscriminator::new(vec![vec![0.0, 0.0]], 1.0).unwrap();
        assert!(d.value(&[0.0]).unwrap_err().to_string().contains("`x`"));
        assert!(d
            .update_matrix(&[0.1, 0.0], -1.0)
            .unwrap_err()
            .to_string()
            .contains("`s`"));
        assert!(theorem_4_2_factor(1.0, 2.5, 0.1)
            .unwrap_err()
            .to_string()
            .contains("`r`"));
        assert!(hessian_eigenvalues(1.0, 4.0).is_err());
        assert!(field_norm(-1.0, 0.1)
            .unwrap_err()
            .to_string()
            .contains("sigma"));
        assert!(update_eigenvalues(0, 1.0, 0.5, 0.1).is_err());
        assert!(overshoot_fraction_exact_2d(1.0, 0.0).is_err());
        let d3 = LocallyLinearDiscriminator::new(vec![vec![0.0; 3]], 1.0).unwrap();
        let g = Grid2d::new((0.0, 1.0), (0.0, 1.0), 2, 2).unwrap();
        assert!(d3.field_grid(&g).is_err());
        let far = Grid2d::new((10.0, 11.0), (10.0, 11.0), 3, 3).unwrap();
        assert!(d
            .overshoot(&far, 1.0)
            .unwrap_err()
            .to_string()
            .contains("grid"));
    }

    /// Random n in 1..=4, sigma, a point at distance r in (0, 2 sigma) from a mode.
    fn config() -> impl Strategy<Value = (usize, f64, Vec<f64>, Vec<f64>, f64, Vec<f64>)> {
        (1usize..=4).prop_flat_map(|n| {
            (
                Just(n),
                0.05f64..2.0,
                prop::collection::vec(-3.0f64..3.0, n),
                prop::collection::vec(-1.0f64..1.0, n)
                    .prop_filter("direction", |v| v.iter().map(|a| a * a).sum::<f64>() > 1e-2),
                0.02f64..0.98,
                prop::collection::vec(-2.0f64..2.0, n * n),
            )
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Proof of Theorem C.9: the closed-form H equals central differences of the field, and its
        /// eigenvalues (nalgebra) are the proof's.
        #[test]
        fn hessian_matches_differences_and_eigenvalues(
            (n, sigma, centre, dir, u, _j) in config(), s_frac in 0.0f64..2.0,
        ) {
            let r = 2.0 * sigma * u;
            let d = LocallyLinearDiscriminator::new(vec![centre.clone()], sigma).unwrap();
            let x = point(&centre, &dir, r);
            let h = d.field_jacobian(&x).unwrap().unwrap();
            let scale = h.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for b in 0..n {
                let eps = 1e-6 * r;
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[b] += eps;
                xm[b] -= eps;
                let (fp, fm) = (d.field(&xp).unwrap().unwrap(), d.field(&xm).unwrap().unwrap());
                for a in 0..n {
                    let fd = (fp[a] - fm[a]) / (2.0 * eps);
                    prop_assert!((fd - h[(a, b)]).abs() <= 1e-6 * scale, "H[{},{}]: fd {} vs {}", a, b, fd, h[(a, b)]);
                }
            }
            let s = s_frac * r * (4.0 * sigma - r);
            let num = d.update_matrix_eigenvalues(&x, s).unwrap().unwrap();
            let closed = update_eigenvalues(n, sigma, r, s).unwrap();
            for (a, b) in num.iter().zip(&closed) {
                prop_assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{:?} vs {:?}", num, closed);
            }
        }

        /// Theorem 4.2 under the corrected condition s <= r (4 sigma - r)^2 / (2 sigma) (n >= 2) or
        /// s < (4 sigma - r)^2 (n = 1): ||J'||_2 <= (1 - s/(4 sigma - r)^2) ||J||_2 with J' from a
        /// direct simulation of the particle step on a linear generator with a random Jacobian.
        /// This includes the user-proposed s < min(r(4 sigma - r), (4 sigma - r)^2) (= r(4 sigma - r)).
        #[test]
        fn theorem_4_2_holds_under_corrected_condition(
            (n, sigma, centre, dir, u, jv) in config(), s_frac in 0.0f64..1.0, pd_only in any::<bool>(),
        ) {
            let r = 2.0 * sigma * u;
            let limit = if pd_only {
                positive_definite_step_limit(sigma, r).unwrap()
                    .min(theorem_4_2_step_limit_as_printed(sigma, r).unwrap())
            } else {
                theorem_4_2_step_limit(n, sigma, r).unwrap()
            };
            let s = s_frac * limit;
            let d = LocallyLinearDiscriminator::new(vec![centre.clone()], sigma).unwrap();
            let x = point(&centre, &dir, r);
            let j = DMatrix::from_row_slice(n, n, &jv);
            prop_assume!(spectral_norm(&j) > 1e-3);
            let jp = simulated_updated_jacobian(&d, &x, &j, s, r);
            let factor = theorem_4_2_factor(sigma, r, s).unwrap();
            let lhs = spectral_norm(&jp);
            let rhs = factor * spectral_norm(&j);
            // Tolerance: the finite-difference error, ~1e-7 ||J|| at worst.
            prop_assert!(lhs <= rhs + 1e-6 * spectral_norm(&j), "n={} sigma={} r={} s={}: {} > {}", n, sigma, r, s, lhs, rhs);
            // Theorem 4.1's closed form agrees with the simulation.
            let jc = d.updated_jacobian(&x, &j, s).unwrap().unwrap();
            prop_assert!((&jc - &jp).abs().max() <= 1e-6 * (1.0 + spectral_norm(&j)));
        }

        /// The printed condition is not enough for n >= 2: for every r in (0, 2 sigma) and every
        /// s in (1.05 * r(4 sigma - r)^2/(2 sigma), (4 sigma - r)^2), which satisfies the theorem's
        /// s < (4 sigma - r)^2, J = I violates the bound (the tangential eigenvalue
        /// 1 - s/(r(4 sigma - r)) is below -(1 - s/(4 sigma - r)^2)); so does a J whose columns all
        /// lie in a tangential direction.
        #[test]
        fn theorem_4_2_fails_under_printed_condition_for_n_ge_2(
            (n, sigma, centre, dir, u, _j) in config().prop_filter("n >= 2", |c| c.0 >= 2),
            s_frac in 0.0f64..1.0,
        ) {
            let r = 2.0 * sigma * u;
            let lo = 1.05 * theorem_4_2_step_limit(n, sigma, r).unwrap();
            let hi = theorem_4_2_step_limit_as_printed(sigma, r).unwrap();
            prop_assume!(lo < hi);
            let s = lo + s_frac * (hi - lo);
            let d = LocallyLinearDiscriminator::new(vec![centre.clone()], sigma).unwrap();
            let x = point(&centre, &dir, r);
            let factor = theorem_4_2_factor(sigma, r, s).unwrap();
            prop_assert!(factor > 0.0);
            // J = I.
            let j = DMatrix::identity(n, n);
            let lhs = spectral_norm(&simulated_updated_jacobian(&d, &x, &j, s, r));
            prop_assert!(lhs > factor * (1.0 + 1e-3), "expected a violation: {} <= {}", lhs, factor);
            // Rank-one J along a direction t orthogonal to y = x - x_i.
            let y: Vec<f64> = x.iter().zip(&centre).map(|(a, b)| a - b).collect();
            let k = (0..n).find(|&k| y[k].abs() < 0.99 * r).unwrap();
            let mut t = vec![0.0; n];
            t[k] = 1.0;
            let dot = y[k] / (r * r);
            for a in 0..n { t[a] -= dot * y[a]; }
            let jt = DMatrix::from_fn(n, n, |a, _| t[a]);
            let lhs = spectral_norm(&simulated_updated_jacobian(&d, &x, &jt, s, r));
            prop_assert!(lhs > factor * spectral_norm(&jt) * (1.0 + 1e-3));
            // And the exact threshold: at s = limit the two eigenvalue magnitudes coincide.
            let lim = theorem_4_2_step_limit(n, sigma, r).unwrap();
            let ev = update_eigenvalues(n, sigma, r, lim).unwrap();
            prop_assert!((ev[0].abs() - ev[n - 1]).abs() <= 1e-12 * (1.0 + ev[n - 1].abs()));
        }

        /// n = 1: H is the scalar -1/(4 sigma - r)^2, and the theorem holds as printed, with
        /// equality, for all s < (4 sigma - r)^2.
        #[test]
        fn theorem_4_2_holds_as_printed_in_one_dimension(
            sigma in 0.05f64..2.0, c in -3.0f64..3.0, u in 0.02f64..1.0, sign in any::<bool>(),
            j in 0.01f64..3.0, s_frac in 0.0f64..1.0,
        ) {
            let r = 2.0 * sigma * u;
            let s = s_frac * theorem_4_2_step_limit_as_printed(sigma, r).unwrap();
            let d = LocallyLinearDiscriminator::new(vec![vec![c]], sigma).unwrap();
            let x = [if sign { c + r } else { c - r }];
            let jm = DMatrix::from_element(1, 1, j);
            let jp = simulated_updated_jacobian(&d, &x, &jm, s, r);
            let factor = theorem_4_2_factor(sigma, r, s).unwrap();
            prop_assert!(jp[(0, 0)].abs() <= factor * j + 1e-6 * j);
            prop_assert!((jp[(0, 0)] - factor * j).abs() <= 1e-6 * j);
        }
    }
}
