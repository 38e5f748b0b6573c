//! `spelunk train` and `spelunk eval`: arguments and printing over
//! `spelunk_experiments::train` (GRPO/PPO on any registered env with a discrete or bounded
//! continuous action space).
//!
//! ```sh
//! spelunk train --config run.toml --out runs/empty      # manifest.json, metrics.jsonl, checkpoint/
//! spelunk train --out runs/empty --resume                # after Ctrl-C or a kill
//! spelunk train --config run.toml --out runs/empty --force   # start it over
//! spelunk eval --run runs/empty --episodes 100
//! ```
//!
//! `run.toml` holds the fields of `spelunk_grpo::TrainConfig` (every field optional):
//!
//! ```toml
//! env = "MiniGrid-Empty-5x5-v0"
//! group_size = 8
//! groups_per_step = 16
//! iterations = 50
//! [loss]
//! clip_low = 0.2
//! clip_high = 0.28
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::Args;
use spelunk_core::Observers;
use spelunk_experiments::config;
use spelunk_experiments::train::{evaluate_folder, run_in_folder, RunFolder, SparseConfig};
use spelunk_experiments::vla::VlaConfig;

use crate::record::{finish, RerunArgs};

/// `spelunk train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// TOML file with the run's settings (defaults for everything left out).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one setting, `key=value` in TOML syntax (repeatable), e.g. `--set iterations=5`.
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Output folder: `metrics.jsonl`, `checkpoint/`, `config.toml`.
    #[arg(long, default_value = "runs/grpo")]
    out: PathBuf,
    /// Continue the run in `--out` from its last commit (only `iterations`, `eval_episodes`,
    /// `device` and `threads` may change with `--set`).
    #[arg(long)]
    resume: bool,
    /// Replace a run already in `--out` (without it, such a folder is refused).
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Evaluate (sampled actions, unseen seeds) every this many iterations (0: only at the
    /// end).
    #[arg(long, default_value_t = 10)]
    eval_every: usize,
    /// Run an experiment instead of one run: `sparse` trains on each of `--envs` with and
    /// without an RDD intrinsic stream, `--seeds` seeds each, the same budget, and writes
    /// `grpo_sparse.{json,md,png}` into `--out`; `vla` trains the VLA head on instruction
    /// following Reach (`examples/vla_reach.toml`, or `--config`) with 1 and 3 targets, PPO
    /// and GRPO, and writes `vla_reach.{json,md}` and PNGs; `vla-bc` behaviour-clones the VLA
    /// head on the scripted controller's episodes (a LeRobot dataset, `--data`), then
    /// fine-tunes it by RL (`examples/vla_bc.toml`), and writes `vla_bc.{json,md}` and PNGs.
    #[arg(long)]
    experiment: Option<String>,
    /// The `vla-bc` experiment's demonstrations: a LeRobot dataset, read when it exists, else
    /// recorded there.
    #[arg(long, default_value = "runs/vla_bc_demos")]
    data: PathBuf,
    /// Episodes the `vla-bc` experiment records when `--data` does not exist.
    #[arg(long, default_value_t = 3000)]
    demos: usize,
    /// DART's noise on the motion the `vla-bc` demonstrations execute (action units; the
    /// dataset keeps the controller's own actions).
    #[arg(long, default_value_t = 0.3)]
    demo_noise: f32,
    /// Behaviour cloning's passes over the demonstrations (`vla-bc`).
    #[arg(long, default_value_t = 8)]
    bc_epochs: usize,
    /// Adam's learning rate while cloning (`vla-bc`; the config's `adam.lr` is RL's).
    #[arg(long, default_value_t = 1e-3)]
    bc_lr: f64,
    /// The weight of the demonstrations' token loss kept in the RL fine-tuning after cloning
    /// (`vla-bc`; 0: pure RL; 256 demonstrated frames per optimiser step).
    #[arg(long, default_value_t = 0.0)]
    bc_rl_coef: f64,
    /// Environments of the experiment.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "MiniGrid-DoorKey-5x5-v0,MiniGrid-DoorKey-8x8-v0"
    )]
    envs: Vec<String>,
    /// Seeds per setting in the experiment.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Target counts of the `vla` experiment (each writes `vla_reach_t<n>.json`; the table in
    /// `vla_reach.md` is made from every such file in `--out`, so counts can run in parallel).
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    targets: Vec<u64>,
    /// Metrics on the `iteration` timeline and every evaluation episode, step by step.
    #[command(flatten)]
    rerun: RerunArgs,
}

