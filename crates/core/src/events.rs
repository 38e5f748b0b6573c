//! The run-event seam: what a run (training, Go-Explore, an experiment) tells whoever watches.
//!
//! A run emits typed events — [`RunStarted`], one [`IterationMetrics`] per iteration,
//! [`EpisodeFinished`], [`EpisodeStarted`] and [`EnvStep`] (every step of the episodes it
//! replays or records, only when an observer asks for steps), [`Frame`] (only when an
//! observer asks for frames), [`ArchiveUpdate`]
//! (Go-Explore's cells, novelty search's outcomes) and [`RunFinished`] — to every
//! [`Observer`] it was given, in the order they were given. JSON-lines metrics, progress bars,
//! checkpoints and recorders (Rerun) are all observers; a library user adds their own by
//! implementing the trait's methods they care about (each has an empty default).
//!
//! The types live here, in the lowest layer, so that every layer can emit them and any layer
//! above can listen, and so that nothing that trains or explores depends on what watches it.
//! Events carry owned, serialisable data (they can cross a thread or a process unchanged),
//! besides the [`Checkpoint`] handle that iterations and the run's end lend to observers
//! that save runs, and the env that episode and step events lend to recorders.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::demo::DemoAction;
use crate::{Action, Env, Image, Info, ObsRef};

/// What an observer or a checkpoint reports when it fails (a file it could not write).
pub type ObserverError = Box<dyn std::error::Error + Send + Sync>;

/// `Result` of observers.
pub type ObserverResult = std::result::Result<(), ObserverError>;

/// A run has started (or resumed).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunStarted {
    /// What kind of run: `train`, `go-explore`, an experiment's name.
    pub kind: String,
    /// The environment id, where the run has one.
    pub env_id: Option<String>,
    /// The run's whole configuration, as it would be written to disk.
    pub config: serde_json::Value,
    /// The run's seed.
    pub seed: u64,
    /// The source revision that built the program, when known (`SPELUNK_COMMIT` at build
    /// time, else `None`).
    pub commit: Option<String>,
    /// The iteration the run starts from (0, or where a resumed run left off).
    pub start_iteration: u64,
    /// How far the run means to go, in [`RunStarted::budget_unit`]s.
    pub budget: u64,
    /// What `budget` counts.
    pub budget_unit: BudgetUnit,
}

/// What a run's budget counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BudgetUnit {
    /// Iterations (training runs).
    #[default]
    Iterations,
    /// Env steps (Go-Explore's frames).
    Frames,
}

impl std::fmt::Display for BudgetUnit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BudgetUnit::Iterations => "iterations",
            BudgetUnit::Frames => "frames",
        })
    }
}

/// One metric's value: a real number, a count or a flag, written to JSON as such.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// A flag (`solved`).
    Bool(bool),
    /// A count (frames, cells).
    Count(u64),
    /// A real number (a loss, a rate).
    Real(f64),
}

impl Scalar {
    /// The value as a real number (a flag is 0 or 1).
    pub fn as_f64(self) -> f64 {
        match self {
            Scalar::Bool(b) => f64::from(u8::from(b)),
            Scalar::Count(c) => c as f64,
            Scalar::Real(r) => r,
        }
    }
}

/// The metrics of one iteration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IterationMetrics {
    /// Iterations done, this one included.
    pub iteration: u64,
    /// Env steps (frames) taken so far, over the whole run.
    pub env_steps: u64,
    /// Every metric by name (CleanRL's names where they exist: `charts/episodic_return`,
    /// `losses/approx_kl`), in the order JSON-lines files write them.
    pub scalars: BTreeMap<String, Scalar>,
}

impl IterationMetrics {
    /// A metric as a real number, if the run reports it.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.scalars.get(name).map(|s| s.as_f64())
    }

    /// A metric as a real number, or NaN when the run does not report it (for messages).
    pub fn value(&self, name: &str) -> f64 {
        self.get(name).unwrap_or(f64::NAN)
    }

    /// Set a real-valued metric.
    pub fn set(&mut self, name: &str, value: f64) {
        self.scalars.insert(name.to_owned(), Scalar::Real(value));
    }

    /// The metrics as one line of JSON (keys sorted), as `metrics.jsonl` holds them.
    pub fn to_json_line(&self) -> String {
        // Serialising a map of plain scalars cannot fail (`f64` NaN is written as null).
        serde_json::to_string(&self.scalars).unwrap_or_default()
    }
}

