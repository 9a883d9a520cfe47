//! Class-level collapse signals.
//!
//! - Class histograms of generated samples (labels from a classifier) against the real class
//!   allocation, with total variation TV(p, q) = 1/2 sum |p_i - q_i| and Pearson's chi-squared
//!   divergence chi^2(p || q) = sum (p_i - q_i)^2 / q_i (seed 001 section 16.9; q the real shares).
//! - The class-pair counts of the paper's Figure 4 (Appendix F.1): for each sample with class
//!   probabilities (p_0, ..., p_9), the classes with p_i > tau (tau = 10^-2); every pair (i, j) of
//!   them is counted (in both (i, j) and (j, i), so the matrix is symmetric); when only one class
//!   is above tau, it is paired with itself (i, i).

use crate::{MetricsError, Result, Rows};

/// Shares of each class `0..classes` among `labels`.
pub fn class_histogram(labels: &[usize], classes: usize) -> Result<Vec<f64>> {
    if labels.is_empty() {
        return Err(MetricsError::invalid("labels", "empty"));
    }
    let mut h = vec![0.0; classes];
    for &l in labels {
        *h.get_mut(l).ok_or_else(|| MetricsError::invalid("labels", format!("label {l} is not below {classes}")))? += 1.0;
    }
    let n = labels.len() as f64;
    h.iter_mut().for_each(|v| *v /= n);
    Ok(h)
}

fn check_pair(p: &[f64], q: &[f64]) -> Result<()> {
    if p.len() != q.len() {
        return Err(MetricsError::invalid("q", format!("{} classes vs {} in p", q.len(), p.len())));
    }
    for (name, h) in [("p", p), ("q", q)] {
        if h.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err(MetricsError::invalid(name, "shares must be finite and >= 0"));
        }
    }
    Ok(())
}

/// Total variation distance 1/2 sum |p_i - q_i| (in [0, 1] for distributions).
pub fn total_variation(p: &[f64], q: &[f64]) -> Result<f64> {
    check_pair(p, q)?;
    Ok(0.5 * p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum::<f64>())
}

/// Pearson chi-squared divergence sum (p_i - q_i)^2 / q_i; infinite when p puts mass where q
/// has none; classes empty in both are skipped.
pub fn chi_squared(p: &[f64], q: &[f64]) -> Result<f64> {
    check_pair(p, q)?;
    Ok(p.iter()
        .zip(q)
        .map(|(a, b)| match (*a, *b) {
            (a, b) if b > 0.0 => (a - b) * (a - b) / b,
            (a, _) if a > 0.0 => f64::INFINITY,
            _ => 0.0,
        })
        .sum())
}

/// Shannon entropy -sum p_i ln p_i (nats) of a histogram normalised to sum 1 (the marginal
/// entropy H(y) of the labels or modes a generator's samples are given; ln(classes) when uniform).
/// 0 for an all-zero histogram.
pub fn entropy(p: &[f64]) -> Result<f64> {
    if p.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Err(MetricsError::invalid("p", "histogram entries must be finite and >= 0"));
    }
    let total: f64 = p.iter().sum();
    if total == 0.0 {
        return Ok(0.0);
    }
    Ok(-p.iter().filter(|v| **v > 0.0).map(|v| (v / total) * (v / total).ln()).sum::<f64>())
}

/// The class-pair counts of Figure 4: `counts[i][j]` samples with both p_i and p_j above `tau`
/// (i != j), `counts[i][i]` samples with p_i the only one above. `none_above` counts samples with
/// no class above `tau` (impossible for a softmax over 10 classes with tau < 0.1).
#[derive(Clone, Debug, PartialEq)]
pub struct PairCounts {
    pub counts: Vec<Vec<u64>>,
    pub none_above: u64,
}

impl PairCounts {
    /// log(1 + count), the colour scale of Figures 4, 14 and 15.
    pub fn log1p(&self) -> Vec<Vec<f64>> {
        self.counts.iter().map(|r| r.iter().map(|&c| (c as f64).ln_1p()).collect()).collect()
    }
}

/// Pair counts over the rows of a probability matrix (one row of class probabilities a sample).
pub fn pair_counts(probs: Rows, tau: f64) -> Result<PairCounts> {
    if !(tau.is_finite() && tau >= 0.0) {
        return Err(MetricsError::invalid("tau", format!("must be >= 0, got {tau}")));
    }
    let k = probs.cols();
    let mut counts = vec![vec![0u64; k]; k];
    let mut none_above = 0;
    for r in 0..probs.rows() {
        let above: Vec<usize> = probs.row(r).iter().enumerate().filter(|(_, &p)| p > tau).map(|(i, _)| i).collect();
        match above.len() {
            0 => none_above += 1,
            1 => counts[above[0]][above[0]] += 1,
            _ => {
                for (a, &i) in above.iter().enumerate() {
                    for &j in &above[a + 1..] {
                        counts[i][j] += 1;
                        counts[j][i] += 1;
                    }
                }
            }
        }
    }
    Ok(PairCounts { counts, none_above })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_is_ln_k_when_uniform_and_0_when_collapsed() {
        assert!((entropy(&[2.0, 2.0, 2.0, 2.0]).unwrap() - 4f64.ln()).abs() < 1e-15);
        assert_eq!(entropy(&[0.0, 5.0, 0.0]).unwrap(), 0.0);
        assert_eq!(entropy(&[0.0, 0.0]).unwrap(), 0.0);
        assert!(entropy(&[-1.0, 1.0]).is_err());
    }

    #[test]
    fn histogram_and_divergences() {
        let h = class_histogram(&[0, 0, 1, 2], 4).unwrap();
        assert_eq!(h, vec![0.5, 0.25, 0.25, 0.0]);
        let q = [0.25; 4];
        assert!((total_variation(&h, &q).unwrap() - 0.25).abs() < 1e-15);
        // (0.25^2 + 0 + 0 + 0.25^2) / 0.25 = 0.5
        assert!((chi_squared(&h, &q).unwrap() - 0.5).abs() < 1e-15);
        assert_eq!(chi_squared(&q, &h).unwrap(), f64::INFINITY);
        assert_eq!(total_variation(&q, &q).unwrap(), 0.0);
        assert!(class_histogram(&[5], 4).is_err());
    }

    #[test]
    fn pairs_as_appendix_f1_describes() {
        let p = [
            0.97, 0.02, 0.01, // 0 and 1 above 1e-2 (0.01 is not above): pair (0, 1)
            0.999, 0.0005, 0.0005, // only 0: (0, 0)
            0.4, 0.3, 0.3, // all three: (0,1), (0,2), (1,2)
        ];
        let pc = pair_counts(Rows::new(&p, 3, "probs").unwrap(), 1e-2).unwrap();
        assert_eq!(pc.counts, vec![vec![1, 2, 1], vec![2, 0, 1], vec![1, 1, 0]]);
        assert_eq!(pc.none_above, 0);
        assert!((pc.log1p()[0][1] - 3f64.ln()).abs() < 1e-15);
    }
}
