//! Training runs: the run loop over [`spelunk_grpo::Trainer`] with its observers, a run folder
//! (`config.toml`, `metrics.jsonl`, `checkpoint/`), evaluation of a saved run, and the
//! sparse-reward experiment (GRPO with and without an RDD stream).
//!
//! ```no_run
//! # fn main() -> spelunk_experiments::Result<()> {
//! use spelunk_experiments::{config, train};
//! let cfg = config::train_config(None, &["env=\"MiniGrid-Empty-5x5-v0\"".into()])?;
//! let mut trainer = train::trainer(cfg)?;
//! // Any observer: here, one line per iteration.
//! struct Print;
//! impl spelunk_core::Observer for Print {
//!     fn iteration(
//!         &mut self,
//!         m: &spelunk_core::IterationMetrics,
//!         _: &dyn spelunk_core::Checkpoint,
//!     ) -> spelunk_core::ObserverResult {
//!         println!("{} {:.2}", m.iteration, m.value("charts/success_rate"));
//!         Ok(())
//!     }
//! }
//! train::run_loop(&mut trainer, &train::LoopOptions::default(), &mut Print)?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;
use spelunk_core::events::{IterationMetrics, Observer, RunFinished, RunStarted, Scalar};
use spelunk_core::Observers;
use spelunk_grpo::{IntrinsicConfig, TrainConfig, Trainer};

use crate::error::{bail, create_dir, write_file, Context as _, Error, Result};
use crate::observers::{JsonLines, Progress, SaveEvery, SaveSchedule};
use crate::report::{mean_points, raster, svg::Series};

/// A trainer whose envs come from the registry with the run's `env_config` (or the override
/// a demonstration carries).
pub fn trainer(cfg: TrainConfig) -> Result<Trainer<'static>> {
    let make = crate::registry().factory(&cfg.env, cfg.env_config.clone());
    Ok(Trainer::new(cfg, make)?)
}

/// How [`run_loop`] runs.
#[derive(Clone, Debug)]
pub struct LoopOptions {
    /// Evaluate (sampled actions, unseen seeds) every this many iterations and at the end
    /// (0: never during the run).
    pub eval_every: usize,
    /// What [`RunStarted::kind`] says.
    pub kind: String,
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self { eval_every: 10, kind: "train".into() }
    }
}

/// The metrics of one iteration as the event carries them.
pub fn iteration_metrics(
    t: &Trainer<'_>,
    values: std::collections::BTreeMap<String, f64>,
) -> IterationMetrics {
    IterationMetrics {
        iteration: t.iteration as u64,
        env_steps: t.env_steps,
        scalars: values.into_iter().map(|(k, v)| (k, Scalar::Real(v))).collect(),
    }
}

/// Train from the trainer's current iteration to its config's last, telling `observer`
/// everything; evaluation metrics join the iteration's every `eval_every` iterations.
pub fn run_loop(
    t: &mut Trainer<'_>,
    opts: &LoopOptions,
    observer: &mut dyn Observer,
) -> Result<RunFinished> {
    let cfg = t.config.clone();
    observer.run_started(&RunStarted {
        kind: opts.kind.clone(),
        env_id: Some(cfg.env.clone()),
        config: serde_json::to_value(&cfg)?,
        seed: cfg.seed,
        commit: option_env!("SPELUNK_COMMIT").map(str::to_owned),
        start_iteration: t.iteration as u64,
        budget: cfg.iterations as u64,
        budget_unit: "iterations".into(),
    })?;
    while t.iteration < cfg.iterations {
        let values = t.iterate()?;
        let mut m = iteration_metrics(t, values);
        let due = opts.eval_every > 0 && t.iteration % opts.eval_every == 0;
        if due || t.iteration == cfg.iterations {
            let (ret, success) = t.evaluate(cfg.eval_episodes, false)?;
            m.set("eval/episodic_return", ret);
            m.set("eval/success_rate", success);
        }
        observer.iteration(&m, &*t)?;
    }
    let (ret, success) = t.evaluate(cfg.eval_episodes, false)?;
    let finished = RunFinished {
        iterations: t.iteration as u64,
        env_steps: t.env_steps,
        summary: [
            ("eval/episodic_return".to_owned(), ret),
            ("eval/success_rate".to_owned(), success),
        ]
        .into_iter()
        .collect(),
    };
    observer.run_finished(&finished, &*t)?;
    Ok(finished)
}

