//! The project's own classifier q(x): a small CNN for 28x28 grey images, trained on MNIST and on
//! Fashion-MNIST by the runner's `classifier` item.
//!
//! The paper uses a pretrained classifier q(x) in two roles: its class probabilities give the
//! class-pair counts of Figure 4 (a generated sample counts for the pair (i, j) when
//! p_i, p_j > 1e-2), and its penultimate layer is a feature space for FID and precision/recall
//! on MNIST-like data (Inception-v3 features are meaningless on 28x28 digits). The paper does not
//! describe its classifier, so the architecture is this project's choice, the usual small MNIST
//! CNN:
//!
//! ```text
//! x [b, 1, 28, 28] in [-1, 1]
//!   conv 3x3 (c1 = 32, padding 1) -> ReLU -> max-pool 2x2   [b, c1, 14, 14]
//!   conv 3x3 (c2 = 64, padding 1) -> ReLU -> max-pool 2x2   [b, c2, 7, 7]
//!   flatten -> dense (hidden = 128) -> ReLU                  [b, 128]   <- `features`
//!   dense (10)                                              [b, 10]    <- `logits`
//! ```
//!
//! There is no BatchNorm and no dropout, so training and inference evaluate the same function and
//! the features of an image never depend on the other images of its batch. Inputs are scaled as
//! the GAN's data (`data::preprocess`: byte / 255 * 2 - 1, Appendix E), so generated images
//! (tanh outputs in [-1, 1]) can be classified as they come out of the generator.
//!
//! Training: Adam (lr 1e-3 by default, PyTorch's betas and epsilon) on the mean cross-entropy,
//! minibatches drawn from a per-epoch shuffle of a seeded `StdRng`; weights are initialised from
//! the backend RNG seeded with the same seed under [`crate::backends::rng_lock`]. On a CPU
//! backend two runs with the same seed give bit-identical weights (tested on ndarray).
//!
//! A trained classifier is saved as one file (written to a temporary file and renamed, so a
//! reader sees either the old or the new file): a magic line, the metadata as YAML
//! ([`ClassifierMeta`]: data set, input size, architecture, accuracy, seed) and the burn record
//! of the weights at full precision (the bincode recorder of [`crate::checkpoint`]).

use std::fs;
use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{log_softmax, relu, softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::module::max_pool2d;
use burn::tensor::{ElementConversion, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{record_from_bytes, record_to_bytes};
use crate::nets::{materialize, to_vec};

/// Number of classes of MNIST and Fashion-MNIST.
pub const CLASSES: usize = 10;

/// The first line of a saved classifier file.
const MAGIC: &[u8] = b"gan-gradients q(x) classifier v1\n";

/// What can go wrong building, training, saving or loading a classifier. Every file error names
/// the file.
#[derive(Debug, thiserror::Error)]
pub enum ClassifierError {
    #[error("invalid classifier setting `{0}`: {1}")]
    Invalid(&'static str, String),
    #[error("classifier input: {0}")]
    Input(String),
    #[error("classifier file {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("classifier file {}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClassifierError + '_ {
    move |source| ClassifierError::Io { path: path.to_path_buf(), source }
}

/// The architecture: widths of the two convolutions and of the feature layer, and the input side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Side of the square grey input images (28 for MNIST / Fashion-MNIST; divisible by 4).
    pub image_size: usize,
    pub conv1: usize,
    pub conv2: usize,
    /// Width of the penultimate (feature) layer.
    pub hidden: usize,
    pub classes: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        Self { image_size: 28, conv1: 32, conv2: 64, hidden: 128, classes: CLASSES }
    }
}

impl ClassifierConfig {
    fn check(&self) -> Result<(), ClassifierError> {
        if self.image_size == 0 || !self.image_size.is_multiple_of(4) {
            return Err(ClassifierError::Invalid("image_size", format!("must be a positive multiple of 4, got {}", self.image_size)));
        }
        for (name, v) in [("conv1", self.conv1), ("conv2", self.conv2), ("hidden", self.hidden)] {
            if v == 0 {
                return Err(ClassifierError::Invalid(name, "must be >= 1".into()));
            }
        }
        if self.classes < 2 {
            return Err(ClassifierError::Invalid("classes", format!("must be >= 2, got {}", self.classes)));
        }
        Ok(())
    }

    /// Values of one input image (image_size^2).
    pub fn input_dim(&self) -> usize {
        self.image_size * self.image_size
    }

    /// A classifier with fresh weights drawn from the backend RNG seeded with `seed` (PyTorch-like
    /// default initialisers of burn's Conv2d and Linear).
    pub fn init<B: Backend>(&self, seed: u64, device: &B::Device) -> Result<Classifier<B>, ClassifierError> {
        self.check()?;
        let _l = crate::backends::rng_lock();
        B::seed(device, seed);
        let flat = self.conv2 * (self.image_size / 4) * (self.image_size / 4);
        let conv = |i, o| Conv2dConfig::new([i, o], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device);
        Ok(materialize(Classifier {
            conv1: conv(1, self.conv1),
            conv2: conv(self.conv1, self.conv2),
            fc1: LinearConfig::new(flat, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.classes).init(device),
            size: self.image_size,
        }))
    }
}

/// The CNN q(x) (layout in the module documentation).
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    fc1: Linear<B>,
    fc2: Linear<B>,
    size: usize,
}

