//! The safety layer, on by default: every target the arm receives has been through it.
//!
//! - targets must be finite and one per joint, or the command is refused (the arm holds);
//! - each target is clipped into the joint's limits, less a margin;
//! - each target moves at most `velocity_scale` × the joint's top speed per second, and at
//!   most `max_step_fraction` of its range per control tick;
//! - for `ramp_secs` after start, a reset or a watchdog recovery the speed limit grows from
//!   10 % to 100 %, starting from the positions *measured* then — the arm never jumps;
//! - a watchdog: when commands stop for `watchdog_ms`, the arm holds its last safe targets
//!   (or drops torque, `on_watchdog = "torque_off"`), and recovers with a ramp when they
//!   resume;
//! - a latched e-stop (a call, Ctrl-C, a key, a device's fault, a port that stops answering)
//!   holds the arm where it is measured (or drops torque) until an explicit reset.

use serde::{Deserialize, Serialize};

use crate::robot::JointSpec;

/// What the arm does when the watchdog fires or the e-stop latches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopAction {
    /// Keep torque on and hold position (an arm under gravity stays up).
    #[default]
    Hold,
    /// Turn torque off (the arm goes limp; it may fall).
    TorqueOff,
}

/// The safety settings (`[safety]` in a bridge config; every default is safe).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SafetyConfig {
    /// Fraction of each joint's range kept clear at both ends.
    pub margin: f64,
    /// Fraction of each joint's top speed (the URDF's) a target may move per second.
    pub velocity_scale: f64,
    /// Fraction of each joint's range a target may move in one control tick.
    pub max_step_fraction: f64,
    /// Commands older than this fire the watchdog, ms.
    pub watchdog_ms: u64,
    /// What the watchdog does.
    pub on_watchdog: StopAction,
    /// What the e-stop does.
    pub on_estop: StopAction,
    /// Seconds over which the speed limit ramps up after start, reset or recovery.
    pub ramp_secs: f64,
    /// Consecutive failed reads before the port counts as lost (an e-stop).
    pub max_failed_reads: u32,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        Self {
            margin: 0.02,
            velocity_scale: 0.5,
            max_step_fraction: 0.05,
            watchdog_ms: 250,
            on_watchdog: StopAction::Hold,
            on_estop: StopAction::Hold,
            ramp_secs: 1.0,
            max_failed_reads: 5,
        }
    }
}

impl SafetyConfig {
    /// Settings a user could not have meant.
    ///
    /// # Errors
    /// The first such setting, by name.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..0.5).contains(&self.margin) {
            return Err(format!("margin = {} (0 to 0.5)", self.margin));
        }
        if !(self.velocity_scale > 0.0 && self.velocity_scale <= 1.0) {
            return Err(format!("velocity_scale = {} (above 0, at most 1)", self.velocity_scale));
        }
        if !(self.max_step_fraction > 0.0 && self.max_step_fraction <= 1.0) {
            return Err(format!(
                "max_step_fraction = {} (above 0, at most 1)",
                self.max_step_fraction
            ));
        }
        if self.watchdog_ms == 0 || self.watchdog_ms > 10_000 {
            return Err(format!("watchdog_ms = {} (1 to 10000)", self.watchdog_ms));
        }
        if !(0.0..=60.0).contains(&self.ramp_secs) {
            return Err(format!("ramp_secs = {} (0 to 60)", self.ramp_secs));
        }
        if self.max_failed_reads == 0 {
            return Err("max_failed_reads = 0 (at least 1)".into());
        }
        Ok(())
    }

    /// Move `sent` toward `want` within every limit; `dt_secs` since the last tick, `ramp` in
    /// [0.1, 1]. Returns a bit per joint whose target was clipped by a limit.
    #[must_use]
    pub fn step(
        &self,
        joints: &[JointSpec],
        want: &[f64],
        sent: &mut [f64],
        dt_secs: f64,
        ramp: f64,
    ) -> u32 {
        let mut clipped = 0u32;
        for (k, ((j, &w), s)) in joints.iter().zip(want).zip(sent.iter_mut()).enumerate() {
            let range = j.upper - j.lower;
            let (lo, hi) = (j.lower + self.margin * range, j.upper - self.margin * range);
            let mut t = w.clamp(lo, hi);
            let max = (j.max_velocity * self.velocity_scale * dt_secs * ramp)
                .min(self.max_step_fraction * range);
            let d = t - *s;
            if d.abs() > max {
                t = *s + max.copysign(d);
            }
            if t.to_bits() != w.to_bits() {
                clipped |= 1 << k;
            }
            *s = t;
        }
        clipped
    }
}
