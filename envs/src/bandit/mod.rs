//! K-armed bandits (Bernoulli, Gaussian) and a linear contextual bandit.
//!
//! Each env is one bandit *task* per seed: a seeded reset draws the arms (Bernoulli means
//! `U(0, 1)`, Gaussian means `N(0, 1)`, contextual parameters `θ_k ~ N(0, I_d)`) unless the
//! config fixes them; `reset(None)` keeps the task and starts a new episode. An episode is
//! `horizon` pulls, then `truncated`. Every step reports `info.optimal_action` and
//! `info.regret`, the expected regret of the pull (`μ* − μ_a`), so cumulative regret is
//! exact rather than sampled.
//!
//! Observation: multi-armed bandits show `[t / horizon]` (one float); the contextual bandit
//! shows the context `x_t ~ N(0, I_d / d)`, and its reward is `x·θ_a + N(0, σ²)`.
//!
//! With `history = W` a Bernoulli bandit shows instead its last W pulls as token ids, the
//! latest last and 0 (padding) before the first: pull of arm `a` with reward `r` is
//! `1 + 2a + r`, so the vocabulary is `2·arms + 1`. This is the in-context observation a
//! sequence policy (the transformer head) reads to learn to explore ("meta-bandits").

pub mod baselines;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spelunk_core::{
    Action, ByteWriter, DType, Env, Error, Info, ObsMut, Registry, Result, Rng, Snapshot, Space,
    Step,
};

/// 2: the pull history (history observations) is saved too.
const SNAPSHOT_KIND: &str = "bandit/2";

/// Which reward model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BanditKind {
    /// Reward 1 with probability `p_a`, else 0.
    Bernoulli,
    /// Reward `N(μ_a, noise_std²)`.
    Gaussian,
    /// Reward `x·θ_a + N(0, noise_std²)` for context `x`.
    LinearContextual,
}

/// Bandit configuration; every field has a default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BanditConfig {
    /// Number of arms.
    pub arms: usize,
    /// Pulls per episode.
    pub horizon: u32,
    /// Fixed arm means (Bernoulli probabilities or Gaussian means); drawn per seed if absent.
    pub means: Option<Vec<f64>>,
    /// Reward noise (Gaussian and contextual).
    pub noise_std: f64,
    /// Context dimension (contextual only).
    pub dims: usize,
    /// Observe the last this-many pulls as tokens (Bernoulli only; `None`: `[t / horizon]`).
    pub history: Option<u32>,
}

impl Default for BanditConfig {
    fn default() -> Self {
        Self { arms: 10, horizon: 100, means: None, noise_std: 1.0, dims: 8, history: None }
    }
}

/// A bandit environment.
#[derive(Clone, Debug)]
pub struct Bandit {
    id: String,
    kind: BanditKind,
    config: BanditConfig,
    means: Vec<f64>,
    /// `arms × dims`, row-major (contextual).
    theta: Vec<f64>,
    context: Vec<f64>,
    rng: Rng,
    t: u32,
    started: bool,
    done: bool,
    score: f32,
    last_regret: f32,
    /// Pull tokens of the episode (history observations).
    pulls: Vec<u16>,
    observation_space: Space,
    action_space: Space,
}

