//! The STAX paper's kinds of task, as small deterministic simulations evaluated one whole
//! episode at a time: a deceptive maze (navigation), a redundant planar arm (many joints, reward
//! areas for the end effector) and a curling table (an arm pushes a puck into reward zones).
//!
//! Every task maps its ground-truth outcome into the unit square — the robot's final position,
//! the end effector's, the puck's — which the metrics grid into 50 × 50 cells, and renders a
//! top view of the final state as a `FRAME × FRAME` grey image, the observation TAXONS learns
//! its behaviour space from. Reward is sparse: only inside a reward area, `1 − d/radius` at
//! distance `d` from its centre (so emitters have something to improve once inside).

use std::f32::consts::PI;

/// Side of the rendered final frame.
pub const FRAME: usize = 32;

/// A neural controller's architecture: `inputs → hidden (tanh) → outputs (tanh)`; the genome
/// is its weights and biases, flat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Controller {
    /// Inputs.
    pub inputs: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Outputs, each in `[-1, 1]`.
    pub outputs: usize,
}

impl Controller {
    /// Genome length: `(inputs + 1)·hidden + (hidden + 1)·outputs`.
    pub fn genome_len(&self) -> usize {
        (self.inputs + 1) * self.hidden + (self.hidden + 1) * self.outputs
    }

    /// Evaluate on `input`, writing `out`; `hidden` is scratch of `self.hidden` values.
    pub fn act(&self, genome: &[f32], input: &[f32], hidden: &mut [f32], out: &mut [f32]) {
        let (w1, rest) = genome.split_at((self.inputs + 1) * self.hidden);
        for (h, row) in hidden.iter_mut().zip(w1.chunks_exact(self.inputs + 1)) {
            let s: f32 = row[self.inputs] + row.iter().zip(input).map(|(w, x)| w * x).sum::<f32>();
            *h = s.tanh();
        }
        for (o, row) in out.iter_mut().zip(rest.chunks_exact(self.hidden + 1)) {
            let s: f32 =
                row[self.hidden] + row.iter().zip(&*hidden).map(|(w, x)| w * x).sum::<f32>();
            *o = s.tanh();
        }
    }
}

/// A circular reward area in the unit square.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RewardArea {
    /// Centre.
    pub center: [f32; 2],
    /// Radius.
    pub radius: f32,
}

/// What one episode produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The ground-truth behaviour descriptor, in `[0, 1]²`.
    pub descriptor: [f32; 2],
    /// Top view of the final state, `FRAME × FRAME` grey values in `[0, 1]`.
    pub frame: Vec<f32>,
    /// Sparse reward: `1 − d/radius` inside a reward area, else 0.
    pub reward: f32,
    /// The reward area reached, if any.
    pub area: Option<usize>,
}

/// An episodic task a genome is evaluated on.
pub trait EpisodicTask: Sync {
    /// Short name (`maze`, `arm`, `curling`).
    fn name(&self) -> &'static str;
    /// The controller the genomes parameterise.
    fn controller(&self) -> Controller;
    /// The reward areas.
    fn areas(&self) -> &[RewardArea];
    /// Run one episode.
    fn evaluate(&self, genome: &[f32]) -> Outcome;
    /// Whether a descriptor at `p` can be reached at all (walls and reach excluded), for the
    /// uniformity metric's reference distribution.
    fn reachable(&self, p: [f32; 2]) -> bool;
}

fn score(areas: &[RewardArea], p: [f32; 2]) -> (f32, Option<usize>) {
    for (k, a) in areas.iter().enumerate() {
        let d = ((p[0] - a.center[0]).powi(2) + (p[1] - a.center[1]).powi(2)).sqrt();
        if d < a.radius {
            return (1.0 - d / a.radius, Some(k));
        }
    }
    (0.0, None)
}

/// A grey canvas over the unit square (y up).
struct Canvas(Vec<f32>);

