//! Fetch-compatible manipulation tasks on rapier3d: `Arm-Reach-v0`, `Arm-Push-v0`,
//! `Arm-PickAndPlace-v0` and `Arm-Slide-v0`.
//!
//! What matches Gymnasium-Robotics' `Fetch*-v4` one to one:
//!
//! - **Action** `Box(−1, 1, (4,))`: end-effector Δx, Δy, Δz, each scaled by 0.05 m, and the
//!   gripper (each finger's target opening is `clip(a₃, 0, 1) · 0.05` m, as Fetch's position
//!   actuators clip their control to the joint range). Reach, Push and Slide block the gripper
//!   closed, as Fetch does. Values outside [−1, 1] are clipped; NaN or infinite values are an
//!   error and leave the state unchanged.
//! - **Observation** `Dict(achieved_goal: 3, desired_goal: 3, observation: 10 or 25)`, keys in
//!   Gymnasium's sorted order so the flat layout equals `gymnasium.spaces.flatten`.
//!   `observation` is laid out as Fetch lays it out: grip position (3), object position (3),
//!   object position relative to the grip (3), finger positions (2), object rotation as
//!   Fetch's Euler angles (3), object linear velocity relative to the grip × dt (3), object
//!   angular velocity × dt (3), grip velocity × dt (3), finger velocities × dt (2); Reach has
//!   the grip, finger, grip-velocity and finger-velocity parts only (10).
//! - **Goals and starts** drawn as Fetch draws them, from numpy's
//!   `Generator(PCG64(SeedSequence(seed)))` (the same seed gives the same object start and
//!   goal as the Python package): the object within ±`obj_range` of the initial grip position,
//!   at least 0.1 m from it; the goal within ±`target_range` (+ `target_offset`), on the table
//!   for objects, and for PickAndPlace in the air (up to 0.45 m) half of the time.
//! - **Reward** sparse `−(d > 0.05)` or dense `−d`; `info.is_success` is `d < 0.05`; 25 Hz
//!   control (20 physics steps of 2 ms), 50 steps per episode (truncated, never terminated).
//!
//! Where the physics differs from the MuJoCo model, and why:
//!
//! - **The gripper is driven directly, not through an arm.** Fetch moves a mocap body and the
//!   7-joint arm follows it through a weld constraint, so its gripper lags its target; here the
//!   gripper's palm is a kinematic body driven toward the target by a velocity command with
//!   bounded speed and acceleration, which lags the target much as Fetch's weld does. The fingers are dynamic bodies on
//!   prismatic joints with position motors of bounded force, so grasps hold by friction as in
//!   MuJoCo. (An arm loaded from URDF with joint-space control is the next part of this crate.)
//! - **The target is kept in a workspace box** around the initial grip position (±0.4 m in x
//!   and y, from just above the table to 0.5 m above the start), because a kinematic palm
//!   would pass through the table where Fetch's arm collides with it.
//! - **Geometry and contact.** Boxes and cylinders of Fetch's sizes and masses (a 5 cm cube of
//!   2 kg; Slide's puck of radius 2.5 cm and friction 0.1 on a low-friction table), rapier's
//!   solver instead of MuJoCo's soft contacts: resting heights differ from Fetch's by a few
//!   millimetres, and sliding stops differently.

use crate::camera::{self, CameraConfig, Frame, Mount, Pinhole};
use crate::robot::{self, BuiltRobot, Control, RobotConfig};
use bincode::Options as _;
use rapier3d::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use spelunk_core::{
    Action, ByteWriter, DType, Env, Error, Info, NpRandom, ObsMut, Registry, Result, Snapshot,
    Space, Step,
};

const SNAPSHOT_KIND: &str = "arm/2";
/// Control period, s (20 × 2 ms).
const TABLE_TOP: f32 = 0.4;
const FINGER_HALF: [f32; 3] = [0.01, 0.005, 0.03];
const PALM_HALF: [f32; 3] = [0.02, 0.06, 0.01];
/// Height of the palm's centre above the grip point.
const PALM_ABOVE: f32 = FINGER_HALF[2] + PALM_HALF[2];
const FINGER_MAX: f32 = 0.05;
const PALM_MAX_SPEED: f32 = 2.0;
const PALM_MAX_ACCEL: f32 = 40.0;
const CUBE_HALF: f32 = 0.025;
const PUCK_RADIUS: f32 = 0.025;
const PUCK_HALF_HEIGHT: f32 = 0.02;

/// Which task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Move the grip to the goal.
    Reach,
    /// Push a cube to a goal on the table (gripper blocked).
    Push,
    /// Pick a cube and place it at a goal on the table or in the air.
    PickAndPlace,
    /// Hit a puck so that it slides to a goal beyond reach (gripper blocked).
    Slide,
}

