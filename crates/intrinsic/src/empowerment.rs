//! Empowerment: the channel capacity from an agent's action sequences to the states they
//! lead to, `𝔈(s) = max_{ω(aⁿ)} I(Aⁿ; S_{t+n} | s_t = s)` (Klyubin, Polani & Nehaniv 2005;
//! Salge, Glackin & Polani 2014).
//!
//! - [`blahut_arimoto`] computes the capacity of any discrete channel `p(y | x)`
//!   (Blahut 1972; Arimoto 1972): with `D_x = Σ_y p(y|x) ln(p(y|x) / Σ_x' r_x' p(y|x'))`,
//!   iterate `r_x ← r_x e^{D_x} / Σ r e^{D}`; the capacity lies between
//!   `ln Σ_x r_x e^{D_x}` and `max_x D_x`, and iteration stops when they are within
//!   `tol_bits`. Natural logs inside, bits out.
//! - [`n_step`] builds the channel of an environment from a snapshot: every action sequence
//!   of length n is replayed from the snapshot and the resulting state keyed; with more
//!   than `max_sequences` sequences (`|A|ⁿ` grows fast) a uniform sample of sequences is
//!   used, which gives a lower bound. Restoring a snapshot restores the env's generator too,
//!   so each sequence has one outcome: the channel is the env's dynamics given its state.
//! - [`map`] evaluates it at many snapshots (the empowerment of every cell).
//!
//! Checks in the tests: a binary symmetric channel has capacity `1 − H(p)`; in a
//! deterministic grid the capacity is `log2` of the number of reachable states (an open cell
//! with 5 actions reaches 61 cells in 5 steps: 5.93 bits).

use std::collections::HashMap;

use spelunk_core::{Action, Env, ObsBuf, Rng, Snapshot};

use crate::{Error, Result};

/// A channel capacity and the input distribution that attains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Capacity {
    /// Capacity in bits (the lower bound at the last iteration).
    pub bits: f64,
    /// Upper bound minus lower bound at the last iteration, in bits.
    pub gap_bits: f64,
    /// The capacity-achieving input distribution.
    pub input: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
}

/// Capacity of the channel `p[x * outputs + y] = p(y | x)`; each row must sum to 1.
pub fn blahut_arimoto(
    p: &[f64],
    inputs: usize,
    outputs: usize,
    tol_bits: f64,
    max_iter: usize,
) -> Result<Capacity> {
    let bad = |message: String| Error::Config { module: "empowerment", message };
    if inputs == 0 || outputs == 0 || p.len() != inputs * outputs {
        return Err(bad(format!(
            "channel has {} entries for {inputs} inputs × {outputs} outputs",
            p.len()
        )));
    }
    for (x, row) in p.chunks_exact(outputs).enumerate() {
        let s: f64 = row.iter().sum();
        if row.iter().any(|v| !v.is_finite() || *v < 0.0) || (s - 1.0).abs() > 1e-6 {
            return Err(bad(format!("row {x} of the channel is not a distribution (sums to {s})")));
        }
    }
    let ln2 = std::f64::consts::LN_2;
    let mut r = vec![1.0 / inputs as f64; inputs];
    let mut q = vec![0.0; outputs];
    let mut d = vec![0.0; inputs];
    let (mut lower, mut upper) = (0.0, f64::INFINITY);
    let mut it = 0;
    while it < max_iter.max(1) {
        it += 1;
        q.fill(0.0);
        for (x, row) in p.chunks_exact(outputs).enumerate() {
            for (qy, &pyx) in q.iter_mut().zip(row) {
                *qy += r[x] * pyx;
            }
        }
        for (x, row) in p.chunks_exact(outputs).enumerate() {
            d[x] = row
                .iter()
                .zip(&q)
                .filter(|(pyx, _)| **pyx > 0.0)
                .map(|(pyx, qy)| pyx * (pyx / qy).ln())
                .sum();
        }
        let z: f64 = r.iter().zip(&d).map(|(rx, dx)| rx * dx.exp()).sum();
        lower = z.ln();
        upper = d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if (upper - lower) / ln2 < tol_bits {
            break;
        }
        for (rx, dx) in r.iter_mut().zip(&d) {
            *rx *= dx.exp() / z;
        }
    }
    Ok(Capacity {
        bits: lower.max(0.0) / ln2,
        gap_bits: (upper - lower).max(0.0) / ln2,
        input: r,
        iterations: it,
    })
}

/// Settings of [`n_step`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NStepConfig {
    /// Sequence length n.
    pub horizon: usize,
    /// Enumerate all `|A|ⁿ` sequences up to this many; sample this many otherwise.
    pub max_sequences: usize,
    /// Seed of the sequence sample.
    pub seed: u64,
    /// Stop Blahut–Arimoto when the bounds are this close (bits).
    pub tol_bits: f64,
}

impl Default for NStepConfig {
    fn default() -> Self {
        Self { horizon: 5, max_sequences: 4096, seed: 0, tol_bits: 1e-6 }
    }
}

