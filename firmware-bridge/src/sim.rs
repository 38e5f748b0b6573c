//! The simulated arm on the wire: a rapier arm (`so100`, `fetch7` or a URDF) whose joints are
//! servos answering on a pseudo-terminal or a UDP socket — as a Feetech STS bus, a Dynamixel
//! 2.0 bus, or a `spelunk-wire` firmware — with the real protocols' packets, replies and
//! error bits, so a policy drives it through exactly the code path of a real arm, and the
//! vendors' own SDKs can talk to it.
//!
//! Two threads: physics steps the arm in real time (`physics_hz` control steps per second,
//! each a few 2 ms substeps with the servos' goals as joint targets), and the responder
//! answers packets from the latest state, so a reply never waits for a physics step.
//!
//! Each servo maps its joint as a fresh arm does ([`RobotSpec::default_calibration`]: 2048
//! ticks at the joint's zero, 4096 per turn; the gripper a quarter turn from closed to open),
//! shifted by its Homing_Offset register as a real STS or X-series servo is. Torque off makes
//! a joint hold where it is (the simulated arm does not fall).
//!
//! Faults on demand ([`Faults`]): replies dropped, corrupted or delayed, servos that never
//! answer, servos that report overheating, and a port that disappears.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use spelunk_core::{Action, Env as _, ObsBuf, Rng};
use spelunk_wire as wire;

use crate::calibration::{Calibration, JointKind};
use crate::error::{Error, Result};
use crate::robot::{sim_env, RobotSpec};
use crate::servo::{inst, Frame, Model, Protocol, Reg, BROADCAST, STS3215, XL330_M288};
use crate::transport::{Serial, Transport, Udp};

/// What the simulated device speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimProtocol {
    /// A Feetech STS3215 bus (SO-100/101).
    #[default]
    Feetech,
    /// A Dynamixel 2.0 bus of XL330-M288 servos.
    Dynamixel,
    /// Our own firmware speaking `spelunk-wire`.
    Wire,
}

impl std::str::FromStr for SimProtocol {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "feetech" => Ok(Self::Feetech),
            "dynamixel" => Ok(Self::Dynamixel),
            "wire" => Ok(Self::Wire),
            _ => Err(format!("unknown protocol `{s}` (feetech, dynamixel, wire)")),
        }
    }
}

/// Faults to inject.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Probability that a reply is not sent.
    pub drop: f64,
    /// Probability that one byte of a reply is flipped.
    pub corrupt: f64,
    /// Probability that a reply is delayed by `delay_ms`.
    pub delay: f64,
    /// The delay, ms.
    pub delay_ms: u64,
    /// Servo ids that never answer.
    pub silent: Vec<u8>,
    /// Servo ids that report overheating (error bits, 80 °C).
    pub overheat: Vec<u8>,
    /// The port disappears this long after start, ms.
    pub port_gone_after_ms: Option<u64>,
}

/// The simulated arm's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// `so100`, `fetch7` or a URDF path.
    pub robot: String,
    /// What it speaks.
    pub protocol: SimProtocol,
    /// Physics control steps per second (each `500 / physics_hz` substeps of 2 ms).
    pub physics_hz: u32,
    /// Emulate a serial line at this many bits/s (each request and reply takes its bytes'
    /// time); `None`: as fast as the pty goes.
    pub baud: Option<u32>,
    /// Faults to inject.
    pub faults: Faults,
    /// Seed of the fault draws.
    pub seed: u64,
    /// Where the arm starts: `home` (the task's start pose) or `zero` (every joint at the
    /// URDF's zero, the pose a calibration holds).
    pub start: SimStart,
    /// Ticks each servo's horn is off from the factory mapping, as on an arm assembled by
    /// hand (empty: none); a calibration finds them.
    pub mount_offsets: Vec<i32>,
}

/// Where the simulated arm starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimStart {
    /// The task's start pose.
    #[default]
    Home,
    /// Every joint at zero, gripper closed.
    Zero,
}

