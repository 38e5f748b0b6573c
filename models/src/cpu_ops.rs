//! CPU kernels for the small networks of RL, where candle's generic paths cost more than
//! the matrix products: `tanh` (candle calls libm's scalar `tanhf` per element, and builds its
//! gradient from three more tensors), the bias of a linear layer (candle adds it through a
//! strided broadcast, and its gradient is a strided reduction over the batch) and the 2-D
//! convolution (candle's CPU backward pass runs a direct transposed convolution for the input's
//! gradient, even where the input is the observation and needs none, and a convolution whose
//! kernel is the whole output map for the weights').
//!
//! Both run on contiguous `f32` tensors on the CPU and fall back to candle's own ops anywhere
//! else (CUDA, other dtypes, strided views), so callers use them unconditionally.
//! - [`tanh`]: a rational approximation (odd degree-13 numerator over even degree-6
//!   denominator, the one used by Eigen and XLA), within 5e-7 of `f32::tanh` everywhere (a few ulps), in a
//!   loop the compiler vectorises; the gradient `g · (1 − y²)` in one pass.
//! - [`linear`]: `x Wᵀ` by candle's matmul, then `+ b` row by row; the bias's gradient is the
//!   column sum of the output's gradient, one pass over contiguous rows.
//! - [`conv2d`]: im2col (each output pixel's receptive field as a row) and one matrix product
//!   with the weights, then the bias as in [`linear`]. The backward pass is the matrix product's
//!   (two products, the input's side only when the input needs a gradient) and col2im, the
//!   im2col's adjoint, which adds each row back onto the pixels it was read from.

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

/// A 2-D convolution of `[batch, channels, height, width]` by `conv` (see the module's notes):
/// `[batch, filters, out_h, out_w]`. Dilated or grouped convolutions, other dtypes and devices
/// go through candle's own.
///
/// # Errors
/// Sizes that do not fit the layer.
pub fn conv2d(conv: &candle_nn::Conv2d, x: &Tensor) -> candle_core::Result<Tensor> {
    use candle_core::Module;
    let cfg = conv.config();
    if !(x.device().is_cpu() && x.dtype() == DType::F32 && cfg.dilation == 1 && cfg.groups == 1) {
        return conv.forward(x);
    }
    let (b, c, h, w) = x.dims4()?;
    let (o, wc, kh, kw) = conv.weight().dims4()?;
    let (s, p) = (cfg.stride, cfg.padding);
    if wc != c || s == 0 || h + 2 * p < kh || w + 2 * p < kw {
        return conv.forward(x);
    }
    let geometry = Im2Col { c, h, w, kh, kw, stride: s, pad: p };
    let (oh, ow) = geometry.out();
    let cols = x.contiguous()?.apply_op1(geometry)?;
    let y = cols.matmul(&conv.weight().reshape((o, c * kh * kw))?.t()?)?;
    let y = match conv.bias() {
        Some(bias) => y.apply_op2(bias, AddBias)?,
        None => y,
    };
    y.reshape((b, oh, ow, o))?.permute((0, 3, 1, 2))?.contiguous()
}

/// im2col: `[b, c, h, w]` to `[b·out_h·out_w, c·kh·kw]`, columns in the weights' `(c, ky, kx)`
/// order, zeros where the field hangs over the padding.
#[derive(Clone, Copy)]
struct Im2Col {
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: usize,
}

impl Im2Col {
    fn out(self) -> (usize, usize) {
        (
            (self.h + 2 * self.pad - self.kh) / self.stride + 1,
            (self.w + 2 * self.pad - self.kw) / self.stride + 1,
        )
    }

    /// Calls `f(row, column, input index)` for every in-bounds entry of image `n`'s rows.
    #[inline]
    fn each(self, n: usize, mut f: impl FnMut(usize, usize, usize)) {
        let Self { c, h, w, kh, kw, stride, pad } = self;
        let (oh, ow) = self.out();
        for oy in 0..oh {
            for ox in 0..ow {
                let row = (n * oh + oy) * ow + ox;
                for ci in 0..c {
                    for ky in 0..kh {
                        let iy = (oy * stride + ky).wrapping_sub(pad);
                        if iy >= h {
                            continue;
                        }
                        let base = ((n * c + ci) * h + iy) * w;
                        let col = (ci * kh + ky) * kw;
                        for kx in 0..kw {
                            let ix = (ox * stride + kx).wrapping_sub(pad);
                            if ix < w {
                                f(row, col + kx, base + ix);
                            }
                        }
                    }
                }
            }
        }
    }
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "spelunk-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some(x) = values(s, l) else { return Err(strided("im2col")) };
        let b = l.dims()[0];
        let (oh, ow) = self.out();
        let width = self.c * self.kh * self.kw;
        let mut out = vec![0f32; b * oh * ow * width];
        for n in 0..b {
            self.each(n, |row, col, i| out[row * width + col] = x[i]);
        }
        Ok((CpuStorage::F32(out), Shape::from((b * oh * ow, width))))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Col2Im(*self))?))
    }
}

