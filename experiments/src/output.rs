//! Writing an item's outputs: every item writes into a staging folder that replaces
//! `figures/<id>/` in one rename once the item has succeeded, so a failed or interrupted run never
//! leaves a half-written figure set behind. Single files outside item folders (the index, the
//! ledger) go through [`write_atomic`].

use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use polars::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

use crate::plot::{self, Area};

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming into {}", path.display()))?;
    Ok(())
}

/// One file an item produced, as recorded in its `meta.yaml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub caption: String,
}

/// What the index needs to know about one item's last run (`figures/<id>/meta.yaml`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ItemMeta {
    pub id: String,
    pub title: String,
    pub profile: String,
    /// How the profile applies: theory items are exact and identical in every profile.
    pub scale: String,
    pub seed: u64,
    pub command: String,
    pub images: Vec<FileEntry>,
    pub data: Vec<FileEntry>,
    /// Markdown blocks shown in the index under the images (tables, measured findings).
    pub markdown: Vec<String>,
}

/// Collects an item's outputs in its staging folder.
pub struct ItemOutput {
    staging: PathBuf,
    final_dir: PathBuf,
    meta: ItemMeta,
}

/// A column of a CSV table.
pub enum Col {
    F64(Vec<f64>),
    Str(Vec<String>),
    I64(Vec<i64>),
}

impl From<Vec<f64>> for Col {
    fn from(v: Vec<f64>) -> Self {
        Col::F64(v)
    }
}
impl From<Vec<String>> for Col {
    fn from(v: Vec<String>) -> Self {
        Col::Str(v)
    }
}
impl From<Vec<&str>> for Col {
    fn from(v: Vec<&str>) -> Self {
        Col::Str(v.into_iter().map(String::from).collect())
    }
}
impl From<Vec<i64>> for Col {
    fn from(v: Vec<i64>) -> Self {
        Col::I64(v)
    }
}

/// Builds a polars data frame from named columns of equal length.
pub fn frame(cols: Vec<(&str, Col)>) -> Result<DataFrame> {
    let columns: Vec<Column> = cols
        .into_iter()
        .map(|(name, c)| match c {
            Col::F64(v) => Column::new(name.into(), v),
            Col::Str(v) => Column::new(name.into(), v),
            Col::I64(v) => Column::new(name.into(), v),
        })
        .collect();
    Ok(DataFrame::new(columns)?)
}

/// Serialises a data frame as CSV with a header line.
pub fn csv_bytes(df: &mut DataFrame) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    CsvWriter::new(&mut buf).include_header(true).finish(df)?;
    Ok(buf)
}

impl ItemOutput {
    pub fn new(out_root: &Path, id: &str, title: &str, profile: &str, scale: &str, seed: u64, command: &str) -> Result<Self> {
        let final_dir = out_root.join(id);
        let staging = out_root.join(format!(".{id}.staging-{}", std::process::id()));
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(&staging).with_context(|| format!("creating {}", staging.display()))?;
        Ok(Self {
            staging,
            final_dir,
            meta: ItemMeta {
                id: id.into(),
                title: title.into(),
                profile: profile.into(),
                scale: scale.into(),
                seed,
                command: command.into(),
                images: vec![],
                data: vec![],
                markdown: vec![],
            },
        })
    }

    fn check_name(&self, name: &str) -> Result<()> {
        if name.contains('/') || name.starts_with('.') {
            bail!("output name {name:?} must be a plain file name");
        }
        Ok(())
    }

    /// Writes a CSV table.
    pub fn csv(&mut self, name: &str, caption: &str, mut df: DataFrame) -> Result<()> {
        self.check_name(name)?;
        fs::write(self.staging.join(name), csv_bytes(&mut df)?)?;
        self.meta.data.push(FileEntry { name: name.into(), caption: caption.into() });
        Ok(())
    }

    /// Writes a plain text / markdown file next to the figures.
    pub fn text(&mut self, name: &str, caption: &str, body: &str) -> Result<()> {
        self.check_name(name)?;
        fs::write(self.staging.join(name), body)?;
        self.meta.data.push(FileEntry { name: name.into(), caption: caption.into() });
        Ok(())
    }

    /// Adds a markdown block (a table, a measured finding) to the item's entry in the index.
    pub fn markdown(&mut self, block: impl Into<String>) {
        self.meta.markdown.push(block.into());
    }

