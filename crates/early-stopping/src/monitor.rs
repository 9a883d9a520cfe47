//! Algorithm 2 (Section 4.3) as a monitor that a training loop feeds and asks.
//!
//! At each observation t = 1, 2, ... (a training iteration, or an epoch: [`Granularity`]) it gets
//! q_d, the (1 - 1/m) quantile of ||grad d / d|| over the batch, and S, the mean steepness, and
//! fires when
//!
//!   (q_d > k_d / (2 sigma)  or  (S - S_prev) / S_prev < k_g)  and  t > N_w,
//!
//! otherwise it sets S_prev = S (line 8, so S_prev is updated during the warm-up too). It then
//! reports which criterion fired with the values, and the best checkpoint saved before the stop
//! (line 10: "the best-performing model from earlier checkpoints"). "Best" needs a score that
//! the paper does not define (it picks by eye); the monitor takes an optional score per
//! checkpoint from the caller and returns the highest-scoring one, or the latest one without
//! scores.
//!
//! At epoch granularity the per-batch values of an epoch are averaged ([`EpochAggregate`]): q_d
//! is the mean of the per-batch quantiles and S the mean of the per-batch mean steepness. The
//! paper records its curves per epoch but does not say how; this is the project's choice.

use serde::{Deserialize, Serialize};

/// Whether one observation is a training iteration or an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Iteration,
    Epoch,
}

/// Thresholds and warm-up of Algorithm 2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingConfig {
    /// k_d > 0: the distance between modes (Appendix F: 2 for the mixture).
    pub k_d: f64,
    /// sigma > 0: the per-mode standard deviation.
    pub sigma: f64,
    /// k_g < 0: the relative steepness drop that stops (Appendix F: -0.5).
    pub k_g: f64,
    /// m >= 1: number of modes (quantile level 1 - 1/m).
    pub modes: usize,
    /// N_w: observations ignored at the start.
    pub warmup: usize,
    pub granularity: Granularity,
}

/// An invalid setting, named.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid early-stopping setting `{name}`: {reason}")]
pub struct EarlyStoppingError {
    pub name: &'static str,
    pub reason: String,
}

impl EarlyStoppingConfig {
    /// Appendix F.2's settings for the 3-D mixture: k_d = 2, sigma = sqrt(0.0125), k_g = -0.5,
    /// m = 8, N_w = 50 (threshold k_d / (2 sigma) = 8.944...), per epoch.
    pub fn paper_gmm() -> Self {
        Self { k_d: 2.0, sigma: 0.0125f64.sqrt(), k_g: -0.5, modes: 8, warmup: 50, granularity: Granularity::Epoch }
    }

    /// k_d / (2 sigma).
    pub fn disc_threshold(&self) -> f64 {
        self.k_d / (2.0 * self.sigma)
    }

    /// 1 - 1/m.
    pub fn quantile_level(&self) -> f64 {
        1.0 - 1.0 / self.modes as f64
    }

    pub fn validate(&self) -> Result<(), EarlyStoppingError> {
        let bad = |name, reason: String| Err(EarlyStoppingError { name, reason });
        if !(self.k_d.is_finite() && self.k_d > 0.0) {
            return bad("k_d", format!("must be > 0, got {}", self.k_d));
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return bad("sigma", format!("must be > 0, got {}", self.sigma));
        }
        if !(self.k_g.is_finite() && self.k_g < 0.0) {
            return bad("k_g", format!("must be < 0, got {}", self.k_g));
        }
        if self.modes == 0 {
            return bad("modes", "must be >= 1".into());
        }
        Ok(())
    }
}

/// Which criterion of line 5 fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    DiscGrad,
    SteepnessDrop,
    Both,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::DiscGrad => "disc_grad",
            StopReason::SteepnessDrop => "steepness_drop",
            StopReason::Both => "both",
        }
    }
}

/// A checkpoint the caller saved, with an optional quality score (higher is better).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRef {
    /// The observation index t at which it was saved (state after observation t).
    pub at: usize,
    pub score: Option<f64>,
}

