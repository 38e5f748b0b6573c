//! Layers built on [`ParamStore`]: MLP, a small CNN for pixel observations, and a GRU cell.
//!
//! Only differentiable candle ops are used (matmul, add, relu, tanh, sigmoid, conv2d); the
//! fused `softmax_last_dim`, `rms_norm` and `layer_norm` of candle 0.11 have no backward pass
//! and would silently stop gradients. Every module has a test that each of its parameters
//! receives a non-zero gradient.

use candle_core::{Module, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear};
use serde::{Deserialize, Serialize};

use crate::{Error, ParamStore, Result};

/// Nonlinearity between layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(0, x)`.
    #[default]
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// `x · sigmoid(x)`.
    Silu,
}

impl Activation {
    /// Apply.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Relu => x.relu()?,
            Activation::Tanh => crate::cpu_ops::tanh(x)?,
            Activation::Silu => (x * candle_nn::ops::sigmoid(x)?)?,
        })
    }
}

/// A linear layer `y = x Wᵀ + b` with PyTorch's default initialisation.
pub fn linear(
    params: &mut ParamStore,
    name: &str,
    inputs: usize,
    outputs: usize,
) -> Result<Linear> {
    if inputs == 0 || outputs == 0 {
        return Err(Error::Config(format!(
            "linear `{name}` needs non-zero sizes, got {inputs} → {outputs}"
        )));
    }
    let bound = 1.0 / (inputs as f64).sqrt();
    let w = params.uniform(&format!("{name}.weight"), &[outputs, inputs], bound)?;
    let b = params.uniform(&format!("{name}.bias"), &[outputs], bound)?;
    Ok(Linear::new(w, Some(b)))
}

/// A multi-layer perceptron.
#[derive(Clone, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
    activation: Activation,
    /// Input size.
    pub inputs: usize,
    /// Output size.
    pub outputs: usize,
}

impl Mlp {
    /// `inputs → hidden[0] → … → outputs`, activation between layers, none after the last.
    pub fn new(
        params: &mut ParamStore,
        name: &str,
        inputs: usize,
        hidden: &[usize],
        outputs: usize,
        activation: Activation,
    ) -> Result<Self> {
        let mut sizes = vec![inputs];
        sizes.extend_from_slice(hidden);
        sizes.push(outputs);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| linear(params, &format!("{name}.{i}"), w[0], w[1]))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, activation, inputs, outputs })
    }

    /// The linear layers, first to last.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The nonlinearity between layers.
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// Forward `[batch, inputs] → [batch, outputs]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = crate::cpu_ops::linear(l, &h)?;
            if i + 1 < self.layers.len() {
                h = self.activation.apply(&h)?;
            }
        }
        Ok(h)
    }
}

/// A small CNN for `[batch, channels, height, width]` pixels: conv 8×8/4 (32), conv 4×4/2
/// (64), conv 3×3/1 (64), ReLU after each, then a linear layer — the Nature-DQN trunk that
/// RND and ICM use, with padding so small frames still fit.
#[derive(Clone, Debug)]
pub struct Cnn {
    convs: Vec<Conv2d>,
    head: Linear,
    /// Output size.
    pub outputs: usize,
}

impl Cnn {
    /// Build for frames of `channels × height × width`.
    pub fn new(
        params: &mut ParamStore,
        name: &str,
        channels: usize,
        height: usize,
        width: usize,
        outputs: usize,
    ) -> Result<Self> {
        Self::with_layers(params, name, [channels, height, width], outputs, &Self::NATURE)
    }

    /// The Nature-DQN trunk's convolutions: `(filters, kernel, stride, padding)`.
    pub const NATURE: [(usize, usize, usize, usize); 3] =
        [(32, 8, 4, 2), (64, 4, 2, 1), (64, 3, 1, 1)];
    /// 3×3 convolutions for small grids such as MiniGrid's 7×7 view (16, 32, 64 filters, the
    /// last with stride 2).
    pub const SMALL: [(usize, usize, usize, usize); 3] =
        [(16, 3, 1, 1), (32, 3, 1, 1), (64, 3, 2, 1)];

