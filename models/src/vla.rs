//! The vision-language-action head: a camera image and an instruction in, one action token per
//! action dimension out.
//!
//! The image becomes tokens — non-overlapping `patch × patch` patches, each projected to the
//! model width with a learned position embedding (a ViT's patch embedding), or the CNN trunk's
//! feature vector as one token — followed by the robot's state as one projected token (the
//! `observation` member, when asked for), the instruction's word ids through the trunk's
//! embedding table, and one learned **action query** per action dimension. The Llama-layout
//! [`Transformer`] runs over the whole sequence; the hidden state at each query is mapped to
//! that dimension's action-token logits (the bins of [`ActionCodec`], one output layer shared
//! by every dimension, as OpenVLA's dimensions share its action vocabulary). All dimensions
//! come from one pass, as in OpenVLA-OFT's parallel decoding, so the head fits the
//! [`Policy`] trait's `[batch, dims, vocab]` logits and the GRPO/PPO core trains it as any
//! other head.
//!
//! The instruction's ids are read raw: [`Policy::token_span`] tells the trainer not to scale
//! or normalise them.

use candle_core::Tensor;
use candle_nn::Linear;
use serde::{Deserialize, Serialize};
use spelunk_core::Space;

use crate::policy::{ActionCodec, Policy};
use crate::transformer::{proj, token_ids};
use crate::{Error, ParamStore, Result, Transformer, TransformerConfig};

/// How the image becomes tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageEncoder {
    /// `patch × patch` patches, linearly projected, plus learned position embeddings.
    #[default]
    Patches,
    /// The CNN trunk ([`crate::Cnn`]) to one token.
    Cnn,
    /// Keypoints: a 3×3 convolution and a per-pixel layer score every pixel for `keypoints`
    /// channels, a spatial softmax per channel turns the scores into an expected image position
    /// (Levine et al. 2016's spatial soft-argmax, the end of robomimic's and Diffusion Policy's
    /// image encoders), and each channel's position becomes one token.
    Keypoints,
}

/// Settings of the VLA head (`[policy.vla]`; its sizes are `[policy.transformer]`'s, whose
/// `vocab` is replaced by the instruction's).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VlaConfig {
    /// The image encoder.
    pub encoder: ImageEncoder,
    /// Patch side in pixels (the image's sides must divide by it).
    pub patch: usize,
    /// Read the robot's state (the `observation` member) as one more token.
    pub proprio: bool,
    /// Keypoint channels of the `keypoints` encoder (one token each).
    pub keypoints: usize,
    /// The instruction modulates the `keypoints` encoder's pixel features (FiLM: a scale and a
    /// shift per feature from the mean of the instruction's word embeddings, as RT-1 conditions
    /// its image encoder on the instruction), so the keypoints can follow what is asked for.
    pub film: bool,
    /// Weight of an auxiliary loss while cloning (0: none): a learned goal query's hidden
    /// state, mapped to the `desired_goal` member's values, is regressed onto them (mean
    /// squared error), so the trunk learns to put where the instructed target is into one
    /// token the action queries can read — the target's pose as a training signal, as Levine
    /// et al. (2016) pre-trained their visuomotor encoder on object poses. `desired_goal` is a
    /// label only: the head never reads it as an input, and RL does not use the loss.
    pub goal_aux: f64,
    /// Hidden sizes of an MLP action head (empty: one linear layer shared by the action
    /// queries, OpenVLA's shared action vocabulary). With sizes, the action queries' final
    /// hidden states, the goal query's (with `goal_aux`) and the robot's state (with `proprio`)
    /// are concatenated and an MLP (ReLU) maps them to every dimension's logits at once, as
    /// OpenVLA-OFT replaces the language-model head with an MLP action head: the trunk finds
    /// what the image and instruction say, the MLP does the fine control from it.
    pub action_mlp: Vec<usize>,
}

impl Default for VlaConfig {
    fn default() -> Self {
        Self {
            encoder: ImageEncoder::Patches,
            patch: 8,
            proprio: true,
            keypoints: 16,
            film: false,
            goal_aux: 0.0,
            action_mlp: Vec::new(),
        }
    }
}

