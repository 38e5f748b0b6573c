//! Go-Explore's bookkeeping against raw environment stepping, one core, Montezuma-Lite.
//!
//! - `raw`: the env restored to the states of an archive warmed by 300 iterations, in turn,
//!   and stepped from each with the explorer's own action process (random actions repeated
//!   with probability 0.95, at most 100, stopping on a lost life or the episode's end) — the
//!   cost of the same kind of frames alone (the restores included).
//! - `go_explore`: `GoExplore::iterate` on one thread from an archive warmed by 300
//!   iterations — the same frames plus selection, restoring, cell computation, snapshots of
//!   admitted cells and archive updates.
//!
//! Both report frames per second; the bookkeeping share is `raw / go_explore − 1`.
//! `cargo bench -p spelunk-intrinsic --bench goexplore`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use spelunk_core::{Action, ObsBuf, Rng};
use spelunk_intrinsic::goexplore::{DomainCells, GoExplore, GoExploreConfig};

const FRAMES: u64 = 1000;

fn explorer() -> GoExplore {
    let make = || spelunk_envs::registry().make("Montezuma-Lite-v0");
    let cfg = GoExploreConfig { threads: 1, ..GoExploreConfig::default() };
    let mut ge =
        GoExplore::new(cfg, Box::new(DomainCells { cell_size: 1 }), &make).expect("explorer");
    for _ in 0..300 {
        ge.iterate().expect("warm-up");
    }
    ge
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("goexplore_frames");
    group.sample_size(20);
    group.throughput(Throughput::Elements(FRAMES));
    let reg = spelunk_envs::registry();
    group.bench_function("raw", |b| {
        // The warmed archive's states, so the frames are the ones Go-Explore steps through.
        let ge = explorer();
        let starts: Vec<_> =
            ge.archive().entries().iter().filter(|e| !e.done).map(|e| e.snapshot.clone()).collect();
        let mut env = reg.make("Montezuma-Lite-v0").expect("env");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        let mut rng = Rng::seed_from_u64(1);
        let mut k = 0;
        b.iter(|| {
            let mut n = 0;
            while n < FRAMES {
                env.restore(&starts[k % starts.len()]).expect("restore");
                k += 1;
                let lives = env.info().lives;
                let mut last = rng.range_i64(0, 5);
                for step in 0..100 {
                    if step > 0 && !rng.bernoulli(0.95) {
                        last = rng.range_i64(0, 5);
                    }
                    let s = env.step(Action::Discrete(last), obs.as_mut()).expect("step");
                    n += 1;
                    if s.terminated || s.truncated || s.info.lives < lives || n == FRAMES {
                        break;
                    }
                }
            }
        });
    });
    group.bench_function("go_explore", |b| {
        let mut ge = explorer();
        b.iter_custom(|iters| {
            let want = iters * FRAMES;
            let start_frames = ge.stats().frames;
            let t = Instant::now();
            while ge.stats().frames - start_frames < want {
                ge.iterate().expect("iteration");
            }
            let done = ge.stats().frames - start_frames;
            Duration::from_secs_f64(t.elapsed().as_secs_f64() * want as f64 / done as f64)
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
