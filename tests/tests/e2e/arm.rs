//! The Fetch-style arm tasks (`spelunk-sims`): scripted solutions, exact snapshots,
//! determinism across threads, golden digests, Fetch's goal sampling, bad input.

use std::collections::BTreeMap;

use spelunk_core::{Action, AutoReset, Digest, Env, ObsBuf, Rng, VecEnv, VecEnvConfig};
use spelunk_sims::arm::{ArmEnv, ArmTask, Scripted};

const IDS: [(&str, ArmTask); 4] = [
    ("Arm-Reach-v0", ArmTask::Reach),
    ("Arm-Push-v0", ArmTask::Push),
    ("Arm-PickAndPlace-v0", ArmTask::PickAndPlace),
    ("Arm-Slide-v0", ArmTask::Slide),
];

fn make(id: &str) -> Box<dyn Env> {
    spelunk_sims::registry().make(id).expect("make")
}

fn random_action(rng: &mut Rng) -> [f32; 4] {
    std::array::from_fn(|_| rng.f32() * 2.0 - 1.0)
}

#[test]
fn the_scripted_controller_solves_reach_push_and_pick_and_place() {
    // Seeds 0..40 of each task, 50 steps each; the issue asks for at least 95%.
    for (id, task) in &IDS[..3] {
        let mut env = make(id);
        let mut obs = ObsBuf::for_space(env.observation_space());
        let mut solved = 0;
        for seed in 0..40 {
            env.reset(Some(seed), None, obs.as_mut()).expect("reset");
            let mut ctl = Scripted::new();
            let mut success = false;
            for _ in 0..50 {
                let a = ctl.act(*task, obs.as_f32().expect("f32"));
                let s = env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
                success = s.info.is_success == Some(true);
                assert!(s.reward == if success { 0.0 } else { -1.0 }, "{id}: sparse reward");
            }
            solved += usize::from(success);
        }
        assert!(solved >= 38, "{id}: the scripted controller solved {solved}/40");
    }
}

/// The memoryless Push (the demonstrator policies are cloned from) is a rule of the present
/// observation — a fresh controller asked in any state of an episode answers what the one that
/// played it does — and it solves Push within a seed of the phased controller without noise
/// and more often than it with DART's noise on the motion it executes (seeds 0..40, the same
/// noise for both; measured: phased 40 and 33, memoryless 39 and 36).
#[test]
fn the_memoryless_push_is_a_rule_of_the_observation_and_solves_push() {
    let mut env = make("Arm-Push-v0");
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut solved = BTreeMap::new();
    for memoryless in [true, false] {
        for noise in [0.0f32, 0.1] {
            let mut rng = Rng::seed_from_u64(3);
            let mut n = 0;
            for seed in 0..40 {
                env.reset(Some(seed), None, obs.as_mut()).expect("reset");
                let mut ctl = if memoryless { Scripted::memoryless() } else { Scripted::new() };
                let mut success = false;
                for _ in 0..50 {
                    let flat = obs.as_f32().expect("f32");
                    let mut a = ctl.act(ArmTask::Push, flat);
                    if memoryless {
                        let fresh = Scripted::memoryless().act(ArmTask::Push, flat);
                        assert_eq!(a, fresh, "seed {seed}");
                    }
                    for x in &mut a[..3] {
                        *x = (*x + noise * rng.normal() as f32).clamp(-1.0, 1.0);
                    }
                    let s = env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
                    success = s.info.is_success == Some(true);
                }
                n += usize::from(success);
            }
            solved.insert((memoryless, noise.to_bits()), n);
        }
    }
    let [phased, phased_noised, memoryless, memoryless_noised] =
        [(false, 0.0f32), (false, 0.1), (true, 0.0), (true, 0.1)]
            .map(|k| solved[&(k.0, k.1.to_bits())]);
    println!(
        "solved of 40: phased {phased}, {phased_noised} noised; memoryless {memoryless}, \
         {memoryless_noised} noised"
    );
    assert!(
        memoryless >= 38 && memoryless + 1 >= phased,
        "noise-free: {memoryless}/40, phased {phased}"
    );
    assert!(
        memoryless_noised >= 35 && memoryless_noised > phased_noised,
        "DART's noise 0.1: {memoryless_noised}/40, phased {phased_noised}"
    );
}

