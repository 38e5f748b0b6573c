//! How an environment describes itself to whoever draws it: a [`Scene`] of primitive shapes with
//! poses and colours (3D worlds), camera views with their images, and for grid worlds the
//! size of a cell in [`Env::render_rgb`](crate::Env::render_rgb)'s pixels.
//!
//! Recorders (Rerun) and viewers read this description; neither is a dependency of the envs.
//! Asking for a scene costs a walk over the world (and a render per camera when asked for), so
//! runs ask only when something watches.

use serde::{Deserialize, Serialize};

/// A rigid pose: translation, then rotation as a unit quaternion `[x, y, z, w]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pose {
    /// Position, m.
    pub translation: [f32; 3],
    /// Orientation, `[x, y, z, w]`.
    pub rotation: [f32; 4],
}

impl Default for Pose {
    fn default() -> Self {
        Self { translation: [0.0; 3], rotation: [0.0, 0.0, 0.0, 1.0] }
    }
}

impl Pose {
    /// A pose with no rotation.
    pub fn at(translation: [f32; 3]) -> Self {
        Self { translation, ..Self::default() }
    }

    /// Map a point from the pose's frame to the parent frame.
    pub fn apply(&self, p: [f32; 3]) -> [f32; 3] {
        let [x, y, z, w] = self.rotation;
        // v' = v + 2w (q × v) + 2 q × (q × v), with q the vector part.
        let q = [x, y, z];
        let c1 = cross(q, p);
        let c2 = cross(q, c1);
        std::array::from_fn(|k| p[k] + 2.0 * w * c1[k] + 2.0 * c2[k] + self.translation[k])
    }
}

impl Pose {
    /// The pose whose frame has these axes (unit, orthogonal, right-handed), given in the
    /// parent frame, and this origin.
    pub fn from_axes(origin: [f32; 3], x: [f32; 3], y: [f32; 3], z: [f32; 3]) -> Self {
        // The rotation matrix has the axes as columns: m[row][col].
        let m = [[x[0], y[0], z[0]], [x[1], y[1], z[1]], [x[2], y[2], z[2]]];
        let trace = m[0][0] + m[1][1] + m[2][2];
        let q = if trace > 0.0 {
            let s = (trace + 1.0).sqrt() * 2.0;
            [(m[2][1] - m[1][2]) / s, (m[0][2] - m[2][0]) / s, (m[1][0] - m[0][1]) / s, s / 4.0]
        } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
            let s = (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt() * 2.0;
            [s / 4.0, (m[0][1] + m[1][0]) / s, (m[0][2] + m[2][0]) / s, (m[2][1] - m[1][2]) / s]
        } else if m[1][1] > m[2][2] {
            let s = (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt() * 2.0;
            [(m[0][1] + m[1][0]) / s, s / 4.0, (m[1][2] + m[2][1]) / s, (m[0][2] - m[2][0]) / s]
        } else {
            let s = (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt() * 2.0;
            [(m[0][2] + m[2][0]) / s, (m[1][2] + m[2][1]) / s, s / 4.0, (m[1][0] - m[0][1]) / s]
        };
        let n = q.iter().map(|v| v * v).sum::<f32>().sqrt();
        Self { translation: origin, rotation: q.map(|v| v / n) }
    }
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

/// A primitive shape, centred on its body's pose.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    /// A box with these half extents along the local axes.
    Box {
        /// Half extents, m.
        half_extents: [f32; 3],
    },
    /// A sphere.
    Sphere {
        /// Radius, m.
        radius: f32,
    },
    /// A cylinder along the local **y** axis (rapier's convention).
    Cylinder {
        /// Half the length, m.
        half_height: f32,
        /// Radius, m.
        radius: f32,
    },
    /// A capsule along the local **y** axis.
    Capsule {
        /// Half the length of the segment between the caps' centres, m.
        half_height: f32,
        /// Radius, m.
        radius: f32,
    },
}

/// One drawable part of the world (a collider, a marker outside the physics).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneBody {
    /// A stable name, unique within the scene and the same at every step (`table`,
    /// `object`, `robot/shoulder_link/0`, `goal`): recorders use it as an entity path.
    pub name: String,
    /// Its shape.
    pub shape: Shape,
    /// Where it is, in world coordinates.
    pub pose: Pose,
    /// Its class (see [`Scene::classes`]), which gives its colour.
    pub class: u8,
    /// Whether it moves during an episode (recorders log the shape of a still body once).
    pub moving: bool,
}

/// A class of bodies and of segmentation pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneClass {
    /// Its id (0 is "nothing").
    pub id: u8,
    /// Its name.
    pub name: String,
    /// Its base colour.
    pub color: [u8; 3],
}

