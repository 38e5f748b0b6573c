//! Zero heap allocations per step in steady state, counted by a per-thread counting
//! allocator around the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use spelunk_core::{Action, AutoReset, ObsBuf, Rng, VecEnv, VecEnvConfig};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Counts allocations made by the current thread.
pub struct Counting;

// SAFETY: forwards to the system allocator; the counter is a const-initialised
// thread-local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
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

/// Steps (with resets at episode ends) of one env after a warm-up; returns allocations.
fn count_single(id: &str, steps: usize) -> u64 {
    let reg = spelunk_envs::registry();
    let mut env = reg.make(id).expect("make");
    let n = env.action_space().n().expect("discrete");
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut rng = Rng::seed_from_u64(5);
    let actions: Vec<i64> = (0..4096).map(|_| rng.below(n) as i64).collect();
    env.reset(Some(1), None, obs.as_mut()).expect("reset");
    let mut run = |steps: usize| {
        for t in 0..steps {
            let s = env.step(Action::Discrete(actions[t % 4096]), obs.as_mut()).expect("step");
            if s.terminated || s.truncated {
                env.reset(None, None, obs.as_mut()).expect("reset");
            }
        }
    };
    run(20_000); // warm-up: scratch buffers reach their steady size
    let before = allocations();
    run(steps);
    allocations() - before
}

#[test]
fn minigrid_and_montezuma_step_without_allocating() {
    for id in [
        "MiniGrid-DoorKey-8x8-v0",
        "MiniGrid-FourRooms-v0",
        "MiniGrid-KeyCorridorS3R3-v0",
        "Montezuma-Lite-v0",
        "Montezuma-Lite-Pixels-v0",
        "NoisyTV-Maze-Brownian-v0",
        "Bandit-Bernoulli-10-v0",
    ] {
        // Resets included: episodes end many times in 50k random steps of these envs.
        assert_eq!(count_single(id, 50_000), 0, "{id} allocated while stepping");
    }
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
