//! `spelunk record ENV`: episodes played by a random, scripted or trained actor, written as a
//! Rerun recording (and, with `--steps`, as JSON lines), and the `--rerun` option the other
//! commands share.
//!
//! ```sh
//! spelunk record MiniGrid-DoorKey-8x8-v0 --policy random --episodes 3 --rerun doorkey.rrd
//! spelunk record Arm-PickAndPlace-v0 --policy scripted --rerun spawn
//! spelunk record MiniGrid-DoorKey-5x5-v0 --policy runs/doorkey --bonus counts,rnd --rerun connect
//! ```

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;
use spelunk_core::Observers;
use spelunk_experiments::observers::{EpisodeFiles, StepLines};
use spelunk_experiments::record::{record, Actor, RecordSpec};
#[cfg(feature = "rerun")]
pub use spelunk_viz::Recorder;

/// Built without the `rerun` feature: no recorder can exist.
#[cfg(not(feature = "rerun"))]
pub enum Recorder {}

#[cfg(not(feature = "rerun"))]
impl spelunk_core::Observer for Recorder {}

#[cfg(not(feature = "rerun"))]
impl Recorder {
    fn finish(self) -> Result<()> {
        match self {}
    }
    pub fn set_archive_background(&mut self, _: spelunk_core::Image) {
        match *self {}
    }
}

/// `--rerun`: where a command's recording goes.
#[derive(Args, Debug, Default)]
pub struct RerunArgs {
    /// Record to Rerun: a file (`out.rrd`), `spawn` (a viewer on this machine; needs the
    /// `rerun` binary) or `connect[=ADDR]` (a running viewer, default 127.0.0.1:9876).
    #[arg(long, value_name = "FILE.rrd|spawn|connect[=ADDR]")]
    pub rerun: Option<String>,
    /// Leave the cameras' images out of 3D recordings (each costs a ray cast per pixel).
    #[arg(long)]
    pub no_cameras: bool,
}

impl RerunArgs {
    /// The recorder, when asked for.
    pub fn recorder(&self) -> Result<Option<Recorder>> {
        let Some(s) = &self.rerun else { return Ok(None) };
        #[cfg(feature = "rerun")]
        {
            let sink: spelunk_viz::Sink = s.parse()?;
            let opts = spelunk_viz::RecorderOptions {
                cameras: !self.no_cameras,
                ..spelunk_viz::RecorderOptions::default()
            };
            Ok(Some(Recorder::open("spelunk", &sink, opts)?))
        }
        #[cfg(not(feature = "rerun"))]
        anyhow::bail!("--rerun {s}: this spelunk was built without the `rerun` feature")
    }
}

/// Close a recording, saying where it went.
pub fn finish(recorder: Option<Recorder>, args: &RerunArgs) -> Result<()> {
    if let Some(r) = recorder {
        r.finish()?;
        if let Some(s) = &args.rerun {
            if std::path::Path::new(s).extension().is_some_and(|e| e == "rrd") {
                eprintln!("recording: {s} (open it with `rerun {s}`)");
            }
        }
    }
    Ok(())
}

/// Arguments of `spelunk record`.
#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Environment id (see `spelunk envs`).
    env: String,
    /// Who acts: `random`, `scripted` (arm tasks, Montezuma-style levels) or a training run
    /// folder (its policy's evaluation episodes).
    #[arg(long, default_value = "random")]
    policy: String,
    /// Episodes.
    #[arg(long, default_value_t = 1)]
    episodes: usize,
    /// Episode k resets with seed + k (random and scripted).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A run's policy takes its most likely action instead of sampling.
    #[arg(long)]
    greedy: bool,
    /// Env config file (TOML or JSON).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Env config overrides, `key=value` (repeatable).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Intrinsic bonuses computed along the episodes (counts, rnd, rdd, icm, byol_explore,
    /// hindsight), logged per step and as per-tile maps.
    #[arg(long, value_delimiter = ',')]
    bonus: Vec<String>,
    /// Also write every step as a line of JSON to this file.
    #[arg(long)]
    steps: Option<PathBuf>,
    /// Also write each episode as a file that replays it (`episode_<k>.json`: seed, actions
    /// and a checksum per state) into this folder; `spelunk replay` re-simulates and checks it.
    #[arg(long)]
    episodes_out: Option<PathBuf>,
    /// Also write the episodes as a LeRobot dataset (v3.0 layout: parquet + metadata, images
    /// as PNG) into this new folder; `spelunk train` reads it for behaviour cloning.
    #[arg(long, value_name = "FOLDER")]
    lerobot: Option<PathBuf>,
    /// Frames per second in the dataset (default: 25 for the arm tasks, 10 otherwise).
    #[arg(long, requires = "lerobot")]
    fps: Option<u32>,
    #[command(flatten)]
    rerun: RerunArgs,
}

