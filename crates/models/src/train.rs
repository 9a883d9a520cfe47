//! The epoch loop around [`Gan::step`]: data shuffling, latent sampling, both probes, the
//! Algorithm 2 monitor, checkpoints every N epochs with resume, and a clean stop on a
//! non-finite loss. Written for any [`GanGenerator`] / [`GanDiscriminator`], so the image items
//! reuse it with the DCGAN networks and an [`InMemoryData`] of images.
//!
//! Reproducibility: every random draw of epoch e comes from streams derived from (seed, e)
//! (the host StdRng for shuffling and latents; the backend RNG, reseeded per step under
//! [`rng_lock`], for the discriminator's noise layers and the remedies that draw: instance noise,
//! WGAN-GP interpolates; [`Gan::draws_random`]). A run resumed from the checkpoint of
//! epoch e therefore continues exactly as the uninterrupted run does (tested bit for bit).

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

use crate::backends::rng_lock;
use crate::checkpoint::{record_from_bytes, record_to_bytes, CheckpointDir, CheckpointError};
use crate::early_stopping::{EarlyStopping, EarlyStoppingConfig, EarlyStoppingError, Granularity, StopEvent};
use crate::gan::Gan;
use crate::nets::{tensor2, GanDiscriminator, GanGenerator};
use crate::probes::{mean, mode_quantile, steepness_exact, PowerSteepness};

/// A data set held in memory, `n x dim` row-major f32.
#[derive(Clone, Debug)]
pub struct InMemoryData {
    values: Vec<f32>,
    dim: usize,
}

impl InMemoryData {
    pub fn new(values: Vec<f32>, dim: usize) -> Result<Self, TrainError> {
        if dim == 0 || values.is_empty() || values.len() % dim != 0 {
            return Err(TrainError::Config(format!("data: {} values do not form rows of {dim}", values.len())));
        }
        Ok(Self { values, dim })
    }
    pub fn len(&self) -> usize {
        self.values.len() / self.dim
    }
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    fn gather(&self, idx: &[usize]) -> Vec<f32> {
        let mut out = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            out.extend_from_slice(&self.values[i * self.dim..(i + 1) * self.dim]);
        }
        out
    }
}

/// How the loop measures steepness.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SteepnessProbe {
    Off,
    /// Exact Jacobian spectral norm on `latents` fixed probe latents (small outputs only).
    Exact { latents: usize },
    /// One warm-started power iteration per probe on `latents` fixed probe latents.
    Power { latents: usize, h: f64 },
}

/// Settings of the epoch loop.
#[derive(Clone, Debug)]
pub struct LoopConfig {
    /// Train until this many epochs are done (counting epochs restored from a checkpoint).
    pub epochs: usize,
    pub batch_size: usize,
    /// Batches per epoch; `None` = one pass over the data (floor(n / batch)).
    pub batches_per_epoch: Option<usize>,
    pub seed: u64,
    pub steepness: SteepnessProbe,
    /// Probe steepness every this many iterations (0 = once per epoch, after its last batch).
    pub probe_every: usize,
    /// Algorithm 2; at `Granularity::Epoch` it is fed per-epoch aggregates.
    pub monitor: Option<EarlyStoppingConfig>,
    /// Stop training when the monitor fires (otherwise keep going and record).
    pub stop_when_fired: bool,
    /// Save a checkpoint every this many epochs (0 = never).
    pub checkpoint_every: usize,
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the newest checkpoint in `checkpoint_dir` if there is one.
    pub resume: bool,
}

impl LoopConfig {
    pub fn new(epochs: usize, batch_size: usize, seed: u64) -> Self {
        Self {
            epochs,
            batch_size,
            batches_per_epoch: None,
            seed,
            steepness: SteepnessProbe::Off,
            probe_every: 0,
            monitor: None,
            stop_when_fired: false,
            checkpoint_every: 0,
            checkpoint_dir: None,
            resume: false,
        }
    }
}

