//! `spelunk-envs`: gridworlds and bandits for exploration research.
//!
//! - [`minigrid`]: the MiniGrid family with MiniGrid's exact observation encoding, actions,
//!   rewards and horizons, plus layout import from MiniGrid's full-grid encoding.
//! - [`montezuma`]: Montezuma-style levels from a documented text format (keys, doors,
//!   ladders, jewels, treasure, enemies, timed barriers, lives), three observation kinds, and
//!   a breadth-first planner.
//! - [`noisy_tv`]: a maze with four reward trackers and a TV in four noise settings.
//! - [`text`]: text views (observation space `Text`) of gridworlds and bandits.
//! - [`bandit`]: Bernoulli, Gaussian and linear contextual bandits with UCB1, Thompson
//!   sampling and ε-greedy baselines.
//!
//! [`registry`] returns a [`spelunk_core::Registry`] with every id of this crate.

pub mod bandit;
pub mod error;
pub mod minigrid;
pub mod montezuma;
pub mod noisy_tv;
pub mod text;

/// A registry with every environment id of this crate.
pub fn registry() -> spelunk_core::Registry {
    let mut reg = spelunk_core::Registry::new();
    minigrid::register(&mut reg);
    bandit::register(&mut reg);
    montezuma::register(&mut reg);
    noisy_tv::register(&mut reg);
    let base = reg.clone();
    text::register(&mut reg, &base);
    reg
}
