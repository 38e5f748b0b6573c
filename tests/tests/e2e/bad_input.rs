//! Bad input gets a clear error and changes nothing: actions, buffers, episode order,
//! configs, ids, level files and snapshots.

use serde_json::json;
use spelunk_core::{Action, Env, Error, ObsBuf};
use spelunk_envs::montezuma::level;

fn make(id: &str) -> (Box<dyn Env>, ObsBuf) {
    let env = spelunk_envs::registry().make(id).expect("make");
    let obs = ObsBuf::for_space(env.observation_space());
    (env, obs)
}

#[test]
fn out_of_range_actions_are_errors_and_leave_the_state_alone() {
    for id in [
        "MiniGrid-DoorKey-8x8-v0",
        "Montezuma-Lite-v0",
        "NoisyTV-Maze-Remote-v0",
        "Bandit-Gaussian-10-v0",
    ] {
        let (mut env, mut obs) = make(id);
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        let before = env.snapshot().expect("snapshot");
        let n = env.action_space().n().expect("discrete") as i64;
        for bad in [
            Action::Discrete(-1),
            Action::Discrete(n),
            Action::Continuous(&[0.5]),
            Action::MultiDiscrete(&[0]),
        ] {
            let e = env.step(bad, obs.as_mut()).expect_err("bad action accepted");
            assert!(matches!(e, Error::InvalidAction { .. }), "{id}: {e}");
            assert!(e.to_string().contains(id), "{id}: error should name the env: {e}");
        }
        assert_eq!(env.snapshot().expect("snapshot"), before, "{id}: state changed");
    }
}

#[test]
fn stepping_a_finished_or_unstarted_episode_is_an_error() {
    let (mut env, mut obs) = make("MiniGrid-Empty-5x5-v0");
    let e = env.step(Action::Discrete(2), obs.as_mut()).expect_err("step before reset");
    assert!(matches!(e, Error::NeedsReset { .. }), "{e}");
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    // Empty-5x5: start (1,1) facing east, goal (3,3).
    for a in [2, 2, 1, 2] {
        assert!(!env.step(Action::Discrete(a), obs.as_mut()).expect("step").terminated);
    }
    let s = env.step(Action::Discrete(2), obs.as_mut()).expect("step");
    assert!(s.terminated && s.reward > 0.9, "{s:?}");
    let e = env.step(Action::Discrete(2), obs.as_mut()).expect_err("step after the end");
    assert!(matches!(e, Error::NeedsReset { .. }), "{e}");
    assert!(e.to_string().contains("reset"), "{e}");
}

#[test]
fn wrong_observation_buffers_are_errors() {
    let (mut env, _) = make("MiniGrid-DoorKey-8x8-v0");
    let mut small = ObsBuf::U8(vec![0; 10]);
    let e = env.reset(Some(0), None, small.as_mut()).expect_err("short buffer");
    assert!(e.to_string().contains("148"), "{e}");
    let mut floats = ObsBuf::F32(vec![0.0; 148]);
    assert!(matches!(env.reset(Some(0), None, floats.as_mut()), Err(Error::ObsBuffer { .. })));
}

#[test]
fn unknown_ids_suggest_the_closest() {
    let reg = spelunk_envs::registry();
    let e = reg.make("MiniGrid-DoorKey-8x8-v1").err().expect("unknown id");
    let msg = e.to_string();
    assert!(msg.contains("MiniGrid-DoorKey-8x8-v0"), "{msg}");
    let e = reg.make("montezuma-lite").err().expect("unknown id");
    assert!(e.to_string().contains("Montezuma-Lite-v0"), "{e}");
}

#[test]
fn bad_configs_name_the_problem() {
    let reg = spelunk_envs::registry();
    let cases = [
        ("MiniGrid-DoorKey-8x8-v0", json!({"max_step": 10}), "max_step"),
        ("MiniGrid-DoorKey-8x8-v0", json!({"agent_view_size": 4}), "odd"),
        ("MiniGrid-DoorKey-8x8-v0", json!({"max_steps": 0}), "max_steps"),
        ("Bandit-Bernoulli-10-v0", json!({"arms": 1}), "arms"),
        ("Bandit-Bernoulli-10-v0", json!({"means": [0.5, 2.0]}), "means"),
        ("Bandit-Gaussian-10-v0", json!({"history": 8}), "Bernoulli"),
        ("Bandit-Bernoulli-10-v0", json!({"history": 0}), "history"),
        ("Montezuma-Lite-v0", json!({"obs": "voxels"}), "voxels"),
        ("Montezuma-Lite-v0", json!({"sticky_action_prob": 1.5}), "sticky"),
        ("Montezuma-Lite-v0", json!({"level": "/no/such/level.txt"}), "/no/such/level.txt"),
        ("NoisyTV-Maze-None-v0", json!({"pixel_p": -0.1}), "pixel_p"),
        ("NoisyTV-Maze-None-v0", json!([1, 2]), "table"),
    ];
    for (id, cfg, needle) in cases {
        let e = reg.make_with(id, &cfg).err().unwrap_or_else(|| panic!("{id} accepted {cfg}"));
        assert!(e.to_string().contains(needle), "{id} {cfg}: `{e}` should mention `{needle}`");
    }
}

