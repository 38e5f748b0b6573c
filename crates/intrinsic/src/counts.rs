//! Count-based exploration bonuses: `r⁺(s') = β / √n(s')`.
//!
//! - [`Counts::tabular`]: `n` counts exact observations (each `f32` row hashed by its bit
//!   pattern with a 64-bit FNV-1a; collisions are astronomically unlikely for gridworld
//!   observations). The MBIE-EB-style bonus of Strehl & Littman (2008).
//! - [`Counts::simhash`]: pseudo-counts over SimHash codes `sgn(A g(s)) ∈ {−1, 1}^k`, with
//!   `A` a `k × d` matrix of `N(0, 1)` draws (Tang et al. 2017, "#Exploration", §2.2),
//!   `g` the identity here. Defaults: `β = 0.01`, `k = 64` (the paper's values for Atari
//!   pixels range over 64–256; smaller `k` merges more states).
//!
//! `on_step` increments the count of each next observation; `compute` then reads
//! `β / √max(n, 1)`, so the first visit of a state earns `β`.

use std::collections::HashMap;

use spelunk_core::{ByteWriter, Rng};

use crate::{Batch, Error, IntrinsicReward, ModuleState, Result};

const VERSION: u32 = 1;

/// How observations are mapped to counted keys.
#[derive(Clone, Debug, PartialEq)]
enum Key {
    Exact,
    SimHash { k: usize, projection: Vec<f32> },
}

/// A count-based bonus.
#[derive(Clone, Debug)]
pub struct Counts {
    obs_dim: usize,
    beta: f32,
    key: Key,
    visits: HashMap<u64, u32>,
}

fn fnv(values: &[f32]) -> u64 {
    let mut d = spelunk_core::Digest::new();
    d.f32s(values);
    d.value()
}

impl Counts {
    /// Exact-state counts.
    pub fn tabular(obs_dim: usize, beta: f32) -> Result<Self> {
        Self::build(obs_dim, beta, Key::Exact)
    }

    /// SimHash pseudo-counts with `k` bits; the projection is drawn from `seed`.
    pub fn simhash(obs_dim: usize, beta: f32, k: usize, seed: u64) -> Result<Self> {
        if k == 0 || k > 64 {
            return Err(Error::Config {
                module: "counts",
                message: format!("SimHash bits k must be in 1..=64, got {k}"),
            });
        }
        let mut rng = Rng::seed_from_u64(seed);
        let projection = (0..k * obs_dim).map(|_| rng.normal() as f32).collect();
        Self::build(obs_dim, beta, Key::SimHash { k, projection })
    }

    fn build(obs_dim: usize, beta: f32, key: Key) -> Result<Self> {
        if obs_dim == 0 {
            return Err(Error::Config { module: "counts", message: "obs_dim is 0".into() });
        }
        if !(beta.is_finite() && beta >= 0.0) {
            return Err(Error::Config {
                module: "counts",
                message: format!("beta must be finite and ≥ 0, got {beta}"),
            });
        }
        Ok(Self { obs_dim, beta, key, visits: HashMap::new() })
    }

    fn key_of(&self, row: &[f32]) -> u64 {
        match &self.key {
            Key::Exact => fnv(row),
            Key::SimHash { k, projection } => {
                let mut bits = 0u64;
                for b in 0..*k {
                    let w = &projection[b * self.obs_dim..(b + 1) * self.obs_dim];
                    let dot: f32 = w.iter().zip(row).map(|(a, x)| a * x).sum();
                    bits |= u64::from(dot > 0.0) << b;
                }
                bits
            }
        }
    }

    /// Visits of the state an observation maps to.
    pub fn count(&self, obs: &[f32]) -> u32 {
        self.visits.get(&self.key_of(obs)).copied().unwrap_or(0)
    }

    /// Number of distinct keys seen.
    pub fn distinct(&self) -> usize {
        self.visits.len()
    }
}