impl std::str::FromStr for SimStart {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "home" => Ok(Self::Home),
            "zero" => Ok(Self::Zero),
            _ => Err(format!("unknown start `{s}` (home, zero)")),
        }
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            robot: "so100".into(),
            protocol: SimProtocol::Feetech,
            physics_hz: 100,
            baud: None,
            faults: Faults::default(),
            seed: 0,
            start: SimStart::Home,
            mount_offsets: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Physics {
    goals: Vec<f64>,
    torque: Vec<bool>,
    positions: Vec<f64>,
    velocities: Vec<f64>,
    steps: u64,
    error: Option<String>,
}

/// A running simulated arm.
pub struct Sim {
    /// Where to connect: a pty path, or the UDP address it listens on.
    pub port: String,
    /// The robot.
    pub spec: RobotSpec,
    physics: Arc<Mutex<Physics>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn lock(m: &Mutex<Physics>) -> std::sync::MutexGuard<'_, Physics> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Sim {
    /// Start on a new pseudo-terminal; connect to [`Sim::port`].
    ///
    /// # Errors
    /// The robot cannot be built, or no pty can be made.
    pub fn start_pty(config: &SimConfig) -> Result<Self> {
        let (device, path, keep) = Serial::pty()?;
        Self::start(config, Box::new(device), path, Some(keep))
    }

    /// Start on a UDP socket bound to `bind` (port 0: any free port); connect to
    /// [`Sim::port`].
    ///
    /// # Errors
    /// The robot cannot be built, or the address cannot be bound.
    pub fn start_udp(config: &SimConfig, bind: &str) -> Result<Self> {
        let device = Udp::listen(bind)?;
        let addr = device.local_addr()?.to_string();
        Self::start(config, Box::new(device), addr, None)
    }