/// Slide's strike from a standstill behind the puck: the puck lands within 5 cm on about
/// half of the seeds (the launch speed scatters) and on most at least halves its distance to
/// the goal; without a strike it would stay where it started, at least 10 cm away. A puck
/// that stops short within the gripper's reach is struck again, and some of those land.
#[test]
fn the_scripted_slide_strikes_the_puck_toward_the_goal() {
    let mut env = ArmEnv::new(
        "Arm-Slide-v0",
        spelunk_sims::arm::ArmConfig { task: ArmTask::Slide, ..Default::default() },
    )
    .expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    let flat_gap = |a: [f32; 3], b: [f32; 3]| (a[0] - b[0]).hypot(a[1] - b[1]);
    let (mut landed, mut halved, mut again) = (0, 0, 0);
    for seed in 0..40 {
        env.reset(Some(seed), None, obs.as_mut()).expect("reset");
        let before = flat_gap(env.object_pos().expect("a puck"), env.goal());
        assert!(before >= 0.1, "seed {seed}: the puck starts {before} m from the goal");
        let mut ctl = Scripted::new().for_env(&env);
        let mut success = false;
        // Strikes: the puck starting to speed up (sliding only slows it; a strike speeds it
        // up over one or two steps).
        let (mut strikes, mut was, mut rising) = (0, 0.0, false);
        let mut at = env.object_pos().expect("a puck");
        for _ in 0..50 {
            let a = ctl.act(ArmTask::Slide, obs.as_f32().expect("f32"));
            let s = env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
            success = s.info.is_success == Some(true);
            let now = env.object_pos().expect("a puck");
            let speed = flat_gap(now, at) / 0.04;
            let faster = speed > was + 0.1;
            strikes += usize::from(faster && !rising);
            (was, rising) = (speed, faster);
            at = now;
        }
        let after = flat_gap(env.object_pos().expect("a puck"), env.goal());
        landed += usize::from(success);
        halved += usize::from(after < before / 2.0);
        again += usize::from(success && strikes >= 2);
        assert!((1..=4).contains(&strikes), "seed {seed}: {strikes} strikes");
    }
    assert!(landed >= 20, "the strikes landed {landed}/40 within 5 cm");
    assert!(halved >= 28, "the strikes halved the puck's distance on {halved}/40");
    assert!(again >= 3, "a second strike landed on {again}/40");
}

fn replay(env: &mut dyn Env, obs: &mut ObsBuf, actions: &[[f32; 4]]) -> u64 {
    let mut d = Digest::new();
    for a in actions {
        let s = env.step(Action::Continuous(a), obs.as_mut()).expect("step");
        obs.digest_range(0..obs.len(), &mut d);
        d.f32(s.reward);
        d.flag(s.truncated);
    }
    d.value()
}

