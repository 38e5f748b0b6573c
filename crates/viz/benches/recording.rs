//! What recording costs, two measurements in one run:
//!
//! 1. **Episodes with a frame per step to a file.** Random episodes of
//!    `MiniGrid-DoorKey-8x8-v0` (seeds 0, 1, …) through `spelunk_experiments::record`, once
//!    with no observer and once with a [`Recorder`] writing every step (frame, agent, path,
//!    action, reward, info) to an `.rrd` file. The same episodes on both sides.
//! 2. **Training with `--rerun`.** GRPO on `MiniGrid-DoorKey-5x5-v0` through
//!    `spelunk_experiments::train::run_loop`, evaluating every 10 iterations, once with no
//!    observer and once with a recorder logging every metric and every evaluation episode
//!    step by step. The same seed on both sides: the same iterations.
//!
//! Protocol: one warm-up window per side, then the sides take turns over `WINDOWS` windows of
//! the same work; each window's rate is recorded, and the report gives each side's median
//! with its minimum and maximum and the ratio of the medians.
//!
//! `cargo bench -p spelunk-viz --bench recording` prints the table; with
//! `SPELUNK_BENCH_JSON=docs/results/recording.json` it also writes the JSON and, beside it,
//! `recording.md` generated from it. The committed report was built without the bench
//! profile's LTO and single codegen unit (`CARGO_PROFILE_BENCH_LTO=false
//! CARGO_PROFILE_BENCH_CODEGEN_UNITS=16`, as its command says), which takes much less time to
//! build with the Rerun SDK in it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use spelunk_core::Observers;
use spelunk_experiments::record::{record, RecordSpec};
use spelunk_experiments::train::{run_loop, trainer, LoopOptions};
use spelunk_viz::{Recorder, RecorderOptions, Sink};

const WINDOWS: usize = 5;
const EPISODES_PER_WINDOW: usize = 40;
const TRAIN_ITERATIONS: usize = 20;

fn temp_rrd(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("spelunk-bench-{}-{name}.rrd", std::process::id()))
}

fn recorder(path: &Path) -> Recorder {
    Recorder::open("spelunk-bench", &Sink::Save(path.to_path_buf()), RecorderOptions::default())
        .expect("recording file")
}

/// Env steps per second of one window of episodes, with or without a recorder.
fn episodes_window(window: usize, with_recorder: bool) -> (f64, u64) {
    let spec = RecordSpec {
        episodes: EPISODES_PER_WINDOW,
        seed: (window * EPISODES_PER_WINDOW) as u64,
        ..RecordSpec::new("MiniGrid-DoorKey-8x8-v0")
    };
    let path = temp_rrd("episodes");
    let start = Instant::now();
    let eps = if with_recorder {
        let mut rec = recorder(&path);
        let eps = record(&spec, &mut rec).expect("record");
        rec.finish().expect("flush");
        eps
    } else {
        record(&spec, &mut Observers::new()).expect("record")
    };
    let secs = start.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    let _ = std::fs::remove_file(&path);
    let steps: u64 = eps.iter().map(|e| e.length).sum();
    (steps as f64 / secs, bytes)
}

