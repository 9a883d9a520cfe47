//! `experiments metrics ...`: the metrics crate on a researcher's own feature files, and
//! `experiments bench metrics`: timings against the usual Python tools.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::path::{Path, PathBuf};
use std::time::Instant;

use data::features::{encode_npy_f64, read_matrix, FeatureMatrix};
use data::preprocess::{resize_image, to_signed_unit};
use metrics::Rows;
use models::backends::Flex;
use models::classifier::{self as qx, Classifier};

const INPUTS: &str = "R and F are either 2-D feature matrices, one sample per row: .npy (float32 or float64, C order) or CSV \
without a header; or images, which are first embedded with the penultimate-layer features (128 per image) of the project's \
classifier q(x) (--classifier): an IDX image file (magic 0x00000803, gzip-compressed or raw, e.g. \
t10k-images-idx3-ubyte.gz) or a folder of PNG files (*.png, read in name order; colour images are converted to grey with \
the image crate's Rec. 709 luma weights, alpha ignored). Images of another size than the classifier's 28x28 are resized \
with a triangle (bilinear) filter, as the data crate's preprocessing does; pixel values are scaled to [-1, 1] as the GAN's \
data. The classifier records are made by `cargo run --release -p experiments -- classifier`.";

/// Which classifier embeds image inputs.
const CLASSIFIER_HELP: &str = "Classifier for image inputs: mnist, fashion-mnist (records under <data>/models/classifier/) or the path of a record";

#[derive(Subcommand)]
pub enum MetricsCmd {
    /// FID: the squared Frechet distance between Gaussians fitted to R and F (pytorch-fid's
    /// formula, f64). Prints {"fid": ...}.
    #[command(after_help = INPUTS)]
    Fid {
        /// Real features (.npy or CSV) or images (IDX file, folder of PNGs).
        #[arg(long)]
        real: PathBuf,
        /// Generated features (.npy or CSV) or images (IDX file, folder of PNGs).
        #[arg(long)]
        fake: PathBuf,
        #[arg(long, default_value = "mnist", help = CLASSIFIER_HELP)]
        classifier: String,
        /// pytorch-fid's Inception weights (`pt_inception-2015-12-05-6726825d.pth`; pytorch-fid
        /// caches them in ~/.cache/torch/hub/checkpoints/). R and F are then folders of PNG
        /// images, embedded as pytorch-fid does (README, "Inception FID").
        #[arg(long)]
        inception: Option<PathBuf>,
    },
    /// Precision, recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020),
    /// as the `prdc` package computes them. Prints {"precision":..,"recall":..,"density":..,"coverage":..}.
    #[command(after_help = INPUTS)]
    Prdc {
        #[arg(long)]
        real: PathBuf,
        #[arg(long)]
        fake: PathBuf,
        /// Nearest neighbours for the k-NN radii (3 is the precision/recall paper's choice, 5 the
        /// density/coverage paper's and the prdc package's).
        #[arg(long, default_value_t = 5)]
        k: usize,
        #[arg(long, default_value = "mnist", help = CLASSIFIER_HELP)]
        classifier: String,
    },
}

/// The classifier that embeds image inputs, loaded on first use (flex backend, inference only).
struct Embedder {
    spec: String,
    model: Option<Classifier<Flex>>,
}

impl Embedder {
    fn new(spec: String) -> Self {
        Self { spec, model: None }
    }

    /// The loaded classifier.
    fn model(&mut self) -> Result<&Classifier<Flex>> {
        if self.model.is_none() {
            let (m, _) = crate::items::classifier::load::<Flex>(&self.spec, &models::backends::flex_device())?;
            self.model = Some(m);
        }
        Ok(self.model.as_ref().expect("loaded above"))
    }

    /// Penultimate-layer features of grey images (`n` images of `h` x `w` bytes).
    fn embed(&mut self, pixels: &[u8], n: usize, h: usize, w: usize, what: &Path) -> Result<FeatureMatrix> {
        let model = self.model()?;
        let size = model.image_size();
        let mut x = Vec::with_capacity(n * size * size);
        for i in 0..n {
            let img = &pixels[i * h * w..(i + 1) * h * w];
            let px = if h == size && w == size { img.to_vec() } else { resize_image(img, 1, h, w, size) };
            x.extend(px.iter().map(|&v| to_signed_unit(v) as f32));
        }
        let f = qx::features(model, qx::Batch::new(&x, size * size)?, 256).with_context(|| format!("{}", what.display()))?;
        let cols = f.len() / n.max(1);
        Ok(FeatureMatrix { rows: n, cols, data: f.into_iter().map(f64::from).collect() })
    }
}

/// A folder of PNGs as grey images, each resized to the classifier's input size if needed.
fn png_folder(dir: &Path, emb: &mut Embedder) -> Result<FeatureMatrix> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list the folder", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: a folder of images must hold .png files, and this one has none", dir.display());
    }
    let size = emb.model()?.image_size();
    let mut pixels = Vec::with_capacity(files.len() * size * size);
    for f in &files {
        let img = image::open(f).with_context(|| format!("{}: not a readable PNG", f.display()))?.to_luma8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        if w == 0 || h == 0 {
            bail!("{}: empty image", f.display());
        }
        if w == size && h == size {
            pixels.extend_from_slice(img.as_raw());
        } else {
            pixels.extend(resize_image(img.as_raw(), 1, h, w, size));
        }
    }
    emb.embed(&pixels, files.len(), size, size, dir)
}

