//! Dense linear algebra on faer (blocked, multithreaded GEMM, triangular products, Cholesky and
//! symmetric eigenvalues; issue 10). The public types stay nalgebra's (`Gaussian::cov` is a
//! `DMatrix`), and faer reads and writes their column-major storage in place through views, so
//! no matrix is converted.
//!
//! Why faer and not nalgebra + matrixmultiply (the previous implementation, kept in `oracle` as
//! the tests' reference): nalgebra's symmetric eigenvalue solver is unblocked and single-threaded
//! (about 5 s for d = 2048 here), and the covariance as a full GEMM does twice the arithmetic of
//! the lower triangle that faer's triangular product computes.

use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure};
use faer::{Accum, MatMut, MatRef, Par};
use nalgebra::DMatrix;
use rayon::prelude::*;

/// All of rayon's threads (the global pool), for faer's parallel kernels.
pub(crate) fn par() -> Par {
    Par::rayon(0)
}

/// faer view of a nalgebra matrix (both column-major, contiguous).
pub(crate) fn view(m: &DMatrix<f64>) -> MatRef<'_, f64> {
    MatRef::from_column_major_slice(m.as_slice(), m.nrows(), m.ncols())
}

pub(crate) fn view_mut(m: &mut DMatrix<f64>) -> MatMut<'_, f64> {
    let (r, c) = m.shape();
    MatMut::from_column_major_slice_mut(m.as_mut_slice(), r, c)
}

/// Copies the strictly lower triangle of a square column-major matrix onto its upper triangle,
/// in square blocks so both the reads and the writes stay in cache.
pub(crate) fn mirror_lower(m: &mut DMatrix<f64>) {
    const B: usize = 64;
    let d = m.nrows();
    let s = m.as_mut_slice();
    for jb in (0..d).step_by(B) {
        for ib in (jb..d).step_by(B) {
            for j in jb..(jb + B).min(d) {
                for i in ib.max(j + 1)..(ib + B).min(d) {
                    // (i, j) with i > j is at i + j d; its mirror (j, i) at j + i d.
                    s[j + i * d] = s[i + j * d];
                }
            }
        }
    }
}

/// Mean and sample covariance (divisor n - 1, as `np.cov(x, rowvar=False)`) of the rows of a
/// row-major `n x d` matrix. The data are centred first (as numpy does) so that large means do
/// not cancel; the product is faer's triangular GEMM on the lower triangle only (half the
/// arithmetic of a full X^T X), mirrored onto the upper one, so the result is exactly symmetric.
pub(crate) fn mean_and_covariance(x: &[f64], n: usize, d: usize) -> (Vec<f64>, DMatrix<f64>) {
    let mean: Vec<f64> = x
        .par_chunks(d * 256)
        .fold(
            || vec![0.0; d],
            |mut acc, rows| {
                for r in rows.chunks_exact(d) {
                    acc.iter_mut().zip(r).for_each(|(a, v)| *a += v);
                }
                acc
            },
        )
        .reduce(|| vec![0.0; d], |mut a, b| {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            a
        })
        .into_iter()
        .map(|s| s / n as f64)
        .collect();
    // The centred copy is stored column-major (n x d), so that both GEMM operands are read
    // along unit-stride columns: faer's kernels run about 3x slower here (11 against 3.5
    // GFLOP/s per core) when the right operand is row-major, as the rows of `x` would be.
    const JB: usize = 16;
    let mut xc = vec![0.0; n * d];
    xc.par_chunks_mut(n * JB).enumerate().for_each(|(b, out)| {
        let j0 = b * JB;
        let w = out.len() / n;
        for (l, r) in x.chunks_exact(d).enumerate() {
            for jj in 0..w {
                out[jj * n + l] = r[j0 + jj] - mean[j0 + jj];
            }
        }
    });
    let xc = MatRef::from_column_major_slice(&xc, n, d);
    let mut c = DMatrix::<f64>::zeros(d, d);
    // C = Xc^T Xc / (n - 1), lower triangle only.
    tri_matmul(
        view_mut(&mut c),
        BlockStructure::TriangularLower,
        Accum::Replace,
        xc.transpose(),
        BlockStructure::Rectangular,
        xc,
        BlockStructure::Rectangular,
        1.0 / (n as f64 - 1.0),
        par(),
    );
    mirror_lower(&mut c);
    (mean, c)
}

/// The previous implementation (nalgebra + matrixmultiply), kept as the tests' reference: a
/// covariance by explicit sums and nalgebra's products and decompositions.
#[cfg(test)]
pub(crate) mod oracle {
    use nalgebra::{DMatrix, SymmetricEigen};

    /// Straight sums over the rows, two passes (mean, then centred products).
    pub fn mean_and_covariance(x: &[f64], n: usize, d: usize) -> (Vec<f64>, DMatrix<f64>) {
        let mut mean = vec![0.0; d];
        for r in x.chunks_exact(d) {
            mean.iter_mut().zip(r).for_each(|(m, v)| *m += v);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        let mut c = DMatrix::zeros(d, d);
        for r in x.chunks_exact(d) {
            for i in 0..d {
                for j in 0..d {
                    c[(i, j)] += (r[i] - mean[i]) * (r[j] - mean[j]);
                }
            }
        }
        (mean, c / (n as f64 - 1.0))
    }

    /// Tr sqrt(S_1 S_2) as the old code computed it: Cholesky when S_1 allows, else the
    /// eigendecomposition of S_1; nalgebra's symmetric eigenvalues of the symmetrised product.
    pub fn trace_sqrt_product(s1: &DMatrix<f64>, s2: &DMatrix<f64>) -> f64 {
        let m = match s1.clone().cholesky() {
            Some(ch) => {
                let l = ch.unpack();
                l.transpose() * s2 * &l
            }
            None => {
                let e = SymmetricEigen::new(s1.clone());
                let sq = e.eigenvalues.map(|l| l.max(0.0).sqrt());
                let root = &e.eigenvectors * DMatrix::from_diagonal(&sq) * e.eigenvectors.transpose();
                &root * s2 * &root
            }
        };
        let m = (&m + m.transpose()) * 0.5;
        m.symmetric_eigenvalues().iter().map(|&l| l.max(0.0).sqrt()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_matches_direct_sums() {
        // Sizes around faer's block sizes and odd ones, a large mean (centring matters).
        for (n, d) in [(41, 6), (3, 1), (300, 67), (130, 129)] {
            let x: Vec<f64> = (0..n * d).map(|v| ((v * 17) % 29) as f64 / 7.0 + 1e3).collect();
            let (m, c) = mean_and_covariance(&x, n, d);
            let (mo, co) = oracle::mean_and_covariance(&x, n, d);
            for i in 0..d {
                assert!((m[i] - mo[i]).abs() < 1e-10, "mean {i}");
                for j in 0..d {
                    assert!((c[(i, j)] - co[(i, j)]).abs() < 1e-10, "cov ({i}, {j}) n={n} d={d}");
                    assert_eq!(c[(i, j)], c[(j, i)], "exactly symmetric");
                }
            }
        }
    }

    #[test]
    fn mirror_copies_lower_onto_upper() {
        let d = 150; // crosses the 64-wide blocks
        let mut m = DMatrix::from_fn(d, d, |i, j| if i >= j { (i * 1000 + j) as f64 } else { f64::NAN });
        mirror_lower(&mut m);
        for i in 0..d {
            for j in 0..d {
                assert_eq!(m[(i, j)], (i.max(j) * 1000 + i.min(j)) as f64);
            }
        }
    }
}
