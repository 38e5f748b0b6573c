//! GRPO on an environment: groups of G rollouts from one seed, group-relative advantages, the
//! clipped token loss, Adam.
//!
//! One iteration: sample `groups_per_step` seeds; reset G envs with each (the seed is the
//! group's prompt, never anything derived from observations); run all G × groups episodes in
//! lockstep, sampling action tokens from the policy and recording their log-probabilities; the
//! episode's return is its reward sum; advantages per group ([`crate::advantage`]); with
//! dynamic sampling, groups whose returns are all equal are dropped and more are sampled (up
//! to three times the budget); then `epochs` passes over `minibatches` shuffled minibatches of
//! episodes, one Adam step each, the loss normalised by the minibatch's tokens/sequences.
//!
//! With `[intrinsic]`, exploration is a separate stream, as in RLSP: each episode also gets
//! an intrinsic return (the mean of a bonus module's raw bonus over its visited observations),
//! the intrinsic returns get their own group advantages, and a group whose task returns are
//! all equal (no task signal) takes `c·A_int` as its advantage, `c` decaying linearly to 0
//! over `decay_iterations` (never, if unset); a group with task signal learns from it alone.
//! Each stream is normalised within its group, so neither's scale drowns the other. The
//! bonus module (RDD by default) trains on up to 4,096 of each iteration's observations.
//!
//! Metrics per iteration (JSON lines by the CLI): `charts/episodic_return`,
//! `charts/success_rate`, `charts/episode_length`, `charts/env_steps`, `charts/kept_groups`,
//! `charts/truncated_rate` (episodes cut by the time limit), for envs that report them
//! `charts/lives_lost` (per episode), `charts/end_room/<room>` (fraction of episodes ending
//! there) and `charts/end_items/<inventory>` (fraction ending with those items held),
//! `losses/policy_loss`, `losses/clip_fraction`, `losses/approx_kl`, `losses/entropy`, and with an
//! intrinsic stream `charts/intrinsic_return` and `charts/intrinsic_coef`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use spelunk_core::{Action, Env, ObsBuf, Rng, Snapshot, Space};
use spelunk_models::policy::{
    token_logp_entropy, ActionCodec, Head, MlpPolicy, MlpPolicyConfig, Policy,
};
use spelunk_models::{Adam, AdamConfig};
use spelunk_models::{CnnPolicy, ImageLayout, TransformerPolicy, VlaLayout, VlaPolicy};

use crate::advantage::{gae, group_advantages, informative_groups, GroupAdvantage};
use crate::explore::{
    answer_confidence, branch_points, lp_reg_targets, place, progrpo_reweight, Curriculum, Demo,
    DemoAction, LpRegConfig, Place, PrivilegedConfig, ProGrpoConfig, Progress, TreeConfig,
};
use crate::loss::{policy_loss, LossConfig, LossInputs, StepNorm};
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
    pub policy: MlpPolicyConfig,
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
            group_size: 8,
            groups_per_step: 16,
            iterations: 50,
            epochs: 2,
            minibatches: 4,
            advantage: GroupAdvantage::Grpo,
            dynamic_sampling: true,
            loss: LossConfig::default(),
            adam: AdamConfig { lr: 1e-3, max_grad_norm: Some(1.0), ..AdamConfig::default() },
            policy: MlpPolicyConfig::default(),
            eval_episodes: 64,
            intrinsic: None,
            algorithm: Algorithm::Grpo,
            gamma: 0.99,
            gae_lambda: 0.95,
            value_coef: 0.5,
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
        if self.intrinsic.is_some() && self.algorithm == Algorithm::Ppo {
            // PPO's advantages come from GAE over the env's rewards; the intrinsic stream is
            // added to group advantages, which only GRPO uses — it would silently do nothing.
            return bad("intrinsic: the intrinsic stream works with algorithm = \"grpo\" only");
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

/// A factory of environments (the CLI passes the registry's). The argument replaces the run's
/// `env_config` when given (a demonstration is replayed with the config it was recorded with,
/// e.g. without sticky actions).
pub type MakeEnv<'a> =
    dyn Fn(Option<&serde_json::Value>) -> spelunk_core::Result<Box<dyn Env>> + 'a;

/// Where an episode begins: `reset(seed)`, or `reset(seed)` then a restored snapshot, then
/// (privileged starts) the env's randomness re-seeded, so that episodes from one snapshot do
/// not all draw the snapshot's noise (sticky actions) in lockstep.
#[derive(Clone, Debug)]
enum Start {
    Seed(u64),
    Restore(u64, Arc<Snapshot>, Option<u64>),
}

impl Default for Start {
    fn default() -> Self {
        Start::Seed(0)
    }
}

fn begin(env: &mut dyn Env, start: &Start, buf: &mut ObsBuf) -> Result<()> {
    let e = |e: spelunk_core::Error| Error::Config(e.to_string());
    match start {
        Start::Seed(seed) => {
            env.reset(Some(*seed), None, buf.as_mut()).map_err(e)?;
        }
        Start::Restore(seed, snap, noise) => {
            env.reset(Some(*seed), None, buf.as_mut()).map_err(e)?;
            env.restore(snap).map_err(e)?;
            if let Some(n) = noise {
                env.reseed(*n);
            }
            env.observe(buf.as_mut()).map_err(e)?;
        }
    }
    Ok(())
}

fn env_action<'b>(codec: &ActionCodec, values: &'b [f32]) -> Action<'b> {
    match codec {
        ActionCodec::Discrete { .. } => Action::Discrete(values[0] as i64),
        ActionCodec::Binned { .. } => Action::Continuous(values),
    }
}

/// The demo as imitation targets: the observation before each action, the action's tokens
/// and the discounted return from there.
#[derive(Clone, Debug)]
struct Imitation {
    obs: Vec<ObsBuf>,
    tokens: Vec<u32>,
    returns: Vec<f32>,
}

/// A demo replayed: its snapshots (before each action and after the last), and where asked
/// for, the place of every state, the observation before each action and each reward.
struct Replayed {
    demo: Demo,
    snaps: Vec<Arc<Snapshot>>,
    places: Vec<Place>,
    obs: Vec<ObsBuf>,
    rewards: Vec<f32>,
}

/// One finished episode.
#[derive(Clone, Debug, Default)]
struct Episode {
    start: Start,
    /// Env action values per step (`dims` each; a discrete action as its value).
    actions: Vec<f32>,
    /// Entropy of the policy's action tokens per step.
    entropy: Vec<f32>,
    obs: Vec<f32>,
    /// The observation after the last step.
    last_obs: Vec<f32>,
    tokens: Vec<u32>,
    old_logp: Vec<f32>,
    /// The task's return.
    ret: f32,
    /// Demo-progress shaping, summed (in `rewards`, not in `ret`).
    shaping: f32,
    /// Per-step rewards, shaping included.
    rewards: Vec<f32>,
    terminated: bool,
    /// PPO: per-step advantages and returns.
    step_adv: Vec<f32>,
    step_ret: Vec<f32>,
    success: bool,
    steps: usize,
    /// Cut by the time limit rather than ended.
    truncated: bool,
    /// Lives when the episode began and when it ended (envs that report lives).
    lives: (Option<u32>, Option<u32>),
    /// Room the episode ended in and the items then held (envs that report them).
    end_room: Option<u32>,
    end_items: Option<u64>,
}

