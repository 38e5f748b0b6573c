//! Policy heads: observations in, a distribution over **action tokens** out.
//!
//! A discrete action is one token of `n`. A continuous action is one token per dimension,
//! each of `bins` (256 by default, as OpenVLA bins robot actions) uniform bins between the
//! dimension's low and high bounds — the space's own bounds, or the 1st and 99th percentiles of
//! a dataset of actions, as OpenVLA normalises — decoded back to the bin's centre. So every
//! head gives `[batch, dims, vocab]` logits and the GRPO core sees only tokens.
//!
//! [`MlpPolicy`] is the head for state observations: an MLP from the flat observation to
//! `dims × vocab` logits. The log-softmax and entropy here are built from differentiable ops
//! (max, sub, exp, sum, log), not candle's fused softmax, which has no backward pass.

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};
use spelunk_core::Space;

use crate::{Activation, Error, Mlp, ParamStore, Result};

/// How actions become tokens and back.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ActionCodec {
    /// One token of `n`.
    Discrete {
        /// Number of actions.
        n: usize,
        /// The first action's value (Gymnasium's `start`).
        #[serde(default)]
        start: i64,
    },
    /// One token per dimension, `bins` uniform bins in `[low, high]`.
    Binned {
        /// Bins per dimension.
        bins: usize,
        /// Lower edge per dimension.
        low: Vec<f32>,
        /// Upper edge per dimension.
        high: Vec<f32>,
    },
}

impl ActionCodec {
    /// The codec of an action space: `Discrete` as is, a finite `Box` binned over its bounds.
    pub fn for_space(space: &Space, bins: usize) -> Result<Self> {
        match space {
            Space::Discrete { n, start } => Ok(Self::Discrete { n: *n as usize, start: *start }),
            Space::Box { low, high, .. } => {
                if bins < 2 {
                    return Err(Error::Config(format!("bins must be at least 2, got {bins}")));
                }
                if low.iter().chain(high).any(|x| !x.is_finite()) {
                    return Err(Error::Config(
                        "an unbounded Box needs bounds from data (ActionCodec::from_actions)"
                            .into(),
                    ));
                }
                Ok(Self::Binned { bins, low: low.clone(), high: high.clone() })
            }
            other => Err(Error::Config(format!("no action codec for {other:?}"))),
        }
    }

    /// Bins between the 1st and 99th percentile of each dimension of `actions` (rows of
    /// `dims` values), as OpenVLA normalises robot actions.
    pub fn from_actions(actions: &[f32], dims: usize, bins: usize) -> Result<Self> {
        if dims == 0 || actions.is_empty() || actions.len() % dims != 0 {
            return Err(Error::Config(format!(
                "{} values are not rows of {dims} dimensions",
                actions.len()
            )));
        }
        let mut low = Vec::with_capacity(dims);
        let mut high = Vec::with_capacity(dims);
        for d in 0..dims {
            let mut col: Vec<f32> = actions.iter().skip(d).step_by(dims).copied().collect();
            col.sort_by(f32::total_cmp);
            let at = |q: f64| col[((col.len() - 1) as f64 * q).round() as usize];
            let (lo, hi) = (at(0.01), at(0.99));
            low.push(lo);
            high.push(if hi > lo { hi } else { lo + 1e-3 });
        }
        Ok(Self::Binned { bins, low, high })
    }

    /// Tokens per action.
    pub fn dims(&self) -> usize {
        match self {
            Self::Discrete { .. } => 1,
            Self::Binned { low, .. } => low.len(),
        }
    }

    /// Tokens per dimension.
    pub fn vocab(&self) -> usize {
        match self {
            Self::Discrete { n, .. } => *n,
            Self::Binned { bins, .. } => *bins,
        }
    }

    /// The value of token `token` of dimension `d` (a discrete action's index, a bin's centre).
    pub fn decode(&self, d: usize, token: u32) -> f32 {
        match self {
            Self::Discrete { start, .. } => (i64::from(token) + start) as f32,
            Self::Binned { bins, low, high } => {
                low[d] + (token as f32 + 0.5) / *bins as f32 * (high[d] - low[d])
            }
        }
    }

    /// The token of value `x` in dimension `d` (clipped into range).
    pub fn encode(&self, d: usize, x: f32) -> u32 {
        match self {
            Self::Discrete { n, start } => (((x as i64) - start).max(0) as u32).min(*n as u32 - 1),
            Self::Binned { bins, low, high } => {
                let u = ((x - low[d]) / (high[d] - low[d])).clamp(0.0, 1.0);
                ((u * *bins as f32) as u32).min(*bins as u32 - 1)
            }
        }
    }
}

/// A head that maps a batch of observations to action-token logits.
pub trait Policy {
    /// `[batch, obs] → [batch, dims, vocab]` logits.
    fn logits(&self, obs: &Tensor) -> Result<Tensor>;
    /// The codec.
    fn codec(&self) -> &ActionCodec;
    /// The trainable parameters.
    fn params(&self) -> &ParamStore;
}

/// `log softmax` over the last dimension, from differentiable ops.
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// Log-probabilities of `tokens` (`[batch, dims]`, u32) and the entropy per token, both
/// `[batch, dims]`.
pub fn token_logp_entropy(logits: &Tensor, tokens: &Tensor) -> Result<(Tensor, Tensor)> {
    let logp_all = log_softmax(logits)?;
    let chosen = logp_all.gather(&tokens.unsqueeze(D::Minus1)?, D::Minus1)?.squeeze(D::Minus1)?;
    let entropy = (logp_all.exp()? * &logp_all)?.sum(D::Minus1)?.neg()?;
    Ok((chosen, entropy))
}

/// Settings of [`MlpPolicy`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpPolicyConfig {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Nonlinearity.
    pub activation: Activation,
    /// Bins per continuous dimension.
    pub bins: usize,
}

impl Default for MlpPolicyConfig {
    fn default() -> Self {
        Self { hidden: vec![64, 64], activation: Activation::Tanh, bins: 256 }
    }
}

/// An MLP head over flat observations.
#[derive(Debug)]
pub struct MlpPolicy {
    params: ParamStore,
    mlp: Mlp,
    codec: ActionCodec,
    /// Observation size.
    pub obs_dim: usize,
}

impl MlpPolicy {
    /// A fresh head, parameters drawn from `seed`.
    pub fn new(
        obs_dim: usize,
        codec: ActionCodec,
        config: &MlpPolicyConfig,
        device: &candle_core::Device,
        seed: u64,
    ) -> Result<Self> {
        let mut params = ParamStore::new(device, seed);
        let out = codec.dims() * codec.vocab();
        let mlp = Mlp::new(&mut params, "policy", obs_dim, &config.hidden, out, config.activation)?;
        Ok(Self { params, mlp, codec, obs_dim })
    }
}

impl Policy for MlpPolicy {
    fn logits(&self, obs: &Tensor) -> Result<Tensor> {
        let b = obs.dim(0)?;
        let out = self.mlp.forward(obs)?;
        Ok(out.reshape((b, self.codec.dims(), self.codec.vocab()))?)
    }
    fn codec(&self) -> &ActionCodec {
        &self.codec
    }
    fn params(&self) -> &ParamStore {
        &self.params
    }
}
