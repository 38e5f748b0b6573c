//! `spelunk-envs`: gridworlds and bandits for exploration research.
//!
//! - [`minigrid`]: the MiniGrid family with MiniGrid's exact observation encoding, actions,
//!   rewards and horizons, plus layout import from MiniGrid's full-grid encoding.
//! - [`bandit`]: Bernoulli, Gaussian and linear contextual bandits with UCB1, Thompson
//!   sampling and ε-greedy baselines.
//!
//! [`registry`] returns a [`spelunk_core::Registry`] with every id of this crate.

pub mod bandit;
pub mod error;
pub mod minigrid;

/// A registry with every environment id of this crate.
pub fn registry() -> spelunk_core::Registry {
    let mut reg = spelunk_core::Registry::new();
    minigrid::register(&mut reg);
    bandit::register(&mut reg);
    reg
}
