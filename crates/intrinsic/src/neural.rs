//! Helpers shared by the learned bonuses: batches as tensors, observation normalisation,
//! a differentiable log-softmax, normalised L2, and module-state encoding.

use spelunk_core::{ByteReader, ByteWriter};
use spelunk_models::{Activation, Adam, Cnn, Device, Mlp, ParamStore, Tensor};

use crate::normalize::RunningMeanStd;
use crate::{BatchActions, Error, ModuleState, Result};

pub(crate) fn model_err(module: &'static str) -> impl Fn(spelunk_models::Error) -> Error {
    move |e| Error::Shape { module, message: e.to_string() }
}

pub(crate) fn candle_err(module: &'static str) -> impl Fn(candle_core::Error) -> Error {
    move |e| Error::Shape { module, message: e.to_string() }
}

/// A network from flat observation rows: an MLP, or — for frames stored `[height, width,
/// channels]` row-major, as the envs' pixel observations are — the CNN trunk (conv 8×8/4,
/// 4×4/2, 3×3/1, as RND and ICM use) followed by an MLP.
pub(crate) enum Encoder {
    Mlp(Mlp),
    Cnn { cnn: Cnn, head: Option<Mlp>, shape: [usize; 3] },
}

impl Encoder {
    /// `obs_dim → hidden → outputs` as an MLP; for `pixels`, the CNN gives `hidden[0]`
    /// features (or `outputs` when `hidden` is empty) and an MLP `hidden[1..]` maps them on.
    pub(crate) fn new(
        params: &mut ParamStore,
        name: &str,
        obs_dim: usize,
        pixels: Option<[usize; 3]>,
        hidden: &[usize],
        outputs: usize,
    ) -> spelunk_models::Result<Self> {
        match pixels {
            None => Ok(Encoder::Mlp(Mlp::new(
                params,
                name,
                obs_dim,
                hidden,
                outputs,
                Activation::Relu,
            )?)),
            Some(shape @ [h, w, c]) => {
                let width = hidden.first().copied().unwrap_or(outputs);
                let cnn = Cnn::new(params, &format!("{name}.cnn"), c, h, w, width)?;
                let head = if hidden.is_empty() {
                    None
                } else {
                    Some(Mlp::new(
                        params,
                        &format!("{name}.head"),
                        width,
                        &hidden[1..],
                        outputs,
                        Activation::Relu,
                    )?)
                };
                Ok(Encoder::Cnn { cnn, head, shape })
            }
        }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> spelunk_models::Result<Tensor> {
        match self {
            Encoder::Mlp(m) => m.forward(x),
            Encoder::Cnn { cnn, head, shape: [h, w, c] } => {
                let n = x.dim(0)?;
                let frames = x.reshape((n, *h, *w, *c))?.permute((0, 3, 1, 2))?.contiguous()?;
                let y = cnn.forward(&frames)?;
                match head {
                    Some(m) => m.forward(&y.relu()?),
                    None => Ok(y),
                }
            }
        }
    }
}

/// Checks that `pixels`, when given, describes frames of exactly `obs_dim` values.
pub(crate) fn check_pixels(
    module: &'static str,
    obs_dim: usize,
    pixels: Option<[usize; 3]>,
) -> Result<()> {
    match pixels {
        Some([h, w, c]) if h * w * c != obs_dim => Err(Error::Config {
            module,
            message: format!("pixels {h}×{w}×{c} do not make obs_dim {obs_dim}"),
        }),
        _ => Ok(()),
    }
}

/// Rows of `dim` floats as a `[n, dim]` tensor.
pub(crate) fn rows(values: &[f32], dim: usize, device: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_slice(values, (values.len() / dim.max(1), dim), device)
}

/// Actions as a `[n, width]` tensor: one-hot for discrete actions (`width` = number of
/// actions; out-of-range indices are errors), raw values for continuous ones.
pub(crate) fn actions(
    module: &'static str,
    a: BatchActions<'_>,
    width: usize,
    device: &Device,
) -> Result<Tensor> {
    let data: Vec<f32> = match a {
        BatchActions::Discrete(idx) => {
            let mut v = vec![0f32; idx.len() * width];
            for (i, &k) in idx.iter().enumerate() {
                if k < 0 || k as usize >= width {
                    return Err(Error::Shape {
                        module,
                        message: format!("action {k} outside 0..{width}"),
                    });
                }
                v[i * width + k as usize] = 1.0;
            }
            v
        }
        BatchActions::Continuous { values, dims } => {
            if dims != width {
                return Err(Error::Shape {
                    module,
                    message: format!("actions have {dims} dims, the module was built for {width}"),
                });
            }
            values.to_vec()
        }
    };
    rows(&data, width, device).map_err(candle_err(module))
}

/// `log softmax` over the last dimension from differentiable ops.
pub(crate) fn log_softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(candle_core::D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(candle_core::D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}

/// `‖a/‖a‖ − b/‖b‖‖²` per row (BYOL's normalised L2, in `[0, 4]`).
pub(crate) fn normalized_l2(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let unit = |t: &Tensor| -> candle_core::Result<Tensor> {
        let n = (t.sqr()?.sum_keepdim(candle_core::D::Minus1)? + 1e-8)?.sqrt()?;
        t.broadcast_div(&n)
    };
    (unit(a)? - unit(b)?)?.sqr()?.sum(candle_core::D::Minus1)
}

/// Per-feature running mean/std normalisation with clipping (RND: clip to ±5).
#[derive(Clone, Debug)]
pub(crate) struct ObsNorm {
    pub stats: Vec<RunningMeanStd>,
    pub clip: f32,
    column: Vec<f64>,
}

impl ObsNorm {
    pub fn new(dim: usize, clip: f32) -> Self {
        Self { stats: vec![RunningMeanStd::default(); dim], clip, column: Vec::new() }
    }
    pub fn update(&mut self, values: &[f32]) {
        let dim = self.stats.len();
        for (j, s) in self.stats.iter_mut().enumerate() {
            self.column.clear();
            self.column.extend(values.iter().skip(j).step_by(dim).map(|&v| f64::from(v)));
            s.update(&self.column);
        }
    }
    pub fn apply(&self, values: &[f32]) -> Vec<f32> {
        let dim = self.stats.len();
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let s = &self.stats[i % dim];
                let std = s.var().sqrt().max(1e-6);
                (((f64::from(v) - s.mean) / std) as f32).clamp(-self.clip, self.clip)
            })
            .collect()
    }
    pub fn write(&self, w: &mut ByteWriter) {
        w.u32(self.stats.len() as u32);
        for s in &self.stats {
            w.f64(s.count);
            w.f64(s.mean);
            w.f64(s.m2);
        }
    }
    pub fn read(&mut self, r: &mut ByteReader<'_>) -> spelunk_core::Result<()> {
        let n = r.u32()? as usize;
        if n != self.stats.len() {
            return Err(spelunk_core::Error::Snapshot(format!(
                "normaliser has {n} features, the module {}",
                self.stats.len()
            )));
        }
        for s in &mut self.stats {
            *s = RunningMeanStd { count: r.f64()?, mean: r.f64()?, m2: r.f64()? };
        }
        Ok(())
    }
}

