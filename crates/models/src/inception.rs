//! The Inception-v3 feature extractor of FID, defined as pytorch-fid defines it, loading
//! pytorch-fid's own weight file `pt_inception-2015-12-05-6726825d.pth` with burn-store's
//! PyTorch reader.
//!
//! FID (Heusel et al. 2017) is reported from the 2048 pool3 features of the TensorFlow Inception
//! graph `inception-2015-12-05`; pytorch-fid (mseitzer/pytorch-fid, `src/pytorch_fid/inception.py`)
//! reproduces that graph as torchvision's `Inception3` with four blocks patched:
//!
//! - `FIDInceptionA` (`Mixed_5b..5d`), `FIDInceptionC` (`Mixed_6b..6e`), `FIDInceptionE_1`
//!   (`Mixed_7b`): the pool branch is `avg_pool2d(3, stride 1, pad 1, count_include_pad=False)`
//!   (TensorFlow's average pool ignores the padding);
//! - `FIDInceptionE_2` (`Mixed_7c`): the pool branch is `max_pool2d(3, stride 1, pad 1)`;
//! - `Mixed_6a` / `Mixed_7a` are torchvision's `InceptionB` / `InceptionD` unchanged;
//! - `BasicConv2d` = conv without bias, BatchNorm with eps = 0.001, ReLU.
//!
//! Input: images in [0, 1], resized to 299x299 with `F.interpolate(mode="bilinear",
//! align_corners=False)` (burn's default is `align_corners = true`, so it is set explicitly), then
//! scaled to [-1, 1] by `2x - 1`; output: the adaptive average pool after `Mixed_7c`, 2048 values.
//! BatchNorm always uses its running statistics here (inference), whatever the backend, because
//! [`BasicConv2d::forward`] applies them itself instead of calling burn's `BatchNorm::forward`
//! (which switches to batch statistics on autodiff backends).
//!
//! Parameter names equal the keys of the `.pth` state dict (`Conv2d_1a_3x3.conv.weight`,
//! `Mixed_5b.branch1x1.bn.running_mean`, ...), hence the non-snake-case field names; burn-store's
//! `PyTorchToBurnAdapter` maps BatchNorm's `weight`/`bias` to burn's `gamma`/`beta`. The file's
//! `fc.*` (1008-way classifier), any `AuxLogits.*` and `*.num_batches_tracked` entries are not
//! used by FID and are skipped by name ([`SKIPPED_KEY_PREFIXES`], [`SKIPPED_KEY_SUFFIX`]); any other
//! key of the file that the network lacks is an error, as is any parameter the file lacks.

// Field names are the state-dict keys (`Mixed_5b`, ...); the Module derive repeats them in
// generated record types, which a struct-level allow does not reach.
#![allow(non_snake_case)]

use std::path::{Path, PathBuf};

use burn::module::{Initializer, Module};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{avg_pool2d, interpolate, max_pool2d};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Tensor, TensorData};
use burn_store::{ModuleSnapshot, PytorchStore};

/// Side of the square input of the network (pytorch-fid resizes every image to it).
pub const INPUT_SIZE: usize = 299;
/// Length of the pool3 feature vector.
pub const FEATURE_DIM: usize = 2048;
/// File name pytorch-fid downloads (`FID_WEIGHTS_URL`).
pub const WEIGHTS_FILE: &str = "pt_inception-2015-12-05-6726825d.pth";
/// Where pytorch-fid fetches the weights from (we never download: no network is assumed).
pub const WEIGHTS_URL: &str =
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth";
/// Where torch hub (and so pytorch-fid) caches it.
pub const WEIGHTS_CACHE_HINT: &str = "~/.cache/torch/hub/checkpoints/pt_inception-2015-12-05-6726825d.pth";
/// State-dict keys of the file that FID does not use: the classifier and the auxiliary head.
pub const SKIPPED_KEY_PREFIXES: [&str; 2] = ["fc.", "AuxLogits."];
/// BatchNorm step counters that newer PyTorch versions add to every BatchNorm.
pub const SKIPPED_KEY_SUFFIX: &str = ".num_batches_tracked";
/// BatchNorm epsilon of torchvision's `BasicConv2d`.
pub const BN_EPS: f64 = 0.001;