impl<B: Backend> Classifier<B> {
    /// Side of the input images.
    pub fn image_size(&self) -> usize {
        self.size
    }

    /// Penultimate-layer activations (after the ReLU), `[b, size^2] -> [b, hidden]`.
    pub fn forward_features(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let b = x.dims()[0];
        let h: Tensor<B, 4> = x.reshape([b, 1, self.size, self.size]);
        let h = max_pool2d(relu(self.conv1.forward(h)), [2, 2], [2, 2], [0, 0], [1, 1], false);
        let h = max_pool2d(relu(self.conv2.forward(h)), [2, 2], [2, 2], [0, 0], [1, 1], false);
        let [_, c, s, t] = h.dims();
        relu(self.fc1.forward(h.reshape([b, c * s * t])))
    }

    /// Class logits, `[b, size^2] -> [b, classes]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.fc2.forward(self.forward_features(x))
    }
}

/// Images as the classifier takes them: `n` rows of `dim` values in [-1, 1], row-major.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    pub x: &'a [f32],
    pub dim: usize,
}

impl<'a> Batch<'a> {
    pub fn new(x: &'a [f32], dim: usize) -> Result<Self, ClassifierError> {
        if dim == 0 || !x.len().is_multiple_of(dim) {
            return Err(ClassifierError::Input(format!("{} values are not whole rows of {dim}", x.len())));
        }
        Ok(Self { x, dim })
    }
    pub fn len(&self) -> usize {
        self.x.len() / self.dim
    }
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
    fn rows(&self, idx: &[usize]) -> Vec<f32> {
        let mut v = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            v.extend_from_slice(&self.x[i * self.dim..(i + 1) * self.dim]);
        }
        v
    }
}

/// Optimisation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for TrainSettings {
    fn default() -> Self {
        Self { epochs: 5, batch_size: 64, lr: 1e-3, seed: 1 }
    }
}

/// One epoch of training, as the progress callback and the runner's CSV see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean cross-entropy over the epoch's minibatches (each before its update).
    pub loss: f64,
    /// Accuracy on the training minibatches, each before its update (the running accuracy, not
    /// a second pass over the training set).
    pub train_accuracy: f64,
    /// Accuracy on the held-out set after the epoch (`None` without one).
    pub heldout_accuracy: Option<f64>,
}

fn check_labels(x: &Batch, y: &[u8], classes: usize, what: &str) -> Result<(), ClassifierError> {
    if x.len() != y.len() {
        return Err(ClassifierError::Input(format!("{what}: {} images but {} labels", x.len(), y.len())));
    }
    if let Some(l) = y.iter().find(|&&l| l as usize >= classes) {
        return Err(ClassifierError::Input(format!("{what}: label {l} is not below the {classes} classes")));
    }
    Ok(())
}

fn check_dim<B: Backend>(model: &Classifier<B>, x: &Batch, what: &str) -> Result<(), ClassifierError> {
    if x.dim != model.size * model.size {
        return Err(ClassifierError::Input(format!(
            "{what}: rows of {} values, but the classifier takes {}x{} = {} (resize the images first)",
            x.dim,
            model.size,
            model.size,
            model.size * model.size
        )));
    }
    Ok(())
}

fn tensor<B: Backend>(v: Vec<f32>, rows: usize, cols: usize, device: &B::Device) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

fn argmax_rows(v: &[f32], cols: usize) -> Vec<usize> {
    v.chunks(cols)
        .map(|r| r.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0)
        .collect()
}

