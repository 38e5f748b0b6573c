//! Env steps per second on one core for the arm tasks (state observations, random actions),
//! for Arm-Push-v0 with a 64×64 RGB camera in the observation, and with the URDF arms in place
//! of the free gripper (end-effector control through inverse kinematics; joint targets).
//!
//! `cargo bench -p spelunk-sims --bench arm`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use spelunk_core::{Action, ObsMut, Rng};

fn bench(c: &mut Criterion) {
    let reg = spelunk_sims::registry();
    let mut group = c.benchmark_group("arm_step");
    group.sample_size(10);
    let camera = serde_json::json!({"camera": {"width": 64, "height": 64}});
    let cases = [
        ("Arm-Reach-v0", "Arm-Reach-v0", serde_json::Value::Null),
        ("Arm-Push-v0", "Arm-Push-v0", serde_json::Value::Null),
        ("Arm-PickAndPlace-v0", "Arm-PickAndPlace-v0", serde_json::Value::Null),
        ("Arm-Slide-v0", "Arm-Slide-v0", serde_json::Value::Null),
        ("Arm-Push-v0+camera64", "Arm-Push-v0", camera),
        ("Arm-Push-v0+fetch7", "Arm-Push-v0", serde_json::json!({"robot": {"urdf": "fetch7"}})),
        (
            "Arm-Push-v0+fetch7-joints",
            "Arm-Push-v0",
            serde_json::json!({"robot": {"urdf": "fetch7", "control": "joints"}}),
        ),
        (
            "Arm-Push-v0+fetch7-kinematic",
            "Arm-Push-v0",
            serde_json::json!({"robot": {"urdf": "fetch7", "drive": "kinematic"}}),
        ),
        ("Arm-Push-v0+so100", "Arm-Push-v0", serde_json::json!({"robot": {"urdf": "so100"}})),
    ];
    for (label, id, cfg) in cases {
        let mut env = reg.make_with(id, &cfg).expect("env");
        let n = env.observation_space().flat_len();
        let mut obs = vec![0f32; n];
        env.reset(Some(0), None, ObsMut::F32(&mut obs)).expect("reset");
        let mut rng = Rng::seed_from_u64(1);
        let mut a = vec![0f32; env.action_space().flat_len()];
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("step", label), |b| {
            b.iter(|| {
                for x in &mut a {
                    *x = rng.f32() * 2.0 - 1.0;
                }
                let s = env.step(Action::Continuous(&a), ObsMut::F32(&mut obs)).expect("step");
                if s.truncated || s.terminated {
                    env.reset(None, None, ObsMut::F32(&mut obs)).expect("reset");
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
