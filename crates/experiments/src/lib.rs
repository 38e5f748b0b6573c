//! `spelunk-experiments`: everything the `spelunk` command does, callable from Rust.
//!
//! - [`bench`](mod@bench): the headless benchmark suite (env steps/s on 1 and N threads, bandit regret).
//! - [`train`]: the run loop over the GRPO/PPO trainer, telling [`spelunk_core::Observer`]s
//!   what happens (run started, iteration metrics, run finished); a run folder with
//!   JSON-lines metrics, checkpoints and resume; evaluation; the sparse-reward experiment.
//! - [`run_dir`]: the run folder contract (a manifest committed last, every file checked on
//!   resume, metrics cut back to the commit, Ctrl-C commits and stops) and its
//!   [`run_dir::Commits`] observer.
//! - [`observers`]: the observers run folders use — [`observers::JsonLines`],
//!   [`observers::Progress`]. Add your own beside them.
//! - [`explore`]: reward-free exploration experiments (noisy TV, coverage) on one tabular
//!   planner; Go-Explore runs on any env id or level file and the Go-Explore → shorten →
//!   robustify pipeline ([`explore::go_explore`]); STAX and novelty search.
//! - [`record`]: episodes played by a random, scripted or trained actor (or replayed) and
//!   told to observers step by step, with intrinsic bonuses computed along them.
//! - [`vla`]: the VLA head on instruction-following Reach.
//! - [`provenance`]: the command, commit and machine every published report carries.
//! - [`report`]: curve averaging, mean and spread, PNG and SVG charts.
//! - [`config`]: config files and `--set key=value`, one grammar for every command.
//!
//! Experiments write their artifacts (JSON, Markdown, charts) into a folder and return a line
//! saying what they wrote; they print nothing to stdout.

pub mod bench;
pub mod bridge;
pub mod budget;
pub mod config;
pub mod error;
pub mod explore;
pub mod export;
pub mod observers;
/// Re-exported from `spelunk-core` so reports here and elsewhere carry the same record.
pub use spelunk_core::provenance;
pub mod record;
pub mod report;
pub mod run_dir;
pub mod train;
pub mod view;
pub mod vla;
#[cfg(feature = "lerobot")]
pub mod vla_bc;

pub use error::{Error, Result};

/// Every environment id: gridworlds, bandits and text views (`spelunk-envs`) and the physics
/// tasks (`spelunk-sims`).
pub fn registry() -> spelunk_core::Registry {
    let mut reg = spelunk_envs::registry();
    spelunk_sims::register(&mut reg);
    reg
}
