//! Every policy head on the GPU against the same head on the CPU: the same parameters (drawn
//! from one seed), the same observations, then the largest relative error of the logits and of
//! every parameter's gradient (of the logits' squared sum). One line per head; exits with 1 if
//! a head is off (logits beyond 1e-4 of their largest magnitude, gradients beyond 1e-3), or if
//! there is no GPU. `scripts/gpu-check.sh` runs it from the GPU bundle.
//!
//! ```text
//! source scripts/cuda-env.sh
//! cargo run --profile gpu -p spelunk-models --features cuda --example gpu_parity
//! ```

use candle_core::{Device, Tensor};
use spelunk_core::{DType, Space};
use spelunk_models::policy::{ActionCodec, CnnPolicy, ImageLayout, MlpPolicy, Policy};
use spelunk_models::{PolicyConfig, TransformerConfig, TransformerPolicy};
use spelunk_models::{VlaConfig, VlaLayout, VlaPolicy};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A head on a device.
type Make<'a> = &'a dyn Fn(&Device) -> spelunk_models::Result<Box<dyn Policy>>;

/// The largest |a − b| and the largest |a| (both tensors brought to the CPU).
fn diff(a: &Tensor, b: &Tensor) -> Result<(f32, f32)> {
    let a = a.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
    let b = b.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?;
    let d = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    Ok((d, a.iter().map(|x| x.abs()).fold(1e-6, f32::max)))
}

/// The head's relative errors on both devices: (logits, worst gradient).
fn parity(make: Make<'_>, gpu: &Device, obs: Vec<f32>, rows: usize) -> Result<(String, f32, f32)> {
    let (pc, pg) = (make(&Device::Cpu)?, make(gpu)?);
    let cols = pc.obs_dim();
    let xc = Tensor::from_vec(obs.clone(), (rows, cols), &Device::Cpu)?;
    let xg = Tensor::from_vec(obs, (rows, cols), gpu)?;
    let (lc, lg) = (pc.logits(&xc)?, pg.logits(&xg)?);
    let (d, scale) = diff(&lc, &lg)?;
    let gc = lc.sqr()?.sum_all()?.backward()?;
    let gg = lg.sqr()?.sum_all()?.backward()?;
    let mut worst = 0f32;
    for ((name, vc), (_, vg)) in pc.params().named().iter().zip(pg.params().named()) {
        let (Some(a), Some(b)) = (gc.get(vc.as_tensor()), gg.get(vg.as_tensor())) else {
            return Err(format!("{}: no gradient for {name}", pc.module()).into());
        };
        let (d, scale) = diff(a, b)?;
        worst = worst.max(d / scale);
    }
    Ok((pc.module().to_owned(), d / scale, worst))
}

/// Observation values: normal noise, with token ids below `vocab` in the columns of `span`.
fn values(n: usize, ids: Option<&(std::ops::Range<usize>, usize, u64)>) -> Vec<f32> {
    let mut rng = spelunk_core::Rng::seed_from_u64(9);
    (0..n)
        .map(|i| match ids {
            Some((span, cols, vocab)) if span.contains(&(i % cols)) => rng.below(*vocab) as f32,
            _ => rng.normal() as f32,
        })
        .collect()
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gpu-parity: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let gpu = spelunk_models::device("cuda")?;
    let binned = ActionCodec::Binned { bins: 11, low: vec![-1.0; 4], high: vec![1.0; 4] };
    let policy = PolicyConfig::default();
    let mlp = |d: &Device| -> spelunk_models::Result<Box<dyn Policy>> {
        Ok(Box::new(MlpPolicy::new(25, binned.clone(), &policy, d, 1)?))
    };
    let image = Space::uniform_box(&[40, 40, 3], 0.0, 255.0, DType::U8);
    let layout = ImageLayout::of(&image).ok_or("no image layout")?;
    let cnn = |d: &Device| -> spelunk_models::Result<Box<dyn Policy>> {
        Ok(Box::new(CnnPolicy::new(layout, binned.clone(), &policy, d, 1)?))
    };
    let tc = TransformerConfig { vocab: 12, ..TransformerConfig::default() };
    let transformer = |d: &Device| -> spelunk_models::Result<Box<dyn Policy>> {
        let codec = ActionCodec::Discrete { n: 5, start: 0 };
        Ok(Box::new(TransformerPolicy::new(30, codec, &tc, d, 1)?))
    };
    let inf = f32::INFINITY;
    let space = Space::Dict(vec![
        ("image".into(), Space::uniform_box(&[24, 24, 3], 0.0, 255.0, DType::U8)),
        ("instruction".into(), Space::uniform_box(&[4], 0.0, 6.0, DType::F32)),
        ("observation".into(), Space::uniform_box(&[10], -inf, inf, DType::F32)),
    ]);
    let small =
        TransformerConfig { d_model: 32, heads: 2, ffn: 64, ..TransformerConfig::default() };
    let vla_layout = VlaLayout::of(&space)?;
    let vla = |d: &Device| -> spelunk_models::Result<Box<dyn Policy>> {
        let vla = VlaConfig::default();
        Ok(Box::new(VlaPolicy::new(vla_layout.clone(), binned.clone(), &vla, &small, d, 1)?))
    };
    let cols = 24 * 24 * 3 + 4 + 10;
    let cases: [(Make<'_>, Vec<f32>, usize); 4] = [
        (&mlp, values(8 * 25, None), 8),
        (&cnn, values(4 * 4800, None), 4),
        (&transformer, values(6 * 30, Some(&(0..30, 30, 12))), 6),
        (&vla, values(4 * cols, Some(&(1728..1732, cols, 7))), 4),
    ];
    let mut failed = Vec::new();
    for (make, obs, rows) in cases {
        let (head, logits, grads) = parity(make, &gpu, obs, rows)?;
        println!("parity {head} logits {logits:.3e} gradients {grads:.3e}");
        if !(logits <= 1e-4 && grads <= 1e-3) {
            failed.push(head);
        }
    }
    if failed.is_empty() {
        println!("parity ok: every head within 1e-4 (logits) and 1e-3 (gradients)");
        Ok(())
    } else {
        Err(format!("parity failed for {}", failed.join(", ")).into())
    }
}