/// Trains `model` on (`x`, `y`) with Adam; after every epoch measures the accuracy on `heldout`
/// (if given) and calls `progress`. Returns the trained model and the per-epoch statistics.
pub fn train<B: AutodiffBackend>(
    mut model: Classifier<B>,
    x: Batch,
    y: &[u8],
    heldout: Option<(Batch, &[u8])>,
    s: &TrainSettings,
    device: &B::Device,
    mut progress: impl FnMut(&EpochStats),
) -> Result<(Classifier<B>, Vec<EpochStats>), ClassifierError> {
    let classes = model.fc2.weight.dims()[1];
    check_dim(&model, &x, "training images")?;
    check_labels(&x, y, classes, "training set")?;
    if let Some((hx, hy)) = &heldout {
        check_dim(&model, hx, "held-out images")?;
        check_labels(hx, hy, classes, "held-out set")?;
    }
    if s.batch_size == 0 || !(s.lr > 0.0 && s.lr.is_finite()) {
        return Err(ClassifierError::Invalid("batch_size/lr", format!("need batch_size >= 1 and lr > 0, got {} and {}", s.batch_size, s.lr)));
    }
    if x.is_empty() {
        return Err(ClassifierError::Input("the training set is empty".into()));
    }
    let mut opt = AdamConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).init::<B, Classifier<B>>();
    let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed);
    let mut order: Vec<usize> = (0..x.len()).collect();
    let mut history = Vec::with_capacity(s.epochs);
    for epoch in 1..=s.epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct, mut batches) = (0.0f64, 0usize, 0usize);
        for idx in order.chunks(s.batch_size) {
            let m = idx.len();
            let xb = tensor::<B>(x.rows(idx), m, x.dim, device);
            let mut onehot = vec![0f32; m * classes];
            for (r, &i) in idx.iter().enumerate() {
                onehot[r * classes + y[i] as usize] = 1.0;
            }
            let onehot = tensor::<B>(onehot, m, classes, device);
            let logits = model.forward(xb);
            let pred = argmax_rows(&to_vec(logits.clone().detach()), classes);
            correct += idx.iter().zip(&pred).filter(|(&i, &p)| y[i] as usize == p).count();
            // Cross-entropy -(1/m) sum_i log softmax(l_i)[y_i].
            let loss = -(log_softmax(logits, 1) * onehot).sum().div_scalar(m as f64);
            loss_sum += loss.clone().into_scalar().elem::<f64>();
            batches += 1;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(s.lr, model, grads);
        }
        let heldout_accuracy = match &heldout {
            Some((hx, hy)) => Some(accuracy(&model.valid(), *hx, hy, 256)?),
            None => None,
        };
        let st = EpochStats { epoch, loss: loss_sum / batches as f64, train_accuracy: correct as f64 / x.len() as f64, heldout_accuracy };
        progress(&st);
        history.push(st);
    }
    Ok((model, history))
}

/// Runs `f` over `x` in batches of `batch` rows and concatenates the row-major outputs.
fn batched<B: Backend>(
    model: &Classifier<B>,
    x: Batch,
    batch: usize,
    f: impl Fn(&Classifier<B>, Tensor<B, 2>) -> Tensor<B, 2>,
) -> Result<Vec<f32>, ClassifierError> {
    check_dim(model, &x, "images")?;
    let device = model.fc2.weight.device();
    let batch = batch.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < x.len() {
        let end = (start + batch).min(x.len());
        let xb = tensor::<B>(x.x[start * x.dim..end * x.dim].to_vec(), end - start, x.dim, &device);
        out.extend(to_vec(f(model, xb)));
        start = end;
    }
    Ok(out)
}

/// Penultimate-layer activations of every image, row-major (`hidden` values per image). Call it
/// on an inference module (`model.valid()` of an autodiff one, or one loaded on a plain backend)
/// so that no graph is recorded.
pub fn features<B: Backend>(model: &Classifier<B>, x: Batch, batch: usize) -> Result<Vec<f32>, ClassifierError> {
    batched(model, x, batch, |m, t| m.forward_features(t))
}

/// Class logits of every image, row-major (`classes` values per image).
pub fn logits<B: Backend>(model: &Classifier<B>, x: Batch, batch: usize) -> Result<Vec<f32>, ClassifierError> {
    batched(model, x, batch, |m, t| m.forward(t))
}

/// Class probabilities q(y | x) (softmax of the logits), row-major: the p_i of Figure 4's pair
/// counts.
pub fn probabilities<B: Backend>(model: &Classifier<B>, x: Batch, batch: usize) -> Result<Vec<f32>, ClassifierError> {
    batched(model, x, batch, |m, t| softmax(m.forward(t), 1))
}

