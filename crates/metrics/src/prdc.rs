//! Nearest-neighbour metrics on feature sets.
//!
//! - k-NN precision and recall (Kynkaanniemi et al. 2019, "Improved precision and recall"): the
//!   real manifold is the union of balls around each real sample with radius its distance to its
//!   k-th nearest real neighbour; precision is the share of fake samples inside it; recall swaps
//!   the roles.
//! - density and coverage (Naeem et al. 2020): density = (1 / (k m)) sum_j #{i : fake_j in
//!   B(real_i, r_i)}, coverage = share of real samples whose ball holds at least one fake sample.
//! - fixed-radius precision/recall (seed 001 section 16.4): one radius tau for every ball.
//!
//! [`prdc`] computes the first four exactly as the reference `prdc` package (clovaai/prdc,
//! `compute_prdc`) does: Euclidean distances, radii = k-th nearest other sample of the same set,
//! strict inequalities (`distance < radius`). Kynkaanniemi et al.'s own code uses `<=`; the two
//! differ only on exact ties. Distances use the expansion ||a||^2 + ||b||^2 - 2 a.b (clamped at 0),
//! as scikit-learn's `euclidean_distances` does, through a blocked GEMM, one block of rows at a
//! time so memory stays at a block of the distance matrix.

use rayon::prelude::*;

use crate::linalg::gemm_rowmajor;
use crate::{same_cols, MetricsError, Result, Rows};

/// Rows of a distance block (block x n distances in memory at once).
const BLOCK: usize = 512;

/// Squared Euclidean norm of every row.
fn sq_norms(x: Rows) -> Vec<f64> {
    (0..x.rows()).map(|i| x.row(i).iter().map(|v| v * v).sum()).collect()
}

/// Euclidean distances from rows `a0..a1` of `a` to every row of `b`, row-major
/// `(a1 - a0) x b.rows()`.
fn distance_block(a: Rows, an: &[f64], a0: usize, a1: usize, b: Rows, bn: &[f64]) -> Vec<f64> {
    let d = a.cols();
    let nb = b.rows();
    // G = A[a0..a1] B^T: A rows row-major (rs d, cs 1); B^T (d x nb): B^T(l, j) = b[j d + l].
    let mut g = gemm_rowmajor(a1 - a0, d, nb, &a.data()[a0 * d..a1 * d], d, 1, b.data(), 1, d);
    g.par_chunks_mut(nb).enumerate().for_each(|(r, row)| {
        let ai = an[a0 + r];
        for (v, bj) in row.iter_mut().zip(bn) {
            *v = (ai + bj - 2.0 * *v).max(0.0).sqrt();
        }
    });
    g
}

/// Distance of every row of `x` to its `k`-th nearest *other* row of `x` (the radius of its
/// k-NN ball). Needs `1 <= k < rows`.
pub fn kth_neighbour_distances(x: Rows, k: usize, name: &'static str) -> Result<Vec<f64>> {
    if k == 0 || k >= x.rows() {
        return Err(MetricsError::invalid(name, format!("{} rows: k = {k} needs at least k + 1 rows and k >= 1", x.rows())));
    }
    let norms = sq_norms(x);
    let n = x.rows();
    let mut radii = vec![0.0; n];
    for a0 in (0..n).step_by(BLOCK) {
        let a1 = (a0 + BLOCK).min(n);
        let mut dist = distance_block(x, &norms, a0, a1, x, &norms);
        radii[a0..a1].par_iter_mut().zip(dist.par_chunks_mut(n)).enumerate().for_each(|(r, (out, row))| {
            row[a0 + r] = f64::INFINITY; // leave the sample itself out
            let (_, kth, _) = row.select_nth_unstable_by(k - 1, |p, q| p.total_cmp(q));
            *out = *kth;
        });
    }
    Ok(radii)
}

/// Precision, recall, density and coverage of a fake set against a real one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prdc {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

