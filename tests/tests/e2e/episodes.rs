//! Episode files and the scene envs describe: a recorded episode replays state for state, and
//! any change to it (an action, the env, the file's shape) is caught where it happens.

use spelunk_core::{
    state_checksum, Action, DemoAction, Env, EpisodeFile, ObsBuf, Observers, Rng, Shape,
    EPISODE_FORMAT,
};

/// `steps` random actions from `reset(seed)`, as an episode file.
fn record(env: &mut dyn Env, seed: u64, steps: usize) -> EpisodeFile {
    let mut obs = ObsBuf::for_space(env.observation_space());
    let info = env.reset(Some(seed), None, obs.as_mut()).expect("reset");
    let mut checksums = vec![state_checksum(obs.view(), 0.0, false, false, &info)];
    let (mut actions, mut ret) = (Vec::new(), 0.0);
    let mut rng = Rng::seed_from_u64(seed + 100);
    let n = env.action_space().n().expect("discrete");
    for _ in 0..steps {
        let a = rng.below(n) as i64;
        let s = env.step(Action::Discrete(a), obs.as_mut()).expect("step");
        let r = f64::from(s.reward);
        checksums.push(state_checksum(obs.view(), r, s.terminated, s.truncated, &s.info));
        actions.push(DemoAction::Discrete(a));
        ret += r;
        if s.terminated || s.truncated {
            break;
        }
    }
    EpisodeFile {
        format: EPISODE_FORMAT,
        env: env.id().to_owned(),
        env_config: None,
        seed,
        actions,
        checksums,
        episodic_return: ret,
    }
}