/// Share of images whose most probable class is their label.
pub fn accuracy<B: Backend>(model: &Classifier<B>, x: Batch, y: &[u8], batch: usize) -> Result<f64, ClassifierError> {
    let classes = model.fc2.weight.dims()[1];
    check_labels(&x, y, classes, "accuracy")?;
    if x.is_empty() {
        return Err(ClassifierError::Input("accuracy of an empty set".into()));
    }
    let l = logits(model, x, batch)?;
    let pred = argmax_rows(&l, classes);
    Ok(pred.iter().zip(y).filter(|(p, &t)| **p == t as usize).count() as f64 / y.len() as f64)
}

/// What is saved with the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierMeta {
    /// Which data set it was trained on (`mnist`, `fashion-mnist`, or a user's name).
    pub dataset: String,
    pub config: ClassifierConfig,
    /// Held-out accuracy measured after training (see `heldout`).
    pub accuracy: f64,
    /// What the held-out set was.
    pub heldout: String,
    pub train_images: usize,
    pub settings: TrainSettings,
    /// Free text: profile, source files, backend.
    #[serde(default)]
    pub note: String,
}

/// Writes the classifier and its metadata to `path` atomically (temporary file in the same
/// folder, then rename).
pub fn save<B: Backend>(model: &Classifier<B>, meta: &ClassifierMeta, path: &Path) -> Result<(), ClassifierError> {
    let yaml = serde_yaml::to_string(meta).map_err(|e| ClassifierError::Format { path: path.to_path_buf(), msg: e.to_string() })?;
    let record = record_to_bytes::<B, _>(model.clone().into_record());
    let mut bytes = Vec::with_capacity(MAGIC.len() + 8 + yaml.len() + record.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(yaml.len() as u64).to_le_bytes());
    bytes.extend_from_slice(yaml.as_bytes());
    bytes.extend_from_slice(&record);
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("classifier");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    fs::write(&tmp, &bytes).map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}

/// Reads only the metadata of a saved classifier.
pub fn read_meta(path: &Path) -> Result<ClassifierMeta, ClassifierError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    Ok(split(&bytes, path)?.0)
}

fn split<'a>(bytes: &'a [u8], path: &Path) -> Result<(ClassifierMeta, &'a [u8]), ClassifierError> {
    let fmt = |msg: String| ClassifierError::Format { path: path.to_path_buf(), msg };
    let rest = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| fmt("not a classifier file of this project (wrong first line)".into()))?;
    if rest.len() < 8 {
        return Err(fmt("truncated after the first line".into()));
    }
    let n = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
    let rest = &rest[8..];
    if rest.len() < n {
        return Err(fmt(format!("truncated: metadata needs {n} bytes, {} left", rest.len())));
    }
    let meta: ClassifierMeta = serde_yaml::from_slice(&rest[..n]).map_err(|e| fmt(format!("metadata: {e}")))?;
    Ok((meta, &rest[n..]))
}

