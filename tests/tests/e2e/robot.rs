//! URDF arms (`spelunk_sims::urdf`, `spelunk_sims::robot`): parsing and its errors, the two
//! built-in arms on the Fetch tasks with end-effector and joint-space control, exact snapshots.

use spelunk_core::{Action, Digest, Env, ObsBuf};
use spelunk_sims::arm::{ArmTask, Scripted};
use spelunk_sims::urdf::{JointKind, Robot};

/// The `robot` config of the so100 arm read from the URDF file `path` (its built-in settings
/// spelled out).
pub(crate) fn so100_file(path: &std::path::Path) -> serde_json::Value {
    serde_json::json!({
        "urdf": path.to_str().expect("utf-8 path"),
        "ee_link": "gripper_link",
        "fingers": ["l_finger_joint", "r_finger_joint"],
        "base": [1.25, 0.75, 0.4],
        "tool": [0.045, 0.0, 0.0],
        "home": [0.0, -0.6, 1.6, 0.6, 0.0],
    })
}

fn make_with(id: &str, cfg: &serde_json::Value) -> Box<dyn Env> {
    spelunk_sims::registry().make_with(id, cfg).expect("make")
}

#[test]
fn the_built_in_arms_parse_with_their_joints_and_limits() {
    for (name, arm_joints) in [("fetch7", 7), ("so100", 5)] {
        let text = spelunk_sims::robot::Builtin::by_name(name).expect("built in").urdf();
        let r = Robot::parse(text, name).expect("parse");
        let moving: Vec<_> = r
            .joints
            .iter()
            .filter(|j| j.kind != JointKind::Fixed && !j.name.contains("finger"))
            .collect();
        assert_eq!(moving.len(), arm_joints, "{name}");
        let fingers: Vec<_> = r.joints.iter().filter(|j| j.name.contains("finger")).collect();
        assert_eq!(fingers.len(), 2, "{name}: a parallel gripper");
        assert!(fingers.iter().all(|f| f.kind == JointKind::Prismatic && f.limits.is_some()));
        assert_eq!(r.links[r.root].name, "base_link");
        for j in &r.joints {
            if let Some([lo, hi]) = j.limits {
                assert!(lo < hi, "{name}/{}", j.name);
            }
        }
    }
    // The Fetch-like arm: Fetch's link offsets, shoulder pan to gripper frame, add to 1.095 m.
    let r = Robot::parse(spelunk_sims::robot::Builtin::Fetch7.urdf(), "fetch7").expect("parse");
    let along_x: f32 = r
        .joints
        .iter()
        .filter(|j| !j.name.contains("finger") && j.name != "shoulder_pan_joint")
        .map(|j| j.origin.translation.x)
        .sum();
    assert!((along_x - 1.09545).abs() < 1e-4, "{along_x}");
}

