//! `spelunk-models`: the candle building blocks Spelunk's learners share.
//!
//! - [`params`]: [`ParamStore`], seeded parameters in creation order, and safetensors
//!   checkpoints that name their module and refuse another module's or shape's file.
//! - [`layers`]: MLP, a small CNN for pixels, a GRU cell — differentiable ops only.
//! - [`dense`]: a CPU fast path for training small MLPs (the bonus networks), checked
//!   against candle's autograd.
//! - [`optim`]: Adam/AdamW with gradient-norm clipping.
//! - [`policy`]: policy heads over action tokens (discrete, or continuous binned per
//!   dimension) — the MLP head; the `Policy` trait the GRPO core trains.
//! - [`language_model`]: a language model on the transformer trunk, fresh or loaded from a
//!   Hugging Face Llama or Qwen2 folder with its tokenizer.
//! - [`transformer`]: a small Llama-layout decoder (RMSNorm, RoPE, causal attention, SwiGLU)
//!   from differentiable ops, and the policy head that reads token-id observations.
//! - [`vla`]: the vision-language-action head (image patches or a CNN token, the robot's
//!   state, instruction words and one action query per action dimension through the
//!   transformer).
//!
//! CPU by default; the `cuda` feature adds candle's CUDA backend, and [`device`] picks one.

pub mod dense;
pub mod error;
pub mod language_model;
pub mod layers;
pub mod optim;
pub mod params;
pub mod policy;
pub mod transformer;
pub mod vla;

pub use candle_core::{DType, Device, Tensor};
pub use dense::DenseMlp;
pub use error::{Error, Result};
pub use language_model::LanguageModel;
pub use layers::{Activation, Cnn, GruCell, Mlp};
pub use optim::{Adam, AdamConfig};
pub use params::ParamStore;
pub use policy::{ActionCodec, CnnPolicy, ImageLayout, MlpPolicy, Policy, PolicyConfig};
pub use transformer::{KvCache, Transformer, TransformerConfig, TransformerPolicy};
pub use vla::{ImageEncoder, VlaConfig, VlaLayout, VlaPolicy};

/// For a training program's `main`, before any thread starts. glibc returns freed heap to the
/// OS as soon as the top of the heap is free, which makes the learners' per-step tensor
/// allocations cost a `brk` system call each (half the run time of `spelunk explore` went to the
/// kernel); keep freed memory instead, and serve blocks up to 32 MiB (glibc's largest
/// threshold) from the heap rather than fresh `mmap`s — the VLA head's attention tensors are
/// megabytes each, and mapping and zeroing new pages for every one cost a third of a training
/// iteration. Elsewhere it does nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn keep_freed_heap() {
    const M_TRIM_THRESHOLD: i32 = -1;
    const M_TOP_PAD: i32 = -2;
    const M_MMAP_THRESHOLD: i32 = -3;
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    // SAFETY: `mallopt` only sets allocator tuning parameters; callers call it before any
    // other thread exists.
    unsafe {
        mallopt(M_TRIM_THRESHOLD, 512 << 20);
        mallopt(M_TOP_PAD, 64 << 20);
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
    }
}

/// For a training program's `main` (see the Linux/glibc version); nothing to tune here.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn keep_freed_heap() {}

/// For a program's `main`, before any thread starts: candle's CPU kernels run on one thread
/// unless `RAYON_NUM_THREADS` says otherwise. Runs spread over cores by their own threads (the
/// trainer's shards, vector envs, Go-Explore's workers); the policies' kernels are small, and
/// splitting each one over threads costs more than it gains (a GRPO run on DoorKey-5x5 trains
/// slower with candle's default of every core: `docs/results/train_threads.json`).
pub fn kernels_on_one_thread() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

/// The device a run names: `"cpu"`, or `"cuda"` / `"cuda:N"` (GPU N) in a build with the
/// `cuda` feature; a build without it says how to get one.
pub fn device(name: &str) -> Result<Device> {
    let gpu = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => n,
            _ => {
                return Err(Error::Config(format!(
                    "unknown device `{name}`: expected cpu, cuda or cuda:N"
                )))
            }
        },
    };
    if cfg!(feature = "cuda") {
        Ok(Device::new_cuda(gpu)?)
    } else {
        Err(Error::Config(format!(
            "device `{name}` needs a build with CUDA: cargo build --release --features cuda"
        )))
    }
}

/// Gradient check used by every module's tests: the names of parameters whose gradient is
/// missing or all zeros after backpropagating `loss`.
pub fn params_without_gradient(params: &ParamStore, loss: &Tensor) -> Result<Vec<String>> {
    let grads = loss.backward()?;
    let mut dead = Vec::new();
    for (name, var) in params.named() {
        let alive = match grads.get(var.as_tensor()) {
            Some(g) => g.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0,
            None => false,
        };
        if !alive {
            dead.push(name.clone());
        }
    }
    Ok(dead)
}

