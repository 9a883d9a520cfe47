//! `gan_early_stopping._native`: pyo3 bindings over the burn-free crates. No logic lives here:
//! Algorithm 2 is `early_stopping::EarlyStopping`, Appendix F is `early_stopping::appendix_f`, the
//! metrics are the `metrics` crate's public functions. This file only converts arguments, maps
//! typed errors to Python exceptions (invalid input -> ValueError, numerical failure ->
//! ArithmeticError) and turns any Rust panic into a RuntimeError instead of letting it cross the
//! FFI boundary. Array arguments arrive as C-contiguous float64 (the Python layer casts); their
//! shapes are checked here so that a direct call is just as safe.

use std::panic::{catch_unwind, AssertUnwindSafe};

use early_stopping::{appendix_f, CheckpointRef, EarlyStoppingConfig, Granularity, StopEvent, VarianceReading};
use metrics::{MetricsError, Rows};
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyArithmeticError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// Runs `f`, turning a panic into a Python RuntimeError.
fn no_panic<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
            Err(PyRuntimeError::new_err(format!("internal error (Rust panic): {msg}")))
        }
    }
}

/// Runs `f` without the GIL (other Python threads go on meanwhile) and without letting a panic out.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> Result<T, MetricsError> + Send) -> PyResult<T> {
    let r = py.detach(|| catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default()
    }));
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(metrics_err(e)),
        Err(msg) => Err(PyRuntimeError::new_err(format!("internal error (Rust panic): {msg}"))),
    }
}

fn metrics_err(e: MetricsError) -> PyErr {
    match e {
        MetricsError::Invalid { .. } => PyValueError::new_err(e.to_string()),
        MetricsError::Numerical(_) => PyArithmeticError::new_err(e.to_string()),
    }
}

/// "shape (3,) and dtype float32", for error messages about an argument that did not convert.
fn describe(a: &Bound<'_, PyAny>) -> String {
    match (a.getattr("shape"), a.getattr("dtype")) {
        (Ok(s), Ok(d)) => format!("shape {} and dtype {}", s.str().map(|s| s.to_string()).unwrap_or_default(), d.str().map(|s| s.to_string()).unwrap_or_default()),
        _ => format!("a {}", a.get_type().name().map(|s| s.to_string()).unwrap_or_default()),
    }
}

/// A float64 matrix argument `(n, d)` as a row-major slice and its column count.
fn matrix<'py>(name: &str, a: &Bound<'py, PyAny>, expected: &str) -> PyResult<PyReadonlyArray2<'py, f64>> {
    let arr: PyReadonlyArray2<'py, f64> = a
        .extract()
        .map_err(|_| PyValueError::new_err(format!("`{name}` must be a float64 array of shape {expected}; got {}", describe(a))))?;
    if !arr.is_c_contiguous() {
        return Err(PyValueError::new_err(format!("`{name}` must be C-contiguous (numpy.ascontiguousarray)")));
    }
    Ok(arr)
}

fn vector<'py>(name: &str, a: &Bound<'py, PyAny>, expected: &str) -> PyResult<PyReadonlyArray1<'py, f64>> {
    let arr: PyReadonlyArray1<'py, f64> = a
        .extract()
        .map_err(|_| PyValueError::new_err(format!("`{name}` must be a float64 array of shape {expected}; got {}", describe(a))))?;
    if !arr.is_c_contiguous() {
        return Err(PyValueError::new_err(format!("`{name}` must be C-contiguous (numpy.ascontiguousarray)")));
    }
    Ok(arr)
}

fn rows<'a>(name: &'static str, a: &'a PyReadonlyArray2<'_, f64>) -> PyResult<Rows<'a>> {
    let cols = a.shape()[1];
    Rows::new(a.as_slice().map_err(|e| PyValueError::new_err(format!("`{name}`: {e}")))?, cols, name).map_err(metrics_err)
}

// ---------------------------------------------------------------------------------------------
// Algorithm 2