    /// Build with the given convolutions `(filters, kernel, stride, padding)`, ReLU after each,
    /// then a linear layer to `outputs`.
    pub fn with_layers(
        params: &mut ParamStore,
        name: &str,
        [channels, height, width]: [usize; 3],
        outputs: usize,
        specs: &[(usize, usize, usize, usize)],
    ) -> Result<Self> {
        let (mut c, mut h, mut w) = (channels, height, width);
        let mut convs = Vec::new();
        for (i, &(out, k, stride, pad)) in specs.iter().enumerate() {
            let fan_in = c * k * k;
            let bound = 1.0 / (fan_in as f64).sqrt();
            let weight =
                params.uniform(&format!("{name}.conv{i}.weight"), &[out, c, k, k], bound)?;
            let bias = params.uniform(&format!("{name}.conv{i}.bias"), &[out], bound)?;
            let cfg =
                Conv2dConfig { padding: pad, stride, dilation: 1, groups: 1, cudnn_fwd_algo: None };
            convs.push(Conv2d::new(weight, Some(bias), cfg));
            let (nh, nw) = ((h + 2 * pad).checked_sub(k), (w + 2 * pad).checked_sub(k));
            let (Some(nh), Some(nw)) = (nh, nw) else {
                return Err(Error::Config(format!(
                    "frames of {height}×{width} are too small for the CNN `{name}`"
                )));
            };
            (c, h, w) = (out, nh / stride + 1, nw / stride + 1);
        }
        let head = linear(params, &format!("{name}.head"), c * h * w, outputs)?;
        Ok(Self { convs, head, outputs })
    }

    /// The convolutions, first to last (ReLU after each).
    pub fn convs(&self) -> &[Conv2d] {
        &self.convs
    }

    /// The linear layer after the convolutions.
    pub fn head(&self) -> &Linear {
        &self.head
    }

    /// Forward `[batch, channels, height, width] → [batch, outputs]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for conv in &self.convs {
            h = crate::cpu_ops::conv2d(conv, &h)?.relu()?;
        }
        let h = h.flatten_from(1)?;
        Ok(self.head.forward(&h)?)
    }
}

/// A GRU cell (Cho et al. 2014), PyTorch's gate layout:
/// `r = σ(W_ir x + W_hr h)`, `z = σ(W_iz x + W_hz h)`, `n = tanh(W_in x + r ⊙ (W_hn h))`,
/// `h' = (1 − z) ⊙ n + z ⊙ h` (biases on every product).
#[derive(Clone, Debug)]
pub struct GruCell {
    input: Linear,
    hidden: Linear,
    /// Hidden size.
    pub hidden_size: usize,
}

impl GruCell {
    /// A cell from `inputs` to `hidden_size`.
    pub fn new(
        params: &mut ParamStore,
        name: &str,
        inputs: usize,
        hidden_size: usize,
    ) -> Result<Self> {
        let input = linear(params, &format!("{name}.input"), inputs, 3 * hidden_size)?;
        let hidden = linear(params, &format!("{name}.hidden"), hidden_size, 3 * hidden_size)?;
        Ok(Self { input, hidden, hidden_size })
    }

