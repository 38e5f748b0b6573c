//! `spelunk bridge`: a policy on a robot arm over `spelunk_bridge` — a simulated arm on a
//! pseudo-terminal (`sim`), calibration (`calibrate`), a policy or test pattern driving an arm
//! (`run`), and the control-loop benchmark (`bench`).
//!
//! ```sh
//! spelunk bridge sim --protocol feetech                       # prints its pty's path
//! spelunk bridge calibrate --port /dev/ttyUSB0 --out so100.toml --record-secs 20
//! spelunk bridge run --port /dev/ttyUSB0 --calibration so100.toml --policy sine --dry-run
//! spelunk bridge run --port sim --policy runs/reach --hz 30 --seconds 20
//! spelunk bridge bench --out docs/results/bridge_loop
//! ```

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use spelunk_bridge::arm::{DryRun, Joints, ServoArm, WireArm};
use spelunk_bridge::calibration::Calibration;
use spelunk_bridge::control::{ArmLoop, ArmState};
use spelunk_bridge::robot::RobotSpec;
use spelunk_bridge::safety::SafetyConfig;
use spelunk_bridge::servo::{Model, Protocol, ServoBus};
use spelunk_bridge::sim::{Faults, Sim, SimConfig, SimProtocol, SimStart};
use spelunk_bridge::transport::{Serial, Transport, Udp};
use spelunk_bridge::twin::{self, Controller, Hold, Sine, Twin};

/// `spelunk bridge`.
#[derive(Args, Debug)]
pub struct BridgeArgs {
    #[command(subcommand)]
    command: BridgeCommand,
}

#[derive(Subcommand, Debug)]
enum BridgeCommand {
    /// Run a simulated arm answering on a pseudo-terminal (or UDP) until Ctrl-C.
    Sim(SimArgs),
    /// Calibrate an arm of servos (ids 1..n) and write the calibration file.
    Calibrate(CalibrateArgs),
    /// Drive an arm with a policy, the task's scripted controller or a test pattern.
    Run(RunArgs),
    /// Measure the control loop over a pty against the simulated arm.
    Bench(BenchArgs),
}

/// The simulated arm's settings.
#[derive(Args, Debug, Clone)]
struct SimOpts {
    /// The robot: `so100`, `fetch7` or a URDF file.
    #[arg(long, default_value = "so100")]
    robot: String,
    /// What the simulated device speaks: feetech, dynamixel or wire.
    #[arg(long, default_value = "feetech")]
    protocol: SimProtocol,
    /// Where the arm starts: home or zero.
    #[arg(long, default_value = "home")]
    start: SimStart,
    /// Each servo's horn offset from the factory, ticks, comma-separated (an arm to calibrate).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    mount_offsets: Vec<i32>,
    /// Emulate a serial line at this many bits/s.
    #[arg(long)]
    baud: Option<u32>,
    /// Probability of a dropped reply.
    #[arg(long, default_value_t = 0.0)]
    drop: f64,
    /// Probability of a corrupted reply.
    #[arg(long, default_value_t = 0.0)]
    corrupt: f64,
    /// Probability of a delayed reply, and the delay (ms).
    #[arg(long, default_value_t = 0.0)]
    delay: f64,
    #[arg(long, default_value_t = 50)]
    delay_ms: u64,
    /// Servo ids that never answer (comma-separated).
    #[arg(long, value_delimiter = ',')]
    silent: Vec<u8>,
    /// Servo ids that report overheating (comma-separated).
    #[arg(long, value_delimiter = ',')]
    overheat: Vec<u8>,
    /// The port disappears after this many ms.
    #[arg(long)]
    port_gone_after_ms: Option<u64>,
    /// Seed of the fault draws.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
}

impl SimOpts {
    fn config(&self) -> SimConfig {
        SimConfig {
            robot: self.robot.clone(),
            protocol: self.protocol,
            baud: self.baud,
            start: self.start,
            mount_offsets: self.mount_offsets.clone(),
            seed: self.fault_seed,
            faults: Faults {
                drop: self.drop,
                corrupt: self.corrupt,
                delay: self.delay,
                delay_ms: self.delay_ms,
                silent: self.silent.clone(),
                overheat: self.overheat.clone(),
                port_gone_after_ms: self.port_gone_after_ms,
            },
            ..SimConfig::default()
        }
    }
}

