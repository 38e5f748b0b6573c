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
        Layout::Fetch.initial_grip(self)
    }
}

/// Where the grip starts, where objects and goals are drawn, and how heavy the object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// Fetch's: the grip starts above the table's centre, objects and goals within 15 cm of
    /// it (goals up to 45 cm in the air on PickAndPlace), a 2 kg cube.
    Fetch,
    /// A desk arm's (the `so100` arm's default): the grip starts 15 cm in front of the arm's
    /// base on the table (`(1.40, 0.75)`), objects and goals within 5 cm of it in x and y
    /// (Push: 3 cm in x, toward and away from the base), objects at least 4 cm from the grip,
    /// PickAndPlace goals up to 10 cm in the air, a 0.1 kg cube. No Slide.
    Desk,
}

/// A task's draws on a layout.
pub(super) struct Sampling {
    /// Objects at most this far from the start in x and y, m.
    pub object_range: [f64; 2],
    /// ... and at least this far from the grip.
    pub object_clearance: f64,
    /// Goals at most this far from the start in x, y and z, m.
    pub target_range: [f64; 3],
    /// Goals shifted this far in x (Slide's), m.
    pub target_offset: f64,
    /// PickAndPlace's goals go up to this high above the object, half of the time, m.
    pub air: f64,
}

impl Layout {
    /// The task's initial grip position.
    pub(super) fn initial_grip(self, task: ArmTask) -> Vector {
        let low = TABLE_TOP + FINGER_HALF[2] + 0.002;
        match (self, task) {
            (Layout::Fetch, ArmTask::Reach | ArmTask::PickAndPlace) => {
                Vector::new(1.341_9, 0.749_1, 0.534_7)
            }
            (Layout::Fetch, ArmTask::Push) => Vector::new(1.345_5, 0.749_0, low),
            (Layout::Fetch | Layout::Desk, ArmTask::Slide) => Vector::new(0.992_7, 0.749_0, low),
            (Layout::Desk, ArmTask::Reach | ArmTask::PickAndPlace) => {
                Vector::new(1.40, 0.75, TABLE_TOP + 0.10)
            }
            (Layout::Desk, ArmTask::Push) => Vector::new(1.40, 0.75, low),
        }
    }

    /// How far an arm's default base moves for the task: Slide's start lies 0.353 m nearer
    /// the arm than Push's, and, as Fetch stands its robot further back for Slide, the base
    /// moves with it, so the arm starts in Push's pose; zero for the other tasks.
    pub(super) fn base_shift(self, task: ArmTask) -> Vector {
        match task {
            ArmTask::Slide => {
                let d = self.initial_grip(ArmTask::Slide) - self.initial_grip(ArmTask::Push);
                Vector::new(d.x, d.y, 0.0)
            }
            ArmTask::Reach | ArmTask::Push | ArmTask::PickAndPlace => Vector::ZERO,
        }
    }

    /// The task's draws.
    pub(super) fn sampling(self, task: ArmTask) -> Sampling {
        let fetch = |r: f64, offset, air| ([r, r], 0.1, [r, r, r], offset, air);
        let (object_range, object_clearance, target_range, target_offset, air) = match (self, task)
        {
            (Layout::Fetch, ArmTask::Reach | ArmTask::PickAndPlace) => fetch(0.15, 0.0, 0.45),
            (Layout::Fetch, ArmTask::Push) => fetch(0.15, 0.0, 0.0),
            (_, ArmTask::Slide) => ([0.1, 0.1], 0.1, [0.3, 0.3, 0.3], 0.4, 0.0),
            (Layout::Desk, ArmTask::Reach | ArmTask::PickAndPlace) => {
                ([0.05, 0.05], 0.04, [0.05, 0.05, 0.05], 0.0, 0.10)
            }
            // Pushing along x needs room behind the cube toward or away from the base: the
            // arm's reach allows ±3 cm there, ±5 cm across.
            (Layout::Desk, ArmTask::Push) => ([0.03, 0.05], 0.04, [0.03, 0.05, 0.05], 0.0, 0.0),
        };
        Sampling { object_range, object_clearance, target_range, target_offset, air }
    }

    /// The object's mass unless the config sets one, kg.
    pub(super) fn object_mass(self) -> f32 {
        match self {
            Layout::Fetch => 2.0,
            Layout::Desk => 0.1,
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
    /// Instruction following (Reach or Push with a camera): `targets` spheres of different
    /// colours (red, green, blue; at most 3) on the table at the task's goal draws (x, y),
    /// drawn into the camera image, the goal one of them drawn uniformly, named by an
    /// `instruction` observation of word ids ("reach the red target", "push the puck to the
    /// red target"; see [`instruction_ids`]) and by `mission()`. 0: Fetch's goal, not in the
    /// image.
    pub targets: u32,
    /// Where the grip starts and objects and goals are drawn ([`Layout`]); unset: `desk` with
    /// the built-in `so100` arm, else `fetch` (a URDF file of a desk arm says `desk`).
    pub layout: Option<Layout>,
    /// The object's mass, kg; unset: the layout's (2 on `fetch`, 0.1 on `desk`).
    pub object_mass: Option<f32>,
}

impl ArmConfig {
    /// The layout in force (see [`ArmConfig::layout`]).
    pub fn resolved_layout(&self) -> Layout {
        self.layout.unwrap_or(match &self.robot {
            Some(r) if r.urdf == "so100" => Layout::Desk,
            _ => Layout::Fetch,
        })
    }

    /// The task's initial grip position on the layout in force.
    pub(super) fn initial_grip(&self) -> Vector {
        self.resolved_layout().initial_grip(self.task)
    }
}

/// The words of the `instruction` observation: id `k` is `INSTRUCTION_WORDS[k]` (0 pads).
/// Words are only ever appended, so a Reach instruction's ids (and the id range its space
/// declares) stay those of the first seven words.
pub const INSTRUCTION_WORDS: [&str; 10] =
    ["<pad>", "reach", "the", "red", "green", "blue", "target", "push", "puck", "to"];
/// Words per instruction of Reach ([`instruction_ids`] gives every task's).
pub const INSTRUCTION_LEN: usize = 4;

/// The word ids naming target `colour` (0 red, 1 green, 2 blue) for `task`: "reach the red
/// target" on Reach, "push the puck to the red target" on Push; `None` for a task without
/// instruction targets.
pub fn instruction_ids(task: ArmTask, colour: usize) -> Option<Vec<u8>> {
    let c = 3 + colour.min(TARGET_COLOURS.len() - 1) as u8;
    match task {
        ArmTask::Reach => Some(vec![1, 2, c, 6]),
        ArmTask::Push => Some(vec![7, 2, 8, 9, 2, c, 6]),
        ArmTask::PickAndPlace | ArmTask::Slide => None,
    }
}

/// An instruction's ids in words, space-separated.
pub fn instruction_text(ids: &[u8]) -> String {
    let words: Vec<&str> = ids
        .iter()
        .map(|&i| INSTRUCTION_WORDS.get(usize::from(i)).copied().unwrap_or("?"))
        .collect();
    words.join(" ")
}
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
            layout: None,
            object_mass: None,
        }
    }
}
