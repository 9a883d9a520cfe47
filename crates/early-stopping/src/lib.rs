//! Algorithm 2 of "Evolution of Discriminator and Generator Gradients in GAN Training" (Section
//! 4.3) without any tensor library: the [`EarlyStopping`] monitor a training loop feeds with
//! q_d and the mean steepness, the quantile of line 3, and Appendix F's thresholds computed from
//! a labelled data set ([`thresholds`]).
//!
//! It lives apart from `models` (burn) so that the Python bindings (`python/`) and the training-log
//! detector (`experiments detect --log`) use the very same code without compiling burn;
//! `models::early_stopping` re-exports [`monitor`].

pub mod monitor;
pub mod rules;
pub mod thresholds;

pub use monitor::{
    CheckpointRef, Decision, EarlyStopping, EarlyStoppingConfig, EarlyStoppingError, EpochAggregate, Granularity, StopEvent,
    StopReason,
};
pub use thresholds::{appendix_f, Thresholds, ThresholdsError, VarianceReading};

/// The `level` quantile of `values` with linear interpolation between order statistics (the
/// default of numpy.quantile and torch.quantile), of f32 or f64 values. NaN for an empty slice.
pub fn quantile<T: Copy + Into<f64>>(values: &[T], level: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v: Vec<f64> = values.iter().map(|&x| x.into()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = level.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    v[lo] + (pos - lo as f64) * (v[hi] - v[lo])
}

/// Algorithm 2 line 3: the (1 - 1/m) quantile of the per-sample ratios, m = number of modes.
pub fn mode_quantile<T: Copy + Into<f64>>(values: &[T], modes: usize) -> f64 {
    quantile(values, 1.0 - 1.0 / modes.max(1) as f64)
}

/// Arithmetic mean (NaN for an empty slice).
pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_matches_numpy_linear_for_f32_and_f64() {
        let v = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        // numpy.quantile(v, 0.875) = 6.375 ; 0.5 -> 3.5 ; 0 -> 1 ; 1 -> 9
        assert!((quantile(&v, 0.875) - 6.375).abs() < 1e-12);
        let v32: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        assert_eq!(quantile(&v32, 0.5), 3.5);
        assert_eq!(mode_quantile(&v, 8), quantile(&v, 0.875));
        assert!(quantile::<f64>(&[], 0.5).is_nan() && mean(&[]).is_nan());
    }
}