impl Canvas {
    fn new() -> Self {
        Self(vec![0.0; FRAME * FRAME])
    }
    fn dot(&mut self, p: [f32; 2], radius: f32, value: f32) {
        let f = FRAME as f32;
        let (cx, cy) = (p[0] * f, (1.0 - p[1]) * f);
        let r = (radius * f).max(0.75);
        let lo = |c: f32| ((c - r).floor().max(0.0)) as usize;
        let hi = |c: f32| ((c + r).ceil().min(f)) as usize;
        for y in lo(cy)..hi(cy) {
            for x in lo(cx)..hi(cx) {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                if dx * dx + dy * dy <= r * r {
                    let v = &mut self.0[y * FRAME + x];
                    *v = v.max(value);
                }
            }
        }
    }
    fn line(&mut self, a: [f32; 2], b: [f32; 2], value: f32) {
        let steps = 2 * FRAME;
        for i in 0..=steps {
            let t = i as f32 / steps as f32;
            self.dot([a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t], 0.0, value);
        }
    }
    fn rect(&mut self, r: &Rect, value: f32) {
        for y in 0..FRAME {
            for x in 0..FRAME {
                let p = [(x as f32 + 0.5) / FRAME as f32, 1.0 - (y as f32 + 0.5) / FRAME as f32];
                if r.contains(p) {
                    self.0[y * FRAME + x] = value;
                }
            }
        }
    }
}

/// An axis-aligned wall.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rect {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

impl Rect {
    fn contains(&self, p: [f32; 2]) -> bool {
        p[0] >= self.x0 && p[0] <= self.x1 && p[1] >= self.y0 && p[1] <= self.y1
    }
}

/// A deceptive maze: a point robot starts at the bottom; the two reward areas lie behind
/// walls whose gaps are on the far side, so heading straight for a goal ends against a wall
/// (the "hard maze" shape of novelty search's first experiments). Inputs: the position and
/// four axis rangefinders; outputs: a velocity, `speed` per step at most; 250 steps.
#[derive(Clone, Debug)]
pub struct DeceptiveMaze {
    walls: Vec<Rect>,
    areas: Vec<RewardArea>,
    start: [f32; 2],
    speed: f32,
    steps: usize,
}

impl Default for DeceptiveMaze {
    fn default() -> Self {
        Self {
            walls: vec![
                Rect { x0: 0.0, y0: 0.49, x1: 0.8, y1: 0.51 },
                Rect { x0: 0.2, y0: 0.74, x1: 1.0, y1: 0.76 },
                Rect { x0: 0.49, y0: 0.0, x1: 0.51, y1: 0.3 },
            ],
            areas: vec![
                RewardArea { center: [0.1, 0.9], radius: 0.06 },
                RewardArea { center: [0.9, 0.62], radius: 0.06 },
            ],
            start: [0.25, 0.1],
            speed: 0.02,
            steps: 250,
        }
    }
}

impl DeceptiveMaze {
    fn blocked(&self, p: [f32; 2]) -> bool {
        !(0.0..=1.0).contains(&p[0])
            || !(0.0..=1.0).contains(&p[1])
            || self.walls.iter().any(|w| w.contains(p))
    }

    /// Distance from `p` along an axis direction to the first wall or the border, ≤ 1.
    fn range(&self, p: [f32; 2], axis: usize, sign: f32) -> f32 {
        let other = 1 - axis;
        let border = if sign > 0.0 { 1.0 - p[axis] } else { p[axis] };
        let mut best = border;
        for w in &self.walls {
            let (lo_o, hi_o) = if other == 0 { (w.x0, w.x1) } else { (w.y0, w.y1) };
            if p[other] < lo_o || p[other] > hi_o {
                continue;
            }
            let (lo, hi) = if axis == 0 { (w.x0, w.x1) } else { (w.y0, w.y1) };
            let d = if sign > 0.0 { lo - p[axis] } else { p[axis] - hi };
            if d >= 0.0 && d < best {
                best = d;
            }
        }
        best.min(1.0)
    }
}