/// col2im, im2col's adjoint: `[b·out_h·out_w, c·kh·kw]` back to `[b, c, h, w]`, each entry
/// added onto the pixel it was read from.
struct Col2Im(Im2Col);

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "spelunk-col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some(g) = values(s, l) else { return Err(strided("col2im")) };
        let Im2Col { c, h, w, kh, kw, .. } = self.0;
        let (oh, ow) = self.0.out();
        let width = c * kh * kw;
        let b = l.dims()[0] / (oh * ow).max(1);
        let mut out = vec![0f32; b * c * h * w];
        for n in 0..b {
            self.0.each(n, |row, col, i| out[i] += g[row * width + col]);
        }
        Ok((CpuStorage::F32(out), Shape::from((b, c, h, w))))
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

    /// The convolution's values and its gradients for the input, the weights and the bias
    /// equal candle's `conv2d` with padding and strides, odd sizes included. (candle's own
    /// backward pass fails where the stride leaves a different remainder across the height than
    /// across the width, e.g. 13 × 10 by 4 × 4 / 2: it pads the input's gradient by the height's
    /// remainder on both sides; the cases here avoid that.)
    #[test]
    fn conv2d_matches_candles_value_and_gradient() -> candle_core::Result<()> {
        let dev = Device::Cpu;
        // (channels, height, width, filters, kernel, stride, padding)
        for (c, h, w, o, k, s, p) in [
            (3, 11, 9, 4, 3, 1, 1),
            (2, 13, 11, 5, 4, 2, 0),
            (3, 20, 24, 6, 8, 4, 0),
            (1, 7, 7, 3, 3, 2, 2),
        ] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, c, h, w), &dev)?)?;
            let wt = Var::from_tensor(&Tensor::randn(0f32, 0.3, (o, c, k, k), &dev)?)?;
            let b = Var::from_tensor(&Tensor::randn(0f32, 0.3, o, &dev)?)?;
            let cfg = candle_nn::Conv2dConfig { padding: p, stride: s, ..Default::default() };
            let layer =
                candle_nn::Conv2d::new(wt.as_tensor().clone(), Some(b.as_tensor().clone()), cfg);
            let ours = conv2d(&layer, x.as_tensor())?;
            let theirs = candle_core::Module::forward(&layer, x.as_tensor())?;
            assert_eq!(ours.dims(), theirs.dims());
            let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-5, "{:?}: values differ by {diff}", (c, h, w, o, k, s, p));
            let target = Tensor::randn(0f32, 1.0, ours.dims(), &dev)?;
            let g1 = (ours * &target)?.sum_all()?.backward()?;
            let g2 = (theirs * &target)?.sum_all()?.backward()?;
            for v in [&x, &wt, &b] {
                let (a, e) = (g1.get(v).expect("grad"), g2.get(v).expect("grad"));
                let d = (a - e)?.abs()?.max_all()?.to_scalar::<f32>()?;
                let scale = e.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(scale > 0.1 && d < 1e-5 * scale.max(1.0), "gradients differ by {d}");
            }
        }
        // Where candle's backward fails (13 × 10, 4 × 4 / 2): the loss is linear in the input,
        // so a difference quotient is its gradient up to rounding.
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, 2, 13, 10), &dev)?)?;
        let wt = Tensor::randn(0f32, 0.3, (3, 2, 4, 4), &dev)?;
        let cfg = candle_nn::Conv2dConfig { stride: 2, ..Default::default() };
        let layer = candle_nn::Conv2d::new(wt, None, cfg);
        let target = Tensor::randn(0f32, 1.0, (1, 3, 5, 4), &dev)?;
        let loss = |x: &Tensor| -> candle_core::Result<f32> {
            (conv2d(&layer, x)? * &target)?.sum_all()?.to_scalar::<f32>()
        };
        let g = (conv2d(&layer, x.as_tensor())? * &target)?.sum_all()?.backward()?;
        let g = g.get(&x).expect("grad").flatten_all()?.to_vec1::<f32>()?;
        let base = x.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        for i in [0, 17, 129, 200, 259] {
            let mut bumped = base.clone();
            bumped[i] += 0.5;
            let up = loss(&Tensor::from_vec(bumped, (1, 2, 13, 10), &dev)?)?;
            let fd = (up - loss(x.as_tensor())?) / 0.5;
            assert!((fd - g[i]).abs() < 1e-3, "pixel {i}: {fd} by differences, {} by ours", g[i]);
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
