//! Who decides the targets: a [`Controller`] turns the arm's measured joints into targets.
//!
//! A policy trained on an arm task acts on that task's observation, which a real arm does not
//! produce. The [`Twin`] makes it: a copy of the task in the simulator whose robot is put, every
//! step, where the real arm's joints are measured; the policy (or the task's scripted
//! controller) reads the twin's observation, and the twin's own action mapping (inverse
//! kinematics for end-effector control, limits for joint control) turns its action into the
//! joint targets the real arm is sent. The task's goal and objects are the twin's, drawn from
//! its seed.

use std::time::Instant;

use serde_json::Value;
use spelunk_core::{Env as _, ObsBuf, ObsRef};
use spelunk_sims::arm::{ArmEnv, ArmTask, Scripted};

use crate::error::{Error, Result};
use crate::robot::RobotSpec;

/// Turns measured joints into targets.
pub trait Controller {
    /// Targets for the next step from the measured `positions` (both in the robot's joint
    /// order and units).
    ///
    /// # Errors
    /// The policy failed.
    fn targets(&mut self, positions: &[f64], out: &mut [f64]) -> Result<()>;
    /// One line on what it does (for the terminal).
    fn describe(&self) -> String;
}

/// Stay at the positions measured first.
pub struct Hold {
    at: Option<Vec<f64>>,
}

impl Hold {
    /// A controller that holds.
    #[must_use]
    pub fn new() -> Self {
        Self { at: None }
    }
}

impl Default for Hold {
    fn default() -> Self {
        Self::new()
    }
}

impl Controller for Hold {
    fn targets(&mut self, positions: &[f64], out: &mut [f64]) -> Result<()> {
        let at = self.at.get_or_insert_with(|| positions.to_vec());
        out.copy_from_slice(at);
        Ok(())
    }
    fn describe(&self) -> String {
        "hold where the arm is".into()
    }
}

/// A test pattern: every joint swings around the robot's home pose by `fraction` of its
/// range, one joint after another's phase, over `period_secs`.
pub struct Sine {
    spec: RobotSpec,
    fraction: f64,
    period_secs: f64,
    start: Instant,
}

impl Sine {
    /// A swing of `fraction` of each joint's range around home.
    #[must_use]
    pub fn new(spec: RobotSpec, fraction: f64, period_secs: f64) -> Self {
        Self { spec, fraction, period_secs, start: Instant::now() }
    }
}

impl Controller for Sine {
    fn targets(&mut self, _positions: &[f64], out: &mut [f64]) -> Result<()> {
        let t = self.start.elapsed().as_secs_f64();
        let n = self.spec.joints.len() as f64;
        for (k, (o, j)) in out.iter_mut().zip(&self.spec.joints).enumerate() {
            let phase = std::f64::consts::TAU * (t / self.period_secs + k as f64 / n);
            let home = self.spec.home[k].clamp(j.lower, j.upper);
            *o = home + self.fraction * (j.upper - j.lower) * phase.sin() / 2.0;
        }
        Ok(())
    }
    fn describe(&self) -> String {
        format!(
            "a test pattern: each joint swings ±{:.0} % of its range around home every {} s",
            self.fraction * 50.0,
            self.period_secs
        )
    }
}