/// What one observation decided.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub t: usize,
    pub q_d: f64,
    pub steepness: f64,
    /// (S - S_prev) / S_prev, None at the first observation.
    pub delta_s: Option<f64>,
    pub disc_exceeds: bool,
    pub steepness_drops: bool,
    /// t > N_w.
    pub armed: bool,
}

impl Decision {
    pub fn fires(&self) -> bool {
        self.armed && (self.disc_exceeds || self.steepness_drops)
    }
}

/// The first time Algorithm 2 fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StopEvent {
    pub t: usize,
    pub reason: StopReason,
    pub q_d: f64,
    pub threshold_d: f64,
    pub steepness: f64,
    pub steepness_prev: Option<f64>,
    pub delta_s: Option<f64>,
    pub k_g: f64,
    /// The best checkpoint saved at t' < t (line 10), if any.
    pub best_checkpoint: Option<CheckpointRef>,
}

impl StopEvent {
    /// One line: when, why and with which values.
    pub fn describe(&self, unit: &str) -> String {
        let ds = self.delta_s.map_or("n/a".to_string(), |d| format!("{d:.3}"));
        let best = self
            .best_checkpoint
            .map_or("none".to_string(), |c| format!("{unit} {}{}", c.at, c.score.map_or(String::new(), |s| format!(" (score {s:.3})"))));
        format!(
            "stopped at {unit} {} by {}: q_d = {:.3} (threshold {:.3}), steepness {:.4} (relative change {ds}, threshold {}); best earlier checkpoint: {best}",
            self.t,
            self.reason.name(),
            self.q_d,
            self.threshold_d,
            self.steepness,
            self.k_g
        )
    }
}

/// The Algorithm 2 monitor. Serialisable, so it can be checkpointed with the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    pub cfg: EarlyStoppingConfig,
    prev: Option<f64>,
    observed: usize,
    fired: Option<StopEvent>,
    checkpoints: Vec<CheckpointRef>,
    /// Every later observation at which the rule would have fired again (for analysis).
    pub refires: Vec<usize>,
}

impl EarlyStopping {
    pub fn new(cfg: EarlyStoppingConfig) -> Result<Self, EarlyStoppingError> {
        cfg.validate()?;
        Ok(Self { cfg, prev: None, observed: 0, fired: None, checkpoints: vec![], refires: vec![] })
    }

    /// Feeds observation t = (number of observations so far) + 1. Returns the decision; the first
    /// firing is kept in [`EarlyStopping::fired`]. Non-finite inputs never fire (a NaN loss is
    /// the training loop's business) and do not replace S_prev.
    pub fn observe(&mut self, q_d: f64, steepness: f64) -> Decision {
        self.observed += 1;
        let t = self.observed;
        let delta_s = match self.prev {
            Some(p) if p > 0.0 && steepness.is_finite() => Some((steepness - p) / p),
            _ => None,
        };
        let thr = self.cfg.disc_threshold();
        let dec = Decision {
            t,
            q_d,
            steepness,
            delta_s,
            disc_exceeds: q_d.is_finite() && q_d > thr,
            steepness_drops: delta_s.is_some_and(|d| d < self.cfg.k_g),
            armed: t > self.cfg.warmup,
        };
        if dec.fires() {
            if self.fired.is_none() {
                let reason = match (dec.disc_exceeds, dec.steepness_drops) {
                    (true, true) => StopReason::Both,
                    (true, false) => StopReason::DiscGrad,
                    _ => StopReason::SteepnessDrop,
                };
                self.fired = Some(StopEvent {
                    t,
                    reason,
                    q_d,
                    threshold_d: thr,
                    steepness,
                    steepness_prev: self.prev,
                    delta_s,
                    k_g: self.cfg.k_g,
                    best_checkpoint: self.best_checkpoint_before(t),
                });
            } else {
                self.refires.push(t);
            }
            // Algorithm 2 breaks here, so S_prev is not updated; a loop that keeps training
            // after the stop (to show what happens next) sees the same rule applied onwards.
        } else if steepness.is_finite() {
            self.prev = Some(steepness);
        }
        dec
    }

