//! An arm as the control loop sees it: joint positions in, joint targets out, in the robot's
//! units (rad, m of gripper opening). [`ServoArm`] puts that on a Feetech or Dynamixel bus
//! through a [`Calibration`]; [`WireArm`] on a `spelunk-wire` device, whose firmware does its
//! own calibration.

use std::time::{Duration, Instant};

use spelunk_wire as wire;

use crate::calibration::{Calibration, JointKind};
use crate::error::{Error, Result};
use crate::robot::RobotSpec;
use crate::servo::{Model, Protocol, Reg, ServoBus};
use crate::transport::Transport;

/// The joints of one arm.
pub trait Joints: Send {
    /// The port, for messages.
    fn port(&self) -> &str;
    /// Measured positions, one per joint.
    ///
    /// # Errors
    /// The device did not answer, or answered garbage.
    fn read(&mut self, positions: &mut [f64]) -> Result<()>;
    /// Send targets (already made safe), one per joint; returns a bit per joint whose target
    /// the calibration's range had to clip.
    ///
    /// # Errors
    /// The port failed.
    fn write(&mut self, targets: &[f64]) -> Result<u32>;
    /// Torque on or off for every joint.
    ///
    /// # Errors
    /// The device did not acknowledge.
    fn torque(&mut self, on: bool) -> Result<()>;
    /// Latch the device's own e-stop, where it has one (a `spelunk-wire` firmware).
    ///
    /// # Errors
    /// The port failed.
    fn estop(&mut self) -> Result<()> {
        Ok(())
    }
    /// Faults the device reported at the last read, in words (an overheating servo, ...).
    fn faults(&self) -> Vec<String> {
        Vec::new()
    }
}

/// An arm of serial-bus servos, one per joint.
pub struct ServoArm {
    bus: ServoBus,
    model: Model,
    cal: Calibration,
    travel: f64,
    ids: Vec<u8>,
    bytes: Vec<u8>,
}

