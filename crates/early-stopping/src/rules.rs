//! Stop rules to set beside Algorithm 2, and how to judge any of them against a collapse that is
//! known (measured from the samples), on seeds a rule was not tuned on.
//!
//! - [`ThresholdRule`]: the usual collapse signals of the companion notes (mode-histogram
//!   divergence, marginal entropy, diversity, FID, recall, losses, the duality gap) turned into
//!   "stop at the first armed epoch where the signal crosses a threshold", the threshold read
//!   either absolutely or against the signal's own best value so far (scale-free across seeds).
//! - [`Alg2Variant`]: Algorithm 2 and the variants a careful reader would try (a longer window for
//!   the relative steepness change, q_d against its own running median, persistence). With
//!   [`Alg2Variant::paper`] it is exactly the [`crate::EarlyStopping`] monitor's first stop
//!   (property-tested below).
//! - [`judge`] / [`Score`]: the outcome of one stop against the ground truth, and the tuning
//!   objective ([`tune`]: the candidate with the best score on the tuning seeds; ties go to the
//!   better quality at the stop, then to the more conservative candidate).
//!
//! Epochs are 1-based observation numbers t, as in the monitor; a rule is armed for t > warmup.

use serde::{Deserialize, Serialize};

/// Which side of the threshold stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Stop when the signal rises to or above the threshold (divergences, FID, losses).
    Above,
    /// Stop when it falls to or below it (entropy, recall, diversity).
    Below,
}

/// How the threshold is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reference {
    /// Against the signal's value itself.
    Absolute,
    /// Against the ratio of the value to the best value so far (the running minimum for
    /// `Above`, the running maximum for `Below`), for positive signals whose scale differs
    /// between runs (FID, diversity, the duality gap): the image runs' collapse rule reads FID so.
    RatioToBest,
    /// Against the difference from the best value so far (for bounded signals that can be 0).
    DiffFromBest,
}

/// Stop at the first armed observation where the signal is beyond `threshold` for `persist`
/// observations in a row (the stop is the last of them: the rule only knows then).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRule {
    pub direction: Direction,
    pub reference: Reference,
    pub threshold: f64,
    pub warmup: usize,
    pub persist: usize,
}

impl ThresholdRule {
    /// The value compared with the threshold at each observation (NaN where undefined).
    pub fn statistic(&self, x: &[f64]) -> Vec<f64> {
        let mut best = f64::NAN;
        x.iter()
            .map(|&v| {
                if !v.is_finite() {
                    return f64::NAN;
                }
                best = match (self.direction, best.is_nan()) {
                    (_, true) => v,
                    (Direction::Above, false) => best.min(v),
                    (Direction::Below, false) => best.max(v),
                };
                match self.reference {
                    Reference::Absolute => v,
                    Reference::RatioToBest if best > 0.0 => v / best,
                    Reference::RatioToBest => f64::NAN,
                    Reference::DiffFromBest => v - best,
                }
            })
            .collect()
    }

    /// First stop among observations `t = ts[i]` with values `x[i]` (observations may be sparse,
    /// e.g. a duality gap every K epochs; persistence counts consecutive evaluated ones).
    pub fn first_stop(&self, ts: &[usize], x: &[f64]) -> Option<usize> {
        let st = self.statistic(x);
        let mut run = 0;
        for (&t, &v) in ts.iter().zip(&st) {
            let beyond = match self.direction {
                Direction::Above => v >= self.threshold,
                Direction::Below => v <= self.threshold,
            };
            run = if beyond && !v.is_nan() { run + 1 } else { 0 };
            if t > self.warmup && run >= self.persist.max(1) {
                return Some(t);
            }
        }
        None
    }
}

