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
//! strict inequalities (`distance < radius`), and the package's arithmetic for the averages.
//! Kynkaanniemi et al.'s own code uses `<=`; the two differ only on exact ties.
//!
//! How (issue 10): squared distances ||a||^2 + ||b||^2 - 2 a.b (clamped at 0, in
//! scikit-learn's `euclidean_distances` order of operations) come tile by tile (256 x 256) from
//! faer's GEMM and are consumed while the tile is in cache, so no distance matrix is ever stored.
//! Tiles are spread over rayon's threads. Within a set, d(i, j) = d(j, i): only tiles on and
//! above the diagonal are computed, each feeding both its rows and its columns, and every row
//! keeps its k smallest squared distances as a sorted list (a candidate is usually rejected by
//! one comparison with the current k-th). Square roots are taken only of the k-th values (sqrt
//! is monotone, so the k-th smallest distance is the root of the k-th smallest square); the
//! cross-set comparisons `sqrt(x) < r` are made as `x <= t(r)` with t(r) the largest double
//! whose correctly rounded root is below r ([`sq_threshold`]), which decides each comparison
//! exactly as the package's square-rooted distances do. The tiling, the top-k lists and the
//! threshold are hand-written because no maintained crate offers a fused "GEMM + per-row
//! k-smallest" kernel; the arithmetic itself is faer's.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use rayon::prelude::*;

use crate::{same_cols, MetricsError, Result, Rows};

/// Side of a distance tile: 256 x 256 f64 = 512 KiB, one core's L2 cache on the 2-core
/// benchmark machine; the GEMM per tile (k = d inner products) is large enough for faer's
/// kernels to run near peak.
const TILE: usize = 256;
/// Largest k for which each row keeps its k smallest distances as a sorted list while tiles
/// stream by (insertion costs O(k)); above it, strips of whole rows are formed and selected.
const STREAM_K: usize = 64;
/// Rows per strip in the large-k route.
const STRIP: usize = 32;

/// A feature set and the squared norms of its rows (as scikit-learn's `row_norms`).
struct Set<'a> {
    x: Rows<'a>,
    norms: Vec<f64>,
}

impl<'a> Set<'a> {
    fn new(x: Rows<'a>) -> Self {
        let norms = (0..x.rows()).map(|i| x.row(i).iter().map(|v| v * v).sum()).collect();
        Self { x, norms }
    }
    fn rows(&self) -> usize {
        self.x.rows()
    }
}

/// Squared distances between rows `i0..i0 + bi` of `a` and rows `j0..j0 + bj` of `b`, into
/// `buf[..bi * bj]` column-major (entry (i, j) at `i + j * bi`). One sequential faer GEMM (the
/// parallelism is over tiles), then (-2 a.b + |a|^2) + |b|^2 clamped at 0, the order of
/// operations of scikit-learn's `euclidean_distances`.
fn sq_tile(a: &Set, i0: usize, bi: usize, b: &Set, j0: usize, bj: usize, buf: &mut [f64]) {
    let d = a.x.cols();
    let buf = &mut buf[..bi * bj];
    let lhs = MatRef::from_row_major_slice(&a.x.data()[i0 * d..(i0 + bi) * d], bi, d);
    let rhs = MatRef::from_row_major_slice(&b.x.data()[j0 * d..(j0 + bj) * d], bj, d).transpose();
    matmul(MatMut::from_column_major_slice_mut(buf, bi, bj), Accum::Replace, lhs, rhs, 1.0, Par::Seq);
    let an = &a.norms[i0..i0 + bi];
    for (col, &nb) in buf.chunks_exact_mut(bi).zip(&b.norms[j0..j0 + bj]) {
        for (v, &na) in col.iter_mut().zip(an) {
            *v = ((-2.0 * *v + na) + nb).max(0.0);
        }
    }
}

/// The `(row block, column block)` pairs of tiles covering an `n x m` matrix; with `upper`,
/// only blocks on and above the diagonal (n = m).
fn tiles(n: usize, m: usize, upper: bool) -> Vec<(usize, usize)> {
    let (bn, bm) = (n.div_ceil(TILE), m.div_ceil(TILE));
    (0..bn).flat_map(|i| ((if upper { i } else { 0 })..bm).map(move |j| (i, j))).collect()
}

/// The k smallest values offered to each of n rows, each row's list sorted ascending and padded
/// with +inf.
struct Smallest {
    k: usize,
    v: Vec<f64>,
}

