//! `spelunk explore`: reward-free exploration experiments with the intrinsic bonuses.
//!
//! - `--experiment noisy-tv` ([`noisy_tv`]): the noisy-TV maze in its four noise settings;
//!   distinct trackers found and the fraction of steps spent watching the TV.
//! - `--experiment coverage` ([`coverage`]): hard-exploration coverage of
//!   `MiniGrid-MultiRoom-N6-v0` and `Montezuma-Lite-v0`; distinct cells and rooms visited.
//! - `--experiment go-explore` ([`go_explore`]): Go-Explore's archive on Montezuma-Lite.
//! - `--experiment stax` ([`stax`]): policy search over neural controllers — STAX, TAXONS,
//!   novelty search and random search — on the STAX paper's kinds of task.
//!
//! The first two compare, for each bonus (counts, RND, RDD, ICM, BYOL-Explore, Curiosity in Hindsight)
//! and a random-action baseline, over several seeds, one agent that maximises the normalised
//! intrinsic reward alone. The agent is deliberately simple, so the bonus is the only thing
//! that differs between methods: a model-based tabular planner (`Planner`) over a state key
//! the experiment chooses (position; room, inventory and position in Montezuma), ε-greedy
//! with ε = 0.05, γ = 0.95, one Gauss–Seidel value-iteration sweep per vector step. The
//! planner keeps each transition's raw bonus and normalises all of them with the bonus
//! stream's current statistics (centred and scaled by EMAs, α = 0.99) before every sweep, so
//! familiar transitions score below zero, a transition never tried, valued at 0, looks better
//! than them, and one last seen long ago is judged on today's scale. That last point matters
//! for the learned bonuses, whose scale falls by orders of magnitude during a run: an agent
//! that stores normalised bonuses remembers early transitions as far below today's mean and
//! never goes back (with it, ICM, BYOL-Explore and Curiosity in Hindsight all explored less
//! than random actions on the noisy-TV maze). Every learned
//! bonus takes one Adam step (lr 10⁻³) per vector step on the batch of the 8 envs'
//! transitions. Observation features for the bonuses are the env's observation scaled to
//! [0, 1] plus a one-hot of the agent's position, so that every method can tell places apart.

pub mod coverage;
pub mod go_explore;
pub mod noisy_tv;
pub mod stax;

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;
use spelunk_core::{AutoReset, Info, Rng, VecEnv, VecEnvConfig};
use spelunk_intrinsic::icm::ActionSpec;
use spelunk_intrinsic::{
    Batch, BatchActions, BonusKind, BonusSpec, BonusStream, IntrinsicReward, Normalization,
};
use spelunk_models::AdamConfig;

use crate::error::{bail, create_dir, write_file, Context as _, Error, Result};

/// Which experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Experiment {
    /// The noisy-TV maze, four noise settings.
    NoisyTv,
    /// Reward-free coverage of MultiRoom-N6 and Montezuma-Lite.
    Coverage,
    /// Go-Explore on Montezuma-Lite: domain and pixel cells over seeds, the bonus agents at
    /// the same budget, and the robustified demonstration.
    GoExplore,
    /// Go-Explore on Montezuma-Lite-Pixels with pixel cells at a fixed downscale, over seeds.
    GoExplorePixels,
    /// Every seed's Go-Explore demonstration robustified with the same fixed budget.
    Robustify,
    /// STAX against novelty search (ground-truth descriptor), TAXONS and random search on the
    /// deceptive maze, redundant arm and curling table.
    Stax,
}

/// Exploration methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Uniform random actions.
    Random,
    /// Tabular counts over observations.
    Counts,
    /// Random Network Distillation.
    Rnd,
    /// Random Distribution Distillation.
    Rdd,
    /// Intrinsic Curiosity Module.
    Icm,
    /// BYOL-Explore.
    ByolExplore,
    /// Curiosity in Hindsight.
    Hindsight,
    /// Go-Explore (one run on `--env`, not an experiment method).
    GoExplore,
}

impl Experiment {
    /// Every experiment with its command-line name.
    pub const NAMES: [(&'static str, Experiment); 6] = [
        ("noisy-tv", Experiment::NoisyTv),
        ("coverage", Experiment::Coverage),
        ("go-explore", Experiment::GoExplore),
        ("go-explore-pixels", Experiment::GoExplorePixels),
        ("robustify", Experiment::Robustify),
        ("stax", Experiment::Stax),
    ];
}

impl std::str::FromStr for Experiment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        from_names(s, &Self::NAMES, "experiment")
    }
}

