//! Helpers shared by the end-to-end tests: fixture paths and golden digests.

use std::path::PathBuf;

use spelunk_core::{Digest, Env, ObsBuf, Rng, Space};

/// Path of a file under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}

/// A deterministic action for step `t` of env `i`: uniform over a discrete space, drawn
/// from a generator seeded by `(seed, i)`.
pub fn action_stream(seed: u64, i: usize) -> Rng {
    Rng::seed_from_u64(seed ^ (0x9E37_79B9 * (i as u64 + 1)))
}

/// Digest of one env over `steps` steps of uniform random discrete actions with manual
/// resets, the reference the vector env must reproduce.
pub fn single_env_digest(env: &mut dyn Env, seed: u64, steps: usize) -> u64 {
    let mut obs = ObsBuf::for_space(env.observation_space());
    let n = match env.action_space() {
        Space::Discrete { n, .. } => *n,
        other => panic!("digest helper needs a discrete action space, got {other}"),
    };
    let mut d = Digest::new();
    let mut actions = action_stream(seed, 0);
    env.reset(Some(seed), None, obs.as_mut()).expect("reset");
    obs.digest_range(0..obs.len(), &mut d);
    for _ in 0..steps {
        let a = actions.below(n) as i64;
        let s = env.step(spelunk_core::Action::Discrete(a), obs.as_mut()).expect("step");
        obs.digest_range(0..obs.len(), &mut d);
        d.f32(s.reward);
        d.flag(s.terminated);
        d.flag(s.truncated);
        if s.terminated || s.truncated {
            env.reset(None, None, obs.as_mut()).expect("reset");
            obs.digest_range(0..obs.len(), &mut d);
        }
    }
    d.value()
}
