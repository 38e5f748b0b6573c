//! The run's settings: [`TrainConfig`], one TOML table, every field with its default.

use serde::{Deserialize, Serialize};
use spelunk_models::policy::PolicyConfig;
use spelunk_models::AdamConfig;

use crate::advantage::GroupAdvantage;
use crate::explore::{LpRegConfig, PrivilegedConfig, ProGrpoConfig, TreeConfig};
use crate::loss::LossConfig;
use crate::{Error, Result};

/// Everything a training run needs, one TOML table (`spelunk train --config run.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Environment id.
    pub env: String,
    /// Environment config overrides.
    pub env_config: Option<serde_json::Value>,
    /// Seed of the parameters, the sampling and the group seeds.
    pub seed: u64,
    /// Rollouts per group (G).
    pub group_size: usize,
    /// Groups per iteration.
    pub groups_per_step: usize,
    /// Iterations.
    pub iterations: usize,
    /// Passes over each iteration's episodes.
    pub epochs: usize,
    /// Minibatches (Adam steps) per pass.
    pub minibatches: usize,
    /// Group advantage estimator.
    pub advantage: GroupAdvantage,
    /// Drop groups whose returns are all equal and sample more (DAPO).
    pub dynamic_sampling: bool,
    /// The loss.
    pub loss: LossConfig,
    /// The optimiser.
    pub adam: AdamConfig,
    /// The policy head.
    pub policy: PolicyConfig,
    /// Episodes of each evaluation (unseen seeds).
    pub eval_episodes: usize,
    /// An intrinsic-reward stream (`None`: extrinsic reward only).
    pub intrinsic: Option<IntrinsicConfig>,
    /// GRPO (group advantages, no critic) or PPO (GAE with a value head).
    pub algorithm: Algorithm,
    /// PPO's discount γ.
    pub gamma: f32,
    /// PPO's GAE λ.
    pub gae_lambda: f32,
    /// PPO's value-loss coefficient.
    pub value_coef: f64,
    /// PPO's rollouts as fixed-length slices (CleanRL's `num_steps`): each iteration steps
    /// each of `groups_per_step × group_size` envs this many times; the envs live across
    /// iterations, an env whose episode ends starts the next one at once (env `i`'s `k`-th
    /// episode resets with seed `(seed << 32) + k·envs + i`), and a piece of an episode cut
    /// by the slice's end bootstraps from the value of the observation it stopped at. The
    /// episode metrics count the episodes that ended during the iteration, whole. 0: every
    /// iteration runs whole episodes from fresh seeds.
    pub rollout_steps: usize,
    /// Start groups from states along a demonstration ([`crate::explore`]).
    pub privileged: Option<PrivilegedConfig>,
    /// Branch children from the most uncertain steps ([`crate::explore`]).
    pub tree: Option<TreeConfig>,
    /// ProGRPO's confidence re-weighting of advantages ([`crate::explore`]).
    pub progrpo: Option<ProGrpoConfig>,
    /// Lp-Reg's protection of low-probability tokens ([`crate::explore`]).
    pub lp_reg: Option<LpRegConfig>,
    /// Normalise each observation feature by its running mean and standard deviation over
    /// every training observation so far (clipped to ±5, as PPO implementations do); without
    /// it, features are divided by the space's largest bound.
    pub obs_norm: bool,
    /// Where the policy runs: `cpu`, or `cuda` / `cuda:N` in a build with the `cuda` feature
    /// (environments and bonus modules stay on the CPU).
    pub device: String,
    /// Threads of the run, the calling thread included (0: every core): they step the
    /// rollouts' envs and run the policy's shards (`shards`). Results are the same at any
    /// thread count.
    pub threads: usize,
    /// The policy's work splits into this many fixed shards, run on up to `threads` threads:
    /// the rollout's envs (each shard steps its own in lockstep, drawing tokens from a
    /// generator of its own) and each minibatch's episodes (the gradient is the sum of the
    /// shards' gradients, added in shard order). Results depend on `shards` (1: one
    /// batch and one generator), never on `threads`. On gridworlds the policy's work dominates
    /// a run, so a run spreads over cores only with `shards` ≥ 2 — one per thread is the usual
    /// choice (`docs/results/train_threads.md`).
    pub shards: usize,
}

/// The estimator of advantages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Group-relative advantages of episode returns.
    #[default]
    Grpo,
    /// Per-step GAE advantages from a value head (an MLP of the policy's hidden sizes),
    /// normalised over the batch; the loss adds `value_coef · mean (V − return)²`.
    Ppo,
}

/// Which bonus module drives the intrinsic stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntrinsicMethod {
    /// Random Distribution Distillation (σ = 1, d = 64).
    #[default]
    Rdd,
    /// Random Network Distillation.
    Rnd,
    /// Tabular counts, `1/√n`.
    Counts,
}

/// The intrinsic stream's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntrinsicConfig {
    /// The bonus.
    pub method: IntrinsicMethod,
    /// Weight `c` of the intrinsic advantage.
    pub coef: f64,
    /// Iterations over which `c` falls linearly to 0 (`None`: constant).
    pub decay_iterations: Option<usize>,
}

