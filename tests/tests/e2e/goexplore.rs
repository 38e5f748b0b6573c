//! Go-Explore's phase 1: it reaches Montezuma-Lite's treasure by returning to cells and
//! exploring, its demonstration replays in the env (as does every archived trajectory, to its
//! snapshot's state), shortening keeps it solving, runs repeat at any thread count, archives
//! resume exactly, and bad cell functions, checkpoints and envs give clear errors.

use std::sync::atomic::{AtomicU64, Ordering};

use spelunk_core::{Action, Info, ObsBuf};
use spelunk_intrinsic::goexplore::{
    choose_downscale, replay, shorten, AdaptConfig, Cell, CellFn, DomainCells, GoExplore,
    GoExploreConfig, PixelCells, ShortenConfig,
};

fn explorer(id: &str, cells: Box<dyn CellFn>, cfg: GoExploreConfig) -> GoExplore {
    let reg = spelunk_envs::registry();
    let id = id.to_owned();
    GoExplore::new(cfg, cells, &move |_| reg.make(&id)).expect("go-explore")
}

fn domain(cfg: GoExploreConfig) -> GoExplore {
    explorer("Montezuma-Lite-v0", Box::new(DomainCells { cell_size: 1 }), cfg)
}

fn fingerprint(ge: &GoExplore) -> Vec<(Cell, u64, usize, u64)> {
    ge.archive()
        .entries()
        .iter()
        .map(|e| (e.cell.clone(), e.score.to_bits(), e.trajectory.len(), e.times_seen))
        .collect()
}

#[test]
fn go_explore_reaches_the_treasure_and_its_demo_replays() {
    // Seed 0 solves the level after 3.7M frames at cell size 1 (see docs/results/go_explore.md);
    // the budget leaves room, and the run stops as soon as it solves.
    let mut ge = domain(GoExploreConfig::default());
    while ge.solved().is_none() {
        let s = ge.iterate().expect("iteration");
        assert!(s.frames < 6_000_000, "not solved in 6M frames: {s:?}");
    }
    let solved = ge.solved().expect("solved").clone();
    let reg = spelunk_envs::registry();
    let mut env = reg.make("Montezuma-Lite-v0").expect("env");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let mut total = 0.0;
    let mut last = None;
    for &a in &solved.trajectory {
        let s = env.step(Action::Discrete(i64::from(a)), obs.as_mut()).expect("step");
        total += f64::from(s.reward);
        last = Some(s);
    }
    let last = last.expect("steps");
    assert!(last.terminated && last.info.is_success == Some(true), "the demo ends at the treasure");
    assert_eq!(total, solved.score, "the demo's return is the archive's score");
    assert!(ge.archive().rooms() >= 10, "rooms {}", ge.archive().rooms());

    // Shortened, the demo still reaches the treasure, with no lower score and no life lost,
    // in fewer actions.
    let short =
        shorten(env.as_mut(), 0, &solved.trajectory, &ShortenConfig::default()).expect("shorten");
    assert!(short.cuts > 0 && short.actions.len() < solved.trajectory.len(), "{short:?}");
    let r = replay(env.as_mut(), 0, &short.actions).expect("replay");
    assert!(r.success && r.score >= solved.score && r.lives == Some(5), "{r:?}");
    // A trajectory that does not succeed is refused with the reason.
    let e = shorten(env.as_mut(), 0, &solved.trajectory[..10], &ShortenConfig::default())
        .expect_err("no success");
    assert!(e.to_string().contains("does not end in success"), "{e}");
}

#[test]
fn every_archived_trajectory_replays_to_its_snapshot() {
    // Each entry's trajectory, replayed from reset, must reach exactly the state of its
    // snapshot — also when an earlier task of the same batch replaced the entry a later task
    // explored from (the later task's suffix belongs to the state it restored).
    let mut ge = domain(GoExploreConfig { batch: 32, threads: 2, ..GoExploreConfig::default() });
    for _ in 0..150 {
        ge.iterate().expect("iteration");
    }
    let mut env = spelunk_envs::registry().make("Montezuma-Lite-v0").expect("env");
    let mut obs = ObsBuf::for_space(env.observation_space());
    for (i, e) in ge.archive().entries().iter().enumerate() {
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        for &a in &e.trajectory.to_vec() {
            env.step(Action::Discrete(i64::from(a)), obs.as_mut()).expect("step");
        }
        let snap = env.snapshot().expect("snapshot");
        assert_eq!(snap, *e.snapshot, "entry {i} (cell [{}]) does not replay to its state", e.cell);
    }
}

