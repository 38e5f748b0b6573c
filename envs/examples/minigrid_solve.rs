//! Shortest solutions of MiniGrid levels by breadth-first search in the simulator, for the
//! Python cross-check's fixture (`tests/fixtures/minigrid/make_episodes.py` replays them in the
//! Python `minigrid` package, whose layouts are ours for the same seed, so the recorded
//! episodes reach the goal).
//!
//! ```text
//! cargo run --release -p spelunk-envs --example minigrid_solve -- SEEDS [MAX_STATES]
//! ```
//!
//! For every registered MiniGrid id and seeds `0..SEEDS`: reset with the seed, then search over
//! the actions left, right, forward, pick up, drop and toggle from snapshots, one visit per
//! state (agent, direction, carried object, grid), until an action ends the episode with
//! reward. Prints one JSON line per (id, seed): `{"id", "seed", "actions"}`, `actions` null
//! where `MAX_STATES` (default 400,000) states did not find a way.

use std::collections::HashSet;

use spelunk_core::{Action, Env, ObsBuf, Snapshot};
use spelunk_envs::minigrid::{MiniGrid, MiniGridConfig};

fn key(env: &MiniGrid) -> Vec<u8> {
    let mut k = env.encode_grid();
    let (x, y) = env.agent_pos();
    k.extend_from_slice(&[x as u8, y as u8, env.agent_dir()]);
    k.extend_from_slice(&env.carrying().map_or([0; 3], spelunk_envs::minigrid::Cell::encode));
    k
}

fn solve(env: &mut MiniGrid, max_states: usize) -> Result<Option<Vec<u8>>, spelunk_core::Error> {
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut seen = HashSet::new();
    seen.insert(key(env));
    // (snapshot, parent, action)
    let mut nodes: Vec<(Snapshot, usize, u8)> = vec![(env.snapshot()?, usize::MAX, 0)];
    let mut next = 0;
    while next < nodes.len() && nodes.len() < max_states {
        for a in 0..6u8 {
            env.restore(&nodes[next].0)?;
            // Closing an open door never shortens a way; skipping it keeps the search small.
            let (x, y) = env.agent_pos();
            let (dx, dy) = [(1, 0), (0, 1), (-1, 0), (0, -1)][usize::from(env.agent_dir() & 3)];
            let front = env.get(x + dx, y + dy).encode();
            if a == 5 && front[0] == 4 && front[2] == 0 {
                continue;
            }
            let s = env.step(Action::Discrete(i64::from(a)), obs.as_mut())?;
            if s.terminated && s.reward > 0.0 {
                let mut path = vec![a];
                let mut at = next;
                while nodes[at].1 != usize::MAX {
                    path.push(nodes[at].2);
                    at = nodes[at].1;
                }
                path.reverse();
                return Ok(Some(path));
            }
            if s.terminated || s.truncated {
                continue;
            }
            if seen.insert(key(env)) {
                nodes.push((env.snapshot()?, next, a));
            }
        }
        next += 1;
    }
    Ok(None)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seeds: u64 = args.get(1).map_or(Ok(20), |s| s.parse())?;
    let max_states: usize = args.get(2).map_or(Ok(400_000), |s| s.parse())?;
    for (id, _, family) in spelunk_envs::minigrid::families() {
        for seed in 0..seeds {
            let mut env = MiniGrid::new(id, family.clone(), &MiniGridConfig::default())?;
            let mut obs = ObsBuf::for_space(env.observation_space());
            env.reset(Some(seed), None, obs.as_mut())?;
            let actions = solve(&mut env, max_states)?;
            let line = serde_json::json!({ "id": id, "seed": seed, "actions": actions });
            println!("{line}");
        }
    }
    Ok(())
}
