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

/// The variational estimate of empowerment for environments too large to enumerate
/// (Mohamed & Rezende 2015; Gregor, Rezende & Wierstra 2016): a source policy `ω(aⁿ | s)` and
/// an inverse model `q(aⁿ | s, s')` trained to maximise the lower bound
/// `𝔈(s) ≥ E_{aⁿ ~ ω}[ln q(aⁿ | s, s') − ln ω(aⁿ | s)]`.
///
/// Here the expectation over `aⁿ` is summed exactly over the action sequences given for each
/// state (their outcomes come from the env), so the bound is differentiable in both networks
/// without a score-function estimator; it is tight when `q` is the posterior and `ω` the
/// capacity-achieving distribution, where it equals the Blahut–Arimoto value.
pub mod variational {
    use spelunk_models::{Activation, Adam, AdamConfig, Device, Mlp, ParamStore, Tensor};

    use crate::neural::{self, candle_err, model_err};
    use crate::{Error, Result};

    /// One state: its features and the features reached by each action sequence.
    #[derive(Clone, Debug)]
    pub struct StateOutcomes {
        /// Features of the state.
        pub state: Vec<f32>,
        /// Features after each of the `sequences` action sequences, in sequence order.
        pub outcomes: Vec<Vec<f32>>,
    }

    /// Settings.
    #[derive(Clone, Debug, PartialEq)]
    pub struct VariationalConfig {
        /// Features per state.
        pub obs_dim: usize,
        /// Number of action sequences.
        pub sequences: usize,
        /// Hidden sizes of both networks.
        pub hidden: Vec<usize>,
        /// Optimiser.
        pub optimizer: AdamConfig,
        /// Seed.
        pub seed: u64,
    }

    /// Source policy and inverse model.
    pub struct Variational {
        config: VariationalConfig,
        device: Device,
        params: ParamStore,
        source: Mlp,
        inverse: Mlp,
        opt: Adam,
    }

    impl Variational {
        /// Build.
        pub fn new(config: VariationalConfig) -> Result<Self> {
            if config.obs_dim == 0 || config.sequences < 2 {
                return Err(Error::Config {
                    module: "variational-empowerment",
                    message: "obs_dim ≥ 1 and at least 2 sequences".into(),
                });
            }
            let me = model_err("variational-empowerment");
            let device = Device::Cpu;
            let mut params = ParamStore::new(&device, config.seed);
            let source = Mlp::new(
                &mut params,
                "source",
                config.obs_dim,
                &config.hidden,
                config.sequences,
                Activation::Relu,
            )
            .map_err(&me)?;
            let inverse = Mlp::new(
                &mut params,
                "inverse",
                2 * config.obs_dim,
                &config.hidden,
                config.sequences,
                Activation::Relu,
            )
            .map_err(&me)?;
            let opt = Adam::new(&params, config.optimizer).map_err(&me)?;
            Ok(Self { config, device, params, source, inverse, opt })
        }

        /// The parameters (for gradient checks).
        pub fn params(&self) -> &ParamStore {
            &self.params
        }

        /// The bound per state in nats, `[states]`.
        pub fn bound(&self, data: &[StateOutcomes]) -> Result<Tensor> {
            let ce = candle_err("variational-empowerment");
            let me = model_err("variational-empowerment");
            let (d, k) = (self.config.obs_dim, self.config.sequences);
            let mut s = Vec::with_capacity(data.len() * d);
            let mut pairs = Vec::with_capacity(data.len() * k * 2 * d);
            for st in data {
                if st.state.len() != d
                    || st.outcomes.len() != k
                    || st.outcomes.iter().any(|o| o.len() != d)
                {
                    return Err(Error::Shape {
                        module: "variational-empowerment",
                        message: format!("each state needs {d} features and {k} outcomes of {d}"),
                    });
                }
                s.extend_from_slice(&st.state);
                for o in &st.outcomes {
                    pairs.extend_from_slice(&st.state);
                    pairs.extend_from_slice(o);
                }
            }
            let n = data.len();
            let s = neural::rows(&s, d, &self.device).map_err(&ce)?;
            let logw = neural::log_softmax(&self.source.forward(&s).map_err(&me)?).map_err(&ce)?; // [n, k]
            let pairs = neural::rows(&pairs, 2 * d, &self.device).map_err(&ce)?;
            let logq_all =
                neural::log_softmax(&self.inverse.forward(&pairs).map_err(&me)?).map_err(&ce)?; // [n*k, k]
                                                                                                // ln q(a | s, s'_a): the diagonal of each state's k × k block.
            let eye = Tensor::eye(k, candle_core::DType::F32, &self.device).map_err(&ce)?;
            let logq = logq_all
                .reshape((n, k, k))
                .and_then(|t| t.broadcast_mul(&eye))
                .and_then(|t| t.sum(2))
                .map_err(&ce)?; // [n, k]
            let w = logw.exp().map_err(&ce)?;
            ((logq - &logw).and_then(|x| x * w)).and_then(|x| x.sum(1)).map_err(ce)
        }

        /// Maximise the mean bound over `data` for `steps` Adam steps; returns the final mean
        /// bound in bits.
        pub fn fit(&mut self, data: &[StateOutcomes], steps: usize) -> Result<f64> {
            let ce = candle_err("variational-empowerment");
            let mut last = 0.0;
            for _ in 0..steps {
                let b = self.bound(data)?.mean_all().map_err(&ce)?;
                last = f64::from(b.to_scalar::<f32>().map_err(&ce)?);
                let loss = b.neg().map_err(&ce)?;
                self.opt.backward_step(&loss).map_err(model_err("variational-empowerment"))?;
            }
            Ok(last / std::f64::consts::LN_2)
        }

        /// The bound of each state in bits.
        pub fn bits(&self, data: &[StateOutcomes]) -> Result<Vec<f64>> {
            let v = self
                .bound(data)?
                .to_vec1::<f32>()
                .map_err(candle_err("variational-empowerment"))?;
            Ok(v.into_iter().map(|x| f64::from(x) / std::f64::consts::LN_2).collect())
        }
    }
}