impl Bandit {
    /// Build a bandit.
    pub fn new(id: &str, kind: BanditKind, config: BanditConfig) -> Result<Self> {
        let bad = |m: String| Error::Config { what: id.to_owned(), message: m };
        if config.arms < 2 || config.arms > 4096 {
            return Err(bad(format!("arms must be in 2..=4096, got {}", config.arms)));
        }
        if config.horizon == 0 {
            return Err(bad("horizon is 0".into()));
        }
        if !(config.noise_std >= 0.0 && config.noise_std.is_finite()) {
            return Err(bad(format!("noise_std must be finite and ≥ 0, got {}", config.noise_std)));
        }
        if let Some(m) = &config.means {
            if m.len() != config.arms {
                return Err(bad(format!("means has {} values for {} arms", m.len(), config.arms)));
            }
            if kind == BanditKind::Bernoulli && m.iter().any(|p| !(0.0..=1.0).contains(p)) {
                return Err(bad("Bernoulli means must lie in [0, 1]".into()));
            }
            if kind == BanditKind::LinearContextual {
                return Err(bad("means do not apply to the contextual bandit".into()));
            }
        }
        let dims = if kind == BanditKind::LinearContextual {
            if config.dims == 0 || config.dims > 1024 {
                return Err(bad(format!("dims must be in 1..=1024, got {}", config.dims)));
            }
            config.dims
        } else {
            1
        };
        if let Some(w) = config.history {
            if kind != BanditKind::Bernoulli {
                return Err(bad(
                    "history observations need a Bernoulli bandit (rewards 0/1)".into()
                ));
            }
            if w == 0 || w > 65_536 || config.arms > 16_000 {
                return Err(bad(format!("history must be in 1..=65536 pulls, got {w}")));
            }
        }
        let observation_space = if let Some(w) = config.history {
            Space::uniform_box(&[w as usize], 0.0, (2 * config.arms) as f32, DType::F32)
        } else if kind == BanditKind::LinearContextual {
            Space::uniform_box(&[dims], f32::NEG_INFINITY, f32::INFINITY, DType::F32)
        } else {
            Space::uniform_box(&[1], 0.0, 1.0, DType::F32)
        };
        let arms = config.arms;
        Ok(Self {
            id: id.to_owned(),
            kind,
            means: config.means.clone().unwrap_or_else(|| vec![0.0; arms]),
            theta: vec![0.0; arms * dims],
            context: vec![0.0; dims],
            config,
            rng: Rng::seed_from_u64(0),
            t: 0,
            started: false,
            done: false,
            score: 0.0,
            last_regret: 0.0,
            pulls: Vec::new(),
            observation_space,
            action_space: Space::discrete(arms as u64),
        })
    }

    /// Kind of reward model.
    pub fn kind(&self) -> BanditKind {
        self.kind
    }
    /// Number of arms.
    pub fn arms(&self) -> usize {
        self.config.arms
    }
    /// Context dimension (1 for multi-armed bandits).
    pub fn dims(&self) -> usize {
        self.context.len()
    }
    /// The pull count of the episode so far.
    pub fn t(&self) -> u32 {
        self.t
    }
    /// Horizon.
    pub fn horizon(&self) -> u32 {
        self.config.horizon
    }
    /// Expected reward of each arm now (for the contextual bandit: given the current context).
    pub fn expected_rewards(&self, out: &mut [f64]) {
        for (a, o) in out.iter_mut().enumerate().take(self.config.arms) {
            *o = self.expected(a);
        }
    }
    fn expected(&self, a: usize) -> f64 {
        match self.kind {
            BanditKind::Bernoulli | BanditKind::Gaussian => self.means[a],
            BanditKind::LinearContextual => {
                let d = self.context.len();
                self.theta[a * d..(a + 1) * d].iter().zip(&self.context).map(|(t, x)| t * x).sum()
            }
        }
    }
    fn best(&self) -> (usize, f64) {
        let mut best = (0, f64::NEG_INFINITY);
        for a in 0..self.config.arms {
            let v = self.expected(a);
            if v > best.1 {
                best = (a, v);
            }
        }
        best
    }
    fn draw_task(&mut self) {
        match self.kind {
            BanditKind::Bernoulli if self.config.means.is_none() => {
                for m in &mut self.means {
                    *m = self.rng.f64();
                }
            }
            BanditKind::Gaussian if self.config.means.is_none() => {
                for m in &mut self.means {
                    *m = self.rng.normal();
                }
            }
            BanditKind::LinearContextual => {
                for t in &mut self.theta {
                    *t = self.rng.normal();
                }
            }
            _ => {}
        }
    }
    fn draw_context(&mut self) {
        if self.kind == BanditKind::LinearContextual {
            let scale = 1.0 / (self.context.len() as f64).sqrt();
            for x in &mut self.context {
                *x = self.rng.normal() * scale;
            }
        }
    }
    fn write_obs(&self, obs: ObsMut<'_>) -> Result<()> {
        let out = obs.expect_f32(&self.id, self.observation_space.flat_len())?;
        if self.config.history.is_some() {
            let w = out.len();
            let shown = self.pulls.len().min(w);
            out[..w - shown].fill(0.0);
            for (o, p) in out[w - shown..].iter_mut().zip(&self.pulls[self.pulls.len() - shown..]) {
                *o = f32::from(*p);
            }
        } else if self.kind == BanditKind::LinearContextual {
            for (o, x) in out.iter_mut().zip(&self.context) {
                *o = *x as f32;
            }
        } else {
            out[0] = self.t as f32 / self.config.horizon as f32;
        }
        Ok(())
    }
    /// A text description of the state, for language-model policies.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "Bandit with {} arms (0..{}). Pull {} of {}.",
            self.config.arms,
            self.config.arms - 1,
            self.t + 1,
            self.config.horizon
        );
        if self.kind == BanditKind::LinearContextual {
            s.push_str(" Context:");
            for x in &self.context {
                s.push_str(&format!(" {x:.2}"));
            }
            s.push('.');
        }
        s
    }
}

