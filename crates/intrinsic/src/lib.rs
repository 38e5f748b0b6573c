//! `spelunk-intrinsic`: exploration bonuses behind one [`IntrinsicReward`] trait, and
//! empowerment.
//!
//! - [`counts`]: count-based bonuses `β / √n(s)`, tabular (exact states) and hashed
//!   (SimHash pseudo-counts, Tang et al. 2017).
//! - [`distill`]: RND and RDD, a predictor distilling a fixed random network (with noisy
//!   targets for RDD).
//! - [`icm`]: the Intrinsic Curiosity Module's forward-model error.
//! - [`byol`]: BYOL-Explore's latent prediction error, and Curiosity in Hindsight, which
//!   explains away the unpredictable part of the next state with a hindsight variable.
//! - [`empowerment`]: exact n-step empowerment by Blahut–Arimoto channel capacity over an
//!   environment's snapshots, as a reward and as a map.
//! - [`goexplore`]: Go-Explore's archive of cells, returned to by restoring snapshots and
//!   explored from with repeated random actions; domain-knowledge and downscaled-pixel cells.
//! - [`novelty`]: novelty search over neural controllers, TAXONS' learned behaviour space,
//!   SERENE's reward emitters and STAX, with the STAX paper's tasks (deceptive maze,
//!   redundant arm, curling table) and metrics (coverage, uniformity, reward areas).
//! - [`factory`]: every bonus module built by name ([`make_bonus`]), the one place the
//!   trainer and the experiments make them.
//! - [`normalize`]: the normalisations a bonus stream can use (none, running std of the
//!   discounted intrinsic return as RND does, EMA mean/std), and [`BonusStream`], which keeps
//!   an intrinsic stream apart from the extrinsic reward with its own coefficient and decay.
//!
//! Observations enter as flat `f32` rows (`[batch, obs_dim]`); byte observations are
//! converted by the caller (`ObsBuf` → `f32`). NaN or infinite inputs are errors, never a
//! silent NaN bonus.

pub mod byol;
pub mod counts;
pub mod distill;
pub mod empowerment;
pub mod error;
pub mod factory;
pub mod goexplore;
pub mod icm;
mod neural;
pub mod normalize;
pub mod novelty;

pub use error::{Error, Result};
pub use factory::{make_bonus, BonusKind, BonusSpec};
pub use normalize::{BonusStream, Normalization};

/// The actions of a batch of transitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BatchActions<'a> {
    /// One discrete action per transition.
    Discrete(&'a [i64]),
    /// `dims` continuous values per transition.
    Continuous {
        /// `[batch, dims]` values.
        values: &'a [f32],
        /// Values per transition.
        dims: usize,
    },
}

/// A batch of transitions `(s, a, s')`, observations flattened to `f32`.
#[derive(Clone, Copy, Debug)]
pub struct Batch<'a> {
    /// `[len, obs_dim]` observations before the step.
    pub obs: &'a [f32],
    /// The actions taken.
    pub actions: BatchActions<'a>,
    /// `[len, obs_dim]` observations after the step.
    pub next_obs: &'a [f32],
    /// Values per observation.
    pub obs_dim: usize,
}

impl Batch<'_> {
    /// Number of transitions.
    pub fn len(&self) -> usize {
        self.next_obs.len().checked_div(self.obs_dim).unwrap_or(0)
    }
    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Check shapes against a module's `obs_dim` and reject non-finite inputs.
    pub fn validate(&self, module: &'static str, obs_dim: usize) -> Result<()> {
        let shape = |message: String| Error::Shape { module, message };
        if self.obs_dim != obs_dim {
            return Err(shape(format!(
                "observations have {} values, the module was built for {obs_dim}",
                self.obs_dim
            )));
        }
        if self.obs.len() != self.next_obs.len() || self.next_obs.len() % obs_dim != 0 {
            return Err(shape(format!(
                "obs has {} values and next_obs {}; both must be a multiple of {obs_dim} and equal",
                self.obs.len(),
                self.next_obs.len()
            )));
        }
        let n = self.len();
        match self.actions {
            BatchActions::Discrete(a) if a.len() != n => {
                return Err(shape(format!("{} actions for {n} transitions", a.len())));
            }
            BatchActions::Continuous { values, dims } if values.len() != n * dims => {
                return Err(shape(format!(
                    "{} action values for {n} transitions of {dims} dims",
                    values.len()
                )));
            }
            BatchActions::Continuous { values, .. } => check_finite(module, "actions", values)?,
            BatchActions::Discrete(_) => {}
        }
        check_finite(module, "obs", self.obs)?;
        check_finite(module, "next_obs", self.next_obs)
    }
}

impl Batch<'_> {
    /// [`Batch::validate`], and check that `out` has one slot per transition.
    pub fn validate_out(&self, module: &'static str, obs_dim: usize, out: &[f32]) -> Result<()> {
        self.validate(module, obs_dim)?;
        if out.len() == self.len() {
            Ok(())
        } else {
            Err(Error::Shape {
                module,
                message: format!("out has {} slots for {} transitions", out.len(), self.len()),
            })
        }
    }
}

/// Reject NaN and infinities.
pub fn check_finite(module: &'static str, what: &'static str, values: &[f32]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(Error::NonFinite { module, what, index, value: values[index] }),
        None => Ok(()),
    }
}

/// A module's saved state: its name, a format version and bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModuleState {
    /// Module name, checked on load.
    pub module: String,
    /// Format version, checked on load.
    pub version: u32,
    /// Encoded state.
    pub bytes: Vec<u8>,
}

impl ModuleState {
    /// Check that a state belongs to `module` at `version`.
    pub fn expect(&self, module: &str, version: u32) -> Result<spelunk_core::ByteReader<'_>> {
        if self.module != module {
            return Err(Error::Checkpoint(format!(
                "state was saved by `{}`, this module is `{module}`",
                self.module
            )));
        }
        if self.version != version {
            return Err(Error::Checkpoint(format!(
                "`{module}` state version {} cannot be read by version {version}",
                self.version
            )));
        }
        Ok(spelunk_core::ByteReader::new(&self.bytes))
    }
}

/// An intrinsic reward (exploration bonus).
///
/// The lifecycle per environment step: [`IntrinsicReward::on_step`] sees the new transitions
/// (counters update here), [`IntrinsicReward::compute`] returns the raw bonus of each, and
/// [`IntrinsicReward::update`] trains learned modules on a batch (often a replay of
/// recent transitions). Raw bonuses are normalised by a [`BonusStream`], never in place.
pub trait IntrinsicReward: Send {
    /// Short name, also the checkpoint tag.
    fn name(&self) -> &'static str;
    /// Values per observation this module was built for.
    fn obs_dim(&self) -> usize;
    /// Per-step hook with the newest transitions (one per env).
    fn on_step(&mut self, batch: &Batch<'_>) -> Result<()> {
        batch.validate(self.name(), self.obs_dim())
    }
    /// Raw bonus of each transition in `batch` into `out` (`out.len() == batch.len()`).
    fn compute(&mut self, batch: &Batch<'_>, out: &mut [f32]) -> Result<()>;
    /// Train on a batch; returns named losses (empty for modules that do not learn).
    fn update(&mut self, batch: &Batch<'_>) -> Result<Vec<(&'static str, f32)>> {
        batch.validate(self.name(), self.obs_dim())?;
        Ok(Vec::new())
    }
    /// Save the module's state.
    fn save(&self) -> Result<ModuleState>;
    /// Restore a state saved by the same module.
    fn load(&mut self, state: &ModuleState) -> Result<()>;
}
