//! The rapier world: the table, the object, the free gripper or a URDF arm, and the vector
//! and rotation helpers between rapier's types and plain arrays.

use super::*;

/// Control period, s (20 × 2 ms).
pub(super) const TABLE_TOP: f32 = 0.4;
pub(super) const FINGER_HALF: [f32; 3] = [0.01, 0.005, 0.03];
pub(super) const PALM_HALF: [f32; 3] = [0.02, 0.06, 0.01];
/// Height of the palm's centre above the grip point.
pub(super) const PALM_ABOVE: f32 = FINGER_HALF[2] + PALM_HALF[2];
pub(super) const FINGER_MAX: f32 = 0.05;
pub(super) const PALM_MAX_SPEED: f32 = 2.0;
pub(super) const PALM_MAX_ACCEL: f32 = 40.0;
/// How far the grip's target may go from the task's start in x and y, m.
pub(super) const WORKSPACE_XY: f32 = 0.4;
pub(super) const CUBE_HALF: f32 = 0.025;
pub(super) const PUCK_RADIUS: f32 = 0.025;
pub(super) const PUCK_HALF_HEIGHT: f32 = 0.02;

pub(super) fn codec() -> impl bincode::Options {
    bincode::DefaultOptions::new().with_fixint_encoding().allow_trailing_bytes()
}

pub(super) fn v(a: [f32; 3]) -> Vector {
    Vector::new(a[0], a[1], a[2])
}

/// A rapier vector from an array (for callers without the math types at hand).
pub fn vec3(a: [f32; 3]) -> Vector {
    v(a)
}

pub(super) fn arr(x: Vector) -> [f32; 3] {
    [x.x, x.y, x.z]
}

/// Fetch's `rotations.mat2euler` of a rotation.
pub(super) fn euler(q: Rotation) -> [f32; 3] {
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
pub(super) fn glam_mat(q: Rotation) -> [[f32; 3]; 3] {
    let (x, y, z, w) = (q.x, q.y, q.z, q.w);
    [
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - z * w), 2.0 * (x * z + y * w)],
        [2.0 * (x * y + z * w), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - x * w)],
        [2.0 * (x * z - y * w), 2.0 * (y * z + x * w), 1.0 - 2.0 * (x * x + y * y)],
    ]
}

/// The world of a task, in its initial configuration.
pub(super) fn build_world(config: &ArmConfig) -> Result<(PhysicsWorld, Handles)> {
    let mut w = PhysicsWorld::new();
    w.gravity = Vector::new(0.0, 0.0, -9.81);
    w.integration_parameters.dt = config.timestep;
    // Objects are centimetres across: rapier's tolerances (allowed penetration, prediction
    // distance) scale with the length unit, 1 m by default.
    w.integration_parameters.length_unit = 0.1;
    w.integration_parameters.contact_softness.natural_frequency = 120.0;
    let slide = config.task == ArmTask::Slide;
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
    let grip = config.initial_grip();
    let gripper = match &config.robot {
        Some(rc) => {
            let (model, builtin) = robot::load(rc)?;
            let shift = config.resolved_layout().base_shift(config.task);
            let built = robot::build(&mut w, &model, builtin, rc, grip, shift)?;
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
        let mass = config.object_mass.unwrap_or(config.resolved_layout().object_mass());
        let c = w.colliders.insert_with_parent(collider.mass(mass), body, &mut w.bodies);
        classes.push((c, class::OBJECT));
        body
    });
    let handles = Handles { gripper, object, classes };
    Ok((w, handles))
}

/// The free-floating gripper: a kinematic palm and two fingers on prismatic joints.
pub(super) fn free_gripper(
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
