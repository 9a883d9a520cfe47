//! `experiments detect --log FILE`: Algorithm 2 (the `early-stopping` crate's monitor, exactly as
//! the training items use it) applied to a per-epoch or per-iteration log of q_d and the mean
//! steepness written by any framework: CSV with a header line, or JSON lines (one object per
//! observation). Thresholds come from the command line (--k-d, --sigma) or from a data set
//! (--data mnist|fashion-mnist: Appendix F's recipe, `early_stopping::appendix_f`, on the Appendix E
//! preprocessing). Prints where it stops, why, and the best logged checkpoint (rows with a score);
//! --plot draws fig5's top row (q_d with the threshold, S, dS/S with k_g, the stop line).

use anyhow::{bail, ensure, Context, Result};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use early_stopping::{appendix_f, EarlyStopping, EarlyStoppingConfig, Granularity, StopEvent, VarianceReading};
use plotters::prelude::*;

use crate::plot::{self, color, Area, Chart, Series};

#[derive(Args, Debug)]
#[command(after_help = "The log: CSV (comma-separated, a header line of column names, '#' lines and blank lines skipped) or JSON lines \
(one object per line; chosen by the .jsonl/.ndjson/.json extension or a first character '{'). One row per observation, in training \
order. q_d is Algorithm 2's line 3 (the (1-1/m) quantile of ||grad d/d|| over a batch, averaged over the epoch's batches for \
per-epoch logs), S the mean steepness. A row whose score column is filled registers a checkpoint after that observation; the best \
one before the stop is reported (highest score; the latest when no row is scored but --checkpoint-every is given).\n\nExamples:\n  \
experiments detect --log figures/fig5/fig5_gmm_metrics.csv --k-d 2 --sigma 0.111803 --score modes_covered+hq_rate --checkpoint-every 10\n  \
experiments detect --log run.jsonl --data mnist --modes 10 --warmup 10 --plot stop.png")]
pub struct DetectCmd {
    /// The training log (CSV or JSON lines).
    #[arg(long)]
    log: PathBuf,
    /// Column of q_d.
    #[arg(long, default_value = "q_d")]
    q_d: String,
    /// Column of the mean steepness S.
    #[arg(long, default_value = "steepness")]
    steepness: String,
    /// Column naming the observation (epoch or iteration) in the output; default: `epoch` or
    /// `iteration` if present, else the row number (1, 2, ...).
    #[arg(long)]
    step: Option<String>,
    /// Checkpoint score column (higher is better), or a sum of columns `a+b`; rows with an empty
    /// (CSV) or null (JSON) score are not checkpoints.
    #[arg(long)]
    score: Option<String>,
    /// Only every N-th observation (step % N == 0) is a checkpoint (the items save one every 10 epochs).
    #[arg(long)]
    checkpoint_every: Option<usize>,
    /// Run Algorithm 2 separately for each value of this column (e.g. `seed`), in order of first appearance.
    #[arg(long)]
    group: Option<String>,
    /// k_d: distance between the farthest modes (Appendix F: 2 for the 3-D mixture).
    #[arg(long, allow_hyphen_values = true)]
    k_d: Option<f64>,
    /// sigma: the per-mode standard deviation (Appendix F: sqrt(0.0125) for the mixture).
    #[arg(long, allow_hyphen_values = true)]
    sigma: Option<f64>,
    /// Compute k_d and sigma from a data set with Appendix F's recipe instead: mnist or fashion-mnist
    /// (fetched into <data>/ when missing; 64x64 in [-1, 1] as Appendix E).
    #[arg(long)]
    data: Option<String>,
    /// Which class variance enters sigma with --data: pooled (the paper's 0.33), per_pixel or trace.
    #[arg(long, default_value = "pooled")]
    variance: String,
    /// Images per label for the class means with --data (Appendix E: 10).
    #[arg(long, default_value_t = 10)]
    per_label: usize,
    /// k_g < 0: the relative steepness drop that stops.
    #[arg(long, default_value_t = -0.5, allow_hyphen_values = true)]
    k_g: f64,
    /// m: the number of modes (recorded; the log's q_d already is the (1-1/m) quantile).
    #[arg(long, default_value_t = 8)]
    modes: usize,
    /// N_w: observations ignored at the start.
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    /// epoch or iteration (the unit printed).
    #[arg(long, default_value = "epoch")]
    granularity: String,
    /// Draw fig5's top row (q_d and threshold, S, dS/S and k_g, stop line) into this PNG, one row per group.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Print one JSON object per group instead of a sentence.
    #[arg(long)]
    json: bool,
}