impl EpisodicTask for DeceptiveMaze {
    fn name(&self) -> &'static str {
        "maze"
    }
    fn controller(&self) -> Controller {
        Controller { inputs: 6, hidden: 8, outputs: 2 }
    }
    fn areas(&self) -> &[RewardArea] {
        &self.areas
    }
    fn evaluate(&self, genome: &[f32]) -> Outcome {
        let c = self.controller();
        let mut p = self.start;
        let (mut input, mut hidden, mut out) = ([0.0f32; 6], [0.0f32; 8], [0.0f32; 2]);
        for _ in 0..self.steps {
            input[0] = 2.0 * p[0] - 1.0;
            input[1] = 2.0 * p[1] - 1.0;
            input[2] = self.range(p, 0, 1.0);
            input[3] = self.range(p, 0, -1.0);
            input[4] = self.range(p, 1, 1.0);
            input[5] = self.range(p, 1, -1.0);
            c.act(genome, &input, &mut hidden, &mut out);
            let next = [p[0] + self.speed * out[0], p[1] + self.speed * out[1]];
            // Slide along walls: the full move, else one axis at a time, else stay.
            for cand in [next, [next[0], p[1]], [p[0], next[1]]] {
                if !self.blocked(cand) {
                    p = cand;
                    break;
                }
            }
        }
        let mut canvas = Canvas::new();
        for w in &self.walls {
            canvas.rect(w, 0.4);
        }
        canvas.dot(p, 0.04, 1.0);
        let (reward, area) = score(&self.areas, p);
        Outcome { descriptor: p, frame: canvas.0, reward, area }
    }
    fn reachable(&self, p: [f32; 2]) -> bool {
        !self.blocked(p)
    }
}

/// A redundant planar arm: `joints` links of equal length (total reach 0.5) from the centre
/// of the square, straight along +x at the start. Inputs: the joint angles (÷π); outputs:
/// joint velocities, `0.05` rad per step at most; 100 steps; angles limited to ±π. Three
/// small reward areas for the end effector.
#[derive(Clone, Debug)]
pub struct RedundantArm {
    joints: usize,
    areas: Vec<RewardArea>,
    steps: usize,
}

impl Default for RedundantArm {
    fn default() -> Self {
        Self::new(20)
    }
}

impl RedundantArm {
    /// An arm of `joints` joints.
    pub fn new(joints: usize) -> Self {
        Self {
            joints: joints.max(1),
            areas: vec![
                RewardArea { center: [0.2, 0.6], radius: 0.05 },
                RewardArea { center: [0.5, 0.88], radius: 0.05 },
                RewardArea { center: [0.7, 0.25], radius: 0.05 },
            ],
            steps: 100,
        }
    }

    fn points(&self, angles: &[f32]) -> Vec<[f32; 2]> {
        let link = 0.5 / self.joints as f32;
        let mut p = [0.5f32, 0.5];
        let mut heading = 0.0f32;
        let mut out = vec![p];
        for a in angles {
            heading += a;
            p = [p[0] + link * heading.cos(), p[1] + link * heading.sin()];
            out.push(p);
        }
        out
    }
}

impl EpisodicTask for RedundantArm {
    fn name(&self) -> &'static str {
        "arm"
    }
    fn controller(&self) -> Controller {
        Controller { inputs: self.joints, hidden: 8, outputs: self.joints }
    }
    fn areas(&self) -> &[RewardArea] {
        &self.areas
    }
    fn evaluate(&self, genome: &[f32]) -> Outcome {
        let c = self.controller();
        let mut angles = vec![0.0f32; self.joints];
        let (mut input, mut hidden, mut out) =
            (vec![0.0f32; self.joints], [0.0f32; 8], vec![0.0f32; self.joints]);
        for _ in 0..self.steps {
            for (i, a) in input.iter_mut().zip(&angles) {
                *i = a / PI;
            }
            c.act(genome, &input, &mut hidden, &mut out);
            for (a, v) in angles.iter_mut().zip(&out) {
                *a = (*a + 0.05 * v).clamp(-PI, PI);
            }
        }
        let points = self.points(&angles);
        let tip = *points.last().expect("at least one joint");
        let mut canvas = Canvas::new();
        for w in points.windows(2) {
            canvas.line(w[0], w[1], 0.5);
        }
        canvas.dot(tip, 0.03, 1.0);
        let (reward, area) = score(&self.areas, tip);
        Outcome { descriptor: tip, frame: canvas.0, reward, area }
    }
    fn reachable(&self, p: [f32; 2]) -> bool {
        ((p[0] - 0.5).powi(2) + (p[1] - 0.5).powi(2)).sqrt() <= 0.5
    }
}

/// A curling table: a two-link arm at the middle of the bottom edge pushes a puck that then
/// slides with friction and bounces off the table's edges. Inputs: the two joint angles, the
/// puck's position and velocity, and the time; outputs: joint velocities (0.1 rad per step at
/// most); 150 steps. Three small reward zones at the far side of the table: the corners and
/// the middle of the far edge.
#[derive(Clone, Debug)]
pub struct Curling {
    areas: Vec<RewardArea>,
    steps: usize,
}

