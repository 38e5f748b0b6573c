//! `spelunk explore`: arguments and printing over `spelunk_experiments::explore`.

use std::path::PathBuf;

use anyhow::Result;
use clap::builder::{PossibleValuesParser, TypedValueParser as _};
use clap::Args;
use spelunk_experiments::explore::go_explore::{parse_downscale, Cells};
use spelunk_experiments::explore::{self, Experiment, ExploreConfig, Method, Outcome};

use crate::record::{finish, RerunArgs};

fn experiment_parser() -> impl clap::builder::TypedValueParser<Value = Experiment> {
    PossibleValuesParser::new(Experiment::NAMES.map(|(n, _)| n))
        .try_map(|s| s.parse::<Experiment>().map_err(|e| e.to_string()))
}

fn method_parser() -> impl clap::builder::TypedValueParser<Value = Method> {
    PossibleValuesParser::new(Method::NAMES.map(|(n, _)| n))
        .try_map(|s| s.parse::<Method>().map_err(|e| e.to_string()))
}

fn cells_parser() -> impl clap::builder::TypedValueParser<Value = Cells> {
    PossibleValuesParser::new(["domain", "pixels"])
        .try_map(|s| s.parse::<Cells>().map_err(|e| e.to_string()))
}

/// Arguments of `spelunk explore`.
#[derive(Args)]
pub struct ExploreArgs {
    /// The experiment: noisy-tv (the noisy-TV maze, four noise settings), coverage
    /// (reward-free coverage of MultiRoom-N6 and Montezuma-Lite), go-explore (Go-Explore on
    /// Montezuma-Lite over seeds, the bonus agents at the same budget, the robustified demo),
    /// go-explore-pixels (pixel cells at a fixed downscale over seeds), robustify (every
    /// seed's demo robustified with the same fixed budget, `--threads` at once), stax (STAX
    /// against novelty search, TAXONS and random search).
    #[arg(long, default_value = "noisy-tv", value_parser = experiment_parser())]
    experiment: Experiment,
    /// Methods (default: all). `go-explore` alone runs one Go-Explore run on `--env`.
    #[arg(long = "method", value_parser = method_parser())]
    methods: Vec<Method>,
    /// Settings (default: all). noisy-tv: none, brownian, pixel_noise, remote; coverage:
    /// multiroom, montezuma; stax: maze, arm, curling.
    #[arg(long = "setting")]
    settings: Vec<String>,
    /// Seeds per method and setting.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Env steps per run, over all 8 envs (default: 40000 for noisy-tv, 400000 for coverage;
    /// Go-Explore: frames, 10M).
    #[arg(long)]
    steps: Option<usize>,
    /// STAX: evaluations per run (default 20000).
    #[arg(long)]
    evaluations: Option<usize>,
    /// Folder for the JSON, table and plots.
    #[arg(long, default_value = "docs/results")]
    out: PathBuf,
    /// Go-Explore: the environment.
    #[arg(long, default_value = "Montezuma-Lite-v0")]
    env: String,
    /// An env config file (TOML or JSON) for every env of the run (Go-Explore's, each setting's
    /// of noisy-tv and coverage).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one env setting, `key=value` (repeatable), e.g. `--set
    /// level=examples/two_rooms.txt` (Go-Explore, or `--experiment coverage --setting
    /// montezuma`), `--set max_steps=500`.
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Go-Explore: the cell representation (domain, pixels).
    #[arg(long, default_value = "domain", value_parser = cells_parser())]
    cells: Cells,
    /// Go-Explore: tiles per domain cell side.
    #[arg(long, default_value_t = 1)]
    cell_size: i32,
    /// Go-Explore with `--cells pixels`: fixed downscaling `WIDTHxHEIGHTxLEVELS` (e.g.
    /// `15x12x8`) instead of the automatic choice re-fitted every 50 iterations.
    #[arg(long, value_parser = parse_downscale)]
    downscale: Option<(usize, usize, u8)>,
    /// Go-Explore with `--cells pixels` and no `--downscale`: the automatic choice's target
    /// number of cells, as a fraction of the sampled frames.
    #[arg(long, default_value_t = 0.25)]
    target_fraction: f64,
    /// Go-Explore: the seed of selection and exploration.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Go-Explore: folder of the run (manifest.json, metrics.jsonl, checkpoint/, demo.json).
    #[arg(long, default_value = "runs/go-explore")]
    run: PathBuf,
    /// Go-Explore: continue the run in `--run` from its last commit.
    #[arg(long)]
    resume: bool,
    /// Go-Explore: replace a run already in `--run` (without it, such a folder is refused).
    #[arg(long, conflicts_with = "resume")]
    force: bool,
    /// Go-Explore and STAX: worker threads (0: every core; results do not depend on it).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Go-Explore: stop once an episode succeeds.
    #[arg(long)]
    stop_on_solve: bool,
    /// Go-Explore's archive as it grows (cells on the level, by score and visits) and its
    /// solving episode; STAX's outcome space per generation.
    #[command(flatten)]
    rerun: RerunArgs,
}

