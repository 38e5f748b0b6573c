//! A training run's policy on a real (or simulated) arm: the run folder's policy acting
//! through the bridge's twin of its arm task (see `spelunk_bridge::twin`).

use std::path::Path;

use spelunk_bridge::robot::RobotSpec;
use spelunk_bridge::twin::Twin;

use crate::error::{bail, Result};

/// The policy of the run folder `run` (trained on an `Arm-*-v0` task with a robot arm) as a
/// controller of `robot`'s joints; its task's goal comes from `seed`. With `greedy` the policy
/// takes its most likely action.
///
/// # Errors
/// The run cannot be loaded, or it was not trained on an arm task with this robot's joints.
pub fn twin_from_run(run: &Path, robot: &RobotSpec, seed: u64, greedy: bool) -> Result<Twin> {
    let (cfg, mut trainer) = crate::train::load_run(run)?;
    let Some(env_config) = cfg.env_config.clone() else {
        bail!(
            "{} trained {} with its default config, the free gripper; a real arm needs a run \
             trained with `robot` in its env config",
            run.display(),
            cfg.env
        );
    };
    let policy = Box::new(move |obs: spelunk_core::ObsRef<'_>| {
        trainer.act(obs, greedy).map_err(|e| spelunk_bridge::Error::Config {
            what: "policy".into(),
            message: e.to_string(),
        })
    });
    Twin::with_policy(&cfg.env, &env_config, seed, robot, policy)
        .map_err(|e| crate::Error::Invalid(format!("{}: {e}", run.display())))
}
