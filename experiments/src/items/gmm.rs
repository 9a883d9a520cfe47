//! Shared wiring of the Gaussian-mixture items (fig1, fig5, table1, detector-gmm): the run
//! settings (`configs/gmm.yaml`, one file so that the items describe the same runs), one NSGAN run
//! on the mixture with per-epoch ground truth, the offline replay of Algorithm 2, and the
//! sample-based collapse analysis. The networks, probes and the monitor are the `models` crate's.
//!
//! `mode_quality` (modes covered, high-quality rate) belongs to the `metrics` crate in the
//! architecture; it lives here until that crate has it.

use anyhow::{anyhow, bail, Context, Result};
use models::early_stopping::{EarlyStopping, EarlyStoppingConfig, Granularity, StopEvent};
use models::gan::{Gan, TrainConfig};
use models::mlp::MlpConfig;
use models::train::{init_seeded, sample_generator, train, EpochRecord, InMemoryData, LoopConfig, SteepnessProbe};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use theory::Mixture;

use super::Ctx;
use crate::plot::{err, font, Chart, Series};

/// The NSGAN-on-a-mixture settings (`configs/gmm.yaml`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GmmSettings {
    /// Data dimension n (3: 8 modes at {+-1}^3).
    pub dim: usize,
    /// Per-mode variance sigma^2 (Appendix F: 0.0125).
    pub sigma2: f64,
    /// Size of the fixed data set drawn once per run.
    pub n_data: usize,
    pub batch: usize,
    pub epochs: usize,
    pub lr_g: f64,
    pub lr_d: f64,
    pub g_hidden: Vec<usize>,
    pub d_hidden: Vec<usize>,
    /// Gaussian noise sd in D's hidden layers (Appendix G.7; 0 = noise-free).
    pub d_noise_sd: f64,
    /// Fixed latents for the exact steepness probe (once per epoch).
    pub steepness_latents: usize,
    /// Generator samples per epoch for the ground truth.
    pub eval_samples: usize,
    /// A mode counts as covered when it holds at least this share of eval_samples / m samples
    /// within 3 sigma.
    pub cover_share: f64,
    /// Algorithm 2: k_d (mode distance), k_g, warm-up N_w (epochs).
    pub k_d: f64,
    pub k_g: f64,
    pub warmup: usize,
    /// Generated points kept per epoch for the scatter plots.
    pub snapshot_points: usize,
    /// Networks saved every this many epochs in the run store (`checkpoints/`), for evaluations
    /// on finished runs (dgap-gmm's duality gaps); 0 = none.
    pub checkpoint_every: usize,
    /// Remedies of the companion notes (`models::remedies`): none in gmm.yaml; mitigations-gmm
    /// sets them per variant. Left out of the serialised settings when none, so the plain runs'
    /// store folders are those of a build without remedies.
    #[serde(default, skip_serializing_if = "models::Remedies::is_none")]
    pub remedies: models::Remedies,
    /// Optimizer of both networks: plain SGD when absent (Appendix F.2: "SGD optimizers"); a
    /// remedy whose paper trains with Adam (WGAN-GP) sets it. Left out of the serialised settings
    /// when absent, like `remedies`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<models::OptimizerKind>,
}

