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

mod observation;
mod scene;
mod scripted;
mod task;
mod world;

pub use scripted::Scripted;
use task::TARGET_COLOURS;
pub use task::{
    instruction_ids, instruction_text, ArmConfig, ArmTask, Layout, RewardType, INSTRUCTION_LEN,
    INSTRUCTION_WORDS, TARGET_RADIUS,
};
pub use world::vec3;
use world::{
    arr, build_world, codec, euler, v, CUBE_HALF, FINGER_HALF, FINGER_MAX, PALM_MAX_ACCEL,
    PALM_MAX_SPEED, PUCK_RADIUS, TABLE_TOP, WORKSPACE_XY,
};

const SNAPSHOT_KIND: &str = "arm/2";

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
        if let Some(m) = config.object_mass {
            if !(m > 0.0 && m.is_finite()) {
                return Err(bad(format!("object_mass must be positive, got {m}")));
            }
        }
        if config.resolved_layout() == Layout::Desk && config.task == ArmTask::Slide {
            return Err(bad("layout = \"desk\" has no Slide (its goals lie beyond a desk arm's \
                            reach); use layout = \"fetch\""
                .into()));
        }
        if config.targets > TARGET_COLOURS.len() as u32 {
            return Err(bad(format!("targets must be at most 3, got {}", config.targets)));
        }
        if config.targets > 0
            && (instruction_ids(config.task, 0).is_none() || config.camera.is_none())
        {
            return Err(bad(format!(
                "instruction targets need the Reach or Push task and a camera (they are only \
                 seen); this is {:?}{}",
                config.task,
                if config.camera.is_none() { " without a camera" } else { "" }
            )));
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
        // The id range is the task's own words' (Reach's stays 0–6 as words are appended).
        let instruction = (config.targets > 0).then(|| {
            let ids: Vec<Vec<u8>> =
                (0..TARGET_COLOURS.len()).filter_map(|c| instruction_ids(config.task, c)).collect();
            (ids.first().map_or(0, Vec::len), ids.iter().flatten().copied().max().unwrap_or(0))
        });
        let instruction_len = instruction.map_or(0, |(n, _)| n);
        if let Some((n, top)) = instruction {
            members.push((
                "instruction".into(),
                Space::uniform_box(&[n], 0.0, f32::from(top), DType::F32),
            ));
        }
        let (joints_len, action_len, home) = match &handles.gripper {
            Gripper::Robot(r) => {
                let n = r.arm.len() + r.fingers.len();
                let act = match r.config.control {
                    Control::EndEffector => 4,
                    Control::Joints | Control::JointDeltas => r.arm.len() + 1,
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
        let initial = arr(config.initial_grip());
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
    pub fn initial_grip(task: ArmTask) -> [f32; 3] {
        arr(task.initial_grip())
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

    /// Where an action sends a URDF arm from its present state: the grip target (the
    /// current one for joint control), the arm joints' desired positions, and the finger
    /// opening.
    fn robot_targets(&self, r: &BuiltRobot, a: &[f32]) -> (Vector, Vec<f32>, f32) {
        let a: Vec<f32> = a.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
        let grip = *a.last().unwrap_or(&0.0);
        let opening =
            if self.config.task.block_gripper() { 0.0 } else { grip.max(0.0) * r.finger_max() };
        match r.config.control {
            Control::EndEffector => {
                let (to, q) = self.ik_target(r, &a);
                (to, q, opening)
            }
            Control::Joints => {
                let q = r.arm.iter().zip(&a).map(|(j, &x)| j.position_for(x)).collect();
                (v(self.state.target), q, opening)
            }
            Control::JointDeltas => {
                let (world, period) = (&self.world, self.dt());
                let q =
                    r.arm.iter().zip(&a).map(|(j, &x)| j.step_for(r.position(world, j), x, period));
                (v(self.state.target), q.collect(), opening)
            }
        }
    }

    /// End-effector control's grip target for the clamped action `a` and the arm joints'
    /// positions that reach it. As Fetch re-anchors its mocap target on the gripper body
    /// every step, the Δ is taken from where the grip is now.
    fn ik_target(&self, r: &BuiltRobot, a: &[f32]) -> (Vector, Vec<f32>) {
        let from = r.grip_pos(&self.world);
        let to = self.workspace(from + Vector::new(a[0], a[1], a[2]) * 0.05);
        (to, r.solve_ik(&self.world, None, to, 10))
    }

    /// A URDF arm's joint targets for `action` from its present state (arm joints, then the
    /// finger opening), without stepping: what a real arm driven by this env's policy should
    /// be sent (the bridge's twin). `None` for the free gripper or an action of the wrong
    /// length.
    pub fn action_targets(&self, action: &[f32]) -> Option<(Vec<f32>, f32)> {
        let r = self.robot()?;
        let n = self.action_space.flat_len();
        if action.len() != n || action.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let (_, q, opening) = self.robot_targets(r, action);
        Some((q, opening))
    }

    /// The joint-space action (one value per arm joint, then the gripper) that sends a URDF
    /// arm where Fetch's end-effector action `ee` (Δx, Δy, Δz, gripper) would from its
    /// present state: the inverse kinematics of end-effector control, whatever this env's
    /// control mode. Each joint's value is a step from where it is when the env's control is
    /// `joint_deltas` (at most one speed-limited step), else a position on its limits.
    /// Demonstrations for a joint-space policy are the scripted controller's actions through
    /// it. `None` for the free gripper or an `ee` that is not 4 finite values.
    pub fn joint_action_for(&self, ee: &[f32]) -> Option<Vec<f32>> {
        let r = self.robot()?;
        if ee.len() != 4 || ee.iter().any(|x| !x.is_finite()) {
            return None;
        }
        let a: Vec<f32> = ee.iter().map(|x| x.clamp(-1.0, 1.0)).collect();
        let (_, q) = self.ik_target(r, &a);
        let mut out: Vec<f32> = if r.config.control == Control::JointDeltas {
            let period = self.dt();
            let now: Vec<f32> = r.arm.iter().map(|j| r.position(&self.world, j)).collect();
            // More than one speed-limited step away, every joint's step shrinks by one factor
            // (as stepping scales its targets), so the grip keeps its direction.
            let far = r.arm.iter().zip(&q).zip(&now).fold(1f32, |m, ((j, &q), &now)| {
                let step = j.velocity * period;
                if step > 0.0 {
                    m.max((q - now).abs() / step)
                } else {
                    m
                }
            });
            r.arm
                .iter()
                .zip(&q)
                .zip(&now)
                .map(|((j, &q), &now)| j.delta_for(now, q, period * far))
                .collect()
        } else {
            r.arm.iter().zip(&q).map(|(j, &q)| j.action_for(q)).collect()
        };
        out.push(a[3]);
        Some(out)
    }

    /// Put a URDF arm's joints where a real arm measures them (arm joints, then the finger
    /// opening), speeds zero, targets there too: the bridge's twin follows the real arm so.
    pub fn set_joints(&mut self, arm: &[f32], opening: f32) {
        let Gripper::Robot(r) = &self.handles.gripper else { return };
        let fingers = vec![opening; r.fingers.len()];
        r.set_positions(&mut self.world, arm, &fingers);
        r.set_targets(&mut self.world, arm, None, opening);
        let n = self.state.joint_targets.len().min(arm.len());
        self.state.joint_targets[..n].copy_from_slice(&arm[..n]);
        self.state.finger_target = opening;
        self.state.target = arr(r.grip_pos(&self.world));
    }

    fn dt(&self) -> f32 {
        self.config.timestep * self.config.substeps as f32
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
    /// Returns false when the world failed ([`step_world`]).
    fn simulate(&mut self, target: Vector) -> bool {
        let dt = self.config.timestep;
        let palm = match &self.handles.gripper {
            Gripper::Free { palm, .. } => *palm,
            Gripper::Robot(_) => {
                return (0..self.config.substeps).all(|_| step_world(&mut self.world));
            }
        };
        for _ in 0..self.config.substeps {
            let Some(palm) = self.world.bodies.get_mut(palm) else { return true };
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
            if !step_world(&mut self.world) {
                return false;
            }
        }
        true
    }

    /// An error (and the episode ended) once any body's position or speed is not finite: a
    /// robot whose masses, inertias, sizes or limits are out of proportion (within the URDF
    /// bounds) can still blow up, and NaN observations would be silently wrong.
    fn check_finite(&mut self, stepped: bool) -> Result<()> {
        if !stepped || diverged(&self.world) {
            self.state.done = true;
            return Err(Error::Config {
                what: self.id.clone(),
                message: format!(
                    "the simulation failed at step {}: a body's position or speed is no longer \
                     finite (the robot's masses, inertias, sizes or limits are out of proportion)",
                    self.state.steps
                ),
            });
        }
        Ok(())
    }

    fn workspace(&self, p: Vector) -> Vector {
        let c = self.config.initial_grip();
        let (r, floor) = (WORKSPACE_XY, TABLE_TOP + FINGER_HALF[2] + 0.002);
        let low = Vector::new(c.x - r, c.y - r, floor);
        let high = Vector::new(c.x + r, c.y + r, c.z + 0.5);
        p.clamp(low, high)
    }
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
        let draws = self.config.resolved_layout().sampling(task);
        let (obj_range, target_range) = (draws.object_range, draws.target_range);
        let init = self.config.initial_grip();
        let (ix, iy) = (f64::from(init.x), f64::from(init.y));
        if let Some(h) = self.handles.object {
            // Fetch: resample until the object is at least 0.1 m from the grip (in x, y).
            let (mut x, mut y) = (ix, iy);
            while ((x - ix).powi(2) + (y - iy).powi(2)).sqrt() < draws.object_clearance {
                x = ix + (-obj_range[0] + 2.0 * obj_range[0] * self.np.random());
                y = iy + (-obj_range[1] + 2.0 * obj_range[1] * self.np.random());
            }
            if let Some(body) = self.world.bodies.get_mut(h) {
                let z = body.translation().z;
                body.set_translation(Vector::new(x as f32, y as f32, z), true);
            }
        }
        let mut goal = [0f64; 3];
        for ((g, c), r) in goal.iter_mut().zip([ix, iy, f64::from(init.z)]).zip(target_range) {
            *g = c + (-r + 2.0 * r * self.np.random());
        }
        if task.has_object() {
            goal[0] += draws.target_offset;
            goal[2] = f64::from(self.object_pos().map_or(init.z, |p| p[2]));
            if task == ArmTask::PickAndPlace && self.np.random() < 0.5 {
                goal[2] += draws.air * self.np.random();
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
            // (its ray meets the table's plane), which a target in the air would not. On Push
            // they are centred at the object's height, the goal's, as Fetch's Push goal is.
            if !task.has_object() {
                goal[2] = f64::from(TABLE_TOP + TARGET_RADIUS);
            }
            let z = goal[2] as f32;
            colour = ((self.np.random() * n as f64) as usize).min(n - 1);
            let mut placed = vec![goal.map(|g| g as f32)];
            for _ in 1..n {
                let mut p = [0f32; 3];
                for _ in 0..100 {
                    let offset = if task.has_object() { draws.target_offset } else { 0.0 };
                    let centre = [ix + offset, iy, f64::from(init.z)];
                    for ((x, c), r) in p.iter_mut().zip(centre).zip(target_range) {
                        *x = (c + (-r + 2.0 * r * self.np.random())) as f32;
                    }
                    p[2] = z;
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
            self.mission = instruction_text(&instruction_ids(task, colour).unwrap_or_default());
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
        self.check_finite(true)?;
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
        self.check_finite(true)?;
        if let Gripper::Robot(r) = &self.handles.gripper {
            let (to, desired, opening) = self.robot_targets(r, a);
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
            let mut ok = true;
            for k in 0..n {
                let f = (k + 1) as f32 / n as f32;
                for ((q, b), t) in now.iter_mut().zip(&speeds).zip(&self.state.joint_targets) {
                    *q = t - b * period * (1.0 - f);
                }
                r.set_targets(&mut self.world, &now, Some(&speeds), opening);
                ok = step_world(&mut self.world);
                if !ok {
                    break;
                }
            }
            if ok && r.kinematic.is_some() {
                // A kinematic arm is where its targets are, unless a link stopped it.
                self.state.joint_targets = r.arm_positions(&self.world);
            }
            self.check_finite(ok)?;
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
            let ok = self.simulate(to);
            self.check_finite(ok)?;
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
        if !state.markers.is_empty() {
            let ids = instruction_ids(self.config.task, state.colour as usize);
            self.mission = instruction_text(&ids.unwrap_or_default());
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
        let cam = scene::front_camera();
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

    fn scene(&self, cameras: bool) -> Option<spelunk_core::Scene> {
        Some(self.describe(cameras))
    }
}

/// The four tasks' ids.
const TASKS: [(&str, ArmTask); 4] = [
    ("Arm-Reach-v0", ArmTask::Reach),
    ("Arm-Push-v0", ArmTask::Push),
    ("Arm-PickAndPlace-v0", ArmTask::PickAndPlace),
    ("Arm-Slide-v0", ArmTask::Slide),
];

/// An arm env by id and JSON config, as the registry makes it, but as an [`ArmEnv`] (for its
/// arm's methods, such as [`ArmEnv::joint_action_for`]).
pub fn make(id: &str, cfg: &serde_json::Value) -> Result<ArmEnv> {
    let Some(&(_, task)) = TASKS.iter().find(|(name, _)| *name == id) else {
        let ids: Vec<&str> = TASKS.iter().map(|(name, _)| *name).collect();
        return Err(Error::Config {
            what: id.to_owned(),
            message: format!("not an arm task; there are {}", ids.join(", ")),
        });
    };
    let config =
        spelunk_core::registry::merge_config(id, &ArmConfig { task, ..ArmConfig::default() }, cfg)?;
    ArmEnv::new(id, config)
}

/// Register the four tasks.
pub fn register(reg: &mut Registry) {
    for (id, _) in TASKS {
        reg.register(id, "arm", "Fetch-style manipulation on rapier3d", move |cfg| {
            Ok(Box::new(make(id, cfg)?) as Box<dyn Env>)
        });
    }
}

/// One physics step; false when the engine panicked (its joint motors do on the NaN limits a
/// diverged world gives them). The caller stops stepping and `ArmEnv::check_finite` ends the
/// episode with an error; `reset` rebuilds the world.
fn step_world(w: &mut PhysicsWorld) -> bool {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.step())).is_ok()
}

/// Whether any body's position or speed is no longer finite.
fn diverged(w: &PhysicsWorld) -> bool {
    w.bodies.iter().any(|(_, b)| {
        !(b.translation().is_finite() && b.linvel().is_finite() && b.angvel().is_finite())
    })
}
