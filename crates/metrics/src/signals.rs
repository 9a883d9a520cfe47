//! When does a training signal move? Two summaries of a series sampled at (possibly sparse)
//! epochs, used to compare collapse signals (the paper's probes, the duality gaps) against a
//! collapse measured on the samples (`dgap-gmm`):
//!
//! - [`first_departure`]: the first sample that leaves its recent level: |x_k - m_k| > max(rel |m_k|,
//!   z 1.4826 MAD_k), with m_k and MAD_k the median and the median absolute deviation of the
//!   `window` finite samples before it. Direction-free and scale-free, so it applies alike to a
//!   gap that falls to zero, a quantile that rises and a steepness that drops. The MAD term keeps
//!   a noisy signal near zero (a duality gap of 0.01 +- 0.01) from "departing" on its noise, which
//!   a purely relative threshold would do; 1.4826 MAD estimates a normal standard deviation.
//! - [`before_after`]: the mean of a signal in a window before an epoch and after it.
//!
//! Non-finite samples (a diverged evaluation) never trigger and are left out of medians and means.

use crate::{MetricsError, Result};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Index of the first sample at epoch >= `from` whose value departs from the median of the
/// `window` finite samples before it by more than `rel` times that median's magnitude and more
/// than `z` robust standard deviations (1.4826 MAD) of those samples.
pub fn first_departure(epochs: &[f64], x: &[f64], window: usize, rel: f64, z: f64, from: f64) -> Result<Option<usize>> {
    if epochs.len() != x.len() {
        return Err(MetricsError::invalid("x", format!("{} values for {} epochs", x.len(), epochs.len())));
    }
    if window == 0 || !(rel > 0.0) || !(z >= 0.0) {
        return Err(MetricsError::invalid("window/rel/z", format!("need window >= 1, rel > 0 and z >= 0, got {window}, {rel} and {z}")));
    }
    let mut recent: Vec<f64> = Vec::new();
    for (k, (&t, &v)) in epochs.iter().zip(x).enumerate() {
        if !v.is_finite() {
            continue;
        }
        if t >= from && recent.len() >= window {
            let last = &recent[recent.len() - window..];
            let m = median(&mut last.to_vec());
            let mad = median(&mut last.iter().map(|r| (r - m).abs()).collect::<Vec<_>>());
            if (v - m).abs() > (rel * m.abs()).max(z * 1.4826 * mad) {
                return Ok(Some(k));
            }
        }
        recent.push(v);
    }
    Ok(None)
}

