//! Shortening a demonstration before it is robustified.
//!
//! Phase 1 keeps, per cell, the shortest trajectory *to that cell* it has seen, but the
//! trajectory that first solves the level is a chain of random explorations: it walks into
//! dead ends and comes back, circles, waits, takes the long way round. The backward algorithm
//! moves its start back along the demonstration, so every wasted step is curriculum the policy
//! has to work through, and every needless turn next to lava is a risk under sticky actions.
//!
//! [`shorten`] replays the demonstration, keeping the state after every step and its *key*
//! from `info` (level, room, position, held items, lives, score — not the clock). From each
//! step `i` it searches breadth-first in the simulator (restoring snapshots; at most
//! `depth` actions and `max_nodes` states, one visit per key, no state that loses a life) for
//! the shortest way to the key of a later step `j`; when one is shorter than `j − i` (a loop
//! is the way of length 0), actions `i..j` are replaced by it. Hazards here run on the clock,
//! so each replacement is kept only if the whole demonstration, replayed from `reset(seed)`,
//! still succeeds with at least the original score and lives; replacements that save most
//! are tried first. It stops when no step gives an accepted replacement, or after
//! `max_replays` replays. Ours: Go-Explore robustifies the trajectory as found.

use std::collections::{HashMap, HashSet, VecDeque};

use spelunk_core::{Action, Env, Info, ObsBuf, Snapshot};

use crate::{Error, Result};

/// What a replay of a trajectory gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    /// Whether the episode ended in success at the last action.
    pub success: bool,
    /// Return.
    pub score: f64,
    /// Lives at the end (if the env has lives).
    pub lives: Option<u32>,
}

/// Settings of [`shorten`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortenConfig {
    /// Longest replacement searched for (0: cut loops only).
    pub depth: usize,
    /// States one search may visit.
    pub max_nodes: usize,
    /// Replays of the whole demonstration to check replacements.
    pub max_replays: usize,
    /// Replacements tried per start step, best first.
    pub tries_per_step: usize,
}

impl Default for ShortenConfig {
    fn default() -> Self {
        Self { depth: 40, max_nodes: 20_000, max_replays: 5_000, tries_per_step: 4 }
    }
}

/// The result of [`shorten`].
#[derive(Clone, Debug, PartialEq)]
pub struct Shortened {
    /// The shortened actions.
    pub actions: Vec<u8>,
    /// Replacements accepted.
    pub cuts: usize,
    /// Replays spent.
    pub replays: usize,
}

type Key = (Option<u32>, Option<u32>, Option<i32>, Option<i32>, Option<u64>, Option<u32>, u64);

fn key(info: &Info, score: f64) -> Key {
    (info.level, info.room, info.x, info.y, info.inventory, info.lives, score.to_bits())
}

fn err(what: &'static str) -> impl Fn(spelunk_core::Error) -> Error {
    move |e| Error::Config { module: "go-explore", message: format!("{what}: {e}") }
}

/// A replay with the state and key after every step (index 0: after reset).
struct Trace {
    replay: Replay,
    keys: Vec<Key>,
    states: Vec<(Snapshot, f64)>,
}

fn trace(
    env: &mut dyn Env,
    buf: &mut ObsBuf,
    seed: u64,
    actions: &[u8],
    keep: bool,
) -> Result<Trace> {
    let e = err("replaying the demonstration");
    let info = env.reset(Some(seed), None, buf.as_mut()).map_err(&e)?;
    let mut score = 0.0;
    let mut keys = vec![key(&info, score)];
    let mut states = Vec::new();
    if keep {
        states.push((env.snapshot().map_err(&e)?, score));
    }
    let mut replay = Replay { success: false, score: 0.0, lives: info.lives };
    for (t, &a) in actions.iter().enumerate() {
        let s = env.step(Action::Discrete(i64::from(a)), buf.as_mut()).map_err(&e)?;
        score += f64::from(s.reward);
        replay = Replay {
            success: s.info.is_success.unwrap_or(s.terminated && s.reward > 0.0),
            score,
            lives: s.info.lives,
        };
        keys.push(key(&s.info, score));
        if keep {
            states.push((env.snapshot().map_err(&e)?, score));
        }
        if (s.terminated || s.truncated) && t + 1 < actions.len() {
            // Ended before the last action: not the trajectory asked for.
            replay.success = false;
            break;
        }
    }
    Ok(Trace { replay, keys, states })
}

/// Replay `actions` from `reset(seed)` (the env should have no sticky actions).
pub fn replay(env: &mut dyn Env, seed: u64, actions: &[u8]) -> Result<Replay> {
    let mut buf = ObsBuf::for_space(env.observation_space());
    Ok(trace(env, &mut buf, seed, actions, false)?.replay)
}

