//! Robot arms from URDF as rapier multibodies (or kinematically driven links): joint motors,
//! limits, a parallel gripper, inverse kinematics for end-effector control, and joint-space
//! targets.
//!
//! Two arms ship with the crate, both written for it ([`Builtin`]):
//!
//! - `fetch7`: a 7-joint arm with the kinematic layout, link lengths, joint limits and
//!   actuator efforts of the Fetch mobile manipulator's arm (shoulder pan, shoulder lift,
//!   upper-arm roll, elbow flex, forearm roll, wrist flex, wrist roll) on a fixed column, and a
//!   two-finger parallel gripper (0–5 cm per finger).
//! - `so100`: a 5-joint desktop arm with the geometry of the SO-100 class of hobby servo arms
//!   (shoulder pan, shoulder lift, elbow flex, wrist flex, wrist roll; 11 cm upper arm, 13.5 cm
//!   forearm, servos of about 3 N·m), standing on the table. Its gripper is modelled as two
//!   parallel fingers (0–3 cm); the real arm closes one rotating jaw.
//!
//! A user's URDF works the same way (`urdf = "path/to/arm.urdf"` with `ee_link` and `fingers`).
//!
//! How the model is simulated:
//!
//! - The root link is fixed at `base`; every joint is a reduced-coordinate multibody joint
//!   with its URDF limits and a position motor whose force is capped at the URDF `effort`.
//!   Motors are acceleration-based (stiffness and damping independent of the link masses).
//! - The arm's links feel no gravity: a position-controlled arm (Fetch's controllers, a
//!   servo's PID loop) holds its pose against it. Objects feel gravity as before.
//! - The links do not collide with each other; they collide with the table and the objects.
//! - Joint targets move at most the URDF `velocity` × the control period per control step.
//! - End-effector control solves damped least-squares inverse kinematics (rapier's multibody
//!   IK, 10 iterations from the current configuration) for the grip point and, for arms with
//!   six or more joints, the home orientation of the gripper (pointing down).
//! - With `drive = "kinematic"` ([`Drive::Kinematic`]) the links follow the joint trajectory
//!   exactly instead: the multibody stays in the world, disabled, as the arm's kinematic model
//!   (forward and inverse kinematics), and each link's colliders ride a kinematic body moved to
//!   the model's pose every physics step. The fingers stay dynamic, on prismatic joints with
//!   their URDF efforts, hung from the hand's kinematic body. A link about to enter the table
//!   stops the arm where it is, as a servo stalls.

use crate::urdf::{Geometry, JointKind, Robot};
use rapier3d::prelude::*;
use serde::{Deserialize, Serialize};
use spelunk_core::{Error, Result};

/// The arms that ship with the crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// 7-joint Fetch-like arm.
    Fetch7,
    /// 5-joint SO-100-class desktop arm.
    So100,
}

impl Builtin {
    /// By config name.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "fetch7" => Some(Self::Fetch7),
            "so100" => Some(Self::So100),
            _ => None,
        }
    }

    /// The URDF text.
    pub fn urdf(self) -> &'static str {
        match self {
            Self::Fetch7 => include_str!("../robots/fetch7.urdf"),
            Self::So100 => include_str!("../robots/so100.urdf"),
        }
    }

    /// Defaults for this arm (every field of [`RobotConfig`] a user may leave out).
    fn defaults(self) -> (&'static str, [&'static str; 2], [f32; 3], [f32; 3], Vec<f32>) {
        // (end-effector link, finger joints, base position, grip point in the ee link,
        //  the IK's starting guess for the home pose)
        match self {
            Self::Fetch7 => (
                "gripper_link",
                ["l_gripper_finger_joint", "r_gripper_finger_joint"],
                [0.75, 0.75, 0.2],
                [0.03, 0.0, 0.0],
                vec![0.0, -0.2, 0.0, 1.0, 0.0, 0.8, 0.0],
            ),
            Self::So100 => (
                "gripper_link",
                ["l_finger_joint", "r_finger_joint"],
                [1.25, 0.75, 0.4],
                // Between the finger pads (2–6 cm along the gripper), low enough that the
                // palm clears a 5 cm cube gripped at its centre.
                [0.045, 0.0, 0.0],
                vec![0.0, -0.6, 1.6, 0.6, 0.0],
            ),
        }
    }
}

/// How actions drive the arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Fetch's action: grip Δx, Δy, Δz × 0.05 m and the gripper, through inverse kinematics.
    #[default]
    EndEffector,
    /// One value in [−1, 1] per arm joint, mapped onto its limits (±π for continuous joints),
    /// plus the gripper: target joint positions.
    Joints,
    /// One value in [−1, 1] per arm joint, times the joint's speed limit × the control
    /// period, added to where the joint is now (clamped to its limits), plus the gripper:
    /// joint-space steps, as Fetch's Δ is taken from where the grip is. A bin of a binned
    /// action is then a small fraction of a step, not of the joint's whole range.
    JointDeltas,
}