    /// One step: `x [batch, inputs]`, `h [batch, hidden]` → `h' [batch, hidden]`.
    pub fn step(&self, x: &Tensor, h: &Tensor) -> Result<Tensor> {
        let n = self.hidden_size;
        let gi = self.input.forward(x)?;
        let gh = self.hidden.forward(h)?;
        let r = candle_nn::ops::sigmoid(&(gi.narrow(1, 0, n)? + gh.narrow(1, 0, n)?)?)?;
        let z = candle_nn::ops::sigmoid(&(gi.narrow(1, n, n)? + gh.narrow(1, n, n)?)?)?;
        let cand = (gi.narrow(1, 2 * n, n)? + (r * gh.narrow(1, 2 * n, n)?)?)?.tanh()?;
        let one_minus_z = z.affine(-1.0, 1.0)?;
        Ok(((one_minus_z * cand)? + (z * h)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{params_without_gradient, Adam, AdamConfig};
    use candle_core::Device;

    #[test]
    fn every_parameter_gets_a_gradient() {
        let dev = Device::Cpu;
        let mut p = ParamStore::new(&dev, 1);
        let mlp = Mlp::new(&mut p, "mlp", 5, &[16, 16], 3, Activation::Silu).expect("mlp");
        let x = Tensor::randn(0f32, 1.0, (8, 5), &dev).expect("x");
        let loss = mlp.forward(&x).expect("fwd").sqr().expect("sqr").mean_all().expect("mean");
        assert_eq!(params_without_gradient(&p, &loss).expect("grads"), Vec::<String>::new());

        let mut p = ParamStore::new(&dev, 2);
        let cnn = Cnn::new(&mut p, "cnn", 3, 44, 60, 8).expect("cnn");
        let x = Tensor::randn(0f32, 1.0, (2, 3, 44, 60), &dev).expect("x");
        let loss = cnn.forward(&x).expect("fwd").sqr().expect("sqr").mean_all().expect("mean");
        assert_eq!(params_without_gradient(&p, &loss).expect("grads"), Vec::<String>::new());

        let mut p = ParamStore::new(&dev, 3);
        let gru = GruCell::new(&mut p, "gru", 4, 6).expect("gru");
        let x = Tensor::randn(0f32, 1.0, (3, 4), &dev).expect("x");
        let h0 = Tensor::randn(0f32, 1.0, (3, 6), &dev).expect("h");
        let h1 = gru.step(&x, &h0).expect("step");
        let h2 = gru.step(&x, &h1).expect("step");
        let loss = h2.sqr().expect("sqr").mean_all().expect("mean");
        assert_eq!(params_without_gradient(&p, &loss).expect("grads"), Vec::<String>::new());
    }

    #[test]
    fn same_seed_same_network() {
        let dev = Device::Cpu;
        let out = |seed| {
            let mut p = ParamStore::new(&dev, seed);
            let mlp = Mlp::new(&mut p, "m", 3, &[8], 2, Activation::Relu).expect("mlp");
            let x = Tensor::new(&[[0.5f32, -1.0, 2.0]], &dev).expect("x");
            mlp.forward(&x)
                .expect("fwd")
                .flatten_all()
                .expect("flat")
                .to_vec1::<f32>()
                .expect("vec")
        };
        assert_eq!(out(7), out(7));
        assert_ne!(out(7), out(8));
    }

    #[test]
    fn adam_fits_xor() {
        let dev = Device::Cpu;
        let mut p = ParamStore::new(&dev, 0);
        let mlp = Mlp::new(&mut p, "xor", 2, &[16], 1, Activation::Tanh).expect("mlp");
        let mut opt =
            Adam::new(&p, AdamConfig { lr: 0.05, ..AdamConfig::default() }).expect("adam");
        let x = Tensor::new(&[[0f32, 0.], [0., 1.], [1., 0.], [1., 1.]], &dev).expect("x");
        let y = Tensor::new(&[[0f32], [1.], [1.], [0.]], &dev).expect("y");
        let mut loss_value = f32::MAX;
        for _ in 0..300 {
            let loss = (mlp.forward(&x).expect("fwd") - &y)
                .expect("sub")
                .sqr()
                .expect("sqr")
                .mean_all()
                .expect("mean");
            loss_value = loss.to_scalar::<f32>().expect("scalar");
            opt.backward_step(&loss).expect("step");
        }
        assert!(loss_value < 1e-3, "XOR loss {loss_value}");
    }

    #[test]
    fn checkpoints_round_trip_and_refuse_other_models() {
        let dev = Device::Cpu;
        let dir = std::env::temp_dir().join(format!("spelunk-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("mlp.safetensors");
        let mut a = ParamStore::new(&dev, 1);
        let mlp_a = Mlp::new(&mut a, "m", 3, &[8], 2, Activation::Relu).expect("mlp");
        a.save(&path, "test-mlp", r#"{"hidden":[8]}"#).expect("save");
        let mut b = ParamStore::new(&dev, 2);
        let mlp_b = Mlp::new(&mut b, "m", 3, &[8], 2, Activation::Relu).expect("mlp");
        assert_eq!(b.load(&path, "test-mlp").expect("load"), r#"{"hidden":[8]}"#);
        let x = Tensor::new(&[[0.1f32, 0.2, 0.3]], &dev).expect("x");
        let (ya, yb) = (mlp_a.forward(&x).expect("a"), mlp_b.forward(&x).expect("b"));
        assert_eq!(ya.to_vec2::<f32>().expect("a"), yb.to_vec2::<f32>().expect("b"));
        // Another module, another shape, or garbage: errors, and nothing changes.
        let before = mlp_b.forward(&x).expect("b").to_vec2::<f32>().expect("b");
        assert!(b.load(&path, "rnd").expect_err("module").to_string().contains("test-mlp"));
        let mut c = ParamStore::new(&dev, 3);
        Mlp::new(&mut c, "m", 3, &[9], 2, Activation::Relu).expect("mlp");
        assert!(c.load(&path, "test-mlp").expect_err("shape").to_string().contains("shape"));
        std::fs::write(dir.join("junk.safetensors"), b"not a checkpoint").expect("write");
        assert!(b.load(&dir.join("junk.safetensors"), "test-mlp").is_err());
        assert_eq!(mlp_b.forward(&x).expect("b").to_vec2::<f32>().expect("b"), before);
    }
}