#[test]
fn a_bad_urdf_fails_with_file_line_element_and_reason() {
    let ok_head = r#"<robot name="r"><link name="a"/><link name="b"/>"#;
    let cases: [(String, &str); 10] = [
        (format!("{ok_head}<joint name=\"j\" type=\"revolute\"><parent link=\"a\"/>"), "not well-formed"),
        (
            format!("{ok_head}<joint name=\"j\" type=\"revolute\"><parent link=\"a\"/><child link=\"c\"/><limit effort=\"1\" velocity=\"1\"/></joint></robot>"),
            "<child>: no link named `c`",
        ),
        (
            format!("{ok_head}<joint name=\"elbow\" type=\"revolute\"><parent link=\"a\"/><child link=\"b\"/><limit lower=\"2\" upper=\"1\" effort=\"1\" velocity=\"1\"/></joint></robot>"),
            "lower (2) is above upper (1)",
        ),
        (
            format!("{ok_head}<joint name=\"j\" type=\"revolute\"><parent link=\"a\"/><child link=\"b\"/></joint></robot>"),
            "<joint name=\"j\">: a revolute or prismatic joint needs <limit>",
        ),
        (
            format!("{ok_head}<joint name=\"j\" type=\"hinge\"><parent link=\"a\"/><child link=\"b\"/></joint></robot>"),
            "joint type `hinge` is not supported",
        ),
        (
            format!("{ok_head}<joint name=\"j\" type=\"fixed\"><parent link=\"a\"/><child link=\"b\"/><origin xyz=\"1 2\"/></joint></robot>"),
            "`xyz` needs 3 numbers, got 2",
        ),
        (
            r#"<robot name="r"><link name="a"><collision><geometry><mesh filename="arm.stl"/></geometry></collision></link></robot>"#.into(),
            "<mesh>: meshes are not simulated",
        ),
        (
            r#"<robot name="r"><link name="a"><inertial><mass value="-1"/></inertial></link></robot>"#.into(),
            "mass must be positive",
        ),
        (format!("{ok_head}</robot>"), "2 links have no parent: a, b"),
        (
            format!("{ok_head}<joint name=\"j\" type=\"fixed\"><parent link=\"a\"/><child link=\"b\"/><axis xyz=\"0 0 0\"/></joint></robot>"),
            "the axis is zero",
        ),
    ];
    for (text, needle) in &cases {
        let e = Robot::parse(text, "arm.urdf").expect_err(needle).to_string();
        assert!(e.starts_with("arm.urdf:1:"), "{e}");
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
    }
    // Line numbers point at the element.
    let e = Robot::parse(
        "<robot name=\"r\">\n  <link name=\"a\"/>\n  <link name=\"a\"/>\n</robot>",
        "x.urdf",
    )
    .expect_err("duplicate")
    .to_string();
    assert!(e.starts_with("x.urdf:3:3: <link name=\"a\">: a second link"), "{e}");
    // Through the env config: a missing file and a bad link name.
    let reg = spelunk_sims::registry();
    for (robot, needle) in [
        (serde_json::json!({"urdf": "/nonexistent/arm.urdf"}), "neither a built-in arm"),
        (serde_json::json!({"urdf": "fetch7", "ee_link": "hand"}), "ee_link `hand`: no such link"),
        (
            serde_json::json!({"urdf": "so100", "fingers": ["wrist_roll_joint", "l_finger_joint"]}),
            "is not prismatic",
        ),
        (serde_json::json!({"urdf": "fetch7", "base": [5.0, 0.75, 0.2]}), "cannot reach"),
        (serde_json::json!({"urdf": "fetch7", "control": "torque"}), "torque"),
    ] {
        match reg.make_with("Arm-Reach-v0", &serde_json::json!({ "robot": robot })) {
            Ok(_) => panic!("{robot} was accepted"),
            Err(e) => assert!(e.to_string().contains(needle), "{robot}: {e}"),
        }
    }
}