/// The value named `s` in `names`, or an error listing the names.
fn from_names<T: Copy>(s: &str, names: &[(&str, T)], what: &str) -> Result<T> {
    names.iter().find(|(n, _)| *n == s).map(|&(_, v)| v).ok_or_else(|| {
        let all: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
        Error::Invalid(format!("unknown {what} `{s}`; there are: {}", all.join(", ")))
    })
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        from_names(s, &Self::NAMES, "method")
    }
}

impl Method {
    /// Every method with its command-line name.
    pub const NAMES: [(&'static str, Method); 8] = [
        ("random", Method::Random),
        ("counts", Method::Counts),
        ("rnd", Method::Rnd),
        ("rdd", Method::Rdd),
        ("icm", Method::Icm),
        ("byol-explore", Method::ByolExplore),
        ("hindsight", Method::Hindsight),
        ("go-explore", Method::GoExplore),
    ];

    /// The name tables and plots use.
    pub fn label(self) -> &'static str {
        match self {
            Method::Random => "random actions",
            Method::Counts => "counts",
            Method::Rnd => "RND",
            Method::Rdd => "RDD",
            Method::Icm => "ICM",
            Method::ByolExplore => "BYOL-Explore",
            Method::Hindsight => "Curiosity in Hindsight",
            Method::GoExplore => "Go-Explore",
        }
    }
}

const ALL_METHODS: [Method; 7] = [
    Method::Random,
    Method::Counts,
    Method::Rnd,
    Method::Rdd,
    Method::Icm,
    Method::ByolExplore,
    Method::Hindsight,
];

/// Settings of `spelunk explore` (every experiment reads the fields it needs).
#[derive(Clone, Debug)]
pub struct ExploreConfig {
    /// The experiment.
    pub experiment: Experiment,
    /// Methods (empty: all bonus methods and random actions).
    pub methods: Vec<Method>,
    /// Settings (empty: all). noisy-tv: none, brownian, pixel_noise, remote; coverage:
    /// multiroom, montezuma; stax: maze, arm, curling.
    pub settings: Vec<String>,
    /// Seeds per method and setting.
    pub seeds: u64,
    /// Env steps per run, over all 8 envs (default: 40000 for noisy-tv, 400000 for coverage;
    /// Go-Explore: frames, 10M).
    pub steps: Option<usize>,
    /// STAX: evaluations per run (default 20000).
    pub evaluations: Option<usize>,
    /// Folder for the JSON, table and plots.
    pub out: PathBuf,
    /// Go-Explore: the environment.
    pub env: String,
    /// Config overrides for every env of the run: Go-Explore's, and each setting's env in the
    /// noisy-TV and coverage experiments (`{"level": "my_level.txt"}` with the `montezuma`
    /// setting plays a level file).
    pub env_config: Option<serde_json::Value>,
    /// Go-Explore: the cell representation.
    pub cells: go_explore::Cells,
    /// Go-Explore: tiles per domain cell side.
    pub cell_size: i32,
    /// Go-Explore with pixel cells: a fixed downscaling (width, height, levels).
    pub downscale: Option<(usize, usize, u8)>,
    /// Go-Explore with pixel cells and no fixed downscaling: the automatic choice's target
    /// number of cells, as a fraction of the sampled frames.
    pub target_fraction: f64,
    /// Go-Explore: the seed of selection and exploration.
    pub seed: u64,
    /// Go-Explore: folder of the run (manifest.json, metrics.jsonl, checkpoint/, demo.json).
    pub run: PathBuf,
    /// Go-Explore: continue the run in `run` from its last commit.
    pub resume: bool,
    /// Go-Explore: replace a run already in `run`.
    pub force: bool,
    /// Go-Explore and STAX: worker threads (0: every core; results do not depend on it).
    pub threads: usize,
    /// Go-Explore: stop once an episode succeeds.
    pub stop_on_solve: bool,
}

