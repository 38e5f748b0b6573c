//! `spelunk explore --method go-explore`: Go-Explore's phase 1 on one env, with progress,
//! metrics, a resumable archive checkpoint and the demonstration it finds; and
//! `--experiment go-explore`, which runs it over seeds with domain-knowledge and pixel cells,
//! compares with the bonus agents at the same frame budget, and robustifies one demonstration
//! with the GRPO/PPO core's privileged starts under sticky actions.
//!
//! Files of a single run (`--run DIR`): `metrics.jsonl` (one line per iteration: `iteration`,
//! `frames`, `cells`, `rooms`, `max_score`, `solved`), `archive.bin` (every 30 seconds and
//! at the end; `--resume` continues from it), `demo.json` (once an episode succeeds: the
//! actions from `reset(seed)`, for `spelunk train --set privileged.demo=...`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressBar;
use serde::Serialize;
use spelunk_core::events::{
    ArchiveUpdate, BudgetUnit, CellSummary, Checkpoint, EpisodeFinished, IterationMetrics,
    Observer, ObserverResult, RunFinished, RunStarted, Scalar,
};
use spelunk_core::{Demo, DemoAction, Observers};
use spelunk_intrinsic::goexplore::{
    AdaptConfig, CellFn, DomainCells, GoExplore, GoExploreConfig, PixelCells, Stats,
};

use super::ExploreConfig;
use crate::error::{bail, create_dir, write_file, Context as _, Error, Result};
use crate::observers::{is_terminal, JsonLines, Progress};
use crate::run_dir::{CommitSchedule, Commits, RunDir, METRICS};

/// What a Go-Explore run folder's manifest calls its kind.
const KIND: &str = "go-explore";
use crate::report::{raster, svg::Series};

/// Cell representation of `--method go-explore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cells {
    /// Level, room, position in 3×3-tile squares, keys held (from the env's info).
    Domain,
    /// Downscaled grey frames, parameters re-fitted to recent frames every 50 iterations.
    Pixels,
}

/// `WIDTHxHEIGHTxLEVELS`, each positive, levels at most 255.
pub fn parse_downscale(s: &str) -> std::result::Result<(usize, usize, u8), String> {
    let bad = || format!("`{s}` is not WIDTHxHEIGHTxLEVELS (e.g. 15x12x8)");
    let parts: Vec<&str> = s.split(['x', 'X']).collect();
    let [w, h, l] = parts.as_slice() else { return Err(bad()) };
    let (w, h): (usize, usize) = (w.parse().map_err(|_| bad())?, h.parse().map_err(|_| bad())?);
    let l: u8 = l.parse().map_err(|_| format!("{}: levels must be 2 to 255", bad()))?;
    if w == 0 || h == 0 || l < 2 {
        return Err(format!("{}: width and height must be positive, levels 2 to 255", bad()));
    }
    Ok((w, h, l))
}

impl std::str::FromStr for Cells {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "domain" => Ok(Cells::Domain),
            "pixels" => Ok(Cells::Pixels),
            _ => bail!("`{s}` is not a cell representation; there are: domain, pixels"),
        }
    }
}

/// What a Go-Explore run explores, and with which cells.
#[derive(Clone, Debug)]
pub struct GoExploreSpec {
    /// Environment id (`Montezuma-Lite-v0`, or any env with snapshots and a position in its
    /// info for domain cells).
    pub env: String,
    /// The env's config overrides (`{"level": "my_level.txt"}` plays a level file).
    pub env_config: Option<serde_json::Value>,
    /// The cell representation.
    pub cells: Cells,
    /// Domain cells: tiles per cell side.
    pub cell_size: i32,
    /// Pixel cells: a fixed downscale (width, height, levels) instead of the automatic one.
    pub downscale: Option<(usize, usize, u8)>,
    /// Pixel cells without a fixed downscale: the automatic choice's target number of cells,
    /// as a fraction of the sampled frames.
    pub target_fraction: f64,
    /// Seed of selection and exploration.
    pub seed: u64,
    /// Worker threads (0: every core; results do not depend on it).
    pub threads: usize,
}

impl Default for GoExploreSpec {
    fn default() -> Self {
        Self {
            env: "Montezuma-Lite-v0".into(),
            env_config: None,
            cells: Cells::Domain,
            cell_size: 1,
            downscale: None,
            target_fraction: AdaptConfig::default().target_fraction,
            seed: 0,
            threads: 0,
        }
    }
}

impl GoExploreSpec {
    /// A fresh env of the spec.
    fn make(&self) -> Result<Box<dyn spelunk_core::Env>> {
        let reg = crate::registry();
        Ok(match &self.env_config {
            Some(c) => reg.make_with(&self.env, c)?,
            None => reg.make(&self.env)?,
        })
    }

    /// The Go-Explore explorer of the spec.
    pub fn build(&self) -> Result<GoExplore> {
        let target_fraction = self.target_fraction;
        if !(target_fraction > 0.0 && target_fraction <= 10.0) {
            bail!("--target-fraction must be in (0, 10], got {target_fraction}");
        }
        let probe = self.make()?;
        let cell_fn: Box<dyn CellFn> = match (self.cells, self.downscale) {
            (Cells::Domain, None) => Box::new(DomainCells { cell_size: self.cell_size }),
            (Cells::Domain, Some(_)) => bail!("--downscale sets pixel cells; add --cells pixels"),
            (Cells::Pixels, None) => Box::new(PixelCells::for_space(
                probe.observation_space(),
                Some(AdaptConfig { target_fraction, ..AdaptConfig::default() }),
            )?),
            (Cells::Pixels, Some((width, height, levels))) => {
                let base = PixelCells::for_space(probe.observation_space(), None)?;
                let (w, h) = base.src;
                if width > w || height > h {
                    bail!(
                        "--downscale {width}x{height}x{levels} is larger than the env's {w}x{h} \
                         frames (a cell is the frame shrunk to at most its own size)"
                    );
                }
                Box::new(PixelCells { width, height, levels, ..base })
            }
        };
        let cfg = GoExploreConfig {
            seed: self.seed,
            threads: self.threads,
            ..GoExploreConfig::default()
        };
        let make = crate::registry().factory(&self.env, self.env_config.clone());
        Ok(GoExplore::new(cfg, cell_fn, &*make)?)
    }

