//! `spelunk bench`: the headless benchmark suite.
//!
//! For each environment: steps/s of one env on one thread, and of a [`VecEnv`] on 1 and on
//! N threads (env-steps/s, with the N-thread speed-up), all with uniform random actions drawn
//! ahead of time so the policy costs nothing. Then the bandit baselines' cumulative regret.
//! Prints a table; `--json FILE` writes the same numbers as JSON.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use serde::Serialize;
use spelunk_core::{Action, AutoReset, ObsBuf, Registry, Rng, Space, VecEnv, VecEnvConfig};

/// Which set of environments and how long each is measured.
#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    /// A representative subset, 1.5 s per measurement (under a minute in all).
    Ci,
    /// Every registered id, 3 s per measurement.
    Full,
}

/// Arguments of `spelunk bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Which suite to run.
    #[arg(long, value_enum, default_value = "ci")]
    suite: Suite,
    /// Benchmark only these ids (repeatable); overrides the suite's list.
    #[arg(long = "env")]
    envs: Vec<String>,
    /// Seconds per measurement, split over three rounds (default: 1.5 for ci, 3 for full).
    #[arg(long)]
    seconds: Option<f64>,
    /// Envs in the vectorized measurement.
    #[arg(long, default_value_t = 256)]
    num_envs: usize,
    /// Threads of the multi-threaded vectorized measurement.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Env config file (TOML or JSON) applied to every `--env`, e.g. a Montezuma `level`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Config overrides `key=value` applied to every `--env` (repeatable).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Skip the bandit regret table.
    #[arg(long)]
    skip_bandits: bool,
    /// Write results as JSON to this file (`-` for stdout, which then holds only JSON).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write SVG plots (steps/s per env, bandit regret curves) into this folder.
    #[arg(long)]
    plots: Option<PathBuf>,
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

#[derive(Serialize)]
struct EnvResult {
    id: String,
    observation_space: String,
    single_steps_per_sec: f64,
    vec_1t_steps_per_sec: f64,
    vec_nt_steps_per_sec: f64,
    threads: usize,
    num_envs: usize,
    vec_speedup: f64,
}

#[derive(Serialize)]
struct Report {
    suite: Suite,
    seconds_per_measurement: f64,
    available_cores: usize,
    envs: Vec<EnvResult>,
    bandits: Vec<crate::bench::BanditRow>,
}

pub use spelunk_envs::bandit::baselines::RegretRow as BanditRow;

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

/// Steps/s of one env on this thread. Steps run in chunks sized from a first timing, so
/// slow envs (physics) and fast ones (gridworlds) both check the clock every ~50 ms.
fn bench_single(
    reg: &Registry,
    id: &str,
    cfg: &serde_json::Value,
    budget: Duration,
) -> Result<f64> {
    let mut env = reg.make_with(id, cfg)?;
    let mut obs = ObsBuf::for_space(env.observation_space());
    let pool = Pool::new(env.action_space(), 1 << 16, 1)?;
    env.reset(Some(0), None, obs.as_mut())?;
    let mut run = |steps: usize, k: &mut usize| -> Result<()> {
        for _ in 0..steps {
            let s = env.step(pool.action(*k), obs.as_mut())?;
            *k += 1;
            if s.terminated || s.truncated {
                env.reset(None, None, obs.as_mut())?;
            }
        }
        Ok(())
    };
    let mut k = 0;
    let probe = Instant::now();
    run(100, &mut k)?;
    let per_step = probe.elapsed().as_secs_f64() / 100.0;
    let chunk = ((0.05 / per_step.max(1e-9)) as usize).clamp(10, 10_000);
    run(chunk * 2, &mut k)?; // warm-up
    let start = Instant::now();
    let mut steps = 0usize;
    while start.elapsed() < budget {
        run(chunk, &mut k)?;
        steps += chunk;
    }
    Ok(steps as f64 / start.elapsed().as_secs_f64())
}

