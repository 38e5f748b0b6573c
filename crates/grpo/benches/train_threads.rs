//! Training throughput against thread count: env steps per second of a GRPO run (the MLP
//! head) on a cheap env (`MiniGrid-DoorKey-5x5-v0`, 16 groups of 8) and an expensive one
//! (`Arm-Push-v0`, 4 groups of 8, 20 physics steps per env step). A side is the run's
//! `threads`, its `shards` (the policy's work in fixed parts, one per thread at best) and the
//! threads of candle's kernels (`RAYON_NUM_THREADS`, which candle reads at every call; the CLI
//! keeps them at 1).
//!
//! Protocol: per env, one trainer per side, all with the same seed; sides with the same
//! `shards` do exactly the same work (the same episodes: results do not depend on the thread
//! count), sides with other `shards` the same work up to rounding. After a warm-up iteration
//! each, the sides take turns running windows of iterations over the same iteration numbers,
//! and each window's env steps per second is recorded; the report gives each side's median, its
//! ratio to the first side (1 thread, 1 shard, 1 kernel thread) and its ratio to the side with
//! the same shards on 1 thread.
//!
//! `cargo bench -p spelunk-grpo --bench train_threads` (prints a table; with
//! `SPELUNK_BENCH_JSON=path` also writes it as JSON).

use std::time::Instant;

use spelunk_grpo::{TrainConfig, Trainer};

const WINDOWS: usize = 5;

/// (threads, shards, kernel threads) per side.
const SIDES: [(usize, usize, usize); 5] = [(1, 1, 1), (1, 1, 2), (2, 1, 1), (1, 2, 1), (2, 2, 1)];

fn trainer(
    env: &str,
    groups: usize,
    iterations: usize,
    (threads, shards, _): (usize, usize, usize),
) -> Trainer<'static> {
    let mut reg = spelunk_envs::registry();
    spelunk_sims::register(&mut reg);
    let cfg = TrainConfig {
        env: env.into(),
        threads,
        shards,
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
fn measure(env: &str, groups: usize, per_window: usize) -> [f64; SIDES.len()] {
    let iterations = 1 + WINDOWS * per_window;
    let mut trainers = SIDES.map(|side| trainer(env, groups, iterations, side));
    for (t, &(_, _, kernels)) in trainers.iter_mut().zip(&SIDES) {
        kernel_threads(kernels);
        t.iterate().expect("warm-up");
    }
    let mut rates: [Vec<f64>; SIDES.len()] = std::array::from_fn(|_| Vec::new());
    for _ in 0..WINDOWS {
        for (k, (t, &(_, _, kernels))) in trainers.iter_mut().zip(&SIDES).enumerate() {
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
    println!(
        "| env | threads | shards | kernel threads | env steps/s | against the first | against 1 thread, same shards |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for (env, groups, per_window) in [("MiniGrid-DoorKey-5x5-v0", 16, 3), ("Arm-Push-v0", 4, 1)] {
        let medians = measure(env, groups, per_window);
        for (&(threads, shards, kernels), m) in SIDES.iter().zip(medians) {
            let ratio = m / medians[0];
            // The side with the same shards on one thread (and one kernel thread).
            let base = SIDES
                .iter()
                .position(|&s| s == (1, shards, 1))
                .map_or(f64::NAN, |i| m / medians[i]);
            println!(
                "| {env} | {threads} | {shards} | {kernels} | {m:.0} | {ratio:.2}x | {base:.2}x |"
            );
            rows.push(serde_json::json!({
                "env": env, "groups_per_step": groups, "iterations_per_window": per_window,
                "threads": threads, "shards": shards, "kernel_threads": kernels,
                "env_steps_per_s": m, "ratio_to_first": ratio,
                "ratio_to_one_thread_same_shards": base,
            }));
        }
    }
    if let Ok(path) = std::env::var("SPELUNK_BENCH_JSON") {
        // A relative path is the workspace's (cargo runs benches in the package's folder).
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join(path);
        let json = serde_json::json!({
            "bench": "train_threads",
            "command": "SPELUNK_BENCH_JSON=docs/results/train_threads.json cargo bench -p spelunk-grpo --bench train_threads",
            "commit": commit(&root),
            "cpu": cpu_model(),
            "windows": WINDOWS,
            "cores": cores,
            "rows": rows,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&json).expect("json")).expect("write");
        std::fs::write(path.with_extension("md"), markdown(&json)).expect("write");
    }
}

/// The checked-out commit, if the workspace is a git checkout (`+changes` when tracked files
/// differ from it).
fn commit(root: &std::path::Path) -> Option<String> {
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git").args(args).current_dir(root).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| {
        // The reports this bench writes do not count.
        s.lines().any(|l| !l.contains("docs/results/train_threads."))
    });
    Some(if dirty { format!("{head}+changes") } else { head })
}

/// The CPU's model name (Linux).
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("model name"))?;
    Some(line.split_once(':')?.1.trim().to_owned())
}

/// The report as Markdown: the table and, for each env, the sentence on what 2 threads give,
/// both made from the rows.
fn markdown(json: &serde_json::Value) -> String {
    let text = |k: &str| json[k].as_str().unwrap_or("?").to_owned();
    let mut md = format!(
        "# Training throughput against threads\n\n`{}` (commit {}, {} cores, {}; median of {} \
         windows, the sides taking turns):\n\n",
        text("command"),
        text("commit"),
        json["cores"],
        text("cpu"),
        json["windows"]
    );
    md.push_str("| env | threads | shards | kernel threads | env steps/s | against 1 thread, 1 shard | against 1 thread, same shards |\n");
    md.push_str("|---|---:|---:|---:|---:|---:|---:|\n");
    let rows = json["rows"].as_array().cloned().unwrap_or_default();
    let num = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    for r in &rows {
        md.push_str(&format!(
            "| `{}` | {} | {} | {} | {:.0} | {:.2}× | {:.2}× |\n",
            r["env"].as_str().unwrap_or("?"),
            r["threads"],
            r["shards"],
            r["kernel_threads"],
            num(r, "env_steps_per_s"),
            num(r, "ratio_to_first"),
            num(r, "ratio_to_one_thread_same_shards"),
        ));
    }
    md.push('\n');
    for r in rows.iter().filter(|r| r["threads"] == 2 && r["shards"] == 2) {
        md.push_str(&format!(
            "On `{}`, 2 threads with 2 shards train at {:.2}× the rate of 1 thread with the same \
             shards (the same episodes), {:.2}× that of 1 thread and 1 shard.\n",
            r["env"].as_str().unwrap_or("?"),
            num(r, "ratio_to_one_thread_same_shards"),
            num(r, "ratio_to_first"),
        ));
    }
    md
}