impl Env for Bandit {
    fn id(&self) -> &str {
        &self.id
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(
        &mut self,
        seed: Option<u64>,
        _options: Option<&Value>,
        obs: ObsMut<'_>,
    ) -> Result<Info> {
        if let Some(s) = seed {
            self.rng = Rng::seed_from_u64(s);
            self.draw_task();
        } else if !self.started {
            self.draw_task();
        }
        self.t = 0;
        self.score = 0.0;
        self.last_regret = 0.0;
        self.pulls.clear();
        self.started = true;
        self.done = false;
        self.draw_context();
        self.write_obs(obs)?;
        Ok(self.info())
    }
    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> Result<Step> {
        let a = action.discrete_in(&self.id, self.config.arms as u64)? as usize;
        if self.done || !self.started {
            return Err(Error::NeedsReset { env: self.id.clone() });
        }
        obs.check(&self.id, DType::F32, self.observation_space.flat_len())?;
        let (best_arm, best) = self.best();
        let mean = self.expected(a);
        let reward = match self.kind {
            BanditKind::Bernoulli => f64::from(u8::from(self.rng.bernoulli(mean))),
            BanditKind::Gaussian | BanditKind::LinearContextual => {
                mean + self.config.noise_std * self.rng.normal()
            }
        };
        self.t += 1;
        if self.config.history.is_some() {
            self.pulls.push(1 + 2 * a as u16 + u16::from(reward > 0.5));
        }
        self.score += reward as f32;
        self.last_regret = (best - mean) as f32;
        let truncated = self.t >= self.config.horizon;
        self.done = truncated;
        self.draw_context();
        self.write_obs(obs)?;
        let mut info = self.info();
        info.optimal_action = Some(best_arm as u32);
        info.regret = Some(self.last_regret);
        Ok(Step { reward: reward as f32, terminated: false, truncated, info })
    }
    fn observe(&self, obs: ObsMut<'_>) -> Result<()> {
        self.write_obs(obs)
    }
    fn info(&self) -> Info {
        Info {
            score: Some(self.score),
            optimal_action: Some(self.best().0 as u32),
            regret: Some(self.last_regret),
            ..Info::default()
        }
    }
    fn snapshot(&self) -> Result<Snapshot> {
        let mut w = ByteWriter::new();
        w.u32(self.means.len() as u32);
        self.means.iter().for_each(|m| w.f64(*m));
        w.u32(self.theta.len() as u32);
        self.theta.iter().for_each(|m| w.f64(*m));
        w.u32(self.context.len() as u32);
        self.context.iter().for_each(|m| w.f64(*m));
        w.rng(&self.rng);
        w.u32(self.t);
        w.bool(self.started);
        w.bool(self.done);
        w.f32(self.score);
        w.f32(self.last_regret);
        w.u32(self.pulls.len() as u32);
        self.pulls.iter().for_each(|p| w.u32(u32::from(*p)));
        Ok(w.finish(SNAPSHOT_KIND))
    }
    fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let mut r = snapshot.expect_kind(SNAPSHOT_KIND)?;
        let read_vec = |r: &mut spelunk_core::ByteReader<'_>, want: usize| -> Result<Vec<f64>> {
            let n = r.u32()? as usize;
            if n != want {
                return Err(Error::Snapshot(format!(
                    "snapshot has {n} values where {} has {want}",
                    self.id
                )));
            }
            (0..n).map(|_| r.f64()).collect()
        };
        let means = read_vec(&mut r, self.means.len())?;
        let theta = read_vec(&mut r, self.theta.len())?;
        let context = read_vec(&mut r, self.context.len())?;
        let rng = r.rng()?;
        let (t, started, done, score, last_regret) =
            (r.u32()?, r.bool()?, r.bool()?, r.f32()?, r.f32()?);
        let n = r.u32()? as usize;
        if n > t as usize {
            return Err(Error::Snapshot(format!("snapshot has {n} pulls after {t} steps")));
        }
        let pulls = (0..n)
            .map(|_| {
                let p = r.u32()?;
                u16::try_from(p)
                    .ok()
                    .filter(|p| usize::from(*p) <= 2 * self.config.arms)
                    .ok_or_else(|| Error::Snapshot(format!("pull token {p} out of range")))
            })
            .collect::<Result<Vec<_>>>()?;
        r.finish()?;
        self.pulls = pulls;
        self.means = means;
        self.theta = theta;
        self.context = context;
        self.rng = rng;
        self.t = t;
        self.started = started;
        self.done = done;
        self.score = score;
        self.last_regret = last_regret;
        Ok(())
    }
    fn render_text(&self) -> Option<String> {
        Some(self.describe())
    }
    fn max_episode_steps(&self) -> Option<u32> {
        Some(self.config.horizon)
    }
}