    /// The solving trajectory as a demo on the spec's env and config.
    pub fn demo_of(&self, ge: &GoExplore) -> Option<Demo> {
        ge.solved().map(|s| Demo {
            env: self.env.clone(),
            seed: ge.config.reset_seed,
            // An explicit config (empty for the registry's defaults, no sticky actions) makes
            // the trainer replay it on that, whatever the training run's own `env_config`.
            env_config: Some(self.env_config.clone().unwrap_or_else(|| serde_json::json!({}))),
            actions: s.trajectory.iter().map(|&a| DemoAction::Discrete(i64::from(a))).collect(),
            score: Some(s.score),
        })
    }
}

/// The spec of an experiment's run: `env` on the registry's defaults, the automatic
/// downscaling's default target.
fn spec(
    env: &str,
    cells: Cells,
    cell_size: i32,
    downscale: Option<(usize, usize, u8)>,
    seed: u64,
    threads: usize,
) -> GoExploreSpec {
    GoExploreSpec {
        env: env.to_owned(),
        env_config: None,
        cells,
        cell_size,
        downscale,
        target_fraction: AdaptConfig::default().target_fraction,
        seed,
        threads,
    }
}

/// The demo shortened ([`mod@spelunk_intrinsic::goexplore::shorten`]), replayed on the
/// env and config the demo was recorded with.
pub fn shortened(demo: &Demo) -> Result<Demo> {
    let reg = crate::registry();
    let mut env = match &demo.env_config {
        Some(c) => reg.make_with(&demo.env, c)?,
        None => reg.make(&demo.env)?,
    };
    let actions = demo.discrete_bytes()?;
    let cfg = spelunk_intrinsic::goexplore::ShortenConfig::default();
    let s = spelunk_intrinsic::goexplore::shorten(env.as_mut(), demo.seed, &actions, &cfg)?;
    Ok(Demo {
        actions: s.actions.iter().map(|&a| DemoAction::Discrete(i64::from(a))).collect(),
        ..demo.clone()
    })
}

/// One iteration's metrics as `metrics.jsonl` writes them: `iteration`, `frames`, `cells`,
/// `rooms`, `max_score`, `solved`.
pub fn iteration_metrics(s: &Stats) -> IterationMetrics {
    let scalars = [
        ("iteration", Scalar::Count(s.iteration)),
        ("frames", Scalar::Count(s.frames)),
        ("cells", Scalar::Count(s.cells as u64)),
        ("rooms", Scalar::Count(s.rooms as u64)),
        ("max_score", Scalar::Real(s.max_score)),
        ("solved", Scalar::Bool(s.solved)),
    ];
    IterationMetrics {
        iteration: s.iteration,
        env_steps: s.frames,
        scalars: scalars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    }
}

/// Where each cell's state draws the agent: found once per cell, by restoring its snapshot
/// into an env of the run and asking [`spelunk_core::Env::agent_tile`].
#[derive(Default)]
pub struct CellPixels {
    env: Option<Box<dyn spelunk_core::Env>>,
    known: std::collections::HashMap<String, Option<[f32; 2]>>,
}

impl CellPixels {
    /// Pixels of cells of `env` (an env of the run's id and config).
    pub fn new(env: Box<dyn spelunk_core::Env>) -> Self {
        Self { env: Some(env), known: std::collections::HashMap::new() }
    }

    fn pixel(&mut self, key: &str, snapshot: &spelunk_core::Snapshot) -> Option<[f32; 2]> {
        if let Some(p) = self.known.get(key) {
            return *p;
        }
        let env = self.env.as_mut()?;
        let p = env.restore(snapshot).ok().and_then(|()| env.agent_tile()).map(|[x, y, side]| {
            let c = |v: u32| v as f32 + side as f32 / 2.0;
            [c(x), c(y)]
        });
        self.known.insert(key.to_owned(), p);
        p
    }
}

/// Every cell of the archive, for observers that draw it (with where its state draws the
/// agent, when `pixels` has an env that can tell).
pub fn archive_update(ge: &GoExplore, pixels: &mut CellPixels) -> ArchiveUpdate {
    ArchiveUpdate::Cells {
        iteration: ge.stats().iteration,
        cells: ge
            .archive()
            .entries()
            .iter()
            .map(|e| {
                let key = format!("{:?}", e.cell);
                let pixel = pixels.pixel(&key, &e.snapshot);
                CellSummary {
                    key,
                    score: e.score,
                    visits: e.times_chosen,
                    room: e.room,
                    found_at: e.found_at,
                    pixel,
                }
            })
            .collect(),
    }
}

/// `demo_found.json` as found, `demo.json` shortened (what robustification should
/// start from); returns the latter.
pub fn save_demos(demo: &Demo, dir: &Path) -> Result<Demo> {
    demo.save(&dir.join("demo_found.json"))?;
    let short = shortened(demo)?;
    short.save(&dir.join("demo.json"))?;
    Ok(short)
}

/// How often a run commits its archive (and once more at the end, and on Ctrl-C).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

impl GoExploreSpec {
    /// The settings that make a run this run (what `--resume` may not change): all but the
    /// thread count.
    pub fn identity(&self) -> serde_json::Value {
        serde_json::json!({
            "env": self.env,
            "env_config": self.env_config,
            "cells": self.cells,
            "cell_size": self.cell_size,
            "downscale": self.downscale,
            "target_fraction": self.target_fraction,
            "seed": self.seed,
        })
    }
}