#[cfg(test)]
mod device_tests {
    #[test]
    fn device_names_are_checked() {
        assert!(matches!(super::device("cpu"), Ok(super::Device::Cpu)));
        let e = super::device("gpu0").unwrap_err().to_string();
        assert!(e.contains("cpu, cuda or cuda:N"), "{e}");
        if !cfg!(feature = "cuda") {
            let e = super::device("cuda:0").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}

/// Every head on the GPU against the same head on the CPU (`--features cuda`, on a machine
/// with an NVIDIA GPU; `scripts/gpu-check.sh` runs them).
#[cfg(all(test, feature = "cuda"))]
mod gpu_tests {
    use super::*;
    use crate::policy::{ActionCodec, Policy, PolicyConfig};
    use spelunk_core::{DType as SpaceType, Space};

    /// Largest |a − b| over two tensors (brought to the CPU).
    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        let a = a.to_device(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.to_device(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// Logits and every parameter's gradient agree between the CPU and the GPU.
    fn same_on_both(make: &dyn Fn(&Device) -> Box<dyn Policy>, obs: Vec<f32>, rows: usize) {
        let gpu = device("cuda").expect("a CUDA device");
        let (pc, pg) = (make(&Device::Cpu), make(&gpu));
        let cols = pc.obs_dim();
        let xc = Tensor::from_vec(obs.clone(), (rows, cols), &Device::Cpu).unwrap();
        let xg = Tensor::from_vec(obs, (rows, cols), &gpu).unwrap();
        let (lc, lg) = (pc.logits(&xc).unwrap(), pg.logits(&xg).unwrap());
        let d = max_diff(&lc, &lg);
        assert!(d < 1e-4, "{}: logits differ by {d}", pc.module());
        let gc = lc.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let gg = lg.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for ((name, vc), (_, vg)) in pc.params().named().iter().zip(pg.params().named()) {
            let (a, b) = (gc.get(vc.as_tensor()).unwrap(), gg.get(vg.as_tensor()).unwrap());
            let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap().max(1e-6);
            let d = max_diff(a, b) / scale;
            assert!(d < 1e-3, "{}: gradient of {name} differs by {d} (relative)", pc.module());
        }
    }

    fn values(n: usize, ids: Option<(std::ops::Range<usize>, usize, u64)>) -> Vec<f32> {
        let mut rng = spelunk_core::Rng::seed_from_u64(9);
        (0..n)
            .map(|i| match &ids {
                Some((span, cols, vocab)) if span.contains(&(i % cols)) => rng.below(*vocab) as f32,
                _ => rng.normal() as f32,
            })
            .collect()
    }

    #[test]
    fn every_head_gives_the_same_logits_and_gradients_on_the_gpu() {
        let binned = ActionCodec::Binned { bins: 11, low: vec![-1.0; 4], high: vec![1.0; 4] };
        let c = binned.clone();
        same_on_both(
            &|d| Box::new(MlpPolicy::new(25, c.clone(), &PolicyConfig::default(), d, 1).unwrap()),
            values(8 * 25, None),
            8,
        );
        let image = Space::uniform_box(&[40, 40, 3], 0.0, 255.0, SpaceType::U8);
        let layout = ImageLayout::of(&image).unwrap();
        let c = binned.clone();
        same_on_both(
            &|d| {
                Box::new(CnnPolicy::new(layout, c.clone(), &PolicyConfig::default(), d, 1).unwrap())
            },
            values(4 * 4800, None),
            4,
        );
        let tc = TransformerConfig { vocab: 12, ..TransformerConfig::default() };
        same_on_both(
            &|d| {
                Box::new(
                    TransformerPolicy::new(30, ActionCodec::Discrete { n: 5, start: 0 }, &tc, d, 1)
                        .unwrap(),
                )
            },
            values(6 * 30, Some((0..30, 30, 12))),
            6,
        );
        let inf = f32::INFINITY;
        let space = Space::Dict(vec![
            ("image".into(), Space::uniform_box(&[24, 24, 3], 0.0, 255.0, SpaceType::U8)),
            ("instruction".into(), Space::uniform_box(&[4], 0.0, 6.0, SpaceType::F32)),
            ("observation".into(), Space::uniform_box(&[10], -inf, inf, SpaceType::F32)),
        ]);
        let small =
            TransformerConfig { d_model: 32, heads: 2, ffn: 64, ..TransformerConfig::default() };
        let cols = 24 * 24 * 3 + 4 + 10;
        let c = binned.clone();
        same_on_both(
            &|d| {
                Box::new(
                    VlaPolicy::new(
                        VlaLayout::of(&space).unwrap(),
                        c.clone(),
                        &VlaConfig::default(),
                        &small,
                        d,
                        1,
                    )
                    .unwrap(),
                )
            },
            values(4 * cols, Some((1728..1732, cols, 7))),
            4,
        );
    }
}