/// Algorithm 2 and its variants, on per-observation q_d and mean steepness S.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alg2Variant {
    /// The paper's k_d / (2 sigma); with `qd_relative` the factor c of q_d > c x running median.
    pub disc_threshold: f64,
    /// k_g < 0 (the relative steepness change that stops); `f64::MIN` switches the criterion off.
    pub k_g: f64,
    pub warmup: usize,
    /// The relative steepness change over this many observations, (S_t - S_{t-w}) / S_{t-w}
    /// (the paper: w = 1, i.e. against S_prev).
    pub window: usize,
    /// Read q_d against its own running median (over t' <= t) instead of the absolute threshold.
    pub qd_relative: bool,
    /// Fire only after the condition held this many observations in a row (paper: 1).
    pub persist: usize,
}

impl Alg2Variant {
    /// Algorithm 2 as written (window 1, absolute q_d, no persistence).
    pub fn paper(disc_threshold: f64, k_g: f64, warmup: usize) -> Self {
        Self { disc_threshold, k_g, warmup, window: 1, qd_relative: false, persist: 1 }
    }

    /// First observation t (1-based) at which the variant fires.
    ///
    /// With window 1 this is the monitor's rule: S_prev is the last *finite* steepness seen before
    /// t; the monitor stops updating S_prev once it fires, which cannot matter for the first stop.
    pub fn first_stop(&self, q_d: &[f64], s: &[f64]) -> Option<usize> {
        let w = self.window.max(1);
        let mut finite_s: Vec<f64> = Vec::new(); // finite steepness values seen so far, in order
        let mut seen_q: Vec<f64> = Vec::new();
        let mut run = 0;
        for (i, (&q, &st)) in q_d.iter().zip(s).enumerate() {
            let t = i + 1;
            let prev = if finite_s.len() >= w { Some(finite_s[finite_s.len() - w]) } else { None };
            let delta = match prev {
                Some(p) if p > 0.0 && st.is_finite() => Some((st - p) / p),
                _ => None,
            };
            let disc = if self.qd_relative {
                if q.is_finite() {
                    seen_q.push(q);
                }
                let med = crate::quantile(&seen_q, 0.5);
                q.is_finite() && med > 0.0 && q > self.disc_threshold * med
            } else {
                q.is_finite() && q > self.disc_threshold
            };
            let steep = delta.is_some_and(|d| d < self.k_g);
            run = if disc || steep { run + 1 } else { 0 };
            if t > self.warmup && run >= self.persist.max(1) {
                return Some(t);
            }
            if st.is_finite() {
                finite_s.push(st);
            }
        }
        None
    }
}

/// The ground truth of one run: the first epoch of its sustained peak coverage and the collapse
/// epoch, if it collapsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truth {
    pub fitted: usize,
    pub collapse: Option<usize>,
}

/// What one stop did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Between the fit and the collapse (inclusive).
    InTime,
    /// Before the fit of a run that later collapsed.
    Early,
    /// After the collapse.
    Late,
    /// No stop in a run that collapsed.
    Missed,
    /// A stop in a run that never collapsed (no collapse after it within the run).
    FalseStop,
    /// No stop and no collapse.
    Quiet,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::InTime => "in time",
            Outcome::Early => "early",
            Outcome::Late => "late",
            Outcome::Missed => "missed",
            Outcome::FalseStop => "false stop",
            Outcome::Quiet => "quiet",
        }
    }
}

pub fn judge(stop: Option<usize>, truth: Truth) -> Outcome {
    match (stop, truth.collapse) {
        (Some(s), Some(c)) if s < truth.fitted && s <= c => Outcome::Early,
        (Some(s), Some(c)) if s <= c => Outcome::InTime,
        (Some(_), Some(_)) => Outcome::Late,
        (None, Some(_)) => Outcome::Missed,
        (Some(_), None) => Outcome::FalseStop,
        (None, None) => Outcome::Quiet,
    }
}

/// The tuning objective over a set of runs: in-time stops minus early and false stops (a late
/// stop or a missed collapse scores 0: no better than not monitoring), with the mean quality at
/// the stop as the tie-break.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Score {
    pub in_time: usize,
    pub early: usize,
    pub late: usize,
    pub missed: usize,
    pub false_stops: usize,
    pub quiet: usize,
    /// Mean of the caller's quality at the stop (at the end for runs without a stop).
    pub quality: f64,
}

