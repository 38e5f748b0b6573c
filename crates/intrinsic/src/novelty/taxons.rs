//! TAXONS' behaviour space: an autoencoder on the final frames of episodes. The encoder's
//! `latent`-value code is the behaviour descriptor; the reconstruction error is the surprise.
//!
//! The network is one MLP `frame → 64 → latent → 64 → frame` with tanh between layers (the
//! code is the second layer's tanh output, in `[-1, 1]^latent`), trained on squared
//! reconstruction error with Adam through the dense CPU path.

use spelunk_core::Rng;
use spelunk_models::dense::{DenseMlp, Trace};
use spelunk_models::{Activation, Adam, AdamConfig, Device, Mlp, ParamStore};

use crate::{Error, Result};

#[expect(clippy::needless_pass_by_value, reason = "used as `map_err(err)`")]
fn err(e: spelunk_models::Error) -> Error {
    Error::Shape { module: "taxons", message: e.to_string() }
}

/// The autoencoder.
pub struct AutoEncoder {
    inputs: usize,
    latent: usize,
    mlp: Mlp,
    dense: DenseMlp,
    opt: Adam,
    trace: Trace,
    grads: Vec<Vec<f32>>,
    d_out: Vec<f32>,
    _params: ParamStore,
}

impl std::fmt::Debug for AutoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutoEncoder")
            .field("inputs", &self.inputs)
            .field("latent", &self.latent)
            .finish_non_exhaustive()
    }
}

impl AutoEncoder {
    /// An autoencoder for `inputs`-value frames with a `latent`-value code.
    pub fn new(inputs: usize, latent: usize, lr: f64, seed: u64) -> Result<Self> {
        let mut params = ParamStore::new(&Device::Cpu, seed);
        let mlp = Mlp::new(&mut params, "ae", inputs, &[64, latent, 64], inputs, Activation::Tanh)
            .map_err(err)?;
        let dense = DenseMlp::from_mlp(&mlp).map_err(err)?;
        let opt = Adam::new(&params, AdamConfig { lr, ..AdamConfig::default() }).map_err(err)?;
        Ok(Self {
            inputs,
            latent,
            mlp,
            dense,
            opt,
            trace: Trace::default(),
            grads: Vec::new(),
            d_out: Vec::new(),
            _params: params,
        })
    }

    /// Train `epochs` passes over `frames` (each `inputs` values) in shuffled minibatches;
    /// returns the last epoch's mean loss.
    pub fn train(
        &mut self,
        frames: &[&[f32]],
        epochs: usize,
        batch: usize,
        rng: &mut Rng,
    ) -> Result<f32> {
        let mut order: Vec<usize> = (0..frames.len()).collect();
        let mut last = 0.0;
        let mut x = Vec::new();
        for _ in 0..epochs {
            rng.shuffle(&mut order);
            let (mut total, mut count) = (0.0f64, 0usize);
            for chunk in order.chunks(batch.max(1)) {
                x.clear();
                for &i in chunk {
                    x.extend_from_slice(frames[i]);
                }
                self.dense.forward(&x, chunk.len(), &mut self.trace).map_err(err)?;
                let n = (chunk.len() * self.inputs) as f32;
                self.d_out.clear();
                for (o, t) in self.trace.output().iter().zip(&x) {
                    let e = o - t;
                    total += f64::from(e * e);
                    self.d_out.push(2.0 * e / n);
                }
                count += chunk.len() * self.inputs;
                self.dense.backward(&mut self.trace, &self.d_out, &mut self.grads).map_err(err)?;
                self.opt.step_with_grads(&self.grads).map_err(err)?;
                self.dense.refresh(&self.mlp).map_err(err)?;
            }
            last = (total / count.max(1) as f64) as f32;
        }
        Ok(last)
    }

    /// The code and the reconstruction error (mean squared) of each frame.
    pub fn encode(&mut self, frames: &[&[f32]]) -> Result<Vec<(Vec<f32>, f32)>> {
        let mut out = Vec::with_capacity(frames.len());
        let mut x = Vec::new();
        for chunk in frames.chunks(256) {
            x.clear();
            for f in chunk {
                x.extend_from_slice(f);
            }
            self.dense.forward(&x, chunk.len(), &mut self.trace).map_err(err)?;
            let code = self.trace.activation(1);
            let recon = self.trace.output();
            for (r, f) in chunk.iter().enumerate() {
                let c = code[r * self.latent..(r + 1) * self.latent].to_vec();
                let e = recon[r * self.inputs..(r + 1) * self.inputs]
                    .iter()
                    .zip(f.iter())
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum::<f32>()
                    / self.inputs as f32;
                out.push((c, e));
            }
        }
        Ok(out)
    }
}
