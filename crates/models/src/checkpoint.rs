//! Checkpoints as burn records (bincode, full f32 precision, so a resumed run is bit-identical).
//!
//! A checkpoint is a folder `<dir>/epoch-NNNNNN/` holding one file per part (generator,
//! discriminator, their optimizer states, the loop state as YAML). It is written into a
//! temporary folder first and renamed into place, so a crash leaves either the complete previous
//! checkpoint set or a stray `.tmp-*` folder that [`CheckpointDir::list`] ignores.

use burn::module::{AutodiffModule, Content, Devices, Module, ModuleDisplay, ModuleDisplayDefault, ModuleMapper, ModuleVisitor};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, PrecisionSettings, Record, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Failures reading or writing checkpoints; every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("checkpoint {path}: missing part `{part}`")]
    MissingPart { path: PathBuf, part: String },
    #[error("checkpoint record could not be decoded: {0}")]
    Decode(String),
    #[error("checkpoint state {path}: {msg}")]
    State { path: PathBuf, msg: String },
}

type Rec = BinBytesRecorder<FullPrecisionSettings>;

/// Serialises any burn record (module or optimizer state) to bytes at full precision.
pub fn record_to_bytes<B: Backend, R: Record<B>>(record: R) -> Vec<u8> {
    Recorder::<B>::record(&Rec::default(), record, ()).expect("bincode encoding of a record does not fail")
}

/// Reads a record written by [`record_to_bytes`].
pub fn record_from_bytes<B: Backend, R: Record<B>>(bytes: &[u8], device: &B::Device) -> Result<R, CheckpointError> {
    let bytes = bytes.to_vec();
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Recorder::<B>::load::<R>(&Rec::default(), bytes, device)))
        .map_err(|_| CheckpointError::Decode("the bytes do not hold a record of this module (different architecture?)".into()))?
        .map_err(|e| CheckpointError::Decode(e.to_string()))
}

/// An optional sub-module added as the **last** field of an existing module, so that records
/// written before the field existed still load. It encodes as an `Option` (a single 0 byte when
/// absent, at the very end of a bincode record) and decodes a record that ends before it as
/// absent — the same leniency burn's own `EmptyRecord` has for constant fields. A record that
/// holds the part but fails to decode is still an error. Loading a record without the part keeps
/// the part as initialised.
#[derive(Clone, Debug)]
pub struct Appended<M>(pub Option<M>);

impl<B: Backend, M: Module<B>> Module<B> for Appended<M> {
    type Record = AppendedRecord<M::Record>;

    fn visit<V: ModuleVisitor<B>>(&self, visitor: &mut V) {
        Module::visit(&self.0, visitor)
    }
    fn map<Mp: ModuleMapper<B>>(self, mapper: &mut Mp) -> Self {
        Appended(Module::map(self.0, mapper))
    }
    fn load_record(self, record: Self::Record) -> Self {
        match (self.0, record.0) {
            (Some(m), Some(r)) => Appended(Some(m.load_record(r))),
            (m, _) => Appended(m),
        }
    }
    fn into_record(self) -> Self::Record {
        AppendedRecord(self.0.map(Module::into_record))
    }
    fn to_device(self, device: &B::Device) -> Self {
        Appended(Module::to_device(self.0, device))
    }
    fn fork(self, device: &B::Device) -> Self {
        Appended(Module::fork(self.0, device))
    }
    fn collect_devices(&self, devices: Devices<B>) -> Devices<B> {
        Module::collect_devices(&self.0, devices)
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> AutodiffModule<B> for Appended<M> {
    type InnerModule = Appended<M::InnerModule>;
    fn valid(&self) -> Self::InnerModule {
        Appended(self.0.as_ref().map(|m| m.valid()))
    }
    fn from_inner(module: Self::InnerModule) -> Self {
        Appended(module.0.map(M::from_inner))
    }
}

impl<M: ModuleDisplay> ModuleDisplayDefault for Appended<M> {
    fn content(&self, content: Content) -> Option<Content> {
        self.0.content(content)
    }
}
impl<M: ModuleDisplay> ModuleDisplay for Appended<M> {}

/// The record of an [`Appended`] part.
#[derive(Clone, Debug)]
pub struct AppendedRecord<R>(pub Option<R>);

impl<B: Backend, R: Record<B>> Record<B> for AppendedRecord<R> {
    type Item<S: PrecisionSettings> = AppendedItem<R::Item<S>>;
    fn into_item<S: PrecisionSettings>(self) -> Self::Item<S> {
        AppendedItem(self.0.map(Record::into_item))
    }
    fn from_item<S: PrecisionSettings>(item: Self::Item<S>, device: &B::Device) -> Self {
        AppendedRecord(item.0.map(|i| R::from_item(i, device)))
    }
}

/// The serialised form of an [`AppendedRecord`].
#[derive(Clone, Debug)]
pub struct AppendedItem<T>(Option<T>);

impl<T: Serialize> Serialize for AppendedItem<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for AppendedItem<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use std::cell::Cell;
        struct V<'a, T>(&'a Cell<bool>, std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<'_, T> {
            type Value = Option<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an optional appended record")
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                self.0.set(true);
                Ok(None)
            }
            fn visit_some<D2: serde::Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
                self.0.set(true);
                T::deserialize(d).map(Some)
            }
        }
        // `entered` stays false only when not even the Option tag could be read: the record ended.
        let entered = Cell::new(false);
        match d.deserialize_option(V(&entered, std::marker::PhantomData)) {
            Ok(v) => Ok(AppendedItem(v)),
            Err(_) if !entered.get() => Ok(AppendedItem(None)),
            Err(e) => Err(e),
        }
    }
}