/// The explorer as a checkpoint: `archive.bin` in the folder.
struct Archive<'a>(&'a GoExplore);

impl Checkpoint for Archive<'_> {
    fn save_to(&self, dir: &Path) -> ObserverResult {
        Ok(self.0.save(&dir.join("archive.bin"))?)
    }
}

/// One Go-Explore run.
#[derive(Clone, Debug)]
pub struct SingleRun {
    /// What to explore, with which cells.
    pub spec: GoExploreSpec,
    /// Frames to spend.
    pub budget_frames: u64,
    /// Stop once an episode succeeds.
    pub stop_on_solve: bool,
    /// The folder: `manifest.json`, `metrics.jsonl`, `checkpoint/<iteration>/archive.bin`,
    /// `demo_found.json`, `demo.json` ([`crate::run_dir`]).
    pub dir: PathBuf,
    /// Continue the run in `dir` from its last commit.
    pub resume: bool,
    /// Replace a run already in `dir` (without it, such a folder is refused).
    pub force: bool,
}

/// What a single run found.
#[derive(Clone, Debug)]
pub struct SingleOutcome {
    /// The explorer's last statistics.
    pub stats: Stats,
    /// The frame at which the env was first solved, and the solving trajectory's length.
    pub solved: Option<(u64, usize)>,
    /// The solving demonstration, as found and shortened.
    pub demos: Option<(Demo, Demo)>,
}

/// Explore `ge` until the budget is spent (or it solves, with `stop_on_solve`), telling
/// `observer` every iteration, the archive (when it asks) and the demos written into `dir`.
pub fn explore(
    ge: &mut GoExplore,
    run: &SingleRun,
    observer: &mut dyn Observer,
) -> Result<SingleOutcome> {
    let dir = &run.dir;
    let budget = run.budget_frames;
    let mut s = ge.stats();
    observer.run_started(&RunStarted {
        kind: "go-explore".into(),
        env_id: Some(run.spec.env.clone()),
        config: serde_json::json!({
            "env": run.spec.env,
            "env_config": run.spec.env_config,
            "cells": run.spec.cells,
            "cell_size": run.spec.cell_size,
            "downscale": run.spec.downscale,
            "target_fraction": run.spec.target_fraction,
            "budget_frames": budget,
        }),
        seed: run.spec.seed,
        commit: option_env!("SPELUNK_COMMIT").map(str::to_owned),
        start_iteration: s.iteration,
        budget,
        budget_unit: BudgetUnit::Frames,
    })?;
    let mut demos = None;
    let make = crate::registry().factory(&run.spec.env, run.spec.env_config.clone());
    let mut pixels =
        if observer.wants_archive() { CellPixels::new(make(None)?) } else { CellPixels::default() };
    while s.frames < budget && !(run.stop_on_solve && s.solved) {
        s = ge.iterate()?;
        observer.iteration(&iteration_metrics(&s), &Archive(ge))?;
        if observer.wants_archive() {
            observer.archive_updated(&archive_update(ge, &mut pixels))?;
        }
        if let Some(demo) = demos.is_none().then(|| run.spec.demo_of(ge)).flatten() {
            let short = save_demos(&demo, dir)?;
            let solved = ge.solved().map_or(0, |x| x.frames);
            if observer.wants_steps() {
                // The solving episode, step by step.
                crate::record::replay_steps(
                    make(None)?.as_mut(),
                    demo.seed,
                    &demo.actions,
                    0,
                    Some(s.iteration),
                    observer,
                )?;
            }
            observer.episode_finished(&EpisodeFinished {
                env_id: demo.env.clone(),
                env_config: demo.env_config.clone(),
                seed: demo.seed,
                actions: demo.actions.clone(),
                episodic_return: demo.score.unwrap_or(0.0),
                success: true,
                length: demo.actions.len() as u64,
            })?;
            observer.message(&format!(
                "solved after {solved} frames: score {:.0}, {} actions ({} shortened) → {}",
                demo.score.unwrap_or(0.0),
                demo.actions.len(),
                short.actions.len(),
                dir.join("demo.json").display()
            ))?;
            demos = Some((demo, short));
        }
    }
    // The demo found by the last iteration, or (resumed) one found before; shortening is a
    // search, so a demo already saved is not shortened again.
    if let Some(demo) = run.spec.demo_of(ge) {
        if demos.as_ref().map(|(found, _)| found) != Some(&demo) {
            let short = save_demos(&demo, dir)?;
            demos = Some((demo, short));
        }
    }
    let solved = ge.solved().map(|x| (x.frames, x.trajectory.len()));
    let mut summary = std::collections::BTreeMap::new();
    summary.insert("cells".to_owned(), s.cells as f64);
    summary.insert("rooms".to_owned(), s.rooms as f64);
    summary.insert("max_score".to_owned(), s.max_score);
    if let Some((f, _)) = solved {
        summary.insert("solved_at".to_owned(), f as f64);
    }
    let finished = RunFinished { iterations: s.iteration, env_steps: s.frames, summary };
    observer.run_finished(&finished, &Archive(ge))?;
    Ok(SingleOutcome { stats: s, solved, demos })
}

