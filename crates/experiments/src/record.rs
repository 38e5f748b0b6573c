//! Episodes played (or replayed) and told to observers step by step: `spelunk record`'s loop,
//! and the replays of evaluation episodes and Go-Explore's demos.
//!
//! Who acts ([`Actor`]): uniform random actions, a scripted controller (the arm tasks'
//! [`spelunk_sims::arm::Scripted`], the breadth-first planner of Montezuma-style levels), or a
//! trained run folder (its policy plays its evaluation episodes on unseen seeds, which are
//! then replayed from their seeds and actions). Each step can carry intrinsic bonuses computed
//! online (the per-step hook, `compute`, then `update` on the same transition, as a training
//! run's stream does) by the modules
//! [`spelunk_intrinsic::make_bonus`] builds.
//!
//! ```no_run
//! # fn main() -> spelunk_experiments::Result<()> {
//! use spelunk_experiments::record::{record, Actor, RecordSpec};
//! struct Count(u64);
//! impl spelunk_core::Observer for Count {
//!     fn wants_steps(&self) -> bool { true }
//!     fn env_step(&mut self, _: &spelunk_core::EnvStep<'_>) -> spelunk_core::ObserverResult {
//!         self.0 += 1;
//!         Ok(())
//!     }
//! }
//! let spec = RecordSpec { actor: Actor::Random, ..RecordSpec::new("MiniGrid-DoorKey-8x8-v0") };
//! let mut steps = Count(0);
//! let episodes = record(&spec, &mut steps)?;
//! println!("{} episodes, {} steps", episodes.len(), steps.0);
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use serde_json::Value;
use spelunk_core::space::Sample;
use spelunk_core::{
    DemoAction, Env, EnvStep, EpisodeFinished, EpisodeStarted, ObsBuf, Observer, Rng, Space,
};
use spelunk_intrinsic::icm::ActionSpec;
use spelunk_intrinsic::{Batch, BatchActions, BonusKind, BonusSpec, IntrinsicReward};

use crate::error::{bail, Context as _, Result};

/// Bonus modules by name (`counts`, `rnd`, `rdd`, `icm`, `byol_explore`, `hindsight`), as
/// `--bonus` takes them.
pub fn bonus_kinds(names: &[String]) -> Result<Vec<BonusKind>> {
    names
        .iter()
        .map(|b| {
            serde_json::from_value::<BonusKind>(Value::String(b.clone())).map_err(|_| {
                crate::Error::Invalid(format!(
                    "--bonus {b}: not a bonus; there are counts, rnd, rdd, icm, byol_explore, \
                     hindsight"
                ))
            })
        })
        .collect()
}

#[cfg(feature = "lerobot")]
/// A LeRobot dataset writer for `spec`'s episodes into `dir` (see `spelunk_dataset`), at `fps`
/// frames per second — by default the env's control rate: 25 for the arm tasks (20 physics
/// steps of 2 ms), 10 for the others, which have no clock. `robot_type` names the arm
/// (`free_gripper`, or the `robot.urdf` of the config); the writer stays outside the run
/// so that [`spelunk_dataset::Writer::finish`] is the caller's, after the episodes.
pub fn lerobot_writer(
    spec: &RecordSpec,
    dir: &Path,
    fps: Option<u32>,
) -> Result<spelunk_dataset::Writer> {
    let env_config = match &spec.actor {
        Actor::Run(run) => {
            crate::config::train_config(Some(&run.join("config.toml")), &[])?.env_config
        }
        _ => spec.env_config.clone(),
    };
    let env =
        crate::registry().make_with(&spec.env, env_config.as_ref().unwrap_or(&Value::Null))?;
    lerobot_writer_for(env.as_ref(), env_config, dir, fps)
}

#[cfg(feature = "lerobot")]
/// [`lerobot_writer`] for episodes of `env` (made with `env_config`) played by the caller.
pub fn lerobot_writer_for(
    env: &dyn Env,
    env_config: Option<Value>,
    dir: &Path,
    fps: Option<u32>,
) -> Result<spelunk_dataset::Writer> {
    let arm = env.id().starts_with("Arm-");
    let fps = fps.unwrap_or(if arm { 25 } else { 10 });
    let robot = arm.then(|| {
        env_config
            .as_ref()
            .and_then(|c| c["robot"]["urdf"].as_str())
            .map_or_else(|| "free_gripper".to_owned(), ToOwned::to_owned)
    });
    Ok(spelunk_dataset::Writer::create(dir, env, env_config, fps)?.with_robot_type(robot))
}