impl Default for IntrinsicConfig {
    fn default() -> Self {
        Self { method: IntrinsicMethod::Rdd, coef: 0.5, decay_iterations: None }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            env: "MiniGrid-Empty-5x5-v0".into(),
            env_config: None,
            seed: 0,
            threads: 1,
            shards: 1,
            group_size: 8,
            groups_per_step: 16,
            iterations: 50,
            epochs: 2,
            minibatches: 4,
            advantage: GroupAdvantage::Grpo,
            dynamic_sampling: true,
            loss: LossConfig::default(),
            adam: AdamConfig { lr: 1e-3, max_grad_norm: Some(1.0), ..AdamConfig::default() },
            policy: PolicyConfig::default(),
            eval_episodes: 64,
            intrinsic: None,
            algorithm: Algorithm::Grpo,
            gamma: 0.99,
            gae_lambda: 0.95,
            value_coef: 0.5,
            rollout_steps: 0,
            privileged: None,
            tree: None,
            progrpo: None,
            lp_reg: None,
            obs_norm: false,
            device: "cpu".into(),
        }
    }
}

impl TrainConfig {
    /// Check the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Config(m.into()));
        if self.group_size < 2 {
            return bad("group_size must be at least 2");
        }
        if self.groups_per_step == 0 || self.iterations == 0 || self.epochs == 0 {
            return bad("groups_per_step, iterations and epochs must be positive");
        }
        if self.minibatches == 0 || self.minibatches > self.groups_per_step * self.group_size {
            return bad("minibatches must be in 1..=groups_per_step × group_size");
        }
        if self.shards == 0 || self.shards > 256 {
            return bad("shards must be in 1..=256");
        }
        // Numbers that would otherwise train to NaN weights and still exit cleanly.
        let unit = |name: &str, v: f32| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(Error::Config(format!("{name} must be in [0, 1], got {v}")))
            }
        };
        unit("gamma", self.gamma)?;
        unit("gae_lambda", self.gae_lambda)?;
        if !(self.value_coef >= 0.0 && self.value_coef.is_finite()) {
            return Err(Error::Config(format!(
                "value_coef must be a finite number, 0 or more, got {}",
                self.value_coef
            )));
        }
        if let Some(i) = &self.intrinsic {
            if !(i.coef >= 0.0 && i.coef.is_finite()) {
                return Err(Error::Config(format!(
                    "intrinsic.coef must be a finite number, 0 or more, got {}",
                    i.coef
                )));
            }
        }
        match self.adam.validate() {
            Err(spelunk_models::Error::Config(m)) => return Err(Error::Config(m)),
            other => other?,
        }
        if self.loss.kl_coef > 0.0 && self.loss.kl_placement == crate::KlPlacement::Reward {
            // The trainer keeps its reference policy for the loss's KL term; nothing subtracts
            // a KL from the rewards, so the setting would silently do nothing.
            return bad(
                "loss.kl_placement = \"reward\": the trainer puts the KL to its reference in \
                 the loss; use kl_placement = \"loss\"",
            );
        }
        if self.intrinsic.is_some() && self.algorithm == Algorithm::Ppo {
            // PPO's advantages come from GAE over the env's rewards; the intrinsic stream is
            // added to group advantages, which only GRPO uses — it would silently do nothing.
            return bad("intrinsic: the intrinsic stream works with algorithm = \"grpo\" only");
        }
        if self.rollout_steps > 0 {
            if self.algorithm != Algorithm::Ppo {
                return bad("rollout_steps: fixed-length slices need algorithm = \"ppo\" (GRPO compares whole episodes)");
            }
            let refused = [
                (self.privileged.is_some(), "privileged starts"),
                (self.tree.is_some(), "tree rollouts"),
                (self.progrpo.is_some(), "ProGRPO"),
            ];
            if let Some((_, what)) = refused.iter().find(|(on, _)| *on) {
                return Err(Error::Config(format!(
                    "rollout_steps: {what} begin each episode from a chosen start; use whole \
                     episodes (rollout_steps = 0)"
                )));
            }
            if self.rollout_steps > 1 << 20 {
                return bad("rollout_steps must be at most 1048576");
            }
        }
        if let Some(p) = &self.privileged {
            if !(0.0..=1.0).contains(&p.threshold) || p.step_back == 0 {
                return bad("privileged: threshold must be in [0, 1] and step_back positive");
            }
            if !(0.0..=1.0).contains(&p.frontier) {
                return bad("privileged: frontier (a share of the starts) must be in [0, 1]");
            }
            if !(p.imitation >= 0.0 && p.imitation.is_finite()) {
                return bad("privileged: imitation must be a finite number, 0 or more");
            }
            if !(p.shaping >= 0.0 && p.shaping.is_finite()) {
                return bad("privileged: shaping must be a finite number, 0 or more");
            }
        }
        if let Some(t) = &self.tree {
            if t.branch_points == 0 || t.children == 1 {
                return bad("tree: branch_points must be positive and children 0 or at least 2");
            }
        }
        if let Some(l) = &self.lp_reg {
            if !(l.coef >= 0.0 && (0.0..1.0).contains(&l.tau) && (0.0..=1.0).contains(&l.rho)) {
                return bad("lp_reg: coef ≥ 0, tau in [0, 1), rho in [0, 1]");
            }
        }
        self.loss.validate()
    }
}
