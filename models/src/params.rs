//! Seeded parameters and safetensors checkpoints.
//!
//! candle's `VarMap` keeps variables in a hash map and initialises them from an unseeded
//! generator; [`ParamStore`] keeps them in creation order and draws initial values from
//! Spelunk's seeded [`Rng`], so the same seed gives the same network on every run and thread
//! count. Initialisation follows PyTorch's `nn.Linear`/`nn.Conv2d` default (Kaiming-uniform
//! with `a = √5`, i.e. `U(−1/√fan_in, 1/√fan_in)` for weights and biases).
//!
//! Checkpoints are safetensors files whose metadata names the module (`spelunk.module`) and
//! its config (`spelunk.config`, JSON); loading checks the module, every name and every shape
//! before changing anything.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use spelunk_core::Rng;

use crate::{Error, Result};

/// Named trainable variables in creation order.
#[derive(Clone)]
pub struct ParamStore {
    device: Device,
    vars: Vec<(String, Var)>,
    rng: Rng,
}

impl std::fmt::Debug for ParamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParamStore")
            .field("params", &self.vars.len())
            .field("numel", &self.numel())
            .finish_non_exhaustive()
    }
}

impl ParamStore {
    /// An empty store whose initial values come from `seed`.
    pub fn new(device: &Device, seed: u64) -> Self {
        Self { device: device.clone(), vars: Vec::new(), rng: Rng::seed_from_u64(seed) }
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A variable with values `U(−bound, bound)`.
    pub fn uniform(&mut self, name: &str, shape: &[usize], bound: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> =
            (0..n).map(|_| ((self.rng.f64() * 2.0 - 1.0) * bound) as f32).collect();
        self.add(name, &Tensor::from_vec(data, shape, &self.device)?)
    }

    /// A variable with values `N(0, std²)`.
    pub fn normal(&mut self, name: &str, shape: &[usize], std: f64) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| (self.rng.normal() * std) as f32).collect();
        self.add(name, &Tensor::from_vec(data, shape, &self.device)?)
    }

    /// A variable of zeros.
    pub fn zeros(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.add(name, &Tensor::zeros(shape, DType::F32, &self.device)?)
    }

    /// A variable of ones (normalisation gains).
    pub fn ones(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.add(name, &Tensor::ones(shape, DType::F32, &self.device)?)
    }

    fn add(&mut self, name: &str, t: &Tensor) -> Result<Tensor> {
        if self.vars.iter().any(|(n, _)| n == name) {
            return Err(Error::Config(format!("parameter `{name}` defined twice")));
        }
        let var = Var::from_tensor(t)?;
        let out = var.as_tensor().clone();
        self.vars.push((name.to_owned(), var));
        Ok(out)
    }

    /// An independent copy (new variables with the same values).
    pub fn deep_copy(&self) -> Result<Self> {
        let vars = self
            .vars
            .iter()
            .map(|(n, v)| Ok((n.clone(), Var::from_tensor(&v.as_tensor().copy()?)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { device: self.device.clone(), vars, rng: self.rng })
    }

    /// The variables, for an optimiser.
    pub fn vars(&self) -> Vec<Var> {
        self.vars.iter().map(|(_, v)| v.clone()).collect()
    }

    /// Names and variables.
    pub fn named(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// Number of scalar parameters.
    pub fn numel(&self) -> usize {
        self.vars.iter().map(|(_, v)| v.as_tensor().elem_count()).sum()
    }

    /// Copy every value from another store with the same names and shapes (target networks).
    pub fn copy_from(&self, other: &ParamStore) -> Result<()> {
        self.check_same(
            other.vars.iter().map(|(n, v)| (n.clone(), v.as_tensor().dims().to_vec())),
            "<store>",
        )?;
        for ((_, dst), (_, src)) in self.vars.iter().zip(&other.vars) {
            dst.set(src.as_tensor())?;
        }
        Ok(())
    }

    /// Exponential moving average toward another store: `θ ← τ θ + (1 − τ) θ_other`.
    pub fn ema_from(&self, other: &ParamStore, tau: f64) -> Result<()> {
        for ((_, dst), (_, src)) in self.vars.iter().zip(&other.vars) {
            let next = ((dst.as_tensor() * tau)? + (src.as_tensor() * (1.0 - tau))?)?;
            dst.set(&next)?;
        }
        Ok(())
    }

    fn check_same(
        &self,
        other: impl Iterator<Item = (String, Vec<usize>)>,
        path: &str,
    ) -> Result<()> {
        let theirs: HashMap<String, Vec<usize>> = other.collect();
        let bad = |message: String| Error::Checkpoint { path: path.to_owned(), message };
        for (name, var) in &self.vars {
            match theirs.get(name) {
                None => return Err(bad(format!("missing parameter `{name}`"))),
                Some(shape) if shape.as_slice() != var.as_tensor().dims() => {
                    return Err(bad(format!(
                        "`{name}` has shape {shape:?}, the model needs {:?}",
                        var.as_tensor().dims()
                    )));
                }
                Some(_) => {}
            }
        }
        if let Some(extra) = theirs.keys().find(|k| !self.vars.iter().any(|(n, _)| n == *k)) {
            return Err(bad(format!(
                "unexpected parameter `{extra}` (a checkpoint of another architecture?)"
            )));
        }
        Ok(())
    }

    /// Encode as safetensors bytes tagged with the module name and its JSON config (the same
    /// parameters give the same bytes).
    pub fn to_bytes(&self, module: &str, config_json: &str) -> Result<Vec<u8>> {
        let mut meta = HashMap::new();
        meta.insert("spelunk.module".to_owned(), module.to_owned());
        meta.insert("spelunk.config".to_owned(), config_json.to_owned());
        let data: Vec<(&str, &Tensor)> =
            self.vars.iter().map(|(n, v)| (n.as_str(), v.as_tensor())).collect();
        safetensors::tensor::serialize(data, Some(meta))
            .map(sorted_metadata)
            .map_err(|e| Error::Checkpoint { path: format!("<{module}>"), message: e.to_string() })
    }

    /// Load bytes written by [`ParamStore::to_bytes`] for the same module, names and shapes;
    /// returns the config JSON. `source` names the bytes in errors. Nothing changes unless
    /// every check passes.
    pub fn load_bytes(&self, bytes: &[u8], module: &str, source: &str) -> Result<String> {
        let bad = |message: String| Error::Checkpoint { path: source.to_owned(), message };
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| bad(format!("not a safetensors file: {e}")))?;
        let info = meta.metadata().clone().unwrap_or_default();
        let theirs = info.get("spelunk.module").cloned().unwrap_or_else(|| "<none>".into());
        if theirs != module {
            return Err(bad(format!("checkpoint is of module `{theirs}`, this is `{module}`")));
        }
        let tensors =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        self.check_same(
            tensors.tensors().into_iter().map(|(n, v)| (n, v.shape().to_vec())),
            source,
        )?;
        let loaded = candle_core::safetensors::load_buffer(bytes, &self.device)?;
        for (name, _) in &self.vars {
            let t = loaded.get(name).ok_or_else(|| bad(format!("missing parameter `{name}`")))?;
            if t.dtype() != DType::F32 {
                return Err(bad(format!("`{name}` is {:?}, expected f32", t.dtype())));
            }
        }
        for (name, var) in &self.vars {
            var.set(&loaded[name])?;
        }
        Ok(info.get("spelunk.config").cloned().unwrap_or_default())
    }

    /// Write a safetensors checkpoint tagged with the module name and its JSON config.
    pub fn save(&self, path: &Path, module: &str, config_json: &str) -> Result<()> {
        let bytes = self.to_bytes(module, config_json)?;
        std::fs::write(path, bytes).map_err(|e| Error::Checkpoint {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Load a checkpoint written by [`ParamStore::save`] for the same module and shapes;
    /// returns its config JSON. Nothing changes unless every check passes.
    pub fn load(&self, path: &Path, module: &str) -> Result<String> {
        let p = path.display().to_string();
        let bytes = spelunk_core::files::read_capped(path, spelunk_core::files::MAX_BINARY_BYTES)
            .map_err(|e| Error::Checkpoint { path: p.clone(), message: e.to_string() })?;
        self.load_bytes(&bytes, module, &p)
    }
}

/// Safetensors bytes with their metadata's keys in sorted order. The writer takes the metadata
/// as a `HashMap`, whose order changes from process to process; sorted, the same checkpoint is
/// the same bytes (what a run folder's checksums and a determinism check compare). Bytes that
/// do not start with a metadata object are returned as they are.
pub(crate) fn sorted_metadata(mut bytes: Vec<u8>) -> Vec<u8> {
    const KEY: &[u8] = b"{\"__metadata__\":";
    let start = 8 + KEY.len();
    if bytes.len() < start || &bytes[8..start] != KEY {
        return bytes;
    }
    let mut stream = serde_json::Deserializer::from_slice(&bytes[start..])
        .into_iter::<std::collections::BTreeMap<String, String>>();
    let Some(Ok(meta)) = stream.next() else {
        return bytes;
    };
    let end = start + stream.byte_offset();
    match serde_json::to_vec(&meta) {
        // The same keys and values, so the same length: only their order changes.
        Ok(sorted) if sorted.len() == end - start => bytes[start..end].copy_from_slice(&sorted),
        _ => {}
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_parameters_are_the_same_bytes_whatever_the_metadata_order() {
        let mut p = ParamStore::new(&Device::Cpu, 3);
        p.uniform("w", &[4, 3], 0.5).expect("w");
        p.zeros("b", &[4]).expect("b");
        let first = p.to_bytes("mlp", "{\"hidden\":[4]}").expect("bytes");
        // Each map the writer builds has its own hash order.
        for _ in 0..20 {
            assert_eq!(p.to_bytes("mlp", "{\"hidden\":[4]}").expect("bytes"), first);
        }
        let q = ParamStore::new(&Device::Cpu, 9);
        let mut q = q;
        q.uniform("w", &[4, 3], 0.5).expect("w");
        q.zeros("b", &[4]).expect("b");
        q.load_bytes(&first, "mlp", "test").expect("the sorted bytes load");
    }
}