/// How an iteration's episodes ended: cut by the time limit, lives lost, the room they ended
/// in and the items held — where a policy gets stuck, for envs that report them.
#[derive(Default)]
struct Ends {
    truncated: usize,
    lives_lost: u64,
    with_lives: usize,
    rooms: BTreeMap<u32, usize>,
    items: BTreeMap<u64, usize>,
}

impl Ends {
    fn record(&mut self, e: &Episode) {
        self.truncated += usize::from(e.truncated);
        if let (Some(a), Some(b)) = e.lives {
            self.lives_lost += u64::from(a.saturating_sub(b));
            self.with_lives += 1;
        }
        if let Some(r) = e.end_room {
            *self.rooms.entry(r).or_default() += 1;
        }
        if let Some(i) = e.end_items {
            *self.items.entry(i).or_default() += 1;
        }
    }
    fn write(&self, m: &mut BTreeMap<String, f64>, n_eps: f64) {
        m.insert("charts/truncated_rate".into(), self.truncated as f64 / n_eps);
        if self.with_lives > 0 {
            m.insert("charts/lives_lost".into(), self.lives_lost as f64 / self.with_lives as f64);
        }
        for (r, &n) in &self.rooms {
            m.insert(format!("charts/end_room/{r}"), n as f64 / n_eps);
        }
        for (i, &n) in &self.items {
            m.insert(format!("charts/end_items/{i}"), n as f64 / n_eps);
        }
    }
}

/// Flat f32 features of an observation buffer: values divided by the space's largest finite
/// upper bound (so MiniGrid's small integer codes and pixels both land in [0, 1]).
fn feature_scale(space: &Space) -> f32 {
    fn walk(s: &Space, m: &mut f32) {
        match s {
            Space::Box { high, .. } => {
                for &h in high {
                    if h.is_finite() {
                        *m = m.max(h.abs());
                    }
                }
            }
            Space::Discrete { n, .. } => *m = m.max(*n as f32),
            Space::MultiDiscrete { nvec } => {
                for &n in nvec {
                    *m = m.max(n as f32);
                }
            }
            Space::Dict(members) => {
                for (_, s) in members {
                    walk(s, m);
                }
            }
            Space::MultiBinary { .. } | Space::Text { .. } => {}
        }
    }
    let mut m = 1f32;
    walk(space, &mut m);
    m
}

/// Put a head's token ids (`span` of the observation) back into a feature row as they are:
/// ids are not scaled or normalised.
fn raw_tokens(buf: &ObsBuf, span: &std::ops::Range<usize>, row: &mut [f32]) {
    if let Some(x) = buf.as_f32() {
        row[span.clone()].copy_from_slice(&x[span.clone()]);
    } else if let Some(x) = buf.as_u8() {
        for (o, &v) in row[span.clone()].iter_mut().zip(&x[span.clone()]) {
            *o = f32::from(v);
        }
    }
}

fn features(buf: &ObsBuf, scale: f32, out: &mut Vec<f32>) {
    if let Some(x) = buf.as_f32() {
        out.extend(x.iter().map(|v| v / scale));
    } else if let Some(x) = buf.as_u8() {
        out.extend(x.iter().map(|&v| f32::from(v) / scale));
    }
}

/// Running mean and variance of each feature (Welford's algorithm).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningNorm {
    /// Observations counted.
    pub count: f64,
    /// Mean per feature.
    pub mean: Vec<f64>,
    /// Sum of squared deviations per feature.
    pub m2: Vec<f64>,
}

impl RunningNorm {
    fn new(dim: usize) -> Self {
        Self { count: 0.0, mean: vec![0.0; dim], m2: vec![0.0; dim] }
    }
    /// Add rows of `dim` features.
    fn update(&mut self, rows: &[f32]) {
        let d = self.mean.len();
        for row in rows.chunks(d) {
            self.count += 1.0;
            for ((m, s), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(row) {
                let x = f64::from(x);
                let delta = x - *m;
                *m += delta / self.count;
                *s += delta * (x - *m);
            }
        }
    }
    /// Normalise rows in place.
    fn apply(&self, rows: &mut [f32]) {
        let d = self.mean.len();
        let n = self.count.max(1.0);
        for row in rows.chunks_mut(d) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.m2) {
                let std = (s / n).sqrt() + 1e-8;
                *x = ((f64::from(*x) - m) / std).clamp(-5.0, 5.0) as f32;
            }
        }
    }
}

/// The trainer.
pub struct Trainer<'a> {
    /// The settings.
    pub config: TrainConfig,
    make_env: Box<MakeEnv<'a>>,
    /// The policy being trained.
    pub policy: Box<dyn Policy>,
    adam: Adam,
    /// Envs and observation buffers, built once, reset by seed for each episode.
    pool: Vec<(Box<dyn Env>, ObsBuf)>,
    value: Option<(spelunk_models::ParamStore, spelunk_models::Mlp)>,
    rng: Rng,
    scale: f32,
    bonus: Option<Box<dyn spelunk_intrinsic::IntrinsicReward>>,
    /// Iterations done.
    pub iteration: usize,
    /// Environment steps so far.
    pub env_steps: u64,
    /// The demonstration's snapshots (privileged starts), step 0 to the end.
    demo: Option<(Demo, Vec<Arc<Snapshot>>)>,
    /// Where privileged starts begin now.
    pub curriculum: Option<Curriculum>,
    /// Demo-progress shaping (`privileged.shaping > 0`).
    progress: Option<Progress>,
    /// Demo imitation (`privileged.imitation > 0`).
    imitation: Option<Imitation>,
    /// An env for replaying episodes to their branch points.
    replay: Option<(Box<dyn Env>, ObsBuf)>,
    /// Observation statistics (with `obs_norm`).
    pub obs_norm: Option<RunningNorm>,
    /// Evaluation: use the statistics without updating them.
    norm_frozen: bool,
}

impl std::fmt::Debug for Trainer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Checkpoint module tag of the MLP head (each head names its own: `Policy::module`).
pub const MODULE: &str = "spelunk-grpo/mlp-policy";
/// Checkpoint module tag of PPO's value head.
pub const VALUE_MODULE: &str = "spelunk-grpo/mlp-value";