/// A checkpoint the training loop saved after observation `at`, with an optional score (higher is
/// better).
#[pyclass(module = "gan_early_stopping", frozen, get_all)]
#[derive(Clone)]
struct Checkpoint {
    at: usize,
    score: Option<f64>,
}

#[pymethods]
impl Checkpoint {
    fn __repr__(&self) -> String {
        format!("Checkpoint(at={}, score={})", self.at, self.score.map_or("None".into(), |s| s.to_string()))
    }
}

impl From<CheckpointRef> for Checkpoint {
    fn from(c: CheckpointRef) -> Self {
        Self { at: c.at, score: c.score }
    }
}

/// What one observation decided (Algorithm 2, lines 4-5).
#[pyclass(module = "gan_early_stopping", frozen, get_all)]
#[derive(Clone)]
struct Decision {
    /// The observation index t (1, 2, ...).
    t: usize,
    q_d: f64,
    steepness: f64,
    /// (S - S_prev) / S_prev; None at the first observation or after a non-finite S.
    delta_s: Option<f64>,
    /// q_d > k_d / (2 sigma).
    disc_exceeds: bool,
    /// delta_s < k_g.
    steepness_drops: bool,
    /// t > N_w.
    armed: bool,
    /// armed and (disc_exceeds or steepness_drops).
    fires: bool,
}

#[pymethods]
impl Decision {
    fn __repr__(&self) -> String {
        format!(
            "Decision(t={}, q_d={}, steepness={}, delta_s={}, fires={})",
            self.t,
            self.q_d,
            self.steepness,
            self.delta_s.map_or("None".into(), |d| d.to_string()),
            if self.fires { "True" } else { "False" }
        )
    }
    fn __bool__(&self) -> bool {
        self.fires
    }
}

/// The first time Algorithm 2 fired: when, which criterion ("disc_grad", "steepness_drop" or
/// "both"), the values it compared, and the best checkpoint saved before it (line 10).
#[pyclass(name = "StopEvent", module = "gan_early_stopping", frozen, get_all)]
#[derive(Clone)]
struct StopEvent_ {
    t: usize,
    reason: String,
    q_d: f64,
    threshold_d: f64,
    steepness: f64,
    steepness_prev: Option<f64>,
    delta_s: Option<f64>,
    k_g: f64,
    best_checkpoint: Option<Checkpoint>,
    /// One line: when, why and with which values.
    description: String,
}

impl StopEvent_ {
    fn new(e: &StopEvent, unit: &str) -> Self {
        Self {
            t: e.t,
            reason: e.reason.name().to_string(),
            q_d: e.q_d,
            threshold_d: e.threshold_d,
            steepness: e.steepness,
            steepness_prev: e.steepness_prev,
            delta_s: e.delta_s,
            k_g: e.k_g,
            best_checkpoint: e.best_checkpoint.map(Checkpoint::from),
            description: e.describe(unit),
        }
    }
}

#[pymethods]
impl StopEvent_ {
    fn __repr__(&self) -> String {
        format!("StopEvent({})", self.description)
    }
    fn __str__(&self) -> String {
        self.description.clone()
    }
}

fn config_err(e: early_stopping::EarlyStoppingError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn unit(g: Granularity) -> &'static str {
    match g {
        Granularity::Epoch => "epoch",
        Granularity::Iteration => "iteration",
    }
}

/// Algorithm 2 as a monitor: feed it q_d and the mean steepness S once per observation (epoch or
/// iteration), register the checkpoints you save, and stop when `observe` returns a firing
/// decision (`fired` then holds the event).
#[pyclass(module = "gan_early_stopping")]
struct EarlyStopping {
    inner: early_stopping::EarlyStopping,
}

