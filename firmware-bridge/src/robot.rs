//! What the bridge knows of a robot: its joints in order (arm joints root to tip, then the
//! gripper), their limits and speeds, read from the same URDF the simulator builds — so the
//! simulated arm, the safety limits and a trained policy agree on every joint.

use serde_json::json;
use spelunk_core::Env as _;
use spelunk_sims::arm::ArmEnv;

use crate::calibration::{Calibration, JointCalibration, JointKind, FORMAT};
use crate::error::{Error, Result};

/// One joint of the robot.
#[derive(Clone, Debug, PartialEq)]
pub struct JointSpec {
    /// Name (the URDF's, without a `_joint` suffix; `gripper` for the fingers).
    pub name: String,
    /// Revolute joint or gripper.
    pub kind: JointKind,
    /// Lowest position (rad, or m of opening).
    pub lower: f64,
    /// Highest position.
    pub upper: f64,
    /// Largest speed (rad/s or m/s).
    pub max_velocity: f64,
}

/// A robot's joints.
#[derive(Clone, Debug, PartialEq)]
pub struct RobotSpec {
    /// `so100`, `fetch7`, or a URDF path.
    pub name: String,
    /// Joints in bus order.
    pub joints: Vec<JointSpec>,
    /// The arm's home pose (the simulator's start), joints in order.
    pub home: Vec<f64>,
}

impl RobotSpec {
    /// The joints of a built-in arm (`so100`, `fetch7`) or a URDF file, as the simulator
    /// builds it.
    ///
    /// # Errors
    /// The robot cannot be loaded, or has no gripper.
    pub fn load(robot: &str) -> Result<Self> {
        let env = sim_env(robot, 1)?;
        let r = env.robot().ok_or_else(|| Error::config("robot", "the arm env has no robot"))?;
        let mut joints: Vec<JointSpec> = r
            .arm
            .iter()
            .map(|j| JointSpec {
                name: j.name.trim_end_matches("_joint").to_owned(),
                kind: JointKind::Revolute,
                lower: f64::from(j.limits[0]),
                upper: f64::from(j.limits[1]),
                max_velocity: f64::from(j.velocity),
            })
            .collect();
        let travel = f64::from(r.finger_max());
        if travel <= 0.0 {
            return Err(Error::config("robot", format!("{robot} has no gripper fingers")));
        }
        let finger_speed = r.fingers.first().map_or(0.1, |f| f64::from(f.velocity));
        joints.push(JointSpec {
            name: "gripper".into(),
            kind: JointKind::Gripper,
            lower: 0.0,
            upper: travel,
            max_velocity: finger_speed,
        });
        let mut home: Vec<f64> = r.home.iter().map(|&q| f64::from(q)).collect();
        home.push(0.0);
        Ok(Self { name: robot.to_owned(), joints, home })
    }

    /// The gripper's full opening, m.
    #[must_use]
    pub fn travel(&self) -> f64 {
        self.joints.iter().find(|j| j.kind == JointKind::Gripper).map_or(0.0, |j| j.upper)
    }

    /// The calibration of a freshly assembled arm whose servos read 2048 at the joints'
    /// zero (ids 1, 2, …; the simulator's default): each revolute range the URDF's limits
    /// in ticks, the gripper 2048 → 2048 + a quarter turn.
    #[must_use]
    pub fn default_calibration(&self, resolution: u32) -> Calibration {
        let per_rad = f64::from(resolution) / std::f64::consts::TAU;
        let centre = (resolution / 2) as i32;
        let joints = self
            .joints
            .iter()
            .enumerate()
            .map(|(k, j)| {
                let (range_min, range_max) = match j.kind {
                    JointKind::Revolute => (
                        (f64::from(centre) + j.lower * per_rad).floor().max(0.0) as i32,
                        (f64::from(centre) + j.upper * per_rad)
                            .ceil()
                            .min(f64::from(resolution - 1)) as i32,
                    ),
                    JointKind::Gripper => (centre, centre + resolution as i32 / 4),
                };
                JointCalibration {
                    name: j.name.clone(),
                    id: (k + 1) as u8,
                    drive_mode: 0,
                    homing_offset: 0,
                    range_min,
                    range_max,
                    zero: (j.kind == JointKind::Revolute).then_some(centre),
                    kind: j.kind,
                }
            })
            .collect();
        Calibration { format: FORMAT.to_owned(), resolution, joints }
    }
}

/// The arm env the simulator uses: `robot`'s joints driven by joint targets, episodes that
/// do not end, `substeps` physics steps of 2 ms per control step. Fetch's PickAndPlace, the
/// task whose gripper is free (Reach and Push block it), with its cube on the table.
pub(crate) fn sim_env(robot: &str, substeps: u32) -> Result<ArmEnv> {
    let config = json!({
        "task": "pick_and_place",
        "max_steps": u32::MAX,
        "substeps": substeps,
        "robot": { "urdf": robot, "control": "joints" },
    });
    let config = serde_json::from_value(config)
        .map_err(|e| Error::config("robot", format!("{robot}: {e}")))?;
    let mut env = ArmEnv::new("Arm-PickAndPlace-v0", config)?;
    let mut obs = spelunk_core::ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut())?;
    Ok(env)
}