/// An episode has ended (an evaluation episode, a solving trajectory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeFinished {
    /// Environment id.
    pub env_id: String,
    /// The env's config overrides, if any.
    pub env_config: Option<serde_json::Value>,
    /// The seed the episode reset with.
    pub seed: u64,
    /// The actions from reset, when the run kept them.
    pub actions: Vec<DemoAction>,
    /// The episode's undiscounted return.
    pub episodic_return: f64,
    /// Whether the env reported success.
    pub success: bool,
    /// Steps taken.
    pub length: u64,
}

/// One env's rendered frame, sent only to observers whose [`Observer::wants_frames`] is true.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Which env of the run (0 for a single env).
    pub env_index: usize,
    /// The env's step within its episode.
    pub step: u64,
    /// The picture.
    pub image: Image,
}

/// An episode is about to be stepped, sent only to observers whose
/// [`Observer::wants_steps`] is true. It lends the env (reset, before any action) so that
/// an observer takes what it draws — a frame, where the agent is, a 3D scene — only when it
/// draws it.
pub struct EpisodeStarted<'a> {
    /// The env, just reset.
    pub env: &'a dyn Env,
    /// The episode's number within the run (0, 1, …).
    pub episode: u64,
    /// The seed it was reset with.
    pub seed: u64,
    /// The training iteration it belongs to (evaluation episodes), if any.
    pub iteration: Option<u64>,
}

impl EpisodeStarted<'_> {
    /// A number for the episode unique within the run: its own, or for an evaluation
    /// episode, iteration × 10⁶ plus its index (each evaluation numbers its episodes from 0).
    pub fn number(&self) -> u64 {
        self.iteration.map_or(self.episode, |it| it * 1_000_000 + self.episode)
    }
}

/// One step of an episode, sent only to observers whose [`Observer::wants_steps`] is true.
pub struct EnvStep<'a> {
    /// The env, after the step.
    pub env: &'a dyn Env,
    /// The episode's number within the run.
    pub episode: u64,
    /// Steps taken in the episode, this one included (1 for the first).
    pub step: u64,
    /// The action taken.
    pub action: Action<'a>,
    /// The observation after the step.
    pub obs: ObsRef<'a>,
    /// The env's reward.
    pub reward: f64,
    /// Each intrinsic bonus of this transition, by module name.
    pub bonuses: &'a [(&'a str, f64)],
    /// The episode ended in a terminal state.
    pub terminated: bool,
    /// The episode was cut.
    pub truncated: bool,
    /// The step's info.
    pub info: Info,
}

/// One Go-Explore cell as an observer sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellSummary {
    /// The cell's key, as the cell function writes it.
    pub key: String,
    /// The best score reaching it.
    pub score: f64,
    /// Times chosen to explore from.
    pub visits: u64,
    /// The room, where the env reports one.
    pub room: Option<u32>,
    /// The frame at which the cell was first found.
    pub found_at: u64,
    /// Where the cell's state draws the agent in the env's rendered level
    /// ([`Env::agent_tile`]'s centre), when the run can tell.
    #[serde(default)]
    pub pixel: Option<[f32; 2]>,
}

/// What an archive holds now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ArchiveUpdate {
    /// Go-Explore's cells after an iteration.
    Cells {
        /// Iterations done.
        iteration: u64,
        /// Every cell.
        cells: Vec<CellSummary>,
    },
    /// Novelty search's outcomes (behaviour descriptors in the unit square) after a generation.
    Outcomes {
        /// Generations done.
        generation: u64,
        /// Every archived outcome.
        points: Vec<[f64; 2]>,
    },
}

/// A run has ended.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFinished {
    /// Iterations done.
    pub iterations: u64,
    /// Env steps taken.
    pub env_steps: u64,
    /// Final figures (evaluation success, cells found), by name.
    pub summary: BTreeMap<String, f64>,
}

