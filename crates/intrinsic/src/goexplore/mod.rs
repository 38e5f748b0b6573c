//! Go-Explore (Ecoffet et al. 2019, "Go-Explore: a New Approach for Hard-Exploration
//! Problems"; 2021, "First return, then explore"), phase 1: explore by returning.
//!
//! Each iteration selects `batch` cells from the [`CellArchive`] (weights in [`archive`]),
//! returns to each by **restoring its snapshot** (no exploration is spent getting there), and
//! explores from it with random actions, each action repeated with probability
//! `repeat_prob` = 0.95 (so runs of one action are Geometric(1/20) long), for at most
//! `explore_steps` = 100 steps; exploration also stops when a life is lost
//! (`end_on_life_loss`) or the episode ends. Every state it passes is mapped to a cell
//! ([`cell`]); a new cell, or a known one reached with a higher score or by a shorter
//! trajectory at the same score, is admitted with its snapshot and the action sequence that
//! reaches it from `reset(seed)`. The explorations of one batch run on worker threads, each
//! with a generator seeded by (seed, iteration, slot), and their results are merged in slot
//! order — so a run gives the same archive at any thread count.
//!
//! The first episode that ends in success is kept as the **demonstration** (the best such by
//! score, then length), with the frame count at which it was found. Phase 2 — turning it into
//! a policy that works without restoring and under sticky actions — is the GRPO/PPO core's
//! privileged starts (`spelunk_grpo::explore`), fed the demonstration.
//!
//! Checkpoints ([`GoExplore::save`], [`GoExplore::load`]) hold the archive with its
//! snapshots, the cell representation's parameters, the generator and the counters; a file
//! from another cell representation, another env family, or a corrupt one is refused with
//! the reason.

pub mod archive;
pub mod cell;
pub mod shorten;
pub mod trajectory;

use std::path::Path;
use std::sync::Arc;

use spelunk_core::{Action, ByteReader, ByteWriter, Env, Info, ObsBuf, Rng, Snapshot, Space};

pub use archive::{better, Admit, CellArchive, CellHasher, CellMap, Entry, SelectionConfig};
pub use cell::{
    choose_downscale, downscale, downscale_into, AdaptConfig, Cell, CellFn, DomainCells, PixelCells,
};
pub use shorten::{replay, shorten, Replay, ShortenConfig, Shortened};
pub use trajectory::Trajectory;

use crate::{Error, Result};

/// Settings of phase 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GoExploreConfig {
    /// Cells explored from per iteration (one worker task each).
    pub batch: usize,
    /// Longest exploration from a cell.
    pub explore_steps: u32,
    /// Probability of repeating the previous action.
    pub repeat_prob: f64,
    /// Stop exploring when a life is lost (the state is not admitted).
    pub end_on_life_loss: bool,
    /// Seed of selection and exploration.
    pub seed: u64,
    /// Seed of the env's `reset` (the start state).
    pub reset_seed: u64,
    /// Selection weights.
    pub selection: SelectionConfig,
    /// Re-fit an adaptive cell representation every this many iterations.
    pub adapt_every: usize,
    /// Frames kept for re-fitting (the most recent).
    pub frame_sample: usize,
    /// Worker threads (0: available parallelism).
    pub threads: usize,
}

impl Default for GoExploreConfig {
    fn default() -> Self {
        Self {
            batch: 16,
            explore_steps: 100,
            repeat_prob: 0.95,
            end_on_life_loss: true,
            seed: 0,
            reset_seed: 0,
            selection: SelectionConfig::default(),
            adapt_every: 50,
            frame_sample: 2000,
            threads: 0,
        }
    }
}

/// A finished episode that succeeded.
#[derive(Clone, Debug, PartialEq)]
pub struct Solved {
    /// Its return.
    pub score: f64,
    /// Actions from `reset(reset_seed)`.
    pub trajectory: Vec<u8>,
    /// Frames spent when it was found.
    pub frames: u64,
}

/// Metrics of one iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    /// Iterations done.
    pub iteration: u64,
    /// Exploration frames so far.
    pub frames: u64,
    /// Cells in the archive.
    pub cells: usize,
    /// Distinct rooms among them.
    pub rooms: usize,
    /// Highest score in the archive.
    pub max_score: f64,
    /// Whether a successful episode has been found.
    pub solved: bool,
}