#[test]
fn a_users_urdf_file_loads_like_a_built_in_one() {
    let dir = std::env::temp_dir().join(format!("spelunk-urdf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("my_arm.urdf");
    std::fs::write(&path, spelunk_sims::robot::Builtin::So100.urdf()).expect("write");
    // A file is not the built-in arm, so it takes the fetch layout unless told: said here.
    let cfg = serde_json::json!({ "robot": so100_file(&path), "layout": "desk" });
    let mut from_file = make_with("Arm-Reach-v0", &cfg);
    let mut built_in = make_with("Arm-Reach-v0", &serde_json::json!({"robot": {"urdf": "so100"}}));
    let mut oa = ObsBuf::for_space(from_file.observation_space());
    let mut ob = ObsBuf::for_space(built_in.observation_space());
    from_file.reset(Some(4), None, oa.as_mut()).expect("reset");
    built_in.reset(Some(4), None, ob.as_mut()).expect("reset");
    for _ in 0..5 {
        let a = [0.3, -0.2, 0.1, 0.0];
        from_file.step(Action::Continuous(&a), oa.as_mut()).expect("step");
        built_in.step(Action::Continuous(&a), ob.as_mut()).expect("step");
    }
    assert_eq!(oa.as_f32(), ob.as_f32());
    let _ = std::fs::remove_dir_all(&dir);
}

fn scripted(robot: &str, id: &str, task: ArmTask, seeds: u64) -> u64 {
    scripted_with(&serde_json::json!({"urdf": robot}), id, task, seeds)
}

fn scripted_with(robot: &serde_json::Value, id: &str, task: ArmTask, seeds: u64) -> u64 {
    let mut env = make_with(id, &serde_json::json!({ "robot": robot }));
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut solved = 0;
    for seed in 0..seeds {
        env.reset(Some(seed), None, obs.as_mut()).expect("reset");
        let mut ctl = Scripted::new();
        let mut success = false;
        for _ in 0..50 {
            let a = ctl.act(task, obs.as_f32().expect("f32"));
            let s = env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
            success = s.info.is_success == Some(true);
        }
        solved += u64::from(success);
    }
    solved
}

#[test]
fn end_effector_control_moves_the_urdf_arm_to_reach_goals() {
    // Inverse kinematics through the multibody, the free gripper's scripted controller
    // unchanged: the Fetch-like arm reaches Fetch's goals and picks and places the cube on
    // most seeds (100 seeds with `ROBOT=fetch7 cargo run --release -p spelunk-sims --example
    // scripted -- ID 100`: Reach 100, PickAndPlace 83, Push 73); the desktop arm reaches most
    // goals (93 of 100 in `scripts/scripted.sh`; some lie beyond its 35 cm reach).
    assert!(scripted("fetch7", "Arm-Reach-v0", ArmTask::Reach, 20) >= 19, "fetch7 reach");
    assert!(scripted("so100", "Arm-Reach-v0", ArmTask::Reach, 20) >= 17, "so100 reach");
    let picked = scripted("fetch7", "Arm-PickAndPlace-v0", ArmTask::PickAndPlace, 20);
    assert!(picked >= 15, "fetch7 pick and place: {picked}/20");
}

/// Slide with `fetch7`: its default base stands 0.353 m further back, as Fetch's robot does
/// for Slide, so the arm starts in Push's pose; the arm's controller pushes the puck up to
/// speed and lets go. It lands on the seeds whose goal the arm can carry the puck near (its
/// reach along the table and its joints' speeds bound how far: 100 seeds in
/// `scripts/scripted.sh`), and every episode leaves the puck nearer the goal than it started.
#[test]
fn the_arm_slides_the_puck_from_its_slide_base() {
    for (drive, floor) in [("kinematic", 7), ("dynamic", 6)] {
        let config =
            serde_json::json!({"task": "slide", "robot": {"urdf": "fetch7", "drive": drive}});
        let mut env = spelunk_sims::arm::ArmEnv::new(
            "Arm-Slide-v0",
            serde_json::from_value(config).expect("config"),
        )
        .expect("fetch7 reaches Slide's start from its default base");
        let mut obs = ObsBuf::for_space(env.observation_space());
        let flat_gap = |a: [f32; 3], b: [f32; 3]| (a[0] - b[0]).hypot(a[1] - b[1]);
        let mut landed = 0;
        for seed in 0..40 {
            env.reset(Some(seed), None, obs.as_mut()).expect("reset");
            let before = flat_gap(env.object_pos().expect("a puck"), env.goal());
            let mut ctl = Scripted::new().for_env(&env);
            let mut success = false;
            for _ in 0..50 {
                let a = ctl.act(ArmTask::Slide, obs.as_f32().expect("f32"));
                let s = env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
                success = s.info.is_success == Some(true);
            }
            let after = flat_gap(env.object_pos().expect("a puck"), env.goal());
            assert!(
                after < before,
                "{drive} seed {seed}: the puck went from {before} to {after} m"
            );
            landed += usize::from(success);
        }
        assert!(landed >= floor, "{drive}: {landed}/40 landed within 5 cm");
    }
    // A base the config sets is where the arm stands, on Slide too.
    let config = serde_json::json!({"task": "slide",
        "robot": {"urdf": "fetch7", "base": [0.75, 0.75, 0.2]}});
    match spelunk_sims::arm::ArmEnv::new(
        "Arm-Slide-v0",
        serde_json::from_value(config).expect("config"),
    ) {
        Ok(_) => panic!("fetch7 at Push's base reached Slide's start"),
        Err(e) => assert!(e.to_string().contains("cannot reach"), "{e}"),
    }
}

/// The joint-space action that holds `r` at home (normalised onto each joint's limits).
fn home_action(r: &spelunk_sims::robot::BuiltRobot) -> Vec<f32> {
    r.arm
        .iter()
        .zip(&r.home)
        .map(|(j, &q)| 2.0 * (q - j.limits[0]) / (j.limits[1] - j.limits[0]) - 1.0)
        .collect()
}

#[test]
fn the_kinematic_arm_solves_the_tasks_and_stops_at_the_table() {
    // The links follow the joints exactly, so the free gripper's controller does at least as
    // well as with the dynamic arm (100 seeds: Reach 100, Push 80, PickAndPlace 94).
    let kinematic = serde_json::json!({"urdf": "fetch7", "drive": "kinematic"});
    assert_eq!(scripted_with(&kinematic, "Arm-Reach-v0", ArmTask::Reach, 20), 20, "reach");
    let pushed = scripted_with(&kinematic, "Arm-Push-v0", ArmTask::Push, 20);
    assert!(pushed >= 14, "push: {pushed}/20");
    let picked = scripted_with(&kinematic, "Arm-PickAndPlace-v0", ArmTask::PickAndPlace, 20);
    assert!(picked >= 17, "pick and place: {picked}/20");
    // Joint-space control sweeping the shoulder down: the arm stops before a link enters the
    // table, and stays where it stopped.
    for robot in ["fetch7", "so100"] {
        let config = serde_json::json!({"task": "push",
            "robot": {"urdf": robot, "control": "joints", "drive": "kinematic"}});
        let mut env = spelunk_sims::arm::ArmEnv::new(
            "Arm-Push-v0",
            serde_json::from_value(config).expect("config"),
        )
        .expect("env");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(1), None, obs.as_mut()).expect("reset");
        let r = env.robot().expect("robot").clone();
        let mut a = home_action(&r);
        // Shoulder lift (joint 1) toward the end of its range that lowers the arm: whichever
        // brings the grip down.
        let before = env.grip_pos()[2];
        let mut down = a.clone();
        down[1] = 1.0;
        down.push(0.0);
        env.step(Action::Continuous(&down), obs.as_mut()).expect("step");
        if env.grip_pos()[2] > before {
            a[1] = -1.0;
        } else {
            a[1] = 1.0;
        }
        a.push(0.0);
        env.reset(Some(1), None, obs.as_mut()).expect("reset");
        let mut last = Vec::new();
        for _ in 0..40 {
            env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
            last = env.joint_positions()[..r.arm.len()].to_vec();
        }
        assert!(!r.in_obstacle(env.world()), "{robot}: a link is inside the table");
        env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
        let now = env.joint_positions()[..r.arm.len()].to_vec();
        assert_eq!(now, last, "{robot}: a stopped arm stays stopped");
        assert!(env.grip_pos()[2] < before, "{robot}: the arm went down before stopping");
        let j = &r.arm[1];
        let target = if a[1] > 0.0 { j.limits[1] } else { j.limits[0] };
        assert!((now[1] - target).abs() > 0.05, "{robot}: the shoulder reached {target}");
    }
}

#[test]
fn the_desk_arm_does_its_own_layouts_tasks() {
    // so100 takes the desk layout by itself: the grip starts 15 cm in front of its base,
    // objects and goals within its reach, a 0.1 kg cube. Driven by its motors or
    // kinematically, the free gripper's controller solves all three tasks (`bash
    // scripts/scripted.sh`, 100 seeds each).
    for drive in ["dynamic", "kinematic"] {
        let arm = serde_json::json!({"urdf": "so100", "drive": drive});
        for (id, task) in [
            ("Arm-Reach-v0", ArmTask::Reach),
            ("Arm-Push-v0", ArmTask::Push),
            ("Arm-PickAndPlace-v0", ArmTask::PickAndPlace),
        ] {
            let solved = scripted_with(&arm, id, task, 20);
            assert!(solved >= 18, "so100 {drive} {id}: {solved}/20");
        }
    }
    let desk = serde_json::json!({"urdf": "so100", "drive": "kinematic"});
    // Goals and objects stay within the layout's draws on unseen seeds.
    let mut env = make_with("Arm-PickAndPlace-v0", &serde_json::json!({ "robot": desk }));
    let mut obs = ObsBuf::for_space(env.observation_space());
    for seed in 100..140 {
        env.reset(Some(seed), None, obs.as_mut()).expect("reset");
        let flat = obs.as_f32().expect("f32");
        let (goal, object) = (&flat[3..6], &flat[flat.len() - 25 + 3..flat.len() - 25 + 6]);
        for (p, what) in [(goal, "goal"), (object, "object")] {
            assert!((p[0] - 1.40).abs() <= 0.05 + 1e-4, "seed {seed}: {what} x {}", p[0]);
            assert!((p[1] - 0.75).abs() <= 0.05 + 1e-4, "seed {seed}: {what} y {}", p[1]);
        }
        assert!(goal[2] <= 0.425 + 0.10 + 1e-3, "seed {seed}: goal z {}", goal[2]);
    }
    // Each layout's start: the grip (Reach's achieved goal) where the layout puts it.
    for (layout, start) in [("desk", [1.40, 0.75, 0.50]), ("fetch", [1.3419, 0.7491, 0.5347])] {
        let cfg = serde_json::json!({"robot": {"urdf": "so100"}, "layout": layout});
        let mut env = make_with("Arm-Reach-v0", &cfg);
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        let grip = &obs.as_f32().expect("f32")[..3];
        for (g, s) in grip.iter().zip(start) {
            assert!((g - s).abs() < 0.005, "{layout}: the grip starts at {grip:?}, not {start:?}");
        }
    }
}

/// Demonstrations for joint-space policies: the scripted controller's end-effector actions,
/// turned into joint-space actions by `joint_action_for`, drive a joint-controlled arm through
/// the task as they drive an end-effector-controlled one, with joint positions (seeds 0-19,
/// measured: fetch7 Reach 20, PickAndPlace 16, so100 PickAndPlace 20) and joint steps (fetch7
/// Reach 20, PickAndPlace 19); the free gripper and malformed actions get `None`.
#[test]
fn end_effector_actions_become_joint_space_actions() {
    let cases = [
        ("fetch7", "joints", "reach", "Arm-Reach-v0", ArmTask::Reach, 19),
        ("fetch7", "joints", "pick_and_place", "Arm-PickAndPlace-v0", ArmTask::PickAndPlace, 14),
        ("so100", "joints", "pick_and_place", "Arm-PickAndPlace-v0", ArmTask::PickAndPlace, 17),
        ("fetch7", "joint_deltas", "reach", "Arm-Reach-v0", ArmTask::Reach, 19),
        (
            "fetch7",
            "joint_deltas",
            "pick_and_place",
            "Arm-PickAndPlace-v0",
            ArmTask::PickAndPlace,
            17,
        ),
    ];
    for (robot, control, task_name, id, task, want) in cases {
        let config = serde_json::json!({"task": task_name,
            "robot": {"urdf": robot, "control": control}});
        let mut env =
            spelunk_sims::arm::ArmEnv::new(id, serde_json::from_value(config).expect("config"))
                .expect("env");
        let n = env.action_space().flat_len();
        let mut obs = ObsBuf::for_space(env.observation_space());
        let mut solved = 0;
        for seed in 0..20 {
            env.reset(Some(seed), None, obs.as_mut()).expect("reset");
            let mut ctl = Scripted::new();
            for _ in 0..50 {
                let ee = ctl.act(task, obs.as_f32().expect("f32"));
                let a = env.joint_action_for(&ee).expect("a URDF arm");
                assert_eq!(a.len(), n);
                assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)), "{a:?}");
                env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
            }
            solved += usize::from(env.info().is_success == Some(true));
        }
        assert!(solved >= want, "{robot} {id} through {control} actions: {solved}/20");
        assert!(env.joint_action_for(&[0.0, 0.0, f32::NAN, 0.0]).is_none());
        assert!(env.joint_action_for(&[0.0; 3]).is_none());
    }
    let free =
        spelunk_sims::arm::ArmEnv::new("Arm-Reach-v0", spelunk_sims::arm::ArmConfig::default())
            .expect("env");
    assert!(free.joint_action_for(&[0.0; 4]).is_none(), "the free gripper has no joints");
}