/// Who acts in recorded episodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Actor {
    /// Uniform random actions.
    Random,
    /// The env's scripted controller (arm tasks, Montezuma-style levels).
    Scripted,
    /// A training run folder: its policy's evaluation episodes.
    Run(PathBuf),
}

impl std::str::FromStr for Actor {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "random" => Ok(Actor::Random),
            "scripted" => Ok(Actor::Scripted),
            path => {
                let p = PathBuf::from(path);
                if !p.join("config.toml").is_file() {
                    bail!(
                        "--policy {path}: not `random`, `scripted` or a training run folder \
                         (no {})",
                        p.join("config.toml").display()
                    );
                }
                Ok(Actor::Run(p))
            }
        }
    }
}

/// What to record.
#[derive(Clone, Debug)]
pub struct RecordSpec {
    /// Environment id.
    pub env: String,
    /// Config overrides of the env.
    pub env_config: Option<Value>,
    /// Who acts.
    pub actor: Actor,
    /// Episodes to play.
    pub episodes: usize,
    /// Episode *k* resets with `seed + k` (random and scripted actors; a run's policy plays
    /// its own evaluation seeds).
    pub seed: u64,
    /// Bonus modules computed along the episodes.
    pub bonuses: Vec<BonusKind>,
    /// A run's policy takes its most likely action instead of sampling.
    pub greedy: bool,
}

impl RecordSpec {
    /// One random episode of `env` with its own config, seed 0, no bonuses.
    pub fn new(env: &str) -> Self {
        Self {
            env: env.to_owned(),
            env_config: None,
            actor: Actor::Random,
            episodes: 1,
            seed: 0,
            bonuses: Vec::new(),
            greedy: false,
        }
    }
}

/// Play the episodes `spec` asks for, telling `observer` each episode's start and every step
/// (when it wants steps) and each episode's end; returns the episodes.
pub fn record(spec: &RecordSpec, observer: &mut dyn Observer) -> Result<Vec<EpisodeFinished>> {
    if spec.episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    if spec.episodes > 1_000_000 {
        bail!("--episodes {} is more than the 1,000,000 a recording holds", spec.episodes);
    }
    if let Actor::Run(dir) = &spec.actor {
        return record_run(spec, dir, observer);
    }
    let make = crate::registry().factory(&spec.env, spec.env_config.clone());
    let mut env = make(None)?;
    let mut bonuses = Bonuses::new(&spec.bonuses, env.as_ref(), spec.seed)?;
    let mut out = Vec::with_capacity(spec.episodes);
    for k in 0..spec.episodes {
        let seed = spec.seed + k as u64;
        let mut actor = match spec.actor {
            Actor::Random => Source::Random(Rng::seed_from_u64(seed ^ 0x5eed_ac70)),
            Actor::Scripted => scripted(&spec.env, spec.env_config.as_ref(), seed)?,
            Actor::Run(_) => unreachable!("handled above"),
        };
        let e = play(env.as_mut(), seed, k as u64, None, &mut actor, &mut bonuses, observer)?;
        let e = EpisodeFinished { env_config: spec.env_config.clone(), ..e };
        observer.episode_finished(&e)?;
        out.push(e);
    }
    Ok(out)
}

/// A run folder's policy plays its evaluation episodes; each is replayed to `observer`.
fn record_run(
    spec: &RecordSpec,
    dir: &Path,
    observer: &mut dyn Observer,
) -> Result<Vec<EpisodeFinished>> {
    let (cfg, mut t) = crate::train::load_run(dir)?;
    if cfg.env != spec.env {
        bail!("{} trained {}, not {}", dir.display(), cfg.env, spec.env);
    }
    let eps = t.evaluate_episodes(spec.episodes, spec.greedy)?;
    let make = crate::registry().factory(&cfg.env, cfg.env_config.clone());
    let mut env = make(None)?;
    let mut bonuses = Bonuses::new(&spec.bonuses, env.as_ref(), spec.seed)?;
    let mut out = Vec::with_capacity(eps.len());
    for (k, e) in eps.iter().enumerate() {
        let mut actor = Source::Actions(e.actions.clone(), 0);
        let played =
            play(env.as_mut(), e.seed, k as u64, None, &mut actor, &mut bonuses, observer)?;
        let e = EpisodeFinished { env_config: cfg.env_config.clone(), ..played };
        observer.episode_finished(&e)?;
        out.push(e);
    }
    Ok(out)
}

