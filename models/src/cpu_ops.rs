//! Two CPU kernels for the small networks of RL, where candle's generic paths cost more than
//! the matrix products: `tanh` (candle calls libm's scalar `tanhf` per element, and builds its
//! gradient from three more tensors) and the bias of a linear layer (candle adds it through a
//! strided broadcast, and its gradient is a strided reduction over the batch).
//!
//! Both run on contiguous `f32` tensors on the CPU and fall back to candle's own ops anywhere
//! else (CUDA, other dtypes, strided views), so callers use them unconditionally.
//! - [`tanh`]: a rational approximation (odd degree-13 numerator over even degree-6
//!   denominator, the one used by Eigen and XLA), within 5e-7 of `f32::tanh` everywhere (a few ulps), in a
//!   loop the compiler vectorises; the gradient `g · (1 − y²)` in one pass.
//! - [`linear`]: `x Wᵀ` by candle's matmul, then `+ b` row by row; the bias's gradient is the
//!   column sum of the output's gradient, one pass over contiguous rows.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Tensor};
use candle_nn::Linear;

/// `tanh(x)` (see the module's notes).
///
/// # Errors
/// candle's, on a tensor it cannot read.
pub fn tanh(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() {
        x.apply_op1(Tanh)
    } else {
        x.tanh()
    }
}

/// `x Wᵀ + b` for a `[batch, inputs]` `x` (other ranks go through candle's `Linear`).
///
/// # Errors
/// Sizes that do not fit the layer.
pub fn linear(layer: &Linear, x: &Tensor) -> candle_core::Result<Tensor> {
    use candle_core::Module;
    match (layer.bias(), x.rank()) {
        (Some(b), 2) if x.device().is_cpu() && x.dtype() == DType::F32 => {
            x.matmul(&layer.weight().t()?)?.apply_op2(b, AddBias)
        }
        _ => layer.forward(x),
    }
}

/// The contiguous `f32` values of a tensor's storage, or `None` (strided or another dtype).
fn values<'s>(s: &'s CpuStorage, l: &Layout) -> Option<&'s [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Some(&v[a..b]),
        _ => None,
    }
}

fn strided(op: &str) -> candle_core::Error {
    candle_core::Error::Msg(format!("{op}: expects a contiguous f32 tensor"))
}

/// `tanh` by a rational function: `x · P(x²) / Q(x²)` on `x` clamped to ±7.9053 (where the
/// f32 value is ±1), `x` itself below 4e-4.
#[inline]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    const A: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const B: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347e-4, 1.198_258_4e-6];
    let c = x.clamp(-7.905_311, 7.905_311);
    let z = c * c;
    let mut p = A[6];
    // Plain products and sums, not `mul_add`: without FMA in the target's baseline, `mul_add`
    // is a libm call per use and the loop no longer vectorises.
    for &a in A[..6].iter().rev() {
        p = p * z + a;
    }
    let q = ((B[3] * z + B[2]) * z + B[1]) * z + B[0];
    let y = c * p / q;
    if x.abs() < 4e-4 {
        x
    } else {
        y
    }
}

struct Tanh;

impl CustomOp1 for Tanh {
    fn name(&self) -> &'static str {
        "spelunk-tanh"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let out = match values(s, l) {
            Some(v) => v.iter().map(|&x| tanh_f32(x)).collect(),
            None => return Err(strided("tanh")),
        };
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _: &Tensor, res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(res.contiguous()?.apply_op2_no_bwd(&grad.contiguous()?, &TanhGrad)?))
    }
}

/// `g · (1 − y²)` for `tanh`'s output `y` and its gradient `g`.
struct TanhGrad;

impl CustomOp2 for TanhGrad {
    fn name(&self) -> &'static str {
        "spelunk-tanh-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (Some(y), Some(g)) = (values(s1, l1), values(s2, l2)) else {
            return Err(strided("tanh's gradient"));
        };
        let out = y.iter().zip(g).map(|(&y, &g)| g * (1.0 - y * y)).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `[batch, n] + [n]`, row by row.
struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "spelunk-add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (Some(x), Some(b)) = (values(s1, l1), values(s2, l2)) else {
            return Err(strided("bias"));
        };
        let n = b.len();
        if l1.dims().last() != Some(&n) || l2.dims().len() != 1 {
            return Err(candle_core::Error::Msg(format!(
                "bias: rows of {:?} and a bias of {:?}",
                l1.dims(),
                l2.dims()
            )));
        }
        let out = x
            .chunks_exact(n.max(1))
            .flat_map(|row| row.iter().zip(b).map(|(x, b)| x + b))
            .collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let gb = g.apply_op1_no_bwd(&ColumnSum)?;
        Ok((Some(g), Some(gb)))
    }
}

/// Column sums of `[rows, n]`: `[n]`, rows added in order.
struct ColumnSum;

impl CustomOp1 for ColumnSum {
    fn name(&self) -> &'static str {
        "spelunk-column-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some(v) = values(s, l) else { return Err(strided("column sum")) };
        let n = *l.dims().last().unwrap_or(&1);
        let mut out = vec![0f32; n];
        for row in v.chunks_exact(n.max(1)) {
            for (o, &x) in out.iter_mut().zip(row) {
                *o += x;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn tanh_is_within_5e7_of_libm_everywhere() {
        let mut worst = 0f32;
        let mut x = -12.0f32;
        while x < 12.0 {
            worst = worst.max((tanh_f32(x) - x.tanh()).abs());
            x += 1.3e-4;
        }
        for x in [0.0, -0.0, 1e-30, -3e-4, 5e-4, 20.0, -1e9, f32::MAX, f32::MIN] {
            worst = worst.max((tanh_f32(x) - x.tanh()).abs());
        }
        assert!(worst < 5e-7, "worst error {worst}");
        assert!(tanh_f32(f32::NAN).is_nan());
    }

    /// The kernels' values and gradients equal candle's own ops on a small MLP-shaped graph.
    #[test]
    fn linear_and_tanh_match_candles_ops_value_and_gradient() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.5, (37, 11), &dev)?;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.5, (5, 11), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.5, 5, &dev)?)?;
        let layer = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
        let target = Tensor::randn(0f32, 1.0, (37, 5), &dev)?;
        let ours = tanh(&linear(&layer, &x)?)?;
        let theirs = candle_core::Module::forward(&layer, &x)?.tanh()?;
        let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "values differ by {diff}");
        let g1 = (ours * &target)?.sum_all()?.backward()?;
        let g2 = (theirs * &target)?.sum_all()?.backward()?;
        for v in [&w, &b] {
            let (a, c) = (g1.get(v).expect("grad"), g2.get(v).expect("grad"));
            let d = (a - c)?.abs()?.max_all()?.to_scalar::<f32>()?;
            let scale = c.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(scale > 0.1 && d < 1e-5 * scale.max(1.0), "gradients differ by {d}");
        }
        Ok(())
    }

    #[test]
    fn other_ranks_and_dtypes_take_candles_path() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        let layer = Linear::new(Tensor::ones((2, 3), DType::F64, &dev)?, None);
        let x = Tensor::ones((4, 3), DType::F64, &dev)?;
        assert_eq!(linear(&layer, &x)?.to_vec2::<f64>()?, vec![vec![3.0, 3.0]; 4]);
        let t = Tensor::new(&[[0.5f64]], &dev)?;
        assert!((tanh(&t)?.to_vec2::<f64>()?[0][0] - 0.5f64.tanh()).abs() < 1e-15);
        let x3 = Tensor::ones((2, 4, 3), DType::F32, &dev)?;
        let l3 = Linear::new(
            Tensor::ones((2, 3), DType::F32, &dev)?,
            Some(Tensor::ones(2, DType::F32, &dev)?),
        );
        assert_eq!(linear(&l3, &x3)?.dims(), &[2, 4, 2]);
        Ok(())
    }
}
