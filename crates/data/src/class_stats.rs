//! The class statistics of Appendices E and F.
//!
//! Appendix E: "We calculate the average image tensor for each label based on a set of 10 image
//! tensors sharing the same label. Next, we compute the pairwise distances between these average
//! tensors using the Frobenius norm." Appendix F then sets k_d to "the distance between two
//! farthest modes" and sigma from "the population variance of the images from each label,
//! arriving at 10 values. Then we compute their average value, and divide this value by
//! 64 x 64 x 1, i.e., the total number of dimensions", with threshold
//! k_d / (2 sqrt(0.33 / 64^2)) for MNIST and Fashion-MNIST.
//!
//! "The population variance of the images from each label" has more than one reading, and they
//! differ by the factor D (the number of dimensions) that decides the threshold, so
//! [`ClassStats`] reports all of them:
//! - `trace`: the variance of the image *vectors*, E||x - m_c||^2 = sum over pixels of the
//!   per-pixel population variance (the trace of the class covariance). Divided by D it is the
//!   per-dimension variance of an isotropic model, the sigma^2 of Assumption 4.1.
//! - `per_pixel`: the per-pixel population variance averaged over pixels (= trace / D).
//! - `pooled`: the population variance of all pixel values of the class taken as one list of
//!   numbers (`np.var(images_of_label)`); it adds the spatial variance of the class-mean image
//!   to `per_pixel`.
//!
//! All variances are population variances (divide by N, numpy's default `ddof=0`).

/// Streams images (already preprocessed to f64) into per-class sums, so statistics over a whole
/// data set never hold more than one image at a time.
#[derive(Clone, Debug)]
pub struct ClassAccumulator {
    dims: usize,
    count: Vec<u64>,
    sum: Vec<f64>,
    sumsq: Vec<f64>,
}

/// Per-class means and variances of a set of images.
#[derive(Clone, Debug)]
pub struct ClassStats {
    pub dims: usize,
    /// Images per class.
    pub count: Vec<u64>,
    /// Class-mean images, `means[c]` of length `dims`.
    pub means: Vec<Vec<f64>>,
    /// Per class: sum over pixels of the per-pixel population variance (E||x - m_c||^2).
    pub trace: Vec<f64>,
    /// Per class: population variance of all pixel values pooled as one list.
    pub pooled: Vec<f64>,
}

impl ClassAccumulator {
    pub fn new(classes: usize, dims: usize) -> Self {
        Self { dims, count: vec![0; classes], sum: vec![0.0; classes * dims], sumsq: vec![0.0; classes * dims] }
    }

    /// Adds one image of class `label` (`x.len()` must equal `dims`; panics otherwise, as a
    /// programming error, not a data error).
    pub fn add(&mut self, label: usize, x: &[f64]) {
        assert_eq!(x.len(), self.dims, "image length");
        self.count[label] += 1;
        let s = &mut self.sum[label * self.dims..(label + 1) * self.dims];
        let q = &mut self.sumsq[label * self.dims..(label + 1) * self.dims];
        for ((s, q), &v) in s.iter_mut().zip(q.iter_mut()).zip(x) {
            *s += v;
            *q += v * v;
        }
    }

    /// The statistics of every class (a class with no image has NaN means and variances).
    pub fn finish(&self) -> ClassStats {
        let d = self.dims;
        let classes = self.count.len();
        let mut means = Vec::with_capacity(classes);
        let mut trace = Vec::with_capacity(classes);
        let mut pooled = Vec::with_capacity(classes);
        for c in 0..classes {
            let n = self.count[c] as f64;
            let s = &self.sum[c * d..(c + 1) * d];
            let q = &self.sumsq[c * d..(c + 1) * d];
            let m: Vec<f64> = s.iter().map(|v| v / n).collect();
            // Per-pixel population variance E[x^2] - E[x]^2, clamped at 0 against rounding.
            let tr: f64 = q.iter().zip(&m).map(|(q, m)| (q / n - m * m).max(0.0)).sum();
            let grand_mean = s.iter().sum::<f64>() / (n * d as f64);
            let grand_sq = q.iter().sum::<f64>() / (n * d as f64);
            means.push(m);
            trace.push(tr);
            pooled.push((grand_sq - grand_mean * grand_mean).max(0.0));
        }
        ClassStats { dims: d, count: self.count.clone(), means, trace, pooled }
    }
}

/// Averages over classes of the variance readings (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VarianceReadings {
    /// Mean over classes of E||x - m_c||^2 (the trace of the class covariance).
    pub trace: f64,
    /// Mean over classes of the per-pixel variance averaged over pixels (= trace / D).
    pub per_pixel: f64,
    /// Mean over classes of the pooled variance of all pixel values.
    pub pooled: f64,
    pub dims: usize,
}

