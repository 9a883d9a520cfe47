//! One recomputation per `check` name of `claims.yaml`. Each calls the library crates and
//! compares with the paper's value; the comparison, not the mathematics, lives here.

use anyhow::{bail, Result};
use theory::algorithm2;

use super::{fmt, matches_printed, Args, Outcome, Verdict};

pub fn recompute(check: &str, a: &Args) -> Result<Outcome> {
    match check {
        "disc_threshold" => disc_threshold(a),
        "four_sigma" => four_sigma(a),
        "gmm_variance_consistency" => gmm_variance_consistency(a),
        _ => bail!("unknown check `{check}`; it must be one of the names matched in experiments/src/paper_checks/checks.rs"),
    }
}

/// Appendix F: k_d / (2 sigma) with sigma = sqrt(variance / dims).
fn disc_threshold(a: &Args) -> Result<Outcome> {
    let sigma = algorithm2::sigma_from_variance(a.f64("variance")?, a.usize("dims")?)?;
    let t = algorithm2::disc_grad_threshold(a.f64("k_d")?, sigma)?;
    Ok(Outcome::holds_if(
        matches_printed(a.paper.trim_start_matches('~'), t),
        fmt(t),
        format!("sigma = {}", fmt(sigma)),
    ))
}

/// Appendix G.1: 4 sigma for the toy's variance.
fn four_sigma(a: &Args) -> Result<Outcome> {
    let v = 4.0 * a.f64("variance")?.sqrt();
    Ok(Outcome::holds_if(matches_printed(a.paper.trim_start_matches('~'), v), fmt(v), ""))
}

/// Figure 1's footnote (covariance 0.1 I) against Appendix F (sigma^2 = 0.0125): the two cannot
/// both describe the same run; the thresholds they imply are recomputed for each.
fn gmm_variance_consistency(a: &Args) -> Result<Outcome> {
    let (v1, v2) = (a.f64("footnote_variance")?, a.f64("appendix_variance")?);
    let k_d = a.f64("k_d")?;
    let t1 = algorithm2::disc_grad_threshold(k_d, v1.sqrt())?;
    let t2 = algorithm2::disc_grad_threshold(k_d, v2.sqrt())?;
    let same = (v1 - v2).abs() < 1e-12;
    Ok(Outcome::new(
        format!("threshold {} with 0.1 I, {} with 0.0125 I", fmt(t1), fmt(t2)),
        if same { Verdict::Holds } else { Verdict::Differs },
        "internal inconsistency of the paper; the project follows Appendix F (sigma^2 = 0.0125)",
    ))
}
