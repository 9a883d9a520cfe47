//! Where the time of FID and PRDC goes (issue 10): `cargo run --release -p metrics --example
//! profile [fid_n fid_d prdc_n prdc_d k]`. Prints seconds per phase on random Gaussian features;
//! the phases of the trace term are re-run here with faer's kernels one by one, as
//! `frechet::trace_sqrt_product` runs them. Nothing here is a test (timings are not asserted).

use std::time::Instant;

use faer::linalg::matmul::triangular::{matmul as tri_matmul, BlockStructure as BS};
use faer::{Accum, Mat, MatRef, Par, Side};
use metrics::frechet::{trace_sqrt_product, Gaussian, TraceSqrt};
use metrics::Rows;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn gaussian(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n * d).map(|_| StandardNormal.sample(&mut rng)).collect()
}

fn time<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let v = f();
    println!("{what:<52} {:>8.3} s", t.elapsed().as_secs_f64());
    v
}

fn main() {
    let a: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().expect("sizes are integers")).collect();
    let get = |i: usize, def: usize| a.get(i).copied().unwrap_or(def);
    let (n, d, pn, pd, k) = (get(0, 10_000), get(1, 2048), get(2, 10_000), get(3, 64), get(4, 5));
    println!("rayon threads {}; FID n = {n}, d = {d}; PRDC n = {pn}, d = {pd}, k = {k}", rayon::current_num_threads());
    let (x, y) = (gaussian(n, d, 1), gaussian(n, d, 2));
    let g1 = time("Gaussian::fit (mean + covariance), set 1", || Gaussian::fit(Rows::new(&x, d, "real").unwrap()).unwrap());
    let g2 = time("Gaussian::fit (mean + covariance), set 2", || Gaussian::fit(Rows::new(&y, d, "fake").unwrap()).unwrap());
    time("trace_sqrt_product, Cholesky route", || trace_sqrt_product(&g1.cov, &g2.cov, TraceSqrt::Auto).unwrap());
    time("trace_sqrt_product, eigen route", || trace_sqrt_product(&g1.cov, &g2.cov, TraceSqrt::Eigen).unwrap());
    // The Cholesky route's steps one by one.
    let (s1, s2) = (MatRef::from_column_major_slice(g1.cov.as_slice(), d, d), MatRef::from_column_major_slice(g2.cov.as_slice(), d, d));
    let llt = time("  Cholesky of S_1 (faer llt)", || s1.llt(Side::Lower).unwrap());
    let l = llt.L();
    let mut w = Mat::<f64>::zeros(d, d);
    time("  W = S_2 L (triangular GEMM)", || {
        tri_matmul(w.as_mut(), BS::Rectangular, Accum::Replace, s2, BS::Rectangular, l, BS::TriangularLower, 1.0, Par::rayon(0))
    });
    let mut m = Mat::<f64>::zeros(d, d);
    time("  M = L^T W, lower triangle", || {
        tri_matmul(m.as_mut(), BS::TriangularLower, Accum::Replace, l.transpose(), BS::TriangularUpper, w.as_ref(), BS::Rectangular, 1.0, Par::rayon(0))
    });
    time("  eigenvalues of M (tridiagonalisation + QR)", || m.self_adjoint_eigenvalues(Side::Lower).unwrap());
    faer::set_global_parallelism(Par::Seq);
    time("  eigenvalues of M, sequential", || m.self_adjoint_eigenvalues(Side::Lower).unwrap());
    faer::set_global_parallelism(Par::rayon(0));
    time("  nalgebra symmetric_eigenvalues of M (the old solver)", || {
        nalgebra::DMatrix::from_fn(d, d, |i, j| m[(i.max(j), i.min(j))]).symmetric_eigenvalues()
    });

    let (pr, pf) = (gaussian(pn, pd, 3), gaussian(pn, pd, 4));
    let (r, f) = (Rows::new(&pr, pd, "real").unwrap(), Rows::new(&pf, pd, "fake").unwrap());
    time("kth_neighbour_distances (real)", || metrics::prdc::kth_neighbour_distances(r, k, "real").unwrap());
    let p = time("prdc (both radii + the cross distances)", || metrics::prdc(r, f, k).unwrap());
    println!("{p:?}");
}