/// One epoch's summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based: the state after this many epochs.
    pub epoch: usize,
    pub loss_d: f64,
    pub loss_g: f64,
    /// Mean over the epoch's batches of the per-batch (1 - 1/m) quantile of ||grad d / d||.
    pub q_d: f64,
    /// Largest per-batch quantile of the epoch.
    pub q_d_max: f64,
    /// Mean steepness over the epoch's probes (NaN when the probe is off).
    pub steepness: f64,
    /// Whether the monitor fired during this epoch (first firing or a refire).
    pub fired: bool,
}

/// One iteration's probe values (recorded when the steepness was probed at that iteration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterRecord {
    pub iteration: usize,
    pub q_d: f64,
    pub steepness: f64,
}

/// Everything the loop needs to continue, saved with each checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopState {
    pub epochs_done: usize,
    pub iterations_done: usize,
    pub history: Vec<EpochRecord>,
    pub iter_history: Vec<IterRecord>,
    pub monitor: Option<EarlyStopping>,
    pub power: Option<PowerSteepness>,
    pub exact_latents: Option<Vec<f32>>,
}

/// What a finished (or stopped) run reports.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub state: LoopState,
    /// The monitor's first firing, if it fired.
    pub stop: Option<StopEvent>,
    /// Whether training ended because the monitor fired.
    pub stopped_early: bool,
    /// Checkpoint epoch the run resumed from.
    pub resumed_from: Option<usize>,
    pub seconds: f64,
}

/// Training failures; messages name the epoch or the file.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "training diverged in epoch {epoch} (iteration {iteration}): non-finite loss (loss_d = {loss_d}, loss_g = {loss_g}); {kept}"
    )]
    NonFinite { epoch: usize, iteration: usize, loss_d: f64, loss_g: f64, kept: String },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    EarlyStopping(#[from] EarlyStoppingError),
    #[error("invalid training setting: {0}")]
    Config(String),
    #[error("{0}")]
    Hook(String),
}

/// A seed for stream `stream` of epoch `epoch` (splitmix64 of the combination).
pub fn derive_seed(seed: u64, epoch: u64, stream: u64) -> u64 {
    let mut z = seed ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const PROBE_STREAM: u64 = 0x5EED_0F_9B0BE;

/// The fixed latents (`k x latent`, row-major) on which a run seeded `seed` probes the exact
/// steepness ([`SteepnessProbe::Exact`]), so that callers can probe the same ones (e.g. before
/// training).
pub fn probe_latents(seed: u64, k: usize, latent: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(derive_seed(seed, 0, PROBE_STREAM));
    (0..k * latent).map(|_| StandardNormal.sample(&mut rng)).collect()
}

/// What a caller observes during [`train_with_hooks`]: the state within an epoch (for records
/// finer than epochs: Figure 1's batches 0, 8, 32, 64; Figure 15's batch collections) and after
/// each epoch. Hooks must not change the training state (evaluate in [`crate::Mode::Eval`], draw
/// from their own seeded RNGs), so that a resumed run stays bit-identical.
pub trait TrainHooks<B, G, D>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    /// Called with `batches` = 0 before the first batch of (1-based) epoch `epoch`, then after
    /// each batch with the number of batches done in that epoch.
    fn within_epoch(&mut self, _epoch: usize, _batches: usize, _gan: &Gan<B, G, D>) -> Result<(), String> {
        Ok(())
    }
    /// Called before step `batch` (0-based) of (1-based) epoch `epoch` with that step's real
    /// batch and latents (`batch_size x dim` and `batch_size x latent`, row-major): what two runs
    /// must share to be paired (Appendix G.7: the noise-free and the noised GAN see the same data
    /// and latents at every step; the tests compare them).
    fn before_step(&mut self, _epoch: usize, _batch: usize, _real: &[f32], _latents: &[f32]) {}
    /// Called after every epoch (snapshots, evaluation); the score returned is attached to that
    /// epoch's checkpoint and used for "the best earlier checkpoint".
    fn after_epoch(&mut self, epoch: usize, gan: &Gan<B, G, D>, record: &EpochRecord) -> Result<Option<f64>, String>;
}

