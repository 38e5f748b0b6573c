//! What a task is: which one, its reward, every setting of an arm env, and the instruction
//! targets' words.

use super::{CameraConfig, Deserialize, RobotConfig, Serialize, FINGER_HALF, TABLE_TOP};
use rapier3d::prelude::*;

/// Which task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArmTask {
    /// Move the grip to the goal.
    Reach,
    /// Push a cube to a goal on the table (gripper blocked).
    Push,
    /// Pick a cube and place it at a goal on the table or in the air.
    PickAndPlace,
    /// Hit a puck so that it slides to a goal beyond reach (gripper blocked).
    Slide,
}

impl ArmTask {
    pub(super) fn has_object(self) -> bool {
        self != ArmTask::Reach
    }
    pub(super) fn block_gripper(self) -> bool {
        self != ArmTask::PickAndPlace
    }
    /// Fetch's initial grip position for the task.
    pub(super) fn initial_grip(self) -> Vector {
        match self {
            ArmTask::Reach | ArmTask::PickAndPlace => Vector::new(1.341_9, 0.749_1, 0.534_7),
            ArmTask::Push => Vector::new(1.345_5, 0.749_0, TABLE_TOP + FINGER_HALF[2] + 0.002),
            ArmTask::Slide => Vector::new(0.992_7, 0.749_0, TABLE_TOP + FINGER_HALF[2] + 0.002),
        }
    }
    /// (obj_range, target_range, target_offset x, target in the air).
    pub(super) fn sampling(self) -> (f64, f64, f64, bool) {
        match self {
            ArmTask::Reach | ArmTask::PickAndPlace => (0.15, 0.15, 0.0, true),
            ArmTask::Push => (0.15, 0.15, 0.0, false),
            ArmTask::Slide => (0.1, 0.3, 0.4, false),
        }
    }
}

/// Reward kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RewardType {
    /// `−(d > threshold)`.
    #[default]
    Sparse,
    /// `−d`.
    Dense,
}

/// Configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArmConfig {
    /// The task.
    pub task: ArmTask,
    /// Reward kind.
    pub reward_type: RewardType,
    /// Steps per episode.
    pub max_steps: u32,
    /// Success distance, m.
    pub distance_threshold: f32,
    /// Physics steps per control step.
    pub substeps: u32,
    /// Physics time step, s.
    pub timestep: f32,
    /// Largest force of a finger motor, N.
    pub finger_force: f32,
    /// A camera whose RGB image joins the observation as `image` (`None`: state only).
    pub camera: Option<CameraConfig>,
    /// A URDF arm in place of the free-floating gripper (`None`: the free gripper).
    pub robot: Option<RobotConfig>,
    /// Instruction following (Reach with a camera): `targets` spheres of different colours
    /// (red, green, blue; at most 3) resting on the table at Fetch's goal draws (x, y), drawn
    /// into the camera image, the goal one of them drawn uniformly, named by an `instruction` observation of word ids ("reach the red target",
    /// see [`INSTRUCTION_WORDS`]) and by `mission()`. 0: Fetch's goal, not in the image.
    pub targets: u32,
}

/// The words of the `instruction` observation: id `k` is `INSTRUCTION_WORDS[k]` (0 pads).
pub const INSTRUCTION_WORDS: [&str; 7] =
    ["<pad>", "reach", "the", "red", "green", "blue", "target"];
/// Words per instruction.
pub const INSTRUCTION_LEN: usize = 4;
/// Radius of an instruction target sphere, m.
pub const TARGET_RADIUS: f32 = 0.03;
pub(super) const TARGET_COLOURS: [&str; 3] = ["red", "green", "blue"];

impl Default for ArmConfig {
    fn default() -> Self {
        Self {
            task: ArmTask::Reach,
            reward_type: RewardType::Sparse,
            max_steps: 50,
            distance_threshold: 0.05,
            substeps: 20,
            timestep: 0.002,
            finger_force: 300.0,
            camera: None,
            robot: None,
            targets: 0,
        }
    }
}