/// `spelunk eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run folder written by `spelunk train`.
    #[arg(long)]
    run: PathBuf,
    /// Episodes.
    #[arg(long, default_value_t = 100)]
    episodes: usize,
    /// Take the most likely action instead of sampling.
    #[arg(long)]
    greedy: bool,
    /// Write the result as JSON (with the command, commit and machine) to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Every episode, step by step.
    #[command(flatten)]
    rerun: RerunArgs,
}

impl TrainArgs {
    /// One run in a folder (not an experiment): it commits, and Ctrl-C commits and stops it.
    pub fn is_single_run(&self) -> bool {
        self.experiment.is_none()
    }
}

/// Run `spelunk train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    if let Some(e) = &args.experiment {
        let report = match e.as_str() {
            "sparse" => spelunk_experiments::train::sparse(&SparseConfig {
                base: config::train_config(args.config.as_deref(), &args.sets)?,
                envs: args.envs.clone(),
                seeds: args.seeds,
                out: args.out.clone(),
            })?,
            "vla" => spelunk_experiments::vla::run(&VlaConfig {
                config: args.config.clone(),
                sets: args.sets.clone(),
                out: args.out.clone(),
                seeds: args.seeds,
                targets: args.targets.clone(),
            })?,
            #[cfg(feature = "lerobot")]
            "vla-bc" => {
                spelunk_experiments::vla_bc::run(&spelunk_experiments::vla_bc::VlaBcConfig {
                    config: args.config.clone(),
                    sets: args.sets.clone(),
                    out: args.out.clone(),
                    data: args.data.clone(),
                    demos: args.demos,
                    noise: args.demo_noise,
                    seeds: args.seeds,
                    bc: spelunk_grpo::BcConfig {
                        epochs: args.bc_epochs,
                        lr: Some(args.bc_lr),
                        rl_coef: args.bc_rl_coef,
                        ..spelunk_grpo::BcConfig::default()
                    },
                })?
            }
            #[cfg(not(feature = "lerobot"))]
            "vla-bc" => {
                bail!("--experiment vla-bc: this spelunk was built without the `lerobot` feature")
            }
            _ => bail!("unknown experiment `{e}`; there are: sparse, vla, vla-bc"),
        };
        outln!("{report}");
        return Ok(());
    }
    let cfg = if args.resume {
        None
    } else {
        Some(config::train_config(args.config.as_deref(), &args.sets)?)
    };
    let folder = RunFolder {
        out: args.out.clone(),
        resume: args.resume,
        force: args.force,
        eval_every: args.eval_every,
    };
    let mut recorder = args.rerun.recorder()?;
    let mut extra = Observers::new();
    if let Some(r) = recorder.as_mut() {
        extra.push(r);
    }
    let (cfg, finished) = run_in_folder(cfg, &args.sets, &folder, &mut extra)?;
    drop(extra);
    finish(recorder, &args.rerun)?;
    outln!(
        "{}: {} iterations, {} env steps; eval over {} unseen seeds: return {:.3}, success {:.1}%",
        cfg.env,
        finished.iterations,
        finished.env_steps,
        cfg.eval_episodes,
        finished.summary["eval/episodic_return"],
        finished.summary["eval/success_rate"] * 100.0
    );
    outln!("metrics: {}", args.out.join("metrics.jsonl").display());
    Ok(())
}

/// Run `spelunk eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let mut recorder = args.rerun.recorder()?;
    let mut observers = Observers::new();
    if let Some(r) = recorder.as_mut() {
        observers.push(r);
    }
    let e = evaluate_folder(&args.run, args.episodes, args.greedy, &mut observers)?;
    drop(observers);
    finish(recorder, &args.rerun)?;
    outln!(
        "{} after {} iterations, {} env steps ({}): {} unseen seeds: return {:.3}, success {:.1}%",
        e.config.env,
        e.iterations,
        e.env_steps,
        if args.greedy { "greedy" } else { "sampled" },
        e.episodes,
        e.mean_return,
        e.success * 100.0
    );
    if let Some(path) = &args.json {
        let report = serde_json::json!({
            "provenance": spelunk_experiments::provenance::Provenance::here(),
            "run": args.run,
            "eval": e,
        });
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        outln!("wrote {}", path.display());
    }
    Ok(())
}
