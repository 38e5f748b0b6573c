//! `spelunk-models`: the candle building blocks Spelunk's learners share.
//!
//! - [`params`]: [`ParamStore`], seeded parameters in creation order, and safetensors
//!   checkpoints that name their module and refuse another module's or shape's file.
//! - [`layers`]: MLP, a small CNN for pixels, a GRU cell — differentiable ops only.
//! - [`dense`]: a CPU fast path for training small MLPs (the bonus networks), checked
//!   against candle's autograd.
//! - [`optim`]: Adam/AdamW with gradient-norm clipping.
//! - [`policy`]: policy heads over action tokens (discrete, or continuous binned per
//!   dimension) — the MLP head; the `Policy` trait the GRPO core trains.
//! - [`transformer`]: a small Llama-layout decoder (RMSNorm, RoPE, causal attention, SwiGLU)
//!   from differentiable ops, and the policy head that reads token-id observations.
//!
//! CPU by default; GPU support arrives behind a `cuda` feature with the policy heads.

pub mod dense;
pub mod error;
pub mod layers;
pub mod optim;
pub mod params;
pub mod policy;
pub mod transformer;

pub use candle_core::{DType, Device, Tensor};
pub use dense::DenseMlp;
pub use error::{Error, Result};
pub use layers::{Activation, Cnn, GruCell, Mlp};
pub use optim::{Adam, AdamConfig};
pub use params::ParamStore;
pub use policy::{ActionCodec, CnnPolicy, ImageLayout, MlpPolicy, MlpPolicyConfig, Policy};
pub use transformer::{LanguageModel, Transformer, TransformerConfig, TransformerPolicy};

/// Gradient check used by every module's tests: the names of parameters whose gradient is
/// missing or all zeros after backpropagating `loss`.
pub fn params_without_gradient(params: &ParamStore, loss: &Tensor) -> Result<Vec<String>> {
    let grads = loss.backward()?;
    let mut dead = Vec::new();
    for (name, var) in params.named() {
        let alive = match grads.get(var.as_tensor()) {
            Some(g) => g.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0,
            None => false,
        };
        if !alive {
            dead.push(name.clone());
        }
    }
    Ok(dead)
}
