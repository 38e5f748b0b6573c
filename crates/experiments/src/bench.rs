//! The headless benchmark suite behind `spelunk bench`.
//!
//! For each environment: steps/s of one env on one thread, and of a [`VecEnv`] on 1 and on
//! N threads (env-steps/s, with the N-thread speed-up), all with uniform random actions drawn
//! ahead of time so the policy costs nothing. Then the bandit baselines' cumulative regret.
//! Every measurement follows one protocol, the one the peer scripts (`scripts/peers/`) use on
//! the other side too: one warm-up window that is thrown away, then `windows` timed windows of
//! equal length; the figure is the median window's rate, with the slowest and fastest beside
//! it. The three measurements of an env take their windows in turn, so drift on a shared
//! machine lands on all three alike. [`run`] returns a [`Report`]; [`write_plots`] draws it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use spelunk_core::{Action, AutoReset, ObsBuf, Registry, Rng, Space, VecEnv, VecEnvConfig};

use crate::error::{bail, create_dir, Context as _, Result};
use crate::report::svg;

/// Which set of environments and how long each is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    /// A representative subset, 1.5 s per measurement (under a minute in all).
    Ci,
    /// Every registered id, 3 s per measurement.
    Full,
}

/// What to measure.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Which suite.
    pub suite: Suite,
    /// Only these ids (empty: the suite's list).
    pub envs: Vec<String>,
    /// Seconds per measurement, split over the timed windows (default: 1.5 for ci, 3 for
    /// full); the warm-up window comes on top.
    pub seconds: Option<f64>,
    /// Timed windows per measurement (the median is reported).
    pub windows: usize,
    /// Envs in the vectorized measurement.
    pub num_envs: usize,
    /// Threads of the multi-threaded vectorized measurement.
    pub threads: usize,
    /// Env config applied to every id of `envs` (`null`: the defaults).
    pub env_config: serde_json::Value,
    /// Skip the bandit regret table.
    pub skip_bandits: bool,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self {
            suite: Suite::Ci,
            envs: Vec::new(),
            seconds: None,
            windows: 5,
            num_envs: 256,
            threads: 2,
            env_config: serde_json::Value::Null,
            skip_bandits: false,
        }
    }
}

/// Ids of the CI suite.
pub const CI_ENVS: &[&str] = &[
    "MiniGrid-DoorKey-8x8-v0",
    "MiniGrid-FourRooms-v0",
    "MiniGrid-MultiRoom-N6-v0",
    "MiniGrid-KeyCorridorS3R3-v0",
    "MiniGrid-ObstructedMaze-1Dl-v0",
    "Montezuma-Lite-v0",
    "NoisyTV-Maze-Brownian-v0",
    "Bandit-Bernoulli-10-v0",
    "Arm-Push-v0",
];

/// The rates of a measurement's timed windows, with their median, slowest and fastest.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Windows {
    /// The median window's rate (the mean of the middle two for an even count).
    pub median: f64,
    /// The slowest window.
    pub min: f64,
    /// The fastest window.
    pub max: f64,
    /// Every window, in the order measured.
    pub values: Vec<f64>,
}

impl Windows {
    /// The statistics of these rates.
    #[must_use]
    pub fn of(values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self { median: crate::report::median(&values), min, max, values }
    }
}

/// One environment's figures.
#[derive(Clone, Debug, Serialize)]
pub struct EnvResult {
    /// Environment id.
    pub id: String,
    /// Its observation space.
    pub observation_space: String,
    /// One env on one thread (median window).
    pub single_steps_per_sec: f64,
    /// A vector env on one thread (median window).
    pub vec_1t_steps_per_sec: f64,
    /// A vector env on `threads` threads (median window).
    pub vec_nt_steps_per_sec: f64,
    /// Every window of the three measurements.
    pub windows: EnvWindows,
    /// Threads of the last.
    pub threads: usize,
    /// Envs in the vector env.
    pub num_envs: usize,
    /// `vec_nt / vec_1t` (of the medians).
    pub vec_speedup: f64,
}

/// The windows behind an [`EnvResult`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct EnvWindows {
    /// One env on one thread.
    pub single: Windows,
    /// A vector env on one thread.
    pub vec_1t: Windows,
    /// A vector env on `threads` threads.
    pub vec_nt: Windows,
}

