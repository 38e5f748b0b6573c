//! The bridge: both servo protocols against the vendors' published packets, control tables,
//! calibration files (ours and LeRobot's), and the driver, safety layer and control loop
//! against the simulated arm on a pty or UDP — under every injected fault.

use std::time::{Duration, Instant};

use spelunk_bridge::arm::{Joints, ServoArm, WireArm};
use spelunk_bridge::calibration::{Calibration, JointKind};
use spelunk_bridge::control::ArmLoop;
use spelunk_bridge::safety::{SafetyConfig, StopAction};
use spelunk_bridge::servo::{inst, Frame, Model, Protocol, Reg, ServoBus, STS3215, XL330_M288};
use spelunk_bridge::sim::{Faults, Sim, SimConfig, SimProtocol};
use spelunk_bridge::transport::{Serial, Udp};

#[test]
fn packets_match_the_vendors_published_examples() {
    // Feetech (Protocol 1.0 layout): ping of servo 1.
    let mut out = Vec::new();
    Protocol::Feetech.packet(1, inst::PING, &[], &mut out);
    assert_eq!(out, [0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB]);
    // Dynamixel 2.0: ping of id 1 and an XM430's answer (model 1030, firmware 38), from the
    // protocol's manual.
    out.clear();
    Protocol::Dynamixel.packet(1, inst::PING, &[], &mut out);
    assert_eq!(out, [0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x03, 0x00, 0x01, 0x19, 0x4E]);
    let status =
        [0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x07, 0x00, 0x55, 0x00, 0x06, 0x04, 0x26, 0x65, 0x5D];
    let Frame::Packet { id, x, params, len } = Protocol::Dynamixel.frame(&status) else {
        panic!("the manual's status packet does not parse")
    };
    assert_eq!((id, x, len), (1, inst::STATUS, status.len()));
    let mut p = Vec::new();
    Protocol::Dynamixel.params(&status, params, &mut p);
    assert_eq!(p, [0x00, 0x06, 0x04, 0x26]);
}

