//! Prints the Theorem 3.3 checks (ODE vs direct flow, growth windows) and the Theorem C.5 /
//! Prop D.2 one-step errors for a few configurations:
//! `cargo run --release -p theory --example steepness_report`.
use theory::recurrence::{
    recurrence_step, recurrence_step_as_printed, steepness_after_direct_step,
};
use theory::steepness_ode::*;
use theory::suboptimal::{
    d2_steepness_after_direct_step, d2_step, d2_step_as_printed, DistortionFamily,
};

fn main() -> Result<(), theory::TheoryError> {
    let cfg = FlowConfig::default();
    for (mu, sigma, k0, t_end) in [
        (1.0, 0.5, 0.5, 1.5),
        (0.8, 0.5, 0.5, 2.0),
        (1.0, 0.7, 0.5, 3.0),
        (1.2, 0.5, 0.5, 1.5),
        (1.0, 0.5, 2.0, 1.5),
        (1.0, 0.5, 0.5, 8.0),
    ] {
        let t0 = std::time::Instant::now();
        let c = compare_flow_with_ode(mu, sigma, k0, t_end, 601, &cfg)?;
        let el = t0.elapsed();
        let leave = c.t_ode_leaves_5pct;
        let k_at = leave.map(|t| {
            let i = c.flow.t.iter().position(|s| *s == t).unwrap();
            (c.flow.k[i], c.k_ode_g3_zero[i], c.flow.g3[i])
        });
        println!(
            "mu={mu} sigma={sigma} k0={k0} T={t_end} ({el:.2?}, {} steps): resolved {}/{}",
            c.flow.steps,
            c.resolved.iter().filter(|r| **r).count(),
            c.resolved.len()
        );
        println!(
            "  (a) max|dkdt-rhs|/max|dkdt|: main {:.2e}, end-of-proof {:.2e}; max rel (|dkdt|>5%): main {:.2e}, eop {:.2e}",
            c.max_err_main, c.max_err_end_of_proof, c.max_rel_err_main, c.max_rel_err_end_of_proof
        );
        println!("  (b) g3=0 ODE leaves 5% at t={leave:?} (k_sim, k_ode, g3_sim)={k_at:?}");
        println!(
            "  end: k {:.5} (k_ot {:.5}), g3 {:.3} (g3_ot {:.3}); flow growth window {:?}",
            c.k_final, c.k_ot, c.g3_final, c.g3_ot, c.flow_growth_window
        );
        if mu > sigma {
            let (lo, hi) = growth_window_g3_zero(mu, sigma, 0.1)?;
            println!(
                "  g3=0 ODE growth window k in [{lo:.4}, {hi:.4}] = {:.3} e-folds (rate {:.3})",
                (hi / lo).ln(),
                growth_rate(mu, sigma)
            );
        }
    }
    for (mu, sigma) in [(1.5, 0.5), (2.0, 0.5), (3.0, 0.5)] {
        let (lo, hi) = growth_window_g3_zero(mu, sigma, 0.1)?;
        println!(
            "g3=0 window mu={mu} sigma={sigma}: [{lo:.4}, {hi:.4}] = {:.3} e-folds",
            (hi / lo).ln()
        );
    }
    for (k, ks, s, x0) in [
        (2.0, 1.0, 0.01, vec![0.7]),
        (0.5, 1.0, 0.01, vec![0.7]),
        (2.0, 1.0, 0.01, vec![0.7, -0.3, 0.2]),
    ] {
        let d = steepness_after_direct_step(k, ks, s, &x0)?;
        let c = recurrence_step(k, ks, s, &x0)?;
        let p = recurrence_step_as_printed(k, ks, s, &x0)?;
        println!(
            "C.5 k={k} k*={ks} s={s} n={}: increment direct {:.6e} corrected {:.6e} printed {:.6e}",
            x0.len(),
            d - k,
            c - k,
            p - k
        );
        let f = DistortionFamily::Exp { c: 0.5 };
        let d = d2_steepness_after_direct_step(&f, k, ks, s, &x0)?;
        let c = d2_step(&f, k, ks, s, &x0)?;
        let p = d2_step_as_printed(&f, k, ks, s, &x0)?;
        println!(
            "D.2 f=exp(0.5r): increment direct {:.6e} corrected {:.6e} printed {:.6e}",
            d - k,
            c - k,
            p - k
        );
    }
    Ok(())
}