#[test]
fn restore_then_replay_gives_identical_trajectories() {
    for (id, task) in IDS {
        let mut env = make(id);
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(9), None, obs.as_mut()).expect("reset");
        // Walk with the scripted controller so objects are in contact and moving.
        let mut ctl = Scripted::new();
        for _ in 0..15 {
            let a = ctl.act(task, obs.as_f32().expect("f32"));
            env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
        }
        let snap = env.snapshot().expect("snapshot");
        let mut rng = Rng::seed_from_u64(5);
        let actions: Vec<[f32; 4]> = (0..30).map(|_| random_action(&mut rng)).collect();
        let first = replay(env.as_mut(), &mut obs, &actions);
        let mut fresh = make(id);
        fresh.restore(&snap).expect("restore into a fresh env");
        assert_eq!(replay(fresh.as_mut(), &mut obs, &actions), first, "{id}: fresh env");
        env.restore(&snap).expect("restore");
        assert_eq!(replay(env.as_mut(), &mut obs, &actions), first, "{id}: same env");
        // A snapshot of another family, or a truncated one, is refused and changes nothing.
        let other = spelunk_envs::registry()
            .make("MiniGrid-Empty-5x5-v0")
            .and_then(|mut e| {
                let mut o = ObsBuf::for_space(e.observation_space());
                e.reset(Some(0), None, o.as_mut())?;
                e.snapshot()
            })
            .expect("minigrid snapshot");
        assert!(env.restore(&other).is_err(), "{id}: foreign snapshot");
        let mut cut = snap.clone();
        cut.bytes.truncate(cut.bytes.len() / 2);
        assert!(env.restore(&cut).is_err(), "{id}: truncated snapshot");
        env.restore(&snap).expect("restore");
        assert_eq!(replay(env.as_mut(), &mut obs, &actions), first, "{id}: after refusals");
    }
}

/// Per-env digests of `n` envs run for 60 steps of seeded random actions.
fn vec_run(id: &str, n: usize, threads: usize) -> Vec<u64> {
    let reg = spelunk_sims::registry();
    let config = VecEnvConfig { num_threads: threads, autoreset: AutoReset::NextStep };
    let mut venv = VecEnv::from_fn(n, config, |_| reg.make(id)).expect("venv");
    venv.reset(Some(31)).expect("reset");
    let mut streams: Vec<Rng> = (0..n).map(|i| spelunk_tests::action_stream(31, i)).collect();
    let mut digests = vec![Digest::new(); n];
    for _ in 0..60 {
        let values: Vec<f32> = streams.iter_mut().flat_map(random_action).collect();
        venv.step(&spelunk_core::Actions::Continuous { values, dims: 4 }).expect("step");
        for (i, d) in digests.iter_mut().enumerate() {
            venv.digest_obs(i, d);
            d.f32(venv.rewards()[i]);
            d.flag(venv.truncated()[i]);
        }
    }
    digests.iter().map(Digest::value).collect()
}

#[test]
fn same_seed_same_digest_at_any_thread_count_and_golden() {
    let mut got = BTreeMap::new();
    for (id, _) in IDS {
        let reference = vec_run(id, 3, 1);
        assert_eq!(vec_run(id, 3, 2), reference, "{id}: 2 threads differ from 1");
        assert_eq!(vec_run(id, 3, 3), reference, "{id}: 3 threads differ from 1");
        let mut d = Digest::new();
        for v in &reference {
            d.u64(*v);
        }
        got.insert(id.to_owned(), d.hex());
    }
    let path = spelunk_tests::fixture("golden/arm_digests.txt");
    let text: String = got.iter().flat_map(|(k, v)| [k.as_str(), " ", v.as_str(), "\n"]).collect();
    if std::env::var_os("SPELUNK_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write goldens");
        return;
    }
    let want = std::fs::read_to_string(&path).expect("golden file (bless with SPELUNK_BLESS=1)");
    assert_eq!(text, want, "arm digests changed; if the dynamics changed on purpose, bless");
}