/// A factory of environments (called with `None`: its own config).
pub use spelunk_core::EnvFactory as MakeEnv;

struct Worker {
    env: Box<dyn Env>,
    buf: ObsBuf,
    /// The explorer's per-task map from cell to its place in the visit list (kept for its
    /// capacity).
    local: CellMap<usize>,
    /// The per-task visit list (kept for its capacity: a few kilobytes, past the allocator's
    /// fast path).
    visits: Vec<Visit>,
}

/// A cell visited during one task.
struct Visit {
    cell: Cell,
    /// Frames spent in it.
    n: u64,
    /// The best (score, trajectory length) checked against the archive so far.
    best: (f64, usize),
    /// The archive's entry for it when the task began: position, score, length.
    archive: Option<(usize, f64, usize)>,
}

/// One state worth admitting, found by a task.
struct Candidate {
    cell: Cell,
    score: f64,
    /// Actions after the selected cell's trajectory: the first `steps` of the task's.
    steps: usize,
    snapshot: Option<spelunk_core::Snapshot>,
    done: bool,
    success: bool,
    room: Option<u32>,
}

struct TaskResult {
    source: usize,
    /// The source entry's trajectory when the task restored its snapshot.
    source_trajectory: Trajectory,
    candidates: Vec<Candidate>,
    /// The task's actions.
    suffix: Vec<u8>,
    /// Cells visited (with their archive position when the task began) and how often.
    seen: Vec<(Cell, Option<usize>, u64)>,
    frames: u64,
    sample: Vec<Vec<u8>>,
}

/// The phase-1 explorer.
pub struct GoExplore {
    /// Settings.
    pub config: GoExploreConfig,
    cells: Box<dyn CellFn>,
    archive: CellArchive,
    rng: Rng,
    workers: Vec<Worker>,
    actions: usize,
    frames: u64,
    iteration: u64,
    solved: Option<Solved>,
    recent: std::collections::VecDeque<Vec<u8>>,
    /// Each task's start state and actions, while recording ([`GoExplore::record_tasks`]).
    recorded: Option<Vec<(Arc<Snapshot>, Vec<u8>)>>,
}

impl std::fmt::Debug for GoExplore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoExplore")
            .field("config", &self.config)
            .field("cells", &self.archive.len())
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn env_err(what: &str) -> impl Fn(spelunk_core::Error) -> Error + '_ {
    move |e| Error::Config { module: "go-explore", message: format!("{what}: {e}") }
}

