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

use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure as BS};
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, Side};
use nalgebra::DMatrix;

use crate::eigenvalues::symmetric_eigenvalues;
use crate::linalg::{mean_and_covariance, par, view};
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
///
/// On faer (see `linalg`): a blocked, threaded Cholesky; the triangular products S_2 L and
/// L^T (S_2 L), the latter on its lower triangle only (the symmetric solver reads no more); the
/// eigenvalues, without eigenvectors, by the two-stage reduction of `eigenvalues`.
pub fn trace_sqrt_product(s1: &DMatrix<f64>, s2: &DMatrix<f64>, how: TraceSqrt) -> Result<(f64, TraceSqrt)> {
    if s1.shape() != s2.shape() || s1.nrows() != s1.ncols() {
        return Err(MetricsError::invalid("cov", format!("{:?} and {:?} are not two square matrices of one size", s1.shape(), s2.shape())));
    }
    let d = s1.nrows();
    let (a, b) = (view(s1), view(s2));
    // M's lower triangle, column-major with leading dimension d, as `symmetric_eigenvalues` reads it.
    let mut m_store = vec![0.0; d * d];
    let mut m = MatMut::from_column_major_slice_mut(&mut m_store, d, d);
    let used = match how {
        TraceSqrt::Cholesky | TraceSqrt::Auto => match a.llt(Side::Lower) {
            Ok(llt) => {
                let l = llt.L();
                let mut w = Mat::<f64>::zeros(d, d);
                // W = S_2 L, then M = L^T W (lower triangle).
                tri_matmul(w.as_mut(), BS::Rectangular, Accum::Replace, b, BS::Rectangular, l, BS::TriangularLower, 1.0, par());
                tri_matmul(m.rb_mut(), BS::TriangularLower, Accum::Replace, l.transpose(), BS::TriangularUpper, w.as_ref(), BS::Rectangular, 1.0, par());
                Some(TraceSqrt::Cholesky)
            }
            Err(_) if how == TraceSqrt::Cholesky => {
                return Err(MetricsError::Numerical("S_1 is not positive definite: no Cholesky factor".into()))
            }
            Err(_) => None,
        },
        TraceSqrt::Eigen => None,
    };
    let used = match used {
        Some(u) => u,
        None => {
            // S_1 = Q diag(l) Q^T, so S_1^{1/2} S_2 S_1^{1/2} = Q (D Q^T S_2 Q D) Q^T with
            // D = diag(sqrt(max(l, 0))): the same eigenvalues as D (Q^T S_2 Q) D, which needs two
            // products instead of the three of forming S_1^{1/2} first.
            let e = a.self_adjoint_eigen(Side::Lower).map_err(|err| MetricsError::Numerical(format!("eigendecomposition of S_1: {err:?}")))?;
            let q = e.U();
            let sq: Vec<f64> = e.S().column_vector().iter().map(|&l| l.max(0.0).sqrt()).collect();
            let mut w = Mat::<f64>::zeros(d, d);
            matmul(w.as_mut(), Accum::Replace, b, q, 1.0, par());
            tri_matmul(m.rb_mut(), BS::TriangularLower, Accum::Replace, q.transpose(), BS::Rectangular, w.as_ref(), BS::Rectangular, 1.0, par());
            for j in 0..d {
                for i in j..d {
                    m[(i, j)] *= sq[i] * sq[j];
                }
            }
            TraceSqrt::Eigen
        }
    };
    let ev = symmetric_eigenvalues(&mut m_store, d)?;
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

    /// Features z W + noise: n x r Gaussians through an r x d map, so the covariance has rank
    /// min(r, n - 1) (plus `noise` on the diagonal).
    fn features(n: usize, d: usize, r: usize, noise: f64, seed: u64) -> Vec<f64> {
        use rand::SeedableRng;
        use rand_distr::{Distribution, StandardNormal};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut g = || -> f64 { StandardNormal.sample(&mut rng) };
        let w: Vec<f64> = (0..r * d).map(|_| g()).collect();
        let mut x = vec![0.0; n * d];
        for row in x.chunks_exact_mut(d) {
            let z: Vec<f64> = (0..r).map(|_| g()).collect();
            for (j, v) in row.iter_mut().enumerate() {
                *v = (0..r).map(|l| z[l] * w[l * d + j]).sum::<f64>() + noise * g() + 0.3;
            }
        }
        x
    }

    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / a.abs().max(b.abs()).max(1e-300)
    }

    /// The faer path against the old nalgebra one (`linalg::oracle`), full rank: both are
    /// backward stable, so they agree to rounding.
    #[test]
    fn faer_path_matches_nalgebra_oracle_full_rank() {
        for (n, d, seed) in [(50, 7, 1), (400, 130, 2), (300, 257, 3)] {
            let (x, y) = (features(n, d, d, 0.5, seed), features(n, d, d, 0.7, seed + 100));
            let (g1, g2) = (Gaussian::fit(Rows::new(&x, d, "real").unwrap()).unwrap(), Gaussian::fit(Rows::new(&y, d, "fake").unwrap()).unwrap());
            let want = crate::linalg::oracle::trace_sqrt_product(&g1.cov, &g2.cov);
            for how in [TraceSqrt::Auto, TraceSqrt::Eigen] {
                let (got, used) = trace_sqrt_product(&g1.cov, &g2.cov, how).unwrap();
                assert_eq!(used, if how == TraceSqrt::Auto { TraceSqrt::Cholesky } else { TraceSqrt::Eigen });
                assert!(rel(got, want) < 1e-11, "n={n} d={d} {how:?}: {got} vs {want}");
            }
            let (_, co) = crate::linalg::oracle::mean_and_covariance(&x, n, d);
            assert!((&g1.cov - co).amax() < 1e-11 * g1.cov.amax());
        }
    }

    /// Rank-deficient covariances (rank r < d, and fewer samples than features): exact zero
    /// eigenvalues come out as +-eps ||S||, whose square roots are ~1e-8 ||S||, so any two
    /// correct methods agree only to about (d - r) sqrt(eps) relative; 1e-6 is pytorch-fid's
    /// own tolerance scale.
    #[test]
    fn faer_path_matches_nalgebra_oracle_rank_deficient() {
        for (n, d, r, seed) in [(200, 40, 5, 4), (30, 60, 60, 5), (500, 150, 20, 6)] {
            let (x, y) = (features(n, d, r, 0.0, seed), features(n, d, r + 3, 0.0, seed + 100));
            let (g1, g2) = (Gaussian::fit(Rows::new(&x, d, "real").unwrap()).unwrap(), Gaussian::fit(Rows::new(&y, d, "fake").unwrap()).unwrap());
            let want = crate::linalg::oracle::trace_sqrt_product(&g1.cov, &g2.cov);
            for how in [TraceSqrt::Auto, TraceSqrt::Eigen] {
                let (got, _) = trace_sqrt_product(&g1.cov, &g2.cov, how).unwrap();
                assert!(rel(got, want) < 1e-6, "n={n} d={d} r={r} {how:?}: {got} vs {want}");
            }
            let f = frechet_distance(&g1, &g2).unwrap();
            let fo = g1.mean.iter().zip(&g2.mean).map(|(a, b)| (a - b) * (a - b)).sum::<f64>() + g1.cov.trace() + g2.cov.trace() - 2.0 * want;
            assert!((f - fo).abs() < 1e-6 * (g1.cov.trace() + g2.cov.trace()), "{f} vs {fo}");
        }
        // Exactly singular S_1 (zero and duplicated coordinates): Cholesky must fail cleanly and
        // the eigen route agree with the oracle.
        let (n, d) = (300, 30);
        let mut x = features(n, d, d, 0.5, 7);
        for row in x.chunks_exact_mut(d) {
            row[3] = 1.5;
            row[7] = row[2];
        }
        let y = features(n, d, d, 0.5, 8);
        let (g1, g2) = (Gaussian::fit(Rows::new(&x, d, "real").unwrap()).unwrap(), Gaussian::fit(Rows::new(&y, d, "fake").unwrap()).unwrap());
        let want = crate::linalg::oracle::trace_sqrt_product(&g1.cov, &g2.cov);
        let (got, used) = trace_sqrt_product(&g1.cov, &g2.cov, TraceSqrt::Auto).unwrap();
        assert_eq!(used, TraceSqrt::Eigen, "a zero pivot (constant coordinate 3) stops Cholesky");
        assert!(rel(got, want) < 1e-6, "{got} vs {want}");
        assert!(trace_sqrt_product(&g1.cov, &g2.cov, TraceSqrt::Eigen).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
        /// Random sizes and ranks (n < d included): the faer path against the oracle.
        #[test]
        fn random_shapes_match_oracle(d in 1usize..48, n in 2usize..90, r in 1usize..48, seed in 0u64..1000) {
            let r = r.min(d);
            let (x, y) = (features(n, d, r, 0.0, seed), features(n, d, d, 0.2, seed + 1));
            let (g1, g2) = (Gaussian::fit(Rows::new(&x, d, "real").unwrap()).unwrap(), Gaussian::fit(Rows::new(&y, d, "fake").unwrap()).unwrap());
            let want = crate::linalg::oracle::trace_sqrt_product(&g1.cov, &g2.cov);
            let (got, _) = trace_sqrt_product(&g1.cov, &g2.cov, TraceSqrt::Auto).unwrap();
            // Scale of the terms: Tr S_1 + Tr S_2 bounds 2 Tr sqrt(S_1 S_2) (AM-GM).
            let scale = g1.cov.trace() + g2.cov.trace();
            proptest::prop_assert!((got - want).abs() <= 1e-6 * scale, "{} vs {} (scale {})", got, want, scale);
        }
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