#[test]
fn goals_and_starts_are_drawn_as_fetch_draws_them() {
    // Offsets from the initial grip position, recorded from Gymnasium-Robotics 1.4 by
    // scripts/fixtures/fetch_goals.py: the same numpy stream gives the same numbers.
    let text =
        std::fs::read_to_string(spelunk_tests::fixture("fetch/goals.json")).expect("fixture");
    let fixture: BTreeMap<String, Vec<serde_json::Value>> =
        serde_json::from_str(&text).expect("json");
    for (id, task) in IDS {
        let mut env = make(id);
        let mut obs = ObsBuf::for_space(env.observation_space());
        let init = ArmEnv::initial_grip(task);
        for row in &fixture[id] {
            let seed = row["seed"].as_u64().expect("seed");
            env.reset(Some(seed), None, obs.as_mut()).expect("reset");
            let flat = obs.as_f32().expect("f32");
            let goal = &flat[3..6];
            let num = |v: &serde_json::Value| v.as_f64().expect("number") as f32;
            let close = |a: f32, b: f32, what: &str| {
                assert!((a - b).abs() < 1e-5, "{id} seed {seed}: {what} {a} vs Fetch's {b}");
            };
            let go = &row["goal_offset"];
            close(goal[0] - init[0], num(&go[0]), "goal x offset");
            close(goal[1] - init[1], num(&go[1]), "goal y offset");
            if task == ArmTask::Reach {
                close(goal[2] - init[2], num(&go[2]), "goal z offset");
            } else {
                let o = &flat[6 + 3..6 + 6];
                let oo = &row["object_offset"];
                close(o[0] - init[0], num(&oo[0]), "object x offset");
                close(o[1] - init[1], num(&oo[1]), "object y offset");
                let rest = o[2];
                close(goal[2] - rest, num(&row["goal_above_object"]), "goal height");
            }
        }
    }
}

#[test]
fn bad_actions_and_configs_fail_clearly_and_change_nothing() {
    let mut env = make("Arm-PickAndPlace-v0");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(1), None, obs.as_mut()).expect("reset");
    let snap = env.snapshot().expect("snapshot");
    for bad in [[f32::NAN, 0.0, 0.0, 0.0], [0.0, f32::INFINITY, 0.0, 0.0]] {
        let e = env.step(Action::Continuous(&bad), obs.as_mut()).expect_err("non-finite action");
        assert!(e.to_string().contains("finite"), "{e}");
    }
    let e = env.step(Action::Continuous(&[0.0; 3]), obs.as_mut()).expect_err("3 values");
    assert!(e.to_string().contains("4 values"), "{e}");
    assert!(env.step(Action::Discrete(1), obs.as_mut()).is_err());
    assert_eq!(env.snapshot().expect("snapshot"), snap, "a refused action changed the state");
    // Out-of-range values are clipped: a huge action moves no more than a unit one.
    let mut a = make("Arm-Reach-v0");
    let mut b = make("Arm-Reach-v0");
    let (mut oa, mut ob) =
        (ObsBuf::for_space(a.observation_space()), ObsBuf::for_space(b.observation_space()));
    a.reset(Some(2), None, oa.as_mut()).expect("reset");
    b.reset(Some(2), None, ob.as_mut()).expect("reset");
    a.step(Action::Continuous(&[50.0, -50.0, 50.0, 9.0]), oa.as_mut()).expect("step");
    b.step(Action::Continuous(&[1.0, -1.0, 1.0, 1.0]), ob.as_mut()).expect("step");
    assert_eq!(oa.as_f32(), ob.as_f32());
    let reg = spelunk_sims::registry();
    for (cfg, needle) in [
        (serde_json::json!({"substeps": 0}), "substeps"),
        (serde_json::json!({"timestep": -1.0}), "timestep"),
        (serde_json::json!({"max_steps": 0}), "max_steps"),
        (serde_json::json!({"gravity": 1}), "gravity"),
        (serde_json::json!({"task": "juggle"}), "juggle"),
        (serde_json::json!({"object_mass": 0.0}), "object_mass"),
        (serde_json::json!({"layout": "garage"}), "garage"),
    ] {
        match reg.make_with("Arm-Push-v0", &cfg) {
            Ok(_) => panic!("{cfg} was accepted"),
            Err(e) => assert!(e.to_string().contains(needle), "{cfg}: {e}"),
        }
    }
    match reg.make_with("Arm-Slide-v0", &serde_json::json!({"layout": "desk"})) {
        Ok(_) => panic!("a desk Slide was accepted"),
        Err(e) => assert!(e.to_string().contains("desk") && e.to_string().contains("Slide"), "{e}"),
    }
}

