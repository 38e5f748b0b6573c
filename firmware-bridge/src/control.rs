//! The control loop: a thread of its own (`spelunk-bridge-io`) that, at a fixed rate, reads
//! the arm, takes the newest command, makes it safe and sends it — whatever the policy is doing.
//! A slow or crashed policy can only make its commands stale, which the watchdog catches.
//!
//! [`ArmLoop::tick`] is one period's work and allocates nothing (the log line is written
//! into a buffer); [`Bridge`] runs it on the thread and is the policy's handle: send
//! commands, read state, e-stop, reset, stop.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::arm::Joints;
use crate::error::{Error, Result};
use crate::robot::RobotSpec;
use crate::safety::{SafetyConfig, StopAction};

/// What the arm is doing, as the policy sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArmState {
    /// Measured positions at the last tick.
    pub positions: Vec<f64>,
    /// Targets sent at the last tick.
    pub sent: Vec<f64>,
    /// Ticks so far.
    pub tick: u64,
    /// The latched e-stop's reason.
    pub estop: Option<String>,
    /// The watchdog is holding the arm.
    pub watchdog: bool,
    /// Things that happened (watchdog fired, e-stop, recovered, device faults), oldest first.
    pub events: Vec<String>,
}

#[derive(Default)]
struct Command {
    targets: Vec<f64>,
    at: Option<Instant>,
}

struct Shared {
    command: Mutex<Command>,
    state: Mutex<ArmState>,
    estop: Mutex<Option<String>>,
    reset: AtomicBool,
    stop: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave these plain values half-written in a way that matters.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Timing of the loop, µs per tick (kept for the first `capacity` ticks).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoopTimes {
    /// Read (a sync read's round trip).
    pub read_us: Vec<u32>,
    /// The whole tick (read, safety, write, log).
    pub tick_us: Vec<u32>,
    /// How late each tick started against its schedule.
    pub late_us: Vec<u32>,
}

/// The loop's work for one arm.
pub struct ArmLoop {
    joints: Box<dyn Joints>,
    spec: RobotSpec,
    safety: SafetyConfig,
    period: Duration,
    shared: Arc<Shared>,
    present: Vec<f64>,
    sent: Vec<f64>,
    want: Vec<f64>,
    ramp_from: Instant,
    last: Option<Instant>,
    failed_reads: u32,
    watchdog: bool,
    stopped: bool,
    torque: bool,
    tick: u64,
    log: Option<BufWriter<File>>,
    started: Instant,
    /// Timings.
    pub times: LoopTimes,
    capacity: usize,
}

impl ArmLoop {
    /// Start: read where the arm is, make that the target, then turn torque on (so nothing
    /// moves), at `hz` ticks per second; `log` gets one JSON line per tick with what was sent.
    ///
    /// # Errors
    /// Bad settings, a first read that fails, or a log that cannot be created.
    pub fn new(
        mut joints: Box<dyn Joints>,
        spec: RobotSpec,
        safety: SafetyConfig,
        hz: f64,
        log: Option<&Path>,
    ) -> Result<Self> {
        safety.check().map_err(|m| Error::config("safety", m))?;
        if !(hz > 0.0 && hz <= 2000.0) {
            return Err(Error::config("hz", format!("{hz} (above 0, at most 2000)")));
        }
        let n = spec.joints.len();
        let mut present = vec![0.0; n];
        joints.read(&mut present)?;
        if let Some(k) = present.iter().position(|p| !p.is_finite()) {
            return Err(Error::Safety(format!(
                "joint {} reads {}",
                spec.joints[k].name, present[k]
            )));
        }
        joints.write(&present)?;
        joints.torque(true)?;
        let log = match log {
            None => None,
            Some(p) => Some(BufWriter::new(
                File::create(p)
                    .map_err(|e| Error::config("log", format!("{}: {e}", p.display())))?,
            )),
        };
        let now = Instant::now();
        let state =
            ArmState { positions: present.clone(), sent: present.clone(), ..ArmState::default() };
        let capacity = 1 << 20;
        Ok(Self {
            joints,
            safety,
            period: Duration::from_secs_f64(1.0 / hz),
            shared: Arc::new(Shared {
                command: Mutex::new(Command { targets: present.clone(), at: None }),
                state: Mutex::new(state),
                estop: Mutex::new(None),
                reset: AtomicBool::new(false),
                stop: AtomicBool::new(false),
            }),
            sent: present.clone(),
            want: present.clone(),
            present,
            spec,
            ramp_from: now,
            last: None,
            failed_reads: 0,
            watchdog: false,
            stopped: false,
            torque: true,
            tick: 0,
            log,
            started: now,
            times: LoopTimes {
                read_us: Vec::with_capacity(capacity),
                tick_us: Vec::with_capacity(capacity),
                late_us: Vec::with_capacity(capacity),
            },
            capacity,
        })
    }

    /// A handle for the policy's side (commands, state, e-stop).
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle { shared: Arc::clone(&self.shared), joints: self.spec.joints.len() }
    }