/// Replay `actions` from `reset(seed)` as episode `episode` of the run, its start and every
/// step told to `observer` (when it wants steps; its end is the caller's to tell, as the run
/// already knows it); the replay stops where the episode ends.
pub fn replay_steps(
    env: &mut dyn Env,
    seed: u64,
    actions: &[DemoAction],
    episode: u64,
    iteration: Option<u64>,
    observer: &mut dyn Observer,
) -> Result<EpisodeFinished> {
    let mut actor = Source::Actions(actions.to_vec(), 0);
    let mut none = Bonuses::new(&[], env, 0)?;
    play(env, seed, episode, iteration, &mut actor, &mut none, observer)
}

/// Where actions come from.
enum Source {
    Random(Rng),
    Arm(spelunk_sims::arm::Scripted, spelunk_sims::arm::ArmTask),
    Actions(Vec<DemoAction>, usize),
}

fn scripted(env: &str, config: Option<&Value>, seed: u64) -> Result<Source> {
    use spelunk_sims::arm::{ArmTask, Scripted};
    let task = match env {
        "Arm-Reach-v0" => Some(ArmTask::Reach),
        "Arm-Push-v0" => Some(ArmTask::Push),
        "Arm-PickAndPlace-v0" => Some(ArmTask::PickAndPlace),
        _ => None,
    };
    if let Some(task) = task {
        return Ok(Source::Arm(Scripted::memoryless(), task));
    }
    if env.starts_with("Montezuma-") {
        // The planner searches the level's exact dynamics from the reset state.
        let mc = spelunk_core::registry::merge_config(
            env,
            &spelunk_envs::montezuma::MontezumaConfig::default(),
            config.unwrap_or(&Value::Null),
        )?;
        let mut m = spelunk_envs::montezuma::Montezuma::new(env, mc)?;
        let mut obs = ObsBuf::for_space(m.observation_space());
        m.reset(Some(seed), None, obs.as_mut())?;
        return match spelunk_envs::montezuma::solve::solve(&m, 4_000_000) {
            spelunk_envs::montezuma::solve::Plan::Solved(plan) => Ok(Source::Actions(
                plan.into_iter().map(|a| DemoAction::Discrete(i64::from(a))).collect(),
                0,
            )),
            other => bail!("the planner found no way through {env} from seed {seed}: {other:?}"),
        };
    }
    bail!(
        "{env} has no scripted controller (the arm tasks Reach, Push and PickAndPlace and the \
         Montezuma-style levels have one): use --policy random or a run folder"
    )
}

impl Source {
    /// The next action, or `None` when a replay has run out.
    fn next(&mut self, space: &Space, obs: &ObsBuf) -> Option<DemoAction> {
        match self {
            Source::Random(rng) => Some(match space.sample(rng) {
                Sample::Discrete(a) => DemoAction::Discrete(a),
                Sample::Floats(v) => DemoAction::Continuous(v),
                Sample::Ints(v) => DemoAction::Continuous(v.iter().map(|&x| x as f32).collect()),
                Sample::Text(_) | Sample::Dict(_) => return None,
            }),
            Source::Arm(ctl, task) => {
                obs.as_f32().map(|flat| DemoAction::Continuous(ctl.act(*task, flat).to_vec()))
            }
            Source::Actions(actions, k) => {
                let a = actions.get(*k).cloned();
                *k += 1;
                a
            }
        }
    }
}

