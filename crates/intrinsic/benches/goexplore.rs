//! Go-Explore's bookkeeping against raw environment stepping, one core, Montezuma-Lite.
//!
//! - `raw`: the env restored to states drawn from an archive warmed by 300 iterations by
//!   Go-Explore's own selection weights, in turn, and stepped from each with the explorer's
//!   own action process (random actions repeated
//!   with probability 0.95, at most 100, stopping on a lost life or the episode's end) — the
//!   cost of the same kind of frames alone (the restores included).
//! - `go_explore`: `GoExplore::iterate` on one thread from an archive warmed by 300
//!   iterations — the same frames plus selection, restoring, cell computation, snapshots of
//!   admitted cells and archive updates.
//!
//! Both report frames per second; the bookkeeping share is `raw / go_explore − 1`. Run one
//! after the other, the two are minutes apart and this machine's speed drifts by more than
//! the share, so the bench then measures it **paired**: 31 rounds, each about 150,000
//! Go-Explore frames, recorded (`GoExplore::record_tasks`: each task's start state and
//! actions), then the **same frames** replayed raw — restore each task's state, step its
//! actions, nothing else — and prints the median of the rounds' ratios with its quartiles.
//! The replay steps the same states with the same transitions, so what differs is the
//! bookkeeping (the recording and the action process count against Go-Explore).
//! `cargo bench -p spelunk-intrinsic --bench goexplore` (pin it: `taskset -c 1 cargo bench …`)

use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use spelunk_core::{Action, Env, ObsBuf, Rng, Snapshot};
use spelunk_intrinsic::goexplore::{DomainCells, GoExplore, GoExploreConfig};

const FRAMES: u64 = 1000;

fn explorer() -> GoExplore {
    let make = spelunk_envs::registry().factory("Montezuma-Lite-v0", None);
    let cfg = GoExploreConfig { threads: 1, ..GoExploreConfig::default() };
    let mut ge =
        GoExplore::new(cfg, Box::new(DomainCells { cell_size: 1 }), &*make).expect("explorer");
    for _ in 0..300 {
        ge.iterate().expect("warm-up");
    }
    ge
}

/// The raw side: an env, the warmed archive's live states, and the action process.
struct Raw {
    env: Box<dyn Env>,
    obs: ObsBuf,
    starts: Vec<std::sync::Arc<Snapshot>>,
    rng: Rng,
    k: usize,
}

impl Raw {
    fn new(ge: &GoExplore) -> Self {
        let mut env = spelunk_envs::registry().make("Montezuma-Lite-v0").expect("env");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        let mut raw = Self { env, obs, starts: Vec::new(), rng: Rng::seed_from_u64(1), k: 0 };
        raw.follow(ge);
        raw
    }

    /// Start from the states Go-Explore would pick now: 4,096 draws from its archive by its
    /// own selection weights (rooms differ in what a step costs, and the archive moves on
    /// to later rooms as it grows).
    fn follow(&mut self, ge: &GoExplore) {
        let entries = ge.archive().entries();
        let w = ge.archive().weights(&ge.config.selection);
        let total: f64 = w.iter().sum();
        self.starts.clear();
        for _ in 0..4096 {
            let mut u = self.rng.f64() * total;
            let mut i = 0;
            while i + 1 < w.len() && u >= w[i] {
                u -= w[i];
                i += 1;
            }
            self.starts.push(entries[i].snapshot.clone());
        }
    }

    /// Step `frames` frames as the explorer would, without its bookkeeping.
    fn run(&mut self, frames: u64) {
        let mut n = 0;
        while n < frames {
            self.env.restore(&self.starts[self.k % self.starts.len()]).expect("restore");
            self.k += 1;
            let lives = self.env.info().lives;
            let mut last = self.rng.range_i64(0, 5);
            for step in 0..100 {
                if step > 0 && !self.rng.bernoulli(0.95) {
                    last = self.rng.range_i64(0, 5);
                }
                let s = self.env.step(Action::Discrete(last), self.obs.as_mut()).expect("step");
                n += 1;
                if s.terminated || s.truncated || s.info.lives < lives || n == frames {
                    break;
                }
            }
        }
    }
}

impl Raw {
    /// Step exactly the frames Go-Explore stepped: restore each recorded task's start state
    /// and step its actions (the env's generator is in the snapshot, so every transition is
    /// the same). Returns the frames stepped.
    fn replay(&mut self, tasks: &[(std::sync::Arc<Snapshot>, Vec<u8>)]) -> u64 {
        let mut n = 0;
        for (start, actions) in tasks {
            self.env.restore(start).expect("restore");
            for &a in actions {
                self.env.step(Action::Discrete(i64::from(a)), self.obs.as_mut()).expect("step");
            }
            n += actions.len() as u64;
        }
        n
    }
}

/// Iterate until at least `frames` more frames are spent; returns the frames spent.
fn explore(ge: &mut GoExplore, frames: u64) -> u64 {
    let start = ge.stats().frames;
    while ge.stats().frames - start < frames {
        ge.iterate().expect("iteration");
    }
    ge.stats().frames - start
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("goexplore_frames");
    group.sample_size(20);
    group.throughput(Throughput::Elements(FRAMES));
    group.bench_function("raw", |b| {
        let mut raw = Raw::new(&explorer());
        b.iter(|| raw.run(FRAMES));
    });
    group.bench_function("go_explore", |b| {
        let mut ge = explorer();
        b.iter_custom(|iters| {
            let want = iters * FRAMES;
            let t = Instant::now();
            let done = explore(&mut ge, want);
            Duration::from_secs_f64(t.elapsed().as_secs_f64() * want as f64 / done as f64)
        });
    });
    group.finish();
}

/// The share measured in interleaved rounds (see the module page).
fn paired() {
    const ROUNDS: usize = 31;
    const CHUNK: u64 = 150_000;
    let mut ge = explorer();
    let mut raw = Raw::new(&ge);
    let mut ratios = Vec::with_capacity(ROUNDS);
    let (mut raw_ns, mut ge_ns) = (Vec::new(), Vec::new());
    ge.record_tasks(true);
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let done = explore(&mut ge, CHUNK);
        let g = t.elapsed().as_nanos() as f64 / done as f64;
        let tasks = ge.take_recorded();
        let t = Instant::now();
        let stepped = raw.replay(&tasks);
        let r = t.elapsed().as_nanos() as f64 / stepped as f64;
        assert_eq!(stepped, done, "the replay steps the explorer's frames");
        ratios.push(g / r);
        raw_ns.push(r);
        ge_ns.push(g);
    }
    for v in [&mut ratios, &mut raw_ns, &mut ge_ns] {
        v.sort_by(f64::total_cmp);
    }
    let (m, q1, q3) = (ROUNDS / 2, ROUNDS / 4, 3 * ROUNDS / 4);
    println!(
        "goexplore_share: bookkeeping {:.1}% of raw stepping (median of {ROUNDS} paired rounds; \
         quartiles {:.1}% / {:.1}%); raw {:.0} ns/frame, go_explore {:.0} ns/frame (medians)",
        (ratios[m] - 1.0) * 100.0,
        (ratios[q1] - 1.0) * 100.0,
        (ratios[q3] - 1.0) * 100.0,
        raw_ns[m],
        ge_ns[m],
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo bench -- <filter>` runs only the matching criterion cases; the paired share runs
    // when nothing filters it out.
    let filtered = std::env::args().skip(1).any(|a| !a.starts_with('-'));
    if !filtered || std::env::args().any(|a| a.contains("share")) {
        paired();
    }
}
