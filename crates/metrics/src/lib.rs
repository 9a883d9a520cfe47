//! Sample-quality metrics for generative models, on plain row-major f64 feature matrices:
//!
//! - [`frechet`]: the Frechet distance between Gaussians fitted to two feature sets (FID when the
//!   features are Inception pool3 activations), with pytorch-fid's formula and a symmetric,
//!   eigendecomposition-based matrix square root.
//! - [`prdc`]: k-NN precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem
//!   et al. 2020), as the `prdc` package computes them, and the fixed-radius precision/recall of
//!   seed 001 section 16.4.
//! - [`prd`]: PRD curves (Sajjadi et al. 2018) with F_8 and F_1/8.
//! - [`clustering`]: seeded k-means (linfa-clustering) for PRD and the figures.
//! - [`mixture`]: mode coverage and the high-quality-sample rate on Gaussian mixtures.
//! - [`classes`]: class histograms with total-variation and chi-squared divergence to the real
//!   allocation, and the class-pair counts of the paper's Figure 4 (Appendix F.1).
//! - [`collapse`]: the written ground-truth collapse rule for image runs (classes covered, FID).
//!
//! Inputs are [`Rows`] views (a slice and a column count); every function checks shapes and
//! finiteness and returns [`MetricsError`] naming the offending argument instead of panicking.

pub mod classes;
pub mod clustering;
pub mod collapse;
mod eigenvalues;
pub mod frechet;
mod linalg;
pub mod mixture;
pub mod prd;
pub mod prdc;
pub mod signals;

pub use frechet::{fid, frechet_distance, Gaussian};
pub use prdc::{prdc, Prdc};

/// Errors: an invalid argument (named) or a numerical failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum MetricsError {
    #[error("invalid `{name}`: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("numerical failure: {0}")]
    Numerical(String),
}

impl MetricsError {
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid { name, reason: reason.into() }
    }
}

pub type Result<T> = std::result::Result<T, MetricsError>;

/// A row-major matrix view: `rows` samples of `cols` features, `data[r * cols + c]`.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    data: &'a [f64],
    rows: usize,
    cols: usize,
}

impl<'a> Rows<'a> {
    /// Checks that `data` is a non-empty whole number of rows of `cols` finite values; `name`
    /// names the argument in errors ("real", "fake", ...).
    pub fn new(data: &'a [f64], cols: usize, name: &'static str) -> Result<Self> {
        if cols == 0 {
            return Err(MetricsError::invalid(name, "0 features per row"));
        }
        #[allow(clippy::manual_is_multiple_of)] // is_multiple_of needs Rust 1.87; the workspace allows 1.85
        if data.is_empty() || data.len() % cols != 0 {
            return Err(MetricsError::invalid(
                name,
                format!("{} values are not a non-empty whole number of rows of {cols}", data.len()),
            ));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(MetricsError::invalid(name, format!("value {} at row {}, column {} is not finite", data[i], i / cols, i % cols)));
        }
        Ok(Self { data, rows: data.len() / cols, cols })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn data(&self) -> &'a [f64] {
        self.data
    }

    pub fn row(&self, r: usize) -> &'a [f64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
}

pub(crate) fn same_cols(a: &Rows, b: &Rows) -> Result<()> {
    if a.cols != b.cols {
        return Err(MetricsError::invalid("fake", format!("{} features per row, but real has {}", b.cols, a.cols)));
    }
    Ok(())
}