    /// Renders a figure of `w` x `h` pixels with `draw` and writes it as PNG. The footer names the
    /// item, profile and seed so a picture never travels without its provenance.
    pub fn png<F>(&mut self, name: &str, caption: &str, (w, h): (u32, u32), draw: F) -> Result<()>
    where
        F: FnOnce(&Area) -> Result<()>,
    {
        self.check_name(name)?;
        plot::ensure_fonts();
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE).map_err(plot::err)?;
            let (body, footer) = root.split_vertically(h - 22);
            draw(&body)?;
            let stamp = format!(
                "{} | profile: {} ({}) | seed {} | {}",
                self.meta.id, self.meta.profile, self.meta.scale, self.meta.seed, self.meta.command
            );
            footer
                .draw_text(&stamp, &plot::font(13).color(&RGBColor(90, 90, 90)), (8, 4))
                .map_err(plot::err)?;
            root.present().map_err(plot::err)?;
        }
        let img = image::RgbImage::from_raw(w, h, buf).context("image buffer size")?;
        img.save_with_format(self.staging.join(name), image::ImageFormat::Png)
            .with_context(|| format!("encoding {name}"))?;
        self.meta.images.push(FileEntry { name: name.into(), caption: caption.into() });
        Ok(())
    }

    /// Moves the staging folder into place (replacing the previous run) and writes `meta.yaml`.
    pub fn commit(self) -> Result<ItemMeta> {
        // Every item leaves a picture and the data behind it (SPEC: "its picture(s) AND the data").
        if self.meta.images.is_empty() || !self.meta.data.iter().any(|d| d.name.ends_with(".csv")) {
            bail!("item {} must write at least one PNG and one CSV", self.meta.id);
        }
        fs::write(self.staging.join("meta.yaml"), serde_yaml::to_string(&self.meta)?)?;
        let old = self
            .final_dir
            .with_file_name(format!(".{}.old-{}", self.meta.id, std::process::id()));
        if self.final_dir.exists() {
            fs::rename(&self.final_dir, &old)?;
        }
        fs::rename(&self.staging, &self.final_dir)
            .with_context(|| format!("moving outputs into {}", self.final_dir.display()))?;
        if old.exists() {
            fs::remove_dir_all(&old)?;
        }
        Ok(self.meta)
    }

    /// Removes the staging folder of a failed item.
    pub fn abandon(self) {
        let _ = fs::remove_dir_all(&self.staging);
    }
}

/// Reads `figures/<id>/meta.yaml` if an earlier run left one.
pub fn read_meta(out_root: &Path, id: &str) -> Option<ItemMeta> {
    let s = fs::read_to_string(out_root.join(id).join("meta.yaml")).ok()?;
    serde_yaml::from_str(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_item_leaves_previous_outputs_untouched() {
        let root = std::env::temp_dir().join(format!("exp-out-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let mut a = ItemOutput::new(&root, "x", "t", "ci", "exact", 1, "cmd").unwrap();
        a.text("a.txt", "first", "1").unwrap();
        assert!(a.commit().is_err(), "an item without PNG and CSV must not commit");
        let mut a = ItemOutput::new(&root, "x", "t", "ci", "exact", 1, "cmd").unwrap();
        a.text("a.txt", "first", "1").unwrap();
        a.csv("a.csv", "c", frame(vec![("v", vec![1.0].into())]).unwrap()).unwrap();
        a.png("a.png", "p", (200, 100), |_| Ok(())).unwrap();
        a.commit().unwrap();
        let mut b = ItemOutput::new(&root, "x", "t", "ci", "exact", 2, "cmd").unwrap();
        b.text("a.txt", "second", "2").unwrap();
        b.abandon();
        assert_eq!(fs::read_to_string(root.join("x/a.txt")).unwrap(), "1");
        assert_eq!(read_meta(&root, "x").unwrap().seed, 1);
        let leftovers: Vec<_> = fs::read_dir(&root).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging folder left behind");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn csv_has_header_and_rows() {
        let mut df = frame(vec![("t", vec![0.0, 1.5].into()), ("name", vec!["a", "b"].into())]).unwrap();
        let s = String::from_utf8(csv_bytes(&mut df).unwrap()).unwrap();
        assert_eq!(s, "t,name\n0.0,a\n1.5,b\n");
    }
}
