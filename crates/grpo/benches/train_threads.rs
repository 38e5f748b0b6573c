//! Training throughput against thread count: env steps per second of a GRPO run (the MLP
//! head), rollouts stepping their envs on 1 or 2 threads and the policy's kernels on 1 or 2
//! (`RAYON_NUM_THREADS`, which candle reads at every call), on a cheap env
//! (`MiniGrid-DoorKey-5x5-v0`, 16 groups of 8) and an expensive one (`Arm-Push-v0`, 4 groups of
//! 8, 20 physics steps per env step).
//!
//! Protocol: per env, one trainer per side, all with the same seed, so every side does the
//! same work (the same episodes: results do not depend on the thread count); after a warm-up
//! iteration each, the sides take turns running windows of iterations over the same iteration
//! numbers, and each window's env steps per second is recorded; the report gives each side's
//! median and its ratio to the one-thread side.
//!
//! `cargo bench -p spelunk-grpo --bench train_threads` (prints a table; with
//! `SPELUNK_BENCH_JSON=path` also writes it as JSON).

use std::time::Instant;

use spelunk_grpo::{TrainConfig, Trainer};

const WINDOWS: usize = 5;

/// (env-stepping threads, kernel threads) per side.
const SIDES: [(usize, usize); 3] = [(1, 1), (2, 1), (2, 2)];

fn trainer(env: &str, groups: usize, iterations: usize, threads: usize) -> Trainer<'static> {
    let mut reg = spelunk_envs::registry();
    spelunk_sims::register(&mut reg);
    let cfg = TrainConfig {
        env: env.into(),
        threads,
        groups_per_step: groups,
        iterations,
        ..TrainConfig::default()
    };
    let id = cfg.env.clone();
    Trainer::new(cfg, Box::new(move |_| reg.make(&id))).expect("trainer")
}

/// candle's CPU kernels split work over `RAYON_NUM_THREADS` threads, read at every call.
fn kernel_threads(n: usize) {
    std::env::set_var("RAYON_NUM_THREADS", n.to_string());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Each side's median env steps per second on `env`.
fn measure(env: &str, groups: usize, per_window: usize) -> [f64; 3] {
    let iterations = 1 + WINDOWS * per_window;
    let mut trainers = SIDES.map(|(envs, _)| trainer(env, groups, iterations, envs));
    for (t, &(_, kernels)) in trainers.iter_mut().zip(&SIDES) {
        kernel_threads(kernels);
        t.iterate().expect("warm-up");
    }
    let mut rates = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..WINDOWS {
        for (k, (t, &(_, kernels))) in trainers.iter_mut().zip(&SIDES).enumerate() {
            kernel_threads(kernels);
            let steps = t.env_steps;
            let start = Instant::now();
            for _ in 0..per_window {
                t.iterate().expect("iteration");
            }
            rates[k].push((t.env_steps - steps) as f64 / start.elapsed().as_secs_f64());
        }
    }
    rates.map(median)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that does not name this bench skips it.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if !args.is_empty() && !args.iter().any(|a| "train_threads".contains(a.as_str())) {
        return;
    }
    spelunk_models::keep_freed_heap();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    println!("training env steps/s (median of {WINDOWS} windows; {cores} cores)");
    println!("| env | env threads | kernel threads | env steps/s | against 1 + 1 |");
    println!("|---|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (env, groups, per_window) in [("MiniGrid-DoorKey-5x5-v0", 16, 3), ("Arm-Push-v0", 4, 1)] {
        let medians = measure(env, groups, per_window);
        for (&(e, k), m) in SIDES.iter().zip(medians) {
            let ratio = m / medians[0];
            println!("| {env} | {e} | {k} | {m:.0} | {ratio:.2}x |");
            rows.push(serde_json::json!({
                "env": env, "groups_per_step": groups, "iterations_per_window": per_window,
                "env_threads": e, "kernel_threads": k, "env_steps_per_s": m,
                "ratio_to_one_thread": ratio,
            }));
        }
    }
    if let Ok(path) = std::env::var("SPELUNK_BENCH_JSON") {
        let json = serde_json::json!({
            "bench": "train_threads",
            "command": "SPELUNK_BENCH_JSON=docs/results/train_threads.json cargo bench -p spelunk-grpo --bench train_threads",
            "windows": WINDOWS,
            "cores": cores,
            "rows": rows,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write");
    }
}
