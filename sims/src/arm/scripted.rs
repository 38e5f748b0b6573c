//! The scripted controller that solves Reach, Push and PickAndPlace from observations, and
//! slides Slide's puck.

use super::{
    v, ArmEnv, ArmTask, CUBE_HALF, FINGER_HALF, PALM_MAX_ACCEL, PUCK_RADIUS, TABLE_TOP,
    WORKSPACE_XY,
};
use rapier3d::prelude::*;

/// A scripted controller that solves Reach, Push and PickAndPlace from the observation alone
/// (for tests, demonstrations and privileged starts). On Slide a URDF arm (see
/// [`Scripted::for_env`]) pushes the puck toward the goal, speeding up step by step, and lets
/// go at the speed that slides it the rest of the way; the free gripper, whose palm cannot
/// hold a steady speed (it accelerates at 40 m/s² toward each step's target and brakes onto
/// it), strikes the puck instead, and again if it stops short within reach; the launch speed
/// scatters (the fingers are dynamic bodies on motor joints, the contact is soft).
///
/// [`Scripted::memoryless`] pushes by a rule of the present observation alone, the one to
/// clone a policy from (a policy that reads the same observation cannot know a phase the
/// controller remembers).
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    phase: u32,
    timer: u32,
    memoryless: bool,
    /// A URDF arm: its grip moves at a steady speed through each control step.
    arm: bool,
}

impl Scripted {
    /// A controller at the start of an episode.
    pub fn new() -> Self {
        Self::default()
    }

    /// A controller whose Push is a function of the observation alone: on the line through
    /// the cube to the goal, low and behind the cube, it pushes along the line; within 2 cm
    /// of the point 3 cm behind the cube it goes down to it; low and near the cube anywhere
    /// else it rises first; otherwise it heads for the point above; with the cube within
    /// 2.5 cm of the goal it stays still. The free gripper solves about as many episodes this
    /// way as with [`Scripted::new`]'s phases, and more under DART's noise; on `fetch7`, whose
    /// palm drifts off the line, fewer. The other tasks are [`Scripted::new`]'s.
    pub fn memoryless() -> Self {
        Self { memoryless: true, ..Self::default() }
    }

    /// This controller for `env`'s gripper: a URDF arm's joints move at a steady speed
    /// through each control step, so on Slide it pushes the puck up to speed and lets go;
    /// the free gripper strikes it. Only Slide differs.
    #[must_use]
    pub fn for_env(mut self, env: &ArmEnv) -> Self {
        self.arm = env.robot().is_some();
        self
    }