#[test]
fn joint_space_control_drives_each_joint_to_its_target_within_limits() {
    for (robot, drive) in [
        ("fetch7", "dynamic"),
        ("so100", "dynamic"),
        ("fetch7", "kinematic"),
        ("so100", "kinematic"),
    ] {
        let cfg =
            serde_json::json!({"robot": {"urdf": robot, "control": "joints", "drive": drive}});
        let mut env = make_with("Arm-PickAndPlace-v0", &cfg);
        let n_arm = if robot == "fetch7" { 7 } else { 5 };
        assert_eq!(env.action_space().flat_len(), n_arm + 1, "{robot}");
        let joints_len = 2 * (n_arm + 2);
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        // Small offsets from home in normalised units, and the gripper open.
        let arm = spelunk_sims::arm::ArmEnv::new(
            "Arm-PickAndPlace-v0",
            serde_json::from_value(serde_json::json!({"task": "pick_and_place", "robot": {"urdf": robot, "control": "joints", "drive": drive}}))
                .expect("config"),
        )
        .expect("env");
        let r = arm.robot().expect("robot");
        let mut a = home_action(r);
        // Move the first two joints 0.05 (normalised) toward the middle of their range.
        for x in &mut a[..2] {
            *x -= 0.05 * x.signum();
        }
        a.push(1.0);
        let want: Vec<f32> = r
            .arm
            .iter()
            .zip(&a)
            .map(|(j, &x)| j.limits[0] + f32::midpoint(x, 1.0) * (j.limits[1] - j.limits[0]))
            .collect();
        for _ in 0..25 {
            env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
        }
        let flat = obs.as_f32().expect("f32");
        // `joints` sits after the goals (no camera): positions, then speeds × dt.
        let q = &flat[6..6 + n_arm];
        for (k, (&got, &w)) in q.iter().zip(&want).enumerate() {
            assert!((got - w).abs() < 0.02, "{robot} joint {k}: {got} vs target {w}");
        }
        let finger_max = r.finger_max();
        for f in &flat[6 + n_arm..6 + n_arm + 2] {
            assert!((f - finger_max).abs() < 0.005, "{robot}: finger {f} of {finger_max}");
        }
        assert!(flat[6 + joints_len / 2..6 + joints_len].iter().all(|v| v.abs() < 0.01));
        // Beyond ±1 is clipped: the joints stay inside their limits.
        let big = vec![50.0f32; n_arm + 1];
        for _ in 0..20 {
            env.step(Action::Continuous(&big), obs.as_mut()).expect("step");
        }
        let flat = obs.as_f32().expect("f32");
        for (j, &got) in r.arm.iter().zip(&flat[6..6 + n_arm]) {
            assert!(got <= j.limits[1] + 0.02, "{robot}/{}: {got} above {}", j.name, j.limits[1]);
        }
        let e = env.step(Action::Continuous(&[0.0; 4]), obs.as_mut()).expect_err("wrong length");
        assert!(e.to_string().contains("one target per arm joint"), "{e}");
    }
}

