//! Metric identities checked against independent truths over random configurations.

use metrics::frechet::{frechet_parts, trace_sqrt_product, Gaussian, TraceSqrt};
use metrics::{fid, prdc, Rows};
use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

fn normal_rows(n: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n * d).map(|_| StandardNormal.sample(&mut rng)).collect()
}

/// Samples whose empirical mean and covariance (divisor n - 1) are exactly `mu` and `cov`:
/// draw, centre, whiten with the Cholesky factor of the empirical covariance, colour with that
/// of `cov`, shift.
fn exact_moment_samples(n: usize, mu: &[f64], cov: &DMatrix<f64>, seed: u64) -> Vec<f64> {
    let d = mu.len();
    let x = DMatrix::from_row_slice(n, d, &normal_rows(n, d, seed));
    let mean = x.row_mean();
    let xc = DMatrix::from_fn(n, d, |i, j| x[(i, j)] - mean[j]);
    let emp = xc.transpose() * &xc / (n as f64 - 1.0);
    let l_emp = emp.cholesky().unwrap().l();
    let l_t = cov.clone().cholesky().unwrap().l();
    // rows z = L_t L_emp^{-1} xc  =>  cov(z) = L_t L_t^T
    let w = l_emp.solve_lower_triangular(&xc.transpose()).unwrap();
    let z = l_t * w;
    let mut out = Vec::with_capacity(n * d);
    for i in 0..n {
        for j in 0..d {
            out.push(z[(j, i)] + mu[j]);
        }
    }
    out
}