/// How the arm's links move.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Drive {
    /// A rapier multibody whose position motors are capped at the URDF efforts: the arm lags
    /// when it asks for more than its motors give, and yields to what pushes harder.
    #[default]
    Dynamic,
    /// The links follow the joint trajectory exactly (an ideal position-controlled arm: the
    /// speed limits hold, the efforts do not); they push objects and stop at the table. The
    /// fingers stay dynamic with their URDF efforts.
    Kinematic,
}

/// A URDF arm in place of the free-floating gripper (`robot` in an arm task's config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RobotConfig {
    /// `fetch7`, `so100`, or the path of a URDF file.
    pub urdf: String,
    /// The link that holds the gripper (defaults for the built-in arms).
    pub ee_link: Option<String>,
    /// The two prismatic finger joints (defaults for the built-in arms; `[]` for none).
    pub fingers: Option<Vec<String>>,
    /// World position of the root link, m.
    pub base: Option<[f32; 3]>,
    /// The grip point in the end-effector link's frame, m.
    pub tool: Option<[f32; 3]>,
    /// A first guess of the arm joints' home positions (the start from which inverse
    /// kinematics finds the pose that puts the grip at the task's start, pointing down).
    pub home: Option<Vec<f32>>,
    /// Action mode.
    pub control: Control,
    /// How the links move: `dynamic` (default) or `kinematic`.
    pub drive: Drive,
    /// Motor stiffness (1/s²; acceleration-based).
    pub stiffness: f32,
    /// Motor damping (1/s).
    pub damping: f32,
}

impl Default for RobotConfig {
    fn default() -> Self {
        Self {
            urdf: "fetch7".into(),
            ee_link: None,
            fingers: None,
            base: None,
            tool: None,
            home: None,
            control: Control::EndEffector,
            drive: Drive::Dynamic,
            stiffness: 400_000.0,
            damping: 5000.0,
        }
    }
}

/// A moving joint of the built robot.
#[derive(Clone, Debug, PartialEq)]
pub struct ArmJoint {
    /// URDF name.
    pub name: String,
    /// Multibody link id of the joint's child.
    pub link: usize,
    /// Prismatic (else revolute or continuous).
    pub prismatic: bool,
    /// Position limits (±π for continuous joints).
    pub limits: [f32; 2],
    /// Largest speed.
    pub velocity: f32,
    /// Largest effort.
    pub effort: f32,
}

impl ArmJoint {
    /// The position a joint-space action value `x` (−1 to 1) asks for: the limits end to end.
    pub fn position_for(&self, x: f32) -> f32 {
        self.limits[0] + f32::midpoint(x, 1.0) * (self.limits[1] - self.limits[0])
    }

    /// The position a [`Control::JointDeltas`] action value `x` asks for from `now`, a
    /// control period of `period` seconds: `now + x · velocity · period`, within the limits.
    pub fn step_for(&self, now: f32, x: f32, period: f32) -> f32 {
        (now + x * self.velocity * period).clamp(self.limits[0], self.limits[1])
    }

    /// The [`Control::JointDeltas`] action value that asks for `q` from `now`
    /// ([`ArmJoint::step_for`]'s inverse, clamped to −1..1; 0 for a joint that cannot move).
    pub fn delta_for(&self, now: f32, q: f32, period: f32) -> f32 {
        let step = self.velocity * period;
        if step > 0.0 {
            ((q - now) / step).clamp(-1.0, 1.0)
        } else {
            0.0
        }
    }

    /// The action value that asks for position `q` ([`ArmJoint::position_for`]'s inverse,
    /// clamped to −1..1; 0 for a joint whose limits have no span).
    pub fn action_for(&self, q: f32) -> f32 {
        let span = self.limits[1] - self.limits[0];
        if span > 0.0 {
            (2.0 * (q - self.limits[0]) / span - 1.0).clamp(-1.0, 1.0)
        } else {
            0.0
        }
    }
}

