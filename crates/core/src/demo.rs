//! Demonstrations: the actions that solve an env from `reset(seed)`, written by Go-Explore
//! (and by hand), read by the trainer's privileged starts.
//!
//! A demo names what it replays on — env id, config overrides, reset seed — so that a file
//! alone reproduces the episode: restore nothing, reset with the seed, step the actions.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One action of a demonstration or a recorded episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DemoAction {
    /// A discrete action.
    Discrete(i64),
    /// A continuous action.
    Continuous(Vec<f32>),
}

impl DemoAction {
    /// The action as an env takes it.
    pub fn as_action(&self) -> crate::Action<'_> {
        match self {
            DemoAction::Discrete(a) => crate::Action::Discrete(*a),
            DemoAction::Continuous(v) => crate::Action::Continuous(v),
        }
    }
}

impl From<crate::Action<'_>> for DemoAction {
    /// An env's action kept (a multi-discrete one as its values in a vector).
    fn from(a: crate::Action<'_>) -> Self {
        match a {
            crate::Action::Discrete(a) => DemoAction::Discrete(a),
            crate::Action::MultiDiscrete(v) => {
                DemoAction::Continuous(v.iter().map(|&a| a as f32).collect())
            }
            crate::Action::Continuous(v) => DemoAction::Continuous(v.to_vec()),
        }
    }
}

/// A demonstration: the actions that solve `env` from `reset(seed)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Demo {
    /// Environment id.
    pub env: String,
    /// Reset seed.
    pub seed: u64,
    /// Env config overrides the demo was recorded with, if any.
    #[serde(default)]
    pub env_config: Option<serde_json::Value>,
    /// The actions.
    pub actions: Vec<DemoAction>,
    /// The return the demo collects (for reports).
    #[serde(default)]
    pub score: Option<f64>,
}

impl Demo {
    /// Read a demo file.
    pub fn load(path: &Path) -> Result<Self> {
        let what = path.display().to_string();
        let text = crate::files::read_text(path)?;
        let demo: Demo = serde_json::from_str(&text).map_err(|e| Error::Parse {
            source_name: what.clone(),
            line: e.line(),
            column: e.column(),
            message: format!("not a demo file: {e}"),
        })?;
        if demo.actions.is_empty() {
            return Err(Error::Config { what, message: "the demo has no actions".into() });
        }
        Ok(demo)
    }

    /// Write the demo (whole file, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(self, "demo", path)
    }

    /// The discrete actions as bytes (Go-Explore's action type); an error names the first
    /// action that is not one.
    pub fn discrete_bytes(&self) -> Result<Vec<u8>> {
        self.actions
            .iter()
            .enumerate()
            .map(|(i, a)| match a {
                DemoAction::Discrete(a) => u8::try_from(*a).map_err(|_| Error::Config {
                    what: "demo".into(),
                    message: format!("action {i} ({a}) is not a byte"),
                }),
                DemoAction::Continuous(_) => Err(Error::Config {
                    what: "demo".into(),
                    message: format!("action {i} is continuous; this needs discrete actions"),
                }),
            })
            .collect()
    }
}

/// Write `value` as JSON to `path`: the whole file under a temporary name, then renamed into
/// place, so a reader never sees half of it. `what` names it in errors.
pub(crate) fn write_json(value: &impl Serialize, what: &str, path: &Path) -> Result<()> {
    let io = |error| Error::Io { path: path.display().to_string(), error };
    let text = serde_json::to_string(value)
        .map_err(|e| Error::Config { what: what.into(), message: e.to_string() })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