/// Bandit baselines' regret, one row per (env, agent).
pub use spelunk_envs::bandit::baselines::RegretRow as BanditRow;

/// What `spelunk bench` measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The suite.
    pub suite: Suite,
    /// Seconds per measurement (the timed windows together).
    pub seconds_per_measurement: f64,
    /// Timed windows per measurement, after one warm-up window.
    pub windows: usize,
    /// Cores of this machine.
    pub available_cores: usize,
    /// The command, the commit and the machine.
    pub provenance: crate::provenance::Provenance,
    /// Per environment.
    pub envs: Vec<EnvResult>,
    /// Bandit baselines.
    pub bandits: Vec<BanditRow>,
}

/// A pool of pre-drawn uniform random actions (discrete indices or continuous vectors).
enum Pool {
    Discrete(Vec<i64>),
    Continuous { values: Vec<f32>, dims: usize },
}

impl Pool {
    fn new(space: &Space, count: usize, seed: u64) -> Result<Self> {
        let mut rng = Rng::seed_from_u64(seed);
        if let Some(n) = space.n() {
            return Ok(Pool::Discrete((0..count).map(|_| rng.below(n) as i64).collect()));
        }
        match space {
            Space::Box { low, high, .. } if low.iter().chain(high).all(|v| v.is_finite()) => {
                let values = (0..count)
                    .flat_map(|_| {
                        low.iter()
                            .zip(high)
                            .map(|(l, h)| l + (h - l) * rng.f32())
                            .collect::<Vec<_>>()
                    })
                    .collect();
                Ok(Pool::Continuous { values, dims: low.len() })
            }
            _ => bail!("bench needs a discrete or bounded continuous action space, got {space}"),
        }
    }

    fn len(&self) -> usize {
        match self {
            Pool::Discrete(v) => v.len(),
            Pool::Continuous { values, dims } => values.len() / dims,
        }
    }

    fn action(&self, k: usize) -> Action<'_> {
        match self {
            Pool::Discrete(v) => Action::Discrete(v[k % v.len()]),
            Pool::Continuous { values, dims } => {
                let k = k % (values.len() / dims);
                Action::Continuous(&values[k * dims..(k + 1) * dims])
            }
        }
    }

    /// Actions `k*n..(k+1)*n` for a vector env of `n` envs.
    fn batch(&self, k: usize, n: usize) -> spelunk_core::Actions {
        let rows = self.len() / n;
        let r = (k % rows) * n;
        match self {
            Pool::Discrete(v) => spelunk_core::Actions::Discrete(v[r..r + n].to_vec()),
            Pool::Continuous { values, dims } => spelunk_core::Actions::Continuous {
                values: values[r * dims..(r + n) * dims].to_vec(),
                dims: *dims,
            },
        }
    }
}

/// One env stepped on this thread. Steps run in chunks sized from a first timing, so slow envs
/// (physics) and fast ones (gridworlds) both check the clock every ~50 ms.
struct Single {
    env: Box<dyn spelunk_core::Env>,
    obs: ObsBuf,
    pool: Pool,
    k: usize,
    chunk: usize,
}

impl Single {
    fn new(reg: &Registry, id: &str, cfg: &serde_json::Value) -> Result<Self> {
        let mut env = reg.make_with(id, cfg)?;
        let mut obs = ObsBuf::for_space(env.observation_space());
        let pool = Pool::new(env.action_space(), 1 << 16, 1)?;
        env.reset(Some(0), None, obs.as_mut())?;
        let mut s = Self { env, obs, pool, k: 0, chunk: 0 };
        let probe = Instant::now();
        s.run(100)?;
        let per_step = probe.elapsed().as_secs_f64() / 100.0;
        s.chunk = ((0.05 / per_step.max(1e-9)) as usize).clamp(10, 10_000);
        Ok(s)
    }

    fn run(&mut self, steps: usize) -> Result<()> {
        for _ in 0..steps {
            let s = self.env.step(self.pool.action(self.k), self.obs.as_mut())?;
            self.k += 1;
            if s.terminated || s.truncated {
                self.env.reset(None, None, self.obs.as_mut())?;
            }
        }
        Ok(())
    }

