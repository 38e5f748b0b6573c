//! Cutting loops out of a demonstration before it is robustified.
//!
//! Phase 1 keeps, per cell, the shortest trajectory *to that cell*, but the trajectory that
//! first solves the level is the concatenation of random explorations: it walks into dead
//! ends and comes back, circles, waits. The backward algorithm moves its start back one
//! stretch of the demonstration at a time, so every wasted step is curriculum the policy has
//! to work through. [`shorten`] replays the demonstration, finds steps `i < j` after which the
//! env reports the same state in `info` (level, room, position, held items, lives, score —
//! not the clock), and removes actions `i..j`. Hazards here are functions of the clock, so a
//! cut changes what happens later: every cut is kept only if the whole shortened
//! demonstration, replayed from `reset(seed)`, still succeeds with at least the original
//! score and lives. Largest cuts are tried first; it stops when no cut is accepted or after
//! `max_replays` replays. Ours: Go-Explore robustifies the trajectory as found.

use spelunk_core::{Action, Env, Info, ObsBuf};

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

/// The result of [`shorten`].
#[derive(Clone, Debug, PartialEq)]
pub struct Shortened {
    /// The shortened actions.
    pub actions: Vec<u8>,
    /// Cuts accepted.
    pub cuts: usize,
    /// Replays spent.
    pub replays: usize,
}

type Key = (Option<u32>, Option<u32>, Option<i32>, Option<i32>, Option<u64>, Option<u32>, u64);

fn key(info: &Info, score: f64) -> Key {
    (info.level, info.room, info.x, info.y, info.inventory, info.lives, score.to_bits())
}

fn replay_keys(
    env: &mut dyn Env,
    buf: &mut ObsBuf,
    seed: u64,
    actions: &[u8],
    keys: Option<&mut Vec<Key>>,
) -> Result<Replay> {
    let err = |e: spelunk_core::Error| Error::Config {
        module: "go-explore",
        message: format!("replaying the demonstration: {e}"),
    };
    let info = env.reset(Some(seed), None, buf.as_mut()).map_err(err)?;
    let mut score = 0.0;
    let mut keys = keys;
    if let Some(k) = keys.as_deref_mut() {
        k.clear();
        k.push(key(&info, score));
    }
    let mut out = Replay { success: false, score: 0.0, lives: info.lives };
    for (t, &a) in actions.iter().enumerate() {
        let s = env.step(Action::Discrete(i64::from(a)), buf.as_mut()).map_err(err)?;
        score += f64::from(s.reward);
        out = Replay {
            success: s.info.is_success.unwrap_or(s.terminated && s.reward > 0.0),
            score,
            lives: s.info.lives,
        };
        if let Some(k) = keys.as_deref_mut() {
            k.push(key(&s.info, score));
        }
        if (s.terminated || s.truncated) && t + 1 < actions.len() {
            // Ended before the last action: not the trajectory asked for.
            out.success = false;
            break;
        }
    }
    Ok(out)
}

/// Replay `actions` from `reset(seed)` (the env should have no sticky actions).
pub fn replay(env: &mut dyn Env, seed: u64, actions: &[u8]) -> Result<Replay> {
    let mut buf = ObsBuf::for_space(env.observation_space());
    replay_keys(env, &mut buf, seed, actions, None)
}

/// Remove loops from a successful trajectory (see the module page). The env must be
/// deterministic given the seed (no sticky actions); the trajectory must succeed.
pub fn shorten(
    env: &mut dyn Env,
    seed: u64,
    actions: &[u8],
    max_replays: usize,
) -> Result<Shortened> {
    let mut buf = ObsBuf::for_space(env.observation_space());
    let mut keys = Vec::new();
    let base = replay_keys(env, &mut buf, seed, actions, Some(&mut keys))?;
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
    let mut rejected = std::collections::HashSet::new();
    'outer: while replays < max_replays {
        // For each state seen more than once, its first and last step: a loop.
        let mut first = std::collections::HashMap::<Key, usize>::new();
        let mut spans: Vec<(usize, usize)> = Vec::new();
        for (j, k) in keys.iter().enumerate() {
            match first.get(k) {
                Some(&i) => spans.push((i, j)),
                None => {
                    first.insert(*k, j);
                }
            }
        }
        // Longest first (a start's inner returns stay candidates in case its outer cut
        // breaks the timing of what follows).
        spans.sort_by(|a, b| (b.1 - b.0).cmp(&(a.1 - a.0)).then(a.0.cmp(&b.0)));
        for (i, j) in spans {
            if replays >= max_replays {
                break 'outer;
            }
            let mut next = Vec::with_capacity(cur.len() - (j - i));
            next.extend_from_slice(&cur[..i]);
            next.extend_from_slice(&cur[j..]);
            if !rejected.insert(next.clone()) {
                continue;
            }
            replays += 1;
            let mut next_keys = Vec::new();
            let r = replay_keys(env, &mut buf, seed, &next, Some(&mut next_keys))?;
            if holds(&r) {
                cur = next;
                keys = next_keys;
                cuts += 1;
                continue 'outer;
            }
        }
        break;
    }
    Ok(Shortened { actions: cur, cuts, replays })
}
