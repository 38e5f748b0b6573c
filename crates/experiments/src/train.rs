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
use spelunk_core::events::{
    BudgetUnit, EpisodeFinished, Frame, IterationMetrics, Observer, RunFinished, RunStarted, Scalar,
};
use spelunk_core::DemoAction;
use spelunk_core::Observers;
use spelunk_grpo::{EvalEpisode, IntrinsicConfig, TrainConfig, Trainer};

use crate::error::{bail, create_dir, write_file, Context as _, Error, Result};
use crate::observers::{JsonLines, Progress};
use crate::report::{mean_points, raster, svg::Series};
use crate::run_dir::{CommitSchedule, Commits, RunDir, METRICS};

/// A trainer whose envs come from the registry with the run's `env_config` (or the override
/// a demonstration carries); refused, before anything large is allocated, when its settings
/// need more memory than [`crate::budget`] allows.
pub fn trainer(cfg: TrainConfig) -> Result<Trainer<'static>> {
    let make = crate::registry().factory(&cfg.env, cfg.env_config.clone());
    crate::budget::training(&cfg, make(None)?.as_ref()).check("this training run")?;
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
        budget_unit: BudgetUnit::Iterations,
    })?;
    while t.iteration < cfg.iterations {
        let values = t.iterate()?;
        let mut m = iteration_metrics(t, values);
        let due = opts.eval_every > 0 && t.iteration % opts.eval_every == 0;
        if due || t.iteration == cfg.iterations {
            let (ret, success) = evaluate_observed(t, observer)?;
            m.set("eval/episodic_return", ret);
            m.set("eval/success_rate", success);
        }
        observer.iteration(&m, &*t)?;
    }
    let (ret, success) = evaluate_observed(t, observer)?;
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

/// Evaluate (sampled actions, unseen seeds): every episode goes to `observer` as an
/// [`EpisodeFinished`] (the first replayed step by step before it, when it wants steps), and
/// when it wants frames, the first episode is replayed from its seed and rendered. Returns (mean return,
/// success rate), as [`Trainer::evaluate`].
pub fn evaluate_observed(t: &mut Trainer<'_>, observer: &mut dyn Observer) -> Result<(f64, f64)> {
    let eps = t.evaluate_episodes(t.config.eval_episodes, false)?;
    // One episode of each evaluation step by step, as the frames: recording every one of a
    // hundred evaluation episodes every few iterations would cost more than the training.
    tell_episodes(&t.config, &eps, Some(t.iteration as u64), 1, observer)?;
    if let (true, Some(first)) = (observer.wants_frames(), eps.first()) {
        let make = crate::registry().factory(&t.config.env, t.config.env_config.clone());
        replay_frames(make(None)?.as_mut(), first.seed, &first.actions, observer)?;
    }
    Ok(EvalEpisode::summary(&eps))
}

/// Each evaluation episode to `observer` as an [`EpisodeFinished`], the first `replayed` of
/// them first replayed step by step from their seeds and actions (when it wants steps).
fn tell_episodes(
    cfg: &TrainConfig,
    eps: &[EvalEpisode],
    iteration: Option<u64>,
    replayed: usize,
    observer: &mut dyn Observer,
) -> Result<()> {
    let make = crate::registry().factory(&cfg.env, cfg.env_config.clone());
    let mut env = if observer.wants_steps() { Some(make(None)?) } else { None };
    for (k, e) in eps.iter().enumerate() {
        if let Some(env) = env.as_mut().filter(|_| k < replayed) {
            crate::record::replay_steps(
                env.as_mut(),
                e.seed,
                &e.actions,
                k as u64,
                iteration,
                observer,
            )?;
        }
        observer.episode_finished(&EpisodeFinished {
            env_id: cfg.env.clone(),
            env_config: cfg.env_config.clone(),
            seed: e.seed,
            actions: e.actions.clone(),
            episodic_return: e.episodic_return,
            success: e.success,
            length: e.length as u64,
        })?;
    }
    Ok(())
}