impl Default for ExploreConfig {
    fn default() -> Self {
        Self {
            experiment: Experiment::NoisyTv,
            methods: Vec::new(),
            settings: Vec::new(),
            seeds: 3,
            steps: None,
            evaluations: None,
            out: PathBuf::from("docs/results"),
            env: "Montezuma-Lite-v0".into(),
            env_config: None,
            cells: go_explore::Cells::Domain,
            cell_size: 1,
            downscale: None,
            target_fraction: 0.25,
            seed: 0,
            run: PathBuf::from("runs/go-explore"),
            resume: false,
            force: false,
            threads: 0,
            stop_on_solve: false,
        }
    }
}

impl ExploreConfig {
    /// The methods to compare (all when none are named).
    pub fn methods(&self) -> Vec<Method> {
        if self.methods.is_empty() {
            ALL_METHODS.to_vec()
        } else {
            self.methods.clone()
        }
    }
}

/// What `spelunk explore` did.
#[derive(Debug)]
pub enum Outcome {
    /// An experiment: the report it wrote (a table, or a line naming its files).
    Report(String),
    /// One Go-Explore run.
    GoExplore(Box<go_explore::SingleOutcome>),
}

/// Run `spelunk explore`: a Go-Explore run when the only method is `go-explore`, else the
/// experiment.
pub fn run(args: &ExploreConfig, observer: &mut dyn spelunk_core::Observer) -> Result<Outcome> {
    // The bonus networks are small: candle's multi-threaded kernels spend more time handing
    // work between threads than computing (3× slower here). One thread unless told otherwise.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    if args.seeds == 0 || args.steps.is_some_and(|s| s < 1000) {
        bail!("--seeds must be ≥ 1 and --steps ≥ 1000");
    }
    if args.evaluations.is_some_and(|e| e < 100) {
        bail!("--evaluations must be ≥ 100");
    }
    if args.methods.contains(&Method::GoExplore) {
        if args.methods.len() > 1 {
            bail!("--method go-explore runs alone (it is not a bonus for the experiments)");
        }
        let run = go_explore::SingleRun {
            spec: go_explore::GoExploreSpec {
                env: args.env.clone(),
                env_config: args.env_config.clone(),
                cells: args.cells,
                cell_size: args.cell_size,
                downscale: args.downscale,
                target_fraction: args.target_fraction,
                seed: args.seed,
                threads: args.threads,
            },
            budget_frames: args.steps.unwrap_or(10_000_000) as u64,
            stop_on_solve: args.stop_on_solve,
            dir: args.run.clone(),
            resume: args.resume,
            force: args.force,
        };
        return Ok(Outcome::GoExplore(Box::new(go_explore::run_single(&run, observer)?)));
    }
    Ok(Outcome::Report(match args.experiment {
        Experiment::NoisyTv => noisy_tv::run(args)?,
        Experiment::Coverage => coverage::run(args)?,
        Experiment::GoExplore => go_explore::experiment(args)?,
        Experiment::GoExplorePixels => go_explore::pixels_experiment(args)?,
        Experiment::Robustify => go_explore::robustify_experiment(args)?,
        Experiment::Stax => stax::run(args, observer)?,
    }))
}

/// Run `one(setting, method, seed)` for every combination, with a progress bar.
fn run_all<S: Copy, R>(
    settings: &[(S, &str)],
    methods: &[Method],
    seeds: u64,
    mut one: impl FnMut(S, Method, u64) -> Result<R>,
) -> Result<Vec<R>> {
    let pb = crate::observers::progress_bar((methods.len() * settings.len()) as u64 * seeds);
    let mut runs = Vec::new();
    for &(setting, name) in settings {
        for &m in methods {
            for seed in 0..seeds {
                pb.set_message(format!("{name}: {} seed {seed}", m.label()));
                runs.push(
                    one(setting, m, seed)
                        .with_context(|| format!("{} on {name} seed {seed}", m.label()))?,
                );
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();
    Ok(runs)
}

/// Write `{out}/{name}.json` with the runs and how they were made.
fn write_json(args: &ExploreConfig, name: &str, steps: usize, runs: &impl Serialize) -> Result<()> {
    create_dir(&args.out)?;
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "experiment": name,
        "steps_per_run": steps,
        "seeds": args.seeds,
        "runs": runs,
    }))?;
    let path = args.out.join(format!("{name}.json"));
    write_file(&path, json)
}