impl Score {
    pub fn of(outcomes: &[(Outcome, f64)]) -> Self {
        let mut s = Score::default();
        for (o, _) in outcomes {
            match o {
                Outcome::InTime => s.in_time += 1,
                Outcome::Early => s.early += 1,
                Outcome::Late => s.late += 1,
                Outcome::Missed => s.missed += 1,
                Outcome::FalseStop => s.false_stops += 1,
                Outcome::Quiet => s.quiet += 1,
            }
        }
        s.quality = outcomes.iter().map(|(_, q)| q).sum::<f64>() / outcomes.len().max(1) as f64;
        s
    }
    pub fn value(&self) -> i64 {
        self.in_time as i64 - self.early as i64 - self.false_stops as i64
    }
    fn key(&self) -> (i64, f64) {
        (self.value(), self.quality)
    }
}

/// The candidate (in the order given, most conservative first) with the best [`Score`] by
/// `evaluate`; a later candidate replaces the current best only when strictly better.
pub fn tune<C: Clone>(candidates: &[C], mut evaluate: impl FnMut(&C) -> Score) -> Option<(C, Score)> {
    let mut best: Option<(C, Score)> = None;
    for c in candidates {
        let s = evaluate(c);
        let better = match &best {
            None => true,
            Some((_, b)) => s.key().0 > b.key().0 || (s.key().0 == b.key().0 && s.key().1 > b.key().1 + 1e-12),
        };
        if better {
            best = Some((c.clone(), s));
        }
    }
    best
}

/// Candidate thresholds for a rule: the distinct quantiles 0, 1/(n-1), ..., 1 of the finite
/// statistic values over the tuning runs (a data-driven grid, since the signals' scales differ).
pub fn quantile_grid(values: &[f64], n: usize) -> Vec<f64> {
    let v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    let mut g: Vec<f64> = (0..n.max(2)).map(|i| crate::quantile(&v, i as f64 / (n.max(2) - 1) as f64)).filter(|x| x.is_finite()).collect();
    g.sort_by(|a, b| a.total_cmp(b));
    g.dedup();
    g
}

