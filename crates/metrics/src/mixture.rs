//! Mode coverage and sample quality on Gaussian mixtures with known centres (the measure used on
//! the 2-D ring / grid toys since VEEGAN and unrolled GANs, and on the paper's 2-D and 3-D
//! mixtures): a generated sample is *high quality* when it lies within 3 sigma of some mode
//! centre; it is attributed to its nearest centre; a mode is *covered* when it holds at least
//! `min_share` of all generated samples among its high-quality ones (and at least one).

use crate::{same_cols, MetricsError, Result, Rows};

/// Per-mode counts and the summary numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct ModeCoverage {
    /// High-quality samples attributed to each mode.
    pub per_mode: Vec<usize>,
    /// Whether each mode is covered.
    pub covered: Vec<bool>,
    pub modes_covered: usize,
    /// Number of samples within the radius of some centre.
    pub high_quality: usize,
    /// high_quality / number of samples.
    pub hq_rate: f64,
}

/// Mode coverage with the usual radius of 3 sigma (isotropic modes of standard deviation
/// `sigma` per coordinate).
pub fn mode_coverage(samples: Rows, centres: Rows, sigma: f64, min_share: f64) -> Result<ModeCoverage> {
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(MetricsError::invalid("sigma", format!("must be > 0, got {sigma}")));
    }
    mode_coverage_within(samples, centres, 3.0 * sigma, min_share)
}

/// Mode coverage with an explicit radius.
pub fn mode_coverage_within(samples: Rows, centres: Rows, radius: f64, min_share: f64) -> Result<ModeCoverage> {
    same_cols(&centres, &samples)?;
    if !(radius.is_finite() && radius > 0.0) {
        return Err(MetricsError::invalid("radius", format!("must be > 0, got {radius}")));
    }
    if !(0.0..=1.0).contains(&min_share) {
        return Err(MetricsError::invalid("min_share", format!("must be in [0, 1], got {min_share}")));
    }
    let m = centres.rows();
    let mut per_mode = vec![0usize; m];
    let mut hq = 0;
    for i in 0..samples.rows() {
        let x = samples.row(i);
        let (best, d2) = (0..m)
            .map(|c| (c, centres.row(c).iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()))
            .fold((0, f64::INFINITY), |a, b| if b.1 < a.1 { b } else { a });
        if d2 <= radius * radius {
            hq += 1;
            per_mode[best] += 1;
        }
    }
    let n = samples.rows() as f64;
    let covered: Vec<bool> = per_mode.iter().map(|&c| c > 0 && c as f64 >= min_share * n).collect();
    Ok(ModeCoverage {
        modes_covered: covered.iter().filter(|&&b| b).count(),
        covered,
        per_mode,
        high_quality: hq,
        hq_rate: hq as f64 / n,
    })
}

/// Sample diversity E||G(z_1) - G(z_2)|| (the nearest-neighbour / pairwise diversity signal of
/// the mode-collapse literature), estimated from disjoint consecutive pairs of rows (rows 2i and
/// 2i+1) of i.i.d. samples: an unbiased estimate from n/2 independent pairs, no O(n^2) work.
pub fn pair_diversity(samples: Rows) -> Result<f64> {
    let n = samples.rows() / 2;
    if n == 0 {
        return Err(MetricsError::invalid("samples", "need at least 2 rows"));
    }
    let d: f64 = (0..n)
        .map(|i| samples.row(2 * i).iter().zip(samples.row(2 * i + 1)).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt())
        .sum();
    Ok(d / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_modes_and_quality() {
        let centres = [0.0, 0.0, 1.0, 1.0, -1.0, 1.0];
        let c = Rows::new(&centres, 2, "centres").unwrap();
        // sigma 0.1: radius 0.3. Four samples near mode 0, one near mode 1, one far from all.
        let s = [0.0, 0.1, 0.05, -0.2, -0.1, 0.0, 0.2, 0.2, 1.1, 0.9, 0.5, 0.5];
        let r = mode_coverage(Rows::new(&s, 2, "samples").unwrap(), c, 0.1, 0.2).unwrap();
        assert_eq!(r.per_mode, vec![4, 1, 0]);
        assert_eq!(r.high_quality, 5);
        assert!((r.hq_rate - 5.0 / 6.0).abs() < 1e-15);
        // mode 1 holds 1/6 < 0.2 of the samples: not covered at this share, covered at 0.1.
        assert_eq!(r.covered, vec![true, false, false]);
        let r = mode_coverage(Rows::new(&s, 2, "samples").unwrap(), c, 0.1, 0.1).unwrap();
        assert_eq!(r.modes_covered, 2);
        assert!(mode_coverage(Rows::new(&s, 2, "samples").unwrap(), c, 0.0, 0.1).is_err());
    }

    #[test]
    fn pair_diversity_averages_disjoint_pairs() {
        // pairs (0,0)-(3,4) and (1,1)-(1,1): distances 5 and 0; the odd last row is unused
        let s = [0.0, 0.0, 3.0, 4.0, 1.0, 1.0, 1.0, 1.0, 9.0, 9.0];
        assert_eq!(pair_diversity(Rows::new(&s, 2, "s").unwrap()).unwrap(), 2.5);
        assert!(pair_diversity(Rows::new(&s[..2], 2, "s").unwrap()).is_err());
    }
}
