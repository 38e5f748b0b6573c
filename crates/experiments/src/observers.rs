//! The observers every run folder uses: [`JsonLines`] metrics and [`Progress`] (a bar on a
//! terminal, a line now and then otherwise), beside [`crate::run_dir::Commits`]; [`StepLines`]
//! writes every step of recorded episodes and [`EpisodeFiles`] each episode as a file that
//! replays it. A library user passes their own [`Observer`]s beside (or instead of) these.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use spelunk_core::events::{
    BudgetUnit, Checkpoint, EnvStep, IterationMetrics, Observer, ObserverResult, RunFinished,
    RunStarted,
};

use crate::error::{Error, Result};

/// The progress bar every long command shows (hidden by indicatif when stderr is not a
/// terminal; the commands then print a line now and then instead).
pub fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb
}

/// Whether a person watches stderr (else progress is printed as lines).
pub fn is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// One line of JSON per step of recorded or replayed episodes: episode, step, action,
/// reward, the flags, the info fields the env reports, where the agent is drawn, and the
/// observation's first values (up to 8) — what a reader checks a recording against.
#[derive(Debug)]
pub struct StepLines {
    out: std::io::BufWriter<std::fs::File>,
    path: PathBuf,
}

impl StepLines {
    /// Create (or replace) `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(Error::io(path))?;
        Ok(Self { out: std::io::BufWriter::new(file), path: path.to_owned() })
    }
}

impl Observer for StepLines {
    fn wants_steps(&self) -> bool {
        true
    }
    fn env_step(&mut self, e: &EnvStep<'_>) -> ObserverResult {
        let action: Vec<f64> = match e.action {
            spelunk_core::Action::Discrete(a) => vec![a as f64],
            spelunk_core::Action::MultiDiscrete(v) => v.iter().map(|&a| a as f64).collect(),
            spelunk_core::Action::Continuous(v) => v.iter().map(|&a| f64::from(a)).collect(),
        };
        let head: Vec<f64> = match e.obs {
            spelunk_core::ObsRef::F32(v) => v.iter().take(8).map(|&x| f64::from(x)).collect(),
            spelunk_core::ObsRef::U8(v) => v.iter().take(8).map(|&x| f64::from(x)).collect(),
        };
        let i = &e.info;
        let line = serde_json::json!({
            "episode": e.episode,
            "step": e.step,
            "action": action,
            "reward": e.reward,
            "terminated": e.terminated,
            "truncated": e.truncated,
            "x": i.x, "y": i.y, "room": i.room, "score": i.score, "lives": i.lives,
            "is_success": i.is_success,
            "agent_tile": e.env.agent_tile(),
            "bonuses": e.bonuses.iter().map(|(k, v)| (k.to_string(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
            "obs_head": head,
        });
        writeln!(self.out, "{line}")
            .map_err(|e| Error::Io { path: self.path.clone(), source: e })?;
        Ok(())
    }
    fn run_finished(&mut self, _: &RunFinished, _: &dyn Checkpoint) -> ObserverResult {
        self.out.flush().map_err(|e| Error::Io { path: self.path.clone(), source: e })?;
        Ok(())
    }
}

impl Drop for StepLines {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}

/// Each recorded or replayed episode as an [`EpisodeFile`](spelunk_core::EpisodeFile) in a
/// folder (`episode_<k>.json`): seed, actions and a checksum per state, which `spelunk replay`
/// (and the viewer) re-simulate and check.
#[derive(Debug)]
pub struct EpisodeFiles {
    dir: PathBuf,
    env_config: Option<serde_json::Value>,
    current: Option<(u64, spelunk_core::EpisodeFile)>,
    written: Vec<PathBuf>,
}

impl EpisodeFiles {
    /// Write into `dir` (created if missing) episodes of envs made with `env_config`.
    pub fn new(dir: &Path, env_config: Option<serde_json::Value>) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        Ok(Self { dir: dir.to_owned(), env_config, current: None, written: Vec::new() })
    }

    /// Write the episode in progress, if any; returns every file written.
    pub fn finish(mut self) -> Result<Vec<PathBuf>> {
        self.flush().map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(std::mem::take(&mut self.written))
    }

    fn flush(&mut self) -> ObserverResult {
        if let Some((k, file)) = self.current.take() {
            let path = self.dir.join(format!("episode_{k}.json"));
            file.save(&path)?;
            self.written.push(path);
        }
        Ok(())
    }
}

impl Observer for EpisodeFiles {
    fn wants_steps(&self) -> bool {
        true
    }
    fn episode_started(&mut self, e: &spelunk_core::EpisodeStarted<'_>) -> ObserverResult {
        self.flush()?;
        let mut obs = spelunk_core::ObsBuf::for_space(e.env.observation_space());
        e.env.observe(obs.as_mut())?;
        let first = spelunk_core::state_checksum(obs.view(), 0.0, false, false, &e.env.info());
        self.current = Some((
            e.number(),
            spelunk_core::EpisodeFile {
                format: spelunk_core::EPISODE_FORMAT,
                env: e.env.id().to_owned(),
                env_config: self.env_config.clone(),
                seed: e.seed,
                actions: Vec::new(),
                checksums: vec![first],
                episodic_return: 0.0,
            },
        ));
        Ok(())
    }
    fn env_step(&mut self, e: &EnvStep<'_>) -> ObserverResult {
        let Some((_, file)) = self.current.as_mut() else { return Ok(()) };
        file.actions.push(e.action.into());
        file.checksums.push(spelunk_core::state_checksum(
            e.obs,
            e.reward,
            e.terminated,
            e.truncated,
            &e.info,
        ));
        file.episodic_return += e.reward;
        Ok(())
    }
    fn run_finished(&mut self, _: &RunFinished, _: &dyn Checkpoint) -> ObserverResult {
        self.flush()
    }
}

/// `metrics.jsonl`: one line of JSON per iteration, flushed as written.
#[derive(Debug)]
pub struct JsonLines {
    path: PathBuf,
    file: std::fs::File,
}

impl JsonLines {
    /// Open `path` for appending (`append`) or anew (the old file removed).
    pub fn open(path: &Path, append: bool) -> Result<Self> {
        if !append {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::Io { path: path.to_owned(), source: e })
                }
                _ => {}
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(Error::io(path))?;
        Ok(Self { path: path.to_owned(), file })
    }
}

impl Observer for JsonLines {
    fn iteration(&mut self, metrics: &IterationMetrics, _: &dyn Checkpoint) -> ObserverResult {
        writeln!(self.file, "{}", metrics.to_json_line())
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        Ok(())
    }
}

/// What a [`Progress`] observer shows of an iteration.
pub type ProgressMessage = Box<dyn Fn(&IterationMetrics) -> String>;

/// A progress bar over the run's budget (iterations or frames), with a message made from
/// each iteration's metrics; without a terminal, a line on stderr every `line_every`
/// iterations instead.
pub struct Progress {
    bar: indicatif::ProgressBar,
    budget_unit: BudgetUnit,
    budget: u64,
    line_every: u64,
    message: ProgressMessage,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Progress({} {})", self.budget, self.budget_unit)
    }
}