/// The bonus of `method` (none for random actions), trained at lr 10⁻³.
fn bonus_for(
    method: Method,
    obs_dim: usize,
    num_actions: usize,
    seed: u64,
) -> Result<Option<Box<dyn IntrinsicReward>>> {
    let kind = match method {
        Method::Random => return Ok(None),
        Method::GoExplore => {
            bail!("Go-Explore is not a bonus; run it with --method go-explore alone")
        }
        Method::Counts => BonusKind::Counts,
        Method::Rnd => BonusKind::Rnd,
        Method::Rdd => BonusKind::Rdd,
        Method::Icm => BonusKind::Icm,
        Method::ByolExplore => BonusKind::ByolExplore,
        Method::Hindsight => BonusKind::Hindsight,
    };
    let spec = BonusSpec {
        kind,
        obs_dim,
        actions: ActionSpec::Discrete(num_actions),
        seed,
        optimizer: Some(AdamConfig { lr: 1e-3, ..AdamConfig::default() }),
    };
    Ok(Some(spelunk_intrinsic::make_bonus(&spec)?))
}

const NUM_ENVS: usize = 8;
const EPSILON: f64 = 0.05;
const GAMMA: f32 = 0.95;
const RAW_RATE: f32 = 0.5;

/// A model-based tabular agent: it records where each (state, action) led and an exponential
/// average (rate 0.5) of the raw bonus it earned there, and plans by value iteration on that
/// model with the bonuses normalised as of now. A transition never tried is worth 0, the
/// centred bonus's mean, so the agent prefers it to familiar transitions (below the mean) and
/// novel ones to both.
struct Planner {
    actions: usize,
    index: HashMap<u64, u32>,
    next: Vec<Option<u32>>,
    raw: Vec<f32>,
    value: Vec<f32>,
    norm: Vec<f32>,
}

impl Planner {
    fn new(actions: usize) -> Self {
        Self {
            actions,
            index: HashMap::new(),
            next: Vec::new(),
            raw: Vec::new(),
            value: Vec::new(),
            norm: Vec::new(),
        }
    }

    /// The dense index of a state key, adding it when new.
    fn state(&mut self, key: u64) -> usize {
        let n = self.value.len() as u32;
        let s = *self.index.entry(key).or_insert(n);
        if s == n {
            self.value.push(0.0);
            self.next.extend(std::iter::repeat_n(None, self.actions));
            self.raw.extend(std::iter::repeat_n(0.0, self.actions));
            self.norm.extend(std::iter::repeat_n(0.0, self.actions));
        }
        s as usize
    }

    fn q(&self, s: usize, a: usize) -> f32 {
        let k = s * self.actions + a;
        match self.next[k] {
            Some(n) => self.norm[k] + GAMMA * self.value[n as usize],
            None => 0.0,
        }
    }

    fn observe(&mut self, s: usize, a: usize, next: usize, r: f32) {
        let k = s * self.actions + a;
        if self.next[k].is_none() {
            self.raw[k] = r;
        } else {
            self.raw[k] += RAW_RATE * (r - self.raw[k]);
        }
        self.next[k] = Some(next as u32);
    }

    /// Normalise every known transition's raw bonus with the stream's statistics now.
    fn renormalise(&mut self, stream: &BonusStream) {
        for (n, &r) in self.norm.iter_mut().zip(&self.raw) {
            *n = stream.normalize_current(r);
        }
    }

    fn sweep(&mut self) {
        for s in 0..self.value.len() {
            self.value[s] =
                (0..self.actions).map(|a| self.q(s, a)).fold(f32::NEG_INFINITY, f32::max);
        }
    }

    fn act(&self, s: usize, rng: &mut Rng) -> usize {
        let best = (0..self.actions).map(|a| self.q(s, a)).fold(f32::NEG_INFINITY, f32::max);
        let ties: Vec<usize> = (0..self.actions).filter(|&a| self.q(s, a) >= best).collect();
        ties[rng.index(ties.len())]
    }
}

/// What an experiment measures, and how the shared agent loop sees its env: features for the
/// bonuses, the planner's state key, reset seeds, and what to record after each step.
trait Probe {
    /// Registry id of the env.
    fn env_id(&self) -> &str;
    /// Feature width handed to the bonuses.
    fn obs_dim(&self) -> usize;
    /// Features of one env's raw byte observation and info.
    fn features(&self, raw: &[u8], info: &Info, out: &mut [f32]);
    /// The planner's state key for env `env`, from its raw observation and info.
    fn key(&self, env: usize, raw: &[u8], info: &Info) -> u64;
    /// The seed env `env` resets with after an episode (`None`: continue its RNG).
    fn reset_seed(&self, env: usize) -> Option<u64>;
    /// Record one env's step (the info after the action; before any reset).
    fn record(&mut self, env: usize, info: &Info);
    /// Called every `every` env steps with the env steps so far.
    fn sample(&mut self, t: usize);
}