/// One observation of the log.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// 1-based line number in the file (for messages).
    pub line: usize,
    pub group: Option<String>,
    pub step: f64,
    pub q_d: f64,
    pub steepness: f64,
    pub score: Option<f64>,
}

/// Typed faults of a log, each naming the line and the column.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LogError {
    #[error("{file}: no header line")]
    Empty { file: String },
    #[error("{file}: missing column `{column}` (columns: {have})")]
    MissingColumn { file: String, column: String, have: String },
    #[error("{file}, line {line}: {found} fields, but the header has {expected}")]
    FieldCount { file: String, line: usize, found: usize, expected: usize },
    #[error("{file}, line {line}, column `{column}`: {value:?} is not a number")]
    NotNumeric { file: String, line: usize, column: String, value: String },
    #[error("{file}, line {line}, column `{column}`: {value} (q_d, steepness, step and score must be finite numbers)")]
    NotFinite { file: String, line: usize, column: String, value: String },
    #[error("{file}, line {line}: not a JSON object ({reason})")]
    BadJson { file: String, line: usize, reason: String },
    #[error("{file}: no observations")]
    NoRows { file: String },
}

/// Which columns to read.
pub struct Columns<'a> {
    pub q_d: &'a str,
    pub steepness: &'a str,
    pub step: Option<&'a str>,
    pub score: Option<&'a str>,
    pub group: Option<&'a str>,
}

/// A raw cell: absent (empty CSV field, JSON null) or text (a JSON number keeps its text).
type Cell = Option<String>;

/// Reads a CSV or JSON-lines log.
pub fn read_log(path: &Path, cols: &Columns) -> Result<Vec<Row>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let jsonl = matches!(ext, "jsonl" | "ndjson" | "json") || text.trim_start().starts_with('{');
    Ok(if jsonl { parse_jsonl(&text, &name, cols)? } else { parse_csv(&text, &name, cols)? })
}

pub fn parse_csv(text: &str, file: &str, cols: &Columns) -> Result<Vec<Row>, LogError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())).filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (_, header) = lines.next().ok_or(LogError::Empty { file: file.into() })?;
    let names: Vec<String> = split_csv(header).into_iter().map(|c| c.unwrap_or_default()).collect();
    let mut records = Vec::new();
    for (line, l) in lines {
        let fields = split_csv(l);
        if fields.len() != names.len() {
            return Err(LogError::FieldCount { file: file.into(), line, found: fields.len(), expected: names.len() });
        }
        records.push((line, names.iter().cloned().zip(fields).collect::<BTreeMap<String, Cell>>()));
    }
    rows_from(records, &names, file, cols)
}

fn split_csv(line: &str) -> Vec<Cell> {
    line.split(',')
        .map(|f| {
            let f = f.trim().trim_matches('"').trim();
            (!f.is_empty()).then(|| f.to_string())
        })
        .collect()
}

pub fn parse_jsonl(text: &str, file: &str, cols: &Columns) -> Result<Vec<Row>, LogError> {
    let mut records = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        let bad = |reason: String| LogError::BadJson { file: file.into(), line: i + 1, reason };
        let v: serde_json::Value = serde_json::from_str(l).map_err(|e| bad(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| bad(format!("a {}", json_kind(&v))))?;
        let rec: BTreeMap<String, Cell> = obj
            .iter()
            .map(|(k, v)| {
                let cell = match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (k.clone(), cell)
            })
            .collect();
        for k in rec.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
        records.push((i + 1, rec));
    }
    rows_from(records, &names, file, cols)
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Array(_) => "JSON array",
        serde_json::Value::String(_) => "JSON string",
        serde_json::Value::Number(_) => "JSON number",
        _ => "JSON value",
    }
}

