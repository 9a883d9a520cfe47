//! k-means clustering on [`Rows`], over linfa-clustering's `KMeans` (Lloyd iterations from
//! k-means++ seeds by default, best of `n_runs` by inertia), with the crate's error type and a
//! plain row-major result.
//!
//! Used by PRD ([`crate::prd`]) and by figures that cluster samples and then look at the centres.
//!
//! Reproducible: a fit is a function of the data and [`KMeansOptions`] alone, whatever the
//! number of threads: the seeds are drawn here from one sequential Xoshiro256Plus, and linfa's
//! parallel steps write each point's label and distance independently. So equal inputs give
//! bit-identical centres and labels (tested at 1, 2 and 3 threads).

use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_clustering::{KMeans, KMeansInit};
use ndarray::{Array1, Array2, ArrayView2};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;
use rayon::prelude::*;

use crate::{MetricsError, Result, Rows};

/// Settings of [`kmeans`]. The defaults are scikit-learn's `KMeans` (init="k-means++",
/// n_init=10, max_iter=300, tol=1e-4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KMeansOptions {
    /// Lloyd iterations per run, at most.
    pub max_iter: usize,
    /// Independent starts (each seeded by `init`); the one with the least inertia is kept.
    pub n_runs: usize,
    /// Convergence: a run stops once the squared Frobenius norm of the centres' shift in one
    /// iteration is at most `tolerance` times the mean per-feature variance of the data
    /// (scikit-learn's relative `tol`, so the setting does not depend on the data's scale).
    pub tolerance: f64,
    pub seed: u64,
    pub init: Init,
}

impl Default for KMeansOptions {
    fn default() -> Self {
        Self { max_iter: 300, n_runs: 10, tolerance: 1e-4, seed: 0, init: Init::KMeansPlusPlus }
    }
}

/// How each run picks its starting centres; the Lloyd iterations are linfa's, started from them
/// (`KMeansInit::Precomputed`).
///
/// Seeding is written here, not taken from linfa 0.8, for two reasons: its k-means++ recomputes
/// every point's distance to all seeds chosen so far at each step, O(k^2 n d) or about k/2 Lloyd
/// iterations (k = 100 on 10,000 x 784: ~45 of ~60 s per run on 2 cores), and its k-means||
/// draws its random numbers from one RNG per rayon job split, so its centres depend on work
/// stealing and differ from run to run (seen in fig12). Here each k-means++ step updates the
/// distances against the newest centre only, O(k n d) in all (scikit-learn's cost, without its
/// greedy local trials), and draws from one sequential RNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// k-means++ (Arthur and Vassilvitskii 2007), scikit-learn's default: each next seed is a
    /// point drawn with probability proportional to its squared distance to the nearest seed.
    KMeansPlusPlus,
    /// `k` rows drawn uniformly without replacement.
    Random,
}

/// Uniform in [0, 1) from the top 53 bits (rand_core 0.6's RNG has no float sampling of its own).
fn unit(rng: &mut Xoshiro256Plus) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform index below `n`: the float draw's floor, `n` being far below 2^53.
fn index_below(rng: &mut Xoshiro256Plus, n: usize) -> usize {
    ((unit(rng) * n as f64) as usize).min(n - 1)
}