    /// Feeds one batch's raw values: per-sample ||grad d / d|| and per-latent steepness.
    pub fn observe_batch<T: Copy + Into<f64>>(&mut self, disc_grad_norms: &[T], steepness: &[f64]) -> Decision {
        let q = crate::mode_quantile(disc_grad_norms, self.cfg.modes);
        self.observe(q, crate::mean(steepness))
    }

    /// Records a checkpoint saved after observation `at`, with an optional score.
    pub fn register_checkpoint(&mut self, at: usize, score: Option<f64>) {
        self.checkpoints.retain(|c| c.at != at);
        self.checkpoints.push(CheckpointRef { at, score });
    }

    /// The best checkpoint saved strictly before observation `t`: the highest score among
    /// scored ones (latest on ties), else the latest.
    pub fn best_checkpoint_before(&self, t: usize) -> Option<CheckpointRef> {
        let earlier: Vec<&CheckpointRef> = self.checkpoints.iter().filter(|c| c.at < t).collect();
        let scored = earlier
            .iter()
            .filter(|c| c.score.is_some_and(f64::is_finite))
            .max_by(|a, b| a.score.unwrap().total_cmp(&b.score.unwrap()).then(a.at.cmp(&b.at)));
        scored.or_else(|| earlier.iter().max_by_key(|c| c.at)).map(|c| **c)
    }

    /// The first firing, if any.
    pub fn fired(&self) -> Option<&StopEvent> {
        self.fired.as_ref()
    }

    /// Observations so far.
    pub fn observed(&self) -> usize {
        self.observed
    }
}

/// Collects an epoch's per-batch values for epoch granularity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochAggregate {
    q_d: Vec<f64>,
    steepness: Vec<f64>,
}

