//! Compute + update throughput of RND (or RDD) on random state observations, with the network
//! sizes given on the command line, for comparisons with other implementations
//! (`scripts/peers/rlexplore_rnd.sh` runs it beside RLeXplore's RND).
//!
//! ```text
//! cargo run --release -p spelunk-intrinsic --example rnd_throughput -- \
//!     [--module rnd|rdd] [--obs 64] [--hidden 256] [--embed 64] [--batch 256] \
//!     [--seconds 5] [--windows 5] [--no-reuse]
//! ```
//!
//! The predictor and the target are both `obs → hidden → ReLU → embed`, every sample of the
//! batch trains (update proportion 1), and observation normalisation is off. With
//! `--no-reuse` the update runs both forward passes again instead of reusing `compute`'s, so
//! the work per sample is compute's two forward passes, the update's two forward passes, one
//! backward pass and one Adam step — what an implementation without the reuse does.
//!
//! The protocol of `scripts/peers/`: one warm-up window, then `--windows` timed windows of
//! `seconds / windows` each. Prints one line of JSON: `{"samples_per_sec": [per window]}`.

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
    let windows = number(&args, "--windows", "5")? as usize;
    if windows == 0 || seconds.is_nan() || seconds <= 0.0 {
        return Err("--windows must be at least 1 and --seconds positive".into());
    }
    let reuse = !args.iter().any(|a| a == "--no-reuse");
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
    m.set_reuse_forward(reuse);
    let mut rng = Rng::seed_from_u64(0);
    let obs: Vec<f32> = (0..batch * obs_dim).map(|_| rng.normal() as f32).collect();
    let actions = vec![0i64; batch];
    let b = Batch { obs: &obs, actions: BatchActions::Discrete(&actions), next_obs: &obs, obs_dim };
    let mut out = vec![0.0; batch];
    let window = seconds / windows as f64;
    let mut rates = Vec::new();
    // Window 0 warms up and is not counted; each window counts whole iterations.
    for w in 0..=windows {
        let start = Instant::now();
        let mut samples = 0usize;
        while start.elapsed().as_secs_f64() < window {
            m.on_step(&b)?;
            m.compute(&b, &mut out)?;
            m.update(&b)?;
            samples += batch;
        }
        if w > 0 {
            rates.push(samples as f64 / start.elapsed().as_secs_f64());
        }
    }
    let list: Vec<String> = rates.iter().map(|r| format!("{r:.1}")).collect();
    println!("{{\"samples_per_sec\": [{}]}}", list.join(", "));
    Ok(())
}