impl GoExplore {
    /// Start from `reset(reset_seed)` of envs made by `make_env` (one per worker thread).
    pub fn new(
        config: GoExploreConfig,
        cells: Box<dyn CellFn>,
        make_env: &spelunk_core::EnvFactory<'_>,
    ) -> Result<Self> {
        if config.batch == 0
            || config.explore_steps == 0
            || !(0.0..=1.0).contains(&config.repeat_prob)
        {
            return Err(Error::Config {
                module: "go-explore",
                message: "batch and explore_steps must be positive, repeat_prob in [0, 1]".into(),
            });
        }
        let threads = if config.threads == 0 {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        } else {
            config.threads
        }
        .min(config.batch);
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let env = make_env(None).map_err(env_err("making the env"))?;
            let buf = ObsBuf::for_space(env.observation_space());
            workers.push(Worker { env, buf, local: CellMap::default(), visits: Vec::new() });
        }
        let actions = match workers[0].env.action_space() {
            Space::Discrete { n, .. } if *n <= 256 => *n as usize,
            other => {
                return Err(Error::Config {
                    module: "go-explore",
                    message: format!("needs at most 256 discrete actions, the env has {other:?}"),
                })
            }
        };
        let mut ge = Self {
            config,
            cells,
            archive: CellArchive::new(),
            rng: Rng::seed_from_u64(config.seed ^ 0x676f_6578),
            workers,
            actions,
            frames: 0,
            iteration: 0,
            solved: None,
            recent: std::collections::VecDeque::new(),
            recorded: None,
        };
        let w = &mut ge.workers[0];
        let info =
            w.env.reset(Some(config.reset_seed), None, w.buf.as_mut()).map_err(env_err("reset"))?;
        let snapshot = w.env.snapshot().map_err(|e| Error::Config {
            module: "go-explore",
            message: format!("Go-Explore returns by restoring snapshots: {e}"),
        })?;
        let cell = ge.cells.cell(&w.buf, &info)?;
        ge.archive.admit(Entry {
            cell,
            score: 0.0,
            trajectory: Trajectory::new(),
            snapshot: Arc::new(snapshot),
            times_chosen: 0,
            times_chosen_since_new: 0,
            times_seen: 1,
            done: false,
            room: info.room,
            found_at: 0,
        });
        Ok(ge)
    }

    /// The archive.
    pub fn archive(&self) -> &CellArchive {
        &self.archive
    }
    /// The best successful episode so far.
    pub fn solved(&self) -> Option<&Solved> {
        self.solved.as_ref()
    }
    /// The cell representation.
    pub fn cell_fn(&self) -> &dyn CellFn {
        self.cells.as_ref()
    }
    /// Current metrics.
    pub fn stats(&self) -> Stats {
        Stats {
            iteration: self.iteration,
            frames: self.frames,
            cells: self.archive.len(),
            rooms: self.archive.rooms(),
            max_score: self.archive.max_score(),
            solved: self.solved.is_some(),
        }
    }

    /// Start (or stop) recording each task's start state and the actions it took, in task
    /// order: restoring each state and stepping its actions steps the very frames the explorer
    /// stepped, without its bookkeeping (the bookkeeping bench's raw side).
    pub fn record_tasks(&mut self, on: bool) {
        self.recorded = on.then(Vec::new);
    }

    /// The tasks recorded since the last call (empty when not recording).
    pub fn take_recorded(&mut self) -> Vec<(Arc<Snapshot>, Vec<u8>)> {
        self.recorded.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// One iteration: select, return, explore, admit.
    pub fn iterate(&mut self) -> Result<Stats> {
        let picks = self.archive.select(self.config.batch, &self.config.selection, &mut self.rng);
        if picks.is_empty() {
            return Err(Error::Config {
                module: "go-explore",
                message: "every cell in the archive is terminal; nothing left to explore from"
                    .into(),
            });
        }
        let tasks: Vec<(usize, u64)> = picks
            .iter()
            .enumerate()
            .map(|(slot, &i)| {
                let seed = self.config.seed
                    ^ (self.iteration.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                    ^ ((slot as u64 + 1).wrapping_mul(0xc2b2_ae3d_27d4_eb4f));
                (i, seed)
            })
            .collect();
        let per = tasks.len().div_ceil(self.workers.len());
        let cfg = self.config;
        let cells = self.cells.as_ref();
        let archive = &self.archive;
        let actions = self.actions;
        let keep_frames = cells.wants_frames();
        // The archive is only read while the batch explores; entries are borrowed, not cloned.
        let run = |w: &mut Worker, chunk: &[(usize, u64)]| {
            chunk
                .iter()
                .map(|&(i, seed)| {
                    let e = &archive.entries()[i];
                    explore_from(w, cells, archive, i, e, seed, actions, &cfg, keep_frames)
                })
                .collect::<Result<Vec<_>>>()
        };
        let results: Vec<Result<Vec<TaskResult>>> = if self.workers.len() == 1 {
            // One worker: no thread to start.
            vec![run(&mut self.workers[0], &tasks)]
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = self
                    .workers
                    .iter_mut()
                    .zip(tasks.chunks(per))
                    .map(|(w, chunk)| s.spawn(move || run(w, chunk)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Err(Error::Config {
                                module: "go-explore",
                                message: "a worker panicked".into(),
                            })
                        })
                    })
                    .collect()
            })
        };
        // The start states as the tasks restored them (merging may replace an entry).
        let starts: Vec<Arc<Snapshot>> = if self.recorded.is_some() {
            tasks.iter().map(|&(i, _)| self.archive.entries()[i].snapshot.clone()).collect()
        } else {
            Vec::new()
        };
        let mut k = 0;
        for r in results {
            for t in r? {
                if let Some(rec) = self.recorded.as_mut() {
                    rec.push((starts[k].clone(), t.suffix.clone()));
                }
                k += 1;
                self.merge(t);
            }
        }
        self.iteration += 1;
        if keep_frames && self.iteration % self.config.adapt_every.max(1) as u64 == 0 {
            self.adapt()?;
        }
        Ok(self.stats())
    }

    fn merge(&mut self, t: TaskResult) {
        // The source's trajectory as the task found it: an earlier task of this batch may
        // since have replaced the entry with another way there (another clock, so the
        // suffix would not replay from it).
        let src = t.source_trajectory;
        {
            let e = self.archive.entry_mut(t.source);
            e.times_chosen += 1;
            e.times_chosen_since_new += 1;
        }
        let mut found_new = false;
        let start_frames = self.frames;
        self.frames += t.frames;
        for c in t.candidates {
            let len = src.len() + c.steps;
            // The source's trajectory, shared, then the task's first `steps` actions.
            let trajectory = || src.then(&t.suffix[..c.steps]);
            if c.success {
                let better = self
                    .solved
                    .as_ref()
                    .is_none_or(|s| better(c.score, len, s.score, s.trajectory.len()));
                if better {
                    self.solved = Some(Solved {
                        score: c.score,
                        trajectory: trajectory().to_vec(),
                        frames: start_frames + c.steps as u64,
                    });
                }
            }
            let Some(snapshot) = c.snapshot else { continue };
            // An earlier task of this batch may have got there first; build the trajectory
            // only for what is admitted.
            if !self.archive.would_admit(&c.cell, c.score, len) {
                continue;
            }
            self.archive.admit(Entry {
                cell: c.cell,
                score: c.score,
                trajectory: trajectory(),
                snapshot: Arc::new(snapshot),
                times_chosen: 0,
                times_chosen_since_new: 0,
                times_seen: 0,
                done: c.done,
                room: c.room,
                found_at: start_frames + c.steps as u64,
            });
            found_new = true;
        }
        if found_new {
            self.archive.entry_mut(t.source).times_chosen_since_new = 0;
        }
        // Positions are stable while a batch merges (new cells are appended); a cell admitted
        // by an earlier task of the batch is looked up.
        for (cell, at, n) in t.seen {
            if let Some(i) = at.or_else(|| self.archive.position(&cell)) {
                self.archive.entry_mut(i).times_seen += n;
            }
        }
        for f in t.sample {
            if self.recent.len() == self.config.frame_sample.max(1) {
                self.recent.pop_front();
            }
            self.recent.push_back(f);
        }
    }

    /// Re-fit the cell representation to recent frames; re-key the archive if it changed.
    fn adapt(&mut self) -> Result<()> {
        let frames: Vec<Vec<u8>> = self.recent.iter().cloned().collect();
        if !self.cells.adapt(&frames) {
            return Ok(());
        }
        let w = &mut self.workers[0];
        let mut keys = Vec::with_capacity(self.archive.len());
        for e in self.archive.entries() {
            w.env.restore(&e.snapshot).map_err(env_err("restoring a cell"))?;
            w.env.observe(w.buf.as_mut()).map_err(env_err("observing a cell"))?;
            keys.push(self.cells.cell(&w.buf, &w.env.info())?);
        }
        self.archive.rekey(keys);
        Ok(())
    }

    /// Write a checkpoint (whole file, then renamed).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut w = ByteWriter::new();
        w.bytes(MAGIC.as_bytes());
        w.bytes(self.cells.name().as_bytes());
        let p = self.cells.params();
        w.u32(p.len() as u32);
        for v in p {
            w.u32(v);
        }
        w.u64(self.config.seed);
        w.u64(self.config.reset_seed);
        w.u64(self.iteration);
        w.u64(self.frames);
        w.rng(&self.rng);
        w.bool(self.solved.is_some());
        if let Some(s) = &self.solved {
            w.f64(s.score);
            w.bytes(&s.trajectory);
            w.u64(s.frames);
        }
        self.archive.write(&mut w);
        let mut bytes = w.as_bytes().to_vec();
        let mut d = spelunk_core::Digest::new();
        d.bytes(&bytes);
        bytes.extend_from_slice(&d.value().to_le_bytes());
        let io = |e: std::io::Error| Error::Checkpoint(format!("{}: {e}", path.display()));
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Continue from a checkpoint written by [`GoExplore::save`] with the same cell
    /// representation, seeds and env family. The archive is checked by restoring its first
    /// cell before anything is replaced.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let bytes = spelunk_core::files::read_capped(path, spelunk_core::files::MAX_BINARY_BYTES)
            .map_err(|e| Error::Checkpoint(e.to_string()))?;
        let at = |e: spelunk_core::Error| {
            Error::Checkpoint(format!("{}: corrupt archive: {e}", path.display()))
        };
        let magic = ByteReader::new(&bytes).bytes().map_err(at)?.to_vec();
        let body = if magic == MAGIC.as_bytes() {
            // The last 8 bytes are the checksum of everything before them.
            let (body, sum) = bytes.split_at(bytes.len().saturating_sub(8));
            let mut d = spelunk_core::Digest::new();
            d.bytes(body);
            if sum != d.value().to_le_bytes() {
                return Err(Error::Checkpoint(format!(
                    "{}: corrupt archive: its checksum does not match its contents (the file \
                     was changed or cut short)",
                    path.display()
                )));
            }
            body
        } else if UNCHECKED_MAGIC.iter().any(|m| magic == m.as_bytes()) {
            &bytes[..]
        } else {
            return Err(Error::Checkpoint(format!(
                "{}: not a Go-Explore archive ({MAGIC})",
                path.display()
            )));
        };
        let mut r = ByteReader::new(body);
        r.bytes().map_err(at)?;
        let name = String::from_utf8_lossy(r.bytes().map_err(at)?).into_owned();
        if name != self.cells.name() {
            return Err(Error::Checkpoint(format!(
                "{}: the archive uses cells `{name}`, this run `{}`",
                path.display(),
                self.cells.name()
            )));
        }
        let n = r.u32().map_err(at)? as usize;
        let params =
            (0..n).map(|_| r.u32()).collect::<spelunk_core::Result<Vec<u32>>>().map_err(at)?;
        let (seed, reset_seed) = (r.u64().map_err(at)?, r.u64().map_err(at)?);
        if (seed, reset_seed) != (self.config.seed, self.config.reset_seed) {
            return Err(Error::Checkpoint(format!(
                "{}: the archive was made with seed {seed} / reset seed {reset_seed}, this run \
                 uses {} / {}",
                path.display(),
                self.config.seed,
                self.config.reset_seed
            )));
        }
        let iteration = r.u64().map_err(at)?;
        let frames = r.u64().map_err(at)?;
        let rng = r.rng().map_err(at)?;
        let solved = if r.bool().map_err(at)? {
            Some(Solved {
                score: r.f64().map_err(at)?,
                trajectory: r.bytes().map_err(at)?.to_vec(),
                frames: r.u64().map_err(at)?,
            })
        } else {
            None
        };
        let archive = CellArchive::read(&mut r).map_err(|e| match e {
            Error::Env(e) => at(e),
            other => other,
        })?;
        r.finish().map_err(at)?;
        if let Some(e) = archive.entries().first() {
            let w = &mut self.workers[0];
            w.env.restore(&e.snapshot).map_err(|err| {
                Error::Checkpoint(format!(
                    "{}: its snapshots do not restore in this env: {err}",
                    path.display()
                ))
            })?;
        }
        self.cells.set_params(&params)?;
        self.archive = archive;
        self.iteration = iteration;
        self.frames = frames;
        self.rng = rng;
        self.solved = solved;
        Ok(())
    }
}

