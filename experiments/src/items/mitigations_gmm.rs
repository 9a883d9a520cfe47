//! mitigations-gmm: every remedy of the companion notes on the 8-mode 3-D mixture, over the same
//! seeds as detector-gmm: the share of runs that collapse (detector-gmm's rule on the samples),
//! modes covered and the high-quality rate over epochs (median and quartiles across seeds), and
//! when Algorithm 2 fires and why.
//!
//! Each remedy is a variant of configs/gmm.yaml (`models::remedies`, plus the learning rates and
//! the discriminator noise, which gmm.yaml already has); every variant's runs live in the run store
//! under their own settings, so a variant that equals the plain run shares it.

use anyhow::{bail, Context, Result};
use models::Remedies;
use serde::Deserialize;
use std::sync::Arc;

use super::gmm::{self, replay, Criteria, GmmRun, GmmSettings};
use super::Ctx;
use crate::output::{frame, ItemOutput};
use crate::plot::{color, Chart, Series};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Variant {
    name: String,
    #[serde(default)]
    remedies: Remedies,
    /// Learning rates (two time-scale updates, or a remedy's own); default gmm.yaml's.
    #[serde(default)]
    lr_g: Option<f64>,
    #[serde(default)]
    lr_d: Option<f64>,
    /// Optimizer of both networks (`{kind: adam, beta1, beta2, eps}`); default gmm.yaml's SGD.
    #[serde(default)]
    optimizer: Option<models::OptimizerKind>,
    /// Gaussian noise sd in D's hidden layers (Appendix G.7); default gmm.yaml's.
    #[serde(default)]
    d_noise_sd: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    seeds: usize,
    /// Epochs per run (gmm.yaml's in the paper profile, so the plain variant is detector-gmm's run).
    epochs: usize,
    persist: usize,
    checkpoint_every: usize,
    variants: Vec<Variant>,
    width: u32,
    height: u32,
}

impl Variant {
    fn settings(&self, base: &GmmSettings, epochs: usize) -> Result<GmmSettings> {
        self.remedies.validate().with_context(|| format!("mitigations-gmm.yaml, variant `{}`", self.name))?;
        if self.lr_g.is_some_and(|v| !(v > 0.0)) || self.lr_d.is_some_and(|v| !(v > 0.0)) {
            bail!("mitigations-gmm.yaml, variant `{}`: lr_g and lr_d must be > 0", self.name);
        }
        if self.d_noise_sd.is_some_and(|v| !(v >= 0.0)) {
            bail!("mitigations-gmm.yaml, variant `{}`: d_noise_sd must be >= 0", self.name);
        }
        let mut s = base.clone();
        s.epochs = epochs;
        s.lr_g = self.lr_g.unwrap_or(s.lr_g);
        s.lr_d = self.lr_d.unwrap_or(s.lr_d);
        s.optimizer = self.optimizer.or(s.optimizer);
        s.d_noise_sd = self.d_noise_sd.unwrap_or(s.d_noise_sd);
        s.remedies = self.remedies.clone();
        Ok(s)
    }
}

/// Median and quartiles (linear interpolation) of finite values; NaN when none.
fn quartiles(v: &[f64]) -> (f64, f64, f64) {
    let q = |l| early_stopping::quantile(&v.iter().copied().filter(|x| x.is_finite()).collect::<Vec<_>>(), l);
    (q(0.25), q(0.5), q(0.75))
}

