//! Configs from files and the command line, with one grammar for `--set key=value` everywhere
//! (`bench`, `play`, `explore`, `train`):
//!
//! - the key is dotted: `policy.hidden=[64]` lands in the `policy` table, and several `--set`s
//!   into one table all apply (`policy.head=…` then `policy.hidden=…` keep both);
//! - the value is TOML (`5`, `1e-3`, `true`, `[8, 8]`, `{ d_model = 32 }`, `"text"`), or a JSON
//!   object or array (`{"width": 24}`); anything else is taken as a string
//!   (`level=my_level.txt`).
//!
//! Files are TOML (by the `.toml` extension) or JSON, and parse errors carry line and column.

use std::path::Path;

use serde_json::Value;

use crate::error::{bail, Context as _, Error, Result};

/// One `--set key=value` as a TOML table (`a.b=1` is `{ a = { b = 1 } }`).
pub fn parse_set(set: &str) -> Result<toml::Table> {
    let Some((key, value)) = set.split_once('=') else {
        bail!("--set expects key=value, got `{set}`")
    };
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|k| k.trim().is_empty()) {
        bail!("--set {set}: the key must be names joined by dots");
    }
    if let Ok(table) = toml::from_str(&format!("{key} = {value}")) {
        return Ok(table);
    }
    // JSON values (`{"a": 1}`) as well, as env configs are often written; then a plain string.
    let as_json = serde_json::from_str::<serde_json::Value>(value)
        .ok()
        .and_then(|v| toml::Value::try_from(v).ok())
        .filter(|v| v.is_table() || v.is_array());
    let value = as_json.unwrap_or_else(|| toml::Value::String(value.to_owned()));
    toml::from_str(&format!("{key} = {value}"))
        .map_err(|e| Error::Invalid(format!("--set {set}: {e}")))
}

/// Merge `over` into `base`, table by table.
pub fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Merge JSON object `over` into `base`, object by object.
fn merge_json(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge_json(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Apply `--set`s to a TOML table.
pub fn apply_sets_toml(table: &mut toml::Table, sets: &[String]) -> Result<()> {
    for s in sets {
        merge_tables(table, parse_set(s)?);
    }
    Ok(())
}

/// Apply `--set`s to a JSON config tree (an env's config); `null` becomes an object.
pub fn apply_sets(mut base: Value, sets: &[String]) -> Result<Value> {
    if sets.is_empty() {
        return Ok(base);
    }
    if base.is_null() {
        base = Value::Object(serde_json::Map::new());
    }
    if !base.is_object() {
        bail!("config must be a table to apply --set");
    }
    for s in sets {
        let over = serde_json::to_value(parse_set(s)?)?;
        merge_json(&mut base, over);
    }
    Ok(base)
}

/// Read a config file (TOML by extension `.toml`, else JSON) into a config tree, with the
/// parser's line and column on error.
pub fn load(path: &Path) -> Result<Value> {
    let text = spelunk_core::files::read_text(path)?;
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    if is_toml {
        let v: toml::Value = toml::from_str(&text)
            .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
        Ok(serde_json::to_value(v)?)
    } else {
        serde_json::from_str(&text).map_err(|e| {
            Error::Invalid(format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))
        })
    }
}

/// The config tree for an env from the optional file and overrides.
pub fn env_config(file: Option<&Path>, sets: &[String]) -> Result<Value> {
    let base = match file {
        Some(p) => load(p)?,
        None => Value::Null,
    };
    apply_sets(base, sets)
}

/// A TOML table from a file, or an empty one.
pub fn load_table(path: Option<&Path>) -> Result<toml::Table> {
    match path {
        Some(p) => {
            let text = spelunk_core::files::read_text(p)?;
            toml::from_str(&text).map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))
        }
        None => Ok(toml::Table::new()),
    }
}

/// A typed config from a table (a file's, or built in) with `--set`s merged over it; errors
/// name the file (or `<defaults>`) and the key.
pub fn typed_from<T: serde::de::DeserializeOwned>(
    mut table: toml::Table,
    path: Option<&Path>,
    sets: &[String],
) -> Result<T> {
    apply_sets_toml(&mut table, sets)?;
    toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| {
        let name = path.map_or("<defaults>".into(), |p| p.display().to_string());
        Error::Invalid(format!("config {name}: {e}"))
    })
}

/// A validated training config from an optional TOML file and `--set`s.
pub fn train_config(path: Option<&Path>, sets: &[String]) -> Result<spelunk_grpo::TrainConfig> {
    train_config_from(load_table(path)?, path, sets)
}

/// A run config from `file` when given, else from a built-in config's text (`name` for its
/// errors), with `--set` overrides either way.
pub fn train_config_or(
    file: Option<&Path>,
    builtin: &str,
    name: &str,
    sets: &[String],
) -> Result<spelunk_grpo::TrainConfig> {
    if let Some(p) = file {
        return train_config(Some(p), sets);
    }
    let table: toml::Table =
        toml::from_str(builtin).map_err(|e| Error::Invalid(format!("{name}: {e}")))?;
    train_config_from(table, None, sets)
}

/// A validated training config from a table with `--set`s merged over it.
pub fn train_config_from(
    table: toml::Table,
    path: Option<&Path>,
    sets: &[String],
) -> Result<spelunk_grpo::TrainConfig> {
    let cfg: spelunk_grpo::TrainConfig = typed_from(table, path, sets)?;
    cfg.validate().context("config")?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_sets_under_one_table_all_apply() {
        let sets = [
            "policy.head=\"transformer\"".to_owned(),
            "policy.transformer={d_model=32,heads=2}".to_owned(),
            "policy.hidden=[8]".to_owned(),
        ];
        let cfg = train_config(None, &sets).expect("config");
        assert_eq!(cfg.policy.head, spelunk_models::policy::Head::Transformer);
        assert_eq!(cfg.policy.transformer.d_model, 32);
        assert_eq!(cfg.policy.hidden, vec![8]);
    }

    #[test]
    fn env_sets_use_the_same_grammar() {
        let sets =
            ["level=examples/my level.txt".to_owned(), "a.b=2".to_owned(), "a.c=true".to_owned()];
        let v = apply_sets(Value::Null, &sets).expect("sets");
        assert_eq!(
            v,
            serde_json::json!({"level": "examples/my level.txt", "a": {"b": 2, "c": true}})
        );
        assert!(apply_sets(Value::Null, &["novalue".to_owned()]).is_err());
        assert!(apply_sets(Value::Null, &[".x=1".to_owned()]).is_err());
    }
}
