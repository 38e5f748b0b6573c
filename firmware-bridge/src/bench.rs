//! The control-loop benchmark: the loop driving the simulated arm over a pseudo-terminal, as
//! it would a USB-serial adapter, at several rates — how long a tick takes (a sync read of
//! every servo, the safety layer, a sync write, the log line), how long the sync read's round
//! trip alone takes, and how late ticks start against their schedule.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::arm::ServoArm;
use crate::control::ArmLoop;
use crate::error::Result;
use crate::safety::SafetyConfig;
use crate::servo::{Protocol, ServoBus, STS3215, XL330_M288};
use crate::sim::{Sim, SimConfig, SimProtocol};
use crate::transport::Serial;
use crate::twin::{Controller, Sine};

/// What to measure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopBenchConfig {
    /// The simulated arm (its protocol: Feetech or Dynamixel).
    pub sim: SimConfig,
    /// Loop rates, Hz.
    pub rates_hz: Vec<f64>,
    /// Seconds per window.
    pub seconds: f64,
    /// Windows per rate, each a fresh simulated arm and loop; the report gives the median
    /// window and the spread of the windows' 99th percentiles (this machine is shared and
    /// noisy).
    pub windows: usize,
    /// Commands per second from the policy side (a sine test pattern).
    pub policy_hz: f64,
}

impl Default for LoopBenchConfig {
    fn default() -> Self {
        Self {
            sim: SimConfig::default(),
            rates_hz: vec![100.0, 500.0, 1000.0],
            seconds: 2.0,
            windows: 5,
            policy_hz: 30.0,
        }
    }
}

/// Percentiles of one quantity, µs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Largest.
    pub max: u32,
}

/// Median, 99th percentile and largest of `v` (zeros when empty).
#[must_use]
pub fn spread(v: &[u32]) -> Spread {
    if v.is_empty() {
        return Spread::default();
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let at = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
    Spread { p50: at(0.5), p99: at(0.99), max: s[s.len() - 1] }
}

/// One window's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopWindow {
    /// Ticks measured.
    pub ticks: usize,
    /// Ticks per second achieved.
    pub achieved_hz: f64,
    /// A whole tick, µs.
    pub tick_us: Spread,
    /// The sync read's round trip, µs.
    pub read_us: Spread,
    /// How late ticks started, µs (jitter).
    pub late_us: Spread,
    /// Ticks whose work took longer than the period.
    pub overruns: usize,
}

/// One rate: its windows, and the window whose tick p99 is the median.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopBenchRow {
    /// Loop rate, Hz.
    pub hz: f64,
    /// The median window (by its tick p99).
    pub median: LoopWindow,
    /// The smallest and largest tick p99 of the windows, µs.
    pub tick_p99_range_us: [u32; 2],
    /// Every window.
    pub windows: Vec<LoopWindow>,
}

/// The benchmark's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoopBenchReport {
    /// The settings.
    pub config: LoopBenchConfig,
    /// Servos on the bus.
    pub servos: usize,
    /// The machine (cores, CPU model).
    pub machine: String,
    /// A note (the command and commit that made it).
    pub note: String,
    /// One row per rate.
    pub rows: Vec<LoopBenchRow>,
}

/// The machine, for reports: cores and CPU model.
pub use spelunk_core::provenance::machine;

/// Run the benchmark; `progress` hears each rate as it starts.
///
/// # Errors
/// The simulated arm or the loop could not start.
pub fn run(
    config: &LoopBenchConfig,
    note: &str,
    progress: &mut dyn FnMut(f64),
) -> Result<LoopBenchReport> {
    let protocol = match config.sim.protocol {
        SimProtocol::Dynamixel => Protocol::Dynamixel,
        _ => Protocol::Feetech,
    };
    let sim_cfg = SimConfig {
        protocol: if protocol == Protocol::Dynamixel {
            SimProtocol::Dynamixel
        } else {
            SimProtocol::Feetech
        },
        ..config.sim.clone()
    };
    let mut rows = Vec::new();
    let mut servos = 0;
    for &hz in &config.rates_hz {
        progress(hz);
        let mut windows = Vec::new();
        for _ in 0..config.windows.max(1) {
            let (w, n) = window(config, &sim_cfg, protocol, hz)?;
            servos = n;
            windows.push(w);
        }
        let mut by_p99 = windows.clone();
        by_p99.sort_by_key(|w| w.tick_us.p99);
        let median = by_p99[by_p99.len() / 2].clone();
        let range = [by_p99[0].tick_us.p99, by_p99[by_p99.len() - 1].tick_us.p99];
        rows.push(LoopBenchRow { hz, median, tick_p99_range_us: range, windows });
    }
    Ok(LoopBenchReport {
        config: config.clone(),
        servos,
        machine: machine(),
        note: note.to_owned(),
        rows,
    })
}