impl<'a> Trainer<'a> {
    /// A fresh run.
    pub fn new(config: TrainConfig, make_env: Box<MakeEnv<'a>>) -> Result<Self> {
        config.validate()?;
        let env =
            make_env(None).map_err(|e| Error::Config(format!("making {}: {e}", config.env)))?;
        let obs_space = env.observation_space().clone();
        let codec = ActionCodec::for_space(env.action_space(), config.policy.bins)?;
        let obs_len = obs_space.flat_len();
        let device = spelunk_models::device(&config.device)?;
        let policy: Box<dyn Policy> = match config.policy.head {
            Head::Mlp => {
                Box::new(MlpPolicy::new(obs_len, codec, &config.policy, &device, config.seed)?)
            }
            Head::Cnn => {
                let Some(layout) = ImageLayout::of(&obs_space) else {
                    return Err(Error::Config(format!(
                        "the CNN head needs an image observation ([height, width, channels], alone \
                         or in a dict); {} observes {obs_space}",
                        config.env
                    )));
                };
                Box::new(CnnPolicy::new(layout, codec, &config.policy, &device, config.seed)?)
            }
            Head::Vla => {
                let layout = VlaLayout::of(&obs_space)
                    .map_err(|e| Error::Config(format!("{}: {e}", config.env)))?;
                Box::new(VlaPolicy::new(
                    layout,
                    codec,
                    &config.policy.vla,
                    &config.policy.transformer,
                    &device,
                    config.seed,
                )?)
            }
            Head::Transformer => Box::new(TransformerPolicy::new(
                obs_len,
                codec,
                &config.policy.transformer,
                &device,
                config.seed,
            )?),
        };
        let value = match config.algorithm {
            Algorithm::Grpo => None,
            Algorithm::Ppo => {
                let mut ps = spelunk_models::ParamStore::new(&device, config.seed ^ 0x7661_6c75);
                let mlp = spelunk_models::Mlp::new(
                    &mut ps,
                    "value",
                    obs_space.flat_len(),
                    &config.policy.hidden,
                    1,
                    config.policy.activation,
                )?;
                Some((ps, mlp))
            }
        };
        let adam = match &value {
            None => Adam::new(policy.params(), config.adam)?,
            Some((ps, _)) => Adam::over_stores(&[policy.params(), ps], config.adam)?,
        };
        let obs_dim = obs_space.flat_len();
        let seed = config.seed ^ 0x626f_6e75;
        let bonus: Option<Box<dyn spelunk_intrinsic::IntrinsicReward>> =
            match config.intrinsic.map(|i| i.method) {
                None => None,
                Some(IntrinsicMethod::Rdd) => {
                    Some(Box::new(spelunk_intrinsic::distill::rdd(obs_dim, seed)?))
                }
                Some(IntrinsicMethod::Rnd) => {
                    Some(Box::new(spelunk_intrinsic::distill::Distillation::new(
                        "rnd",
                        spelunk_intrinsic::distill::DistillConfig {
                            obs_dim,
                            seed,
                            ..Default::default()
                        },
                    )?))
                }
                Some(IntrinsicMethod::Counts) => {
                    Some(Box::new(spelunk_intrinsic::counts::Counts::tabular(obs_dim, 1.0)?))
                }
            };
        let (demo, curriculum, progress, imitation) = match &config.privileged {
            None => (None, None, None, None),
            Some(p) => {
                let Replayed { demo, snaps, places, obs, rewards } =
                    Self::replay_demo(&*make_env, &config, p)?;
                let c = Curriculum::new(demo.actions.len(), p);
                let progress = (p.shaping > 0.0).then(|| Progress::new(&places, p.shaping));
                let imitation = if p.imitation > 0.0 {
                    let ActionCodec::Discrete { start, .. } = policy.codec() else {
                        return Err(Error::Config(format!(
                            "{}: imitation needs a discrete action space",
                            p.demo.display()
                        )));
                    };
                    let tokens = demo
                        .actions
                        .iter()
                        .map(|a| match a {
                            DemoAction::Discrete(k) => u32::try_from(k - start).map_err(|_| {
                                Error::Config(format!(
                                    "{}: demo action {k} is outside the action space",
                                    p.demo.display()
                                ))
                            }),
                            DemoAction::Continuous(_) => Err(Error::Config(format!(
                                "{}: imitation needs discrete demo actions",
                                p.demo.display()
                            ))),
                        })
                        .collect::<Result<Vec<u32>>>()?;
                    // The demo's discounted returns: GAE with λ = 1 over zero values.
                    let n = rewards.len();
                    let mut ends = vec![false; n];
                    if let Some(last) = ends.last_mut() {
                        *last = true;
                    }
                    let (returns, _) = gae(&rewards, &vec![0.0; n + 1], &ends, config.gamma, 1.0)?;
                    Some(Imitation { obs, tokens, returns })
                } else {
                    None
                };
                (Some((demo, snaps)), Some(c), progress, imitation)
            }
        };
        Ok(Self {
            obs_norm: config.obs_norm.then(|| RunningNorm::new(obs_dim)),
            norm_frozen: false,
            demo,
            curriculum,
            progress,
            imitation,
            replay: None,
            bonus,
            // The transformer head reads token ids: no scaling.
            scale: if config.policy.head == Head::Transformer {
                1.0
            } else {
                feature_scale(&obs_space)
            },
            rng: Rng::seed_from_u64(config.seed ^ 0x6772_706f),
            config,
            make_env,
            policy,
            adam,
            pool: Vec::new(),
            value,
            iteration: 0,
            env_steps: 0,
        })
    }

    /// Replay a demonstration once, keeping a snapshot before every action and after the last
    /// and, for shaping, the place of every state.
    fn replay_demo(
        make_env: &MakeEnv<'_>,
        config: &TrainConfig,
        p: &PrivilegedConfig,
    ) -> Result<Replayed> {
        let demo = Demo::load(&p.demo)?;
        let where_ = p.demo.display();
        if demo.env != config.env {
            return Err(Error::Config(format!(
                "{where_}: the demo is for {}, this run trains on {}",
                demo.env, config.env
            )));
        }
        let mut env =
            make_env(demo.env_config.as_ref()).map_err(|e| Error::Config(e.to_string()))?;
        let mut buf = ObsBuf::for_space(env.observation_space());
        let err = |t: usize, e: spelunk_core::Error| {
            Error::Config(format!("{where_}: replaying the demo at step {t}: {e}"))
        };
        env.reset(Some(demo.seed), None, buf.as_mut()).map_err(|e| err(0, e))?;
        let mut snaps = Vec::with_capacity(demo.actions.len() + 1);
        let mut places = Vec::new();
        let shaping = p.shaping > 0.0;
        let mut done = None;
        let mut at = |info: &spelunk_core::Info, t: usize| match place(info) {
            Some(pl) => {
                places.push(pl);
                Ok(())
            }
            None => Err(Error::Config(format!(
                "{where_}: shaping needs an env whose info reports a position (x, y); {} does \
                 not at step {t}",
                demo.env
            ))),
        };
        let imitate = p.imitation > 0.0;
        let (mut obs, mut rewards) = (Vec::new(), Vec::new());
        for (t, a) in demo.actions.iter().enumerate() {
            snaps.push(Arc::new(env.snapshot().map_err(|e| err(t, e))?));
            if shaping {
                at(&env.info(), t)?;
            }
            if imitate {
                obs.push(buf.clone());
            }
            let act = match a {
                DemoAction::Discrete(k) => Action::Discrete(*k),
                DemoAction::Continuous(v) => Action::Continuous(v),
            };
            let s = env.step(act, buf.as_mut()).map_err(|e| err(t, e))?;
            rewards.push(s.reward);
            if s.terminated || s.truncated {
                if shaping {
                    at(&s.info, t + 1)?;
                }
                done = Some((t, s));
                break;
            }
        }
        match done {
            Some((t, s)) if t + 1 == demo.actions.len() => {
                let ok = s.info.is_success.unwrap_or(s.terminated && s.reward > 0.0);
                if !ok {
                    return Err(Error::Config(format!(
                        "{where_}: the demo's episode ends at step {t} without success"
                    )));
                }
            }
            Some((t, _)) => {
                return Err(Error::Config(format!(
                    "{where_}: the episode ends at step {t}, before the demo's {} actions",
                    demo.actions.len()
                )))
            }
            None => {
                return Err(Error::Config(format!(
                    "{where_}: the demo's {} actions do not finish the episode",
                    demo.actions.len()
                )))
            }
        }
        Ok(Replayed { demo, snaps, places, obs, rewards })
    }

