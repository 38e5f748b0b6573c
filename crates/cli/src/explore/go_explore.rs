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

use std::io::{IsTerminal as _, Write as _};
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use indicatif::ProgressBar;
use serde::Serialize;
use spelunk_grpo::{Demo, DemoAction};
use spelunk_intrinsic::goexplore::{
    AdaptConfig, CellFn, DomainCells, GoExplore, GoExploreConfig, PixelCells, Stats,
};

use super::ExploreArgs;

/// Cell representation of `--method go-explore`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cells {
    /// Level, room, position in 3×3-tile squares, keys held (from the env's info).
    Domain,
    /// Downscaled grey frames, parameters re-fitted to recent frames every 50 iterations.
    Pixels,
}

/// `WIDTHxHEIGHTxLEVELS`, each positive, levels at most 255.
pub(super) fn parse_downscale(s: &str) -> std::result::Result<(usize, usize, u8), String> {
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

fn build(
    env: &str,
    cells: Cells,
    cell_size: i32,
    downscale: Option<(usize, usize, u8)>,
    target_fraction: f64,
    seed: u64,
    threads: usize,
) -> Result<GoExplore> {
    if !(target_fraction > 0.0 && target_fraction <= 10.0) {
        bail!("--target-fraction must be in (0, 10], got {target_fraction}");
    }
    let reg = crate::registry();
    let id = env.to_owned();
    let make = move || reg.make(&id);
    let probe = crate::registry().make(env)?;
    let cell_fn: Box<dyn CellFn> = match (cells, downscale) {
        (Cells::Domain, None) => Box::new(DomainCells { cell_size }),
        (Cells::Domain, Some(_)) => bail!("--downscale sets pixel cells; add --cells pixels"),
        (Cells::Pixels, None) => Box::new(PixelCells::for_space(
            probe.observation_space(),
            Some(AdaptConfig { target_fraction, ..AdaptConfig::default() }),
        )?),
        (Cells::Pixels, Some((width, height, levels))) => {
            let base = PixelCells::for_space(probe.observation_space(), None)?;
            Box::new(PixelCells { width, height, levels, ..base })
        }
    };
    let cfg = GoExploreConfig { seed, threads, ..GoExploreConfig::default() };
    Ok(GoExplore::new(cfg, cell_fn, &make)?)
}

fn demo_of(env: &str, ge: &GoExplore) -> Option<Demo> {
    ge.solved().map(|s| Demo {
        env: env.to_owned(),
        seed: ge.config.reset_seed,
        // Recorded on the registry's defaults (no sticky actions): an empty config makes the
        // trainer replay it on those, whatever the training run's own `env_config`.
        env_config: Some(serde_json::json!({})),
        actions: s.trajectory.iter().map(|&a| DemoAction::Discrete(i64::from(a))).collect(),
        score: Some(s.score),
    })
}

/// The demo shortened ([`mod@spelunk_intrinsic::goexplore::shorten`]), replayed on the
/// registry's defaults (no sticky actions), as the demo was recorded.
fn shortened(demo: &Demo) -> Result<Demo> {
    let mut env = crate::registry().make(&demo.env)?;
    let actions: Vec<u8> = demo
        .actions
        .iter()
        .map(|a| match a {
            DemoAction::Discrete(a) => u8::try_from(*a).context("a demo action is not a byte"),
            DemoAction::Continuous(_) => bail!("Go-Explore demos have discrete actions"),
        })
        .collect::<Result<_>>()?;
    let cfg = spelunk_intrinsic::goexplore::ShortenConfig::default();
    let s = spelunk_intrinsic::goexplore::shorten(env.as_mut(), demo.seed, &actions, &cfg)?;
    Ok(Demo {
        actions: s.actions.iter().map(|&a| DemoAction::Discrete(i64::from(a))).collect(),
        ..demo.clone()
    })
}

fn metrics_line(s: &Stats) -> String {
    serde_json::json!({
        "iteration": s.iteration,
        "frames": s.frames,
        "cells": s.cells,
        "rooms": s.rooms,
        "max_score": s.max_score,
        "solved": s.solved,
    })
    .to_string()
}

/// `demo_found.json` as found, `demo.json` shortened (what robustification should
/// start from); returns the latter.
fn save_demos(demo: &Demo, dir: &Path) -> Result<Demo> {
    demo.save(&dir.join("demo_found.json"))?;
    let short = shortened(demo)?;
    short.save(&dir.join("demo.json"))?;
    Ok(short)
}

/// How often a run writes its archive (and once more at the end).
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// One Go-Explore run into `args.run`.
pub(super) fn run_single(args: &ExploreArgs) -> Result<()> {
    let budget = args.steps.unwrap_or(10_000_000) as u64;
    let dir = &args.run;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut ge = build(
        &args.env,
        args.cells,
        args.cell_size,
        args.downscale,
        args.target_fraction,
        args.seed,
        args.threads,
    )?;
    let ckpt = dir.join("archive.bin");
    if args.resume {
        ge.load(&ckpt).with_context(|| format!("resuming from {}", ckpt.display()))?;
    } else {
        let _ = std::fs::remove_file(dir.join("metrics.jsonl"));
    }
    let mut metrics =
        std::fs::OpenOptions::new().create(true).append(true).open(dir.join("metrics.jsonl"))?;
    let pb = crate::progress_bar(budget);
    let mut reported = false;
    let mut s = ge.stats();
    let mut last_save = std::time::Instant::now();
    while s.frames < budget && !(args.stop_on_solve && s.solved) {
        s = ge.iterate()?;
        writeln!(metrics, "{}", metrics_line(&s))?;
        // By the clock, not the iteration: a large archive (pixel cells keep tens of thousands
        // of snapshots) takes long enough to write that saving every few iterations would
        // cost more than the exploring.
        if last_save.elapsed() >= CHECKPOINT_EVERY {
            ge.save(&ckpt)?;
            last_save = std::time::Instant::now();
        }
        if let (false, Some(demo)) = (reported, demo_of(&args.env, &ge)) {
            let short = save_demos(&demo, dir)?;
            reported = true;
            let solved = ge.solved().map_or(0, |x| x.frames);
            pb.println(format!(
                "solved after {solved} frames: score {:.0}, {} actions ({} shortened) → {}",
                demo.score.unwrap_or(0.0),
                demo.actions.len(),
                short.actions.len(),
                dir.join("demo.json").display()
            ));
        }
        let msg = format!("cells {} rooms {} max score {:.0}", s.cells, s.rooms, s.max_score);
        if !std::io::stderr().is_terminal() && s.iteration % 100 == 0 {
            eprintln!("frames {}/{budget}: {msg}", s.frames);
        }
        pb.set_message(msg);
        pb.set_position(s.frames.min(budget));
    }
    pb.finish_and_clear();
    ge.save(&ckpt)?;
    if let Some(demo) = demo_of(&args.env, &ge) {
        save_demos(&demo, dir)?;
    }
    println!(
        "{} ({:?} cells, seed {}): {} frames, {} iterations, {} cells, {} rooms, max score {:.0}, {}",
        args.env,
        args.cells,
        args.seed,
        s.frames,
        s.iteration,
        s.cells,
        s.rooms,
        s.max_score,
        match ge.solved() {
            Some(x) => format!("solved at frame {} ({} actions)", x.frames, x.trajectory.len()),
            None => "not solved".into(),
        }
    );
    println!("archive: {}, metrics: {}", ckpt.display(), dir.join("metrics.jsonl").display());
    Ok(())
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

#[allow(clippy::too_many_arguments)]
fn run_until(
    env: &str,
    cells: Cells,
    cell_size: i32,
    downscale: Option<(usize, usize, u8)>,
    seed: u64,
    budget: u64,
    threads: usize,
    pb: &ProgressBar,
) -> Result<(GeRun, Option<Demo>)> {
    let start = std::time::Instant::now();
    let target = AdaptConfig::default().target_fraction;
    let mut ge = build(env, cells, cell_size, downscale, target, seed, threads)?;
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
    let demo = demo_of(env, &ge).map(|d| shortened(&d)).transpose()?;
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
    if !std::io::stderr().is_terminal() {
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
        let series: Vec<crate::plot::Series> = runs
            .iter()
            .map(|r| crate::plot::Series {
                label: format!("{:?} seed {}", r.cells, r.seed),
                points: r
                    .curve
                    .iter()
                    .map(|c| (c.0 as f64, if idx == 1 { c.1 as f64 } else { c.2 as f64 }))
                    .collect(),
            })
            .collect();
        let png = crate::raster::line_chart(
            &format!("{title}: {what}"),
            "frames",
            &format!("{what} in the archive"),
            &series,
        );
        crate::raster::write(&out.join(format!("{prefix}_{what}.png")), &png)?;
    }
    Ok(())
}

/// `--experiment go-explore-pixels`: pixel cells at a fixed downscale (`--downscale`, 15 × 12
/// × 8 by default: a cell pixel per tile) over seeds, each until it solves or spends the
/// budget (`--steps`, 120M frames by default).
pub(super) fn pixels_experiment(args: &ExploreArgs) -> Result<()> {
    if args.seeds < 1 {
        bail!("--seeds must be at least 1");
    }
    let budget = args.steps.unwrap_or(120_000_000) as u64;
    let (w, h, l) = args.downscale.unwrap_or((15, 12, 8));
    let env = "Montezuma-Lite-Pixels-v0";
    std::fs::create_dir_all(&args.out)?;
    let pb = crate::progress_bar(args.seeds);
    let mut runs = Vec::new();
    for seed in 0..args.seeds {
        let (run, _) =
            run_until(env, Cells::Pixels, 1, Some((w, h, l)), seed, budget, args.threads, &pb)?;
        report(&run);
        runs.push(run);
        pb.inc(1);
    }
    pb.finish_and_clear();
    std::fs::write(
        args.out.join("go_explore_pixels.json"),
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
    std::fs::write(args.out.join("go_explore_pixels.md"), &md)?;
    print!("{md}");
    curve_charts(&runs, "Go-Explore from pixels", &args.out, "go_explore_pixels")
}

/// `--experiment go-explore`.
pub(super) fn experiment(args: &ExploreArgs) -> Result<()> {
    if args.seeds < 1 {
        bail!("--seeds must be at least 1");
    }
    let budget = args.steps.unwrap_or(10_000_000) as u64;
    std::fs::create_dir_all(&args.out)?;
    let settings =
        [(Cells::Domain, "Montezuma-Lite-v0"), (Cells::Pixels, "Montezuma-Lite-Pixels-v0")];
    let pb = crate::progress_bar(args.seeds + 1);
    let mut runs = Vec::new();
    let mut demo0 = None;
    for (cells, env) in settings {
        // Pixel cells step and re-fit far slower (a frame is rendered and downscaled, and
        // every 50 iterations the downscaling search runs): one seed.
        let seeds = if cells == Cells::Pixels { 1 } else { args.seeds };
        for seed in 0..seeds {
            let (run, demo) =
                run_until(env, cells, args.cell_size, None, seed, budget, args.threads, &pb)?;
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
        Some(demo) => Some(robustify(demo, &args.out)?),
        None => None,
    };
    std::fs::write(
        args.out.join("go_explore.json"),
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
    md.push_str(&format!(
        "\nSame budget, {bonus_steps} frames: rooms in Go-Explore's archive at that point, against the\ncoverage experiment's count-bonus agent and random actions (8 envs; rooms one env visited, the\nmost of the 8; RND, RDD and the latent bonuses reach 3 to 5 rooms there, `coverage.md`):\n\n| agent | seed | rooms (of 11) | treasure reached |\n|---|---:|---:|---|\n"
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
    std::fs::write(args.out.join("go_explore.md"), &md)?;
    print!("{md}");
    curve_charts(&runs, "Go-Explore on Montezuma-Lite", &args.out, "go_explore")?;
    if let Some(r) = &robust {
        let png = crate::raster::line_chart(
            "Robustifying the demo (PPO, privileged starts, sticky 0.25)",
            "env steps",
            "demo covered / success",
            &[
                crate::plot::Series {
                    label: "start: 1 - step/length".into(),
                    points: r.progress.clone(),
                },
                crate::plot::Series {
                    label: "success from the real start".into(),
                    points: r.success.clone(),
                },
            ],
        );
        crate::raster::write(&args.out.join("go_explore_robustify.png"), &png)?;
    }
    println!("wrote {}/go_explore.{{json,md}} and go_explore_*.png", args.out.display());
    Ok(())
}

/// Iterations of the robustification in the experiment (about 12 minutes on one core here).
const ROBUST_ITERATIONS: usize = 200;

#[derive(Serialize)]
struct Robust {
    demo_length: usize,
    iterations: usize,
    env_steps: u64,
    final_start: usize,
    eval_episodes: usize,
    eval_success: f64,
    /// (env steps, 1 − start/length).
    progress: Vec<(f64, f64)>,
    /// (env steps, eval success from the real start).
    success: Vec<(f64, f64)>,
}

fn robustify(demo: &Demo, out: &Path) -> Result<Robust> {
    let path = out.join("go_explore_demo.json");
    demo.save(&path)?;
    let cfg = spelunk_grpo::TrainConfig {
        env: demo.env.clone(),
        env_config: Some(serde_json::json!({ "sticky_action_prob": 0.25 })),
        algorithm: spelunk_grpo::Algorithm::Ppo,
        obs_norm: true,
        iterations: ROBUST_ITERATIONS,
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
    let mut t = crate::train::trainer(cfg)?;
    let len = demo.actions.len();
    let pb = crate::progress_bar(iterations as u64);
    let mut progress = Vec::new();
    let mut success = Vec::new();
    for it in 0..iterations {
        let m = t.iterate()?;
        let cursor = t.curriculum.map_or(0, |c| c.cursor);
        progress.push((t.env_steps as f64, 1.0 - cursor as f64 / len as f64));
        if cursor == 0 && (it + 1) % 10 == 0 {
            let (_, s) = t.evaluate(64, false)?;
            success.push((t.env_steps as f64, s));
        }
        let msg = format!("start {cursor}/{len}, success {:.2}", m["charts/success_rate"]);
        if !std::io::stderr().is_terminal() && (it + 1) % 20 == 0 {
            eprintln!("robustify {}/{iterations}: {msg}", it + 1);
        }
        pb.set_message(msg);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let eval_episodes = 200;
    let (_, eval_success) = t.evaluate(eval_episodes, false)?;
    Ok(Robust {
        demo_length: len,
        iterations,
        env_steps: t.env_steps,
        final_start: t.curriculum.map_or(0, |c| c.cursor),
        eval_episodes,
        eval_success,
        progress,
        success,
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{parse_downscale, pixels_experiment, ExploreArgs};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExploreArgs,
    }

    #[test]
    fn the_pixel_experiment_writes_its_table_data_and_charts() {
        let out = std::env::temp_dir().join(format!("spelunk-gep-{}", std::process::id()));
        let cli = Cli::try_parse_from([
            "x",
            "--experiment",
            "go-explore-pixels",
            "--seeds",
            "2",
            "--steps",
            "3000",
            "--downscale",
            "5x4x8",
            "--threads",
            "1",
            "--out",
            out.to_str().expect("utf-8 path"),
        ])
        .expect("arguments");
        pixels_experiment(&cli.args).expect("experiment");
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
    fn downscale_parses_and_refuses_nonsense() {
        assert_eq!(parse_downscale("15x12x8"), Ok((15, 12, 8)));
        assert_eq!(parse_downscale("11X8X255"), Ok((11, 8, 255)));
        for bad in ["15x12", "15x12x8x1", "ax12x8", "0x12x8", "15x12x1", "15x12x256", ""] {
            let e = parse_downscale(bad).expect_err(bad);
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }
}
