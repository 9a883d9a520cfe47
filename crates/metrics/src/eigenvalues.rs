//! Eigenvalues of a dense symmetric matrix by two-stage reduction (issue 10): dense -> band ->
//! tridiagonal -> faer's implicit QR on the tridiagonal matrix.
//!
//! Why hand-written: FID's trace term needs the eigenvalues (no vectors) of a 2048 x 2048
//! symmetric matrix, and faer 0.24's `self_adjoint_eigenvalues` tridiagonalises in one stage,
//! one column at a time, reading and writing the whole trailing matrix for every column (a
//! memory-bound sweep, 1.7 s here at d = 2048, where LAPACK's blocked `dsytrd` takes 1 s). The
//! two-stage reduction of LAPACK 3.7's `dsytrd_2stage` (Bischof, Lang & Sun's SBR; Haidar, Ltaief
//! & Dongarra 2011) does nine tenths of its arithmetic as matrix products, and no Rust crate
//! offers it. The products, the Householder vectors and the tridiagonal solver are faer's.
//!
//! 1. Dense -> band of half-width `b`: for each panel of `b` columns, the QR factorisation of the
//!    part below the band, Q = H_0 ... H_{k-1} = I - V T V^T (LAPACK's compact WY form, `dlarft`),
//!    and the two-sided update A_22 <- Q^T A_22 Q as three products:
//!    X = A_22 V T, W = X - V (T^T V^T X) / 2, A_22 <- A_22 - V W^T - W V^T (lower triangle).
//! 2. Band -> tridiagonal by bulge chasing (LAPACK's `dsb2st_kernels`): sweep j annihilates
//!    column j below the subdiagonal with one reflector, applied on both sides to the next b x b
//!    diagonal block; applying it to the block below makes a bulge, whose first column a new
//!    reflector annihilates, and so on down the band. The rest of each bulge lies in the blocks
//!    that the next sweeps annihilate.
//! 3. The eigenvalues of the tridiagonal matrix by faer's implicit QR algorithm.
//!
//! All transformations are orthogonal similarities, so the eigenvalues are those of the input to
//! within a small multiple of eps ||A|| (Weyl), as for the one-stage reduction.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::householder::make_householder_in_place;
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure as BS};
use faer::diag::{DiagMut, DiagRef};
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Accum, ColMut, Mat, MatMut, MatRef, Par, Side};

use crate::linalg::par;
use crate::{MetricsError, Result};

/// Half-bandwidth of the intermediate band matrix: wide enough that the stage-1 products run near
/// the GEMM rate, narrow enough that stage 2 (about 6 b d^2 flops, not blocked) stays small.
const BAND: usize = 32;

/// Below this size the one-stage reduction is as fast, and simpler.
const TWO_STAGE_FROM: usize = 4 * BAND;

/// The eigenvalues, in ascending order, of the symmetric `d x d` matrix whose lower triangle
/// `a` holds (column-major, leading dimension `d`; the upper triangle is not read). `a` is
/// overwritten.
pub(crate) fn symmetric_eigenvalues(a: &mut [f64], d: usize) -> Result<Vec<f64>> {
    assert_eq!(a.len(), d * d, "a {d} x {d} column-major matrix");
    if d < TWO_STAGE_FROM {
        let m = MatRef::from_column_major_slice(a, d, d);
        return m.self_adjoint_eigenvalues(Side::Lower).map_err(|e| MetricsError::Numerical(format!("symmetric eigenvalues: {e:?}")));
    }
    let (diag, sub) = tridiagonalise(a, d, BAND);
    tridiagonal_eigenvalues(&diag, &sub)
}

/// Stages 1 and 2: the diagonal and subdiagonal of a tridiagonal matrix similar to `a`.
fn tridiagonalise(a: &mut [f64], d: usize, b: usize) -> (Vec<f64>, Vec<f64>) {
    let b = b.clamp(1, d.max(2) - 1);
    dense_to_band(a, d, b);
    band_to_tridiagonal(a, d, b);
    let diag = (0..d).map(|i| a[i + i * d]).collect();
    let sub = (0..d.saturating_sub(1)).map(|i| a[i + 1 + i * d]).collect();
    (diag, sub)
}

/// LAPACK's tau (H = I - tau v v^T) from faer's (H = I - v v^T / tau; infinite when the vector
/// below the head was already zero, that is H = I).
fn lapack_tau(faer_tau: f64) -> f64 {
    if faer_tau.is_finite() {
        1.0 / faer_tau
    } else {
        0.0
    }
}