impl GmmSettings {
    pub fn load(ctx: &Ctx) -> Result<Self> {
        let s: Self = crate::config::load(&ctx.config_dir, "gmm", ctx.profile, &[])?;
        if !(1..=6).contains(&s.dim) || s.sigma2 <= 0.0 || s.batch == 0 || s.batch > s.n_data || s.epochs == 0 {
            return Err(anyhow!("gmm.yaml: need 1 <= dim <= 6, sigma2 > 0, 1 <= batch <= n_data, epochs >= 1"));
        }
        Ok(s)
    }
    pub fn sigma(&self) -> f64 {
        self.sigma2.sqrt()
    }
    pub fn modes(&self) -> usize {
        1 << self.dim
    }
    pub fn mixture(&self) -> Result<Mixture> {
        Ok(Mixture::hypercube(self.dim, 1.0, self.sigma())?)
    }
    /// Algorithm 2 with these thresholds, per epoch.
    pub fn monitor(&self) -> EarlyStoppingConfig {
        EarlyStoppingConfig {
            k_d: self.k_d,
            sigma: self.sigma(),
            k_g: self.k_g,
            modes: self.modes(),
            warmup: self.warmup,
            granularity: Granularity::Epoch,
        }
    }
    /// The networks of these settings (the remedies that change D's architecture included).
    pub fn mlp(&self) -> MlpConfig {
        MlpConfig::new(self.dim)
            .with_g_hidden(self.g_hidden.clone())
            .with_d_hidden(self.d_hidden.clone())
            .with_d_noise_sd(self.d_noise_sd)
            .with_remedies(&self.remedies)
    }
    /// The fixed data set of the run with `seed` (`n_data x dim`), drawn once per run.
    pub fn data_set(&self, seed: u64) -> Result<Vec<f32>> {
        let (pts, _) = self.mixture()?.sample(&mut StdRng::seed_from_u64(seed ^ 0xDA7A), self.n_data);
        Ok(pts.iter().flatten().map(|v| *v as f32).collect())
    }
    /// The settings as YAML, for the outputs' provenance.
    pub fn yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_default()
    }
}

/// Ground truth of one set of generator samples.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Modes holding >= cover_share * n / m samples within 3 sigma.
    pub covered: usize,
    /// Share of samples within 3 sigma of some mode.
    pub hq: f64,
    pub counts: Vec<usize>,
}

impl Quality {
    /// A score for "the best earlier checkpoint": modes covered first, quality second.
    pub fn score(&self) -> f64 {
        self.covered as f64 + self.hq
    }
}

/// The other collapse signals of one epoch's generator samples (detector-baselines): pairwise
/// diversity, the Frechet distance to the data set on raw coordinates (FID without an embedding:
/// the mixture has no feature network), and precision / recall (k = 5) on `PRDC_POINTS` samples
/// against as many data points (a subset, so that a per-epoch evaluation costs milliseconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SampleSignals {
    pub diversity: f64,
    pub fd: f64,
    pub precision: f64,
    pub recall: f64,
}

/// Points on each side of the per-epoch precision / recall.
pub const PRDC_POINTS: usize = 500;

/// [`SampleSignals`] of `samples` (`n x dim`) against the data set `data` (`n_data x dim`).
pub fn sample_signals(samples: &[f32], data: &[f32], dim: usize) -> Result<SampleSignals> {
    use metrics::Rows;
    let f: Vec<f64> = samples.iter().map(|v| *v as f64).collect();
    let r: Vec<f64> = data.iter().map(|v| *v as f64).collect();
    let (fr, rr) = (Rows::new(&f, dim, "samples")?, Rows::new(&r, dim, "data")?);
    let k = PRDC_POINTS.min(fr.rows()).min(rr.rows()) * dim;
    let p = metrics::prdc(Rows::new(&r[..k], dim, "data")?, Rows::new(&f[..k], dim, "samples")?, 5)?;
    Ok(SampleSignals {
        diversity: metrics::mixture::pair_diversity(fr)?,
        fd: metrics::fid(rr, fr).unwrap_or(f64::NAN),
        precision: p.precision,
        recall: p.recall,
    })
}