/// Reads R or F: a folder of PNGs or an IDX image file (embedded with the classifier), else a
/// feature matrix (.npy or CSV).
fn load(path: &Path, emb: &mut Embedder) -> Result<FeatureMatrix> {
    if path.is_dir() {
        return png_folder(path, emb);
    }
    let bytes = data::read_maybe_gz(path)?;
    if bytes.starts_with(&[0, 0, 0x08, 0x03]) {
        let (n, h, w, pixels) = data::idx::parse_images(&bytes, path)?;
        if n == 0 || h == 0 || w == 0 {
            bail!("{}: the IDX file holds no images ({n} of {h}x{w})", path.display());
        }
        return emb.embed(&pixels, n, h, w, path);
    }
    Ok(read_matrix(path)?)
}

fn rows<'a>(m: &'a FeatureMatrix, name: &'static str, path: &Path) -> Result<Rows<'a>> {
    Rows::new(&m.data, m.cols.max(1), name).with_context(|| format!("{}", path.display()))
}

pub fn run(cmd: MetricsCmd) -> Result<()> {
    match cmd {
        MetricsCmd::Fid { real, fake, classifier, inception } => {
            if let Some(weights) = inception {
                let v = crate::inception_cli::fid(&weights, &real, &fake)?;
                println!("{}", serde_json::json!({ "fid": v }));
                return Ok(());
            }
            let mut emb = Embedder::new(classifier);
            let (r, f) = (load(&real, &mut emb)?, load(&fake, &mut emb)?);
            let v = metrics::fid(rows(&r, "real", &real)?, rows(&f, "fake", &fake)?)?;
            println!("{}", serde_json::json!({ "fid": v }));
        }
        MetricsCmd::Prdc { real, fake, k, classifier } => {
            let mut emb = Embedder::new(classifier);
            let (r, f) = (load(&real, &mut emb)?, load(&fake, &mut emb)?);
            let p = metrics::prdc(rows(&r, "real", &real)?, rows(&f, "fake", &fake)?, k)?;
            println!(
                "{}",
                serde_json::json!({ "precision": p.precision, "recall": p.recall, "density": p.density, "coverage": p.coverage })
            );
        }
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// Frechet distance (n x d features each) and PRDC (n x d) timed here and, with --python,
    /// with scipy's sqrtm formula (pytorch-fid) and the prdc package on the same .npy files.
    Metrics {
        #[arg(long, default_value_t = 10_000)]
        fid_n: usize,
        #[arg(long, default_value_t = 2048)]
        fid_d: usize,
        #[arg(long, default_value_t = 10_000)]
        prdc_n: usize,
        #[arg(long, default_value_t = 64)]
        prdc_d: usize,
        #[arg(long, default_value_t = 5)]
        k: usize,
        /// Where the .npy inputs and results go.
        #[arg(long, default_value = "target/bench-metrics")]
        out: PathBuf,
        /// A Python with numpy, scipy and prdc, to run scripts/metrics_reference.py on the same
        /// inputs (e.g. `--python python3`).
        #[arg(long)]
        python: Option<String>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Correlated Gaussian features: z (i.i.d. N(0, 1)) times `scale`, plus `shift`, plus a rank-2
/// component along fixed directions, so the two covariances do not commute.
fn synthetic(n: usize, d: usize, seed: u64, scale: f64, shift: f64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dirs: Vec<Vec<f64>> = (0..2).map(|k| (0..d).map(|j| ((j * (k + 3)) as f64 * 0.37 + seed as f64).sin()).collect()).collect();
    let mut x = Vec::with_capacity(n * d);
    for _ in 0..n {
        let s: [f64; 2] = [StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng)];
        for (a, b) in dirs[0].iter().zip(&dirs[1]) {
            let z: f64 = StandardNormal.sample(&mut rng);
            x.push(scale * z + shift + 0.8 * s[0] * a + 0.5 * s[1] * b);
        }
    }
    x
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

pub fn bench(cmd: BenchCmd) -> Result<()> {
    let BenchCmd::Metrics { fid_n, fid_d, prdc_n, prdc_d, k, out, python, seed } = cmd;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let threads = rayon::current_num_threads();
    eprintln!("bench: writing inputs to {} ({threads} threads)", out.display());
    let fr = synthetic(fid_n, fid_d, seed, 1.0, 0.0);
    let ff = synthetic(fid_n, fid_d, seed + 1, 1.1, 0.05);
    let pr = synthetic(prdc_n, prdc_d, seed + 2, 1.0, 0.0);
    let pf = synthetic(prdc_n, prdc_d, seed + 3, 1.05, 0.05);
    for (name, rows_, cols, x) in [("fid_real", fid_n, fid_d, &fr), ("fid_fake", fid_n, fid_d, &ff), ("prdc_real", prdc_n, prdc_d, &pr), ("prdc_fake", prdc_n, prdc_d, &pf)] {
        std::fs::write(out.join(format!("{name}.npy")), encode_npy_f64(rows_, cols, x))?;
    }

    let t = Instant::now();
    let g1 = metrics::Gaussian::fit(Rows::new(&fr, fid_d, "real")?)?;
    let g2 = metrics::Gaussian::fit(Rows::new(&ff, fid_d, "fake")?)?;
    let t_fit = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let parts = metrics::frechet::frechet_parts(&g1, &g2, metrics::frechet::TraceSqrt::Auto)?;
    let t_dist = t.elapsed().as_secs_f64();
    let fid = parts.distance();
    eprintln!("bench: rust FID {fid:.10} (fit {t_fit:.2}s + distance {t_dist:.2}s via {:?})", parts.method);
    // The fallback route (eigendecomposition of S_1), used when S_1 is singular.
    let t = Instant::now();
    let fid_eig = metrics::frechet::frechet_parts(&g1, &g2, metrics::frechet::TraceSqrt::Eigen)?.distance();
    let t_eig = t.elapsed().as_secs_f64();
    eprintln!("bench: rust FID via the eigen route {fid_eig:.10} in {t_eig:.2}s");
    let t = Instant::now();
    let p = metrics::prdc(Rows::new(&pr, prdc_d, "real")?, Rows::new(&pf, prdc_d, "fake")?, k)?;
    let t_prdc = t.elapsed().as_secs_f64();
    eprintln!("bench: rust PRDC {p:?} in {t_prdc:.2}s");

    let rust = serde_json::json!({
        "fid": fid, "fid_fit_seconds": t_fit, "fid_distance_seconds": t_dist, "fid_seconds": t_fit + t_dist,
        "fid_method": format!("{:?}", parts.method), "fid_eigen_route": fid_eig, "fid_eigen_route_distance_seconds": t_eig,
        "precision": p.precision, "recall": p.recall, "density": p.density, "coverage": p.coverage, "prdc_seconds": t_prdc,
        "fid_n": fid_n, "fid_d": fid_d, "prdc_n": prdc_n, "prdc_d": prdc_d, "k": k, "threads": threads,
    });
    std::fs::write(out.join("rust.json"), serde_json::to_string_pretty(&rust)?)?;
    let Some(py) = python else {
        println!("{rust}");
        return Ok(());
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/metrics_reference.py");
    eprintln!("bench: running {} on the same inputs", script.display());
    let o = std::process::Command::new(&py)
        .arg(&script)
        .arg("bench")
        .arg("--dir")
        .arg(&out)
        .arg("--k")
        .arg(k.to_string())
        .output()
        .with_context(|| format!("cannot start {py}"))?;
    if !o.status.success() {
        bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""));
    }
    let refv: serde_json::Value = serde_json::from_slice(&o.stdout).context("reading the reference's JSON")?;
    let g = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let mut report = String::new();
    report.push_str(&format!(
        "| computation | Rust (s) | Python (s) | Python / Rust | relative difference of the result |\n|---|---|---|---|---|\n\
         | FID n={fid_n} d={fid_d}: moments + distance | {:.2} | {:.2} | {:.1}x | {:.2e} |\n\
         | FID: distance only (Rust {:?} / scipy sqrtm) | {:.2} | {:.2} | {:.1}x | |\n\
         | FID: distance only, Rust's fallback route (eigendecomposition of S_1) | {:.2} | {:.2} | {:.1}x | {:.2e} |\n\
         | PRDC n={prdc_n} d={prdc_d} k={k} | {:.2} | {:.2} | {:.1}x | P {:.1e}, R {:.1e}, D {:.1e}, C {:.1e} |\n",
        t_fit + t_dist,
        g(&refv, "fid_seconds"),
        g(&refv, "fid_seconds") / (t_fit + t_dist),
        rel(fid, g(&refv, "fid")),
        parts.method,
        t_dist,
        g(&refv, "fid_distance_seconds"),
        g(&refv, "fid_distance_seconds") / t_dist,
        t_eig,
        g(&refv, "fid_distance_seconds"),
        g(&refv, "fid_distance_seconds") / t_eig,
        rel(fid_eig, g(&refv, "fid")),
        t_prdc,
        g(&refv, "prdc_seconds"),
        g(&refv, "prdc_seconds") / t_prdc,
        rel(p.precision, g(&refv, "precision")),
        rel(p.recall, g(&refv, "recall")),
        rel(p.density, g(&refv, "density")),
        rel(p.coverage, g(&refv, "coverage")),
    ));
    report.push_str(&format!("\nRust FID {fid:.10}, Python FID {:.10}\n", g(&refv, "fid")));
    std::fs::write(out.join("python.json"), serde_json::to_string_pretty(&refv)?)?;
    std::fs::write(out.join("report.md"), &report)?;
    println!("{report}");
    Ok(())
}