/// The reflector that maps x = (head, tail) to (beta, 0, ...): beta replaces `head`, `tail`
/// becomes v below its implicit leading 1; returns tau.
fn reflector(head: &mut f64, tail: &mut [f64]) -> f64 {
    lapack_tau(make_householder_in_place(head, ColMut::from_slice_mut(tail)).tau)
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += alpha * x);
}

/// Stage 1: reduces the lower triangle of `a` to half-bandwidth `b` in place (entries more than
/// `b` below the diagonal become exactly 0).
fn dense_to_band(a: &mut [f64], d: usize, b: usize) {
    let mut j = 0;
    // Panel: rows j+b.., columns j..j+b. It needs reducing while it has two rows or more.
    while j + b + 1 < d {
        let r0 = j + b;
        let m = d - r0;
        let k = b.min(m);
        let mut tau = vec![0.0; k];
        // Unblocked Householder QR of the m x b panel (level 2; about 2 m b^2 flops, a few per
        // cent of the trailing update's 2 m^2 b).
        for i in 0..k {
            let c = j + i;
            let (left, right) = a.split_at_mut((c + 1) * d);
            let col = &mut left[c * d + r0 + i..c * d + d];
            let (head, tail) = col.split_first_mut().unwrap();
            tau[i] = reflector(head, tail);
            if tau[i] == 0.0 {
                continue;
            }
            for cc in 0..(b - i - 1) {
                let other = &mut right[cc * d + r0 + i..cc * d + d];
                let w = other[0] + dot(tail, &other[1..]);
                other[0] -= tau[i] * w;
                axpy(-tau[i] * w, tail, &mut other[1..]);
            }
        }
        // V (m x k, unit lower trapezoidal), then the panel below R set to 0.
        let mut v = Mat::<f64>::zeros(m, k);
        for i in 0..k {
            v[(i, i)] = 1.0;
            let c = j + i;
            for r in i + 1..m {
                v[(r, i)] = std::mem::take(&mut a[c * d + r0 + r]);
            }
        }
        // T (k x k upper) with H_0 ... H_{k-1} = I - V T V^T (LAPACK dlarft, forward, columnwise).
        let mut t = Mat::<f64>::zeros(k, k);
        for i in 0..k {
            t[(i, i)] = tau[i];
            if i == 0 || tau[i] == 0.0 {
                continue;
            }
            let vi = v.col(i).try_as_col_major().unwrap().as_slice();
            let s: Vec<f64> = (0..i).map(|l| -tau[i] * dot(&v.col(l).try_as_col_major().unwrap().as_slice()[i..], &vi[i..])).collect();
            for r in 0..i {
                t[(r, i)] = (r..i).map(|l| t[(r, l)] * s[l]).sum();
            }
        }
        let mut a22 = MatMut::from_column_major_slice_with_stride_mut(&mut a[r0 + r0 * d..], m, m, d);
        let v = v.as_ref();
        // Y = A_22 V from the lower triangle: tril(A_22) V + strict_tril(A_22)^T V.
        let mut y = Mat::<f64>::zeros(m, k);
        tri_matmul(y.as_mut(), BS::Rectangular, Accum::Replace, a22.rb(), BS::TriangularLower, v, BS::Rectangular, 1.0, par());
        tri_matmul(y.as_mut(), BS::Rectangular, Accum::Add, a22.rb().transpose(), BS::StrictTriangularUpper, v, BS::Rectangular, 1.0, par());
        // X = Y T; Z = T^T (V^T X); W = X - V Z / 2.
        let mut x = Mat::<f64>::zeros(m, k);
        matmul(x.as_mut(), Accum::Replace, y.as_ref(), t.as_ref(), 1.0, Par::Seq);
        let mut vtx = Mat::<f64>::zeros(k, k);
        matmul(vtx.as_mut(), Accum::Replace, v.transpose(), x.as_ref(), 1.0, par());
        let mut z = Mat::<f64>::zeros(k, k);
        matmul(z.as_mut(), Accum::Replace, t.transpose(), vtx.as_ref(), 1.0, Par::Seq);
        matmul(x.as_mut(), Accum::Add, v, z.as_ref(), -0.5, Par::Seq);
        // A_22 <- A_22 - V W^T - W V^T, lower triangle only.
        tri_matmul(a22.rb_mut(), BS::TriangularLower, Accum::Add, v, BS::Rectangular, x.transpose(), BS::Rectangular, -1.0, par());
        tri_matmul(a22.rb_mut(), BS::TriangularLower, Accum::Add, x.as_ref(), BS::Rectangular, v.transpose(), BS::Rectangular, -1.0, par());
        j += b;
    }
}

