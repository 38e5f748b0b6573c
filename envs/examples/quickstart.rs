//! The README's Rust example, compiled by `cargo test` so it stays true.
//!
//! `cargo run --release -p spelunk-envs --example quickstart`

use spelunk_core::{AutoReset, VecEnv, VecEnvConfig};

fn main() -> spelunk_core::Result<()> {
    let reg = spelunk_envs::registry();
    let config = VecEnvConfig { num_threads: 2, autoreset: AutoReset::NextStep };
    let mut envs = VecEnv::from_fn(64, config, |_| reg.make("MiniGrid-DoorKey-8x8-v0"))?;
    envs.reset(Some(42))?; // env i is seeded 42 + i
    envs.step_discrete(&[2; 64])?; // all step forward
    let obs = envs.obs_u8().unwrap_or_default(); // [64, 148] bytes
    let rewards = envs.rewards(); // [64] floats
    println!("{} observation bytes, total reward {}", obs.len(), rewards.iter().sum::<f32>());
    let snap = envs.with_env(3, |e| e.snapshot())??; // exact state of env 3
    println!("env 3 snapshot: {} bytes of kind {}", snap.bytes.len(), snap.kind);
    Ok(())
}
