//! Appendix F's thresholds of Algorithm 2 computed from a labelled image set, the recipe the paper
//! applies to MNIST and Fashion-MNIST:
//!
//! - k_d: the Frobenius distance between the two farthest class means, each mean taken over the
//!   first `per_label` images of its label in the given order (Appendix E: 10);
//! - sigma = sqrt(V / D): V the class variance averaged over the classes, D the number of
//!   dimensions of an image (Appendix F: "divide this value by 64 x 64 x 1");
//! - threshold k_d / (2 sigma) (Algorithm 2, line 5).
//!
//! "The population variance of the images from each label" has three readings that differ by
//! factors of D (see `data::class_stats`); [`VarianceReading::Pooled`] (`np.var` of all pixel
//! values of a class) reproduces the paper's MNIST value 0.33 and is the default of the callers.
//! The statistics are `data::class_stats`' and the arithmetic `theory::algorithm2`'s: this module
//! only checks the input and wires them.

use data::class_stats::{farthest_pair, frobenius_distances, mean_image, ClassAccumulator};
use theory::algorithm2::{disc_grad_threshold, sigma_from_variance};

/// Which class variance V enters sigma = sqrt(V / D).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarianceReading {
    /// Population variance of all pixel values of a class pooled as one list (the paper's 0.33).
    Pooled,
    /// Per-pixel population variance averaged over pixels (trace of the class covariance / D).
    PerPixel,
    /// E||x - m_c||^2, the trace of the class covariance (then sigma is the per-dimension sd of
    /// an isotropic model, Assumption 4.1's sigma).
    Trace,
}

impl VarianceReading {
    pub fn parse(s: &str) -> Result<Self, ThresholdsError> {
        match s {
            "pooled" => Ok(Self::Pooled),
            "per_pixel" | "per-pixel" => Ok(Self::PerPixel),
            "trace" => Ok(Self::Trace),
            other => Err(ThresholdsError::invalid("variance", format!("{other:?} is not pooled, per_pixel or trace"))),
        }
    }
}

/// Appendix F's quantities for one data set.
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// Distance between the farthest pair of class means.
    pub k_d: f64,
    /// The farthest pair (labels i < j).
    pub pair: (usize, usize),
    /// sqrt(V / D).
    pub sigma: f64,
    /// k_d / (2 sigma).
    pub threshold: f64,
    /// V, the class-averaged variance of the chosen reading.
    pub variance: f64,
    /// D.
    pub dims: usize,
    /// Number of classes (largest label + 1).
    pub classes: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdsError {
    #[error("invalid `{name}`: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(transparent)]
    Theory(#[from] theory::TheoryError),
}

impl ThresholdsError {
    fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid { name, reason: reason.into() }
    }
}