/// Where the VLA head's inputs sit in a flat observation row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VlaLayout {
    /// Values before the image.
    pub image_offset: usize,
    /// `[height, width, channels]`.
    pub image_shape: [usize; 3],
    /// The instruction's word ids: offset, length and vocabulary (`None`: no instruction).
    pub instruction: Option<(usize, usize, usize)>,
    /// The robot's state: offset and length of the `observation` member, with a `joints`
    /// member just before it included (a URDF arm's joint positions and speeds, which a
    /// joint-space policy needs to know where its joints are).
    pub proprio: Option<(usize, usize)>,
    /// The `desired_goal` member: offset and length (a training label for `goal_aux`).
    pub goal: Option<(usize, usize)>,
    /// Values per row.
    pub total: usize,
}

impl VlaLayout {
    /// The layout of a dict observation: its first 3-D `Box` is the image, a member named
    /// `instruction` (a 1-D `Box` of integer ids with a finite upper bound) the instruction, a
    /// member named `observation` the state (with `joints` when it comes just before).
    pub fn of(space: &Space) -> Result<Self> {
        let Space::Dict(members) = space else {
            return Err(Error::Config(format!(
                "the VLA head needs a dict observation with an image; got {space}"
            )));
        };
        let mut offset = 0;
        let (mut image, mut instruction, mut proprio, mut goal) = (None, None, None, None);
        let mut joints = None;
        for (name, s) in members {
            let len = s.flat_len();
            match (name.as_str(), s) {
                (_, Space::Box { shape, .. }) if shape.len() == 3 && image.is_none() => {
                    image = Some((offset, [shape[0], shape[1], shape[2]]));
                }
                ("instruction", Space::Box { shape, high, .. }) if shape.len() == 1 => {
                    let top = high.iter().copied().fold(0f32, f32::max);
                    if !(0.0..=1e6).contains(&top) {
                        return Err(Error::Config(format!(
                            "the instruction's ids need a finite upper bound, got {top}"
                        )));
                    }
                    instruction = Some((offset, len, top as usize + 1));
                }
                ("observation", _) => proprio = Some((offset, len)),
                ("joints", _) => joints = Some((offset, len)),
                ("desired_goal", _) => goal = Some((offset, len)),
                _ => {}
            }
            offset += len;
        }
        if let (Some((o, n)), Some((jo, jn))) = (proprio, joints) {
            if jo + jn == o {
                proprio = Some((jo, jn + n));
            }
        }
        let Some((image_offset, image_shape)) = image else {
            return Err(Error::Config(format!(
                "the VLA head needs an image ([height, width, channels]) in the observation; got \
                 {space}"
            )));
        };
        Ok(Self { image_offset, image_shape, instruction, proprio, goal, total: offset })
    }
}

/// What maps the trunk's hidden states to action logits.
enum ActionHead {
    /// One layer shared by every action query.
    Shared(Linear),
    /// `action_mlp`: the queries' (and the goal query's) hidden states with the state, to all
    /// dimensions' logits.
    Mlp(crate::layers::Mlp),
}

/// The vision-language-action head (see the module's text).
pub struct VlaPolicy {
    params: ParamStore,
    trunk: Transformer,
    patches: Option<(Linear, Tensor)>,
    cnn: Option<crate::Cnn>,
    keypoints: Option<Keypoints>,
    proprio: Option<Linear>,
    queries: Tensor,
    head: ActionHead,
    /// `goal_aux`'s query token and its map to the goal's values.
    goal: Option<(Tensor, Linear)>,
    codec: ActionCodec,
    layout: VlaLayout,
    config: VlaConfig,
}