/// Stage 2: reduces a lower band matrix of half-bandwidth `b` (in dense column-major storage) to
/// tridiagonal form in place.
fn band_to_tridiagonal(a: &mut [f64], d: usize, b: usize) {
    if b < 2 {
        return;
    }
    let mut v = vec![0.0; b];
    let mut w = vec![0.0; b];
    for j in 0..d.saturating_sub(2) {
        // The reflector of column j, rows j+1 .. j+len.
        let (mut k, mut len) = (j + 1, b.min(d - j - 1));
        if len < 2 {
            continue;
        }
        let mut tau = annihilate(&mut a[j * d + k..j * d + k + len], &mut v);
        two_sided(a, d, k, &v[..len], tau, &mut w);
        loop {
            let nr = k + len;
            if nr >= d {
                break;
            }
            let nlen = b.min(d - nr);
            // The block below: C = A[nr..nr+nlen, k..k+len] <- C H. It fills (the bulge).
            right_apply(a, d, nr, nlen, k, &v[..len], tau, &mut w);
            if nlen < 2 {
                break;
            }
            // Annihilate the bulge's first column with a new reflector, applied to the rest of C
            // from the left and to the diagonal block below on both sides.
            tau = annihilate(&mut a[k * d + nr..k * d + nr + nlen], &mut v);
            if tau != 0.0 {
                for c in k + 1..k + len {
                    let col = &mut a[c * d + nr..c * d + nr + nlen];
                    let s = tau * dot(&v[..nlen], col);
                    axpy(-s, &v[..nlen], col);
                }
                two_sided(a, d, nr, &v[..nlen], tau, &mut w);
            }
            k = nr;
            len = nlen;
        }
    }
}

/// The reflector that annihilates `col` below its first entry: `col` becomes (beta, 0, ...), and
/// `v[..col.len()]` its vector (1, v_1, ...); returns tau.
fn annihilate(col: &mut [f64], v: &mut [f64]) -> f64 {
    let (head, tail) = col.split_first_mut().unwrap();
    let tau = reflector(head, tail);
    v[0] = 1.0;
    for (vi, t) in v[1..=tail.len()].iter_mut().zip(tail.iter_mut()) {
        *vi = std::mem::take(t);
    }
    tau
}

/// B <- H B H for the symmetric diagonal block B = A[s..s+n, s..s+n] (lower triangle), with
/// H = I - tau v v^T: p = tau B v, w = p - (tau/2)(p.v) v, B <- B - v w^T - w v^T.
fn two_sided(a: &mut [f64], d: usize, s: usize, v: &[f64], tau: f64, w: &mut [f64]) {
    let n = v.len();
    if tau == 0.0 {
        return;
    }
    let p = &mut w[..n];
    p.fill(0.0);
    for c in 0..n {
        let col = &a[(s + c) * d + s + c..(s + c) * d + s + n];
        p[c] += col[0] * v[c] + dot(&col[1..], &v[c + 1..]);
        axpy(v[c], &col[1..], &mut p[c + 1..]);
    }
    p.iter_mut().for_each(|x| *x *= tau);
    let alpha = -0.5 * tau * dot(p, v);
    axpy(alpha, v, p);
    for c in 0..n {
        let col = &mut a[(s + c) * d + s + c..(s + c) * d + s + n];
        let (vc, pc) = (v[c], p[c]);
        for ((x, vi), pi) in col.iter_mut().zip(&v[c..]).zip(&p[c..]) {
            *x -= vi * pc + pi * vc;
        }
    }
}

/// C <- C H for C = A[r..r+nr, c0..c0+v.len()], H = I - tau v v^T.
#[allow(clippy::too_many_arguments)]
fn right_apply(a: &mut [f64], d: usize, r: usize, nr: usize, c0: usize, v: &[f64], tau: f64, w: &mut [f64]) {
    if tau == 0.0 {
        return;
    }
    let s = &mut w[..nr];
    s.fill(0.0);
    for (c, &vc) in v.iter().enumerate() {
        axpy(vc, &a[(c0 + c) * d + r..(c0 + c) * d + r + nr], s);
    }
    for (c, &vc) in v.iter().enumerate() {
        axpy(-tau * vc, s, &mut a[(c0 + c) * d + r..(c0 + c) * d + r + nr]);
    }
}

