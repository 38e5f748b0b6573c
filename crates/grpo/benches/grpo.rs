//! Speed of one GRPO optimiser step per policy head (MLP, VLA; the language-model head's is
//! `cargo run --release -p spelunk-grpo --example text_grpo_throughput`): forward over every step of a batch of
//! episodes, token log-probabilities and entropy, the clipped loss, backward, Adam.
//! Throughput is reported in action tokens per second (one token per step for discrete
//! actions, one per dimension for binned continuous ones); criterion's time per iteration is
//! the time per update.
//!
//! `cargo bench -p spelunk-grpo --bench grpo` (CPU); `SPELUNK_DEVICE=cuda cargo bench -p
//! spelunk-grpo --features cuda --bench grpo` runs the same steps on a GPU.

use candle_core::Tensor;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spelunk_core::{DType, Space};
use spelunk_grpo::{policy_loss, LossConfig, LossInputs, StepNorm};
use spelunk_models::policy::{token_logp_entropy, ActionCodec, MlpPolicy, Policy, PolicyConfig};
use spelunk_models::{Adam, AdamConfig, TransformerConfig, VlaConfig, VlaLayout, VlaPolicy};

/// The VLA case's observation: Arm-Reach with three targets and a 24×24 camera.
fn vla_space() -> Space {
    let inf = f32::INFINITY;
    Space::Dict(vec![
        ("achieved_goal".into(), Space::uniform_box(&[3], -inf, inf, DType::F32)),
        ("desired_goal".into(), Space::uniform_box(&[3], -inf, inf, DType::F32)),
        ("image".into(), Space::uniform_box(&[24, 24, 3], 0.0, 255.0, DType::U8)),
        ("instruction".into(), Space::uniform_box(&[4], 0.0, 6.0, DType::F32)),
        ("observation".into(), Space::uniform_box(&[10], -inf, inf, DType::F32)),
    ])
}

/// (label, head, episodes, steps per episode, vocabulary of the observation's token ids).
type Case = (&'static str, Box<dyn Policy>, usize, usize, Option<u32>);

fn bench(c: &mut Criterion) {
    // As the `spelunk` binary does: freed tensors stay in the heap.
    spelunk_models::keep_freed_heap();
    let device =
        spelunk_models::device(&std::env::var("SPELUNK_DEVICE").unwrap_or_else(|_| "cpu".into()))
            .expect("SPELUNK_DEVICE");
    let mut group = c.benchmark_group("grpo_step");
    group.sample_size(10);
    let binned = || ActionCodec::Binned { bins: 256, low: vec![-1.0; 4], high: vec![1.0; 4] };
    let small =
        TransformerConfig { d_model: 32, heads: 2, ffn: 64, ..TransformerConfig::default() };
    let cases: Vec<Case> = vec![
        (
            "mlp-discrete7-obs148",
            Box::new(
                MlpPolicy::new(
                    148,
                    ActionCodec::Discrete { n: 7, start: 0 },
                    &PolicyConfig::default(),
                    &device,
                    1,
                )
                .expect("head"),
            ),
            32,
            64,
            None,
        ),
        (
            "mlp-binned4x256-obs25",
            Box::new(
                MlpPolicy::new(25, binned(), &PolicyConfig::default(), &device, 1).expect("head"),
            ),
            32,
            50,
            None,
        ),
        (
            // examples/vla_reach.toml's head: 9 patches, state, 4 words, 4 action queries.
            "vla-d32-24px-binned4x11",
            Box::new(
                VlaPolicy::new(
                    VlaLayout::of(&vla_space()).expect("layout"),
                    ActionCodec::Binned { bins: 11, low: vec![-1.0; 4], high: vec![1.0; 4] },
                    &VlaConfig::default(),
                    &small,
                    &device,
                    1,
                )
                .expect("head"),
            ),
            32,
            50,
            None,
        ),
    ];
    for (label, policy, episodes, steps, ids) in cases {
        let codec = policy.codec().clone();
        let (dims, vocab) = (codec.dims(), codec.vocab() as u32);
        let obs_dim = policy.obs_dim();
        let mut adam = Adam::new(policy.params(), AdamConfig::default()).expect("adam");
        let n = episodes * steps;
        // Random features; token ids where the head reads them (all of a transformer's row,
        // the VLA's instruction).
        let mut rng = spelunk_core::Rng::seed_from_u64(5);
        let span = policy.token_span();
        let values: Vec<f32> = (0..n * obs_dim)
            .map(|i| match (&span, ids) {
                (Some(s), Some(v)) if s.contains(&(i % obs_dim)) => rng.below(u64::from(v)) as f32,
                (Some(s), None) if s.contains(&(i % obs_dim)) => 1.0 + rng.below(6) as f32,
                _ => rng.normal() as f32,
            })
            .collect();
        let obs = Tensor::from_vec(values, (n, obs_dim), &device).expect("obs");
        let toks: Vec<u32> = (0..n * dims).map(|i| (i as u32 * 7919) % vocab).collect();
        let tokens = Tensor::from_vec(toks, (n, dims), &device).expect("tokens");
        let t = steps * dims;
        let old = Tensor::full(-1.0f32, (episodes, t), &device).expect("old");
        let mask = Tensor::ones((episodes, t), candle_core::DType::F32, &device).expect("mask");
        let adv = Tensor::randn(0f32, 1.0, episodes, &device).expect("adv");
        let norm = StepNorm { tokens: (episodes * t) as f64, sequences: episodes as f64 };
        group.throughput(Throughput::Elements((n * dims) as u64));
        group.bench_function(BenchmarkId::new("step", label), |b| {
            b.iter(|| {
                let logits = policy.logits(&obs).expect("logits");
                let (lp, ent) = token_logp_entropy(&logits, &tokens).expect("logp");
                let lp = lp.reshape((episodes, t)).expect("reshape");
                let ent = ent.reshape((episodes, t)).expect("reshape");
                let inp = LossInputs {
                    logp: &lp,
                    old_logp: &old,
                    ref_logp: None,
                    advantages: &adv,
                    mask: &mask,
                    entropy: Some(&ent),
                };
                let (loss, _) = policy_loss(&inp, &LossConfig::default(), norm).expect("loss");
                adam.backward_step(&loss).expect("step");
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
