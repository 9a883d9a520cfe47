//! The mathematics of "Evolution of Discriminator and Generator Gradients in GAN Training: From
//! Fitting to Collapse" and of its companion notes, in plain f64: densities (Assumption 2.1),
//! the particle field of Theorem C.1 and Props C.1-C.4, the steepness bounds of Theorems 3.1, 3.2
//! and 3.4, the Theorem 3.3 ODE with a direct simulation of the flow it describes, the collapse
//! analysis of Assumption 4.1 / Theorem 4.2, the recurrences of Theorem C.5 and Props D.1-D.2,
//! and the forward/reverse KL toy of seed 001 section 16.7.
//!
//! Every public item cites the equation it implements. Where the paper's printed form and a
//! re-derivation differ, both are provided (`*_as_printed` next to the corrected one), so the
//! paper-checks ledger can show the difference instead of hiding it.

pub mod algorithm2;
pub mod bounds;
pub mod collapse;
pub mod field;
pub mod kl_toy;
pub mod mixture;
pub mod particle;
pub mod recurrence;
pub mod steepness_ode;
pub mod suboptimal;
pub mod transport;

pub use collapse::LocallyLinearDiscriminator;
pub use field::{field_value, FieldRow, FieldValue, Grid2d, Table2Case};
pub use mixture::{Density, Mixture, Mixture1d, UniformBox};

/// Errors of the theory crate: an invalid parameter (named) or a numerical failure.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum TheoryError {
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// `Ok` when `v` is finite and > 0, else an error naming the parameter.
pub(crate) fn positive(name: &'static str, v: f64) -> Result<(), TheoryError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(TheoryError::invalid(name, format!("must be finite and > 0, got {v}")))
    }
}

impl TheoryError {
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}