pub fn run(ctx: &Ctx, out: &mut ItemOutput) -> Result<()> {
    let s: Settings = ctx.settings("mitigations-gmm")?;
    if s.seeds == 0 || s.epochs == 0 || s.variants.is_empty() {
        bail!("mitigations-gmm.yaml: need seeds >= 1, epochs >= 1 and at least one variant");
    }
    let base = GmmSettings::load(ctx)?;
    let settings: Vec<GmmSettings> = s.variants.iter().map(|v| v.settings(&base, s.epochs)).collect::<Result<_>>()?;
    let jobs: Vec<(usize, u64)> = (0..s.variants.len()).flat_map(|v| (0..s.seeds as u64).map(move |i| (v, i))).collect();
    // A remedy whose training diverges (a non-finite loss) is a result, not a failure of the item:
    // its row says where. Such a run is not stored (it is retrained, up to the divergence, by a
    // later call); any other error fails the item, naming the remedy.
    let results: Vec<Result<Arc<GmmRun>, String>> = super::run_jobs(ctx, "remedy runs", &jobs, |&(v, i)| {
        let seed = ctx.seed + i;
        match gmm::cached_run(ctx, &settings[v], seed, false, &format!("{} seed {seed}", s.variants[v].name)) {
            Ok(r) => Ok(Ok(r)),
            Err(e) => match e.downcast_ref::<models::train::TrainError>() {
                Some(models::train::TrainError::NonFinite { epoch, iteration, .. }) => Ok(Err(format!("diverged in epoch {epoch} (iteration {iteration})"))),
                _ => Err(e.context(format!("mitigations-gmm, remedy `{}`, seed {seed}", s.variants[v].name))),
            },
        }
    })?;
    let modes = base.modes();

    let mut t_diverged: Vec<String> = vec![];
    let (mut t_name, mut t_applies, mut t_runs, mut t_collapsed, mut t_peak, mut t_cov_end, mut t_cov_iqr, mut t_hq_end, mut t_fired, mut t_stop, mut t_reasons, mut t_secs) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut e_name, mut e_epoch, mut e_c25, mut e_c50, mut e_c75, mut e_h25, mut e_h50, mut e_h75) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut r_name, mut r_seed, mut r_peak, mut r_fit, mut r_collapse, mut r_stop, mut r_reason, mut r_cov_end, mut r_hq_end) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut md = format!(
        "{} remedies x {} seeds ({}..{}) on the 3-D mixture, {} epochs each, {} backend; everything else as configs/gmm.yaml. \
         Collapse: coverage below the run's sustained peak for {} epochs (detector-gmm's rule). Algorithm 2 with the paper's thresholds, \
         replayed per epoch on the recorded q_d and steepness (training is not cut).\n\n\
         | remedy | collapsed | peak modes (median) | modes at end (median, IQR) | hq at end (median) | Algorithm 2 fired | median stop | reasons | s / run |\n|---|---|---|---|---|---|---|---|---|\n",
        s.variants.len(),
        s.seeds,
        ctx.seed,
        ctx.seed + s.seeds as u64 - 1,
        s.epochs,
        ctx.backend,
        s.persist
    );
    let mut panels = Vec::new();
    for (vi, v) in s.variants.iter().enumerate() {
        let mine: Vec<&Result<Arc<GmmRun>, String>> = results.iter().zip(&jobs).filter(|(_, j)| j.0 == vi).map(|(r, _)| r).collect();
        let rs: Vec<&GmmRun> = mine.iter().filter_map(|r| r.as_ref().ok()).map(|r| r.as_ref()).collect();
        let diverged: Vec<String> = mine.iter().zip(0..).filter_map(|(r, i)| r.as_ref().err().map(|why| format!("seed {}: {why}", ctx.seed + i))).collect();
        if rs.is_empty() {
            md.push_str(&format!("| {} | every run diverged: {} | | | | | | | |\n", v.name, diverged.join("; ")));
            t_name.push(v.name.clone());
            t_applies.push(settings[vi].remedies.monitored().to_string());
            t_runs.push(0);
            t_diverged.push(diverged.join("; "));
            for c in [&mut t_collapsed, &mut t_peak, &mut t_cov_end, &mut t_cov_iqr, &mut t_hq_end, &mut t_fired, &mut t_stop, &mut t_secs] {
                c.push(f64::NAN);
            }
            t_reasons.push("-".into());
            continue;
        }
        let mcfg = settings[vi].monitor();
        let applies = settings[vi].remedies.algorithm2_applies();
        let mut collapsed = 0;
        let (mut peaks, mut cov_end, mut hq_end, mut stops) = (vec![], vec![], vec![], vec![]);
        let mut reasons = std::collections::BTreeMap::<String, usize>::new();
        for r in &rs {
            let t = gmm::truth(&r.quality, s.persist);
            collapsed += t.collapse_epoch.is_some() as usize;
            peaks.push(t.peak as f64);
            let last = r.quality.last().expect("epoch 0 at least");
            cov_end.push(last.covered as f64);
            hq_end.push(last.hq);
            let stop = replay(r, &mcfg, Criteria::Both, s.checkpoint_every);
            if let Some(e) = &stop {
                stops.push(e.t as f64);
                *reasons.entry(e.reason.name().to_string()).or_default() += 1;
            }
            r_name.push(v.name.clone());
            r_seed.push(r.seed as i64);
            r_peak.push(t.peak as i64);
            r_fit.push(t.fitted_epoch as i64);
            r_collapse.push(t.collapse_epoch.map_or(-1, |c| c as i64));
            r_stop.push(stop.as_ref().map_or(-1, |e| e.t as i64));
            r_reason.push(stop.as_ref().map_or("none".to_string(), |e| e.reason.name().to_string()));
            r_cov_end.push(last.covered as i64);
            r_hq_end.push(last.hq);
        }
        let (c25, c50, c75) = quartiles(&cov_end);
        let (_, stop_med, _) = quartiles(&stops);
        let reason_text = if reasons.is_empty() { "-".to_string() } else { reasons.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ") };
        let applies_text = if applies { String::new() } else { " (thresholds do not apply: see note)".to_string() };
        let secs = rs.iter().map(|r| r.seconds).sum::<f64>() / rs.len().max(1) as f64;
        md.push_str(&format!(
            "| {}{} | {collapsed}/{} | {:.1} | {c50:.1} ({c25:.1}-{c75:.1}) | {:.3} | {}/{}{applies_text} | {} | {reason_text} | {secs:.1} |\n",
            v.name,
            if diverged.is_empty() { String::new() } else { format!(" ({} diverged: {})", diverged.len(), diverged.join("; ")) },
            rs.len(),
            quartiles(&peaks).1,
            quartiles(&hq_end).1,
            stops.len(),
            rs.len(),
            if stop_med.is_finite() { format!("{stop_med:.0}") } else { "-".into() },
        ));
        t_name.push(v.name.clone());
        t_applies.push(settings[vi].remedies.monitored().to_string());
        t_runs.push(rs.len() as i64);
        t_diverged.push(diverged.join("; "));
        t_collapsed.push(collapsed as f64 / rs.len().max(1) as f64);
        t_peak.push(quartiles(&peaks).1);
        t_cov_end.push(c50);
        t_cov_iqr.push(c75 - c25);
        t_hq_end.push(quartiles(&hq_end).1);
        t_fired.push(stops.len() as f64 / rs.len().max(1) as f64);
        t_stop.push(stop_med);
        t_reasons.push(reason_text);
        t_secs.push(secs);
        // Per epoch across seeds.
        let (mut band, mut hq_line) = ((vec![], vec![], vec![]), vec![]);
        for e in 0..=s.epochs {
            let cov: Vec<f64> = rs.iter().map(|r| r.quality[e].covered as f64).collect();
            let hq: Vec<f64> = rs.iter().map(|r| r.quality[e].hq).collect();
            let (a, b, c) = quartiles(&cov);
            let (x, y, z) = quartiles(&hq);
            e_name.push(v.name.clone());
            e_epoch.push(e as i64);
            e_c25.push(a);
            e_c50.push(b);
            e_c75.push(c);
            e_h25.push(x);
            e_h50.push(y);
            e_h75.push(z);
            band.0.push((e as f64, a));
            band.1.push((e as f64, b));
            band.2.push((e as f64, c));
            hq_line.push((e as f64, modes as f64 * y));
        }
        panels.push((format!("{}: {collapsed}/{} collapsed", v.name, rs.len()), band, hq_line, stop_med));
    }
    md.push_str("\nWhat Algorithm 2 monitors under each remedy:\n\n");
    let mut texts: Vec<(&String, Vec<&str>)> = Vec::new();
    for (n, m) in t_name.iter().zip(&t_applies) {
        match texts.iter_mut().find(|(t, _)| *t == m) {
            Some((_, names)) => names.push(n),
            None => texts.push((m, vec![n])),
        }
    }
    for (m, names) in texts {
        md.push_str(&format!("- {}: {m}\n", names.join(", ")));
    }
    if s.epochs < base.epochs {
        md.push_str(&format!(
            "\nThis profile runs {} epochs, not gmm.yaml's {}: the plain runs of this length rarely reach their collapse, so the collapse shares here are a smoke test, not the comparison (the paper profile runs {} seeds of {} epochs).\n",
            s.epochs, base.epochs, 100, base.epochs
        ));
    }
    out.markdown(md.clone());
    out.csv(
        "mitigations_gmm_summary.csv",
        "Per remedy: runs that trained to the end, the runs that diverged (a non-finite loss) and where, share collapsed, median peak modes, median modes at the end and their IQR, median high-quality rate at the end, share where Algorithm 2 fired, median stop epoch, stop reasons, seconds per run, what Algorithm 2 monitors",
        frame(vec![
            ("remedy", t_name.into()),
            ("runs", t_runs.into()),
            ("diverged", t_diverged.into()),
            ("collapsed_share", t_collapsed.into()),
            ("median_peak_modes", t_peak.into()),
            ("median_modes_at_end", t_cov_end.into()),
            ("iqr_modes_at_end", t_cov_iqr.into()),
            ("median_hq_at_end", t_hq_end.into()),
            ("algorithm2_fired_share", t_fired.into()),
            ("median_stop_epoch", t_stop.into()),
            ("stop_reasons", t_reasons.into()),
            ("seconds_per_run", t_secs.into()),
            ("algorithm2_monitors", t_applies.into()),
        ])?,
    )?;
    out.csv(
        "mitigations_gmm_epochs.csv",
        "Per remedy and epoch: quartiles (25/50/75 %) across seeds of the modes covered and of the high-quality rate",
        frame(vec![
            ("remedy", e_name.into()),
            ("epoch", e_epoch.into()),
            ("modes_q25", e_c25.into()),
            ("modes_median", e_c50.into()),
            ("modes_q75", e_c75.into()),
            ("hq_q25", e_h25.into()),
            ("hq_median", e_h50.into()),
            ("hq_q75", e_h75.into()),
        ])?,
    )?;
    out.csv(
        "mitigations_gmm_runs.csv",
        "Per remedy and seed: peak modes, fitted and collapse epochs (-1 = none), Algorithm 2's stop epoch and reason, modes and high-quality rate at the end",
        frame(vec![
            ("remedy", r_name.into()),
            ("seed", r_seed.into()),
            ("peak_modes", r_peak.into()),
            ("fitted_epoch", r_fit.into()),
            ("collapse_epoch", r_collapse.into()),
            ("stop_epoch", r_stop.into()),
            ("stop_reason", r_reason.into()),
            ("modes_at_end", r_cov_end.into()),
            ("hq_at_end", r_hq_end.into()),
        ])?,
    )?;
    out.text("mitigations_gmm.md", "The summary as markdown, with the settings", &format!("{md}\n\nconfigs/gmm.yaml:\n\n```yaml\n{}```\n", base.yaml()))?;
    let n = panels.len();
    let cols = 4.min(n.max(1));
    let rows_n = n.div_ceil(cols);
    out.png(
        "mitigations_gmm.png",
        "Per remedy: modes covered over epochs (median across seeds, blue; shaded: 25-75 %), the high-quality rate x 8 (median, orange), and Algorithm 2's median stop (black line)",
        (s.width, s.height.max(260 * rows_n as u32)),
        |area| {
            let cells = area.split_evenly((rows_n, cols));
            for (i, (cell, (title, band, hq, stop))) in cells.iter().zip(&panels).enumerate() {
                let label = |l: &str| if i == 0 { l.to_string() } else { String::new() };
                let mut ch = Chart::new(title.clone(), "epoch", "modes");
                ch.y_range = Some((0.0, modes as f64 + 0.5));
                let mut poly = band.2.clone();
                poly.extend(band.0.iter().rev().copied());
                ch.fills.push((poly, color(0)));
                ch.series.push(Series::line(label("modes covered (median)"), band.1.clone(), color(0)));
                ch.series.push(Series::thin(label("hq rate x 8 (median)"), hq.clone(), color(1)));
                if stop.is_finite() {
                    ch.vlines.push((*stop, format!("stop {stop:.0}")));
                }
                ch.draw(cell)?;
            }
            Ok(())
        },
    )?;
    Ok(())
}