struct EpochFn<F>(F);

impl<B, G, D, F> TrainHooks<B, G, D> for EpochFn<F>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
    F: FnMut(usize, &Gan<B, G, D>, &EpochRecord) -> Result<Option<f64>, String>,
{
    fn after_epoch(&mut self, epoch: usize, gan: &Gan<B, G, D>, record: &EpochRecord) -> Result<Option<f64>, String> {
        (self.0)(epoch, gan, record)
    }
}

/// Trains `gan` on `data` as `cfg` says. `on_epoch(epoch, gan, record)` runs after every epoch
/// (snapshots, evaluation); the score it returns is attached to that epoch's checkpoint and
/// used for "the best earlier checkpoint".
pub fn train<B, G, D, F>(gan: &mut Gan<B, G, D>, data: &InMemoryData, cfg: &LoopConfig, on_epoch: F) -> Result<TrainReport, TrainError>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
    F: FnMut(usize, &Gan<B, G, D>, &EpochRecord) -> Result<Option<f64>, String>,
{
    train_with_hooks(gan, data, cfg, &mut EpochFn(on_epoch))
}

/// [`train`] with hooks inside the epoch as well ([`TrainHooks`]).
pub fn train_with_hooks<B, G, D, H>(gan: &mut Gan<B, G, D>, data: &InMemoryData, cfg: &LoopConfig, hooks: &mut H) -> Result<TrainReport, TrainError>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
    H: TrainHooks<B, G, D>,
{
    let t0 = Instant::now();
    if data.dim() != gan.d.in_dim() || gan.g.out_dim() != data.dim() {
        return Err(TrainError::Config(format!(
            "data dimension {} does not match the networks (G out {}, D in {})",
            data.dim(),
            gan.g.out_dim(),
            gan.d.in_dim()
        )));
    }
    if cfg.batch_size == 0 || cfg.batch_size > data.len() {
        return Err(TrainError::Config(format!("batch_size {} must be in 1..={}", cfg.batch_size, data.len())));
    }
    let per_epoch = cfg.batches_per_epoch.unwrap_or(data.len() / cfg.batch_size).max(1);
    let latent = gan.g.latent_dim();
    let ckpt = cfg.checkpoint_dir.as_ref().map(CheckpointDir::new);
    if cfg.checkpoint_every > 0 && ckpt.is_none() {
        return Err(TrainError::Config("checkpoint_every > 0 needs checkpoint_dir".into()));
    }

    let mut state = LoopState {
        epochs_done: 0,
        iterations_done: 0,
        history: vec![],
        iter_history: vec![],
        monitor: cfg.monitor.clone().map(EarlyStopping::new).transpose()?,
        power: match cfg.steepness {
            SteepnessProbe::Power { latents, h } => Some(PowerSteepness::new(latents, latent, h, derive_seed(cfg.seed, 0, PROBE_STREAM))),
            _ => None,
        },
        exact_latents: match cfg.steepness {
            SteepnessProbe::Exact { latents } => Some(probe_latents(cfg.seed, latents, latent)),
            _ => None,
        },
    };
    let mut resumed_from = None;
    if cfg.resume {
        if let Some(c) = &ckpt {
            if let Some(e) = c.latest() {
                state = load_checkpoint(gan, c, e)?;
                resumed_from = Some(e);
            }
        }
    }

    let noise = gan.draws_random();
    let mut stopped_early = state.monitor.as_ref().and_then(|m| m.fired()).is_some() && cfg.stop_when_fired;
    while state.epochs_done < cfg.epochs && !stopped_early {
        let epoch = state.epochs_done + 1;
        gan.set_epoch(epoch);
        let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, epoch as u64, 1));
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut pos = data.len(); // forces a shuffle before the first batch
        let (mut sum_d, mut sum_g) = (0.0, 0.0);
        let mut qs = Vec::with_capacity(per_epoch);
        let mut steeps = Vec::new();
        let mut fired_this_epoch = false;
        let mut batches_done = 0;
        hooks.within_epoch(epoch, 0, gan).map_err(TrainError::Hook)?;
        for b in 0..per_epoch {
            if pos + cfg.batch_size > data.len() {
                order.shuffle(&mut rng);
                pos = 0;
            }
            let rv = data.gather(&order[pos..pos + cfg.batch_size]);
            pos += cfg.batch_size;
            // Batches and latents come from the host stream of (seed, epoch) alone, never from
            // the backend RNG that the noise layers draw from: a noised run and a noise-free run
            // with the same seed see the same data and latents at every step (App. G.7).
            let zv: Vec<f32> = (0..cfg.batch_size * latent).map(|_| StandardNormal.sample(&mut rng)).collect();
            hooks.before_step(epoch, b, &rv, &zv);
            let real = tensor2::<B>(rv, cfg.batch_size, data.dim(), &gan.device);
            let z = tensor2::<B>(zv, cfg.batch_size, latent, &gan.device);
            let stats = if noise {
                let _l = rng_lock();
                B::seed(&gan.device, derive_seed(cfg.seed, epoch as u64, 2 + b as u64));
                gan.step(real, z)
            } else {
                gan.step(real, z)
            };
            state.iterations_done += 1;
            batches_done += 1;
            let finite = stats.loss_d.is_finite() && stats.loss_g.is_finite();
            if finite && b + 1 < per_epoch {
                hooks.within_epoch(epoch, batches_done, gan).map_err(TrainError::Hook)?;
            }
            if !finite {
                let kept = match (&ckpt, ckpt.as_ref().and_then(|c| c.latest())) {
                    (Some(c), Some(e)) => format!("the last good checkpoint (epoch {e}) is kept in {}", c.path().display()),
                    _ => "no checkpoint was saved before it".to_string(),
                };
                return Err(TrainError::NonFinite { epoch, iteration: b + 1, loss_d: stats.loss_d, loss_g: stats.loss_g, kept });
            }
            sum_d += stats.loss_d;
            sum_g += stats.loss_g;
            let modes = cfg.monitor.as_ref().map_or(1, |m| m.modes);
            let q = mode_quantile(&stats.disc_grad_norms, modes);
            qs.push(q);
            let probe_now = if cfg.probe_every == 0 { b + 1 == per_epoch } else { state.iterations_done % cfg.probe_every == 0 };
            let s = if probe_now { probe_steepness(gan, &mut state, &cfg.steepness) } else { None };
            if let Some(s) = s {
                steeps.push(s);
                state.iter_history.push(IterRecord { iteration: state.iterations_done, q_d: q, steepness: s });
            }
            if let Some(m) = state.monitor.as_mut() {
                if m.cfg.granularity == Granularity::Iteration {
                    if let Some(s) = s {
                        let dec = m.observe(q, s);
                        fired_this_epoch |= dec.fires();
                        if dec.fires() && cfg.stop_when_fired {
                            stopped_early = true;
                            break;
                        }
                    }
                }
            }
        }
        let n = batches_done as f64;
        let mut rec = EpochRecord {
            epoch,
            loss_d: sum_d / n,
            loss_g: sum_g / n,
            q_d: mean(&qs),
            q_d_max: qs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
            steepness: if steeps.is_empty() { f64::NAN } else { mean(&steeps) },
            fired: fired_this_epoch,
        };
        if let Some(m) = state.monitor.as_mut() {
            if m.cfg.granularity == Granularity::Epoch {
                let dec = m.observe(rec.q_d, rec.steepness);
                rec.fired = dec.fires();
                if dec.fires() && cfg.stop_when_fired {
                    stopped_early = true;
                }
            }
        }
        state.epochs_done = epoch;
        state.history.push(rec.clone());
        let score = hooks.after_epoch(epoch, gan, &rec).map_err(TrainError::Hook)?;
        if let (Some(c), true) = (&ckpt, cfg.checkpoint_every > 0 && epoch % cfg.checkpoint_every == 0) {
            let at = state.monitor.as_ref().map(|m| m.observed()).unwrap_or(epoch);
            if let Some(m) = state.monitor.as_mut() {
                m.register_checkpoint(at, score);
            }
            save_checkpoint(gan, c, epoch, &state)?;
        }
    }
    let stop = state.monitor.as_ref().and_then(|m| m.fired().cloned());
    Ok(TrainReport { state, stop, stopped_early, resumed_from, seconds: t0.elapsed().as_secs_f64() })
}