/// The parts of a URDF robot that live outside the physics world (the world itself is
/// serialised with it).
#[derive(Clone, Debug)]
pub struct BuiltRobot {
    /// The resolved config.
    pub config: RobotConfig,
    /// Arm joints (not the fingers), root to tip.
    pub arm: Vec<ArmJoint>,
    /// Finger joints (0 or 2).
    pub fingers: Vec<ArmJoint>,
    /// A handle of the multibody (the first arm joint's).
    pub handle: MultibodyJointHandle,
    /// Multibody link id of the end-effector link.
    pub ee_link: usize,
    /// Rigid body of the end-effector link.
    pub ee_body: RigidBodyHandle,
    /// Grip point in the ee link frame.
    pub tool: Vector,
    /// Rigid bodies of the finger links.
    pub finger_bodies: Vec<RigidBodyHandle>,
    /// Colliders of every link.
    pub colliders: Vec<ColliderHandle>,
    /// The gripper's orientation at home (held by the IK for arms with ≥ 6 joints).
    pub home_rotation: Rotation,
    /// Arm joint positions at home.
    pub home: Vec<f32>,
    /// The moving bodies of [`Drive::Kinematic`] (`None` for a dynamic arm).
    pub kinematic: Option<KinematicLinks>,
}

/// A kinematically driven arm's bodies: the disabled multibody is its model, these carry the
/// colliders.
#[derive(Clone, Debug)]
pub struct KinematicLinks {
    /// (the model's link body, the kinematic body that moves with it) for every moving link
    /// but the fingers, root to tip.
    pub mirrors: Vec<(RigidBodyHandle, RigidBodyHandle)>,
    /// The fingers' joints (impulse joints to the hand's moving body), as `fingers` orders
    /// them.
    pub fingers: Vec<ImpulseJointHandle>,
    /// Colliders of the links (not the fingers) with the index of their mirror, and the fixed
    /// colliders each may not enter (those it did not touch at home).
    pub stops: Vec<(ColliderHandle, usize, Vec<ColliderHandle>)>,
}

fn config_err(what: &str, message: impl Into<String>) -> Error {
    Error::Config { what: what.into(), message: message.into() }
}

/// Load the robot a config names.
pub fn load(config: &RobotConfig) -> Result<(Robot, Option<Builtin>)> {
    if let Some(b) = Builtin::by_name(&config.urdf) {
        let source = format!("{}.urdf (built in)", config.urdf);
        return Ok((Robot::parse(b.urdf(), &source)?, Some(b)));
    }
    let path = std::path::Path::new(&config.urdf);
    if !path.exists() {
        return Err(config_err(
            "robot",
            format!(
                "urdf = \"{}\" is neither a built-in arm (fetch7, so100) nor a file",
                config.urdf
            ),
        ));
    }
    Ok((Robot::load(path)?, None))
}

fn shape_collider(g: Geometry) -> ColliderBuilder {
    match g {
        Geometry::Box(s) => ColliderBuilder::cuboid(s[0] / 2.0, s[1] / 2.0, s[2] / 2.0),
        // URDF cylinders run along z, rapier's along y.
        Geometry::Cylinder { radius, length } => ColliderBuilder::cylinder(length / 2.0, radius)
            .rotation(Vector::new(std::f32::consts::FRAC_PI_2, 0.0, 0.0)),
        Geometry::Sphere { radius } => ColliderBuilder::ball(radius),
    }
}

/// Collision groups: robot links collide with everything but each other.
fn robot_groups() -> InteractionGroups {
    InteractionGroups::new(Group::GROUP_2, Group::ALL ^ Group::GROUP_2, InteractionTestMode::And)
}