#[test]
fn recorded_tasks_replay_the_frames_the_explorer_stepped() {
    // The bookkeeping bench's raw side: restoring each recorded start and stepping its actions
    // must step exactly the explorer's frames, and each task must start in an archived cell.
    let mut ge = domain(GoExploreConfig { threads: 2, ..GoExploreConfig::default() });
    for _ in 0..30 {
        ge.iterate().expect("iteration");
    }
    ge.record_tasks(true);
    let before = ge.stats().frames;
    for _ in 0..5 {
        ge.iterate().expect("iteration");
    }
    let tasks = ge.take_recorded();
    assert_eq!(tasks.len(), 5 * GoExploreConfig::default().batch);
    let frames: usize = tasks.iter().map(|(_, a)| a.len()).sum();
    assert_eq!(frames as u64, ge.stats().frames - before);
    let mut env = spelunk_envs::registry().make("Montezuma-Lite-v0").expect("env");
    let mut obs = ObsBuf::for_space(env.observation_space());
    for (start, actions) in &tasks {
        // Its cell is archived (the entry may since hold a better way there).
        env.restore(start).expect("restore");
        let cell = DomainCells { cell_size: 1 }.cell(&obs, &env.info()).expect("cell");
        assert!(ge.archive().get(&cell).is_some(), "cell [{cell}] is not archived");
        let lives = env.info().lives;
        for (k, &a) in actions.iter().enumerate() {
            let s = env.step(Action::Discrete(i64::from(a)), obs.as_mut()).expect("step");
            // Only the last action may end the task (a lost life, the episode's end).
            let ended = s.terminated || s.truncated || s.info.lives < lives;
            assert!(!ended || k + 1 == actions.len(), "the task went on after it ended");
        }
    }
    assert!(ge.take_recorded().is_empty(), "taken");
    ge.record_tasks(false);
    ge.iterate().expect("iteration");
    assert!(ge.take_recorded().is_empty(), "not recording");
}

