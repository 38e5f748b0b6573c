//! `spelunk explore`: reward-free exploration experiments with the intrinsic bonuses.
//!
//! `--experiment noisy-tv` runs, for each bonus (counts, RND, RDD, ICM, BYOL-Explore,
//! Curiosity in Hindsight) and a random-action baseline, in each of the four noise settings
//! of the noisy-TV maze, over several seeds: an ε-greedy Q-learning agent over the agent's
//! position that maximises the normalised intrinsic reward alone. It records the distinct
//! trackers each env finds over the run and the fraction of steps spent watching the TV, and
//! writes a JSON file, a Markdown table and SVG plots (trackers found over env steps, per
//! setting).
//!
//! The agent is deliberately simple (tabular over position, so the bonus is the only thing
//! that differs between methods): α = 0.5, γ = 0.9, ε = 0.05, Q initialised to 0; the bonus
//! stream is centred and scaled by EMAs (so familiar transitions score below zero and
//! unvisited ones, at Q = 0, look better); every learned bonus takes one Adam step per env
//! step on the batch of the 8 envs' transitions.
//!
//! Status: a first version. At this agent and budget the runs do not yet reproduce the
//! paper's maze-level result (Curiosity in Hindsight finding all trackers while ICM and
//! BYOL-Explore watch the TV); the module-level version of that experiment, where the
//! bonuses are compared on the same transitions, does (`byol.rs` tests).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use spelunk_core::{AutoReset, Rng, VecEnv, VecEnvConfig};
use spelunk_intrinsic::byol::{ByolConfig, ByolExplore};
use spelunk_intrinsic::counts::Counts;
use spelunk_intrinsic::distill::{DistillConfig, Distillation};
use spelunk_intrinsic::icm::{ActionSpec, Icm, IcmConfig};
use spelunk_intrinsic::{Batch, BatchActions, BonusStream, IntrinsicReward, Normalization};
use spelunk_models::AdamConfig;

/// Which experiment.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Experiment {
    /// The noisy-TV maze, four noise settings.
    NoisyTv,
}

/// Exploration methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
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
}

/// Arguments of `spelunk explore`.
#[derive(Args)]
pub struct ExploreArgs {
    /// The experiment.
    #[arg(long, value_enum, default_value = "noisy-tv")]
    experiment: Experiment,
    /// Methods (default: all).
    #[arg(long = "method", value_enum)]
    methods: Vec<Method>,
    /// Noise settings (default: all four): none, brownian, pixel_noise, remote.
    #[arg(long = "setting")]
    settings: Vec<String>,
    /// Seeds per method and setting.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Env steps per run (over all 8 envs).
    #[arg(long, default_value_t = 40_000)]
    steps: usize,
    /// Folder for the JSON, table and plots.
    #[arg(long, default_value = "docs/results")]
    out: PathBuf,
}

const SETTINGS: [(&str, &str); 4] = [
    ("none", "NoisyTV-Maze-None-v0"),
    ("brownian", "NoisyTV-Maze-Brownian-v0"),
    ("pixel_noise", "NoisyTV-Maze-PixelNoise-v0"),
    ("remote", "NoisyTV-Maze-Remote-v0"),
];
const NUM_ENVS: usize = 8;
const OBS_DIM: usize = 41;

#[derive(Serialize)]
struct Run {
    method: Method,
    setting: &'static str,
    seed: u64,
    /// Distinct trackers found during the run (of 4), mean over the 8 envs.
    trackers_found: f64,
    /// Fraction of all steps spent watching the TV.
    watching_fraction: f64,
    /// (env steps, distinct trackers found so far, mean over the envs).
    curve: Vec<(usize, f64)>,
}

fn make_bonus(method: Method, seed: u64) -> Result<Option<Box<dyn IntrinsicReward>>> {
    let opt = AdamConfig { lr: 1e-3, ..AdamConfig::default() };
    let actions = ActionSpec::Discrete(5);
    Ok(match method {
        Method::Random => None,
        Method::Counts => Some(Box::new(Counts::tabular(OBS_DIM, 1.0)?)),
        Method::Rnd => Some(Box::new(Distillation::new(
            "rnd",
            DistillConfig { obs_dim: OBS_DIM, seed, optimizer: opt, ..DistillConfig::default() },
        )?)),
        Method::Rdd => Some(Box::new(Distillation::new(
            "rdd",
            DistillConfig {
                obs_dim: OBS_DIM,
                seed,
                sigma: 1.0,
                update_proportion: 1.0,
                optimizer: opt,
                ..DistillConfig::default()
            },
        )?)),
        Method::Icm => Some(Box::new(Icm::new(IcmConfig {
            obs_dim: OBS_DIM,
            actions,
            seed,
            optimizer: opt,
            ..IcmConfig::default()
        })?)),
        Method::ByolExplore => Some(Box::new(ByolExplore::new(ByolConfig {
            obs_dim: OBS_DIM,
            actions,
            seed,
            optimizer: opt,
            ..ByolConfig::default()
        })?)),
        Method::Hindsight => Some(Box::new(ByolExplore::hindsight(ByolConfig {
            obs_dim: OBS_DIM,
            actions,
            seed,
            optimizer: opt,
            ..ByolConfig::default()
        })?)),
    })
}

