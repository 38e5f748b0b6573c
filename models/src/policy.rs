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

/// A head that maps a batch of observations to action-token logits. Shared between threads
/// (the trainer runs shards of a batch on several), so heads hold only thread-safe state.
pub trait Policy: Send + Sync {
    /// `[batch, obs] → [batch, dims, vocab]` logits.
    fn logits(&self, obs: &Tensor) -> Result<Tensor>;
    /// The logits and a head's auxiliary loss on the same batch, for supervised training
    /// (behaviour cloning adds it to the action tokens' loss). `None`: no auxiliary loss.
    fn logits_with_aux(&self, obs: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        Ok((self.logits(obs)?, None))
    }
    /// The codec.
    fn codec(&self) -> &ActionCodec;
    /// The trainable parameters.
    fn params(&self) -> &ParamStore;
    /// Values per observation row.
    fn obs_dim(&self) -> usize;
    /// Checkpoint module tag (a checkpoint of another head is refused by it).
    fn module(&self) -> &'static str;
    /// The logits of every step of whole episodes in one pass, when the head can: `obs` holds
    /// the episodes' step rows one episode after another, `lengths` their step counts. Sequence
    /// heads whose observation at step t is the history so far compute all of an episode's
    /// decisions from its last row. `None`: use [`Policy::logits`] row by row.
    fn episode_logits(&self, obs: &Tensor, lengths: &[usize]) -> Result<Option<Tensor>> {
        let _ = (obs, lengths);
        Ok(None)
    }
    /// Where a keypoint image encoder's features sit in each row's image: `[batch, k, 2]`,
    /// `(x, y)` in [-1, 1] from the image's left and top edges. `None`: the head has none.
    fn keypoints(&self, obs: &Tensor) -> Result<Option<Tensor>> {
        let _ = obs;
        Ok(None)
    }
    /// Observation values the head reads as token ids (an instruction, say): the trainer
    /// passes them unscaled and unnormalised. `None`: every value is a feature.
    fn token_span(&self) -> Option<std::ops::Range<usize>> {
        None
    }
    /// Add the head to an ONNX graph: `x` (`[N, obs_dim]` features) → `[N, dims · vocab]`
    /// logits; returns the output's name. The MLP and CNN heads can; the others say so.
    fn onnx(&self, graph: &mut crate::onnx::OnnxGraph, x: &str) -> Result<String> {
        let _ = (graph, x);
        Err(Error::Config(format!(
            "the {} head cannot be exported to ONNX (the MLP and CNN heads can)",
            self.module()
        )))
    }
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

/// Which policy head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Head {
    /// [`MlpPolicy`] over the flat (scaled) observation.
    #[default]
    Mlp,
    /// [`crate::TransformerPolicy`] over an observation of token ids.
    Transformer,
    /// [`CnnPolicy`] over image observations (`[height, width, channels]`).
    Cnn,
    /// [`crate::VlaPolicy`] over a camera image, an instruction and the robot's state.
    Vla,
}

/// Settings of the policy head (`[policy]` in a run's config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// The head.
    pub head: Head,
    /// Hidden layer sizes (MLP head, and PPO's value head).
    pub hidden: Vec<usize>,
    /// Nonlinearity.
    pub activation: Activation,
    /// Bins per continuous dimension.
    pub bins: usize,
    /// Sizes of the transformer head (and of the VLA head's trunk).
    pub transformer: crate::TransformerConfig,
    /// The VLA head's encoder and inputs.
    pub vla: crate::VlaConfig,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            head: Head::Mlp,
            hidden: vec![64, 64],
            activation: Activation::Tanh,
            bins: 256,
            transformer: crate::TransformerConfig::default(),
            vla: crate::VlaConfig::default(),
        }
    }
}

impl PolicyConfig {
    /// The head this config names, for observations of `obs_space` and actions coded by
    /// `codec`, its parameters drawn from `seed` on `device`. The CNN head needs an image
    /// observation and the VLA head an image, a state and an instruction; an error says what
    /// the space lacks.
    pub fn build(
        &self,
        obs_space: &Space,
        codec: ActionCodec,
        device: &candle_core::Device,
        seed: u64,
    ) -> Result<Box<dyn Policy>> {
        let obs_len = obs_space.flat_len();
        Ok(match self.head {
            Head::Mlp => Box::new(MlpPolicy::new(obs_len, codec, self, device, seed)?),
            Head::Cnn => {
                let Some(layout) = crate::ImageLayout::of(obs_space) else {
                    return Err(Error::Config(format!(
                        "the CNN head needs an image observation ([height, width, channels], \
                         alone or in a dict); the env observes {obs_space}"
                    )));
                };
                Box::new(crate::CnnPolicy::new(layout, codec, self, device, seed)?)
            }
            Head::Vla => {
                let layout = crate::VlaLayout::of(obs_space)?;
                Box::new(crate::VlaPolicy::new(
                    layout,
                    codec,
                    &self.vla,
                    &self.transformer,
                    device,
                    seed,
                )?)
            }
            Head::Transformer => Box::new(crate::TransformerPolicy::new(
                obs_len,
                codec,
                &self.transformer,
                device,
                seed,
            )?),
        })
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
        config: &PolicyConfig,
        device: &candle_core::Device,
        seed: u64,
    ) -> Result<Self> {
        let mut params = ParamStore::new(device, seed);
        let out = codec.dims() * codec.vocab();
        let mlp = Mlp::new(&mut params, "policy", obs_dim, &config.hidden, out, config.activation)?;
        Ok(Self { params, mlp, codec, obs_dim })
    }
}

