//! `spelunk-sims`: physics manipulation tasks on rapier3d.
//!
//! - [`arm`]: `Arm-Reach-v0`, `Arm-Push-v0`, `Arm-PickAndPlace-v0`, `Arm-Slide-v0`, with the
//!   semantics of Gymnasium-Robotics' Fetch tasks — the same action, observation layout,
//!   goal sampling (numpy's generator, so the same seed gives the same goals), rewards,
//!   success test, control rate and horizon — on a rapier3d world with exact snapshots.
//!
//! - [`camera`]: RGB, depth and segmentation images by ray casting (fixed or wrist mounts),
//!   as an observation option of the arm tasks (`camera` in their config).
//!
//! - [`urdf`] and [`robot`]: robot arms from URDF files (two ship with the crate, a 7-joint
//!   Fetch-like arm and a 5-joint SO-100-class arm) as rapier multibodies with joint motors,
//!   limits and a parallel gripper, driven by end-effector targets (inverse kinematics) or
//!   joint targets (`robot` in an arm task's config).
//!
//! [`registry`] returns a [`spelunk_core::Registry`] with every id of this crate;
//! [`register`] adds them to another.

pub mod arm;
pub mod camera;
pub mod robot;
pub mod urdf;

/// A registry with every environment id of this crate.
pub fn registry() -> spelunk_core::Registry {
    let mut reg = spelunk_core::Registry::new();
    register(&mut reg);
    reg
}

/// Add this crate's ids to `reg`.
pub fn register(reg: &mut spelunk_core::Registry) {
    arm::register(reg);
}