impl EpochAggregate {
    pub fn push(&mut self, q_d: f64, mean_steepness: Option<f64>) {
        self.q_d.push(q_d);
        if let Some(s) = mean_steepness {
            self.steepness.push(s);
        }
    }
    /// (mean of per-batch q_d, mean of per-batch mean steepness); NaN where nothing was pushed.
    pub fn finish(&mut self) -> (f64, f64) {
        let r = (crate::mean(&self.q_d), crate::mean(&self.steepness));
        self.q_d.clear();
        self.steepness.clear();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(warmup: usize) -> EarlyStoppingConfig {
        EarlyStoppingConfig { k_d: 2.0, sigma: 0.1, k_g: -0.5, modes: 4, warmup, granularity: Granularity::Iteration }
    }

    #[test]
    fn paper_gmm_threshold_is_8_9() {
        let c = EarlyStoppingConfig::paper_gmm();
        assert!((c.disc_threshold() - 8.944).abs() < 1e-3);
        assert_eq!(c.quantile_level(), 0.875);
    }

    #[test]
    fn invalid_settings_are_named() {
        for (c, name) in [
            (EarlyStoppingConfig { k_d: 0.0, ..cfg(1) }, "k_d"),
            (EarlyStoppingConfig { sigma: -1.0, ..cfg(1) }, "sigma"),
            (EarlyStoppingConfig { k_g: 0.2, ..cfg(1) }, "k_g"),
            (EarlyStoppingConfig { modes: 0, ..cfg(1) }, "modes"),
        ] {
            assert_eq!(EarlyStopping::new(c).unwrap_err().name, name);
        }
    }

    #[test]
    fn disc_gradient_above_threshold_fires_only_after_warmup() {
        // threshold 2 / (2 * 0.1) = 10
        let mut m = EarlyStopping::new(cfg(3)).unwrap();
        let stream = [1.0, 50.0, 50.0, 5.0, 10.0, 10.5, 3.0];
        let mut fired_at = None;
        for q in stream {
            let d = m.observe(q, 1.0);
            if d.fires() && fired_at.is_none() {
                fired_at = Some(d.t);
            }
        }
        // 50 at t = 2, 3 are in the warm-up; 10.0 is not > 10; 10.5 at t = 6 fires.
        assert_eq!(fired_at, Some(6));
        let e = m.fired().unwrap();
        assert_eq!((e.t, e.reason), (6, StopReason::DiscGrad));
        assert!((e.q_d - 10.5).abs() < 1e-12 && (e.threshold_d - 10.0).abs() < 1e-12);
        assert!(e.describe("epoch").contains("disc_grad"));
    }

    #[test]
    fn steepness_drop_uses_the_previous_observation_including_warmup() {
        let mut m = EarlyStopping::new(cfg(2)).unwrap();
        // S: 1, 4 (warm-up), 2.1 (-47.5%: no), 1.0 (-52%: fires)
        for (s, expect) in [(1.0, false), (4.0, false), (2.1, false), (1.0, true)] {
            assert_eq!(m.observe(0.0, s).fires(), expect, "S = {s}");
        }
        let e = m.fired().unwrap();
        assert_eq!(e.reason, StopReason::SteepnessDrop);
        assert_eq!(e.steepness_prev, Some(2.1));
        assert!((e.delta_s.unwrap() + 1.1 / 2.1).abs() < 1e-12);
        // A drop during warm-up never fires, but S_prev follows it.
        let mut m = EarlyStopping::new(cfg(5)).unwrap();
        assert!(!m.observe(0.0, 10.0).fires());
        assert!(!m.observe(0.0, 1.0).fires());
        assert_eq!(m.fired(), None);
    }

    #[test]
    fn both_criteria_and_refires_are_reported() {
        let mut m = EarlyStopping::new(cfg(0)).unwrap();
        m.observe(0.0, 2.0);
        let d = m.observe(20.0, 0.5);
        assert!(d.fires());
        assert_eq!(m.fired().unwrap().reason, StopReason::Both);
        m.observe(30.0, 0.5);
        m.observe(0.0, 0.5);
        // S_prev stays at 2.0 after firing (Algorithm 2 breaks before line 8).
        assert_eq!(m.refires, vec![3, 4]);
    }

    #[test]
    fn non_finite_values_never_fire() {
        let mut m = EarlyStopping::new(cfg(0)).unwrap();
        m.observe(1.0, 1.0);
        assert!(!m.observe(f64::NAN, f64::NAN).fires());
        assert!(!m.observe(1.0, 0.9).fires(), "S_prev is still 1.0, -10% is no drop");
    }

    #[test]
    fn best_checkpoint_is_the_best_scored_earlier_one_else_the_latest() {
        let mut m = EarlyStopping::new(cfg(0)).unwrap();
        m.register_checkpoint(2, None);
        m.register_checkpoint(4, None);
        m.register_checkpoint(9, None);
        assert_eq!(m.best_checkpoint_before(9).unwrap().at, 4, "strictly earlier");
        m.register_checkpoint(2, Some(0.9));
        m.register_checkpoint(4, Some(0.5));
        assert_eq!(m.best_checkpoint_before(9).unwrap().at, 2);
        for _ in 0..6 {
            m.observe(0.0, 1.0);
        }
        m.observe(100.0, 1.0); // t = 7 fires
        assert_eq!(m.fired().unwrap().best_checkpoint.unwrap().at, 2);
    }

    #[test]
    fn observe_batch_uses_the_mode_quantile_and_mean() {
        let mut m = EarlyStopping::new(cfg(0)).unwrap();
        let norms: Vec<f32> = (1..=9).map(|v| v as f32).collect(); // 0.75 quantile = 7
        let d = m.observe_batch(&norms, &[1.0, 3.0]);
        assert!((d.q_d - 7.0).abs() < 1e-12 && (d.steepness - 2.0).abs() < 1e-12);
        let mut a = EpochAggregate::default();
        a.push(1.0, Some(2.0));
        a.push(3.0, None);
        assert_eq!(a.finish(), (2.0, 2.0));
    }

    #[test]
    fn the_monitor_round_trips_through_yaml() {
        let mut m = EarlyStopping::new(EarlyStoppingConfig::paper_gmm()).unwrap();
        m.observe(1.0, 2.0);
        m.register_checkpoint(1, Some(0.3));
        let s = serde_yaml::to_string(&m).unwrap();
        let back: EarlyStopping = serde_yaml::from_str(&s).unwrap();
        assert_eq!(back, m);
    }
}