fn probe_steepness<B, G, D>(gan: &Gan<B, G, D>, state: &mut LoopState, probe: &SteepnessProbe) -> Option<f64>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    match probe {
        SteepnessProbe::Off => None,
        SteepnessProbe::Exact { latents } => {
            let z = state.exact_latents.as_ref()?;
            let t = tensor2::<B>(z.clone(), *latents, gan.g.latent_dim(), &gan.device);
            Some(mean(&steepness_exact(&gan.g, t)))
        }
        SteepnessProbe::Power { .. } => {
            let p = state.power.as_mut()?;
            Some(mean(&p.step(&gan.g, &gan.device)))
        }
    }
}

/// Writes the checkpoint of `epoch`: both networks and optimizer states as burn records, and the
/// loop state as YAML (which, unlike JSON, keeps NaN and infinities).
pub fn save_checkpoint<B, G, D>(gan: &Gan<B, G, D>, dir: &CheckpointDir, epoch: usize, state: &LoopState) -> Result<PathBuf, TrainError>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let yaml = serde_yaml::to_string(state).map_err(|e| TrainError::Config(format!("loop state: {e}")))?;
    Ok(dir.save(
        epoch,
        &[
            ("generator.bin", record_to_bytes::<B, _>(gan.g.clone().into_record())),
            ("discriminator.bin", record_to_bytes::<B, _>(gan.d.clone().into_record())),
            ("optim_g.bin", gan.opt_g.to_bytes()),
            ("optim_d.bin", gan.opt_d.to_bytes()),
            ("state.yaml", yaml.into_bytes()),
        ],
    )?)
}