/// The `k` starting centres of one run, row-major `k x d`.
fn seed_centres(x: ArrayView2<f64>, k: usize, init: Init, rng: &mut Xoshiro256Plus) -> Array2<f64> {
    let (n, d) = x.dim();
    let mut centres = Array2::zeros((k, d));
    match init {
        Init::Random => {
            // Partial Fisher-Yates over the indices: k distinct rows.
            let mut idx: Vec<usize> = (0..n).collect();
            for c in 0..k {
                let j = c + index_below(rng, n - c);
                idx.swap(c, j);
                centres.row_mut(c).assign(&x.row(idx[c]));
            }
        }
        Init::KMeansPlusPlus => {
            let first = index_below(rng, n);
            centres.row_mut(0).assign(&x.row(first));
            let mut dist = vec![f64::INFINITY; n];
            for c in 1..k {
                let newest = centres.row(c - 1);
                // Each point's entry is written by one closure from its own row: no reduction,
                // so the values do not depend on the thread count.
                dist.par_iter_mut().enumerate().for_each(|(i, m)| {
                    let d2: f64 = x.row(i).iter().zip(newest.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
                    *m = m.min(d2);
                });
                let total: f64 = dist.iter().sum();
                // All points already sit on a seed: any point will do (the extra centres stay
                // empty, as with duplicate rows).
                let pick = if total > 0.0 {
                    let target = unit(rng) * total;
                    let mut acc = 0.0;
                    dist.iter().position(|&w| {
                        acc += w;
                        acc > target
                    })
                    // Rounding can leave `acc` a hair below `target` at the end: the last
                    // point with weight.
                    .unwrap_or_else(|| dist.iter().rposition(|&w| w > 0.0).unwrap_or(n - 1))
                } else {
                    0
                };
                centres.row_mut(c).assign(&x.row(pick));
            }
        }
    }
    centres
}

/// A k-means fit of `n` points of dimension `d` into `k` clusters.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansFit {
    /// `k x d`, row-major: centre `c` is `centres[c * d..(c + 1) * d]`. Within the stopping
    /// tolerance of its points' mean: linfa's update (m_k-means) counts the old centre as one
    /// more point, so a centre nears the mean geometrically rather than jumping onto it.
    pub centres: Vec<f64>,
    /// The nearest centre of each point (ties: the lower index).
    pub labels: Vec<usize>,
    /// Sum over the points of the squared distance to their centre (scikit-learn's `inertia_`).
    pub inertia: f64,
    pub k: usize,
    pub d: usize,
}

impl KMeansFit {
    pub fn centre(&self, c: usize) -> &[f64] {
        &self.centres[c * self.d..(c + 1) * self.d]
    }

    /// The centres as a `k x d` [`Rows`] view (for the metrics that take one).
    pub fn centre_rows(&self) -> Rows<'_> {
        Rows::new(&self.centres, self.d, "centres").expect("k >= 1 finite centres of d >= 1 features")
    }

    /// Points per cluster.
    pub fn counts(&self) -> Vec<usize> {
        let mut n = vec![0; self.k];
        self.labels.iter().for_each(|&l| n[l] += 1);
        n
    }
}

/// k-means of the rows of `x` into `k` clusters.
///
/// Errors (named): `k` is 0 or above the number of rows; `opts` has `max_iter` or `n_runs` 0 or
/// a `tolerance` that is not finite and positive. Non-finite input cannot reach here: [`Rows`]
/// rejects it when built, naming the argument. If `x` has fewer than `k` distinct rows some
/// clusters stay empty (their centres duplicate others'); that is not an error.
pub fn kmeans(x: Rows, k: usize, opts: &KMeansOptions) -> Result<KMeansFit> {
    let (n, d) = (x.rows(), x.cols());
    if k == 0 || k > n {
        return Err(MetricsError::invalid("k", format!("{k} clusters for {n} points: need 1 <= k <= points")));
    }
    if opts.max_iter == 0 || opts.n_runs == 0 || !(opts.tolerance.is_finite() && opts.tolerance > 0.0) {
        return Err(MetricsError::invalid("opts", format!("{opts:?}: need max_iter >= 1, n_runs >= 1, finite tolerance > 0")));
    }
    let view = ArrayView2::from_shape((n, d), x.data()).expect("Rows is n x d row-major");
    // linfa's tolerance is absolute, on the (unsquared) Frobenius norm of the shift; a zero
    // variance (all points equal) still needs a positive tolerance, and converges at once.
    let abs_tol = (opts.tolerance * mean_feature_variance(view)).sqrt().max(f64::MIN_POSITIVE);
    let dataset = DatasetBase::from(view);
    // One RNG for all runs, drawn in order: run r's seeds follow run r - 1's draws.
    let mut rng = Xoshiro256Plus::seed_from_u64(opts.seed);
    let mut best: Option<KMeansFit> = None;
    for _ in 0..opts.n_runs {
        let start = seed_centres(view, k, opts.init, &mut rng);
        // linfa's RNG is unused with precomputed centres; it is seeded anyway.
        let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(opts.seed))
            .n_runs(1)
            .max_n_iterations(opts.max_iter as u64)
            .tolerance(abs_tol)
            .init_method(KMeansInit::Precomputed(start))
            .fit(&dataset)
            .map_err(|e| MetricsError::Numerical(format!("k-means: {e}")))?;
        let labels: Array1<usize> = model.predict(&view);
        let centres: Vec<f64> = model.centroids().iter().copied().collect();
        let inertia = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| x.row(i).iter().zip(&centres[l * d..(l + 1) * d]).map(|(a, c)| (a - c) * (a - c)).sum::<f64>())
            .sum();
        // Ties keep the earlier run.
        if best.as_ref().is_none_or(|b| inertia < b.inertia) {
            best = Some(KMeansFit { centres, labels: labels.to_vec(), inertia, k, d });
        }
    }
    Ok(best.expect("n_runs >= 1 was checked"))
}

