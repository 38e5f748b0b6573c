//! A small decoder-only transformer in the Llama layout, from differentiable candle ops only,
//! and the policy head built on it.
//!
//! Each block: `x + Attn(RMSNorm(x))`, then `x + SwiGLU(RMSNorm(x))`; causal multi-head
//! self-attention with rotary position embeddings (RoPE, the rotate-half form); a final
//! RMSNorm. Parameter names follow Hugging Face's Llama checkpoints
//! (`model.embed_tokens.weight`, `model.layers.{i}.self_attn.q_proj.weight`, …,
//! `model.norm.weight`), so a checkpoint of the same sizes maps onto them by name.
//!
//! candle 0.11's fused `rms_norm`, `softmax_last_dim` and `sdpa` have no backward pass; RMSNorm
//! here is `x / √(mean(x²) + ε) · w` and the attention softmax is `exp(s − max s) / Σ`, written
//! out, and a test checks that every parameter receives a gradient.

use candle_core::{DType, Device, Tensor, D};
use candle_nn::Linear;
use serde::{Deserialize, Serialize};

use crate::policy::{ActionCodec, Policy};
use crate::{Error, ParamStore, Result};

/// Sizes of a [`Transformer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransformerConfig {
    /// Token vocabulary (the env's token ids must be below it).
    pub vocab: usize,
    /// Model width.
    pub d_model: usize,
    /// Blocks.
    pub layers: usize,
    /// Attention heads (`d_model` must divide by it, into an even head size).
    pub heads: usize,
    /// Key/value heads for grouped-query attention (`heads` must divide by it; `None`: one per
    /// head).
    pub kv_heads: Option<usize>,
    /// SwiGLU hidden width.
    pub ffn: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm ε.
    pub norm_eps: f64,
    /// Biases on the query, key and value projections (Qwen2's layout; Llama has none).
    pub qkv_bias: bool,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Self {
            vocab: 64,
            d_model: 64,
            layers: 2,
            heads: 4,
            kv_heads: None,
            ffn: 128,
            rope_theta: 10_000.0,
            norm_eps: 1e-5,
            qkv_bias: false,
        }
    }
}

struct Block {
    input_norm: Tensor,
    q: Linear,
    k: Linear,
    v: Linear,
    o: Linear,
    post_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The transformer trunk: token ids `[batch, time]` → hidden states `[batch, time, d_model]`.
pub struct Transformer {
    config: TransformerConfig,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
}

impl std::fmt::Debug for Transformer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transformer").field("config", &self.config).finish_non_exhaustive()
    }
}

pub(crate) fn proj(
    params: &mut ParamStore,
    name: &str,
    inputs: usize,
    outputs: usize,
) -> Result<Linear> {
    let bound = 1.0 / (inputs as f64).sqrt();
    Ok(Linear::new(params.uniform(&format!("{name}.weight"), &[outputs, inputs], bound)?, None))
}

/// A projection with a bias (zeros at first) when `bias` is set.
fn proj_bias(
    params: &mut ParamStore,
    name: &str,
    inputs: usize,
    outputs: usize,
    bias: bool,
) -> Result<Linear> {
    let w = proj(params, name, inputs, outputs)?;
    if !bias {
        return Ok(w);
    }
    let b = params.zeros(&format!("{name}.bias"), &[outputs])?;
    Ok(Linear::new(w.weight().clone(), Some(b)))
}

/// RMSNorm gains start at 1, as in Llama.
fn ones(params: &mut ParamStore, name: &str, n: usize) -> Result<Tensor> {
    params.ones(name, &[n])
}