#[derive(Args, Debug)]
struct SimArgs {
    #[command(flatten)]
    sim: SimOpts,
    /// Listen on this UDP address instead of a pty (e.g. 127.0.0.1:9000).
    #[arg(long)]
    udp: Option<String>,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long)]
    seconds: Option<f64>,
}

/// Where the arm is and what it speaks.
#[derive(Args, Debug)]
struct PortOpts {
    /// `sim` (a simulated arm started here, on a pty), a serial port (`/dev/ttyUSB0`), or
    /// `udp:HOST:PORT` (a `spelunk-wire` firmware on the network).
    #[arg(long)]
    port: String,
    /// The robot: `so100`, `fetch7` or a URDF file.
    #[arg(long, default_value = "so100")]
    robot: String,
    /// feetech, dynamixel or wire.
    #[arg(long, default_value = "feetech")]
    protocol: SimProtocol,
    /// The servo model (default: sts3215 for feetech, xl330-m288 for dynamixel).
    #[arg(long)]
    model: Option<String>,
    /// Serial line speed, bits/s.
    #[arg(long, default_value_t = 1_000_000)]
    baud: u32,
}

#[derive(Args, Debug)]
struct CalibrateArgs {
    #[command(flatten)]
    port: PortOpts,
    /// Where to write the calibration (our TOML).
    #[arg(long)]
    out: PathBuf,
    /// Seconds to record each joint's range while you move it by hand (0: the URDF's limits).
    #[arg(long, default_value_t = 0.0)]
    record_secs: f64,
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    port: PortOpts,
    /// The calibration (ours or LeRobot's JSON; default: a fresh arm's, as the simulator's).
    #[arg(long)]
    calibration: Option<PathBuf>,
    /// `hold`, `sine`, `scripted` (the task's scripted controller), a training run folder, or
    /// an ONNX model (`spelunk export`'s, or one whose output is the task's actions).
    #[arg(long, default_value = "hold")]
    policy: String,
    /// The task of `scripted` (and of an ONNX model that does not name its own).
    #[arg(long, default_value = "Arm-Reach-v0")]
    env: String,
    /// Seed of the task's goal.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A run's policy samples its actions (default: its most likely action).
    #[arg(long)]
    sample: bool,
    /// Policy steps per second.
    #[arg(long, default_value_t = 30.0)]
    hz: f64,
    /// Control-loop ticks per second.
    #[arg(long, default_value_t = 100.0)]
    loop_hz: f64,
    /// Stop after this many seconds (default: at `q` or Ctrl-C).
    #[arg(long)]
    seconds: Option<f64>,
    /// Safety settings (TOML with the fields of `spelunk_bridge::safety::SafetyConfig`).
    #[arg(long)]
    safety: Option<PathBuf>,
    /// A JSON line per control tick: what was sent.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Read the arm and run the policy, but send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Turn torque off when stopping (default: hold).
    #[arg(long)]
    torque_off_at_end: bool,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// feetech or dynamixel.
    #[arg(long, default_value = "feetech")]
    protocol: SimProtocol,
    /// Loop rates, Hz.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100.0, 500.0, 1000.0])]
    rates: Vec<f64>,
    /// Seconds per window.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Windows per rate (the report gives the median window and the windows' spread).
    #[arg(long, default_value_t = 5)]
    windows: usize,
    /// Write `PREFIX.json` and `PREFIX.md`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A note for the report (the command and commit that made it).
    #[arg(long, default_value = "")]
    note: String,
    /// The simulated arm's physics steps per second.
    #[arg(long, default_value_t = 100)]
    physics_hz: u32,
}

