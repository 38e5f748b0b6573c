//! The GRPO core (`spelunk-grpo`) against numpy: group advantages, GAE, and every loss variant
//! with its gradient (numpy's by central finite differences, ours by candle's backward pass),
//! plus our own finite-difference check. Fixture: `scripts/fixtures/grpo_fixture.py`.

use candle_core::{DType, Device, Tensor, Var};
use serde_json::Value;
use spelunk_grpo::{
    gae, group_advantages, informative_groups, policy_loss, GroupAdvantage, LossConfig, LossInputs,
    StepNorm,
};
use spelunk_models::Policy as _;

fn fixture() -> Value {
    let text = std::fs::read_to_string(spelunk_tests::fixture("grpo/fixture.json")).expect("read");
    serde_json::from_str(&text).expect("json")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn matrix(v: &Value) -> Tensor {
    let rows: Vec<Vec<f64>> = v.as_array().expect("rows").iter().map(floats).collect();
    let (b, t) = (rows.len(), rows[0].len());
    Tensor::from_vec(rows.concat(), (b, t), &Device::Cpu).expect("tensor")
}

#[test]
fn group_advantages_and_gae_match_numpy() {
    let f = fixture();
    let rewards: Vec<f32> = floats(&f["rewards"]).iter().map(|&x| x as f32).collect();
    for (key, kind) in [
        ("grpo", GroupAdvantage::Grpo),
        ("dr_grpo", GroupAdvantage::DrGrpo),
        ("rloo", GroupAdvantage::Rloo),
        ("batch_std", GroupAdvantage::BatchStd),
    ] {
        let got = group_advantages(&rewards, 4, kind).expect("advantages");
        for (g, w) in got.iter().zip(floats(&f["advantages"][key])) {
            assert!((f64::from(*g) - w).abs() < 1e-4 * (1.0 + w.abs()), "{key}: {g} vs {w}");
        }
    }
    let inf = informative_groups(&rewards, 4).expect("groups");
    let want: Vec<bool> =
        f["informative"].as_array().expect("a").iter().map(|b| b.as_bool().expect("b")).collect();
    assert_eq!(inf, want);
    assert!(!inf[2], "the constant group teaches nothing");
    let g = &f["gae"];
    let r: Vec<f32> = floats(&g["rewards"]).iter().map(|&x| x as f32).collect();
    let v: Vec<f32> = floats(&g["values"]).iter().map(|&x| x as f32).collect();
    let d: Vec<bool> =
        g["dones"].as_array().expect("a").iter().map(|b| b.as_bool().expect("b")).collect();
    let (adv, ret) = gae(&r, &v, &d, 0.99, 0.95).expect("gae");
    for (a, w) in adv.iter().zip(floats(&g["advantages"])) {
        assert!((f64::from(*a) - w).abs() < 1e-5, "gae {a} vs {w}");
    }
    for (a, w) in ret.iter().zip(floats(&g["returns"])) {
        assert!((f64::from(*a) - w).abs() < 1e-5, "returns {a} vs {w}");
    }
    // Bad shapes say what is wrong.
    assert!(group_advantages(&rewards[..7], 4, GroupAdvantage::Grpo)
        .expect_err("7 of 4")
        .to_string()
        .contains("do not split into groups of 4"));
    assert!(group_advantages(&[1.0, f32::NAN], 2, GroupAdvantage::Grpo).is_err());
    assert!(gae(&r, &v[..5], &d, 0.99, 0.95).is_err());
}

fn run_loss(inputs: &Value, case: &Value, logp: &Tensor) -> (Tensor, spelunk_grpo::LossStats) {
    let cfg: LossConfig = serde_json::from_value(case["config"].clone()).expect("config");
    cfg.validate().expect("valid");
    let old = matrix(&inputs["old_logp"]);
    let reference = matrix(&inputs["ref_logp"]);
    let mask = matrix(&inputs["mask"]);
    let entropy = matrix(&inputs["entropy"]);
    let adv = if case["per_token_advantages"].as_bool().expect("flag") {
        matrix(&inputs["token_advantages"])
    } else {
        Tensor::new(floats(&inputs["advantages"]), &Device::Cpu).expect("adv")
    };
    let norm = StepNorm {
        tokens: inputs["norm_tokens"].as_f64().expect("n"),
        sequences: inputs["norm_sequences"].as_f64().expect("n"),
    };
    let inp = LossInputs {
        logp,
        old_logp: &old,
        ref_logp: Some(&reference),
        advantages: &adv,
        mask: &mask,
        entropy: Some(&entropy),
    };
    policy_loss(&inp, &cfg, norm).expect("loss")
}

#[test]
fn every_loss_variant_and_its_gradient_match_numpy() {
    let f = fixture();
    let inputs = &f["loss_inputs"];
    let cases = f["losses"].as_array().expect("cases");
    assert_eq!(cases.len(), 20);
    for case in cases {
        let name = format!("{} (per-token A: {})", case["name"], case["per_token_advantages"]);
        let logp = Var::from_tensor(&matrix(&inputs["logp"])).expect("var");
        let (loss, stats) = run_loss(inputs, case, logp.as_tensor());
        let want = case["loss"].as_f64().expect("loss");
        assert!(
            (stats.loss - want).abs() < 1e-10 * (1.0 + want.abs()),
            "{name}: {} vs {want}",
            stats.loss
        );
        let grads = loss.backward().expect("backward");
        let g = grads.get(logp.as_tensor()).expect("gradient");
        let got: Vec<Vec<f64>> = g.to_vec2().expect("grad");
        let want: Vec<Vec<f64>> = case["grad"].as_array().expect("g").iter().map(floats).collect();
        for (gr, wr) in got.iter().zip(&want) {
            for (a, b) in gr.iter().zip(wr) {
                assert!((a - b).abs() < 1e-6, "{name}: gradient {a} vs numpy {b}");
            }
        }
        // Padding gets no gradient; the clamped case has zero gradient where clamped.
        assert!(got[1][4].abs() < 1e-15 && got[3][5].abs() < 1e-15, "{name}: padding");
    }
}

#[test]
fn candle_gradient_equals_our_own_finite_differences() {
    let f = fixture();
    let inputs = &f["loss_inputs"];
    let base = matrix(&inputs["logp"]);
    for case in f["losses"].as_array().expect("cases").iter().step_by(3) {
        let logp = Var::from_tensor(&base).expect("var");
        let (loss, _) = run_loss(inputs, case, logp.as_tensor());
        let grad: Vec<Vec<f64>> =
            loss.backward().expect("b").get(logp.as_tensor()).expect("g").to_vec2().expect("v");
        let rows: Vec<Vec<f64>> = base.to_vec2().expect("rows");
        let h = 1e-6;
        for (i, j) in [(0, 0), (0, 3), (1, 2), (2, 5), (3, 1)] {
            let at = |delta: f64| {
                let mut r = rows.clone();
                r[i][j] += delta;
                let t = Tensor::from_vec(r.concat(), base.dims2().expect("2d"), &Device::Cpu)
                    .expect("t");
                run_loss(inputs, case, &t).1.loss
            };
            let fd = (at(h) - at(-h)) / (2.0 * h);
            assert!(
                (fd - grad[i][j]).abs() < 1e-6,
                "{}: [{i},{j}] fd {fd} vs {}",
                case["name"],
                grad[i][j]
            );
        }
    }
    // Bad inputs: wrong shapes, a KL term without a reference, impossible settings.
    let logp = base.clone();
    let mask = base.ones_like().expect("ones");
    let adv = Tensor::zeros(3, DType::F64, &Device::Cpu).expect("adv");
    let inp = LossInputs {
        logp: &logp,
        old_logp: &logp,
        ref_logp: None,
        advantages: &adv,
        mask: &mask,
        entropy: None,
    };
    let norm = StepNorm { tokens: 24.0, sequences: 4.0 };
    let e = policy_loss(&inp, &LossConfig::default(), norm).expect_err("3 advantages for 4");
    assert!(e.to_string().contains("advantages are [3]"), "{e}");
    let adv = Tensor::zeros(4, DType::F64, &Device::Cpu).expect("adv");
    let inp = LossInputs { advantages: &adv, ..inp };
    let cfg = LossConfig { kl_coef: 0.1, ..LossConfig::default() };
    assert!(policy_loss(&inp, &cfg, norm).expect_err("no ref").to_string().contains("ref_logp"));
    assert!(LossConfig { clip_low: 1.5, ..LossConfig::default() }.validate().is_err());
    assert!(LossConfig { dual_clip: Some(0.5), ..LossConfig::default() }.validate().is_err());
}

/// Every parameter tensor of a trainer's policy, flattened.
fn policy_values(t: &spelunk_grpo::Trainer<'_>) -> Vec<Vec<f32>> {
    t.policy
        .params()
        .named()
        .iter()
        .map(|(_, v)| v.as_tensor().flatten_all().expect("flat").to_vec1().expect("values"))
        .collect()
}

fn empty_trainer(cfg: spelunk_grpo::TrainConfig) -> spelunk_grpo::Trainer<'static> {
    let reg = spelunk_envs::registry();
    let id = cfg.env.clone();
    spelunk_grpo::Trainer::new(cfg, Box::new(move |_| reg.make(&id))).expect("trainer")
}

