//! Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019) over a [`ParamStore`], with
//! optional global gradient-norm clipping. Defaults: lr 1e-3, β = (0.9, 0.999), ε = 1e-8,
//! weight decay 0 (Adam) or 0.01 (AdamW), as in PyTorch.

use candle_core::backprop::GradStore;
use candle_core::Tensor;
use candle_nn::{Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use crate::{ParamStore, Result};

/// Optimiser settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f64,
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator constant.
    pub eps: f64,
    /// Decoupled weight decay (0 = Adam).
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: None,
        }
    }
}

/// Adam/AdamW bound to a store's variables.
pub struct Adam {
    inner: candle_nn::AdamW,
    vars: Vec<candle_core::Var>,
    config: AdamConfig,
}

impl std::fmt::Debug for Adam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Adam").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Adam {
    /// An optimiser over every variable of `params`.
    pub fn new(params: &ParamStore, config: AdamConfig) -> Result<Self> {
        Self::over(params.vars(), config)
    }

    /// An optimiser over the variables of several stores.
    pub fn over_stores(stores: &[&ParamStore], config: AdamConfig) -> Result<Self> {
        Self::over(stores.iter().flat_map(|s| s.vars()).collect(), config)
    }

    fn over(vars: Vec<candle_core::Var>, config: AdamConfig) -> Result<Self> {
        let p = ParamsAdamW {
            lr: config.lr,
            beta1: config.beta1,
            beta2: config.beta2,
            eps: config.eps,
            weight_decay: config.weight_decay,
        };
        Ok(Self { inner: candle_nn::AdamW::new(vars.clone(), p)?, vars, config })
    }

    /// Backpropagate `loss` and take one step; returns the gradient norm before clipping.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<f64> {
        let mut grads = loss.backward()?;
        let norm = grad_norm(&grads, &self.vars)?;
        if let Some(max) = self.config.max_grad_norm {
            if norm > max && norm.is_finite() {
                let scale = max / norm;
                for v in &self.vars {
                    if let Some(g) = grads.get(v.as_tensor()) {
                        let scaled = (g * scale)?;
                        grads.insert(v.as_tensor(), scaled);
                    }
                }
            }
        }
        self.inner.step(&grads)?;
        Ok(norm)
    }
}

/// Global L2 norm of the gradients of `vars`.
pub fn grad_norm(grads: &GradStore, vars: &[candle_core::Var]) -> Result<f64> {
    let mut total = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
    }
    Ok(total.sqrt())
}