    fn start(
        config: &SimConfig,
        transport: Box<dyn Transport>,
        port: String,
        keep: Option<serialport::TTYPort>,
    ) -> Result<Self> {
        if !(1..=500).contains(&config.physics_hz) {
            return Err(Error::config("physics_hz", format!("{} (1 to 500)", config.physics_hz)));
        }
        let spec = RobotSpec::load(&config.robot)?;
        let n = spec.joints.len();
        let substeps = (500 / config.physics_hz).max(1);
        let mut env = sim_env(&config.robot, substeps)?;
        if config.start == SimStart::Zero {
            env.set_joints(&vec![0.0; n - 1], 0.0);
        }
        if !config.mount_offsets.is_empty() && config.mount_offsets.len() != n {
            return Err(Error::config(
                "mount_offsets",
                format!("{} offsets for {n} servos", config.mount_offsets.len()),
            ));
        }
        let positions = joint_positions(&env, &spec);
        let physics = Arc::new(Mutex::new(Physics {
            goals: positions.clone(),
            torque: vec![false; n],
            velocities: vec![0.0; n],
            positions,
            steps: 0,
            error: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        {
            let (physics, stop, spec) = (Arc::clone(&physics), Arc::clone(&stop), spec.clone());
            let period = Duration::from_secs_f64(f64::from(substeps) * 0.002);
            threads.push(
                std::thread::Builder::new()
                    .name("spelunk-sim-physics".into())
                    .spawn(move || step_physics(&mut env, &spec, &physics, &stop, period))
                    .map_err(|e| Error::config("sim", format!("cannot start a thread: {e}")))?,
            );
        }
        let mut device = Device::new(config, &spec, transport, Arc::clone(&physics));
        // At power-up a servo's goal register holds its present position.
        for k in 0..device.servos.len() {
            device.refresh(k);
            let present = device.reg_value(k, Reg::PresentPosition);
            device.put(k, Reg::GoalPosition, present);
        }
        let stop2 = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name("spelunk-sim-bus".into())
                .spawn(move || {
                    device.serve(&stop2);
                    drop(keep);
                })
                .map_err(|e| Error::config("sim", format!("cannot start a thread: {e}")))?,
        );
        Ok(Self { port, spec, physics, stop, threads })
    }

    /// Joint positions now.
    #[must_use]
    pub fn positions(&self) -> Vec<f64> {
        lock(&self.physics).positions.clone()
    }

    /// The servos' goals now (joint units).
    #[must_use]
    pub fn goals(&self) -> Vec<f64> {
        lock(&self.physics).goals.clone()
    }

    /// Whether each joint's torque is on.
    #[must_use]
    pub fn torque(&self) -> Vec<bool> {
        lock(&self.physics).torque.clone()
    }

    /// Physics control steps so far, and the error that stopped them, if one did.
    #[must_use]
    pub fn steps(&self) -> (u64, Option<String>) {
        let p = lock(&self.physics);
        (p.steps, p.error.clone())
    }

    /// Stop both threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn joint_positions(env: &spelunk_sims::arm::ArmEnv, spec: &RobotSpec) -> Vec<f64> {
    let q = env.joint_positions();
    let arm = spec.joints.len() - 1;
    let mut out: Vec<f64> = q[..arm].iter().map(|&x| f64::from(x)).collect();
    out.push(f64::from(env.fingers()[0].max(0.0)));
    out
}

fn step_physics(
    env: &mut spelunk_sims::arm::ArmEnv,
    spec: &RobotSpec,
    physics: &Mutex<Physics>,
    stop: &AtomicBool,
    period: Duration,
) {
    let mut obs = ObsBuf::for_space(env.observation_space());
    let n = spec.joints.len();
    let mut action = vec![0f32; n];
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        next += period;
        {
            let mut p = lock(physics);
            for (k, (a, j)) in action.iter_mut().zip(&spec.joints).enumerate() {
                if !p.torque[k] {
                    // A joint without torque stays where it is.
                    p.goals[k] = p.positions[k];
                }
                *a = match j.kind {
                    JointKind::Revolute => {
                        (2.0 * (p.goals[k] - j.lower) / (j.upper - j.lower) - 1.0) as f32
                    }
                    JointKind::Gripper => (p.goals[k] / j.upper) as f32,
                };
            }
        }
        let before = joint_positions(env, spec);
        let result = env.step(Action::Continuous(&action), obs.as_mut());
        let after = joint_positions(env, spec);
        let mut p = lock(physics);
        if let Err(e) = result {
            p.error = Some(e.to_string());
            return;
        }
        let dt = period.as_secs_f64();
        for k in 0..n {
            p.velocities[k] = (after[k] - before[k]) / dt;
        }
        p.positions = after;
        p.steps += 1;
    }
}

/// One simulated servo.
struct Servo {
    id: u8,
    regs: [u8; 256],
}

struct Device {
    protocol: SimProtocol,
    mount: Vec<i64>,
    model: Model,
    servos: Vec<Servo>,
    factory: Calibration,
    travel: f64,
    transport: Box<dyn Transport>,
    physics: Arc<Mutex<Physics>>,
    faults: Faults,
    rng: Rng,
    baud: Option<u32>,
    started: Instant,
    rx: Vec<u8>,
    tx: Vec<u8>,
    params: Vec<u8>,
    // spelunk-wire device state
    decoder: wire::Decoder,
    estop: bool,
    limits: Option<wire::Limits>,
    last_seq: u32,
    target_deadline: Option<Instant>,
    said_hello: bool,
}

impl Device {
    fn new(
        config: &SimConfig,
        spec: &RobotSpec,
        transport: Box<dyn Transport>,
        physics: Arc<Mutex<Physics>>,
    ) -> Self {
        let model = match config.protocol {
            SimProtocol::Dynamixel => XL330_M288,
            SimProtocol::Feetech | SimProtocol::Wire => STS3215,
        };
        let factory = spec.default_calibration(model.resolution);
        let servos = factory
            .joints
            .iter()
            .map(|j| {
                let mut s = Servo { id: j.id, regs: [0; 256] };
                let mut put = |reg: Reg, v: i64| {
                    if let Some(r) = model.register(reg) {
                        let a = r.addr as usize;
                        model.encode(r, v, &mut s.regs[a..a + r.size as usize]);
                    }
                };
                put(Reg::ModelNumber, i64::from(model.number));
                put(Reg::Id, i64::from(j.id));
                put(Reg::MinPosition, 0);
                put(Reg::MaxPosition, i64::from(model.resolution - 1));
                put(Reg::Lock, 1);
                s
            })
            .collect();
        Self {
            protocol: config.protocol,
            mount: (0..spec.joints.len())
                .map(|k| i64::from(config.mount_offsets.get(k).copied().unwrap_or(0)))
                .collect(),
            model,
            servos,
            travel: spec.travel(),
            factory,
            transport,
            physics,
            faults: config.faults.clone(),
            rng: Rng::seed_from_u64(config.seed),
            baud: config.baud,
            started: Instant::now(),
            rx: Vec::with_capacity(4096),
            tx: Vec::with_capacity(4096),
            params: Vec::with_capacity(1024),
            decoder: wire::Decoder::new(),
            estop: false,
            limits: None,
            last_seq: 0,
            target_deadline: None,
            said_hello: false,
        }
    }