/// Run the agent with `method` on `probe`'s env (with `env_config` over its defaults) for
/// `steps` env steps (over the 8 envs).
fn run_agent(
    probe: &mut dyn Probe,
    env_config: Option<&serde_json::Value>,
    method: Method,
    seed: u64,
    steps: usize,
) -> Result<()> {
    let reg = crate::registry();
    let config = VecEnvConfig { num_threads: 1, autoreset: AutoReset::Disabled };
    let mut venv = VecEnv::from_fn(NUM_ENVS, config, |_| match env_config {
        Some(c) => reg.make_with(probe.env_id(), c),
        None => reg.make(probe.env_id()),
    })?;
    let raw_dim = venv.obs_len();
    let num_actions = match venv.action_space() {
        spelunk_core::Space::Discrete { n, .. } => *n as usize,
        other => bail!("the agent needs discrete actions, {} has {other:?}", probe.env_id()),
    };
    for i in 0..NUM_ENVS {
        venv.reset_env(i, Some(probe.reset_seed(i).unwrap_or(seed * 1000 + i as u64)))?;
    }
    let dim = probe.obs_dim();
    let mut bonus = bonus_for(method, dim, num_actions, seed)?;
    let mut stream =
        BonusStream::new(Normalization::Ema { alpha: 0.99, center: true }, 1.0, None, NUM_ENVS);
    let mut rng = Rng::seed_from_u64(seed ^ 0xE7_0BE5);
    let mut agent = Planner::new(num_actions);
    let mut obs = vec![0f32; NUM_ENVS * dim];
    let mut next = vec![0f32; NUM_ENVS * dim];
    let mut actions = vec![0i64; NUM_ENVS];
    let mut r_int = vec![0f32; NUM_ENVS];
    let mut raw = [0f32; NUM_ENVS];
    let mut states = vec![0usize; NUM_ENVS];
    let mut next_states = vec![0usize; NUM_ENVS];
    let observe_all = |venv: &VecEnv,
                       probe: &dyn Probe,
                       agent: &mut Planner,
                       out: &mut [f32],
                       st: &mut [usize]|
     -> Result<()> {
        let bytes = venv.obs_u8().context("the agent needs byte observations")?;
        for i in 0..NUM_ENVS {
            let info = venv.infos()[i];
            let raw = &bytes[i * raw_dim..(i + 1) * raw_dim];
            probe.features(raw, &info, &mut out[i * dim..(i + 1) * dim]);
            st[i] = agent.state(probe.key(i, raw, &info));
        }
        Ok(())
    };
    observe_all(&venv, probe, &mut agent, &mut obs, &mut states)?;
    let every = (steps / 40).max(NUM_ENVS);
    let mut t = 0;
    while t < steps {
        for (i, a) in actions.iter_mut().enumerate() {
            *a = if method == Method::Random || rng.bernoulli(EPSILON) {
                rng.below(num_actions as u64) as i64
            } else {
                agent.act(states[i], &mut rng) as i64
            };
        }
        venv.step_discrete(&actions)?;
        t += NUM_ENVS;
        observe_all(&venv, probe, &mut agent, &mut next, &mut next_states)?;
        for i in 0..NUM_ENVS {
            probe.record(i, &venv.infos()[i]);
        }
        if let Some(b) = bonus.as_mut() {
            let batch = Batch {
                obs: &obs,
                actions: BatchActions::Discrete(&actions),
                next_obs: &next,
                obs_dim: dim,
            };
            b.on_step(&batch)?;
            b.compute(&batch, &mut r_int)?;
            raw.copy_from_slice(&r_int);
            // Updates the statistics; the planner keeps raw bonuses and normalises them when
            // it plans, so that old entries are judged on today's scale.
            stream.apply(&mut r_int, &[false; NUM_ENVS]);
            b.update(&batch)?;
            for i in 0..NUM_ENVS {
                agent.observe(states[i], actions[i] as usize, next_states[i], raw[i]);
            }
            agent.renormalise(&stream);
            agent.sweep();
        }
        if t % every < NUM_ENVS {
            probe.sample(t);
        }
        let ended: Vec<usize> =
            (0..NUM_ENVS).filter(|&i| venv.terminated()[i] || venv.truncated()[i]).collect();
        if ended.is_empty() {
            std::mem::swap(&mut obs, &mut next);
            std::mem::swap(&mut states, &mut next_states);
        } else {
            for &i in &ended {
                venv.reset_env(i, probe.reset_seed(i))?;
            }
            observe_all(&venv, probe, &mut agent, &mut obs, &mut states)?;
        }
    }
    Ok(())
}