/// Means of the finite samples with epoch in [c - w, c) and in [c, c + w] (NaN where none).
pub fn before_after(epochs: &[f64], x: &[f64], c: f64, w: f64) -> (f64, f64) {
    let mean = |keep: &dyn Fn(f64) -> bool| {
        let v: Vec<f64> = epochs.iter().zip(x).filter(|(t, v)| keep(**t) && v.is_finite()).map(|(_, v)| *v).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    (mean(&|t| t >= c - w && t < c), mean(&|t| t >= c && t <= c + w))
}

/// Least-squares line y = a + b x through the finite points: (intercept a, slope b, R^2).
/// None with fewer than two distinct x.
pub fn linear_fit(x: &[f64], y: &[f64]) -> Option<(f64, f64, f64)> {
    let p: Vec<(f64, f64)> = x.iter().zip(y).filter(|(a, b)| a.is_finite() && b.is_finite()).map(|(a, b)| (*a, *b)).collect();
    let n = p.len() as f64;
    if p.len() < 2 {
        return None;
    }
    let (mx, my) = (p.iter().map(|q| q.0).sum::<f64>() / n, p.iter().map(|q| q.1).sum::<f64>() / n);
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    let syy: f64 = p.iter().map(|q| (q.1 - my).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let b = sxy / sxx;
    let r2 = if syy > 0.0 { sxy * sxy / (sxx * syy) } else { 1.0 };
    Some((my - b * mx, b, r2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn grid(n: usize) -> Vec<f64> {
        (0..n).map(|i| 10.0 * i as f64).collect()
    }

    #[test]
    fn a_drop_to_zero_a_rise_and_a_flat_series() {
        let t = grid(8);
        let gap = [1.0, 1.1, 0.9, 1.0, 0.02, 0.01, 0.0, 0.0];
        assert_eq!(first_departure(&t, &gap, 3, 0.5, 3.0, 0.0).unwrap(), Some(4));
        let rise = [2.0, 2.1, 1.9, 2.0, 2.2, 9.0, 9.0, 9.0];
        assert_eq!(first_departure(&t, &rise, 3, 0.5, 3.0, 0.0).unwrap(), Some(5));
        assert_eq!(first_departure(&t, &[3.0; 8], 3, 0.5, 3.0, 0.0).unwrap(), None);
        // Not before `from` (at epoch 60 the median of 2.0, 2.2, 9.0 is 2.2: 9.0 still departs),
        // and a NaN (diverged evaluation) never triggers.
        assert_eq!(first_departure(&t, &rise, 3, 0.5, 3.0, 60.0).unwrap(), Some(6));
        assert_eq!(first_departure(&t, &rise, 3, 0.5, 3.0, 80.0).unwrap(), None);
        let nan = [1.0, 1.0, 1.0, f64::NAN, 1.0, 0.1, 0.1, 0.1];
        assert_eq!(first_departure(&t, &nan, 3, 0.5, 3.0, 0.0).unwrap(), Some(5));
        assert!(first_departure(&t, &gap[..3], 3, 0.5, 3.0, 0.0).is_err());
        assert!(first_departure(&t, &gap, 0, 0.5, 3.0, 0.0).is_err());
        // Noise near zero: a relative threshold alone fires on it, the MAD term does not; a real
        // jump out of the noise still fires.
        let noisy = [0.01, 0.03, 0.0, 0.02, 0.012, 0.028, 0.005, 0.3];
        assert_eq!(first_departure(&t, &noisy, 4, 0.5, 0.0, 0.0).unwrap(), Some(5));
        assert_eq!(first_departure(&t, &noisy, 4, 0.5, 3.0, 0.0).unwrap(), Some(7));
    }

    #[test]
    fn line_fit_is_exact_on_a_line_and_r2_drops_with_curvature() {
        let x: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let (a, b, r2) = linear_fit(&x, &x.iter().map(|v| 0.5 - 0.05 * v).collect::<Vec<_>>()).unwrap();
        assert!((a - 0.5).abs() < 1e-12 && (b + 0.05).abs() < 1e-12 && (r2 - 1.0).abs() < 1e-12);
        let (_, _, r2) = linear_fit(&x, &x.iter().map(|v| (-v).exp()).collect::<Vec<_>>()).unwrap();
        assert!(r2 < 0.8, "{r2}");
        assert!(linear_fit(&[1.0, 1.0], &[0.0, 1.0]).is_none());
    }

    #[test]
    fn before_after_means() {
        let t = grid(6);
        let (b, a) = before_after(&t, &[1.0, 2.0, 3.0, 4.0, f64::NAN, 6.0], 30.0, 20.0);
        assert_eq!((b, a), (2.5, 5.0));
        assert!(before_after(&t, &[1.0; 6], 0.0, 5.0).0.is_nan());
    }

    proptest! {
        /// Scaling a series by a positive constant does not move its departure (the rule is
        /// scale-free), and a series that stays within rel of a constant never departs.
        #[test]
        fn departure_is_scale_free(x in prop::collection::vec(0.1f64..10.0, 2..40), k in -6i32..7, window in 1usize..5) {
            // powers of two scale exactly, so no comparison can flip by rounding
            let s = 2f64.powi(k);
            let t = grid(x.len());
            let scaled: Vec<f64> = x.iter().map(|v| v * s).collect();
            prop_assert_eq!(first_departure(&t, &x, window, 0.3, 2.0, 0.0).unwrap(), first_departure(&t, &scaled, window, 0.3, 2.0, 0.0).unwrap());
            let flat: Vec<f64> = x.iter().map(|v| 5.0 + 0.01 * v).collect();
            prop_assert_eq!(first_departure(&t, &flat, window, 0.3, 2.0, 0.0).unwrap(), None);
        }
    }
}
