//! Env step and vector step throughput (criterion). Speed goals live here and in
//! `spelunk bench`, never in tests.
//!
//! `cargo bench -p spelunk-envs --bench step`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spelunk_core::{Action, AutoReset, ObsBuf, Rng, VecEnv, VecEnvConfig};

const IDS: &[&str] = &["MiniGrid-DoorKey-8x8-v0", "Montezuma-Lite-v0", "NoisyTV-Maze-Brownian-v0"];

fn single(c: &mut Criterion) {
    let reg = spelunk_envs::registry();
    let mut group = c.benchmark_group("env_step");
    group.throughput(Throughput::Elements(1000));
    for id in IDS.iter().copied().filter(|id| reg.entry(id).is_ok()) {
        let mut env = reg.make(id).expect("make");
        let n = env.action_space().n().expect("discrete");
        let mut obs = ObsBuf::for_space(env.observation_space());
        let mut rng = Rng::seed_from_u64(0);
        let actions: Vec<i64> = (0..4096).map(|_| rng.below(n) as i64).collect();
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        let mut k = 0usize;
        group.bench_function(BenchmarkId::from_parameter(id), |b| {
            b.iter(|| {
                for _ in 0..1000 {
                    let s =
                        env.step(Action::Discrete(actions[k & 4095]), obs.as_mut()).expect("step");
                    k += 1;
                    if s.terminated || s.truncated {
                        env.reset(None, None, obs.as_mut()).expect("reset");
                    }
                }
            });
        });
    }
    group.finish();
}

fn vectorized(c: &mut Criterion) {
    let reg = spelunk_envs::registry();
    let num_envs = 256;
    let mut group = c.benchmark_group("vec_step");
    group.throughput(Throughput::Elements(num_envs as u64));
    for threads in [1, 2] {
        let id = "MiniGrid-DoorKey-8x8-v0";
        let config = VecEnvConfig { num_threads: threads, autoreset: AutoReset::NextStep };
        let mut venv = VecEnv::from_fn(num_envs, config, |_| reg.make(id)).expect("vec env");
        venv.reset(Some(0)).expect("reset");
        let mut rng = Rng::seed_from_u64(1);
        let actions: Vec<i64> = (0..num_envs * 64).map(|_| rng.below(7) as i64).collect();
        let mut k = 0usize;
        group.bench_function(BenchmarkId::new(id, format!("{threads}t")), |b| {
            b.iter(|| {
                let r = (k % 64) * num_envs;
                k += 1;
                venv.step_discrete(&actions[r..r + num_envs]).expect("step");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, single, vectorized);
criterion_main!(benches);