#[pymethods]
impl EarlyStopping {
    #[new]
    #[pyo3(signature = (k_d, sigma, k_g = -0.5, modes = 8, warmup = 50, granularity = "epoch"))]
    fn new(k_d: f64, sigma: f64, k_g: f64, modes: i64, warmup: i64, granularity: &str) -> PyResult<Self> {
        let bad = |name: &str, reason: String| PyValueError::new_err(format!("invalid early-stopping setting `{name}`: {reason}"));
        if modes < 1 {
            return Err(bad("modes", format!("must be >= 1, got {modes}")));
        }
        if warmup < 0 {
            return Err(bad("warmup", format!("must be >= 0, got {warmup}")));
        }
        let granularity = match granularity {
            "epoch" => Granularity::Epoch,
            "iteration" => Granularity::Iteration,
            other => return Err(bad("granularity", format!("{other:?} is not \"epoch\" or \"iteration\""))),
        };
        let cfg = EarlyStoppingConfig { k_d, sigma, k_g, modes: modes as usize, warmup: warmup as usize, granularity };
        Ok(Self { inner: early_stopping::EarlyStopping::new(cfg).map_err(config_err)? })
    }

    /// Appendix F.2's settings for the 3-D Gaussian mixture (k_d = 2, sigma = sqrt(0.0125),
    /// k_g = -0.5, 8 modes, warm-up 50 epochs).
    #[staticmethod]
    fn paper_gmm() -> Self {
        Self { inner: early_stopping::EarlyStopping::new(EarlyStoppingConfig::paper_gmm()).expect("valid") }
    }

    /// Feeds observation t = observed + 1 and returns its decision. Non-finite values never fire.
    fn observe(&mut self, q_d: f64, steepness: f64) -> PyResult<Decision> {
        no_panic(|| Ok(decision(self.inner.observe(q_d, steepness))))
    }

    /// Feeds one batch's raw values: per-sample ||grad_x log d(x)|| (its (1 - 1/m) quantile is
    /// q_d, Algorithm 2 line 3) and the per-latent steepness (its mean is S).
    fn observe_batch(&mut self, disc_grad_norms: &Bound<'_, PyAny>, steepness: &Bound<'_, PyAny>) -> PyResult<Decision> {
        let n = vector("disc_grad_norms", disc_grad_norms, "(batch,)")?;
        let s = vector("steepness", steepness, "(latents,)")?;
        let (n, s) = (n.as_slice().expect("contiguous"), s.as_slice().expect("contiguous"));
        if n.is_empty() || s.is_empty() {
            return Err(PyValueError::new_err("`disc_grad_norms` and `steepness` must not be empty"));
        }
        no_panic(|| Ok(decision(self.inner.observe_batch(n, s))))
    }

    /// Records a checkpoint saved after observation `at` (0 = before training), with an optional
    /// score (higher is better; the best one before the stop is reported).
    #[pyo3(signature = (at, score = None))]
    fn register_checkpoint(&mut self, at: usize, score: Option<f64>) {
        self.inner.register_checkpoint(at, score)
    }

    /// The best checkpoint saved strictly before observation `t`: highest score among scored ones,
    /// else the latest.
    fn best_checkpoint_before(&self, t: usize) -> Option<Checkpoint> {
        self.inner.best_checkpoint_before(t).map(Checkpoint::from)
    }

    /// The first firing (a StopEvent), or None.
    #[getter]
    fn fired(&self) -> Option<StopEvent_> {
        self.inner.fired().map(|e| StopEvent_::new(e, unit(self.inner.cfg.granularity)))
    }

    /// Later observations at which the rule fired again (when training went on after the stop).
    #[getter]
    fn refires(&self) -> Vec<usize> {
        self.inner.refires.clone()
    }

    #[getter]
    fn observed(&self) -> usize {
        self.inner.observed()
    }

    /// k_d / (2 sigma).
    #[getter]
    fn threshold(&self) -> f64 {
        self.inner.cfg.disc_threshold()
    }