#[test]
fn the_camera_sees_the_object_where_the_geometry_puts_it() {
    use spelunk_sims::arm::{class, ArmConfig};
    use spelunk_sims::camera::{CameraConfig, Mount};
    let mut env =
        ArmEnv::new("Arm-Push-v0", ArmConfig { task: ArmTask::Push, ..ArmConfig::default() })
            .expect("env");
    let mut obs = ObsBuf::for_space(env.observation_space());
    for seed in 0..5 {
        env.reset(Some(seed), None, obs.as_mut()).expect("reset");
        let cam = CameraConfig { width: 96, height: 72, ..CameraConfig::default() };
        let frame = env.render_camera(&cam);
        let pin = env.pinhole(&cam);
        // The centre of the cube's top face, projected, is an object pixel at the distance
        // the geometry gives.
        let o = env.object_pos().expect("object");
        let top = spelunk_sims::arm::vec3([o[0], o[1], o[2] + 0.025]);
        let (u, v) = pin.project(top).expect("in front of the camera");
        let k = v as usize * frame.width + u as usize;
        assert_eq!(frame.segmentation[k], class::OBJECT, "seed {seed}: pixel ({u}, {v})");
        let want = (top - pin.eye()).length();
        assert!((frame.depth[k] - want).abs() < 0.02, "seed {seed}: {} vs {want}", frame.depth[k]);
        // The table is below the middle of the bottom row; the top row sees nothing.
        let bottom_middle = (frame.height - 1) * frame.width + frame.width / 2;
        assert_eq!(frame.segmentation[bottom_middle], class::TABLE);
        assert!(frame.segmentation[..frame.width].iter().all(|&c| c == class::NONE));
        assert!(frame.depth[..frame.width].iter().all(|&d| d == cam.max_depth));
    }
    // A wrist camera moves with the gripper and sees its fingers.
    let wrist = CameraConfig { mount: Mount::Wrist { height: 0.12 }, ..CameraConfig::default() };
    let frame = env.render_camera(&wrist);
    assert!(frame.segmentation.contains(&class::GRIPPER));
    // The picture for people draws the goal (seed 2 of PickAndPlace: in the air, in view).
    let mut pick = make("Arm-PickAndPlace-v0");
    let mut o = ObsBuf::for_space(pick.observation_space());
    pick.reset(Some(2), None, o.as_mut()).expect("reset");
    let img = pick.render_rgb().expect("picture");
    assert!(
        img.rgb
            .chunks_exact(3)
            .any(|p| p[1] > 100 && u16::from(p[1]) > 2 * u16::from(p[0]) && p[1] > p[2]),
        "no green goal marker in the picture"
    );
    // As an observation: the image joins the dict, its bytes equal the rendered frame.
    let cfg = serde_json::json!({"camera": {"width": 32, "height": 24}});
    let mut env = spelunk_sims::registry().make_with("Arm-PickAndPlace-v0", &cfg).expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    assert_eq!(obs.len(), 3 + 3 + 32 * 24 * 3 + 25);
    env.reset(Some(3), None, obs.as_mut()).expect("reset");
    let image = &obs.as_f32().expect("f32")[6..6 + 32 * 24 * 3];
    assert!(image.iter().all(|&p| (0.0..=255.0).contains(&p) && p.fract() == 0.0));
    assert!(image.iter().any(|&p| p != image[0]), "a blank image");
    // The scripted controller reads the state part wherever the image puts it.
    let mut ctl = Scripted::new();
    for _ in 0..50 {
        let a = ctl.act(ArmTask::PickAndPlace, obs.as_f32().expect("f32"));
        env.step(spelunk_core::Action::Continuous(&a), obs.as_mut()).expect("step");
    }
    assert_eq!(env.info().is_success, Some(true), "scripted PickAndPlace with a camera, seed 3");
    for bad in [
        serde_json::json!({"camera": {"width": 0}}),
        serde_json::json!({"camera": {"fov_y": 500.0}}),
        serde_json::json!({"camera": {"mount": {"kind": "fixed", "eye": [1, 1, 1], "target": [1, 1, 0]}}}),
    ] {
        match spelunk_sims::registry().make_with("Arm-Push-v0", &bad) {
            Ok(_) => panic!("{bad} was accepted"),
            Err(e) => assert!(e.to_string().contains("camera"), "{bad}: {e}"),
        }
    }
}