fn features(obs: &[u8], out: &mut [f32]) {
    for (i, (o, &b)) in out.iter_mut().zip(obs).enumerate() {
        *o = if i < 25 { f32::from(b) / 5.0 } else { f32::from(b) / 255.0 };
    }
}

fn run_one(
    method: Method,
    setting: &'static str,
    id: &str,
    seed: u64,
    steps: usize,
) -> Result<Run> {
    let reg = spelunk_envs::registry();
    let config = VecEnvConfig { num_threads: 1, autoreset: AutoReset::SameStep };
    let mut venv = VecEnv::from_fn(NUM_ENVS, config, |_| reg.make(id))?;
    venv.reset(Some(seed * 1000))?;
    let mut bonus = make_bonus(method, seed)?;
    let mut stream =
        BonusStream::new(Normalization::Ema { alpha: 0.99, center: true }, 1.0, None, NUM_ENVS);
    let mut rng = Rng::seed_from_u64(seed ^ 0xE7_0BE5);
    let mut q = vec![[0f32; 5]; 15 * 15];
    let (alpha, gamma, epsilon) = (0.5f32, 0.9f32, 0.05);
    let mut obs = vec![0f32; NUM_ENVS * OBS_DIM];
    let mut next = vec![0f32; NUM_ENVS * OBS_DIM];
    let mut actions = vec![0i64; NUM_ENVS];
    let mut r_int = vec![0f32; NUM_ENVS];
    let pos = |venv: &VecEnv, i: usize| -> usize {
        let info = venv.infos()[i];
        (info.y.unwrap_or(0) * 15 + info.x.unwrap_or(0)) as usize
    };
    let obs_bytes = venv.obs_u8().map(<[u8]>::to_vec).context("byte observations")?;
    for i in 0..NUM_ENVS {
        features(
            &obs_bytes[i * OBS_DIM..(i + 1) * OBS_DIM],
            &mut obs[i * OBS_DIM..(i + 1) * OBS_DIM],
        );
    }
    let mut states: Vec<usize> = (0..NUM_ENVS).map(|i| pos(&venv, i)).collect();
    let (mut watching, mut total) = (0usize, 0usize);
    let mut discovered = [0u64; NUM_ENVS];
    let mut curve = Vec::new();
    let every = (steps / 20).max(NUM_ENVS);
    let mut t = 0;
    while t < steps {
        for (i, a) in actions.iter_mut().enumerate() {
            *a = if method == Method::Random || rng.bernoulli(epsilon) {
                rng.below(5) as i64
            } else {
                let row = &q[states[i]];
                let best = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let ties: Vec<usize> = (0..5).filter(|&k| row[k] >= best).collect();
                ties[rng.index(ties.len())] as i64
            };
        }
        venv.step_discrete(&actions)?;
        t += NUM_ENVS;
        let bytes = venv.obs_u8().map(<[u8]>::to_vec).context("byte observations")?;
        let mut next_states = [0usize; NUM_ENVS];
        let mut dones = [false; NUM_ENVS];
        for i in 0..NUM_ENVS {
            // The transition ends in the final observation when the episode ended.
            let (o, info) = match (venv.final_obs(i), venv.final_info(i)) {
                (Some(f), Some(info)) => (f.as_u8().map(<[u8]>::to_vec).unwrap_or_default(), info),
                _ => (bytes[i * OBS_DIM..(i + 1) * OBS_DIM].to_vec(), venv.infos()[i]),
            };
            features(&o, &mut next[i * OBS_DIM..(i + 1) * OBS_DIM]);
            next_states[i] = (info.y.unwrap_or(0) * 15 + info.x.unwrap_or(0)) as usize;
            watching += usize::from(info.is_success == Some(true));
            total += 1;
            discovered[i] |= info.inventory.unwrap_or(0);
            dones[i] = venv.final_info(i).is_some();
        }
        if let Some(b) = bonus.as_mut() {
            let batch = Batch {
                obs: &obs,
                actions: BatchActions::Discrete(&actions),
                next_obs: &next,
                obs_dim: OBS_DIM,
            };
            b.on_step(&batch)?;
            b.compute(&batch, &mut r_int)?;
            stream.apply(&mut r_int, &[false; NUM_ENVS]);
            b.update(&batch)?;
            for i in 0..NUM_ENVS {
                let a = actions[i] as usize;
                let target = r_int[i]
                    + if dones[i] {
                        0.0
                    } else {
                        gamma * q[next_states[i]].iter().copied().fold(f32::NEG_INFINITY, f32::max)
                    };
                let qa = &mut q[states[i]][a];
                *qa += alpha * (target - *qa);
            }
        }
        let mean_found =
            |d: &[u64]| d.iter().map(|m| f64::from(m.count_ones())).sum::<f64>() / d.len() as f64;
        if t % every < NUM_ENVS {
            curve.push((t, mean_found(&discovered)));
        }
        for i in 0..NUM_ENVS {
            features(
                &bytes[i * OBS_DIM..(i + 1) * OBS_DIM],
                &mut obs[i * OBS_DIM..(i + 1) * OBS_DIM],
            );
            states[i] = pos(&venv, i);
        }
    }
    let trackers_found =
        discovered.iter().map(|m| f64::from(m.count_ones())).sum::<f64>() / NUM_ENVS as f64;
    Ok(Run {
        method,
        setting,
        seed,
        trackers_found,
        watching_fraction: watching as f64 / total.max(1) as f64,
        curve,
    })
}

