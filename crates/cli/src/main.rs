//! `spelunk`: the command line of the Spelunk runtime.
//!
//! - `spelunk bench` — headless benchmark suite (env steps/s single-thread and vectorized,
//!   bandit baselines' regret); table on stdout, JSON with `--json`.
//! - `spelunk envs` — registered environment ids with their spaces.
//! - `spelunk play ENV` — play a gridworld in the terminal.
//! - `spelunk explore` — exploration experiments with the intrinsic bonuses.

mod bench;
mod config;
mod envs_cmd;
mod explore;
mod play;
mod plot;
mod png;
mod raster;
mod train;
mod vla;

use clap::{Parser, Subcommand};

/// Every environment id: gridworlds, bandits and text views (`spelunk-envs`) and the physics
/// tasks (`spelunk-sims`).
pub fn registry() -> spelunk_core::Registry {
    let mut reg = spelunk_envs::registry();
    spelunk_sims::register(&mut reg);
    reg
}

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
    /// List environment ids with their spaces.
    Envs(envs_cmd::EnvsArgs),
    /// Run an exploration experiment with the intrinsic bonuses.
    Explore(explore::ExploreArgs),
    /// Play an environment in the terminal.
    Play(play::PlayArgs),
    /// Train a policy with GRPO.
    Train(train::TrainArgs),
    /// Evaluate a trained policy.
    Eval(train::EvalArgs),
}

fn main() {
    spelunk_models::keep_freed_heap();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(a) => bench::run(&a),
        Command::Envs(a) => envs_cmd::run(&a),
        Command::Explore(a) => explore::run(&a),
        Command::Play(a) => play::run(&a),
        Command::Train(a) => train::run(&a),
        Command::Eval(a) => train::eval(&a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
