//! Montezuma-Lite is solvable, its treasure needs keys fetched from other rooms, and the
//! level format's features (ladders, doors, hazards, lives, next level) behave as documented.

use serde_json::json;
use spelunk_core::{Action, Env, ObsBuf};
use spelunk_envs::montezuma::level::{self, tile};
use spelunk_envs::montezuma::solve::{solve, Plan};
use spelunk_envs::montezuma::{Montezuma, MontezumaConfig, MONTEZUMA_LITE};

fn lite(text: &str) -> Montezuma {
    let l = level::parse(text, "<test>", None).expect("parse");
    Montezuma::from_levels("test", vec![l], MontezumaConfig::default()).expect("env")
}

#[test]
fn montezuma_lite_is_solvable_and_the_plan_replays_in_the_env() {
    let mut env = lite(MONTEZUMA_LITE);
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let Plan::Solved(plan) = solve(&env, 5_000_000) else {
        panic!("Montezuma-Lite has no solution")
    };
    let mut rooms = std::collections::BTreeSet::new();
    let mut total = 0.0;
    let mut end = None;
    for (t, &a) in plan.iter().enumerate() {
        let s = env.step(Action::Discrete(i64::from(a)), obs.as_mut()).expect("step");
        rooms.insert(s.info.room.expect("room"));
        total += s.reward;
        assert_eq!(s.info.lives, Some(5), "the plan never loses a life (step {t})");
        if s.terminated {
            end = Some((t, s));
            break;
        }
    }
    let (t, last) = end.expect("episode ends at the treasure");
    assert_eq!(t + 1, plan.len());
    assert_eq!(last.info.is_success, Some(true));
    assert!(last.reward >= 10.0, "treasure reward, got {}", last.reward);
    assert!(total >= 10.0);
    assert!(rooms.len() >= 6, "the treasure is six rooms deep, plan visits {rooms:?}");
    println!(
        "Montezuma-Lite: shortest solution {} steps through {} rooms",
        plan.len(),
        rooms.len()
    );
    assert!(plan.len() > 80, "shortest solution is long: {}", plan.len());
}

#[test]
fn the_treasure_needs_the_keys_from_other_rooms() {
    for (what, from, to) in [
        ("red key", "....~..r..~.~.#", "....~.....~.~.#"),
        ("yellow key", "#y............#", "#.............#"),
    ] {
        let text = MONTEZUMA_LITE.replacen(from, to, 1);
        assert_ne!(text, MONTEZUMA_LITE, "{what} not found in the level");
        let mut env = lite(&text);
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        match solve(&env, 5_000_000) {
            Plan::Unsolvable { states } => assert!(states > 1000, "{what}: searched only {states}"),
            other => panic!("without the {what} the treasure must be unreachable, got {other:?}"),
        }
    }
}

#[test]
fn lava_enemies_and_barriers_cost_lives_and_respawn_at_the_room_entry() {
    let text = "room_size = 7x5\nlives = 2\nbarrier_period = 4\nbarrier_on = 2\n\nroom 0 0\n#######\n#@~...#\n#.|...#\n#.....#\n#######\n";
    let mut env = lite(text);
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    // Right into lava: a life lost, back at the start.
    let s = env.step(Action::Discrete(2), obs.as_mut()).expect("step");
    assert_eq!(
        (s.info.lives, s.info.x, s.info.y, s.terminated),
        (Some(1), Some(1), Some(1), false)
    );
    // Down (t=2, barrier off since 2 % 4 >= 2), then right onto the barrier at t=3 (off).
    env.step(Action::Discrete(3), obs.as_mut()).expect("step");
    let s = env.step(Action::Discrete(2), obs.as_mut()).expect("step");
    assert_eq!((s.info.lives, s.info.x), (Some(1), Some(2)), "barrier is off at t=3");
    // Wait on the barrier: at t=4 it switches on and costs the last life.
    let s = env.step(Action::Discrete(0), obs.as_mut()).expect("step");
    assert!(s.terminated, "no lives left ends the episode");
    assert_eq!(s.info.lives, Some(0));
}

