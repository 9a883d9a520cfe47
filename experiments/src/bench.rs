//! `experiments bench probes`: the cost of the gradient probes per training step (printed; the
//! numbers in README come from it).

use anyhow::{anyhow, Result};
use clap::Subcommand;
use models::bench::BenchResult;
use models::BackendKind;

#[derive(Subcommand)]
pub enum BenchCmd {
    #[command(flatten)]
    Metrics(crate::metrics_cli::BenchCmd),
    /// Plain training step of the DCGANs (28, 32, 64 px) and the mixture MLP, side by side with
    /// PyTorch (--python PY): CSV case,backend,ours_s_per_step,torch_s_per_step,ratio.
    Train(crate::bench_train::TrainArgs),
    /// Training step with both probes every step / without: mixture MLP and a 32x32 DCGAN.
    Probes {
        /// Backends to compare (repeatable; default: ndarray and flex).
        #[arg(long = "backend", value_parser = crate::parse_backend)]
        backends: Vec<BackendKind>,
        /// Alternating timing rounds (plain block, probed block).
        #[arg(long, default_value_t = 7)]
        rounds: usize,
        /// Mixture-MLP steps per block.
        #[arg(long, default_value_t = 60)]
        mlp_steps: usize,
        /// DCGAN steps per block (0 skips the DCGAN).
        #[arg(long, default_value_t = 3)]
        dcgan_steps: usize,
        /// DCGAN image size (32 on the CPU; 64 on a GPU).
        #[arg(long, default_value_t = 32)]
        dcgan_size: usize,
        /// DCGAN base width f.
        #[arg(long, default_value_t = 32)]
        dcgan_features: usize,
        /// Probe latents per step (both models).
        #[arg(long, default_value_t = 4)]
        latents: usize,
    },
    /// One duality-gap evaluation (both gaps; paper and ci settings) against one training epoch:
    /// the mixture MLP GAN (measured) and a DCGAN (epoch of 60k images and gaps extrapolated).
    DualityGap {
        /// Backends to measure (repeatable; default: flex).
        #[arg(long = "backend", value_parser = crate::parse_backend)]
        backends: Vec<BackendKind>,
        /// Mixture-MLP epochs timed (median).
        #[arg(long, default_value_t = 5)]
        epochs: usize,
        /// DCGAN training steps timed (median; 0 skips the DCGAN).
        #[arg(long, default_value_t = 3)]
        dcgan_steps: usize,
        /// DCGAN image size.
        #[arg(long, default_value_t = 32)]
        dcgan_size: usize,
        /// DCGAN base width f.
        #[arg(long, default_value_t = 32)]
        dcgan_features: usize,
        /// Evaluation images on which one V evaluation of the DCGAN is timed.
        #[arg(long, default_value_t = 320)]
        dcgan_eval_rows: usize,
    },
}

fn print(r: &BenchResult) {
    println!(
        "{:<20} {:<8} plain {:>9.3} ms  probed {:>9.3} ms  ratio {:.3} (fastest blocks {:.3})  steps/s {:>8.1}  probe rel. error {:.2e}  [{}]",
        r.name,
        r.backend,
        1e3 * r.plain_s,
        1e3 * r.probed_s,
        r.ratio,
        r.ratio_min,
        r.steps_per_s,
        r.probe_rel_error,
        r.setup
    );
}

pub fn run(cmd: BenchCmd) -> Result<()> {
    let (backends, rounds, mlp_steps, dcgan_steps, dcgan_size, dcgan_features, latents) = match cmd {
        BenchCmd::Metrics(m) => return crate::metrics_cli::bench(m),
        BenchCmd::Train(a) => return crate::bench_train::run(a),
        BenchCmd::DualityGap { backends, epochs, dcgan_steps, dcgan_size, dcgan_features, dcgan_eval_rows } => {
            return duality_gap(backends, epochs, dcgan_steps, dcgan_size, dcgan_features, dcgan_eval_rows)
        }
        BenchCmd::Probes { backends, rounds, mlp_steps, dcgan_steps, dcgan_size, dcgan_features, latents } => {
            (backends, rounds, mlp_steps, dcgan_steps, dcgan_size, dcgan_features, latents)
        }
    };
    let backends = if backends.is_empty() { vec![BackendKind::NdArray, BackendKind::Flex] } else { backends };
    println!("probe overhead: ratio = (step + both probes) / plain step; medians (and fastest) of {rounds} alternating blocks");
    for &k in &backends {
        let r = models::with_backend!(k, |B, dev| models::bench::mixture_mlp::<B>(&dev, k.name(), 64, latents, rounds, mlp_steps)).map_err(|e| anyhow!("{e}"))?;
        print(&r);
        for (lat, every, fused) in [(latents, 1, false), (128, 16, false), (latents, 0, false)] {
            let r = models::with_backend!(k, |B, dev| models::bench::mixture_mlp_every::<B>(&dev, k.name(), 64, lat, rounds, mlp_steps, every, fused)).map_err(|e| anyhow!("{e}"))?;
            print(&r);
        }
    }
    if dcgan_steps > 0 {
        for &k in &backends {
            let r = models::with_backend!(k, |B, dev| models::bench::dcgan::<B>(&dev, k.name(), dcgan_size, dcgan_features, 64, latents, rounds.min(5), dcgan_steps))
                .map_err(|e| anyhow!("{e}"))?;
            print(&r);
        }
    }
    Ok(())
}

/// `experiments bench duality-gap`.
fn duality_gap(backends: Vec<BackendKind>, epochs: usize, dcgan_steps: usize, size: usize, features: usize, eval_rows: usize) -> Result<()> {
    let backends = if backends.is_empty() { vec![BackendKind::Flex] } else { backends };
    let show = |r: &models::bench::DualityGapCost| {
        let tag = |m: bool| if m { "measured" } else { "extrapolated" };
        println!(
            "{:<18} {:<8} epoch {:>9.3} s ({} steps x {:.4} s)  DG+PDG paper {:>9.2} s = {:>8.2} epochs ({})  ci {:>8.2} s = {:>7.3} epochs ({})  [{}]",
            r.name, r.backend, r.epoch_s, r.steps_per_epoch, r.step_s, r.dg_paper_s, r.dg_paper_s / r.epoch_s, tag(r.paper_measured),
            r.dg_ci_s, r.dg_ci_s / r.epoch_s, tag(r.ci_measured), r.setup
        );
    };
    println!("cost of one evaluation of both duality gaps (paper: 300 Adam steps per worst-case player, batch 32, 4 searches; ci: 30) relative to one training epoch");
    for &k in &backends {
        let r = models::with_backend!(k, |B, dev| models::bench::mixture_duality_gap::<B>(&dev, k.name(), epochs)).map_err(|e| anyhow!("{e}"))?;
        show(&r);
        if dcgan_steps > 0 {
            let r = models::with_backend!(k, |B, dev| models::bench::dcgan_duality_gap::<B>(&dev, k.name(), size, features, dcgan_steps, eval_rows))
                .map_err(|e| anyhow!("{e}"))?;
            show(&r);
        }
    }
    Ok(())
}
