//! The arm world as a [`Scene`]: every collider as a primitive with its pose and class, the
//! goal or the instruction targets as spheres, the end effector, and the cameras (the people's
//! front view of `render_rgb`, and the observation's camera when the config has one).

use super::{arr, camera, class, ArmEnv, CameraConfig, Mount, TARGET_RADIUS};
use rapier3d::prelude::*;
use spelunk_core::{CameraView, Pose, Scene, SceneBody, Shape};

/// The fixed front camera of [`ArmEnv::render_rgb`](spelunk_core::Env::render_rgb).
pub(super) fn front_camera() -> CameraConfig {
    CameraConfig {
        width: 320,
        height: 240,
        fov_y: 50.0,
        mount: Mount::Fixed { eye: [2.15, 0.75, 1.05], target: [1.3, 0.75, 0.55] },
        ..CameraConfig::default()
    }
}

fn pose(p: &rapier3d::math::Pose) -> Pose {
    let q = p.rotation;
    Pose { translation: arr(p.translation), rotation: [q.x, q.y, q.z, q.w] }
}

fn shape(collider: &Collider) -> Option<Shape> {
    let s = collider.shape();
    if let Some(c) = s.as_cuboid() {
        return Some(Shape::Box { half_extents: arr(c.half_extents) });
    }
    if let Some(b) = s.as_ball() {
        return Some(Shape::Sphere { radius: b.radius });
    }
    if let Some(c) = s.as_cylinder() {
        return Some(Shape::Cylinder { half_height: c.half_height, radius: c.radius });
    }
    None
}

fn class_name(c: u8) -> &'static str {
    match c {
        class::TABLE => "table",
        class::OBJECT => "object",
        class::GRIPPER => "gripper",
        _ => "body",
    }
}

impl ArmEnv {
    /// The world as primitives (see the module page); `cameras` renders each camera's images.
    pub fn describe(&self, cameras: bool) -> Scene {
        let mut bodies = Vec::with_capacity(self.handles.classes.len() + 4);
        let mut seen = [0usize; 8];
        for &(handle, c) in &self.handles.classes {
            let Some(collider) = self.world.colliders.get(handle) else { continue };
            let Some(shape) = shape(collider) else { continue };
            // The pose from the parent body, as the cameras take it (right before the first
            // physics step after a reset too).
            let (p, moving) = match collider.parent().and_then(|b| self.world.bodies.get(b)) {
                Some(body) => (
                    *body.position() * collider.position_wrt_parent().copied().unwrap_or_default(),
                    !body.is_fixed(),
                ),
                None => (*collider.position(), false),
            };
            let k = &mut seen[usize::from(c).min(7)];
            let name = if c == class::TABLE || c == class::OBJECT {
                class_name(c).to_owned()
            } else {
                format!("{}/{k}", class_name(c))
            };
            *k += 1;
            bodies.push(SceneBody { name, shape, pose: pose(&p), class: c, moving });
        }
        let targets = self.target_markers();
        for (k, m) in targets.iter().enumerate() {
            bodies.push(SceneBody {
                name: format!("target/{k}"),
                shape: Shape::Sphere { radius: TARGET_RADIUS },
                pose: Pose::at(arr(m.centre)),
                class: m.class,
                moving: true,
            });
        }
        if targets.is_empty() {
            bodies.push(SceneBody {
                name: "goal".into(),
                shape: Shape::Sphere { radius: 0.02 },
                pose: Pose::at(self.state.goal),
                class: class::GOAL,
                moving: true,
            });
        }
        let mut views = vec![("front", front_camera(), true)];
        if let Some(cam) = &self.config.camera {
            views.push(("camera", cam.clone(), false));
        }
        let cameras = views
            .into_iter()
            .map(|(name, cam, with_goal)| {
                let pin = self.pinhole(&cam);
                let mut view = CameraView {
                    name: name.into(),
                    pose: pin.pose(),
                    width: cam.width,
                    height: cam.height,
                    focal: pin.focal(),
                    rgb: Vec::new(),
                    depth: Vec::new(),
                    segmentation: Vec::new(),
                };
                if cameras {
                    // The people's view draws the goal; the observation's camera never does.
                    let mut markers = self.target_markers();
                    if with_goal && markers.is_empty() {
                        markers.push(camera::Marker {
                            centre: super::v(self.state.goal),
                            radius: 0.02,
                            class: class::GOAL,
                        });
                    }
                    let f = camera::render(
                        &self.world,
                        &pin,
                        &self.handles.classes,
                        &markers,
                        cam.max_depth,
                    );
                    (view.rgb, view.depth, view.segmentation) = (f.rgb, f.depth, f.segmentation);
                }
                view
            })
            .collect();
        Scene {
            bodies,
            classes: camera::classes(),
            cameras,
            end_effector: Some(self.grip_pos()),
            goal: Some(self.state.goal),
        }
    }
}