impl Smallest {
    fn new(n: usize, k: usize) -> Self {
        Self { k, v: vec![f64::INFINITY; n * k] }
    }
    #[inline]
    fn kth(&self, r: usize) -> f64 {
        self.v[r * self.k + self.k - 1]
    }
    /// Keeps `x` if it is below row `r`'s current k-th value (ties change nothing: the k-th
    /// smallest of the multiset is the same either way).
    #[inline]
    fn offer(&mut self, r: usize, x: f64) {
        let row = &mut self.v[r * self.k..(r + 1) * self.k];
        let mut p = self.k - 1;
        if x < row[p] {
            while p > 0 && row[p - 1] > x {
                row[p] = row[p - 1];
                p -= 1;
            }
            row[p] = x;
        }
    }
    fn merge(mut self, other: Self) -> Self {
        let k = self.k;
        for (r, row) in other.v.chunks_exact(k).enumerate() {
            for &x in row.iter().take_while(|&&x| x < f64::INFINITY) {
                self.offer(r, x);
            }
        }
        self
    }
}

/// Squared distance of every row to its k-th nearest other row, streaming over the tiles on and
/// above the diagonal (`k <= STREAM_K`).
fn kth_sq_streaming(s: &Set, k: usize) -> Vec<f64> {
    let n = s.rows();
    let best = tiles(n, n, true)
        .par_iter()
        .fold(
            || (Smallest::new(n, k), vec![0.0; TILE * TILE]),
            |(mut best, mut buf), &(ib, jb)| {
                let (i0, j0) = (ib * TILE, jb * TILE);
                let (bi, bj) = (TILE.min(n - i0), TILE.min(n - j0));
                sq_tile(s, i0, bi, s, j0, bj, &mut buf);
                let t = &mut buf[..bi * bj];
                if ib == jb {
                    // A diagonal tile holds both d(i, j) and d(j, i): feed rows only, and leave
                    // each sample itself out.
                    (0..bi).for_each(|q| t[q + q * bi] = f64::INFINITY);
                    for col in t.chunks_exact(bi) {
                        for (ii, &x) in col.iter().enumerate() {
                            best.offer(i0 + ii, x);
                        }
                    }
                } else {
                    for (jj, col) in t.chunks_exact(bi).enumerate() {
                        let gj = j0 + jj;
                        let mut kj = best.kth(gj);
                        for (ii, &x) in col.iter().enumerate() {
                            best.offer(i0 + ii, x);
                            if x < kj {
                                best.offer(gj, x);
                                kj = best.kth(gj);
                            }
                        }
                    }
                }
                (best, buf)
            },
        )
        .map(|(best, _)| best)
        .reduce_with(Smallest::merge)
        .expect("at least one tile");
    (0..n).map(|r| best.kth(r)).collect()
}

/// The same for large k: strips of `STRIP` whole rows of squared distances, then a selection
/// per row.
fn kth_sq_strips(s: &Set, k: usize) -> Vec<f64> {
    let n = s.rows();
    let mut out = vec![0.0; n];
    out.par_chunks_mut(STRIP).enumerate().for_each_init(
        || (vec![0.0; STRIP * n], vec![0.0; n]),
        |(buf, row), (c, out)| {
            let r0 = c * STRIP;
            let bi = out.len();
            sq_tile(s, r0, bi, s, 0, n, buf);
            for (ii, o) in out.iter_mut().enumerate() {
                row.iter_mut().enumerate().for_each(|(j, v)| *v = buf[ii + j * bi]);
                row[r0 + ii] = f64::INFINITY; // leave the sample itself out
                let (_, kth, _) = row.select_nth_unstable_by(k - 1, f64::total_cmp);
                *o = *kth;
            }
        },
    );
    out
}