/// Register the bandit ids.
pub fn register(reg: &mut Registry) {
    let specs: [(&'static str, BanditKind, BanditConfig, &str); 4] = [
        (
            "Bandit-Bernoulli-10-v0",
            BanditKind::Bernoulli,
            BanditConfig::default(),
            "10-armed Bernoulli bandit, means U(0,1) per seed",
        ),
        (
            "Bandit-Bernoulli-5-v0",
            BanditKind::Bernoulli,
            BanditConfig { arms: 5, ..BanditConfig::default() },
            "5-armed Bernoulli bandit, means U(0,1) per seed",
        ),
        (
            "Bandit-Gaussian-10-v0",
            BanditKind::Gaussian,
            BanditConfig::default(),
            "10-armed Gaussian bandit, means N(0,1), unit noise",
        ),
        (
            "Bandit-LinearContextual-5x8-v0",
            BanditKind::LinearContextual,
            BanditConfig { arms: 5, dims: 8, noise_std: 0.1, ..BanditConfig::default() },
            "linear contextual bandit, 5 arms, 8-d contexts",
        ),
    ];
    for (id, kind, defaults, desc) in specs {
        reg.register(id, "bandit", desc, move |cfg| {
            let config = spelunk_core::registry::merge_config(id, &defaults, cfg)?;
            Ok(Box::new(Bandit::new(id, kind, config)?) as Box<dyn Env>)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_shows_the_last_pulls_as_tokens_right_aligned() {
        let config = BanditConfig {
            arms: 3,
            horizon: 10,
            means: Some(vec![0.0, 1.0, 0.0]),
            history: Some(4),
            ..BanditConfig::default()
        };
        let mut env = Bandit::new("b", BanditKind::Bernoulli, config).unwrap();
        assert_eq!(env.observation_space().flat_len(), 4);
        let mut obs = vec![9.0f32; 4];
        env.reset(Some(1), None, ObsMut::F32(&mut obs)).unwrap();
        assert_eq!(obs, [0.0; 4]);
        // Arm 1 always pays (token 1 + 2 + 1 = 4), arms 0 and 2 never (tokens 1 and 5).
        for a in [1, 0, 2, 1, 1] {
            env.step(Action::Discrete(a), ObsMut::F32(&mut obs)).unwrap();
        }
        assert_eq!(obs, [1.0, 5.0, 4.0, 4.0]);
        let snap = env.snapshot().unwrap();
        env.step(Action::Discrete(0), ObsMut::F32(&mut obs)).unwrap();
        env.restore(&snap).unwrap();
        env.observe(ObsMut::F32(&mut obs)).unwrap();
        assert_eq!(obs, [1.0, 5.0, 4.0, 4.0]);
    }
}