impl IntrinsicReward for Counts {
    fn name(&self) -> &'static str {
        match self.key {
            Key::Exact => "counts",
            Key::SimHash { .. } => "simhash-counts",
        }
    }
    fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    fn on_step(&mut self, batch: &Batch<'_>) -> Result<()> {
        batch.validate(self.name(), self.obs_dim)?;
        for row in batch.next_obs.chunks_exact(self.obs_dim) {
            let k = self.key_of(row);
            let c = self.visits.entry(k).or_insert(0);
            *c = c.saturating_add(1);
        }
        Ok(())
    }
    fn compute(&mut self, batch: &Batch<'_>, out: &mut [f32]) -> Result<()> {
        batch.validate_out(self.name(), self.obs_dim, out)?;
        for (o, row) in out.iter_mut().zip(batch.next_obs.chunks_exact(self.obs_dim)) {
            let n = self.count(row).max(1);
            *o = self.beta / (n as f32).sqrt();
        }
        Ok(())
    }
    fn save(&self) -> Result<ModuleState> {
        let mut w = ByteWriter::new();
        w.u32(self.obs_dim as u32);
        w.f32(self.beta);
        match &self.key {
            Key::Exact => w.u32(0),
            Key::SimHash { k, projection } => {
                w.u32(*k as u32);
                for v in projection {
                    w.f32(*v);
                }
            }
        }
        let mut entries: Vec<(u64, u32)> = self.visits.iter().map(|(k, v)| (*k, *v)).collect();
        entries.sort_unstable();
        w.u64(entries.len() as u64);
        for (k, v) in entries {
            w.u64(k);
            w.u32(v);
        }
        let snap = w.finish(self.name());
        Ok(ModuleState { module: self.name().into(), version: VERSION, bytes: snap.bytes })
    }
    fn load(&mut self, state: &ModuleState) -> Result<()> {
        let mut r = state.expect(self.name(), VERSION)?;
        let bad = |e: spelunk_core::Error| Error::Checkpoint(e.to_string());
        let obs_dim = r.u32().map_err(bad)? as usize;
        if obs_dim != self.obs_dim {
            return Err(Error::Checkpoint(format!(
                "state has obs_dim {obs_dim}, this module {}",
                self.obs_dim
            )));
        }
        let beta = r.f32().map_err(bad)?;
        let k = r.u32().map_err(bad)? as usize;
        let key = match (&self.key, k) {
            (Key::Exact, 0) => Key::Exact,
            (Key::SimHash { k: mine, .. }, k) if *mine == k => {
                let projection = (0..k * obs_dim)
                    .map(|_| r.f32())
                    .collect::<spelunk_core::Result<Vec<f32>>>()
                    .map_err(bad)?;
                Key::SimHash { k, projection }
            }
            _ => {
                return Err(Error::Checkpoint(format!(
                    "state hashes with k = {k}, this module differs"
                )))
            }
        };
        let n = r.u64().map_err(bad)?;
        let mut counts = HashMap::with_capacity(n.min(1 << 20) as usize);
        for _ in 0..n {
            counts.insert(r.u64().map_err(bad)?, r.u32().map_err(bad)?);
        }
        r.finish().map_err(bad)?;
        self.beta = beta;
        self.key = key;
        self.visits = counts;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchActions;

    fn step(c: &mut Counts, rows: &[f32]) -> Vec<f32> {
        let n = rows.len() / c.obs_dim();
        let actions = vec![0i64; n];
        let b = Batch {
            obs: rows,
            actions: BatchActions::Discrete(&actions),
            next_obs: rows,
            obs_dim: c.obs_dim(),
        };
        c.on_step(&b).expect("on_step");
        let mut out = vec![0.0; n];
        c.compute(&b, &mut out).expect("compute");
        out
    }

    #[test]
    fn bonus_is_beta_over_sqrt_count() {
        let mut c = Counts::tabular(2, 0.5).expect("counts");
        for n in 1..=9u32 {
            let out = step(&mut c, &[1.0, 2.0]);
            assert!((out[0] - 0.5 / (n as f32).sqrt()).abs() < 1e-6);
        }
        // Two envs in the same new state both count.
        let out = step(&mut c, &[3.0, 3.0, 3.0, 3.0]);
        assert!((out[0] - 0.5 / 2f32.sqrt()).abs() < 1e-6, "{out:?}");
        assert_eq!(c.distinct(), 2);
    }

    #[test]
    fn simhash_merges_scaled_states_and_round_trips() {
        let mut c = Counts::simhash(4, 0.01, 16, 7).expect("counts");
        step(&mut c, &[1.0, -2.0, 0.5, 3.0]);
        // A positive rescaling keeps every sign of A·s: same code.
        assert_eq!(c.count(&[2.0, -4.0, 1.0, 6.0]), 1);
        let saved = c.save().expect("save");
        let mut d = Counts::simhash(4, 0.01, 16, 7).expect("counts");
        d.load(&saved).expect("load");
        assert_eq!(d.count(&[1.0, -2.0, 0.5, 3.0]), 1);
        let mut e = Counts::tabular(4, 0.01).expect("counts");
        assert!(e.load(&saved).expect_err("other module").to_string().contains("simhash-counts"));
    }

    #[test]
    fn nan_and_shape_errors() {
        let mut c = Counts::tabular(2, 1.0).expect("counts");
        let a = [0i64];
        let bad = [f32::NAN, 0.0];
        let b =
            Batch { obs: &bad, actions: BatchActions::Discrete(&a), next_obs: &bad, obs_dim: 2 };
        assert!(c.on_step(&b).expect_err("nan").to_string().contains("non-finite"));
        let rows = [0.0, 0.0, 0.0];
        let b =
            Batch { obs: &rows, actions: BatchActions::Discrete(&a), next_obs: &rows, obs_dim: 3 };
        assert!(c.on_step(&b).expect_err("shape").to_string().contains("built for 2"));
        assert!(Counts::simhash(2, 1.0, 0, 0).is_err());
        assert!(Counts::tabular(2, f32::NAN).is_err());
    }
}