/// Run `spelunk bridge`.
pub fn run(a: &BridgeArgs) -> Result<()> {
    match &a.command {
        BridgeCommand::Sim(s) => sim(s),
        BridgeCommand::Calibrate(c) => calibrate(c),
        BridgeCommand::Run(r) => drive(r),
        BridgeCommand::Bench(b) => bench(b),
    }
}

fn ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&flag));
    flag
}

fn sim(a: &SimArgs) -> Result<()> {
    let cfg = a.sim.config();
    let s = match &a.udp {
        Some(addr) => Sim::start_udp(&cfg, addr)?,
        None => Sim::start_pty(&cfg)?,
    };
    outln!("simulated {} ({:?}) on {}", cfg.robot, cfg.protocol, s.port);
    let names: Vec<&str> = s.spec.joints.iter().map(|j| j.name.as_str()).collect();
    outln!("servos 1..{}: {}", names.len(), names.join(", "));
    let stop = ctrl_c();
    let start = Instant::now();
    while !stop.load(Ordering::SeqCst)
        && a.seconds.is_none_or(|t| start.elapsed().as_secs_f64() < t)
    {
        std::thread::sleep(Duration::from_millis(50));
        if let (_, Some(e)) = s.steps() {
            bail!("the simulated arm failed: {e}");
        }
    }
    s.stop();
    Ok(())
}

fn model_of(p: &PortOpts) -> Result<Model> {
    let name = p.model.clone().unwrap_or_else(|| {
        if p.protocol == SimProtocol::Dynamixel { "xl330-m288" } else { "sts3215" }.into()
    });
    let m = Model::by_name(&name).with_context(|| {
        let known: Vec<&str> = spelunk_bridge::servo::MODELS.iter().map(|m| m.name).collect();
        format!("--model {name}: not a servo model the bridge knows ({})", known.join(", "))
    })?;
    Ok(m)
}

fn bus_protocol(p: SimProtocol) -> Result<Protocol> {
    match p {
        SimProtocol::Feetech => Ok(Protocol::Feetech),
        SimProtocol::Dynamixel => Ok(Protocol::Dynamixel),
        SimProtocol::Wire => bail!("a spelunk-wire firmware is calibrated on the device, not here"),
    }
}

/// Open the port; `sim` starts a simulated arm (kept alive by the returned handle).
fn open(p: &PortOpts, sim_cfg: SimConfig) -> Result<(Box<dyn Transport>, Option<Sim>)> {
    if p.port == "sim" {
        let s =
            Sim::start_pty(&SimConfig { robot: p.robot.clone(), protocol: p.protocol, ..sim_cfg })?;
        eprintln!("started a simulated {} ({:?}) on {}", p.robot, p.protocol, s.port);
        let t = Serial::open(&s.port, p.baud)?;
        return Ok((Box::new(t), Some(s)));
    }
    if let Some(addr) = p.port.strip_prefix("udp:") {
        return Ok((Box::new(Udp::connect("0.0.0.0:0", addr)?), None));
    }
    Ok((Box::new(Serial::open(&p.port, p.baud)?), None))
}

fn calibrate(a: &CalibrateArgs) -> Result<()> {
    let spec = RobotSpec::load(&a.port.robot)?;
    let protocol = bus_protocol(a.port.protocol)?;
    let model = model_of(&a.port)?;
    // The simulated arm for trying this out: horns off by a few hundred ticks, held at zero.
    let offsets: Vec<i32> = (0..spec.joints.len() as i32)
        .map(|k| 150 * (k + 1) * if k % 2 == 0 { 1 } else { -1 })
        .collect();
    let (t, _sim) = open(
        &a.port,
        SimConfig { start: SimStart::Zero, mount_offsets: offsets, ..SimConfig::default() },
    )?;
    let mut bus = ServoBus::new(t, protocol);
    outln!(
        "hold the arm at its zero pose ({}: every joint at the URDF's zero, gripper closed); torque goes off",
        spec.name
    );
    let record = Duration::from_secs_f64(a.record_secs.max(0.0));
    if !record.is_zero() {
        outln!("then move every joint through its whole range for {} s", a.record_secs);
    }
    let mut last = Instant::now();
    let cal = spelunk_bridge::arm::calibrate(&mut bus, model, &spec, record, &mut |ticks| {
        if last.elapsed() > Duration::from_millis(500) {
            last = Instant::now();
            outln!("  {ticks:?}");
        }
    })?;
    std::fs::write(&a.out, cal.to_toml())
        .with_context(|| format!("writing {}", a.out.display()))?;
    outln!("wrote {} ({} joints)", a.out.display(), cal.joints.len());
    for j in &cal.joints {
        outln!(
            "  {:>14}: id {}, homing offset {}, range {}..{}",
            j.name,
            j.id,
            j.homing_offset,
            j.range_min,
            j.range_max
        );
    }
    Ok(())
}

