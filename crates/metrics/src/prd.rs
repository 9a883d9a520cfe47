//! Precision and recall for distributions (PRD; Sajjadi et al. 2018, "Assessing Generative Models
//! via Precision and Recall"), following the reference implementation
//! (google/compare_gan `prd_score.py`):
//!
//! - both sample sets are clustered together (k-means, 20 clusters) and each set becomes a
//!   histogram over the clusters;
//! - for slopes lambda = tan(theta), theta on `num_angles` points of [eps, pi/2 - eps],
//!   precision(lambda) = sum_i min(lambda * ref_i, eval_i) and recall(lambda) = precision / lambda;
//! - the curve is averaged over `runs` independent clusterings;
//! - the summary is (F_8, F_1/8): the maxima over the curve of
//!   F_beta = (1 + beta^2) p r / (beta^2 p + r) for beta = 8 (recall-weighted) and 1/8.
//!
//! The reference clusters with scikit-learn's `MiniBatchKMeans(n_init=10)`; here full-batch
//! Lloyd iterations from k-means++ seeds, best of `n_init` by inertia (k-means is ~40 lines, and
//! no small, maintained Rust crate offers it without a heavy array stack). Clusterings differ
//! in detail, so PRD curves match the reference statistically, not bit for bit.

use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::{same_cols, MetricsError, Result, Rows};

/// A PRD curve: `precision[i]`, `recall[i]` at slope tan(theta_i).
#[derive(Clone, Debug, PartialEq)]
pub struct PrdCurve {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
}

/// Settings of [`prd_from_embeddings`] (defaults: the reference implementation's).
#[derive(Clone, Copy, Debug)]
pub struct PrdOptions {
    pub clusters: usize,
    pub angles: usize,
    pub runs: usize,
    /// k-means restarts per run (best inertia kept).
    pub n_init: usize,
    pub max_iter: usize,
    pub seed: u64,
}

impl Default for PrdOptions {
    fn default() -> Self {
        Self { clusters: 20, angles: 1001, runs: 10, n_init: 10, max_iter: 100, seed: 0 }
    }
}

const EPS: f64 = 1e-10;

/// The PRD curve of two histograms over the same bins (each non-negative, summing to 1), as the
/// reference `compute_prd(eval_dist, ref_dist, num_angles)`.
pub fn prd_from_histograms(eval: &[f64], reference: &[f64], angles: usize) -> Result<PrdCurve> {
    if eval.len() != reference.len() || eval.is_empty() {
        return Err(MetricsError::invalid("reference", format!("{} bins vs {} in eval", reference.len(), eval.len())));
    }
    for (name, h) in [("eval", eval), ("reference", reference)] {
        let s: f64 = h.iter().sum();
        if h.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || (s - 1.0).abs() > 1e-6 {
            return Err(MetricsError::invalid(name, format!("not a histogram of shares (sum {s})")));
        }
    }
    if angles < 3 {
        return Err(MetricsError::invalid("angles", "need at least 3"));
    }
    let mut precision = Vec::with_capacity(angles);
    let mut recall = Vec::with_capacity(angles);
    for a in 0..angles {
        let theta = EPS + (std::f64::consts::FRAC_PI_2 - 2.0 * EPS) * a as f64 / (angles - 1) as f64;
        let slope = theta.tan();
        let p: f64 = reference.iter().zip(eval).map(|(r, e)| (r * slope).min(*e)).sum();
        precision.push(p.clamp(0.0, 1.0));
        recall.push((p / slope).clamp(0.0, 1.0));
    }
    Ok(PrdCurve { precision, recall })
}

/// max over the curve of F_beta and of F_{1/beta}: with beta = 8, (F_8, F_1/8), the reference's
/// `prd_to_max_f_beta_pair`. F_8 weighs recall, F_1/8 precision.
pub fn max_f_beta_pair(curve: &PrdCurve, beta: f64) -> (f64, f64) {
    let f = |b: f64| {
        curve
            .precision
            .iter()
            .zip(&curve.recall)
            .map(|(p, r)| (1.0 + b * b) * p * r / (b * b * p + r + EPS))
            .fold(0.0, f64::max)
    };
    (f(beta), f(1.0 / beta))
}

/// k-means (Lloyd) with k-means++ seeding; returns (labels, inertia).
pub fn kmeans(x: Rows, k: usize, max_iter: usize, rng: &mut impl Rng) -> (Vec<usize>, f64) {
    let (n, d) = (x.rows(), x.cols());
    let sq = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| (p - q) * (p - q)).sum::<f64>();
    // k-means++ seeding: each next centre drawn with probability proportional to D(x)^2.
    let mut centres: Vec<f64> = x.row(rng.random_range(0..n)).to_vec();
    let mut d2: Vec<f64> = (0..n).map(|i| sq(x.row(i), &centres[..d])).collect();
    for _ in 1..k {
        let total: f64 = d2.iter().sum();
        let pick = if total > 0.0 {
            let mut u = rng.random::<f64>() * total;
            d2.iter().position(|&w| {
                u -= w;
                u < 0.0
            })
            .unwrap_or(n - 1)
        } else {
            rng.random_range(0..n)
        };
        let c = x.row(pick).to_vec();
        d2.par_iter_mut().enumerate().for_each(|(i, v)| *v = v.min(sq(x.row(i), &c)));
        centres.extend(c);
    }
    let mut labels = vec![0usize; n];
    let mut inertia = f64::INFINITY;
    for _ in 0..max_iter {
        let assign: Vec<(usize, f64)> = (0..n)
            .into_par_iter()
            .map(|i| {
                (0..k)
                    .map(|c| (c, sq(x.row(i), &centres[c * d..(c + 1) * d])))
                    .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a })
            })
            .collect();
        let new_inertia: f64 = assign.iter().map(|a| a.1).sum();
        let changed = assign.iter().zip(&labels).any(|(a, l)| a.0 != *l);
        labels = assign.iter().map(|a| a.0).collect();
        let mut sums = vec![0.0; k * d];
        let mut counts = vec![0usize; k];
        for (i, &l) in labels.iter().enumerate() {
            counts[l] += 1;
            for (s, v) in sums[l * d..(l + 1) * d].iter_mut().zip(x.row(i)) {
                *s += v;
            }
        }
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    centres[c * d + j] = sums[c * d + j] / counts[c] as f64;
                }
            }
        }
        let converged = !changed || (inertia - new_inertia).abs() <= 1e-12 * inertia.abs();
        inertia = new_inertia;
        if converged {
            break;
        }
    }
    (labels, inertia)
}

