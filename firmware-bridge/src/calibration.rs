//! Calibration: how each servo's ticks map to its joint's position.
//!
//! Per joint: the servo's bus id, `drive_mode` (1 = the servo turns the other way from the
//! joint), `homing_offset` (ticks the servo subtracts from its raw reading; written to its
//! Homing_Offset register when the arm connects), and `range_min`/`range_max` (the ticks the
//! joint may reach, after the offset). A revolute joint's angle is
//! `q = sign · (ticks − zero) · 2π / resolution`, with `zero` the tick of the URDF's zero
//! (the middle of the range unless given); the gripper is linear, its opening
//! `(ticks − range_min) / (range_max − range_min)` of the fingers' travel (reversed when
//! `drive_mode` is 1).
//!
//! Files: our own TOML (`format = "spelunk-calibration/1"`, [`Calibration::to_toml`]), and
//! LeRobot's calibration JSON in both its layouts — one object per motor
//! (`{"shoulder_pan": {"id", "drive_mode", "homing_offset", "range_min", "range_max"}}`), and
//! the older arrays (`motor_names`, `homing_offset`, `drive_mode`, `start_pos`, `end_pos`,
//! `calib_mode` with `DEGREE`/`LINEAR`), where `q = (sign · raw + homing_offset) · 2π / 4096`.

use std::f64::consts::TAU;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// How a joint's ticks become its position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JointKind {
    /// An angle, rad.
    #[default]
    Revolute,
    /// A gripper: opening from 0 (closed) to the fingers' full travel, m.
    Gripper,
}

/// One joint's calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointCalibration {
    /// Joint name (`shoulder_pan`, ..., `gripper`).
    pub name: String,
    /// Servo bus id.
    pub id: u8,
    /// 1 when the servo turns against the joint's positive direction.
    #[serde(default)]
    pub drive_mode: u8,
    /// Ticks the servo subtracts from its raw reading (its Homing_Offset register).
    #[serde(default)]
    pub homing_offset: i32,
    /// Lowest ticks the joint may reach.
    pub range_min: i32,
    /// Highest ticks the joint may reach.
    pub range_max: i32,
    /// Ticks at the joint's zero (revolute joints; the middle of the range if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero: Option<i32>,
    /// Revolute joint or gripper.
    #[serde(default)]
    pub kind: JointKind,
}

/// A whole arm's calibration, joints in the robot's order (arm joints root to tip, then the
/// gripper).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// `spelunk-calibration/1`.
    pub format: String,
    /// Ticks per turn of the servos.
    #[serde(default = "default_resolution")]
    pub resolution: u32,
    /// Each joint.
    pub joints: Vec<JointCalibration>,
}

fn default_resolution() -> u32 {
    4096
}

/// Our file format's tag.
pub const FORMAT: &str = "spelunk-calibration/1";

impl JointCalibration {
    fn sign(&self) -> f64 {
        if self.drive_mode == 1 {
            -1.0
        } else {
            1.0
        }
    }

    /// The tick of the joint's zero.
    #[must_use]
    pub fn zero_ticks(&self) -> f64 {
        self.zero.map_or_else(|| f64::from(self.range_min + self.range_max) / 2.0, f64::from)
    }

    /// Ticks (after the homing offset) → joint position (rad; for the gripper, m of opening
    /// out of `travel`).
    #[must_use]
    pub fn to_joint(&self, ticks: i64, resolution: u32, travel: f64) -> f64 {
        let t = ticks as f64;
        match self.kind {
            JointKind::Revolute => {
                self.sign() * (t - self.zero_ticks()) * TAU / f64::from(resolution)
            }
            JointKind::Gripper => {
                let span = f64::from(self.range_max - self.range_min).max(1.0);
                let f = (t - f64::from(self.range_min)) / span;
                travel * if self.drive_mode == 1 { 1.0 - f } else { f }
            }
        }
    }

    /// Joint position → ticks, clamped to the range; also whether it had to be clamped.
    #[must_use]
    pub fn to_ticks(&self, q: f64, resolution: u32, travel: f64) -> (i64, bool) {
        let t = match self.kind {
            JointKind::Revolute => {
                self.zero_ticks() + self.sign() * q * f64::from(resolution) / TAU
            }
            JointKind::Gripper => {
                let f = if travel > 0.0 { q / travel } else { 0.0 };
                let f = if self.drive_mode == 1 { 1.0 - f } else { f };
                f64::from(self.range_min) + f * f64::from(self.range_max - self.range_min)
            }
        };
        let t = t.round() as i64;
        let c = t.clamp(i64::from(self.range_min), i64::from(self.range_max));
        (c, c != t)
    }
}

impl Calibration {
    /// Read a calibration file: ours (TOML) or LeRobot's (JSON, either layout).
    ///
    /// # Errors
    /// The file cannot be read, is neither format, or names a joint twice, an id twice, or a
    /// range with `range_min ≥ range_max`.
    pub fn load(path: &Path) -> Result<Self> {
        let err = |message: String| Error::Calibration { path: path.to_owned(), message };
        let text = spelunk_core::files::read_text(path).map_err(|e| err(e.to_string()))?;
        let cal = if text.trim_start().starts_with('{') {
            Self::from_lerobot_json(&text).map_err(err)?
        } else {
            let cal: Self = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
            if cal.format != FORMAT {
                return Err(err(format!("format = \"{}\", expected \"{FORMAT}\"", cal.format)));
            }
            cal
        };
        cal.check().map_err(err)?;
        Ok(cal)
    }