impl std::fmt::Debug for VlaPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlaPolicy")
            .field("trunk", &self.trunk)
            .field("layout", &self.layout)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl VlaPolicy {
    /// A fresh head for observations laid out as `layout`; `sizes` gives the trunk's width,
    /// depth and heads (its `vocab` is the instruction's).
    pub fn new(
        layout: VlaLayout,
        codec: ActionCodec,
        config: &VlaConfig,
        sizes: &TransformerConfig,
        device: &candle_core::Device,
        seed: u64,
    ) -> Result<Self> {
        let [h, w, c] = layout.image_shape;
        let mut params = ParamStore::new(device, seed);
        let vocab = layout.instruction.map_or(1, |(_, _, v)| v);
        let trunk_config = TransformerConfig { vocab, ..sizes.clone() };
        let trunk = Transformer::new(&mut params, &trunk_config)?;
        let d = sizes.d_model;
        let (mut patches, mut cnn, mut keypoints) = (None, None, None);
        if config.film && config.encoder != ImageEncoder::Keypoints {
            return Err(Error::Config(format!(
                "policy.vla.film modulates the keypoints encoder's features; encoder = \"{}\" has \
                 none (set encoder = \"keypoints\" or film = false)",
                if config.encoder == ImageEncoder::Cnn { "cnn" } else { "patches" }
            )));
        }
        match config.encoder {
            ImageEncoder::Patches => {
                let p = config.patch;
                if p == 0 || h % p != 0 || w % p != 0 {
                    return Err(Error::Config(format!(
                        "a {h}×{w} image does not split into {p}×{p} patches (set policy.vla.patch \
                         to a divisor of both sides)"
                    )));
                }
                let n = (h / p) * (w / p);
                let lin = proj(&mut params, "vla.patch_embed", p * p * c, d)?;
                let pos = params.normal("vla.patch_pos", &[n, d], 0.02)?;
                patches = Some((lin, pos));
            }
            ImageEncoder::Cnn => {
                let specs: &[(usize, usize, usize, usize)] =
                    if h.min(w) >= 36 { &crate::Cnn::NATURE } else { &crate::Cnn::SMALL };
                cnn = Some(crate::Cnn::with_layers(&mut params, "vla.cnn", [c, h, w], d, specs)?);
            }
            ImageEncoder::Keypoints => {
                keypoints = Some(Keypoints::new(&mut params, [h, w, c], config.keypoints, d)?);
                if config.film {
                    if layout.instruction.is_none() {
                        return Err(Error::Config(
                            "policy.vla.film needs an instruction in the observation".into(),
                        ));
                    }
                    if let Some(k) = keypoints.as_mut() {
                        k.film = Some(proj(&mut params, "vla.kp_film", d, 2 * Keypoints::HIDDEN)?);
                    }
                }
            }
        }
        let proprio = match (config.proprio, layout.proprio) {
            (true, Some((_, len))) => Some(proj(&mut params, "vla.proprio", len, d)?),
            (true, None) => {
                return Err(Error::Config(
                    "policy.vla.proprio is set but the observation has no `observation` member"
                        .into(),
                ))
            }
            (false, _) => None,
        };
        let queries = params.normal("vla.action_queries", &[codec.dims(), d], 0.02)?;
        let goal = match (config.goal_aux, layout.goal) {
            (0.0, _) => None,
            (w, Some((_, len))) if w > 0.0 && w.is_finite() => Some((
                params.normal("vla.goal_query", &[1, d], 0.02)?,
                proj(&mut params, "vla.goal_head", d, len)?,
            )),
            (w, None) if w > 0.0 && w.is_finite() => {
                return Err(Error::Config(
                    "policy.vla.goal_aux needs a `desired_goal` member in the observation".into(),
                ))
            }
            (w, _) => {
                return Err(Error::Config(format!(
                    "policy.vla.goal_aux must be a finite weight of at least 0, got {w}"
                )))
            }
        };
        let head = if config.action_mlp.is_empty() {
            ActionHead::Shared(proj(&mut params, "vla.action_head", d, codec.vocab())?)
        } else {
            if config.action_mlp.contains(&0) {
                return Err(Error::Config(format!(
                    "policy.vla.action_mlp's hidden sizes must be at least 1, got {:?}",
                    config.action_mlp
                )));
            }
            let inputs = (codec.dims() + usize::from(goal.is_some())) * d
                + proprio.as_ref().and(layout.proprio).map_or(0, |(_, len)| len);
            ActionHead::Mlp(crate::layers::Mlp::new(
                &mut params,
                "vla.action_mlp",
                inputs,
                &config.action_mlp,
                codec.dims() * codec.vocab(),
                crate::layers::Activation::Relu,
            )?)
        };
        Ok(Self {
            params,
            trunk,
            patches,
            cnn,
            keypoints,
            proprio,
            queries,
            head,
            goal,
            codec,
            layout,
            config: config.clone(),
        })
    }

    /// Tokens per observation (image, state, instruction, action queries).
    pub fn sequence_len(&self) -> usize {
        let [h, w, _] = self.layout.image_shape;
        let image = match (&self.patches, &self.keypoints) {
            (Some(_), _) => (h / self.config.patch) * (w / self.config.patch),
            (_, Some(k)) => k.channels,
            _ => 1,
        };
        image
            + usize::from(self.proprio.is_some())
            + self.layout.instruction.map_or(0, |(_, n, _)| n)
            + usize::from(self.goal.is_some())
            + self.codec.dims()
    }

    /// The image's tokens; `words`: the instruction's word embeddings `[b, len, d]`.
    fn image_tokens(&self, obs: &Tensor, words: Option<&Tensor>) -> Result<Tensor> {
        let b = obs.dim(0)?;
        let [h, w, c] = self.layout.image_shape;
        let image = obs.narrow(1, self.layout.image_offset, h * w * c)?;
        if let Some((lin, pos)) = &self.patches {
            let p = self.config.patch;
            let (gh, gw) = (h / p, w / p);
            let x = image
                .reshape((b, gh, p, gw, p, c))?
                .permute((0, 1, 3, 2, 4, 5))?
                .contiguous()?
                .reshape((b, gh * gw, p * p * c))?;
            let x = candle_core::Module::forward(lin, &x)?;
            return Ok(x.broadcast_add(pos)?);
        }
        if let Some(k) = &self.keypoints {
            return k.forward(&image.reshape((b, h, w, c))?, words);
        }
        let cnn = self.cnn.as_ref().ok_or_else(|| Error::Config("no image encoder".into()))?;
        let frames = image.reshape((b, h, w, c))?.permute((0, 3, 1, 2))?.contiguous()?;
        Ok(cnn.forward(&frames)?.relu()?.unsqueeze(1)?)
    }

    /// The instruction's word embeddings `[b, len, d]` (`None`: no instruction).
    fn instruction_words(&self, obs: &Tensor) -> Result<Option<Tensor>> {
        match self.instruction_ids(obs)? {
            Some(ids) => Ok(Some(self.trunk.embed(&ids)?)),
            None => Ok(None),
        }
    }

    fn instruction_ids(&self, obs: &Tensor) -> Result<Option<Tensor>> {
        let Some((offset, len, vocab)) = self.layout.instruction else { return Ok(None) };
        let b = obs.dim(0)?;
        let vals = obs.narrow(1, offset, len)?.flatten_all()?.to_vec1::<f32>()?;
        let ids = token_ids(&vals, vocab, "the VLA head reads instruction ids")?;
        Ok(Some(Tensor::from_vec(ids, (b, len), obs.device())?))
    }
}