/// Something an observer can save: the run itself, lent during [`Observer::iteration`].
pub trait Checkpoint {
    /// Write the run's whole state into `dir` so that it can resume from there.
    fn save_to(&self, dir: &Path) -> ObserverResult;
}

/// Watches a run. Every method has an empty default; an error stops the run.
pub trait Observer {
    /// The run has started.
    fn run_started(&mut self, _event: &RunStarted) -> ObserverResult {
        Ok(())
    }
    /// An iteration is done; `run` can save the run's state.
    fn iteration(&mut self, _metrics: &IterationMetrics, _run: &dyn Checkpoint) -> ObserverResult {
        Ok(())
    }
    /// An episode has ended.
    fn episode_finished(&mut self, _event: &EpisodeFinished) -> ObserverResult {
        Ok(())
    }
    /// Whether this observer wants every step of the episodes a run replays or records
    /// ([`EpisodeStarted`], [`EnvStep`]); runs send them only then.
    fn wants_steps(&self) -> bool {
        false
    }
    /// An episode is about to be stepped.
    fn episode_started(&mut self, _event: &EpisodeStarted<'_>) -> ObserverResult {
        Ok(())
    }
    /// One step of an episode.
    fn env_step(&mut self, _event: &EnvStep<'_>) -> ObserverResult {
        Ok(())
    }
    /// Whether this observer wants [`Frame`]s (rendering costs time; runs render only then).
    fn wants_frames(&self) -> bool {
        false
    }
    /// A frame, when asked for.
    fn frame(&mut self, _frame: &Frame) -> ObserverResult {
        Ok(())
    }
    /// Whether this observer wants [`ArchiveUpdate`]s (summarising a large archive costs
    /// time; runs summarise it only then).
    fn wants_archive(&self) -> bool {
        false
    }
    /// The archive changed.
    fn archive_updated(&mut self, _update: &ArchiveUpdate) -> ObserverResult {
        Ok(())
    }
    /// A message worth showing a person (a run solved, a file written).
    fn message(&mut self, _text: &str) -> ObserverResult {
        Ok(())
    }
    /// The run has ended; `run` can save its final state.
    fn run_finished(&mut self, _event: &RunFinished, _run: &dyn Checkpoint) -> ObserverResult {
        Ok(())
    }
}

/// Several observers as one, each event handed to each in order.
#[derive(Default)]
pub struct Observers<'a>(pub Vec<Box<dyn Observer + 'a>>);

impl std::fmt::Debug for Observers<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Observers({})", self.0.len())
    }
}

impl<'a> Observers<'a> {
    /// No observers.
    pub fn new() -> Self {
        Self::default()
    }
    /// Add one (builder style).
    #[must_use]
    pub fn with(mut self, observer: impl Observer + 'a) -> Self {
        self.0.push(Box::new(observer));
        self
    }
    /// Add one.
    pub fn push(&mut self, observer: impl Observer + 'a) {
        self.0.push(Box::new(observer));
    }
}