/// n-step empowerment of an env at a snapshot, in bits. `key` names the state an env is in
/// (for example its `info` position and room); states with equal keys are one outcome.
pub fn n_step(
    env: &mut dyn Env,
    from: &Snapshot,
    config: &NStepConfig,
    key: &dyn Fn(&dyn Env) -> u64,
) -> Result<Capacity> {
    let Some(n_actions) = env.action_space().n() else {
        return Err(Error::Config {
            module: "empowerment",
            message: format!("{} has no discrete action space", env.id()),
        });
    };
    let n_actions = n_actions as usize;
    let total = (n_actions as f64).powi(config.horizon as i32);
    let sequences: Vec<Vec<i64>> = if total <= config.max_sequences as f64 {
        (0..total as usize)
            .map(|mut code| {
                (0..config.horizon)
                    .map(|_| {
                        let a = code % n_actions;
                        code /= n_actions;
                        a as i64
                    })
                    .collect()
            })
            .collect()
    } else {
        let mut rng = Rng::seed_from_u64(config.seed);
        (0..config.max_sequences)
            .map(|_| (0..config.horizon).map(|_| rng.below(n_actions as u64) as i64).collect())
            .collect()
    };
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut outcome_ids: HashMap<u64, usize> = HashMap::new();
    let mut outcomes = Vec::with_capacity(sequences.len());
    for seq in &sequences {
        env.restore(from)?;
        for &a in seq {
            let s = env.step(Action::Discrete(a), obs.as_mut())?;
            if s.terminated || s.truncated {
                break;
            }
        }
        let k = key(env);
        let next = outcome_ids.len();
        outcomes.push(*outcome_ids.entry(k).or_insert(next));
    }
    env.restore(from)?;
    let outputs = outcome_ids.len();
    let mut p = vec![0.0; sequences.len() * outputs];
    for (x, &y) in outcomes.iter().enumerate() {
        p[x * outputs + y] = 1.0;
    }
    blahut_arimoto(&p, sequences.len(), outputs, config.tol_bits, 10_000)
}

/// Empowerment at each snapshot (a map, when the snapshots are the cells of a level).
pub fn map(
    env: &mut dyn Env,
    snapshots: &[Snapshot],
    config: &NStepConfig,
    key: &dyn Fn(&dyn Env) -> u64,
) -> Result<Vec<f64>> {
    snapshots.iter().map(|s| n_step(env, s, config, key).map(|c| c.bits)).collect()
}

/// A state key from an env's typed info: level, room, column and row.
pub fn position_key(env: &dyn Env) -> u64 {
    let i = env.info();
    let part = |v: Option<i64>| (v.unwrap_or(-1) as u64) & 0xFFFF;
    part(i.level.map(i64::from)) << 48
        | part(i.room.map(i64::from)) << 32
        | part(i.x.map(i64::from)) << 16
        | part(i.y.map(i64::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h2(p: f64) -> f64 {
        -(p * p.log2() + (1.0 - p) * (1.0 - p).log2())
    }

    #[test]
    fn binary_symmetric_channel_has_capacity_one_minus_entropy() {
        for p in [0.0, 0.05, 0.1, 0.3] {
            let ch = [1.0 - p, p, p, 1.0 - p];
            let c = blahut_arimoto(&ch, 2, 2, 1e-9, 10_000).expect("capacity");
            let want = if p == 0.0 { 1.0 } else { 1.0 - h2(p) };
            assert!((c.bits - want).abs() < 1e-6, "p = {p}: {} vs {want}", c.bits);
            assert!((c.input[0] - 0.5).abs() < 1e-6, "uniform input is optimal");
        }
        let c = blahut_arimoto(&[0.5, 0.5, 0.5, 0.5], 2, 2, 1e-9, 100).expect("capacity");
        assert!(c.bits.abs() < 1e-9, "a useless channel carries nothing");
    }

    #[test]
    fn z_channel_matches_its_closed_form() {
        // Input 0 always arrives; input 1 flips to 0 with probability p.
        for p in [0.1, 0.5, 0.9] {
            let ch = [1.0, 0.0, p, 1.0 - p];
            let c = blahut_arimoto(&ch, 2, 2, 1e-10, 100_000).expect("capacity");
            let want = (1.0 + (1.0 - p) * p.powf(p / (1.0 - p))).log2();
            assert!((c.bits - want).abs() < 1e-6, "p = {p}: {} vs {want}", c.bits);
        }
    }

    #[test]
    fn deterministic_channels_carry_log2_of_their_outputs() {
        // 6 inputs onto 4 outputs (two pairs merge): log2(4) = 2 bits.
        let map = [0, 1, 2, 3, 3, 0];
        let mut ch = vec![0.0; 6 * 4];
        for (x, &y) in map.iter().enumerate() {
            ch[x * 4 + y] = 1.0;
        }
        let c = blahut_arimoto(&ch, 6, 4, 1e-9, 10_000).expect("capacity");
        assert!((c.bits - 2.0).abs() < 1e-6, "{}", c.bits);
    }

    #[test]
    fn malformed_channels_are_errors() {
        assert!(blahut_arimoto(&[0.5, 0.4], 1, 2, 1e-6, 10).is_err());
        assert!(blahut_arimoto(&[f64::NAN, 1.0], 1, 2, 1e-6, 10).is_err());
        assert!(blahut_arimoto(&[1.0], 2, 2, 1e-6, 10).is_err());
    }
}