/// One Go-Explore run in its folder, with the folder's observers (metrics, the archive
/// committed every 30 s, at the end and on Ctrl-C, progress over frames) followed by `extra`.
pub fn run_single(run: &SingleRun, extra: &mut dyn Observer) -> Result<SingleOutcome> {
    let dir = &run.dir;
    create_dir(dir)?;
    let mut ge = run.spec.build()?;
    let identity = run.spec.identity();
    let rd = if run.resume {
        let (rd, ckpt) = RunDir::resume(dir, KIND, identity, "archive.bin")
            .with_context(|| format!("resuming {}", dir.display()))?;
        // A folder from before manifests keeps its archive at the top.
        let path = ckpt.unwrap_or_else(|| dir.to_owned()).join("archive.bin");
        ge.load(&path).with_context(|| format!("resuming from {}", path.display()))?;
        rd
    } else {
        let demos = ["archive.bin", "demo_found.json", "demo.json"];
        RunDir::create(dir, KIND, identity, run.force, &demos)?
    };
    let mut observers = Observers::new()
        .with(JsonLines::open(&dir.join(METRICS), run.resume)?)
        .with(Commits::new(rd, CommitSchedule::Interval(CHECKPOINT_EVERY)))
        .with(Progress::new(100, |m| {
            format!(
                "cells {} rooms {} max score {:.0}",
                m.value("cells"),
                m.value("rooms"),
                m.value("max_score")
            )
        }));
    observers.push(extra);
    explore(&mut ge, run, &mut observers)
}

#[derive(Serialize)]
struct GeRun {
    cells: Cells,
    env: String,
    seed: u64,
    frames: u64,
    solved_at: Option<u64>,
    demo_length: Option<usize>,
    /// The demo's length after shortening.
    short_length: Option<usize>,
    final_cells: usize,
    final_rooms: usize,
    /// (frames, cells, rooms) per iteration, thinned.
    curve: Vec<(u64, usize, usize)>,
    seconds: f64,
}

/// Explore with `spec` until it solves (checked every 10 iterations) or spends `budget`.
fn run_until(spec: &GoExploreSpec, budget: u64, pb: &ProgressBar) -> Result<(GeRun, Option<Demo>)> {
    let start = std::time::Instant::now();
    let (env, cells, seed) = (spec.env.as_str(), spec.cells, spec.seed);
    let mut ge = spec.build()?;
    let mut curve = Vec::new();
    let mut s = ge.stats();
    while s.frames < budget {
        s = ge.iterate()?;
        if s.iteration % 10 == 0 {
            curve.push((s.frames, s.cells, s.rooms));
        }
        if s.solved && s.iteration % 10 == 0 {
            break;
        }
        pb.set_message(format!(
            "{env} {cells:?} seed {seed}: {} frames, {} rooms",
            s.frames, s.rooms
        ));
    }
    curve.push((s.frames, s.cells, s.rooms));
    let demo = spec.demo_of(&ge).map(|d| shortened(&d)).transpose()?;
    Ok((
        GeRun {
            cells,
            env: env.to_owned(),
            seed,
            frames: s.frames,
            solved_at: ge.solved().map(|x| x.frames),
            demo_length: ge.solved().map(|x| x.trajectory.len()),
            short_length: demo.as_ref().map(|d| d.actions.len()),
            final_cells: s.cells,
            final_rooms: s.rooms,
            curve,
            seconds: start.elapsed().as_secs_f64(),
        },
        demo,
    ))
}

/// A run's outcome on stderr when no progress bar shows it.
fn report(run: &GeRun) {
    if !is_terminal() {
        eprintln!(
            "{} {:?} seed {}: {} after {} frames ({:.0} s)",
            run.env,
            run.cells,
            run.seed,
            if run.solved_at.is_some() { "solved" } else { "not solved" },
            run.frames,
            run.seconds
        );
    }
}

/// A run's table cells from "solved at frame" on: solved at, demo length, shortened, cells,
/// rooms, seconds.
fn row_tail(r: &GeRun) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    format!(
        "{} | {} | {} | {} | {} | {:.0} |",
        or_dash(r.solved_at.map(|f| f.to_string())),
        or_dash(r.demo_length.map(|f| f.to_string())),
        or_dash(r.short_length.map(|f| f.to_string())),
        r.final_cells,
        r.final_rooms,
        r.seconds
    )
}

/// `{prefix}_cells.png` and `{prefix}_rooms.png`: the archive over frames, one line per run.
fn curve_charts(runs: &[GeRun], title: &str, out: &Path, prefix: &str) -> Result<()> {
    for (what, idx) in [("cells", 1), ("rooms", 2)] {
        let series: Vec<Series> = runs
            .iter()
            .map(|r| Series {
                label: format!("{:?} seed {}", r.cells, r.seed),
                points: r
                    .curve
                    .iter()
                    .map(|c| (c.0 as f64, if idx == 1 { c.1 as f64 } else { c.2 as f64 }))
                    .collect(),
            })
            .collect();
        let png = raster::line_chart(
            &format!("{title}: {what}"),
            "frames",
            &format!("{what} in the archive"),
            &series,
        );
        raster::write(&out.join(format!("{prefix}_{what}.png")), &png)?;
    }
    Ok(())
}

/// `--experiment go-explore-pixels`: pixel cells at a fixed downscale (`--downscale`, 15 × 12
/// × 8 by default: a cell pixel per tile) over seeds, each until it solves or spends the
/// budget (`--steps`, 120M frames by default).
pub fn pixels_experiment(args: &ExploreConfig) -> Result<String> {
    if args.seeds < 1 {
        bail!("--seeds must be at least 1");
    }
    let budget = args.steps.unwrap_or(120_000_000) as u64;
    let (w, h, l) = args.downscale.unwrap_or((15, 12, 8));
    let env = "Montezuma-Lite-Pixels-v0";
    create_dir(&args.out)?;
    let pb = crate::observers::progress_bar(args.seeds);
    let mut runs = Vec::new();
    for seed in 0..args.seeds {
        let (run, _) = run_until(
            &spec(env, Cells::Pixels, 1, Some((w, h, l)), seed, args.threads),
            budget,
            &pb,
        )?;
        report(&run);
        runs.push(run);
        pb.inc(1);
    }
    pb.finish_and_clear();
    write_file(
        &args.out.join("go_explore_pixels.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "budget_frames": budget,
            "downscale": [w, h, l],
            "runs": runs,
        }))?,
    )?;
    let mut md = format!(
        "# Go-Explore on Montezuma-Lite from pixels\n\n`spelunk explore --experiment go-explore-pixels --seeds {}` (cells: the room's frame in grey,\narea-averaged to {w} × {h} and quantised to {l} levels, fixed; frame budget {budget} per run; a run\nstops at the first check after it solves the level). Frames count exploration steps only.\n\n| seed | solved at frame | demo length | shortened | cells | rooms | seconds |\n|---:|---:|---:|---:|---:|---:|---:|\n",
        args.seeds
    );
    for r in &runs {
        md.push_str(&format!("| {} | {}\n", r.seed, row_tail(r)));
    }
    write_file(&args.out.join("go_explore_pixels.md"), &md)?;
    curve_charts(&runs, "Go-Explore from pixels", &args.out, "go_explore_pixels")?;
    Ok(md)
}