/// Breadth-first from `start`: for each key of `targets` (key → latest step) reached, the
/// shortest action sequence, as (saving, step, actions), best first.
#[expect(
    clippy::too_many_arguments,
    reason = "one search step's inputs, borrowed from the caller's loop state"
)]
fn search(
    env: &mut dyn Env,
    buf: &mut ObsBuf,
    start: &(Snapshot, f64),
    start_key: Key,
    i: usize,
    targets: &HashMap<Key, usize>,
    actions: usize,
    cfg: &ShortenConfig,
) -> Result<Vec<(usize, usize, Vec<u8>)>> {
    let e = err("searching for a shorter way");
    let mut found = Vec::new();
    if let Some(&j) = targets.get(&start_key) {
        if j > i {
            found.push((j - i, j, Vec::new()));
        }
    }
    if cfg.depth == 0 {
        return Ok(found);
    }
    let mut seen: HashSet<Key> = HashSet::from([start_key]);
    let mut queue: VecDeque<(Snapshot, f64, Vec<u8>)> =
        VecDeque::from([(start.0.clone(), start.1, Vec::new())]);
    env.restore(&start.0).map_err(&e)?;
    let lives0 = env.info().lives;
    while let Some((snap, score, path)) = queue.pop_front() {
        if path.len() >= cfg.depth || seen.len() >= cfg.max_nodes {
            break;
        }
        for a in 0..actions {
            env.restore(&snap).map_err(&e)?;
            let s = env.step(Action::Discrete(a as i64), buf.as_mut()).map_err(&e)?;
            let score = score + f64::from(s.reward);
            let success = s.info.is_success.unwrap_or(s.terminated && s.reward > 0.0);
            if s.info.lives < lives0 || (s.terminated && !success) || s.truncated {
                continue;
            }
            let k = key(&s.info, score);
            if !seen.insert(k) {
                continue;
            }
            let mut next = path.clone();
            next.push(a as u8);
            if let Some(&j) = targets.get(&k) {
                if j > i + next.len() {
                    found.push((j - i - next.len(), j, next.clone()));
                }
            }
            if !s.terminated {
                queue.push_back((env.snapshot().map_err(&e)?, score, next));
            }
        }
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    Ok(found)
}

/// Shorten a successful trajectory (see the module page). The env must be deterministic
/// given the seed (no sticky actions) and have discrete actions; the trajectory must succeed.
pub fn shorten(
    env: &mut dyn Env,
    seed: u64,
    actions: &[u8],
    cfg: &ShortenConfig,
) -> Result<Shortened> {
    let n_actions = match env.action_space() {
        spelunk_core::Space::Discrete { n, .. } if *n <= 256 => *n as usize,
        other => {
            return Err(Error::Config {
                module: "go-explore",
                message: format!("shortening needs at most 256 discrete actions, not {other:?}"),
            })
        }
    };
    let mut buf = ObsBuf::for_space(env.observation_space());
    let mut t = trace(env, &mut buf, seed, actions, true)?;
    let base = t.replay.clone();
    if !base.success {
        return Err(Error::Config {
            module: "go-explore",
            message: format!(
                "the demonstration ({} actions) does not end in success when replayed from \
                 reset({seed}); nothing to shorten",
                actions.len()
            ),
        });
    }
    let holds = |r: &Replay| {
        r.success
            && r.score >= base.score
            && match (r.lives, base.lives) {
                (Some(a), Some(b)) => a >= b,
                _ => true,
            }
    };
    let mut cur = actions.to_vec();
    let (mut cuts, mut replays) = (0, 1);
    let mut i = 0;
    'steps: while i < cur.len() && replays < cfg.max_replays {
        // For each key, the latest step that has it.
        let targets: HashMap<Key, usize> =
            t.keys.iter().enumerate().skip(i + 1).map(|(j, k)| (*k, j)).collect();
        let found = search(env, &mut buf, &t.states[i], t.keys[i], i, &targets, n_actions, cfg)?;
        for (_, j, path) in found.into_iter().take(cfg.tries_per_step) {
            if replays >= cfg.max_replays {
                break 'steps;
            }
            let mut next = Vec::with_capacity(cur.len());
            next.extend_from_slice(&cur[..i]);
            next.extend_from_slice(&path);
            next.extend_from_slice(&cur[j..]);
            replays += 1;
            let nt = trace(env, &mut buf, seed, &next, true)?;
            if holds(&nt.replay) {
                cur = next;
                t = nt;
                cuts += 1;
                // The prefix up to `i` is unchanged; look again from here.
                continue 'steps;
            }
        }
        i += 1;
    }
    Ok(Shortened { actions: cur, cuts, replays })
}