#[test]
fn instruction_targets_are_drawn_in_the_image_and_named_by_the_instruction() {
    use spelunk_sims::arm::{class, ArmConfig, INSTRUCTION_WORDS};
    use spelunk_sims::camera::CameraConfig;
    let cam = CameraConfig { width: 40, height: 40, fov_y: 30.0, ..CameraConfig::default() };
    let config = ArmConfig { targets: 3, camera: Some(cam.clone()), ..ArmConfig::default() };
    let mut env = ArmEnv::new("Arm-Reach-v0", config).expect("env");
    let mut obs = ObsBuf::for_space(env.observation_space());
    let pixels = 40 * 40 * 3;
    assert_eq!(obs.len(), 6 + pixels + 4 + 10);
    let mut per_colour = [0usize; 3];
    let (mut seen, mut all_seen) = (0, 0);
    for seed in 0..60 {
        env.reset(Some(seed), None, obs.as_mut()).expect("reset");
        let o = obs.as_f32().expect("f32").to_vec();
        let ids = &o[6 + pixels..6 + pixels + 4];
        let words: Vec<&str> = ids.iter().map(|&i| INSTRUCTION_WORDS[i as usize]).collect();
        assert_eq!(env.mission(), Some(words.join(" ").as_str()), "seed {seed}");
        let k = ids[2] as usize - 3;
        per_colour[k] += 1;
        // The goal is the instructed sphere: its centre's pixel shows that sphere's class
        // (unless the gripper is in front of it).
        let frame = env.render_camera(&cam);
        let (u, v) =
            env.pinhole(&cam).project(spelunk_sims::arm::vec3(env.goal())).expect("in view");
        let at = frame.segmentation[v as usize * 40 + u as usize];
        seen += usize::from(at == class::TARGET_RED + k as u8);
        // Every target is in the image, and the observation's image is the rendered one.
        all_seen +=
            usize::from((0..3u8).all(|c| frame.segmentation.contains(&(class::TARGET_RED + c))));
        let image: Vec<u8> = o[6..6 + pixels].iter().map(|&p| p as u8).collect();
        assert_eq!(image, frame.rgb, "seed {seed}");
    }
    assert!(seen >= 55, "the goal's pixel showed its sphere in {seen}/60 resets");
    assert!(all_seen >= 55, "all three spheres were in view in {all_seen}/60 resets");
    assert!(per_colour.iter().all(|&n| n >= 10), "colours drawn {per_colour:?}");
    // A snapshot carries the targets and the instruction.
    env.reset(Some(7), None, obs.as_mut()).expect("reset");
    let (snap, want, mission) = (
        env.snapshot().expect("snapshot"),
        obs.as_f32().expect("f32").to_vec(),
        env.mission().map(str::to_owned),
    );
    env.reset(Some(8), None, obs.as_mut()).expect("reset");
    env.restore(&snap).expect("restore");
    env.observe(obs.as_mut()).expect("observe");
    assert_eq!(obs.as_f32().expect("f32"), &want[..]);
    assert_eq!(env.mission().map(str::to_owned), mission);
    let reg = spelunk_sims::registry();
    for (id, cfg, needle) in [
        ("Arm-Reach-v0", serde_json::json!({"targets": 4, "camera": {}}), "at most 3"),
        ("Arm-Reach-v0", serde_json::json!({"targets": 1}), "camera"),
        ("Arm-PickAndPlace-v0", serde_json::json!({"targets": 2, "camera": {}}), "Reach or Push"),
        ("Arm-Slide-v0", serde_json::json!({"targets": 2, "camera": {}}), "Reach or Push"),
        ("Arm-Push-v0", serde_json::json!({"targets": 2}), "without a camera"),
    ] {
        match reg.make_with(id, &cfg) {
            Ok(_) => panic!("{cfg} was accepted"),
            Err(e) => assert!(e.to_string().contains(needle), "{cfg}: {e}"),
        }
    }
}