/// Errors of loading the weights and of embedding images.
#[derive(Debug, thiserror::Error)]
pub enum InceptionError {
    #[error(
        "Inception weights {path} not found: pytorch-fid caches them at {WEIGHTS_CACHE_HINT} \
         (download: {WEIGHTS_URL}); pass that file's path"
    )]
    MissingFile { path: PathBuf },
    #[error("cannot read {path} as a PyTorch state dict: {message}")]
    Read { path: PathBuf, message: String },
    #[error(
        "{path} lacks {count} of the Inception parameters FID needs, e.g. {examples:?}: is it \
         pytorch-fid's {WEIGHTS_FILE}?"
    )]
    MissingKeys { path: PathBuf, count: usize, examples: Vec<String> },
    #[error(
        "{path} has {count} entries that are not part of pytorch-fid's Inception, e.g. \
         {examples:?}: is it pytorch-fid's {WEIGHTS_FILE}?"
    )]
    UnexpectedKeys { path: PathBuf, count: usize, examples: Vec<String> },
    #[error("{path}: {count} tensors do not fit the network, e.g. {examples:?}")]
    Mismatch { path: PathBuf, count: usize, examples: Vec<String> },
    #[error("images: {0}")]
    BadInput(String),
}

fn examples(v: impl IntoIterator<Item = String>) -> (usize, Vec<String>) {
    let all: Vec<String> = v.into_iter().collect();
    (all.len(), all.into_iter().take(5).collect())
}

/// A parameter path in PyTorch's names (burn's BatchNorm `gamma`/`beta` are `weight`/`bias`),
/// for error messages that name the keys of the user's file.
fn torch_name(path: &str) -> String {
    path.replace(".bn.gamma", ".bn.weight").replace(".bn.beta", ".bn.bias")
}

/// Whether `key` is a state-dict entry FID deliberately does not load.
pub fn is_skipped_key(key: &str) -> bool {
    SKIPPED_KEY_PREFIXES.iter().any(|p| key.starts_with(p)) || key.ends_with(SKIPPED_KEY_SUFFIX)
}

/// torchvision's `BasicConv2d`: conv (no bias) + BatchNorm(eps 0.001) + ReLU.
#[derive(Module, Debug)]
pub struct BasicConv2d<B: Backend> {
    pub conv: Conv2d<B>,
    pub bn: BatchNorm<B>,
}

impl<B: Backend> BasicConv2d<B> {
    /// `kernel` and `padding` are (height, width) as in PyTorch's `kernel_size=(kh, kw)`.
    pub fn new(c_in: usize, c_out: usize, kernel: [usize; 2], stride: usize, padding: [usize; 2], device: &B::Device) -> Self {
        // Zeros: the weights are always overwritten by the file; this skips 24M random draws.
        let conv = Conv2dConfig::new([c_in, c_out], kernel)
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(padding[0], padding[1], padding[0], padding[1]))
            .with_bias(false)
            .with_initializer(Initializer::Zeros)
            .init(device);
        let bn = BatchNormConfig::new(c_out).with_epsilon(BN_EPS).init(device);
        Self { conv, bn }
    }

    fn k(c_in: usize, c_out: usize, k: usize, device: &B::Device) -> Self {
        Self::new(c_in, c_out, [k, k], 1, [k / 2, k / 2], device)
    }

    /// relu(gamma (conv(x) - running_mean) / sqrt(running_var + eps) + beta), per channel: the
    /// inference form of BatchNorm, always (see the module docs).
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let y = self.conv.forward(x);
        let c = y.dims()[1];
        let scale = self.bn.gamma.val() / (self.bn.running_var.value() + self.bn.epsilon).sqrt();
        let shift = self.bn.beta.val() - self.bn.running_mean.value() * scale.clone();
        relu(y * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1]))
    }
}

/// 3x3, stride 1, pad 1 average pool that averages over the in-image cells only (TensorFlow's
/// pool, `count_include_pad=False` in pytorch-fid's patched blocks).
pub fn tf_avg_pool3<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    avg_pool2d(x, [3, 3], [1, 1], [1, 1], false, false)
}

/// `Mixed_5b..5d`: pytorch-fid's `FIDInceptionA`.
#[derive(Module, Debug)]
pub struct InceptionA<B: Backend> {
    pub branch1x1: BasicConv2d<B>,
    pub branch5x5_1: BasicConv2d<B>,
    pub branch5x5_2: BasicConv2d<B>,
    pub branch3x3dbl_1: BasicConv2d<B>,
    pub branch3x3dbl_2: BasicConv2d<B>,
    pub branch3x3dbl_3: BasicConv2d<B>,
    pub branch_pool: BasicConv2d<B>,
}