/// Env-steps/s of a vector env.
fn bench_vec(
    reg: &Registry,
    id: &str,
    cfg: &serde_json::Value,
    num_envs: usize,
    threads: usize,
    budget: Duration,
) -> Result<f64> {
    let config = VecEnvConfig { num_threads: threads, autoreset: AutoReset::NextStep };
    let mut venv = VecEnv::from_fn(num_envs, config, |_| reg.make_with(id, cfg))?;
    let rows = 64;
    let pool = Pool::new(venv.action_space(), rows * num_envs, 2)?;
    let batches: Vec<spelunk_core::Actions> = (0..rows).map(|k| pool.batch(k, num_envs)).collect();
    venv.reset(Some(0))?;
    let mut k = 0usize;
    let mut step = |venv: &mut VecEnv| -> Result<()> {
        let a = &batches[k % rows];
        k += 1;
        venv.step(a).map_err(Into::into)
    };
    for _ in 0..5 {
        step(&mut venv)?;
    }
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed() < budget {
        step(&mut venv)?;
        calls += 1;
    }
    Ok((calls * num_envs) as f64 / start.elapsed().as_secs_f64())
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

pub fn run(args: &BenchArgs) -> Result<()> {
    let reg = spelunk_experiments::registry();
    let seconds = args.seconds.unwrap_or(match args.suite {
        Suite::Ci => 1.5,
        Suite::Full => 3.0,
    });
    if !(seconds > 0.0 && seconds <= 600.0) {
        bail!("--seconds must be in (0, 600], got {seconds}");
    }
    if args.num_envs == 0 || args.threads == 0 {
        bail!("--num-envs and --threads must be at least 1");
    }
    let budget = Duration::from_secs_f64(seconds);
    let cfg = spelunk_experiments::config::env_config(args.config.as_deref(), &args.sets)?;
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
    let json_to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    let bandit_jobs =
        if args.skip_bandits { 0 } else { spelunk_envs::bandit::baselines::SUITE_LEN };
    let pb = spelunk_experiments::observers::progress_bar((ids.len() * 3 + bandit_jobs) as u64);
    let mut results = Vec::new();
    // Each number is the best of three interleaved rounds: on a shared machine the best
    // round is the one least disturbed by others, and interleaving keeps drift out of the
    // single-thread vs multi-thread ratio.
    let round = budget / 3;
    for id in &ids {
        let (mut single, mut v1, mut vn) = (0f64, 0f64, 0f64);
        for r in 0..3 {
            pb.set_message(format!("{id}: round {}/3", r + 1));
            single = single.max(
                bench_single(&reg, id, &cfg, round)
                    .with_context(|| format!("benchmarking {id}"))?,
            );
            v1 = v1.max(bench_vec(&reg, id, &cfg, args.num_envs, 1, round)?);
            vn = vn.max(bench_vec(&reg, id, &cfg, args.num_envs, args.threads, round)?);
            pb.inc(1);
        }
        let observation_space = reg.make_with(id, &cfg)?.observation_space().to_string();
        results.push(EnvResult {
            id: id.clone(),
            observation_space,
            single_steps_per_sec: single,
            vec_1t_steps_per_sec: v1,
            vec_nt_steps_per_sec: vn,
            threads: args.threads,
            num_envs: args.num_envs,
            vec_speedup: vn / v1,
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
    let report = Report {
        suite: args.suite,
        seconds_per_measurement: seconds,
        available_cores: std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get),
        envs: results,
        bandits,
    };
    if !json_to_stdout {
        print_table(&report);
    }
    if let Some(dir) = &args.plots {
        write_plots(dir, &report)?;
        if !json_to_stdout {
            println!("wrote plots to {}", dir.display());
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        if json_to_stdout {
            println!("{text}");
        } else {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn write_plots(dir: &std::path::Path, r: &Report) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    if !r.envs.is_empty() {
        let bars: Vec<(String, f64)> =
            r.envs.iter().map(|e| (e.id.clone(), e.single_steps_per_sec)).collect();
        let svg = spelunk_experiments::report::svg::log_bar_chart(
            "Env steps per second, one env on one thread",
            "steps/s",
            &bars,
        );
        spelunk_experiments::report::svg::write(&dir.join("bench_steps.svg"), &svg)?;
    }
    let mut envs: Vec<&str> = r.bandits.iter().map(|b| b.env.as_str()).collect();
    envs.dedup();
    for env in envs {
        let series: Vec<spelunk_experiments::report::svg::Series> = r
            .bandits
            .iter()
            .filter(|b| b.env == env)
            .map(|b| spelunk_experiments::report::svg::Series {
                label: format!("{} ({:.1})", b.agent, b.mean_regret),
                points: b.curve.iter().enumerate().map(|(t, &y)| ((t + 1) as f64, y)).collect(),
            })
            .collect();
        let title = format!("{env}: cumulative regret, mean of {} tasks", r.bandits[0].seeds);
        let svg = spelunk_experiments::report::svg::line_chart(
            &title,
            "pulls",
            "expected regret",
            &series,
        );
        spelunk_experiments::report::svg::write(&dir.join(format!("regret_{env}.svg")), &svg)?;
    }
    Ok(())
}

fn print_table(r: &Report) {
    println!(
        "spelunk bench --suite {:?} ({} s per measurement, {} cores available)\n",
        r.suite, r.seconds_per_measurement, r.available_cores
    );
    println!(
        "{:<34} {:>12} {:>14} {:>14} {:>8}",
        "environment", "1 env", "vec 1 thread", "vec N threads", "speedup"
    );
    for e in &r.envs {
        println!(
            "{:<34} {:>12} {:>14} {:>14} {:>7.2}x",
            e.id,
            fmt_rate(e.single_steps_per_sec),
            fmt_rate(e.vec_1t_steps_per_sec),
            format!("{} ({}t)", fmt_rate(e.vec_nt_steps_per_sec), e.threads),
            e.vec_speedup
        );
    }
    println!(
        "\nsteps/s; vec = {} envs in one VecEnv, env-steps/s",
        r.envs.first().map_or(0, |e| e.num_envs)
    );
    if !r.bandits.is_empty() {
        println!(
            "\n{:<26} {:<12} {:>8} {:>6} {:>16}",
            "bandit", "agent", "horizon", "seeds", "regret (± s.e.)"
        );
        for b in &r.bandits {
            println!(
                "{:<26} {:<12} {:>8} {:>6} {:>9.1} ± {:<5.1}",
                b.env, b.agent, b.horizon, b.seeds, b.mean_regret, b.stderr_regret
            );
        }
    }
}