/// The `keypoints` encoder (see [`ImageEncoder::Keypoints`]).
struct Keypoints {
    /// The 3×3 convolution as a layer over each pixel's 3×3 neighbourhood.
    conv: Linear,
    /// Per-pixel scores of each channel.
    score: Linear,
    /// FiLM from the instruction: `d` to a scale and a shift per hidden feature.
    film: Option<Linear>,
    /// A channel's expected position `(x, y)` in [-1, 1] to the model width.
    position: Linear,
    /// Each channel's own embedding, added to its position's.
    channel: Tensor,
    /// `[h·w, 2]`: every pixel's `(x, y)` in [-1, 1].
    grid: Tensor,
    channels: usize,
    shape: [usize; 3],
}

impl Keypoints {
    const HIDDEN: usize = 32;

    fn new(params: &mut ParamStore, shape: [usize; 3], channels: usize, d: usize) -> Result<Self> {
        let [h, w, c] = shape;
        if channels == 0 {
            return Err(Error::Config("policy.vla.keypoints must be at least 1".into()));
        }
        let conv = proj(params, "vla.kp_conv", 9 * c, Self::HIDDEN)?;
        let score = proj(params, "vla.kp_score", Self::HIDDEN, channels)?;
        let position = proj(params, "vla.kp_position", 2, d)?;
        let channel = params.normal("vla.kp_channel", &[channels, d], 0.02)?;
        let at =
            |i: usize, n: usize| if n > 1 { 2.0 * i as f32 / (n - 1) as f32 - 1.0 } else { 0.0 };
        let grid: Vec<f32> =
            (0..h).flat_map(|y| (0..w).flat_map(move |x| [at(x, w), at(y, h)])).collect();
        let grid = Tensor::from_vec(grid, (h * w, 2), params.device())?;
        Ok(Self { conv, film: None, score, position, channel, grid, channels, shape })
    }

