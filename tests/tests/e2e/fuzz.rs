//! Fuzz-style tests: valid inputs mutated thousands of ways (fixed seeds, bounded time) through
//! every reader of untrusted bytes — level files, URDFs, training configs, env snapshots,
//! Go-Explore archives, parameter and optimiser checkpoints. Each case must end in `Ok` or a
//! clear error: never a panic, never a hang. What parses is then used (a level played, a robot
//! stepped, a snapshot stepped from), since a reader that accepts a bad value only moves the
//! crash.
//!
//! `SPELUNK_ROBUSTNESS_OUT=docs/results cargo test -p spelunk-tests --test e2e fuzz` also
//! writes the counts per input kind to `robustness_<kind>.json`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use spelunk_core::{Action, Env, ObsBuf, Rng, Snapshot};

/// Numbers a hostile file would hold.
const HOSTILE: [&str; 14] = [
    "0",
    "-1",
    "1e30",
    "-1e30",
    "1e-30",
    "nan",
    "inf",
    "-inf",
    "4294967296",
    "1e308",
    "",
    "99999999999999999999",
    "0.0000001",
    "-0",
];

/// One mutation of `input`: byte flips, insertions, deletions, truncation, duplication of a
/// span, or a number replaced by a hostile one.
fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(3);
    for _ in 0..rounds {
        let n = out.len().max(1);
        match rng.below(7) {
            0 => {
                let at = rng.below(n as u64) as usize;
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                let at = rng.below(n as u64 + 1) as usize;
                out.insert(at.min(out.len()), rng.below(256) as u8);
            }
            2 if !out.is_empty() => {
                let at = rng.below(out.len() as u64) as usize;
                let len = (1 + rng.below(16) as usize).min(out.len() - at);
                out.drain(at..at + len);
            }
            3 => {
                let keep = rng.below(n as u64 + 1) as usize;
                out.truncate(keep);
            }
            4 if !out.is_empty() => {
                let at = rng.below(out.len() as u64) as usize;
                let len = (1 + rng.below(64) as usize).min(out.len() - at);
                let span: Vec<u8> = out[at..at + len].to_vec();
                let to = rng.below(out.len() as u64 + 1) as usize;
                out.splice(to..to, span);
            }
            _ => {
                // A run of digits (with sign, point, exponent) replaced by a hostile number.
                let digits: Vec<usize> =
                    (0..out.len()).filter(|&i| out[i].is_ascii_digit()).collect();
                if digits.is_empty() {
                    continue;
                }
                let mut start = digits[rng.below(digits.len() as u64) as usize];
                let is_num = |b: u8| b.is_ascii_digit() || b"+-.eE".contains(&b);
                while start > 0 && is_num(out[start - 1]) {
                    start -= 1;
                }
                let mut end = start;
                while end < out.len() && is_num(out[end]) {
                    end += 1;
                }
                let h = HOSTILE[rng.below(HOSTILE.len() as u64) as usize];
                out.splice(start..end, h.bytes());
            }
        }
    }
    out
}

/// Counts of one input kind.
#[derive(Debug, Default)]
struct Tally {
    tried: u64,
    accepted: u64,
    refused: u64,
    panics: Vec<String>,
    slowest: Duration,
}

/// Run `case` on `cases` mutations of each seed input; every case must return (no panic) in
/// well under a hang's time.
fn fuzz(kind: &str, seeds: &[Vec<u8>], cases: u64, mut case: impl FnMut(&[u8]) -> bool) -> Tally {
    let mut rng = Rng::seed_from_u64(0x5eed_f022 ^ kind.len() as u64);
    let mut t = Tally::default();
    for k in 0..cases {
        let seed = &seeds[(k as usize) % seeds.len()];
        let input = if k < seeds.len() as u64 { seed.clone() } else { mutate(seed, &mut rng) };
        let start = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| case(&input))) {
            Ok(true) => t.accepted += 1,
            Ok(false) => t.refused += 1,
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                t.panics.push(format!("{msg} on {:?}", String::from_utf8_lossy(&input)));
            }
        }
        t.slowest = t.slowest.max(start.elapsed());
        t.tried += 1;
    }
    report(kind, &t);
    assert!(t.panics.is_empty(), "{kind}: {} panics, first: {}", t.panics.len(), t.panics[0]);
    // A hang is what never returns; a case that takes seconds on these small inputs is one in
    // the making (the 1e20 m URDF origin used to spin forever in inverse kinematics).
    assert!(t.slowest < Duration::from_secs(20), "{kind}: a case took {:?}", t.slowest);
    assert!(t.accepted > 0 && t.refused > 0, "{kind}: the mutations must reach both sides");
    t
}