impl ServoArm {
    /// Connect: ping every servo of the calibration, check each is a `model`, and write the
    /// calibration's homing offsets where the servos hold others (torque off while doing so).
    ///
    /// # Errors
    /// A servo missing or of another model (named), or a calibration that does not fit the
    /// robot.
    pub fn connect(
        mut bus: ServoBus,
        model: Model,
        cal: Calibration,
        robot: &RobotSpec,
    ) -> Result<Self> {
        if model.protocol != bus.protocol() {
            return Err(Error::config(
                "model",
                format!("{} speaks {:?}, the bus {:?}", model.name, model.protocol, bus.protocol()),
            ));
        }
        if cal.joints.len() != robot.joints.len() {
            return Err(Error::config(
                "calibration",
                format!(
                    "{} joints, {} has {} ({})",
                    cal.joints.len(),
                    robot.name,
                    robot.joints.len(),
                    robot.joints.iter().map(|j| j.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        for (c, j) in cal.joints.iter().zip(&robot.joints) {
            if c.kind != j.kind {
                return Err(Error::config(
                    "calibration",
                    format!(
                        "joint `{}` is a {:?} in the file, {} has a {:?} there",
                        c.name, c.kind, robot.name, j.kind
                    ),
                ));
            }
        }
        for j in &cal.joints {
            let number = bus.ping(j.id).map_err(|e| {
                Error::config(
                    "bus",
                    format!("servo {} ({}) does not answer a ping: {e}", j.id, j.name),
                )
            })?;
            if number != model.number {
                let other =
                    Model::by_number(bus.protocol(), number).map_or("an unknown model", |m| m.name);
                return Err(Error::config(
                    "bus",
                    format!(
                        "servo {} ({}) is {other} (model {number}), not {}",
                        j.id, j.name, model.name
                    ),
                ));
            }
        }
        let mut arm = Self {
            bus,
            model,
            travel: robot.travel(),
            ids: cal.ids(),
            bytes: vec![0; cal.joints.len() * 4],
            cal,
        };
        arm.write_offsets()?;
        Ok(arm)
    }

    fn reg(&self, reg: Reg) -> Result<crate::servo::Register> {
        self.model.register(reg).ok_or_else(|| {
            Error::config("model", format!("{} has no {reg:?} register", self.model.name))
        })
    }

    fn write_offsets(&mut self) -> Result<()> {
        let reg = self.reg(Reg::HomingOffset)?;
        let mut buf = [0u8; 4];
        let size = reg.size as usize;
        for k in 0..self.cal.joints.len() {
            let (id, want) = (self.cal.joints[k].id, i64::from(self.cal.joints[k].homing_offset));
            self.bus.read(id, reg.addr, &mut buf[..size])?;
            if self.model.decode(reg, &buf[..size]) == want {
                continue;
            }
            let torque = self.reg(Reg::TorqueEnable)?;
            self.bus.write(id, torque.addr, &[0])?;
            let lock = self.model.register(Reg::Lock);
            if let Some(lock) = lock {
                self.bus.write(id, lock.addr, &[0])?;
            }
            self.model.encode(reg, want, &mut buf[..size]);
            self.bus.write(id, reg.addr, &buf[..size])?;
            if let Some(lock) = lock {
                self.bus.write(id, lock.addr, &[1])?;
            }
        }
        Ok(())
    }

    /// The bus (its statistics, its timeout).
    #[must_use]
    pub fn bus(&mut self) -> &mut ServoBus {
        &mut self.bus
    }

    /// The calibration in use.
    #[must_use]
    pub fn calibration(&self) -> &Calibration {
        &self.cal
    }
}

impl Joints for ServoArm {
    fn port(&self) -> &str {
        self.bus.port()
    }

    fn read(&mut self, positions: &mut [f64]) -> Result<()> {
        let reg = self.reg(Reg::PresentPosition)?;
        let n = reg.size as usize;
        let len = self.ids.len() * n;
        self.bus.sync_read(&self.ids, reg.addr, reg.size, &mut self.bytes[..len])?;
        for (k, (p, j)) in positions.iter_mut().zip(&self.cal.joints).enumerate() {
            let ticks = self.model.decode(reg, &self.bytes[k * n..(k + 1) * n]);
            *p = j.to_joint(ticks, self.cal.resolution, self.travel);
        }
        Ok(())
    }

    fn write(&mut self, targets: &[f64]) -> Result<u32> {
        let reg = self.reg(Reg::GoalPosition)?;
        let n = reg.size as usize;
        let mut clipped = 0u32;
        for (k, (&q, j)) in targets.iter().zip(&self.cal.joints).enumerate() {
            let (ticks, clip) = j.to_ticks(q, self.cal.resolution, self.travel);
            clipped |= u32::from(clip) << k;
            self.model.encode(reg, ticks, &mut self.bytes[k * n..(k + 1) * n]);
        }
        let len = self.ids.len() * n;
        self.bus.sync_write(&self.ids, reg.addr, reg.size, &self.bytes[..len])?;
        Ok(clipped)
    }

    fn torque(&mut self, on: bool) -> Result<()> {
        let reg = self.reg(Reg::TorqueEnable)?;
        let data = vec![u8::from(on); self.ids.len()];
        self.bus.sync_write(&self.ids, reg.addr, 1, &data)
    }

    fn faults(&self) -> Vec<String> {
        let protocol: Protocol = self.bus.protocol();
        self.bus
            .errors
            .iter()
            .map(|&(id, bits)| {
                let name =
                    self.cal.joints.iter().find(|j| j.id == id).map_or("?", |j| j.name.as_str());
                format!("servo {id} ({name}): {}", protocol.error_text(bits).unwrap_or_default())
            })
            .collect()
    }
}

/// Calibrate an arm of servos with ids `1..=n` (LeRobot's procedure): with torque off and the
/// arm held at its zero pose (the URDF's zero; the gripper closed), each servo's homing offset
/// is set so that it reads half a turn there; then, for `record` (zero: skip), every joint is
/// moved by hand through its range while the extremes are recorded (`progress` sees each
/// reading). Without a recording, revolute ranges come from the URDF's limits and the
/// gripper's is a quarter turn.
///
/// # Errors
/// A servo missing, of another model, or not acknowledging a write.
pub fn calibrate(
    bus: &mut ServoBus,
    model: Model,
    robot: &RobotSpec,
    record: Duration,
    progress: &mut dyn FnMut(&[i64]),
) -> Result<Calibration> {
    let n = robot.joints.len();
    let ids: Vec<u8> = (1..=n as u8).collect();
    let reg = |r: Reg| {
        model
            .register(r)
            .ok_or_else(|| Error::config("model", format!("{} has no {r:?} register", model.name)))
    };
    let (offset_reg, present_reg, torque_reg) =
        (reg(Reg::HomingOffset)?, reg(Reg::PresentPosition)?, reg(Reg::TorqueEnable)?);
    let lock = model.register(Reg::Lock);
    let half = i64::from(model.resolution / 2);
    let mut buf = [0u8; 4];
    for (&id, j) in ids.iter().zip(&robot.joints) {
        let number = bus.ping(id).map_err(|e| {
            Error::config("bus", format!("servo {id} ({}) does not answer a ping: {e}", j.name))
        })?;
        if number != model.number {
            return Err(Error::config(
                "bus",
                format!(
                    "servo {id} ({}) is model {number}, not {} ({})",
                    j.name, model.number, model.name
                ),
            ));
        }
        bus.write(id, torque_reg.addr, &[0])?;
        if let Some(l) = lock {
            bus.write(id, l.addr, &[0])?;
        }
        let size = offset_reg.size as usize;
        model.encode(offset_reg, 0, &mut buf[..size]);
        bus.write(id, offset_reg.addr, &buf[..size])?;
        let size = present_reg.size as usize;
        bus.read(id, present_reg.addr, &mut buf[..size])?;
        let raw = model.decode(present_reg, &buf[..size]);
        let size = offset_reg.size as usize;
        model.encode(offset_reg, raw - half, &mut buf[..size]);
        bus.write(id, offset_reg.addr, &buf[..size])?;
        if let Some(l) = lock {
            bus.write(id, l.addr, &[1])?;
        }
    }
    let mut cal = robot.default_calibration(model.resolution);
    let mut offsets = vec![0i64; n];
    for (k, &id) in ids.iter().enumerate() {
        let size = offset_reg.size as usize;
        bus.read(id, offset_reg.addr, &mut buf[..size])?;
        offsets[k] = model.decode(offset_reg, &buf[..size]);
    }
    for (c, &o) in cal.joints.iter_mut().zip(&offsets) {
        c.homing_offset = o as i32;
    }
    if !record.is_zero() {
        let size = present_reg.size as usize;
        let mut bytes = vec![0u8; n * size];
        let mut lo = vec![i64::MAX; n];
        let mut hi = vec![i64::MIN; n];
        let mut now = vec![0i64; n];
        let start = Instant::now();
        while start.elapsed() < record {
            bus.sync_read(&ids, present_reg.addr, present_reg.size, &mut bytes)?;
            for k in 0..n {
                now[k] = model.decode(present_reg, &bytes[k * size..(k + 1) * size]);
                lo[k] = lo[k].min(now[k]);
                hi[k] = hi[k].max(now[k]);
            }
            progress(&now);
            std::thread::sleep(Duration::from_millis(20));
        }
        for (k, c) in cal.joints.iter_mut().enumerate() {
            c.range_min = lo[k] as i32;
            c.range_max = hi[k] as i32;
        }
    }
    cal.check().map_err(|m| {
        Error::config(
            "calibration",
            format!("{m} (move every joint through its range while recording)"),
        )
    })?;
    Ok(cal)
}

/// An arm behind our own firmware speaking `spelunk-wire`.
pub struct WireArm {
    transport: Box<dyn Transport>,
    decoder: wire::Decoder,
    frame: [u8; wire::MAX_FRAME],
    joints: usize,
    seq: u32,
    /// How long a reply may take.
    pub timeout: Duration,
    /// Targets expire this long after the device receives them.
    pub deadline: Duration,
    /// What the device said of itself.
    pub hello: Option<wire::Hello>,
    faults: Vec<String>,
    /// Frames that failed to decode.
    pub bad_frames: u64,
}

impl WireArm {
    /// Connect: a heartbeat, answered by the device's joint states, whose count must be
    /// `joints`.
    ///
    /// # Errors
    /// No answer, or another number of joints.
    pub fn connect(transport: Box<dyn Transport>, joints: usize) -> Result<Self> {
        let mut arm = Self {
            transport,
            decoder: wire::Decoder::new(),
            frame: [0; wire::MAX_FRAME],
            joints,
            seq: 0,
            timeout: Duration::from_millis(50),
            deadline: Duration::from_millis(100),
            hello: None,
            faults: Vec::new(),
            bad_frames: 0,
        };
        let mut p = vec![0.0; joints];
        arm.read(&mut p)?;
        Ok(arm)
    }

    fn send(&mut self, msg: &wire::Message) -> Result<()> {
        let n = wire::encode(msg, &mut self.frame)
            .map_err(|e| Error::protocol(self.transport.name().to_owned(), e.to_string()))?;
        self.transport.write_all(&self.frame[..n])
    }

    /// Send a limits message (the firmware enforces them too).
    ///
    /// # Errors
    /// The port failed, or more joints than a message carries.
    pub fn send_limits(&mut self, robot: &RobotSpec) -> Result<()> {
        let mut l = wire::Limits {
            n: robot.joints.len() as u8,
            joints: [wire::JointLimit::default(); wire::MAX_JOINTS],
        };
        if robot.joints.len() > wire::MAX_JOINTS {
            return Err(Error::config(
                "robot",
                format!(
                    "{} joints, a wire message carries {}",
                    robot.joints.len(),
                    wire::MAX_JOINTS
                ),
            ));
        }
        for (o, j) in l.joints.iter_mut().zip(&robot.joints) {
            *o = wire::JointLimit {
                lower: j.lower as f32,
                upper: j.upper as f32,
                max_velocity: j.max_velocity as f32,
                max_step: (j.upper - j.lower) as f32,
            };
        }
        self.send(&wire::Message::Limits(l))
    }

    /// Clear the device's latched e-stop.
    ///
    /// # Errors
    /// The port failed.
    pub fn reset(&mut self) -> Result<()> {
        self.send(&wire::Message::Reset)
    }
}

impl Joints for WireArm {
    fn port(&self) -> &str {
        self.transport.name()
    }

    fn read(&mut self, positions: &mut [f64]) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        self.send(&wire::Message::Heartbeat { seq: self.seq })?;
        let deadline = Instant::now() + self.timeout;
        let mut chunk = [0u8; 256];
        self.faults.clear();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout {
                    what: format!("joint states from {}", self.transport.name()),
                    timeout_ms: self.timeout.as_millis() as u64,
                });
            }
            let n = self.transport.read(&mut chunk, left)?;
            let mut states = None;
            for &b in &chunk[..n] {
                match self.decoder.push(b) {
                    Some(Ok(wire::Message::JointStates(s))) => states = Some(s),
                    Some(Ok(wire::Message::Hello(h))) => self.hello = Some(h),
                    Some(Ok(wire::Message::Fault(f))) => {
                        self.faults
                            .push(format!("{:?} on joint {} ({})", f.code, f.joint, f.detail));
                    }
                    None | Some(Ok(_)) => {}
                    Some(Err(_)) => self.bad_frames += 1,
                }
            }
            if let Some(s) = states {
                if s.n as usize != self.joints {
                    return Err(Error::protocol(
                        self.transport.name().to_owned(),
                        format!("the device reports {} joints, the robot has {}", s.n, self.joints),
                    ));
                }
                for (p, j) in positions.iter_mut().zip(&s.joints) {
                    *p = f64::from(j.position);
                }
                for (k, j) in s.joints[..s.n as usize].iter().enumerate() {
                    if j.flags
                        & (wire::flags::OVERHEAT | wire::flags::OVERLOAD | wire::flags::VOLTAGE)
                        != 0
                    {
                        self.faults.push(format!("joint {k}: flags {:#04x}", j.flags));
                    }
                }
                return Ok(());
            }
        }
    }

    fn write(&mut self, targets: &[f64]) -> Result<u32> {
        let mut t = wire::JointTargets {
            seq: self.seq,
            deadline_us: self.deadline.as_micros() as u32,
            n: targets.len() as u8,
            positions: [0.0; wire::MAX_JOINTS],
        };
        for (o, &q) in t.positions.iter_mut().zip(targets) {
            *o = q as f32;
        }
        self.send(&wire::Message::JointTargets(t))?;
        Ok(0)
    }

    fn torque(&mut self, _on: bool) -> Result<()> {
        // The firmware's torque follows its e-stop and watchdog; nothing to send.
        Ok(())
    }

    fn estop(&mut self) -> Result<()> {
        self.send(&wire::Message::EStop { reason: 0 })
    }

    fn faults(&self) -> Vec<String> {
        self.faults.clone()
    }
}

/// A joint kind's unit, for messages.
#[must_use]
pub fn unit(kind: JointKind) -> &'static str {
    match kind {
        JointKind::Revolute => "rad",
        JointKind::Gripper => "m",
    }
}

/// A dry run: reads the arm, sends nothing (no targets, no torque), so a policy's commands
/// can be watched in the log before the arm moves.
pub struct DryRun(pub Box<dyn Joints>);

impl Joints for DryRun {
    fn port(&self) -> &str {
        self.0.port()
    }
    fn read(&mut self, positions: &mut [f64]) -> Result<()> {
        self.0.read(positions)
    }
    fn write(&mut self, _targets: &[f64]) -> Result<u32> {
        Ok(0)
    }
    fn torque(&mut self, _on: bool) -> Result<()> {
        Ok(())
    }
    fn faults(&self) -> Vec<String> {
        self.0.faults()
    }
}