/// Splits seeds (in the order given) into a tuning half and a judging half: the first
/// ceil(n / 2) tune, the rest judge.
pub fn split_half<T: Clone>(items: &[T]) -> (Vec<T>, Vec<T>) {
    let k = items.len().div_ceil(2);
    (items[..k].to_vec(), items[k..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EarlyStopping, EarlyStoppingConfig, Granularity};
    use proptest::prelude::*;

    #[test]
    fn threshold_rule_reads_absolute_ratio_and_difference() {
        let ts: Vec<usize> = (1..=6).collect();
        let x = [4.0, 2.0, 3.0, 5.0, 9.0, 1.0];
        let abs = ThresholdRule { direction: Direction::Above, reference: Reference::Absolute, threshold: 5.0, warmup: 0, persist: 1 };
        assert_eq!(abs.first_stop(&ts, &x), Some(4));
        // ratio to the running minimum: 1, 1, 1.5, 2.5, 4.5, 1 -> >= 2 first at t = 4
        let ratio = ThresholdRule { reference: Reference::RatioToBest, threshold: 2.0, ..abs };
        assert_eq!(ratio.statistic(&x), vec![1.0, 1.0, 1.5, 2.5, 4.5, 1.0]);
        assert_eq!(ratio.first_stop(&ts, &x), Some(4));
        // warm-up and persistence: armed from t = 5, two in a row beyond 2 -> t = 5 (4 and 5)
        let p = ThresholdRule { warmup: 4, persist: 2, ..ratio };
        assert_eq!(p.first_stop(&ts, &x), Some(5));
        let below = ThresholdRule { direction: Direction::Below, reference: Reference::DiffFromBest, threshold: -3.0, warmup: 0, persist: 1 };
        // running max 4, 4, 4, 5, 9, 9 -> differences 0, -2, -1, 0, 0, -8
        assert_eq!(below.first_stop(&ts, &x), Some(6));
        // sparse observations
        assert_eq!(abs.first_stop(&[10, 20, 30], &[1.0, 6.0, 7.0]), Some(20));
    }

    #[test]
    fn judge_covers_every_case() {
        let t = Truth { fitted: 10, collapse: Some(50) };
        assert_eq!(judge(Some(5), t), Outcome::Early);
        assert_eq!(judge(Some(10), t), Outcome::InTime);
        assert_eq!(judge(Some(50), t), Outcome::InTime);
        assert_eq!(judge(Some(51), t), Outcome::Late);
        assert_eq!(judge(None, t), Outcome::Missed);
        let q = Truth { fitted: 10, collapse: None };
        assert_eq!(judge(Some(30), q), Outcome::FalseStop);
        assert_eq!(judge(None, q), Outcome::Quiet);
    }

    #[test]
    fn tune_keeps_the_first_of_equal_candidates() {
        let score = |v: i64| Score { in_time: v.max(0) as usize, ..Default::default() };
        let (c, s) = tune(&[1, 2, 3, 4], |c| score(if *c >= 2 { 1 } else { 0 })).unwrap();
        assert_eq!((c, s.in_time), (2, 1));
        assert_eq!(split_half(&[1, 2, 3, 4, 5]), (vec![1, 2, 3], vec![4, 5]));
        assert_eq!(quantile_grid(&[3.0, 1.0, f64::NAN, 2.0], 5), vec![1.0, 1.5, 2.0, 2.5, 3.0]);
    }

    proptest! {
        /// The paper's variant is the monitor: same first stop on any series (NaN steepness,
        /// zero and negative values included), any thresholds and warm-up.
        #[test]
        fn paper_variant_is_the_monitor(
            q in proptest::collection::vec(prop_oneof![0.0f64..20.0, Just(f64::NAN)], 1..60),
            s in proptest::collection::vec(prop_oneof![-0.5f64..3.0, Just(f64::NAN), Just(0.0)], 60),
            thr in 1.0f64..15.0,
            k_g in -0.9f64..-0.05,
            warmup in 0usize..20,
        ) {
            let s = &s[..q.len()];
            let cfg = EarlyStoppingConfig { k_d: 2.0 * thr * 0.1, sigma: 0.1, k_g, modes: 8, warmup, granularity: Granularity::Epoch };
            let mut m = EarlyStopping::new(cfg.clone()).unwrap();
            for (a, b) in q.iter().zip(s) {
                m.observe(*a, *b);
            }
            let v = Alg2Variant::paper(cfg.disc_threshold(), k_g, warmup);
            prop_assert_eq!(v.first_stop(&q, s), m.fired().map(|e| e.t));
        }

        /// Persistence never stops earlier, and a larger threshold never stops earlier (Above).
        #[test]
        fn persistence_and_threshold_are_monotone(
            x in proptest::collection::vec(0.0f64..10.0, 1..80),
            thr in 0.0f64..10.0,
            warmup in 0usize..30,
        ) {
            let ts: Vec<usize> = (1..=x.len()).collect();
            let r = ThresholdRule { direction: Direction::Above, reference: Reference::Absolute, threshold: thr, warmup, persist: 1 };
            let a = r.first_stop(&ts, &x);
            let b = ThresholdRule { persist: 3, ..r }.first_stop(&ts, &x);
            let c = ThresholdRule { threshold: thr + 1.0, ..r }.first_stop(&ts, &x);
            let later = |p: Option<usize>, q: Option<usize>| match (p, q) { (Some(p), Some(q)) => q >= p, (None, Some(_)) => false, _ => true };
            prop_assert!(later(a, b));
            prop_assert!(later(a, c));
        }
    }
}
