//! Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019) over a [`ParamStore`], with
//! optional global gradient-norm clipping. Defaults: lr 1e-3, β = (0.9, 0.999), ε = 1e-8,
//! weight decay 0 (Adam) or 0.01 (AdamW), as in PyTorch.
//!
//! The update is candle-nn's AdamW step, operation for operation (`θ ← θ(1 − lr·λ) −
//! lr·m̂/(√v̂ + ε)` with bias-corrected moments), written here so that the moments and the step
//! count can be saved and restored ([`Adam::state_bytes`], [`Adam::load_state`]): a resumed run
//! continues exactly where it stopped.

use std::collections::HashMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, ParamStore, Result};

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

impl AdamConfig {
    /// Check every number: a learning rate, moment decays and ε that train at all, finite
    /// weight decay and clipping norm. The message names the field (`adam.lr`, …).
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("adam.lr must be a positive finite number, got {}", self.lr));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("adam.{name} must be in [0, 1), got {b}"));
            }
        }
        if !(self.eps > 0.0 && self.eps.is_finite()) {
            return bad(format!(
                "adam.eps must be a positive finite number (it keeps the step's denominator \
                 away from 0), got {}",
                self.eps
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!(
                "adam.weight_decay must be a finite number, 0 or more, got {}",
                self.weight_decay
            ));
        }
        if let Some(m) = self.max_grad_norm {
            if !(m > 0.0 && m.is_finite()) {
                return bad(format!("adam.max_grad_norm must be positive and finite, got {m}"));
            }
        }
        Ok(())
    }
}

/// Adam/AdamW bound to a store's variables.
pub struct Adam {
    vars: Vec<Var>,
    /// First and second moments per variable.
    moments: Vec<(Var, Var)>,
    step_t: u64,
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