/// Loads a classifier saved by [`save`] onto `device` of any backend.
pub fn load<B: Backend>(path: &Path, device: &B::Device) -> Result<(Classifier<B>, ClassifierMeta), ClassifierError> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let (meta, record) = split(&bytes, path)?;
    let model = meta.config.init::<B>(0, device)?;
    let record = record_from_bytes::<B, _>(record, device)
        .map_err(|e| ClassifierError::Format { path: path.to_path_buf(), msg: format!("weights: {e}") })?;
    Ok((model.load_record(record), meta))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::{ndarray_device, NdArray, NdArrayAd};
    use crate::gan::flat_params;

    fn tiny() -> ClassifierConfig {
        ClassifierConfig { image_size: 8, conv1: 4, conv2: 8, hidden: 16, classes: 3 }
    }

    /// Three classes of 8x8 images: a bright horizontal bar, a vertical bar, or a bright corner
    /// block, at random positions, on noise; values in [-1, 1].
    fn synthetic(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
        use rand::Rng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n * 64);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let c = (i % 3) as u8;
            let p = rng.random_range(1..7usize);
            let mut img: Vec<f32> = (0..64).map(|_| rng.random_range(-1.0..-0.6f32)).collect();
            for k in 0..8 {
                match c {
                    0 => img[p * 8 + k] = 1.0,
                    1 => img[k * 8 + p] = 1.0,
                    _ => {
                        if k < 4 {
                            for j in 0..4 {
                                img[k * 8 + j] = 1.0;
                            }
                        }
                    }
                }
            }
            x.extend(img);
            y.push(c);
        }
        (x, y)
    }

    fn settings() -> TrainSettings {
        TrainSettings { epochs: 4, batch_size: 16, lr: 3e-3, seed: 5 }
    }

    fn trained() -> (Classifier<NdArrayAd>, Vec<EpochStats>) {
        let device = ndarray_device();
        let (x, y) = synthetic(240, 1);
        let (hx, hy) = synthetic(90, 2);
        let m = tiny().init::<NdArrayAd>(7, &device).unwrap();
        let mut calls = 0;
        let r = train(m, Batch::new(&x, 64).unwrap(), &y, Some((Batch::new(&hx, 64).unwrap(), &hy)), &settings(), &device, |_| calls += 1)
            .unwrap();
        assert_eq!(calls, settings().epochs, "one progress call per epoch");
        r
    }

    #[test]
    fn learns_a_separable_synthetic_problem() {
        let (model, hist) = trained();
        let first = &hist[0];
        let last = hist.last().unwrap();
        assert!(last.loss < first.loss, "loss falls: {hist:?}");
        assert!(last.heldout_accuracy.unwrap() >= 0.95, "held-out accuracy {hist:?}");
        let (hx, hy) = synthetic(90, 3);
        let acc = accuracy(&model.valid(), Batch::new(&hx, 64).unwrap(), &hy, 7).unwrap();
        assert!(acc >= 0.95, "fresh held-out set: {acc}");
        let p = probabilities(&model.valid(), Batch::new(&hx[..64 * 5], 64).unwrap(), 2).unwrap();
        for row in p.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5 && row.iter().all(|&v| v >= 0.0));
        }
    }

    #[test]
    fn deterministic_runs_give_identical_weights() {
        let (a, ha) = trained();
        let (b, hb) = trained();
        assert_eq!(ha, hb);
        assert_eq!(flat_params(&a), flat_params(&b));
        // and another seed gives other weights
        let device = ndarray_device();
        let c = tiny().init::<NdArrayAd>(8, &device).unwrap();
        let d = tiny().init::<NdArrayAd>(7, &device).unwrap();
        assert_ne!(flat_params(&c), flat_params(&d));
    }

    #[test]
    fn save_load_round_trip_gives_identical_logits_and_features_have_the_right_shape() {
        let (model, hist) = trained();
        let dir = std::env::temp_dir().join(format!("classifier-test-{}", std::process::id()));
        let path = dir.join("sub").join("q.bin");
        let meta = ClassifierMeta {
            dataset: "synthetic".into(),
            config: tiny(),
            accuracy: hist.last().unwrap().heldout_accuracy.unwrap(),
            heldout: "90 synthetic".into(),
            train_images: 240,
            settings: settings(),
            note: String::new(),
        };
        let inner = model.valid();
        save(&inner, &meta, &path).unwrap();
        let (x, _) = synthetic(13, 9);
        let xb = Batch::new(&x, 64).unwrap();
        let (loaded, m2) = load::<NdArray>(&path, &ndarray_device()).unwrap();
        assert_eq!(m2, meta);
        assert_eq!(read_meta(&path).unwrap(), meta);
        assert_eq!(logits(&inner, xb, 5).unwrap(), logits(&loaded, xb, 13).unwrap(), "identical logits, any batching");
        let f = features(&loaded, xb, 4).unwrap();
        assert_eq!(f.len(), 13 * 16);
        assert!(f.iter().all(|v| *v >= 0.0 && v.is_finite()), "ReLU features");
        assert_eq!(loaded.image_size(), 8);

        // Damaged files are errors naming the file, not panics.
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = load::<NdArray>(&path, &ndarray_device()).unwrap_err().to_string();
        assert!(e.contains("q.bin"), "{e}");
        fs::write(&path, b"hello").unwrap();
        let e = load::<NdArray>(&path, &ndarray_device()).unwrap_err().to_string();
        assert!(e.contains("q.bin") && e.contains("not a classifier file"), "{e}");
        let e = load::<NdArray>(&dir.join("none.bin"), &ndarray_device()).unwrap_err().to_string();
        assert!(e.contains("none.bin"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_inputs_are_errors() {
        let device = ndarray_device();
        let m = tiny().init::<NdArray>(1, &device).unwrap();
        assert!(Batch::new(&[0.0; 10], 64).is_err());
        let x = vec![0f32; 2 * 49];
        let e = features(&m, Batch::new(&x, 49).unwrap(), 4).unwrap_err().to_string();
        assert!(e.contains("8x8"), "{e}");
        let x = vec![0f32; 2 * 64];
        assert!(accuracy(&m, Batch::new(&x, 64).unwrap(), &[0, 7], 4).unwrap_err().to_string().contains("label 7"));
        assert!(ClassifierConfig { image_size: 30, ..tiny() }.init::<NdArray>(1, &device).is_err());
    }
}
