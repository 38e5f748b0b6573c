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

pub mod cpu_ops;
pub mod dense;
pub mod error;
pub mod language_model;
pub mod layers;
pub mod onnx;
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
        Device::new_cuda(gpu).map_err(|e| {
            Error::Config(format!(
                "device `{name}`: no usable CUDA device ({e}); it needs an NVIDIA GPU and its driver"
            ))
        })
    } else {
        Err(Error::Config(format!(
            "device `{name}` needs a build with CUDA: source scripts/cuda-env.sh && cargo build \
             --profile gpu -p spelunk-cli --features cuda (docs/gpu.md)"
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
