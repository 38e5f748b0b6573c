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
//!
//! PPO with `rollout_steps` > 0 runs fixed-length slices of persistent envs instead of whole
//! episodes (`slices.rs`); its episode metrics are over the episodes that ended during the
//! iteration (0 when none did), `charts/episodes` says how many.
//!
//! The parts, one file each: [`TrainConfig`] (`config.rs`); GRPO and PPO as two
//! implementations of one `Learner` (`learner.rs`); the advantage shapers composed in order —
//! ProGRPO, the intrinsic stream (`shaping.rs`); privileged starts and their curriculum
//! (`starts.rs`); rollouts on a `VecEnv` and tree branches
//! (`rollout.rs`); the loss over minibatches (`update.rs`); observation features and their
//! normalisation (`norm.rs`); episode-end and loss metrics (`metrics.rs`); privileged starts'
//! demo replay and imitation (`demo.rs`); checkpoints (`checkpoint.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use spelunk_core::{Action, Env, Info, ObsBuf, ObsMut, Rng, Snapshot, Space, VecEnv};
use spelunk_models::policy::{token_logp_entropy, ActionCodec, Head, Policy};
use spelunk_models::Adam;

use crate::advantage::{gae, group_advantages, informative_groups};
use crate::explore::{
    answer_confidence, branch_points, lp_reg_targets, place, progrpo_reweight, Curriculum, Demo,
    DemoAction, LpRegConfig, Place, PrivilegedConfig, Progress, TreeConfig,
};
use crate::loss::{policy_loss, LossInputs, StepNorm};
use crate::{Error, Result};

mod bc;
mod checkpoint;
mod config;
mod demo;
mod distributed;
mod learner;
mod metrics;
mod norm;
mod rollout;
mod shaping;
mod shards;
mod slices;
mod starts;
mod update;

pub use bc::{BcConfig, BcEpoch};
pub use config::{Algorithm, IntrinsicConfig, IntrinsicMethod, TrainConfig};
pub use distributed::Batch;
use learner::{Grpo, Learner, Ppo};
use metrics::{LossSums, Tally};
pub use norm::RunningNorm;
use norm::{feature_scale, features, raw_tokens};
use shaping::{AdvantageShaper, Groups, IntrinsicStream, ProGrpo};
use starts::PrivilegedStarts;

/// A factory of environments (`Registry::factory` makes one). The argument replaces the run's
/// `env_config` when given (a demonstration is replayed with the config it was recorded with,
/// e.g. without sticky actions).
pub use spelunk_core::EnvFactory as MakeEnv;

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

/// Start an episode in `env` from `start`, its first observation written into `obs`;
/// returns the env's info then.
fn begin(env: &mut dyn Env, start: &Start, mut obs: ObsMut<'_>) -> spelunk_core::Result<Info> {
    match start {
        Start::Seed(seed) => {
            env.reset(Some(*seed), None, obs.reborrow())?;
        }
        Start::Restore(seed, snap, noise) => {
            env.reset(Some(*seed), None, obs.reborrow())?;
            env.restore(snap)?;
            if let Some(n) = noise {
                env.reseed(*n);
            }
            env.observe(obs)?;
        }
    }
    Ok(env.info())
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

/// One evaluation episode, as [`Trainer::evaluate_episodes`] reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalEpisode {
    /// The seed it reset with.
    pub seed: u64,
    /// Its actions from the reset.
    pub actions: Vec<DemoAction>,
    /// Its undiscounted task return.
    pub episodic_return: f64,
    /// Whether the env reported success.
    pub success: bool,
    /// Steps taken.
    pub length: usize,
}

impl EvalEpisode {
    /// Mean return and success rate over `eps` (0 and 0 for none).
    pub fn summary(eps: &[EvalEpisode]) -> (f64, f64) {
        let n = eps.len().max(1) as f64;
        (
            eps.iter().map(|e| e.episodic_return).sum::<f64>() / n,
            eps.iter().filter(|e| e.success).count() as f64 / n,
        )
    }
}

/// Where evaluation's seeds start ([`Trainer::evaluate`] plays `EVAL_SEEDS + k`), apart from
/// training's.
pub const EVAL_SEEDS: u64 = 1_000_000_007;

