//! When does a training signal move? Two summaries of a series sampled at (possibly sparse)
//! epochs, used to compare collapse signals (the paper's probes, the duality gaps) against a
//! collapse measured on the samples (`dgap-gmm`):
//!
//! - [`first_departure`]: the first sample that leaves its recent level, |x_k - m_k| > rel |m_k|
//!   with m_k the median of the `window` finite samples before it. A direction-free change-point
//!   rule with one scale-free threshold, so it applies alike to a gap that falls to zero, a
//!   quantile that rises and a steepness that drops.
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
/// `window` finite samples before it by more than `rel` times that median's magnitude.
pub fn first_departure(epochs: &[f64], x: &[f64], window: usize, rel: f64, from: f64) -> Result<Option<usize>> {
    if epochs.len() != x.len() {
        return Err(MetricsError::invalid("x", format!("{} values for {} epochs", x.len(), epochs.len())));
    }
    if window == 0 || !(rel > 0.0) {
        return Err(MetricsError::invalid("window/rel", format!("need window >= 1 and rel > 0, got {window} and {rel}")));
    }
    let mut recent: Vec<f64> = Vec::new();
    for (k, (&t, &v)) in epochs.iter().zip(x).enumerate() {
        if !v.is_finite() {
            continue;
        }
        if t >= from && recent.len() >= window {
            let m = median(&mut recent[recent.len() - window..].to_vec());
            if (v - m).abs() > rel * m.abs() {
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
        assert_eq!(first_departure(&t, &gap, 3, 0.5, 0.0).unwrap(), Some(4));
        let rise = [2.0, 2.1, 1.9, 2.0, 2.2, 9.0, 9.0, 9.0];
        assert_eq!(first_departure(&t, &rise, 3, 0.5, 0.0).unwrap(), Some(5));
        assert_eq!(first_departure(&t, &[3.0; 8], 3, 0.5, 0.0).unwrap(), None);
        // Not before `from`, and a NaN (diverged evaluation) never triggers.
        assert_eq!(first_departure(&t, &rise, 3, 0.5, 60.0).unwrap(), None);
        let nan = [1.0, 1.0, 1.0, f64::NAN, 1.0, 0.1, 0.1, 0.1];
        assert_eq!(first_departure(&t, &nan, 3, 0.5, 0.0).unwrap(), Some(5));
        assert!(first_departure(&t, &gap[..3], 3, 0.5, 0.0).is_err());
        assert!(first_departure(&t, &gap, 0, 0.5, 0.0).is_err());
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
            prop_assert_eq!(first_departure(&t, &x, window, 0.3, 0.0).unwrap(), first_departure(&t, &scaled, window, 0.3, 0.0).unwrap());
            let flat: Vec<f64> = x.iter().map(|v| 5.0 + 0.01 * v).collect();
            prop_assert_eq!(first_departure(&t, &flat, window, 0.3, 0.0).unwrap(), None);
        }
    }
}
