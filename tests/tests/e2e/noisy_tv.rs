//! The noisy-TV maze: the screen shows noise exactly when the setting says, trackers pay
//! once, and all four found ends the episode.

use serde_json::json;
use spelunk_core::{Action, ObsBuf};

const SCREEN: std::ops::Range<usize> = 25..41;

/// From the start (7,7), a shortest path into the TV nook (3..5, 9..10).
fn to_nook() -> Vec<i64> {
    bfs((7, 7), (4, 10))
}

fn walk(
    id: &str,
    actions: &[i64],
) -> (Box<dyn spelunk_core::Env>, ObsBuf, Vec<spelunk_core::Step>) {
    let mut env = spelunk_envs::registry().make_with(id, &json!({})).expect("make");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(3), None, obs.as_mut()).expect("reset");
    let steps = actions
        .iter()
        .map(|&a| env.step(Action::Discrete(a), obs.as_mut()).expect("step"))
        .collect();
    (env, obs, steps)
}

#[test]
fn the_screen_is_dark_until_the_agent_watches() {
    for id in ["NoisyTV-Maze-None-v0", "NoisyTV-Maze-Brownian-v0", "NoisyTV-Maze-PixelNoise-v0"] {
        let nook = to_nook();
        let (mut env, mut obs, steps) = walk(id, &nook);
        let watched = steps.iter().filter(|s| s.info.watching_tv == Some(true)).count();
        assert!(
            watched <= 2 && steps[0].info.watching_tv == Some(false),
            "{id}: watching only inside the nook"
        );
        assert_eq!(steps.last().and_then(|s| s.info.watching_tv), Some(true), "{id}: in the nook");
        let screens: Vec<Vec<u8>> = (0..40)
            .map(|k| {
                env.step(Action::Discrete(if k % 2 == 0 { 0 } else { 2 }), obs.as_mut())
                    .expect("step");
                obs.as_u8().expect("bytes")[SCREEN].to_vec()
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = screens.iter().collect();
        if id.contains("None") {
            assert_eq!(distinct.len(), 1, "a fixed pattern");
        } else {
            assert!(
                distinct.len() > 30,
                "{id}: noise changes every step ({} distinct)",
                distinct.len()
            );
        }
        if id.contains("PixelNoise") {
            let on = screens.iter().flatten().filter(|&&v| v == 255).count() as f64;
            let p = on / (screens.len() * 16) as f64;
            assert!((p - 0.25).abs() < 0.06, "pixel noise p = {p}");
        }
    }
}

#[test]
fn the_remote_switches_noise_on_anywhere() {
    let (_, obs, steps) = walk("NoisyTV-Maze-Remote-v0", &[4]);
    assert_eq!(steps[0].info.watching_tv, Some(true));
    assert!(obs.as_u8().expect("bytes")[SCREEN].iter().any(|&v| v != 0));
    let (_, obs, steps) = walk("NoisyTV-Maze-Remote-v0", &to_nook());
    assert!(steps.iter().all(|s| s.info.watching_tv == Some(false)), "the nook does nothing here");
    assert!(obs.as_u8().expect("bytes")[SCREEN].iter().all(|&v| v == 0));
}

#[test]
fn trackers_pay_once_and_all_four_end_the_episode() {
    // Breadth-first paths between the start and the four corners, through the env itself.
    let mut env = spelunk_envs::noisy_tv::NoisyTvMaze::new(
        "t",
        spelunk_envs::noisy_tv::NoisyTvConfig::default(),
    )
    .expect("env");
    let mut obs = ObsBuf::for_space(spelunk_core::Env::observation_space(&env));
    spelunk_core::Env::reset(&mut env, Some(0), None, obs.as_mut()).expect("reset");
    let mut total = 0.0;
    let mut last = None;
    for target in [(1, 1), (13, 1), (13, 13), (1, 13)] {
        let path = bfs(env.pos(), target);
        for a in path {
            let s =
                spelunk_core::Env::step(&mut env, Action::Discrete(a), obs.as_mut()).expect("step");
            total += s.reward;
            last = Some(s);
        }
    }
    let last = last.expect("steps");
    assert_eq!(total, 4.0);
    assert!(last.terminated);
    assert_eq!(last.info.inventory, Some(0b1111));
}

fn bfs(from: (i32, i32), to: (i32, i32)) -> Vec<i64> {
    use spelunk_envs::noisy_tv::MAZE;
    let moves = [(0, -1), (1, 0), (0, 1), (-1, 0)];
    let mut prev = std::collections::HashMap::new();
    let mut q = std::collections::VecDeque::from([from]);
    prev.insert(from, (from, 0));
    while let Some(p) = q.pop_front() {
        if p == to {
            break;
        }
        for (a, (dx, dy)) in moves.iter().enumerate() {
            let n = (p.0 + dx, p.1 + dy);
            if MAZE[n.1 as usize].as_bytes()[n.0 as usize] != b'#' && !prev.contains_key(&n) {
                prev.insert(n, (p, a as i64));
                q.push_back(n);
            }
        }
    }
    let mut path = Vec::new();
    let mut p = to;
    while p != from {
        let (q, a) = prev[&p];
        path.push(a);
        p = q;
    }
    path.reverse();
    path
}

/// Golden digests that reach the TV (`tests/fixtures/golden/noisy_tv_digests.txt`): each of 4
/// envs per id walks into the nook by the shortest path, then takes 150 steps from its own
/// seeded stream — the remote (a no-op move everywhere but `remote`) three times in four, a
/// random move otherwise, so it leaves and re-enters the nook — and the observations (the screen
/// among them), rewards and flags are digested. The random-action digests of `determinism.rs`
/// never reach the TV, so there the None, Brownian and PixelNoise settings share one digest;
/// here every setting must differ and every env must have watched. Regenerate after an
/// intended change with `SPELUNK_BLESS=1 cargo test -p spelunk-tests --test e2e noisy_tv`.
#[test]
fn golden_digests_that_watch_the_tv_tell_every_setting_apart() {
    let reg = spelunk_envs::registry();
    let ids: Vec<&str> = reg.ids().filter(|id| id.starts_with("NoisyTV-")).collect();
    assert!(ids.len() >= 5, "{ids:?}");
    let mut got = std::collections::BTreeMap::new();
    for id in &ids {
        let mut combined = spelunk_core::Digest::new();
        for i in 0..4usize {
            let mut env = reg.make(id).expect("make");
            let mut obs = ObsBuf::for_space(env.observation_space());
            env.reset(Some(20_240_601 + i as u64), None, obs.as_mut()).expect("reset");
            let mut d = spelunk_core::Digest::new();
            obs.digest_range(0..obs.len(), &mut d);
            let mut stream = spelunk_tests::action_stream(7, i);
            let mut watched = 0;
            let plan = to_nook();
            for t in 0..plan.len() + 150 {
                let a = match plan.get(t) {
                    Some(&a) => a,
                    None if stream.below(4) != 0 => 4,
                    None => stream.below(4) as i64,
                };
                let s = env.step(Action::Discrete(a), obs.as_mut()).expect("step");
                watched += usize::from(s.info.watching_tv == Some(true));
                obs.digest_range(0..obs.len(), &mut d);
                d.f32(s.reward);
                d.flag(s.terminated);
                d.flag(s.truncated);
                assert!(!(s.terminated || s.truncated), "{id}: the episode ended at step {t}");
            }
            assert!(watched >= 50, "{id} env {i}: watched the TV on {watched} steps only");
            combined.u64(d.value());
        }
        got.insert((*id).to_owned(), combined.hex());
    }
    let mut settings: Vec<&String> =
        got.iter().filter(|(id, _)| !id.ends_with("-Text-v0")).map(|(_, d)| d).collect();
    let n = settings.len();
    settings.sort();
    settings.dedup();
    assert_eq!(settings.len(), n, "two noise settings gave the same digest: {got:?}");
    let path = spelunk_tests::fixture("golden/noisy_tv_digests.txt");
    let text: String = got.iter().flat_map(|(k, v)| [k.as_str(), " ", v.as_str(), "\n"]).collect();
    if std::env::var_os("SPELUNK_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write goldens");
        return;
    }
    let want = std::fs::read_to_string(&path).expect("golden file (bless with SPELUNK_BLESS=1)");
    assert_eq!(text, want, "noisy-TV digests changed");
}