impl Default for Curling {
    fn default() -> Self {
        Self {
            areas: vec![
                RewardArea { center: [0.1, 0.9], radius: 0.05 },
                RewardArea { center: [0.9, 0.9], radius: 0.05 },
                RewardArea { center: [0.5, 0.92], radius: 0.04 },
            ],
            steps: 150,
        }
    }
}

const PUCK_R: f32 = 0.04;
const TIP_R: f32 = 0.03;
const LINKS: [f32; 2] = [0.3, 0.25];

fn curling_arm(angles: [f32; 2]) -> ([f32; 2], [f32; 2]) {
    let base = [0.5f32, 0.0];
    let h0 = std::f32::consts::FRAC_PI_2 + angles[0];
    let elbow = [base[0] + LINKS[0] * h0.cos(), base[1] + LINKS[0] * h0.sin()];
    let h1 = h0 + angles[1];
    (elbow, [elbow[0] + LINKS[1] * h1.cos(), elbow[1] + LINKS[1] * h1.sin()])
}

impl EpisodicTask for Curling {
    fn name(&self) -> &'static str {
        "curling"
    }
    fn controller(&self) -> Controller {
        Controller { inputs: 7, hidden: 8, outputs: 2 }
    }
    fn areas(&self) -> &[RewardArea] {
        &self.areas
    }
    fn evaluate(&self, genome: &[f32]) -> Outcome {
        let c = self.controller();
        let mut angles = [0.0f32, 0.0];
        let mut puck = [0.62f32, 0.5];
        let mut vel = [0.0f32; 2];
        let (mut input, mut hidden, mut out) = ([0.0f32; 7], [0.0f32; 8], [0.0f32; 2]);
        let (_, mut tip) = curling_arm(angles);
        for t in 0..self.steps {
            input[..2].copy_from_slice(&[angles[0] / PI, angles[1] / PI]);
            input[2..4].copy_from_slice(&[2.0 * puck[0] - 1.0, 2.0 * puck[1] - 1.0]);
            input[4..6].copy_from_slice(&[vel[0] * 20.0, vel[1] * 20.0]);
            input[6] = t as f32 / self.steps as f32;
            c.act(genome, &input, &mut hidden, &mut out);
            for (a, v) in angles.iter_mut().zip(&out) {
                *a = (*a + 0.1 * v).clamp(-2.5, 2.5);
            }
            let (_, next_tip) = curling_arm(angles);
            let tip_vel = [next_tip[0] - tip[0], next_tip[1] - tip[1]];
            tip = next_tip;
            // Contact: push the puck out of the tip and give it at least the tip's normal speed.
            let (dx, dy) = (puck[0] - tip[0], puck[1] - tip[1]);
            let d = (dx * dx + dy * dy).sqrt();
            if d < PUCK_R + TIP_R && d > 1e-6 {
                let n = [dx / d, dy / d];
                puck = [tip[0] + n[0] * (PUCK_R + TIP_R), tip[1] + n[1] * (PUCK_R + TIP_R)];
                let push = 1.2 * (tip_vel[0] * n[0] + tip_vel[1] * n[1]);
                let along = vel[0] * n[0] + vel[1] * n[1];
                if push > along {
                    vel = [vel[0] + (push - along) * n[0], vel[1] + (push - along) * n[1]];
                }
            }
            for k in 0..2 {
                puck[k] += vel[k];
                if puck[k] < PUCK_R {
                    puck[k] = 2.0 * PUCK_R - puck[k];
                    vel[k] *= -0.8;
                } else if puck[k] > 1.0 - PUCK_R {
                    puck[k] = 2.0 * (1.0 - PUCK_R) - puck[k];
                    vel[k] *= -0.8;
                }
                vel[k] *= 0.9;
            }
        }
        let (elbow, tip) = curling_arm(angles);
        let mut canvas = Canvas::new();
        canvas.line([0.5, 0.0], elbow, 0.4);
        canvas.line(elbow, tip, 0.4);
        canvas.dot(puck, PUCK_R, 1.0);
        let (reward, area) = score(&self.areas, puck);
        Outcome { descriptor: puck, frame: canvas.0, reward, area }
    }
    fn reachable(&self, p: [f32; 2]) -> bool {
        p.iter().all(|v| (PUCK_R..=1.0 - PUCK_R).contains(v))
    }
}

