//! The run store: every trained run (one configuration, one seed) in a folder of its own, found
//! again from its settings, so that no item retrains what another item, an earlier call or
//! another machine (a Slurm array task on a shared file system) already trained.
//!
//! ```text
//! <root>/<kind>/<hash>/settings.yaml   kind, seed and the resolved settings; <hash> is the first
//!                                      16 hex digits of its SHA-256, so the name is checkable
//! <root>/<kind>/<hash>/...             whatever the run writes (records, checkpoints, samples)
//! <root>/<kind>/<hash>/finished.yaml   written last, atomically: the run is complete
//! <root>/<kind>/<hash>/.lock           held (OS file lock) by the one process training the run
//! ```
//!
//! A folder appears in one rename of a fully written temporary folder, and every file inside is
//! written through a temporary file and a rename ([`write_atomic`]): an interrupted process never
//! leaves a half-written settings file or record behind, and two processes racing to create the
//! same run end with one folder. Burn-free on purpose: it stores bytes, whatever trained them.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub mod table;

pub use table::Table;

/// Failures of the store; each names the folder or file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("run store {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(
        "run store folder {path}: its settings.yaml hashes to {found}, not to the folder's name; the folder was edited or copied by hand: remove it (the run is retrained) or restore its settings.yaml"
    )]
    Mismatch { path: PathBuf, found: String },
    #[error("run store folder {path}: settings.yaml is missing; remove the folder (the run is retrained)")]
    MissingSettings { path: PathBuf },
    #[error("run store: settings of a `{kind}` run cannot be written as YAML: {msg}")]
    Settings { kind: String, msg: String },
    #[error("run store folder {path}: another process is training this run (its .lock is held); wait for it or stop it")]
    Busy { path: PathBuf },
    #[error("{path}: {msg}")]
    Table { path: PathBuf, msg: String },
    #[error("invalid run kind {0:?}: use letters, digits and '-'")]
    Kind(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io { path: path.to_path_buf(), source }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so readers
/// see either the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(dir))?;
    let name = path.file_name().and_then(|s| s.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    fs::write(&tmp, bytes).map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

/// The identity of a run: what kind of run, its resolved settings and its seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunKey {
    pub kind: String,
    pub seed: u64,
    /// The exact text of `settings.yaml`.
    pub text: String,
}

impl RunKey {
    /// The key of a run of `kind` with `settings` (any serialisable value; struct fields keep
    /// their declaration order, so the text is stable) and `seed`.
    pub fn new(kind: &str, settings: &impl Serialize, seed: u64) -> Result<Self> {
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(StoreError::Kind(kind.to_string()));
        }
        let body = serde_yaml::to_string(settings)
            .map_err(|e| StoreError::Settings { kind: kind.to_string(), msg: e.to_string() })?;
        let indented: String = body.lines().map(|l| format!("  {l}\n")).collect();
        let text = format!("kind: {kind}\nseed: {seed}\nsettings:\n{indented}");
        Ok(Self { kind: kind.to_string(), seed, text })
    }

    /// First 16 hex digits of the SHA-256 of the settings text: the folder's name.
    pub fn hash(&self) -> String {
        hash_text(self.text.as_bytes())
    }
}