/// `--experiment go-explore`.
pub fn experiment(args: &ExploreConfig) -> Result<String> {
    if args.seeds < 1 {
        bail!("--seeds must be at least 1");
    }
    let budget = args.steps.unwrap_or(10_000_000) as u64;
    create_dir(&args.out)?;
    let settings =
        [(Cells::Domain, "Montezuma-Lite-v0"), (Cells::Pixels, "Montezuma-Lite-Pixels-v0")];
    let pb = crate::observers::progress_bar(args.seeds + 1);
    let mut runs = Vec::new();
    let mut demo0 = None;
    for (cells, env) in settings {
        // Pixel cells step and re-fit far slower (a frame is rendered and downscaled, and
        // every 50 iterations the downscaling search runs): one seed.
        let seeds = if cells == Cells::Pixels { 1 } else { args.seeds };
        for seed in 0..seeds {
            let (run, demo) = run_until(
                &spec(env, cells, args.cell_size, None, seed, args.threads),
                budget,
                &pb,
            )?;
            report(&run);
            if cells == Cells::Domain && seed == 0 {
                demo0 = demo;
            }
            runs.push(run);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    // The tabular bonus agents of the coverage experiment at its budget (their planner sweeps
    // every known state each step, so millions of steps are out of reach), against
    // Go-Explore's rooms at the same number of frames.
    let bonus_steps = 400_000usize;
    let mut bonus = Vec::new();
    for m in [super::Method::Counts, super::Method::Random] {
        for seed in 0..args.seeds.min(3) {
            bonus.push(super::coverage::montezuma_reach(m, seed, bonus_steps)?);
        }
    }
    // Robustify the domain-cell demonstration of seed 0.
    let robust = match &demo0 {
        Some(demo) => Some(robustify(demo, &args.out, &RobustifyConfig::default())?),
        None => None,
    };
    write_file(
        &args.out.join("go_explore.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "budget_frames": budget,
            "runs": runs,
            "bonus_agents": bonus,
            "robustify": robust,
        }))?,
    )?;
    let mut md = format!(
        "# Go-Explore on Montezuma-Lite\n\n`spelunk explore --experiment go-explore --seeds {}` (frame budget {budget} per run; a run stops at\nthe first check after it solves the level). Phase 1 returns by restoring snapshots; frames\ncount exploration steps only.\n\n| cells | env | seed | solved at frame | demo length | shortened | cells | rooms | seconds |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
        args.seeds
    );
    for r in &runs {
        md.push_str(&format!("| {:?} | {} | {} | {}\n", r.cells, r.env, r.seed, row_tail(r)));
    }
    let others = learned_bonus_rooms(&args.out.join("coverage.json"), bonus_steps)
        .map(|(lo, hi)| {
            format!(
                "; RND, RDD and the latent bonuses reach {lo} to {hi} rooms there, `coverage.json`"
            )
        })
        .unwrap_or_default();
    md.push_str(&format!(
        "\nSame budget, {bonus_steps} frames: rooms in Go-Explore's archive at that point, against the\ncoverage experiment's count-bonus agent and random actions (8 envs; rooms one env visited, the\nmost of the 8{others}):\n\n| agent | seed | rooms (of 11) | treasure reached |\n|---|---:|---:|---|\n"
    ));
    for r in runs.iter().filter(|r| r.cells == Cells::Domain) {
        let rooms =
            r.curve.iter().take_while(|c| c.0 <= bonus_steps as u64).last().map_or(1, |c| c.2);
        let solved = r.solved_at.is_some_and(|f| f <= bonus_steps as u64);
        md.push_str(&format!(
            "| Go-Explore (domain cells) | {} | {rooms} | {} |\n",
            r.seed,
            if solved { "yes" } else { "no" }
        ));
    }
    for b in &bonus {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            b.method,
            b.seed,
            b.rooms,
            if b.treasure { "yes" } else { "no" }
        ));
    }
    if let Some(r) = &robust {
        md.push_str(&format!(
            "\nRobustification (seed 0's domain-cell demo, shortened, {} actions): PPO with privileged starts\n(backward algorithm: threshold 0.3 on the frontier's starts, half the starts there, step back 3,\nwindow 40; imitation of the demo 0.1; entropy bonus 0.01), `sticky_action_prob = 0.25`,\n{} iterations, {} env steps; the start reached demo step {} of {}. Success from the real start,\nno restoring, sticky actions, sampled actions over {} episodes: **{:.1}%**.\n",
            r.demo_length, r.iterations, r.env_steps, r.final_start, r.demo_length, r.eval_episodes, 100.0 * r.eval_success
        ));
    }
    write_file(&args.out.join("go_explore.md"), &md)?;
    curve_charts(&runs, "Go-Explore on Montezuma-Lite", &args.out, "go_explore")?;
    if let Some(r) = &robust {
        let png = raster::line_chart(
            "Robustifying the demo (PPO, privileged starts, sticky 0.25)",
            "env steps",
            "demo covered / success",
            &[
                Series { label: "start: 1 - step/length".into(), points: r.progress.clone() },
                Series { label: "success from the real start".into(), points: r.success.clone() },
            ],
        );
        raster::write(&args.out.join("go_explore_robustify.png"), &png)?;
    }
    md.push_str(&format!(
        "\nwrote {}/go_explore.{{json,md}} and go_explore_*.png",
        args.out.display()
    ));
    Ok(md)
}