/// Build the robot into `w` at its home pose (gripper at `grip`, pointing down). An unset
/// `base` is the default one moved by `shift` (the task's start moved from where the default
/// base is placed for; see [`crate::arm::Layout`]).
pub fn build(
    w: &mut PhysicsWorld,
    robot: &Robot,
    builtin: Option<Builtin>,
    config: &RobotConfig,
    grip: Vector,
    shift: Vector,
) -> Result<BuiltRobot> {
    let defaults = builtin.map(Builtin::defaults);
    let ee_name = config
        .ee_link
        .clone()
        .or_else(|| defaults.as_ref().map(|d| d.0.to_owned()))
        .ok_or_else(|| config_err("robot", "ee_link is required for a URDF file"))?;
    let finger_names: Vec<String> = config
        .fingers
        .clone()
        .or_else(|| defaults.as_ref().map(|d| d.1.iter().map(|s| (*s).to_owned()).collect()))
        .unwrap_or_default();
    let base = config.base.unwrap_or_else(|| {
        (Vector::from(defaults.as_ref().map_or([0.0; 3], |d| d.2)) + shift).to_array()
    });
    let tool = Vector::from(config.tool.or(defaults.as_ref().map(|d| d.3)).unwrap_or([0.0; 3]));
    let stiff_ok = config.stiffness > 0.0 && config.stiffness.is_finite();
    let damp_ok = config.damping >= 0.0 && config.damping.is_finite();
    if !(stiff_ok && damp_ok) {
        return Err(config_err("robot", "stiffness must be positive and damping non-negative"));
    }
    let ee_index = robot.link(&ee_name).ok_or_else(|| {
        config_err("robot", format!("ee_link `{ee_name}`: no such link in {}", robot.name))
    })?;
    if finger_names.len() != 2 && !finger_names.is_empty() {
        return Err(config_err("robot", "fingers must name two prismatic joints, or none"));
    }
    let mut finger_joints = Vec::new();
    for f in &finger_names {
        let j = robot
            .joint(f)
            .ok_or_else(|| config_err("robot", format!("finger joint `{f}`: no such joint")))?;
        if robot.joints[j].kind != JointKind::Prismatic {
            return Err(config_err("robot", format!("finger joint `{f}` is not prismatic")));
        }
        finger_joints.push(j);
    }

    // Bodies, root first, each at its zero-position pose.
    let mut order = vec![robot.root];
    let mut pose = vec![Pose::IDENTITY; robot.links.len()];
    pose[robot.root] = Pose::from_translation(Vector::from(base));
    let mut k = 0;
    while k < order.len() {
        let at = order[k];
        for j in robot.joints.iter().filter(|j| j.parent == at) {
            pose[j.child] = pose[at] * j.origin;
            order.push(j.child);
        }
        k += 1;
    }
    let mut bodies = vec![RigidBodyHandle::invalid(); robot.links.len()];
    let mut colliders = Vec::new();
    for &i in &order {
        let link = &robot.links[i];
        let builder = if i == robot.root {
            RigidBodyBuilder::fixed()
        } else {
            RigidBodyBuilder::dynamic().gravity_scale(0.0).can_sleep(false)
        };
        let mut builder = builder.pose(pose[i]);
        if let Some(m) = link.mass {
            let inertia = link.inertia.unwrap_or([m * 1e-4; 3]);
            builder = builder.additional_mass_properties(MassProperties::new(
                link.com,
                m,
                Vector::from(inertia),
            ));
        }
        let body = w.bodies.insert(builder);
        bodies[i] = body;
        for s in &link.collisions {
            let c = shape_collider(s.geometry)
                .position(s.origin * shape_collider(s.geometry).position)
                .collision_groups(robot_groups())
                .friction(1.0)
                .density(if link.mass.is_some() { 0.0 } else { 500.0 });
            colliders.push(w.colliders.insert_with_parent(c, body, &mut w.bodies));
        }
    }
    // Joints, parents before children.
    let mut link_ids = vec![usize::MAX; robot.links.len()];
    let mut handle = None;
    let mut arm = Vec::new();
    let mut fingers = Vec::new();
    for &i in order.iter().skip(1) {
        let Some(ji) = robot.joints.iter().position(|j| j.child == i) else { continue };
        let j = &robot.joints[ji];
        let locked = match j.kind {
            JointKind::Fixed => JointAxesMask::LOCKED_FIXED_AXES,
            JointKind::Revolute | JointKind::Continuous => JointAxesMask::LOCKED_REVOLUTE_AXES,
            JointKind::Prismatic => JointAxesMask::LOCKED_PRISMATIC_AXES,
        };
        let basis = Pose::from_rotation(GenericJoint::complete_ang_frame(j.axis));
        let axis = if j.kind == JointKind::Prismatic { JointAxis::LinX } else { JointAxis::AngX };
        let mut b = GenericJointBuilder::new(locked)
            .contacts_enabled(false)
            .local_frame1(j.origin * basis)
            .local_frame2(basis);
        if j.kind != JointKind::Fixed {
            if let Some(l) = j.limits {
                b = b.limits(axis, l);
            }
            b = b
                .motor_position(axis, 0.0, config.stiffness, config.damping)
                .motor_max_force(axis, j.effort);
        }
        let h = w
            .multibody_joints
            .insert(bodies[j.parent], bodies[i], b, true)
            .ok_or_else(|| config_err("robot", format!("joint `{}` closes a loop", j.name)))?;
        let (mb, link_id) = w.multibody_joints.get_mut(h).expect("just inserted");
        mb.set_self_contacts_enabled(false);
        link_ids[i] = link_id;
        handle.get_or_insert(h);
        if j.kind != JointKind::Fixed {
            let limits = j.limits.unwrap_or([-std::f32::consts::PI, std::f32::consts::PI]);
            let aj = ArmJoint {
                name: j.name.clone(),
                link: link_id,
                prismatic: j.kind == JointKind::Prismatic,
                limits,
                velocity: j.velocity,
                effort: j.effort,
            };
            if finger_joints.contains(&ji) {
                fingers.push(aj);
            } else {
                arm.push(aj);
            }
        }
    }
    let handle = handle.ok_or_else(|| config_err("robot", "the robot has no joints"))?;
    // Link ids change as links join one multibody: read them again from the bodies.
    for (i, body) in bodies.iter().enumerate() {
        if let Some(id) = w.multibody_joints.rigid_body_link(*body) {
            link_ids[i] = id.id;
        }
    }
    let name_to_link =
        |name: &str| robot.joint(name).map_or(usize::MAX, |ji| link_ids[robot.joints[ji].child]);
    for a in arm.iter_mut().chain(fingers.iter_mut()) {
        a.link = name_to_link(&a.name);
    }
    // Fingers in the configured order.
    fingers.sort_by_key(|f| finger_names.iter().position(|n| *n == f.name));
    if ee_index == robot.root {
        return Err(config_err("robot", "ee_link is the root link, which cannot move"));
    }
    let mut built = BuiltRobot {
        config: config.clone(),
        arm,
        fingers,
        handle,
        ee_link: link_ids[ee_index],
        ee_body: bodies[ee_index],
        tool,
        finger_bodies: finger_joints.iter().map(|&j| bodies[robot.joints[j].child]).collect(),
        colliders,
        home_rotation: Rotation::from_rotation_y(std::f32::consts::FRAC_PI_2),
        home: Vec::new(),
        kinematic: None,
    };
    if config.drive == Drive::Kinematic {
        make_kinematic(w, &mut built);
    }
    // Home: inverse kinematics to the grip position, pointing down, from the first starting
    // guess that gets there (the config's, the built-in arm's, then fixed alternatives).
    let n = built.arm.len();
    let mut guesses: Vec<Vec<f32>> = Vec::new();
    guesses.extend(config.home.clone());
    guesses.extend(defaults.map(|d| d.4));
    for g in [0.0f32, 0.5, -0.5, 1.0] {
        guesses.push(
            (0..n)
                .map(|k| if k == 0 { 0.0 } else { g * if k % 2 == 0 { -1.0 } else { 1.0 } })
                .collect(),
        );
    }
    let mut q = Vec::new();
    let mut reached = Vector::splat(f32::INFINITY);
    for guess in &guesses {
        q = (0..n).map(|k| guess.get(k).copied().unwrap_or(0.0)).collect();
        built.set_positions(w, &q, &[0.0; 2]);
        for _ in 0..50 {
            q = built.solve_ik(w, None, grip, 20);
            built.set_positions(w, &q, &[0.0; 2]);
        }
        reached = built.grip_pos(w);
        if (reached - grip).length() <= 0.005 {
            break;
        }
    }
    if (reached - grip).length() > 0.005 {
        return Err(config_err(
            "robot",
            format!(
                "the arm cannot reach the task's start {:?} from base {base:?} (closest {:?})",
                grip.to_array(),
                reached.to_array()
            ),
        ));
    }
    built.home.clone_from(&q);

    built.set_targets(w, &q, None, 0.0);
    if let Some(k) = built.kinematic.as_mut() {
        // The fixed colliders a link touches at home (a desk arm's base on the table) do not
        // stop it.
        let stops = std::mem::take(&mut k.stops);
        k.stops = stops
            .into_iter()
            .map(|(c, m, fixed)| {
                let free = fixed.into_iter().filter(|&o| !touching(w, c, o)).collect();
                (c, m, free)
            })
            .collect();
    }
    Ok(built)
}

