//! `experiments bench train`: the plain training step (one discriminator and one generator step,
//! batch 64, NS loss; `models::bench::TrainStepper`) of the DCGANs and of the mixture MLP on the
//! chosen backends, side by side with the same steps in PyTorch (`scripts/train_reference.py`,
//! with `--python PY`). Blocks of our steps and of PyTorch's alternate, so that drifts in the
//! machine's load hit both alike. Prints one CSV line per case and backend on stdout,
//! `case,backend,ours_s_per_step,torch_s_per_step,ratio` (medians over the rounds; ratio =
//! ours / torch), and the spreads on stderr. Not run by CI or the tests.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, ValueEnum};
use models::bench::TrainStepper;
use models::BackendKind;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The models timed (the names are the script's case names too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Case {
    /// DCGAN 28x28x1, base width 16.
    Dcgan28,
    /// DCGAN 32x32x1, base width 32.
    Dcgan32,
    /// DCGAN 64x64x1, base width 64.
    Dcgan64,
    /// Mixture MLP 3-128-128-128 (SGD).
    Mlp,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Dcgan28 => "dcgan28",
            Case::Dcgan32 => "dcgan32",
            Case::Dcgan64 => "dcgan64",
            Case::Mlp => "mlp",
        }
    }
    fn describe(self) -> &'static str {
        match self {
            Case::Dcgan28 => "DCGAN 28x28x1, f = 16, Adam",
            Case::Dcgan32 => "DCGAN 32x32x1, f = 32, Adam",
            Case::Dcgan64 => "DCGAN 64x64x1, f = 64, Adam",
            Case::Mlp => "mixture MLP 3-128-128-128, SGD",
        }
    }
}

#[derive(Args)]
pub struct TrainArgs {
    /// Backends to time (repeatable; default: flex, the default CPU backend).
    #[arg(long = "backend", value_parser = crate::parse_backend)]
    backends: Vec<BackendKind>,
    /// A Python with PyTorch (e.g. `--python python3` or a venv's `bin/python`): times the same
    /// steps in PyTorch through scripts/train_reference.py.
    #[arg(long)]
    python: Option<String>,
    /// Cases to time, comma separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "dcgan28,dcgan32,dcgan64,mlp")]
    cases: Vec<Case>,
    /// Alternating rounds (one block of ours, one block of PyTorch's).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Target seconds of one timed block; steps per block = this / one step's time (at least 1).
    #[arg(long, default_value_t = 1.0)]
    block_s: f64,
    /// PyTorch's intra-op threads (default: the threads of our CPU backend's pool).
    #[arg(long)]
    threads: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

/// The reference script, serving timing requests over a pipe.
struct Torch {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Torch {
    /// Starts the script; `Err` carries a one-line reason (no such program, no PyTorch).
    fn start(py: &str, threads: usize) -> Result<(Self, String), String> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/train_reference.py");
        let mut child = Command::new(py)
            .arg(&script)
            .args(["serve", "--threads", &threads.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start `{py}` ({e}); pass --python with a Python that has PyTorch (pip install torch numpy)"))?;
        let stdin = child.stdin.take().expect("piped");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        let _ = stdout.read_line(&mut line);
        let line = line.trim().to_string();
        if let Some(v) = line.strip_prefix("ready ") {
            Ok((Torch { child, stdin, stdout }, v.to_string()))
        } else {
            let _ = child.wait();
            Err(line.strip_prefix("error ").map(str::to_string).unwrap_or_else(|| format!("{} gave no answer ({line:?})", script.display())))
        }
    }

    fn ask(&mut self, request: &str) -> Result<String> {
        writeln!(self.stdin, "{request}").context("writing to the reference script")?;
        self.stdin.flush()?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            bail!("the reference script exited");
        }
        let line = line.trim();
        match line.strip_prefix("error ") {
            Some(e) => bail!("{e}"),
            None => Ok(line.to_string()),
        }
    }

    fn time(&mut self, case: Case, device: &str, steps: usize) -> Result<f64> {
        let a = self.ask(&format!("{} {device} {steps}", case.name()))?;
        a.parse().map_err(|_| anyhow!("unexpected answer {a:?}"))
    }