impl ExploreArgs {
    /// One Go-Explore run in a folder: it commits, and Ctrl-C commits and stops it.
    pub fn is_single_run(&self) -> bool {
        self.methods.contains(&Method::GoExplore)
    }
}

/// Run `spelunk explore`.
pub fn run(args: &ExploreArgs) -> Result<()> {
    let env_config = if args.config.is_some() || !args.sets.is_empty() {
        Some(spelunk_experiments::config::env_config(args.config.as_deref(), &args.sets)?)
    } else {
        None
    };
    let cfg = ExploreConfig {
        experiment: args.experiment,
        methods: args.methods.clone(),
        settings: args.settings.clone(),
        seeds: args.seeds,
        steps: args.steps,
        evaluations: args.evaluations,
        out: args.out.clone(),
        env: args.env.clone(),
        env_config,
        cells: args.cells,
        cell_size: args.cell_size,
        downscale: args.downscale,
        target_fraction: args.target_fraction,
        seed: args.seed,
        run: args.run.clone(),
        resume: args.resume,
        force: args.force,
        threads: args.threads,
        stop_on_solve: args.stop_on_solve,
    };
    let mut recorder = args.rerun.recorder()?;
    if let Some(r) = recorder.as_mut() {
        // The level at reset, under the archive's cells.
        let make = spelunk_experiments::registry().factory(&cfg.env, cfg.env_config.clone());
        if let Ok(mut env) = make(None) {
            let mut obs = spelunk_core::ObsBuf::for_space(env.observation_space());
            if env.reset(Some(cfg.seed), None, obs.as_mut()).is_ok() {
                if let Some(img) = env.render_rgb() {
                    r.set_archive_background(img);
                }
            }
        }
    }
    let mut observers = spelunk_core::Observers::new();
    if let Some(r) = recorder.as_mut() {
        observers.push(r);
    }
    let outcome = explore::run(&cfg, &mut observers)?;
    drop(observers);
    finish(recorder, &args.rerun)?;
    match outcome {
        Outcome::Report(text) => outln!("{}", text.trim_end()),
        Outcome::GoExplore(o) => {
            let s = &o.stats;
            outln!(
                "{} ({:?} cells, seed {}): {} frames, {} iterations, {} cells, {} rooms, max score {:.0}, {}",
                cfg.env,
                cfg.cells,
                cfg.seed,
                s.frames,
                s.iteration,
                s.cells,
                s.rooms,
                s.max_score,
                match o.solved {
                    Some((frames, len)) => format!("solved at frame {frames} ({len} actions)"),
                    None => "not solved".into(),
                }
            );
            outln!("run folder: {} (manifest.json, metrics.jsonl, checkpoint/)", cfg.run.display());
        }
    }
    Ok(())
}