    fn serve(&mut self, stop: &AtomicBool) {
        let mut chunk = [0u8; 1024];
        while !stop.load(Ordering::SeqCst) {
            if let Some(ms) = self.faults.port_gone_after_ms {
                if self.started.elapsed() >= Duration::from_millis(ms) {
                    // The port disappears: stop answering and close our end.
                    return;
                }
            }
            if self.protocol == SimProtocol::Wire {
                self.wire_watchdog();
            }
            let Ok(n) = self.transport.read(&mut chunk, Duration::from_millis(5)) else {
                // No client has the port open (a pty reads errors then); wait for one.
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            if n == 0 {
                continue;
            }
            match self.protocol {
                SimProtocol::Wire => {
                    for &b in &chunk[..n] {
                        if let Some(msg) = self.decoder.push(b) {
                            self.on_wire(msg);
                        }
                    }
                }
                SimProtocol::Feetech | SimProtocol::Dynamixel => {
                    self.rx.extend_from_slice(&chunk[..n]);
                    self.on_bus_bytes();
                }
            }
        }
    }

    fn bus_protocol(&self) -> Protocol {
        match self.protocol {
            SimProtocol::Dynamixel => Protocol::Dynamixel,
            _ => Protocol::Feetech,
        }
    }

    fn on_bus_bytes(&mut self) {
        let p = self.bus_protocol();
        loop {
            match p.frame(&self.rx) {
                Frame::Need(_) => return,
                Frame::Skip(n) | Frame::Bad { skip: n, .. } => {
                    self.rx.drain(..n);
                }
                Frame::Packet { id, x, params, len } => {
                    let mut args = std::mem::take(&mut self.params);
                    p.params(&self.rx, params, &mut args);
                    self.rx.drain(..len);
                    self.tx.clear();
                    self.instruction(p, id, x, &args);
                    self.params = args;
                    if !self.tx.is_empty() {
                        self.send_reply(len);
                    }
                }
            }
        }
    }

    fn servo_index(&self, id: u8) -> Option<usize> {
        self.servos.iter().position(|s| s.id == id)
    }

    fn instruction(&mut self, p: Protocol, id: u8, x: u8, args: &[u8]) {
        match x {
            inst::SYNC_READ => {
                let Some((addr, n, at)) = p.parse_address(args) else { return };
                for &sid in &args[at..] {
                    if let Some(k) = self.servo_index(sid) {
                        self.reply_read(p, k, addr, n);
                    }
                }
            }
            inst::SYNC_WRITE => {
                let Some((addr, n, at)) = p.parse_address(args) else { return };
                let n = n as usize;
                for chunk in args[at..].chunks(n + 1) {
                    if chunk.len() == n + 1 {
                        if let Some(k) = self.servo_index(chunk[0]) {
                            self.write_regs(k, addr, &chunk[1..]);
                        }
                    }
                }
            }
            _ if id == BROADCAST => {
                if let (inst::WRITE, Some((addr, data))) = (x, p.parse_write(args)) {
                    for k in 0..self.servos.len() {
                        self.write_regs(k, addr, data);
                    }
                }
            }
            _ => {
                let Some(k) = self.servo_index(id) else { return };
                match x {
                    inst::PING => match p {
                        Protocol::Feetech => self.status(p, k, &[]),
                        Protocol::Dynamixel => {
                            let m = self.model.number.to_le_bytes();
                            self.status(p, k, &[m[0], m[1], 52]);
                        }
                    },
                    inst::READ => {
                        if let Some((addr, n, _)) = p.parse_address(args) {
                            self.reply_read(p, k, addr, n);
                        }
                    }
                    inst::WRITE => {
                        if let Some((addr, data)) = p.parse_write(args) {
                            let ok = self.write_regs(k, addr, data);
                            if ok || p == Protocol::Feetech {
                                self.status(p, k, &[]);
                            } else {
                                // Dynamixel: access error (a read-only or unknown address).
                                let s = self.servos[k].id;
                                p.status(s, 7, &[], &mut self.tx);
                            }
                        }
                    }
                    _ => {
                        if p == Protocol::Dynamixel {
                            let s = self.servos[k].id;
                            p.status(s, 2, &[], &mut self.tx);
                        }
                    }
                }
            }
        }
    }

    fn error_bits(&self, k: usize) -> u8 {
        if self.faults.overheat.contains(&self.servos[k].id) {
            match self.bus_protocol() {
                Protocol::Feetech => 4,
                Protocol::Dynamixel => 0x80,
            }
        } else {
            0
        }
    }

    fn status(&mut self, p: Protocol, k: usize, params: &[u8]) {
        if self.faults.silent.contains(&self.servos[k].id) {
            return;
        }
        let e = self.error_bits(k);
        p.status(self.servos[k].id, e, params, &mut self.tx);
    }

    fn reg_value(&self, k: usize, reg: Reg) -> i64 {
        self.model.register(reg).map_or(0, |r| {
            let a = r.addr as usize;
            self.model.decode(r, &self.servos[k].regs[a..a + r.size as usize])
        })
    }

    fn put(&mut self, k: usize, reg: Reg, v: i64) {
        if let Some(r) = self.model.register(reg) {
            let a = r.addr as usize;
            self.model.encode(r, v, &mut self.servos[k].regs[a..a + r.size as usize]);
        }
    }

    /// Refresh the present-state registers of servo `k` from physics.
    fn refresh(&mut self, k: usize) {
        let (q, v) = {
            let p = lock(&self.physics);
            (p.positions[k], p.velocities[k])
        };
        let j = self.factory.joints[k].clone();
        let (raw, _) = j.to_ticks(q, self.factory.resolution, self.travel);
        let raw = match j.kind {
            // Beyond the factory range the servo still reads where it is.
            JointKind::Revolute => (j.zero_ticks()
                + q * f64::from(self.factory.resolution) / std::f64::consts::TAU)
                .round() as i64,
            JointKind::Gripper => raw,
        };
        let offset = self.reg_value(k, Reg::HomingOffset);
        self.put(k, Reg::PresentPosition, raw + self.mount[k] - offset);
        let per = match j.kind {
            JointKind::Revolute => f64::from(self.factory.resolution) / std::f64::consts::TAU,
            JointKind::Gripper => f64::from(j.range_max - j.range_min) / self.travel.max(1e-9),
        };
        let ticks_per_s = v * per;
        let vel = match self.bus_protocol() {
            Protocol::Feetech => ticks_per_s,
            // 0.229 rpm units.
            Protocol::Dynamixel => ticks_per_s * 60.0 / f64::from(self.factory.resolution) / 0.229,
        };
        self.put(k, Reg::PresentVelocity, vel.round() as i64);
        let hot = self.faults.overheat.contains(&self.servos[k].id);
        self.put(k, Reg::PresentTemperature, if hot { 80 } else { 35 });
    }

    fn reply_read(&mut self, p: Protocol, k: usize, addr: u16, n: u16) {
        self.refresh(k);
        let (a, n) = (addr as usize, n as usize);
        if a + n > 256 {
            if p == Protocol::Dynamixel {
                let s = self.servos[k].id;
                p.status(s, 4, &[], &mut self.tx);
            }
            return;
        }
        let data: [u8; 256] = self.servos[k].regs;
        self.status(p, k, &data[a..a + n]);
    }

    /// Write registers; returns false for an address with no register.
    fn write_regs(&mut self, k: usize, addr: u16, data: &[u8]) -> bool {
        let a = addr as usize;
        if a + data.len() > 256 || self.model.at(addr).is_none() {
            return false;
        }
        self.servos[k].regs[a..a + data.len()].copy_from_slice(data);
        // Read-only registers keep their values.
        self.put(k, Reg::ModelNumber, i64::from(self.model.number));
        let torque = self.reg_value(k, Reg::TorqueEnable) != 0;
        let goal = self.reg_value(k, Reg::GoalPosition);
        let offset = self.reg_value(k, Reg::HomingOffset);
        let (lo, hi) = (self.reg_value(k, Reg::MinPosition), self.reg_value(k, Reg::MaxPosition));
        let touches = |reg: Reg| {
            self.model.register(reg).is_some_and(|r| {
                a < (r.addr + r.size) as usize && (r.addr as usize) < a + data.len()
            })
        };
        let goal_written = touches(Reg::GoalPosition);
        let torque_written = touches(Reg::TorqueEnable);
        let j = &self.factory.joints[k];
        let mut p = lock(&self.physics);
        if torque_written {
            p.torque[k] = torque;
        }
        if (goal_written || torque_written) && p.torque[k] {
            // As a servo does: with torque on, it goes to its goal register (clamped to its
            // limits, shifted by its homing offset).
            let raw = goal.clamp(lo, hi) + offset - self.mount[k];
            p.goals[k] = j.to_joint(raw, self.factory.resolution, self.travel);
        }
        true
    }

    fn send_reply(&mut self, request_len: usize) {
        if self.faults.drop > 0.0 && self.rng.f64() < self.faults.drop {
            return;
        }
        if self.faults.corrupt > 0.0 && self.rng.f64() < self.faults.corrupt && !self.tx.is_empty()
        {
            let at = self.rng.index(self.tx.len());
            self.tx[at] ^= 1 << self.rng.index(8);
        }
        if self.faults.delay > 0.0 && self.rng.f64() < self.faults.delay {
            std::thread::sleep(Duration::from_millis(self.faults.delay_ms));
        }
        if let Some(baud) = self.baud {
            // 10 bits per byte on the line, request then reply.
            let secs = (request_len + self.tx.len()) as f64 * 10.0 / f64::from(baud.max(1));
            let until = Instant::now() + Duration::from_secs_f64(secs);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        let _ = self.transport.write_all(&self.tx);
    }

    // ---- spelunk-wire firmware ----

    fn wire_send(&mut self, msg: &wire::Message) {
        let mut frame = [0u8; wire::MAX_FRAME];
        if let Ok(n) = wire::encode(msg, &mut frame) {
            self.tx.extend_from_slice(&frame[..n]);
        }
    }

    fn wire_states(&mut self) {
        let p = lock(&self.physics);
        let mut s = wire::JointStates {
            seq: self.last_seq,
            timestamp_us: self.started.elapsed().as_micros() as u64,
            n: p.positions.len().min(wire::MAX_JOINTS) as u8,
            joints: [wire::JointState::default(); wire::MAX_JOINTS],
        };
        let holding = self.target_deadline.is_none();
        for (k, j) in s.joints.iter_mut().enumerate().take(s.n as usize) {
            let mut flags = 0;
            if !p.torque[k] {
                flags |= wire::flags::TORQUE_OFF;
            }
            if holding {
                flags |= wire::flags::HOLDING;
            }
            if self.estop {
                flags |= wire::flags::ESTOP;
            }
            if self.faults.overheat.contains(&((k + 1) as u8)) {
                flags |= wire::flags::OVERHEAT;
            }
            *j = wire::JointState {
                position: p.positions[k] as f32,
                velocity: p.velocities[k] as f32,
                load: 0,
                temperature: if flags & wire::flags::OVERHEAT != 0 { 80 } else { 35 },
                flags,
            };
        }
        drop(p);
        self.wire_send(&wire::Message::JointStates(s));
    }

    fn wire_watchdog(&mut self) {
        if let Some(d) = self.target_deadline {
            if Instant::now() > d {
                // Targets expired: hold where the arm is.
                self.target_deadline = None;
                let mut p = lock(&self.physics);
                let p = &mut *p;
                p.goals.clone_from(&p.positions);
            }
        }
    }

    fn on_wire(&mut self, msg: std::result::Result<wire::Message, wire::WireError>) {
        self.tx.clear();
        if !self.said_hello {
            self.said_hello = true;
            let n = lock(&self.physics).positions.len() as u8;
            self.wire_send(&wire::Message::Hello(wire::Hello {
                firmware: 1,
                device_id: 0x5E1_0001,
                joints: n,
            }));
        }
        match msg {
            Err(_) => self.wire_send(&wire::Message::Fault(wire::Fault {
                code: wire::FaultCode::BadFrame,
                joint: 0xFF,
                detail: 0,
            })),
            Ok(wire::Message::Heartbeat { .. }) => self.wire_states(),
            Ok(wire::Message::JointTargets(t)) => {
                if self.estop {
                    self.wire_send(&wire::Message::Fault(wire::Fault {
                        code: wire::FaultCode::EStop,
                        joint: 0xFF,
                        detail: 0,
                    }));
                } else {
                    let mut clipped = None;
                    {
                        let mut p = lock(&self.physics);
                        let n = (t.n as usize).min(p.goals.len());
                        for k in 0..n {
                            let mut q = f64::from(t.positions[k]);
                            if let Some(l) = &self.limits {
                                if k < l.n as usize {
                                    let c = q.clamp(
                                        f64::from(l.joints[k].lower),
                                        f64::from(l.joints[k].upper),
                                    );
                                    if c.to_bits() != q.to_bits() {
                                        clipped = Some(k as u8);
                                    }
                                    q = c;
                                }
                            }
                            p.goals[k] = q;
                            p.torque[k] = true;
                        }
                    }
                    self.last_seq = t.seq;
                    self.target_deadline =
                        Some(Instant::now() + Duration::from_micros(u64::from(t.deadline_us)));
                    if let Some(j) = clipped {
                        self.wire_send(&wire::Message::Fault(wire::Fault {
                            code: wire::FaultCode::Limit,
                            joint: j,
                            detail: 0,
                        }));
                    }
                }
            }
            Ok(wire::Message::EStop { .. }) => {
                self.estop = true;
                self.target_deadline = None;
                {
                    let mut p = lock(&self.physics);
                    let p = &mut *p;
                    p.goals.clone_from(&p.positions);
                }
                self.wire_send(&wire::Message::Fault(wire::Fault {
                    code: wire::FaultCode::EStop,
                    joint: 0xFF,
                    detail: 0,
                }));
            }
            Ok(wire::Message::Reset) => self.estop = false,
            Ok(wire::Message::Limits(l)) => self.limits = Some(l),
            Ok(_) => {}
        }
        if !self.tx.is_empty() {
            self.send_reply(0);
        }
    }
}