/// Precision and recall (Kynkaanniemi et al. 2019) and density and coverage (Naeem et al. 2020)
/// with `k` nearest neighbours, as `prdc.compute_prdc(real, fake, k)`. The papers' defaults are
/// k = 3 for precision/recall and k = 5 for density/coverage; call twice for both.
pub fn prdc(real: Rows, fake: Rows, k: usize) -> Result<Prdc> {
    same_cols(&real, &fake)?;
    let r_real = kth_neighbour_distances(real, k, "real")?;
    let r_fake = kth_neighbour_distances(fake, k, "fake")?;
    let (nr, nf) = (real.rows(), fake.rows());
    let rn = sq_norms(real);
    let fnorm = sq_norms(fake);
    let mut in_real_balls = vec![0u64; nf]; // #{i : d(real_i, fake_j) < r_real_i}
    let mut recalled = vec![false; nr]; // some fake_j with d(real_i, fake_j) < r_fake_j
    let mut nearest_fake = vec![f64::INFINITY; nr]; // min_j d(real_i, fake_j)
    for f0 in (0..nf).step_by(BLOCK) {
        let f1 = (f0 + BLOCK).min(nf);
        let dist = distance_block(fake, &fnorm, f0, f1, real, &rn);
        let (rec, near) = dist
            .par_chunks(nr)
            .zip(in_real_balls[f0..f1].par_iter_mut())
            .enumerate()
            .fold(
                || (vec![false; nr], vec![f64::INFINITY; nr]),
                |(mut rec, mut near), (r, (row, count))| {
                    let rf = r_fake[f0 + r];
                    let mut c = 0u64;
                    for (i, &dij) in row.iter().enumerate() {
                        c += (dij < r_real[i]) as u64;
                        rec[i] |= dij < rf;
                        if dij < near[i] {
                            near[i] = dij;
                        }
                    }
                    *count = c;
                    (rec, near)
                },
            )
            .reduce(
                || (vec![false; nr], vec![f64::INFINITY; nr]),
                |(mut r1, mut n1), (r2, n2)| {
                    r1.iter_mut().zip(r2).for_each(|(a, b)| *a |= b);
                    n1.iter_mut().zip(n2).for_each(|(a, b)| *a = a.min(b));
                    (r1, n1)
                },
            );
        recalled.iter_mut().zip(rec).for_each(|(a, b)| *a |= b);
        nearest_fake.iter_mut().zip(near).for_each(|(a, b)| *a = a.min(b));
    }
    let precision = in_real_balls.iter().filter(|&&c| c > 0).count() as f64 / nf as f64;
    let density = in_real_balls.iter().sum::<u64>() as f64 / (k as f64 * nf as f64);
    let recall = recalled.iter().filter(|&&b| b).count() as f64 / nr as f64;
    let coverage = nearest_fake.iter().zip(&r_real).filter(|(d, r)| d < r).count() as f64 / nr as f64;
    Ok(Prdc { precision, recall, density, coverage })
}

/// Nearest-neighbour distances between two sets: for each fake row its nearest real row's
/// distance, and for each real row its nearest fake row's distance.
pub fn cross_nearest(real: Rows, fake: Rows) -> Result<(Vec<f64>, Vec<f64>)> {
    same_cols(&real, &fake)?;
    let (nr, nf) = (real.rows(), fake.rows());
    let rn = sq_norms(real);
    let fnorm = sq_norms(fake);
    let mut fake_to_real = vec![f64::INFINITY; nf];
    let mut real_to_fake = vec![f64::INFINITY; nr];
    for f0 in (0..nf).step_by(BLOCK) {
        let f1 = (f0 + BLOCK).min(nf);
        let dist = distance_block(fake, &fnorm, f0, f1, real, &rn);
        for (r, row) in dist.chunks(nr).enumerate() {
            for (i, &d) in row.iter().enumerate() {
                fake_to_real[f0 + r] = fake_to_real[f0 + r].min(d);
                real_to_fake[i] = real_to_fake[i].min(d);
            }
        }
    }
    Ok((fake_to_real, real_to_fake))
}