/// Replay `actions` from `reset(seed)` in `env`, sending each rendered frame (the first
/// before any action) to `observer`; envs that cannot render send nothing.
pub fn replay_frames(
    env: &mut dyn spelunk_core::Env,
    seed: u64,
    actions: &[DemoAction],
    observer: &mut dyn Observer,
) -> Result<()> {
    let mut obs = spelunk_core::ObsBuf::for_space(env.observation_space());
    env.reset(Some(seed), None, obs.as_mut())?;
    let mut send = |env: &dyn spelunk_core::Env, step: u64| -> Result<bool> {
        match env.render_rgb() {
            Some(image) => {
                observer.frame(&Frame { env_index: 0, step, image })?;
                Ok(true)
            }
            None => Ok(false),
        }
    };
    if !send(env, 0)? {
        return Ok(());
    }
    for (k, a) in actions.iter().enumerate() {
        let s = env.step(a.as_action(), obs.as_mut())?;
        send(env, k as u64 + 1)?;
        if s.terminated || s.truncated {
            break;
        }
    }
    Ok(())
}

/// A training run in a folder.
#[derive(Clone, Debug)]
pub struct RunFolder {
    /// The folder: `config.toml`, `manifest.json`, `metrics.jsonl`, `checkpoint/<iteration>/`
    /// ([`crate::run_dir`]).
    pub out: PathBuf,
    /// Continue from the folder's last commit instead of starting anew.
    pub resume: bool,
    /// Replace a run already in the folder (without it, such a folder is refused).
    pub force: bool,
    /// Evaluate every this many iterations (0: only at the end).
    pub eval_every: usize,
}

/// What a training run folder's manifest calls its kind.
const KIND: &str = "train";
/// Where a run folder from before manifests kept its checkpoint (and the file that marks it).
const LEGACY_CHECKPOINT: &str = "checkpoint/state.json";

/// The settings that make a training run this run (what `--resume` may not change): all but
/// `iterations`, `eval_episodes`, `device` and `threads`.
pub fn identity(cfg: &TrainConfig) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(cfg)?;
    if let Some(o) = v.as_object_mut() {
        for k in ["iterations", "eval_episodes", "device", "threads"] {
            o.remove(k);
        }
    }
    Ok(v)
}

/// `cfg` as a run folder's `config.toml` holds it: the text, and the config read back from it
/// (what a resume will read).
fn config_text(cfg: &TrainConfig) -> Result<(String, TrainConfig)> {
    let text = toml::to_string(cfg).map_err(|e| Error::Invalid(e.to_string()))?;
    let table = toml::from_str(&text).map_err(|e| Error::Invalid(e.to_string()))?;
    Ok((text, crate::config::train_config_from(table, None, &[])?))
}

/// Write `config.toml` into `out`, whole.
fn write_config(out: &Path, cfg: &TrainConfig) -> Result<TrainConfig> {
    let (text, cfg) = config_text(cfg)?;
    write_file(&out.join("config.toml"), text)?;
    Ok(cfg)
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
    run_in_folder_with(cfg, sets, folder, extra, |_| {})
}