    /// 1 - 1/m.
    #[getter]
    fn quantile_level(&self) -> f64 {
        self.inner.cfg.quantile_level()
    }

    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = &self.inner.cfg;
        let d = PyDict::new(py);
        d.set_item("k_d", c.k_d)?;
        d.set_item("sigma", c.sigma)?;
        d.set_item("k_g", c.k_g)?;
        d.set_item("modes", c.modes)?;
        d.set_item("warmup", c.warmup)?;
        d.set_item("granularity", unit(c.granularity))?;
        Ok(d)
    }

    /// The whole monitor state as JSON (to save with a model checkpoint); `from_state` restores it.
    fn state(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    #[staticmethod]
    fn from_state(state: &str) -> PyResult<Self> {
        let inner: early_stopping::EarlyStopping =
            serde_json::from_str(state).map_err(|e| PyValueError::new_err(format!("`state` is not a saved EarlyStopping: {e}")))?;
        inner.cfg.validate().map_err(config_err)?;
        Ok(Self { inner })
    }

    /// Pickling (torch.save, copy.deepcopy) goes through `state`.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        Ok((slf.get_type().getattr("from_state")?, (slf.borrow().state()?,)))
    }

    fn __repr__(&self) -> String {
        let c = &self.inner.cfg;
        format!(
            "EarlyStopping(k_d={}, sigma={}, k_g={}, modes={}, warmup={}, granularity={:?}; threshold {:.4}, observed {}, fired {})",
            c.k_d,
            c.sigma,
            c.k_g,
            c.modes,
            c.warmup,
            unit(c.granularity),
            c.disc_threshold(),
            self.inner.observed(),
            self.inner.fired().map_or("no".to_string(), |e| format!("at {}", e.t))
        )
    }
}

fn decision(d: early_stopping::Decision) -> Decision {
    Decision {
        t: d.t,
        q_d: d.q_d,
        steepness: d.steepness,
        delta_s: d.delta_s,
        disc_exceeds: d.disc_exceeds,
        steepness_drops: d.steepness_drops,
        armed: d.armed,
        fires: d.fires(),
    }
}

/// The (1 - 1/modes) quantile of `values` with numpy's default (linear) interpolation: q_d of
/// Algorithm 2 line 3.
#[pyfunction]
fn mode_quantile(values: &Bound<'_, PyAny>, modes: i64) -> PyResult<f64> {
    if modes < 1 {
        return Err(PyValueError::new_err(format!("`modes` must be >= 1, got {modes}")));
    }
    let v = vector("values", values, "(n,)")?;
    let v = v.as_slice().expect("contiguous");
    if v.is_empty() {
        return Err(PyValueError::new_err("`values` must not be empty"));
    }
    no_panic(|| Ok(early_stopping::mode_quantile(v, modes as usize)))
}

// ---------------------------------------------------------------------------------------------
// Appendix F

/// Appendix F's k_d, sigma and threshold k_d / (2 sigma) of one data set.
#[pyclass(module = "gan_early_stopping", frozen, get_all)]
struct Thresholds {
    k_d: f64,
    sigma: f64,
    threshold: f64,
    /// The class-averaged variance V (sigma = sqrt(V / dims)).
    variance: f64,
    /// The farthest pair of class means (labels).
    pair: (usize, usize),
    dims: usize,
    classes: usize,
}

#[pymethods]
impl Thresholds {
    /// `k_d, sigma, threshold = thresholds(images, labels)`.
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyTuple::new(py, [self.k_d, self.sigma, self.threshold])?.try_iter()?.into_any())
    }
    fn __repr__(&self) -> String {
        format!(
            "Thresholds(k_d={}, sigma={}, threshold={}, variance={}, pair={:?}, dims={}, classes={})",
            self.k_d, self.sigma, self.threshold, self.variance, self.pair, self.dims, self.classes
        )
    }
}