/// Bonus modules computed online along the recorded steps.
struct Bonuses {
    modules: Vec<Box<dyn IntrinsicReward>>,
    names: Vec<&'static str>,
    obs: Vec<f32>,
    next: Vec<f32>,
    values: Vec<(&'static str, f64)>,
}

impl Bonuses {
    fn new(kinds: &[BonusKind], env: &dyn Env, seed: u64) -> Result<Self> {
        let space = env.observation_space();
        let obs_dim = space.flat_len();
        let actions = match env.action_space() {
            Space::Discrete { n, .. } => ActionSpec::Discrete(*n as usize),
            other => ActionSpec::Continuous(other.flat_len()),
        };
        let mut modules = Vec::new();
        for (k, &kind) in kinds.iter().enumerate() {
            let spec = BonusSpec { kind, obs_dim, actions, seed: seed + k as u64, optimizer: None };
            modules.push(
                spelunk_intrinsic::make_bonus(&spec)
                    .with_context(|| format!("building the {kind:?} bonus for {}", env.id()))?,
            );
        }
        let names = modules.iter().map(|m| m.name()).collect();
        Ok(Self { modules, names, obs: Vec::new(), next: Vec::new(), values: Vec::new() })
    }

    /// Whether any module is computed (else the steps' observations need no copy).
    fn active(&self) -> bool {
        !self.modules.is_empty()
    }

    /// Each module's bonus of one transition, then one update on it.
    fn step(&mut self, before: &ObsBuf, action: &DemoAction, after: &ObsBuf) -> Result<()> {
        self.values.clear();
        if !self.active() {
            return Ok(());
        }
        to_f32(before, &mut self.obs);
        to_f32(after, &mut self.next);
        let discrete;
        let actions = match action {
            DemoAction::Discrete(a) => {
                discrete = [*a];
                BatchActions::Discrete(&discrete)
            }
            DemoAction::Continuous(v) => BatchActions::Continuous { values: v, dims: v.len() },
        };
        let batch =
            Batch { obs: &self.obs, actions, next_obs: &self.next, obs_dim: self.obs.len() };
        for (m, name) in self.modules.iter_mut().zip(&self.names) {
            let mut out = [0f32];
            m.on_step(&batch)?;
            m.compute(&batch, &mut out)?;
            m.update(&batch)?;
            self.values.push((name, f64::from(out[0])));
        }
        Ok(())
    }
}

fn to_f32(buf: &ObsBuf, out: &mut Vec<f32>) {
    out.clear();
    match buf {
        ObsBuf::F32(v) => out.extend_from_slice(v),
        ObsBuf::U8(v) => out.extend(v.iter().map(|&b| f32::from(b))),
    }
}

/// One episode: reset with `seed`, then act until it ends (or a replay runs out).
fn play(
    env: &mut dyn Env,
    seed: u64,
    episode: u64,
    iteration: Option<u64>,
    actor: &mut Source,
    bonuses: &mut Bonuses,
    observer: &mut dyn Observer,
) -> Result<EpisodeFinished> {
    let steps = observer.wants_steps();
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut before = obs.clone();
    env.reset(Some(seed), None, obs.as_mut())?;
    if steps {
        observer.episode_started(&EpisodeStarted { env: &*env, episode, seed, iteration })?;
    }
    let limit = env.max_episode_steps().map_or(100_000, u64::from);
    let space = env.action_space().clone();
    let mut actions = Vec::new();
    let (mut ret, mut success, mut length) = (0.0, false, 0u64);
    while length < limit {
        let Some(a) = actor.next(&space, &obs) else { break };
        if bonuses.active() {
            before.clone_from(&obs);
        }
        let s = env.step(a.as_action(), obs.as_mut())?;
        bonuses.step(&before, &a, &obs)?;
        length += 1;
        ret += f64::from(s.reward);
        success |= s.info.is_success == Some(true);
        if steps {
            observer.env_step(&EnvStep {
                env: &*env,
                episode,
                step: length,
                action: a.as_action(),
                obs: obs.view(),
                reward: f64::from(s.reward),
                bonuses: &bonuses.values,
                terminated: s.terminated,
                truncated: s.truncated,
                info: s.info,
            })?;
        }
        actions.push(a);
        if s.terminated || s.truncated {
            break;
        }
    }
    let finished = EpisodeFinished {
        env_id: env.id().to_owned(),
        env_config: None,
        seed,
        actions,
        episodic_return: ret,
        success,
        length,
    };
    Ok(finished)
}