/// A folder of checkpoints, one sub-folder per saved epoch.
#[derive(Clone, Debug)]
pub struct CheckpointDir {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io { path: path.to_path_buf(), source }
}

impl CheckpointDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn epoch_dir(&self, epoch: usize) -> PathBuf {
        self.dir.join(format!("epoch-{epoch:06}"))
    }

    /// Writes the parts of the checkpoint of `epoch` atomically (temporary folder + rename),
    /// replacing an existing checkpoint of the same epoch.
    pub fn save(&self, epoch: usize, parts: &[(&str, Vec<u8>)]) -> Result<PathBuf, CheckpointError> {
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let final_dir = self.epoch_dir(epoch);
        let tmp = self.dir.join(format!(".epoch-{epoch:06}.tmp-{}", std::process::id()));
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        for (name, bytes) in parts {
            let p = tmp.join(name);
            fs::write(&p, bytes).map_err(io(&p))?;
        }
        if final_dir.exists() {
            let old = self.dir.join(format!(".epoch-{epoch:06}.old-{}", std::process::id()));
            fs::rename(&final_dir, &old).map_err(io(&final_dir))?;
            fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;
            fs::remove_dir_all(&old).map_err(io(&old))?;
        } else {
            fs::rename(&tmp, &final_dir).map_err(io(&final_dir))?;
        }
        Ok(final_dir)
    }

    /// Epochs with a complete checkpoint, ascending.
    pub fn list(&self) -> Vec<usize> {
        let Ok(rd) = fs::read_dir(&self.dir) else { return vec![] };
        let mut v: Vec<usize> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_prefix("epoch-")).and_then(|n| n.parse().ok()))
            .collect();
        v.sort_unstable();
        v
    }

    /// The newest complete checkpoint.
    pub fn latest(&self) -> Option<usize> {
        self.list().last().copied()
    }

    /// Reads every part of the checkpoint of `epoch`.
    pub fn load(&self, epoch: usize) -> Result<BTreeMap<String, Vec<u8>>, CheckpointError> {
        let d = self.epoch_dir(epoch);
        let mut parts = BTreeMap::new();
        for e in fs::read_dir(&d).map_err(io(&d))? {
            let e = e.map_err(io(&d))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = fs::read(e.path()).map_err(io(&d))?;
            parts.insert(name, bytes);
        }
        Ok(parts)
    }

    /// One part of a loaded checkpoint, or an error naming it.
    pub fn part<'a>(&self, epoch: usize, parts: &'a BTreeMap<String, Vec<u8>>, name: &str) -> Result<&'a [u8], CheckpointError> {
        parts
            .get(name)
            .map(|v| v.as_slice())
            .ok_or_else(|| CheckpointError::MissingPart { path: self.epoch_dir(epoch), part: name.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_is_atomic_and_ignores_stray_temporaries() {
        let root = std::env::temp_dir().join(format!("ckpt-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let c = CheckpointDir::new(&root);
        assert_eq!(c.latest(), None);
        c.save(2, &[("a", vec![1, 2]), ("b", vec![3])]).unwrap();
        c.save(4, &[("a", vec![9])]).unwrap();
        // A crash in the middle of a save leaves only a temporary folder.
        fs::create_dir_all(root.join(".epoch-000006.tmp-1")).unwrap();
        assert_eq!(c.list(), vec![2, 4]);
        assert_eq!(c.latest(), Some(4));
        let p = c.load(2).unwrap();
        assert_eq!(c.part(2, &p, "a").unwrap(), &[1, 2]);
        assert!(c.part(2, &p, "zz").unwrap_err().to_string().contains("zz"));
        c.save(4, &[("a", vec![7])]).unwrap();
        assert_eq!(c.load(4).unwrap()["a"], vec![7]);
        fs::remove_dir_all(&root).unwrap();
    }
}
