//! `spelunk`: the command line of the Spelunk runtime.
//!
//! - `spelunk bench` — headless benchmark suite (env steps/s single-thread and vectorized,
//!   bandit baselines' regret); table on stdout, JSON with `--json`.
//! - `spelunk envs` — registered environment ids with their spaces.
//! - `spelunk play ENV` — play a gridworld in the terminal.
//! - `spelunk record ENV` — episodes of a random, scripted or trained actor to a Rerun
//!   recording (`--rerun`, also on play, explore, train and eval), JSON lines or episode
//!   files; `spelunk replay FILE…` re-simulates episode files and checks every state.
//! - `spelunk view …` — the Bevy viewer (`spelunk-viewer`, a binary built on its own).
//! - `spelunk explore` — exploration experiments with the intrinsic bonuses, Go-Explore runs.
//! - `spelunk train` / `spelunk eval` — GRPO/PPO runs and their evaluation, experiments.
//!
//! The work lives in the library crates (`spelunk-experiments` and below); this binary parses
//! arguments and prints.

/// `println!` for the commands' output. A reader that stops early (`spelunk envs | head -1`)
/// is not an error: what follows is dropped and the command finishes its work (files it writes,
/// an arm the bridge is driving to an orderly stop), where `println!` would panic (Rust ignores
/// SIGPIPE, so the write fails instead).
macro_rules! outln {
    () => { $crate::write_out(format_args!(""), true) };
    ($($t:tt)*) => { $crate::write_out(format_args!($($t)*), true) };
}

/// `print!` for the commands' output (see [`outln!`]).
macro_rules! out {
    ($($t:tt)*) => { $crate::write_out(format_args!($($t)*), false) };
}

mod bench;
mod bridge;
#[cfg(feature = "lerobot")]
mod dataset;
mod envs_cmd;
mod explore;
mod export;
mod play;
mod record;
mod train;
mod view;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "spelunk",
    version,
    about = "Exploration-first RL runtime: environments, benchmarks, play"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the headless benchmark suite.
    Bench(bench::BenchArgs),
    /// Drive a robot arm (or the simulated one) with a policy, safely.
    Bridge(bridge::BridgeArgs),
    /// Read and check a LeRobot dataset (`--env`: against an env).
    #[cfg(feature = "lerobot")]
    Dataset(dataset::DatasetArgs),
    /// List environment ids with their spaces.
    Envs(envs_cmd::EnvsArgs),
    /// Export a training run's policy (MLP or CNN head) as an ONNX model.
    Export(export::ExportArgs),
    /// Run an exploration experiment with the intrinsic bonuses.
    Explore(explore::ExploreArgs),
    /// Play an environment in the terminal.
    Play(play::PlayArgs),
    /// Record episodes (random, scripted or a trained run) to Rerun, JSON lines, episode files or
    /// a LeRobot dataset.
    Record(record::RecordArgs),
    /// Re-simulate episode files, checking every state against the recording.
    Replay(record::ReplayArgs),
    /// Train a policy with GRPO.
    Train(train::TrainArgs),
    /// Evaluate a trained policy.
    Eval(train::EvalArgs),
    /// Open the Bevy viewer (`spelunk-viewer`, built on its own): replay, watch, teleop.
    #[command(disable_help_flag = true)]
    View(view::ViewArgs),
}

fn main() {
    spelunk_models::keep_freed_heap();
    spelunk_models::kernels_on_one_thread();
    let cli = Cli::parse();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let commits = match &cli.command {
        Command::Train(a) => a.is_single_run(),
        Command::Explore(a) => a.is_single_run(),
        _ => false,
    };
    if commits {
        on_ctrl_c(&stop);
    }
    let result = match cli.command {
        Command::Bench(a) => bench::run(&a),
        Command::Bridge(a) => bridge::run(&a),
        #[cfg(feature = "lerobot")]
        Command::Dataset(a) => dataset::run(&a),
        Command::Envs(a) => envs_cmd::run(&a),
        Command::Explore(a) => explore::run(&a),
        Command::Export(a) => export::run(&a),
        Command::Play(a) => play::run(&a),
        Command::Record(a) => record::run(&a),
        Command::Replay(a) => record::replay(&a),
        Command::Train(a) => train::run(&a),
        Command::Eval(a) => train::eval(&a),
        Command::View(a) => view::run(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        // 130: stopped by Ctrl-C, as a shell reports it.
        let interrupted = stop.load(std::sync::atomic::Ordering::SeqCst);
        std::process::exit(if interrupted { 130 } else { 1 });
    }
    if STDOUT_FAILED.load(std::sync::atomic::Ordering::Relaxed) {
        std::process::exit(1);
    }
}

/// Set once stdout has failed: later output is dropped.
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set when it failed for a reason other than a closed pipe (a full disk): the command exits 1.
static STDOUT_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Write to stdout unless it has failed before; the first failure other than a closed pipe is
/// reported on stderr.
fn write_out(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write;
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut o = std::io::stdout().lock();
    let written =
        o.write_fmt(args).and_then(|()| if newline { o.write_all(b"\n") } else { Ok(()) });
    if let Err(e) = written {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            STDOUT_FAILED.store(true, Ordering::Relaxed);
            eprintln!("error: writing to standard output: {e} (the rest of the output is dropped)");
        }
    }
}

/// Ctrl-C in a run that commits to a run folder (`train`, `explore --method go-explore`):
/// the first asks it to commit and stop after the iteration in progress (see
/// `spelunk_experiments::run_dir`); a second quits at once. Other commands keep the default
/// (Ctrl-C stops them at once).
fn on_ctrl_c(stop: &std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    let sig = signal_hook::consts::SIGINT;
    // Registered first, so it runs before the flag is set: exits when the flag already is.
    let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(stop));
    let _ = signal_hook::flag::register(sig, Arc::clone(stop));
    let watch = Arc::clone(stop);
    let _ = std::thread::Builder::new().name("ctrl-c".into()).spawn(move || loop {
        if watch.load(Ordering::SeqCst) {
            spelunk_experiments::run_dir::interrupt();
            eprintln!("\nCtrl-C: committing after this iteration (Ctrl-C again quits at once)");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    });
}