/// Loads the checkpoint of `epoch` into `gan` and returns the loop state saved with it.
pub fn load_checkpoint<B, G, D>(gan: &mut Gan<B, G, D>, dir: &CheckpointDir, epoch: usize) -> Result<LoopState, TrainError>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let parts = dir.load(epoch)?;
    let dev = gan.device.clone();
    gan.g = gan.g.clone().load_record(record_from_bytes::<B, _>(dir.part(epoch, &parts, "generator.bin")?, &dev)?);
    gan.d = gan.d.clone().load_record(record_from_bytes::<B, _>(dir.part(epoch, &parts, "discriminator.bin")?, &dev)?);
    gan.opt_g = gan.opt_g.clone().load_bytes(dir.part(epoch, &parts, "optim_g.bin")?, &dev)?;
    gan.opt_d = gan.opt_d.clone().load_bytes(dir.part(epoch, &parts, "optim_d.bin")?, &dev)?;
    let st = dir.part(epoch, &parts, "state.yaml")?;
    serde_yaml::from_slice(st).map_err(|e| {
        TrainError::Checkpoint(CheckpointError::State { path: dir.path().join(format!("epoch-{epoch:06}")), msg: e.to_string() })
    })
}

/// The two networks of the checkpoint of `epoch`, loaded into `g` and `d` (freshly initialised
/// networks of the same configuration): what an evaluation on a stored run needs (duality gaps,
/// the discriminator around the modes), without the optimisers or the loop state.
pub fn load_networks<B, G, D>(dir: &CheckpointDir, epoch: usize, g: G, d: D, device: &B::Device) -> Result<(G, D), TrainError>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
    D: GanDiscriminator<B> + AutodiffModule<B>,
{
    let parts = dir.load(epoch)?;
    let g = g.load_record(record_from_bytes::<B, _>(dir.part(epoch, &parts, "generator.bin")?, device)?);
    let d = d.load_record(record_from_bytes::<B, _>(dir.part(epoch, &parts, "discriminator.bin")?, device)?);
    Ok((g, d))
}