    /// `[b, h, w, c]` pixels to `[b, channels, d]` tokens (`words`: the instruction's word
    /// embeddings, read by FiLM).
    fn forward(&self, image: &Tensor, words: Option<&Tensor>) -> Result<Tensor> {
        let b = image.dim(0)?;
        let xy = self.positions(image, words)?;
        let tokens = crate::cpu_ops::linear(&self.position, &xy)?;
        let d = self.channel.dim(1)?;
        Ok(tokens.reshape((b, self.channels, d))?.broadcast_add(&self.channel)?)
    }

    /// Each channel's expected position in `[b, h, w, c]` pixels: `[b·channels, 2]`.
    fn positions(&self, image: &Tensor, words: Option<&Tensor>) -> Result<Tensor> {
        let [h, w, c] = self.shape;
        let b = image.dim(0)?;
        // Each pixel's 3×3 neighbourhood (zeros past the border) side by side: the input needs
        // no gradient, so the unfolding is plain copies, and the convolution one matrix product.
        let padded = image.pad_with_zeros(1, 1, 1)?.pad_with_zeros(2, 1, 1)?;
        let mut shifted = Vec::with_capacity(9);
        for dy in 0..3 {
            for dx in 0..3 {
                shifted.push(padded.narrow(1, dy, h)?.narrow(2, dx, w)?);
            }
        }
        let cols = Tensor::cat(&shifted, 3)?.reshape((b * h * w, 9 * c))?;
        let mut f = crate::cpu_ops::linear(&self.conv, &cols)?;
        if let (Some(film), Some(words)) = (&self.film, words) {
            let hidden = Self::HIDDEN;
            let gb = crate::cpu_ops::linear(film, &words.mean(1)?)?; // [b, 2·hidden]
            let scale = (gb.narrow(1, 0, hidden)? + 1.0)?.unsqueeze(1)?;
            let shift = gb.narrow(1, hidden, hidden)?.unsqueeze(1)?;
            f = f
                .reshape((b, h * w, hidden))?
                .broadcast_mul(&scale)?
                .broadcast_add(&shift)?
                .reshape((b * h * w, hidden))?;
        }
        let s = crate::cpu_ops::linear(&self.score, &f.relu()?)?;
        self.soft_argmax(&s.reshape((b, h * w, self.channels))?)
    }

    /// Scores `[b, h·w, channels]` to each channel's expected position under the softmax of
    /// its scores over the pixels: `[b·channels, 2]`, `(x, y)` in [-1, 1].
    fn soft_argmax(&self, scores: &Tensor) -> Result<Tensor> {
        let (b, hw, k) = scores.dims3()?;
        let s = scores.transpose(1, 2)?.contiguous()?;
        let p = crate::policy::log_softmax(&s)?.exp()?;
        Ok(p.reshape((b * k, hw))?.matmul(&self.grid)?)
    }
}

impl VlaPolicy {
    /// The action logits and, with `goal_aux`, the goal query's prediction `[b, goal len]`.
    fn forward(&self, obs: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let (b, cols) = obs.dims2()?;
        if cols != self.layout.total {
            return Err(Error::Config(format!(
                "the VLA head reads rows of {} values, got {cols}",
                self.layout.total
            )));
        }
        let d = self.trunk.config().d_model;
        let words = self.instruction_words(obs)?;
        let mut parts = vec![self.image_tokens(obs, words.as_ref())?];
        let state = match (&self.proprio, self.layout.proprio) {
            (Some(lin), Some((offset, len))) => {
                let state = obs.narrow(1, offset, len)?;
                parts.push(candle_core::Module::forward(lin, &state)?.unsqueeze(1)?);
                Some(state)
            }
            _ => None,
        };
        if let Some(words) = words {
            parts.push(words);
        }
        if let Some((query, _)) = &self.goal {
            parts.push(query.unsqueeze(0)?.broadcast_as((b, 1, d))?.contiguous()?);
        }
        let dims = self.codec.dims();
        parts.push(self.queries.unsqueeze(0)?.broadcast_as((b, dims, d))?.contiguous()?);
        let x = Tensor::cat(&parts, 1)?;
        let t = x.dim(1)?;
        let all = self.trunk.forward_embeds(&x, None)?;
        let hidden = all.narrow(1, t - dims, dims)?.contiguous()?;
        let goal_hidden = match &self.goal {
            Some(_) => Some(all.narrow(1, t - dims - 1, 1)?.squeeze(1)?.contiguous()?),
            None => None,
        };
        let out = match &self.head {
            ActionHead::Shared(lin) => candle_core::Module::forward(lin, &hidden)?,
            ActionHead::Mlp(mlp) => {
                let mut inputs = vec![hidden.reshape((b, dims * d))?];
                inputs.extend(goal_hidden.clone());
                inputs.extend(state);
                mlp.forward(&Tensor::cat(&inputs, 1)?)?
            }
        };
        let goal = match (&self.goal, goal_hidden) {
            (Some((_, head)), Some(h)) => Some(crate::cpu_ops::linear(head, &h)?),
            _ => None,
        };
        Ok((out.reshape((b, dims, self.codec.vocab()))?, goal))
    }
}