fn spd2(a: f64, b: f64, c: f64) -> DMatrix<f64> {
    // [[a, c], [c, b]] made positive definite by construction below.
    DMatrix::from_row_slice(2, 2, &[a, c, c, b])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// In two dimensions, tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for a symmetric PSD M, and
    /// M = S1^1/2 S2 S1^1/2 has tr M = tr(S1 S2), det M = det S1 det S2: an independent closed
    /// form for the trace term.
    #[test]
    fn trace_sqrt_matches_the_2x2_closed_form(a1 in 0.1f64..5.0, b1 in 0.1f64..5.0, r1 in -0.95f64..0.95,
                                             a2 in 0.1f64..5.0, b2 in 0.1f64..5.0, r2 in -0.95f64..0.95) {
        let s1 = spd2(a1, b1, r1 * (a1 * b1).sqrt());
        let s2 = spd2(a2, b2, r2 * (a2 * b2).sqrt());
        let truth = ((&s1 * &s2).trace() + 2.0 * (s1.determinant() * s2.determinant()).sqrt()).sqrt();
        for how in [TraceSqrt::Cholesky, TraceSqrt::Eigen] {
            let (t, _) = trace_sqrt_product(&s1, &s2, how).unwrap();
            prop_assert!((t - truth).abs() < 1e-12 * truth, "{:?}: {} vs {}", how, t, truth);
        }
    }

    /// FID of feature sets with exactly prescribed moments equals the closed-form Frechet
    /// distance of those moments (2-D closed form above), to rounding.
    #[test]
    fn fid_of_samples_with_known_moments_is_the_closed_form(m1 in prop::array::uniform2(-3.0f64..3.0), m2 in prop::array::uniform2(-3.0f64..3.0),
                                                          a1 in 0.2f64..4.0, b1 in 0.2f64..4.0, r1 in -0.9f64..0.9,
                                                          a2 in 0.2f64..4.0, b2 in 0.2f64..4.0, r2 in -0.9f64..0.9, seed in 0u64..1000) {
        let s1 = spd2(a1, b1, r1 * (a1 * b1).sqrt());
        let s2 = spd2(a2, b2, r2 * (a2 * b2).sqrt());
        let x1 = exact_moment_samples(300, &m1, &s1, seed);
        let x2 = exact_moment_samples(200, &m2, &s2, seed + 1);
        let got = fid(Rows::new(&x1, 2, "real").unwrap(), Rows::new(&x2, 2, "fake").unwrap()).unwrap();
        let tr_sqrt = ((&s1 * &s2).trace() + 2.0 * (s1.determinant() * s2.determinant()).sqrt()).sqrt();
        let mean = (m1[0] - m2[0]).powi(2) + (m1[1] - m2[1]).powi(2);
        let truth = mean + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
        let scale = mean + s1.trace() + s2.trace();
        prop_assert!((got - truth).abs() < 1e-9 * scale, "{} vs {}", got, truth);
    }

    /// FID(X, X) = 0 and FID is symmetric, in higher dimension, with both routes.
    #[test]
    fn fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric(d in 2usize..24, seed in 0u64..1000) {
        let n = 3 * d + 10;
        let x = normal_rows(n, d, seed);
        let y: Vec<f64> = normal_rows(n + 7, d, seed + 99).iter().map(|v| 1.5 * v + 0.3).collect();
        let rx = Rows::new(&x, d, "real").unwrap();
        let ry = Rows::new(&y, d, "fake").unwrap();
        let (gx, gy) = (Gaussian::fit(rx).unwrap(), Gaussian::fit(ry).unwrap());
        let same = frechet_parts(&gx, &gx, TraceSqrt::Auto).unwrap();
        prop_assert!(same.distance().abs() < 1e-10 * gx.cov.trace(), "{}", same.distance());
        let ab = frechet_parts(&gx, &gy, TraceSqrt::Cholesky).unwrap().distance();
        let ba = frechet_parts(&gy, &gx, TraceSqrt::Eigen).unwrap().distance();
        prop_assert!((ab - ba).abs() < 1e-9 * ab.abs().max(1.0), "{} vs {}", ab, ba);
        prop_assert!(ab > 0.0);
    }

    /// Precision of (real, fake) is the recall of (fake, real), density and coverage of identical
    /// sets are 1, and every score lies in its range.
    #[test]
    fn prdc_identities(n in 8usize..60, m in 8usize..60, d in 1usize..6, k in 1usize..6, seed in 0u64..1000) {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        // Integer coordinates: distances are exact, so the identities hold bit for bit.
        let mut draw = |rows: usize| (0..rows * d).map(|_| rng.random_range(0..100_000) as f64).collect::<Vec<f64>>();
        let (a, b) = (draw(n), draw(m));
        let (ra, rb) = (Rows::new(&a, d, "real").unwrap(), Rows::new(&b, d, "fake").unwrap());
        let k = k.min(n - 1).min(m - 1);
        let ab = prdc(ra, rb, k).unwrap();
        let ba = prdc(rb, ra, k).unwrap();
        prop_assert_eq!(ab.precision, ba.recall);
        prop_assert_eq!(ab.recall, ba.precision);
        for v in [ab.precision, ab.recall, ab.coverage] {
            prop_assert!((0.0..=1.0).contains(&v));
        }
        prop_assert!(ab.density >= 0.0 && ab.density <= n as f64 / k as f64);
        let aa = prdc(ra, ra, k).unwrap();
        prop_assert_eq!((aa.precision, aa.recall, aa.coverage), (1.0, 1.0, 1.0));
        // Density of a set against itself: sum_i #{j : d(i, j) < r_i} = sum_i (1 + (k - 1)) = n k
        // when no distance ties the k-th one (the k-th neighbour sits on the boundary, and the
        // inequality is strict); ties can only remove neighbours from the open ball.
        prop_assert!(aa.density <= 1.0);
        let tie_free = (0..n).all(|i| {
            let mut ds: Vec<f64> = (0..n).filter(|&j| j != i).map(|j| {
                (0..d).map(|c| (a[i * d + c] - a[j * d + c]).powi(2)).sum::<f64>()
            }).collect();
            ds.sort_by(f64::total_cmp);
            ds[k - 1] > 0.0 && (k < 2 || ds[k - 2] < ds[k - 1])
        });
        if tie_free {
            prop_assert_eq!(aa.density, 1.0);
        }
    }
}

#[test]
fn fid_of_two_large_gaussian_samples_approaches_the_population_value() {
    // Population: N(0, I) vs N(mu, diag(4)) in d = 4: FID = |mu|^2 + 4 + 16 - 2 * 4 * 2 = |mu|^2 + 4.
    let d = 4;
    let n = 20_000;
    let x = normal_rows(n, d, 1);
    let y: Vec<f64> = normal_rows(n, d, 2).iter().enumerate().map(|(i, v)| 2.0 * v + if i % d == 0 { 1.0 } else { 0.0 }).collect();
    let f = fid(Rows::new(&x, d, "real").unwrap(), Rows::new(&y, d, "fake").unwrap()).unwrap();
    assert!((f - 5.0).abs() < 0.15, "{f}");
    let g = Gaussian::new(vec![0.0; 2], DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 2.0]))).unwrap();
    assert!(metrics::frechet_distance(&g, &g).unwrap().abs() < 1e-14);
}