impl ClassStats {
    /// The class-averaged variance readings (classes without images are left out).
    pub fn variance_readings(&self) -> VarianceReadings {
        let live: Vec<usize> = (0..self.count.len()).filter(|&c| self.count[c] > 0).collect();
        let avg = |v: &[f64]| live.iter().map(|&c| v[c]).sum::<f64>() / live.len() as f64;
        let trace = avg(&self.trace);
        VarianceReadings { trace, per_pixel: trace / self.dims as f64, pooled: avg(&self.pooled), dims: self.dims }
    }
}

/// The mean of the given rows (each of length `dims`).
pub fn mean_image<'a>(rows: impl IntoIterator<Item = &'a [f64]>, dims: usize) -> Vec<f64> {
    let mut m = vec![0.0; dims];
    let mut n = 0usize;
    for r in rows {
        for (a, b) in m.iter_mut().zip(r) {
            *a += b;
        }
        n += 1;
    }
    m.iter_mut().for_each(|v| *v /= n as f64);
    m
}

/// Frobenius (= Euclidean, for flattened images) distances between every pair of class means.
pub fn frobenius_distances(means: &[Vec<f64>]) -> Vec<Vec<f64>> {
    means
        .iter()
        .map(|a| means.iter().map(|b| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()).collect())
        .collect()
}

/// The farthest pair (i < j) of a distance matrix and its distance: Appendix F's k_d.
pub fn farthest_pair(dist: &[Vec<f64>]) -> (usize, usize, f64) {
    upper_pairs(dist).fold((0, 0, f64::NEG_INFINITY), |best, p| if p.2 > best.2 { p } else { best })
}

/// Every (i, j, dist[i][j]) with i < j.
fn upper_pairs(dist: &[Vec<f64>]) -> impl Iterator<Item = (usize, usize, f64)> + '_ {
    dist.iter().enumerate().flat_map(|(i, row)| row.iter().enumerate().skip(i + 1).map(move |(j, &v)| (i, j, v)))
}

/// The nearest pair (i < j) of a distance matrix and its distance.
pub fn nearest_pair(dist: &[Vec<f64>]) -> (usize, usize, f64) {
    upper_pairs(dist).fold((0, 0, f64::INFINITY), |best, p| if p.2 < best.2 { p } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_against_direct_computation() {
        // Two classes of three 4-pixel images.
        let imgs: [(usize, [f64; 4]); 6] = [
            (0, [1.0, -1.0, 0.5, 0.0]),
            (0, [0.0, -1.0, 0.5, 1.0]),
            (0, [-1.0, -0.5, 0.0, 1.0]),
            (1, [0.2, 0.2, 0.2, 0.2]),
            (1, [0.4, 0.2, 0.0, -0.2]),
            (1, [0.0, 0.0, 0.0, 0.0]),
        ];
        let mut acc = ClassAccumulator::new(2, 4);
        for (l, x) in &imgs {
            acc.add(*l, x);
        }
        let st = acc.finish();
        for c in 0..2 {
            let xs: Vec<&[f64; 4]> = imgs.iter().filter(|(l, _)| *l == c).map(|(_, x)| x).collect();
            let m = mean_image(xs.iter().map(|x| &x[..]), 4);
            let tr: f64 = xs.iter().map(|x| x.iter().zip(&m).map(|(a, b)| (a - b).powi(2)).sum::<f64>()).sum::<f64>() / 3.0;
            let all: Vec<f64> = xs.iter().flat_map(|x| x.iter().copied()).collect();
            let mu = all.iter().sum::<f64>() / 12.0;
            let pooled = all.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / 12.0;
            assert!((st.trace[c] - tr).abs() < 1e-12 && (st.pooled[c] - pooled).abs() < 1e-12);
            assert!(st.means[c].iter().zip(&m).all(|(a, b)| (a - b).abs() < 1e-15));
            // pooled = per-pixel + spatial variance of the mean image
            let mm = m.iter().sum::<f64>() / 4.0;
            let spatial = m.iter().map(|v| (v - mm).powi(2)).sum::<f64>() / 4.0;
            assert!((pooled - (tr / 4.0 + spatial)).abs() < 1e-12);
        }
        let r = st.variance_readings();
        assert!((r.per_pixel - r.trace / 4.0).abs() < 1e-15);
    }

    #[test]
    fn distances_and_pairs() {
        let means = vec![vec![0.0, 0.0], vec![3.0, 4.0], vec![0.0, 1.0]];
        let d = frobenius_distances(&means);
        assert_eq!(d[0][1], 5.0);
        assert_eq!(d[1][0], 5.0);
        assert_eq!(d[2][2], 0.0);
        assert_eq!(farthest_pair(&d), (0, 1, 5.0));
        assert_eq!(nearest_pair(&d), (0, 2, 1.0));
    }
}