impl Policy for VlaPolicy {
    fn logits(&self, obs: &Tensor) -> Result<Tensor> {
        Ok(self.forward(obs)?.0)
    }
    fn logits_with_aux(&self, obs: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        let (logits, goal) = self.forward(obs)?;
        let aux = match (goal, self.layout.goal) {
            (Some(pred), Some((offset, len))) => {
                let want = obs.narrow(1, offset, len)?;
                Some(((pred - want)?.sqr()?.mean_all()? * self.config.goal_aux)?)
            }
            _ => None,
        };
        Ok((logits, aux))
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
        "spelunk-grpo/vla-policy"
    }
    fn token_span(&self) -> Option<std::ops::Range<usize>> {
        self.layout.instruction.map(|(offset, len, _)| offset..offset + len)
    }
    fn keypoints(&self, obs: &Tensor) -> Result<Option<Tensor>> {
        let Some(k) = &self.keypoints else { return Ok(None) };
        let b = obs.dim(0)?;
        let [h, w, c] = self.layout.image_shape;
        let words = self.instruction_words(obs)?;
        let image = obs.narrow(1, self.layout.image_offset, h * w * c)?.reshape((b, h, w, c))?;
        Ok(Some(k.positions(&image, words.as_ref())?.reshape((b, k.channels, 2))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use spelunk_core::DType;

    fn space(h: usize, w: usize) -> Space {
        let inf = f32::INFINITY;
        Space::Dict(vec![
            ("desired_goal".into(), Space::uniform_box(&[3], -inf, inf, DType::F32)),
            ("image".into(), Space::uniform_box(&[h, w, 3], 0.0, 255.0, DType::U8)),
            ("instruction".into(), Space::uniform_box(&[4], 0.0, 6.0, DType::F32)),
            ("observation".into(), Space::uniform_box(&[10], -inf, inf, DType::F32)),
        ])
    }

    fn sizes() -> TransformerConfig {
        TransformerConfig {
            d_model: 16,
            layers: 2,
            heads: 2,
            ffn: 24,
            ..TransformerConfig::default()
        }
    }

    fn codec() -> ActionCodec {
        ActionCodec::Binned { bins: 7, low: vec![-1.0; 4], high: vec![1.0; 4] }
    }

    /// Two rows: random pixels and state, instruction ids `ids[r]`.
    fn rows(h: usize, w: usize, ids: [[f32; 4]; 2]) -> Tensor {
        let mut rng = spelunk_core::Rng::seed_from_u64(3);
        let mut v = Vec::new();
        for id in ids {
            v.extend((0..3).map(|_| rng.f32()));
            v.extend((0..h * w * 3).map(|_| rng.f32()));
            v.extend(id);
            v.extend((0..10).map(|_| rng.f32()));
        }
        Tensor::from_vec(v, (2, 3 + h * w * 3 + 4 + 10), &Device::Cpu).unwrap()
    }

    #[test]
    fn layout_finds_image_instruction_and_state() {
        let l = VlaLayout::of(&space(8, 16)).unwrap();
        assert_eq!(l.image_offset, 3);
        assert_eq!(l.image_shape, [8, 16, 3]);
        assert_eq!(l.instruction, Some((3 + 8 * 16 * 3, 4, 7)));
        assert_eq!(l.proprio, Some((3 + 8 * 16 * 3 + 4, 10)));
        assert_eq!(l.goal, Some((0, 3)));
        // A URDF arm's `joints`, just before `observation`, are read as state with it.
        let inf = f32::INFINITY;
        let Space::Dict(mut members) = space(8, 16) else { unreachable!() };
        members.insert(3, ("joints".into(), Space::uniform_box(&[6], -inf, inf, DType::F32)));
        let l = VlaLayout::of(&Space::Dict(members)).unwrap();
        assert_eq!(l.proprio, Some((3 + 8 * 16 * 3 + 4, 6 + 10)));
        let flat = Space::uniform_box(&[5], 0.0, 1.0, DType::F32);
        assert!(VlaLayout::of(&flat).unwrap_err().to_string().contains("dict"));
    }

    #[test]
    fn every_parameter_gets_a_gradient_with_each_encoder() {
        for encoder in [ImageEncoder::Patches, ImageEncoder::Cnn, ImageEncoder::Keypoints] {
            let film = encoder == ImageEncoder::Keypoints;
            // The MLP action head with the CNN, the shared layer with the others.
            let action_mlp = if encoder == ImageEncoder::Cnn { vec![12] } else { Vec::new() };
            let config = VlaConfig {
                encoder,
                patch: 4,
                keypoints: 3,
                proprio: true,
                film,
                goal_aux: 0.5,
                action_mlp,
            };
            let layout = VlaLayout::of(&space(8, 8)).unwrap();
            let p = VlaPolicy::new(layout, codec(), &config, &sizes(), &Device::Cpu, 1).unwrap();
            let obs = rows(8, 8, [[1., 2., 3., 6.], [1., 2., 5., 6.]]);
            let (logits, aux) = p.logits_with_aux(&obs).unwrap();
            assert_eq!(logits.dims(), &[2, 4, 7]);
            // The goal query's loss is weight × the mean squared error against `desired_goal`.
            let aux = aux.expect("goal_aux is on");
            let (_, pred) = p.forward(&obs).unwrap();
            let want = obs.narrow(1, 0, 3).unwrap();
            let mse = (pred.unwrap() - want).unwrap().sqr().unwrap().mean_all().unwrap();
            let (a, m) = (aux.to_scalar::<f32>().unwrap(), mse.to_scalar::<f32>().unwrap());
            assert!((a - 0.5 * m).abs() < 1e-6, "{a} against 0.5 × {m}");
            let loss = (logits.sqr().unwrap().sum_all().unwrap() + aux).unwrap();
            let dead = crate::params_without_gradient(p.params(), &loss).unwrap();
            assert!(dead.is_empty(), "{encoder:?}: {dead:?}");
            // Keypoint positions: 3 per row inside the image, and the instruction moves them
            // (FiLM); the other encoders have none.
            match p.keypoints(&obs).unwrap() {
                Some(xy) => {
                    assert_eq!(encoder, ImageEncoder::Keypoints);
                    assert_eq!(xy.dims(), &[2, 3, 2]);
                    let v = xy.to_vec3::<f32>().unwrap();
                    assert!(v.iter().flatten().flatten().all(|x| x.abs() <= 1.0), "{v:?}");
                    let same_image = obs.narrow(0, 0, 1).unwrap().repeat((2, 1)).unwrap();
                    let ids =
                        Tensor::new(&[[1f32, 2., 3., 6.], [4., 5., 1., 6.]], &Device::Cpu).unwrap();
                    let other = same_image
                        .slice_assign(&[0..2, 3 + 8 * 8 * 3..3 + 8 * 8 * 3 + 4], &ids)
                        .unwrap();
                    let v = p.keypoints(&other).unwrap().unwrap().to_vec3::<f32>().unwrap();
                    assert_ne!(v[0], v[1], "the instruction moves the keypoints");
                }
                None => assert_ne!(encoder, ImageEncoder::Keypoints),
            }
        }
        // Without `desired_goal`, or with a bad weight, goal_aux is refused by name.
        let inf = f32::INFINITY;
        let no_goal = Space::Dict(vec![
            ("image".into(), Space::uniform_box(&[8, 8, 3], 0.0, 255.0, DType::U8)),
            ("instruction".into(), Space::uniform_box(&[4], 0.0, 6.0, DType::F32)),
            ("observation".into(), Space::uniform_box(&[10], -inf, inf, DType::F32)),
        ]);
        for (space, w) in [(no_goal, 1.0), (space(8, 8), -1.0), (space(8, 8), f64::NAN)] {
            let config = VlaConfig { patch: 4, goal_aux: w, ..VlaConfig::default() };
            let layout = VlaLayout::of(&space).unwrap();
            let e =
                VlaPolicy::new(layout, codec(), &config, &sizes(), &Device::Cpu, 1).unwrap_err();
            assert!(e.to_string().contains("goal_aux"), "{e}");
        }
        let config = VlaConfig { patch: 4, action_mlp: vec![8, 0], ..VlaConfig::default() };
        let layout = VlaLayout::of(&space(8, 8)).unwrap();
        let e = VlaPolicy::new(layout, codec(), &config, &sizes(), &Device::Cpu, 1).unwrap_err();
        assert!(e.to_string().contains("action_mlp"), "{e}");
    }

    #[test]
    fn keypoints_are_the_expected_pixel_positions() {
        let mut params = ParamStore::new(&Device::Cpu, 1);
        let k = Keypoints::new(&mut params, [4, 5, 3], 2, 8).unwrap();
        // Channel 0 peaks at pixel (x 3, y 1); channel 1 is flat.
        let mut s = vec![0f32; 4 * 5 * 2];
        s[(5 + 3) * 2] = 60.0;
        let scores = Tensor::from_vec(s, (1, 20, 2), &Device::Cpu).unwrap();
        let xy = k.soft_argmax(&scores).unwrap().to_vec2::<f32>().unwrap();
        let want = [2.0 * 3.0 / 4.0 - 1.0, 2.0 * 1.0 / 3.0 - 1.0];
        for (got, want) in xy[0].iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{:?}", xy[0]);
        }
        // A flat score: the grid's centre.
        assert!(xy[1].iter().all(|v| v.abs() < 1e-6), "{:?}", xy[1]);
        let e = Keypoints::new(&mut params, [4, 5, 3], 0, 8).err().unwrap();
        assert!(e.to_string().contains("keypoints"), "{e}");
    }

    #[test]
    fn the_instruction_changes_the_actions_and_bad_ids_are_errors() {
        let layout = VlaLayout::of(&space(8, 8)).unwrap();
        let config = VlaConfig { patch: 4, ..VlaConfig::default() };
        let p = VlaPolicy::new(layout, codec(), &config, &sizes(), &Device::Cpu, 2).unwrap();
        assert_eq!(p.sequence_len(), 4 + 1 + 4 + 4);
        assert_eq!(p.token_span(), Some(3 + 192..3 + 192 + 4));
        // Same pixels and state, two instructions: different logits.
        let a = rows(8, 8, [[1., 2., 3., 6.], [1., 2., 3., 6.]]);
        let b = rows(8, 8, [[1., 2., 4., 6.], [1., 2., 4., 6.]]);
        let diff = (p.logits(&a).unwrap() - p.logits(&b).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff > 1e-4, "the instruction did not reach the action logits ({diff})");
        for bad in [7.0, 2.5, -1.0] {
            let e = p.logits(&rows(8, 8, [[1., 2., bad, 6.], [1., 2., 3., 6.]])).unwrap_err();
            assert!(e.to_string().contains("0..7"), "{e}");
        }
        let e = VlaPolicy::new(
            VlaLayout::of(&space(8, 12)).unwrap(),
            codec(),
            &VlaConfig { patch: 8, ..VlaConfig::default() },
            &sizes(),
            &Device::Cpu,
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("patch"), "{e}");
        for encoder in [ImageEncoder::Patches, ImageEncoder::Cnn] {
            let config = VlaConfig { encoder, patch: 4, film: true, ..VlaConfig::default() };
            let layout = VlaLayout::of(&space(8, 8)).unwrap();
            let e =
                VlaPolicy::new(layout, codec(), &config, &sizes(), &Device::Cpu, 1).unwrap_err();
            assert!(e.to_string().contains("film") && e.to_string().contains("keypoints"), "{e}");
        }
    }
}
