//! Throughput of a bonus's compute + update on a batch (samples/s), for RND and RDD at
//! d = 64 on state observations, and at d = 512 on 44×60 RGB frames through the CNN trunks
//! (Montezuma-Lite's pixel observation at 4 pixels per tile).
//!
//! `cargo bench -p spelunk-intrinsic --bench bonus`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spelunk_core::Rng;
use spelunk_intrinsic::distill::{DistillConfig, Distillation};
use spelunk_intrinsic::{Batch, BatchActions, IntrinsicReward};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bonus_compute_update");
    group.sample_size(10);
    // (label, obs_dim, d, frame shape, batch)
    let settings = [
        ("state-d64", 64, 64, None, 256),
        ("pixels-d512", 44 * 60 * 3, 512, Some([44, 60, 3]), 64),
    ];
    for (label, obs_dim, embed_dim, pixels, batch) in settings {
        for (name, sigma, proportion) in [("rnd", 0.0, 0.25), ("rdd", 1.0, 1.0)] {
            let config = DistillConfig {
                obs_dim,
                embed_dim,
                sigma,
                update_proportion: proportion,
                pixels,
                ..DistillConfig::default()
            };
            let mut m = Distillation::new(name, config).expect("module");
            let mut rng = Rng::seed_from_u64(0);
            let obs: Vec<f32> = (0..batch * obs_dim).map(|_| rng.f32()).collect();
            let actions = vec![0i64; batch];
            let b = Batch {
                obs: &obs,
                actions: BatchActions::Discrete(&actions),
                next_obs: &obs,
                obs_dim,
            };
            let mut out = vec![0.0; batch];
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_function(BenchmarkId::new(name, label), |bench| {
                bench.iter(|| {
                    m.on_step(&b).expect("step");
                    m.compute(&b, &mut out).expect("compute");
                    m.update(&b).expect("update");
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