#[pyfunction]
#[pyo3(signature = (images, labels, per_label = 10, variance = "pooled"))]
fn thresholds(py: Python<'_>, images: &Bound<'_, PyAny>, labels: &Bound<'_, PyAny>, per_label: usize, variance: &str) -> PyResult<Thresholds> {
    let reading = VarianceReading::parse(variance).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let imgs = matrix("images", images, "(n, d)")?;
    let n = imgs.shape()[0];
    let dims = imgs.shape()[1];
    let labels: PyReadonlyArray1<'_, i64> = labels
        .extract()
        .map_err(|_| PyValueError::new_err(format!("`labels` must be an int64 array of shape ({n},); got {}", describe(labels))))?;
    if labels.len() != n {
        return Err(PyValueError::new_err(format!("`labels` must have shape ({n},) to match images; got ({},)", labels.len())));
    }
    let lab = labels.as_array();
    if let Some((i, l)) = lab.iter().enumerate().find(|(_, l)| **l < 0) {
        return Err(PyValueError::new_err(format!("`labels`: label {l} at index {i} is negative")));
    }
    let lab: Vec<usize> = lab.iter().map(|&l| l as usize).collect();
    let x = imgs.as_slice().expect("contiguous");
    let t = py
        .detach(|| catch_unwind(AssertUnwindSafe(|| appendix_f(x, dims, &lab, per_label, reading))))
        .map_err(|_| PyRuntimeError::new_err("internal error (Rust panic) in thresholds"))?
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(Thresholds { k_d: t.k_d, sigma: t.sigma, threshold: t.threshold, variance: t.variance, pair: t.pair, dims: t.dims, classes: t.classes })
}

// ---------------------------------------------------------------------------------------------
// Metrics

/// Squared Frechet distance between Gaussians fitted to the rows of `a` and `b` (pytorch-fid's
/// FID when the rows are Inception pool3 features).
#[pyfunction]
fn frechet_distance(py: Python<'_>, a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<f64> {
    let (a, b) = (matrix("a", a, "(n, d)")?, matrix("b", b, "(m, d)")?);
    let (ra, rb) = (rows("real", &a)?, rows("fake", &b)?);
    detached(py, || metrics::fid(ra, rb))
}

/// pytorch-fid's `calculate_frechet_distance(mu1, sigma1, mu2, sigma2)` on given moments.
#[pyfunction]
fn frechet_distance_from_moments(
    py: Python<'_>,
    mu1: &Bound<'_, PyAny>,
    sigma1: &Bound<'_, PyAny>,
    mu2: &Bound<'_, PyAny>,
    sigma2: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let m1 = vector("mu1", mu1, "(d,)")?;
    let d = m1.len();
    let shape = format!("({d}, {d})");
    let (s1, m2, s2) = (matrix("sigma1", sigma1, &shape)?, vector("mu2", mu2, &format!("({d},)"))?, matrix("sigma2", sigma2, &shape)?);
    for (name, s) in [("sigma1", &s1), ("sigma2", &s2)] {
        if s.shape() != [d, d] {
            return Err(PyValueError::new_err(format!("`{name}` must have shape {shape}; got {:?}", s.shape())));
        }
    }
    if m2.len() != d {
        return Err(PyValueError::new_err(format!("`mu2` must have shape ({d},); got ({},)", m2.len())));
    }
    let gauss = |m: &PyReadonlyArray1<f64>, s: &PyReadonlyArray2<f64>| {
        metrics::Gaussian::new(m.as_slice().expect("contiguous").to_vec(), nalgebra_matrix(d, s.as_slice().expect("contiguous")))
    };
    let (g1, g2) = (gauss(&m1, &s1).map_err(metrics_err)?, gauss(&m2, &s2).map_err(metrics_err)?);
    detached(py, || metrics::frechet_distance(&g1, &g2))
}

fn nalgebra_matrix(d: usize, v: &[f64]) -> nalgebra::DMatrix<f64> {
    nalgebra::DMatrix::from_row_slice(d, d, v)
}

/// `prdc.compute_prdc(real, fake, k)`: precision, recall, density and coverage.
#[pyfunction]
#[pyo3(signature = (real, fake, k = 5))]
fn prdc<'py>(py: Python<'py>, real: &Bound<'py, PyAny>, fake: &Bound<'py, PyAny>, k: usize) -> PyResult<Bound<'py, PyDict>> {
    let (r, f) = (matrix("real", real, "(n, d)")?, matrix("fake", fake, "(m, d)")?);
    let (rr, rf) = (rows("real", &r)?, rows("fake", &f)?);
    let p = detached(py, || metrics::prdc(rr, rf, k))?;
    let d = PyDict::new(py);
    d.set_item("precision", p.precision)?;
    d.set_item("recall", p.recall)?;
    d.set_item("density", p.density)?;
    d.set_item("coverage", p.coverage)?;
    Ok(d)
}

