//! The environment registry: versioned ids built from typed configs.
//!
//! An entry maps an id such as `MiniGrid-DoorKey-8x8-v0` to a factory that takes a config
//! tree (`serde_json::Value`, which TOML and JSON both deserialize into) and returns a boxed
//! [`Env`]. Each family deserializes the tree into its own config struct with defaults and
//! `deny_unknown_fields`, so a typo in a config is an error that names the field. An unknown
//! id fails with the closest registered ids (edit distance).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::{Env, Error, Result};

type Factory = Arc<dyn Fn(&Value) -> Result<Box<dyn Env>> + Send + Sync>;

/// One registered environment id.
#[derive(Clone)]
pub struct EnvEntry {
    /// Versioned id.
    pub id: String,
    /// Family name (`minigrid`, `montezuma`, `noisy-tv`, `bandit`, ...).
    pub family: String,
    /// One line on what it is.
    pub description: String,
    factory: Factory,
}

impl std::fmt::Debug for EnvEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvEntry")
            .field("id", &self.id)
            .field("family", &self.family)
            .finish_non_exhaustive()
    }
}

/// Makes environments: a fresh env with the factory's own config, or, given a config, with that
/// one instead (a demonstration replays on the config it was recorded with). The trainer,
/// Go-Explore and text trainers all take one; [`Registry::factory`] makes one.
pub type EnvFactory<'a> = dyn Fn(Option<&Value>) -> Result<Box<dyn Env>> + Send + Sync + 'a;

/// Registered environment ids.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    entries: BTreeMap<String, EnvEntry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register an id. A later registration of the same id replaces the earlier one.
    pub fn register(
        &mut self,
        id: &str,
        family: &str,
        description: &str,
        factory: impl Fn(&Value) -> Result<Box<dyn Env>> + Send + Sync + 'static,
    ) {
        self.entries.insert(
            id.to_owned(),
            EnvEntry {
                id: id.to_owned(),
                family: family.to_owned(),
                description: description.to_owned(),
                factory: Arc::new(factory),
            },
        );
    }

    /// Build an env with its default config.
    pub fn make(&self, id: &str) -> Result<Box<dyn Env>> {
        self.make_with(id, &Value::Null)
    }

    /// Build an env from a config tree (`Null` or `{}` for defaults).
    pub fn make_with(&self, id: &str, config: &Value) -> Result<Box<dyn Env>> {
        let entry = self.entry(id)?;
        (entry.factory)(config)
    }

    /// A factory of `id` envs with `config` (`None`: the defaults) that a trainer, Go-Explore
    /// or a text trainer can own; the config it is called with, if any, replaces `config`.
    pub fn factory(self, id: &str, config: Option<Value>) -> Box<EnvFactory<'static>> {
        let id = id.to_owned();
        Box::new(move |over: Option<&Value>| match over.or(config.as_ref()) {
            Some(c) => self.make_with(&id, c),
            None => self.make(&id),
        })
    }

    /// The entry of an id, or an error listing the closest ids.
    pub fn entry(&self, id: &str) -> Result<&EnvEntry> {
        self.entries.get(id).ok_or_else(|| Error::UnknownEnv {
            id: id.to_owned(),
            suggestions: self.closest(id, 3),
        })
    }

    /// All ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// All entries, sorted by id.
    pub fn entries(&self) -> impl Iterator<Item = &EnvEntry> {
        self.entries.values()
    }

    /// The `n` registered ids closest to `id` by case-insensitive edit distance.
    pub fn closest(&self, id: &str, n: usize) -> Vec<String> {
        let query = id.to_ascii_lowercase();
        let mut scored: Vec<(usize, &str)> = self
            .entries
            .keys()
            .map(|k| (edit_distance(&query, &k.to_ascii_lowercase()), k.as_str()))
            .collect();
        scored.sort_unstable();
        scored.into_iter().take(n).map(|(_, k)| k.to_owned()).collect()
    }
}

/// Deserialize a family config from a tree, naming the env on error. `Null` means defaults.
pub fn parse_config<T: serde::de::DeserializeOwned + Default>(
    id: &str,
    config: &Value,
) -> Result<T> {
    if config.is_null() {
        return Ok(T::default());
    }
    serde_json::from_value(config.clone())
        .map_err(|e| Error::Config { what: id.to_owned(), message: e.to_string() })
}

/// Deserialize a family config whose defaults depend on the id: the keys of `config` (a
/// table, or `Null` for none) override the fields of `defaults`; unknown keys are errors.
pub fn merge_config<T>(id: &str, defaults: &T, config: &Value) -> Result<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Default,
{
    let bad = |message: String| Error::Config { what: id.to_owned(), message };
    let mut base = serde_json::to_value(defaults).map_err(|e| bad(e.to_string()))?;
    match (config, &mut base) {
        (Value::Null, _) => {}
        (Value::Object(o), Value::Object(b)) => b.extend(o.clone()),
        (other, _) => return Err(bad(format!("config must be a table, got {other}"))),
    }
    parse_config(id, &base)
}

/// Levenshtein distance over bytes.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