    /// Steps/s over one window of about `budget`.
    fn window(&mut self, budget: Duration) -> Result<f64> {
        let start = Instant::now();
        let mut steps = 0usize;
        while start.elapsed() < budget {
            self.run(self.chunk)?;
            steps += self.chunk;
        }
        Ok(steps as f64 / start.elapsed().as_secs_f64())
    }
}

/// A vector env stepped with pre-drawn batches.
struct Vectorized {
    venv: VecEnv,
    batches: Vec<spelunk_core::Actions>,
    k: usize,
}

impl Vectorized {
    fn new(
        reg: &Registry,
        id: &str,
        cfg: &serde_json::Value,
        num_envs: usize,
        threads: usize,
    ) -> Result<Self> {
        let rows = 64;
        let probe = reg.make_with(id, cfg)?;
        let mut need = crate::budget::envs(num_envs as u64, probe.as_ref());
        let act = probe.action_space().flat_len().max(1) as u64;
        need.add("pre-drawn actions", (rows * num_envs) as u64, act * 8);
        need.check(&format!("--num-envs {num_envs} of {id}"))?;
        let config = VecEnvConfig { num_threads: threads, autoreset: AutoReset::NextStep };
        let mut venv = VecEnv::from_fn(num_envs, config, |_| reg.make_with(id, cfg))?;
        let pool = Pool::new(venv.action_space(), rows * num_envs, 2)?;
        let batches = (0..rows).map(|k| pool.batch(k, num_envs)).collect();
        venv.reset(Some(0))?;
        Ok(Self { venv, batches, k: 0 })
    }

    /// Env-steps/s over one window of about `budget`.
    fn window(&mut self, budget: Duration) -> Result<f64> {
        let start = Instant::now();
        let mut calls = 0usize;
        while start.elapsed() < budget {
            self.venv.step(&self.batches[self.k % self.batches.len()])?;
            self.k += 1;
            calls += 1;
        }
        Ok((calls * self.venv.num_envs()) as f64 / start.elapsed().as_secs_f64())
    }
}

/// Run the suite, with a progress bar.
pub fn run(args: &BenchConfig) -> Result<Report> {
    let reg = crate::registry();
    let seconds = args.seconds.unwrap_or(match args.suite {
        Suite::Ci => 1.5,
        Suite::Full => 3.0,
    });
    // Below a hundredth of a second a measurement can take no step at all (a rate of 0/0).
    if !(0.01..=600.0).contains(&seconds) {
        bail!("--seconds must be in [0.01, 600], got {seconds}");
    }
    if args.num_envs == 0 || args.threads == 0 {
        bail!("--num-envs and --threads must be at least 1");
    }
    if !(1..=1000).contains(&args.windows) {
        bail!("--windows must be in [1, 1000], got {}", args.windows);
    }
    let budget = Duration::from_secs_f64(seconds);
    let cfg = &args.env_config;
    if !cfg.is_null() && args.envs.is_empty() {
        bail!("--config/--set apply to the envs named with --env; name at least one");
    }
    let ids: Vec<String> = if args.envs.is_empty() {
        match args.suite {
            Suite::Ci => {
                CI_ENVS.iter().map(|s| (*s).to_owned()).filter(|id| reg.entry(id).is_ok()).collect()
            }
            Suite::Full => reg.ids().map(str::to_owned).collect(),
        }
    } else {
        for id in &args.envs {
            reg.entry(id)?;
        }
        args.envs.clone()
    };
    let bandit_jobs =
        if args.skip_bandits { 0 } else { spelunk_envs::bandit::baselines::SUITE_LEN };
    let n = args.windows;
    let pb = crate::observers::progress_bar((ids.len() * (n + 1) + bandit_jobs) as u64);
    let mut results = Vec::new();
    let window = budget / n as u32;
    for id in &ids {
        let what = || format!("benchmarking {id}");
        let mut single = Single::new(&reg, id, cfg).with_context(what)?;
        let mut v1 = Vectorized::new(&reg, id, cfg, args.num_envs, 1).with_context(what)?;
        let mut vn =
            Vectorized::new(&reg, id, cfg, args.num_envs, args.threads).with_context(what)?;
        let (mut s, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        // Window 0 warms up (caches, page faults, thread pools) and is not counted.
        for w in 0..=n {
            pb.set_message(format!("{id}: window {w}/{n}"));
            let r = (single.window(window)?, v1.window(window)?, vn.window(window)?);
            if w > 0 {
                s.push(r.0);
                a.push(r.1);
                b.push(r.2);
            }
            pb.inc(1);
        }
        let windows =
            EnvWindows { single: Windows::of(s), vec_1t: Windows::of(a), vec_nt: Windows::of(b) };
        let observation_space = single.env.observation_space().to_string();
        results.push(EnvResult {
            id: id.clone(),
            observation_space,
            single_steps_per_sec: windows.single.median,
            vec_1t_steps_per_sec: windows.vec_1t.median,
            vec_nt_steps_per_sec: windows.vec_nt.median,
            threads: args.threads,
            num_envs: args.num_envs,
            vec_speedup: windows.vec_nt.median / windows.vec_1t.median,
            windows,
        });
    }
    let bandits = if args.skip_bandits {
        Vec::new()
    } else {
        spelunk_envs::bandit::baselines::regret_suite(|msg| {
            pb.set_message(msg.to_owned());
            pb.inc(1);
        })?
    };
    pb.finish_and_clear();
    Ok(Report {
        suite: args.suite,
        seconds_per_measurement: seconds,
        windows: n,
        available_cores: std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get),
        envs: results,
        bandits,
        provenance: crate::provenance::Provenance::here(),
    })
}

