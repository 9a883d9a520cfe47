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
        /// Timing rounds; each runs the Rust side and the Python side once, in alternating
        /// order (Rust first in even rounds), and the report gives medians and ranges.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
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

/// One round of the Rust side: FID (moments, distance), the eigen route's distance (first
/// round only: it is informative, not part of the ratios) and PRDC.
struct RustRound {
    fit: f64,
    dist: f64,
    prdc: f64,
    fid: f64,
    method: metrics::frechet::TraceSqrt,
    p: metrics::Prdc,
}

fn rust_round(fr: &[f64], ff: &[f64], fid_d: usize, pr: &[f64], pf: &[f64], prdc_d: usize, k: usize) -> Result<RustRound> {
    let t = Instant::now();
    let g1 = metrics::Gaussian::fit(Rows::new(fr, fid_d, "real")?)?;
    let g2 = metrics::Gaussian::fit(Rows::new(ff, fid_d, "fake")?)?;
    let fit = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let parts = metrics::frechet::frechet_parts(&g1, &g2, metrics::frechet::TraceSqrt::Auto)?;
    let dist = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let p = metrics::prdc(Rows::new(pr, prdc_d, "real")?, Rows::new(pf, prdc_d, "fake")?, k)?;
    let prdc = t.elapsed().as_secs_f64();
    Ok(RustRound { fit, dist, prdc, fid: parts.distance(), method: parts.method, p })
}

/// Median and range of a few timings or ratios.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len();
    let med = if m % 2 == 1 { s[m / 2] } else { 0.5 * (s[m / 2 - 1] + s[m / 2]) };
    (med, s[0], s[m - 1])
}

fn fmt_spread(v: &[f64], unit: &str) -> String {
    let (m, lo, hi) = spread(v);
    format!("{m:.2}{unit} ({lo:.2}-{hi:.2})")
}

/// The variables that, set on some processors, make a current numpy pick a slow OpenBLAS
/// kernel; the Python side of the benchmark runs without them (and says which kernel it ran).
const OPENBLAS_VARS: [&str; 2] = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