    fn event(&mut self, what: &str) {
        let t = self.started.elapsed().as_secs_f64();
        lock(&self.shared.state).events.push(format!("{t:.3} s: {what}"));
        if let Some(log) = self.log.as_mut() {
            // The log is best effort: a full disk must not stop the safety layer.
            let _ = writeln!(log, "{{\"t\":{t:.6},\"event\":{what:?}}}");
        }
    }

    fn stop_action(&mut self, action: StopAction) -> Result<()> {
        match action {
            StopAction::Hold => {
                // Hold where the arm is measured, not where it was going.
                self.sent.copy_from_slice(&self.present);
                self.joints.write(&self.sent)?;
            }
            StopAction::TorqueOff => {
                self.joints.torque(false)?;
                self.torque = false;
            }
        }
        Ok(())
    }

    fn resume(&mut self, now: Instant) -> Result<()> {
        self.sent.copy_from_slice(&self.present);
        if !self.torque {
            self.joints.write(&self.sent)?;
            self.joints.torque(true)?;
            self.torque = true;
        }
        self.ramp_from = now;
        Ok(())
    }

    /// One period: read, check e-stop and watchdog, make the newest command safe, send it,
    /// log it, publish the state.
    ///
    /// # Errors
    /// A read or write that failed (the loop goes on: `max_failed_reads` failures in a row
    /// latch the e-stop).
    pub fn tick(&mut self, now: Instant) -> Result<()> {
        let r = self.tick_inner(now);
        if let Err(e) = &r {
            self.failed_reads += 1;
            if self.failed_reads >= self.safety.max_failed_reads {
                let mut estop = lock(&self.shared.estop);
                if estop.is_none() {
                    *estop = Some(format!("the arm stopped answering: {e}"));
                }
            }
        } else {
            self.failed_reads = 0;
        }
        r
    }

    fn tick_inner(&mut self, now: Instant) -> Result<()> {
        self.tick += 1;
        let t0 = Instant::now();
        self.joints.read(&mut self.present)?;
        let read_us = t0.elapsed().as_micros() as u32;
        // A servo reporting a fault (overheating, overload, voltage) latches the e-stop.
        let faults = self.joints.faults();
        if !faults.is_empty() {
            let mut estop = lock(&self.shared.estop);
            if estop.is_none() {
                *estop = Some(format!("the arm reports {}", faults.join("; ")));
            }
        }
        if let Some(k) = self.present.iter().position(|p| !p.is_finite()) {
            let mut estop = lock(&self.shared.estop);
            if estop.is_none() {
                *estop =
                    Some(format!("joint {} reads {}", self.spec.joints[k].name, self.present[k]));
            }
        }
        if self.shared.reset.swap(false, Ordering::SeqCst) && self.stopped {
            self.stopped = false;
            self.resume(now)?;
            self.event("e-stop reset");
        }
        let estop = lock(&self.shared.estop).clone();
        if let Some(reason) = estop {
            if !self.stopped {
                self.stopped = true;
                self.event(&format!("e-stop: {reason}"));
                let _ = self.joints.estop();
                self.stop_action(self.safety.on_estop)?;
            }
            self.publish();
            return Ok(());
        }
        let fresh = {
            let cmd = lock(&self.shared.command);
            let fresh = cmd.at.is_some_and(|at| {
                now.saturating_duration_since(at) <= Duration::from_millis(self.safety.watchdog_ms)
            });
            if fresh {
                self.want.copy_from_slice(&cmd.targets);
            }
            (fresh, cmd.at.is_some())
        };
        match fresh {
            (false, true) if !self.watchdog => {
                self.watchdog = true;
                self.stop_action(self.safety.on_watchdog)?;
                self.event(&format!("watchdog: no command for {} ms", self.safety.watchdog_ms));
            }
            (true, _) if self.watchdog => {
                self.watchdog = false;
                self.resume(now)?;
                self.event("commands resumed");
            }
            _ => {}
        }
        let mut clipped = 0;
        if !self.watchdog && fresh.0 {
            let dt = self.last.map_or(self.period, |l| now.saturating_duration_since(l));
            let dt = dt.min(self.period * 2).as_secs_f64();
            let ramp = if self.safety.ramp_secs > 0.0 {
                (now.saturating_duration_since(self.ramp_from).as_secs_f64()
                    / self.safety.ramp_secs)
                    .clamp(0.1, 1.0)
            } else {
                1.0
            };
            clipped = self.safety.step(&self.spec.joints, &self.want, &mut self.sent, dt, ramp);
        }
        if self.torque {
            clipped |= self.joints.write(&self.sent)?;
        }
        self.last = Some(now);
        if let Some(log) = self.log.as_mut() {
            let t = now.saturating_duration_since(self.started).as_secs_f64();
            let _ = write!(log, "{{\"t\":{t:.6},\"tick\":{},\"sent\":[", self.tick);
            for (k, s) in self.sent.iter().enumerate() {
                let _ = write!(log, "{}{s:.6}", if k == 0 { "" } else { "," });
            }
            let _ = writeln!(log, "],\"clipped\":{clipped}}}");
        }
        self.publish();
        if self.times.tick_us.len() < self.capacity {
            self.times.read_us.push(read_us);
            self.times.tick_us.push(t0.elapsed().as_micros() as u32);
        }
        Ok(())
    }