#[test]
fn dynamixel_byte_stuffing_round_trips_and_garbage_is_skipped() {
    let params = [0xFF, 0xFF, 0xFD, 0x01, 0xFF, 0xFF, 0xFD, 0xFD, 0x00];
    let mut out = vec![0x12, 0xFF, 0xFF]; // noise first
    Protocol::Dynamixel.packet(3, inst::WRITE, &params, &mut out);
    // Two stuffed bytes.
    assert_eq!(out.len(), 3 + 10 + params.len() + 2);
    let mut at = 0;
    loop {
        match Protocol::Dynamixel.frame(&out[at..]) {
            Frame::Skip(n) => at += n,
            Frame::Packet { id, params: range, .. } => {
                assert_eq!(id, 3);
                let mut p = Vec::new();
                Protocol::Dynamixel.params(&out[at..], range, &mut p);
                assert_eq!(p, params);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // A flipped bit is a CRC error, not a packet.
    let mut bad = Vec::new();
    Protocol::Dynamixel.packet(3, inst::WRITE, &params, &mut bad);
    bad[9] ^= 0x10;
    assert!(matches!(Protocol::Dynamixel.frame(&bad), Frame::Bad { .. }));
    let mut bad = Vec::new();
    Protocol::Feetech.packet(3, inst::WRITE, &[42, 1, 2], &mut bad);
    bad[6] ^= 0x01;
    assert!(matches!(Protocol::Feetech.frame(&bad), Frame::Bad { .. }));
}

#[test]
fn registers_encode_sign_magnitude_and_twos_complement() {
    let goal = STS3215.register(Reg::GoalPosition).expect("goal");
    let mut b = [0u8; 2];
    STS3215.encode(goal, -5, &mut b);
    assert_eq!(b, [0x05, 0x80], "bit 15 is the sign, little-endian");
    assert_eq!(STS3215.decode(goal, &b), -5);
    let offset = STS3215.register(Reg::HomingOffset).expect("offset");
    STS3215.encode(offset, -1470, &mut b);
    assert_eq!(u16::from_le_bytes(b), 0x05BE | (1 << 11), "1470 with bit 11 for the sign");
    assert_eq!(STS3215.decode(offset, &b), -1470);
    let pos = XL330_M288.register(Reg::PresentPosition).expect("position");
    let mut b4 = [0u8; 4];
    XL330_M288.encode(pos, -2, &mut b4);
    assert_eq!(b4, [0xFE, 0xFF, 0xFF, 0xFF]);
    assert_eq!(XL330_M288.decode(pos, &b4), -2);
    assert_eq!(Model::by_number(Protocol::Feetech, 777), Some(STS3215));
}

const LEROBOT_SO100: &str = r#"{
  "shoulder_pan": {"id": 1, "drive_mode": 0, "homing_offset": -1365, "range_min": 746, "range_max": 3477},
  "shoulder_lift": {"id": 2, "drive_mode": 0, "homing_offset": -1200, "range_min": 822, "range_max": 3211},
  "elbow_flex": {"id": 3, "drive_mode": 0, "homing_offset": -986, "range_min": 901, "range_max": 3110},
  "wrist_flex": {"id": 4, "drive_mode": 0, "homing_offset": -1696, "range_min": 849, "range_max": 3216},
  "wrist_roll": {"id": 5, "drive_mode": 0, "homing_offset": 1003, "range_min": 0, "range_max": 4095},
  "gripper": {"id": 6, "drive_mode": 0, "homing_offset": 1500, "range_min": 2031, "range_max": 3482}
}"#;

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spelunk-bridge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn lerobot_calibrations_of_both_layouts_and_ours_read_and_convert() {
    let p = temp_file("so100.json", LEROBOT_SO100);
    let cal = Calibration::load(&p).expect("LeRobot's layout");
    assert_eq!(cal.ids(), [1, 2, 3, 4, 5, 6]);
    let pan = &cal.joints[0];
    // LeRobot's degrees: (ticks − mid) · 360 / 4096 with mid the range's middle.
    let mid = f64::from(746 + 3477) / 2.0;
    let q = pan.to_joint(3000, 4096, 0.03);
    assert!((q.to_degrees() - (3000.0 - mid) * 360.0 / 4096.0).abs() < 1e-9);
    assert_eq!(pan.to_ticks(q, 4096, 0.03), (3000, false));
    assert_eq!(pan.to_ticks(10.0, 4096, 0.03), (3477, true), "clipped to the range");
    let g = &cal.joints[5];
    assert_eq!(g.kind, JointKind::Gripper);
    assert!((g.to_joint(2031, 4096, 0.03)).abs() < 1e-12);
    assert!((g.to_joint(3482, 4096, 0.03) - 0.03).abs() < 1e-12);

    // The older arrays: q = (sign · raw + offset) · 2π / 4096.
    let old = r#"{"homing_offset": [2048, -1024], "drive_mode": [0, 1], "start_pos": [0, 100],
                 "end_pos": [0, 900], "calib_mode": ["DEGREE", "LINEAR"], "motor_names": ["pan", "gripper"]}"#;
    let cal_old = Calibration::load(&temp_file("old.json", old)).expect("the older layout");
    let q = cal_old.joints[0].to_joint(1000, 4096, 0.03);
    assert!((q - (1000.0 + 2048.0) * std::f64::consts::TAU / 4096.0).abs() < 1e-9);
    assert_eq!(cal_old.joints[1].kind, JointKind::Gripper);

    // Ours round-trips.
    let ours = temp_file("ours.toml", &cal.to_toml());
    assert_eq!(Calibration::load(&ours).expect("ours"), cal);
}

#[test]
fn bad_calibrations_name_the_file_and_the_joint() {
    for (name, text, needle) in [
        ("dup.json", &LEROBOT_SO100.replace("\"id\": 2,", "\"id\": 1,") as &str, "both have id 1"),
        (
            "range.json",
            &LEROBOT_SO100.replace("\"range_max\": 3110", "\"range_max\": 100"),
            "elbow_flex: range",
        ),
        (
            "missing.json",
            &LEROBOT_SO100.replace("\"drive_mode\": 0, \"homing_offset\": -1696,", ""),
            "wrist_flex: no `drive_mode`",
        ),
        ("format.toml", "format = \"other\"\njoints = []\n", "expected \"spelunk-calibration/1\""),
        ("garbage.toml", "\u{0}\u{1}", "format.toml"),
    ] {
        let p = temp_file(name, text);
        let e = Calibration::load(&p).expect_err(name).to_string();
        assert!(e.contains(name), "{e}");
        if name != "garbage.toml" {
            assert!(e.contains(needle), "{name}: {e}");
        }
    }
}

fn sim(protocol: SimProtocol, faults: Faults) -> Sim {
    let cfg = SimConfig { protocol, faults, ..SimConfig::default() };
    Sim::start_pty(&cfg).expect("the simulated arm starts")
}

fn servo_arm(sim: &Sim, protocol: Protocol) -> spelunk_bridge::Result<ServoArm> {
    servo_arm_waiting(sim, protocol, None)
}

/// [`servo_arm`] with the bus waiting `timeout` for each reply (`None`: the bus's default).
fn servo_arm_waiting(
    sim: &Sim,
    protocol: Protocol,
    timeout: Option<Duration>,
) -> spelunk_bridge::Result<ServoArm> {
    let port = Serial::open(&sim.port, 1_000_000)?;
    let mut bus = ServoBus::new(Box::new(port), protocol);
    if let Some(t) = timeout {
        bus.timeout = t;
    }
    let model = if protocol == Protocol::Feetech { STS3215 } else { XL330_M288 };
    ServoArm::connect(bus, model, sim.spec.default_calibration(4096), &sim.spec)
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn both_buses_read_the_simulated_arm_and_move_it() {
    for protocol in [Protocol::Feetech, Protocol::Dynamixel] {
        let sp = if protocol == Protocol::Feetech {
            SimProtocol::Feetech
        } else {
            SimProtocol::Dynamixel
        };
        let sim = sim(sp, Faults::default());
        let mut arm = servo_arm(&sim, protocol).expect("connects");
        let mut q = vec![0.0; 6];
        arm.read(&mut q).expect("reads");
        // One tick is 2π/4096 rad; the gripper's is travel/1024.
        assert!(close(&q, &sim.positions(), 2e-3), "{protocol:?}: {q:?} vs {:?}", sim.positions());
        arm.torque(true).expect("torque");
        let mut target = q.clone();
        target[0] += 0.3;
        target[5] = 0.02;
        arm.write(&target).expect("writes");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if close(&sim.positions(), &target, 0.01) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            close(&sim.positions(), &target, 0.01),
            "{protocol:?}: {:?} vs {target:?}",
            sim.positions()
        );
        assert_eq!(arm.bus().stats.bad, 0);
    }
}

#[test]
fn a_missing_servo_or_another_model_is_named_at_connect() {
    let s = sim(SimProtocol::Feetech, Faults { silent: vec![4], ..Faults::default() });
    let e = servo_arm(&s, Protocol::Feetech).err().expect("servo 4 is silent").to_string();
    assert!(e.contains("servo 4 (wrist_flex) does not answer"), "{e}");
    let s = sim(SimProtocol::Feetech, Faults::default());
    let bus =
        ServoBus::new(Box::new(Serial::open(&s.port, 1_000_000).expect("port")), Protocol::Feetech);
    let mut cal = s.spec.default_calibration(4096);
    cal.joints[2].id = 40;
    let e = ServoArm::connect(bus, STS3215, cal, &s.spec).err().expect("no servo 40").to_string();
    assert!(e.contains("servo 40 (elbow_flex)"), "{e}");
}

fn run_loop(sim: &Sim, protocol: Protocol, safety: SafetyConfig) -> ArmLoop {
    let arm = servo_arm(sim, protocol).expect("connects");
    ArmLoop::new(Box::new(arm), sim.spec.clone(), safety, 100.0, None).expect("loop starts")
}

fn wait_for(what: &str, secs: f64, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{what} within {secs} s");
}

#[test]
fn the_arm_starts_where_it_is_and_targets_are_clipped_and_rate_limited() {
    let sim = sim(SimProtocol::Feetech, Faults::default());
    let before = sim.positions();
    let safety = SafetyConfig { ramp_secs: 0.0, ..SafetyConfig::default() };
    let bridge = run_loop(&sim, Protocol::Feetech, safety.clone()).spawn(false).expect("spawn");
    std::thread::sleep(Duration::from_millis(200));
    // No command yet: the arm has not moved.
    assert!(close(&sim.positions(), &before, 0.01), "{:?} vs {before:?}", sim.positions());
    // Far beyond the upper limit of the shoulder pan: clipped, and approached no faster
    // than half its top speed.
    let spec = &sim.spec;
    let mut want = before.clone();
    want[0] = 100.0;
    // Per tick, a target moves at most half the top speed times the time since the last
    // tick, which the loop caps at two periods (10 ms each here).
    let j = &spec.joints[0];
    let per_tick = j.max_velocity * safety.velocity_scale * 0.02;
    let t0 = Instant::now();
    let mut last = bridge.handle.state();
    let mut samples = 0;
    while t0.elapsed() < Duration::from_millis(1500) {
        bridge.handle.command(&want).expect("finite");
        std::thread::sleep(Duration::from_millis(20));
        let s = bridge.handle.state();
        let ticks = (s.tick - last.tick) as f64;
        assert!(
            (s.sent[0] - last.sent[0]).abs() <= ticks * per_tick + 1e-9,
            "{} rad in {ticks} ticks",
            s.sent[0] - last.sent[0]
        );
        last = s;
        samples += 1;
    }
    assert!(samples > 20);
    let top = j.upper - safety.margin * (j.upper - j.lower);
    let sent = bridge.handle.state().sent[0];
    assert!((sent - top).abs() < 1e-9, "sent {sent}, the clipped limit is {top}");
    // NaN is refused and nothing changes.
    let mut bad = want.clone();
    bad[3] = f64::NAN;
    let e = bridge.handle.command(&bad).expect_err("NaN").to_string();
    assert!(e.contains("target 3 is NaN"), "{e}");
    assert!(bridge.handle.command(&want[..3]).is_err(), "too few targets");
    drop(bridge.stop().expect("stops"));
}

#[test]
fn the_watchdog_holds_the_arm_when_commands_stop_and_recovers_with_a_ramp() {
    let sim = sim(SimProtocol::Feetech, Faults::default());
    let safety = SafetyConfig { watchdog_ms: 100, ..SafetyConfig::default() };
    let bridge = run_loop(&sim, Protocol::Feetech, safety).spawn(false).expect("spawn");
    let mut want = sim.positions();
    want[1] += 0.4;
    let mut stopped_at = Instant::now();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(10));
        bridge.handle.command(&want).expect("ok");
        stopped_at = Instant::now();
    }
    wait_for("the watchdog fires", 1.0, || bridge.handle.state().watchdog);
    let fired = stopped_at.elapsed();
    // Fires at the first tick (10 ms apart) after 100 ms without a command, never before.
    // (The upper bound leaves room for a loaded machine waking threads late.)
    assert!(fired >= Duration::from_millis(100) && fired < Duration::from_millis(400), "{fired:?}");
    // Holding: the goals stay put while no command comes.
    std::thread::sleep(Duration::from_millis(100));
    let held = sim.goals();
    std::thread::sleep(Duration::from_millis(200));
    assert!(close(&sim.goals(), &held, 1e-3));
    bridge.handle.command(&want).expect("ok");
    wait_for("commands resume", 1.0, || !bridge.handle.state().watchdog);
    let events = bridge.handle.state().events;
    assert!(events.iter().any(|e| e.contains("watchdog: no command for 100 ms")), "{events:?}");
    assert!(events.iter().any(|e| e.contains("commands resumed")), "{events:?}");
    drop(bridge.stop().expect("stops"));
}

