//! Golden digests: for every registered id, a fixed seed and action stream give the same
//! observations, rewards and flags — across thread counts, batch splits, and versions
//! (the digests are committed in `tests/fixtures/golden/digests.txt`).
//!
//! After an intended change of dynamics, regenerate with
//! `SPELUNK_BLESS=1 cargo test -p spelunk-tests --test e2e determinism` and say why in the
//! commit.

use std::collections::BTreeMap;

use spelunk_core::{AutoReset, Digest, VecEnv, VecEnvConfig};

const SEED: u64 = 20_240_601;
const NUM_ENVS: usize = 4;
const STEPS: usize = 300;

/// Per-env digests of a run of envs `offset..offset + n` (seeded `SEED + offset`).
fn run(id: &str, n: usize, offset: usize, threads: usize) -> Vec<u64> {
    let reg = spelunk_envs::registry();
    let config = VecEnvConfig { num_threads: threads, autoreset: AutoReset::NextStep };
    let mut venv = VecEnv::from_fn(n, config, |_| reg.make(id)).expect("venv");
    let num_actions = venv.action_space().n().expect("discrete");
    let mut streams: Vec<_> =
        (0..n).map(|i| spelunk_tests::action_stream(SEED, offset + i)).collect();
    let mut digests = vec![Digest::new(); n];
    venv.reset(Some(SEED + offset as u64)).expect("reset");
    for (i, d) in digests.iter_mut().enumerate() {
        venv.digest_obs(i, d);
    }
    let mut actions = vec![0i64; n];
    for _ in 0..STEPS {
        for (a, s) in actions.iter_mut().zip(&mut streams) {
            *a = s.below(num_actions) as i64;
        }
        venv.step_discrete(&actions).expect("step");
        for (i, d) in digests.iter_mut().enumerate() {
            venv.digest_obs(i, d);
            d.f32(venv.rewards()[i]);
            d.flag(venv.terminated()[i]);
            d.flag(venv.truncated()[i]);
        }
    }
    digests.iter().map(Digest::value).collect()
}

fn combined(per_env: &[u64]) -> String {
    let mut d = Digest::new();
    for v in per_env {
        d.u64(*v);
    }
    d.hex()
}

#[test]
fn golden_digests_match_at_every_thread_count_and_batch_split() {
    let reg = spelunk_envs::registry();
    let mut got = BTreeMap::new();
    for id in reg.ids() {
        let reference = run(id, NUM_ENVS, 0, 1);
        for threads in [2, 3, 4] {
            assert_eq!(
                run(id, NUM_ENVS, 0, threads),
                reference,
                "{id}: {threads} threads differ from 1"
            );
        }
        // Envs 0..2 and 2..4 as two separate batches.
        let mut split = run(id, 2, 0, 1);
        split.extend(run(id, 2, 2, 2));
        assert_eq!(split, reference, "{id}: batch split differs");
        got.insert(id.to_owned(), combined(&reference));
    }
    let path = spelunk_tests::fixture("golden/digests.txt");
    let text: String = got.iter().flat_map(|(k, v)| [k.as_str(), " ", v.as_str(), "\n"]).collect();
    if std::env::var_os("SPELUNK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, &text).expect("write goldens");
        return;
    }
    let want = std::fs::read_to_string(&path).expect("golden file (bless with SPELUNK_BLESS=1)");
    let want: BTreeMap<&str, &str> = want.lines().filter_map(|l| l.split_once(' ')).collect();
    for (id, digest) in &got {
        match want.get(id.as_str()) {
            Some(w) => assert_eq!(digest, w, "{id}: digest changed"),
            None => panic!("{id} has no golden digest; bless with SPELUNK_BLESS=1"),
        }
    }
    assert_eq!(want.len(), got.len(), "golden file lists ids that are no longer registered");
}

#[test]
fn snapshot_restore_replays_identically_for_every_env() {
    let reg = spelunk_envs::registry();
    for id in reg.ids() {
        let mut env = reg.make(id).expect("make");
        let n = env.action_space().n().expect("discrete");
        let mut obs = spelunk_core::ObsBuf::for_space(env.observation_space());
        let mut rng = spelunk_core::Rng::seed_from_u64(77);
        env.reset(Some(4), None, obs.as_mut()).expect("reset");
        let mut steps = 0;
        // Walk a while (staying inside one episode), then snapshot.
        while steps < 30 {
            let s = env
                .step(spelunk_core::Action::Discrete(rng.below(n) as i64), obs.as_mut())
                .expect("step");
            steps += 1;
            if s.terminated || s.truncated {
                env.reset(None, None, obs.as_mut()).expect("reset");
            }
        }
        let snap = env.snapshot().unwrap_or_else(|e| panic!("{id}: {e}"));
        let actions: Vec<i64> = (0..60).map(|_| rng.below(n) as i64).collect();
        let replay = |env: &mut Box<dyn spelunk_core::Env>, obs: &mut spelunk_core::ObsBuf| {
            let mut d = Digest::new();
            for &a in &actions {
                match env.step(spelunk_core::Action::Discrete(a), obs.as_mut()) {
                    Ok(s) => {
                        obs.digest_range(0..obs.len(), &mut d);
                        d.f32(s.reward);
                        d.flag(s.terminated);
                        if s.terminated || s.truncated {
                            break;
                        }
                    }
                    Err(e) => panic!("{id}: {e}"),
                }
            }
            d.value()
        };
        let first = replay(&mut env, &mut obs);
        // Restore into a fresh env of the same id, then into the used one.
        let mut fresh = reg.make(id).expect("make");
        fresh.restore(&snap).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(replay(&mut fresh, &mut obs), first, "{id}: fresh env after restore");
        env.restore(&snap).expect("restore");
        assert_eq!(replay(&mut env, &mut obs), first, "{id}: same env after restore");
    }
}