    /// Sample (or pick) one token per action dimension; returns tokens, their
    /// log-probabilities and each row's entropy (summed over dimensions).
    fn sample_tokens(
        &mut self,
        logits: &Tensor,
        greedy: bool,
    ) -> Result<(Vec<u32>, Vec<f32>, Vec<f32>)> {
        let logp = spelunk_models::policy::log_softmax(logits)?;
        let rows: Vec<Vec<Vec<f32>>> = logp.to_vec3()?;
        let mut tokens = Vec::new();
        let mut lps = Vec::new();
        let mut ents = Vec::with_capacity(rows.len());
        for row in rows {
            let mut h = 0f32;
            for dim in row {
                h -= dim.iter().map(|lp| lp.exp() * lp).sum::<f32>();
                let k = if greedy {
                    dim.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(k, _)| k)
                } else {
                    let u = self.rng.f32();
                    let mut acc = 0f32;
                    let mut pick = dim.len() - 1;
                    for (k, lp) in dim.iter().enumerate() {
                        acc += lp.exp();
                        if u < acc {
                            pick = k;
                            break;
                        }
                    }
                    pick
                };
                tokens.push(k as u32);
                lps.push(dim[k]);
            }
            ents.push(h);
        }
        Ok((tokens, lps, ents))
    }

    /// Run `starts.len() × per_seed` episodes in lockstep.
    /// Envs are built once and kept: each episode begins from its start.
    fn rollouts(
        &mut self,
        starts: &[Start],
        per_seed: usize,
        greedy: bool,
    ) -> Result<Vec<Episode>> {
        let n = starts.len() * per_seed;
        let mut pool = std::mem::take(&mut self.pool);
        let mut result = Ok(());
        while pool.len() < n && result.is_ok() {
            match (self.make_env)(None) {
                Ok(env) => {
                    let buf = ObsBuf::for_space(env.observation_space());
                    pool.push((env, buf));
                }
                Err(e) => result = Err(Error::Config(e.to_string())),
            }
        }
        let eps = result.and_then(|()| self.rollouts_in(&mut pool[..n], starts, per_seed, greedy));
        self.pool = pool;
        eps
    }

    fn rollouts_in(
        &mut self,
        pool: &mut [(Box<dyn Env>, ObsBuf)],
        starts: &[Start],
        per_seed: usize,
        greedy: bool,
    ) -> Result<Vec<Episode>> {
        let n = pool.len();
        let mut eps = vec![Episode::default(); n];
        let mut alive = vec![true; n];
        for (i, (env, buf)) in pool.iter_mut().enumerate() {
            let start = &starts[i / per_seed];
            begin(env.as_mut(), start, buf)?;
            eps[i].start = start.clone();
            eps[i].lives.0 = env.info().lives;
        }
        let gamma = self.config.gamma;
        let mut phi: Vec<f32> = match &self.progress {
            Some(p) => pool.iter().map(|(env, _)| p.potential(&env.info())).collect(),
            None => Vec::new(),
        };
        let dims = self.policy.codec().dims();
        let obs_dim = self.policy.obs_dim();
        let mut batch = Vec::with_capacity(n * obs_dim);
        let mut action = vec![0f32; dims];
        while alive.iter().any(|&a| a) {
            let idx: Vec<usize> = (0..n).filter(|&i| alive[i]).collect();
            batch.clear();
            for &i in &idx {
                features(&pool[i].1, self.scale, &mut batch);
            }
            if let Some(norm) = self.obs_norm.as_mut() {
                if !self.norm_frozen {
                    norm.update(&batch);
                }
                norm.apply(&mut batch);
            }
            if let Some(span) = self.policy.token_span() {
                for (k, &i) in idx.iter().enumerate() {
                    raw_tokens(&pool[i].1, &span, &mut batch[k * obs_dim..(k + 1) * obs_dim]);
                }
            }
            let x =
                Tensor::from_slice(&batch, (idx.len(), obs_dim), self.policy.params().device())?;
            let logits = self.policy.logits(&x)?;
            let (tokens, lps, ents) = self.sample_tokens(&logits, greedy)?;
            for (k, &i) in idx.iter().enumerate() {
                let ep = &mut eps[i];
                ep.entropy.push(ents[k]);
                ep.obs.extend_from_slice(&batch[k * obs_dim..(k + 1) * obs_dim]);
                let toks = &tokens[k * dims..(k + 1) * dims];
                ep.tokens.extend_from_slice(toks);
                ep.old_logp.extend_from_slice(&lps[k * dims..(k + 1) * dims]);
                let act = match self.policy.codec() {
                    ActionCodec::Discrete { start, .. } => {
                        Action::Discrete(i64::from(toks[0]) + start)
                    }
                    codec @ ActionCodec::Binned { .. } => {
                        for (d, a) in action.iter_mut().enumerate() {
                            *a = codec.decode(d, toks[d]);
                        }
                        Action::Continuous(&action)
                    }
                };
                match act {
                    Action::Discrete(a) => ep.actions.push(a as f32),
                    Action::Continuous(v) => ep.actions.extend_from_slice(v),
                    Action::MultiDiscrete(v) => ep.actions.extend(v.iter().map(|&a| a as f32)),
                }
                let (env, buf) = &mut pool[i];
                let s = env.step(act, buf.as_mut()).map_err(|e| Error::Config(e.to_string()))?;
                ep.ret += s.reward;
                let mut r = s.reward;
                if let Some(p) = &self.progress {
                    let next = if s.terminated { 0.0 } else { p.potential(&s.info) };
                    let f = gamma * next - phi[i];
                    phi[i] = next;
                    ep.shaping += f;
                    r += f;
                }
                ep.rewards.push(r);
                ep.terminated = s.terminated;
                ep.steps += 1;
                self.env_steps += 1;
                if s.terminated || s.truncated {
                    self.policy_row(&pool[i].1, &mut ep.last_obs);
                    ep.success = s.info.is_success.unwrap_or(s.terminated && s.reward > 0.0);
                    ep.truncated = s.truncated && !s.terminated;
                    ep.lives.1 = s.info.lives;
                    ep.end_room = s.info.room;
                    ep.end_items = s.info.inventory;
                    alive[i] = false;
                }
            }
        }
        Ok(eps)
    }

    /// One iteration: rollouts, advantages, updates. Returns its metrics.
    pub fn iterate(&mut self) -> Result<BTreeMap<String, f64>> {
        let cfg = self.config.clone();
        let g = cfg.group_size;
        let mut kept: Vec<Episode> = Vec::new();
        let mut advantages: Vec<f32> = Vec::new();
        let mut all_returns = Vec::new();
        let mut ends = Ends::default();
        let mut successes = 0usize;
        let (mut front_successes, mut front_eps) = (0usize, 0usize);
        let mut shaping_sum = 0f64;
        let mut lengths = 0usize;
        let mut sampled_groups = 0usize;
        let mut kept_groups = 0usize;
        let mut round = 0u64;
        let mut intrinsic_sum = 0f64;
        let mut intrinsic_coef = 0f64;
        let mut children = 0usize;
        let privileged = self.curriculum.filter(|c| c.cursor > 0);
        while kept_groups < cfg.groups_per_step && sampled_groups < 3 * cfg.groups_per_step {
            let want = cfg.groups_per_step - kept_groups;
            let base = (cfg.seed << 32) + (self.iteration as u64) * 4096 + round * 1024;
            // Whether each start lies on the curriculum's frontier.
            let mut on_frontier = Vec::with_capacity(want);
            let starts: Vec<Start> = match (&self.demo, privileged, &cfg.privileged) {
                (Some((demo, snaps)), Some(c), Some(p)) => {
                    let (lo, hi) = c.range(p);
                    let (_, front_hi) = c.frontier(p);
                    let n_front = (p.frontier * want as f64).ceil() as usize;
                    (0..want as u64)
                        .map(|k| {
                            let top = if (k as usize) < n_front { front_hi } else { hi };
                            let at = lo + self.rng.index(top - lo + 1);
                            on_frontier.push(at <= front_hi);
                            Start::Restore(demo.seed, Arc::clone(&snaps[at]), Some(base + k))
                        })
                        .collect()
                }
                _ => (0..want as u64).map(|k| Start::Seed(base + k)).collect(),
            };
            let eps = self.rollouts(&starts, g, false)?;
            let returns: Vec<f32> = eps.iter().map(|e| e.ret + e.shaping).collect();
            let mut adv = group_advantages(&returns, g, cfg.advantage)?;
            let mut informative = informative_groups(&returns, g)?;
            if let Some(pc) = &cfg.progrpo {
                let conf: Vec<f32> =
                    eps.iter().map(|e| answer_confidence(&e.old_logp, pc.low_fraction)).collect();
                progrpo_reweight(&mut adv, &returns, &conf, g, pc)?;
            }
            if let Some(ic) = cfg.intrinsic {
                let coef = match ic.decay_iterations {
                    Some(n) => ic.coef * (1.0 - self.iteration as f64 / n.max(1) as f64).max(0.0),
                    None => ic.coef,
                };
                let int = self.intrinsic_returns(&eps)?;
                intrinsic_sum += int.iter().map(|&x| f64::from(x)).sum::<f64>();
                intrinsic_coef = coef;
                let int_adv = group_advantages(&int, g, cfg.advantage)?;
                // Exploration speaks only where correctness is silent: a group whose task
                // returns differ learns from them alone; a group without any task signal
                // learns from its intrinsic returns (and is kept by dynamic sampling).
                let int_informative = informative_groups(&int, g)?;
                for k in 0..informative.len() {
                    if informative[k] || coef <= 0.0 || !int_informative[k] {
                        continue;
                    }
                    informative[k] = true;
                    for (a, b) in
                        adv[k * g..(k + 1) * g].iter_mut().zip(&int_adv[k * g..(k + 1) * g])
                    {
                        *a += (coef * f64::from(*b)) as f32;
                    }
                }
            }
            for (i, e) in eps.iter().enumerate() {
                if on_frontier.get(i / g).copied().unwrap_or(false) {
                    front_eps += 1;
                    front_successes += usize::from(e.success);
                }
                successes += usize::from(e.success);
                lengths += e.steps;
                ends.record(e);
            }
            all_returns.extend(eps.iter().map(|e| e.ret));
            shaping_sum += eps.iter().map(|e| f64::from(e.shaping)).sum::<f64>();
            sampled_groups += want;
            let tree = match cfg.tree {
                Some(t) if cfg.algorithm == Algorithm::Grpo => Some(self.branch(&eps, g, t)?),
                _ => None,
            };
            for (k, group) in eps.chunks(g).enumerate() {
                if cfg.dynamic_sampling && cfg.algorithm == Algorithm::Grpo && !informative[k] {
                    continue;
                }
                kept_groups += 1;
                kept.extend(group.iter().cloned());
                advantages.extend_from_slice(&adv[k * g..(k + 1) * g]);
            }
            if let Some((kids, per)) = tree {
                children += kids.len();
                let r: Vec<f32> = kids.iter().map(|e| e.ret + e.shaping).collect();
                let a = group_advantages(&r, per, cfg.advantage)?;
                let inf = informative_groups(&r, per)?;
                for (k, group) in kids.chunks(per).enumerate() {
                    if cfg.dynamic_sampling && !inf[k] {
                        continue;
                    }
                    kept.extend(group.iter().cloned());
                    advantages.extend_from_slice(&a[k * per..(k + 1) * per]);
                }
            }
            round += 1;
            if !cfg.dynamic_sampling || cfg.algorithm == Algorithm::Ppo {
                break;
            }
        }
        let mut m = BTreeMap::new();
        let n_eps = all_returns.len().max(1) as f64;
        ends.write(&mut m, n_eps);
        m.insert(
            "charts/episodic_return".into(),
            all_returns.iter().map(|&r| f64::from(r)).sum::<f64>() / n_eps,
        );
        m.insert("charts/success_rate".into(), successes as f64 / n_eps);
        if self.progress.is_some() {
            m.insert("charts/shaping_return".into(), shaping_sum / n_eps);
        }
        m.insert("charts/episode_length".into(), lengths as f64 / n_eps);
        m.insert("charts/kept_groups".into(), kept_groups as f64 / sampled_groups.max(1) as f64);
        if cfg.tree.is_some() {
            m.insert("charts/tree_children".into(), children as f64);
        }
        if let (Some(c), Some(p)) = (self.curriculum.as_mut(), &cfg.privileged) {
            m.insert("charts/demo_start".into(), c.cursor as f64);
            m.insert("charts/demo_length".into(), c.len as f64);
            if privileged.is_some() {
                // No frontier episode this iteration: a rate of 0, so the start stays.
                let front = front_successes as f64 / front_eps.max(1) as f64;
                if front_eps > 0 {
                    m.insert("charts/frontier_success_rate".into(), front);
                }
                let rate = if p.frontier > 0.0 { front } else { successes as f64 / n_eps };
                c.record(rate, p);
            }
        }
        if self.bonus.is_some() {
            m.insert("charts/intrinsic_return".into(), intrinsic_sum / n_eps);
            m.insert("charts/intrinsic_coef".into(), intrinsic_coef);
        }
        if self.value.is_some() {
            self.gae(&mut kept)?;
        }
        let mut sums = [0f64; 7];
        let mut updates = 0usize;
        if !kept.is_empty() {
            for _ in 0..cfg.epochs {
                let mut order: Vec<usize> = (0..kept.len()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, self.rng.index(i + 1));
                }
                let per = kept.len().div_ceil(cfg.minibatches);
                for chunk in order.chunks(per) {
                    let (st, protected, im) = self.update(&kept, &advantages, chunk)?;
                    sums[4] += protected;
                    sums[5] += im.0;
                    sums[6] += im.1;
                    sums[0] += st.loss;
                    sums[1] += st.clip_fraction;
                    sums[2] += st.approx_kl;
                    sums[3] += st.entropy;
                    updates += 1;
                }
            }
        }
        let u = updates.max(1) as f64;
        m.insert("losses/policy_loss".into(), sums[0] / u);
        m.insert("losses/clip_fraction".into(), sums[1] / u);
        m.insert("losses/approx_kl".into(), sums[2] / u);
        m.insert("losses/entropy".into(), sums[3] / u);
        if cfg.lp_reg.is_some() {
            m.insert("losses/lp_reg_protected".into(), sums[4] / u);
        }
        if self.imitation.is_some() {
            m.insert("losses/imitation_nll".into(), sums[5] / u);
            m.insert("losses/imitation_weight".into(), sums[6] / u);
        }
        self.iteration += 1;
        m.insert("charts/env_steps".into(), self.env_steps as f64);
        m.insert("iteration".into(), self.iteration as f64);
        Ok(m)
    }

    /// Tree rollouts: replay each group's most uncertain steps and sample children there.
    /// Returns the children (in sibling groups) and the sibling-group size.
    fn branch(
        &mut self,
        eps: &[Episode],
        g: usize,
        t: TreeConfig,
    ) -> Result<(Vec<Episode>, usize)> {
        let per = if t.children == 0 { g } else { t.children };
        if self.replay.is_none() {
            let env = (self.make_env)(None).map_err(|e| Error::Config(e.to_string()))?;
            let buf = ObsBuf::for_space(env.observation_space());
            self.replay = Some((env, buf));
        }
        let dims = self.policy.codec().dims();
        let mut starts = Vec::new();
        for group in eps.chunks(g) {
            let ents: Vec<&[f32]> = group.iter().map(|e| e.entropy.as_slice()).collect();
            for (e, step) in branch_points(&ents, t.branch_points) {
                let ep = &group[e];
                let Some((env, buf)) = self.replay.as_mut() else { unreachable!() };
                begin(env.as_mut(), &ep.start, buf)?;
                let seed = match ep.start {
                    Start::Seed(s) | Start::Restore(s, _, _) => s,
                };
                let codec = self.policy.codec().clone();
                for k in 0..step {
                    let a = env_action(&codec, &ep.actions[k * dims..(k + 1) * dims]);
                    env.step(a, buf.as_mut()).map_err(|e| Error::Config(e.to_string()))?;
                }
                let snap = env.snapshot().map_err(|e| {
                    Error::Config(format!("tree rollouts need an env that can snapshot: {e}"))
                })?;
                starts.push(Start::Restore(seed, Arc::new(snap), None));
            }
        }
        Ok((self.rollouts(&starts, per, false)?, per))
    }

    /// PPO: per-step GAE advantages (bootstrapped from the value of the last observation when
    /// an episode was truncated, 0 when it terminated) and returns, advantages normalised
    /// over the batch.
    fn gae(&self, eps: &mut [Episode]) -> Result<()> {
        let Some((_, vnet)) = &self.value else { return Ok(()) };
        let d = self.policy.obs_dim();
        for e in eps.iter_mut() {
            let mut x = e.obs.clone();
            x.extend_from_slice(&e.last_obs);
            let n = e.steps + 1;
            let v: Vec<f32> = vnet
                .forward(&Tensor::from_vec(x, (n, d), self.policy.params().device())?)?
                .squeeze(1)?
                .to_vec1()?;
            let mut values = v;
            if e.terminated {
                values[e.steps] = 0.0;
            }
            let dones = vec![false; e.steps];
            let (adv, ret) = crate::advantage::gae(
                &e.rewards,
                &values,
                &dones,
                self.config.gamma,
                self.config.gae_lambda,
            )?;
            e.step_adv = adv;
            e.step_ret = ret;
        }
        let all: Vec<f32> = eps.iter().flat_map(|e| e.step_adv.iter().copied()).collect();
        let n = all.len().max(1) as f32;
        let mean = all.iter().sum::<f32>() / n;
        let std = (all.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n).sqrt();
        // A batch without any reward has advantages made only of the value head's errors;
        // normalised to unit scale they would be noise that the policy follows (and its
        // entropy collapses where it has never been rewarded). Such a batch trains the value
        // head and the entropy term only.
        let silent = eps.iter().all(|e| e.rewards.iter().all(|&r| r == 0.0));
        for e in eps.iter_mut() {
            for a in &mut e.step_adv {
                *a = if silent { 0.0 } else { (*a - mean) / (std + 1e-8) };
            }
        }
        Ok(())
    }

    /// Each episode's intrinsic return (raw bonus averaged over the observations it reached),
    /// then one update of the bonus module on up to 4,096 of those observations.
    fn intrinsic_returns(&mut self, eps: &[Episode]) -> Result<Vec<f32>> {
        let Some(bonus) = self.bonus.as_mut() else { return Ok(vec![0.0; eps.len()]) };
        let d = self.policy.obs_dim();
        let mut obs = Vec::new();
        let mut next = Vec::new();
        let mut actions = Vec::new();
        let mut owner = Vec::new();
        let dims = self.policy.codec().dims();
        for (k, e) in eps.iter().enumerate() {
            for t in 0..e.steps {
                obs.extend_from_slice(&e.obs[t * d..(t + 1) * d]);
                if t + 1 < e.steps {
                    next.extend_from_slice(&e.obs[(t + 1) * d..(t + 2) * d]);
                } else {
                    next.extend_from_slice(&e.last_obs);
                }
                actions.push(i64::from(e.tokens[t * dims]));
                owner.push(k);
            }
        }
        let batch = spelunk_intrinsic::Batch {
            obs: &obs,
            actions: spelunk_intrinsic::BatchActions::Discrete(&actions),
            next_obs: &next,
            obs_dim: d,
        };
        let mut out = vec![0f32; owner.len()];
        bonus.compute(&batch, &mut out)?;
        // The mean bonus per step: a sum would pay for long episodes, which the task's own
        // reward (finish fast) punishes, and the two streams would pull apart.
        let mut ret = vec![0f32; eps.len()];
        for (&k, &b) in owner.iter().zip(&out) {
            ret[k] += b;
        }
        for (r, e) in ret.iter_mut().zip(eps) {
            *r /= e.steps.max(1) as f32;
        }
        // Train on a random subset (all of it when small).
        let n = owner.len();
        let take = n.min(4096);
        let mut pick: Vec<usize> = (0..n).collect();
        for i in 0..take {
            let j = i + self.rng.index(n - i);
            pick.swap(i, j);
        }
        let mut so = Vec::with_capacity(take * d);
        let mut sn = Vec::with_capacity(take * d);
        let mut sa = Vec::with_capacity(take);
        for &i in &pick[..take] {
            so.extend_from_slice(&obs[i * d..(i + 1) * d]);
            sn.extend_from_slice(&next[i * d..(i + 1) * d]);
            sa.push(actions[i]);
        }
        let sub = spelunk_intrinsic::Batch {
            obs: &so,
            actions: spelunk_intrinsic::BatchActions::Discrete(&sa),
            next_obs: &sn,
            obs_dim: d,
        };
        bonus.on_step(&sub)?;
        bonus.update(&sub)?;
        Ok(ret)
    }

    fn update(
        &mut self,
        eps: &[Episode],
        adv: &[f32],
        chunk: &[usize],
    ) -> Result<(crate::loss::LossStats, f64, (f64, f64))> {
        let dims = self.policy.codec().dims();
        let obs_dim = self.policy.obs_dim();
        let mut obs = Vec::new();
        let mut tokens = Vec::new();
        let mut old = Vec::new();
        let max_t = chunk.iter().map(|&i| eps[i].tokens.len()).max().unwrap_or(0);
        let mut index = Vec::with_capacity(chunk.len() * max_t);
        let mut mask = Vec::with_capacity(chunk.len() * max_t);
        let mut a = Vec::with_capacity(chunk.len());
        let ppo = self.value.is_some();
        let mut tok_adv = Vec::new();
        let mut returns = Vec::new();
        // One advantage per token row, in the order of the logits (for Lp-Reg).
        let mut row_adv = Vec::new();
        for &i in chunk {
            let e = &eps[i];
            let start = tokens.len() as u32;
            obs.extend_from_slice(&e.obs);
            tokens.extend_from_slice(&e.tokens);
            for t in 0..max_t {
                let real = t < e.tokens.len();
                index.push(if real { start + t as u32 } else { 0 });
                mask.push(if real { 1f32 } else { 0.0 });
                old.push(if real { e.old_logp[t] } else { 0.0 });
                if ppo {
                    tok_adv.push(if real { e.step_adv[t / dims] } else { 0.0 });
                }
            }
            a.push(adv[i]);
            returns.extend_from_slice(&e.step_ret);
            if self.config.lp_reg.is_some() {
                for t in 0..e.tokens.len() {
                    row_adv.push(if ppo { e.step_adv[t / dims] } else { adv[i] });
                }
            }
        }
        let steps = tokens.len() / dims;
        let x = Tensor::from_vec(obs, (steps, obs_dim), self.policy.params().device())?;
        let tok = Tensor::from_vec(tokens, (steps, dims), self.policy.params().device())?;
        // Sequence heads compute a whole episode's decisions in one pass when they can.
        let lengths: Vec<usize> = chunk.iter().map(|&i| eps[i].tokens.len() / dims).collect();
        let logits = match self.policy.episode_logits(&x, &lengths)? {
            Some(l) => l,
            None => self.policy.logits(&x)?,
        };
        let (lp, ent) = token_logp_entropy(&logits, &tok)?;
        let lp_reg = match &self.config.lp_reg {
            Some(cfg) => Some(Self::lp_reg_term(&logits, &tok, &row_adv, cfg)?),
            None => None,
        };
        let b = chunk.len();
        let idx = Tensor::from_vec(index, b * max_t, self.policy.params().device())?;
        let lp = lp.flatten_all()?.index_select(&idx, 0)?.reshape((b, max_t))?;
        let ent = ent.flatten_all()?.index_select(&idx, 0)?.reshape((b, max_t))?;
        let old = Tensor::from_vec(old, (b, max_t), self.policy.params().device())?;
        let mask_t = Tensor::from_vec(mask, (b, max_t), self.policy.params().device())?;
        let adv_t = if ppo {
            Tensor::from_vec(tok_adv, (b, max_t), self.policy.params().device())?
        } else {
            Tensor::from_vec(a, b, self.policy.params().device())?
        };
        let norm =
            StepNorm { tokens: mask_t.sum_all()?.to_scalar::<f32>()?.into(), sequences: b as f64 };
        let inp = LossInputs {
            logp: &lp,
            old_logp: &old,
            ref_logp: None,
            advantages: &adv_t,
            mask: &mask_t,
            entropy: Some(&ent),
        };
        let (mut loss, stats) = policy_loss(&inp, &self.config.loss, norm)?;
        let mut protected = 0.0;
        if let Some((term, frac)) = lp_reg {
            protected = frac;
            if let Some(term) = term {
                loss = (loss + (term / norm.tokens.max(1.0))?)?;
            }
        }
        if let Some((_, vnet)) = &self.value {
            let v = vnet.forward(&x)?.squeeze(1)?;
            let target = Tensor::from_vec(returns, steps, self.policy.params().device())?;
            let vloss = (v - target)?.sqr()?.mean_all()?;
            loss = (loss + (vloss * self.config.value_coef)?)?;
        }
        let mut imitation = (0.0, 0.0);
        if let Some(term) = self.imitation_term()? {
            imitation = (term.1, term.2);
            loss = (loss + term.0)?;
        }
        self.adam.backward_step(&loss)?;
        Ok((stats, protected, imitation))
    }

    /// Append the policy's input row for one observation: scaled features, normalised by
    /// the running statistics (not updated), token ids kept raw.
    fn policy_row(&self, buf: &ObsBuf, out: &mut Vec<f32>) {
        let start = out.len();
        features(buf, self.scale, out);
        let row = &mut out[start..];
        if let Some(norm) = &self.obs_norm {
            norm.apply(row);
        }
        if let Some(span) = self.policy.token_span() {
            raw_tokens(buf, &span, row);
        }
    }

    /// Demo imitation: `coef · mean_t w_t · −log π(a_t | s_t)` over the demo's steps, with
    /// its mean negative log-likelihood and mean weight (see `PrivilegedConfig::imitation`).
    fn imitation_term(&self) -> Result<Option<(Tensor, f64, f64)>> {
        let (Some(im), Some(p)) = (&self.imitation, &self.config.privileged) else {
            return Ok(None);
        };
        let obs_dim = self.policy.obs_dim();
        let n = im.obs.len();
        let mut x = Vec::with_capacity(n * obs_dim);
        for b in &im.obs {
            self.policy_row(b, &mut x);
        }
        let dev = self.policy.params().device();
        let x = Tensor::from_vec(x, (n, obs_dim), dev)?;
        let weights: Vec<f32> = match &self.value {
            Some((_, vnet)) => {
                let v: Vec<f32> = vnet.forward(&x)?.squeeze(1)?.detach().to_vec1()?;
                im.returns.iter().zip(&v).map(|(r, v)| (r - v).max(0.0)).collect()
            }
            None => vec![1.0; n],
        };
        let logits = self.policy.logits(&x)?;
        let tok = Tensor::from_slice(&im.tokens, (n, 1), dev)?;
        let (lp, _) = token_logp_entropy(&logits, &tok)?;
        let nll = lp.squeeze(1)?.neg()?;
        let w = Tensor::from_slice(&weights, n, dev)?;
        let mean_nll = f64::from(nll.detach().mean_all()?.to_scalar::<f32>()?);
        let mean_w = weights.iter().map(|&w| f64::from(w)).sum::<f64>() / n.max(1) as f64;
        let term = ((nll * w)?.mean_all()? * p.imitation)?;
        Ok(Some((term, mean_nll, mean_w)))
    }

    /// Lp-Reg: `coef · Σ_protected KL(π_proxy ‖ π_θ)` (not yet divided by the step's tokens)
    /// and the fraction of protected tokens.
    fn lp_reg_term(
        logits: &Tensor,
        tokens: &Tensor,
        row_adv: &[f32],
        cfg: &LpRegConfig,
    ) -> Result<(Option<Tensor>, f64)> {
        let (steps, dims, vocab) = logits.dims3()?;
        let rows = steps * dims;
        let logp = spelunk_models::policy::log_softmax(logits)?.reshape((rows, vocab))?;
        let probs: Vec<f32> = logp.detach().exp()?.flatten_all()?.to_vec1()?;
        let toks: Vec<u32> = tokens.flatten_all()?.to_vec1()?;
        let (proxy, n) = lp_reg_targets(&probs, vocab, &toks, row_adv, cfg);
        let frac = n as f64 / rows.max(1) as f64;
        if n == 0 || cfg.coef == 0.0 {
            return Ok((None, frac));
        }
        // KL(q‖p) = Σ q (ln q − ln p); the ln q part is a constant but keeps the value honest.
        let q_ln_q: f32 = proxy.iter().filter(|&&q| q > 0.0).map(|&q| q * q.ln()).sum();
        let q = Tensor::from_vec(proxy, (rows, vocab), logits.device())?;
        let kl = ((q * logp)?.sum_all()?.neg()? + f64::from(q_ln_q))?;
        Ok((Some((kl * cfg.coef)?), frac))
    }

    /// Evaluation on unseen seeds, sampling tokens from the policy (or the most likely token
    /// with `greedy`): (mean return, success rate). Draws from its own generator, so
    /// evaluating does not change the training run.
    pub fn evaluate(&mut self, episodes: usize, greedy: bool) -> Result<(f64, f64)> {
        let seeds: Vec<u64> = (0..episodes as u64).map(|k| 1_000_000_007 + k).collect();
        let eval_rng = Rng::seed_from_u64(self.config.seed ^ 0x6576_616c);
        let train_rng = std::mem::replace(&mut self.rng, eval_rng);
        let steps = self.env_steps;
        let starts: Vec<Start> = seeds.iter().map(|&s| Start::Seed(s)).collect();
        self.norm_frozen = true;
        let eps = self.rollouts(&starts, 1, greedy);
        self.norm_frozen = false;
        self.rng = train_rng;
        self.env_steps = steps;
        let eps = eps?;
        let n = eps.len().max(1) as f64;
        Ok((
            eps.iter().map(|e| f64::from(e.ret)).sum::<f64>() / n,
            eps.iter().filter(|e| e.success).count() as f64 / n,
        ))
    }

    /// Write the policy and the run state into `dir` (each file written whole, then renamed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |e: std::io::Error| Error::Config(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let cfg = serde_json::to_string(&self.config).map_err(|e| Error::Config(e.to_string()))?;
        let bytes = self.policy.params().to_bytes(self.policy.module(), &cfg)?;
        let state = serde_json::json!({
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "rng": self.rng.state(),
            "curriculum": self.curriculum,
            "obs_norm": self.obs_norm,
        });
        let mut files =
            vec![("policy.safetensors", bytes), ("state.json", state.to_string().into_bytes())];
        if let Some((ps, _)) = &self.value {
            files.push(("value.safetensors", ps.to_bytes(VALUE_MODULE, &cfg)?));
        }
        files.push(("optimizer.safetensors", self.adam.state_bytes()?));
        if let Some(b) = &self.bonus {
            let st = b.save()?;
            let mut w = spelunk_core::ByteWriter::new();
            w.bytes(st.module.as_bytes());
            w.u32(st.version);
            w.bytes(&st.bytes);
            files.push(("intrinsic.bin", w.as_bytes().to_vec()));
        }
        for (name, data) in files {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, data).map_err(io)?;
            std::fs::rename(&tmp, dir.join(name)).map_err(io)?;
        }
        Ok(())
    }

    /// Continue a run saved by [`Trainer::save`]: policy, value head, Adam's moments, the
    /// generator, observation statistics and curriculum, so the run goes on exactly as if it
    /// had not stopped.
    pub fn resume(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("policy.safetensors");
        self.policy.params().load(&path, self.policy.module())?;
        if let Some((ps, _)) = &self.value {
            ps.load(&dir.join("value.safetensors"), VALUE_MODULE)?;
        }
        let opt = dir.join("optimizer.safetensors");
        let bytes =
            std::fs::read(&opt).map_err(|e| Error::Config(format!("{}: {e}", opt.display())))?;
        self.adam.load_state(&bytes, &opt.display().to_string())?;
        if let Some(b) = self.bonus.as_mut() {
            let path = dir.join("intrinsic.bin");
            let bad = |m: String| Error::Config(format!("{}: {m}", path.display()));
            let bytes = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
            let mut r = spelunk_core::ByteReader::new(&bytes);
            let mut read = || -> spelunk_core::Result<spelunk_intrinsic::ModuleState> {
                let module = String::from_utf8_lossy(r.bytes()?).into_owned();
                let version = r.u32()?;
                let bytes = r.bytes()?.to_vec();
                Ok(spelunk_intrinsic::ModuleState { module, version, bytes })
            };
            let st = read().map_err(|e| bad(e.to_string()))?;
            b.load(&st).map_err(|e| bad(e.to_string()))?;
        }
        let text = std::fs::read_to_string(dir.join("state.json"))
            .map_err(|e| Error::Config(format!("{}: {e}", dir.join("state.json").display())))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {e}", dir.join("state.json").display())))?;
        let bad = || {
            Error::Config(format!(
                "{}: missing or malformed fields",
                dir.join("state.json").display()
            ))
        };
        self.iteration = v["iteration"].as_u64().ok_or_else(bad)? as usize;
        self.env_steps = v["env_steps"].as_u64().ok_or_else(bad)?;
        let r: Vec<u64> = v["rng"]
            .as_array()
            .ok_or_else(bad)?
            .iter()
            .filter_map(serde_json::Value::as_u64)
            .collect();
        let r: [u64; 4] = r.try_into().map_err(|_| bad())?;
        self.rng = Rng::from_state(r);
        if self.obs_norm.is_some() {
            let n: RunningNorm =
                serde_json::from_value(v["obs_norm"].clone()).map_err(|_| bad())?;
            if n.mean.len() != self.policy.obs_dim() || n.m2.len() != n.mean.len() {
                return Err(bad());
            }
            self.obs_norm = Some(n);
        }
        if let Some(c) = v.get("curriculum").filter(|c| !c.is_null()) {
            let c: Curriculum = serde_json::from_value(c.clone()).map_err(|_| bad())?;
            if self.curriculum.is_some_and(|own| own.len != c.len) {
                return Err(Error::Config(format!(
                    "{}: the checkpoint's demo has {} steps, this run's {}",
                    dir.join("state.json").display(),
                    c.len,
                    self.curriculum.map_or(0, |o| o.len)
                )));
            }
            if self.curriculum.is_some() {
                self.curriculum = Some(c);
            }
        }
        Ok(())
    }
}