/// Samples `n` points from the generator in inference mode (no graph), as `n x out` f32.
pub fn sample_generator<B, G>(g: &G, n: usize, seed: u64, device: &B::Device) -> Vec<f32>
where
    B: AutodiffBackend,
    G: GanGenerator<B> + AutodiffModule<B>,
{
    let q = g.latent_dim();
    let mut rng = StdRng::seed_from_u64(seed);
    let z: Vec<f32> = (0..n * q).map(|_| StandardNormal.sample(&mut rng)).collect();
    crate::nets::to_vec(g.clone().no_grad().generate(tensor2::<B>(z, n, q, device), crate::nets::Mode::Eval))
}

/// Draws the backend-independent part of a seed for model initialisation: seeds the backend RNG
/// under [`rng_lock`] and runs `init`.
pub fn init_seeded<B: Backend, T>(device: &B::Device, seed: u64, init: impl FnOnce(&B::Device) -> T) -> T {
    let _l = rng_lock();
    B::seed(device, seed);
    init(device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{ndarray_device, NdArrayAd};
    use crate::gan::{flat_params, TrainConfig};
    use crate::mlp::MlpConfig;

    type B = NdArrayAd;

    fn mixture(n: usize, seed: u64) -> InMemoryData {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut v = Vec::new();
        for i in 0..n {
            let (a, b) = if i % 2 == 0 { (1.0, 1.0) } else { (-1.0, -1.0) };
            let e: f32 = StandardNormal.sample(&mut rng);
            let f: f32 = StandardNormal.sample(&mut rng);
            v.push(a + 0.1 * e);
            v.push(b + 0.1 * f);
        }
        InMemoryData::new(v, 2).unwrap()
    }

    fn fresh(noise: f64) -> Gan<B, crate::mlp::MlpGenerator<B>, crate::mlp::MlpDiscriminator<B>> {
        let device = ndarray_device();
        let cfg = MlpConfig::new(2).with_g_hidden(vec![16]).with_d_hidden(vec![16]).with_d_noise_sd(noise);
        let (g, d) = init_seeded::<B, _>(&device, 7, |dv| (cfg.init_generator(dv), cfg.init_discriminator(dv)));
        Gan::new(g, d, TrainConfig::sgd(0.05, 0.05), device)
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("models-train-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    /// An interrupted run resumed from its last checkpoint ends bit-identical to an uninterrupted
    /// one: parameters, optimizer-free SGD state, loop history, power-iteration vectors and the
    /// monitor; with noise layers in the discriminator.
    #[test]
    fn interrupted_then_resumed_equals_uninterrupted_bit_for_bit() {
        let data = mixture(64, 1);
        let mk = |dir: PathBuf, epochs| {
            let mut c = LoopConfig::new(epochs, 16, 42);
            c.steepness = SteepnessProbe::Power { latents: 4, h: 1e-2 };
            c.probe_every = 2;
            c.monitor = Some(EarlyStoppingConfig { warmup: 1, ..EarlyStoppingConfig::paper_gmm() });
            c.checkpoint_every = 2;
            c.checkpoint_dir = Some(dir);
            c.resume = true;
            c
        };
        let d1 = tmp("full");
        let mut a = fresh(0.1);
        let ra = train(&mut a, &data, &mk(d1.clone(), 6), |_, _, _| Ok(None)).unwrap();
        let d2 = tmp("split");
        let mut b = fresh(0.1);
        train(&mut b, &data, &mk(d2.clone(), 4), |_, _, _| Ok(None)).unwrap();
        // "Crash": a new process would start from fresh networks and resume from epoch 4.
        let mut c = fresh(0.1);
        let rc = train(&mut c, &data, &mk(d2.clone(), 6), |_, _, _| Ok(None)).unwrap();
        assert_eq!(rc.resumed_from, Some(4));
        assert_eq!(flat_params(&a.g), flat_params(&c.g));
        assert_eq!(flat_params(&a.d), flat_params(&c.d));
        assert_eq!(ra.state, rc.state);
        assert!(flat_params(&a.g) != flat_params(&fresh(0.1).g), "training changed G");
        std::fs::remove_dir_all(d1).unwrap();
        std::fs::remove_dir_all(d2).unwrap();
    }

    /// Duality gaps computed on networks loaded from a stored checkpoint equal the gaps of the
    /// live networks at that epoch (what fig18 and dgap-gmm rely on).
    #[test]
    fn gaps_on_a_stored_checkpoint_equal_gaps_on_the_live_networks() {
        use crate::duality_gap::{duality_gaps, DualityGapSettings};
        let data = mixture(64, 4);
        let held = mixture(48, 5).values().to_vec();
        let eval = mixture(40, 6).values().to_vec();
        let s = DualityGapSettings { steps: 6, eval_every: 3, batch_size: 8, ..DualityGapSettings::ci() };
        let dir = tmp("gaps");
        let mut c = LoopConfig::new(3, 16, 9);
        c.checkpoint_every = 1;
        c.checkpoint_dir = Some(dir.clone());
        let mut gan = fresh(0.0);
        let mut live = Vec::new();
        train(&mut gan, &data, &c, |epoch, gan, _| {
            if epoch == 2 {
                live.push(duality_gaps(&gan.g, &gan.d, &held, &eval, 2, &s, &gan.device).unwrap());
            }
            Ok(None)
        })
        .unwrap();
        let fresh_nets = fresh(0.0);
        let (g, d) = load_networks(&CheckpointDir::new(&dir), 2, fresh_nets.g, fresh_nets.d, &ndarray_device()).unwrap();
        let stored = duality_gaps(&g, &d, &held, &eval, 2, &s, &ndarray_device()).unwrap();
        let (a, b) = (&live[0], &stored);
        assert_eq!((a.v, a.dg.gap, a.perturbed.gap), (b.v, b.dg.gap, b.perturbed.gap));
        assert!(a.dg.gap.is_finite() && a.dg.gap >= 0.0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Appendix G.7's pairing: a noise-free and a noised DCGAN with the same seed start from the
    /// same G and D (the noise sd draws nothing at initialisation) and see the same real batches
    /// and the same latents at every step of the real loop; only D's noise differs, and it does
    /// change the training (the noised D ends elsewhere).
    #[test]
    fn noised_and_noise_free_runs_share_init_batches_and_latents() {
        use crate::dcgan::{DcganConfig, DcganDiscriminator, DcganGenerator};
        #[derive(Default)]
        struct Steps(Vec<(usize, usize, Vec<f32>, Vec<f32>)>);
        impl TrainHooks<B, DcganGenerator<B>, DcganDiscriminator<B>> for Steps {
            fn before_step(&mut self, epoch: usize, batch: usize, real: &[f32], latents: &[f32]) {
                self.0.push((epoch, batch, real.to_vec(), latents.to_vec()));
            }
            fn after_epoch(&mut self, _: usize, _: &Gan<B, DcganGenerator<B>, DcganDiscriminator<B>>, _: &EpochRecord) -> Result<Option<f64>, String> {
                Ok(None)
            }
        }
        let device = ndarray_device();
        let mut rng = StdRng::seed_from_u64(11);
        let pixels: Vec<f32> = (0..20 * 784).map(|_| StandardNormal.sample(&mut rng)).map(|v: f32| v.tanh()).collect();
        let data = InMemoryData::new(pixels, 784).unwrap();
        let run = |noise: f64| {
            let cfg = DcganConfig::new().with_image_size(28).with_g_features(4).with_d_features(4).with_d_noise_sd(noise);
            let (g, d) = init_seeded::<B, _>(&device, 5, |dv| (cfg.init_generator::<B>(dv).unwrap(), cfg.init_discriminator::<B>(dv).unwrap()));
            let init = (flat_params(&g), flat_params(&d));
            let mut gan = Gan::new(g, d, TrainConfig::dcgan(), device.clone());
            let mut steps = Steps::default();
            train_with_hooks(&mut gan, &data, &LoopConfig::new(2, 8, 5), &mut steps).unwrap();
            (init, steps.0, flat_params(&gan.d))
        };
        let (init_a, steps_a, d_a) = run(0.0);
        let (init_b, steps_b, d_b) = run(0.1);
        assert_eq!(init_a, init_b, "same G and D at initialisation");
        assert_eq!(steps_a.len(), 4, "2 epochs x 2 batches of 8 from 20 images");
        assert_eq!(steps_a, steps_b, "same real batches and latents at every step");
        assert!(steps_a[0].2 != steps_a[1].2 && steps_a[0].3 != steps_a[2].3, "batches and latents change from step to step");
        assert!(d_a != d_b, "the noise changed the noised discriminator's training");
    }

    /// Adam's state is checkpointed too.
    #[test]
    fn resume_with_adam_is_exact() {
        let data = mixture(32, 2);
        let mk_gan = || {
            let mut g = fresh(0.0);
            g.cfg = TrainConfig { lr_g: 1e-3, lr_d: 1e-3, ..TrainConfig::dcgan() };
            g.opt_g = crate::gan::Opt::new(g.cfg.optimizer);
            g.opt_d = crate::gan::Opt::new(g.cfg.optimizer);
            g
        };
        let mk = |dir: PathBuf, epochs| {
            let mut c = LoopConfig::new(epochs, 8, 3);
            c.checkpoint_every = 1;
            c.checkpoint_dir = Some(dir);
            c.resume = true;
            c
        };
        let (d1, d2) = (tmp("adam-a"), tmp("adam-b"));
        let mut a = mk_gan();
        train(&mut a, &data, &mk(d1.clone(), 3), |_, _, _| Ok(None)).unwrap();
        let mut b = mk_gan();
        train(&mut b, &data, &mk(d2.clone(), 2), |_, _, _| Ok(None)).unwrap();
        let mut c = mk_gan();
        train(&mut c, &data, &mk(d2.clone(), 3), |_, _, _| Ok(None)).unwrap();
        assert_eq!(flat_params(&a.g), flat_params(&c.g));
        assert_eq!(flat_params(&a.d), flat_params(&c.d));
        std::fs::remove_dir_all(d1).unwrap();
        std::fs::remove_dir_all(d2).unwrap();
    }

    /// A NaN loss stops training with a message naming the epoch, and the last good checkpoint
    /// stays in place.
    #[test]
    fn non_finite_loss_stops_with_the_epoch_and_keeps_the_checkpoint() {
        let data = mixture(32, 3);
        let dir = tmp("nan");
        let mut gan = fresh(0.0);
        let mut cfg = LoopConfig::new(2, 8, 5);
        cfg.checkpoint_every = 1;
        cfg.checkpoint_dir = Some(dir.clone());
        train(&mut gan, &data, &cfg, |_, _, _| Ok(None)).unwrap();
        let before = std::fs::read(dir.join("epoch-000002/generator.bin")).unwrap();
        // An absurd learning rate makes the losses overflow within a few steps.
        gan.cfg.lr_d = 1e30;
        gan.cfg.lr_g = 1e30;
        cfg.epochs = 50;
        cfg.resume = true;
        let e = train(&mut gan, &data, &cfg, |_, _, _| Ok(None)).unwrap_err().to_string();
        assert!(e.contains("non-finite loss") && e.contains("in epoch 3 ") && e.contains("epoch 2) is kept"), "{e}");
        assert_eq!(std::fs::read(dir.join("epoch-000002/generator.bin")).unwrap(), before);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_settings_are_errors() {
        let data = mixture(8, 1);
        let mut gan = fresh(0.0);
        let e = train(&mut gan, &data, &LoopConfig::new(1, 99, 1), |_, _, _| Ok(None)).unwrap_err();
        assert!(e.to_string().contains("batch_size"));
        let bad = InMemoryData::new(vec![1.0; 9], 3).unwrap();
        assert!(train(&mut gan, &bad, &LoopConfig::new(1, 1, 1), |_, _, _| Ok(None)).unwrap_err().to_string().contains("dimension"));
    }
}