/// Run `spelunk record`.
pub fn run(args: &RecordArgs) -> Result<()> {
    if args.rerun.rerun.is_none()
        && args.steps.is_none()
        && args.episodes_out.is_none()
        && args.lerobot.is_none()
    {
        anyhow::bail!(
            "say where the episodes go: --rerun FILE.rrd|spawn|connect, --steps FILE.jsonl, \
             --episodes-out FOLDER, --lerobot FOLDER (any of them)"
        );
    }
    let bonuses = spelunk_experiments::record::bonus_kinds(&args.bonus)?;
    let env_config = if args.config.is_some() || !args.sets.is_empty() {
        Some(spelunk_experiments::config::env_config(args.config.as_deref(), &args.sets)?)
    } else {
        None
    };
    let spec = RecordSpec {
        env: args.env.clone(),
        env_config,
        actor: args.policy.parse::<Actor>()?,
        episodes: args.episodes,
        seed: args.seed,
        bonuses,
        greedy: args.greedy,
    };
    let mut recorder = args.rerun.recorder()?;
    let mut steps = match &args.steps {
        Some(p) => Some(StepLines::create(p)?),
        None => None,
    };
    let mut files = match &args.episodes_out {
        Some(dir) => Some(EpisodeFiles::new(dir, spec.env_config.clone())?),
        None => None,
    };
    let mut dataset = match &args.lerobot {
        Some(dir) => Some(dataset_writer(&spec, dir, args.fps)?),
        None => None,
    };
    let episodes = {
        let mut observers = Observers::new();
        if let Some(d) = dataset.as_mut() {
            observers.push(d);
        }
        if let Some(r) = recorder.as_mut() {
            observers.push(r);
        }
        if let Some(s) = steps.as_mut() {
            observers.push(s);
        }
        if let Some(f) = files.as_mut() {
            observers.push(f);
        }
        record(&spec, &mut observers).with_context(|| format!("recording {}", args.env))?
    };
    drop(steps);
    let written = match files {
        Some(f) => f.finish()?,
        None => Vec::new(),
    };
    finish(recorder, &args.rerun)?;
    let n = episodes.len() as f64;
    let ret = episodes.iter().map(|e| e.episodic_return).sum::<f64>() / n;
    let success = episodes.iter().filter(|e| e.success).count() as f64 / n;
    let length: u64 = episodes.iter().map(|e| e.length).sum();
    outln!(
        "{}: {} episodes ({} steps) by {}: mean return {ret:.3}, success {:.1}%",
        args.env,
        episodes.len(),
        length,
        args.policy,
        success * 100.0
    );
    if let Some(p) = &args.steps {
        outln!("steps: {}", p.display());
    }
    if let Some(dir) = &args.episodes_out {
        outln!("episode files: {} in {}", written.len(), dir.display());
    }
    if let Some(d) = dataset {
        finish_dataset(d)?;
    }
    Ok(())
}

#[cfg(feature = "lerobot")]
type DatasetWriter = spelunk_dataset::Writer;

/// Built without the `lerobot` feature: no dataset writer can exist.
#[cfg(not(feature = "lerobot"))]
enum DatasetWriter {}

#[cfg(not(feature = "lerobot"))]
impl spelunk_core::Observer for DatasetWriter {}

#[cfg(feature = "lerobot")]
fn dataset_writer(
    spec: &RecordSpec,
    dir: &std::path::Path,
    fps: Option<u32>,
) -> Result<DatasetWriter> {
    Ok(spelunk_experiments::record::lerobot_writer(spec, dir, fps)?)
}

#[cfg(not(feature = "lerobot"))]
fn dataset_writer(_: &RecordSpec, dir: &std::path::Path, _: Option<u32>) -> Result<DatasetWriter> {
    anyhow::bail!(
        "--lerobot {}: this spelunk was built without the `lerobot` feature",
        dir.display()
    )
}

#[cfg(feature = "lerobot")]
fn finish_dataset(writer: DatasetWriter) -> Result<()> {
    let d = writer.finish()?;
    outln!(
        "LeRobot dataset: {} ({} episodes, {} frames, {} tasks, {:.1} MB)",
        d.dir.display(),
        d.episodes,
        d.frames,
        d.tasks,
        d.bytes as f64 / 1e6
    );
    Ok(())
}

#[cfg(not(feature = "lerobot"))]
#[allow(clippy::needless_pass_by_value)]
fn finish_dataset(writer: DatasetWriter) -> Result<()> {
    match writer {}
}

/// Arguments of `spelunk replay`.
#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Episode files written by `spelunk record --episodes-out`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    rerun: RerunArgs,
}

/// Run `spelunk replay`: re-simulate each episode file, check every state's checksum, and
/// record the replays when asked.
pub fn replay(args: &ReplayArgs) -> Result<()> {
    let mut recorder = args.rerun.recorder()?;
    for (k, path) in args.files.iter().enumerate() {
        let file = spelunk_core::EpisodeFile::load(path)?;
        let make = spelunk_experiments::registry().factory(&file.env, file.env_config.clone());
        let mut env =
            make(None).with_context(|| format!("{}: making {}", path.display(), file.env))?;
        let mut observers = Observers::new();
        if let Some(r) = recorder.as_mut() {
            observers.push(r);
        }
        let e = file
            .replay(env.as_mut(), k as u64, &mut observers)
            .with_context(|| format!("replaying {}", path.display()))?;
        outln!(
            "{}: {} seed {}, {} steps, return {:.3}{} — every state matches the recording",
            path.display(),
            file.env,
            file.seed,
            e.length,
            e.episodic_return,
            if e.success { ", solved" } else { "" }
        );
    }
    finish(recorder, &args.rerun)
}