    /// Parse LeRobot's calibration JSON (either layout).
    ///
    /// # Errors
    /// What is missing or of the wrong type, by key.
    pub fn from_lerobot_json(text: &str) -> std::result::Result<Self, String> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let obj = v.as_object().ok_or("not a JSON object")?;
        let gripper = |name: &str| {
            if name.contains("gripper") {
                JointKind::Gripper
            } else {
                JointKind::Revolute
            }
        };
        let int = |v: &serde_json::Value, what: &str| -> std::result::Result<i64, String> {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f.round() as i64))
                .ok_or(format!("{what} is not a number"))
        };
        let mut joints = Vec::new();
        if let Some(names) = obj.get("motor_names") {
            // The older layout: parallel arrays.
            let names = names.as_array().ok_or("motor_names is not a list")?;
            let list = |key: &str| -> std::result::Result<&Vec<serde_json::Value>, String> {
                let l =
                    obj.get(key).and_then(|v| v.as_array()).ok_or(format!("no `{key}` list"))?;
                if l.len() == names.len() {
                    Ok(l)
                } else {
                    Err(format!("`{key}` has {} entries for {} motors", l.len(), names.len()))
                }
            };
            let (offset, drive, start, end, mode) = (
                list("homing_offset")?,
                list("drive_mode")?,
                list("start_pos")?,
                list("end_pos")?,
                list("calib_mode")?,
            );
            for (k, name) in names.iter().enumerate() {
                let name = name.as_str().ok_or("a motor name is not a string")?.to_owned();
                let what = |key: &str| format!("{key}[{k}] ({name})");
                let drive_mode = u8::from(int(&drive[k], &what("drive_mode"))? != 0);
                let sign = if drive_mode == 1 { -1 } else { 1 };
                let off = int(&offset[k], &what("homing_offset"))?;
                let linear = mode[k].as_str() == Some("LINEAR");
                let (s, e) = (int(&start[k], &what("start_pos"))?, int(&end[k], &what("end_pos"))?);
                joints.push(JointCalibration {
                    id: (k + 1) as u8,
                    drive_mode,
                    homing_offset: 0,
                    range_min: if linear { s.min(e) as i32 } else { 0 },
                    range_max: if linear { s.max(e) as i32 } else { 4095 },
                    // sign·raw + offset = sign·(raw − zero)  ⇒  zero = −sign·offset.
                    zero: (!linear).then_some((-sign * off) as i32),
                    kind: if linear { JointKind::Gripper } else { gripper(&name) },
                    name,
                });
            }
        } else {
            for (name, m) in obj {
                let field = |key: &str| -> std::result::Result<i64, String> {
                    let v = m.get(key).ok_or(format!("{name}: no `{key}`"))?;
                    int(v, &format!("{name}.{key}"))
                };
                let id = field("id")?;
                let id =
                    u8::try_from(id).map_err(|_| format!("{name}.id = {id} is not a bus id"))?;
                joints.push(JointCalibration {
                    name: name.clone(),
                    id,
                    drive_mode: u8::from(field("drive_mode")? != 0),
                    homing_offset: field("homing_offset")? as i32,
                    range_min: field("range_min")? as i32,
                    range_max: field("range_max")? as i32,
                    zero: None,
                    kind: gripper(name),
                });
            }
            // JSON objects are unordered here: the bus ids give the robot's order.
            joints.sort_by_key(|j| j.id);
        }
        Ok(Self { format: FORMAT.to_owned(), resolution: 4096, joints })
    }

    /// Our TOML form.
    #[must_use]
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Joint names unique, ids unique, ranges ordered and inside one turn.
    ///
    /// # Errors
    /// The first joint that is wrong, by name.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.joints.is_empty() {
            return Err("no joints".into());
        }
        if !(2..=1 << 20).contains(&self.resolution) {
            return Err(format!("resolution {} is not a servo's", self.resolution));
        }
        for (k, j) in self.joints.iter().enumerate() {
            if self.joints[..k].iter().any(|o| o.name == j.name) {
                return Err(format!("joint `{}` appears twice", j.name));
            }
            if let Some(o) = self.joints[..k].iter().find(|o| o.id == j.id) {
                return Err(format!("joints `{}` and `{}` both have id {}", o.name, j.name, j.id));
            }
            if j.id >= 0xFD {
                return Err(format!("{}: id {} is reserved", j.name, j.id));
            }
            if j.drive_mode > 1 {
                return Err(format!("{}: drive_mode {} (0 or 1)", j.name, j.drive_mode));
            }
            let turn = self.resolution as i32;
            if j.range_min >= j.range_max || j.range_min < -turn || j.range_max > 2 * turn {
                return Err(format!(
                    "{}: range {}..{} is empty or wider than the servo's turn",
                    j.name, j.range_min, j.range_max
                ));
            }
        }
        Ok(())
    }

    /// The servo ids, in joint order.
    #[must_use]
    pub fn ids(&self) -> Vec<u8> {
        self.joints.iter().map(|j| j.id).collect()
    }
}
