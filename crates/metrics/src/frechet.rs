//! The Frechet distance between two Gaussians (Dowson & Landau 1982), FID when the Gaussians are
//! fitted to Inception pool3 features (Heusel et al. 2017; seed 001 section 16.4):
//!
//!   d^2 = ||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2}).
//!
//! pytorch-fid (`calculate_frechet_distance`) evaluates the last term as
//! `trace(scipy.linalg.sqrtm(S_1 @ S_2))`. S_1 S_2 is not symmetric, so `sqrtm` goes through a
//! complex Schur decomposition and can return small imaginary parts that pytorch-fid discards.
//! The two forms are the same number: S_1 S_2 = S_1^{1/2} (S_1^{1/2} S_2 S_1^{1/2}) S_1^{-1/2} is
//! similar to M = S_1^{1/2} S_2 S_1^{1/2}, which is symmetric positive semi-definite, so the
//! eigenvalues of S_1 S_2 are those of M, real and >= 0, and the trace of the principal square
//! root is the sum of their square roots: Tr sqrt(S_1 S_2) = sum_i sqrt(lambda_i(M)).
//! Symmetric eigenvalue problems are perfectly conditioned (Weyl: each eigenvalue moves by at most
//! the norm of the perturbation), so this is both cheaper and more accurate than a general
//! matrix square root. Two ways to form a matrix with the eigenvalues of M:
//!
//! - [`TraceSqrt::Cholesky`] (default when S_1 is positive definite): S_1 = L L^T, and
//!   L^T S_2 L = L^{-1} (S_1 S_2) L is similar to S_1 S_2 and symmetric: one Cholesky factor, two
//!   products and one symmetric eigenvalue computation without eigenvectors.
//! - [`TraceSqrt::Eigen`] (fallback, always valid for PSD S_1, e.g. fewer samples than features):
//!   S_1 = Q diag(l) Q^T, S_1^{1/2} = Q diag(sqrt(max(l, 0))) Q^T, then the eigenvalues of
//!   S_1^{1/2} S_2 S_1^{1/2}.
//!
//! Eigenvalues that rounding makes slightly negative are clamped to 0 before the square root.
//! Everything is f64; covariances use the divisor n - 1, as `np.cov(x, rowvar=False)`.

use nalgebra::{DMatrix, SymmetricEigen};

use crate::linalg::{matmul, mean_and_covariance};
use crate::{same_cols, MetricsError, Result, Rows};

/// A Gaussian fitted to a feature set: mean, covariance and the sample count.
#[derive(Clone, Debug)]
pub struct Gaussian {
    pub mean: Vec<f64>,
    pub cov: DMatrix<f64>,
    pub n: usize,
}

impl Gaussian {
    /// `np.mean(x, axis=0)` and `np.cov(x, rowvar=False)` of the rows of `x` (needs >= 2 rows).
    pub fn fit(x: Rows) -> Result<Self> {
        if x.rows() < 2 {
            return Err(MetricsError::invalid("features", format!("{} row(s): a covariance needs at least 2", x.rows())));
        }
        let (mean, cov) = mean_and_covariance(x.data(), x.rows(), x.cols());
        Ok(Self { mean, cov, n: x.rows() })
    }

    /// A Gaussian from given moments; `cov` must be square, symmetric and match `mean`.
    pub fn new(mean: Vec<f64>, cov: DMatrix<f64>) -> Result<Self> {
        let d = mean.len();
        if cov.nrows() != d || cov.ncols() != d {
            return Err(MetricsError::invalid("cov", format!("{}x{} for a mean of length {d}", cov.nrows(), cov.ncols())));
        }
        let scale = cov.amax().max(f64::MIN_POSITIVE);
        if (&cov - cov.transpose()).amax() > 1e-10 * scale || cov.iter().any(|v| !v.is_finite()) {
            return Err(MetricsError::invalid("cov", "not a finite symmetric matrix"));
        }
        Ok(Self { mean, cov, n: 0 })
    }
}

/// How to obtain the eigenvalues of S_1^{1/2} S_2 S_1^{1/2} (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceSqrt {
    /// Cholesky when S_1 is positive definite, else eigendecomposition.
    Auto,
    /// L^T S_2 L with S_1 = L L^T (fails if S_1 is not positive definite).
    Cholesky,
    /// S_1^{1/2} S_2 S_1^{1/2} through the eigendecomposition of S_1.
    Eigen,
}

/// The terms of the Frechet distance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrechetParts {
    /// ||mu_1 - mu_2||^2
    pub mean_term: f64,
    pub trace_1: f64,
    pub trace_2: f64,
    /// Tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2})
    pub trace_sqrt: f64,
    /// The route that was taken (`Cholesky` or `Eigen`).
    pub method: TraceSqrt,
}

impl FrechetParts {
    /// The squared Frechet distance, as pytorch-fid returns it (its "FID" is this square).
    pub fn distance(&self) -> f64 {
        self.mean_term + self.trace_1 + self.trace_2 - 2.0 * self.trace_sqrt
    }
}