/// Appendix F from data: `images` row-major (`labels.len()` rows of `dims` values, already
/// preprocessed as the GAN sees them, e.g. 64x64 in [-1, 1]), `labels[i]` the class of row i
/// (0..C-1, every class with at least `per_label` images).
pub fn appendix_f(images: &[f64], dims: usize, labels: &[usize], per_label: usize, reading: VarianceReading) -> Result<Thresholds, ThresholdsError> {
    if dims == 0 {
        return Err(ThresholdsError::invalid("images", "0 values per image"));
    }
    if per_label == 0 {
        return Err(ThresholdsError::invalid("per_label", "must be >= 1"));
    }
    if images.len() != labels.len() * dims {
        return Err(ThresholdsError::invalid(
            "labels",
            format!("{} labels for {} values ({} images of {dims})", labels.len(), images.len(), images.len() as f64 / dims as f64),
        ));
    }
    if let Some(i) = images.iter().position(|v| !v.is_finite()) {
        return Err(ThresholdsError::invalid("images", format!("value {} of image {} is not finite", images[i], i / dims)));
    }
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    if classes < 2 {
        return Err(ThresholdsError::invalid("labels", format!("{classes} class(es): k_d needs at least 2")));
    }
    let mut by_label: Vec<Vec<usize>> = vec![vec![]; classes];
    for (i, &l) in labels.iter().enumerate() {
        by_label[l].push(i);
    }
    if let Some((c, idx)) = by_label.iter().enumerate().find(|(_, idx)| idx.len() < per_label) {
        return Err(ThresholdsError::invalid("labels", format!("class {c} has {} image(s), fewer than per_label = {per_label}", idx.len())));
    }
    let row = |i: usize| &images[i * dims..(i + 1) * dims];
    // Appendix E: the mean of the first `per_label` images of each label.
    let means: Vec<Vec<f64>> = by_label.iter().map(|idx| mean_image(idx[..per_label].iter().map(|&i| row(i)), dims)).collect();
    let (i, j, k_d) = farthest_pair(&frobenius_distances(&means));
    // Appendix F: the class variances over every image of the label, averaged over classes.
    let mut acc = ClassAccumulator::new(classes, dims);
    for (n, &l) in labels.iter().enumerate() {
        acc.add(l, row(n));
    }
    let r = acc.finish().variance_readings();
    let variance = match reading {
        VarianceReading::Pooled => r.pooled,
        VarianceReading::PerPixel => r.per_pixel,
        VarianceReading::Trace => r.trace,
    };
    let sigma = sigma_from_variance(variance, dims)?;
    Ok(Thresholds { k_d, pair: (i, j), sigma, threshold: disc_grad_threshold(k_d, sigma)?, variance, dims, classes })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes of 2-pixel images, every quantity computed by hand.
    #[test]
    fn recipe_by_hand() {
        // class 0: (0,0), (2,0), [later: (4,4)]; class 1: (0,4), (0,6); class 2: (10,0), (10,2)
        let imgs = [0.0, 0.0, 0.0, 4.0, 10.0, 0.0, 2.0, 0.0, 0.0, 6.0, 10.0, 2.0, 4.0, 4.0];
        let labels = [0, 1, 2, 0, 1, 2, 0];
        let t = appendix_f(&imgs, 2, &labels, 2, VarianceReading::Pooled).unwrap();
        // means of the first two: (1,0), (0,5), (10,1); farthest: 1-2, sqrt(100 + 16)
        assert_eq!(t.pair, (1, 2));
        assert!((t.k_d - 116f64.sqrt()).abs() < 1e-12);
        // pooled variances (np.var of all pixel values): class 0 {0,0,2,0,4,4} -> mean 5/3,
        // E[x^2] = 36/6 = 6 -> 6 - 25/9 = 29/9; class 1 {0,4,0,6}: 13 - 6.25 = 6.75;
        // class 2 {10,0,10,2}: 51 - 30.25 = 20.75
        let v = (29.0 / 9.0 + 6.75 + 20.75) / 3.0;
        assert!((t.variance - v).abs() < 1e-12);
        assert!((t.sigma - (v / 2.0).sqrt()).abs() < 1e-12);
        assert!((t.threshold - t.k_d / (2.0 * t.sigma)).abs() < 1e-12);
        assert_eq!((t.dims, t.classes), (2, 3));
        // trace reading: class 0 per-pixel variances: x {0,2,4} -> 8/3, y {0,0,4} -> 32/9;
        // class 1: x 0, y 1; class 2: x 0, y 1
        let tr = appendix_f(&imgs, 2, &labels, 2, VarianceReading::Trace).unwrap();
        assert!((tr.variance - (8.0 / 3.0 + 32.0 / 9.0 + 1.0 + 1.0) / 3.0).abs() < 1e-12);
        let pp = appendix_f(&imgs, 2, &labels, 2, VarianceReading::PerPixel).unwrap();
        assert!((pp.variance - tr.variance / 2.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_named() {
        let e = |r: Result<Thresholds, ThresholdsError>| match r.unwrap_err() {
            ThresholdsError::Invalid { name, .. } => name,
            other => panic!("{other}"),
        };
        let imgs = [0.0, 1.0, 2.0, 3.0];
        assert_eq!(e(appendix_f(&imgs, 2, &[0], 1, VarianceReading::Pooled)), "labels");
        assert_eq!(e(appendix_f(&imgs, 2, &[0, 0], 1, VarianceReading::Pooled)), "labels", "one class");
        assert_eq!(e(appendix_f(&imgs, 2, &[0, 1], 2, VarianceReading::Pooled)), "labels", "too few per label");
        assert_eq!(e(appendix_f(&[f64::NAN, 1.0, 2.0, 3.0], 2, &[0, 1], 1, VarianceReading::Pooled)), "images");
        assert_eq!(e(appendix_f(&imgs, 2, &[0, 1], 0, VarianceReading::Pooled)), "per_label");
        assert_eq!(VarianceReading::parse("x").unwrap_err().to_string(), "invalid `variance`: \"x\" is not pooled, per_pixel or trace");
        // Identical images: zero variance, which theory names.
        assert!(matches!(appendix_f(&[1.0, 1.0, 1.0, 1.0], 2, &[0, 1], 1, VarianceReading::Pooled), Err(ThresholdsError::Theory(_))));
    }
}