fn prd_result<'py>(py: Python<'py>, c: metrics::prd::PrdCurve, beta: f64) -> PyResult<Bound<'py, PyDict>> {
    let (f_beta, f_inv) = metrics::prd::max_f_beta_pair(&c, beta);
    let d = PyDict::new(py);
    d.set_item("precision", PyArray1::from_vec(py, c.precision))?;
    d.set_item("recall", PyArray1::from_vec(py, c.recall))?;
    d.set_item("f_beta", f_beta)?;
    d.set_item("f_beta_inv", f_inv)?;
    d.set_item("beta", beta)?;
    Ok(d)
}

/// PRD curve (Sajjadi et al. 2018) of `eval` against `reference` embeddings, with max F_beta and
/// F_1/beta (beta = 8: F_8 weighs recall, F_1/8 precision).
#[pyfunction]
#[pyo3(signature = (eval, reference, clusters = 20, angles = 1001, runs = 10, n_init = 10, max_iter = 100, seed = 0, beta = 8.0))]
#[allow(clippy::too_many_arguments)]
fn prd<'py>(
    py: Python<'py>,
    eval: &Bound<'py, PyAny>,
    reference: &Bound<'py, PyAny>,
    clusters: usize,
    angles: usize,
    runs: usize,
    n_init: usize,
    max_iter: usize,
    seed: u64,
    beta: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let (e, r) = (matrix("eval", eval, "(n, d)")?, matrix("reference", reference, "(m, d)")?);
    let (re, rr) = (rows("eval", &e)?, rows("reference", &r)?);
    let opts = metrics::prd::PrdOptions { clusters, angles, runs, n_init, max_iter, seed };
    let c = detached(py, || metrics::prd::prd_from_embeddings(re, rr, opts))?;
    prd_result(py, c, beta)
}

/// The PRD curve of two histograms over the same bins (the reference's `compute_prd`).
#[pyfunction]
#[pyo3(signature = (eval_dist, ref_dist, angles = 1001, beta = 8.0))]
fn prd_from_histograms<'py>(py: Python<'py>, eval_dist: &Bound<'py, PyAny>, ref_dist: &Bound<'py, PyAny>, angles: usize, beta: f64) -> PyResult<Bound<'py, PyDict>> {
    let (e, r) = (vector("eval_dist", eval_dist, "(bins,)")?, vector("ref_dist", ref_dist, "(bins,)")?);
    let (e, r) = (e.as_slice().expect("contiguous"), r.as_slice().expect("contiguous"));
    let c = detached(py, || metrics::prd::prd_from_histograms(e, r, angles))?;
    prd_result(py, c, beta)
}

/// Test hook: panics inside Rust, to check that the panic arrives as a RuntimeError.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>) -> PyResult<()> {
    detached(py, || -> Result<(), MetricsError> { panic!("deliberate test panic") })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<EarlyStopping>()?;
    m.add_class::<Decision>()?;
    m.add_class::<StopEvent_>()?;
    m.add_class::<Checkpoint>()?;
    m.add_class::<Thresholds>()?;
    m.add_function(wrap_pyfunction!(mode_quantile, m)?)?;
    m.add_function(wrap_pyfunction!(thresholds, m)?)?;
    m.add_function(wrap_pyfunction!(frechet_distance, m)?)?;
    m.add_function(wrap_pyfunction!(frechet_distance_from_moments, m)?)?;
    m.add_function(wrap_pyfunction!(prdc, m)?)?;
    m.add_function(wrap_pyfunction!(prd, m)?)?;
    m.add_function(wrap_pyfunction!(prd_from_histograms, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    Ok(())
}