impl Progress {
    /// A bar whose message is `message(metrics)`, printing a line every `line_every`
    /// iterations when stderr is not a terminal.
    pub fn new(line_every: u64, message: impl Fn(&IterationMetrics) -> String + 'static) -> Self {
        Self {
            bar: progress_bar(0),
            budget_unit: BudgetUnit::Iterations,
            budget: 0,
            line_every: line_every.max(1),
            message: Box::new(message),
        }
    }

    /// The training runs' bar: return, success and KL.
    pub fn training() -> Self {
        Self::new(10, |m| {
            format!(
                "return {:.3} success {:.2} kl {:.4}",
                m.value("charts/episodic_return"),
                m.value("charts/success_rate"),
                m.value("losses/approx_kl")
            )
        })
    }

    fn position(&self, m: &IterationMetrics) -> u64 {
        if self.budget_unit == BudgetUnit::Frames {
            m.env_steps.min(self.budget)
        } else {
            m.iteration
        }
    }
}

impl Observer for Progress {
    fn run_started(&mut self, e: &RunStarted) -> ObserverResult {
        self.budget = e.budget;
        self.budget_unit = e.budget_unit;
        self.bar.set_length(e.budget);
        self.bar.set_position(match e.budget_unit {
            BudgetUnit::Frames => 0,
            BudgetUnit::Iterations => e.start_iteration,
        });
        Ok(())
    }
    fn iteration(&mut self, m: &IterationMetrics, _: &dyn Checkpoint) -> ObserverResult {
        let msg = (self.message)(m);
        if !is_terminal() && m.iteration % self.line_every == 0 {
            if self.budget_unit == BudgetUnit::Frames {
                eprintln!("frames {}/{}: {msg}", m.env_steps, self.budget);
            } else {
                eprintln!("iteration {}/{}: {msg}", m.iteration, self.budget);
            }
        }
        self.bar.set_message(msg);
        self.bar.set_position(self.position(m));
        Ok(())
    }
    fn message(&mut self, text: &str) -> ObserverResult {
        self.bar.println(text);
        Ok(())
    }
    fn run_finished(&mut self, _: &RunFinished, _: &dyn Checkpoint) -> ObserverResult {
        self.bar.finish_and_clear();
        Ok(())
    }
}