/// A camera of the env, as mounted now, and optionally what it sees.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraView {
    /// A stable name (`front`, `wrist`).
    pub name: String,
    /// The camera's pose in the world; its frame is x right, y down, z forward (the image's
    /// "right, down, forward" convention).
    pub pose: Pose,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Focal length in pixels (square pixels, principal point at the centre).
    pub focal: f32,
    /// `height × width × 3` bytes, when rendered.
    pub rgb: Vec<u8>,
    /// `height × width` distances along each pixel's ray, m, when rendered.
    pub depth: Vec<f32>,
    /// `height × width` class ids, when rendered.
    pub segmentation: Vec<u8>,
}

/// A 3D world as primitives: what a recorder logs and a viewer draws.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scene {
    /// Every body, in a fixed order.
    pub bodies: Vec<SceneBody>,
    /// The classes bodies and segmentation pixels use.
    pub classes: Vec<SceneClass>,
    /// The cameras (with images when asked for).
    pub cameras: Vec<CameraView>,
    /// The end effector's position, where there is one.
    pub end_effector: Option<[f32; 3]>,
    /// The goal's position, where there is one.
    pub goal: Option<[f32; 3]>,
}

impl Scene {
    /// A class's colour (grey for an unknown class).
    pub fn color(&self, class: u8) -> [u8; 3] {
        self.classes.iter().find(|c| c.id == class).map_or([128, 128, 128], |c| c.color)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pose_rotates_then_translates() {
        // 90° about z: x → y.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let p = Pose { translation: [1.0, 2.0, 3.0], rotation: [0.0, 0.0, h, h] };
        let q = p.apply([1.0, 0.0, 0.0]);
        for (a, b) in q.iter().zip([1.0, 3.0, 3.0]) {
            assert!((a - b).abs() < 1e-6, "{q:?}");
        }
        let moved = Pose::at([1.0, 0.0, 0.0]).apply([0.0, 1.0, 0.0]);
        assert!(moved.iter().zip([1.0, 1.0, 0.0]).all(|(a, b)| (a - b).abs() < 1e-7), "{moved:?}");
    }

    #[test]
    fn a_pose_from_axes_maps_each_axis_onto_its_column() {
        // Every branch of the matrix-to-quaternion conversion: the identity, and half turns
        // and odd frames that make each diagonal entry the largest.
        let frames = [
            ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
            ([1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]),
            ([-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]),
            ([-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]),
            ([0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]),
            ([0.6, 0.8, 0.0], [0.0, 0.0, -1.0], [-0.8, 0.6, 0.0]),
        ];
        for (x, y, z) in frames {
            let p = Pose::from_axes([0.5, -1.0, 2.0], x, y, z);
            for (axis, want) in [([1.0, 0.0, 0.0], x), ([0.0, 1.0, 0.0], y), ([0.0, 0.0, 1.0], z)] {
                let got = p.apply(axis);
                for k in 0..3 {
                    let w = want[k] + p.translation[k];
                    assert!((got[k] - w).abs() < 1e-5, "{x:?} {y:?} {z:?}: {got:?}");
                }
            }
        }
    }
}