fn parse_err(text: &str) -> (usize, usize, String) {
    match level::parse(text, "test.txt", None) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => (e.line, e.column, e.message),
    }
}

const GOOD: &str = "room_size = 5x4\nroom 0 0\n#####\n#@.$#\n#..T#\n#####\n";

#[test]
fn malformed_level_files_fail_with_line_and_column() {
    assert!(level::parse(GOOD, "good.txt", None).is_ok());
    let cases: [(&str, (usize, usize), &str); 13] = [
        ("room_size = 5x4\nroom 0 0\n#####\n#@.?#\n#..T#\n#####\n", (4, 4), "unknown tile"),
        ("room_size = 5x4\nroom 0 0\n#####\n#@.$\n#..T#\n#####\n", (4, 5), "has 4 tiles"),
        ("room_size = 5x4\nroom 0 0\n#####\n#@.$#\n#..T.\n#####\n", (5, 5), "right edge"),
        ("room_size = 5x4\nroom 0 0\n#####\n#..$#\n#..T#\n#####\n", (1, 1), "no start"),
        ("room_size = 5x4\nroom 0 0\n#####\n#@@$#\n#..T#\n#####\n", (4, 3), "second start"),
        (
            "room_size = 5x4\ncolour = red\nroom 0 0\n#####\n#@.$#\n#..T#\n#####\n",
            (2, 1),
            "unknown key",
        ),
        ("room_size = 5x4\nroom zero 0\n#####\n", (2, 1), "room COL ROW"),
        (
            "room_size = 5x4\nlives = many\nroom 0 0\n#####\n#@.$#\n#..T#\n#####\n",
            (2, 9),
            "integer",
        ),
        ("room_size = 5x4\nroom 0 0\n#####\n#@.$#\n", (5, 1), "file ends"),
        ("room_size = 5x4\nroom 0 0\n##.##\n#@.$#\n#..T#\n#####\n", (3, 3), "ladder"),
        // Zero lives or a zero period is refused, not played as something else.
        ("room_size = 5x4\nlives = 0\nroom 0 0\n#####\n#@.$#\n#..T#\n#####\n", (2, 9), "lives"),
        (
            "room_size = 5x4\nenemy_period = 0\nroom 0 0\n#####\n#@.$#\n#..T#\n#####\n",
            (2, 16),
            "enemy_period",
        ),
        (
            "room_size = 5x4\nbarrier_period = 0\nroom 0 0\n#####\n#@.$#\n#..T#\n#####\n",
            (2, 18),
            "barrier_period",
        ),
    ];
    for (text, (line, column), needle) in cases {
        let (l, c, m) = parse_err(text);
        assert_eq!((l, c), (line, column), "position for `{needle}`: {m}");
        assert!(m.contains(needle), "`{m}` should mention `{needle}`");
    }
    // Through the registry the error keeps its file, line and column.
    let dir = std::env::temp_dir().join(format!("spelunk-bad-level-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("bad.txt");
    std::fs::write(&path, cases[0].0).expect("write");
    let e = spelunk_envs::registry()
        .make_with("Montezuma-Lite-v0", &json!({ "level": path }))
        .err()
        .expect("bad level accepted");
    assert!(matches!(e, Error::Parse { line: 4, column: 4, .. }), "{e}");
    assert!(e.to_string().starts_with(&format!("{}:4:4:", path.display())), "{e}");
}

#[test]
fn foreign_truncated_and_corrupt_snapshots_are_errors() {
    let (mut grid, mut gobs) = make("MiniGrid-DoorKey-8x8-v0");
    let (mut mz, mut mobs) = make("Montezuma-Lite-v0");
    grid.reset(Some(0), None, gobs.as_mut()).expect("reset");
    mz.reset(Some(0), None, mobs.as_mut()).expect("reset");
    let gsnap = grid.snapshot().expect("snapshot");
    let msnap = mz.snapshot().expect("snapshot");
    let before = mz.snapshot().expect("snapshot");
    let e = mz.restore(&gsnap).expect_err("foreign snapshot");
    assert!(e.to_string().contains("minigrid"), "{e}");
    let mut cut = msnap.clone();
    cut.bytes.truncate(cut.bytes.len() / 2);
    assert!(mz.restore(&cut).expect_err("truncated").to_string().contains("truncated"));
    let mut long = msnap.clone();
    long.bytes.push(0);
    assert!(mz.restore(&long).expect_err("trailing").to_string().contains("trailing"));
    let mut corrupt = msnap.clone();
    corrupt.bytes[4] = 200; // room index
    assert!(mz.restore(&corrupt).is_err());
    assert_eq!(mz.snapshot().expect("snapshot"), before, "failed restores must change nothing");
    // Another grid size.
    let (mut small, _) = make("MiniGrid-DoorKey-5x5-v0");
    assert!(small.restore(&gsnap).expect_err("size").to_string().contains("8x8"));
    mz.restore(&msnap).expect("own snapshot restores");
}