#[test]
fn the_estop_latches_until_reset_and_torque_off_is_honoured() {
    let sim = sim(SimProtocol::Dynamixel, Faults::default());
    let safety = SafetyConfig { on_estop: StopAction::TorqueOff, ..SafetyConfig::default() };
    let bridge = run_loop(&sim, Protocol::Dynamixel, safety).spawn(false).expect("spawn");
    wait_for("torque on after start", 1.0, || sim.torque().iter().all(|&t| t));
    bridge.handle.estop("test");
    wait_for("the e-stop latches", 1.0, || bridge.handle.state().estop.is_some());
    wait_for("torque goes off", 1.0, || sim.torque().iter().all(|&t| !t));
    let mut want = sim.positions();
    want[0] += 0.3;
    for _ in 0..30 {
        bridge.handle.command(&want).expect("commands are accepted but not sent");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sim.torque().iter().all(|&t| !t), "still latched");
    bridge.handle.reset();
    wait_for("the reset takes", 1.0, || {
        bridge.handle.state().estop.is_none() && sim.torque().iter().all(|&t| t)
    });
    drop(bridge.stop().expect("stops"));
}

#[test]
fn a_port_that_disappears_latches_the_estop_and_nothing_panics() {
    let sim =
        sim(SimProtocol::Feetech, Faults { port_gone_after_ms: Some(600), ..Faults::default() });
    let bridge =
        run_loop(&sim, Protocol::Feetech, SafetyConfig::default()).spawn(false).expect("spawn");
    wait_for("the lost port is noticed", 3.0, || bridge.handle.state().estop.is_some());
    let reason = bridge.handle.state().estop.unwrap_or_default();
    assert!(reason.contains("the arm stopped answering"), "{reason}");
    // Stopping reports the dead port as an error, never a panic.
    let _ = bridge.stop();
}