/// Whether two colliders overlap where they are now.
fn touching(w: &PhysicsWorld, a: ColliderHandle, b: ColliderHandle) -> bool {
    let (Some(a), Some(b)) = (w.colliders.get(a), w.colliders.get(b)) else { return false };
    rapier3d::parry::query::intersection_test(a.position(), a.shape(), b.position(), b.shape())
        .is_ok_and(|i| i.intersecting)
}

/// Turn a built multibody arm into a kinematically driven one (see [`Drive::Kinematic`]): a
/// moving body per link carrying the link's colliders, the fingers re-hung from the hand's,
/// and the multibody disabled.
fn make_kinematic(w: &mut PhysicsWorld, built: &mut BuiltRobot) {
    let links: Vec<RigidBodyHandle> = w
        .multibody_joints
        .get(built.handle)
        .map(|(mb, _)| mb.links().map(MultibodyLink::rigid_body_handle).collect())
        .unwrap_or_default();
    let fixed: Vec<ColliderHandle> = w
        .colliders
        .iter()
        .filter(|(_, c)| c.parent().is_some_and(|p| !links.contains(&p) && w.bodies[p].is_fixed()))
        .map(|(h, _)| h)
        .collect();
    // Every link's new body (the root's fixed, the fingers' dynamic); `mirrors` keeps the
    // kinematic ones, which follow the model every physics step.
    let mut all = Vec::new();
    let mut mirrors = Vec::new();
    let mut colliders = Vec::new();
    let mut stops = Vec::new();
    for (k, &body) in links.iter().enumerate() {
        let finger = built.finger_bodies.contains(&body);
        // The link's mass as the solver would compute it (the model has never been stepped).
        w.bodies[body].recompute_mass_properties_from_colliders(&w.colliders);
        let (pose, local) = {
            let b = &w.bodies[body];
            (*b.position(), b.mass_properties().local_mprops)
        };
        let builder = if k == 0 {
            RigidBodyBuilder::fixed()
        } else if finger {
            RigidBodyBuilder::dynamic()
                .gravity_scale(0.0)
                .can_sleep(false)
                .additional_mass_properties(local)
        } else {
            RigidBodyBuilder::kinematic_position_based()
        };
        let mirror = w.bodies.insert(builder.pose(pose));
        let moving = k > 0 && !finger;
        for h in w.bodies[body].colliders().to_vec() {
            let Some(mut c) =
                w.colliders.remove(h, &mut w.islands, &mut w.bodies, &mut w.soft_bodies, false)
            else {
                continue;
            };
            c.set_density(0.0);
            let nh = w.colliders.insert_with_parent(c, mirror, &mut w.bodies);
            colliders.push(nh);
            if moving {
                stops.push((nh, mirrors.len(), fixed.clone()));
            }
        }
        all.push((body, mirror));
        if moving {
            mirrors.push((body, mirror));
        }
    }
    // The fingers' joints, as the model has them, from the mirror of their parent link
    // (impulse joints: a multibody would not follow a kinematic root).
    let mirror_of = |b: RigidBodyHandle| all.iter().find(|m| m.0 == b).map_or(b, |m| m.1);
    let mut finger_joints = Vec::new();
    for &body in &built.finger_bodies {
        let Some(link) = w.multibody_joints.rigid_body_link(body).copied() else { continue };
        let Some((mb, _)) = w.multibody_joints.get(built.handle) else { continue };
        let Some(l) = mb.link(link.id) else { continue };
        let data = l.joint().data;
        let Some(parent) =
            l.parent_id().and_then(|p| mb.link(p)).map(MultibodyLink::rigid_body_handle)
        else {
            continue;
        };
        let (parent, child) = (mirror_of(parent), mirror_of(body));
        finger_joints.push(w.impulse_joints.insert(parent, child, data, true));
    }
    for &body in &links {
        w.bodies[body].set_enabled(false);
    }
    built.finger_bodies = built.finger_bodies.iter().map(|&b| mirror_of(b)).collect();
    built.ee_body = mirror_of(built.ee_body);
    built.colliders = colliders;
    built.kinematic = Some(KinematicLinks { mirrors, fingers: finger_joints, stops });
}