/// Modes covered and high-quality rate of `samples` (`n x dim` row-major) for a mixture.
pub fn mode_quality(samples: &[f32], mix: &Mixture, cover_share: f64) -> Quality {
    let dim = mix.means()[0].len();
    let sigma = mix.sigma();
    let m = mix.n_modes();
    let n = samples.len() / dim;
    let mut counts = vec![0usize; m];
    let mut hq = 0usize;
    for x in samples.chunks(dim) {
        let (best, d2) = mix
            .means()
            .iter()
            .enumerate()
            .map(|(i, mu)| (i, mu.iter().zip(x).map(|(a, b)| (a - *b as f64).powi(2)).sum::<f64>()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one mode");
        if d2.sqrt() <= 3.0 * sigma {
            hq += 1;
            counts[best] += 1;
        }
    }
    let need = cover_share * n as f64 / m as f64;
    Quality { covered: counts.iter().filter(|c| **c as f64 >= need).count(), hq: hq as f64 / n.max(1) as f64, counts }
}

/// One NSGAN run on the mixture.
#[derive(Clone, Debug)]
pub struct GmmRun {
    pub seed: u64,
    /// Epochs 1..=E as the training loop reports them (q_d, steepness, losses).
    pub history: Vec<EpochRecord>,
    /// Index 0 = before training, then one per epoch.
    pub quality: Vec<Quality>,
    /// Index 0 = before training, then one per epoch (the same samples as `quality`).
    pub signals: Vec<SampleSignals>,
    /// Steepness before training (same probe latents).
    pub steepness0: f64,
    /// Generated points per epoch (index 0 = before training), `snapshot_points x dim`; empty
    /// when not kept.
    pub snapshots: Vec<Vec<f32>>,
    /// Real points for the plots (`snapshot_points x dim`).
    pub real: Vec<f32>,
    pub seconds: f64,
    pub backend: String,
}

fn run_generic<B: models::burn::tensor::backend::AutodiffBackend>(
    device: &B::Device,
    s: &GmmSettings,
    seed: u64,
    keep_snapshots: bool,
    checkpoints: Option<std::path::PathBuf>,
    progress: &indicatif::ProgressBar,
) -> Result<GmmRun> {
    let mix = s.mixture()?;
    let values = s.data_set(seed)?;
    let data = InMemoryData::new(values.clone(), s.dim)?;
    let cfg = s.mlp();
    let (g, d) = init_seeded::<B, _>(device, seed, |dv| (cfg.init_generator::<B>(dv), cfg.init_discriminator::<B>(dv)));
    let mut gan = Gan::try_new(g, d, TrainConfig { optimizer: s.optimizer.unwrap_or(models::OptimizerKind::Sgd), ..TrainConfig::sgd(s.lr_g, s.lr_d) }.with_remedies(s.remedies.clone()), device.clone()).map_err(|e| anyhow!("gmm settings: {e}"))?;
    let mut lc = LoopConfig::new(s.epochs, s.batch, seed);
    lc.steepness = SteepnessProbe::Exact { latents: s.steepness_latents };
    lc.monitor = Some(s.monitor());
    if let Some(dir) = checkpoints.filter(|_| s.checkpoint_every > 0) {
        // Written over on a retraining (same values: the runs are deterministic on the CPU).
        lc.checkpoint_every = s.checkpoint_every;
        lc.checkpoint_dir = Some(dir);
    }
    let eval_seed = seed ^ 0xE7A1;
    let x0 = sample_generator(&gan.g, s.eval_samples, eval_seed, device);
    let q0 = mode_quality(&x0, &mix, s.cover_share);
    let mut signals = vec![sample_signals(&x0, &values, s.dim)?];
    let mut signal_error = None;
    // steepness before training, on the latents the loop probes
    let z = models::train::probe_latents(seed, s.steepness_latents, s.dim);
    let probe_z = models::nets::tensor2::<B>(z, s.steepness_latents, s.dim, device);
    let steepness0 = models::probes::mean(&models::probes::steepness_exact(&gan.g, probe_z));
    let mut snapshots = Vec::new();
    if keep_snapshots {
        snapshots.push(sample_generator(&gan.g, s.snapshot_points, eval_seed ^ 1, device));
    }
    let mut quality = vec![q0];
    let report = train(&mut gan, &data, &lc, |_, gan, _| {
        let x = sample_generator(&gan.g, s.eval_samples, eval_seed, &gan.device);
        quality.push(mode_quality(&x, &mix, s.cover_share));
        match sample_signals(&x, &values, s.dim) {
            Ok(v) => signals.push(v),
            Err(e) => {
                signal_error.get_or_insert_with(|| e.to_string());
                signals.push(SampleSignals { diversity: f64::NAN, fd: f64::NAN, precision: f64::NAN, recall: f64::NAN });
            }
        }
        if keep_snapshots {
            snapshots.push(sample_generator(&gan.g, s.snapshot_points, eval_seed ^ 1, &gan.device));
        }
        progress.inc(1);
        Ok(None)
    })?;
    if let Some(e) = signal_error {
        // Non-finite samples (a diverged generator) make the signals undefined for that epoch:
        // recorded as NaN, and said once.
        eprintln!("  GMM run seed {seed}: some sample signals undefined (NaN in the record): {e}");
    }
    Ok(GmmRun {
        seed,
        history: report.state.history,
        quality,
        signals,
        steepness0,
        snapshots,
        real: values[..s.snapshot_points.min(s.n_data) * s.dim].to_vec(),
        seconds: report.seconds,
        backend: String::new(),
    })
}

/// Trains one run (on the backend the context names), saving its networks into `checkpoints`.
fn run(ctx: &Ctx, s: &GmmSettings, seed: u64, keep_snapshots: bool, checkpoints: Option<std::path::PathBuf>, label: &str) -> Result<GmmRun> {
    let pb = ctx.progress(s.epochs as u64, label);
    let r = models::with_backend!(ctx.backend, |B, device| run_generic::<B>(&device, s, seed, keep_snapshots, checkpoints.clone(), &pb))
        .map_err(|e| anyhow!("{e}"))?
        .with_context(|| format!("GMM run (seed {seed})"));
    pb.finish_and_clear();
    let mut r = r?;
    r.backend = ctx.backend.name().to_string();
    Ok(r)
}

type Cache = Mutex<HashMap<String, Arc<GmmRun>>>;
static RUNS: OnceLock<Cache> = OnceLock::new();

/// One run per (settings, seed, backend), shared by the items (fig1, fig5, table1 and
/// detector-gmm describe the same runs): from this process's memory, else from the run store
/// (`runs/gmm/<hash>`, found again by the resolved gmm.yaml, backend and seed), else trained and
/// stored. A run kept with snapshots also serves requests without them; a stored run without
/// snapshots that is asked for them is trained again (deterministic on the CPU backends: the
/// record must come out identical, which is checked) and gains its snapshot file.
pub fn cached_run(ctx: &Ctx, s: &GmmSettings, seed: u64, keep_snapshots: bool, label: &str) -> Result<Arc<GmmRun>> {
    let key = format!("{}|{seed}|{}", s.yaml(), ctx.backend);
    let cache = RUNS.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(r) = cache.lock().expect("cache lock").get(&key) {
        if !r.snapshots.is_empty() || !keep_snapshots {
            return Ok(r.clone());
        }
    }
    let r = Arc::new(stored_run(ctx, s, seed, keep_snapshots, label)?);
    cache.lock().expect("cache lock").insert(key, r.clone());
    Ok(r)
}

/// What names a GMM run in the store: the resolved settings and the backend (the seed is the
/// key's own field).
#[derive(Serialize)]
struct StoredSettings<'a> {
    gmm: &'a GmmSettings,
    backend: &'a str,
    /// Version of `record.csv`'s columns (2: the sample signals of detector-baselines added).
    record: u32,
}

/// `finished.yaml` of a stored GMM run.
#[derive(Serialize, Deserialize)]
struct StoredSummary {
    steepness0: f64,
    seconds: f64,
    backend: String,
    epochs: usize,
}

const RECORD: &str = "record.csv";
const SNAPSHOTS: &str = "snapshots.f32";
const REAL: &str = "real.f32";

/// The run-store folder of one GMM run.
pub fn run_dir(ctx: &Ctx, s: &GmmSettings, seed: u64) -> Result<run_store::RunDir> {
    let key = run_store::RunKey::new("gmm", &StoredSettings { gmm: s, backend: ctx.backend.name(), record: 2 }, seed)?;
    Ok(super::run_store().open(&key)?)
}

fn stored_run(ctx: &Ctx, s: &GmmSettings, seed: u64, keep_snapshots: bool, label: &str) -> Result<GmmRun> {
    let dir = run_dir(ctx, s, seed)?;
    let stored = if dir.is_finished() { Some(read_stored(&dir, s, seed).with_context(|| format!("stored GMM run {}", dir.path().display()))?) } else { None };
    if let Some(r) = &stored {
        if !keep_snapshots || !r.snapshots.is_empty() {
            return Ok(r.clone());
        }
    }
    // Runs take seconds to a minute: no checkpoints; a killed one is trained again from the start.
    let _lock = dir.lock()?;
    eprintln!("  training GMM run seed {seed} into {}", dir.path().display());
    let r = run(ctx, s, seed, keep_snapshots, Some(dir.file("checkpoints")), label)?;
    let record = record_table(&r, s.modes());
    match stored {
        Some(old) => {
            // Adding snapshots to a stored run: the new training must be the stored one.
            if record_table(&old, s.modes()) != record {
                bail!(
                    "GMM run seed {seed}: training again for its snapshots gave another record than the stored one in {} (a non-deterministic backend?): remove that folder to retrain it",
                    dir.path().display()
                );
            }
        }
        None => {
            dir.write_table(RECORD, &record)?;
            dir.write(REAL, &f32_bytes(&r.real))?;
        }
    }
    if keep_snapshots {
        dir.write(SNAPSHOTS, &f32_bytes(&r.snapshots.concat()))?;
    }
    if !dir.is_finished() {
        let summary = StoredSummary { steepness0: r.steepness0, seconds: r.seconds, backend: r.backend.clone(), epochs: s.epochs };
        dir.finish(&serde_yaml::to_string(&summary)?)?;
    }
    Ok(r)
}

/// Columns of `record.csv`: row k = after k epochs (row 0 = before training, NaN where the loop
/// has no value), the loop's record and the ground truth of that epoch.
fn record_columns(modes: usize) -> Vec<String> {
    let mut c: Vec<String> = ["epoch", "loss_d", "loss_g", "q_d", "q_d_max", "steepness", "fired", "covered", "hq", "diversity", "fd", "precision", "recall"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    c.extend((0..modes).map(|i| format!("count_{i}")));
    c
}

fn record_table(r: &GmmRun, modes: usize) -> run_store::Table {
    let cols = record_columns(modes);
    let mut t = run_store::Table::new(&cols.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    for (e, (q, g)) in r.quality.iter().zip(&r.signals).enumerate() {
        let h = if e == 0 { None } else { r.history.get(e - 1) };
        let mut row = vec![e as f64];
        match h {
            Some(h) => row.extend([h.loss_d, h.loss_g, h.q_d, h.q_d_max, h.steepness, h.fired as u8 as f64]),
            None => row.extend([f64::NAN; 6]),
        }
        row.extend([q.covered as f64, q.hq, g.diversity, g.fd, g.precision, g.recall]);
        row.extend(q.counts.iter().map(|&c| c as f64));
        t.push(row);
    }
    t
}

fn read_stored(dir: &run_store::RunDir, s: &GmmSettings, seed: u64) -> Result<GmmRun> {
    let summary: StoredSummary = serde_yaml::from_str(&dir.finished_summary().unwrap_or_default()).context("finished.yaml")?;
    let t = dir.read_table(RECORD)?.ok_or_else(|| anyhow!("{RECORD} is missing"))?;
    let cols = record_columns(s.modes());
    if t.columns != cols || t.rows.len() != s.epochs + 1 {
        bail!("{RECORD}: expected columns {} and {} rows, found {} columns and {} rows: remove the folder to retrain", cols.join(","), s.epochs + 1, t.columns.len(), t.rows.len());
    }
    let mut history = Vec::with_capacity(s.epochs);
    let mut quality = Vec::with_capacity(s.epochs + 1);
    let mut signals = Vec::with_capacity(s.epochs + 1);
    for (e, row) in t.rows.iter().enumerate() {
        if e > 0 {
            history.push(EpochRecord { epoch: e, loss_d: row[1], loss_g: row[2], q_d: row[3], q_d_max: row[4], steepness: row[5], fired: row[6] != 0.0 });
        }
        quality.push(Quality { covered: row[7] as usize, hq: row[8], counts: row[13..].iter().map(|&c| c as usize).collect() });
        signals.push(SampleSignals { diversity: row[9], fd: row[10], precision: row[11], recall: row[12] });
    }
    let real = read_f32(&dir.file(REAL))?;
    let per = s.snapshot_points.min(s.n_data) * s.dim;
    let snapshots = match std::fs::read(dir.file(SNAPSHOTS)) {
        Ok(b) => {
            let v = f32_from_bytes(&b, &dir.file(SNAPSHOTS))?;
            let per_epoch = s.snapshot_points * s.dim;
            if v.len() != per_epoch * (s.epochs + 1) {
                bail!("{SNAPSHOTS}: {} values, expected {} epochs x {per_epoch}", v.len(), s.epochs + 1);
            }
            v.chunks(per_epoch).map(|c| c.to_vec()).collect()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => vec![],
        Err(e) => return Err(anyhow!("{}: {e}", dir.file(SNAPSHOTS).display())),
    };
    if real.len() != per {
        bail!("{REAL}: {} values, expected {per}", real.len());
    }
    Ok(GmmRun { seed, history, quality, signals, steepness0: summary.steepness0, snapshots, real, seconds: summary.seconds, backend: summary.backend })
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn f32_from_bytes(b: &[u8], path: &std::path::Path) -> Result<Vec<f32>> {
    if b.len() % 4 != 0 {
        bail!("{}: {} bytes is not a whole number of f32 values (truncated?)", path.display(), b.len());
    }
    Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn read_f32(path: &std::path::Path) -> Result<Vec<f32>> {
    let b = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    f32_from_bytes(&b, path)
}

/// The reference run of fig1, fig5 (seed = `--seed`, with snapshots).
pub fn reference(ctx: &Ctx) -> Result<(GmmSettings, Arc<GmmRun>)> {
    let s = GmmSettings::load(ctx)?;
    let r = cached_run(ctx, &s, ctx.seed, true, "GMM reference run")?;
    Ok((s, r))
}

/// Runs for seeds `--seed`, `--seed + 1`, ... (shared with every item through the cache).
/// Trained `--jobs` at a time; under `--shard i/n` only this shard's seeds, then
/// [`super::ShardDone`].
pub fn seed_runs(ctx: &Ctx, s: &GmmSettings, n: usize) -> Result<Vec<Arc<GmmRun>>> {
    let seeds: Vec<u64> = (0..n as u64).map(|i| ctx.seed + i).collect();
    super::run_jobs(ctx, "GMM seeds", &seeds, |&seed| cached_run(ctx, s, seed, false, &format!("seed {seed}")))
}

/// Fitting and collapse read from the samples. Coverage is counted as *sustained* over `persist`
/// epochs (the minimum over a window), so that a transient spread of the samples over many modes
/// does not count as a fit: the peak is the largest sustained coverage, the fitted epoch the first
/// epoch of a window at the peak, and the collapse the first later epoch from which coverage
/// stays below the peak for `persist` epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    pub peak: usize,
    pub fitted_epoch: usize,
    pub collapse_epoch: Option<usize>,
}

pub fn truth(quality: &[Quality], persist: usize) -> Truth {
    let persist = persist.max(1).min(quality.len().max(1));
    let cov: Vec<usize> = quality.iter().map(|q| q.covered).collect();
    let windows: Vec<&[usize]> = cov.windows(persist).collect();
    let sustained: Vec<usize> = windows.iter().map(|w| *w.iter().min().unwrap_or(&0)).collect();
    let peak = sustained.iter().copied().max().unwrap_or(0);
    let fitted_epoch = sustained.iter().position(|c| *c == peak).unwrap_or(0);
    let collapse_epoch = windows
        .iter()
        .enumerate()
        .skip(fitted_epoch + 1)
        .find(|(_, w)| w.iter().all(|c| *c < peak))
        .map(|(e, _)| e);
    Truth { peak, fitted_epoch, collapse_epoch }
}

/// Which criteria of Algorithm 2 line 5 are used in a replay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Criteria {
    Both,
    DiscOnly,
    SteepnessOnly,
}

/// Replays Algorithm 2 (the `models` monitor) on a run's per-epoch history, registering a
/// checkpoint every `checkpoint_every` epochs scored by the samples' quality.
pub fn replay(run: &GmmRun, cfg: &EarlyStoppingConfig, criteria: Criteria, checkpoint_every: usize) -> Option<StopEvent> {
    let mut cfg = cfg.clone();
    match criteria {
        Criteria::Both => {}
        Criteria::DiscOnly => cfg.k_g = f64::MIN,
        Criteria::SteepnessOnly => cfg.k_d = f64::MAX,
    }
    let mut m = EarlyStopping::new(cfg).ok()?;
    if checkpoint_every > 0 {
        m.register_checkpoint(0, Some(run.quality[0].score()));
    }
    for rec in &run.history {
        m.observe(rec.q_d, rec.steepness);
        if m.fired().is_some() {
            break;
        }
        if checkpoint_every > 0 && rec.epoch % checkpoint_every == 0 {
            m.register_checkpoint(rec.epoch, Some(run.quality[rec.epoch].score()));
        }
    }
    m.fired().cloned()
}

/// A scatter panel: real (orange) and generated (blue) points projected on the xy-plane.
pub fn scatter(area: &crate::plot::Area, title: &str, real: &[f32], generated: &[f32], dim: usize, frame_red: bool) -> Result<()> {
    let xy = |v: &[f32]| v.chunks(dim).map(|p| (p[0] as f64, p[1] as f64)).collect::<Vec<_>>();
    let mut c = Chart::new(title, "x", "y");
    c.x_range = Some((-2.0, 2.0));
    c.y_range = Some((-2.0, 2.0));
    c.series.push(Series::points("", xy(real), plotters::style::RGBColor(255, 127, 14)));
    c.series.push(Series::points("", xy(generated), plotters::style::RGBColor(31, 119, 180)));
    c.draw(area)?;
    if frame_red {
        use plotters::prelude::*;
        let (w, h) = area.dim_in_pixel();
        area.draw(&Rectangle::new([(1, 1), (w as i32 - 2, h as i32 - 2)], RED.stroke_width(4))).map_err(err)?;
    }
    Ok(())
}

/// A text-only panel (for parts of a figure that this build cannot make yet).
pub fn note_panel(area: &crate::plot::Area, lines: &[&str]) -> Result<()> {
    for (i, l) in lines.iter().enumerate() {
        area.draw_text(l, &font(15), (16, 16 + 22 * i as i32)).map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(c: usize) -> Quality {
        Quality { covered: c, hq: 0.9, counts: vec![] }
    }

    #[test]
    fn truth_finds_fit_and_persistent_collapse() {
        let cov = [0, 2, 8, 8, 7, 8, 8, 6, 5, 4, 4];
        let qs: Vec<Quality> = cov.iter().map(|c| q(*c)).collect();
        let t = truth(&qs, 3);
        // sustained (3-epoch minimum) coverage peaks at 7 from epoch 2; the 7 at epoch 4 is a dip
        // inside the fitted stretch, the drop from epoch 7 on is the collapse
        assert_eq!((t.peak, t.fitted_epoch, t.collapse_epoch), (7, 2, Some(7)));
        let t = truth(&qs[..6], 3);
        assert_eq!(t.collapse_epoch, None);
    }

    #[test]
    fn mode_quality_counts_within_three_sigma() {
        let mix = Mixture::hypercube(2, 1.0, 0.1).unwrap();
        // 3 points at (1,1) (one 0.35 away: outside 3 sigma), 1 at (-1,-1)
        let s = [1.0, 1.0, 1.05, 0.95, 1.35, 1.0, -1.0, -1.0];
        let qy = mode_quality(&s, &mix, 0.5);
        assert_eq!(qy.hq, 0.75);
        // n/m = 1 sample per mode expected; share 0.5 -> need 0.5: modes with >= 1 count
        assert_eq!(qy.covered, 2);
    }
}