/// One-hot `value` (clamped to the width) into `out`.
fn one_hot(out: &mut [f32], value: i64) {
    out.fill(0.0);
    let k = value.clamp(0, out.len() as i64 - 1) as usize;
    out[k] = 1.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planner_values_match_the_discounted_sum_on_a_chain() {
        // States 0 → 1 → 2 → 2 (self-loop) under action 0; raw bonus 1 on every transition.
        // With no normalisation, V(2) = 1/(1−γ), V(1) = 1 + γV(2), V(0) = 1 + γV(1).
        let stream = BonusStream::new(Normalization::None, 1.0, None, 1);
        let mut p = Planner::new(2);
        let s: Vec<usize> = (0..3).map(|k| p.state(k)).collect();
        p.observe(s[0], 0, s[1], 1.0);
        p.observe(s[1], 0, s[2], 1.0);
        p.observe(s[2], 0, s[2], 1.0);
        p.renormalise(&stream);
        for _ in 0..2000 {
            p.sweep();
        }
        let v2 = 1.0 / (1.0 - GAMMA);
        let v1 = 1.0 + GAMMA * v2;
        let v0 = 1.0 + GAMMA * v1;
        for (got, want) in p.value.iter().zip([v0, v1, v2]) {
            assert!((got - want).abs() < 1e-3 * want, "{:?} vs {want}", p.value);
        }
        // Action 1 was never tried anywhere: worth exactly 0, below the known action here.
        assert!(p.q(s[0], 1) == 0.0, "an untried action is worth exactly 0");
        let mut rng = Rng::seed_from_u64(0);
        assert_eq!(p.act(s[0], &mut rng), 0);
    }

    #[test]
    fn old_bonuses_are_judged_on_todays_scale() {
        // A transition seen early with a raw bonus of 1 stays above a later one of 0.01 even
        // after the stream's mean has fallen to 0.01: it is normalised again, not remembered.
        let mut stream =
            BonusStream::new(Normalization::Ema { alpha: 0.5, center: true }, 1.0, None, 2);
        let mut p = Planner::new(1);
        let (a, b) = (p.state(0), p.state(1));
        p.observe(a, 0, a, 1.0);
        for _ in 0..30 {
            stream.apply(&mut [0.01, 0.02], &[false, false]);
        }
        p.observe(b, 0, b, 0.01);
        p.renormalise(&stream);
        assert!(p.norm[a] > 10.0 && p.norm[b] < 0.0, "{:?}", p.norm);
    }

    #[test]
    fn runs_repeat_exactly_and_trackers_only_accumulate() {
        let run = |m| noisy_tv::run_one(m, "brownian", "NoisyTV-Maze-Brownian-v0", None, 3, 1600);
        for m in [Method::Random, Method::Counts, Method::Hindsight] {
            let (a, b) = (run(m).expect("run"), run(m).expect("run"));
            assert_eq!(
                serde_json::to_string(&a).expect("json"),
                serde_json::to_string(&b).expect("json"),
                "{m:?}"
            );
            assert!(a.curve.windows(2).all(|w| w[0].1 <= w[1].1), "{m:?}: {:?}", a.curve);
            assert!((0.0..=1.0).contains(&a.watching_fraction));
        }
    }

    #[test]
    fn coverage_counts_distinct_cells_and_rooms() {
        let run = coverage::run_one_for_test(Method::Counts, 0, 1600).expect("run");
        // 8 envs × 200 steps: each env sees at least its start room and a few cells, and
        // never more cells than steps taken.
        assert!(run.0 >= 3.0 && run.0 <= 201.0 && run.1 >= 1.0, "{run:?}");
    }
}