/// Where an image sits in a flat observation: `offset` values in, `[height, width, channels]`,
/// inside rows of `total` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    /// Values before the image.
    pub offset: usize,
    /// `[height, width, channels]`.
    pub shape: [usize; 3],
    /// Values per observation row.
    pub total: usize,
}

impl ImageLayout {
    /// The image of a space: a 3-D `Box`, or the first 3-D `Box` of a `Dict` (MiniGrid's
    /// `image` beside its `direction`); `None` when there is none.
    pub fn of(space: &Space) -> Option<Self> {
        let total = space.flat_len();
        match space {
            Space::Box { shape, .. } if shape.len() == 3 => {
                Some(Self { offset: 0, shape: [shape[0], shape[1], shape[2]], total })
            }
            Space::Dict(entries) => {
                let mut offset = 0;
                for (_, s) in entries {
                    if let Space::Box { shape, .. } = s {
                        if shape.len() == 3 {
                            return Some(Self {
                                offset,
                                shape: [shape[0], shape[1], shape[2]],
                                total,
                            });
                        }
                    }
                    offset += s.flat_len();
                }
                None
            }
            _ => None,
        }
    }

    fn image_len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A CNN head over image observations: the CNN trunk (conv 8×8/4, 4×4/2, 3×3/1 — or three 3×3
/// convolutions on images under 36 pixels a side — ReLU, then a linear layer to `hidden[0]`
/// features, 64 when `hidden` is empty) on the image, its features
/// joined by the observation's other values (MiniGrid's direction, say), then an MLP over the
/// rest of `hidden` to `dims × vocab` logits. Images arrive flat, `[height, width, channels]`
/// row-major, as the envs write them.
#[derive(Debug)]
pub struct CnnPolicy {
    params: ParamStore,
    cnn: crate::Cnn,
    head: Mlp,
    codec: ActionCodec,
    layout: ImageLayout,
}

impl CnnPolicy {
    /// A fresh head for observations laid out as `layout`.
    pub fn new(
        layout: ImageLayout,
        codec: ActionCodec,
        config: &PolicyConfig,
        device: &candle_core::Device,
        seed: u64,
    ) -> Result<Self> {
        let [h, w, c] = layout.shape;
        let mut params = ParamStore::new(device, seed);
        let width = config.hidden.first().copied().unwrap_or(64);
        // The Nature-DQN trunk needs frames of about 36 pixels or more; smaller grids (MiniGrid's
        // 7×7 view) get 3×3 convolutions.
        let specs: &[(usize, usize, usize, usize)] =
            if h.min(w) >= 36 { &crate::Cnn::NATURE } else { &crate::Cnn::SMALL };
        let cnn = crate::Cnn::with_layers(&mut params, "policy.cnn", [c, h, w], width, specs)?;
        let rest = config.hidden.get(1..).unwrap_or(&[]);
        let extra = layout.total - layout.image_len();
        let out = codec.dims() * codec.vocab();
        let head =
            Mlp::new(&mut params, "policy.head", width + extra, rest, out, config.activation)?;
        Ok(Self { params, cnn, head, codec, layout })
    }
}

impl Policy for CnnPolicy {
    fn logits(&self, obs: &Tensor) -> Result<Tensor> {
        let b = obs.dim(0)?;
        let ImageLayout { offset, shape: [h, w, c], total } = self.layout;
        let n = self.layout.image_len();
        let frames =
            obs.narrow(1, offset, n)?.reshape((b, h, w, c))?.permute((0, 3, 1, 2))?.contiguous()?;
        let mut parts = vec![self.cnn.forward(&frames)?.relu()?];
        if offset > 0 {
            parts.push(obs.narrow(1, 0, offset)?);
        }
        if offset + n < total {
            parts.push(obs.narrow(1, offset + n, total - offset - n)?);
        }
        let y = Tensor::cat(&parts, 1)?;
        Ok(self.head.forward(&y)?.reshape((b, self.codec.dims(), self.codec.vocab()))?)
    }
    fn codec(&self) -> &ActionCodec {
        &self.codec
    }
    fn params(&self) -> &ParamStore {
        &self.params
    }
    fn obs_dim(&self) -> usize {
        self.layout.total
    }
    fn module(&self) -> &'static str {
        "spelunk-grpo/cnn-policy"
    }
    fn onnx(&self, graph: &mut crate::onnx::OnnxGraph, x: &str) -> Result<String> {
        let ImageLayout { offset, shape: [h, w, c], total } = self.layout;
        let n = self.layout.image_len();
        let image = graph.columns(x, offset, offset + n);
        let hwc = graph.reshape(&image, &[-1, h as i64, w as i64, c as i64]);
        let chw = graph.op("Transpose", &[&hwc], &[crate::onnx::Attr::Ints("perm", &[0, 3, 1, 2])]);
        let features = graph.cnn(&self.cnn, &chw)?;
        let mut parts = vec![graph.op("Relu", &[&features], &[])];
        if offset > 0 {
            parts.push(graph.columns(x, 0, offset));
        }
        if offset + n < total {
            parts.push(graph.columns(x, offset + n, total));
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let joined = graph.op("Concat", &refs, &[crate::onnx::Attr::Int("axis", 1)]);
        graph.mlp(&self.head, &joined)
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
    fn obs_dim(&self) -> usize {
        self.obs_dim
    }
    fn module(&self) -> &'static str {
        "spelunk-grpo/mlp-policy"
    }
    fn onnx(&self, graph: &mut crate::onnx::OnnxGraph, x: &str) -> Result<String> {
        graph.mlp(&self.mlp, x)
    }
}