/// The PRD curve of `eval` (generated) against `reference` (real) samples, averaged over
/// `opts.runs` clusterings of the union into `opts.clusters` bins. As the reference with
/// `enforce_balance=True`, both sets must have the same number of rows.
pub fn prd_from_embeddings(eval: Rows, reference: Rows, opts: PrdOptions) -> Result<PrdCurve> {
    same_cols(&reference, &eval)?;
    if eval.rows() != reference.rows() {
        return Err(MetricsError::invalid("eval", format!("{} rows vs {} reference rows: PRD needs balanced sets", eval.rows(), reference.rows())));
    }
    if opts.clusters < 2 || opts.clusters > eval.rows() + reference.rows() || opts.runs == 0 || opts.n_init == 0 {
        return Err(MetricsError::invalid("opts", format!("{opts:?}: need 2 <= clusters <= samples, runs >= 1, n_init >= 1")));
    }
    let mut all = eval.data().to_vec();
    all.extend_from_slice(reference.data());
    let x = Rows::new(&all, eval.cols(), "samples")?;
    let ne = eval.rows();
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let mut acc = PrdCurve { precision: vec![0.0; opts.angles], recall: vec![0.0; opts.angles] };
    for _ in 0..opts.runs {
        let (labels, _) = (0..opts.n_init)
            .map(|_| kmeans(x, opts.clusters, opts.max_iter, &mut rng))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("n_init >= 1");
        let hist = |ls: &[usize]| {
            let mut h = vec![0.0; opts.clusters];
            ls.iter().for_each(|&l| h[l] += 1.0);
            let n = ls.len() as f64;
            h.iter_mut().for_each(|v| *v /= n);
            h
        };
        let c = prd_from_histograms(&hist(&labels[..ne]), &hist(&labels[ne..]), opts.angles)?;
        acc.precision.iter_mut().zip(&c.precision).for_each(|(a, v)| *a += v / opts.runs as f64);
        acc.recall.iter_mut().zip(&c.recall).for_each(|(a, v)| *a += v / opts.runs as f64);
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_histograms_reach_the_corner_and_disjoint_ones_stay_at_zero() {
        let h = [0.25, 0.25, 0.5];
        let c = prd_from_histograms(&h, &h, 1001).unwrap();
        // At slope 1 (middle angle) precision = recall = 1.
        assert!((c.precision[500] - 1.0).abs() < 1e-9 && (c.recall[500] - 1.0).abs() < 1e-9);
        let (f8, f18) = max_f_beta_pair(&c, 8.0);
        assert!(f8 > 0.999 && f18 > 0.999);
        let c = prd_from_histograms(&[1.0, 0.0], &[0.0, 1.0], 101).unwrap();
        assert!(c.precision.iter().chain(&c.recall).all(|&v| v == 0.0));
    }

    #[test]
    fn dropping_half_the_modes_caps_recall_not_precision() {
        // eval puts all its mass on half of reference's bins: precision can reach 1, recall 1/2.
        let reference = [0.25; 4];
        let eval = [0.5, 0.5, 0.0, 0.0];
        let c = prd_from_histograms(&eval, &reference, 1001).unwrap();
        let max_p = c.precision.iter().cloned().fold(0.0, f64::max);
        let max_r = c.recall.iter().cloned().fold(0.0, f64::max);
        assert!((max_p - 1.0).abs() < 1e-6 && (max_r - 0.5).abs() < 1e-6, "{max_p} {max_r}");
        let (f8, f18) = max_f_beta_pair(&c, 8.0);
        assert!(f18 > f8, "precision-weighted F_1/8 {f18} beats recall-weighted F_8 {f8}");
    }

    #[test]
    fn embeddings_of_separated_clusters() {
        // Reference: 4 tight clusters; eval: samples from 2 of them only.
        let centres = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]];
        let mut reference = Vec::new();
        let mut eval = Vec::new();
        for i in 0..200 {
            let c = centres[i % 4];
            reference.extend([c[0] + (i % 7) as f64 * 0.01, c[1] + (i % 5) as f64 * 0.01]);
            let c = centres[i % 2];
            eval.extend([c[0] + (i % 3) as f64 * 0.01, c[1] + (i % 11) as f64 * 0.01]);
        }
        let opts = PrdOptions { clusters: 4, runs: 2, n_init: 3, ..Default::default() };
        let c = prd_from_embeddings(Rows::new(&eval, 2, "eval").unwrap(), Rows::new(&reference, 2, "reference").unwrap(), opts).unwrap();
        let max_r = c.recall.iter().cloned().fold(0.0, f64::max);
        let max_p = c.precision.iter().cloned().fold(0.0, f64::max);
        assert!((max_r - 0.5).abs() < 1e-6 && (max_p - 1.0).abs() < 1e-6, "{max_p} {max_r}");
    }
}
