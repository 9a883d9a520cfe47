//! `experiments theory ...`: the theory crate's closed forms and solvers as small calculators that
//! print CSV (header line first) to stdout. Invalid parameters come back from the theory crate as
//! typed errors naming the parameter; they are reported as the command-line flag in one line.

use anyhow::{anyhow, Result};
use clap::Subcommand;
use std::io::Write;
use theory::bounds;
use theory::kl_toy;
use theory::steepness_ode::SteepnessOde;
use theory::transport::TransportMap;
use theory::{Mixture1d, Table2Case, TheoryError};

#[derive(Subcommand)]
pub enum TheoryCmd {
    /// Theorem 3.3: g'_t(0) over time from the ODE (adaptive Dopri5). Prints t,steepness.
    Ode {
        #[arg(long, allow_negative_numbers = true)]
        mu: f64,
        #[arg(long, allow_negative_numbers = true)]
        sigma: f64,
        /// Initial steepness g'_0(0).
        #[arg(long, allow_negative_numbers = true)]
        k0: f64,
        #[arg(long = "t-end", allow_negative_numbers = true)]
        t_end: f64,
        /// g_t'''(0), held constant (the theorem leaves it free; 0 by default).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        g3: f64,
        /// Number of evenly spaced output times, 0 and t-end included.
        #[arg(long, default_value_t = 11)]
        points: usize,
    },
    /// Seed 001 section 16.7: forward-KL, reverse-KL and JS optima of N(m, s^2) fitted to
    /// 0.5 N(-mu, sigma^2) + 0.5 N(mu, sigma^2). Prints divergence,m,s,value.
    KlToy {
        #[arg(long, allow_negative_numbers = true)]
        mu: f64,
        #[arg(long, allow_negative_numbers = true)]
        sigma: f64,
    },
    /// Theorem C.1's field grad r / (r (1 + r)) for Table 2's case 1-4 at (x, y).
    /// Prints r,grad_r_x,grad_r_y,field_x,field_y,d_star.
    Field {
        #[arg(long, allow_negative_numbers = true)]
        case: i64,
        #[arg(long, allow_negative_numbers = true)]
        x: f64,
        #[arg(long, allow_negative_numbers = true)]
        y: f64,
    },
    /// Steepness of the 1-D transport map g = Psi^-1 o Phi onto a mixture, with Theorem 3.1's
    /// bound. Prints max_steepness,argmax_z,thm3_1_bound.
    OtSteepness {
        /// Mode centres, comma separated.
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true, required = true)]
        means: Vec<f64>,
        #[arg(long, allow_negative_numbers = true)]
        sigma: f64,
        /// Mixing weights, comma separated, summing to 1 (equal weights by default).
        #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
        weights: Option<Vec<f64>>,
    },
}

/// Turns a theory error into one line naming the command-line flag.
fn flag_error(e: TheoryError) -> anyhow::Error {
    match e {
        TheoryError::InvalidParameter { name, reason } => {
            let flag = match name {
                "n_out" => "points",
                "modes_sorted" | "modes" => "means",
                other => other,
            };
            anyhow!("--{}: {reason}", flag.replace('_', "-"))
        }
        other => anyhow!("{other}"),
    }
}

/// Prints CSV lines; a closed pipe (`| head`) ends quietly.
fn emit(lines: &[String]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for l in lines {
        if let Err(e) = writeln!(out, "{l}") {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(e.into());
        }
    }
    Ok(())
}

/// Shortest representation that round-trips.
fn num(v: f64) -> String {
    // -0 prints as 0.
    format!("{}", if v == 0.0 { 0.0 } else { v })
}

pub fn run(cmd: TheoryCmd) -> Result<()> {
    match cmd {
        TheoryCmd::Ode { mu, sigma, k0, t_end, g3, points } => {
            let ode = SteepnessOde::new(mu, sigma).and_then(|o| o.with_g3(g3)).map_err(flag_error)?;
            let sol = ode.integrate(k0, t_end, points).map_err(flag_error)?;
            let mut lines = vec!["t,steepness".to_string()];
            lines.extend(sol.t.iter().zip(&sol.k).map(|(t, k)| format!("{},{}", num(*t), num(*k))));
            emit(&lines)?;
            if let Some(stop) = sol.stopped {
                eprintln!("note: integration stopped at t = {} (k = {}): {}", stop.t, stop.k, stop.reason);
            }
            Ok(())
        }
        TheoryCmd::KlToy { mu, sigma } => {
            let rows = [
                ("forward", kl_toy::forward_kl_optimum_closed_form(mu, sigma).map_err(flag_error)?),
                ("reverse", kl_toy::reverse_kl_optimum(mu, sigma).map_err(flag_error)?),
                ("js", kl_toy::js_optimum(mu, sigma).map_err(flag_error)?),
            ];
            let mut lines = vec!["divergence,m,s,value".to_string()];
            lines.extend(rows.iter().map(|(d, o)| format!("{d},{},{},{}", num(o.m), num(o.s), num(o.value))));
            emit(&lines)
        }
        TheoryCmd::Field { case, x, y } => {
            let case = usize::try_from(case)
                .map_err(|_| TheoryError::invalid("case", format!("Table 2 has cases 1 to 4, got {case}")))
                .and_then(Table2Case::from_index)
                .map_err(flag_error)?;
            let v = case
                .field_value([x, y])
                .map_err(flag_error)?
                .ok_or_else(|| anyhow!("--x/--y: the field is undefined at ({x}, {y}) because p_data = 0 there"))?;
            emit(&[
                "r,grad_r_x,grad_r_y,field_x,field_y,d_star".to_string(),
                format!("{},{},{},{},{},{}", num(v.r), num(v.grad_r[0]), num(v.grad_r[1]), num(v.field[0]), num(v.field[1]), num(v.d_star)),
            ])
        }
        TheoryCmd::OtSteepness { means, sigma, weights } => {
            let mix = Mixture1d::new(means.clone(), sigma, weights.clone()).map_err(flag_error)?;
            let m = TransportMap::new(mix).max_steepness().map_err(flag_error)?;
            // Theorem 3.1 covers equal weights, sorted modes at least 6 sigma apart.
            let mut sorted = means.clone();
            sorted.sort_by(f64::total_cmp);
            let equal = weights.as_ref().is_none_or(|w| w.iter().all(|v| (v - w[0]).abs() < 1e-12));
            let bound = if equal { bounds::thm3_1_bound(&sorted, sigma).ok() } else { None };
            if bound.is_none() {
                eprintln!("note: Theorem 3.1 does not apply (it needs N >= 2 equal-weight modes at least 6 sigma apart); thm3_1_bound is NA");
            }
            emit(&[
                "max_steepness,argmax_z,thm3_1_bound".to_string(),
                format!("{},{},{}", num(m.value), num(m.argmax_z), bound.map_or("NA".to_string(), num)),
            ])
        }
    }
}