#[test]
fn urdf_arm_snapshots_restore_exactly() {
    for (control, drive) in
        [("end_effector", "dynamic"), ("joints", "dynamic"), ("end_effector", "kinematic")]
    {
        let cfg =
            serde_json::json!({"robot": {"urdf": "fetch7", "control": control, "drive": drive}});
        let mut env = make_with("Arm-PickAndPlace-v0", &cfg);
        let n = env.action_space().flat_len();
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(3), None, obs.as_mut()).expect("reset");
        let mut rng = spelunk_core::Rng::seed_from_u64(9);
        let actions: Vec<Vec<f32>> =
            (0..20).map(|_| (0..n).map(|_| rng.f32() * 2.0 - 1.0).collect()).collect();
        for a in &actions[..5] {
            env.step(Action::Continuous(a), obs.as_mut()).expect("step");
        }
        let snap = env.snapshot().expect("snapshot");
        let run = |env: &mut dyn Env, obs: &mut ObsBuf| {
            let mut d = Digest::new();
            for a in &actions[5..] {
                let s = env.step(Action::Continuous(a), obs.as_mut()).expect("step");
                obs.digest_range(0..obs.len(), &mut d);
                d.f32(s.reward);
            }
            d.value()
        };
        let first = run(env.as_mut(), &mut obs);
        env.restore(&snap).expect("restore");
        assert_eq!(run(env.as_mut(), &mut obs), first, "{control}: same env");
        let mut fresh = make_with("Arm-PickAndPlace-v0", &cfg);
        fresh.restore(&snap).expect("restore into a fresh env");
        assert_eq!(run(fresh.as_mut(), &mut obs), first, "{control}: fresh env");
    }
}

