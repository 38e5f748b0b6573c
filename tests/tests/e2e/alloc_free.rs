//! Zero heap allocations per step in steady state, counted by a per-thread counting
//! allocator around the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use std::sync::atomic::Ordering;

use spelunk_core::{Action, AutoReset, ObsBuf, Rng, VecEnv, VecEnvConfig};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Whether this thread is a `VecEnv` worker: 0 not known yet, 1 finding out, 2 a worker,
    /// 3 not one.
    static WORKER: Cell<u8> = const { Cell::new(0) };
}

/// Allocations made by `VecEnv` worker threads (named `spelunk-vecenv-*`), all together.
static WORKER_ALLOCATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Count one allocation of the current thread (and of the workers' total if it is one).
fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
    let kind = WORKER.try_with(|k| {
        if k.get() == 0 {
            // Looking up the thread's name may allocate; the state 1 keeps that allocation
            // from asking again.
            k.set(1);
            let named =
                std::thread::current().name().is_some_and(|n| n.starts_with("spelunk-vecenv-"));
            k.set(if named { 2 } else { 3 });
        }
        k.get()
    });
    if kind == Ok(2) {
        WORKER_ALLOCATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Counts allocations made by the current thread.
pub struct Counting;

// SAFETY: forwards to the system allocator; the counter is a const-initialised
// thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Allocations made by the current thread so far (for other test modules).
pub fn allocations_now() -> u64 {
    allocations()
}

/// Steps (with resets at episode ends) of one env after `warm` warm-up steps, with uniform
/// random actions drawn ahead (discrete, or within a bounded box); returns allocations.
fn count_single(id: &str, warm: usize, steps: usize) -> u64 {
    let reg = spelunk_envs::registry();
    let mut env = reg.make(id).expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut rng = Rng::seed_from_u64(5);
    let space = env.action_space().clone();
    let dims = space.flat_len().max(1);
    let discrete = space.n();
    let (low, high) = match &space {
        spelunk_core::Space::Box { low, high, .. } => (low.clone(), high.clone()),
        _ => (vec![0.0; dims], vec![0.0; dims]),
    };
    let pool: Vec<f32> = (0..4096 * dims)
        .map(|k| match discrete {
            Some(n) => rng.below(n) as f32,
            None => low[k % dims] + (high[k % dims] - low[k % dims]) * rng.f32(),
        })
        .collect();
    env.reset(Some(1), None, obs.as_mut()).expect("reset");
    let mut run = |steps: usize| {
        for t in 0..steps {
            let k = t % 4096;
            let action = match discrete {
                Some(_) => Action::Discrete(pool[k * dims] as i64),
                None => Action::Continuous(&pool[k * dims..(k + 1) * dims]),
            };
            let s = env.step(action, obs.as_mut()).expect("step");
            if s.terminated || s.truncated {
                env.reset(None, None, obs.as_mut()).expect("reset");
            }
        }
    };
    run(warm); // warm-up: scratch buffers reach their steady size
    let before = allocations();
    run(steps);
    allocations() - before
}

/// The ids whose steps allocate, with why. README.md's "Stepping allocates nothing" sentence
/// names the same families.
const ALLOCATING: &[(&str, &str)] = &[
    ("MiniGrid-ObstructedMaze-1Dl-v0", "rarely: a reset's level generation grows a buffer"),
    ("MiniGrid-ObstructedMaze-1Dlh-v0", "rarely: a reset's level generation grows a buffer"),
    ("MiniGrid-ObstructedMaze-1Dlhb-v0", "rarely: a reset's level generation grows a buffer"),
    ("Montezuma-Lite-Text-v0", "about 8 per step: the text observation is formatted anew"),
    ("NoisyTV-Maze-None-Text-v0", "about 8 per step: the text observation is formatted anew"),
];

#[test]
fn every_registered_env_steps_without_allocating_but_those_listed() {
    let reg = spelunk_envs::registry();
    let mut allocating = Vec::new();
    for id in reg.ids() {
        // Physics steps are ~1000× slower than grid steps: fewer of them, still many episodes
        // of resets for the grids (whose episodes end within 50k random steps).
        let (warm, steps) = if id.starts_with("Arm-") { (400, 600) } else { (20_000, 50_000) };
        let n = count_single(id, warm, steps);
        if n > 0 {
            allocating.push(format!("{id} ({:.2} per step)", n as f64 / steps as f64));
        }
    }
    let listed: Vec<&str> = ALLOCATING.iter().map(|(id, _)| *id).collect();
    let found: Vec<&str> = allocating.iter().map(|s| s.split(' ').next().expect("id")).collect();
    assert_eq!(found, listed, "envs that allocate while stepping: {allocating:?}");
}

#[test]
fn vec_env_steps_without_allocating() {
    // One thread, so every env step runs on this thread and is counted; worker threads run
    // the same per-chunk code.
    let reg = spelunk_envs::registry();
    for autoreset in [AutoReset::NextStep, AutoReset::SameStep] {
        let config = VecEnvConfig { num_threads: 1, autoreset };
        let mut venv =
            VecEnv::from_fn(16, config, |_| reg.make("MiniGrid-DoorKey-5x5-v0")).expect("venv");
        venv.reset(Some(3)).expect("reset");
        let mut rng = Rng::seed_from_u64(9);
        let actions: Vec<i64> = (0..16 * 512).map(|_| rng.below(7) as i64).collect();
        for k in 0..2000 {
            let r = (k % 512) * 16;
            venv.step_discrete(&actions[r..r + 16]).expect("step");
        }
        let before = allocations();
        for k in 0..5000 {
            let r = (k % 512) * 16;
            venv.step_discrete(&actions[r..r + 16]).expect("step");
        }
        assert_eq!(allocations() - before, 0, "{autoreset:?}");
    }
}

#[test]
fn vec_env_steps_without_allocating_on_two_worker_threads() {
    // Two threads: the env steps run on the VecEnv's named workers, whose allocations are
    // counted together (other tests' threads are not workers of this VecEnv, but other tests
    // may run VecEnvs at the same time, so the count is retried on a quiet window).
    let reg = spelunk_envs::registry();
    for id in ["MiniGrid-DoorKey-5x5-v0", "Montezuma-Lite-v0"] {
        let config = VecEnvConfig { num_threads: 2, autoreset: AutoReset::NextStep };
        let mut venv = VecEnv::from_fn(16, config, |_| reg.make(id)).expect("venv");
        let n = venv.action_space().n().expect("discrete");
        venv.reset(Some(3)).expect("reset");
        let mut rng = Rng::seed_from_u64(9);
        let actions: Vec<i64> = (0..16 * 512).map(|_| rng.below(n) as i64).collect();
        for k in 0..2000 {
            let r = (k % 512) * 16;
            venv.step_discrete(&actions[r..r + 16]).expect("step");
        }
        let mut best = u64::MAX;
        for _ in 0..5 {
            let (mine, workers) = (allocations(), WORKER_ALLOCATIONS.load(Ordering::SeqCst));
            for k in 0..3000 {
                let r = (k % 512) * 16;
                venv.step_discrete(&actions[r..r + 16]).expect("step");
            }
            let total = allocations() - mine
                + WORKER_ALLOCATIONS.load(Ordering::SeqCst).saturating_sub(workers);
            best = best.min(total);
            if best == 0 {
                break;
            }
        }
        assert_eq!(best, 0, "{id}: 2 worker threads allocated while stepping");
    }
}