impl BuiltRobot {
    fn multibody<'w>(&self, w: &'w PhysicsWorld) -> &'w Multibody {
        w.multibody_joints.get(self.handle).expect("the robot's multibody").0
    }

    /// A kinematic arm's finger joint `j`, if it is one: its impulse joint.
    fn finger_joint(&self, j: &ArmJoint) -> Option<ImpulseJointHandle> {
        let k = self.kinematic.as_ref()?;
        let i = self.fingers.iter().position(|f| f.name == j.name)?;
        k.fingers.get(i).copied()
    }

    /// Position of a joint (rad or m).
    pub fn position(&self, w: &PhysicsWorld, j: &ArmJoint) -> f32 {
        if let Some(h) = self.finger_joint(j) {
            return slide(w, h).map_or(0.0, |s| s.0);
        }
        self.multibody(w).link(j.link).map_or(0.0, |l| {
            let c = l.joint().coords();
            if j.prismatic {
                c[0]
            } else {
                c[3]
            }
        })
    }

    /// Speed of a joint.
    pub fn speed(&self, w: &PhysicsWorld, j: &ArmJoint) -> f32 {
        if let Some(h) = self.finger_joint(j) {
            return slide(w, h).map_or(0.0, |s| s.1);
        }
        let mb = self.multibody(w);
        mb.link(j.link).map_or(0.0, |l| mb.joint_velocity(l).get(0).copied().unwrap_or(0.0))
    }

    /// Arm joint positions.
    pub fn arm_positions(&self, w: &PhysicsWorld) -> Vec<f32> {
        self.arm.iter().map(|j| self.position(w, j)).collect()
    }

    /// World pose of the end-effector link.
    pub fn ee_pose(&self, w: &PhysicsWorld) -> Pose {
        *w.bodies[self.ee_body].position()
    }

    /// World position of the grip point.
    pub fn grip_pos(&self, w: &PhysicsWorld) -> Vector {
        self.ee_pose(w).transform_point(self.tool)
    }

    /// Velocity of the grip point.
    pub fn grip_vel(&self, w: &PhysicsWorld) -> Vector {
        w.bodies[self.ee_body].velocity_at_point(self.grip_pos(w))
    }

    /// Teleport the joints (arm then fingers) and zero their speeds.
    pub fn set_positions(&self, w: &mut PhysicsWorld, arm: &[f32], fingers: &[f32]) {
        let Some(k) = &self.kinematic else {
            let joints = self.arm.iter().zip(arm).chain(self.fingers.iter().zip(fingers));
            move_joints(w, self.handle, joints, None);
            return;
        };
        move_joints(w, self.handle, self.arm.iter().zip(arm), None);
        for &(model, mirror) in &k.mirrors {
            let pose = *w.bodies[model].position();
            let b = &mut w.bodies[mirror];
            b.set_position(pose, true);
            b.set_next_kinematic_position(pose);
            b.set_linvel(Vector::ZERO, true);
            b.set_angvel(AngVector::ZERO, true);
        }
        for (&h, &q) in k.fingers.iter().zip(fingers) {
            let Some(joint) = w.impulse_joints.get(h) else { continue };
            let (parent, child, data) = (joint.body1(), joint.body2(), joint.data);
            let frame = *w.bodies[parent].position() * data.local_frame1;
            let pose = frame * Pose::from_translation(Vector::X * q) * data.local_frame2.inverse();
            let b = &mut w.bodies[child];
            b.set_position(pose, true);
            b.set_linvel(Vector::ZERO, true);
            b.set_angvel(AngVector::ZERO, true);
        }
    }

    /// Whether a kinematic arm's link is inside a fixed collider it did not touch at home (the
    /// table); never for a dynamic arm.
    pub fn in_obstacle(&self, w: &PhysicsWorld) -> bool {
        self.kinematic.as_ref().is_some_and(|k| entered(w, k, false))
    }

    /// A kinematic arm's links to `arm` at `speeds` within the next physics step; they stay
    /// where they are when a link would enter a fixed collider it did not touch at home.
    fn drive_links(
        &self,
        w: &mut PhysicsWorld,
        k: &KinematicLinks,
        arm: &[f32],
        speeds: Option<&[f32]>,
    ) {
        let before = self.arm_positions(w);
        move_joints(w, self.handle, self.arm.iter().zip(arm), speeds);
        let blocked = entered(w, k, true);
        if blocked {
            move_joints(w, self.handle, self.arm.iter().zip(&before), None);
        }
        for &(model, mirror) in &k.mirrors {
            let pose = *w.bodies[model].position();
            w.bodies[mirror].set_next_kinematic_position(pose);
        }
    }

    /// Joint targets for the grip point at `target` (and the home orientation for arms of ≥ 6
    /// joints), by damped least squares starting from the configuration `from` (the current
    /// one when `None`), within the limits.
    pub fn solve_ik(
        &self,
        w: &PhysicsWorld,
        from: Option<&[f32]>,
        target: Vector,
        iters: usize,
    ) -> Vec<f32> {
        if !target.is_finite() {
            // Nothing to aim at: hold the current configuration.
            return self.arm_positions(w);
        }
        let mb = self.multibody(w);
        let options = InverseKinematicsOption {
            damping: 0.05,
            max_iters: iters,
            constrained_axes: if self.arm.len() >= 6 {
                JointAxesMask::all()
            } else {
                JointAxesMask::LIN_AXES
            },
            epsilon_linear: 1e-4,
            epsilon_angular: 1e-3,
        };
        let mut disp = DVector::zeros(mb.ndofs());
        if let Some(q) = from {
            for (j, &q) in self.arm.iter().zip(q) {
                if let Some(l) = mb.link(j.link) {
                    disp[l.assembly_id()] = q - self.position(w, j);
                }
            }
        }
        // The link pose whose grip point is at the target.
        let rot = if self.arm.len() >= 6 {
            self.home_rotation
        } else {
            mb.forward_kinematics_single_branch(
                &w.bodies,
                &mb.kinematic_branch(self.ee_link),
                Some(disp.as_slice()),
                None,
            )
            .rotation
        };
        let pose = Pose::from_parts(target - rot * self.tool, rot);
        let arm_links: Vec<usize> = self.arm.iter().map(|j| j.link).collect();
        mb.inverse_kinematics(
            &w.bodies,
            self.ee_link,
            &options,
            &pose,
            |l| arm_links.contains(&l.link_id()),
            &mut disp,
        );
        self.arm
            .iter()
            .map(|j| {
                let now = self.position(w, j);
                let d = mb.link(j.link).map_or(0.0, |l| disp[l.assembly_id()]);
                (now + d).clamp(j.limits[0], j.limits[1])
            })
            .collect()
    }

    /// Set the motors' targets: arm joints (positions, and speeds when given), then every
    /// finger to `opening`. A kinematic arm's links go to `arm` within the next physics step.
    pub fn set_targets(
        &self,
        w: &mut PhysicsWorld,
        arm: &[f32],
        speeds: Option<&[f32]>,
        opening: f32,
    ) {
        if let Some(k) = &self.kinematic {
            self.drive_links(w, k, arm, speeds);
            for (&h, j) in k.fingers.iter().zip(&self.fingers) {
                let q = opening.clamp(j.limits[0], j.limits[1]);
                if let Some(joint) = w.impulse_joints.get_mut(h, true) {
                    let (stiffness, damping) = (self.config.stiffness, self.config.damping);
                    joint.data.set_motor_position(JointAxis::LinX, q, stiffness, damping);
                }
            }
            return;
        }
        let Some((mb, _)) = w.multibody_joints.get_mut(self.handle) else { return };
        for (k, (j, &q)) in self.arm.iter().zip(arm).enumerate() {
            let axis = if j.prismatic { JointAxis::LinX } else { JointAxis::AngX };
            let v = speeds.and_then(|s| s.get(k)).copied().unwrap_or(0.0);
            if let Some(l) = mb.link_mut(j.link) {
                l.joint.data.set_motor(axis, q, v, self.config.stiffness, self.config.damping);
            }
        }
        for j in &self.fingers {
            let q = opening.clamp(j.limits[0], j.limits[1]);
            if let Some(l) = mb.link_mut(j.link) {
                l.joint.data.set_motor_position(
                    JointAxis::LinX,
                    q,
                    self.config.stiffness,
                    self.config.damping,
                );
            }
        }
    }

    /// The largest finger opening.
    pub fn finger_max(&self) -> f32 {
        self.fingers.first().map_or(0.0, |f| f.limits[1])
    }
}