/// Print the tally, and write it when `SPELUNK_ROBUSTNESS_OUT` names a folder.
fn report(kind: &str, t: &Tally) {
    let line = serde_json::json!({
        "kind": kind,
        "tried": t.tried,
        "accepted": t.accepted,
        "clean_error": t.refused,
        "panic": t.panics.len(),
        "hang": 0,
        "slowest_ms": t.slowest.as_millis() as u64,
        "command": "SPELUNK_ROBUSTNESS_OUT=docs/results cargo test -p spelunk-tests --test e2e fuzz",
    });
    eprintln!("{line}");
    if let Ok(dir) = std::env::var("SPELUNK_ROBUSTNESS_OUT") {
        let path = std::path::Path::new(&dir).join(format!("robustness_{kind}.json"));
        std::fs::write(&path, format!("{line:#}\n")).expect("write the tally");
    }
}

/// Play `env` for `steps` random actions from a reset; false when it errs.
fn play(env: &mut dyn Env, steps: usize, seed: u64) -> bool {
    let mut obs = ObsBuf::for_space(env.observation_space());
    if env.reset(Some(seed), None, obs.as_mut()).is_err() {
        return false;
    }
    step_randomly(env, &mut obs, steps, seed)
}

fn step_randomly(env: &mut dyn Env, obs: &mut ObsBuf, steps: usize, seed: u64) -> bool {
    let mut rng = Rng::seed_from_u64(seed);
    let space = env.action_space().clone();
    for _ in 0..steps {
        let r = if let Some(n) = space.n() {
            env.step(Action::Discrete(rng.below(n) as i64), obs.as_mut())
        } else {
            let a: Vec<f32> = (0..space.flat_len()).map(|_| rng.f32() * 2.0 - 1.0).collect();
            env.step(Action::Continuous(&a), obs.as_mut())
        };
        match r {
            Ok(s) if s.terminated || s.truncated => {
                if env.reset(None, None, obs.as_mut()).is_err() {
                    return false;
                }
            }
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

#[test]
fn fuzz_level_files() {
    use spelunk_envs::montezuma::level;
    use spelunk_envs::montezuma::{Montezuma, MontezumaConfig, MONTEZUMA_LITE};
    let seeds = vec![
        MONTEZUMA_LITE.as_bytes().to_vec(),
        std::fs::read("../examples/two_rooms.txt").expect("examples/two_rooms.txt"),
    ];
    fuzz("level_files", &seeds, 1500, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else { return false };
        let Ok(l) = level::parse(text, "<fuzz>", None) else { return false };
        let Ok(mut env) = Montezuma::from_levels("fuzz", vec![l], MontezumaConfig::default())
        else {
            return false;
        };
        play(&mut env, 200, 1)
    });
}

#[test]
fn fuzz_urdf_files() {
    use spelunk_sims::robot::Builtin;
    use spelunk_sims::urdf::Robot;
    let seeds: Vec<Vec<u8>> =
        [Builtin::So100, Builtin::Fetch7].iter().map(|b| b.urdf().as_bytes().to_vec()).collect();
    let dir = std::env::temp_dir().join(format!("spelunk-fuzz-urdf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let reg = spelunk_sims::registry();
    let mut k = 0u64;
    fuzz("urdf_files", &seeds, 400, |bytes| {
        k += 1;
        let Ok(text) = std::str::from_utf8(bytes) else { return false };
        let Ok(robot) = Robot::parse(text, "<fuzz>") else { return false };
        // What parses is simulated: the so100's own settings where its links survived.
        let path = dir.join("arm.urdf");
        std::fs::write(&path, text).expect("write");
        let so100 = robot.links.iter().any(|l| l.name == "gripper_link");
        let robot_cfg = if so100 {
            crate::robot::so100_file(&path)
        } else {
            serde_json::json!({"urdf": path.to_str()})
        };
        match reg.make_with("Arm-Reach-v0", &serde_json::json!({ "robot": robot_cfg })) {
            Ok(mut env) => play(env.as_mut(), 10, k),
            Err(_) => true,
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fuzz_training_configs() {
    let seeds = vec![
        b"env = \"MiniGrid-Empty-5x5-v0\"\ngroup_size = 8\ngroups_per_step = 16\niterations = 50\n[loss]\nclip_low = 0.2\nclip_high = 0.28\nentropy_coef = 0.01\n[adam]\nlr = 0.001\neps = 1e-8\n".to_vec(),
        std::fs::read("../examples/montezuma_robustify.toml").expect("example config"),
        std::fs::read("../examples/vla_reach.toml").expect("example config"),
    ];
    fuzz("training_configs", &seeds, 3000, |bytes| {
        let Ok(text) = std::str::from_utf8(bytes) else { return false };
        let Ok(cfg) = toml::from_str::<spelunk_grpo::TrainConfig>(text) else { return false };
        cfg.validate().is_ok()
    });
}

/// Snapshots of each env family, mutated: a restore is refused, or the restored env steps.
#[test]
fn fuzz_env_snapshots() {
    let envs = spelunk_sims::registry();
    let grid = spelunk_envs::registry();
    let ids = [
        "MiniGrid-DoorKey-8x8-v0",
        "MiniGrid-KeyCorridorS3R3-v0",
        "Montezuma-Lite-v0",
        "NoisyTV-Maze-Remote-v0",
        "Bandit-Gaussian-10-v0",
        "Arm-Push-v0",
    ];
    for id in ids {
        let mut env = grid.make(id).or_else(|_| envs.make(id)).expect("make");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(3), None, obs.as_mut()).expect("reset");
        step_randomly(env.as_mut(), &mut obs, 15, 3);
        let snap = env.snapshot().expect("snapshot");
        let kind = snap.kind.clone();
        let cases = if id.starts_with("Arm") { 300 } else { 1500 };
        fuzz(&format!("snapshots_{}", id.to_lowercase()), &[snap.bytes], cases, |bytes| {
            let s = Snapshot { kind: kind.clone(), bytes: bytes.to_vec() };
            if env.restore(&s).is_err() {
                return false;
            }
            if env.observe(obs.as_mut()).is_err() {
                return false;
            }
            step_randomly(env.as_mut(), &mut obs, 5, 7)
        });
    }
}

/// Go-Explore archives, mutated (the checksum refuses them; a mutation of the body that
/// keeps its checksum is what a bug would write, so those are checked unchecked too).
#[test]
fn fuzz_go_explore_archives() {
    use spelunk_intrinsic::goexplore::{DomainCells, GoExplore, GoExploreConfig};
    let reg = spelunk_envs::registry();
    let make = reg.factory("Montezuma-Lite-v0", None);
    let mut ge = GoExplore::new(
        GoExploreConfig { threads: 1, ..GoExploreConfig::default() },
        Box::new(DomainCells { cell_size: 1 }),
        &*make,
    )
    .expect("explorer");
    for _ in 0..5 {
        ge.iterate().expect("iteration");
    }
    let dir = std::env::temp_dir().join(format!("spelunk-fuzz-ge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("archive.bin");
    ge.save(&path).expect("save");
    let bytes = std::fs::read(&path).expect("read");
    // The same archive with a valid checksum after every mutation: the parser's own checks.
    let body = bytes[..bytes.len() - 8].to_vec();
    let mut fresh = GoExplore::new(
        GoExploreConfig { threads: 1, ..GoExploreConfig::default() },
        Box::new(DomainCells { cell_size: 1 }),
        &*make,
    )
    .expect("explorer");
    fuzz("go_explore_archives", &[body], 600, |b| {
        let mut with_sum = b.to_vec();
        let mut d = spelunk_core::Digest::new();
        d.bytes(b);
        with_sum.extend_from_slice(&d.value().to_le_bytes());
        std::fs::write(&path, &with_sum).expect("write");
        if fresh.load(&path).is_err() {
            return false;
        }
        fresh.iterate().is_ok()
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Parameter and optimiser checkpoints, mutated: refused, or loaded whole.
#[test]
fn fuzz_checkpoints() {
    use spelunk_models::{Adam, AdamConfig, ParamStore};
    let dev = candle_core::Device::Cpu;
    let mut p = ParamStore::new(&dev, 1);
    p.uniform("w", &[8, 4], 0.5).expect("w");
    p.zeros("b", &[8]).expect("b");
    let params = p.to_bytes("mlp", "{\"hidden\":[8]}").expect("bytes");
    fuzz("parameter_checkpoints", &[params], 1500, |b| p.load_bytes(b, "mlp", "<fuzz>").is_ok());
    let mut adam = Adam::new(&p, AdamConfig::default()).expect("adam");
    let state = adam.state_bytes().expect("state");
    fuzz("optimizer_checkpoints", &[state], 1500, |b| adam.load_state(b, "<fuzz>").is_ok());
}
