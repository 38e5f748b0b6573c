//! Cameras by ray casting: RGB, depth and segmentation images of a rapier world at a chosen
//! resolution and pose, on the CPU, with no GPU and no display.
//!
//! A pinhole camera casts one ray through the centre of every pixel (row 0 at the top) and
//! keeps the first collider hit. Depth is the distance along the ray in metres (`max_depth`
//! where nothing is hit); segmentation is the hit collider's class (0 for nothing); colour is
//! the class's base colour shaded by a fixed directional light (ambient 0.35, diffuse 0.65).

use rapier3d::prelude::*;
use serde::{Deserialize, Serialize};

/// Where a camera is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mount {
    /// Fixed in the world, looking from `eye` at `target`.
    Fixed {
        /// Camera position, m.
        eye: [f32; 3],
        /// Point at the centre of the image, m.
        target: [f32; 3],
    },
    /// On the gripper: `height` metres above the grip point and 8 cm behind it, looking down
    /// past the fingers; it moves with the gripper.
    Wrist {
        /// Height above the grip point, m.
        height: f32,
    },
}

/// A camera: resolution, field of view and mount.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CameraConfig {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Vertical field of view, degrees.
    pub fov_y: f32,
    /// Depth written where a ray hits nothing, m.
    pub max_depth: f32,
    /// Where the camera is.
    pub mount: Mount,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            width: 64,
            height: 64,
            fov_y: 45.0,
            max_depth: 10.0,
            mount: Mount::Fixed { eye: [2.1, 0.75, 0.95], target: [1.3, 0.75, 0.42] },
        }
    }
}

impl CameraConfig {
    /// Check the numbers; `what` names the config in the message.
    pub fn validate(&self) -> Result<(), String> {
        if self.width == 0 || self.height == 0 || self.width * self.height > 4096 * 4096 {
            return Err(format!(
                "camera size {}×{} must be positive and at most 4096×4096",
                self.width, self.height
            ));
        }
        if !(self.fov_y > 1.0 && self.fov_y < 179.0) {
            return Err(format!("camera fov_y must be in (1, 179) degrees, got {}", self.fov_y));
        }
        if !(self.max_depth > 0.0 && self.max_depth.is_finite()) {
            return Err(format!("camera max_depth must be positive, got {}", self.max_depth));
        }
        let finite = |v: &[f32; 3]| v.iter().all(|x| f32::is_finite(*x));
        match &self.mount {
            Mount::Fixed { eye, target } => {
                let d = Vector::from(*target) - Vector::from(*eye);
                if !finite(eye) || !finite(target) || d.length() < 1e-6 {
                    return Err("camera eye and target must be finite and apart".into());
                }
                if d.normalize().cross(Vector::Z).length() < 1e-6 {
                    return Err("a fixed camera cannot look straight up or down".into());
                }
            }
            Mount::Wrist { height } => {
                if !(height.is_finite() && *height > 0.0) {
                    return Err(format!("wrist camera height must be positive, got {height}"));
                }
            }
        }
        Ok(())
    }
}

/// One rendered frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height × width × 3` bytes, row 0 at the top.
    pub rgb: Vec<u8>,
    /// `height × width` distances along the rays, m.
    pub depth: Vec<f32>,
    /// `height × width` class ids (0: nothing hit).
    pub segmentation: Vec<u8>,
}

/// A pinhole camera in world coordinates.
#[derive(Clone, Copy, Debug)]
pub struct Pinhole {
    eye: Vector,
    forward: Vector,
    right: Vector,
    up: Vector,
    focal: f32,
    width: usize,
    height: usize,
}

impl Pinhole {
    /// A camera at `eye` looking at `target`, with `up_hint` roughly up in the image.
    pub fn look_at(
        eye: Vector,
        target: Vector,
        up_hint: Vector,
        fov_y_deg: f32,
        width: usize,
        height: usize,
    ) -> Self {
        let forward = (target - eye).normalize();
        let right = forward.cross(up_hint).normalize();
        let up = right.cross(forward);
        let focal = height as f32 / 2.0 / (fov_y_deg.to_radians() / 2.0).tan();
        Self { eye, forward, right, up, focal, width, height }
    }

    /// The ray through the centre of pixel (column `u`, row `v`), unit direction.
    pub fn ray(&self, u: usize, v: usize) -> Ray {
        let x = u as f32 + 0.5 - self.width as f32 / 2.0;
        let y = self.height as f32 / 2.0 - (v as f32 + 0.5);
        let dir = (self.forward * self.focal + self.right * x + self.up * y).normalize();
        Ray::new(self.eye, dir)
    }

    /// The pixel (column, row, as floats) where a world point appears, if in front.
    pub fn project(&self, p: Vector) -> Option<(f32, f32)> {
        let d = p - self.eye;
        let z = d.dot(self.forward);
        if z <= 1e-6 {
            return None;
        }
        let x = d.dot(self.right) / z * self.focal;
        let y = d.dot(self.up) / z * self.focal;
        Some((x + self.width as f32 / 2.0, self.height as f32 / 2.0 - y))
    }

    /// The camera position.
    pub fn eye(&self) -> Vector {
        self.eye
    }