#[test]
fn urdf_arms_give_the_same_digests_at_any_thread_count() {
    use spelunk_core::{AutoReset, VecEnv, VecEnvConfig};
    let run = |cfg: &serde_json::Value, threads: usize| -> Vec<u64> {
        let reg = spelunk_sims::registry();
        let config = VecEnvConfig { num_threads: threads, autoreset: AutoReset::NextStep };
        let mut venv =
            VecEnv::from_fn(3, config, |_| reg.make_with("Arm-Push-v0", cfg)).expect("venv");
        venv.reset(Some(17)).expect("reset");
        let dims = venv.action_space().flat_len();
        let mut streams: Vec<spelunk_core::Rng> =
            (0..3).map(|i| spelunk_tests::action_stream(17, i)).collect();
        let mut digests = [Digest::new(); 3];
        for _ in 0..30 {
            let values: Vec<f32> = streams
                .iter_mut()
                .flat_map(|r| (0..dims).map(|_| r.f32() * 2.0 - 1.0).collect::<Vec<_>>())
                .collect();
            venv.step(&spelunk_core::Actions::Continuous { values, dims }).expect("step");
            for (i, d) in digests.iter_mut().enumerate() {
                venv.digest_obs(i, d);
                d.f32(venv.rewards()[i]);
            }
        }
        digests.iter().map(Digest::value).collect()
    };
    for cfg in [
        serde_json::json!({"robot": {"urdf": "fetch7"}}),
        serde_json::json!({"robot": {"urdf": "so100", "control": "joints"}}),
        serde_json::json!({"robot": {"urdf": "fetch7", "drive": "kinematic"}}),
    ] {
        let one = run(&cfg, 1);
        assert_eq!(run(&cfg, 2), one, "{cfg}: 2 threads differ from 1");
        assert_eq!(run(&cfg, 3), one, "{cfg}: 3 threads differ from 1");
    }
}

