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
    /// SwiGLU hidden width.
    pub ffn: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm ε.
    pub norm_eps: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        Self {
            vocab: 64,
            d_model: 64,
            layers: 2,
            heads: 4,
            ffn: 128,
            rope_theta: 10_000.0,
            norm_eps: 1e-5,
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

fn proj(params: &mut ParamStore, name: &str, inputs: usize, outputs: usize) -> Result<Linear> {
    let bound = 1.0 / (inputs as f64).sqrt();
    Ok(Linear::new(params.uniform(&format!("{name}.weight"), &[outputs, inputs], bound)?, None))
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
        let embed = params.normal("model.embed_tokens.weight", &[c.vocab, c.d_model], 0.02)?;
        let mut blocks = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let p = format!("model.layers.{i}");
            let d = c.d_model;
            blocks.push(Block {
                input_norm: ones(params, &format!("{p}.input_layernorm.weight"), d)?,
                q: proj(params, &format!("{p}.self_attn.q_proj"), d, d)?,
                k: proj(params, &format!("{p}.self_attn.k_proj"), d, d)?,
                v: proj(params, &format!("{p}.self_attn.v_proj"), d, d)?,
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
        let (b, t) = tokens.dims2()?;
        let c = &self.config;
        let (h, hd) = (c.heads, c.d_model / c.heads);
        let device = tokens.device();
        let mut x =
            self.embed.index_select(&tokens.flatten_all()?, 0)?.reshape((b, t, c.d_model))?;
        let (cos, sin) = self.rope(t, device)?;
        let mask: Vec<f32> =
            (0..t * t).map(|i| if i % t > i / t { f32::NEG_INFINITY } else { 0.0 }).collect();
        let mask = Tensor::from_vec(mask, (t, t), device)?;
        let rotate = |q: &Tensor| -> Result<Tensor> {
            let x1 = q.narrow(D::Minus1, 0, hd / 2)?;
            let x2 = q.narrow(D::Minus1, hd / 2, hd / 2)?;
            let rot = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
            Ok((q.broadcast_mul(&cos)? + rot.broadcast_mul(&sin)?)?)
        };
        for blk in &self.blocks {
            let n = self.rms_norm(&x, &blk.input_norm)?;
            let heads = |l: &Linear| -> Result<Tensor> {
                Ok(candle_core::Module::forward(l, &n)?
                    .reshape((b, t, h, hd))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let q = rotate(&heads(&blk.q)?)?;
            let k = rotate(&heads(&blk.k)?)?;
            let v = heads(&blk.v)?;
            let scores = (q.matmul(&k.t()?.contiguous()?)? / (hd as f64).sqrt())?;
            let scores = scores.broadcast_add(&mask)?;
            let max = scores.max_keepdim(D::Minus1)?.detach();
            let e = scores.broadcast_sub(&max)?.exp()?;
            let att = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
            let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, c.d_model))?;
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
        let trunk = Transformer::new(&mut params, config)?;
        let head = proj(&mut params, "lm_head", config.d_model, codec.dims() * codec.vocab())?;
        Ok(Self { params, trunk, head, codec, obs_dim })
    }
}

impl Policy for TransformerPolicy {
    fn logits(&self, obs: &Tensor) -> Result<Tensor> {
        let (b, t) = obs.dims2()?;
        let ids = obs.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let vocab = self.trunk.config.vocab;
        if let Some(bad) =
            ids.iter().find(|v| !(v.fract() == 0.0 && **v >= 0.0 && (**v as usize) < vocab))
        {
            return Err(Error::Config(format!(
                "the transformer head reads token ids in 0..{vocab}; the observation holds {bad}"
            )));
        }
        let ids: Vec<u32> = ids.iter().map(|v| *v as u32).collect();
        let tokens = Tensor::from_vec(ids, (b, t), obs.device())?;
        let hidden = self.trunk.forward(&tokens)?.narrow(1, t - 1, 1)?.squeeze(1)?;
        let out = candle_core::Module::forward(&self.head, &hidden)?;
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
        "spelunk-grpo/transformer-policy"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