/// Put `joints` of the multibody `handle` at their positions (and speeds, else zero), and its
/// links' bodies where that puts them.
fn move_joints<'a>(
    w: &mut PhysicsWorld,
    handle: MultibodyJointHandle,
    joints: impl Iterator<Item = (&'a ArmJoint, &'a f32)>,
    speeds: Option<&[f32]>,
) {
    let Some((mb, _)) = w.multibody_joints.get_mut(handle) else { return };
    let mut disp = vec![0.0; mb.ndofs()];
    let mut vel = vec![0.0; mb.ndofs()];
    for (k, (j, &q)) in joints.enumerate() {
        if let Some(l) = mb.link(j.link) {
            let c = l.joint().coords();
            let now = if j.prismatic { c[0] } else { c[3] };
            disp[l.assembly_id()] = q - now;
            vel[l.assembly_id()] = speeds.and_then(|s| s.get(k)).copied().unwrap_or(0.0);
        }
    }
    mb.apply_displacements(&disp);
    mb.generalized_velocity_mut().copy_from_slice(&vel);
    mb.forward_kinematics(&w.bodies, true);
    mb.update_rigid_bodies(&mut w.bodies, false);
}

/// A prismatic impulse joint's position along its axis and its speed.
fn slide(w: &PhysicsWorld, h: ImpulseJointHandle) -> Option<(f32, f32)> {
    let joint = w.impulse_joints.get(h)?;
    let (a, b) = (w.bodies.get(joint.body1())?, w.bodies.get(joint.body2())?);
    let f1 = *a.position() * joint.data.local_frame1;
    let f2 = *b.position() * joint.data.local_frame2;
    let axis = f1.rotation * Vector::X;
    let d = f2.translation - f1.translation;
    let rel = b.velocity_at_point(f2.translation) - a.velocity_at_point(f2.translation);
    Some((d.dot(axis), rel.dot(axis)))
}

/// Whether a link's collider overlaps a fixed collider it may not enter: where the model puts
/// it (`model`) or where it is.
fn entered(w: &PhysicsWorld, k: &KinematicLinks, model: bool) -> bool {
    k.stops.iter().any(|(c, m, fixed)| {
        let (Some(c), Some(&(body, _))) = (w.colliders.get(*c), k.mirrors.get(*m)) else {
            return false;
        };
        let at = if model {
            *w.bodies[body].position() * c.position_wrt_parent().copied().unwrap_or_default()
        } else {
            *c.position()
        };
        fixed.iter().filter_map(|o| w.colliders.get(*o)).any(|o| {
            rapier3d::parry::query::intersection_test(&at, c.shape(), o.position(), o.shape())
                .is_ok_and(|i| i.intersecting)
        })
    })
}
