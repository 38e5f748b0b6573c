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

/// An ONNX policy as a controller of `robot`'s joints. A model exported by `spelunk export`
/// knows its task and how its tokens become actions (its metadata); any other model (one made
/// with PyTorch, say) is taken to output the task's actions directly, one value per action
/// dimension, for the task `env` (an arm task with `robot` in end-effector control).
///
/// # Errors
/// The model cannot be loaded or run, or its task does not fit the robot.
#[cfg(feature = "onnx")]
pub fn twin_from_onnx(path: &Path, robot: &RobotSpec, seed: u64, env: &str) -> Result<Twin> {
    use spelunk_models::onnx::{codec_of, OnnxPolicy};
    let mut model = OnnxPolicy::load(path)?;
    let codec = codec_of(&model.metadata)?;
    let (env_id, env_config) = match model.metadata.get("spelunk.env") {
        Some(id) => {
            let config: Option<serde_json::Value> = model
                .metadata
                .get("spelunk.env_config")
                .map(|c| serde_json::from_str(c))
                .transpose()?
                .flatten();
            (id.clone(), config.unwrap_or_else(|| serde_json::json!({})))
        }
        None => (env.to_owned(), serde_json::json!({ "robot": { "urdf": robot.name } })),
    };
    let shown = path.display().to_string();
    let policy = Box::new(move |obs: spelunk_core::ObsRef<'_>| {
        let row = crate::export::raw_row(obs);
        let err = |e: spelunk_models::Error| spelunk_bridge::Error::Config {
            what: "policy".into(),
            message: format!("{shown}: {e}"),
        };
        let (out, shape) = model.run(&row, 1).map_err(err)?;
        Ok(match &codec {
            // Ours: the most likely token of each dimension, decoded.
            Some(codec) => {
                let vocab = *shape.last().unwrap_or(&1);
                out.chunks(vocab.max(1))
                    .enumerate()
                    .map(|(d, logits)| {
                        let best = logits
                            .iter()
                            .enumerate()
                            .max_by(|a, b| a.1.total_cmp(b.1))
                            .map_or(0, |(k, _)| k);
                        codec.decode(d, best as u32)
                    })
                    .collect()
            }
            None => out,
        })
    });
    Twin::with_policy(&env_id, &env_config, seed, robot, policy)
        .map_err(|e| crate::Error::Invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use spelunk_bridge::arm::ServoArm;
    use spelunk_bridge::control::ArmLoop;
    use spelunk_bridge::safety::SafetyConfig;
    use spelunk_bridge::servo::{Protocol, ServoBus, STS3215};
    use spelunk_bridge::sim::{Sim, SimConfig};
    use spelunk_bridge::transport::Serial;
    use spelunk_grpo::TrainConfig;

    use super::*;
    use crate::train::{run_in_folder, RunFolder};

    #[test]
    fn a_trained_runs_policy_drives_the_simulated_arm_through_the_bridge() {
        let dir = std::env::temp_dir().join(format!("spelunk-bridge-run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = TrainConfig {
            env: "Arm-Reach-v0".into(),
            env_config: Some(serde_json::json!({"robot": {"urdf": "so100"}, "max_steps": 10})),
            iterations: 1,
            groups_per_step: 2,
            group_size: 2,
            eval_episodes: 1,
            ..TrainConfig::default()
        };
        let folder = RunFolder { out: dir.clone(), resume: false, force: false, eval_every: 1 };
        run_in_folder(Some(cfg), &[], &folder, &mut spelunk_core::Observers::default())
            .expect("trains");

        let sim = Sim::start_pty(&SimConfig::default()).expect("sim");
        let mut twin = twin_from_run(&dir, &sim.spec, 5, true).expect("the run's policy");
        assert!(twin.goal().iter().all(|x| x.is_finite()));
        let bus = ServoBus::new(
            Box::new(Serial::open(&sim.port, 1_000_000).expect("port")),
            Protocol::Feetech,
        );
        let arm = ServoArm::connect(bus, STS3215, sim.spec.default_calibration(4096), &sim.spec)
            .expect("arm");
        let bridge =
            ArmLoop::new(Box::new(arm), sim.spec.clone(), SafetyConfig::default(), 100.0, None)
                .expect("loop")
                .spawn(false)
                .expect("spawn");
        let stop = AtomicBool::new(false);
        let steps = spelunk_bridge::twin::drive(
            &bridge.handle,
            &mut twin,
            30.0,
            Some(0.5),
            &stop,
            &mut |_| {},
        )
        .expect("drives");
        let state = bridge.handle.state();
        drop(bridge.stop().expect("stops"));
        assert!(steps >= 10, "{steps} policy steps");
        assert!(state.estop.is_none() && !state.watchdog, "{state:?}");
        // The policy's targets reached the servos: the goals moved off the start pose.
        assert!(sim.goals().iter().zip(&sim.spec.home).any(|(g, h)| (g - h).abs() > 1e-3));

        // A run of another arm, or of a gridworld, is refused by name.
        let other = RobotSpec::load("fetch7").expect("fetch7");
        let e = twin_from_run(&dir, &other, 0, true).err().expect("7 joints").to_string();
        assert!(e.contains("fetch7 has 8 joints"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