/// The task called `name` (`maze`, `arm`, `curling`).
pub fn by_name(name: &str) -> Option<Box<dyn EpisodicTask>> {
    match name {
        "maze" => Some(Box::new(DeceptiveMaze::default())),
        "arm" => Some(Box::new(RedundantArm::default())),
        "curling" => Some(Box::new(Curling::default())),
        _ => None,
    }
}

/// Every task's name.
pub const NAMES: [&str; 3] = ["maze", "arm", "curling"];

#[cfg(test)]
mod tests {
    use super::*;

    /// A genome whose controller ignores its inputs and outputs `tanh(bias)` (hidden units
    /// all zero, output biases set).
    fn constant(task: &dyn EpisodicTask, outputs: &[f32]) -> Vec<f32> {
        let c = task.controller();
        let mut g = vec![0.0; c.genome_len()];
        let base = (c.inputs + 1) * c.hidden;
        for (o, v) in outputs.iter().enumerate() {
            g[base + o * (c.hidden + 1) + c.hidden] = v.atanh();
        }
        g
    }

    #[test]
    fn the_controller_is_the_two_layer_tanh_network() {
        let c = Controller { inputs: 2, hidden: 1, outputs: 1 };
        assert_eq!(c.genome_len(), 3 + 2);
        // h = tanh(0.5·1 + 0.25·2 + 0.1), y = tanh(2h − 0.3)
        let g = [0.5, 0.25, 0.1, 2.0, -0.3];
        let (mut h, mut y) = ([0.0], [0.0]);
        c.act(&g, &[1.0, 2.0], &mut h, &mut y);
        let want = (2.0 * 1.1f32.tanh() - 0.3).tanh();
        assert!((y[0] - want).abs() < 1e-6);
    }

    #[test]
    fn the_maze_walls_stop_a_robot_heading_straight_for_the_goal() {
        let maze = DeceptiveMaze::default();
        // Straight up from the start: stopped under the first wall, far from both areas.
        let up = maze.evaluate(&constant(&maze, &[0.0, 0.99]));
        assert!(up.descriptor[1] < 0.49 && up.descriptor[1] > 0.4, "{:?}", up.descriptor);
        assert!(up.reward.abs() < f32::EPSILON && up.area.is_none());
        // Up and left slides along the wall into the corner below it.
        let ul = maze.evaluate(&constant(&maze, &[-0.99, 0.99]));
        assert!(ul.descriptor[0] < 0.05 && ul.descriptor[1] < 0.49, "{:?}", ul.descriptor);
        assert_eq!(ul.frame.len(), FRAME * FRAME);
        assert!(!maze.reachable([0.5, 0.5]) && maze.reachable([0.9, 0.6]));
    }

    #[test]
    fn the_arm_stays_within_reach_and_a_still_arm_points_along_x() {
        let arm = RedundantArm::default();
        let still = arm.evaluate(&vec![0.0; arm.controller().genome_len()]);
        assert!(
            (still.descriptor[0] - 1.0).abs() < 1e-5 && (still.descriptor[1] - 0.5).abs() < 1e-5
        );
        let mut rng = spelunk_core::Rng::seed_from_u64(2);
        for _ in 0..20 {
            let g: Vec<f32> =
                (0..arm.controller().genome_len()).map(|_| rng.normal() as f32).collect();
            let o = arm.evaluate(&g);
            assert!(arm.reachable(o.descriptor), "{:?}", o.descriptor);
        }
    }

    #[test]
    fn the_puck_moves_only_when_pushed_and_stays_on_the_table() {
        let table = Curling::default();
        let still = table.evaluate(&vec![0.0; table.controller().genome_len()]);
        assert!(
            (still.descriptor[0] - 0.62).abs() < 1e-6 && (still.descriptor[1] - 0.5).abs() < 1e-6
        );
        // Sweeping the arm right (clockwise) hits the puck, which slides off to the right.
        let sweep = table.evaluate(&constant(&table, &[-0.99, 0.0]));
        assert!(sweep.descriptor[0] > 0.65, "{:?}", sweep.descriptor);
        let mut rng = spelunk_core::Rng::seed_from_u64(4);
        for _ in 0..50 {
            let g: Vec<f32> =
                (0..table.controller().genome_len()).map(|_| rng.normal() as f32).collect();
            let o = table.evaluate(&g);
            assert!(table.reachable(o.descriptor), "{:?}", o.descriptor);
        }
    }
}