/// A training run in a folder.
#[derive(Clone, Debug)]
pub struct RunFolder {
    /// The folder: `config.toml`, `metrics.jsonl`, `checkpoint/`.
    pub out: PathBuf,
    /// Continue from the folder's checkpoint instead of starting anew.
    pub resume: bool,
    /// Evaluate every this many iterations.
    pub eval_every: usize,
}

/// Train `cfg` into `folder` (or resume the run there, with its own `config.toml` and
/// `sets` over it), with the folder's observers (metrics, checkpoint every iteration, a
/// progress bar) followed by `extra`.
pub fn run_in_folder(
    cfg: Option<TrainConfig>,
    sets: &[String],
    folder: &RunFolder,
    extra: &mut dyn Observer,
) -> Result<(TrainConfig, RunFinished)> {
    let ckpt = folder.out.join("checkpoint");
    let cfg = if folder.resume {
        let p = folder.out.join("config.toml");
        crate::config::train_config(Some(&p), sets)
            .with_context(|| format!("resuming from {}", folder.out.display()))?
    } else {
        match cfg {
            Some(c) => c,
            None => crate::config::train_config(None, sets)?,
        }
    };
    let mut t = trainer(cfg.clone())?;
    create_dir(&folder.out)?;
    if folder.resume {
        t.resume(&ckpt).with_context(|| format!("loading {}", ckpt.display()))?;
    } else {
        let text = toml::to_string(&cfg).map_err(|e| Error::Invalid(e.to_string()))?;
        write_file(&folder.out.join("config.toml"), text)?;
    }
    let mut observers = Observers::new()
        .with(JsonLines::open(&folder.out.join("metrics.jsonl"), folder.resume)?)
        .with(SaveEvery::new(&ckpt, SaveSchedule::Iterations(1)))
        .with(Progress::training());
    observers.push(extra);
    let opts = LoopOptions { eval_every: folder.eval_every.max(1), kind: "train".into() };
    let finished = run_loop(&mut t, &opts, &mut observers)?;
    Ok((cfg, finished))
}

/// A saved run evaluated: (config, iterations trained, mean return, success rate).
pub fn evaluate_folder(
    run: &Path,
    episodes: usize,
    greedy: bool,
) -> Result<(TrainConfig, usize, f64, f64)> {
    let cfg = crate::config::train_config(Some(&run.join("config.toml")), &[])?;
    let mut t = trainer(cfg.clone())?;
    t.resume(&run.join("checkpoint"))
        .with_context(|| format!("loading {}", run.join("checkpoint").display()))?;
    let (ret, success) = t.evaluate(episodes, greedy)?;
    Ok((cfg, t.iteration, ret, success))
}

/// Train one run of an experiment to its last iteration, with progress: the trainer and the
/// (env steps, sampled success rate) curve, one point per iteration.
pub fn train_curve(
    cfg: &TrainConfig,
    what: &str,
    pb: &indicatif::ProgressBar,
) -> Result<(Trainer<'static>, Vec<(f64, f64)>)> {
    let mut t = trainer(cfg.clone())?;
    let mut curve = Vec::new();
    for _ in 0..cfg.iterations {
        let m = t.iterate()?;
        curve.push((m["charts/env_steps"], m["charts/success_rate"]));
        let msg = format!("{what}: success {:.2}", m["charts/success_rate"]);
        if !crate::observers::is_terminal() && t.iteration % 10 == 0 {
            eprintln!("iteration {}/{}: {msg}", t.iteration, cfg.iterations);
        }
        pb.set_message(msg);
        pb.inc(1);
    }
    Ok((t, curve))
}