impl<B: Backend> InceptionA<B> {
    pub fn new(c_in: usize, pool_features: usize, d: &B::Device) -> Self {
        Self {
            branch1x1: BasicConv2d::k(c_in, 64, 1, d),
            branch5x5_1: BasicConv2d::k(c_in, 48, 1, d),
            branch5x5_2: BasicConv2d::k(48, 64, 5, d),
            branch3x3dbl_1: BasicConv2d::k(c_in, 64, 1, d),
            branch3x3dbl_2: BasicConv2d::k(64, 96, 3, d),
            branch3x3dbl_3: BasicConv2d::k(96, 96, 3, d),
            branch_pool: BasicConv2d::k(c_in, pool_features, 1, d),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b5 = self.branch5x5_2.forward(self.branch5x5_1.forward(x.clone()));
        let b3 = self.branch3x3dbl_3.forward(self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x.clone())));
        let bp = self.branch_pool.forward(tf_avg_pool3(x));
        Tensor::cat(vec![b1, b5, b3, bp], 1)
    }
}

/// `Mixed_6a`: torchvision's `InceptionB` (grid reduction 35 -> 17).
#[derive(Module, Debug)]
pub struct InceptionB<B: Backend> {
    pub branch3x3: BasicConv2d<B>,
    pub branch3x3dbl_1: BasicConv2d<B>,
    pub branch3x3dbl_2: BasicConv2d<B>,
    pub branch3x3dbl_3: BasicConv2d<B>,
}

impl<B: Backend> InceptionB<B> {
    pub fn new(c_in: usize, d: &B::Device) -> Self {
        Self {
            branch3x3: BasicConv2d::new(c_in, 384, [3, 3], 2, [0, 0], d),
            branch3x3dbl_1: BasicConv2d::k(c_in, 64, 1, d),
            branch3x3dbl_2: BasicConv2d::k(64, 96, 3, d),
            branch3x3dbl_3: BasicConv2d::new(96, 96, [3, 3], 2, [0, 0], d),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b3 = self.branch3x3.forward(x.clone());
        let bd = self.branch3x3dbl_3.forward(self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x.clone())));
        let bp = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        Tensor::cat(vec![b3, bd, bp], 1)
    }
}

/// `Mixed_6b..6e`: pytorch-fid's `FIDInceptionC`.
#[derive(Module, Debug)]
pub struct InceptionC<B: Backend> {
    pub branch1x1: BasicConv2d<B>,
    pub branch7x7_1: BasicConv2d<B>,
    pub branch7x7_2: BasicConv2d<B>,
    pub branch7x7_3: BasicConv2d<B>,
    pub branch7x7dbl_1: BasicConv2d<B>,
    pub branch7x7dbl_2: BasicConv2d<B>,
    pub branch7x7dbl_3: BasicConv2d<B>,
    pub branch7x7dbl_4: BasicConv2d<B>,
    pub branch7x7dbl_5: BasicConv2d<B>,
    pub branch_pool: BasicConv2d<B>,
}