fn hash_text(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A run store rooted at a folder.
#[derive(Clone, Debug)]
pub struct RunStore {
    root: PathBuf,
}

impl RunStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$GAN_RUNS_DIR` if set, else `default` (the workspace's git-ignored `runs/`).
    pub fn from_env(default: impl Into<PathBuf>) -> Self {
        match std::env::var_os("GAN_RUNS_DIR") {
            Some(p) if !p.is_empty() => Self::new(PathBuf::from(p)),
            _ => Self::new(default),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of `key`, created (settings.yaml inside) if it does not exist yet, checked
    /// against its name if it does.
    pub fn open(&self, key: &RunKey) -> Result<RunDir> {
        let kind_dir = self.root.join(&key.kind);
        let path = kind_dir.join(key.hash());
        if !path.is_dir() {
            fs::create_dir_all(&kind_dir).map_err(io(&kind_dir))?;
            let tmp = kind_dir.join(format!(".tmp-{}-{}", key.hash(), std::process::id()));
            let _ = fs::remove_dir_all(&tmp);
            fs::create_dir_all(&tmp).map_err(io(&tmp))?;
            fs::write(tmp.join("settings.yaml"), &key.text).map_err(io(&tmp))?;
            if let Err(e) = fs::rename(&tmp, &path) {
                // Another process created it first: keep theirs.
                let _ = fs::remove_dir_all(&tmp);
                if !path.is_dir() {
                    return Err(StoreError::Io { path, source: e });
                }
            }
        }
        let dir = RunDir { path, key: key.clone() };
        dir.verify()?;
        Ok(dir)
    }

    /// Every run folder of `kind` (for assembling many-seed results), each verified.
    pub fn list(&self, kind: &str) -> Result<Vec<RunDir>> {
        let kind_dir = self.root.join(kind);
        let Ok(rd) = fs::read_dir(&kind_dir) else { return Ok(vec![]) };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if !p.is_dir() || name.starts_with('.') {
                continue;
            }
            let text = fs::read_to_string(p.join("settings.yaml")).map_err(|_| StoreError::MissingSettings { path: p.clone() })?;
            let seed = text
                .lines()
                .find_map(|l| l.strip_prefix("seed: "))
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            let dir = RunDir { path: p, key: RunKey { kind: kind.to_string(), seed, text } };
            dir.verify()?;
            out.push(dir);
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
}

/// One run's folder.
#[derive(Clone, Debug)]
pub struct RunDir {
    path: PathBuf,
    key: RunKey,
}

/// An exclusive hold on a run folder while a process trains it (released on drop).
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunDir {
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn key(&self) -> &RunKey {
        &self.key
    }
    /// `path/name`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The folder's settings.yaml must hash to its name (a folder edited by hand would
    /// otherwise be mistaken for the run its name promises).
    fn verify(&self) -> Result<()> {
        let p = self.file("settings.yaml");
        let bytes = fs::read(&p).map_err(|_| StoreError::MissingSettings { path: self.path.clone() })?;
        let found = hash_text(&bytes);
        let name = self.path.file_name().and_then(|s| s.to_str()).unwrap_or_default();
        if found != name {
            return Err(StoreError::Mismatch { path: self.path.clone(), found });
        }
        Ok(())
    }

    /// Whether the run completed ([`RunDir::finish`] was called).
    pub fn is_finished(&self) -> bool {
        self.file("finished.yaml").is_file()
    }

    /// The summary written by [`RunDir::finish`], if the run completed.
    pub fn finished_summary(&self) -> Option<String> {
        fs::read_to_string(self.file("finished.yaml")).ok()
    }

    /// Marks the run complete, with a YAML summary; written last, atomically.
    pub fn finish(&self, summary_yaml: &str) -> Result<()> {
        write_atomic(&self.file("finished.yaml"), summary_yaml.as_bytes())
    }

    /// Removes the finished marker (e.g. to extend a run with more epochs).
    pub fn unfinish(&self) -> Result<()> {
        let p = self.file("finished.yaml");
        if p.exists() {
            fs::remove_file(&p).map_err(io(&p))?;
        }
        Ok(())
    }

    /// Writes `bytes` to `name` inside the folder, atomically.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        write_atomic(&self.file(name), bytes)
    }

    /// Takes the run's training lock without waiting: a second process (another shard, another
    /// item in parallel) gets [`StoreError::Busy`] instead of training the same run twice.
    pub fn lock(&self) -> Result<RunLock> {
        let p = self.file(".lock");
        let f = File::options().create(true).truncate(false).write(true).open(&p).map_err(io(&p))?;
        match f.try_lock() {
            Ok(()) => Ok(RunLock { _file: f }),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Busy { path: self.path.clone() }),
            Err(fs::TryLockError::Error(e)) => Err(StoreError::Io { path: p, source: e }),
        }
    }

    /// Reads the table `name` (CSV) of the run, if it exists.
    pub fn read_table(&self, name: &str) -> Result<Option<Table>> {
        let p = self.file(name);
        match fs::read_to_string(&p) {
            Ok(s) => Table::parse_csv(&s, &p).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io { path: p, source: e }),
        }
    }

    /// Writes the table `name` (CSV) atomically.
    pub fn write_table(&self, name: &str, t: &Table) -> Result<()> {
        self.write(name, t.to_csv().as_bytes())
    }
}

/// Splits seeds among shards: `i/n` takes every seed whose position is congruent to i mod n.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (a, b) = s.split_once('/').ok_or_else(|| format!("--shard {s:?}: expected i/n, e.g. 0/4"))?;
        let index: usize = a.trim().parse().map_err(|_| format!("--shard {s:?}: {a:?} is not a number"))?;
        let count: usize = b.trim().parse().map_err(|_| format!("--shard {s:?}: {b:?} is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("--shard {s:?}: need 0 <= i < n and n >= 1"));
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// Whether the item at `position` (0-based) belongs to this shard.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    struct S {
        lr: f64,
        widths: Vec<usize>,
        name: String,
    }

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("run-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        p
    }

    #[test]
    fn same_settings_and_seed_find_the_same_folder() {
        let root = tmp("same");
        let store = RunStore::new(&root);
        let s = S { lr: 2e-4, widths: vec![16, 32], name: "mnist".into() };
        let a = store.open(&RunKey::new("image", &s, 3).unwrap()).unwrap();
        a.write("record.csv", b"epoch\n1\n").unwrap();
        let b = store.open(&RunKey::new("image", &s, 3).unwrap()).unwrap();
        assert_eq!(a.path(), b.path());
        assert!(b.file("record.csv").is_file(), "reopened folder keeps its files");
        let c = store.open(&RunKey::new("image", &s, 4).unwrap()).unwrap();
        assert_ne!(a.path(), c.path(), "another seed is another run");
        let d = store.open(&RunKey::new("image", &S { lr: 1e-4, ..s }, 3).unwrap()).unwrap();
        assert_ne!(a.path(), d.path(), "other settings are another run");
        assert_eq!(store.list("image").unwrap().len(), 3);
        fs::remove_dir_all(&root).unwrap();
    }

    /// The hash is part of the on-disk format: a change would orphan every stored run.
    #[test]
    fn hash_is_stable() {
        let s = S { lr: 0.5, widths: vec![1, 2], name: "x".into() };
        let k = RunKey::new("gmm", &s, 7).unwrap();
        assert_eq!(k.text, "kind: gmm\nseed: 7\nsettings:\n  lr: 0.5\n  widths:\n  - 1\n  - 2\n  name: x\n");
        assert_eq!(k.hash(), hash_text(k.text.as_bytes()));
        assert_eq!(k.hash(), "977edd7c34524162");
        assert_eq!(k.hash().len(), 16);
        assert_eq!(RunKey::new("gmm", &s, 7).unwrap().hash(), k.hash());
    }

    #[test]
    fn edited_settings_are_refused_with_the_folder_named() {
        let root = tmp("edited");
        let store = RunStore::new(&root);
        let key = RunKey::new("image", &S { lr: 1.0, widths: vec![], name: "a".into() }, 1).unwrap();
        let dir = store.open(&key).unwrap();
        fs::write(dir.file("settings.yaml"), "kind: image\nseed: 2\n").unwrap();
        let e = store.open(&key).unwrap_err().to_string();
        assert!(e.contains(&key.hash()) && e.contains("not to the folder's name"), "{e}");
        fs::remove_file(dir.file("settings.yaml")).unwrap();
        assert!(store.open(&key).unwrap_err().to_string().contains("settings.yaml is missing"));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let root = tmp("lock");
        let store = RunStore::new(&root);
        let dir = store.open(&RunKey::new("image", &1u8, 1).unwrap()).unwrap();
        let l = dir.lock().unwrap();
        assert!(matches!(dir.lock(), Err(StoreError::Busy { .. })));
        drop(l);
        assert!(dir.lock().is_ok());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn finish_marks_complete() {
        let root = tmp("finish");
        let dir = RunStore::new(&root).open(&RunKey::new("image", &1u8, 1).unwrap()).unwrap();
        assert!(!dir.is_finished());
        dir.finish("epochs: 3\n").unwrap();
        assert!(dir.is_finished());
        assert_eq!(dir.finished_summary().unwrap(), "epochs: 3\n");
        dir.unfinish().unwrap();
        assert!(!dir.is_finished());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn shard_specs() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!((0..7).filter(|p| s.takes(*p)).collect::<Vec<_>>(), vec![1, 4]);
        for bad in ["3/2", "0/0", "1", "a/2", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        // every position belongs to exactly one shard
        for p in 0..20 {
            assert_eq!((0..4).filter(|i| Shard { index: *i, count: 4 }.takes(p)).count(), 1);
        }
    }
}