/// The fewest and most rooms (the most one env visited) that the learned bonuses (RND, RDD,
/// ICM, BYOL-Explore, Curiosity in Hindsight) reached on Montezuma-Lite in a coverage report
/// of `steps` env steps; `None` when there is no such report.
fn learned_bonus_rooms(coverage: &Path, steps: usize) -> Option<(u64, u64)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(coverage).ok()?).ok()?;
    if v["steps_per_run"].as_u64() != Some(steps as u64) {
        return None;
    }
    let learned = ["rnd", "rdd", "icm", "byol-explore", "hindsight"];
    let rooms: Vec<u64> = v["runs"]
        .as_array()?
        .iter()
        .filter(|r| r["setting"] == "montezuma")
        .filter(|r| r["method"].as_str().is_some_and(|m| learned.contains(&m)))
        .filter_map(|r| r["max_rooms"].as_u64())
        .collect();
    Some((*rooms.iter().min()?, *rooms.iter().max()?))
}

/// One seed of `--experiment robustify`.
#[derive(Clone, Debug, Serialize)]
pub struct RobustSeed {
    /// Go-Explore's seed.
    pub seed: u64,
    /// Frames Go-Explore took to solve the level.
    pub solved_at: Option<u64>,
    /// The solving trajectory's length.
    pub demo_length: Option<usize>,
    /// The demo file (shortened), beside the report.
    pub demo: String,
    /// What robustification reached on it.
    pub robust: Robust,
}

/// `--experiment robustify`: Go-Explore (domain cells) on Montezuma-Lite for each seed until it
/// solves, each solving trajectory shortened and written as `robustify_demo_seed<K>.json`,
/// then each robustified with the same fixed budget ([`RobustifyConfig::default`]: 200
/// iterations, sticky actions 0.25, 200 evaluation episodes). `--threads` seeds train at once
/// (each run is single-threaded and seeded, so the numbers do not depend on it). Writes
/// `robustify.{json,md}` and `robustify.png`.
pub fn robustify_experiment(args: &ExploreConfig) -> Result<String> {
    if args.seeds < 1 {
        bail!("--seeds must be at least 1");
    }
    let budget = args.steps.unwrap_or(10_000_000) as u64;
    create_dir(&args.out)?;
    let pb = crate::observers::progress_bar(args.seeds);
    let mut demos = Vec::new();
    for seed in 0..args.seeds {
        let spec = spec("Montezuma-Lite-v0", Cells::Domain, args.cell_size, None, seed, 1);
        let (run, demo) = run_until(&spec, budget, &pb)?;
        report(&run);
        let Some(demo) = demo else {
            bail!("Go-Explore seed {seed} did not solve Montezuma-Lite-v0 in {budget} frames");
        };
        demos.push((run, demo));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let rc = RobustifyConfig::default();
    let workers = args.threads.clamp(1, demos.len());
    let results = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some((run, demo)) = demos.get(k) else { return Ok(()) };
                        let name = format!("robustify_demo_seed{}.json", run.seed);
                        let robust = robustify_demo_at(
                            demo,
                            &args.out.join(&name),
                            &rc,
                            &mut Observers::new(),
                        )
                        .with_context(|| format!("robustifying seed {}'s demo", run.seed))?;
                        if !is_terminal() {
                            eprintln!(
                                "robustified seed {}'s demo ({} actions): {:.1}% from the real start",
                                run.seed,
                                robust.demo_length,
                                100.0 * robust.eval_success
                            );
                        }
                        let seed = RobustSeed {
                            seed: run.seed,
                            solved_at: run.solved_at,
                            demo_length: run.demo_length,
                            demo: name,
                            robust,
                        };
                        results.lock().expect("no worker panics").push(seed);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| Error::Invalid("a robustification worker panicked".into()))??;
        }
        Ok(())
    })?;
    let mut seeds = results.into_inner().expect("no worker panics");
    seeds.sort_by_key(|s| s.seed);
    write_file(
        &args.out.join("robustify.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "experiment": "robustify",
            "budget_frames": budget,
            "iterations": rc.iterations,
            "env_config": rc.env_config,
            "eval_episodes": rc.eval_episodes,
            "provenance": crate::provenance::Provenance::here(),
            "seeds": seeds,
        }))?,
    )?;
    let md = robustify_report(&seeds, &rc);
    write_file(&args.out.join("robustify.md"), &md)?;
    let series: Vec<Series> = seeds
        .iter()
        .map(|s| Series { label: format!("seed {}", s.seed), points: s.robust.success.clone() })
        .collect();
    let png = raster::line_chart(
        "Robustifying each seed's demo: success from the real start (sticky 0.25)",
        "env steps",
        "success from the real start",
        &series,
    );
    raster::write(&args.out.join("robustify.png"), &png)?;
    Ok(format!("{md}\nwrote {}/robustify.{{json,md,png}}", args.out.display()))
}