impl<B: Backend> InceptionC<B> {
    pub fn new(c_in: usize, c7: usize, d: &B::Device) -> Self {
        let row = |a, b| BasicConv2d::new(a, b, [1, 7], 1, [0, 3], d); // kernel (1, 7)
        let col = |a, b| BasicConv2d::new(a, b, [7, 1], 1, [3, 0], d); // kernel (7, 1)
        Self {
            branch1x1: BasicConv2d::k(c_in, 192, 1, d),
            branch7x7_1: BasicConv2d::k(c_in, c7, 1, d),
            branch7x7_2: row(c7, c7),
            branch7x7_3: col(c7, 192),
            branch7x7dbl_1: BasicConv2d::k(c_in, c7, 1, d),
            branch7x7dbl_2: col(c7, c7),
            branch7x7dbl_3: row(c7, c7),
            branch7x7dbl_4: col(c7, c7),
            branch7x7dbl_5: row(c7, 192),
            branch_pool: BasicConv2d::k(c_in, 192, 1, d),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let b7 = self.branch7x7_3.forward(self.branch7x7_2.forward(self.branch7x7_1.forward(x.clone())));
        let mut bd = self.branch7x7dbl_1.forward(x.clone());
        for l in [&self.branch7x7dbl_2, &self.branch7x7dbl_3, &self.branch7x7dbl_4, &self.branch7x7dbl_5] {
            bd = l.forward(bd);
        }
        let bp = self.branch_pool.forward(tf_avg_pool3(x));
        Tensor::cat(vec![b1, b7, bd, bp], 1)
    }
}

/// `Mixed_7a`: torchvision's `InceptionD` (grid reduction 17 -> 8).
#[derive(Module, Debug)]
pub struct InceptionD<B: Backend> {
    pub branch3x3_1: BasicConv2d<B>,
    pub branch3x3_2: BasicConv2d<B>,
    pub branch7x7x3_1: BasicConv2d<B>,
    pub branch7x7x3_2: BasicConv2d<B>,
    pub branch7x7x3_3: BasicConv2d<B>,
    pub branch7x7x3_4: BasicConv2d<B>,
}

impl<B: Backend> InceptionD<B> {
    pub fn new(c_in: usize, d: &B::Device) -> Self {
        Self {
            branch3x3_1: BasicConv2d::k(c_in, 192, 1, d),
            branch3x3_2: BasicConv2d::new(192, 320, [3, 3], 2, [0, 0], d),
            branch7x7x3_1: BasicConv2d::k(c_in, 192, 1, d),
            branch7x7x3_2: BasicConv2d::new(192, 192, [1, 7], 1, [0, 3], d),
            branch7x7x3_3: BasicConv2d::new(192, 192, [7, 1], 1, [3, 0], d),
            branch7x7x3_4: BasicConv2d::new(192, 192, [3, 3], 2, [0, 0], d),
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let b3 = self.branch3x3_2.forward(self.branch3x3_1.forward(x.clone()));
        let mut b7 = self.branch7x7x3_1.forward(x.clone());
        for l in [&self.branch7x7x3_2, &self.branch7x7x3_3, &self.branch7x7x3_4] {
            b7 = l.forward(b7);
        }
        let bp = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        Tensor::cat(vec![b3, b7, bp], 1)
    }
}

/// `Mixed_7b` / `Mixed_7c`: pytorch-fid's `FIDInceptionE_1` / `FIDInceptionE_2`, which differ
/// only in the pool of the pool branch (the `max_pool` argument of [`InceptionE::forward`]).
#[derive(Module, Debug)]
pub struct InceptionE<B: Backend> {
    pub branch1x1: BasicConv2d<B>,
    pub branch3x3_1: BasicConv2d<B>,
    pub branch3x3_2a: BasicConv2d<B>,
    pub branch3x3_2b: BasicConv2d<B>,
    pub branch3x3dbl_1: BasicConv2d<B>,
    pub branch3x3dbl_2: BasicConv2d<B>,
    pub branch3x3dbl_3a: BasicConv2d<B>,
    pub branch3x3dbl_3b: BasicConv2d<B>,
    pub branch_pool: BasicConv2d<B>,
}

impl<B: Backend> InceptionE<B> {
    pub fn new(c_in: usize, d: &B::Device) -> Self {
        Self {
            branch1x1: BasicConv2d::k(c_in, 320, 1, d),
            branch3x3_1: BasicConv2d::k(c_in, 384, 1, d),
            branch3x3_2a: BasicConv2d::new(384, 384, [1, 3], 1, [0, 1], d),
            branch3x3_2b: BasicConv2d::new(384, 384, [3, 1], 1, [1, 0], d),
            branch3x3dbl_1: BasicConv2d::k(c_in, 448, 1, d),
            branch3x3dbl_2: BasicConv2d::k(448, 384, 3, d),
            branch3x3dbl_3a: BasicConv2d::new(384, 384, [1, 3], 1, [0, 1], d),
            branch3x3dbl_3b: BasicConv2d::new(384, 384, [3, 1], 1, [1, 0], d),
            branch_pool: BasicConv2d::k(c_in, 192, 1, d),
        }
    }