fn controller(a: &RunArgs, spec: &RobotSpec) -> Result<Box<dyn Controller>> {
    Ok(match a.policy.as_str() {
        "hold" => Box::new(Hold::new()),
        "sine" => Box::new(Sine::new(spec.clone(), 0.2, 4.0)),
        "scripted" => {
            let config = serde_json::json!({ "robot": { "urdf": spec.name } });
            Box::new(Twin::scripted(&a.env, &config, a.seed, spec)?)
        }
        p if std::path::Path::new(p).extension().is_some_and(|e| e == "onnx") => {
            onnx_twin(a, spec, p)?
        }
        p => {
            let dir = std::path::Path::new(p);
            if !dir.join("config.toml").is_file() {
                bail!(
                    "--policy {p}: not hold, sine, scripted or a training run folder (no {})",
                    dir.join("config.toml").display()
                );
            }
            Box::new(spelunk_experiments::bridge::twin_from_run(dir, spec, a.seed, !a.sample)?)
        }
    })
}

#[cfg(feature = "onnx")]
fn onnx_twin(a: &RunArgs, spec: &RobotSpec, p: &str) -> Result<Box<dyn Controller>> {
    Ok(Box::new(spelunk_experiments::bridge::twin_from_onnx(
        std::path::Path::new(p),
        spec,
        a.seed,
        &a.env,
    )?))
}

#[cfg(not(feature = "onnx"))]
fn onnx_twin(_: &RunArgs, _: &RobotSpec, p: &str) -> Result<Box<dyn Controller>> {
    bail!("--policy {p}: this spelunk was built without the `onnx` feature")
}

fn joints(a: &RunArgs, spec: &RobotSpec) -> Result<(Box<dyn Joints>, Option<Sim>)> {
    let (t, sim) = open(&a.port, SimConfig::default())?;
    let j: Box<dyn Joints> = if a.port.protocol == SimProtocol::Wire {
        let mut arm = WireArm::connect(t, spec.joints.len())?;
        arm.send_limits(spec)?;
        Box::new(arm)
    } else {
        let cal = match &a.calibration {
            Some(p) => Calibration::load(p)?,
            None if a.port.port == "sim" => spec.default_calibration(4096),
            None => bail!("--calibration FILE is needed for a real arm (make one with `spelunk bridge calibrate`)"),
        };
        let bus = ServoBus::new(t, bus_protocol(a.port.protocol)?);
        Box::new(ServoArm::connect(bus, model_of(&a.port)?, cal, spec)?)
    };
    Ok((if a.dry_run { Box::new(DryRun(j)) } else { j }, sim))
}

fn fmt_joints(v: &[f64]) -> String {
    v.iter().map(|x| format!("{x:+.3}")).collect::<Vec<_>>().join(" ")
}