/// The largest double t with `t.sqrt() < r` (-1 when none >= 0 qualifies, i.e. r <= 0), so that
/// for every squared distance x >= 0, `x <= t` exactly when `x.sqrt() < r`: IEEE sqrt is
/// correctly rounded, hence non-decreasing, so the x that pass form an interval [0, t]. Found by
/// bisection over the bit patterns, which order non-negative doubles by value.
pub(crate) fn sq_threshold(r: f64) -> f64 {
    if !(r > 0.0) {
        return -1.0;
    }
    let (mut lo, mut hi) = (0u64, f64::INFINITY.to_bits()); // sqrt(0) < r; sqrt(inf) < r fails unless r = inf
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if f64::from_bits(mid).sqrt() < r {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    f64::from_bits(lo)
}

/// Distance of every row of `x` to its `k`-th nearest *other* row of `x` (the radius of its
/// k-NN ball). Needs `1 <= k < rows`.
pub fn kth_neighbour_distances(x: Rows, k: usize, name: &'static str) -> Result<Vec<f64>> {
    if k == 0 || k >= x.rows() {
        return Err(MetricsError::invalid(name, format!("{} rows: k = {k} needs at least k + 1 rows and k >= 1", x.rows())));
    }
    let s = Set::new(x);
    let sq = if k <= STREAM_K { kth_sq_streaming(&s, k) } else { kth_sq_strips(&s, k) };
    Ok(sq.into_iter().map(f64::sqrt).collect())
}

/// Precision, recall, density and coverage of a fake set against a real one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prdc {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

/// Per-sample tallies of the real x fake distances.
struct Cross {
    /// #{i : d(real_i, fake_j) < r_real_i}, per fake j
    in_real_balls: Vec<u64>,
    /// some fake j with d(real_i, fake_j) < r_fake_j, per real i
    recalled: Vec<bool>,
    /// some fake j with d(real_i, fake_j) < r_real_i, per real i (the nearest fake is inside
    /// real_i's ball, the package's `min(...) < radius`)
    covered: Vec<bool>,
}

impl Cross {
    fn new(nr: usize, nf: usize) -> Self {
        Self { in_real_balls: vec![0; nf], recalled: vec![false; nr], covered: vec![false; nr] }
    }
    fn merge(mut self, o: Self) -> Self {
        self.in_real_balls.iter_mut().zip(o.in_real_balls).for_each(|(a, b)| *a += b);
        self.recalled.iter_mut().zip(o.recalled).for_each(|(a, b)| *a |= b);
        self.covered.iter_mut().zip(o.covered).for_each(|(a, b)| *a |= b);
        self
    }
}

/// Precision and recall (Kynkaanniemi et al. 2019) and density and coverage (Naeem et al. 2020)
/// with `k` nearest neighbours, as `prdc.compute_prdc(real, fake, k)`. The papers' defaults are
/// k = 3 for precision/recall and k = 5 for density/coverage; call twice for both.
pub fn prdc(real: Rows, fake: Rows, k: usize) -> Result<Prdc> {
    same_cols(&real, &fake)?;
    let t_real: Vec<f64> = kth_neighbour_distances(real, k, "real")?.into_iter().map(sq_threshold).collect();
    let t_fake: Vec<f64> = kth_neighbour_distances(fake, k, "fake")?.into_iter().map(sq_threshold).collect();
    let (nr, nf) = (real.rows(), fake.rows());
    let (sr, sf) = (Set::new(real), Set::new(fake));
    let c = tiles(nr, nf, false)
        .par_iter()
        .fold(
            || (Cross::new(nr, nf), vec![0.0; TILE * TILE]),
            |(mut c, mut buf), &(ib, jb)| {
                let (i0, j0) = (ib * TILE, jb * TILE);
                let (bi, bj) = (TILE.min(nr - i0), TILE.min(nf - j0));
                sq_tile(&sr, i0, bi, &sf, j0, bj, &mut buf);
                let (tr, rec, cov) = (&t_real[i0..i0 + bi], &mut c.recalled[i0..i0 + bi], &mut c.covered[i0..i0 + bi]);
                for (jj, col) in buf[..bi * bj].chunks_exact(bi).enumerate() {
                    let tf = t_fake[j0 + jj];
                    let mut inside = 0u64;
                    for (((&x, &t), rec), cov) in col.iter().zip(tr).zip(rec.iter_mut()).zip(cov.iter_mut()) {
                        let b = x <= t;
                        inside += b as u64;
                        *cov |= b;
                        *rec |= x <= tf;
                    }
                    c.in_real_balls[j0 + jj] += inside;
                }
                (c, buf)
            },
        )
        .map(|(c, _)| c)
        .reduce_with(Cross::merge)
        .expect("at least one tile");
    let count = |v: &[bool]| v.iter().filter(|&&b| b).count() as f64;
    // The package's arithmetic: boolean means (count / n) and density as
    // (1 / k) * mean(counts), in that order, so the values agree to the last bit.
    let precision = c.in_real_balls.iter().filter(|&&v| v > 0).count() as f64 / nf as f64;
    let density = (1.0 / k as f64) * (c.in_real_balls.iter().sum::<u64>() as f64 / nf as f64);
    let recall = count(&c.recalled) / nr as f64;
    let coverage = count(&c.covered) / nr as f64;
    Ok(Prdc { precision, recall, density, coverage })
}

/// Nearest-neighbour distances between two sets: for each fake row its nearest real row's
/// distance, and for each real row its nearest fake row's distance.
pub fn cross_nearest(real: Rows, fake: Rows) -> Result<(Vec<f64>, Vec<f64>)> {
    same_cols(&real, &fake)?;
    let (nr, nf) = (real.rows(), fake.rows());
    let (sr, sf) = (Set::new(real), Set::new(fake));
    let fresh = || (vec![f64::INFINITY; nf], vec![f64::INFINITY; nr]);
    let (f2r, r2f) = tiles(nr, nf, false)
        .par_iter()
        .fold(
            || (fresh(), vec![0.0; TILE * TILE]),
            |((mut f2r, mut r2f), mut buf), &(ib, jb)| {
                let (i0, j0) = (ib * TILE, jb * TILE);
                let (bi, bj) = (TILE.min(nr - i0), TILE.min(nf - j0));
                sq_tile(&sr, i0, bi, &sf, j0, bj, &mut buf);
                for (jj, col) in buf[..bi * bj].chunks_exact(bi).enumerate() {
                    let mut m = f2r[j0 + jj];
                    for (&x, r) in col.iter().zip(&mut r2f[i0..i0 + bi]) {
                        m = m.min(x);
                        *r = r.min(x);
                    }
                    f2r[j0 + jj] = m;
                }
                ((f2r, r2f), buf)
            },
        )
        .map(|(m, _)| m)
        .reduce(fresh, |(mut a1, mut b1), (a2, b2)| {
            a1.iter_mut().zip(a2).for_each(|(a, b)| *a = a.min(b));
            b1.iter_mut().zip(b2).for_each(|(a, b)| *a = a.min(b));
            (a1, b1)
        });
    Ok((f2r.into_iter().map(f64::sqrt).collect(), r2f.into_iter().map(f64::sqrt).collect()))
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
        // The package's order: (1 / k) * mean(counts).
        let density = (1.0 / k as f64) * (fake.iter().map(|f| real.iter().zip(&rr).filter(|(r, ri)| dist(r, f) < **ri).count()).sum::<usize>() as f64 / m);
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
        // 600 and 530 rows: three tiles of 256 a side, partial last tiles, diagonal and
        // off-diagonal tiles and the reductions across them; k = 70 takes the strip route.
        let real = cloud(600, 5, 1, 0.0);
        let fake = cloud(530, 5, 2, 300_000.0);
        let flat = |v: &[Vec<f64>]| v.iter().flatten().copied().collect::<Vec<f64>>();
        let (rf, ff) = (flat(&real), flat(&fake));
        for k in [1, 3, 5, STREAM_K, STREAM_K + 6] {
            let got = prdc(Rows::new(&rf, 5, "real").unwrap(), Rows::new(&ff, 5, "fake").unwrap(), k).unwrap();
            let want = brute(&real, &fake, k);
            assert_eq!(got, want, "k = {k}");
        }
    }

    /// Points of a small integer grid: distances repeat, so many sit exactly on a radius, and
    /// the strict comparisons and the k-th value of tied distances are tested (every squared
    /// distance is an exact integer on both sides).
    #[test]
    fn exact_ties_on_a_grid_match_brute_force() {
        let grid = |n: usize, shift: i64, seed: u64| -> Vec<Vec<f64>> {
            use rand::{Rng, SeedableRng};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            (0..n).map(|_| (0..3).map(|_| (rng.random_range(0..6) + shift) as f64).collect()).collect()
        };
        let (real, fake) = (grid(300, 0, 11), grid(280, 1, 12)); // duplicates included
        let flat = |v: &[Vec<f64>]| v.iter().flatten().copied().collect::<Vec<f64>>();
        let (rf, ff) = (flat(&real), flat(&fake));
        for k in [1, 4, 9, 80] {
            let got = prdc(Rows::new(&rf, 3, "real").unwrap(), Rows::new(&ff, 3, "fake").unwrap(), k).unwrap();
            assert_eq!(got, brute(&real, &fake, k), "k = {k}");
        }
    }

    /// Both k-th neighbour routes (streamed top-k over the upper tiles, strips + selection)
    /// give the same radii, bit for bit, on continuous data.
    #[test]
    fn streaming_and_strip_radii_agree() {
        let x = cloud(700, 9, 21, 0.5);
        let flat: Vec<f64> = x.iter().flatten().copied().collect();
        let s = Set::new(Rows::new(&flat, 9, "real").unwrap());
        for k in [1, 2, 7, STREAM_K] {
            assert_eq!(kth_sq_streaming(&s, k), kth_sq_strips(&s, k), "k = {k}");
        }
    }

    proptest::proptest! {
        /// `x <= sq_threshold(r)` decides `x.sqrt() < r` for x around r^2 and anywhere.
        #[test]
        fn threshold_decides_the_rooted_comparison(r in 1e-300f64..1e150, steps in -4i64..5, x in 0f64..1e6) {
            let t = sq_threshold(r);
            proptest::prop_assert!(t.sqrt() < r);
            proptest::prop_assert!(f64::from_bits(t.to_bits() + 1).sqrt() >= r);
            let near = f64::from_bits(((r * r).to_bits() as i64 + steps).max(0) as u64);
            for y in [near, x, r * r] {
                proptest::prop_assert_eq!(y <= t, y.sqrt() < r, "y = {}", y);
            }
        }
    }

    #[test]
    fn threshold_edge_cases() {
        assert!(sq_threshold(0.0) < 0.0);
        assert_eq!(sq_threshold(f64::INFINITY), f64::MAX);
        assert_eq!(sq_threshold(1.0), f64::from_bits(1.0f64.to_bits() - 1));
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
