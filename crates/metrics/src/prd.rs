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
//! The reference clusters with scikit-learn's `MiniBatchKMeans(n_clusters=20, n_init=10)`, a fresh
//! clustering per run; here each run is a full-batch k-means ([`crate::clustering`], linfa's
//! Lloyd iterations from k-means++ seeds) with `n_init` starts, best inertia kept. Clusterings
//! differ in detail, so PRD curves match the reference statistically, not bit for bit.

use rand::{Rng, SeedableRng};

use crate::clustering::{kmeans, KMeansOptions};
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
    /// k-means starts per run (best inertia kept): the reference's `n_init`.
    pub n_init: usize,
    /// Lloyd iterations per start, at most.
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

/// The PRD curve of `eval` (generated) against `reference` (real) samples, averaged over
/// `opts.runs` clusterings of the union into `opts.clusters` bins. As the reference with
/// `enforce_balance=True`, both sets must have the same number of rows.
pub fn prd_from_embeddings(eval: Rows, reference: Rows, opts: PrdOptions) -> Result<PrdCurve> {
    same_cols(&reference, &eval)?;
    if eval.rows() != reference.rows() {
        return Err(MetricsError::invalid("eval", format!("{} rows vs {} reference rows: PRD needs balanced sets", eval.rows(), reference.rows())));
    }
    if opts.clusters < 2 || opts.clusters > eval.rows() + reference.rows() || opts.runs == 0 || opts.n_init == 0 || opts.max_iter == 0 {
        return Err(MetricsError::invalid("opts", format!("{opts:?}: need 2 <= clusters <= samples, runs >= 1, n_init >= 1, max_iter >= 1")));
    }
    let mut all = eval.data().to_vec();
    all.extend_from_slice(reference.data());
    let x = Rows::new(&all, eval.cols(), "samples")?;
    let ne = eval.rows();
    // The reference: `for _ in range(num_runs): MiniBatchKMeans(n_clusters, n_init=10).fit(data)`,
    // a fresh clustering per run. Here one seed per run, drawn from opts.seed (so nearby seeds
    // share no runs), and the reference's n_init is linfa's n_runs (best inertia of n_init starts).
    let mut seeds = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let mut acc = PrdCurve { precision: vec![0.0; opts.angles], recall: vec![0.0; opts.angles] };
    for _ in 0..opts.runs {
        let km = KMeansOptions { max_iter: opts.max_iter, n_runs: opts.n_init, seed: seeds.random(), ..Default::default() };
        let labels = kmeans(x, opts.clusters, &km)?.labels;
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

    #[test]
    fn embeddings_prd_is_a_function_of_the_seed() {
        let x: Vec<f64> = (0..300).map(|i| ((i * 37) % 101) as f64 / 10.0).collect();
        let y: Vec<f64> = (0..300).map(|i| ((i * 53) % 97) as f64 / 9.0).collect();
        let (e, r) = (Rows::new(&x, 3, "eval").unwrap(), Rows::new(&y, 3, "reference").unwrap());
        let opts = PrdOptions { clusters: 5, runs: 3, n_init: 2, ..Default::default() };
        assert_eq!(prd_from_embeddings(e, r, opts).unwrap(), prd_from_embeddings(e, r, opts).unwrap());
        assert!(matches!(prd_from_embeddings(e, r, PrdOptions { max_iter: 0, ..opts }), Err(MetricsError::Invalid { name: "opts", .. })));
    }
}