/// [`run_in_folder`], with `prepare` called on the run folder before the run (tests cut its
/// commits short there).
fn run_in_folder_with(
    cfg: Option<TrainConfig>,
    sets: &[String],
    folder: &RunFolder,
    extra: &mut dyn Observer,
    prepare: impl FnOnce(&mut RunDir),
) -> Result<(TrainConfig, RunFinished)> {
    let out = &folder.out;
    let (cfg, mut t, rd) = if folder.resume {
        let p = out.join("config.toml");
        let resuming = || format!("resuming from {}", out.display());
        let table = crate::config::load_table(Some(&p)).with_context(resuming)?;
        let saved = crate::config::train_config_from(table.clone(), Some(&p), &[])
            .with_context(resuming)?;
        let cfg = crate::config::train_config_from(table, Some(&p), sets).with_context(resuming)?;
        let (rd, ckpt) = RunDir::resume(out, KIND, identity(&cfg)?, LEGACY_CHECKPOINT)?;
        let ckpt = ckpt.unwrap_or_else(|| out.join("checkpoint"));
        let mut t = trainer(cfg.clone())?;
        t.resume(&ckpt).with_context(|| format!("loading {}", ckpt.display()))?;
        if identity(&saved)? == identity(&cfg)? && saved != cfg {
            // A longer budget (or another thread count): what `eval` and the next resume read.
            write_config(out, &cfg)?;
        }
        (cfg, t, rd)
    } else {
        let cfg = match cfg {
            Some(c) => c,
            None => crate::config::train_config(None, sets)?,
        };
        // The trainer first: settings it refuses (memory, spaces) leave the folder untouched.
        let (text, cfg) = config_text(&cfg)?;
        let t = trainer(cfg.clone())?;
        create_dir(out)?;
        // Refused (nothing touched) when the folder holds a run and there is no --force.
        let rd = RunDir::create(out, KIND, identity(&cfg)?, folder.force, &[])?;
        write_file(&out.join("config.toml"), text)?;
        (cfg, t, rd)
    };
    let mut rd = rd;
    prepare(&mut rd);
    let mut observers = Observers::new()
        .with(JsonLines::open(&out.join(METRICS), folder.resume)?)
        .with(Commits::new(rd, CommitSchedule::Iterations(1)))
        .with(Progress::training());
    observers.push(extra);
    let opts = LoopOptions { eval_every: folder.eval_every, kind: "train".into() };
    let finished = run_loop(&mut t, &opts, &mut observers)?;
    Ok((cfg, finished))
}

/// A saved run's config and its trainer at the last commit, every file checked against the
/// run's manifest (nothing in the folder changes).
pub fn load_run(run: &Path) -> Result<(TrainConfig, Trainer<'static>)> {
    let cfg = crate::config::train_config(Some(&run.join("config.toml")), &[])?;
    let committed = crate::run_dir::check(run, KIND, &identity(&cfg)?, LEGACY_CHECKPOINT)
        .with_context(|| format!("loading {}", run.display()))?;
    let ckpt = committed.map_or_else(|| run.join("checkpoint"), |c| c.checkpoint);
    let mut t = trainer(cfg.clone())?;
    t.resume(&ckpt).with_context(|| format!("loading {}", ckpt.display()))?;
    Ok((cfg, t))
}

/// A saved run evaluated on unseen seeds.
#[derive(Clone, Debug, Serialize)]
pub struct FolderEval {
    /// The run's config.
    pub config: TrainConfig,
    /// Iterations it trained.
    pub iterations: usize,
    /// Env steps it trained on.
    pub env_steps: u64,
    /// Episodes evaluated.
    pub episodes: usize,
    /// Whether actions were the most likely ones rather than sampled.
    pub greedy: bool,
    /// Mean return.
    pub mean_return: f64,
    /// Fraction of episodes that succeeded.
    pub success: f64,
}

