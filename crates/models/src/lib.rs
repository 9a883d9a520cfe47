//! NSGAN on burn 0.21 for the reproduction of "Evolution of Discriminator and Generator
//! Gradients in GAN Training: From Fitting to Collapse".
//!
//! - [`backends`]: the burn backends (ndarray, flex, cuda behind the `cuda` feature), named once.
//! - [`nets`], [`mlp`], [`dcgan`]: the networks (mixture MLPs; DCGAN for images), with an explicit
//!   train/inference mode and optional Gaussian noise layers in the discriminator (App. G.7).
//! - [`gan`]: the NSGAN step in NS form and in Algorithm 1's particle form (Corollary C.1).
//! - [`remedies`]: options against failure modes (instance noise, minimax loss, WGAN-GP, spectral
//!   norm, minibatch discrimination, feature matching, unrolling, mode seeking).
//! - [`probes`]: ||grad d / d|| (Section 2.2) and the steepness ||J_g||_2 (Definition 2.1).
//! - [`classifier`]: the project's classifier q(x) (small CNN) for Figure 4's class pairs and as
//!   the feature extractor of FID / precision-recall on 28x28 images.
//! - [`early_stopping`]: Algorithm 2 as a monitor (the burn-free `early-stopping` crate, re-exported).
//! - [`duality_gap`]: the duality gap and the perturbed duality gap of a (G, D) pair.
//! - [`checkpoint`], [`train`]: burn-record checkpoints and the epoch loop with resume.
//! - [`inception`]: pytorch-fid's Inception-v3 (FID features), loading its `.pth` with burn-store.
//!
//! None of it depends on the experiments runner: a user training their own burn GAN implements
//! [`nets::GanGenerator`] / [`nets::GanDiscriminator`] and calls the probes and the monitor.

pub mod backends;
mod batch_norm;
pub mod bench;
pub mod checkpoint;
pub mod classifier;
pub mod dcgan;
pub mod duality_gap;
pub mod gan;
pub mod inception;
pub mod mlp;
pub mod nets;
pub mod probes;
pub mod remedies;
pub mod train;

pub use backends::{BackendError, BackendKind};
/// Algorithm 2 lives in the burn-free `early-stopping` crate (shared with the Python bindings and
/// `experiments detect`); `models::early_stopping::...` keeps naming it.
pub use ::early_stopping::monitor as early_stopping;
pub use ::early_stopping::{EarlyStopping, EarlyStoppingConfig, Granularity, StopEvent, StopReason};
pub use gan::{Gan, GeneratorLoss, OptimizerKind, TrainConfig};
pub use nets::{GanDiscriminator, GanGenerator, Mode};
pub use remedies::{RemedyError, Remedies};

/// The burn version this crate is built on, re-exported so that users (and the runner) name the
/// same one.
pub use burn;