    fn params(&mut self, case: Case, device: &str) -> Result<(usize, usize)> {
        let a = self.ask(&format!("info {} {device}", case.name()))?;
        let v: Vec<usize> = a.split_whitespace().filter_map(|s| s.parse().ok()).collect();
        match v[..] {
            [g, d] => Ok((g, d)),
            _ => bail!("unexpected answer {a:?}"),
        }
    }
}

impl Drop for Torch {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

fn stepper(kind: BackendKind, case: Case, batch: usize) -> Result<TrainStepper> {
    use models::bench::{dcgan_train_stepper, mlp_train_stepper};
    models::with_backend!(kind, |B, dev| match case {
        Case::Dcgan28 => dcgan_train_stepper::<B>(&dev, 28, 16, batch),
        Case::Dcgan32 => dcgan_train_stepper::<B>(&dev, 32, 32, batch),
        Case::Dcgan64 => dcgan_train_stepper::<B>(&dev, 64, 64, batch),
        Case::Mlp => mlp_train_stepper::<B>(&dev, batch),
    })
    .map_err(|e| anyhow!("{e}"))
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

fn spread(v: &[f64]) -> String {
    let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    format!("median {:.4}, min {:.4}, max {:.4}", median(v), min, max)
}

fn steps_for(block_s: f64, one_step_s: f64) -> usize {
    ((block_s / one_step_s.max(1e-9)).round() as usize).clamp(1, 10_000)
}

pub fn run(a: TrainArgs) -> Result<()> {
    let backends = if a.backends.is_empty() { vec![BackendKind::DEFAULT_CPU] } else { a.backends.clone() };
    if a.rounds == 0 || a.batch == 0 {
        bail!("--rounds and --batch must be at least 1");
    }
    let threads = a.threads.unwrap_or_else(rayon::current_num_threads);
    let mut torch = match &a.python {
        None => {
            eprintln!("bench train: no --python given, timing our side only (pass --python PY with PyTorch installed for the torch column)");
            None
        }
        Some(py) => match Torch::start(py, threads) {
            Ok((t, v)) => {
                eprintln!("bench train: PyTorch reference ready ({v})");
                Some(t)
            }
            Err(e) => {
                eprintln!("bench train: no PyTorch reference: {e}; timing our side only");
                None
            }
        },
    };
    eprintln!(
        "bench train: plain NSGAN step (1 D step + 1 G step, batch {}), medians of {} alternating rounds of ~{} s blocks; ours on {} rayon threads, PyTorch on {threads}",
        a.batch,
        a.rounds,
        a.block_s,
        rayon::current_num_threads()
    );
    println!("case,backend,ours_s_per_step,torch_s_per_step,ratio");
    for &kind in &backends {
        let device = if kind.is_cpu() { "cpu" } else { "cuda" };
        for &case in &a.cases {
            let mut ours = stepper(kind, case, a.batch)?;
            let n_ours = steps_for(a.block_s, ours.time(1));
            let mut theirs = None;
            if let Some(t) = torch.as_mut() {
                let r = t.params(case, device).and_then(|p| Ok((p, t.time(case, device, 1)?)));
                match r {
                    Ok((p, one)) => {
                        if p != ours.params {
                            eprintln!("bench train: warning: {} parameter counts differ, ours (G, D) = {:?}, PyTorch's {:?}", case.name(), ours.params, p);
                        }
                        theirs = Some(steps_for(a.block_s, one));
                    }
                    Err(e) => eprintln!("bench train: PyTorch reference failed on {} ({device}): {e:#}", case.name()),
                }
            }
            let (mut o, mut p) = (vec![], vec![]);
            for _ in 0..a.rounds {
                o.push(ours.time(n_ours));
                if let (Some(t), Some(n)) = (torch.as_mut(), theirs) {
                    match t.time(case, device, n) {
                        Ok(s) => p.push(s),
                        Err(e) => {
                            eprintln!("bench train: PyTorch reference failed on {} ({device}): {e:#}", case.name());
                            theirs = None;
                        }
                    }
                }
            }
            let (mo, mp) = (median(&o), median(&p));
            let fmt = |x: f64| if x.is_finite() { format!("{x:.6}") } else { String::new() };
            println!("{},{},{},{},{}", case.name(), kind.name(), fmt(mo), fmt(mp), fmt(mo / mp));
            let per_round: Vec<f64> = o.iter().zip(&p).map(|(x, y)| x / y).collect();
            eprintln!(
                "  {} ({}) on {}: ours s/step {} ({} steps per block); torch {}; per-round ratio {}",
                case.name(),
                case.describe(),
                kind.name(),
                spread(&o),
                n_ours,
                if p.is_empty() { "-".into() } else { format!("{} ({} steps per block)", spread(&p), theirs.unwrap_or(0)) },
                if per_round.is_empty() { "-".into() } else { spread(&per_round) },
            );
        }
    }
    Ok(())
}
