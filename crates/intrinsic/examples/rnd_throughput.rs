//! Compute + update throughput of RND (or RDD) on random state observations, with the network
//! sizes given on the command line, for comparisons with other implementations
//! (`scripts/peers/rlexplore_rnd.sh` runs it beside RLeXplore's RND).
//!
//! ```text
//! cargo run --release -p spelunk-intrinsic --example rnd_throughput -- \
//!     [--module rnd|rdd] [--obs 64] [--hidden 256] [--embed 64] [--batch 256] [--seconds 5]
//! ```
//!
//! Prints one line: `samples_per_sec <value>`. The predictor and the target are both
//! `obs → hidden → ReLU → embed`, every sample of the batch trains (update proportion 1), and
//! observation normalisation is off, so the work per sample is the two forward passes, one
//! backward pass and one Adam step.

use std::time::Instant;

use spelunk_core::Rng;
use spelunk_intrinsic::distill::{DistillConfig, Distillation};
use spelunk_intrinsic::{Batch, BatchActions, IntrinsicReward};

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

fn number(args: &[String], name: &str, default: &str) -> Result<f64, String> {
    let v = arg(args, name, default);
    v.parse().map_err(|_| format!("{name} expects a number, got `{v}`"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let module: &'static str = match arg(&args, "--module", "rnd").as_str() {
        "rnd" => "rnd",
        "rdd" => "rdd",
        other => return Err(format!("--module is rnd or rdd, got `{other}`").into()),
    };
    let obs_dim = number(&args, "--obs", "64")? as usize;
    let hidden = number(&args, "--hidden", "256")? as usize;
    let embed = number(&args, "--embed", "64")? as usize;
    let batch = number(&args, "--batch", "256")? as usize;
    let seconds = number(&args, "--seconds", "5")?;
    let config = DistillConfig {
        obs_dim,
        embed_dim: embed,
        predictor_hidden: vec![hidden],
        target_hidden: vec![hidden],
        sigma: if module == "rdd" { 1.0 } else { 0.0 },
        update_proportion: 1.0,
        normalize_obs: false,
        ..DistillConfig::default()
    };
    let mut m = Distillation::new(module, config)?;
    let mut rng = Rng::seed_from_u64(0);
    let obs: Vec<f32> = (0..batch * obs_dim).map(|_| rng.normal() as f32).collect();
    let actions = vec![0i64; batch];
    let b = Batch { obs: &obs, actions: BatchActions::Discrete(&actions), next_obs: &obs, obs_dim };
    let mut out = vec![0.0; batch];
    // Warm up, then count whole iterations until the budget is spent.
    for _ in 0..10 {
        m.compute(&b, &mut out)?;
        m.update(&b)?;
    }
    let start = Instant::now();
    let mut samples = 0usize;
    while start.elapsed().as_secs_f64() < seconds {
        m.on_step(&b)?;
        m.compute(&b, &mut out)?;
        m.update(&b)?;
        samples += batch;
    }
    println!("samples_per_sec {}", samples as f64 / start.elapsed().as_secs_f64());
    Ok(())
}
