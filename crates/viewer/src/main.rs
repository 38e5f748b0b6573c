//! `spelunk-viewer`: Spelunk's native viewer, on Bevy.
//!
//! ```sh
//! spelunk-viewer replay eps/episode_0.json eps/episode_1.json   # re-simulated, checked per state
//! spelunk-viewer watch Arm-Push-v0 --policy scripted --episodes 3
//! spelunk-viewer watch MiniGrid-DoorKey-5x5-v0 --policy runs/dk   # a trained run's policy
//! spelunk-viewer teleop Arm-PickAndPlace-v0                      # arrows, PgUp/PgDn, G
//! spelunk-viewer replay eps/episode_0.json --screenshot shot.png --flat --check
//! ```
//!
//! Everything about episodes (replaying and checking files, policies acting, teleoperation,
//! comparing a screenshot with the env's own rendering) is `spelunk_experiments::view`; this
//! binary draws it and reads the keyboard and mouse.

mod app;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

use anyhow::{bail, Context as _, Result};
use clap::{Args, Parser, Subcommand};
use spelunk_core::EpisodeFile;
use spelunk_experiments::record::{replay_steps, Actor, RecordSpec};
use spelunk_experiments::view::{self, Teleop, ViewEvent, ViewState};

/// Spelunk's viewer: replay episode files, watch a policy act, drive an env from the keyboard.
#[derive(Parser, Debug)]
#[command(name = "spelunk-viewer", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replay episode files (`spelunk record … --episodes-out DIR`): each is re-simulated in a
    /// fresh env and every state checked against the file's checksum before it is shown.
    Replay {
        /// Episode files, shown one after the other.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Watch a policy act live: `random`, `scripted` (arm tasks, Montezuma-style levels) or a
    /// training run folder (its policy plays its evaluation episodes).
    Watch {
        /// Environment id.
        env: String,
        /// Who acts.
        #[arg(long, default_value = "random")]
        policy: String,
        /// Episodes to play.
        #[arg(long, default_value_t = 3)]
        episodes: usize,
        /// Episode k resets with seed + k (random and scripted).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A run's policy takes its most likely action.
        #[arg(long)]
        greedy: bool,
        /// Intrinsic bonuses computed along the episodes, shown per step (counts, rnd, rdd,
        /// icm, byol_explore, hindsight).
        #[arg(long, value_delimiter = ',')]
        bonus: Vec<String>,
        #[command(flatten)]
        config: EnvConfigArgs,
    },
    /// Drive an env from the keyboard: arrows (MiniGrid: turn and forward; levels and mazes:
    /// move; arm: ±x ±y), PgUp/PgDn (arm: ±z), G (gripper), P pick up, D drop, T toggle,
    /// Enter done, W wait, R next episode.
    Teleop {
        /// Environment id.
        env: String,
        /// Reset seed of the first episode (then seed + 1, …).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[command(flatten)]
        config: EnvConfigArgs,
    },
}

/// An env's config: a TOML file and/or `--set key=value` overrides.
#[derive(Args, Debug)]
struct EnvConfigArgs {
    /// The env's config file (TOML).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one config value (`--set 'robot={urdf="fetch7"}'`), TOML syntax.
    #[arg(long = "set")]
    sets: Vec<String>,
}

impl EnvConfigArgs {
    fn value(&self) -> Result<Option<serde_json::Value>> {
        if self.config.is_none() && self.sets.is_empty() {
            return Ok(None);
        }
        Ok(Some(spelunk_experiments::config::env_config(self.config.as_deref(), &self.sets)?))
    }
}

/// How the viewer draws.
#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    /// Render one state offscreen into this PNG and exit (no window, no display needed).
    #[arg(long, global = true, value_name = "OUT.png")]
    pub screenshot: Option<PathBuf>,
    /// With --screenshot: the state to draw, counted over the whole stream from 0 (default:
    /// the last).
    #[arg(long, global = true, value_name = "STATE")]
    pub at: Option<usize>,
    /// Flat colours, no lighting: each 3D body its class's colour, as the env's segmentation.
    #[arg(long, global = true)]
    pub flat: bool,
    /// With --screenshot: compare the picture with the env's own rendering of that state (grid
    /// worlds: its frame and the agent's tile; 3D: its front camera's segmentation, which needs
    /// --flat) and fail when they disagree.
    #[arg(long, global = true)]
    pub check: bool,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Where the viewer's states come from.
pub enum Source {
    /// All states known up front (replays, screenshots).
    Fixed,
    /// A policy acting in another thread, one state at a time.
    Live(mpsc::Receiver<Result<ViewEvent, String>>),
    /// The keyboard.
    Teleop(Box<Teleop>),
}

/// The env at a state of the stream (counted from 0 over the whole stream).
pub type EnvAt = Box<dyn Fn(usize) -> Result<Box<dyn spelunk_core::Env>>>;