#[test]
fn an_episode_file_replays_state_for_state_and_any_change_is_caught_where_it_happens() {
    let reg = spelunk_envs::registry();
    for (id, seed) in [
        ("MiniGrid-DoorKey-8x8-v0", 7),
        ("Montezuma-Lite-v0", 3),
        ("MiniGrid-MultiRoom-N4-S5-v0", 11),
    ] {
        let mut env = reg.make(id).expect("env");
        let file = record(env.as_mut(), seed, 120);
        let dir = std::env::temp_dir().join(format!("spelunk-episode-{}-{id}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("episode.json");
        file.save(&path).expect("save");
        let loaded = EpisodeFile::load(&path).expect("load");
        assert_eq!(loaded, file);
        let mut fresh = reg.make(id).expect("env");
        let e = loaded.replay(fresh.as_mut(), 0, &mut Observers::new()).expect("replay");
        assert_eq!(e.length, file.actions.len() as u64);
        assert!((e.episodic_return - file.episodic_return).abs() < 1e-12);

        // A changed action: the replay fails at the state after it, and says so.
        let mut edited = file.clone();
        let k = edited.actions.len() / 2;
        edited.actions[k] = match edited.actions[k] {
            DemoAction::Discrete(a) => DemoAction::Discrete((a + 1) % 3),
            DemoAction::Continuous(_) => unreachable!("discrete envs"),
        };
        let err = edited.replay(reg.make(id).expect("env").as_mut(), 0, &mut Observers::new());
        let msg = err.map(|_| ()).expect_err("an edited action must not replay").to_string();
        // Turning instead of another turn can leave the state equal; the first difference is
        // at or after the edited step, never before it.
        let at: usize = msg
            .strip_prefix("state ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{id}: {msg}"));
        assert!(at > k, "{id}: {msg}");

        // Another env id.
        let other = if id.starts_with("MiniGrid-DoorKey") {
            "MiniGrid-Empty-8x8-v0"
        } else {
            "MiniGrid-DoorKey-8x8-v0"
        };
        let msg = file
            .replay(reg.make(other).expect("env").as_mut(), 0, &mut Observers::new())
            .map(|_| ())
            .expect_err("another env")
            .to_string();
        assert!(msg.contains(&format!("records {id}, not {other}")), "{msg}");

        // Files that cannot be episodes.
        let mut short = file.clone();
        short.checksums.pop();
        short.save(&path).expect("save");
        let msg = EpisodeFile::load(&path).map(|_| ()).expect_err("short").to_string();
        assert!(msg.contains("checksums (one per state)"), "{msg}");
        let mut future = file.clone();
        future.format = EPISODE_FORMAT + 1;
        future.save(&path).expect("save");
        let msg = EpisodeFile::load(&path).map(|_| ()).expect_err("format").to_string();
        assert!(msg.contains("this build reads format"), "{msg}");
        std::fs::write(&path, "{\"format\": 1, \"env\": ").expect("write");
        let msg = EpisodeFile::load(&path).map(|_| ()).expect_err("truncated").to_string();
        assert!(msg.contains("episode.json:1:") && msg.contains("not an episode file"), "{msg}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn grid_envs_say_where_they_draw_the_agent() {
    let reg = spelunk_envs::registry();
    for id in ["MiniGrid-DoorKey-8x8-v0", "Montezuma-Lite-v0", "MiniGrid-FourRooms-v0"] {
        let mut env = reg.make(id).expect("env");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(5), None, obs.as_mut()).expect("reset");
        let mut rng = Rng::seed_from_u64(9);
        let n = env.action_space().n().expect("discrete");
        for _ in 0..200 {
            let img = env.render_rgb().expect("picture");
            let [x, y, side] = env.agent_tile().expect("agent tile");
            assert!(
                side >= 2 && (x + side) as usize <= img.width && (y + side) as usize <= img.height
            );
            // The agent is drawn on its tile: the tile is not one flat background colour.
            let px = |u: u32, v: u32| {
                let i = (v as usize * img.width + u as usize) * 3;
                [img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]]
            };
            let centre = px(x + side / 2, y + side / 2);
            let corner = px(x, y);
            assert!(
                centre != corner || centre != [0, 0, 0],
                "{id}: nothing drawn at the agent's tile"
            );
            let s = env.step(Action::Discrete(rng.below(n) as i64), obs.as_mut()).expect("step");
            if s.terminated || s.truncated {
                env.reset(None, None, obs.as_mut()).expect("reset");
            }
        }
    }
}

#[test]
fn an_arm_scene_has_every_collider_where_the_physics_has_it() {
    let reg = {
        let mut r = spelunk_envs::registry();
        spelunk_sims::register(&mut r);
        r
    };
    for config in [serde_json::json!({}), serde_json::json!({"robot": {"urdf": "fetch7"}})] {
        let mut env = reg.make_with("Arm-PickAndPlace-v0", &config).expect("env");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(2), None, obs.as_mut()).expect("reset");
        for step in 0..10 {
            let scene = env.scene(step == 0).expect("a 3D env describes its scene");
            let object = scene.bodies.iter().find(|b| b.name == "object").expect("the cube");
            let cube = &obs.as_f32().expect("floats")[0..3];
            for k in 0..3 {
                assert!(
                    (object.pose.translation[k] - cube[k]).abs() < 1e-6,
                    "{config}: {:?} vs {cube:?}",
                    object.pose
                );
            }
            assert!(matches!(object.shape, Shape::Box { .. }));
            let goal = scene.goal.expect("goal");
            assert_eq!(&goal[..], &obs.as_f32().expect("floats")[3..6]);
            assert!(scene.bodies.iter().any(|b| b.name == "table" && !b.moving));
            assert!(scene.bodies.iter().filter(|b| b.name.starts_with("gripper/")).count() >= 3);
            let names: std::collections::HashSet<&str> =
                scene.bodies.iter().map(|b| b.name.as_str()).collect();
            assert_eq!(names.len(), scene.bodies.len(), "body names are unique");
            let front = scene.cameras.iter().find(|c| c.name == "front").expect("front camera");
            if step == 0 {
                // The camera's picture is the one render_rgb gives, and its pinhole projects
                // the cube's centre onto a cube pixel of the segmentation.
                assert_eq!(front.rgb, env.render_rgb().expect("picture").rgb);
                let inv = {
                    let [x, y, z, w] = front.pose.rotation;
                    spelunk_core::Pose { translation: [0.0; 3], rotation: [-x, -y, -z, w] }
                };
                let d: [f32; 3] =
                    std::array::from_fn(|k| object.pose.translation[k] - front.pose.translation[k]);
                let c = inv.apply(d);
                let u = (c[0] / c[2] * front.focal + front.width as f32 / 2.0) as usize;
                let v = (c[1] / c[2] * front.focal + front.height as f32 / 2.0) as usize;
                assert_eq!(
                    front.segmentation[v * front.width + u],
                    spelunk_sims::arm::class::OBJECT
                );
            } else {
                assert!(front.rgb.is_empty(), "images only when asked for");
            }
            let a = [0.3f32, -0.2, 0.1, 1.0];
            env.step(Action::Continuous(&a), obs.as_mut()).expect("step");
        }
    }
}