/// SVG plots of a report into `dir`: steps/s per env (`bench_steps.svg`), and each bandit's
/// regret curves (`regret_<env>.svg`).
pub fn write_plots(dir: &Path, r: &Report) -> Result<()> {
    create_dir(dir)?;
    if !r.envs.is_empty() {
        let bars: Vec<(String, f64)> =
            r.envs.iter().map(|e| (e.id.clone(), e.single_steps_per_sec)).collect();
        let svg =
            svg::log_bar_chart("Env steps per second, one env on one thread", "steps/s", &bars);
        svg::write(&dir.join("bench_steps.svg"), &svg)?;
    }
    let mut envs: Vec<&str> = r.bandits.iter().map(|b| b.env.as_str()).collect();
    envs.dedup();
    for env in envs {
        let series: Vec<svg::Series> = r
            .bandits
            .iter()
            .filter(|b| b.env == env)
            .map(|b| svg::Series {
                label: format!("{} ({:.1})", b.agent, b.mean_regret),
                points: b.curve.iter().enumerate().map(|(t, &y)| ((t + 1) as f64, y)).collect(),
            })
            .collect();
        let title = format!("{env}: cumulative regret, mean of {} tasks", r.bandits[0].seeds);
        let svg = svg::line_chart(&title, "pulls", "expected regret", &series);
        svg::write(&dir.join(format!("regret_{env}.svg")), &svg)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_report_the_median_and_the_extremes_in_measured_order() {
        let w = Windows::of(vec![5.0, 1.0, 4.0, 2.0, 3.0]);
        assert_eq!(w, Windows { median: 3.0, min: 1.0, max: 5.0, values: w.values.clone() });
        assert_eq!(w.values, vec![5.0, 1.0, 4.0, 2.0, 3.0]);
        let even = Windows::of(vec![4.0, 1.0, 3.0, 2.0]);
        assert!((even.median - 2.5).abs() < 1e-12, "{even:?}");
        assert_eq!(Windows::of(Vec::new()), Windows::default());
    }

    #[test]
    fn a_tiny_bench_measures_every_window_of_every_measurement() {
        let cfg = BenchConfig {
            envs: vec!["MiniGrid-Empty-5x5-v0".into()],
            seconds: Some(0.05),
            windows: 3,
            num_envs: 4,
            skip_bandits: true,
            ..BenchConfig::default()
        };
        let r = run(&cfg).expect("bench");
        let e = &r.envs[0];
        for w in [&e.windows.single, &e.windows.vec_1t, &e.windows.vec_nt] {
            assert_eq!(w.values.len(), 3);
            assert!(w.min > 0.0 && w.min <= w.median && w.median <= w.max, "{w:?}");
        }
        assert!(e.single_steps_per_sec.to_bits() == e.windows.single.median.to_bits());
        assert_eq!(r.windows, 3);
        assert!(!r.provenance.machine.is_empty());
        assert!(run(&BenchConfig { windows: 0, ..cfg }).is_err());
    }
}