/// What the viewer opens with.
pub struct Opening {
    /// Environment id.
    pub env: String,
    /// A line about where the states come from (verified replay, live policy, teleop).
    pub title: String,
    /// The states known so far.
    pub states: Vec<ViewState>,
    /// Where more come from.
    pub source: Source,
    /// For screenshot checks of 3D states: how to get the env at a state of the stream.
    pub env_at: Option<EnvAt>,
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let offscreen = cli.render.screenshot.is_some();
    if cli.render.check && !offscreen {
        bail!("--check compares a screenshot: add --screenshot OUT.png");
    }
    if let Some(path) = &cli.render.screenshot {
        if path.extension().and_then(|e| e.to_str()) != Some("png") {
            bail!("--screenshot {}: the picture is written as PNG; name it *.png", path.display());
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                bail!("--screenshot {}: folder {} does not exist", path.display(), dir.display());
            }
        }
    } else {
        display_available()?;
    }
    let opening = match &cli.command {
        Command::Replay { files } => replay(files)?,
        Command::Watch { env, policy, episodes, seed, greedy, bonus, config } => {
            let actor: Actor = policy.parse()?;
            let spec = RecordSpec {
                env: env.clone(),
                env_config: config.value()?,
                actor,
                episodes: *episodes,
                seed: *seed,
                bonuses: spelunk_experiments::record::bonus_kinds(bonus)?,
                greedy: *greedy,
            };
            watch(spec, offscreen)?
        }
        Command::Teleop { env, seed, config } => {
            let (t, first) = Teleop::new(env, config.value()?, *seed)?;
            Opening {
                env: env.clone(),
                title: format!("teleop, seed {seed}"),
                states: vec![first],
                source: Source::Teleop(Box::new(t)),
                env_at: None,
            }
        }
    };
    app::run(opening, &cli.render)
}

/// X11 is the only window system this build opens; say what to do without one.
fn display_available() -> Result<()> {
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
        bail!(
            "no display (DISPLAY is not set): run on a desktop or with X forwarding (ssh -X), \
             or render offscreen with --screenshot OUT.png"
        );
    }
    Ok(())
}

fn replay(files: &[PathBuf]) -> Result<Opening> {
    let mut episodes = Vec::new();
    for path in files {
        episodes.push(EpisodeFile::load(path)?);
    }
    let env = episodes[0].env.clone();
    if let Some((path, other)) = files.iter().zip(&episodes).find(|(_, e)| e.env != env) {
        bail!(
            "{} records {}, the first file {}: replay one env's episodes at a time",
            path.display(),
            other.env,
            env
        );
    }
    let mut states = Vec::new();
    for (k, (path, file)) in files.iter().zip(&episodes).enumerate() {
        view::replay_file(file, k as u64, &mut |e| {
            if let ViewEvent::State(s) = e {
                states.push(*s);
            }
            true
        })
        .with_context(|| format!("replaying {}", path.display()))?;
    }
    let n = states.len();
    // State k of the stream is state `k - start` of the file that holds it.
    let starts: Vec<usize> = episodes
        .iter()
        .scan(0, |acc, e| {
            let s = *acc;
            *acc += e.actions.len() + 1;
            Some(s)
        })
        .collect();
    let env_at = move |k: usize| -> Result<Box<dyn spelunk_core::Env>> {
        let i = starts.iter().rposition(|&s| s <= k).unwrap_or(0);
        Ok(view::env_at(&episodes[i], k - starts[i])?)
    };
    Ok(Opening {
        env,
        title: format!(
            "replay of {} file{}: all {n} states match the recording",
            files.len(),
            if files.len() == 1 { "" } else { "s" }
        ),
        states,
        source: Source::Fixed,
        env_at: Some(Box::new(env_at)),
    })
}

fn watch(spec: RecordSpec, offscreen: bool) -> Result<Opening> {
    let title = match &spec.actor {
        Actor::Random => "random actions".to_owned(),
        Actor::Scripted => "scripted controller".to_owned(),
        Actor::Run(dir) => format!("policy of {}", dir.display()),
    };
    let env = spec.env.clone();
    if offscreen {
        // The whole stream first, then the chosen state; its env is the stream replayed.
        let mut states = Vec::new();
        let mut actions: Vec<(u64, Vec<spelunk_core::DemoAction>)> = Vec::new();
        view::live(&spec, &mut |e| {
            if let ViewEvent::State(s) = e {
                if s.step == 0 {
                    actions.push((spec.seed + s.episode, Vec::new()));
                } else if let (Some(a), Some(last)) = (&s.action, actions.last_mut()) {
                    last.1.push(a.clone());
                }
                states.push(*s);
            }
            true
        })?;
        let config = spec.env_config.clone();
        let id = env.clone();
        let random_or_scripted = !matches!(spec.actor, Actor::Run(_));
        let env_at = move |k: usize| -> Result<Box<dyn spelunk_core::Env>> {
            if !random_or_scripted {
                bail!("--check with a run's policy: record its episodes with `spelunk record --episodes-out` and check their replay");
            }
            let mut left = k;
            for (seed, acts) in &actions {
                if left <= acts.len() {
                    let mut e = spelunk_experiments::registry().factory(&id, config.clone())(None)?;
                    let mut quiet = spelunk_core::Observers::new();
                    replay_steps(e.as_mut(), *seed, &acts[..left], 0, None, &mut quiet)?;
                    return Ok(e);
                }
                left -= acts.len() + 1;
            }
            bail!("state {k} is past the stream's end")
        };
        return Ok(Opening {
            env,
            title,
            states,
            source: Source::Fixed,
            env_at: Some(Box::new(env_at)),
        });
    }
    // One state at a time: the policy waits while the viewer is paused.
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("policy".into())
        .spawn(move || {
            if let Err(e) = view::live(&spec, &mut |ev| tx.send(Ok(ev)).is_ok()) {
                let _ = tx.send(Err(format!("{e:#}")));
            }
        })
        .context("starting the policy's thread")?;
    Ok(Opening { env, title, states: Vec::new(), source: Source::Live(rx), env_at: None })
}