/// The archive file's tag: the crate that writes it, what it is, its version. Version 2 ends
/// with the FNV-1a checksum of everything before it.
const MAGIC: &str = "spelunk-intrinsic/goexplore-archive/2";
/// Version 1, without the checksum (read as before), and the same format written before the
/// tag named its crate.
const UNCHECKED_MAGIC: [&str; 2] =
    ["spelunk-intrinsic/goexplore-archive/1", "spelunk-goexplore-archive/1"];

/// Return to `entry` and explore from it.
#[expect(
    clippy::too_many_arguments,
    reason = "a worker's task: the shared archive, the cell function and the task's own inputs, borrowed separately so workers share them"
)]
fn explore_from(
    w: &mut Worker,
    cells: &dyn CellFn,
    archive: &CellArchive,
    source: usize,
    entry: &Entry,
    seed: u64,
    actions: usize,
    cfg: &GoExploreConfig,
    keep_frames: bool,
) -> Result<TaskResult> {
    let mut rng = Rng::seed_from_u64(seed);
    w.env.restore(&entry.snapshot).map_err(env_err("restoring a cell"))?;
    if cells.reads_obs() {
        w.env.observe(w.buf.as_mut()).map_err(env_err("observing a restored cell"))?;
    }

    let info0: Info = w.env.info();
    // The current frame's cell, updated in place each frame.
    let mut cell = cells.cell(&w.buf, &info0)?;
    if cell != entry.cell {
        return Err(Error::Config {
            module: "go-explore",
            message: format!(
                "the cell function `{}` is not a function of the state: the snapshot stored for \
                 cell [{}] maps to [{cell}] when restored",
                cells.name(),
                entry.cell
            ),
        });
    }
    let lives0 = info0.lives;
    let base = entry.trajectory.len();
    let mut score = entry.score;
    let mut suffix: Vec<u8> = Vec::with_capacity(cfg.explore_steps as usize);
    let mut candidates: Vec<Candidate> = Vec::with_capacity(4);
    // Per cell visited in this task, in first-visit order: visits, the best (score, length)
    // already checked, and the archive's entry for it (position, score, length) looked up
    // once — a later visit is checked (and snapshotted) only if it beats both. The map and
    // the list are the worker's, kept between tasks; the map points into the list. One lookup
    // per frame that changes cell.
    let local = &mut w.local;
    local.clear();
    let visits = &mut w.visits;
    visits.clear();
    let mut sample = Vec::new();
    // The last frame's cell and score, and how many frames since then stayed in both.
    let mut repeat: Option<(usize, f64, u64)> = None;
    let mut last = rng.index(actions);
    let mut frames = 0;
    for step in 0..cfg.explore_steps {
        let a = if step > 0 && rng.bernoulli(cfg.repeat_prob) { last } else { rng.index(actions) };
        last = a;
        // Read in place: moving the step out of its `Result` copied it through unaligned stack
        // slots, a store-forwarding stall on every frame.
        let stepped = w.env.step(Action::Discrete(a as i64), w.buf.as_mut());
        let s = match stepped {
            Ok(ref s) => s,
            Err(e) => return Err(env_err("step")(e)),
        };
        frames += 1;
        suffix.push(a as u8);
        score += f64::from(s.reward);
        if keep_frames && step % 4 == 0 {
            if let Some(b) = w.buf.as_u8() {
                sample.push(b.to_vec());
            }
        }
        if cfg.end_on_life_loss && lives0.is_some() && s.info.lives < lives0 {
            break;
        }
        if s.truncated && !s.terminated {
            break;
        }
        let changed = cells.update(&w.buf, &s.info, &mut cell)?;
        let len = base + suffix.len();
        // Still in the cell of the last frame with the same score: this visit is longer, so
        // it cannot beat the one already checked. Count it without a lookup.
        if !s.terminated
            && !changed
            && repeat.as_ref().is_some_and(|&(_, sc, _)| sc.to_bits() == score.to_bits())
        {
            if let Some(r) = repeat.as_mut() {
                r.2 += 1;
            }
            continue;
        }
        if let Some((v, _, n)) = repeat.take() {
            visits[v].n += n;
        }
        let (v, check) = if let Some(&v) = local.get(&cell) {
            let visit = &mut visits[v];
            visit.n += 1;
            let improves = better(score, len, visit.best.0, visit.best.1);
            if improves {
                visit.best = (score, len);
            }
            (v, improves && visit.archive.is_none_or(|(_, sc, l)| better(score, len, sc, l)))
        } else {
            let found = archive.lookup(&cell);
            local.insert(cell.clone(), visits.len());
            visits.push(Visit { cell: cell.clone(), n: 1, best: (score, len), archive: found });
            (visits.len() - 1, found.is_none_or(|(_, sc, l)| better(score, len, sc, l)))
        };
        if check {
            let snapshot = Some(w.env.snapshot().map_err(env_err("snapshot"))?);
            candidates.push(Candidate {
                cell: cell.clone(),
                score,
                steps: suffix.len(),
                snapshot,
                done: s.terminated,
                success: s.terminated && s.info.is_success.unwrap_or(s.reward > 0.0),
                room: s.info.room,
            });
        } else if s.terminated && s.info.is_success.unwrap_or(false) {
            candidates.push(Candidate {
                cell: cell.clone(),
                score,
                steps: suffix.len(),
                snapshot: None,
                done: true,
                success: true,
                room: s.info.room,
            });
        }
        if s.terminated {
            break;
        }
        repeat = Some((v, score, 0));
    }
    if let Some((v, _, n)) = repeat {
        visits[v].n += n;
    }
    let seen = visits.drain(..).map(|v| (v.cell, v.archive.map(|a| a.0), v.n)).collect();
    Ok(TaskResult {
        source,
        source_trajectory: entry.trajectory.clone(),
        candidates,
        suffix,
        seen,
        frames,
        sample,
    })
}