/// The trainer.
pub struct Trainer<'a> {
    /// The settings.
    pub config: TrainConfig,
    make_env: Box<MakeEnv<'a>>,
    /// The policy being trained.
    pub policy: Box<dyn Policy>,
    adam: Adam,
    /// Vector envs of the rollouts (one per shard), by rollout size and shard count, kept
    /// between iterations.
    pools: BTreeMap<(usize, usize), Vec<VecEnv>>,
    /// GRPO or PPO (with its value head).
    learner: Box<dyn Learner>,
    rng: Rng,
    scale: f32,
    /// Advantage shapers, in order: ProGRPO, then the intrinsic stream (where configured).
    shapers: Vec<Box<dyn AdvantageShaper>>,
    /// Iterations done.
    pub iteration: usize,
    /// Environment steps so far.
    pub env_steps: u64,
    /// Privileged starts from a demonstration, with their curriculum.
    privileged: Option<PrivilegedStarts>,
    /// Demo-progress shaping (`privileged.shaping > 0`).
    progress: Option<Progress>,
    /// Demo imitation (`privileged.imitation > 0`).
    imitation: Option<Imitation>,
    /// The KL term's reference (`loss.kl_coef > 0`): the policy as built, or as behaviour
    /// cloning left it ([`Trainer::freeze_reference`]); never trained.
    reference: Option<Box<dyn Policy>>,
    /// Demonstrations whose token loss stays in the RL loss ([`Trainer::keep_demos`]).
    kept_demos: Option<bc::KeptDemos>,
    /// An env for replaying episodes to their branch points.
    replay: Option<(Box<dyn Env>, ObsBuf)>,
    /// Observation statistics (with `obs_norm`).
    pub obs_norm: Option<RunningNorm>,
    /// Use the observation statistics without updating them: during evaluation, and for good
    /// once behaviour cloning has set them from its demonstrations (the cloned policy is a
    /// function of inputs normalised by those; statistics that drift with RL's rollouts
    /// change what it computes).
    norm_frozen: bool,
    /// The workers of the policy's shards (`threads` of them; none for one), started at first
    /// use.
    workers: std::sync::OnceLock<Option<rayon::ThreadPool>>,
    /// PPO's persistent envs (`rollout_steps` > 0), built at the first iteration.
    slices: Option<slices::Slices>,
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
        let env = make_env(None)?;
        let obs_space = env.observation_space().clone();
        let codec = ActionCodec::for_space(env.action_space(), config.policy.bins)?;
        let device = spelunk_models::device(&config.device)?;
        let policy =
            config.policy.build(&obs_space, codec, &device, config.seed).map_err(|e| match e {
                spelunk_models::Error::Config(m) => Error::Config(format!("{}: {m}", config.env)),
                e => e.into(),
            })?;
        let reference = if config.loss.kl_coef > 0.0 {
            let r =
                config.policy.build(&obs_space, policy.codec().clone(), &device, config.seed)?;
            r.params().copy_from(policy.params())?;
            Some(r)
        } else {
            None
        };
        let learner: Box<dyn Learner> = match config.algorithm {
            Algorithm::Grpo => Box::new(Grpo),
            Algorithm::Ppo => Box::new(Ppo::new(&config, obs_space.flat_len(), &device)?),
        };
        let adam = match learner.critic() {
            None => Adam::new(policy.params(), config.adam)?,
            Some(c) => Adam::over_stores(&[policy.params(), &c.params], config.adam)?,
        };
        let obs_dim = obs_space.flat_len();
        let seed = config.seed ^ 0x626f_6e75;
        let bonus = match config.intrinsic.map(|i| i.method) {
            None => None,
            Some(method) => Some(spelunk_intrinsic::make_bonus(&spelunk_intrinsic::BonusSpec {
                kind: match method {
                    IntrinsicMethod::Rdd => spelunk_intrinsic::BonusKind::Rdd,
                    IntrinsicMethod::Rnd => spelunk_intrinsic::BonusKind::Rnd,
                    IntrinsicMethod::Counts => spelunk_intrinsic::BonusKind::Counts,
                },
                obs_dim,
                // The stream's bonuses read observations only.
                actions: spelunk_intrinsic::icm::ActionSpec::Discrete(1),
                seed,
                optimizer: None,
            })?),
        };
        let mut shapers: Vec<Box<dyn AdvantageShaper>> = Vec::new();
        if let Some(pc) = config.progrpo {
            shapers.push(Box::new(ProGrpo(pc)));
        }
        if let (Some(ic), Some(bonus)) = (config.intrinsic, bonus) {
            shapers.push(Box::new(IntrinsicStream::new(ic, bonus)));
        }
        let (privileged, progress, imitation) = match &config.privileged {
            None => (None, None, None),
            Some(p) => {
                let Replayed { demo, snaps, places, obs, rewards } =
                    Self::replay_demo(&*make_env, &config, p)?;
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
                (Some(PrivilegedStarts::new(demo, snaps, p.clone())), progress, imitation)
            }
        };
        Ok(Self {
            obs_norm: config.obs_norm.then(|| RunningNorm::new(obs_dim)),
            norm_frozen: false,
            workers: std::sync::OnceLock::new(),
            slices: None,
            privileged,
            progress,
            imitation,
            reference,
            kept_demos: None,
            replay: None,
            shapers,
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
            pools: BTreeMap::new(),
            learner,
            iteration: 0,
            env_steps: 0,
        })
    }

    /// One iteration: rollouts, advantages, updates. Returns its metrics.
    pub fn iterate(&mut self) -> Result<BTreeMap<String, f64>> {
        let cfg = self.config.clone();
        if cfg.rollout_steps > 0 {
            let (segments, ended) = self.slice_rollouts()?;
            let mut tally = Tally::default();
            tally.add(&ended);
            let mut m = BTreeMap::new();
            tally.write(&mut m, false, 1, 1);
            m.insert("charts/episodes".into(), ended.len() as f64);
            let advantages = vec![0.0; segments.len()];
            return self.update_on(segments, &advantages, m);
        }
        let g = cfg.group_size;
        let mut kept: Vec<Episode> = Vec::new();
        let mut advantages: Vec<f32> = Vec::new();
        let mut tally = Tally::default();
        let mut sampled_groups = 0usize;
        let mut kept_groups = 0usize;
        let mut round = 0u64;
        let mut children = 0usize;
        if let Some(p) = self.privileged.as_mut() {
            p.begin_iteration();
        }
        for shaper in &mut self.shapers {
            shaper.begin_iteration();
        }
        while kept_groups < cfg.groups_per_step && sampled_groups < 3 * cfg.groups_per_step {
            let want = cfg.groups_per_step - kept_groups;
            let base = (cfg.seed << 32) + (self.iteration as u64) * 4096 + round * 1024;
            // Privileged starts from the demo while its curriculum is past the real start,
            // and whether each lies on the frontier; else fresh seeds.
            let drawn = self.privileged.as_ref().and_then(|p| p.draw(want, base, &mut self.rng));
            let (starts, on_frontier) = drawn.unwrap_or_else(|| {
                ((0..want as u64).map(|k| Start::Seed(base + k)).collect(), Vec::new())
            });
            let eps = self.rollouts(&starts, g, false)?;
            let returns: Vec<f32> = eps.iter().map(|e| e.ret + e.shaping).collect();
            let mut adv = group_advantages(&returns, g, cfg.advantage)?;
            let mut informative = informative_groups(&returns, g)?;
            let dims = self.policy.codec().dims();
            for shaper in &mut self.shapers {
                shaper.shape(Groups {
                    eps: &eps,
                    returns: &returns,
                    adv: &mut adv,
                    informative: &mut informative,
                    g,
                    kind: cfg.advantage,
                    iteration: self.iteration,
                    obs_dim: self.policy.obs_dim(),
                    dims,
                    rng: &mut self.rng,
                })?;
            }
            if let Some(p) = self.privileged.as_mut() {
                p.record(&eps, g, &on_frontier);
            }
            tally.add(&eps);
            sampled_groups += want;
            let tree = match cfg.tree {
                Some(t) if self.learner.group_relative() => Some(self.branch(&eps, g, t)?),
                _ => None,
            };
            for (k, group) in eps.chunks(g).enumerate() {
                if cfg.dynamic_sampling && self.learner.group_relative() && !informative[k] {
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
            if !cfg.dynamic_sampling || !self.learner.group_relative() {
                break;
            }
        }
        let mut m = BTreeMap::new();
        let n_eps = tally.n();
        tally.write(&mut m, self.progress.is_some(), kept_groups, sampled_groups);
        if cfg.tree.is_some() {
            m.insert("charts/tree_children".into(), children as f64);
        }
        if let Some(p) = self.privileged.as_mut() {
            p.finish(tally.success_rate(), &mut m);
        }
        for shaper in &self.shapers {
            shaper.write_metrics(&mut m, n_eps);
        }
        self.update_on(kept, &advantages, m)
    }

    /// The update on the episodes an iteration kept (with their advantages): the learner's
    /// preparation (PPO's values and GAE), `epochs` passes of shuffled minibatches; adds the
    /// loss metrics to `m` and ends the iteration.
    fn update_on(
        &mut self,
        mut kept: Vec<Episode>,
        advantages: &[f32],
        mut m: BTreeMap<String, f64>,
    ) -> Result<BTreeMap<String, f64>> {
        let cfg = self.config.clone();
        let device = self.policy.params().device().clone();
        self.learner.prepare(&mut kept, self.policy.obs_dim(), &device)?;
        let mut sums = LossSums::default();
        if !kept.is_empty() {
            for _ in 0..cfg.epochs {
                let mut order: Vec<usize> = (0..kept.len()).collect();
                for i in (1..order.len()).rev() {
                    order.swap(i, self.rng.index(i + 1));
                }
                let per = kept.len().div_ceil(cfg.minibatches);
                for chunk in order.chunks(per) {
                    let (st, protected, im, demo_nll) = self.update(&kept, advantages, chunk)?;
                    sums.add(&st, protected, im);
                    sums.add_demo_nll(demo_nll);
                }
            }
        }
        sums.write(&mut m, cfg.lp_reg.is_some(), self.imitation.is_some());
        if self.reference.is_some() {
            sums.write_ref_kl(&mut m);
        }
        if self.kept_demos.is_some() {
            sums.write_demo_nll(&mut m);
        }
        self.iteration += 1;
        m.insert("charts/env_steps".into(), self.env_steps as f64);
        m.insert("iteration".into(), self.iteration as f64);
        Ok(m)
    }

    /// Evaluation on unseen seeds, sampling tokens from the policy (or the most likely token
    /// with `greedy`): (mean return, success rate). Draws from its own generator, so
    /// evaluating does not change the training run.
    pub fn evaluate(&mut self, episodes: usize, greedy: bool) -> Result<(f64, f64)> {
        Ok(EvalEpisode::summary(&self.evaluate_episodes(episodes, greedy)?))
    }

    /// Where privileged starts begin now (with `[privileged]` in the config).
    pub fn curriculum(&self) -> Option<Curriculum> {
        self.privileged.as_ref().map(|p| p.curriculum)
    }

    /// [`Trainer::evaluate`]'s episodes one by one: seed, actions, return, success, length.
    pub fn evaluate_episodes(&mut self, episodes: usize, greedy: bool) -> Result<Vec<EvalEpisode>> {
        let seeds: Vec<u64> = (0..episodes as u64).map(|k| EVAL_SEEDS + k).collect();
        let eval_rng = Rng::seed_from_u64(self.config.seed ^ 0x6576_616c);
        let train_rng = std::mem::replace(&mut self.rng, eval_rng);
        let steps = self.env_steps;
        let starts: Vec<Start> = seeds.iter().map(|&s| Start::Seed(s)).collect();
        let fixed = std::mem::replace(&mut self.norm_frozen, true);
        let eps = self.rollouts(&starts, 1, greedy);
        self.norm_frozen = fixed;
        self.rng = train_rng;
        self.env_steps = steps;
        let discrete = matches!(self.policy.codec(), ActionCodec::Discrete { .. });
        let dims = self.policy.codec().dims();
        Ok(eps?
            .into_iter()
            .zip(seeds)
            .map(|(e, seed)| EvalEpisode {
                seed,
                actions: if discrete {
                    e.actions.iter().map(|&a| DemoAction::Discrete(a as i64)).collect()
                } else {
                    e.actions.chunks(dims).map(|a| DemoAction::Continuous(a.to_vec())).collect()
                },
                episodic_return: f64::from(e.ret),
                success: e.success,
                length: e.steps,
            })
            .collect())
    }
}