/// Checks the columns and converts each record.
fn rows_from(records: Vec<(usize, BTreeMap<String, Cell>)>, names: &[String], file: &str, cols: &Columns) -> Result<Vec<Row>, LogError> {
    if records.is_empty() {
        return Err(LogError::NoRows { file: file.into() });
    }
    let step_col = cols.step.map(str::to_string).or_else(|| ["epoch", "iteration"].iter().find(|c| names.iter().any(|n| n == *c)).map(|c| c.to_string()));
    let score_cols: Vec<&str> = cols.score.map(|s| s.split('+').map(str::trim).collect()).unwrap_or_default();
    let mut required: Vec<&str> = vec![cols.q_d, cols.steepness];
    required.extend(step_col.as_deref());
    required.extend(&score_cols);
    required.extend(cols.group);
    for c in &required {
        if !names.iter().any(|n| n == c) {
            return Err(LogError::MissingColumn { file: file.into(), column: c.to_string(), have: names.join(", ") });
        }
    }
    let mut rows = Vec::with_capacity(records.len());
    for (n, (line, rec)) in records.into_iter().enumerate() {
        let get = |c: &str, required: bool| -> Result<Option<f64>, LogError> {
            let cell = rec.get(c).cloned().flatten();
            let Some(s) = cell else {
                return if required { Err(LogError::NotNumeric { file: file.into(), line, column: c.into(), value: String::new() }) } else { Ok(None) };
            };
            let v: f64 = s.parse().map_err(|_| LogError::NotNumeric { file: file.into(), line, column: c.into(), value: s.clone() })?;
            if !v.is_finite() {
                return Err(LogError::NotFinite { file: file.into(), line, column: c.into(), value: s });
            }
            Ok(Some(v))
        };
        let q_d = get(cols.q_d, true)?.expect("required");
        let steepness = get(cols.steepness, true)?.expect("required");
        let step = match &step_col {
            Some(c) => get(c, true)?.expect("required"),
            None => (n + 1) as f64,
        };
        // A score is a sum of columns, present only when every part is.
        let mut score = Some(0.0);
        for c in &score_cols {
            score = match (score, get(c, false)?) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        let score = if score_cols.is_empty() { None } else { score };
        let group = cols.group.map(|g| rec.get(g).cloned().flatten().unwrap_or_default());
        rows.push(Row { line, group, step, q_d, steepness, score });
    }
    Ok(rows)
}

/// Rows of each group in order of first appearance (one group named None without --group).
pub fn groups(rows: &[Row]) -> Vec<(Option<String>, Vec<&Row>)> {
    let mut out: Vec<(Option<String>, Vec<&Row>)> = Vec::new();
    for r in rows {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, v)) => v.push(r),
            None => out.push((r.group.clone(), vec![r])),
        }
    }
    out
}

/// What Algorithm 2 did on one run of the log.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub group: Option<String>,
    pub observations: usize,
    pub event: Option<StopEvent>,
    /// The log's step value at the stop and at the best checkpoint.
    pub stop_step: Option<f64>,
    /// The file line of the stopping row.
    pub stop_line: Option<usize>,
    pub best_step: Option<f64>,
    pub max_q_d: f64,
}

/// Feeds the rows to the monitor in order, registering a checkpoint after each scored row (every
/// `checkpoint_every`-th step only, when given; unscored checkpoints then, without a score column),
/// and stops at the first firing (Algorithm 2 breaks there).
pub fn detect(cfg: &EarlyStoppingConfig, rows: &[&Row], checkpoint_every: Option<usize>) -> Result<Outcome> {
    let mut m = EarlyStopping::new(cfg.clone())?;
    let (mut stop_step, mut stop_line) = (None, None);
    for (i, r) in rows.iter().enumerate() {
        let d = m.observe(r.q_d, r.steepness);
        if d.fires() {
            (stop_step, stop_line) = (Some(r.step), Some(r.line));
            break;
        }
        let due = checkpoint_every.is_none_or(|n| n > 0 && r.step.fract() == 0.0 && (r.step as u64) % n as u64 == 0);
        if due && (r.score.is_some() || checkpoint_every.is_some()) {
            m.register_checkpoint(i + 1, r.score);
        }
    }
    let event = m.fired().cloned();
    let best_step = event.as_ref().and_then(|e| e.best_checkpoint).map(|c| rows[c.at - 1].step);
    let max_q_d = rows.iter().map(|r| r.q_d).fold(f64::NEG_INFINITY, f64::max);
    Ok(Outcome { group: rows.first().and_then(|r| r.group.clone()), observations: rows.len(), event, stop_step, stop_line, best_step, max_q_d })
}