#[test]
fn grpo_with_the_mlp_head_learns_minigrid_empty() {
    // A random policy reaches the goal of MiniGrid-Empty-5x5-v0 on about half of its 100-step
    // episodes; 25 GRPO iterations (8 × 16 rollouts each, about 150k env steps) take the
    // sampled policy above 85% on unseen seeds, with shorter episodes.
    let cfg = spelunk_grpo::TrainConfig { iterations: 25, ..Default::default() };
    let mut t = empty_trainer(cfg);
    let (_, before) = t.evaluate(64, false).expect("eval");
    let mut first = None;
    let mut last = None;
    for _ in 0..25 {
        let m = t.iterate().expect("iteration");
        for (k, v) in &m {
            assert!(v.is_finite(), "{k} = {v}");
        }
        first.get_or_insert(m.clone());
        last = Some(m);
    }
    let (first, last) = (first.expect("first"), last.expect("last"));
    let (_, after) = t.evaluate(64, false).expect("eval");
    assert!(before < 0.7 && after >= 0.85, "success {before} → {after}");
    assert!(
        last["charts/episode_length"] < 0.7 * first["charts/episode_length"],
        "episodes should get shorter: {} → {}",
        first["charts/episode_length"],
        last["charts/episode_length"]
    );
}

#[test]
fn an_iteration_split_between_workers_and_a_learner_is_pure_travels_exactly_and_learns() {
    use spelunk_grpo::Batch;
    let cfg = spelunk_grpo::TrainConfig { groups_per_step: 6, ..Default::default() };
    let mut learner = empty_trainer(cfg.clone());
    // Workers are trainers of the same settings that only load weights and collect.
    let mut workers = [empty_trainer(cfg.clone()), empty_trainer(cfg.clone())];
    let (_, before) = learner.evaluate(64, false).expect("eval");
    let ranges = [(0, 4), (4, 2)];
    for it in 0..8 {
        let w = learner.policy_weights().expect("weights");
        let mut bytes = Vec::new();
        for (worker, &(first, n)) in workers.iter_mut().zip(&ranges) {
            worker.load_policy_weights(&w).expect("load");
            let b = worker.collect(it, first, n).expect("collect");
            assert_eq!(b.len(), n * cfg.group_size);
            bytes.push(b.to_bytes().expect("bytes"));
        }
        if it == 0 {
            // Pure: another process with the same weights, or the same worker asked again,
            // returns the same bytes.
            let mut other = empty_trainer(cfg.clone());
            other.load_policy_weights(&w).expect("load");
            assert_eq!(other.collect(0, 4, 2).expect("collect").to_bytes().expect("b"), bytes[1]);
            assert_eq!(
                workers[0].collect(0, 0, 4).expect("again").to_bytes().expect("b"),
                bytes[0]
            );
            // Bytes carry every field exactly: two learners, one fed the decoded batches.
            let mut twin = empty_trainer(cfg.clone());
            let direct: Vec<Batch> =
                ranges.iter().map(|&(f, n)| other.collect(0, f, n).expect("collect")).collect();
            let decoded: Vec<Batch> =
                bytes.iter().map(|b| Batch::from_bytes(b).expect("decode")).collect();
            let m = twin.learn(direct).expect("learn");
            let steps = twin.env_steps;
            let decoded_steps = decoded.iter().map(Batch::env_steps).sum::<u64>();
            let mut third = empty_trainer(cfg.clone());
            assert_eq!(third.learn(decoded).expect("learn"), m);
            assert_eq!(policy_values(&third), policy_values(&twin));
            assert_eq!(steps, decoded_steps);
            // Damaged bytes, a partial group, ranges past the iteration: errors.
            for bad in [&bytes[0][..bytes[0].len() / 2], b"spelunk", &[][..]] {
                assert!(Batch::from_bytes(bad).is_err());
            }
            let mut odd = Batch::from_bytes(&bytes[1]).expect("decode").to_bytes().expect("b");
            odd[24] ^= 0xff;
            let _ = Batch::from_bytes(&odd); // a flipped value decodes or is refused, never panics
            assert!(workers[1].collect(0, 5, 2).is_err() && workers[1].collect(0, 0, 0).is_err());
        }
        let batches: Vec<Batch> =
            bytes.iter().map(|b| Batch::from_bytes(b).expect("decode")).collect();
        let m = learner.learn(batches).expect("learn");
        assert_eq!(m["iteration"], (it + 1) as f64);
    }
    let (_, after) = learner.evaluate(64, false).expect("eval");
    assert!(after >= before + 0.25, "split iterations should learn: {before} → {after}");
    // Settings that carry rollout state between iterations are refused.
    let mut tree = empty_trainer(spelunk_grpo::TrainConfig {
        tree: Some(spelunk_grpo::TreeConfig::default()),
        ..cfg.clone()
    });
    let e = tree.collect(0, 0, 1).expect_err("tree rollouts cannot be split");
    assert!(e.to_string().contains("tree rollouts"), "{e}");
}

#[test]
fn sharded_runs_give_the_same_numbers_at_any_thread_count_and_lose_no_episode() {
    // The policy's work in 3 fixed shards (rollout envs, minibatch episodes) on 1, 2 or 3
    // threads: the same metrics and the same policy, observation statistics included.
    let cfg = spelunk_grpo::TrainConfig {
        iterations: 3,
        groups_per_step: 4,
        shards: 3,
        obs_norm: true,
        algorithm: spelunk_grpo::Algorithm::Ppo,
        ..Default::default()
    };
    let run = |threads: usize| {
        let mut t = empty_trainer(spelunk_grpo::TrainConfig { threads, ..cfg.clone() });
        let ms: Vec<_> = (0..2).map(|_| t.iterate().expect("iteration")).collect();
        (t, ms)
    };
    let (one, m1) = run(1);
    for threads in [2, 3] {
        let (t, mt) = run(threads);
        assert_eq!(m1, mt, "{threads} threads");
        assert!(policy_values(&one) == policy_values(&t), "{threads} threads: same policy");
        assert_eq!(one.obs_norm, t.obs_norm, "{threads} threads: same statistics");
    }
    // Every env step's observation reaches the statistics once, whichever shard took it.
    let norm = one.obs_norm.as_ref().expect("obs_norm");
    assert_eq!(norm.count, one.env_steps as f64);
    // The minibatch's diagnostics weigh each shard by its tokens: a mean over tokens, not a
    // sum over shards (a fresh policy over MiniGrid's 7 actions is close to uniform, ln 7).
    let entropy = m1[0]["losses/entropy"];
    assert!(entropy > 0.9 * 7f64.ln() && entropy <= 7f64.ln() + 1e-9, "entropy {entropy}");
    // Greedy evaluation draws nothing at random: shards change nothing but the batches the
    // policy sees, so 1 and 3 shards play the same episodes in the same order.
    let eval = |shards: usize| {
        let mut t = empty_trainer(spelunk_grpo::TrainConfig {
            shards,
            threads: 2,
            algorithm: spelunk_grpo::Algorithm::Grpo,
            ..cfg.clone()
        });
        t.evaluate_episodes(24, true).expect("eval")
    };
    let (a, b) = (eval(1), eval(3));
    assert_eq!(a.len(), 24);
    assert_eq!(a, b, "1 and 3 shards");
}