    fn over(vars: Vec<Var>, config: AdamConfig) -> Result<Self> {
        config.validate()?;
        let vars: Vec<Var> = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        let moments = vars
            .iter()
            .map(|v| {
                Ok((
                    Var::zeros(v.shape(), v.dtype(), v.device())?,
                    Var::zeros(v.shape(), v.dtype(), v.device())?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { vars, moments, step_t: 0, config })
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step_t
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        self.config.lr
    }

    /// Change the learning rate (the moments stay): a positive finite number, else an error
    /// naming `adam.lr`.
    pub fn set_lr(&mut self, lr: f64) -> Result<()> {
        AdamConfig { lr, ..self.config }.validate()?;
        self.config.lr = lr;
        Ok(())
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_by(|_, theta| grads.get(theta).cloned())
    }

    /// One step with a gradient per variable, in the store's order (as
    /// [`crate::DenseMlp::backward`] gives them), clipped like [`Adam::backward_step`];
    /// returns the gradient norm before clipping.
    pub fn step_with_grads(&mut self, grads: &[Vec<f32>]) -> Result<f64> {
        if grads.len() != self.vars.len() {
            return Err(Error::Config(format!(
                "{} gradients for {} variables",
                grads.len(),
                self.vars.len()
            )));
        }
        let mut total = 0.0;
        for (g, v) in grads.iter().zip(&self.vars) {
            if g.len() != v.elem_count() {
                return Err(Error::Config(format!(
                    "a gradient of {} values for a variable of shape {:?}",
                    g.len(),
                    v.dims()
                )));
            }
            total += g.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>();
        }
        let norm: f64 = total.sqrt();
        let scale = match self.config.max_grad_norm {
            Some(max) if norm > max && norm.is_finite() => Some(max / norm),
            _ => None,
        };
        let tensors = grads
            .iter()
            .zip(&self.vars)
            .map(|(g, v)| {
                let t = Tensor::from_slice(g, v.shape(), v.device())?;
                Ok(match scale {
                    Some(s) => (t * s)?,
                    None => t,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.step_by(|i, _| Some(tensors[i].clone()))?;
        Ok(norm)
    }

    fn step_by(&mut self, grad_of: impl Fn(usize, &Tensor) -> Option<Tensor>) -> Result<()> {
        self.step_t += 1;
        let c = self.config;
        let lr_lambda = c.lr * c.weight_decay;
        let scale_m = 1f64 / (1f64 - c.beta1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - c.beta2.powi(self.step_t as i32));
        for (i, (theta, (m, v))) in self.vars.iter().zip(&self.moments).enumerate() {
            if let Some(g) = grad_of(i, theta.as_tensor()) {
                let g = &g;
                let next_m = ((m.as_tensor() * c.beta1)? + (g * (1.0 - c.beta1))?)?;
                let next_v = ((v.as_tensor() * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
                let m_hat = (&next_m * scale_m)?;
                let v_hat = (&next_v * scale_v)?;
                let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
                let adjusted = (m_hat / (v_hat.sqrt()? + c.eps)?)?;
                let next_theta = (next_theta - (adjusted * c.lr)?)?;
                m.set(&next_m)?;
                v.set(&next_v)?;
                theta.set(&next_theta)?;
            }
        }
        Ok(())
    }

    /// The moments and the step count as safetensors bytes (`m.{i}`, `v.{i}` in variable
    /// order; the step count in the metadata).
    pub fn state_bytes(&self) -> Result<Vec<u8>> {
        let names: Vec<(String, String)> =
            (0..self.moments.len()).map(|i| (format!("m.{i}"), format!("v.{i}"))).collect();
        let mut data: Vec<(&str, &Tensor)> = Vec::with_capacity(2 * self.moments.len());
        for ((mn, vn), (m, v)) in names.iter().zip(&self.moments) {
            data.push((mn.as_str(), m.as_tensor()));
            data.push((vn.as_str(), v.as_tensor()));
        }
        let mut meta = HashMap::new();
        meta.insert("spelunk.module".to_owned(), "adam".to_owned());
        meta.insert("spelunk.step".to_owned(), self.step_t.to_string());
        safetensors::tensor::serialize(data, Some(meta))
            .map(crate::params::sorted_metadata)
            .map_err(|e| Error::Checkpoint { path: "<adam>".into(), message: e.to_string() })
    }

    /// Check that `bytes` is an optimiser state for exactly these variables, changing nothing.
    pub fn check_state(&self, bytes: &[u8], source: &str) -> Result<()> {
        self.parse_state(bytes, source).map(|_| ())
    }

    fn parse_state(&self, bytes: &[u8], source: &str) -> Result<(u64, Vec<(Tensor, Tensor)>)> {
        let bad = |message: String| Error::Checkpoint { path: source.to_owned(), message };
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let info = meta.metadata().clone().unwrap_or_default();
        if info.get("spelunk.module").map(String::as_str) != Some("adam") {
            return Err(bad("not an optimiser state".into()));
        }
        let step: u64 = info
            .get("spelunk.step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no step count".into()))?;
        let loaded = candle_core::safetensors::load_buffer(bytes, self.vars[0].device())
            .map_err(|e| bad(e.to_string()))?;
        if loaded.len() != 2 * self.moments.len() {
            return Err(bad(format!(
                "{} moment tensors for {} variables",
                loaded.len(),
                self.moments.len()
            )));
        }
        let mut next = Vec::with_capacity(self.moments.len());
        for (i, theta) in self.vars.iter().enumerate() {
            let get = |k: String| {
                let t = loaded.get(&k).ok_or_else(|| bad(format!("missing `{k}`")))?;
                if t.dims() == theta.dims() && t.dtype() == theta.dtype() {
                    Ok(t.clone())
                } else {
                    Err(bad(format!("`{k}` is {:?}, the variable {:?}", t.dims(), theta.dims())))
                }
            };
            next.push((get(format!("m.{i}"))?, get(format!("v.{i}"))?));
        }
        Ok((step, next))
    }

    /// Restore moments written by [`Adam::state_bytes`] for the same variables (count and
    /// shapes); `source` names the bytes in errors. Nothing changes unless every check passes.
    pub fn load_state(&mut self, bytes: &[u8], source: &str) -> Result<()> {
        let (step, next) = self.parse_state(bytes, source)?;
        for ((m, v), (nm, nv)) in self.moments.iter().zip(&next) {
            m.set(nm)?;
            v.set(nv)?;
        }
        self.step_t = step;
        Ok(())
    }

    /// Backpropagate `loss` and take one step; returns the gradient norm before clipping.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<f64> {
        self.step_summed(vec![loss.backward()?])
    }

    /// Take one step along the sum of several gradients (of one loss split into parts, each
    /// backpropagated on its own, e.g. on its own thread), added in the order given so that
    /// the step does not depend on which part finished first; returns the summed gradient's
    /// norm before clipping. One store is used as it is.
    pub fn step_summed(&mut self, stores: Vec<GradStore>) -> Result<f64> {
        let mut stores = stores.into_iter();
        let Some(mut grads) = stores.next() else {
            return Err(Error::Config("a step needs at least one gradient".into()));
        };
        for more in stores {
            for v in &self.vars {
                if let Some(g) = more.get(v.as_tensor()) {
                    let sum = match grads.get(v.as_tensor()) {
                        Some(acc) => (acc + g)?,
                        None => g.clone(),
                    };
                    grads.insert(v.as_tensor(), sum);
                }
            }
        }
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
        self.step(&grads)?;
        Ok(norm)
    }
}

/// Global L2 norm of the gradients of `vars`.
pub fn grad_norm(grads: &GradStore, vars: &[Var]) -> Result<f64> {
    let mut total = 0.0;
    for v in vars {
        if let Some(g) = grads.get(v.as_tensor()) {
            total += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
        }
    }
    Ok(total.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Mlp};
    use candle_core::Device;

    /// An MLP and its optimiser, the same for the same seed.
    fn net(seed: u64) -> (ParamStore, Mlp, Adam) {
        let mut params = ParamStore::new(&Device::Cpu, seed);
        let mlp = Mlp::new(&mut params, "net", 5, &[16, 16], 3, Activation::Tanh).expect("mlp");
        let config = AdamConfig { max_grad_norm: Some(0.05), ..AdamConfig::default() };
        let adam = Adam::new(&params, config).expect("adam");
        (params, mlp, adam)
    }

    fn values(p: &ParamStore) -> Vec<f32> {
        p.vars()
            .iter()
            .flat_map(|v| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap())
            .collect()
    }

    #[test]
    fn a_step_along_summed_parts_is_the_step_along_the_whole() {
        // A loss that sums over rows, split into row ranges backpropagated on their own: the
        // summed gradients give the whole loss's step (clipping included), up to rounding.
        let rows = 12;
        let x: Vec<f32> = (0..rows * 5).map(|i| ((i * 37 % 23) as f32 / 11.0) - 1.0).collect();
        let x = Tensor::from_vec(x, (rows, 5), &Device::Cpu).unwrap();
        let loss = |mlp: &Mlp, lo: usize, hi: usize| {
            let y = mlp.forward(&x.narrow(0, lo, hi - lo).unwrap()).unwrap();
            (y.sqr().unwrap().sum_all().unwrap() / rows as f64).unwrap()
        };
        let (whole, mlp, mut adam) = net(4);
        let norm = adam.backward_step(&loss(&mlp, 0, rows)).unwrap();
        let (parts, mlp2, mut adam2) = net(4);
        let grads = [(0, 5), (5, 9), (9, 12)]
            .iter()
            .map(|&(lo, hi)| loss(&mlp2, lo, hi).backward().unwrap())
            .collect();
        let norm2 = adam2.step_summed(grads).unwrap();
        assert!(norm > 0.05, "the clip applies ({norm})");
        assert!((norm - norm2).abs() < 1e-5 * norm, "gradient norms {norm} and {norm2}");
        let (a, b) = (values(&whole), values(&parts));
        let moved = a.iter().zip(values(&net(4).0)).any(|(x, y)| (x - y).abs() > 1e-4);
        assert!(moved, "the step moves the parameters");
        let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(d < 1e-6, "parameters differ by {d}");
        assert!(adam2.step_summed(Vec::new()).is_err(), "no gradient, no step");
    }
}