/// What acts on the twin's observation.
pub type PolicyFn = Box<dyn FnMut(ObsRef<'_>) -> Result<Vec<f32>>>;

enum Actor {
    Policy(PolicyFn),
    Scripted(Scripted, ArmTask),
}

/// A simulated copy of an arm task that follows the real arm.
pub struct Twin {
    env: ArmEnv,
    obs: ObsBuf,
    actor: Actor,
    arm_joints: usize,
    what: String,
}

fn task_of(env_id: &str) -> Option<ArmTask> {
    Some(match env_id {
        "Arm-Reach-v0" => ArmTask::Reach,
        "Arm-Push-v0" => ArmTask::Push,
        "Arm-PickAndPlace-v0" => ArmTask::PickAndPlace,
        "Arm-Slide-v0" => ArmTask::Slide,
        _ => return None,
    })
}

impl Twin {
    fn build(
        env_id: &str,
        config: &Value,
        seed: u64,
        robot: &RobotSpec,
    ) -> Result<(ArmEnv, ObsBuf)> {
        if task_of(env_id).is_none() {
            return Err(Error::config(
                "policy",
                format!("{env_id} is not an arm task; a real arm runs Arm-*-v0 policies"),
            ));
        }
        let cfg = serde_json::from_value(config.clone())
            .map_err(|e| Error::config("policy", format!("{env_id}'s config: {e}")))?;
        let mut env = ArmEnv::new(env_id, cfg)?;
        let Some(r) = env.robot() else {
            return Err(Error::config(
                "policy",
                format!("{env_id} was configured with the free gripper, not a robot arm (set `robot` in its config)"),
            ));
        };
        if r.arm.len() + 1 != robot.joints.len() {
            return Err(Error::config(
                "policy",
                format!(
                    "the policy's arm has {} joints and a gripper, {} has {} joints in all",
                    r.arm.len(),
                    robot.name,
                    robot.joints.len()
                ),
            ));
        }
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(seed), None, obs.as_mut())?;
        Ok((env, obs))
    }

    /// A twin of `env_id` (an arm task with a robot in `config`) whose actions come from
    /// `policy`.
    ///
    /// # Errors
    /// Not an arm task, no robot arm in its config, or another number of joints than `robot`.
    pub fn with_policy(
        env_id: &str,
        config: &Value,
        seed: u64,
        robot: &RobotSpec,
        policy: PolicyFn,
    ) -> Result<Self> {
        let (env, obs) = Self::build(env_id, config, seed, robot)?;
        let what = format!(
            "a trained policy on {env_id} (goal {:?} from seed {seed})",
            rounded(env.goal())
        );
        Ok(Self {
            arm_joints: robot.joints.len() - 1,
            env,
            obs,
            actor: Actor::Policy(policy),
            what,
        })
    }

    /// A twin of `env_id` driven by the task's scripted controller (end-effector control).
    ///
    /// # Errors
    /// As [`Twin::with_policy`], or a task without a scripted controller.
    pub fn scripted(env_id: &str, config: &Value, seed: u64, robot: &RobotSpec) -> Result<Self> {
        let task = task_of(env_id).filter(|t| *t != ArmTask::Slide).ok_or_else(|| {
            Error::config(
                "policy",
                format!("{env_id} has no scripted controller (Reach, Push, PickAndPlace)"),
            )
        })?;
        let (env, obs) = Self::build(env_id, config, seed, robot)?;
        if env.action_targets(&[0.0; 4]).is_none() {
            return Err(Error::config(
                "policy",
                "the scripted controller moves the grip (control = \"end_effector\"), not joints",
            ));
        }
        let what = format!(
            "{env_id}'s scripted controller (goal {:?} from seed {seed})",
            rounded(env.goal())
        );
        let scripted = Scripted::new().for_env(&env);
        Ok(Self {
            arm_joints: robot.joints.len() - 1,
            env,
            obs,
            actor: Actor::Scripted(scripted, task),
            what,
        })
    }

    /// The twin's goal.
    #[must_use]
    pub fn goal(&self) -> [f32; 3] {
        self.env.goal()
    }

    /// The twin's grip position (where the real arm's grip is, by its measured joints).
    #[must_use]
    pub fn grip(&self) -> [f32; 3] {
        self.env.grip_pos()
    }
}

fn rounded(p: [f32; 3]) -> [f32; 3] {
    p.map(|x| (x * 1000.0).round() / 1000.0)
}

impl Controller for Twin {
    fn targets(&mut self, positions: &[f64], out: &mut [f64]) -> Result<()> {
        let arm: Vec<f32> = positions[..self.arm_joints].iter().map(|&q| q as f32).collect();
        let opening = positions[self.arm_joints] as f32;
        self.env.set_joints(&arm, opening);
        self.env.observe(self.obs.as_mut())?;
        let action = match &mut self.actor {
            Actor::Policy(p) => p(self.obs.view())?,
            Actor::Scripted(s, task) => {
                let flat = self.obs.view().as_f32().ok_or_else(|| {
                    Error::config("policy", "the scripted controller needs a state observation")
                })?;
                s.act(*task, flat).to_vec()
            }
        };
        let (q, opening) = self.env.action_targets(&action).ok_or_else(|| {
            Error::Safety(format!(
                "the policy's action {action:?} does not fit the task (wrong length or not finite)"
            ))
        })?;
        for (o, &t) in out.iter_mut().zip(&q) {
            *o = f64::from(t);
        }
        out[self.arm_joints] = f64::from(opening);
        Ok(())
    }

    fn describe(&self) -> String {
        self.what.clone()
    }
}

/// Drive the loop behind `handle` with `controller` at `hz` until `stop` is set or `seconds`
/// pass; `on_step` sees the arm's state each step. A controller that fails latches the
/// e-stop (the arm holds) and ends the drive with its error. Returns the steps driven.
///
/// # Errors
/// The controller failed.
pub fn drive(
    handle: &crate::control::Handle,
    controller: &mut dyn Controller,
    hz: f64,
    seconds: Option<f64>,
    stop: &std::sync::atomic::AtomicBool,
    on_step: &mut dyn FnMut(&crate::control::ArmState),
) -> Result<u64> {
    use std::sync::atomic::Ordering;
    let period = std::time::Duration::from_secs_f64(1.0 / hz.clamp(0.1, 1000.0));
    let start = Instant::now();
    let mut next = start;
    let mut steps = 0u64;
    let mut out = Vec::new();
    while !stop.load(Ordering::SeqCst) && seconds.is_none_or(|s| start.elapsed().as_secs_f64() < s)
    {
        let state = handle.state();
        out.resize(state.positions.len(), 0.0);
        if let Err(e) = controller.targets(&state.positions, &mut out) {
            handle.estop(&format!("the policy failed: {e}"));
            return Err(e);
        }
        if let Err(e) = handle.command(&out) {
            // A non-finite action: refused, the watchdog holds the arm if it persists.
            handle.estop(&format!("the policy sent a bad command: {e}"));
            return Err(e);
        }
        on_step(&state);
        steps += 1;
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    Ok(steps)
}