/// Eigenvalues (ascending) of the symmetric tridiagonal matrix with this diagonal and subdiagonal
/// (faer's implicit QR; no eigenvectors).
fn tridiagonal_eigenvalues(diag: &[f64], sub: &[f64]) -> Result<Vec<f64>> {
    let n = diag.len();
    let mut sub_full = sub.to_vec();
    sub_full.resize(n, 0.0);
    let mut s = vec![0.0; n];
    let req = faer::linalg::temp_mat_scratch::<f64>(n, 1).array(2);
    let mut buf = MemBuffer::new(req);
    faer::linalg::evd::tridiagonal_self_adjoint_evd(
        DiagRef::from_slice(diag),
        DiagRef::from_slice(&sub_full),
        DiagMut::from_slice_mut(&mut s),
        None,
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|e| MetricsError::Numerical(format!("tridiagonal eigenvalues: {e:?}")))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A random symmetric matrix (full storage; the upper triangle mirrors the lower).
    fn random_symmetric(d: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut a = vec![0.0; d * d];
        for c in 0..d {
            for r in c..d {
                let x = rng.random_range(-1.0..1.0);
                a[r + c * d] = x;
                a[c + r * d] = x;
            }
        }
        a
    }

    fn faer_eigenvalues(a: &[f64], d: usize) -> Vec<f64> {
        MatRef::from_column_major_slice(a, d, d).self_adjoint_eigenvalues(Side::Lower).unwrap()
    }

    fn frobenius(a: &[f64]) -> f64 {
        a.iter().map(|x| x * x).sum::<f64>().sqrt()
    }

    /// Reduces a copy with half-bandwidth `b`; checks that what is left is tridiagonal and that
    /// its eigenvalues are faer's one-stage ones, to within 1e-13 ||A||_F.
    fn check(a: &[f64], d: usize, b: usize) -> std::result::Result<(), String> {
        let expect = faer_eigenvalues(a, d);
        let mut work = a.to_vec();
        let (diag, sub) = tridiagonalise(&mut work, d, b);
        let norm = frobenius(a).max(f64::MIN_POSITIVE);
        for c in 0..d {
            for r in c + 2..d {
                if work[r + c * d].abs() > 1e-13 * norm {
                    return Err(format!("d {d} b {b}: ({r}, {c}) = {:e} left outside the tridiagonal", work[r + c * d]));
                }
            }
        }
        let got = tridiagonal_eigenvalues(&diag, &sub).unwrap();
        for (i, (g, e)) in got.iter().zip(&expect).enumerate() {
            if (g - e).abs() > 1e-13 * norm {
                return Err(format!("d {d} b {b}: eigenvalue {i}: {g} against faer's {e}"));
            }
        }
        Ok(())
    }

    #[test]
    fn two_stage_matches_faer_on_random_matrices() {
        // Several panels, partial last panels and bands wider than what is left.
        for (d, b) in [(1, 4), (2, 4), (3, 2), (5, 4), (33, 8), (64, 8), (65, 16), (97, 32), (130, 32), (200, 7), (257, 32)] {
            check(&random_symmetric(d, d as u64), d, b).unwrap();
        }
    }

    #[test]
    fn two_stage_handles_structured_matrices() {
        let d = 150;
        // Diagonal: every reflector is the identity (tau = 0).
        let mut diag = vec![0.0; d * d];
        (0..d).for_each(|i| diag[i + i * d] = i as f64 - 70.0);
        check(&diag, d, 32).unwrap();
        // Already tridiagonal, and zero.
        let mut tri = diag.clone();
        (0..d - 1).for_each(|i| {
            tri[i + 1 + i * d] = 0.5;
            tri[i + (i + 1) * d] = 0.5;
        });
        check(&tri, d, 32).unwrap();
        check(&vec![0.0; d * d], d, 32).unwrap();
        // Low rank, positive semi-definite (a covariance of fewer samples than dimensions), with
        // entries of a large common scale.
        let x = random_symmetric(d, 9);
        let mut g = vec![0.0; d * d];
        for c in 0..d {
            for r in 0..d {
                g[r + c * d] = 1e6 * (0..10).map(|l| x[r + l * d] * x[c + l * d]).sum::<f64>();
            }
        }
        check(&g, d, 32).unwrap();
    }

    #[test]
    fn public_entry_matches_faer_above_and_below_the_two_stage_size() {
        for d in [TWO_STAGE_FROM - 1, TWO_STAGE_FROM, 300] {
            let a = random_symmetric(d, 3);
            let expect = faer_eigenvalues(&a, d);
            let got = symmetric_eigenvalues(&mut a.clone(), d).unwrap();
            let norm = frobenius(&a);
            assert!(got.iter().zip(&expect).all(|(g, e)| (g - e).abs() < 1e-13 * norm), "d {d}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Any symmetric matrix, any band: the reduction is an orthogonal similarity.
        #[test]
        fn reduction_keeps_the_eigenvalues(d in 1usize..90, b in 1usize..20, seed in 0u64..1000) {
            prop_assert!(check(&random_symmetric(d, seed), d, b).is_ok(), "{:?}", check(&random_symmetric(d, seed), d, b));
        }
    }
}