fn drive(a: &RunArgs) -> Result<()> {
    let spec = RobotSpec::load(&a.port.robot)?;
    let safety = match &a.safety {
        Some(p) => {
            let text = spelunk_core::files::read_text(p)?;
            toml::from_str::<SafetyConfig>(&text).with_context(|| format!("{}", p.display()))?
        }
        None => SafetyConfig::default(),
    };
    let mut ctl = controller(a, &spec)?;
    let (j, sim) = joints(a, &spec)?;
    let names: Vec<&str> = spec.joints.iter().map(|j| j.name.as_str()).collect();
    outln!("{} on {}: {}", spec.name, a.port.port, names.join(", "));
    outln!("policy: {}", ctl.describe());
    if a.dry_run {
        outln!("dry run: nothing is sent to the arm");
    }
    let l = ArmLoop::new(j, spec.clone(), safety, a.loop_hz, a.log.as_deref())?;
    let bridge = l.spawn(a.torque_off_at_end)?;
    let stop = ctrl_c();
    let keys = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if keys {
        outln!("keys: space = e-stop, r = reset, q = quit");
        watch_keys(bridge.handle.clone(), Arc::clone(&stop));
    }
    let mut last = Instant::now();
    let mut seen = 0;
    let result =
        twin::drive(&bridge.handle, ctl.as_mut(), a.hz, a.seconds, &stop, &mut |s: &ArmState| {
            for e in &s.events[seen..] {
                outln!("{e}");
            }
            seen = s.events.len();
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                let status = match (&s.estop, s.watchdog) {
                    (Some(r), _) => format!("E-STOP ({r}; r resets)"),
                    (None, true) => "watchdog holding".into(),
                    (None, false) => "running".into(),
                };
                outln!(
                    "tick {:>7}  measured [{}]  sent [{}]  {status}",
                    s.tick,
                    fmt_joints(&s.positions),
                    fmt_joints(&s.sent)
                );
            }
        });
    if stop.load(Ordering::SeqCst) {
        bridge.handle.estop("stopped by the user");
    }
    let state = bridge.handle.state();
    let times = bridge.stop()?;
    if keys {
        let _ = crossterm::terminal::disable_raw_mode();
    }
    drop(sim);
    let steps = result?;
    let tick = spelunk_bridge::bench::spread(&times.tick_us);
    outln!(
        "{steps} policy steps, {} control ticks (tick p50 {} µs, p99 {} µs); {} event(s)",
        state.tick,
        tick.p50,
        tick.p99,
        state.events.len()
    );
    Ok(())
}

/// Space latches the e-stop, `r` resets it, `q` (or Ctrl-C, which raw mode delivers as a
/// key) stops.
fn watch_keys(handle: spelunk_bridge::control::Handle, stop: Arc<AtomicBool>) {
    use crossterm::event::{self, Event, KeyCode, KeyModifiers};
    if crossterm::terminal::enable_raw_mode().is_err() {
        return;
    }
    let _ = std::thread::Builder::new().name("bridge-keys".into()).spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if !event::poll(Duration::from_millis(50)).unwrap_or(false) {
                continue;
            }
            if let Ok(Event::Key(k)) = event::read() {
                match k.code {
                    KeyCode::Char(' ') => handle.estop("key"),
                    KeyCode::Char('r') => handle.reset(),
                    KeyCode::Char('q') | KeyCode::Esc => stop.store(true, Ordering::SeqCst),
                    KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                        handle.estop("Ctrl-C");
                        stop.store(true, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
        }
    });
}

fn bench(a: &BenchArgs) -> Result<()> {
    let cfg = spelunk_bridge::bench::LoopBenchConfig {
        sim: SimConfig { protocol: a.protocol, physics_hz: a.physics_hz, ..SimConfig::default() },
        rates_hz: a.rates.clone(),
        seconds: a.seconds,
        windows: a.windows,
        ..Default::default()
    };
    let report = spelunk_bridge::bench::run(&cfg, &a.note, &mut |hz| {
        eprintln!("measuring {hz} Hz: {} windows of {} s", a.windows, a.seconds);
    })?;
    let md = report.markdown();
    out!("{md}");
    if let Some(prefix) = &a.out {
        let json = prefix.with_extension("json");
        std::fs::write(&json, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| json.display().to_string())?;
        let mdp = prefix.with_extension("md");
        std::fs::write(&mdp, md).with_context(|| mdp.display().to_string())?;
        eprintln!("wrote {} and {}", json.display(), mdp.display());
    }
    Ok(())
}