/// The sparse-reward experiment's settings.
#[derive(Clone, Debug)]
pub struct SparseConfig {
    /// The base training config (every run's, env, seed and intrinsic stream aside).
    pub base: TrainConfig,
    /// Environments.
    pub envs: Vec<String>,
    /// Seeds per env and method.
    pub seeds: u64,
    /// Folder for `grpo_sparse.{json,md}` and charts.
    pub out: PathBuf,
}

#[derive(Serialize)]
struct SparseRun {
    env: String,
    method: &'static str,
    seed: u64,
    /// (env steps, sampled success rate) per iteration.
    curve: Vec<(f64, f64)>,
    final_eval_success: f64,
}

/// GRPO with and without an RDD stream on sparse-reward gridworlds; returns what it wrote.
pub fn sparse(c: &SparseConfig) -> Result<String> {
    let base = &c.base;
    if c.envs.is_empty() || c.seeds == 0 {
        bail!("the sparse experiment needs at least one env and one seed");
    }
    create_dir(&c.out)?;
    let methods: [(&str, Option<IntrinsicConfig>); 2] =
        [("GRPO", None), ("GRPO + RDD", Some(IntrinsicConfig::default()))];
    let total = c.envs.len() as u64 * 2 * c.seeds * base.iterations as u64;
    let pb = crate::observers::progress_bar(total);
    let mut runs = Vec::new();
    for env in &c.envs {
        for (label, intrinsic) in &methods {
            for seed in 0..c.seeds {
                let cfg =
                    TrainConfig { env: env.clone(), seed, intrinsic: *intrinsic, ..base.clone() };
                let (mut t, curve) = train_curve(&cfg, &format!("{env} {label} seed {seed}"), &pb)?;
                let (_, success) = t.evaluate(cfg.eval_episodes, false)?;
                runs.push(SparseRun {
                    env: env.clone(),
                    method: label,
                    seed,
                    curve,
                    final_eval_success: success,
                });
            }
        }
    }
    pb.finish_and_clear();
    write_file(&c.out.join("grpo_sparse.json"), serde_json::to_string_pretty(&runs)?)?;
    let mut md = format!(
        "# GRPO on sparse-reward gridworlds, with and without an RDD stream\n\n`spelunk train --experiment sparse --seeds {} --set iterations={}` ({} groups of {} per iteration, same seeds for both)\n\n| env | method | final sampled success (unseen seeds), mean over seeds | per seed | env steps |\n|---|---|---|---|---|\n",
        c.seeds, base.iterations, base.groups_per_step, base.group_size
    );
    for env in &c.envs {
        let mut series = Vec::new();
        for (label, _) in &methods {
            let rs: Vec<&SparseRun> =
                runs.iter().filter(|r| &r.env == env && r.method == *label).collect();
            let mean =
                rs.iter().map(|r| r.final_eval_success).sum::<f64>() / rs.len().max(1) as f64;
            let per: Vec<String> =
                rs.iter().map(|r| format!("{:.2}", r.final_eval_success)).collect();
            let steps = rs.iter().map(|r| r.curve.last().map_or(0.0, |c| c.0)).sum::<f64>()
                / rs.len().max(1) as f64;
            md.push_str(&format!(
                "| {env} | {label} | {mean:.3} | {} | {:.0} |\n",
                per.join(", "),
                steps
            ));
            let curves: Vec<&Vec<(f64, f64)>> = rs.iter().map(|r| &r.curve).collect();
            series.push(Series { label: (*label).to_owned(), points: mean_points(&curves) });
        }
        let png = raster::line_chart(
            &format!("{env}: GRPO"),
            "env steps",
            "success rate (sampled)",
            &series,
        );
        let name = env.trim_start_matches("MiniGrid-").trim_end_matches("-v0").to_lowercase();
        raster::write(&c.out.join(format!("grpo_sparse_{name}.png")), &png)?;
    }
    write_file(&c.out.join("grpo_sparse.md"), md)?;
    Ok(format!("wrote {}/grpo_sparse.{{json,md}} and grpo_sparse_*.png", c.out.display()))
}