/// Instruction Push: the instruction names the target the puck must reach ("push the puck to
/// the green target"), the goal is that sphere's centre at the puck's height, the word ids
/// keep Reach's range for Reach and declare Push's own, and the scripted controller, which
/// reads the goal, pushes the puck onto the instructed sphere.
#[test]
fn instruction_push_names_the_target_the_puck_goes_to() {
    use spelunk_sims::arm::{class, instruction_ids, ArmConfig, INSTRUCTION_WORDS};
    use spelunk_sims::camera::CameraConfig;
    let cam = CameraConfig { width: 40, height: 40, fov_y: 30.0, ..CameraConfig::default() };
    let config =
        |task| ArmConfig { task, targets: 3, camera: Some(cam.clone()), ..ArmConfig::default() };
    let top = |env: &ArmEnv| match env.observation_space() {
        spelunk_core::Space::Dict(m) => m
            .iter()
            .find(|(n, _)| n == "instruction")
            .map(|(_, s)| match s {
                spelunk_core::Space::Box { high, shape, .. } => (shape[0], high[0]),
                other => panic!("instruction space {other}"),
            })
            .expect("an instruction member"),
        other => panic!("observation space {other}"),
    };
    let reach = ArmEnv::new("Arm-Reach-v0", config(ArmTask::Reach)).expect("reach");
    assert_eq!(top(&reach), (4, 6.0), "Reach's instruction keeps its length and id range");
    let mut env = ArmEnv::new("Arm-Push-v0", config(ArmTask::Push)).expect("push");
    assert_eq!(top(&env), (7, 9.0));
    let mut obs = ObsBuf::for_space(env.observation_space());
    let pixels = 40 * 40 * 3;
    assert_eq!(obs.len(), 6 + pixels + 7 + 25);
    let (mut seen, mut solved, mut colours) = (0, 0, [0; 3]);
    let episodes = 30;
    for seed in 0..episodes {
        env.reset(Some(seed), None, obs.as_mut()).expect("reset");
        let o = obs.as_f32().expect("f32").to_vec();
        let ids: Vec<u8> = o[6 + pixels..6 + pixels + 7].iter().map(|&i| i as u8).collect();
        let words: Vec<&str> = ids.iter().map(|&i| INSTRUCTION_WORDS[usize::from(i)]).collect();
        assert_eq!(env.mission(), Some(words.join(" ").as_str()), "seed {seed}");
        assert_eq!(words[..5], ["push", "the", "puck", "to", "the"], "seed {seed}");
        let k = usize::from(ids[5]) - 3;
        assert_eq!(Some(ids.clone()), instruction_ids(ArmTask::Push, k));
        colours[k] += 1;
        let goal = env.goal();
        let puck = env.object_pos().expect("a puck");
        assert!((goal[2] - puck[2]).abs() < 1e-4, "seed {seed}: goal at the puck's height");
        let frame = env.render_camera(&cam);
        let (u, v) = env.pinhole(&cam).project(spelunk_sims::arm::vec3(goal)).expect("in view");
        seen += usize::from(
            frame.segmentation[v as usize * 40 + u as usize] == class::TARGET_RED + k as u8,
        );
        let mut ctl = Scripted::new();
        for _ in 0..50 {
            let a = ctl.act(ArmTask::Push, obs.as_f32().expect("f32"));
            env.step(spelunk_core::Action::Continuous(&a), obs.as_mut()).expect("step");
        }
        solved += usize::from(env.info().is_success == Some(true));
    }
    // The puck may stand in front of the goal's sphere at the start; mostly it does not.
    assert!(seen >= 24, "the goal's pixel showed its sphere in {seen}/{episodes} resets");
    assert!(colours.iter().all(|&n| n >= 5), "colours drawn {colours:?}");
    assert!(solved >= 25, "the scripted push solved {solved}/{episodes}");
}