    /// `max_pool = false`: `FIDInceptionE_1` (TF average pool); `true`: `FIDInceptionE_2`
    /// (3x3 max pool, stride 1, pad 1, as the TF graph has it).
    pub fn forward(&self, x: Tensor<B, 4>, max_pool: bool) -> Tensor<B, 4> {
        let b1 = self.branch1x1.forward(x.clone());
        let t = self.branch3x3_1.forward(x.clone());
        let b3 = Tensor::cat(vec![self.branch3x3_2a.forward(t.clone()), self.branch3x3_2b.forward(t)], 1);
        let t = self.branch3x3dbl_2.forward(self.branch3x3dbl_1.forward(x.clone()));
        let bd = Tensor::cat(vec![self.branch3x3dbl_3a.forward(t.clone()), self.branch3x3dbl_3b.forward(t)], 1);
        let pooled = if max_pool {
            max_pool2d(x, [3, 3], [1, 1], [1, 1], [1, 1], false)
        } else {
            tf_avg_pool3(x)
        };
        let bp = self.branch_pool.forward(pooled);
        Tensor::cat(vec![b1, b3, bd, bp], 1)
    }
}

/// pytorch-fid's `InceptionV3(output_blocks=[3])` (`use_fid_inception=True`): the layers of
/// `fid_inception_v3()` up to `Mixed_7c`, then the global average pool.
#[derive(Module, Debug)]
pub struct InceptionFid<B: Backend> {
    pub Conv2d_1a_3x3: BasicConv2d<B>,
    pub Conv2d_2a_3x3: BasicConv2d<B>,
    pub Conv2d_2b_3x3: BasicConv2d<B>,
    pub Conv2d_3b_1x1: BasicConv2d<B>,
    pub Conv2d_4a_3x3: BasicConv2d<B>,
    pub Mixed_5b: InceptionA<B>,
    pub Mixed_5c: InceptionA<B>,
    pub Mixed_5d: InceptionA<B>,
    pub Mixed_6a: InceptionB<B>,
    pub Mixed_6b: InceptionC<B>,
    pub Mixed_6c: InceptionC<B>,
    pub Mixed_6d: InceptionC<B>,
    pub Mixed_6e: InceptionC<B>,
    pub Mixed_7a: InceptionD<B>,
    pub Mixed_7b: InceptionE<B>,
    pub Mixed_7c: InceptionE<B>,
}

/// Resize to `size` x `size` as `F.interpolate(x, size, mode="bilinear", align_corners=False)`
/// (no antialiasing, as PyTorch's default).
pub fn resize_bilinear<B: Backend>(x: Tensor<B, 4>, size: usize) -> Tensor<B, 4> {
    let [_, _, h, w] = x.dims();
    if h == size && w == size {
        return x; // interpolate to the same size is the identity for align_corners=False
    }
    interpolate(x, [size, size], InterpolateOptions::new(InterpolateMode::Bilinear).with_align_corners(false))
}

impl<B: Backend> InceptionFid<B> {
    /// The network with zero weights (for loading into; see [`InceptionFid::load`]).
    pub fn new(d: &B::Device) -> Self {
        Self {
            Conv2d_1a_3x3: BasicConv2d::new(3, 32, [3, 3], 2, [0, 0], d),
            Conv2d_2a_3x3: BasicConv2d::new(32, 32, [3, 3], 1, [0, 0], d),
            Conv2d_2b_3x3: BasicConv2d::new(32, 64, [3, 3], 1, [1, 1], d),
            Conv2d_3b_1x1: BasicConv2d::new(64, 80, [1, 1], 1, [0, 0], d),
            Conv2d_4a_3x3: BasicConv2d::new(80, 192, [3, 3], 1, [0, 0], d),
            Mixed_5b: InceptionA::new(192, 32, d),
            Mixed_5c: InceptionA::new(256, 64, d),
            Mixed_5d: InceptionA::new(288, 64, d),
            Mixed_6a: InceptionB::new(288, d),
            Mixed_6b: InceptionC::new(768, 128, d),
            Mixed_6c: InceptionC::new(768, 160, d),
            Mixed_6d: InceptionC::new(768, 160, d),
            Mixed_6e: InceptionC::new(768, 192, d),
            Mixed_7a: InceptionD::new(768, d),
            Mixed_7b: InceptionE::new(1280, d),
            Mixed_7c: InceptionE::new(2048, d),
        }
    }

