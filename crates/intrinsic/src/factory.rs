//! One place that builds every bonus module by name, so that the trainer's intrinsic stream
//! and the exploration experiments make the same modules the same way.
//!
//! Each module keeps its own paper's defaults; [`BonusSpec::optimizer`] overrides the learned
//! modules' Adam settings where a caller trains them at another rate (the exploration
//! experiments take one step of lr 10⁻³ per vector step).

use serde::{Deserialize, Serialize};
use spelunk_models::AdamConfig;

use crate::byol::{ByolConfig, ByolExplore};
use crate::counts::Counts;
use crate::distill::{DistillConfig, Distillation};
use crate::icm::{ActionSpec, Icm, IcmConfig};
use crate::{IntrinsicReward, Result};

/// Which bonus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BonusKind {
    /// Tabular counts over observations, `1/√n`.
    Counts,
    /// Random Network Distillation.
    Rnd,
    /// Random Distribution Distillation (σ = 1, every sample trains the predictor).
    Rdd,
    /// Intrinsic Curiosity Module.
    Icm,
    /// BYOL-Explore.
    ByolExplore,
    /// Curiosity in Hindsight.
    Hindsight,
}

/// What a bonus module is built for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BonusSpec {
    /// Which bonus.
    pub kind: BonusKind,
    /// Observation feature width.
    pub obs_dim: usize,
    /// The actions the learned dynamics bonuses (ICM, BYOL-Explore, Hindsight) see.
    pub actions: ActionSpec,
    /// Seed of the module's networks.
    pub seed: u64,
    /// Adam settings for the learned modules (`None`: each module's default).
    pub optimizer: Option<AdamConfig>,
}

/// Build the bonus module `spec` names.
pub fn make_bonus(spec: &BonusSpec) -> Result<Box<dyn IntrinsicReward>> {
    let BonusSpec { kind, obs_dim, actions, seed, optimizer } = *spec;
    let distill = DistillConfig { obs_dim, seed, ..DistillConfig::default() };
    let rdd = DistillConfig::rdd(obs_dim, seed);
    let icm = IcmConfig { obs_dim, actions, seed, ..IcmConfig::default() };
    let byol = ByolConfig { obs_dim, actions, seed, ..ByolConfig::default() };
    Ok(match kind {
        BonusKind::Counts => Box::new(Counts::tabular(obs_dim, 1.0)?),
        BonusKind::Rnd => Box::new(Distillation::new(
            "rnd",
            DistillConfig { optimizer: optimizer.unwrap_or(distill.optimizer), ..distill },
        )?),
        BonusKind::Rdd => Box::new(Distillation::new(
            "rdd",
            DistillConfig { optimizer: optimizer.unwrap_or(rdd.optimizer), ..rdd },
        )?),
        BonusKind::Icm => {
            Box::new(Icm::new(IcmConfig { optimizer: optimizer.unwrap_or(icm.optimizer), ..icm })?)
        }
        BonusKind::ByolExplore => Box::new(ByolExplore::new(ByolConfig {
            optimizer: optimizer.unwrap_or(byol.optimizer),
            ..byol
        })?),
        BonusKind::Hindsight => Box::new(ByolExplore::hindsight(ByolConfig {
            optimizer: optimizer.unwrap_or(byol.optimizer),
            ..byol
        })?),
    })
}
