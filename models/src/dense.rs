//! A CPU fast path for the small MLPs that exploration bonuses train every step.
//!
//! candle's autograd is general, and on networks this small its generality is most of the
//! cost: every matmul's backward also differentiates the input (the first layer's is thrown
//! away), every gradient is first added to a fresh zero tensor, bias gradients go through a
//! strided reduction, and each op allocates. [`DenseMlp`] evaluates the same [`Mlp`] — same
//! weights, same `y = x Wᵀ + b` layout — with matrix products straight from the `gemm` crate
//! (the kernels candle itself calls, single-threaded), ReLU/tanh fused into the bias pass, and
//! buffers reused across calls; [`DenseMlp::backward`] returns the parameter gradients in the
//! store's order for [`crate::Adam::step_with_grads`]. The parameters stay in the
//! [`crate::ParamStore`]: call [`DenseMlp::refresh`] after they change.
//!
//! Agreement with candle's autograd (outputs and every gradient) is tested below.

use crate::{Activation, Error, Mlp, Result};

struct Layer {
    /// `[outputs, inputs]`, row-major, as candle's `Linear` stores it.
    w: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

/// A read-only copy of an [`Mlp`]'s weights with a fast forward and backward pass.
pub struct DenseMlp {
    layers: Vec<Layer>,
    activation: Activation,
}

impl std::fmt::Debug for DenseMlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sizes: Vec<usize> = self
            .layers
            .iter()
            .map(|l| l.inputs)
            .chain(self.layers.last().map(|l| l.outputs))
            .collect();
        f.debug_struct("DenseMlp")
            .field("sizes", &sizes)
            .field("activation", &self.activation)
            .finish()
    }
}

/// The activations of one forward pass, kept for the backward pass (buffers are reused).
#[derive(Debug, Default)]
pub struct Trace {
    rows: usize,
    /// `acts[0]` is the input; `acts[i]` the output of layer `i − 1` after its activation
    /// (none after the last layer).
    acts: Vec<Vec<f32>>,
    /// Scratch for the backward pass.
    grad_a: Vec<f32>,
    grad_b: Vec<f32>,
}

impl Trace {
    /// The network's output of the last forward pass, `[rows, outputs]` row-major.
    pub fn output(&self) -> &[f32] {
        self.acts.last().map_or(&[], Vec::as_slice)
    }

    /// The output of layer `layer` (0-based) after its activation, `[rows, width]`; the
    /// last layer's is [`Trace::output`].
    pub fn activation(&self, layer: usize) -> &[f32] {
        self.acts.get(layer + 1).map_or(&[], Vec::as_slice)
    }