fn step_str(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Outcome {
    pub fn sentence(&self, cfg: &EarlyStoppingConfig, unit: &str, group_col: Option<&str>) -> String {
        let who = match (&self.group, group_col) {
            (Some(g), Some(c)) => format!("{c} {g}: "),
            _ => String::new(),
        };
        match &self.event {
            None => format!(
                "{who}Algorithm 2 did not fire in {} {unit}s (threshold {:.4}, largest q_d {:.4}; k_g {}, N_w {})",
                self.observations,
                cfg.disc_threshold(),
                self.max_q_d,
                cfg.k_g,
                cfg.warmup
            ),
            Some(e) => {
                let ds = e.delta_s.map_or("n/a".to_string(), |d| format!("{d:.4}"));
                let best = match (e.best_checkpoint, self.best_step) {
                    (Some(c), Some(s)) => format!("{unit} {}{}", step_str(s), c.score.map_or(String::new(), |v| format!(" (score {v:.4})"))),
                    _ => "none logged".to_string(),
                };
                format!(
                    "{who}stopped at {unit} {} (observation {}, line {} of the log) by {}: q_d = {:.4} (threshold {:.4}), steepness {:.4} \
                     (relative change {ds}, k_g {}); best earlier checkpoint: {best}",
                    step_str(self.stop_step.unwrap_or(e.t as f64)),
                    e.t,
                    self.stop_line.unwrap_or(0),
                    e.reason.name(),
                    e.q_d,
                    e.threshold_d,
                    e.steepness,
                    e.k_g
                )
            }
        }
    }

    pub fn json(&self, cfg: &EarlyStoppingConfig) -> serde_json::Value {
        let e = self.event.as_ref();
        serde_json::json!({
            "group": self.group,
            "observations": self.observations,
            "threshold_d": cfg.disc_threshold(),
            "k_d": cfg.k_d,
            "sigma": cfg.sigma,
            "k_g": cfg.k_g,
            "warmup": cfg.warmup,
            "stopped": e.is_some(),
            "stop_step": self.stop_step,
            "stop_observation": e.map(|e| e.t),
            "stop_line": self.stop_line,
            "reason": e.map(|e| e.reason.name()),
            "q_d": e.map(|e| e.q_d),
            "steepness": e.map(|e| e.steepness),
            "steepness_prev": e.and_then(|e| e.steepness_prev),
            "delta_s": e.and_then(|e| e.delta_s),
            "best_step": self.best_step,
            "best_score": e.and_then(|e| e.best_checkpoint).and_then(|c| c.score),
            "max_q_d": self.max_q_d,
        })
    }
}

/// Appendix F from a data set the project can fetch.
fn thresholds_from_data(name: &str, reading: VarianceReading, per_label: usize) -> Result<early_stopping::Thresholds> {
    use crate::data_fetch::{self, Fetchable};
    let ctx = crate::items::Ctx {
        profile: crate::config::Profile::Ci,
        seed: 1,
        config_dir: PathBuf::from("experiments/configs"),
        overrides: vec![],
        multi: indicatif::MultiProgress::new(),
        backend: models::BackendKind::Flex,
        jobs: 1,
        shard: None,
        workers: None,
    };
    let loaded = match name {
        "mnist" => data::sets::load_mnist(&data_fetch::ensure(&ctx, Fetchable::Mnist)?, false)?,
        "fashion-mnist" => data::sets::load_fashion(&data_fetch::ensure(&ctx, Fetchable::FashionMnist)?)?,
        other => bail!("--data: {other:?} is not mnist or fashion-mnist"),
    };
    let imgs = &loaded.images;
    // Appendix E: 64x64, scaled to [-1, 1].
    let size = 64;
    let dims = imgs.channels * size * size;
    let mut x = Vec::with_capacity(imgs.len() * dims);
    for i in 0..imgs.len() {
        x.extend(data::preprocess::preprocess(imgs, i, size));
    }
    let labels: Vec<usize> = imgs.labels.iter().map(|&l| l as usize).collect();
    eprintln!("thresholds from {} ({} images)", loaded.source, imgs.len());
    Ok(appendix_f(&x, dims, &labels, per_label, reading)?)
}

pub fn run(cmd: DetectCmd) -> Result<()> {
    let granularity = match cmd.granularity.as_str() {
        "epoch" => Granularity::Epoch,
        "iteration" => Granularity::Iteration,
        other => bail!("--granularity: {other:?} is not epoch or iteration"),
    };
    let (k_d, sigma) = match (&cmd.data, cmd.k_d, cmd.sigma) {
        (Some(d), None, None) => {
            let t = thresholds_from_data(d, VarianceReading::parse(&cmd.variance)?, cmd.per_label)?;
            eprintln!("Appendix F from {d}: k_d = {:.4} (labels {} and {}), sigma = {:.6} (V = {:.4} over D = {}), threshold {:.4}", t.k_d, t.pair.0, t.pair.1, t.sigma, t.variance, t.dims, t.threshold);
            (t.k_d, t.sigma)
        }
        (None, Some(k), Some(s)) => (k, s),
        (Some(_), _, _) => bail!("give either --data or --k-d with --sigma, not both"),
        _ => bail!("thresholds: give --k-d and --sigma (Appendix F, 3-D mixture: --k-d 2 --sigma 0.111803), or --data mnist|fashion-mnist"),
    };
    let cfg = EarlyStoppingConfig { k_d, sigma, k_g: cmd.k_g, modes: cmd.modes, warmup: cmd.warmup, granularity };
    cfg.validate()?;
    let cols = Columns { q_d: &cmd.q_d, steepness: &cmd.steepness, step: cmd.step.as_deref(), score: cmd.score.as_deref(), group: cmd.group.as_deref() };
    let rows = read_log(&cmd.log, &cols)?;
    let outcomes: Vec<(Outcome, Vec<&Row>)> = groups(&rows)
        .into_iter()
        .map(|(_, rs)| Ok((detect(&cfg, &rs, cmd.checkpoint_every)?, rs)))
        .collect::<Result<_>>()?;
    for (o, _) in &outcomes {
        if cmd.json {
            println!("{}", o.json(&cfg));
        } else {
            println!("{}", o.sentence(&cfg, &cmd.granularity, cmd.group.as_deref()));
        }
    }
    if let Some(p) = &cmd.plot {
        let runs: Vec<Panels> = outcomes
            .iter()
            .map(|(o, rs)| Panels {
                title: o.group.as_ref().map(|g| format!("{} {g}: ", cmd.group.as_deref().unwrap_or(""))).unwrap_or_default(),
                steps: rs.iter().map(|r| r.step).collect(),
                q_d: rs.iter().map(|r| r.q_d).collect(),
                steepness: rs.iter().map(|r| r.steepness).collect(),
                threshold: cfg.disc_threshold(),
                k_g: cfg.k_g,
                stop: o.stop_step,
                unit: cmd.granularity.clone(),
                q_d_label: "q_d".into(),
                steepness_label: "S".into(),
            })
            .collect();
        draw_png(p, &runs, &format!("experiments detect --log {}", cmd.log.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// The data of fig5's top row for one run.
pub struct Panels {
    /// Prefix of the panel titles.
    pub title: String,
    pub steps: Vec<f64>,
    pub q_d: Vec<f64>,
    pub steepness: Vec<f64>,
    pub threshold: f64,
    pub k_g: f64,
    pub stop: Option<f64>,
    /// x-axis unit (epoch, iteration).
    pub unit: String,
    /// Legends of the q_d and steepness series.
    pub q_d_label: String,
    pub steepness_label: String,
}

/// fig5's top row: q_d (log scale) with the threshold k_d/(2 sigma), the mean steepness S, and its
/// relative change (S_t - S_{t-1}) / S_{t-1} with k_g; a vertical line at the stop.
pub fn draw_panels(area: &Area, p: &Panels) -> Result<()> {
    let panels = area.split_evenly((1, 3));
    let x_end = p.steps.last().copied().unwrap_or(1.0);
    let x0 = p.steps.first().copied().unwrap_or(0.0).min(0.0);
    let vl: Vec<(f64, String)> = p.stop.map(|t| vec![(t, format!(" stop {}", step_str(t)))]).unwrap_or_default();
    let mut ds = vec![f64::NAN];
    ds.extend(p.steepness.windows(2).map(|w| (w[1] - w[0]) / w[0]));
    let xy = |v: &[f64]| p.steps.iter().cloned().zip(v.iter().cloned()).collect::<Vec<_>>();
    let mut c = Chart::new(format!("{}(1-1/m) quantile of ||grad d/d||", p.title), p.unit.as_str(), "q_d (log)");
    c.log_y = true;
    c.series.push(Series::thin(p.q_d_label.as_str(), xy(&p.q_d), color(0)));
    c.series.push(Series::dashed(format!("k_d/(2 sigma) = {:.2}", p.threshold), vec![(x0, p.threshold), (x_end, p.threshold)], color(3)));
    c.vlines = vl.clone();
    c.draw(&panels[0])?;
    let mut c = Chart::new(format!("{}mean steepness ||J_g||_2", p.title), p.unit.as_str(), "S");
    c.series.push(Series::thin(p.steepness_label.as_str(), xy(&p.steepness), RGBColor(120, 180, 230)));
    c.vlines = vl.clone();
    c.draw(&panels[1])?;
    let mut c = Chart::new(format!("{}relative change of S", p.title), p.unit.as_str(), "dS/S");
    c.series.push(Series::thin("dS/S", xy(&ds), color(4)));
    c.series.push(Series::dashed(format!("k_g = {}", p.k_g), vec![(x0, p.k_g), (x_end, p.k_g)], color(3)));
    c.vlines = vl;
    c.draw(&panels[2])
}

fn draw_png(path: &Path, runs: &[Panels], stamp: &str) -> Result<()> {
    ensure!(!runs.is_empty(), "nothing to draw");
    plot::ensure_fonts();
    let (w, row_h) = (1800u32, 420u32);
    let h = row_h * runs.len() as u32 + 22;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(plot::err)?;
        let (body, footer) = root.split_vertically(h - 22);
        for (area, p) in body.split_evenly((runs.len(), 1)).iter().zip(runs) {
            draw_panels(area, p)?;
        }
        footer.draw_text(stamp, &plot::font(13).color(&RGBColor(90, 90, 90)), (8, 4)).map_err(plot::err)?;
        root.present().map_err(plot::err)?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    image::RgbImage::from_raw(w, h, buf)
        .context("image buffer size")?
        .save_with_format(path, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: Columns = Columns { q_d: "q_d", steepness: "steepness", step: None, score: Some("score"), group: None };

    fn cfg() -> EarlyStoppingConfig {
        EarlyStoppingConfig { k_d: 2.0, sigma: 0.1, k_g: -0.5, modes: 8, warmup: 2, granularity: Granularity::Epoch }
    }

    #[test]
    fn csv_and_jsonl_give_the_same_rows_and_stop() {
        let csv = "# a comment\nepoch,q_d,steepness,score\n1,1.0,1.0,0.5\n2,1.0,2.0,\n\n3,1.0,1.5,0.9\n4,1.0,0.7,0.1\n5,1.0,0.7,\n";
        let jsonl = r#"{"epoch": 1, "q_d": 1.0, "steepness": 1.0, "score": 0.5}
{"epoch": 2, "q_d": 1.0, "steepness": 2.0, "score": null}
{"epoch": 3, "q_d": 1.0, "steepness": 1.5, "score": 0.9}
{"epoch": 4, "q_d": 1.0, "steepness": 0.7, "score": 0.1}
{"epoch": 5, "q_d": 1.0, "steepness": 0.7}"#;
        let a = parse_csv(csv, "log.csv", &COLS).unwrap();
        let b = parse_jsonl(jsonl, "log.jsonl", &COLS).unwrap();
        assert_eq!(a.len(), 5);
        assert_eq!((a[2].line, a[2].step, a[2].score), (6, 3.0, Some(0.9)));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.step, x.q_d, x.steepness, x.score), (y.step, y.q_d, y.steepness, y.score));
        }
        // (0.7 - 1.5) / 1.5 = -0.533 at epoch 4 (> N_w = 2): stop; best scored checkpoint before it: epoch 3.
        let rows: Vec<&Row> = a.iter().collect();
        let o = detect(&cfg(), &rows, None).unwrap();
        let e = o.event.as_ref().unwrap();
        assert_eq!((o.stop_step, e.reason.name(), o.best_step), (Some(4.0), "steepness_drop", Some(3.0)));
        assert!(o.sentence(&cfg(), "epoch", None).starts_with("stopped at epoch 4"));
        // Every 2nd epoch only: epoch 2 (unscored) is the only checkpoint before the stop at 4.
        let o2 = detect(&cfg(), &rows, Some(2)).unwrap();
        assert_eq!((o2.stop_step, o2.best_step, o2.stop_line), (Some(4.0), Some(2.0), Some(7)));
    }

    #[test]
    fn faults_name_the_line_and_the_column() {
        let e = parse_csv("epoch,q_d\n1,2\n", "f.csv", &COLS).unwrap_err();
        assert_eq!(e, LogError::MissingColumn { file: "f.csv".into(), column: "steepness".into(), have: "epoch, q_d".into() });
        let e = parse_csv("epoch,q_d,steepness,score\n1,2,3,\n2,x,3,\n", "f.csv", &COLS).unwrap_err();
        assert_eq!(e.to_string(), "f.csv, line 3, column `q_d`: \"x\" is not a number");
        let e = parse_csv("epoch,q_d,steepness,score\n1,2,NaN,\n", "f.csv", &COLS).unwrap_err();
        assert_eq!(e.to_string(), "f.csv, line 2, column `steepness`: NaN (q_d, steepness, step and score must be finite numbers)");
        let e = parse_csv("epoch,q_d,steepness,score\n1,2,3\n", "f.csv", &COLS).unwrap_err();
        assert!(matches!(e, LogError::FieldCount { line: 2, found: 3, expected: 4, .. }));
        let e = parse_csv("epoch,q_d,steepness,score\n1,,3,\n", "f.csv", &COLS).unwrap_err();
        assert!(matches!(e, LogError::NotNumeric { line: 2, ref column, .. } if column == "q_d"));
        let e = parse_jsonl("{\"q_d\": 1, \"steepness\": 1, \"score\": 1}\n[1]\n", "f.jsonl", &COLS).unwrap_err();
        assert_eq!(e.to_string(), "f.jsonl, line 2: not a JSON object (a JSON array)");
        let e = parse_jsonl("{\"q_d\": 1, \"steepness\": null, \"score\": 1}\n", "f.jsonl", &COLS).unwrap_err();
        assert!(matches!(e, LogError::NotNumeric { line: 1, ref column, .. } if column == "steepness"));
        assert!(matches!(parse_csv("epoch,q_d,steepness,score\n", "f.csv", &COLS), Err(LogError::NoRows { .. })));
    }

    #[test]
    fn groups_keep_their_order_and_sum_scores() {
        let cols = Columns { q_d: "q_d", steepness: "steepness", step: Some("epoch"), score: Some("a+b"), group: Some("seed") };
        let rows = parse_csv("seed,epoch,a,b,q_d,steepness\n2,1,1,0.5,1,1\n1,1,2,0.25,1,1\n2,2,,0.5,1,1\n", "f.csv", &cols).unwrap();
        let g = groups(&rows);
        assert_eq!(g.iter().map(|(k, v)| (k.clone().unwrap(), v.len())).collect::<Vec<_>>(), vec![("2".into(), 2), ("1".into(), 1)]);
        assert_eq!(rows.iter().map(|r| r.score).collect::<Vec<_>>(), vec![Some(1.5), Some(2.25), None]);
    }
}