#[test]
fn dropped_corrupted_and_delayed_replies_cost_reads_not_safety() {
    let faults =
        Faults { drop: 0.05, corrupt: 0.05, delay: 0.02, delay_ms: 30, ..Faults::default() };
    let sim = sim(SimProtocol::Dynamixel, faults);
    let safety = SafetyConfig { max_failed_reads: 50, ..SafetyConfig::default() };
    let bridge = run_loop(&sim, Protocol::Dynamixel, safety).spawn(false).expect("spawn");
    let home = sim.positions();
    let mut want = home.clone();
    want[0] += 0.2;
    for _ in 0..150 {
        bridge.handle.command(&want).expect("ok");
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = bridge.handle.state();
    assert!(s.estop.is_none(), "{:?}", s.estop);
    assert!(s.tick > 60, "{} ticks", s.tick);
    drop(bridge.stop().expect("stops"));
    assert!((sim.positions()[0] - want[0]).abs() < 0.05, "{:?}", sim.positions());
}

#[test]
fn an_overheating_servo_is_reported_by_name() {
    let sim = sim(SimProtocol::Feetech, Faults { overheat: vec![3], ..Faults::default() });
    let mut arm = servo_arm(&sim, Protocol::Feetech).err();
    // Connect pings each servo; its error bits make the ping fail, naming it.
    let e = arm.take().expect("servo 3 reports overheating").to_string();
    assert!(e.contains("servo 3") && e.contains("overheated"), "{e}");
}

#[test]
fn a_control_tick_allocates_nothing() {
    let sim = sim(SimProtocol::Feetech, Faults::default());
    // Ticks are called straight from this thread, so a simulator thread starved by a loaded
    // machine would be a timeout error here: the bus waits long, as what is measured is
    // allocation, not time.
    let arm = servo_arm_waiting(&sim, Protocol::Feetech, Some(Duration::from_millis(500)))
        .expect("connects");
    let mut l = ArmLoop::new(Box::new(arm), sim.spec.clone(), SafetyConfig::default(), 100.0, None)
        .expect("loop starts");
    let h = l.handle();
    let mut want = sim.positions();
    want[0] += 0.1;
    for _ in 0..50 {
        h.command(&want).expect("ok");
        l.tick(Instant::now()).expect("tick");
    }
    let before = crate::alloc_free::allocations_now();
    for _ in 0..500 {
        h.command(&want).expect("ok");
        l.tick(Instant::now()).expect("tick");
    }
    assert_eq!(crate::alloc_free::allocations_now() - before, 0);
}

#[test]
fn a_wire_firmware_over_udp_is_driven_and_stopped() {
    let cfg = SimConfig { protocol: SimProtocol::Wire, ..SimConfig::default() };
    let sim = Sim::start_udp(&cfg, "127.0.0.1:0").expect("udp sim");
    let t = Udp::connect("127.0.0.1:0", &sim.port).expect("socket");
    let mut arm = WireArm::connect(Box::new(t), 6).expect("connects");
    arm.send_limits(&sim.spec).expect("limits");
    let mut q = vec![0.0; 6];
    arm.read(&mut q).expect("reads");
    assert!(close(&q, &sim.positions(), 1e-5));
    assert!(arm.hello.is_some_and(|h| h.joints == 6));
    let mut target = q.clone();
    target[2] += 0.3;
    wait_for("the joint moves", 3.0, || {
        arm.write(&target).expect("writes");
        arm.read(&mut q).expect("reads");
        (q[2] - target[2]).abs() < 0.01
    });
    arm.estop().expect("e-stop");
    std::thread::sleep(Duration::from_millis(30));
    arm.read(&mut q).expect("reads");
    target[2] -= 0.3;
    arm.write(&target).expect("sent, and refused by the firmware");
    std::thread::sleep(Duration::from_millis(300));
    arm.read(&mut q).expect("reads");
    assert!((q[2] - target[2]).abs() > 0.2, "the latched firmware did not move: {q:?}");
    assert!(arm.faults().iter().any(|f| f.contains("EStop")), "{:?}", arm.faults());
}

#[test]
fn a_scripted_reach_drives_the_simulated_arm_to_its_goal_through_the_bridge() {
    use spelunk_bridge::twin::{Controller, Twin};
    let sim = sim(SimProtocol::Feetech, Faults::default());
    let bridge =
        run_loop(&sim, Protocol::Feetech, SafetyConfig::default()).spawn(false).expect("spawn");
    let config = serde_json::json!({"robot": {"urdf": "so100"}});
    let mut twin = Twin::scripted("Arm-Reach-v0", &config, 3, &sim.spec).expect("twin");
    let goal = twin.goal();
    let mut out = vec![0.0; 6];
    let dist = |g: [f32; 3], p: [f32; 3]| {
        g.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt()
    };
    let start = dist(goal, twin.grip());
    let mut best = start;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(8) && best > 0.03 {
        let s = bridge.handle.state();
        twin.targets(&s.positions, &mut out).expect("acts");
        bridge.handle.command(&out).expect("finite");
        best = best.min(dist(goal, twin.grip()));
        std::thread::sleep(Duration::from_millis(33));
    }
    drop(bridge.stop().expect("stops"));
    assert!(best < 0.05, "the grip came within {best} m of the goal (from {start} m)");
}

#[test]
fn calibrating_an_arm_with_offset_horns_finds_them_and_reads_true_angles() {
    use spelunk_bridge::sim::SimStart;
    let offsets = vec![310, -520, 705, -150, 95, -260];
    let cfg =
        SimConfig { start: SimStart::Zero, mount_offsets: offsets.clone(), ..SimConfig::default() };
    let sim = Sim::start_pty(&cfg).expect("sim");
    let port = Serial::open(&sim.port, 1_000_000).expect("port");
    let mut bus = ServoBus::new(Box::new(port), Protocol::Feetech);
    let cal =
        spelunk_bridge::arm::calibrate(&mut bus, STS3215, &sim.spec, Duration::ZERO, &mut |_| {})
            .expect("calibrates");
    let found: Vec<i32> = cal.joints.iter().map(|j| j.homing_offset).collect();
    // The arm is held at zero: each offset is the horn's (± a tick of the reading).
    for (f, o) in found.iter().zip(&offsets) {
        assert!((f - o).abs() <= 1, "{found:?} vs {offsets:?}");
    }
    drop(bus);
    // Connected with that calibration, the arm reads the simulator's true angles, and a
    // target lands where it should.
    let bus = ServoBus::new(
        Box::new(Serial::open(&sim.port, 1_000_000).expect("port")),
        Protocol::Feetech,
    );
    let mut arm = ServoArm::connect(bus, STS3215, cal, &sim.spec).expect("connects");
    let mut q = vec![0.0; 6];
    arm.read(&mut q).expect("reads");
    assert!(close(&q, &sim.positions(), 3e-3), "{q:?} vs {:?}", sim.positions());
    arm.torque(true).expect("torque");
    let mut target = q.clone();
    target[1] = -0.5;
    arm.write(&target).expect("writes");
    wait_for("the joint reaches -0.5 rad", 3.0, || (sim.positions()[1] + 0.5).abs() < 0.01);
}

/// An arm whose joint 2 starts overheating after `healthy` reads.
struct Overheats {
    reads: u32,
    healthy: u32,
    at: Vec<f64>,
}

impl Joints for Overheats {
    fn port(&self) -> &'static str {
        "test"
    }
    fn read(&mut self, positions: &mut [f64]) -> spelunk_bridge::Result<()> {
        self.reads += 1;
        positions.copy_from_slice(&self.at);
        Ok(())
    }
    fn write(&mut self, targets: &[f64]) -> spelunk_bridge::Result<u32> {
        self.at.copy_from_slice(targets);
        Ok(0)
    }
    fn torque(&mut self, _: bool) -> spelunk_bridge::Result<()> {
        Ok(())
    }
    fn faults(&self) -> Vec<String> {
        if self.reads > self.healthy {
            vec!["servo 3 (elbow_flex): overheated".into()]
        } else {
            Vec::new()
        }
    }
}

#[test]
fn a_servo_that_starts_overheating_mid_run_latches_the_estop() {
    let spec = spelunk_bridge::robot::RobotSpec::load("so100").expect("spec");
    // Healthy for the start-up read and 20 ticks.
    let arm = Overheats { reads: 0, healthy: 21, at: spec.home.clone() };
    let mut l = ArmLoop::new(Box::new(arm), spec.clone(), SafetyConfig::default(), 100.0, None)
        .expect("loop");
    let h = l.handle();
    for _ in 0..20 {
        h.command(&spec.home).expect("ok");
        l.tick(Instant::now()).expect("tick");
    }
    assert!(h.state().estop.is_none());
    l.tick(Instant::now()).expect("tick");
    let reason = h.state().estop.unwrap_or_default();
    assert!(reason.contains("servo 3 (elbow_flex): overheated"), "{reason}");
}
