//! Item settings: one YAML file per item under `experiments/configs/<id>.yaml`.
//!
//! A file holds the item's settings at top level and, optionally, a `profiles:` map whose `ci` /
//! `paper` entries override some of them for that profile. Command-line `--set key=value` pairs
//! (value parsed as YAML) override last. The merged map is deserialised into the item's typed
//! settings struct, which denies unknown keys, so a typo is an error naming the key and the file.

use anyhow::{anyhow, bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// What two CPU cores do in minutes (theory items are exact in every profile).
    Ci,
    /// The paper's own settings (image items need a CUDA GPU).
    Paper,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Ci => "ci",
            Profile::Paper => "paper",
        }
    }
}

/// Where item configs live: `--config-dir`, else the source tree's `experiments/configs`.
pub fn default_config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("configs")
}

/// Parses `key=value` (value as YAML: `3`, `0.5`, `[1, 2]`, `true`, `text`).
pub fn parse_override(s: &str) -> Result<(String, Value)> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("--set {s:?}: expected key=value, e.g. --set t_end=2.5"))?;
    let value: Value =
        serde_yaml::from_str(v).with_context(|| format!("--set {k}: value {v:?} is not valid YAML"))?;
    Ok((k.trim().to_string(), value))
}

/// Loads `<dir>/<id>.yaml`, applies the profile's overrides and then `overrides`, and
/// deserialises into `T`.
pub fn load<T: DeserializeOwned>(
    dir: &Path,
    id: &str,
    profile: Profile,
    overrides: &[(String, Value)],
) -> Result<T> {
    let path = dir.join(format!("{id}.yaml"));
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: cannot read the settings of item {id}; restore the file or pass --config-dir",
            path.display()
        )
    })?;
    merge_and_parse(&text, &path.display().to_string(), profile, overrides)
}

pub fn merge_and_parse<T: DeserializeOwned>(
    text: &str,
    origin: &str,
    profile: Profile,
    overrides: &[(String, Value)],
) -> Result<T> {
    let doc: Value = serde_yaml::from_str(text).with_context(|| format!("{origin}: not valid YAML"))?;
    let mut map: Mapping = match doc {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => bail!("{origin}: expected a mapping of settings at top level"),
    };
    if let Some(profiles) = map.remove("profiles") {
        let Value::Mapping(profiles) = profiles else {
            bail!("{origin}: `profiles` must map ci/paper to settings");
        };
        for (k, v) in profiles {
            let name = k.as_str().unwrap_or_default();
            if name != "ci" && name != "paper" {
                bail!("{origin}: unknown profile `{name}` under `profiles` (valid: ci, paper)");
            }
            if name == profile.name() {
                let Value::Mapping(v) = v else {
                    bail!("{origin}: profiles.{name} must be a mapping");
                };
                for (k2, v2) in v {
                    if !map.contains_key(&k2) {
                        bail!(
                            "{origin}: profiles.{name} overrides `{}`, which is not a setting of this item",
                            k2.as_str().unwrap_or("?")
                        );
                    }
                    map.insert(k2, v2);
                }
            }
        }
    }
    for (k, v) in overrides {
        if !map.contains_key(k.as_str()) {
            let keys: Vec<&str> = map.keys().filter_map(|k| k.as_str()).collect();
            bail!("--set {k}: unknown setting for this item (valid: {})", keys.join(", "));
        }
        map.insert(Value::String(k.clone()), v.clone());
    }
    serde_yaml::from_value(Value::Mapping(map))
        .map_err(|e| anyhow!("{origin}: {e}; fix or remove that key (see the item's YAML file for the valid ones)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct S {
        a: f64,
        b: Vec<f64>,
    }

    #[test]
    fn profile_and_command_line_override_in_order() {
        let y = "a: 1.0\nb: [1]\nprofiles:\n  paper:\n    a: 2.0\n";
        let s: S = merge_and_parse(y, "t.yaml", Profile::Paper, &[]).unwrap();
        assert_eq!(s.a, 2.0);
        let s: S = merge_and_parse(y, "t.yaml", Profile::Ci, &[parse_override("a=3").unwrap()]).unwrap();
        assert_eq!(s.a, 3.0);
        assert_eq!(s.b, vec![1.0]);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = merge_and_parse::<S>("a: 1\nb: []\nbogus: 2\n", "t.yaml", Profile::Ci, &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("t.yaml") && msg.contains("bogus"), "{msg}");
        let e = merge_and_parse::<S>("a: 1\nb: []\n", "t.yaml", Profile::Ci, &[parse_override("c=1").unwrap()])
            .unwrap_err();
        assert!(e.to_string().contains("--set c"), "{e}");
    }

    #[test]
    fn bad_override_syntax_is_explained() {
        assert!(parse_override("novalue").unwrap_err().to_string().contains("key=value"));
    }
}