/// One window: a fresh simulated arm and loop at `hz` for `config.seconds`.
fn window(
    config: &LoopBenchConfig,
    sim_cfg: &SimConfig,
    protocol: Protocol,
    hz: f64,
) -> Result<(LoopWindow, usize)> {
    let sim = Sim::start_pty(sim_cfg)?;
    let servos = sim.spec.joints.len();
    let bus = ServoBus::new(Box::new(Serial::open(&sim.port, 1_000_000)?), protocol);
    let model = if protocol == Protocol::Dynamixel { XL330_M288 } else { STS3215 };
    let arm =
        ServoArm::connect(bus, model, sim.spec.default_calibration(model.resolution), &sim.spec)?;
    let log =
        std::env::temp_dir().join(format!("spelunk-bridge-bench-{}.jsonl", std::process::id()));
    let l = ArmLoop::new(Box::new(arm), sim.spec.clone(), SafetyConfig::default(), hz, Some(&log))?;
    let bridge = l.spawn(false)?;
    let mut policy = Sine::new(sim.spec.clone(), 0.1, 4.0);
    let mut out = vec![0.0; servos];
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / config.policy_hz);
    while start.elapsed().as_secs_f64() < config.seconds {
        let s = bridge.handle.state();
        policy.targets(&s.positions, &mut out)?;
        bridge.handle.command(&out)?;
        std::thread::sleep(period);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let times = bridge.stop()?;
    let period_us = (1e6 / hz) as u32;
    let w = LoopWindow {
        ticks: times.tick_us.len(),
        achieved_hz: times.tick_us.len() as f64 / elapsed,
        tick_us: spread(&times.tick_us),
        read_us: spread(&times.read_us),
        late_us: spread(&times.late_us),
        overruns: times.tick_us.iter().filter(|&&t| t > period_us).count(),
    };
    sim.stop();
    let _ = std::fs::remove_file(&log);
    Ok((w, servos))
}

impl LoopBenchReport {
    /// The report as Markdown, its sentences computed from the rows.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let protocol = format!("{:?}", self.config.sim.protocol).to_lowercase();
        let _ = writeln!(s, "# Bridge control loop over a pseudo-terminal\n");
        let _ = writeln!(
            s,
            "The control loop driving the simulated `{}` arm ({} {} servos) over a pty, {} s per \
             rate, a sine test pattern commanded at {} Hz. A tick is a sync read of every \
             servo, the safety layer, a sync write and a log line. {}; {}.\n",
            self.config.sim.robot,
            self.servos,
            protocol,
            self.config.seconds,
            self.config.policy_hz,
            self.machine,
            self.note
        );
        let _ = writeln!(
            s,
            "Each rate is measured in {} windows of {} s, each with a fresh simulated arm and \
             loop; the table shows the window with the median tick p99, and the range of the \
             windows' tick p99.\n",
            self.config.windows, self.config.seconds
        );
        let _ = writeln!(
            s,
            "| rate (Hz) | achieved (Hz) | tick p50 / p99 / max (µs) | tick p99 over windows (µs) | sync read p50 / p99 (µs) | late p50 / p99 (µs) | overruns |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for r in &self.rows {
            let m = &r.median;
            let _ = writeln!(
                s,
                "| {} | {:.1} | {} / {} / {} | {}–{} | {} / {} | {} / {} | {} of {} |",
                r.hz,
                m.achieved_hz,
                m.tick_us.p50,
                m.tick_us.p99,
                m.tick_us.max,
                r.tick_p99_range_us[0],
                r.tick_p99_range_us[1],
                m.read_us.p50,
                m.read_us.p99,
                m.late_us.p50,
                m.late_us.p99,
                m.overruns,
                m.ticks
            );
        }
        if let Some(top) = self.rows.iter().max_by(|a, b| a.hz.total_cmp(&b.hz)) {
            let p99 = top.median.tick_us.p99;
            let verdict = if p99 < 1000 { "under" } else { "over" };
            let below = top.windows.iter().filter(|w| w.tick_us.p99 < 1000).count();
            let _ = writeln!(
                s,
                "\nAt {} Hz the median window's tick p99 is {p99} µs, {verdict} 1 ms; {below} of {} \
                 windows are under 1 ms.",
                top.hz,
                top.windows.len()
            );
        }
        s
    }
}
