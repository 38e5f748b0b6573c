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
        let what = format!("{} seed {} (minigrid {})", ep.id, ep.seed, fx.minigrid_version);
        // Ids the registry lacks (LavaGap) are checked by the imported-layout test below.
        let Some(family) = spelunk_envs::minigrid::family(&ep.id) else {
            assert!(ep.id.starts_with("MiniGrid-LavaGap"), "{what}: not a registered id");
            continue;
        };
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

#[derive(Deserialize)]
struct EveryId {
    minigrid_version: String,
    seeds: u64,
    episodes: Vec<Recorded>,
}

#[derive(Deserialize)]
struct Recorded {
    id: String,
    seed: u64,
    kind: String,
    start: String,
    actions: String,
    digests: Vec<String>,
    rewards: Vec<(usize, f64)>,
    terminated: bool,
    truncated: bool,
    events: Vec<String>,
}

/// FNV-1a 64 of the observation's image and direction, as the fixture's generator computes it.
fn fnv(bytes: &[u8]) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01B3);
    }
    format!("{h:016x}")
}

/// Every registered MiniGrid id against Python's `minigrid`, 20 seeds each
/// (`tests/fixtures/minigrid/every_id.json`, from `make_every_id.py`): a shortest solution, the
/// same with detours, and random actions to the horizon, replayed step for step — image and
/// direction digests, rewards and flags. An id registered without 20 seeds in the fixture, or
/// in the fixture without being registered, fails; so does a fixture whose episodes stop
/// reaching success and truncation for every id, or pick-up, drop and toggle of every kind.
#[test]
fn every_registered_id_replays_pythons_episodes() {
    let text =
        std::fs::read_to_string(spelunk_tests::fixture("minigrid/every_id.json")).expect("fixture");
    let fx: EveryId = serde_json::from_str(&text).expect("fixture parses");
    assert!(fx.seeds >= 20, "{} seeds", fx.seeds);
    let registered: Vec<&str> =
        spelunk_envs::minigrid::families().iter().map(|(id, _, _)| *id).collect();
    let reg = spelunk_envs::registry();
    let mut covered: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> =
        std::collections::BTreeMap::new();
    let mut seeds: std::collections::BTreeMap<&str, std::collections::BTreeSet<u64>> =
        std::collections::BTreeMap::new();
    for ep in &fx.episodes {
        let what =
            format!("{} seed {} {} (minigrid {})", ep.id, ep.seed, ep.kind, fx.minigrid_version);
        assert!(registered.contains(&ep.id.as_str()), "{what}: not a registered MiniGrid id");
        let mut env = reg.make(&ep.id).expect("make");
        let mut obs = ObsBuf::for_space(env.observation_space());
        env.reset(Some(ep.seed), None, obs.as_mut()).expect("reset");
        assert_eq!(fnv(&obs.as_u8().expect("u8")[..148]), ep.start, "{what}: reset observation");
        assert_eq!(ep.actions.len(), ep.digests.len(), "{what}: fixture");
        let mut rewards = ep.rewards.iter().peekable();
        let mut last = None;
        for (t, (a, want)) in ep.actions.bytes().zip(&ep.digests).enumerate() {
            let a = i64::from(a - b'0');
            let s = env.step(Action::Discrete(a), obs.as_mut()).expect("step");
            let got = fnv(&obs.as_u8().expect("u8")[..148]);
            assert_eq!(&got, want, "{what}: observation after step {t} (action {a})");
            let r = match rewards.peek() {
                Some(&&(at, r)) if at == t => {
                    rewards.next();
                    r
                }
                _ => 0.0,
            };
            assert!(
                (f64::from(s.reward) - r).abs() < 1e-6,
                "{what}: reward at step {t}: {} vs {r}",
                s.reward
            );
            let ended = t + 1 == ep.actions.len();
            let flags = if ended { (ep.terminated, ep.truncated) } else { (false, false) };
            assert_eq!((s.terminated, s.truncated), flags, "{what}: flags at step {t}");
            last = Some(s);
        }
        assert!(last.is_some() || ep.actions.is_empty(), "{what}");
        seeds.entry(&ep.id).or_default().insert(ep.seed);
        covered.entry(&ep.id).or_default().extend(ep.events.iter().map(String::as_str));
    }
    for id in &registered {
        let n = seeds.get(id).map_or(0, std::collections::BTreeSet::len);
        assert!(n >= 20, "{id}: {n} seeds in the fixture, want 20");
        let events = &covered[id];
        assert!(events.contains("success"), "{id}: no episode reaches success ({events:?})");
        assert!(events.contains("truncation"), "{id}: no episode reaches the horizon ({events:?})");
        eprintln!("{id}: {n} seeds, events {events:?}");
    }
    let all: std::collections::BTreeSet<&str> = covered.values().flatten().copied().collect();
    for e in [
        "pickup:key",
        "pickup:ball",
        "pickup:box",
        "drop:key",
        "drop:ball",
        "drop:box",
        "toggle:door",
        "toggle:box",
    ] {
        assert!(all.contains(e), "no episode covers {e} ({all:?})");
    }
}