impl Observer for Observers<'_> {
    fn run_started(&mut self, event: &RunStarted) -> ObserverResult {
        self.0.iter_mut().try_for_each(|o| o.run_started(event))
    }
    fn iteration(&mut self, metrics: &IterationMetrics, run: &dyn Checkpoint) -> ObserverResult {
        self.0.iter_mut().try_for_each(|o| o.iteration(metrics, run))
    }
    fn episode_finished(&mut self, event: &EpisodeFinished) -> ObserverResult {
        self.0.iter_mut().try_for_each(|o| o.episode_finished(event))
    }
    fn wants_steps(&self) -> bool {
        self.0.iter().any(|o| o.wants_steps())
    }
    fn episode_started(&mut self, event: &EpisodeStarted<'_>) -> ObserverResult {
        self.0.iter_mut().filter(|o| o.wants_steps()).try_for_each(|o| o.episode_started(event))
    }
    fn env_step(&mut self, event: &EnvStep<'_>) -> ObserverResult {
        self.0.iter_mut().filter(|o| o.wants_steps()).try_for_each(|o| o.env_step(event))
    }
    fn wants_frames(&self) -> bool {
        self.0.iter().any(|o| o.wants_frames())
    }
    fn frame(&mut self, frame: &Frame) -> ObserverResult {
        self.0.iter_mut().filter(|o| o.wants_frames()).try_for_each(|o| o.frame(frame))
    }
    fn wants_archive(&self) -> bool {
        self.0.iter().any(|o| o.wants_archive())
    }
    fn archive_updated(&mut self, update: &ArchiveUpdate) -> ObserverResult {
        self.0.iter_mut().filter(|o| o.wants_archive()).try_for_each(|o| o.archive_updated(update))
    }
    fn message(&mut self, text: &str) -> ObserverResult {
        self.0.iter_mut().try_for_each(|o| o.message(text))
    }
    fn run_finished(&mut self, event: &RunFinished, run: &dyn Checkpoint) -> ObserverResult {
        self.0.iter_mut().try_for_each(|o| o.run_finished(event, run))
    }
}

/// Observers of a run given as `&mut` (the caller keeps them); the same as [`Observers`].
impl<O: Observer + ?Sized> Observer for &mut O {
    fn run_started(&mut self, event: &RunStarted) -> ObserverResult {
        (**self).run_started(event)
    }
    fn iteration(&mut self, metrics: &IterationMetrics, run: &dyn Checkpoint) -> ObserverResult {
        (**self).iteration(metrics, run)
    }
    fn episode_finished(&mut self, event: &EpisodeFinished) -> ObserverResult {
        (**self).episode_finished(event)
    }
    fn wants_steps(&self) -> bool {
        (**self).wants_steps()
    }
    fn episode_started(&mut self, event: &EpisodeStarted<'_>) -> ObserverResult {
        (**self).episode_started(event)
    }
    fn env_step(&mut self, event: &EnvStep<'_>) -> ObserverResult {
        (**self).env_step(event)
    }
    fn wants_frames(&self) -> bool {
        (**self).wants_frames()
    }
    fn frame(&mut self, frame: &Frame) -> ObserverResult {
        (**self).frame(frame)
    }
    fn wants_archive(&self) -> bool {
        (**self).wants_archive()
    }
    fn archive_updated(&mut self, update: &ArchiveUpdate) -> ObserverResult {
        (**self).archive_updated(update)
    }
    fn message(&mut self, text: &str) -> ObserverResult {
        (**self).message(text)
    }
    fn run_finished(&mut self, event: &RunFinished, run: &dyn Checkpoint) -> ObserverResult {
        (**self).run_finished(event, run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(std::rc::Rc<std::cell::Cell<u32>>);
    impl Observer for Count {
        fn iteration(&mut self, m: &IterationMetrics, _: &dyn Checkpoint) -> ObserverResult {
            self.0.set(self.0.get() + u32::try_from(m.iteration).unwrap_or(0));
            Ok(())
        }
    }
    struct Nothing;
    impl Checkpoint for Nothing {
        fn save_to(&self, _: &Path) -> ObserverResult {
            Ok(())
        }
    }

    #[test]
    fn every_observer_sees_every_event_in_order() {
        let seen = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut all = Observers::new().with(Count(seen.clone())).with(Count(seen.clone()));
        let m = IterationMetrics { iteration: 3, ..IterationMetrics::default() };
        all.iteration(&m, &Nothing).expect("observers");
        assert_eq!(seen.get(), 6);
        assert!(!all.wants_frames());
    }

    #[test]
    fn metric_lines_keep_each_kind_of_scalar() {
        let mut m = IterationMetrics::default();
        m.scalars.insert("solved".into(), Scalar::Bool(true));
        m.scalars.insert("frames".into(), Scalar::Count(12));
        m.set("loss", 0.5);
        assert_eq!(m.to_json_line(), r#"{"frames":12,"loss":0.5,"solved":true}"#);
        assert_eq!(m.get("solved"), Some(1.0));
        assert!(m.value("missing").is_nan());
    }
}