    /// The action for a flat observation of `task` (the env's flat layout, with or without a
    /// camera image).
    pub fn act(&mut self, task: ArmTask, flat: &[f32]) -> [f32; 4] {
        let goal = v([flat[3], flat[4], flat[5]]);
        // `observation` is the dict's last member (a camera image may sit before it).
        let obs_len = if task.has_object() { 25 } else { 10 };
        let o = &flat[flat.len().saturating_sub(obs_len)..];
        let grip = v([o[0], o[1], o[2]]);
        let toward = |p: Vector, gripper: f32| toward(grip, p, gripper);
        let low = TABLE_TOP + FINGER_HALF[2] + 0.002;
        match task {
            ArmTask::Reach => toward(goal, -1.0),
            ArmTask::Push if self.memoryless => push(grip, v([o[3], o[4], o[5]]), goal, low),
            ArmTask::Push => {
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
            ArmTask::PickAndPlace => {
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
            ArmTask::Slide => self.slide(grip, goal, o, low),
        }
    }

    /// Slide: down behind the puck on the line through it to the goal, then either push it
    /// up to speed and let go (a URDF arm, `push_slide`) or strike it once (the
    /// free gripper: its peak speed in that step set for the distance, `v² = 2·a·d` for the
    /// table's deceleration `a`) and pull back. The free gripper then watches where the puck
    /// will stop (its speed `u` slides it `u²/(2·a)` further): stopping short by more than
    /// `SHORT` at a place within its reach, the gripper waits above the next striking point
    /// and, once the puck has stopped, strikes again.
    fn slide(&mut self, grip: Vector, goal: Vector, o: &[f32], low: f32) -> [f32; 4] {
        let obj = v([o[3], o[4], o[5]]);
        // The observation's velocities are per control step (Fetch's `× dt`), the puck's
        // relative to the grip's.
        let grip_vel = v([o[20], o[21], o[22]]) / CONTROL_DT;
        let puck_vel = (v([o[14], o[15], o[16]]) + v([o[20], o[21], o[22]])) / CONTROL_DT;
        let mut dir = goal - obj;
        dir.z = 0.0;
        let dist = dir.length();
        let dir = if dist > 1e-6 { dir / dist } else { Vector::X };
        // The free palm strikes from 1 mm behind the puck, placed to within 0.5 mm (its
        // impact speed, and so the launch, varies with the gap); an arm pushes from 3 mm.
        let (gap, settle) = if self.arm { (0.003, 0.002) } else { (STRIKE_GAP, 0.0005) };
        let behind = striking_point(obj, dir, gap);
        let behind_low = Vector::new(behind.x, behind.y, low);
        let toward = |p: Vector| toward(grip, p, -1.0);
        match self.phase {
            0 => {
                // Above the point behind the puck, then down.
                let above = Vector::new(behind.x, behind.y, low + 0.06);
                let flat_gap = Vector::new(grip.x - above.x, grip.y - above.y, 0.0).length();
                if flat_gap < 0.01 {
                    self.phase = 1;
                }
                if flat_gap > 0.02 && grip.z < low + 0.04 {
                    return toward(Vector::new(grip.x, grip.y, low + 0.06));
                }
                toward(above)
            }
            1 => {
                // Up to the puck, and still.
                if (grip - behind_low).length() < settle && grip_vel.length() < 0.02 {
                    self.phase = 2;
                }
                toward(behind_low)
            }
            2 if self.arm => self.push_slide(grip, grip_vel, puck_vel, dir, dist, behind_low),
            2 => {
                // The strike, from a standstill just behind the puck (creeping into contact
                // first set the puck moving by a varying amount).
                self.phase = 3;
                self.timer = 0;
                let a = dir * strike((2.0 * SLIDE_DECEL * dist).sqrt());
                [a.x, a.y, 0.0, -1.0]
            }
            _ => {
                // Let go: back away along the line, slowly, off the puck's path.
                self.timer += 1;
                if self.timer < 3 {
                    let a = dir * -0.3;
                    return [a.x, a.y, 0.0, -1.0];
                }
                let still = [0.0, 0.0, 0.0, -1.0];
                if self.arm {
                    return still;
                }
                let flat_vel = Vector::new(puck_vel.x, puck_vel.y, 0.0);
                let speed = flat_vel.length();
                let stop = obj + flat_vel * (speed / (2.0 * SLIDE_DECEL));
                let mut miss = goal - stop;
                miss.z = 0.0;
                if miss.length() <= SHORT || miss.dot(flat_vel) < 0.0 {
                    return still;
                }
                let next = striking_point(stop, miss.normalize(), gap);
                if !within_reach(next) {
                    return still;
                }
                if speed < 0.05 {
                    self.phase = 0;
                }
                toward(Vector::new(next.x, next.y, low + 0.06))
            }
        }
    }

    /// A URDF arm's Slide: push along the line through the puck to the goal, the grip
    /// speeding up by `PUSH_ACCEL` from its own speed each step, steering its corner back
    /// onto the line; in the step whose speed `w` slides the puck the rest of the way
    /// (`w·T + w²/(2·a) = d`: carried one step, then sliding) it pushes at `w` and then
    /// stops, and the puck slides on alone (at once if the puck is already fast enough). The
    /// arm's joints move at a steady speed through each step, so the puck leaves at about
    /// the speed it was pushed at; how far the arm can carry it bounds how far it goes.
    fn push_slide(
        &mut self,
        grip: Vector,
        grip_vel: Vector,
        puck_vel: Vector,
        dir: Vector,
        dist: f32,
        behind: Vector,
    ) -> [f32; 4] {
        let (t, a) = (CONTROL_DT, SLIDE_DECEL);
        let puck = puck_vel.dot(dir);
        if puck * puck >= 2.0 * a * dist {
            // Already fast enough to get there: let go.
            self.phase = 3;
            self.timer = 0;
            return [0.0, 0.0, 0.0, -1.0];
        }
        let last = a * ((t * t + 2.0 * dist / a).sqrt() - t);
        let next = grip_vel.dot(dir).max(0.0) + PUSH_ACCEL * t;
        let speed = if last <= next {
            self.phase = 3;
            self.timer = 0;
            last
        } else {
            next
        };
        // Steer the corner back onto the line through the puck's centre, at the table.
        let off = behind - grip;
        let side = off - dir * off.dot(dir);
        let step = dir * (speed * t / 0.05) + side * (0.6 / 0.05);
        [step.x, step.y, (off.z * 12.0).clamp(-1.0, 1.0), -1.0]
    }
}

/// [`Scripted::memoryless`]'s Push from the grip, the cube, the goal and the grip's height
/// over the table when its fingers' tips are just clear of it.
fn push(grip: Vector, obj: Vector, goal: Vector, low: f32) -> [f32; 4] {
    let mut line = goal - obj;
    line.z = 0.0;
    let dist = line.length();
    if dist < 0.025 {
        // Close enough (success is 5 cm): stay still rather than chase the last centimetre.
        return [0.0, 0.0, 0.0, -1.0];
    }
    let dir = line / dist;
    let contact = CUBE_HALF + FINGER_HALF[0];
    let rel = grip - obj;
    let along = rel.x * dir.x + rel.y * dir.y;
    let side = rel.x * dir.y - rel.y * dir.x;
    if side.abs() < 0.02
        && (-contact - 0.05..-contact + 0.01).contains(&along)
        && grip.z < low + 0.015
    {
        // Along the line to where the cube stands on the goal, slowly (0.5 m/s), so the
        // cube does not slide on past it.
        let stop = goal - dir * (contact + 0.005);
        let a = toward(grip, Vector::new(stop.x, stop.y, low), -1.0);
        return [a[0] * 0.4, a[1] * 0.4, a[2], a[3]];
    }
    let behind = obj - dir * (contact + 0.03);
    let flat = |p: Vector| Vector::new(grip.x - p.x, grip.y - p.y, 0.0).length();
    if flat(behind) < 0.02 {
        return toward(grip, Vector::new(behind.x, behind.y, low), -1.0);
    }
    if grip.z < low + 0.05 && flat(obj) < 0.08 {
        // Rise first, so the fingers do not sweep the cube away.
        return toward(grip, Vector::new(grip.x, grip.y, low + 0.08), -1.0);
    }
    toward(grip, Vector::new(behind.x, behind.y, low + 0.08), -1.0)
}

/// The action toward `p` from `grip`: 60% of the remaining distance per step (the palm lags
/// its target, and a controller that asks for all of it overshoots), clipped, with `gripper`.
fn toward(grip: Vector, p: Vector, gripper: f32) -> [f32; 4] {
    let d = (p - grip) * (0.6 / 0.05);
    [d.x.clamp(-1.0, 1.0), d.y.clamp(-1.0, 1.0), d.z.clamp(-1.0, 1.0), gripper]
}

/// The control step of Fetch's tasks (20 physics steps of 2 ms), s.
const CONTROL_DT: f32 = 0.04;

/// Where the grip stands to strike or push a puck at `puck` along `dir`: `gap` behind it,
/// with the closed fingers' corner toward `dir` on the line through its centre. (The fingers
/// make a square post; a face would push along its own normal, whatever the line.)
fn striking_point(puck: Vector, dir: Vector, gap: f32) -> Vector {
    let corner =
        Vector::new(FINGER_HALF[0].copysign(dir.x), (2.0 * FINGER_HALF[1]).copysign(dir.y), 0.0);
    puck - dir * (PUCK_RADIUS + gap) - corner
}

/// Whether the free gripper's target box around Slide's start holds `p`, 2 cm inside it.
fn within_reach(p: Vector) -> bool {
    let c = ArmTask::Slide.initial_grip();
    let r = WORKSPACE_XY - 0.02;
    (p.x - c.x).abs() < r && (p.y - c.y).abs() < r
}

/// A puck predicted to stop further than this from the goal is struck again, m.
const SHORT: f32 = 0.03;

/// How fast a URDF arm speeds the puck up on Slide, m/s².
const PUSH_ACCEL: f32 = 1.5;

/// How far behind the puck the free palm's fingers stand before a strike, m.
const STRIKE_GAP: f32 = 0.001;

/// The action's length along the line for a strike from rest that launches the puck at
/// `speed` m/s: the palm covers `0.05·a` m in the step from rest to rest at
/// `PALM_MAX_ACCEL`, peaking at `√(PALM_MAX_ACCEL·0.05·a)` halfway.
fn strike(speed: f32) -> f32 {
    (speed * speed / (PALM_MAX_ACCEL * 0.05)).clamp(0.0, 1.0)
}

/// How fast a sliding puck slows on Slide's table, m/s² (friction 0.1 on 0.1: about 0.1 g),
/// measured in this crate's physics.
const SLIDE_DECEL: f32 = 0.98;
