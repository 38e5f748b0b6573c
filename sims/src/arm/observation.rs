//! What an arm env shows: Fetch's observation layout, the goal, camera images and the
//! instruction, and the success flag in `info`.

use super::{
    arr, camera, class, euler, v, ArmEnv, CameraConfig, Frame, Gripper, Info, Mount, ObsMut,
    Pinhole, Result, TARGET_RADIUS,
};
use rapier3d::prelude::*;

impl ArmEnv {
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
    pub(super) fn target_markers(&self) -> Vec<camera::Marker> {
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

    /// The instruction's word ids ([`super::instruction_ids`]), as observation values.
    pub(super) fn instruction_values(&self) -> Vec<f32> {
        let ids = super::instruction_ids(self.config.task, self.state.colour as usize);
        ids.unwrap_or_default().into_iter().map(f32::from).collect()
    }

    pub(super) fn grip_vel(&self) -> Vector {
        match &self.handles.gripper {
            Gripper::Free { palm, .. } => self.world.bodies[*palm].linvel(),
            Gripper::Robot(r) => r.grip_vel(&self.world),
        }
    }

    pub(super) fn finger_vels(&self) -> [f32; 2] {
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

    pub(super) fn achieved(&self) -> [f32; 3] {
        self.object_pos().unwrap_or_else(|| self.grip_pos())
    }

    pub(super) fn distance(&self) -> f32 {
        let (a, g) = (v(self.achieved()), v(self.state.goal));
        (a - g).length()
    }

    pub(super) fn write_obs(&self, obs: ObsMut<'_>) -> Result<()> {
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
                out[6 + pixels..6 + self.image_len].copy_from_slice(&self.instruction_values());
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

    pub(super) fn make_info(&self) -> Info {
        Info {
            is_success: Some(self.distance() < self.config.distance_threshold),
            ..Info::default()
        }
    }
}