    /// Loads pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (a plain state dict of
    /// torchvision's `Inception3` with `num_classes=1008, aux_logits=False`). Every parameter of
    /// the network must be in the file; the file may hold only the skipped extras besides.
    pub fn load(path: impl AsRef<Path>, device: &B::Device) -> Result<Self, InceptionError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(InceptionError::MissingFile { path });
        }
        let mut net = Self::new(device);
        // Errors and missing keys are collected and reported by us (typed, with examples)
        // rather than by burn-store's formatted summary.
        // BatchNorm's PyTorch names are renamed to burn's by key remapping rather than left to
        // the adapter's fallback lookup, which matches them but still lists the file's
        // `bn.weight`/`bn.bias` as unused, hiding real extra keys among 188 false ones.
        let mut store = PytorchStore::from_file(&path)
            .with_key_remapping(r"^(.+\.bn)\.weight$", "$1.gamma")
            .with_key_remapping(r"^(.+\.bn)\.bias$", "$1.beta")
            .validate(false)
            .allow_partial(true)
            .map_indices_contiguous(false);
        let result = net
            .load_from(&mut store)
            .map_err(|e| InceptionError::Read { path: path.clone(), message: e.to_string() })?;
        if !result.errors.is_empty() {
            let (count, examples) = examples(result.errors.iter().map(|e| torch_name(&e.to_string())));
            return Err(InceptionError::Mismatch { path, count, examples });
        }
        if !result.missing.is_empty() {
            let (count, examples) = examples(result.missing.iter().map(|(p, _)| torch_name(p)));
            return Err(InceptionError::MissingKeys { path, count, examples });
        }
        let unexpected = result.unused.iter().map(|k| torch_name(k)).filter(|k| !is_skipped_key(k));
        let (count, examples) = examples(unexpected);
        if count > 0 {
            return Err(InceptionError::UnexpectedKeys { path, count, examples });
        }
        Ok(net)
    }

    /// Pool3 features of images in [0, 1], NCHW with 3 channels: resize to 299 (bilinear,
    /// align_corners=False), scale to [-1, 1], the network, global average pool. [n, 2048].
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = resize_bilinear(images, INPUT_SIZE);
        let x = x * 2.0 - 1.0;
        let x = self.Conv2d_1a_3x3.forward(x);
        let x = self.Conv2d_2a_3x3.forward(x);
        let x = self.Conv2d_2b_3x3.forward(x);
        let x = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        let x = self.Conv2d_3b_1x1.forward(x);
        let x = self.Conv2d_4a_3x3.forward(x);
        let x = max_pool2d(x, [3, 3], [2, 2], [0, 0], [1, 1], false);
        let x = self.Mixed_5b.forward(x);
        let x = self.Mixed_5c.forward(x);
        let x = self.Mixed_5d.forward(x);
        let x = self.Mixed_6a.forward(x);
        let x = self.Mixed_6b.forward(x);
        let x = self.Mixed_6c.forward(x);
        let x = self.Mixed_6d.forward(x);
        let x = self.Mixed_6e.forward(x);
        let x = self.Mixed_7a.forward(x);
        let x = self.Mixed_7b.forward(x, false);
        let x = self.Mixed_7c.forward(x, true);
        // AdaptiveAvgPool2d((1, 1)) = mean over the 8x8 grid.
        let [n, c, _, _] = x.dims();
        x.mean_dim(3).mean_dim(2).reshape([n, c])
    }

    /// Features of `n` images given as f32 values in [0, 1], NCHW row-major with `channels` 1 or 3
    /// (1: grey, repeated to RGB as pytorch-fid's image loader does with `convert("RGB")`),
    /// `batch` images per forward pass. Returns `n` rows of [`FEATURE_DIM`] values.
    // Flat slice + its NCHW shape spelled out: the caller-side form of pytorch-fid's batches.
    #[allow(clippy::too_many_arguments)]
    pub fn features(
        &self,
        images: &[f32],
        n: usize,
        channels: usize,
        height: usize,
        width: usize,
        batch: usize,
        device: &B::Device,
    ) -> Result<Vec<f32>, InceptionError> {
        if channels != 1 && channels != 3 {
            return Err(InceptionError::BadInput(format!("{channels} channels; need 1 or 3")));
        }
        let per = channels * height * width;
        if height == 0 || width == 0 || images.len() != n * per {
            return Err(InceptionError::BadInput(format!(
                "{} values for {n} images of {channels}x{height}x{width}",
                images.len()
            )));
        }
        if let Some(v) = images.iter().find(|v| !v.is_finite() || **v < 0.0 || **v > 1.0) {
            return Err(InceptionError::BadInput(format!("value {v} outside [0, 1]")));
        }
        let batch = batch.max(1);
        let mut out = Vec::with_capacity(n * FEATURE_DIM);
        for start in (0..n).step_by(batch) {
            let m = batch.min(n - start);
            let chunk = images[start * per..(start + m) * per].to_vec();
            let x = Tensor::<B, 4>::from_data(TensorData::new(chunk, [m, channels, height, width]), device);
            let x = if channels == 1 { x.repeat_dim(1, 3) } else { x };
            let f = self.forward(x).into_data();
            out.extend(f.iter::<f32>());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