#[test]
fn doors_take_keys_from_either_side_and_ladders_join_rooms() {
    let text = "room_size = 5x5\n\nroom 0 0\n#####\n#@.y#\n#...Y\n##H##\n##H##\n\nroom 1 0\n#####\n#...#\n..$.#\n#...#\n#####\n\nroom 0 1\n##H##\n#.H.#\n#.T.#\n#...#\n#####\n";
    let mut env = lite(text);
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let step = |env: &mut Montezuma, obs: &mut ObsBuf, a: i64| {
        env.step(Action::Discrete(a), obs.as_mut()).expect("step")
    };
    // Without the key the door on the right edge blocks.
    step(&mut env, &mut obs, 3); // (1,2)
    step(&mut env, &mut obs, 2); // (2,2)
    step(&mut env, &mut obs, 2); // (3,2)
    let s = step(&mut env, &mut obs, 2); // door
    assert_eq!(s.info.x, Some(3), "locked door blocks without a key");
    step(&mut env, &mut obs, 1); // (3,1) key
    assert_eq!(env.info().inventory, Some(1 << 24), "one yellow key");
    step(&mut env, &mut obs, 3); // (3,2)
    let s = step(&mut env, &mut obs, 2); // opens the door, stands in it
    assert_eq!((s.info.x, s.info.inventory), (Some(4), Some(0)), "the key is used up");
    let s = step(&mut env, &mut obs, 2); // into room (1,0)
    assert_eq!((s.info.room, s.info.x, s.info.y), (Some(1), Some(0), Some(2)));
    let s = step(&mut env, &mut obs, 2);
    let s2 = step(&mut env, &mut obs, 2);
    assert_eq!(s.reward + s2.reward, 1.0, "jewel");
    // Back through the open door to column 2, then down the ladder to the treasure.
    for a in [4, 4, 4, 4, 4] {
        step(&mut env, &mut obs, a);
    }
    assert_eq!((env.info().room, env.info().x, env.info().y), (Some(0), Some(2), Some(2)));
    let mut last = step(&mut env, &mut obs, 3);
    for _ in 0..5 {
        if last.terminated {
            break;
        }
        last = step(&mut env, &mut obs, 3);
    }
    assert!(last.terminated && last.reward == 10.0, "{last:?}");
    assert_eq!(last.info.room, Some(2));
}