#[test]
fn go_explore_is_the_same_at_any_thread_count_and_resumes_exactly() {
    let run = |threads: usize, n: usize| {
        let mut ge = domain(GoExploreConfig { threads, ..GoExploreConfig::default() });
        for _ in 0..n {
            ge.iterate().expect("iteration");
        }
        ge
    };
    let one = run(1, 40);
    let three = run(3, 40);
    assert_eq!(fingerprint(&one), fingerprint(&three), "1 and 3 threads agree");
    assert!(one.archive().len() > 50, "it explores: {} cells", one.archive().len());
    // Save after 20 iterations, resume in a fresh explorer, run 20 more: same as 40 straight.
    let dir = std::env::temp_dir().join(format!("spelunk-ge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("archive.bin");
    run(2, 20).save(&path).expect("save");
    let mut resumed = domain(GoExploreConfig { threads: 2, ..GoExploreConfig::default() });
    resumed.load(&path).expect("load");
    for _ in 0..20 {
        resumed.iterate().expect("iteration");
    }
    assert_eq!(fingerprint(&resumed), fingerprint(&one), "resume loses nothing");
    let key = |s: spelunk_intrinsic::goexplore::Stats| {
        (s.iteration, s.frames, s.cells, s.rooms, s.max_score.to_bits(), s.solved)
    };
    assert_eq!(key(resumed.stats()), key(one.stats()));

    // A corrupt or foreign checkpoint is refused, and the explorer is left as it was.
    let bytes = std::fs::read(&path).expect("read");
    let before = fingerprint(&resumed);
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let e = resumed.load(&path).expect_err("truncated").to_string();
    assert!(e.contains("corrupt archive") && e.contains("archive.bin"), "{e}");
    std::fs::write(&path, b"hello").expect("garbage");
    assert!(resumed.load(&path).is_err());
    // Any single changed byte is refused (before the checksum, 31 of 42 flips loaded, one
    // setting the iteration counter to 65,323): every byte of the header, then 300 spread
    // over the cells.
    let stride = (bytes.len() / 300).max(1);
    for at in (0..96.min(bytes.len())).chain((96..bytes.len()).step_by(stride)) {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x10;
        std::fs::write(&path, &flipped).expect("flip");
        let e = resumed.load(&path).expect_err("a flipped byte").to_string();
        assert!(e.contains("archive"), "byte {at}: {e}");
    }
    assert_eq!(fingerprint(&resumed), before, "a refused archive changes nothing");
    std::fs::write(&path, &bytes).expect("restore");
    let mut other = explorer(
        "Montezuma-Lite-v0",
        Box::new(DomainCells { cell_size: 2 }),
        GoExploreConfig::default(),
    );
    let e = other.load(&path).expect_err("other cells").to_string();
    assert!(e.contains("domain/1") && e.contains("domain/2"), "{e}");
    let mut seeded = domain(GoExploreConfig { seed: 9, ..GoExploreConfig::default() });
    assert!(seeded.load(&path).expect_err("other seed").to_string().contains("seed 0"));
    assert_eq!(fingerprint(&resumed), before, "a failed load changes nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A cell function that is not a function of the state: it counts its calls.
struct Drifting(AtomicU64);

impl CellFn for Drifting {
    fn name(&self) -> String {
        "drifting".into()
    }
    fn cell(&self, _obs: &ObsBuf, info: &Info) -> spelunk_intrinsic::Result<Cell> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        Ok(Cell {
            level: 0,
            pos: Some([info.room.unwrap_or(0) as i32, 0, 0]),
            items: 0,
            key: vec![(n % 7) as u8],
        })
    }
}

#[test]
fn bad_cell_functions_and_envs_without_snapshots_are_clear_errors() {
    let mut ge = explorer(
        "Montezuma-Lite-v0",
        Box::new(Drifting(AtomicU64::new(0))),
        GoExploreConfig { threads: 1, ..GoExploreConfig::default() },
    );
    let mut err = None;
    for _ in 0..5 {
        if let Err(e) = ge.iterate() {
            err = Some(e.to_string());
            break;
        }
    }
    let e = err.expect("the drift is caught on a return");
    assert!(e.contains("not a function of the state") && e.contains("drifting"), "{e}");
    // Domain cells on an env without positions in info.
    let reg = spelunk_envs::registry();
    let make = move |_: Option<&serde_json::Value>| reg.make("Bandit-Bernoulli-10-v0");
    let r = GoExplore::new(GoExploreConfig::default(), Box::new(DomainCells::default()), &make);
    let e = r.expect_err("no positions").to_string();
    assert!(e.contains("position") && e.contains("pixel cells"), "{e}");
    // Pixel cells on a non-image observation.
    let reg = spelunk_envs::registry();
    let env = reg.make("Montezuma-Lite-v0").expect("env");
    let e = PixelCells::for_space(env.observation_space(), None).expect_err("not pixels");
    assert!(e.to_string().contains("RGB byte image"), "{e}");
}

#[test]
fn pixel_cells_choose_their_downscaling_and_explore() {
    let mut ge = explorer(
        "Montezuma-Lite-Pixels-v0",
        Box::new(
            PixelCells::for_space(
                spelunk_envs::registry()
                    .make("Montezuma-Lite-Pixels-v0")
                    .expect("env")
                    .observation_space(),
                Some(AdaptConfig::default()),
            )
            .expect("pixels"),
        ),
        GoExploreConfig { adapt_every: 20, ..GoExploreConfig::default() },
    );
    let before = ge.cell_fn().params();
    assert_eq!(before, vec![11, 8, 8], "Go-Explore's defaults first");
    for _ in 0..200 {
        ge.iterate().expect("iteration");
    }
    assert!(ge.archive().rooms() >= 3, "pixel cells leave the first room: {:?}", ge.stats());
    // The re-fitted parameters keep the archive near the target size for its frames.
    let frames: Vec<Vec<u8>> = {
        let reg = spelunk_envs::registry();
        let mut env = reg.make("Montezuma-Lite-Pixels-v0").expect("env");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        let mut rng = spelunk_core::Rng::seed_from_u64(3);
        (0..400)
            .map(|_| {
                let s = env.step(Action::Discrete(rng.range_i64(0, 5)), obs.as_mut()).expect("s");
                if s.terminated || s.truncated {
                    env.reset(Some(0), None, obs.as_mut()).expect("reset");
                }
                obs.as_u8().expect("bytes").to_vec()
            })
            .collect()
    };
    let cfg = AdaptConfig::default();
    let best = choose_downscale(&frames, (60, 48), &cfg).expect("a choice");
    let target = cfg.target_fraction * frames.len() as f64;
    assert!(best.objective > 0.3, "{best:?}");
    assert!((best.cells as f64) < 4.0 * target && (best.cells as f64) > target / 4.0, "{best:?}");
}