/// A saved run evaluated on `episodes` unseen seeds. Every episode goes to `observer` as an
/// [`EpisodeFinished`], and when it wants steps, each is replayed from its seed and actions,
/// step by step.
pub fn evaluate_folder(
    run: &Path,
    episodes: usize,
    greedy: bool,
    observer: &mut dyn Observer,
) -> Result<FolderEval> {
    let (config, mut t) = load_run(run)?;
    let eps = t.evaluate_episodes(episodes, greedy)?;
    tell_episodes(&config, &eps, None, eps.len(), observer)?;
    let (mean_return, success) = EvalEpisode::summary(&eps);
    Ok(FolderEval {
        config,
        iterations: t.iteration,
        env_steps: t.env_steps,
        episodes: eps.len(),
        greedy,
        mean_return,
        success,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use spelunk_core::{Checkpoint, ObserverResult};

    /// Counts what a run tells it.
    #[derive(Default)]
    struct Count {
        started: usize,
        iterations: Vec<u64>,
        episodes: usize,
        frames: Vec<(u64, usize, usize)>,
        finished: usize,
    }

    impl Observer for Count {
        fn run_started(&mut self, e: &RunStarted) -> ObserverResult {
            assert_eq!((e.kind.as_str(), e.budget), ("train", 2));
            self.started += 1;
            Ok(())
        }
        fn iteration(&mut self, m: &IterationMetrics, _: &dyn Checkpoint) -> ObserverResult {
            assert!(m.get("losses/approx_kl").is_some_and(f64::is_finite));
            self.iterations.push(m.iteration);
            Ok(())
        }
        fn episode_finished(&mut self, e: &EpisodeFinished) -> ObserverResult {
            assert_eq!(e.actions.len() as u64, e.length, "the actions from the reset");
            self.episodes += 1;
            Ok(())
        }
        fn wants_frames(&self) -> bool {
            true
        }
        fn frame(&mut self, f: &Frame) -> ObserverResult {
            self.frames.push((f.step, f.image.width, f.image.height));
            Ok(())
        }
        fn run_finished(&mut self, _: &RunFinished, _: &dyn Checkpoint) -> ObserverResult {
            self.finished += 1;
            Ok(())
        }
    }

    #[test]
    fn a_run_tells_its_observer_every_event_in_order() {
        let cfg = TrainConfig {
            iterations: 2,
            groups_per_step: 2,
            eval_episodes: 3,
            ..TrainConfig::default()
        };
        let mut t = trainer(cfg).expect("trainer");
        let mut count = Count::default();
        let opts = LoopOptions { eval_every: 1, kind: "train".into() };
        let finished = run_loop(&mut t, &opts, &mut count).expect("run");
        assert_eq!((count.started, count.finished), (1, 1));
        assert_eq!(count.iterations, vec![1, 2]);
        // Evaluations after iterations 1 and 2, then the final one: 3 episodes each.
        assert_eq!(count.episodes, 9);
        // The first episode of each evaluation replayed: frame 0 is the reset, then one per
        // step, all the env's picture size.
        assert!(count.frames.iter().filter(|f| f.0 == 0).count() == 3, "{:?}", count.frames);
        assert!(count.frames.iter().all(|f| f.1 > 0 && f.2 > 0));
        assert_eq!(finished.iterations, 2);
    }

    #[test]
    fn a_kill_at_any_step_of_a_commit_resumes_exactly_or_refuses_by_name() {
        use crate::run_dir::CommitStep;
        let base = std::env::temp_dir().join(format!("spelunk-kill-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let cfg = TrainConfig {
            iterations: 4,
            groups_per_step: 2,
            eval_episodes: 2,
            ..TrainConfig::default()
        };
        let folder = |name: &str, resume: bool| RunFolder {
            out: base.join(name),
            resume,
            force: false,
            eval_every: 2,
        };
        let files = |name: &str| {
            let dir = base.join(name);
            let m = crate::run_dir::read_manifest(&dir).expect("manifest").expect("a commit");
            let policy = std::fs::read(dir.join(&m.checkpoint).join("policy.safetensors"));
            let metrics = std::fs::read_to_string(dir.join(METRICS)).expect("metrics");
            (m.iteration, m.files, metrics, policy.expect("policy"))
        };
        run_in_folder(Some(cfg.clone()), &[], &folder("whole", false), &mut Observers::new())
            .expect("the uninterrupted run");
        let whole = files("whole");
        assert_eq!((whole.0, whole.2.lines().count()), (4, 4));
        let mut refused = Vec::new();
        let mut tried = 0;
        for iteration in [1, 3] {
            for step in CommitStep::ALL {
                // Files are torn only before they are flushed; afterwards see the end.
                for torn in [false, true].into_iter().filter(|&t| !t || step < CommitStep::Flushed)
                {
                    let name = format!("{iteration}-{step:?}-{torn}");
                    tried += 1;
                    let e = run_in_folder_with(
                        Some(cfg.clone()),
                        &[],
                        &folder(&name, false),
                        &mut Observers::new(),
                        |rd| rd.kill_after(iteration, step),
                    )
                    .expect_err("killed");
                    assert!(e.to_string().contains("killed after"), "{e}");
                    if torn {
                        // The kill also cut short a file the commit was writing.
                        let new = base.join(&name).join(format!("checkpoint/{iteration:010}"));
                        if let Some(f) = std::fs::read_dir(&new).ok().and_then(|mut d| d.next()) {
                            let p = f.expect("entry").path();
                            let len = std::fs::metadata(&p).expect("len").len();
                            std::fs::OpenOptions::new()
                                .write(true)
                                .open(&p)
                                .and_then(|f| f.set_len(len / 2))
                                .expect("tear");
                        }
                    }
                    match run_in_folder(None, &[], &folder(&name, true), &mut Observers::new()) {
                        Ok(_) => {
                            let got = files(&name);
                            assert_eq!(got.2, whole.2, "{name}: metrics");
                            assert_eq!(got.1, whole.1, "{name}: files");
                            assert!(got == whole, "{name}: resumed differently");
                        }
                        Err(e) => {
                            let e = e.to_string();
                            // Only a run killed before its first commit may be refused.
                            assert!(
                                iteration == 1 && e.contains("no committed checkpoint"),
                                "{name}: {e}"
                            );
                            refused.push(name);
                        }
                    }
                }
            }
        }
        // The first commit is complete once its manifest is renamed: the kills before that
        // (and torn files with them) leave nothing to resume.
        assert_eq!(refused.len(), 6, "{refused:?}");
        if let Ok(dir) = std::env::var("SPELUNK_ROBUSTNESS_OUT") {
            // `scripts/robustness.sh` counts these beside the fuzz tests.
            let line = serde_json::json!({
                "kind": "run_folder_kills",
                "tried": tried,
                "accepted": tried - refused.len(),
                "clean_error": refused.len(),
                "panic": 0,
                "hang": 0,
                "lost": 0,
            });
            let path = std::path::Path::new(&dir).join("robustness_run_folder_kills.json");
            std::fs::write(path, format!("{line:#}\n")).expect("write the tally");
        }
        // A committed file changed afterwards is named, and nothing is loaded.
        let dir = base.join("whole");
        let m = crate::run_dir::read_manifest(&dir).expect("manifest").expect("commit");
        let state = dir.join(&m.checkpoint).join("state.json");
        let mut text = std::fs::read_to_string(&state).expect("state");
        text.push(' ');
        std::fs::write(&state, text).expect("write");
        let Err(e) = load_run(&dir) else { panic!("a changed file loaded") };
        let e = e.to_string();
        assert!(e.contains("state.json") && e.contains("another run"), "{e}");
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_fresh_run_refuses_a_folder_that_holds_one_and_leaves_it_alone() {
        // `train --out` on an existing run folder without `--resume` used to delete its
        // metrics and overwrite its checkpoint.
        let dir = std::env::temp_dir().join(format!("spelunk-folder-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        std::fs::write(dir.join("metrics.jsonl"), "{\"iteration\": 1}\n").expect("write");
        let folder = RunFolder { out: dir.clone(), resume: false, force: false, eval_every: 1 };
        let cfg = TrainConfig { iterations: 1, groups_per_step: 2, ..TrainConfig::default() };
        let e = run_in_folder(Some(cfg), &[], &folder, &mut Observers::new())
            .expect_err("a folder with a run")
            .to_string();
        assert!(
            e.contains("--resume") && e.contains("--force") && e.contains("metrics.jsonl"),
            "{e}"
        );
        let kept = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("read");
        assert_eq!(kept, "{\"iteration\": 1}\n", "the metrics are untouched");
        assert!(!dir.join("config.toml").exists() && !dir.join("checkpoint").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
