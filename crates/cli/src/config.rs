//! Env configs from the command line: `--config FILE` (TOML or JSON) and `--set key=value`.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// Read a config file (TOML by extension `.toml`, else JSON) into a config tree, with the
/// parser's line and column on error.
pub fn load(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    if is_toml {
        let v: toml::Value =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(serde_json::to_value(v)?)
    } else {
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
    }
}

/// Merge `key=value` overrides (values parsed as JSON, else taken as strings).
pub fn apply_sets(mut base: Value, sets: &[String]) -> Result<Value> {
    if sets.is_empty() {
        return Ok(base);
    }
    if base.is_null() {
        base = Value::Object(serde_json::Map::new());
    }
    let Value::Object(map) = &mut base else { bail!("config must be a table to apply --set") };
    for s in sets {
        let Some((k, v)) = s.split_once('=') else { bail!("--set expects key=value, got `{s}`") };
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned()));
        map.insert(k.trim().to_owned(), value);
    }
    Ok(base)
}

/// The config tree for an env from the optional file and overrides.
pub fn env_config(file: Option<&Path>, sets: &[String]) -> Result<Value> {
    let base = match file {
        Some(p) => load(p)?,
        None => Value::Null,
    };
    apply_sets(base, sets)
}