/// The so100 arm with every `attr="…"` value in `tag` elements replaced by `value`.
fn so100_with(tag: &str, attrs: &[&str], value: &str) -> String {
    let text = spelunk_sims::robot::Builtin::So100.urdf();
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        if line.contains(&format!("<{tag} ")) {
            for a in attrs {
                let key = format!("{a}=\"");
                if let Some(at) = line.find(&key) {
                    let start = at + key.len();
                    let end = start + line[start..].find('"').expect("closing quote");
                    line.replace_range(start..end, value);
                }
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn urdf_magnitudes_are_bounded_and_the_bounds_step_cleanly() {
    use spelunk_sims::urdf::bounds;
    // What used to load and then panic in the joint motors, hang in inverse kinematics or
    // take minutes: each refused with its bound in the message.
    let chain = (0..10_000).fold(String::new(), |mut s, i| {
        s.push_str(&format!("<link name=\"l{i}\"/>"));
        s
    });
    let cases = [
        (
            so100_with("mass", &["value"], "1e30"),
            "mass 1000000000000000000000000000000 kg is outside".to_owned(),
        ),
        (
            so100_with("inertia", &["ixx", "iyy", "izz"], "1e-30"),
            format!("are not all in [{}", bounds::INERTIA[0]),
        ),
        (
            so100_with("box", &["size"], "1e10 0.1 0.1"),
            format!("is outside [{}, {}] m", bounds::MIN_LENGTH, bounds::MAX_LENGTH),
        ),
        (
            so100_with("origin", &["xyz"], "1e20 0 0"),
            format!("more than {} m from its frame", bounds::MAX_LENGTH),
        ),
        (
            format!("<robot name=\"r\">{chain}</robot>"),
            format!("more than {} links", bounds::MAX_LINKS),
        ),
        (
            so100_with("limit", &["effort"], "1e30"),
            format!("must be at most {}", bounds::MAX_EFFORT),
        ),
        (so100_with("limit", &["lower"], "-1e9"), format!("go beyond ±{}", bounds::MAX_LIMIT)),
    ];
    for (text, needle) in &cases {
        let e = Robot::parse(text, "arm.urdf").expect_err(needle).to_string();
        assert!(e.contains(needle) && e.starts_with("arm.urdf:"), "expected `{needle}` in: {e}");
    }
    // At the bounds themselves, the arm loads, steps and stays finite (or is refused by the
    // arm's own checks, with a message).
    let dir = std::env::temp_dir().join(format!("spelunk-bounds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let edges = [
        so100_with("mass", &["value"], &bounds::MASS[0].to_string()),
        so100_with("mass", &["value"], &bounds::MASS[1].to_string()),
        so100_with("inertia", &["ixx", "iyy", "izz"], &bounds::INERTIA[0].to_string()),
        so100_with("inertia", &["ixx", "iyy", "izz"], &bounds::INERTIA[1].to_string()),
        so100_with("limit", &["effort"], &bounds::MAX_EFFORT.to_string()),
        so100_with("limit", &["velocity"], &bounds::MAX_VELOCITY.to_string()),
        so100_with("box", &["size"], "10 10 10"),
        so100_with("box", &["size"], "0.0001 0.0001 0.0001"),
        so100_with("origin", &["xyz"], "10 -10 10"),
        so100_with("dynamics", &["damping"], &bounds::MAX_DAMPING.to_string()),
    ];
    let reg = spelunk_sims::registry();
    let mut stepped = Vec::new();
    let mut diverged = Vec::new();
    for (k, text) in edges.iter().enumerate() {
        Robot::parse(text, "edge.urdf").unwrap_or_else(|e| panic!("edge {k} parses: {e}"));
        let path = dir.join(format!("edge{k}.urdf"));
        std::fs::write(&path, text).expect("write");
        let cfg = serde_json::json!({ "robot": so100_file(&path) });
        for id in ["Arm-Reach-v0", "Arm-Push-v0"] {
            let mut env = match reg.make_with(id, &cfg) {
                Ok(env) => env,
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    continue;
                }
            };
            let mut obs = ObsBuf::for_space(env.observation_space());
            if let Err(e) = env.reset(Some(k as u64), None, obs.as_mut()) {
                assert!(e.to_string().contains("simulation failed"), "edge {k} {id}: {e}");
                diverged.push((k, id));
                continue;
            }
            stepped.push((k, id));
            for t in 0..30 {
                let a = [1.0, -1.0, if t % 2 == 0 { 1.0 } else { -1.0 }, 1.0];
                match env.step(Action::Continuous(&a), obs.as_mut()) {
                    Ok(s) if s.terminated || s.truncated => break,
                    Ok(_) => assert!(
                        obs.as_f32().into_iter().flatten().all(|x| x.is_finite()),
                        "edge {k} {id}"
                    ),
                    Err(e) => {
                        assert!(e.to_string().contains("simulation failed"), "edge {k} {id}: {e}");
                        diverged.push((k, id));
                        break;
                    }
                }
            }
        }
    }
    // Every edge but the 10 m boxes (which bury the table: the world fails cleanly) and the
    // far origins (the arm cannot reach its start: refused) steps 30 times, finite.
    assert_eq!(stepped.len(), 18, "{stepped:?}");
    assert!(diverged.iter().all(|&(k, _)| k == 6), "{diverged:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