/// The Markdown report of `--experiment robustify`, its sentences computed from the rows.
fn robustify_report(seeds: &[RobustSeed], rc: &RobustifyConfig) -> String {
    let mut md = format!(
        "# Robustifying every seed's Go-Explore demonstration\n\n`spelunk explore --experiment robustify --seeds {n}` — for each seed, Go-Explore (domain\ncells) on Montezuma-Lite until it solves, the trajectory shortened, then PPO with privileged\nstarts along it (the settings of `go_explore.md`) for a fixed {it} iterations under `{cfg}`, the\nsame budget for every seed, no run extended or chosen. Success from the real start, no\nrestoring, sticky actions, sampled actions over {ep} episodes.\n\n| seed | solved at frame | demo length | shortened | env steps | start reached | success |\n|---:|---:|---:|---:|---:|---:|---:|\n",
        n = seeds.len(),
        it = rc.iterations,
        cfg = rc.env_config,
        ep = rc.eval_episodes,
    );
    for s in seeds {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} of {} | {:.1}% |\n",
            s.seed,
            s.solved_at.map_or("—".into(), |f| f.to_string()),
            s.demo_length.map_or("—".into(), |f| f.to_string()),
            s.robust.demo_length,
            s.robust.env_steps,
            s.robust.final_start,
            s.robust.demo_length,
            100.0 * s.robust.eval_success
        ));
    }
    let mut rates: Vec<f64> = seeds.iter().map(|s| 100.0 * s.robust.eval_success).collect();
    rates.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (rates.first(), rates.last()) {
        let reached = seeds.iter().filter(|s| s.robust.final_start == 0).count();
        md.push_str(&format!(
            "\nOver the {} seeds' demos: {lo:.1}% to {hi:.1}% of episodes reach the treasure from the real start\n(median {:.1}%); the privileged start reached the real start on {reached} of them.\n",
            seeds.len(),
            crate::report::median(&rates),
        ));
    }
    md
}

/// How [`robustify`] trains: PPO with privileged starts from the demo.
#[derive(Clone, Debug)]
pub struct RobustifyConfig {
    /// Iterations (200: about 12 minutes on one core here).
    pub iterations: usize,
    /// The training env's config overrides on top of the demo's (sticky actions make the
    /// policy robust rather than a replay).
    pub env_config: serde_json::Value,
    /// Episodes of the final evaluation from the real start.
    pub eval_episodes: usize,
    /// Evaluate from the real start every this many iterations once the start reaches it.
    pub eval_every: usize,
}

impl Default for RobustifyConfig {
    fn default() -> Self {
        Self {
            iterations: 200,
            env_config: serde_json::json!({ "sticky_action_prob": 0.25 }),
            eval_episodes: 200,
            eval_every: 10,
        }
    }
}

/// What robustification reached.
#[derive(Clone, Debug, Serialize)]
pub struct Robust {
    /// The demo's length (actions).
    pub demo_length: usize,
    /// Iterations trained.
    pub iterations: usize,
    /// Env steps taken.
    pub env_steps: u64,
    /// The demo step the privileged starts reached (0: the real start).
    pub final_start: usize,
    /// Episodes of the final evaluation.
    pub eval_episodes: usize,
    /// Success from the real start, sampled actions.
    pub eval_success: f64,
    /// (env steps, 1 − start/length).
    pub progress: Vec<(f64, f64)>,
    /// (env steps, eval success from the real start).
    pub success: Vec<(f64, f64)>,
}

/// The demo's env config with `over`'s keys on top.
fn merged_config(demo: &Demo, over: &serde_json::Value) -> serde_json::Value {
    let mut base = demo.env_config.clone().unwrap_or_else(|| serde_json::json!({}));
    if let (Some(b), Some(o)) = (base.as_object_mut(), over.as_object()) {
        for (k, v) in o {
            b.insert(k.clone(), v.clone());
        }
    }
    base
}

/// Robustify `demo` (written to `out/go_explore_demo.json`, which the run reads) with PPO and
/// privileged starts under `cfg`'s env config; returns the curve and the final success.
pub fn robustify(demo: &Demo, out: &Path, cfg: &RobustifyConfig) -> Result<Robust> {
    robustify_observed(demo, out, cfg, &mut Observers::new())
}

/// [`robustify`], telling `observer` each iteration.
pub fn robustify_observed(
    demo: &Demo,
    out: &Path,
    rc: &RobustifyConfig,
    observer: &mut dyn Observer,
) -> Result<Robust> {
    create_dir(out)?;
    let path = out.join("go_explore_demo.json");
    robustify_demo_at(demo, &path, rc, observer)
}