#[test]
fn grpo_runs_are_deterministic_and_resume_from_their_checkpoint() {
    let cfg = spelunk_grpo::TrainConfig { iterations: 4, groups_per_step: 4, ..Default::default() };
    let run_on = |n: usize, threads: usize| {
        let mut t = empty_trainer(spelunk_grpo::TrainConfig { threads, ..cfg.clone() });
        let ms: Vec<_> = (0..n).map(|_| t.iterate().expect("iteration")).collect();
        (t, ms)
    };
    let run = |n: usize| run_on(n, 1);
    let (a, ma) = run(2);
    let (_, mb) = run(2);
    assert_eq!(ma, mb, "same seed, same metrics");
    // Rollouts step their envs on a vector env: the same numbers at any thread count.
    for threads in [2, 3] {
        let (t, mt) = run_on(2, threads);
        assert_eq!(ma, mt, "{threads} threads");
        assert!(policy_values(&a) == policy_values(&t), "{threads} threads: same policy");
    }
    let dir = std::env::temp_dir().join(format!("spelunk-grpo-{}", std::process::id()));
    a.save(&dir).expect("save");
    let mut resumed = empty_trainer(cfg.clone());
    resumed.resume(&dir).expect("resume");
    assert_eq!((resumed.iteration, resumed.env_steps), (a.iteration, a.env_steps));
    let values = policy_values;
    assert!(values(&a) == values(&resumed), "the resumed policy equals the saved one");
    // Resumed and uninterrupted runs go on identically: Adam's moments, the generator and the
    // step count all come back.
    let (mut straight, _) = run(2);
    let next_straight: Vec<_> = (0..2).map(|_| straight.iterate().expect("iteration")).collect();
    let next_resumed: Vec<_> = (0..2).map(|_| resumed.iterate().expect("iteration")).collect();
    assert_eq!(next_straight, next_resumed, "resume is exact");
    assert!(values(&straight) == values(&resumed));
    // A checkpoint of another shape is refused with the file named.
    let other = spelunk_grpo::TrainConfig {
        policy: spelunk_models::PolicyConfig { hidden: vec![8], ..Default::default() },
        ..cfg.clone()
    };
    let e = empty_trainer(other).resume(&dir).expect_err("other shape").to_string();
    assert!(e.contains("policy.safetensors"), "{e}");
    std::fs::write(dir.join("state.json"), "{\"iteration\": \"x\"}").expect("write");
    assert!(empty_trainer(cfg.clone()).resume(&dir).is_err());
    let _ = std::fs::remove_dir_all(&dir);
    // Bad settings fail before any work.
    let bad = spelunk_grpo::TrainConfig { group_size: 1, ..cfg.clone() };
    let reg = spelunk_envs::registry();
    assert!(spelunk_grpo::Trainer::new(bad, Box::new(move |_| reg.make("MiniGrid-Empty-5x5-v0")))
        .is_err());
    // An intrinsic stream under PPO would be ignored; it is refused instead.
    let ppo = spelunk_grpo::TrainConfig {
        algorithm: spelunk_grpo::Algorithm::Ppo,
        intrinsic: Some(spelunk_grpo::IntrinsicConfig::default()),
        ..cfg.clone()
    };
    let e = ppo.validate().expect_err("ppo + intrinsic").to_string();
    assert!(e.contains("grpo"), "{e}");
    let reg = spelunk_envs::registry();
    let e = spelunk_grpo::Trainer::new(cfg, Box::new(move |_| reg.make("MiniGrid-Emty-5x5-v0")))
        .expect_err("typo")
        .to_string();
    assert!(e.contains("MiniGrid-Empty-5x5-v0"), "suggests the right id: {e}");
}

#[test]
fn action_codecs_bin_continuous_actions_and_every_head_parameter_learns() {
    use spelunk_models::policy::{token_logp_entropy, ActionCodec, MlpPolicy, PolicyConfig};
    let space = spelunk_core::Space::uniform_box(&[2], -1.0, 1.0, spelunk_core::DType::F32);
    let codec = ActionCodec::for_space(&space, 256).expect("codec");
    assert_eq!((codec.dims(), codec.vocab()), (2, 256));
    // Bin edges: −1 is bin 0, +1 the last; a bin decodes to its centre.
    assert_eq!(codec.encode(0, -1.0), 0);
    assert_eq!(codec.encode(1, 1.0), 255);
    assert_eq!(codec.encode(0, 7.0), 255, "out of range clips");
    assert!((codec.decode(0, 0) - (-1.0 + 1.0 / 256.0)).abs() < 1e-6);
    for x in [-0.99f32, -0.3, 0.0, 0.42, 0.99] {
        assert!((codec.decode(0, codec.encode(0, x)) - x).abs() <= 1.0 / 256.0 + 1e-6);
    }
    // OpenVLA-style bounds: the 1st and 99th percentiles of the data, per dimension.
    let data: Vec<f32> = (0..1000).flat_map(|i| [i as f32, -(i as f32) * 2.0]).collect();
    let ActionCodec::Binned { low, high, .. } =
        ActionCodec::from_actions(&data, 2, 256).expect("from data")
    else {
        panic!("binned")
    };
    assert_eq!((low[0], high[0]), (10.0, 989.0));
    assert_eq!((low[1], high[1]), (-1978.0, -20.0));
    assert!(ActionCodec::from_actions(&data[..3], 2, 256).is_err());
    let unbounded = spelunk_core::Space::uniform_box(
        &[1],
        f32::NEG_INFINITY,
        f32::INFINITY,
        spelunk_core::DType::F32,
    );
    assert!(ActionCodec::for_space(&unbounded, 256).is_err());
    // Every parameter of the head gets a gradient through the token log-probabilities.
    let head = MlpPolicy::new(5, codec, &PolicyConfig::default(), &Device::Cpu, 3).expect("head");
    let obs = Tensor::randn(0f32, 1.0, (4, 5), &Device::Cpu).expect("obs");
    let tokens =
        Tensor::new(&[[3u32, 200], [0, 255], [17, 1], [128, 128]], &Device::Cpu).expect("t");
    let logits = spelunk_models::Policy::logits(&head, &obs).expect("logits");
    assert_eq!(logits.dims(), [4, 2, 256]);
    let (lp, ent) = token_logp_entropy(&logits, &tokens).expect("logp");
    let ent_v: Vec<Vec<f32>> = ent.to_vec2().expect("h");
    assert!(ent_v.iter().flatten().all(|&h| h > 0.0 && h <= (256f32).ln() + 1e-4));
    let loss = (lp.sum_all().expect("s") + ent.sum_all().expect("s")).expect("loss");
    let dead = spelunk_models::params_without_gradient(head.params(), &loss).expect("grads");
    assert!(dead.is_empty(), "no gradient: {dead:?}");
}