    fn publish(&mut self) {
        let mut s = lock(&self.shared.state);
        s.positions.copy_from_slice(&self.present);
        s.sent.copy_from_slice(&self.sent);
        s.tick = self.tick;
        s.watchdog = self.watchdog;
        s.estop.clone_from(&lock(&self.shared.estop));
    }

    /// Run ticks at the loop's rate until the handle asks it to stop; then hold and, with
    /// `torque_off_at_end`, drop torque.
    ///
    /// # Errors
    /// A tick that could not stop the arm.
    pub fn run(mut self, torque_off_at_end: bool) -> Result<LoopTimes> {
        let mut next = Instant::now();
        while !self.shared.stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now < next {
                let left = next - now;
                if left > Duration::from_micros(200) {
                    std::thread::sleep(left.saturating_sub(Duration::from_micros(150)));
                }
                while Instant::now() < next {
                    std::hint::spin_loop();
                }
            }
            let now = Instant::now();
            if self.times.late_us.len() < self.capacity {
                self.times.late_us.push(now.saturating_duration_since(next).as_micros() as u32);
            }
            // A failed tick is counted (and latches the e-stop when they persist); the loop
            // keeps reading, so a port that comes back is seen.
            let _ = self.tick(now);
            next += self.period;
            if next < Instant::now() {
                // Fell behind (a stalled port): start the schedule again rather than burst.
                next = Instant::now() + self.period;
            }
        }
        // Hold where the arm is measured (a reply lost now is retried; if the arm cannot be
        // read at all, it holds its last targets).
        let mut read = self.joints.read(&mut self.present);
        for _ in 1..self.safety.max_failed_reads {
            if read.is_ok() {
                break;
            }
            read = self.joints.read(&mut self.present);
        }
        if read.is_ok() {
            self.sent.copy_from_slice(&self.present);
        }
        self.joints.write(&self.sent)?;
        read?;
        if torque_off_at_end {
            self.joints.torque(false)?;
        }
        if let Some(mut log) = self.log.take() {
            let _ = log.flush();
        }
        Ok(self.times)
    }

    /// Run the loop on its own thread.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(self, torque_off_at_end: bool) -> Result<Bridge> {
        let handle = self.handle();
        let thread = std::thread::Builder::new()
            .name("spelunk-bridge-io".into())
            .spawn(move || self.run(torque_off_at_end))
            .map_err(|e| Error::config("bridge", format!("cannot start its thread: {e}")))?;
        Ok(Bridge { handle, thread: Some(thread) })
    }
}

/// The policy's side of the loop.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
    joints: usize,
}

impl Handle {
    /// Send targets, one per joint. Refused (and nothing changes; the watchdog will hold the
    /// arm if no good command follows) when one is not finite or the count is wrong.
    ///
    /// # Errors
    /// A non-finite target (named) or the wrong count.
    pub fn command(&self, targets: &[f64]) -> Result<()> {
        if targets.len() != self.joints {
            return Err(Error::Safety(format!(
                "{} targets for {} joints: refused",
                targets.len(),
                self.joints
            )));
        }
        if let Some(k) = targets.iter().position(|t| !t.is_finite()) {
            return Err(Error::Safety(format!("target {k} is {}: refused", targets[k])));
        }
        let mut c = lock(&self.shared.command);
        c.targets.clear();
        c.targets.extend_from_slice(targets);
        c.at = Some(Instant::now());
        Ok(())
    }

    /// The arm's state at the last tick.
    #[must_use]
    pub fn state(&self) -> ArmState {
        let mut s = lock(&self.shared.state).clone();
        s.estop.clone_from(&lock(&self.shared.estop));
        s
    }

    /// Latch the e-stop (the first reason stays).
    pub fn estop(&self, reason: &str) {
        let mut e = lock(&self.shared.estop);
        if e.is_none() {
            *e = Some(reason.to_owned());
        }
    }

    /// Clear a latched e-stop; the arm resumes from where it is measured, with a ramp.
    pub fn reset(&self) {
        *lock(&self.shared.estop) = None;
        lock(&self.shared.command).at = None;
        self.shared.reset.store(true, Ordering::SeqCst);
    }

    /// Ask the loop to stop.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// The loop running on its thread.
pub struct Bridge {
    /// The policy's handle.
    pub handle: Handle,
    thread: Option<JoinHandle<Result<LoopTimes>>>,
}

impl Bridge {
    /// Stop the loop (the arm holds where it is) and return its timings.
    ///
    /// # Errors
    /// The loop failed to stop the arm, or its thread panicked.
    pub fn stop(mut self) -> Result<LoopTimes> {
        self.handle.stop();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::Safety("the control thread panicked".into())),
            None => Ok(LoopTimes::default()),
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
