#![expect(
    clippy::float_cmp,
    reason = "the rewards compared here are exact small integers, not computed floats"
)]
//! End-to-end tests of the workspace, in one binary so the workspace links once.
//!
//! The binary installs a counting allocator (see `alloc_free`); it counts per thread, so
//! tests running in parallel do not disturb each other's counts.

mod alloc_free;
mod arm;
mod bad_input;
mod bridge;
mod determinism;
mod empowerment;
mod episodes;
mod fuzz;
mod goexplore;
mod grpo;
mod minigrid_levels;
mod minigrid_python;
mod montezuma;
mod noisy_tv;
mod np_random;
mod onnx;
mod robot;
mod vec_env;
mod wire;

#[global_allocator]
static ALLOC: alloc_free::Counting = alloc_free::Counting;