/// [`robustify_observed`] with the demo written to `path` (which the run reads).
fn robustify_demo_at(
    demo: &Demo,
    path: &Path,
    rc: &RobustifyConfig,
    observer: &mut dyn Observer,
) -> Result<Robust> {
    if rc.iterations == 0 || rc.eval_episodes == 0 {
        bail!("robustification needs at least one iteration and one evaluation episode");
    }
    demo.save(path)?;
    let path = path.to_owned();
    let cfg = spelunk_grpo::TrainConfig {
        env: demo.env.clone(),
        env_config: Some(merged_config(demo, &rc.env_config)),
        algorithm: spelunk_grpo::Algorithm::Ppo,
        obs_norm: true,
        iterations: rc.iterations,
        // Without an entropy bonus the policy collapsed to one action at the laser barrier
        // (entropy 0.04 within 60 iterations). Without imitation of the demo the start never
        // got past the red key: no start before the key holds it, no reward marks taking it,
        // and the policy leaves the maze without it (0% from the real start in every run);
        // judging the start on the frontier's starts alone keeps the window's later starts
        // from carrying it past a section not yet learned (docs/goexplore.md).
        loss: spelunk_grpo::LossConfig { entropy_coef: 0.01, ..Default::default() },
        privileged: Some(spelunk_grpo::PrivilegedConfig {
            demo: path,
            step_back: 3,
            window: 40,
            threshold: 0.3,
            frontier: 0.5,
            shaping: 0.0,
            imitation: 0.1,
        }),
        ..Default::default()
    };
    let iterations = cfg.iterations;
    observer.run_started(&RunStarted {
        kind: "robustify".into(),
        env_id: Some(cfg.env.clone()),
        config: serde_json::to_value(&cfg)?,
        seed: cfg.seed,
        commit: option_env!("SPELUNK_COMMIT").map(str::to_owned),
        start_iteration: 0,
        budget: iterations as u64,
        budget_unit: BudgetUnit::Iterations,
    })?;
    let mut t = crate::train::trainer(cfg)?;
    let len = demo.actions.len();
    let pb = crate::observers::progress_bar(iterations as u64);
    let mut progress = Vec::new();
    let mut success = Vec::new();
    for it in 0..iterations {
        let values = t.iterate()?;
        let rate = values["charts/success_rate"];
        let mut m = crate::train::iteration_metrics(&t, values);
        let cursor = t.curriculum().map_or(0, |c| c.cursor);
        progress.push((t.env_steps as f64, 1.0 - cursor as f64 / len as f64));
        if cursor == 0 && (it + 1) % rc.eval_every.max(1) == 0 {
            let (_, s) = t.evaluate(64, false)?;
            success.push((t.env_steps as f64, s));
            m.set("eval/success_rate", s);
        }
        observer.iteration(&m, &t)?;
        let msg = format!("start {cursor}/{len}, success {rate:.2}");
        if !is_terminal() && (it + 1) % 20 == 0 {
            eprintln!("robustify {}/{iterations}: {msg}", it + 1);
        }
        pb.set_message(msg);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let eval_episodes = rc.eval_episodes;
    let (_, eval_success) = t.evaluate(eval_episodes, false)?;
    let mut summary = std::collections::BTreeMap::new();
    summary.insert("eval/success_rate".to_owned(), eval_success);
    observer.run_finished(
        &RunFinished { iterations: iterations as u64, env_steps: t.env_steps, summary },
        &t,
    )?;
    Ok(Robust {
        demo_length: len,
        iterations,
        env_steps: t.env_steps,
        final_start: t.curriculum().map_or(0, |c| c.cursor),
        eval_episodes,
        eval_success,
        progress,
        success,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Experiment, ExploreConfig};
    use super::{parse_downscale, pixels_experiment};

    #[test]
    fn the_pixel_experiment_writes_its_table_data_and_charts() {
        let out = std::env::temp_dir().join(format!("spelunk-gep-{}", std::process::id()));
        let args = ExploreConfig {
            experiment: Experiment::GoExplorePixels,
            seeds: 2,
            steps: Some(3000),
            downscale: Some((5, 4, 8)),
            threads: 1,
            out: out.clone(),
            ..ExploreConfig::default()
        };
        pixels_experiment(&args).expect("experiment");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.join("go_explore_pixels.json")).expect("json"),
        )
        .expect("parses");
        assert_eq!(json["downscale"], serde_json::json!([5, 4, 8]));
        let runs = json["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().all(|r| r["frames"].as_u64().is_some_and(|f| f >= 3000)));
        let md = std::fs::read_to_string(out.join("go_explore_pixels.md")).expect("md");
        assert!(md.contains("5 × 4") && md.contains("| 1 |"), "{md}");
        for png in ["go_explore_pixels_cells.png", "go_explore_pixels_rooms.png"] {
            let bytes = std::fs::read(out.join(png)).expect(png);
            assert!(bytes.starts_with(b"\x89PNG"), "{png} is not a PNG");
        }
        std::fs::remove_dir_all(&out).expect("clean up");
    }

    #[test]
    fn a_run_on_a_level_file_reports_its_archive_and_its_solving_episode() {
        use spelunk_core::{ArchiveUpdate, Checkpoint, EpisodeFinished, Observer, ObserverResult};
        #[derive(Default)]
        struct Watch {
            iterations: u64,
            archives: Vec<usize>,
            solved: Vec<EpisodeFinished>,
        }
        impl Observer for Watch {
            fn iteration(
                &mut self,
                _: &spelunk_core::IterationMetrics,
                _: &dyn Checkpoint,
            ) -> ObserverResult {
                self.iterations += 1;
                Ok(())
            }
            fn wants_archive(&self) -> bool {
                true
            }
            fn archive_updated(&mut self, u: &ArchiveUpdate) -> ObserverResult {
                if let ArchiveUpdate::Cells { cells, .. } = u {
                    self.archives.push(cells.len());
                }
                Ok(())
            }
            fn episode_finished(&mut self, e: &EpisodeFinished) -> ObserverResult {
                self.solved.push(e.clone());
                Ok(())
            }
        }
        let dir = std::env::temp_dir().join(format!("spelunk-ge-level-{}", std::process::id()));
        let level = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/two_rooms.txt");
        let run = super::SingleRun {
            spec: super::GoExploreSpec {
                env_config: Some(serde_json::json!({ "level": level })),
                threads: 1,
                ..super::GoExploreSpec::default()
            },
            budget_frames: 200_000,
            stop_on_solve: true,
            dir: dir.clone(),
            resume: false,
            force: true,
        };
        let mut watch = Watch::default();
        let out = super::run_single(&run, &mut watch).expect("run");
        assert!(out.solved.is_some(), "the two-room level is solved in a few thousand frames");
        assert_eq!(watch.archives.len() as u64, watch.iterations);
        assert!(watch.archives.windows(2).all(|w| w[0] <= w[1]), "the archive only grows");
        let [e] = watch.solved.as_slice() else {
            panic!("one solving episode: {:?}", watch.solved)
        };
        assert!(e.success && e.env_config == Some(serde_json::json!({ "level": level })));
        // The demo names the level, so it replays on it.
        let demo = spelunk_core::Demo::load(&dir.join("demo.json")).expect("demo");
        assert_eq!(demo.env_config, e.env_config);
        assert!(demo.actions.len() <= e.actions.len());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn downscale_parses_and_refuses_nonsense() {
        assert_eq!(parse_downscale("15x12x8"), Ok((15, 12, 8)));
        assert_eq!(parse_downscale("11X8X255"), Ok((11, 8, 255)));
        for bad in ["15x12", "15x12x8x1", "ax12x8", "0x12x8", "15x12x1", "15x12x256", ""] {
            let e = parse_downscale(bad).expect_err(bad);
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }
}