impl Transformer {
    /// A fresh transformer with parameters in `params`.
    pub fn new(params: &mut ParamStore, config: &TransformerConfig) -> Result<Self> {
        let c = config;
        if c.vocab == 0 || c.d_model == 0 || c.layers == 0 || c.heads == 0 || c.ffn == 0 {
            return Err(Error::Config("transformer sizes must be positive".into()));
        }
        if c.d_model % c.heads != 0 || (c.d_model / c.heads) % 2 != 0 {
            return Err(Error::Config(format!(
                "d_model {} must split into {} heads of an even size",
                c.d_model, c.heads
            )));
        }
        let kv = c.kv_heads.unwrap_or(c.heads);
        if kv == 0 || c.heads % kv != 0 {
            return Err(Error::Config(format!(
                "{} attention heads cannot share {kv} key/value heads",
                c.heads
            )));
        }
        let kv_width = kv * (c.d_model / c.heads);
        let embed = params.normal("model.embed_tokens.weight", &[c.vocab, c.d_model], 0.02)?;
        let mut blocks = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let p = format!("model.layers.{i}");
            let d = c.d_model;
            blocks.push(Block {
                input_norm: ones(params, &format!("{p}.input_layernorm.weight"), d)?,
                q: proj_bias(params, &format!("{p}.self_attn.q_proj"), d, d, c.qkv_bias)?,
                k: proj_bias(params, &format!("{p}.self_attn.k_proj"), d, kv_width, c.qkv_bias)?,
                v: proj_bias(params, &format!("{p}.self_attn.v_proj"), d, kv_width, c.qkv_bias)?,
                o: proj(params, &format!("{p}.self_attn.o_proj"), d, d)?,
                post_norm: ones(params, &format!("{p}.post_attention_layernorm.weight"), d)?,
                gate: proj(params, &format!("{p}.mlp.gate_proj"), d, c.ffn)?,
                up: proj(params, &format!("{p}.mlp.up_proj"), d, c.ffn)?,
                down: proj(params, &format!("{p}.mlp.down_proj"), c.ffn, d)?,
            });
        }
        let norm = ones(params, "model.norm.weight", c.d_model)?;
        Ok(Self { config: c.clone(), embed, blocks, norm })
    }

    /// The sizes.
    pub fn config(&self) -> &TransformerConfig {
        &self.config
    }

    fn rms_norm(&self, x: &Tensor, w: &Tensor) -> Result<Tensor> {
        let ms = (x.sqr()?.mean_keepdim(D::Minus1)? + self.config.norm_eps)?;
        Ok(x.broadcast_div(&ms.sqrt()?)?.broadcast_mul(w)?)
    }

    /// `cos` and `sin` tables `[time, head_dim]` for RoPE (rotate-half layout).
    fn rope(&self, time: usize, device: &Device) -> Result<(Tensor, Tensor)> {
        let hd = self.config.d_model / self.config.heads;
        let half = hd / 2;
        let mut cos = Vec::with_capacity(time * hd);
        let mut sin = Vec::with_capacity(time * hd);
        for p in 0..time {
            for j in 0..hd {
                let i = j % half;
                let freq = self.config.rope_theta.powf(-2.0 * i as f64 / hd as f64);
                let a = p as f64 * freq;
                cos.push(a.cos() as f32);
                sin.push(a.sin() as f32);
            }
        }
        Ok((Tensor::from_vec(cos, (time, hd), device)?, Tensor::from_vec(sin, (time, hd), device)?))
    }

    /// Hidden states of token ids `[batch, time]` (u32).
    pub fn forward(&self, tokens: &Tensor) -> Result<Tensor> {
        self.forward_masked(tokens, None)
    }

    /// Hidden states with some keys hidden: `hidden[b][j]` true keeps token `j` of row `b` out
    /// of every other position's attention (padding).
    pub fn forward_masked(&self, tokens: &Tensor, hidden: Option<&[Vec<bool>]>) -> Result<Tensor> {
        self.forward_embeds(&self.embed(tokens)?, hidden)
    }

    /// The embeddings `[batch, time, d_model]` of token ids `[batch, time]` (u32).
    pub fn embed(&self, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        Ok(self.embed.index_select(&tokens.flatten_all()?, 0)?.reshape((
            b,
            t,
            self.config.d_model,
        ))?)
    }

    /// Hidden states of a sequence given as embeddings `[batch, time, d_model]` (tokens of any
    /// kind — image patches, projected state — beside embedded ids); `hidden` as in
    /// [`Transformer::forward_masked`].
    pub fn forward_embeds(&self, x: &Tensor, hidden: Option<&[Vec<bool>]>) -> Result<Tensor> {
        self.run(x, hidden, None)
    }

    /// Hidden states of `tokens` `[batch, time]` that continue the sequence `cache` holds
    /// (empty: a fresh sequence), appending their keys and values to it: decoding one token at
    /// a time after a prefill costs one position's work per token instead of the whole
    /// prefix's. Equal to [`Transformer::forward`] over the whole sequence (tested).
    pub fn forward_cached(&self, tokens: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        self.run(&self.embed(tokens)?, None, Some(cache))
    }

    fn run(
        &self,
        x: &Tensor,
        hidden: Option<&[Vec<bool>]>,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let c = &self.config;
        let (h, hd) = (c.heads, c.d_model / c.heads);
        let kv = c.kv_heads.unwrap_or(h);
        let device = x.device();
        let share: Vec<u32> = (0..h).map(|i| (i / (h / kv)) as u32).collect();
        let share = Tensor::from_vec(share, h, device)?;
        let mut x = x.clone();
        let past = cache.as_ref().map_or(0, |c| c.len());
        if let Some(c) = cache.as_ref() {
            if !c.layers.is_empty() && c.batch() != b {
                return Err(Error::Config(format!(
                    "a cache of {} sequences cannot continue {b}",
                    c.batch()
                )));
            }
        }
        let total = past + t;
        let (cos, sin) = self.rope(total, device)?;
        let (cos, sin) = (cos.narrow(0, past, t)?, sin.narrow(0, past, t)?);
        // Query i (at position past + i) sees keys 0..=past + i.
        let mask: Vec<f32> = (0..t * total)
            .map(|k| if k % total > past + k / total { f32::NEG_INFINITY } else { 0.0 })
            .collect();
        let mut mask = Tensor::from_vec(mask, (t, total), device)?;
        if let Some(rows) = hidden {
            // Causal, and hidden keys masked — except each position's own, so that a padding
            // position still attends to something (its output is never read).
            let mut full = Vec::with_capacity(b * t * t);
            for r in rows {
                for i in 0..t {
                    for (j, &pad) in r.iter().enumerate().take(t) {
                        let off = j > i || (pad && i != j);
                        full.push(if off { f32::NEG_INFINITY } else { 0.0 });
                    }
                }
            }
            mask = Tensor::from_vec(full, (b, 1, t, t), device)?;
        }
        let rotate = |q: &Tensor| -> Result<Tensor> {
            let x1 = q.narrow(D::Minus1, 0, hd / 2)?;
            let x2 = q.narrow(D::Minus1, hd / 2, hd / 2)?;
            let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
            Ok((q.broadcast_mul(&cos)? + rot.broadcast_mul(&sin)?)?)
        };
        for (li, blk) in self.blocks.iter().enumerate() {
            let n = self.rms_norm(&x, &blk.input_norm)?;
            let heads = |l: &Linear, n_heads: usize| -> Result<Tensor> {
                Ok(candle_core::Module::forward(l, &n)?
                    .reshape((b, t, n_heads, hd))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = rotate(&heads(&blk.q, h)?)?;
            let mut k = rotate(&heads(&blk.k, kv)?)?;
            let mut v = heads(&blk.v, kv)?;
            if let Some(c) = cache.as_deref_mut() {
                if let Some((pk, pv)) = c.layers.get(li) {
                    k = Tensor::cat(&[pk, &k], 2)?;
                    v = Tensor::cat(&[pv, &v], 2)?;
                    c.layers[li] = (k.clone(), v.clone());
                } else {
                    c.layers.push((k.clone(), v.clone()));
                }
            }
            if kv < h {
                // Grouped-query attention: head i reads key/value head i / (h / kv).
                k = k.index_select(&share, 1)?;
                v = v.index_select(&share, 1)?;
            }
            let scores = (q.matmul(&k.t()?.contiguous()?)? / (hd as f64).sqrt())?;
            let scores = scores.broadcast_add(&mask)?;
            let max = scores.max_keepdim(D::Minus1)?.detach();
            let e = scores.broadcast_sub(&max)?.exp()?;
            let att = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
            let y = att.matmul(&v.contiguous()?)?.transpose(1, 2)?.reshape((b, t, c.d_model))?;
            x = (x + candle_core::Module::forward(&blk.o, &y)?)?;
            let n = self.rms_norm(&x, &blk.post_norm)?;
            let g = candle_core::Module::forward(&blk.gate, &n)?;
            let silu = (&g * candle_nn::ops::sigmoid(&g)?)?;
            let u = candle_core::Module::forward(&blk.up, &n)?;
            x = (x + candle_core::Module::forward(&blk.down, &(silu * u)?)?)?;
        }
        self.rms_norm(&x, &self.norm)
    }
}

/// Keys and values of a sequence so far, per block (`[batch, kv_heads, time, head_dim]`, keys
/// after RoPE), for [`Transformer::forward_cached`]. Inference only: tensors in it carry no
/// gradient that training should see.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.dims().get(2).copied().unwrap_or(0))
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn batch(&self) -> usize {
        self.layers.first().map_or(0, |(k, _)| k.dims()[0])
    }

    /// The cache of one sequence repeated for `n` sequences that share it as their prefix
    /// (G completions of one prompt).
    pub fn repeat(&self, n: usize) -> Result<Self> {
        let layers = self
            .layers
            .iter()
            .map(|(k, v)| -> Result<(Tensor, Tensor)> {
                if k.dims()[0] != 1 {
                    return Err(Error::Config("only a single sequence's cache repeats".into()));
                }
                Ok((
                    k.broadcast_as(expand(k.dims(), n))?.contiguous()?,
                    v.broadcast_as(expand(v.dims(), n))?.contiguous()?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }
}

fn expand(dims: &[usize], n: usize) -> Vec<usize> {
    let mut d = dims.to_vec();
    d[0] = n;
    d
}

/// Observation values as token ids below `vocab`; anything else (a fraction, a negative, an
/// id out of range) is an error that starts with `what`.
pub(crate) fn token_ids(vals: &[f32], vocab: usize, what: &str) -> Result<Vec<u32>> {
    if let Some(bad) =
        vals.iter().find(|v| !(v.fract() == 0.0 && **v >= 0.0 && (**v as usize) < vocab))
    {
        return Err(Error::Config(format!("{what} in 0..{vocab}; the observation holds {bad}")));
    }
    Ok(vals.iter().map(|v| *v as u32).collect())
}

/// A policy head that reads its observation as a sequence of token ids (right-aligned: the
/// latest token last, padding before it) and acts from the transformer's last position.
pub struct TransformerPolicy {
    params: ParamStore,
    trunk: Transformer,
    head: Linear,
    codec: ActionCodec,
    obs_dim: usize,
}

impl std::fmt::Debug for TransformerPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformerPolicy")
            .field("trunk", &self.trunk)
            .field("obs_dim", &self.obs_dim)
            .finish_non_exhaustive()
    }
}

impl TransformerPolicy {
    /// A fresh head for observations of `obs_dim` token ids.
    pub fn new(
        obs_dim: usize,
        codec: ActionCodec,
        config: &TransformerConfig,
        device: &Device,
        seed: u64,
    ) -> Result<Self> {
        let mut params = ParamStore::new(device, seed);
        // One more id than the observations use: the start marker.
        let trunk_config = TransformerConfig { vocab: config.vocab + 1, ..config.clone() };
        let trunk = Transformer::new(&mut params, &trunk_config)?;
        let head = proj(&mut params, "lm_head", config.d_model, codec.dims() * codec.vocab())?;
        Ok(Self { params, trunk, head, codec, obs_dim })
    }

    /// Observation ids (checked) of `rows` rows.
    fn ids(&self, obs: &Tensor) -> Result<(Vec<u32>, usize, usize)> {
        let (b, t) = obs.dims2()?;
        let vals = obs.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let ids =
            token_ids(&vals, self.trunk.config.vocab - 1, "the transformer head reads token ids")?;
        Ok((ids, b, t))
    }

    /// Each row with the start marker before its first real token (after the leading padding,
    /// 0), and which positions are padding. Padding is hidden from attention, and RoPE sees
    /// only relative positions, so a token's output depends on the real tokens before it and
    /// not on how much padding precedes them.
    fn with_start(
        &self,
        ids: &[u32],
        b: usize,
        t: usize,
    ) -> (Vec<u32>, Vec<Vec<bool>>, Vec<usize>) {
        let start = (self.trunk.config.vocab - 1) as u32;
        let mut out = Vec::with_capacity(b * (t + 1));
        let mut hidden = Vec::with_capacity(b);
        let mut pads = Vec::with_capacity(b);
        for row in ids.chunks(t.max(1)) {
            let p = row.iter().take_while(|x| **x == 0).count();
            out.extend_from_slice(&row[..p]);
            out.push(start);
            out.extend_from_slice(&row[p..]);
            hidden.push((0..=t).map(|j| j < p).collect());
            pads.push(p);
        }
        (out, hidden, pads)
    }
}

impl Policy for TransformerPolicy {
    fn logits(&self, obs: &Tensor) -> Result<Tensor> {
        let (ids, b, t) = self.ids(obs)?;
        let (ids, hidden, _) = self.with_start(&ids, b, t);
        let tokens = Tensor::from_vec(ids, (b, t + 1), obs.device())?;
        let h = self.trunk.forward_masked(&tokens, Some(&hidden))?.narrow(1, t, 1)?.squeeze(1)?;
        let out = candle_core::Module::forward(&self.head, &h)?;
        Ok(out.reshape((b, self.codec.dims(), self.codec.vocab()))?)
    }
    fn episode_logits(&self, obs: &Tensor, lengths: &[usize]) -> Result<Option<Tensor>> {
        let (ids, rows, t) = self.ids(obs)?;
        if lengths.iter().sum::<usize>() != rows || lengths.contains(&0) {
            return Ok(None);
        }
        // Each episode's last row must hold its whole history: one real token per earlier step.
        let mut last = Vec::with_capacity(lengths.len() * t);
        let mut end = 0;
        for &len in lengths {
            end += len;
            let row = &ids[(end - 1) * t..end * t];
            if row.iter().filter(|x| **x != 0).count() != len - 1 {
                return Ok(None);
            }
            last.extend_from_slice(row);
        }
        let e = lengths.len();
        let (seq, hidden, pads) = self.with_start(&last, e, t);
        let tokens = Tensor::from_vec(seq, (e, t + 1), obs.device())?;
        let h = self.trunk.forward_masked(&tokens, Some(&hidden))?;
        // Step s of episode i decides at the start marker (s = 0) or after its s-th token.
        let index: Vec<u32> = lengths
            .iter()
            .zip(&pads)
            .enumerate()
            .flat_map(|(i, (&len, &p))| (0..len).map(move |s| (i * (t + 1) + p + s) as u32))
            .collect();
        let index = Tensor::from_vec(index, rows, obs.device())?;
        let d = self.trunk.config.d_model;
        let picked = h.reshape((e * (t + 1), d))?.index_select(&index, 0)?;
        let out = candle_core::Module::forward(&self.head, &picked)?;
        Ok(Some(out.reshape((rows, self.codec.dims(), self.codec.vocab()))?))
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
        "spelunk-grpo/transformer-policy"
    }
    fn token_span(&self) -> Option<std::ops::Range<usize>> {
        Some(0..self.obs_dim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LanguageModel;

    fn tiny() -> TransformerConfig {
        TransformerConfig {
            vocab: 11,
            d_model: 16,
            layers: 2,
            heads: 2,
            ffn: 24,
            ..TransformerConfig::default()
        }
    }

    #[test]
    fn every_parameter_gets_a_gradient() {
        let codec = ActionCodec::Discrete { n: 3, start: 0 };
        let p = TransformerPolicy::new(6, codec, &tiny(), &Device::Cpu, 1).unwrap();
        let obs = Tensor::from_vec(
            vec![0f32, 0., 3., 4., 9., 1., 2., 2., 5., 6., 7., 10.],
            (2, 6),
            &Device::Cpu,
        )
        .unwrap();
        let logits = p.logits(&obs).unwrap();
        assert_eq!(logits.dims(), &[2, 1, 3]);
        let loss = logits.sqr().unwrap().sum_all().unwrap();
        let dead = crate::params_without_gradient(p.params(), &loss).unwrap();
        assert!(dead.is_empty(), "{dead:?}");
    }

    #[test]
    fn cached_decoding_equals_the_full_forward_pass() {
        let config = TransformerConfig { kv_heads: Some(1), ..tiny() };
        let lm = LanguageModel::new(&config, &Device::Cpu, 4).unwrap();
        let prompt = [3u32, 1, 4, 1, 5, 9, 2];
        let mut cache = KvCache::default();
        let x = Tensor::new(&prompt[..], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let first = lm.logits_cached(&x, &mut cache).unwrap();
        assert_eq!(cache.len(), 7);
        // Three completions of the shared prompt, one token at a time.
        let mut group = cache.repeat(3).unwrap();
        // The tokens each of the three completions takes, step by step.
        let columns = [[6u32, 5, 7], [5, 8, 9], [3, 9, 3]];
        let mut seqs: Vec<Vec<u32>> = (0..3).map(|_| prompt.to_vec()).collect();
        let mut steps = Vec::new();
        for col in columns {
            for (seq, &t) in seqs.iter_mut().zip(&col) {
                seq.push(t);
            }
            let x = Tensor::from_vec(col.to_vec(), (3, 1), &Device::Cpu).unwrap();
            steps.push(lm.logits_cached(&x, &mut group).unwrap());
        }
        assert_eq!(group.len(), 10);
        for (r, seq) in seqs.iter().enumerate() {
            let x = Tensor::new(&seq[..], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let full = lm.logits(&x).unwrap().squeeze(0).unwrap();
            let diff = |a: &Tensor, b: &Tensor| -> f32 {
                (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
            };
            let prefix = full.narrow(0, 0, 7).unwrap();
            assert!(diff(&prefix, &first.squeeze(0).unwrap()) < 1e-5, "prefill");
            for (step, got) in steps.iter().enumerate() {
                let want = full.narrow(0, 7 + step, 1).unwrap();
                let got = got.narrow(0, r, 1).unwrap().squeeze(0).unwrap();
                assert!(diff(&want, &got) < 1e-5, "row {r} step {step}");
            }
        }
        let mut other = KvCache::default();
        let two = Tensor::from_vec(vec![1u32, 2, 3, 4], (2, 2), &Device::Cpu).unwrap();
        lm.logits_cached(&two, &mut other).unwrap();
        assert!(other.repeat(2).is_err(), "only one sequence's cache repeats");
        assert!(lm.logits_cached(&x, &mut other).is_err(), "batch mismatch");
    }

    #[test]
    fn attention_is_causal() {
        let mut params = ParamStore::new(&Device::Cpu, 3);
        let tf = Transformer::new(&mut params, &tiny()).unwrap();
        let a = Tensor::new(&[[1u32, 2, 3, 4, 5]], &Device::Cpu).unwrap();
        let b = Tensor::new(&[[1u32, 2, 3, 9, 10]], &Device::Cpu).unwrap();
        let ha = tf.forward(&a).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap();
        let hb = tf.forward(&b).unwrap().squeeze(0).unwrap().to_vec2::<f32>().unwrap();
        // Positions 0..3 see only tokens 0..3, which agree; position 3 onwards differ.
        for t in 0..3 {
            for (x, y) in ha[t].iter().zip(&hb[t]) {
                assert!((x - y).abs() < 1e-5, "position {t}");
            }
        }
        assert!(ha[4].iter().zip(&hb[4]).any(|(x, y)| (x - y).abs() > 1e-3));
    }

    #[test]
    fn whole_episodes_give_the_same_logits_as_step_by_step_windows() {
        let codec = ActionCodec::Discrete { n: 3, start: 0 };
        let p = TransformerPolicy::new(5, codec, &tiny(), &Device::Cpu, 2).unwrap();
        // Two episodes of right-aligned histories (window 5): 4 steps and 3 steps.
        let rows: Vec<[f32; 5]> = vec![
            [0., 0., 0., 0., 0.],
            [0., 0., 0., 0., 4.],
            [0., 0., 0., 4., 7.],
            [0., 0., 4., 7., 2.],
            [0., 0., 0., 0., 0.],
            [0., 0., 0., 0., 9.],
            [0., 0., 0., 9., 9.],
        ];
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let obs = Tensor::from_vec(flat, (7, 5), &Device::Cpu).unwrap();
        let each = p.logits(&obs).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let whole = p.episode_logits(&obs, &[4, 3]).unwrap().expect("sequence path");
        let whole = whole.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in each.iter().zip(&whole) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        // A history that does not grow one token per step falls back to row by row.
        assert!(p.episode_logits(&obs, &[3, 4]).unwrap().is_none());
    }

    #[test]
    fn out_of_vocabulary_observations_and_bad_sizes_are_errors() {
        let codec = ActionCodec::Discrete { n: 3, start: 0 };
        let p = TransformerPolicy::new(2, codec, &tiny(), &Device::Cpu, 1).unwrap();
        let obs = Tensor::from_vec(vec![0f32, 11.], (1, 2), &Device::Cpu).unwrap();
        assert!(p.logits(&obs).unwrap_err().to_string().contains("token ids in 0..11"));
        for (d_model, heads) in [(18, 4), (18, 2)] {
            // 18 does not split into 4 heads; into 2 it gives an odd head size.
            let bad = TransformerConfig { d_model, heads, ..tiny() };
            let mut params = ParamStore::new(&Device::Cpu, 0);
            assert!(Transformer::new(&mut params, &bad).is_err(), "{d_model}/{heads}");
        }
    }
}
