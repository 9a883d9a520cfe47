//! Dense products on top of `matrixmultiply` (the blocked GEMM that nalgebra itself uses for
//! large products), split over rayon threads by output panels. nalgebra's `tr_mul` computes
//! A^T B by one dot product per entry, which for the 2048 x 2048 covariance of 10,000 samples is
//! several times slower than a blocked GEMM, hence these helpers.

use nalgebra::DMatrix;
use rayon::prelude::*;

/// Rows of output per parallel task (a multiple of the GEMM kernels' panel heights).
fn chunk_rows(m: usize) -> usize {
    let t = rayon::current_num_threads().max(1);
    (m.div_ceil(4 * t)).clamp(8, 512).div_ceil(8) * 8
}

/// C = A B with A of `m x k` given by strides (`rsa`, `csa`) over `a`, B of `k x n` over `b`,
/// returned row-major `m x n`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_rowmajor(m: usize, k: usize, n: usize, a: &[f64], rsa: usize, csa: usize, b: &[f64], rsb: usize, csb: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    if m == 0 || n == 0 {
        return c;
    }
    let rows = chunk_rows(m);
    c.par_chunks_mut(rows * n).enumerate().for_each(|(t, chunk)| {
        let i0 = t * rows;
        let mr = chunk.len() / n;
        // The last element A touches is (i0 + mr - 1, k - 1): check it lies inside `a`, so the
        // raw-pointer call below never reads out of bounds.
        assert!(k == 0 || (i0 + mr - 1) * rsa + (k - 1) * csa < a.len());
        assert!(k == 0 || (k - 1) * rsb + (n - 1) * csb < b.len());
        // SAFETY: the bounds of A and B were checked above; `chunk` is an exclusive mr x n
        // row-major slice.
        unsafe {
            matrixmultiply::dgemm(
                mr,
                k,
                n,
                1.0,
                a.as_ptr().add(i0 * rsa),
                rsa as isize,
                csa as isize,
                b.as_ptr(),
                rsb as isize,
                csb as isize,
                0.0,
                chunk.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    });
    c
}

/// A B for nalgebra matrices (column-major), through [`gemm_rowmajor`] on the transposed problem
/// (C^T = B^T A^T, whose row-major layout is C's column-major one).
pub(crate) fn matmul(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    assert_eq!(a.ncols(), b.nrows());
    let (m, k, n) = (a.nrows(), a.ncols(), b.ncols());
    // C^T (n x m) = B^T (n x k) A^T (k x m). B^T(j, l) = B(l, j) = b[l + j * k]: rs = k, cs = 1.
    // A^T(l, i) = A(i, l) = a[i + l * m]: rs = m, cs = 1.
    let ct = gemm_rowmajor(n, k, m, b.as_slice(), k, 1, a.as_slice(), m, 1);
    DMatrix::from_vec(m, n, ct)
}

/// Mean and sample covariance (divisor n - 1, as `np.cov(x, rowvar=False)`) of the rows of a
/// row-major `n x d` matrix.
pub(crate) fn mean_and_covariance(x: &[f64], n: usize, d: usize) -> (Vec<f64>, DMatrix<f64>) {
    let mut mean = vec![0.0; d];
    for r in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let xc: Vec<f64> = x.par_chunks(d).flat_map_iter(|r| r.iter().zip(&mean).map(|(v, m)| v - m)).collect();
    // C = Xc^T Xc: A = Xc^T (d x n), A(i, l) = xc[l * d + i] (rs 1, cs d); B = Xc (rs d, cs 1).
    let mut c = gemm_rowmajor(d, n, d, &xc, 1, d, &xc, d, 1);
    let scale = 1.0 / (n as f64 - 1.0);
    // Symmetrise (blocked sums may differ in the last bit between (i, j) and (j, i)).
    for i in 0..d {
        for j in i..d {
            let v = 0.5 * (c[i * d + j] + c[j * d + i]) * scale;
            c[i * d + j] = v;
            c[j * d + i] = v;
        }
    }
    (mean, DMatrix::from_vec(d, d, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemm_matches_nalgebra() {
        let a = DMatrix::from_fn(37, 19, |i, j| ((i * 3 + j * 7) % 11) as f64 - 5.0);
        let b = DMatrix::from_fn(19, 23, |i, j| ((i * 5 + j) % 13) as f64 * 0.5);
        let c = matmul(&a, &b);
        assert!((c - &a * &b).abs().max() < 1e-12);
    }

    #[test]
    fn covariance_matches_direct_sums() {
        let (n, d) = (41, 6);
        let x: Vec<f64> = (0..n * d).map(|v| ((v * 17) % 29) as f64 / 7.0).collect();
        let (m, c) = mean_and_covariance(&x, n, d);
        for i in 0..d {
            let mi: f64 = (0..n).map(|r| x[r * d + i]).sum::<f64>() / n as f64;
            assert!((m[i] - mi).abs() < 1e-12);
            for j in 0..d {
                let mj: f64 = (0..n).map(|r| x[r * d + j]).sum::<f64>() / n as f64;
                let cij: f64 = (0..n).map(|r| (x[r * d + i] - mi) * (x[r * d + j] - mj)).sum::<f64>() / (n - 1) as f64;
                assert!((c[(i, j)] - cij).abs() < 1e-12);
            }
        }
    }
}
