//! `spelunk-grpo`: one GRPO/PPO core for every policy head.
//!
//! Policies emit **action tokens** (a discrete action is one token, a continuous action one
//! token per dimension, a language model's text many), so one core computes per-token
//! log-probabilities, group-relative advantages and clipped losses for all of them.
//!
//! - [`advantage`]: GRPO, Dr. GRPO, RLOO and batch-std group advantages; GAE; dynamic
//!   sampling's informative-group test.
//! - [`loss`]: the clipped surrogate with separate ε_low/ε_high, dual clip, GSPO's sequence
//!   ratio, token-/sequence-mean and Dr. GRPO's constant aggregation over an optimiser step,
//!   KL to a reference (k1/k2/k3, in the loss or the reward), entropy bonus, log-ratio clamp.
//!
//! - [`explore`]: privileged starts from a demonstration, tree rollouts, ProGRPO's
//!   advantage re-weighting, Lp-Reg.
//! - [`text`]: GRPO for a language model acting through text (generation, an action parser,
//!   invalid generations' own reward).
//! - [`trainer`]: GRPO on an environment with the MLP head (groups by seed, dynamic
//!   sampling, metrics, checkpoints and resume).
//!
//! Every formula is checked against a committed numpy fixture
//! (`tests/fixtures/grpo/fixture.json`, written by `scripts/fixtures/grpo_fixture.py`) and by
//! finite differences of the loss against candle's gradient.

pub mod advantage;
pub mod error;
pub mod explore;
pub mod loss;
pub mod text;
pub mod trainer;

pub use advantage::{gae, group_advantages, informative_groups, GroupAdvantage};
pub use error::{Error, Result};
pub use explore::{
    place, Curriculum, Demo, DemoAction, LpRegConfig, Place, PrivilegedConfig, ProGrpoConfig,
    Progress, TreeConfig,
};
pub use loss::{
    kl_estimate, policy_loss, Aggregation, KlEstimator, KlPlacement, LossConfig, LossInputs,
    LossStats, RatioLevel, StepNorm,
};
pub use text::{parse_action, TextConfig, TextTrainer};
pub use trainer::{
    Algorithm, Batch, BcConfig, BcEpoch, EvalEpisode, IntrinsicConfig, IntrinsicMethod,
    TrainConfig, Trainer, EVAL_SEEDS,
};