/// Fixed-radius precision and recall of seed 001 section 16.4 at each radius `tau`:
/// Precision(tau) = (1/m) sum_j 1{fake_j within tau of some real sample} (closed balls),
/// Recall(tau) = (1/n) sum_i 1{real_i within tau of some fake sample}. Returns
/// `(tau, precision, recall)` per radius.
pub fn fixed_radius(real: Rows, fake: Rows, taus: &[f64]) -> Result<Vec<(f64, f64, f64)>> {
    if let Some(t) = taus.iter().find(|t| !(t.is_finite() && **t >= 0.0)) {
        return Err(MetricsError::invalid("tau", format!("{t} is not a finite radius >= 0")));
    }
    let (f2r, r2f) = cross_nearest(real, fake)?;
    Ok(taus
        .iter()
        .map(|&t| {
            let p = f2r.iter().filter(|&&d| d <= t).count() as f64 / f2r.len() as f64;
            let r = r2f.iter().filter(|&&d| d <= t).count() as f64 / r2f.len() as f64;
            (t, p, r)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force with direct differences (no norm expansion), strict inequalities.
    fn brute(real: &[Vec<f64>], fake: &[Vec<f64>], k: usize) -> Prdc {
        let dist = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
        let radii = |s: &[Vec<f64>]| -> Vec<f64> {
            (0..s.len())
                .map(|i| {
                    let mut d: Vec<f64> = (0..s.len()).filter(|&j| j != i).map(|j| dist(&s[i], &s[j])).collect();
                    d.sort_by(f64::total_cmp);
                    d[k - 1]
                })
                .collect()
        };
        let (rr, rf) = (radii(real), radii(fake));
        let m = fake.len() as f64;
        let n = real.len() as f64;
        let precision = fake.iter().filter(|f| real.iter().zip(&rr).any(|(r, ri)| dist(r, f) < *ri)).count() as f64 / m;
        let recall = real.iter().filter(|r| fake.iter().zip(&rf).any(|(f, fj)| dist(r, f) < *fj)).count() as f64 / n;
        let density = fake.iter().map(|f| real.iter().zip(&rr).filter(|(r, ri)| dist(r, f) < **ri).count()).sum::<usize>() as f64 / (k as f64 * m);
        let coverage = real
            .iter()
            .zip(&rr)
            .filter(|(r, ri)| fake.iter().map(|f| dist(r, f)).fold(f64::INFINITY, f64::min) < **ri)
            .count() as f64
            / n;
        Prdc { precision, recall, density, coverage }
    }

    /// Integer coordinates below 10^6: every squared distance and dot product is exact in f64,
    /// so the norm expansion and direct differences give the same distances bit for bit and
    /// the comparisons below are exact (ties have probability ~0 at this range).
    fn cloud(n: usize, d: usize, seed: u64, shift: f64) -> Vec<Vec<f64>> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..n).map(|_| (0..d).map(|_| rng.random_range(0..1_000_000) as f64 + shift).collect()).collect()
    }

    #[test]
    fn matches_brute_force_across_block_boundaries() {
        // 600 rows > BLOCK, so several blocks and the reductions across them are exercised.
        let real = cloud(600, 5, 1, 0.0);
        let fake = cloud(530, 5, 2, 300_000.0);
        let flat = |v: &[Vec<f64>]| v.iter().flatten().copied().collect::<Vec<f64>>();
        let (rf, ff) = (flat(&real), flat(&fake));
        for k in [1, 3, 5] {
            let got = prdc(Rows::new(&rf, 5, "real").unwrap(), Rows::new(&ff, 5, "fake").unwrap(), k).unwrap();
            let want = brute(&real, &fake, k);
            assert_eq!(got, want, "k = {k}");
        }
    }

    #[test]
    fn identical_sets_have_full_precision_recall_coverage_and_unit_density_on_average() {
        let real = cloud(200, 3, 5, 0.0);
        let flat: Vec<f64> = real.iter().flatten().copied().collect();
        let x = Rows::new(&flat, 3, "real").unwrap();
        let p = prdc(x, x, 5).unwrap();
        assert_eq!((p.precision, p.recall, p.coverage), (1.0, 1.0, 1.0));
        // Density of the real set against itself: each real ball holds its centre plus its k-1
        // nearer neighbours strictly inside (no ties in continuous data): sum = n k exactly.
        assert!((p.density - 1.0).abs() < 1e-12, "{}", p.density);
    }

    #[test]
    fn far_away_fakes_score_zero_and_fixed_radius_is_monotone() {
        let real = cloud(100, 2, 7, 0.0);
        let fake = cloud(80, 2, 8, 2e7);
        let (rf, ff): (Vec<f64>, Vec<f64>) = (real.iter().flatten().copied().collect(), fake.iter().flatten().copied().collect());
        let (r, f) = (Rows::new(&rf, 2, "real").unwrap(), Rows::new(&ff, 2, "fake").unwrap());
        let p = prdc(r, f, 3).unwrap();
        assert_eq!((p.precision, p.recall, p.density, p.coverage), (0.0, 0.0, 0.0, 0.0));
        let curve = fixed_radius(r, f, &[0.0, 1e6, 6e7, 1e8]).unwrap();
        assert_eq!((curve[0].1, curve[0].2), (0.0, 0.0));
        assert_eq!((curve[3].1, curve[3].2), (1.0, 1.0));
        assert!(curve.windows(2).all(|w| w[1].1 >= w[0].1 && w[1].2 >= w[0].2));
        assert!(fixed_radius(r, f, &[-1.0]).is_err());
        assert!(prdc(r, f, 0).is_err() && prdc(r, f, 80).is_err());
    }
}