    /// Rows of the last forward pass.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, every matrix given by its row and column strides.
/// Bounds are checked here, so the unsafe call below only ever reads and writes inside the
/// slices.
#[expect(
    clippy::too_many_arguments,
    reason = "a strided GEMM: three shapes, three matrices and two stride pairs, as gemm takes them"
)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    assert!(dst.len() >= m * n, "matmul: destination too small");
    assert!(lhs.len() >= last(m, k, lhs_rs, lhs_cs), "matmul: left operand too small");
    assert!(rhs.len() >= last(k, n, rhs_rs, rhs_cs), "matmul: right operand too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    // SAFETY: the asserts above keep every index the strides reach inside the three slices;
    // `dst` is borrowed mutably, so it aliases neither operand.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

impl DenseMlp {
    /// Copy `mlp`'s weights. Supports ReLU and tanh (SiLU's backward needs the
    /// pre-activation; use candle for it).
    pub fn from_mlp(mlp: &Mlp) -> Result<Self> {
        if !matches!(mlp.activation(), Activation::Relu | Activation::Tanh) {
            return Err(Error::Config(format!(
                "the dense fast path supports relu and tanh, not {:?}",
                mlp.activation()
            )));
        }
        let mut me = Self { layers: Vec::new(), activation: mlp.activation() };
        me.refresh(mlp)?;
        Ok(me)
    }

    /// Copy `mlp`'s current weights (after an optimiser step or a checkpoint load).
    pub fn refresh(&mut self, mlp: &Mlp) -> Result<()> {
        self.layers.clear();
        for l in mlp.layers() {
            let (outputs, inputs) = l.weight().dims2()?;
            let w = l.weight().flatten_all()?.to_vec1::<f32>()?;
            let b = match l.bias() {
                Some(b) => b.to_vec1::<f32>()?,
                None => vec![0.0; outputs],
            };
            self.layers.push(Layer { w, b, inputs, outputs });
        }
        Ok(())
    }

    /// Input size.
    pub fn inputs(&self) -> usize {
        self.layers.first().map_or(0, |l| l.inputs)
    }

    /// Output size.
    pub fn outputs(&self) -> usize {
        self.layers.last().map_or(0, |l| l.outputs)
    }

    /// Forward `rows` rows of `x` (`[rows, inputs]`), keeping the activations in `trace`.
    pub fn forward(&self, x: &[f32], rows: usize, trace: &mut Trace) -> Result<()> {
        if x.len() != rows * self.inputs() {
            return Err(Error::Config(format!(
                "dense MLP: {} values are not {rows} rows of {}",
                x.len(),
                self.inputs()
            )));
        }
        trace.rows = rows;
        trace.acts.resize_with(self.layers.len() + 1, Vec::new);
        trace.acts[0].clear();
        trace.acts[0].extend_from_slice(x);
        let last = self.layers.len() - 1;
        for (i, l) in self.layers.iter().enumerate() {
            let (done, rest) = trace.acts.split_at_mut(i + 1);
            let input = &done[i];
            let out = &mut rest[0];
            out.resize(rows * l.outputs, 0.0);
            // out = x · Wᵀ: Wᵀ[j, o] = w[o·inputs + j].
            matmul(
                rows,
                l.outputs,
                l.inputs,
                out,
                false,
                input,
                (l.inputs, 1),
                &l.w,
                (1, l.inputs),
            );
            for row in out.chunks_exact_mut(l.outputs) {
                for (v, b) in row.iter_mut().zip(&l.b) {
                    *v += b;
                }
                if i < last {
                    match self.activation {
                        Activation::Relu => row.iter_mut().for_each(|v| *v = v.max(0.0)),
                        Activation::Tanh => {
                            for v in row.iter_mut() {
                                *v = crate::cpu_ops::tanh_f32(*v);
                            }
                        }
                        Activation::Silu => unreachable!("refused in from_mlp"),
                    }
                }
            }
        }
        Ok(())
    }

    /// Backpropagate `d_out` (the loss's gradient with respect to the last forward pass's
    /// output, `[rows, outputs]`) and write the parameter gradients into `grads` as
    /// `[w0, b0, w1, b1, …]`, the order the layers' parameters were created in. The input's
    /// gradient is not computed.
    pub fn backward(
        &self,
        trace: &mut Trace,
        d_out: &[f32],
        grads: &mut Vec<Vec<f32>>,
    ) -> Result<()> {
        let rows = trace.rows;
        if d_out.len() != rows * self.outputs() || trace.acts.len() != self.layers.len() + 1 {
            return Err(Error::Config(format!(
                "dense MLP backward: {} gradient values for {rows} rows of {} outputs",
                d_out.len(),
                self.outputs()
            )));
        }
        grads.resize_with(2 * self.layers.len(), Vec::new);
        let mut g = std::mem::take(&mut trace.grad_a);
        let mut next = std::mem::take(&mut trace.grad_b);
        g.clear();
        g.extend_from_slice(d_out);
        for (i, l) in self.layers.iter().enumerate().rev() {
            let input = &trace.acts[i];
            // dW[o, j] = Σ_r g[r, o] · x[r, j]
            let dw = &mut grads[2 * i];
            dw.resize(l.outputs * l.inputs, 0.0);
            matmul(l.outputs, l.inputs, rows, dw, false, &g, (1, l.outputs), input, (l.inputs, 1));
            let db = &mut grads[2 * i + 1];
            db.clear();
            db.resize(l.outputs, 0.0);
            for row in g.chunks_exact(l.outputs) {
                for (d, v) in db.iter_mut().zip(row) {
                    *d += v;
                }
            }
            if i == 0 {
                break;
            }
            // dx = g · W, then through the activation of layer i − 1 (whose output is `input`).
            next.resize(rows * l.inputs, 0.0);
            matmul(
                rows,
                l.inputs,
                l.outputs,
                &mut next,
                false,
                &g,
                (l.outputs, 1),
                &l.w,
                (l.inputs, 1),
            );
            match self.activation {
                Activation::Relu => {
                    for (d, y) in next.iter_mut().zip(input) {
                        // A select, not a branch, so it vectorises.
                        *d = if *y > 0.0 { *d } else { 0.0 };
                    }
                }
                Activation::Tanh => {
                    for (d, y) in next.iter_mut().zip(input) {
                        *d *= 1.0 - y * y;
                    }
                }
                Activation::Silu => unreachable!("refused in from_mlp"),
            }
            std::mem::swap(&mut g, &mut next);
        }
        trace.grad_a = g;
        trace.grad_b = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParamStore;
    use candle_core::{Device, Tensor};

    fn close(a: &[f32], b: &[f32], tol: f32) -> f32 {
        assert_eq!(a.len(), b.len());
        let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst <= tol, "differ by {worst} > {tol}");
        worst
    }

    #[test]
    fn agrees_with_candle_autograd() {
        for activation in [Activation::Relu, Activation::Tanh] {
            let mut params = ParamStore::new(&Device::Cpu, 7);
            let mlp = Mlp::new(&mut params, "m", 5, &[16, 12], 3, activation).unwrap();
            let dense = DenseMlp::from_mlp(&mlp).unwrap();
            let rows = 9;
            let mut rng = spelunk_core::Rng::seed_from_u64(1);
            let x: Vec<f32> = (0..rows * 5).map(|_| rng.normal() as f32).collect();
            let target: Vec<f32> = (0..rows * 3).map(|_| rng.normal() as f32).collect();

            let mut trace = Trace::default();
            dense.forward(&x, rows, &mut trace).unwrap();
            let xt = Tensor::from_slice(&x, (rows, 5), &Device::Cpu).unwrap();
            let out = mlp.forward(&xt).unwrap();
            close(trace.output(), &out.flatten_all().unwrap().to_vec1::<f32>().unwrap(), 1e-5);

            // loss = Σ (out − target)² / 2 → d_out = out − target.
            let tt = Tensor::from_slice(&target, (rows, 3), &Device::Cpu).unwrap();
            let loss = ((out - tt).unwrap().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
            let cg = loss.backward().unwrap();
            let d_out: Vec<f32> = trace.output().iter().zip(&target).map(|(o, t)| o - t).collect();
            let mut grads = Vec::new();
            dense.backward(&mut trace, &d_out, &mut grads).unwrap();
            assert_eq!(grads.len(), params.named().len());
            for ((name, var), g) in params.named().iter().zip(&grads) {
                let want = cg.get(var.as_tensor()).unwrap().flatten_all().unwrap();
                let want = want.to_vec1::<f32>().unwrap();
                assert!(g.iter().any(|v| *v != 0.0), "{name}: zero gradient");
                close(g, &want, 1e-4);
            }
        }
    }

    #[test]
    fn refuses_silu_and_wrong_shapes() {
        let mut params = ParamStore::new(&Device::Cpu, 7);
        let silu = Mlp::new(&mut params, "s", 3, &[4], 2, Activation::Silu).unwrap();
        assert!(DenseMlp::from_mlp(&silu).unwrap_err().to_string().contains("relu and tanh"));
        let relu = Mlp::new(&mut params, "r", 3, &[4], 2, Activation::Relu).unwrap();
        let dense = DenseMlp::from_mlp(&relu).unwrap();
        let mut trace = Trace::default();
        assert!(dense.forward(&[0.0; 7], 2, &mut trace).is_err());
        dense.forward(&[0.0; 6], 2, &mut trace).unwrap();
        assert!(dense.backward(&mut trace, &[0.0; 3], &mut Vec::new()).is_err());
    }
}
