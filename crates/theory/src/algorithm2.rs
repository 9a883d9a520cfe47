//! The thresholds of Algorithm 2 (early stopping), as Section 4.3 and Appendix F define them.
//! The detector itself (a monitor over training metrics) lives with the models; the arithmetic of
//! its thresholds is here so the paper-checks ledger can recompute Appendix F's numbers.

use crate::TheoryError;

/// Discriminator-gradient threshold k_d / (2 sigma) of Algorithm 2, line 5: the field norm
/// 1/(4 sigma - r) of Assumption 4.1 at r = 2 sigma, scaled by the mode distance k_d.
pub fn disc_grad_threshold(k_d: f64, sigma: f64) -> Result<f64, TheoryError> {
    if !(k_d.is_finite() && k_d > 0.0) {
        return Err(TheoryError::invalid("k_d", format!("must be > 0, got {k_d}")));
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return Err(TheoryError::invalid("sigma", format!("must be > 0, got {sigma}")));
    }
    Ok(k_d / (2.0 * sigma))
}

/// Appendix F's sigma for image data: sqrt(mean class variance / number of dimensions).
pub fn sigma_from_variance(mean_class_variance: f64, dims: usize) -> Result<f64, TheoryError> {
    if !(mean_class_variance.is_finite() && mean_class_variance > 0.0) {
        return Err(TheoryError::invalid(
            "variance",
            format!("must be > 0, got {mean_class_variance}"),
        ));
    }
    if dims == 0 {
        return Err(TheoryError::invalid("dims", "must be >= 1"));
    }
    Ok((mean_class_variance / dims as f64).sqrt())
}

/// The quantile level 1 - 1/m of the per-batch gradient norms (Algorithm 2, line 3).
pub fn quantile_level(modes: usize) -> Result<f64, TheoryError> {
    if modes == 0 {
        return Err(TheoryError::invalid("modes", "must be >= 1"));
    }
    Ok(1.0 - 1.0 / modes as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_the_assumption_4_1_norm_at_two_sigma_times_k_d() {
        // ||grad d / d|| = 1/(4 sigma - r) at r = 2 sigma is 1/(2 sigma).
        let sigma = 0.3;
        let norm_at_2sigma = 1.0 / (4.0 * sigma - 2.0 * sigma);
        assert!((disc_grad_threshold(1.7, sigma).unwrap() - 1.7 * norm_at_2sigma).abs() < 1e-12);
        assert!(disc_grad_threshold(1.0, 0.0).unwrap_err().to_string().contains("sigma"));
        assert!(disc_grad_threshold(-1.0, 1.0).unwrap_err().to_string().contains("k_d"));
    }

    #[test]
    fn sigma_and_quantile_level() {
        assert!((sigma_from_variance(4.0, 4).unwrap() - 1.0).abs() < 1e-15);
        assert_eq!(quantile_level(8).unwrap(), 0.875);
        assert!(quantile_level(0).is_err());
    }
}