impl Task {
    fn has_object(self) -> bool {
        self != Task::Reach
    }
    fn block_gripper(self) -> bool {
        self != Task::PickAndPlace
    }
    /// Fetch's initial grip position for the task.
    fn initial_grip(self) -> Vector {
        match self {
            Task::Reach | Task::PickAndPlace => Vector::new(1.341_9, 0.749_1, 0.534_7),
            Task::Push => Vector::new(1.345_5, 0.749_0, TABLE_TOP + FINGER_HALF[2] + 0.002),
            Task::Slide => Vector::new(0.992_7, 0.749_0, TABLE_TOP + FINGER_HALF[2] + 0.002),
        }
    }
    /// (obj_range, target_range, target_offset x, target in the air).
    fn sampling(self) -> (f64, f64, f64, bool) {
        match self {
            Task::Reach | Task::PickAndPlace => (0.15, 0.15, 0.0, true),
            Task::Push => (0.15, 0.15, 0.0, false),
            Task::Slide => (0.1, 0.3, 0.4, false),
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
    pub task: Task,
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
const TARGET_COLOURS: [&str; 3] = ["red", "green", "blue"];

impl Default for ArmConfig {
    fn default() -> Self {
        Self {
            task: Task::Reach,
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

/// Everything that changes during an episode besides the physics world.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct EpisodeState {
    target: [f32; 3],
    goal: [f32; 3],
    finger_target: f32,
    palm_vel: [f32; 3],
    /// A URDF arm's commanded joint positions.
    joint_targets: Vec<f32>,
    /// Instruction targets' centres, by colour (empty without instruction targets).
    markers: Vec<[f32; 3]>,
    /// The instructed colour (an index into the markers).
    colour: u32,
    steps: u32,
    started: bool,
    done: bool,
}

/// Handles into the world.
#[derive(Clone, Debug)]
struct Handles {
    gripper: Gripper,
    object: Option<RigidBodyHandle>,
    /// Segmentation class of every collider: 1 table, 2 object, 3 gripper.
    classes: Vec<(ColliderHandle, u8)>,
}

/// What holds the fingers.
#[derive(Clone, Debug)]
enum Gripper {
    /// A kinematic palm with two fingers on prismatic joints.
    Free { palm: RigidBodyHandle, fingers: [RigidBodyHandle; 2], joints: [ImpulseJointHandle; 2] },
    /// A URDF arm.
    Robot(Box<BuiltRobot>),
}

/// Segmentation classes of the camera images.
pub mod class {
    /// Nothing hit.
    pub const NONE: u8 = 0;
    /// The table.
    pub const TABLE: u8 = 1;
    /// The object (cube or puck).
    pub const OBJECT: u8 = 2;
    /// The gripper (palm and fingers) and the arm's links.
    pub const GRIPPER: u8 = 3;
    /// The goal marker (pictures for people only; observation images leave it out).
    pub const GOAL: u8 = 4;
    /// The red instruction target (green and blue follow).
    pub const TARGET_RED: u8 = 5;
    /// The green instruction target.
    pub const TARGET_GREEN: u8 = 6;
    /// The blue instruction target.
    pub const TARGET_BLUE: u8 = 7;
}

/// One Fetch-style task.
pub struct ArmEnv {
    id: String,
    config: ArmConfig,
    world: PhysicsWorld,
    handles: Handles,
    /// The world as built, restored at every reset.
    initial_world: Vec<u8>,
    state: EpisodeState,
    np: NpRandom,
    observation_space: Space,
    action_space: Space,
    obs_len: usize,
    image_len: usize,
    joints_len: usize,
    /// The instruction in words (empty without instruction targets).
    mission: String,
}

impl std::fmt::Debug for ArmEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmEnv")
            .field("id", &self.id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn codec() -> impl bincode::Options {
    bincode::DefaultOptions::new().with_fixint_encoding().allow_trailing_bytes()
}

fn v(a: [f32; 3]) -> Vector {
    Vector::new(a[0], a[1], a[2])
}

/// A rapier vector from an array (for callers without the math types at hand).
pub fn vec3(a: [f32; 3]) -> Vector {
    v(a)
}

fn arr(x: Vector) -> [f32; 3] {
    [x.x, x.y, x.z]
}

/// Fetch's `rotations.mat2euler` of a rotation.
fn euler(q: Rotation) -> [f32; 3] {
    let m = glam_mat(q);
    let eps4 = f64::EPSILON * 4.0;
    let at = |r: usize, c: usize| f64::from(m[r][c]);
    let cy = (at(2, 2) * at(2, 2) + at(1, 2) * at(1, 2)).sqrt();
    if cy > eps4 {
        [
            (-at(1, 2).atan2(at(2, 2))) as f32,
            (-(-at(0, 2)).atan2(cy)) as f32,
            (-at(0, 1).atan2(at(0, 0))) as f32,
        ]
    } else {
        [0.0, (-(-at(0, 2)).atan2(cy)) as f32, (-(-at(1, 0)).atan2(at(1, 1))) as f32]
    }
}

/// The rotation matrix, row-major.
fn glam_mat(q: Rotation) -> [[f32; 3]; 3] {
    let (x, y, z, w) = (q.x, q.y, q.z, q.w);
    [
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
        [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
        [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
    ]
}

impl ArmEnv {
    /// Build a task.
    pub fn new(id: &str, config: ArmConfig) -> Result<Self> {
        let bad = |m: String| Error::Config { what: id.to_owned(), message: m };
        if config.max_steps == 0 {
            return Err(bad("max_steps is 0".into()));
        }
        if config.substeps == 0 || config.substeps > 1000 {
            return Err(bad(format!("substeps must be in 1..=1000, got {}", config.substeps)));
        }
        if !(config.timestep > 0.0 && config.timestep <= 0.05) {
            return Err(bad(format!("timestep must be in (0, 0.05] s, got {}", config.timestep)));
        }
        if !(config.distance_threshold > 0.0 && config.distance_threshold.is_finite()) {
            return Err(bad(format!(
                "distance_threshold must be positive, got {}",
                config.distance_threshold
            )));
        }
        if !(config.finger_force > 0.0 && config.finger_force.is_finite()) {
            return Err(bad(format!("finger_force must be positive, got {}", config.finger_force)));
        }
        if config.targets > TARGET_COLOURS.len() as u32 {
            return Err(bad(format!("targets must be at most 3, got {}", config.targets)));
        }
        if config.targets > 0 && (config.task != Task::Reach || config.camera.is_none()) {
            return Err(bad(
                "instruction targets need the Reach task and a camera (they are only seen)".into(),
            ));
        }
        let (world, handles) = build_world(&config).map_err(|e| match e {
            Error::Config { what, message } => {
                Error::Config { what: format!("{id} {what}"), message }
            }
            other => other,
        })?;
        let initial_world = codec()
            .serialize(&world)
            .map_err(|e| Error::Snapshot(format!("encoding the initial world: {e}")))?;
        let obs_len = if config.task.has_object() { 25 } else { 10 };
        let inf = f32::INFINITY;
        let mut members = vec![
            ("achieved_goal".into(), Space::uniform_box(&[3], -inf, inf, DType::F32)),
            ("desired_goal".into(), Space::uniform_box(&[3], -inf, inf, DType::F32)),
        ];
        if let Some(cam) = &config.camera {
            cam.validate().map_err(bad)?;
            members.push((
                "image".into(),
                Space::uniform_box(&[cam.height, cam.width, 3], 0.0, 255.0, DType::U8),
            ));
        }
        let instruction_len = if config.targets > 0 { INSTRUCTION_LEN } else { 0 };
        if instruction_len > 0 {
            let top = (INSTRUCTION_WORDS.len() - 1) as f32;
            members.push((
                "instruction".into(),
                Space::uniform_box(&[INSTRUCTION_LEN], 0.0, top, DType::F32),
            ));
        }
        let (joints_len, action_len, home) = match &handles.gripper {
            Gripper::Robot(r) => {
                let n = r.arm.len() + r.fingers.len();
                let act = match r.config.control {
                    Control::EndEffector => 4,
                    Control::Joints => r.arm.len() + 1,
                };
                (2 * n, act, r.home.clone())
            }
            Gripper::Free { .. } => (0, 4, Vec::new()),
        };
        if joints_len > 0 {
            members
                .push(("joints".into(), Space::uniform_box(&[joints_len], -inf, inf, DType::F32)));
        }
        members.push(("observation".into(), Space::uniform_box(&[obs_len], -inf, inf, DType::F32)));
        let observation_space = Space::Dict(members);
        let image_len = config.camera.as_ref().map_or(0, |c| c.width * c.height * 3);
        let initial = arr(config.task.initial_grip());
        Ok(Self {
            id: id.to_owned(),
            world,
            handles,
            initial_world,
            state: EpisodeState {
                target: initial,
                goal: initial,
                finger_target: 0.0,
                palm_vel: [0.0; 3],
                joint_targets: home,
                markers: Vec::new(),
                colour: 0,
                steps: 0,
                started: false,
                done: false,
            },
            np: NpRandom::new(0),
            observation_space,
            action_space: Space::uniform_box(&[action_len], -1.0, 1.0, DType::F32),
            obs_len,
            image_len: image_len + instruction_len,
            joints_len,
            mission: String::new(),
            config,
        })
    }

    /// The initial grip position of a task (Fetch's, except where the table is in the way).
    pub fn initial_grip(task: Task) -> [f32; 3] {
        arr(task.initial_grip())
    }

    /// The pinhole camera of a camera config, as mounted now.
    pub fn pinhole(&self, cam: &CameraConfig) -> Pinhole {
        match &cam.mount {
            Mount::Fixed { eye, target } => {
                Pinhole::look_at(v(*eye), v(*target), Vector::Z, cam.fov_y, cam.width, cam.height)
            }
            Mount::Wrist { height } => {
                // Behind the palm (−x), looking down past the fingers.
                let grip = v(self.grip_pos());
                let eye = grip + Vector::new(-0.08, 0.0, *height);
                let target = grip + Vector::new(0.03, 0.0, -0.05);
                Pinhole::look_at(eye, target, Vector::X, cam.fov_y, cam.width, cam.height)
            }
        }
    }

    /// RGB, depth and segmentation images of the world now (classes in [`class`]).
    pub fn render_camera(&self, cam: &CameraConfig) -> Frame {
        let markers = self.target_markers();
        camera::render(
            &self.world,
            &self.pinhole(cam),
            &self.handles.classes,
            &markers,
            cam.max_depth,
        )
    }

    /// The instruction targets as spheres to draw (none without them).
    fn target_markers(&self) -> Vec<camera::Marker> {
        self.state
            .markers
            .iter()
            .enumerate()
            .map(|(k, &c)| camera::Marker {
                centre: v(c),
                radius: TARGET_RADIUS,
                class: class::TARGET_RED + k as u8,
            })
            .collect()
    }

    /// Whether two target centres are 8 cm apart and, seen from the camera, their spheres
    /// at least half a radius apart in angle (neither hides the other).
    fn apart(&self, p: [f32; 3], q: [f32; 3]) -> bool {
        if (v(p) - v(q)).length() < 0.08 {
            return false;
        }
        let Some(cam) = &self.config.camera else { return true };
        let eye = self.pinhole(cam).eye();
        let (a, b) = (v(p) - eye, v(q) - eye);
        let angle = a.normalize().dot(b.normalize()).clamp(-1.0, 1.0).acos();
        let size = |d: Vector| (TARGET_RADIUS / d.length()).min(1.0).asin();
        angle > 1.25 * (size(a) + size(b))
    }

    /// The instruction's word ids (`INSTRUCTION_LEN` of them).
    fn instruction_ids(&self) -> [f32; INSTRUCTION_LEN] {
        // reach, the, <colour>, target
        [1.0, 2.0, 3.0 + self.state.colour as f32, 6.0]
    }

    /// The configuration.
    pub fn config(&self) -> &ArmConfig {
        &self.config
    }

    /// Grip point (between the finger pads), m.
    pub fn grip_pos(&self) -> [f32; 3] {
        match &self.handles.gripper {
            Gripper::Free { palm, .. } => arr(self.world.bodies[*palm].translation()),
            Gripper::Robot(r) => arr(r.grip_pos(&self.world)),
        }
    }

    /// The physics world now (read only).
    pub fn world(&self) -> &PhysicsWorld {
        &self.world
    }

    /// The URDF arm, if the config has one.
    pub fn robot(&self) -> Option<&BuiltRobot> {
        match &self.handles.gripper {
            Gripper::Robot(r) => Some(r),
            Gripper::Free { .. } => None,
        }
    }

    /// A URDF arm's joint positions (arm joints, then fingers), rad or m.
    pub fn joint_positions(&self) -> Vec<f32> {
        self.robot().map_or_else(Vec::new, |r| {
            r.arm.iter().chain(&r.fingers).map(|j| r.position(&self.world, j)).collect()
        })
    }

    fn grip_vel(&self) -> Vector {
        match &self.handles.gripper {
            Gripper::Free { palm, .. } => self.world.bodies[*palm].linvel(),
            Gripper::Robot(r) => r.grip_vel(&self.world),
        }
    }

    /// Object centre, if the task has an object.
    pub fn object_pos(&self) -> Option<[f32; 3]> {
        self.handles.object.map(|h| arr(self.world.bodies[h].translation()))
    }

    /// The goal.
    pub fn goal(&self) -> [f32; 3] {
        self.state.goal
    }

    /// Finger openings (distance of each pad from the centre line), m.
    pub fn fingers(&self) -> [f32; 2] {
        let (palm, fingers) = match &self.handles.gripper {
            Gripper::Free { palm, fingers, .. } => (*palm, *fingers),
            Gripper::Robot(r) => {
                let f = |k: usize| r.fingers.get(k).map_or(0.0, |j| r.position(&self.world, j));
                return [f(0), f(1)];
            }
        };
        let palm = self.world.bodies[palm].translation();
        let f = |k: usize| {
            let p = self.world.bodies[fingers[k]].translation();
            let sign = if k == 0 { 1.0 } else { -1.0 };
            sign * (p.y - palm.y) - FINGER_HALF[1]
        };
        [f(0), f(1)]
    }

    fn finger_vels(&self) -> [f32; 2] {
        let (palm, fingers) = match &self.handles.gripper {
            Gripper::Free { palm, fingers, .. } => (*palm, *fingers),
            Gripper::Robot(r) => {
                let f = |k: usize| r.fingers.get(k).map_or(0.0, |j| r.speed(&self.world, j));
                return [f(0), f(1)];
            }
        };
        let palm = self.world.bodies[palm].linvel();
        let f = |k: usize| {
            let p = self.world.bodies[fingers[k]].linvel();
            let sign = if k == 0 { 1.0 } else { -1.0 };
            sign * (p.y - palm.y)
        };
        [f(0), f(1)]
    }

    fn achieved(&self) -> [f32; 3] {
        self.object_pos().unwrap_or_else(|| self.grip_pos())
    }

    fn distance(&self) -> f32 {
        let (a, g) = (v(self.achieved()), v(self.state.goal));
        (a - g).length()
    }

    fn dt(&self) -> f32 {
        self.config.timestep * self.config.substeps as f32
    }

    fn write_obs(&self, obs: ObsMut<'_>) -> Result<()> {
        let out = obs.expect_f32(&self.id, 6 + self.image_len + self.joints_len + self.obs_len)?;
        out[0..3].copy_from_slice(&self.achieved());
        out[3..6].copy_from_slice(&self.state.goal);
        if let Some(cam) = &self.config.camera {
            let frame = self.render_camera(cam);
            let pixels = frame.rgb.len();
            for (o, &p) in out[6..6 + pixels].iter_mut().zip(&frame.rgb) {
                *o = f32::from(p);
            }
            if self.config.targets > 0 {
                out[6 + pixels..6 + self.image_len].copy_from_slice(&self.instruction_ids());
            }
        }
        let dt = self.dt();
        if let Gripper::Robot(r) = &self.handles.gripper {
            let js = &mut out[6 + self.image_len..6 + self.image_len + self.joints_len];
            let n = r.arm.len() + r.fingers.len();
            for (k, j) in r.arm.iter().chain(&r.fingers).enumerate() {
                js[k] = r.position(&self.world, j);
                js[n + k] = r.speed(&self.world, j) * dt;
            }
        }
        let o = &mut out[6 + self.image_len + self.joints_len..];
        let grip = self.grip_pos();
        let grip_vel = arr(self.grip_vel() * dt);
        let fingers = self.fingers();
        let fv = self.finger_vels();
        let finger_vel = [fv[0] * dt, fv[1] * dt];
        match self.handles.object {
            None => {
                o[0..3].copy_from_slice(&grip);
                o[3..5].copy_from_slice(&fingers);
                o[5..8].copy_from_slice(&grip_vel);
                o[8..10].copy_from_slice(&finger_vel);
            }
            Some(h) => {
                let body = &self.world.bodies[h];
                let pos = arr(body.translation());
                let rel = [pos[0] - grip[0], pos[1] - grip[1], pos[2] - grip[2]];
                let velp = arr(body.linvel() * dt);
                let velp = [velp[0] - grip_vel[0], velp[1] - grip_vel[1], velp[2] - grip_vel[2]];
                let velr = arr(body.angvel() * dt);
                o[0..3].copy_from_slice(&grip);
                o[3..6].copy_from_slice(&pos);
                o[6..9].copy_from_slice(&rel);
                o[9..11].copy_from_slice(&fingers);
                o[11..14].copy_from_slice(&euler(*body.rotation()));
                o[14..17].copy_from_slice(&velp);
                o[17..20].copy_from_slice(&velr);
                o[20..23].copy_from_slice(&grip_vel);
                o[23..25].copy_from_slice(&finger_vel);
            }
        }
        Ok(())
    }

    fn make_info(&self) -> Info {
        Info {
            is_success: Some(self.distance() < self.config.distance_threshold),
            ..Info::default()
        }
    }

    fn set_finger_targets(&mut self, opening: f32) {
        let force = self.config.finger_force;
        let joints = match &self.handles.gripper {
            Gripper::Free { joints, .. } => *joints,
            Gripper::Robot(r) => {
                r.set_targets(&mut self.world, &self.state.joint_targets, None, opening);
                return;
            }
        };
        for j in joints {
            if let Some(joint) = self.world.impulse_joints.get_mut(j, true) {
                joint.data.set_motor_position(JointAxis::LinX, opening, 30000.0, 300.0);
                joint.data.set_motor_max_force(JointAxis::LinX, force);
            }
        }
    }

    /// Run the substeps, driving the palm toward the target like Fetch's mocap weld: speed
    /// at most 2 m/s and no more than stops it at the target (`√(2·a·d)`), changing by at
    /// most 40 m/s² (so a held 2 kg cube is not shaken loose).
    fn simulate(&mut self, target: Vector) {
        let dt = self.config.timestep;
        let palm = match &self.handles.gripper {
            Gripper::Free { palm, .. } => *palm,
            Gripper::Robot(_) => {
                for _ in 0..self.config.substeps {
                    self.world.step();
                }
                return;
            }
        };
        for _ in 0..self.config.substeps {
            let Some(palm) = self.world.bodies.get_mut(palm) else { return };
            let p = palm.translation();
            let gap = target - p;
            let dist = gap.length();
            let speed = PALM_MAX_SPEED.min((2.0 * PALM_MAX_ACCEL * dist).sqrt()).min(dist / dt);
            let want = if dist > 1e-7 { gap / dist * speed } else { Vector::ZERO };
            let now = v(self.state.palm_vel);
            let mut dv = want - now;
            if dv.length() > PALM_MAX_ACCEL * dt {
                dv = dv.normalize() * PALM_MAX_ACCEL * dt;
            }
            let vel = now + dv;
            self.state.palm_vel = arr(vel);
            palm.set_next_kinematic_translation(p + vel * dt);
            self.world.step();
        }
    }

    fn workspace(&self, p: Vector) -> Vector {
        let c = self.config.task.initial_grip();
        let low = Vector::new(c.x - 0.4, c.y - 0.4, TABLE_TOP + FINGER_HALF[2] + 0.002);
        let high = Vector::new(c.x + 0.4, c.y + 0.4, c.z + 0.5);
        p.clamp(low, high)
    }
}

/// The world of a task, in its initial configuration.
fn build_world(config: &ArmConfig) -> Result<(PhysicsWorld, Handles)> {
    let mut w = PhysicsWorld::new();
    w.gravity = Vector::new(0.0, 0.0, -9.81);
    w.integration_parameters.dt = config.timestep;
    // Objects are centimetres across: rapier's tolerances (allowed penetration, prediction
    // distance) scale with the length unit, 1 m by default.
    w.integration_parameters.length_unit = 0.1;
    w.integration_parameters.contact_softness.natural_frequency = 120.0;
    let slide = config.task == Task::Slide;
    // The table: Fetch's (1.3, 0.75) table, or Slide's long low-friction one.
    let (centre, half, friction) = if slide {
        (Vector::new(1.32, 0.75, TABLE_TOP / 2.0), Vector::new(0.7, 0.45, TABLE_TOP / 2.0), 0.1)
    } else {
        (Vector::new(1.3, 0.75, TABLE_TOP / 2.0), Vector::new(0.25, 0.35, TABLE_TOP / 2.0), 1.0)
    };
    let mut classes = Vec::new();
    let table = w.bodies.insert(RigidBodyBuilder::fixed().translation(centre));
    let c = w.colliders.insert_with_parent(
        ColliderBuilder::cuboid(half.x, half.y, half.z).friction(friction),
        table,
        &mut w.bodies,
    );
    classes.push((c, class::TABLE));
    let grip = config.task.initial_grip();
    let gripper = match &config.robot {
        Some(rc) => {
            let (model, builtin) = robot::load(rc)?;
            let built = robot::build(&mut w, &model, builtin, rc, grip)?;
            classes.extend(built.colliders.iter().map(|&c| (c, class::GRIPPER)));
            w.bodies.propagate_modified_body_positions_to_colliders(&mut w.colliders);
            Gripper::Robot(Box::new(built))
        }
        None => free_gripper(&mut w, config, grip, &mut classes),
    };
    let object = config.task.has_object().then(|| {
        let (collider, z) = if slide {
            let c = ColliderBuilder::cylinder(PUCK_HALF_HEIGHT, PUCK_RADIUS)
                .rotation(Vector::new(std::f32::consts::FRAC_PI_2, 0.0, 0.0))
                .friction(0.1);
            (c, TABLE_TOP + PUCK_HALF_HEIGHT)
        } else {
            (
                ColliderBuilder::cuboid(CUBE_HALF, CUBE_HALF, CUBE_HALF).friction(1.0),
                TABLE_TOP + CUBE_HALF,
            )
        };
        let body = w.bodies.insert(
            RigidBodyBuilder::dynamic().translation(Vector::new(1.25, 0.53, z)).can_sleep(false),
        );
        let c = w.colliders.insert_with_parent(collider.mass(2.0), body, &mut w.bodies);
        classes.push((c, class::OBJECT));
        body
    });
    let handles = Handles { gripper, object, classes };
    Ok((w, handles))
}

/// The free-floating gripper: a kinematic palm and two fingers on prismatic joints.
fn free_gripper(
    w: &mut PhysicsWorld,
    config: &ArmConfig,
    grip: Vector,
    classes: &mut Vec<(ColliderHandle, u8)>,
) -> Gripper {
    let palm = w.bodies.insert(RigidBodyBuilder::kinematic_position_based().translation(grip));
    let c = w.colliders.insert_with_parent(
        ColliderBuilder::cuboid(PALM_HALF[0], PALM_HALF[1], PALM_HALF[2])
            .translation(Vector::new(0.0, 0.0, PALM_ABOVE))
            .friction(1.0),
        palm,
        &mut w.bodies,
    );
    classes.push((c, class::GRIPPER));
    let mut fingers = Vec::new();
    let mut joints = Vec::new();
    for sign in [1.0f32, -1.0] {
        let at = grip + Vector::new(0.0, sign * FINGER_HALF[1], 0.0);
        let finger = w
            .bodies
            .insert(RigidBodyBuilder::dynamic().translation(at).can_sleep(false).ccd_enabled(true));
        let c = w.colliders.insert_with_parent(
            ColliderBuilder::cuboid(FINGER_HALF[0], FINGER_HALF[1], FINGER_HALF[2])
                .mass(0.5)
                .friction(1.0),
            finger,
            &mut w.bodies,
        );
        classes.push((c, class::GRIPPER));
        let joint = PrismaticJointBuilder::new(Vector::new(0.0, sign, 0.0))
            .contacts_enabled(false)
            .local_anchor1(Vector::new(0.0, sign * FINGER_HALF[1], 0.0))
            .local_anchor2(Vector::ZERO)
            .limits([0.0, FINGER_MAX])
            .motor_position(0.0, 30000.0, 300.0)
            .motor_max_force(config.finger_force);
        joints.push(w.impulse_joints.insert(palm, finger, joint, true));
        fingers.push(finger);
    }
    Gripper::Free { palm, fingers: [fingers[0], fingers[1]], joints: [joints[0], joints[1]] }
}

impl Env for ArmEnv {
    fn id(&self) -> &str {
        &self.id
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(
        &mut self,
        seed: Option<u64>,
        _options: Option<&Value>,
        obs: ObsMut<'_>,
    ) -> Result<Info> {
        if let Some(s) = seed {
            self.np = NpRandom::new(s);
        }
        self.world = codec()
            .deserialize(&self.initial_world)
            .map_err(|e| Error::Snapshot(format!("decoding the initial world: {e}")))?;
        let task = self.config.task;
        let (obj_range, target_range, offset, in_air) = task.sampling();
        let init = task.initial_grip();
        let (ix, iy) = (f64::from(init.x), f64::from(init.y));
        if let Some(h) = self.handles.object {
            // Fetch: resample until the object is at least 0.1 m from the grip (in x, y).
            let (mut x, mut y) = (ix, iy);
            while ((x - ix).powi(2) + (y - iy).powi(2)).sqrt() < 0.1 {
                x = ix + (-obj_range + 2.0 * obj_range * self.np.random());
                y = iy + (-obj_range + 2.0 * obj_range * self.np.random());
            }
            if let Some(body) = self.world.bodies.get_mut(h) {
                let z = body.translation().z;
                body.set_translation(Vector::new(x as f32, y as f32, z), true);
            }
        }
        let mut goal = [0f64; 3];
        for (g, c) in goal.iter_mut().zip([ix, iy, f64::from(init.z)]) {
            *g = c + (-target_range + 2.0 * target_range * self.np.random());
        }
        if task.has_object() {
            goal[0] += offset;
            goal[2] = f64::from(self.object_pos().map_or(init.z, |p| p[2]));
            if in_air && self.np.random() < 0.5 {
                goal[2] += 0.45 * self.np.random();
            }
        }
        // Instruction targets: the goal takes a colour drawn uniformly; the others go to
        // further draws of Fetch's goal range, at least 8 cm from every target placed before
        // and not hiding it from the camera (or not hidden by it).
        let n = self.config.targets as usize;
        let mut markers = Vec::with_capacity(n);
        let mut colour = 0;
        if n > 0 {
            // Targets rest on the table, as objects do: one camera then fixes where each is
            // (its ray meets the table's plane), which a target in the air would not.
            goal[2] = f64::from(TABLE_TOP + TARGET_RADIUS);
            colour = ((self.np.random() * n as f64) as usize).min(n - 1);
            let mut placed = vec![goal.map(|g| g as f32)];
            for _ in 1..n {
                let mut p = [0f32; 3];
                for _ in 0..100 {
                    for (x, c) in p.iter_mut().zip([ix, iy, f64::from(init.z)]) {
                        *x = (c + (-target_range + 2.0 * target_range * self.np.random())) as f32;
                    }
                    p[2] = TABLE_TOP + TARGET_RADIUS;
                    if placed.iter().all(|q| self.apart(*q, p)) {
                        break;
                    }
                }
                placed.push(p);
            }
            // placed[0] is the goal; the others fill the remaining colours in order.
            let mut others = placed[1..].iter();
            for k in 0..n {
                markers.push(if k == colour {
                    placed[0]
                } else {
                    *others.next().unwrap_or(&placed[0])
                });
            }
            self.mission = format!("reach the {} target", TARGET_COLOURS[colour]);
        }
        self.state = EpisodeState {
            markers,
            colour: colour as u32,
            target: arr(init),
            goal: goal.map(|g| g as f32),
            finger_target: 0.0,
            palm_vel: [0.0; 3],
            joint_targets: self.robot().map_or_else(Vec::new, |r| r.home.clone()),
            steps: 0,
            started: true,
            done: false,
        };
        self.set_finger_targets(0.0);
        self.write_obs(obs)?;
        Ok(self.make_info())
    }

    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> Result<Step> {
        if !self.state.started || self.state.done {
            return Err(Error::NeedsReset { env: self.id.clone() });
        }
        let n = self.action_space.flat_len();
        let what = if n == 4 {
            "4 values (dx, dy, dz, gripper)".to_owned()
        } else {
            format!("{n} values (one target per arm joint, then the gripper)")
        };
        let a = match action {
            Action::Continuous(a) if a.len() == n => a,
            Action::Continuous(a) => {
                return Err(Error::InvalidAction {
                    env: self.id.clone(),
                    reason: format!("expected {what}, got {}", a.len()),
                })
            }
            _ => {
                return Err(Error::InvalidAction {
                    env: self.id.clone(),
                    reason: format!("expected a continuous action of {what}"),
                })
            }
        };
        if let Some(k) = a.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidAction {
                env: self.id.clone(),
                reason: format!("action[{k}] is {}; actions must be finite", a[k]),
            });
        }
        if let Gripper::Robot(r) = &self.handles.gripper {
            let a: Vec<f32> = a.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
            let grip = *a.last().unwrap_or(&0.0);
            let opening =
                if self.config.task.block_gripper() { 0.0 } else { grip.max(0.0) * r.finger_max() };
            let (to, desired) = match r.config.control {
                Control::EndEffector => {
                    // As Fetch re-anchors its mocap target on the gripper body every step, the
                    // Δ is taken from where the grip is now.
                    let from = r.grip_pos(&self.world);
                    let to = self.workspace(from + Vector::new(a[0], a[1], a[2]) * 0.05);
                    (to, r.solve_ik(&self.world, None, to, 10))
                }
                Control::Joints => {
                    let q = r
                        .arm
                        .iter()
                        .zip(&a)
                        .map(|(j, &x)| {
                            j.limits[0] + f32::midpoint(x, 1.0) * (j.limits[1] - j.limits[0])
                        })
                        .collect();
                    (v(self.state.target), q)
                }
            };
            // Targets move at most each joint's speed limit per control period, all scaled by
            // one factor so that the grip keeps its direction.
            let period = self.dt();
            let before = self.state.joint_targets.clone();
            let mut scale = 1f32;
            for ((t, d), j) in self.state.joint_targets.iter().zip(&desired).zip(&r.arm) {
                let need = (d - t).abs();
                if need > j.velocity * period {
                    scale = scale.min(j.velocity * period / need);
                }
            }
            for (t, d) in self.state.joint_targets.iter_mut().zip(&desired) {
                *t += (d - *t) * scale;
            }
            self.state.finger_target = opening;
            // The joint controller ramps its targets across the control period at constant
            // speed, as a servo's trajectory interpolation does, rather than stepping them.
            let speeds: Vec<f32> = self
                .state
                .joint_targets
                .iter()
                .zip(&before)
                .map(|(t, b)| (t - b) / period)
                .collect();
            let n = self.config.substeps;
            let mut now = before;
            for k in 0..n {
                let f = (k + 1) as f32 / n as f32;
                for ((q, b), t) in now.iter_mut().zip(&speeds).zip(&self.state.joint_targets) {
                    *q = t - b * period * (1.0 - f);
                }
                r.set_targets(&mut self.world, &now, Some(&speeds), opening);
                self.world.step();
            }
            self.state.target = arr(to);
        } else {
            let a: [f32; 4] = std::array::from_fn(|k| a[k].clamp(-1.0, 1.0));
            let from = v(self.state.target);
            let to = self.workspace(from + Vector::new(a[0], a[1], a[2]) * 0.05);
            let opening =
                if self.config.task.block_gripper() { 0.0 } else { a[3].max(0.0) * FINGER_MAX };
            if (opening - self.state.finger_target).abs() > 0.0 {
                self.set_finger_targets(opening);
                self.state.finger_target = opening;
            }
            self.simulate(to);
            self.state.target = arr(to);
        }
        self.state.steps += 1;
        let d = self.distance();
        let reward = match self.config.reward_type {
            RewardType::Sparse => -f32::from(u8::from(d > self.config.distance_threshold)),
            RewardType::Dense => -d,
        };
        let truncated = self.state.steps >= self.config.max_steps;
        self.state.done = truncated;
        self.write_obs(obs)?;
        Ok(Step { reward, terminated: false, truncated, info: self.make_info() })
    }

    fn observe(&self, obs: ObsMut<'_>) -> Result<()> {
        self.write_obs(obs)
    }

    fn info(&self) -> Info {
        self.make_info()
    }

    fn snapshot(&self) -> Result<Snapshot> {
        let mut w = ByteWriter::new();
        let world = codec()
            .serialize(&self.world)
            .map_err(|e| Error::Snapshot(format!("encoding the world: {e}")))?;
        let state = codec()
            .serialize(&self.state)
            .map_err(|e| Error::Snapshot(format!("encoding the episode: {e}")))?;
        w.bytes(&world);
        w.bytes(&state);
        let (s, inc, has, u) = self.np.raw();
        w.bytes(&s.to_le_bytes());
        w.bytes(&inc.to_le_bytes());
        w.bool(has);
        w.u32(u);
        Ok(w.finish(SNAPSHOT_KIND))
    }

    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let mut r = snapshot.expect_kind(SNAPSHOT_KIND)?;
        let world: PhysicsWorld = codec()
            .deserialize(r.bytes()?)
            .map_err(|e| Error::Snapshot(format!("decoding the world: {e}")))?;
        let state: EpisodeState = codec()
            .deserialize(r.bytes()?)
            .map_err(|e| Error::Snapshot(format!("decoding the episode: {e}")))?;
        let u128_of = |b: &[u8]| -> Result<u128> {
            let a: [u8; 16] = b
                .try_into()
                .map_err(|_| Error::Snapshot("generator state is not 16 bytes".into()))?;
            Ok(u128::from_le_bytes(a))
        };
        let s = u128_of(r.bytes()?)?;
        let inc = u128_of(r.bytes()?)?;
        let has = r.bool()?;
        let u = r.u32()?;
        r.finish()?;
        if world.bodies.len() != self.world.bodies.len()
            || self.handles.object.is_some_and(|h| world.bodies.get(h).is_none())
        {
            return Err(Error::Snapshot(format!(
                "the snapshot's world is not a {} world",
                self.id
            )));
        }
        self.world = world;
        if state.markers.len() != self.config.targets as usize {
            return Err(Error::Snapshot(format!(
                "the snapshot has {} instruction targets, {} has {}",
                state.markers.len(),
                self.id,
                self.config.targets
            )));
        }
        if let Some(c) =
            TARGET_COLOURS.get(state.colour as usize).filter(|_| !state.markers.is_empty())
        {
            self.mission = format!("reach the {c} target");
        }
        self.state = state;
        self.np = NpRandom::from_raw(s, inc, has, u);
        Ok(())
    }

    fn max_episode_steps(&self) -> Option<u32> {
        Some(self.config.max_steps)
    }

    fn mission(&self) -> Option<&str> {
        (!self.mission.is_empty()).then_some(self.mission.as_str())
    }

    /// A 320×240 view of the table from the front, with the goal drawn as a green sphere of
    /// 2 cm radius.
    fn render_rgb(&self) -> Option<spelunk_core::Image> {
        let cam = CameraConfig {
            width: 320,
            height: 240,
            fov_y: 50.0,
            mount: Mount::Fixed { eye: [2.15, 0.75, 1.05], target: [1.3, 0.75, 0.55] },
            ..CameraConfig::default()
        };
        let mut markers = self.target_markers();
        if markers.is_empty() {
            markers.push(camera::Marker {
                centre: v(self.state.goal),
                radius: 0.02,
                class: class::GOAL,
            });
        }
        let f = camera::render(
            &self.world,
            &self.pinhole(&cam),
            &self.handles.classes,
            &markers,
            cam.max_depth,
        );
        Some(spelunk_core::Image { width: f.width, height: f.height, rgb: f.rgb })
    }
}

/// Register the four tasks.
pub fn register(reg: &mut Registry) {
    for (id, task) in [
        ("Arm-Reach-v0", Task::Reach),
        ("Arm-Push-v0", Task::Push),
        ("Arm-PickAndPlace-v0", Task::PickAndPlace),
        ("Arm-Slide-v0", Task::Slide),
    ] {
        reg.register(id, "arm", "Fetch-style manipulation on rapier3d", move |cfg| {
            let config = spelunk_core::registry::merge_config(
                id,
                &ArmConfig { task, ..ArmConfig::default() },
                cfg,
            )?;
            Ok(Box::new(ArmEnv::new(id, config)?) as Box<dyn Env>)
        });
    }
}

/// A scripted controller that solves Reach, Push and PickAndPlace from the observation alone
/// (for tests, demonstrations and privileged starts). Slide needs a timed throw and is not
/// covered.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    phase: u32,
    timer: u32,
}

impl Scripted {
    /// A controller at the start of an episode.
    pub fn new() -> Self {
        Self::default()
    }

    /// The action for a flat observation of `task` (the env's flat layout, with or without a
    /// camera image).
    pub fn act(&mut self, task: Task, flat: &[f32]) -> [f32; 4] {
        let goal = v([flat[3], flat[4], flat[5]]);
        // `observation` is the dict's last member (a camera image may sit before it).
        let obs_len = if task.has_object() { 25 } else { 10 };
        let o = &flat[flat.len().saturating_sub(obs_len)..];
        let grip = v([o[0], o[1], o[2]]);
        // Cover 60% of the remaining distance per step: the palm lags its target, and a
        // controller that asks for all of it overshoots.
        let toward = |p: Vector, gripper: f32| -> [f32; 4] {
            let d = (p - grip) * (0.6 / 0.05);
            [d.x.clamp(-1.0, 1.0), d.y.clamp(-1.0, 1.0), d.z.clamp(-1.0, 1.0), gripper]
        };
        let low = TABLE_TOP + FINGER_HALF[2] + 0.002;
        match task {
            Task::Reach => toward(goal, -1.0),
            Task::Push => {
                let obj = v([o[3], o[4], o[5]]);
                let mut dir = goal - obj;
                dir.z = 0.0;
                let dist = dir.length();
                let dir = if dist > 1e-6 { dir / dist } else { Vector::X };
                let behind = obj - dir * (CUBE_HALF + FINGER_HALF[0] + 0.03);
                let behind_low = Vector::new(behind.x, behind.y, low);
                match self.phase {
                    0 => {
                        // Above the pre-push point, then down behind the cube.
                        let above = Vector::new(behind.x, behind.y, low + 0.08);
                        let flat_gap =
                            Vector::new(grip.x - above.x, grip.y - above.y, 0.0).length();
                        if flat_gap < 0.01 {
                            self.phase = 1;
                        }
                        if flat_gap > 0.02 && grip.z < low + 0.06 {
                            // Rise first, so the fingers do not sweep the cube away.
                            return toward(Vector::new(grip.x, grip.y, low + 0.08), -1.0);
                        }
                        toward(above, -1.0)
                    }
                    1 => {
                        if (grip - behind_low).length() < 0.01 {
                            self.phase = 2;
                        }
                        toward(behind_low, -1.0)
                    }
                    _ => {
                        // Push along the line through the cube to the goal; start again if
                        // the cube has turned away from the line.
                        let to_obj = Vector::new(obj.x - grip.x, obj.y - grip.y, 0.0);
                        let side = to_obj.cross(dir).z.abs();
                        if side > 0.025 || to_obj.dot(dir) < 0.0 {
                            self.phase = 0;
                        }
                        // Slowly (0.5 m/s), so the cube does not slide on past the goal.
                        let stop = goal - dir * (CUBE_HALF + FINGER_HALF[0] + 0.005);
                        let a = toward(Vector::new(stop.x, stop.y, low), -1.0);
                        [a[0] * 0.4, a[1] * 0.4, a[2], a[3]]
                    }
                }
            }
            Task::PickAndPlace => {
                let obj = v([o[3], o[4], o[5]]);
                match self.phase {
                    0 => {
                        let above = obj + Vector::new(0.0, 0.0, 0.08);
                        if (grip - above).length() < 0.01 {
                            self.phase = 1;
                        }
                        toward(above, 1.0)
                    }
                    1 => {
                        let at = Vector::new(obj.x, obj.y, obj.z.max(low));
                        if (grip - at).length() < 0.006 {
                            self.phase = 2;
                        }
                        toward(at, 1.0)
                    }
                    2 => {
                        self.timer += 1;
                        if self.timer >= 4 {
                            self.phase = 3;
                        }
                        [0.0, 0.0, 0.0, -1.0]
                    }
                    3 => {
                        // Lift clear of the table before moving sideways.
                        if obj.z > TABLE_TOP + CUBE_HALF + 0.03
                            || goal.z <= obj.z + 0.005 && (goal - obj).length() < 0.02
                        {
                            self.phase = 4;
                        }
                        toward(grip + Vector::new(0.0, 0.0, 0.05), -1.0)
                    }
                    _ => {
                        // Carry at up to 0.6 m/s, aiming the object (not the grip) at the goal.
                        let a = toward(grip + (goal - obj), -1.0);
                        [a[0] * 0.5, a[1] * 0.5, a[2] * 0.5, a[3]]
                    }
                }
            }
            Task::Slide => [0.0, 0.0, 0.0, -1.0],
        }
    }
}