/// Tr((S_1^{1/2} S_2 S_1^{1/2})^{1/2}) = sum of the square roots of the eigenvalues of S_1 S_2.
pub fn trace_sqrt_product(s1: &DMatrix<f64>, s2: &DMatrix<f64>, how: TraceSqrt) -> Result<(f64, TraceSqrt)> {
    let m = match how {
        TraceSqrt::Cholesky | TraceSqrt::Auto => match s1.clone().cholesky() {
            Some(ch) => {
                let l = ch.unpack();
                Some((matmul(&l.transpose(), &matmul(s2, &l)), TraceSqrt::Cholesky))
            }
            None if how == TraceSqrt::Cholesky => {
                return Err(MetricsError::Numerical("S_1 is not positive definite: no Cholesky factor".into()))
            }
            None => None,
        },
        TraceSqrt::Eigen => None,
    };
    let (m, used) = match m {
        Some(m) => m,
        None => {
            let e = SymmetricEigen::new(s1.clone());
            let sq = e.eigenvalues.map(|l| l.max(0.0).sqrt());
            let q = &e.eigenvectors;
            let mut qs = q.clone();
            for (j, mut col) in qs.column_iter_mut().enumerate() {
                col *= sq[j];
            }
            let root = matmul(&qs, &q.transpose());
            (matmul(&root, &matmul(s2, &root)), TraceSqrt::Eigen)
        }
    };
    // Symmetrise against rounding before the symmetric solver (it reads one triangle).
    let m = (&m + m.transpose()) * 0.5;
    let ev = m.symmetric_eigenvalues();
    if ev.iter().any(|v| !v.is_finite()) {
        return Err(MetricsError::Numerical("non-finite eigenvalue of S_1^1/2 S_2 S_1^1/2".into()));
    }
    Ok((ev.iter().map(|&l| l.max(0.0).sqrt()).sum(), used))
}

/// All terms of the squared Frechet distance between two Gaussians.
pub fn frechet_parts(a: &Gaussian, b: &Gaussian, how: TraceSqrt) -> Result<FrechetParts> {
    if a.mean.len() != b.mean.len() {
        return Err(MetricsError::invalid("fake", format!("dimension {} but real has {}", b.mean.len(), a.mean.len())));
    }
    let mean_term = a.mean.iter().zip(&b.mean).map(|(x, y)| (x - y) * (x - y)).sum();
    let (trace_sqrt, method) = trace_sqrt_product(&a.cov, &b.cov, how)?;
    Ok(FrechetParts { mean_term, trace_1: a.cov.trace(), trace_2: b.cov.trace(), trace_sqrt, method })
}

/// The squared Frechet distance between two Gaussians (what pytorch-fid reports as FID).
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> Result<f64> {
    Ok(frechet_parts(a, b, TraceSqrt::Auto)?.distance())
}

/// FID between two feature sets: Gaussians fitted to each, then [`frechet_distance`].
pub fn fid(real: Rows, fake: Rows) -> Result<f64> {
    same_cols(&real, &fake)?;
    frechet_distance(&Gaussian::fit(real)?, &Gaussian::fit(fake)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(d: usize, seed: u64) -> DMatrix<f64> {
        let a = DMatrix::from_fn(d, d, |i, j| (((i * 31 + j * 17 + seed as usize * 7) % 23) as f64 - 11.0) / 10.0);
        &a * a.transpose() + DMatrix::identity(d, d) * 0.1
    }

    #[test]
    fn both_routes_agree_and_commuting_case_is_exact() {
        let (s1, s2) = (spd(12, 1), spd(12, 2));
        let (c, mc) = trace_sqrt_product(&s1, &s2, TraceSqrt::Auto).unwrap();
        let (e, me) = trace_sqrt_product(&s1, &s2, TraceSqrt::Eigen).unwrap();
        assert_eq!((mc, me), (TraceSqrt::Cholesky, TraceSqrt::Eigen));
        assert!((c - e).abs() < 1e-10 * c, "{c} vs {e}");
        // Diagonal (commuting) covariances: Tr sqrt(S1 S2) = sum sqrt(a_i b_i).
        let a = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![1.0, 4.0, 9.0]));
        let b = DMatrix::from_diagonal(&nalgebra::DVector::from_vec(vec![4.0, 1.0, 0.25]));
        let (t, _) = trace_sqrt_product(&a, &b, TraceSqrt::Auto).unwrap();
        assert!((t - (2.0 + 2.0 + 1.5)).abs() < 1e-13);
    }

    #[test]
    fn singular_covariance_falls_back_to_eigen() {
        let mut s1 = DMatrix::zeros(3, 3);
        s1[(0, 0)] = 2.0;
        let s2 = DMatrix::identity(3, 3) * 8.0;
        let (t, m) = trace_sqrt_product(&s1, &s2, TraceSqrt::Auto).unwrap();
        assert_eq!(m, TraceSqrt::Eigen);
        assert!((t - 4.0).abs() < 1e-12);
        assert!(trace_sqrt_product(&s1, &s2, TraceSqrt::Cholesky).is_err());
    }

    #[test]
    fn invalid_inputs_are_named() {
        let x = [1.0, 2.0, 3.0];
        let r = Rows::new(&x, 3, "real").unwrap();
        assert!(Gaussian::fit(r).unwrap_err().to_string().contains("at least 2"));
        let y = [1.0, 2.0, 3.0, 4.0];
        let f = Rows::new(&y, 2, "fake").unwrap();
        let r2 = Rows::new(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, "real").unwrap();
        assert!(fid(r2, f).unwrap_err().to_string().contains("`fake`"));
        assert!(Rows::new(&[1.0, f64::NAN], 2, "real").unwrap_err().to_string().contains("not finite"));
    }
}