    /// The camera's pose in the world, its frame x right, y down, z forward.
    pub fn pose(&self) -> spelunk_core::Pose {
        let a = |v: Vector| [v.x, v.y, v.z];
        spelunk_core::Pose::from_axes(a(self.eye), a(self.right), a(-self.up), a(self.forward))
    }

    /// Focal length in pixels.
    pub fn focal(&self) -> f32 {
        self.focal
    }
}

/// Name and base colour of every segmentation class of the arm tasks.
pub fn classes() -> Vec<spelunk_core::SceneClass> {
    [
        "background",
        "table",
        "object",
        "gripper",
        "goal",
        "red target",
        "green target",
        "blue target",
    ]
    .iter()
    .enumerate()
    .map(|(id, name)| spelunk_core::SceneClass {
        id: id as u8,
        name: (*name).to_owned(),
        color: colour(id as u8).map(|c| c as u8),
    })
    .collect()
}

/// Base colour of a segmentation class.
fn colour(class: u8) -> [f32; 3] {
    match class {
        0 => [205.0, 210.0, 220.0],
        1 => [150.0, 112.0, 74.0],
        2 => [200.0, 40.0, 40.0],
        3 => [70.0, 70.0, 78.0],
        4 => [40.0, 180.0, 70.0],
        5 => [225.0, 30.0, 30.0],
        6 => [30.0, 190.0, 60.0],
        7 => [40.0, 80.0, 235.0],
        _ => [40.0, 120.0, 200.0],
    }
}

/// A sphere drawn into a frame without being part of the physics (a goal marker).
#[derive(Clone, Copy, Debug)]
pub struct Marker {
    /// Centre, m.
    pub centre: Vector,
    /// Radius, m.
    pub radius: f32,
    /// Segmentation class.
    pub class: u8,
}

/// Distance along a unit ray to a sphere, and the outward normal there.
fn hit_sphere(ray: &Ray, m: &Marker) -> Option<(f32, Vector)> {
    let oc = ray.origin - m.centre;
    let b = oc.dot(ray.dir);
    let c = oc.dot(oc) - m.radius * m.radius;
    let disc = b * b - c;
    if disc < 0.0 {
        return None;
    }
    let t = -b - disc.sqrt();
    (t > 0.0).then(|| (t, (ray.origin + ray.dir * t - m.centre) / m.radius))
}

/// Render `world` through `cam`; `classes` gives each collider's segmentation class (colliders
/// not listed are invisible) and `markers` adds spheres outside the physics. Collider poses
/// are taken from their bodies, so a frame is right even before the first physics step after
/// a reset.
pub fn render(
    world: &PhysicsWorld,
    cam: &Pinhole,
    classes: &[(ColliderHandle, u8)],
    markers: &[Marker],
    max_depth: f32,
) -> Frame {
    let (w, h) = (cam.width, cam.height);
    let mut frame = Frame {
        width: w,
        height: h,
        rgb: vec![0; w * h * 3],
        depth: vec![max_depth; w * h],
        segmentation: vec![0; w * h],
    };
    // Each collider with its pose and world bounding box: a ray tests the box first, and
    // skips it when the box starts beyond the nearest hit so far.
    let shapes: Vec<(Pose, &Collider, u8, Aabb)> = classes
        .iter()
        .filter_map(|&(handle, class)| {
            let c = world.colliders.get(handle)?;
            let pose = match c.parent().and_then(|b| world.bodies.get(b)) {
                Some(body) => {
                    *body.position() * c.position_wrt_parent().copied().unwrap_or_default()
                }
                None => *c.position(),
            };
            Some((pose, c, class, c.shape().compute_aabb(&pose)))
        })
        .collect();
    let light = Vector::new(0.3, -0.2, 1.0).normalize();
    for v in 0..h {
        for u in 0..w {
            let ray = cam.ray(u, v);
            let mut best: Option<(f32, Vector, u8)> = None;
            for (pose, c, class, aabb) in &shapes {
                let limit = best.map_or(max_depth, |b| b.0);
                if aabb.cast_local_ray(&ray, limit, true).is_none() {
                    continue;
                }
                if let Some(hit) = c.shape().cast_ray_and_get_normal(pose, &ray, max_depth, true) {
                    if best.is_none_or(|b| hit.time_of_impact < b.0) {
                        best = Some((hit.time_of_impact, hit.normal, *class));
                    }
                }
            }
            for m in markers {
                if let Some((t, n)) = hit_sphere(&ray, m) {
                    if t < max_depth && best.is_none_or(|b| t < b.0) {
                        best = Some((t, n, m.class));
                    }
                }
            }
            let k = v * w + u;
            let (base, shade) = match best {
                Some((toi, normal, class)) => {
                    frame.depth[k] = toi;
                    frame.segmentation[k] = class;
                    let n = if normal.dot(ray.dir) > 0.0 { -normal } else { normal };
                    (colour(class), 0.35 + 0.65 * n.dot(light).max(0.0))
                }
                None => (colour(0), 1.0),
            };
            for (ch, b) in base.iter().enumerate() {
                frame.rgb[k * 3 + ch] = (b * shade).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    frame
}