/// Seconds per training iteration of one run, with or without a recorder.
fn train_window(with_recorder: bool) -> f64 {
    let cfg = spelunk_experiments::config::train_config(
        None,
        &["env=\"MiniGrid-DoorKey-5x5-v0\"".into(), format!("iterations={TRAIN_ITERATIONS}")],
    )
    .expect("config");
    let mut t = trainer(cfg).expect("trainer");
    let opts = LoopOptions { eval_every: 10, ..LoopOptions::default() };
    let path = temp_rrd("train");
    let start = Instant::now();
    if with_recorder {
        let mut rec = recorder(&path);
        run_loop(&mut t, &opts, &mut rec).expect("train");
        rec.finish().expect("flush");
    } else {
        run_loop(&mut t, &opts, &mut Observers::new()).expect("train");
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    secs / TRAIN_ITERATIONS as f64
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let _ = episodes_window(0, false);
    let _ = episodes_window(0, true);
    let (mut plain, mut recorded, mut bytes) = (Vec::new(), Vec::new(), 0);
    for w in 1..=WINDOWS {
        plain.push(episodes_window(w, false).0);
        let (rate, b) = episodes_window(w, true);
        recorded.push(rate);
        bytes = bytes.max(b);
    }
    let _ = train_window(false);
    let _ = train_window(true);
    let (mut t_plain, mut t_rec) = (Vec::new(), Vec::new());
    for _ in 0..WINDOWS {
        t_plain.push(train_window(false));
        t_rec.push(train_window(true));
    }
    let (p, pmin, pmax) = stats(plain);
    let (r, rmin, rmax) = stats(recorded);
    let (tp, tpmin, tpmax) = stats(t_plain);
    let (tr, trmin, trmax) = stats(t_rec);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let json = serde_json::json!({
        "command": "CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16 SPELUNK_BENCH_JSON=docs/results/recording.json cargo bench -p spelunk-viz --bench recording",
        "commit": option_env!("SPELUNK_COMMIT"),
        "machine": { "cpu": cpu, "cores": cores },
        "windows": WINDOWS,
        "episodes": {
            "env": "MiniGrid-DoorKey-8x8-v0",
            "episodes_per_window": EPISODES_PER_WINDOW,
            "steps_per_s_plain": { "median": p, "min": pmin, "max": pmax },
            "steps_per_s_recorded": { "median": r, "min": rmin, "max": rmax },
            "largest_file_bytes": bytes,
        },
        "training": {
            "env": "MiniGrid-DoorKey-5x5-v0",
            "iterations": TRAIN_ITERATIONS,
            "eval_every": 10,
            "seconds_per_iteration_plain": { "median": tp, "min": tpmin, "max": tpmax },
            "seconds_per_iteration_recorded": { "median": tr, "min": trmin, "max": trmax },
        },
    });
    let md = report(&json);
    println!("{md}");
    if let Ok(path) = std::env::var("SPELUNK_BENCH_JSON") {
        // Relative to the workspace root, where the command in the report is run.
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path);
        std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json") + "\n")
            .expect("write json");
        std::fs::write(path.with_extension("md"), md).expect("write md");
    }
}

/// The Markdown report, every figure and sentence from the JSON.
fn report(j: &serde_json::Value) -> String {
    let f = |p: &str| j.pointer(p).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
    let (p, r) =
        (f("/episodes/steps_per_s_plain/median"), f("/episodes/steps_per_s_recorded/median"));
    let (tp, tr) = (
        f("/training/seconds_per_iteration_plain/median"),
        f("/training/seconds_per_iteration_recorded/median"),
    );
    let overhead = (tr / tp - 1.0) * 100.0;
    format!(
        "# What recording to Rerun costs\n\n`{}` (commit {}, {} cores, {}). Median of {} windows \
         per side, [min, max] beside it; the sides take turns.\n\n\
         | measurement | without a recorder | with a recorder | ratio |\n|---|---:|---:|---:|\n\
         | DoorKey-8x8 random episodes, a frame per step to a file (steps/s) | {:.0} [{:.0}, {:.0}] | {:.0} [{:.0}, {:.0}] | {:.3} |\n\
         | GRPO on DoorKey-5x5, evaluation every 10 iterations logged step by step (s/iteration) | {:.4} [{:.4}, {:.4}] | {:.4} [{:.4}, {:.4}] | {:.3} |\n\n\
         Recording every step of DoorKey-8x8 with its frame runs at {:.0} steps/s ({}); \
         logging a training run's metrics and evaluation episodes costs {:.1}% of an \
         iteration's time. The largest recording file of a window ({} episodes) was {} bytes.\n",
        j["command"].as_str().unwrap_or(""),
        j["commit"].as_str().unwrap_or("unknown"),
        j["machine"]["cores"],
        j["machine"]["cpu"].as_str().unwrap_or(""),
        j["windows"],
        p,
        f("/episodes/steps_per_s_plain/min"),
        f("/episodes/steps_per_s_plain/max"),
        r,
        f("/episodes/steps_per_s_recorded/min"),
        f("/episodes/steps_per_s_recorded/max"),
        r / p,
        tp,
        f("/training/seconds_per_iteration_plain/min"),
        f("/training/seconds_per_iteration_plain/max"),
        tr,
        f("/training/seconds_per_iteration_recorded/min"),
        f("/training/seconds_per_iteration_recorded/max"),
        tr / tp,
        r,
        if r >= 20_000.0 { "at or above the 20,000 steps/s goal" } else { "below the 20,000 steps/s goal" },
        overhead,
        j["episodes"]["episodes_per_window"],
        j["episodes"]["largest_file_bytes"],
    )
}
