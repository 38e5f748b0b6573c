//! Cross-check against the Python `minigrid` package, with episodes recorded by
//! `tests/fixtures/minigrid/make_episodes.py`:
//! - the registered env, reset with the recorded seed, builds the very grid Python built;
//! - every recorded step replays with the same image, direction, reward and flags, both on
//!   the seeded env and on the layout imported from MiniGrid's encoding.

use serde::Deserialize;
use spelunk_core::{Action, Env, ObsBuf};
use spelunk_envs::minigrid::{Layout, MiniGrid, MiniGridConfig};

#[derive(Deserialize)]
struct Fixture {
    minigrid_version: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    id: String,
    seed: u64,
    layout: Layout,
    reset_image: String,
    steps: Vec<RecordedStep>,
}

#[derive(Deserialize)]
struct RecordedStep {
    action: i64,
    image: String,
    direction: u8,
    reward: f64,
    terminated: bool,
    truncated: bool,
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn replay(what: &str, env: &mut dyn Env, ep: &Episode) -> (usize, usize) {
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.observe(obs.as_mut()).expect("observe");
    let got = obs.as_u8().expect("u8 obs");
    assert_eq!(&got[..147], hex(&ep.reset_image).as_slice(), "{what}: reset image");
    assert_eq!(env.mission(), Some(ep.layout.mission.as_str()), "{what}: mission");
    let (mut steps, mut rewarded) = (0, 0);
    for (t, s) in ep.steps.iter().enumerate() {
        let r = env.step(Action::Discrete(s.action), obs.as_mut()).expect("step");
        let got = obs.as_u8().expect("u8 obs");
        let want = hex(&s.image);
        assert_eq!(
            &got[..147],
            want.as_slice(),
            "{what}: image after step {t} (action {})",
            s.action
        );
        assert_eq!(got[147], s.direction, "{what}: direction after step {t}");
        assert!(
            (f64::from(r.reward) - s.reward).abs() < 1e-6,
            "{what}: reward at step {t}: {} vs {}",
            r.reward,
            s.reward
        );
        assert_eq!(
            (r.terminated, r.truncated),
            (s.terminated, s.truncated),
            "{what}: flags at step {t}"
        );
        steps += 1;
        rewarded += usize::from(s.reward > 0.0);
    }
    (steps, rewarded)
}

#[test]
fn seeded_layouts_are_pythons_and_replay_step_for_step() {
    let text =
        std::fs::read_to_string(spelunk_tests::fixture("minigrid/episodes.json")).expect("fixture");
    let fx: Fixture = serde_json::from_str(&text).expect("fixture parses");
    let reg = spelunk_envs::registry();
    let mut compared = 0;
    for ep in &fx.episodes {
        let Some(family) = spelunk_envs::minigrid::family(&ep.id) else { continue };
        let what = format!("{} seed {} (minigrid {})", ep.id, ep.seed, fx.minigrid_version);
        let mut env = MiniGrid::new(&ep.id, family, &MiniGridConfig::default()).expect("env");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(ep.seed), None, obs.as_mut()).expect("reset");
        assert_eq!(env.encode_grid(), ep.layout.encoding, "{what}: grid\n{}", env.pprint_grid());
        assert_eq!(env.agent_pos(), ep.layout.agent_pos, "{what}: agent position");
        assert_eq!(env.agent_dir(), ep.layout.agent_dir, "{what}: agent direction");
        replay(&what, &mut env, ep);
        // And through the registry, as users build it.
        let mut boxed = reg.make(&ep.id).expect("make");
        boxed.reset(Some(ep.seed), None, obs.as_mut()).expect("reset");
        replay(&what, boxed.as_mut(), ep);
        compared += 1;
    }
    assert!(compared >= 30, "compared {compared} seeded episodes");
}

#[test]
fn imported_layouts_replay_step_for_step() {
    let text =
        std::fs::read_to_string(spelunk_tests::fixture("minigrid/episodes.json")).expect("fixture");
    let fx: Fixture = serde_json::from_str(&text).expect("fixture parses");
    assert!(fx.episodes.len() >= 30, "fixture has {} episodes", fx.episodes.len());
    let mut total_steps = 0;
    let mut rewarded = 0;
    for ep in &fx.episodes {
        let what = format!("{} seed {} (minigrid {})", ep.id, ep.seed, fx.minigrid_version);
        let mut env = MiniGrid::from_layout(&ep.id, ep.layout.clone(), &MiniGridConfig::default())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(0), None, obs.as_mut()).expect("reset");
        let (steps, r) = replay(&what, &mut env, ep);
        total_steps += steps;
        rewarded += r;
    }
    assert!(total_steps > 5_000, "{total_steps}");
    assert!(rewarded >= 10, "fixture should exercise success rewards, has {rewarded}");
}
