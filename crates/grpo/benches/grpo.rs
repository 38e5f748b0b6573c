//! Speed of one GRPO optimiser step with the MLP head: forward over every step of a batch of
//! episodes, token log-probabilities and entropy, the clipped loss, backward, Adam.
//! Throughput is reported in action tokens per second (one token per step for discrete
//! actions, one per dimension for binned continuous ones).
//!
//! `cargo bench -p spelunk-grpo --bench grpo`

use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spelunk_grpo::{policy_loss, LossConfig, LossInputs, StepNorm};
use spelunk_models::policy::{token_logp_entropy, ActionCodec, MlpPolicy, MlpPolicyConfig, Policy};
use spelunk_models::{Adam, AdamConfig};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("grpo_step");
    group.sample_size(10);
    // (label, observation size, codec, episodes, steps per episode)
    let cases = [
        ("mlp-discrete7-obs148", 148, ActionCodec::Discrete { n: 7, start: 0 }, 32, 64),
        (
            "mlp-binned4x256-obs25",
            25,
            ActionCodec::Binned { bins: 256, low: vec![-1.0; 4], high: vec![1.0; 4] },
            32,
            50,
        ),
    ];
    for (label, obs_dim, codec, episodes, steps) in cases {
        let dims = codec.dims();
        let vocab = codec.vocab() as u32;
        let policy = MlpPolicy::new(obs_dim, codec, &MlpPolicyConfig::default(), &Device::Cpu, 1)
            .expect("head");
        let mut adam = Adam::new(policy.params(), AdamConfig::default()).expect("adam");
        let n = episodes * steps;
        let obs = Tensor::randn(0f32, 1.0, (n, obs_dim), &Device::Cpu).expect("obs");
        let toks: Vec<u32> = (0..n * dims).map(|i| (i as u32 * 7919) % vocab).collect();
        let tokens = Tensor::from_vec(toks, (n, dims), &Device::Cpu).expect("tokens");
        let t = steps * dims;
        let old = Tensor::full(-1.0f32, (episodes, t), &Device::Cpu).expect("old");
        let mask =
            Tensor::ones((episodes, t), candle_core::DType::F32, &Device::Cpu).expect("mask");
        let adv = Tensor::randn(0f32, 1.0, episodes, &Device::Cpu).expect("adv");
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