fn mean_feature_variance(x: ArrayView2<f64>) -> f64 {
    x.var_axis(ndarray::Axis(0), 0.0).mean().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Three blobs of 50 points, uniform noise of half-width 0.5 around centres 20 apart.
    fn blobs() -> (Vec<f64>, Vec<usize>, [[f64; 3]; 3]) {
        let means = [[0.0, 0.0, 0.0], [20.0, 0.0, -5.0], [0.0, 20.0, 10.0]];
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let (mut x, mut truth) = (Vec::new(), Vec::new());
        for i in 0..150 {
            let b = i % 3;
            x.extend(means[b].iter().map(|m| m + rng.random_range(-0.5..0.5)));
            truth.push(b);
        }
        (x, truth, means)
    }

    #[test]
    fn separated_blobs_are_recovered_exactly() {
        let (x, truth, means) = blobs();
        let fit = kmeans(Rows::new(&x, 3, "x").unwrap(), 3, &KMeansOptions::default()).unwrap();
        assert_eq!((fit.k, fit.d, fit.labels.len(), fit.centres.len()), (3, 3, 150, 9));
        // Labels up to permutation: blob b's points all carry one label, distinct per blob.
        let perm: Vec<usize> = (0..3).map(|b| fit.labels[b]).collect();
        assert!(perm[0] != perm[1] && perm[1] != perm[2] && perm[0] != perm[2], "{perm:?}");
        assert!(fit.labels.iter().zip(&truth).all(|(&l, &b)| l == perm[b]));
        assert_eq!(fit.counts(), vec![50; 3]);
        // Centres are the blob means (sample means: within the noise's standard error).
        for (b, m) in means.iter().enumerate() {
            let c = fit.centre(perm[b]);
            assert!(c.iter().zip(m).all(|(c, m)| (c - m).abs() < 0.15), "blob {b}: {c:?} vs {m:?}");
        }
        // The centre is the mean of its points up to the stopping tolerance: linfa's update
        // (m_k-means) counts the old centre as one more point, so it nears the mean geometrically.
        let mean0: Vec<f64> = (0..3).map(|j| (0..50).map(|i| x[(3 * i) * 3 + j]).sum::<f64>() / 50.0).collect();
        assert!(fit.centre(perm[0]).iter().zip(&mean0).all(|(c, m)| (c - m).abs() < 1e-2), "{:?} vs {mean0:?}", fit.centre(perm[0]));
        let inertia: f64 = (0..150).map(|i| (0..3).map(|j| (x[i * 3 + j] - fit.centre(fit.labels[i])[j]).powi(2)).sum::<f64>()).sum();
        assert!((fit.inertia - inertia).abs() < 1e-9 * inertia && fit.inertia < 150.0 * 3.0 * 0.1);
        assert_eq!(fit.centre_rows().rows(), 3);
    }

    #[test]
    fn every_init_recovers_the_blobs() {
        let (x, truth, _) = blobs();
        for init in [Init::KMeansPlusPlus, Init::Random] {
            let fit = kmeans(Rows::new(&x, 3, "x").unwrap(), 3, &KMeansOptions { init, ..Default::default() }).unwrap();
            let perm: Vec<usize> = (0..3).map(|b| fit.labels[b]).collect();
            assert!(fit.labels.iter().zip(&truth).all(|(&l, &b)| l == perm[b]) && fit.counts() == vec![50; 3], "{init:?}");
        }
    }

    #[test]
    fn same_seed_same_fit_bit_for_bit() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let x: Vec<f64> = (0..400 * 6).map(|_| rng.random::<f64>()).collect();
        let x = Rows::new(&x, 6, "x").unwrap();
        let opts = KMeansOptions { seed: 9, n_runs: 3, ..Default::default() };
        let a = kmeans(x, 7, &opts).unwrap();
        let b = kmeans(x, 7, &opts).unwrap();
        assert_eq!(a.labels, b.labels);
        assert!(a.centres.iter().zip(&b.centres).all(|(p, q)| p.to_bits() == q.to_bits()));
        assert_eq!(a.inertia.to_bits(), b.inertia.to_bits());
        // Another seed starts elsewhere (on unstructured data the fits differ).
        let c = kmeans(x, 7, &KMeansOptions { seed: 10, ..opts }).unwrap();
        assert_ne!(a.centres, c.centres);
    }

    /// The fit must not depend on the thread count (linfa's k-means||, used before, did: its
    /// RNGs were per rayon job split). Both seedings, in pools of 1, 2 and 3 threads.
    #[test]
    fn fit_is_the_same_at_any_thread_count() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        let x: Vec<f64> = (0..3000 * 5).map(|_| rng.random::<f64>()).collect();
        let x = Rows::new(&x, 5, "x").unwrap();
        for init in [Init::KMeansPlusPlus, Init::Random] {
            let opts = KMeansOptions { seed: 4, n_runs: 2, init, ..Default::default() };
            let fits: Vec<KMeansFit> = [1, 2, 3]
                .iter()
                .map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap().install(|| kmeans(x, 40, &opts).unwrap()))
                .collect();
            for f in &fits[1..] {
                assert_eq!(f.labels, fits[0].labels, "{init:?}");
                assert!(f.centres.iter().zip(&fits[0].centres).all(|(p, q)| p.to_bits() == q.to_bits()), "{init:?}");
            }
        }
    }

    /// k-means++ seeds are data points, distinct while the data allow it (a point on a seed
    /// has weight 0 and is never drawn again).
    #[test]
    fn plus_plus_seeds_are_distinct_points() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let x: Vec<f64> = (0..200 * 3).map(|_| rng.random::<f64>()).collect();
        let view = ArrayView2::from_shape((200, 3), &x[..]).unwrap();
        let mut r = <Xoshiro256Plus as rand_xoshiro::rand_core::SeedableRng>::seed_from_u64(1);
        let s = seed_centres(view, 50, Init::KMeansPlusPlus, &mut r);
        let rows: Vec<Vec<u64>> = s.rows().into_iter().map(|c| c.iter().map(|v| v.to_bits()).collect()).collect();
        let points: Vec<Vec<u64>> = view.rows().into_iter().map(|c| c.iter().map(|v| v.to_bits()).collect()).collect();
        assert!(rows.iter().all(|c| points.contains(c)));
        let mut uniq = rows.clone();
        uniq.sort();
        uniq.dedup();
        assert_eq!(uniq.len(), 50);
    }

    #[test]
    fn bad_inputs_are_named() {
        let x = [0.0, 1.0, 2.0, 3.0];
        let rows = Rows::new(&x, 2, "x").unwrap();
        let name = |r: Result<KMeansFit>| match r {
            Err(MetricsError::Invalid { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        let o = KMeansOptions::default();
        assert_eq!(name(kmeans(rows, 0, &o)), "k");
        assert_eq!(name(kmeans(rows, 3, &o)), "k");
        assert_eq!(name(kmeans(rows, 1, &KMeansOptions { max_iter: 0, ..o })), "opts");
        assert_eq!(name(kmeans(rows, 1, &KMeansOptions { n_runs: 0, ..o })), "opts");
        for tolerance in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(name(kmeans(rows, 1, &KMeansOptions { tolerance, ..o })), "opts");
        }
        // Non-finite values are refused when the Rows view is built.
        assert!(matches!(Rows::new(&[0.0, f64::NAN], 2, "x"), Err(MetricsError::Invalid { name: "x", .. })));
    }

    #[test]
    fn degenerate_inputs_still_fit() {
        // All points equal: zero variance, every k allowed up to n; all land in one cluster.
        let x = [1.5; 8];
        let fit = kmeans(Rows::new(&x, 2, "x").unwrap(), 2, &KMeansOptions::default()).unwrap();
        assert_eq!(fit.inertia, 0.0);
        assert!(fit.centres.iter().all(|&c| c == 1.5));
        // k = n: every point its own centre.
        let x = [0.0, 5.0, 9.0];
        let fit = kmeans(Rows::new(&x, 1, "x").unwrap(), 3, &KMeansOptions::default()).unwrap();
        let mut c = fit.centres.clone();
        c.sort_by(f64::total_cmp);
        assert_eq!((c, fit.inertia), (vec![0.0, 5.0, 9.0], 0.0));
    }
}