#[test]
fn an_intrinsic_stream_keeps_groups_the_task_reward_cannot_tell_apart() {
    // On MiniGrid-KeyCorridorS3R3-v0 a fresh policy almost never succeeds, so nearly every
    // group's task returns are all zero: dynamic sampling alone drops them, while the RDD
    // stream's returns differ within each group and keep them.
    let base = spelunk_grpo::TrainConfig {
        env: "MiniGrid-KeyCorridorS3R3-v0".into(),
        groups_per_step: 2,
        group_size: 4,
        minibatches: 2,
        ..Default::default()
    };
    let mut plain = empty_trainer(base.clone());
    let m = plain.iterate().expect("iteration");
    assert!(m["charts/kept_groups"] < 0.5, "without a bonus: {}", m["charts/kept_groups"]);
    assert!(!m.contains_key("charts/intrinsic_return"));
    let cfg = spelunk_grpo::TrainConfig {
        intrinsic: Some(spelunk_grpo::IntrinsicConfig::default()),
        ..base
    };
    let mut t = empty_trainer(cfg.clone());
    let m = t.iterate().expect("iteration");
    assert!((m["charts/kept_groups"] - 1.0).abs() < 1e-12, "with RDD: {}", m["charts/kept_groups"]);
    assert!(m["charts/intrinsic_return"] > 0.0 && m["charts/intrinsic_return"].is_finite());
    assert!(m["losses/policy_loss"].is_finite() && m["losses/approx_kl"] >= 0.0);
    // The bonus module is checkpointed with the policy: a resumed run goes on identically.
    let dir = std::env::temp_dir().join(format!("spelunk-rdd-{}", std::process::id()));
    t.save(&dir).expect("save");
    let mut r = empty_trainer(cfg);
    r.resume(&dir).expect("resume");
    assert_eq!(t.iterate().expect("iteration"), r.iterate().expect("iteration"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ppo_with_a_value_head_learns_minigrid_empty_and_resumes() {
    // The same head and budget as the GRPO test, advantages from GAE on a value head instead
    // of groups: ≥ 90% sampled success after 25 iterations (100% in 30 with
    // `spelunk train --set algorithm=ppo --set iterations=30`).
    let cfg = spelunk_grpo::TrainConfig {
        iterations: 25,
        algorithm: spelunk_grpo::Algorithm::Ppo,
        ..Default::default()
    };
    let mut t = empty_trainer(cfg.clone());
    for _ in 0..25 {
        let m = t.iterate().expect("iteration");
        assert!(m["losses/policy_loss"].is_finite());
    }
    let (_, after) = t.evaluate(64, false).expect("eval");
    assert!(after >= 0.9, "PPO success {after}");
    let dir = std::env::temp_dir().join(format!("spelunk-ppo-{}", std::process::id()));
    t.save(&dir).expect("save");
    assert!(dir.join("value.safetensors").exists(), "the value head is checkpointed");
    let mut r = empty_trainer(cfg);
    r.resume(&dir).expect("resume");
    let (_, again) = r.evaluate(64, false).expect("eval");
    assert!((again - after).abs() < 1e-12, "the resumed policy evaluates the same");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ppo_in_fixed_length_slices_counts_whole_episodes_resumes_exactly_and_learns() {
    // CleanRL's rollout: 16 envs × 32 steps an iteration, the envs kept across iterations.
    let cfg = spelunk_grpo::TrainConfig {
        algorithm: spelunk_grpo::Algorithm::Ppo,
        rollout_steps: 32,
        groups_per_step: 2,
        group_size: 8,
        epochs: 4,
        minibatches: 4,
        dynamic_sampling: false,
        shards: 2,
        ..Default::default()
    };
    let mut a = empty_trainer(cfg.clone());
    let mut b = empty_trainer(spelunk_grpo::TrainConfig { threads: 2, ..cfg.clone() });
    // (Evaluating draws from its own generator and envs: `b`, not evaluated, stays equal.)
    let (_, before) = a.evaluate(64, false).expect("eval");
    // Every step is an env step; the episodes that ended, whole, account for all of them but
    // the 16 unfinished ones (each shorter than Empty-5x5's limit of 100 steps).
    let (mut ended_steps, mut longest) = (0.0, 0f64);
    for it in 1..=4 {
        let m = a.iterate().expect("iteration");
        assert_eq!(m, b.iterate().expect("iteration"), "thread count changed iteration {it}");
        assert_eq!(m["charts/env_steps"], f64::from(16 * 32 * it));
        ended_steps += m["charts/episodes"] * m["charts/episode_length"];
        longest = longest.max(m["charts/episode_length"]);
    }
    let all = f64::from(16 * 32 * 4);
    assert!(ended_steps <= all && ended_steps > all - 16.0 * 100.0, "{ended_steps} of {all}");
    assert!(longest > 32.0, "episodes span slices and count whole: mean length {longest}");
    // A checkpoint keeps the envs mid-episode: the resumed run goes on exactly.
    let dir = std::env::temp_dir().join(format!("spelunk-ppo-slices-{}", std::process::id()));
    a.save(&dir).expect("save");
    assert!(dir.join("rollouts.bin").exists());
    let mut r = empty_trainer(cfg.clone());
    r.resume(&dir).expect("resume");
    for _ in 0..2 {
        assert_eq!(a.iterate().expect("iteration"), r.iterate().expect("iteration"));
    }
    assert_eq!(policy_values(&a), policy_values(&r));
    // A damaged file is refused by name; fewer envs than the checkpoint's too.
    let bytes = std::fs::read(dir.join("rollouts.bin")).expect("read");
    std::fs::write(dir.join("rollouts.bin"), &bytes[..bytes.len() - 3]).expect("write");
    let err = empty_trainer(cfg.clone()).resume(&dir).expect_err("truncated").to_string();
    assert!(err.contains("rollouts.bin"), "{err}");
    std::fs::write(dir.join("rollouts.bin"), &bytes).expect("write");
    let fewer = spelunk_grpo::TrainConfig { groups_per_step: 1, ..cfg.clone() };
    let err = empty_trainer(fewer).resume(&dir).expect_err("other size").to_string();
    assert!(err.contains("16 envs in the checkpoint"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
    // It learns: sampled success on unseen seeds, from the untrained policy's.
    for _ in 0..LEARN_ITERATIONS {
        a.iterate().expect("iteration");
    }
    let (_, after) = a.evaluate(64, false).expect("eval");
    assert!(after >= 0.9 && after > before + 0.3, "success {before} → {after}");
    // GRPO compares whole episodes: slices are refused, naming the setting.
    let grpo = spelunk_grpo::TrainConfig { algorithm: spelunk_grpo::Algorithm::Grpo, ..cfg };
    let reg = spelunk_envs::registry();
    let err =
        spelunk_grpo::Trainer::new(grpo, Box::new(move |_| reg.make("MiniGrid-Empty-5x5-v0")))
            .expect_err("grpo")
            .to_string();
    assert!(err.contains("rollout_steps"), "{err}");
}

const LEARN_ITERATIONS: usize = 40;

/// The solver's shortest plan for Montezuma-Lite as a demo file, with a time limit a little
/// past its end so that failed episodes stay short.
fn montezuma_demo(dir: &std::path::Path) -> (std::path::PathBuf, usize, serde_json::Value) {
    use spelunk_envs::montezuma::solve::{solve, Plan};
    use spelunk_envs::montezuma::{Montezuma, MontezumaConfig};
    let mut env = Montezuma::new("Montezuma-Lite-v0", MontezumaConfig::default()).expect("env");
    let mut obs = spelunk_core::ObsBuf::for_space(spelunk_core::Env::observation_space(&env));
    spelunk_core::Env::reset(&mut env, Some(0), None, obs.as_mut()).expect("reset");
    let Plan::Solved(plan) = solve(&env, 5_000_000) else { panic!("solvable") };
    let env_config = serde_json::json!({ "max_steps": plan.len() + 30 });
    let demo = spelunk_grpo::Demo {
        env: "Montezuma-Lite-v0".into(),
        seed: 0,
        env_config: Some(env_config.clone()),
        actions: plan.iter().map(|&a| spelunk_grpo::DemoAction::Discrete(i64::from(a))).collect(),
        score: None,
    };
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("demo.json");
    demo.save(&path).expect("save demo");
    (path, plan.len(), env_config)
}

fn trainer_with(
    cfg: spelunk_grpo::TrainConfig,
) -> spelunk_grpo::Result<spelunk_grpo::Trainer<'static>> {
    let reg = spelunk_envs::registry();
    let id = cfg.env.clone();
    let env_cfg = cfg.env_config.clone();
    spelunk_grpo::Trainer::new(
        cfg,
        Box::new(move |over: Option<&serde_json::Value>| match over.or(env_cfg.as_ref()) {
            Some(c) => reg.make_with(&id, c),
            None => reg.make(&id),
        }),
    )
}

#[test]
fn privileged_starts_move_back_along_a_demonstration_and_resume() {
    // Starting near the end of the solver's plan, PPO reaches the treasure often enough that
    // the start moves back; the curriculum survives a checkpoint.
    let dir = std::env::temp_dir().join(format!("spelunk-demo-{}", std::process::id()));
    let (path, len, env_config) = montezuma_demo(&dir);
    let cfg = spelunk_grpo::TrainConfig {
        env: "Montezuma-Lite-v0".into(),
        env_config: Some(env_config),
        algorithm: spelunk_grpo::Algorithm::Ppo,
        obs_norm: true,
        groups_per_step: 8,
        privileged: Some(spelunk_grpo::PrivilegedConfig {
            demo: path.clone(),
            step_back: 5,
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut t = trainer_with(cfg.clone()).expect("trainer");
    let first = t.curriculum().expect("curriculum");
    assert_eq!((first.cursor, first.len), (len - 5, len));
    for _ in 0..12 {
        let m = t.iterate().expect("iteration");
        assert_eq!(m["charts/demo_length"], len as f64);
        // How episodes ended: the rooms' fractions add up to one, lives lost and time-outs
        // are reported for an env with lives and rooms.
        let rooms: f64 =
            m.iter().filter(|(k, _)| k.starts_with("charts/end_room/")).map(|(_, v)| v).sum();
        assert!((rooms - 1.0).abs() < 1e-9, "end rooms sum to {rooms}");
        let items: f64 =
            m.iter().filter(|(k, _)| k.starts_with("charts/end_items/")).map(|(_, v)| v).sum();
        assert!((items - 1.0).abs() < 1e-9, "end items sum to {items}");
        assert!((0.0..=5.0).contains(&m["charts/lives_lost"]), "{m:?}");
        assert!((0.0..=1.0).contains(&m["charts/truncated_rate"]), "{m:?}");
    }
    let now = t.curriculum().expect("curriculum");
    assert!(now.cursor + 15 <= first.cursor, "moved back at least 3 times: {first:?} → {now:?}");
    let ckpt = dir.join("ckpt");
    t.save(&ckpt).expect("save");
    let mut r = trainer_with(cfg.clone()).expect("trainer");
    r.resume(&ckpt).expect("resume");
    assert_eq!(r.curriculum(), t.curriculum());
    assert_eq!(r.obs_norm, t.obs_norm, "observation statistics are restored");

    // With the whole batch on the frontier (the cursor's first `step_back` steps), the
    // frontier's success rate is the iteration's, and it alone moves the start.
    let mut c = cfg.clone();
    c.privileged = Some(spelunk_grpo::PrivilegedConfig {
        demo: path.clone(),
        step_back: 2,
        window: 6,
        frontier: 1.0,
        ..Default::default()
    });
    let mut f = trainer_with(c.clone()).expect("trainer");
    let mut moved = 0;
    for _ in 0..3 {
        let before = f.curriculum().expect("curriculum").cursor;
        let m = f.iterate().expect("iteration");
        let rate = m["charts/frontier_success_rate"];
        assert_eq!(rate, m["charts/success_rate"], "every start is on the frontier");
        let after = f.curriculum().expect("curriculum").cursor;
        assert_eq!(after, if rate >= 0.5 { before - 2 } else { before }, "{rate}");
        moved += before - after;
    }
    assert!(moved > 0, "near the treasure the frontier succeeds and the start moves");
    c.privileged.as_mut().expect("privileged").frontier = 1.5;
    let e = trainer_with(c.clone()).expect_err("frontier above 1").to_string();
    assert!(e.contains("frontier"), "{e}");

    // Demo-progress shaping is reported beside the task's return, not in it. An episode's
    // shaping is at most γ·Φ(end) − Φ(start) ≤ 1 − Φ(start), and these start in the demo's
    // last two steps, where Φ is within 2 / len of the top.
    let p = c.privileged.as_mut().expect("privileged");
    (p.frontier, p.shaping) = (1.0, 1.0);
    let mut s = trainer_with(c.clone()).expect("trainer");
    let m = s.iterate().expect("iteration");
    let shaping = m["charts/shaping_return"];
    assert!(shaping != 0.0 && shaping <= 2.0 / len as f64 + 1e-6, "{shaping}");
    assert!(m["charts/episodic_return"] >= 0.0, "task rewards only: {m:?}");
    // Imitation of the demo: the demo's actions become likelier under the policy.
    let p = c.privileged.as_mut().expect("privileged");
    (p.shaping, p.imitation, p.threshold) = (0.0, 1.0, 1.0);
    let mut im = trainer_with(c.clone()).expect("trainer");
    let nll: Vec<f64> =
        (0..4).map(|_| im.iterate().expect("iteration")["losses/imitation_nll"]).collect();
    assert!(nll[3] < nll[0], "the demo's negative log-likelihood falls: {nll:?}");
    // An env without positions cannot be shaped by them.
    let demo = dir.join("bandit.json");
    std::fs::write(&demo, "{\"env\": \"Bandit-Bernoulli-5-v0\", \"seed\": 0, \"actions\": [1]}")
        .expect("write");
    let mut b = spelunk_grpo::TrainConfig { env: "Bandit-Bernoulli-5-v0".into(), ..c.clone() };
    b.env_config = None;
    b.privileged =
        Some(spelunk_grpo::PrivilegedConfig { demo, shaping: 1.0, ..Default::default() });
    let e = trainer_with(b).expect_err("shaping without positions").to_string();
    assert!(e.contains("shaping needs an env whose info reports a position"), "{e}");

    // Demos that do not fit are refused before any work, with the file named.
    let bad = |text: &str| {
        let p = dir.join("bad.json");
        std::fs::write(&p, text).expect("write");
        let mut c = cfg.clone();
        c.privileged = Some(spelunk_grpo::PrivilegedConfig { demo: p, ..Default::default() });
        trainer_with(c).expect_err("bad demo").to_string()
    };
    let e = bad("{\"env\": \"MiniGrid-Empty-5x5-v0\", \"seed\": 0, \"actions\": [1]}");
    assert!(e.contains("MiniGrid-Empty-5x5-v0") && e.contains("bad.json"), "{e}");
    let e = bad("{\"env\": \"Montezuma-Lite-v0\", \"seed\": 0, \"actions\": [2, 2, 2]}");
    assert!(e.contains("do not finish"), "{e}");
    let e = bad("not json");
    assert!(e.contains("not a demo file"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tree_rollouts_branch_at_uncertain_steps_and_repeat_exactly() {
    let cfg = spelunk_grpo::TrainConfig {
        groups_per_step: 4,
        tree: Some(spelunk_grpo::TreeConfig { branch_points: 2, children: 4 }),
        dynamic_sampling: false,
        ..Default::default()
    };
    let run = || {
        let mut t = empty_trainer(cfg.clone());
        (0..2).map(|_| t.iterate().expect("iteration")).collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a[0]["charts/tree_children"], 4.0 * 2.0 * 4.0, "groups × branch points × children");
    assert_eq!(a, run(), "the replayed branch points and children repeat exactly");
    // The branch points: the largest entropy per episode, never the last step, best first.
    let h1 = [0.1f32, 0.9, 0.3, 2.0];
    let h2 = [0.5f32, 0.2];
    let h3 = [1.5f32];
    let pts = spelunk_grpo::explore::branch_points(&[&h1, &h2, &h3], 3);
    assert_eq!(pts, vec![(0, 1), (1, 0)]);
}

#[test]
fn progrpo_and_lp_reg_follow_their_formulas() {
    use spelunk_grpo::explore::{answer_confidence, lp_reg_targets, progrpo_reweight};
    // Confidence: the mean of the lowest 20% of log-probabilities (at least one).
    let lp = [-0.1f32, -2.0, -0.5, -0.2, -3.0, -0.3, -0.4, -0.1, -0.2, -0.6];
    assert!((answer_confidence(&lp, 0.2) - (-2.5)).abs() < 1e-6);
    assert!((answer_confidence(&lp[..3], 0.2) - (-2.0)).abs() < 1e-6);
    // A group with reward: A + α (mean c − c); a group without: unchanged.
    let mut adv = vec![1.0f32, -1.0, 0.5, 0.5];
    let returns = [1.0f32, 0.0, 0.0, 0.0];
    let conf = [-1.0f32, -3.0, -2.0, -2.0];
    let cfg = spelunk_grpo::ProGrpoConfig { alpha: 0.5, low_fraction: 0.2 };
    progrpo_reweight(&mut adv, &returns, &conf, 2, &cfg).expect("reweight");
    assert_eq!(adv, vec![1.0 + 0.5 * (-2.0 + 1.0), -1.0 + 0.5 * (-2.0 + 3.0), 0.5, 0.5]);
    assert!(progrpo_reweight(&mut adv, &returns, &conf[..3], 2, &cfg).is_err());
    // Lp-Reg: rows whose sampled token is rare (≤ the rho quantile), kept by the proxy
    // (> tau) and pushed down (negative advantage) get the renormalised proxy; others zeros.
    let probs = [
        0.70f32, 0.25, 0.04, 0.01, // token 2 sampled: rare, above tau, negative → protected
        0.70, 0.25, 0.04, 0.01, // token 3 sampled: below tau → noise, not protected
        0.70, 0.25, 0.04, 0.01, // token 2 again but positive advantage → not protected
        0.40, 0.30, 0.20, 0.10, // token 0: common → not protected
    ];
    let cfg = spelunk_grpo::LpRegConfig { coef: 1.0, tau: 0.02, rho: 0.5 };
    let (proxy, n) = lp_reg_targets(&probs, 4, &[2, 3, 2, 0], &[-1.0, -1.0, 1.0, -1.0], &cfg);
    assert_eq!(n, 1);
    let kept = 0.70 + 0.25 + 0.04;
    let want = [0.70 / kept, 0.25 / kept, 0.04 / kept, 0.0];
    for (p, w) in proxy[..4].iter().zip(want) {
        assert!((p - w).abs() < 1e-6, "{proxy:?}");
    }
    assert!(proxy[4..].iter().all(|&p| p == 0.0));
    // Both run inside the trainer and report what they did.
    let cfg = spelunk_grpo::TrainConfig {
        groups_per_step: 4,
        progrpo: Some(spelunk_grpo::ProGrpoConfig::default()),
        lp_reg: Some(spelunk_grpo::LpRegConfig { rho: 0.2, ..Default::default() }),
        ..Default::default()
    };
    let mut t = empty_trainer(cfg);
    let m = t.iterate().expect("iteration");
    assert!(m["losses/lp_reg_protected"] > 0.0 && m["losses/policy_loss"].is_finite(), "{m:?}");
}

/// Run `iterations` and check that the metrics stay finite and every parameter tensor of the
/// head moved (the gradient reaches all of them).
fn every_parameter_moves(t: &mut spelunk_grpo::Trainer<'_>, iterations: usize) {
    let values = policy_values;
    let before = values(t);
    for _ in 0..iterations {
        let m = t.iterate().expect("iteration");
        assert!(m.values().all(|v| v.is_finite()), "{m:?}");
    }
    let names = t.policy.params().named().iter().map(|(n, _)| n.clone());
    for ((name, now), old) in names.zip(values(t)).zip(&before) {
        assert!(now != *old, "{name} did not change");
    }
}

#[test]
fn the_transformer_head_trains_on_bandit_histories_and_its_checkpoints_name_it() {
    use spelunk_models::policy::Head;
    let env_config = serde_json::json!({"history": 8, "horizon": 8});
    let head = spelunk_models::PolicyConfig {
        head: Head::Transformer,
        transformer: spelunk_models::TransformerConfig {
            vocab: 11,
            d_model: 16,
            layers: 1,
            heads: 2,
            ffn: 32,
            ..Default::default()
        },
        ..Default::default()
    };
    let cfg = spelunk_grpo::TrainConfig {
        env: "Bandit-Bernoulli-5-v0".into(),
        env_config: Some(env_config.clone()),
        iterations: 2,
        groups_per_step: 4,
        group_size: 4,
        dynamic_sampling: false,
        policy: head,
        ..Default::default()
    };
    let make = |cfg: spelunk_grpo::TrainConfig| {
        let reg = spelunk_envs::registry();
        let c = env_config.clone();
        spelunk_grpo::Trainer::new(
            cfg,
            Box::new(move |_| reg.make_with("Bandit-Bernoulli-5-v0", &c)),
        )
        .expect("trainer")
    };
    let mut t = make(cfg.clone());
    every_parameter_moves(&mut t, 2);
    let dir = std::env::temp_dir().join(format!("spelunk-grpo-tf-{}", std::process::id()));
    t.save(&dir).expect("save");
    let mut resumed = make(cfg.clone());
    resumed.resume(&dir).expect("resume");
    assert_eq!(t.iterate().expect("next"), resumed.iterate().expect("next"), "resume is exact");
    // The MLP head refuses the transformer's checkpoint, naming the file.
    let mlp = spelunk_grpo::TrainConfig {
        policy: spelunk_models::PolicyConfig::default(),
        ..cfg.clone()
    };
    let e = make(mlp).resume(&dir).expect_err("other head").to_string();
    assert!(e.contains("policy.safetensors"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    // Observations that are not token ids are a clear error, not a silent cast.
    let plain = spelunk_grpo::TrainConfig { env_config: None, ..cfg };
    let reg = spelunk_envs::registry();
    let mut t =
        spelunk_grpo::Trainer::new(plain, Box::new(move |_| reg.make("Bandit-Bernoulli-5-v0")))
            .expect("trainer");
    let e = t.iterate().expect_err("fractions are not tokens").to_string();
    assert!(e.contains("token ids"), "{e}");
}

#[test]
fn the_cnn_head_reads_minigrid_images_beside_their_direction() {
    use spelunk_models::policy::Head;
    let cnn = spelunk_models::PolicyConfig {
        head: Head::Cnn,
        hidden: vec![32, 32],
        ..Default::default()
    };
    let cfg = spelunk_grpo::TrainConfig {
        iterations: 2,
        groups_per_step: 2,
        group_size: 4,
        dynamic_sampling: false,
        policy: cnn,
        ..Default::default()
    };
    let mut t = empty_trainer(cfg.clone());
    // MiniGrid observes Dict(image [7, 7, 3], direction): the image goes through the 3×3
    // trunk, the direction joins its features.
    let names: Vec<String> = t.policy.params().named().iter().map(|(n, _)| n.clone()).collect();
    assert!(names.iter().any(|n| n.starts_with("policy.cnn.conv0")), "{names:?}");
    every_parameter_moves(&mut t, 2);
    assert_eq!(t.policy.module(), "spelunk-grpo/cnn-policy");
    // An env without an image observation is refused before any work.
    let bandit = spelunk_grpo::TrainConfig { env: "Bandit-Bernoulli-5-v0".into(), ..cfg };
    let reg = spelunk_envs::registry();
    let e =
        spelunk_grpo::Trainer::new(bandit, Box::new(move |_| reg.make("Bandit-Bernoulli-5-v0")))
            .expect_err("no image")
            .to_string();
    assert!(e.contains("image observation"), "{e}");
}

/// How far our logits may be from transformers' on the tiny checkpoints. Both sides compute in
/// f32 and measured 7.5e-8 (Llama) and 6.0e-8 (Qwen2) on 2026-12-02 — a few roundings of values
/// near 1; a real error (a wrong RoPE, norm or bias) moves them by far more.
const LOGIT_TOLERANCE: f64 = 1e-6;

#[test]
fn hugging_face_llama_and_qwen2_checkpoints_load_and_match_their_logits() {
    // tests/fixtures/tiny-{llama,qwen2}: written by scripts/fixtures/tiny_llama.py with
    // transformers — 2 layers, width 32, 4 heads on 2 key/value heads, norm gains away from 1
    // (and Qwen2's query/key/value biases away from 0).
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    for arch in ["llama", "qwen2"] {
        let dir = root.join(format!("tiny-{arch}"));
        let lm = spelunk_models::LanguageModel::from_pretrained(&dir, &Device::Cpu).expect("load");
        assert_eq!(lm.config().kv_heads, Some(2));
        assert_eq!(lm.config().qkv_bias, arch == "qwen2");
        let fixture: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("logits.json")).expect("read"))
                .expect("json");
        let ids: Vec<u32> = fixture["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        // The tokenizer.json gives the ids Python's tokenizer gave, and decodes them back.
        let prompt = fixture["prompt"].as_str().expect("prompt");
        assert_eq!(lm.encode(prompt).expect("encode"), ids);
        assert_eq!(lm.decode(&ids).expect("decode").replace(' ', ""), prompt.replace(' ', ""));
        let n = ids.len();
        let tokens = Tensor::from_vec(ids, (1, n), &Device::Cpu).expect("tokens");
        let ours = lm.logits(&tokens).expect("logits").squeeze(0).expect("squeeze");
        let ours: Vec<Vec<f32>> = ours.to_vec2().expect("values");
        let theirs = fixture["logits"].as_array().expect("logits");
        let mut worst = 0f64;
        for (row, want) in ours.iter().zip(theirs) {
            for (a, b) in row.iter().zip(floats(want)) {
                worst = worst.max((f64::from(*a) - b).abs());
            }
        }
        eprintln!("{arch}: largest logit difference from transformers: {worst:.2e}");
        assert!(
            worst < LOGIT_TOLERANCE,
            "{arch}: largest logit difference from transformers: {worst}"
        );
    }
    let dir = root.join("tiny-llama");

    // Bad checkpoints fail with what is wrong, and load nothing.
    let tmp = std::env::temp_dir().join(format!("spelunk-tiny-llama-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("dir");
    let err = |t: &std::path::Path| {
        spelunk_models::LanguageModel::from_pretrained(t, &Device::Cpu)
            .expect_err("bad")
            .to_string()
    };
    assert!(err(&tmp).contains("config.json"));
    let config = std::fs::read_to_string(dir.join("config.json")).expect("config");
    std::fs::write(tmp.join("config.json"), config.replace("\"llama\"", "\"mistral\"")).expect("w");
    assert!(err(&tmp).contains("mistral"));
    let sliding =
        config.replace("\"llama\"", "\"qwen2\"").replacen('{', "{\"use_sliding_window\": true,", 1);
    std::fs::write(tmp.join("config.json"), sliding).expect("w");
    assert!(err(&tmp).contains("sliding"), "{}", err(&tmp));
    std::fs::write(
        tmp.join("config.json"),
        config.replace("\"intermediate_size\": 64", "\"intermediate_size\": 96"),
    )
    .expect("w");
    std::fs::copy(dir.join("model.safetensors"), tmp.join("model.safetensors")).expect("copy");
    assert!(err(&tmp).contains("mlp.gate_proj.weight"), "{}", err(&tmp));
    std::fs::write(tmp.join("config.json"), &config).expect("w");
    let bytes = std::fs::read(dir.join("model.safetensors")).expect("read");
    std::fs::write(tmp.join("model.safetensors"), &bytes[..bytes.len() / 2]).expect("truncate");
    assert!(err(&tmp).contains("model.safetensors"), "{}", err(&tmp));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn a_language_model_answers_the_text_bandit_and_invalid_text_is_an_action_not_a_crash() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/tiny-llama");
    let env_config = serde_json::json!({"horizon": 2, "means": [0.1, 0.2, 0.3, 0.9, 0.4]});
    let make = |cfg: spelunk_grpo::TextConfig| {
        let reg = spelunk_envs::registry();
        let c = env_config.clone();
        spelunk_grpo::TextTrainer::new(
            cfg,
            Box::new(move |_| reg.make_with("Bandit-Bernoulli-5-Text-v0", &c)),
        )
    };
    // The pretrained tiny checkpoint, 2 groups of 2 episodes of 2 pulls.
    let cfg = spelunk_grpo::TextConfig {
        pretrained: Some(dir.clone()),
        group_size: 2,
        groups_per_step: 2,
        ..Default::default()
    };
    let mut t = make(cfg.clone()).expect("trainer");
    let before = t.lm.params().named()[0].1.as_tensor().flatten_all().expect("flat");
    let before: Vec<f32> = before.to_vec1().expect("values");
    for _ in 0..2 {
        let m = t.iterate().expect("iteration");
        assert!(m.values().all(|v| v.is_finite()), "{m:?}");
        let invalid = m["charts/invalid_fraction"];
        // A random model writes mostly non-digits: invalid steps cost −1 each and the episode
        // goes on to its time limit.
        assert!((0.0..=1.0).contains(&invalid));
        assert!(m["charts/episodic_return"] >= -2.0 && m["charts/episodic_return"] <= 2.0);
    }
    let after = t.lm.params().named()[0].1.as_tensor().flatten_all().expect("flat");
    assert!(after.to_vec1::<f32>().expect("values") != before, "the embedding learned");
    // A fresh model needs a tokenizer; a non-text env is refused.
    let fresh = spelunk_grpo::TextConfig { pretrained: None, ..cfg.clone() };
    assert!(make(fresh).expect_err("no tokenizer").to_string().contains("tokenizer"));
    // A KL term would need a reference model the text trainer does not keep: refused by name.
    let kl = spelunk_grpo::TextConfig {
        loss: spelunk_grpo::LossConfig { kl_coef: 0.1, ..Default::default() },
        ..cfg.clone()
    };
    assert!(make(kl).expect_err("kl").to_string().contains("loss.kl_coef"));
    let reg = spelunk_envs::registry();
    let e =
        spelunk_grpo::TextTrainer::new(cfg, Box::new(move |_| reg.make("Bandit-Bernoulli-5-v0")))
            .expect_err("not text")
            .to_string();
    assert!(e.contains("Text observation"), "{e}");
    assert_eq!(spelunk_grpo::parse_action("arm 3", 5), Some(3));
}

#[test]
fn the_vla_head_trains_on_instruction_targets_with_its_ids_kept_raw() {
    use spelunk_models::policy::Head;
    // Three targets, an 8 × 8 camera: the instruction's ids must reach the head unscaled and
    // unnormalised even with `obs_norm` (the head refuses anything but ids below 7).
    let env_config = serde_json::json!({
        "targets": 3, "max_steps": 6, "reward_type": "dense",
        "camera": {"width": 8, "height": 8, "fov_y": 30.0}
    });
    let policy = spelunk_models::PolicyConfig {
        head: Head::Vla,
        bins: 5,
        vla: spelunk_models::VlaConfig { patch: 4, ..Default::default() },
        transformer: spelunk_models::TransformerConfig {
            d_model: 16,
            layers: 1,
            heads: 2,
            ffn: 16,
            ..Default::default()
        },
        ..Default::default()
    };
    let cfg = spelunk_grpo::TrainConfig {
        env: "Arm-Reach-v0".into(),
        env_config: Some(env_config.clone()),
        iterations: 2,
        groups_per_step: 2,
        group_size: 4,
        minibatches: 2,
        obs_norm: true,
        dynamic_sampling: false,
        policy,
        ..Default::default()
    };
    let make = |cfg: spelunk_grpo::TrainConfig| {
        let reg = spelunk_sims::registry();
        let c = env_config.clone();
        spelunk_grpo::Trainer::new(cfg, Box::new(move |_| reg.make_with("Arm-Reach-v0", &c)))
    };
    let mut t = make(cfg.clone()).expect("trainer");
    every_parameter_moves(&mut t, 2);
    let dir = std::env::temp_dir().join(format!("spelunk-grpo-vla-{}", std::process::id()));
    t.save(&dir).expect("save");
    let mut resumed = make(cfg.clone()).expect("trainer");
    resumed.resume(&dir).expect("resume");
    assert_eq!(t.iterate().expect("next"), resumed.iterate().expect("next"), "resume is exact");
    let cnn = spelunk_grpo::TrainConfig {
        policy: spelunk_models::PolicyConfig { head: Head::Cnn, ..cfg.policy.clone() },
        ..cfg.clone()
    };
    let e = make(cnn).expect("cnn head").resume(&dir).expect_err("other head").to_string();
    assert!(e.contains("policy.safetensors"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    // Without an image the head is refused before any work, naming the env.
    let reg = spelunk_sims::registry();
    let e = spelunk_grpo::Trainer::new(
        spelunk_grpo::TrainConfig { env_config: None, ..cfg },
        Box::new(move |_| reg.make("Arm-Reach-v0")),
    )
    .expect_err("no image")
    .to_string();
    assert!(e.contains("Arm-Reach-v0") && e.contains("image"), "{e}");
}

#[test]
fn numbers_that_would_train_to_nan_are_refused_naming_the_field() {
    use spelunk_grpo::TrainConfig;
    let base = TrainConfig::default();
    let adam = base.adam;
    let cases: Vec<(TrainConfig, &str)> = vec![
        (
            TrainConfig {
                adam: spelunk_models::AdamConfig { lr: f64::NAN, ..adam },
                ..base.clone()
            },
            "adam.lr",
        ),
        (
            TrainConfig {
                adam: spelunk_models::AdamConfig { lr: f64::INFINITY, ..adam },
                ..base.clone()
            },
            "adam.lr",
        ),
        (
            TrainConfig { adam: spelunk_models::AdamConfig { lr: -1e-3, ..adam }, ..base.clone() },
            "adam.lr",
        ),
        (
            TrainConfig { adam: spelunk_models::AdamConfig { eps: 0.0, ..adam }, ..base.clone() },
            "adam.eps",
        ),
        (
            TrainConfig { adam: spelunk_models::AdamConfig { beta2: 1.0, ..adam }, ..base.clone() },
            "adam.beta2",
        ),
        (
            TrainConfig {
                adam: spelunk_models::AdamConfig { max_grad_norm: Some(f64::NAN), ..adam },
                ..base.clone()
            },
            "adam.max_grad_norm",
        ),
        (TrainConfig { gamma: f32::NAN, ..base.clone() }, "gamma"),
        (TrainConfig { gae_lambda: 1.5, ..base.clone() }, "gae_lambda"),
        (TrainConfig { value_coef: f64::INFINITY, ..base.clone() }, "value_coef"),
        (
            TrainConfig {
                loss: spelunk_grpo::LossConfig { entropy_coef: f64::INFINITY, ..base.loss },
                ..base.clone()
            },
            "loss.entropy_coef",
        ),
        (
            TrainConfig {
                loss: spelunk_grpo::LossConfig { kl_coef: f64::NAN, ..base.loss },
                ..base.clone()
            },
            "loss.kl_coef",
        ),
    ];
    for (cfg, field) in cases {
        let reg = spelunk_envs::registry();
        let id = cfg.env.clone();
        let e = spelunk_grpo::Trainer::new(cfg, Box::new(move |_| reg.make(&id)))
            .map(|_| ())
            .expect_err(field)
            .to_string();
        assert!(e.contains(field) && e.starts_with("invalid GRPO config"), "{field}: {e}");
    }
    // The defaults pass, and the optimiser refuses the same numbers when built directly.
    assert!(base.validate().is_ok());
    let store = spelunk_models::ParamStore::new(&candle_core::Device::Cpu, 0);
    let e = spelunk_models::Adam::new(&store, spelunk_models::AdamConfig { lr: f64::NAN, ..adam })
        .map(|_| ())
        .expect_err("nan lr")
        .to_string();
    assert!(e.contains("adam.lr"), "{e}");
}

/// Softmax of the policy's logits over `rows` (one row of `dim` features each), flattened.
fn action_probs(t: &spelunk_grpo::Trainer<'_>, rows: &[f32], dim: usize) -> Vec<f32> {
    let x = Tensor::from_slice(rows, (rows.len() / dim, dim), &Device::Cpu).expect("rows");
    let logits = t.policy.logits(&x).expect("logits");
    let logp = spelunk_models::policy::log_softmax(&logits).expect("log-softmax");
    logp.exp().expect("exp").flatten_all().expect("flat").to_vec1().expect("values")
}

#[test]
fn a_kl_term_holds_fine_tuning_near_its_reference_and_kept_demonstrations_stay_learnt() {
    use spelunk_core::ObsBuf;
    use spelunk_grpo::{LossConfig, TrainConfig};
    let cfg = TrainConfig { iterations: 6, groups_per_step: 4, ..Default::default() };
    let with_kl = |kl_coef: f64| TrainConfig {
        loss: LossConfig { kl_coef, ..LossConfig::default() },
        ..cfg.clone()
    };
    // Start states of MiniGrid-Empty-5x5-v0 as raw rows, each "demonstrated" with forward (2).
    let mut env = spelunk_envs::registry().make(&cfg.env).expect("env");
    let dim = env.observation_space().flat_len();
    let mut buf = ObsBuf::for_space(env.observation_space());
    let mut obs = Vec::new();
    for seed in 0..64 {
        env.reset(Some(seed), None, buf.as_mut()).expect("reset");
        obs.extend(buf.as_u8().expect("bytes").iter().map(|&v| f32::from(v)));
    }
    let forward = vec![2f32; 64];
    // The rows the policy reads (features scaled by the space's bound, 255 here, as in
    // rollouts) measure how far a run moved its policy: mean KL(π_end ‖ π_start) per row.
    let rows: Vec<f32> = obs.iter().map(|v| v / 255.0).collect();
    let kl = |p: &[f32], q: &[f32]| {
        p.iter()
            .zip(q)
            .map(|(&p, &q)| f64::from(p) * (f64::from(p) / f64::from(q)).ln())
            .sum::<f64>()
            / 64.0
    };
    let drift = |kl_coef: f64| {
        let mut t = empty_trainer(with_kl(kl_coef));
        let start = action_probs(&t, &rows, dim);
        let ms: Vec<_> = (0..6).map(|_| t.iterate().expect("iteration")).collect();
        (kl(&action_probs(&t, &rows, dim), &start), ms)
    };
    let (free, mf) = drift(0.0);
    let (held, mh) = drift(1.0);
    assert!(!mf[0].contains_key("losses/ref_kl"), "no reference without a KL term");
    for m in &mh {
        let r = m["losses/ref_kl"];
        assert!(r.is_finite() && r >= 0.0, "ref_kl {r}");
    }
    assert!(free > 0.05 && held < 0.1 * free, "KL from the start: {free} free, {held} held");
    // The reference is part of the checkpoint: a resumed run goes on exactly.
    let dir = std::env::temp_dir().join(format!("spelunk-grpo-kl-{}", std::process::id()));
    let mut a = empty_trainer(with_kl(1.0));
    a.iterate().expect("iteration");
    a.save(&dir).expect("save");
    assert!(dir.join("reference.safetensors").exists());
    let mut resumed = empty_trainer(with_kl(1.0));
    resumed.resume(&dir).expect("resume");
    assert_eq!(a.iterate().expect("iteration"), resumed.iterate().expect("iteration"));
    let _ = std::fs::remove_dir_all(&dir);
    // Behaviour cloning makes its result the reference: the first update of RL that follows
    // (one epoch, one minibatch: measured before the step) is at zero KL from it.
    let one_step = TrainConfig { epochs: 1, minibatches: 1, obs_norm: true, ..with_kl(1.0) };
    let mut c = empty_trainer(one_step.clone());
    let bc = spelunk_grpo::BcConfig { epochs: 30, batch: 16, ..Default::default() };
    c.behaviour_clone(&obs, &forward, &[1; 64], &bc, &mut |_, _| {}).expect("clone");
    let cloned = c.obs_norm.clone().expect("statistics");
    assert_eq!(cloned.count, 64.0, "set from the demonstrations");
    let r = c.iterate().expect("iteration")["losses/ref_kl"];
    assert!(r.abs() < 1e-6, "KL to the cloned reference before any step: {r}");
    // The statistics stay those of the demonstrations through RL, and after a resume.
    assert_eq!(c.obs_norm.as_ref(), Some(&cloned));
    c.save(&dir).expect("save");
    let mut resumed = empty_trainer(one_step.clone());
    resumed.resume(&dir).expect("resume");
    resumed.iterate().expect("iteration");
    assert_eq!(resumed.obs_norm.as_ref(), Some(&cloned));
    let _ = std::fs::remove_dir_all(&dir);
    // Without cloning they run over every training observation.
    let mut running = empty_trainer(one_step);
    running.iterate().expect("iteration");
    let n = running.obs_norm.as_ref().expect("statistics").count;
    assert_eq!(n, running.env_steps as f64);
    // Kept demonstrations (DAPG): the RL loss also fits the demonstrated frames. A weight
    // of 1e-9 only reads their loss; a weight of 1 keeps forward likely at every start.
    let kept = |coef: f64| {
        let mut t = empty_trainer(cfg.clone());
        t.keep_demos(&obs, &forward, coef, 32).expect("keep");
        (0..6).map(|_| t.iterate().expect("iteration")["losses/demo_nll"]).last().expect("nll")
    };
    let (watched, fitted) = (kept(1e-9), kept(1.0));
    assert!(fitted < 0.5 * watched, "forward's NLL: {watched} unheld, {fitted} kept");
    // Bad input is refused by name.
    let mut t = empty_trainer(cfg.clone());
    let e = t.keep_demos(&obs, &forward[..10], 1.0, 32).expect_err("short").to_string();
    assert!(e.contains("kept demonstrations"), "{e}");
    assert!(t.keep_demos(&obs, &forward, f64::NAN, 32).is_err());
    let reward = TrainConfig {
        loss: LossConfig {
            kl_coef: 0.1,
            kl_placement: spelunk_grpo::KlPlacement::Reward,
            ..LossConfig::default()
        },
        ..cfg
    };
    let e = reward.validate().expect_err("reward placement").to_string();
    assert!(e.contains("kl_placement"), "{e}");
}