pub fn bench(cmd: BenchCmd) -> Result<()> {
    let BenchCmd::Metrics { fid_n, fid_d, prdc_n, prdc_d, k, out, python, seed, rounds } = cmd;
    let rounds = rounds.max(1);
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
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/metrics_reference.py");
    if python.is_some() {
        for v in OPENBLAS_VARS {
            match std::env::var(v) {
                Ok(val) => eprintln!("bench: {v}={val} is set here; the Python side runs without it"),
                Err(_) => eprintln!("bench: {v} is not set"),
            }
        }
    }
    let run_python = |py: &str| -> Result<serde_json::Value> {
        let mut c = std::process::Command::new(py);
        c.arg(&script).arg("bench").arg("--dir").arg(&out).arg("--k").arg(k.to_string());
        for v in OPENBLAS_VARS {
            c.env_remove(v);
        }
        let o = c.output().with_context(|| format!("cannot start {py}"))?;
        if !o.status.success() {
            bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or(""));
        }
        serde_json::from_slice(&o.stdout).context("reading the reference's JSON")
    };

    let mut rust = Vec::new();
    let mut pys = Vec::new();
    for r in 0..rounds {
        let python_first = r % 2 == 1 && python.is_some();
        if python_first {
            eprintln!("bench: round {}: Python", r + 1);
            pys.push(run_python(python.as_deref().unwrap())?);
        }
        let rr = rust_round(&fr, &ff, fid_d, &pr, &pf, prdc_d, k)?;
        eprintln!(
            "bench: round {}: rust FID {:.10} (fit {:.2}s + distance {:.2}s via {:?}), PRDC {:?} in {:.2}s",
            r + 1, rr.fid, rr.fit, rr.dist, rr.method, rr.p, rr.prdc
        );
        rust.push(rr);
        if let (false, Some(py)) = (python_first, python.as_deref()) {
            eprintln!("bench: round {}: Python", r + 1);
            pys.push(run_python(py)?);
        }
    }
    // The fallback route (eigendecomposition of S_1, used when S_1 is singular), timed once.
    let g1 = metrics::Gaussian::fit(Rows::new(&fr, fid_d, "real")?)?;
    let g2 = metrics::Gaussian::fit(Rows::new(&ff, fid_d, "fake")?)?;
    let t = Instant::now();
    let fid_eig = metrics::frechet::frechet_parts(&g1, &g2, metrics::frechet::TraceSqrt::Eigen)?.distance();
    let t_eig = t.elapsed().as_secs_f64();
    eprintln!("bench: rust FID via the eigen route {fid_eig:.10} in {t_eig:.2}s");

    let col = |f: &dyn Fn(&RustRound) -> f64| rust.iter().map(f).collect::<Vec<f64>>();
    let (r_fid, r_dist, r_prdc) = (col(&|r| r.fit + r.dist), col(&|r| r.dist), col(&|r| r.prdc));
    let (fid, p, method) = (rust[0].fid, rust[0].p, rust[0].method);
    let rust_json = serde_json::json!({
        "fid": fid, "fid_seconds": r_fid, "fid_distance_seconds": r_dist, "fid_fit_seconds": col(&|r| r.fit),
        "fid_method": format!("{method:?}"), "fid_eigen_route": fid_eig, "fid_eigen_route_distance_seconds": t_eig,
        "precision": p.precision, "recall": p.recall, "density": p.density, "coverage": p.coverage, "prdc_seconds": r_prdc,
        "fid_n": fid_n, "fid_d": fid_d, "prdc_n": prdc_n, "prdc_d": prdc_d, "k": k, "threads": threads, "rounds": rounds,
    });
    std::fs::write(out.join("rust.json"), serde_json::to_string_pretty(&rust_json)?)?;
    if pys.is_empty() {
        println!("{rust_json}");
        return Ok(());
    }
    let g = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let pcol = |key: &str| pys.iter().map(|v| g(v, key)).collect::<Vec<f64>>();
    let (p_fid, p_dist, p_prdc) = (pcol("fid_seconds"), pcol("fid_distance_seconds"), pcol("prdc_seconds"));
    let ratio = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, r)| p / r).collect::<Vec<f64>>();
    let (r_fit, p_fit) = (col(&|r| r.fit), pcol("fid_fit_seconds"));
    // The moments (two X^T X products of n x d^2 multiply-adds each) are GEMM-bound on both sides;
    // with them at the speed measured here, even a distance of zero seconds could not make the
    // whole FID faster than Python's total over Rust's moments: that quotient bounds the FID ratio.
    let ceiling = ratio(&p_fid, &r_fit);
    let refv = &pys[0];
    // Every round's values must agree, not only the first's.
    let fid_rel = pys.iter().zip(&rust).map(|(v, r)| rel(r.fid, g(v, "fid"))).fold(0.0, f64::max);
    let prdc_same = pys.iter().zip(&rust).all(|(v, r)| {
        r.p.precision == g(v, "precision") && r.p.recall == g(v, "recall") && r.p.density == g(v, "density") && r.p.coverage == g(v, "coverage")
    });
    let mut report = String::new();
    report.push_str(&format!(
        "{rounds} alternating rounds; medians (min-max) of the seconds and of the per-round ratios\n\n\
         | computation | Rust (s) | Python (s) | Python / Rust | relative difference of the result |\n|---|---|---|---|---|\n\
         | FID n={fid_n} d={fid_d}: moments + distance | {} | {} | {} | {:.2e} (largest over rounds) |\n\
         | FID: moments only (two means and covariances: Rust faer / np.mean + np.cov) | {} | {} | {} | |\n\
         | FID: distance only (Rust {method:?} / scipy sqrtm) | {} | {} | {} | |\n\
         | FID: distance only, Rust's fallback route (eigendecomposition of S_1), one run | {t_eig:.2} | | | {:.2e} |\n\
         | PRDC n={prdc_n} d={prdc_d} k={k} | {} | {} | {} | P {:.1e}, R {:.1e}, D {:.1e}, C {:.1e}; {} |\n",
        fmt_spread(&r_fid, ""),
        fmt_spread(&p_fid, ""),
        fmt_spread(&ratio(&p_fid, &r_fid), "x"),
        fid_rel,
        fmt_spread(&r_fit, ""),
        fmt_spread(&p_fit, ""),
        fmt_spread(&ratio(&p_fit, &r_fit), "x"),
        fmt_spread(&r_dist, ""),
        fmt_spread(&p_dist, ""),
        fmt_spread(&ratio(&p_dist, &r_dist), "x"),
        rel(fid_eig, g(refv, "fid")),
        fmt_spread(&r_prdc, ""),
        fmt_spread(&p_prdc, ""),
        fmt_spread(&ratio(&p_prdc, &r_prdc), "x"),
        rel(p.precision, g(refv, "precision")),
        rel(p.recall, g(refv, "recall")),
        rel(p.density, g(refv, "density")),
        rel(p.coverage, g(refv, "coverage")),
        if prdc_same { "identical in every round" } else { "NOT identical in every round" },
    ));
    report.push_str(&format!("\nper round, Python / Rust: FID {:?}, PRDC {:?}\n", ratio(&p_fid, &r_fid).iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>(), ratio(&p_prdc, &r_prdc).iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>()));
    report.push_str(&format!(
        "ceiling of the FID ratio at these moment times (Python's whole FID / Rust's moments alone, i.e. a Rust distance of 0 s): {}\n",
        fmt_spread(&ceiling, "x")
    ));
    report.push_str(&format!("Rust FID {fid:.10}, Python FID {:.10}\n", g(refv, "fid")));
    report.push_str(&format!("Python side: numpy {}, BLAS {}\n", refv["numpy"].as_str().unwrap_or("?"), refv["blas"]));
    std::fs::write(out.join("python.json"), serde_json::to_string_pretty(&pys)?)?;
    std::fs::write(out.join("report.md"), &report)?;
    println!("{report}");
    Ok(())
}