#[test]
fn a_next_level_continues_the_episode() {
    let dir = std::env::temp_dir().join(format!("spelunk-levels-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("one.txt"),
        "room_size = 5x3\nnext_level = two.txt\nroom 0 0\n#####\n#@.T#\n#####\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("two.txt"),
        "room_size = 5x3\nreward_treasure = 5\nroom 0 0\n#####\n#T.@#\n#####\n",
    )
    .expect("write");
    let reg = spelunk_envs::registry();
    let mut env = reg
        .make_with("Montezuma-Lite-v0", &json!({ "level": dir.join("one.txt") }))
        .expect("level chain");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    env.step(Action::Discrete(2), obs.as_mut()).expect("step");
    let s = env.step(Action::Discrete(2), obs.as_mut()).expect("step");
    assert_eq!((s.reward, s.terminated, s.info.level), (10.0, false, Some(1)));
    env.step(Action::Discrete(4), obs.as_mut()).expect("step");
    let s = env.step(Action::Discrete(4), obs.as_mut()).expect("step");
    assert_eq!((s.reward, s.terminated, s.info.level), (5.0, true, Some(1)));
}

#[test]
fn observations_show_the_agent_where_it_is() {
    let reg = spelunk_envs::registry();
    // Local view: the agent sits in the centre; the status vector holds room, x, y.
    let mut env = reg.make("Montezuma-Lite-v0").expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let o = obs.as_u8().expect("bytes");
    assert_eq!(o[4 * 9 + 4], tile::AGENT);
    assert_eq!(&o[81..84], &[0, 3, 2]);
    assert_eq!(o[88], 5, "lives in the status vector");
    // `obs_lives = false` leaves a 0 in their place; info still has them.
    let mut env = reg.make_with("Montezuma-Lite-v0", &json!({"obs_lives": false})).expect("make");
    let info = env.reset(Some(0), None, obs.as_mut()).expect("reset");
    assert_eq!((obs.as_u8().expect("bytes")[88], info.lives), (0, Some(5)));
    // Pixels: the agent's tile is white, the wall tile at (0, 0) is wall-coloured.
    let mut env =
        reg.make_with("Montezuma-Lite-Pixels-v0", &json!({"pixels_per_tile": 2})).expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let o = obs.as_u8().expect("bytes");
    let w = 15 * 2;
    let px = |x: usize, y: usize| &o[(y * w + x) * 3..(y * w + x) * 3 + 3];
    assert_eq!(px(3 * 2 + 1, 2 * 2 + 1), &[255, 255, 255]);
    assert_eq!(px(0, 0), &spelunk_envs::montezuma::PALETTE[tile::WALL as usize]);
    // The HUD row under the room: five lives from the right, no keys yet on the left.
    assert_eq!(o.len(), 12 * 2 * w * 3, "11 room rows and a HUD row");
    assert_eq!(px(w - 1, 11 * 2), &[255, 255, 255]);
    assert_eq!(px(w - 9, 11 * 2), &[255, 255, 255]);
    assert_eq!(px(w - 11, 11 * 2), &spelunk_envs::montezuma::PALETTE[tile::FLOOR as usize]);
    assert_eq!(px(0, 11 * 2), &spelunk_envs::montezuma::PALETTE[tile::FLOOR as usize]);
    // Grid: the whole 5x3 room map; the start room is (2, 0).
    let mut env = reg.make("Montezuma-Lite-Grid-v0").expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let o = obs.as_u8().expect("bytes");
    let gw = 5 * 15;
    assert_eq!(o[2 * gw + 2 * 15 + 3], tile::AGENT);
    assert_eq!(o[0], tile::VOID, "no room at map cell (0, 0)");
}

#[test]
fn sticky_actions_are_seeded() {
    let reg = spelunk_envs::registry();
    let run = |seed| {
        let mut env =
            reg.make_with("Montezuma-Lite-v0", &json!({"sticky_action_prob": 0.25})).expect("make");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(seed), None, obs.as_mut()).expect("reset");
        (0..200)
            .map(|t| {
                let s =
                    env.step(Action::Discrete([1, 2, 3, 4][t % 4]), obs.as_mut()).expect("step");
                (s.info.x, s.info.y)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));

    // A snapshot carries its generator: restored twice, the same noise follows. Re-seeded
    // after the restore (as privileged starts do), the state is the snapshot's and the
    // noise is the new seed's.
    let mut env =
        reg.make_with("Montezuma-Lite-v0", &json!({"sticky_action_prob": 0.25})).expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(3), None, obs.as_mut()).expect("reset");
    let snap = env.snapshot().expect("snapshot");
    let mut from = |reseed: Option<u64>| {
        env.restore(&snap).expect("restore");
        if let Some(r) = reseed {
            env.reseed(r);
        }
        let start = (env.info().x, env.info().y, env.info().room);
        let path: Vec<_> = (0..200)
            .map(|t| {
                let s =
                    env.step(Action::Discrete([1, 2, 3, 4][t % 4]), obs.as_mut()).expect("step");
                (s.info.x, s.info.y)
            })
            .collect();
        (start, path)
    };
    let (a, b) = (from(None), from(None));
    assert_eq!(a, b, "a snapshot replays its own noise");
    let (c, d, e) = (from(Some(7)), from(Some(8)), from(Some(7)));
    assert_eq!(c.0, a.0, "re-seeding keeps the state");
    assert_ne!(c.1, d.1, "other seeds, other noise");
    assert_eq!(c.1, e.1, "the same seed, the same noise");
}

#[test]
fn the_documented_examples_load_and_the_example_level_is_solvable() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let levels =
        level::load_chain(&root.join("examples/two_rooms.txt")).expect("example level parses");
    let mut env =
        Montezuma::from_levels("two-rooms", levels, MontezumaConfig::default()).expect("env");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    assert!(matches!(solve(&env, 1_000_000), Plan::Solved(_)), "the example level can be finished");
    let text = std::fs::read_to_string(root.join("examples/montezuma_pixels.toml"))
        .expect("example config");
    let cfg: toml::Value = toml::from_str(&text).expect("example config is TOML");
    let cfg = serde_json::to_value(cfg).expect("json");
    let env = spelunk_envs::registry()
        .make_with("Montezuma-Lite-v0", &cfg)
        .expect("example config builds an env");
    assert!(
        env.observation_space().to_string().contains("[48, 60, 3]"),
        "{}",
        env.observation_space()
    );
}