pub fn run(args: &ExploreArgs) -> Result<()> {
    let Experiment::NoisyTv = args.experiment;
    // The bonus networks are small: candle's multi-threaded kernels spend more time handing
    // work between threads than computing (3× slower here). One thread unless told otherwise.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    if args.seeds == 0 || args.steps < 1000 {
        bail!("--seeds must be ≥ 1 and --steps ≥ 1000");
    }
    let methods = if args.methods.is_empty() {
        vec![
            Method::Random,
            Method::Counts,
            Method::Rnd,
            Method::Rdd,
            Method::Icm,
            Method::ByolExplore,
            Method::Hindsight,
        ]
    } else {
        args.methods.clone()
    };
    for s in &args.settings {
        if !SETTINGS.iter().any(|(name, _)| name == s) {
            bail!("unknown setting `{s}`; settings are none, brownian, pixel_noise, remote");
        }
    }
    let settings: Vec<(&'static str, &'static str)> = SETTINGS
        .iter()
        .copied()
        .filter(|(name, _)| args.settings.is_empty() || args.settings.iter().any(|s| s == name))
        .collect();
    let pb = ProgressBar::new((methods.len() * settings.len()) as u64 * args.seeds);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut runs = Vec::new();
    for &(setting, id) in &settings {
        for &m in &methods {
            for seed in 0..args.seeds {
                pb.set_message(format!("{setting}: {m:?} seed {seed}"));
                runs.push(
                    run_one(m, setting, id, seed, args.steps)
                        .with_context(|| format!("{m:?} on {id} seed {seed}"))?,
                );
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "experiment": "noisy-tv",
        "steps_per_run": args.steps,
        "seeds": args.seeds,
        "runs": runs,
    }))?;
    std::fs::write(args.out.join("noisy_tv.json"), json)?;
    let table = summary(&runs, &methods, &settings, args);
    std::fs::write(args.out.join("noisy_tv.md"), &table)?;
    print!("{table}");
    for &(setting, _) in &settings {
        let series: Vec<crate::plot::Series> = methods
            .iter()
            .map(|&m| {
                let rs: Vec<&Run> =
                    runs.iter().filter(|r| r.method == m && r.setting == setting).collect();
                let n = rs.len().max(1) as f64;
                let points = (0..rs.first().map_or(0, |r| r.curve.len()))
                    .map(|k| {
                        (
                            rs[0].curve[k].0 as f64,
                            rs.iter().filter_map(|r| r.curve.get(k)).map(|c| c.1).sum::<f64>() / n,
                        )
                    })
                    .collect();
                crate::plot::Series { label: format!("{m:?}"), points }
            })
            .collect();
        let svg = crate::plot::line_chart(
            &format!("Noisy-TV maze, noise: {setting}"),
            "env steps",
            "trackers found per episode",
            &series,
        );
        crate::plot::write(&args.out.join(format!("noisy_tv_{setting}.svg")), &svg)?;
    }
    println!("wrote {}/noisy_tv.{{json,md}} and noisy_tv_*.svg", args.out.display());
    Ok(())
}

fn summary(
    runs: &[Run],
    methods: &[Method],
    settings: &[(&str, &str)],
    args: &ExploreArgs,
) -> String {
    let mut s = format!(
        "# Noisy-TV maze: trackers found and time spent watching the TV\n\n`spelunk explore --experiment noisy-tv --seeds {} --steps {}` — mean over {} seeds of the distinct\ntrackers found during the run (of 4, mean over its 8 envs) and the fraction of all steps spent\nwatching the TV.\n\n| method |",
        args.seeds, args.steps, args.seeds
    );
    for (setting, _) in settings {
        s.push_str(&format!(" {setting}: trackers | {setting}: watching |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|---:|".repeat(settings.len()));
    s.push('\n');
    for &m in methods {
        s.push_str(&format!("| {m:?} |"));
        for &(setting, _) in settings {
            let rs: Vec<&Run> =
                runs.iter().filter(|r| r.method == m && r.setting == setting).collect();
            let n = rs.len().max(1) as f64;
            let tr = rs.iter().map(|r| r.trackers_found).sum::<f64>() / n;
            let w = rs.iter().map(|r| r.watching_fraction).sum::<f64>() / n;
            s.push_str(&format!(" {tr:.2} | {:.1}% |", 100.0 * w));
        }
        s.push('\n');
    }
    s
}