/// Encode a module: its parameter stores (safetensors bytes each) and extra state bytes.
pub(crate) fn save_state(
    module: &'static str,
    version: u32,
    stores: &[&ParamStore],
    optimizers: &[&Adam],
    extra: &ByteWriter,
    config_json: &str,
) -> Result<ModuleState> {
    let mut w = ByteWriter::new();
    w.bytes(config_json.as_bytes());
    w.u32(stores.len() as u32);
    for s in stores {
        w.bytes(&s.to_bytes(module, config_json).map_err(model_err(module))?);
    }
    w.u32(optimizers.len() as u32);
    for o in optimizers {
        w.bytes(&o.state_bytes().map_err(model_err(module))?);
    }
    w.bytes(extra.as_bytes());
    Ok(ModuleState { module: module.to_owned(), version, bytes: w.finish(module.to_owned()).bytes })
}

/// Decode what [`save_state`] wrote into the stores; returns the extra bytes. Checks the
/// module name, version, config and every tensor before changing a store.
pub(crate) fn load_state(
    state: &ModuleState,
    module: &'static str,
    version: u32,
    stores: &[&ParamStore],
    optimizers: &mut [&mut Adam],
) -> Result<Vec<u8>> {
    let mut r = state.expect(module, version)?;
    let bad = |e: spelunk_core::Error| Error::Checkpoint(e.to_string());
    // The saved config is kept for people reading the checkpoint; what must match (every
    // parameter's name and shape) is checked tensor by tensor below.
    r.bytes().map_err(bad)?;
    let n = r.u32().map_err(bad)? as usize;
    if n != stores.len() {
        return Err(Error::Checkpoint(format!(
            "state has {n} parameter sets, `{module}` has {}",
            stores.len()
        )));
    }
    let blobs: Vec<&[u8]> =
        (0..n).map(|_| r.bytes()).collect::<spelunk_core::Result<_>>().map_err(bad)?;
    let k = r.u32().map_err(bad)? as usize;
    if k != optimizers.len() {
        return Err(Error::Checkpoint(format!(
            "state has {k} optimiser states, `{module}` has {}",
            optimizers.len()
        )));
    }
    let opt_blobs: Vec<&[u8]> =
        (0..k).map(|_| r.bytes()).collect::<spelunk_core::Result<_>>().map_err(bad)?;
    let extra = r.bytes().map_err(bad)?.to_vec();
    r.finish().map_err(bad)?;
    // Validate every store on a scratch copy first, so a bad blob changes nothing.
    for (store, blob) in stores.iter().zip(&blobs) {
        let scratch = store.deep_copy().map_err(model_err(module))?;
        scratch
            .load_bytes(blob, module, "<module state>")
            .map_err(|e| Error::Checkpoint(e.to_string()))?;
    }
    for (opt, blob) in optimizers.iter().zip(&opt_blobs) {
        opt.check_state(blob, "<module state>").map_err(|e| Error::Checkpoint(e.to_string()))?;
    }
    for (store, blob) in stores.iter().zip(&blobs) {
        store
            .load_bytes(blob, module, "<module state>")
            .map_err(|e| Error::Checkpoint(e.to_string()))?;
    }
    for (opt, blob) in optimizers.iter_mut().zip(&opt_blobs) {
        opt.load_state(blob, "<module state>").map_err(|e| Error::Checkpoint(e.to_string()))?;
    }
    Ok(extra)
}
