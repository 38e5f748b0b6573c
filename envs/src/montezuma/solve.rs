//! A breadth-first planner for Montezuma-style levels.
//!
//! It searches the exact dynamics (the env's own `advance`) over states with the hazard
//! clock taken modulo the level's hazard cycle, never accepting a step that costs a life,
//! and returns a shortest action sequence that completes the level. Tests use it to prove
//! a level solvable and that its keys are needed; Go-Explore's robustification and
//! privileged starts can use its plans as demonstrations.

use std::collections::HashSet;

use super::{Montezuma, MzState};

/// The part of a state that decides what can happen next, given that no life is lost:
/// jewels only pay, and the respawn point and lives only matter after a death.
fn key(s: &MzState, cycle: u32) -> MzState {
    MzState { t: s.t % cycle, steps: 0, last_action: 0, jewels_taken: 0, entry: (0, 0, 0), ..*s }
}

/// Outcome of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Actions that complete the level from the start state.
    Solved(Vec<u8>),
    /// Every reachable state was searched; the level cannot be completed.
    Unsolvable {
        /// States searched.
        states: usize,
    },
    /// The state budget ran out first.
    BudgetExhausted,
}

/// Search from the env's current state for a way to complete the current level.
pub fn solve(env: &Montezuma, max_states: usize) -> Plan {
    let mut sim = env.clone();
    sim.config.sticky_action_prob = 0.0;
    let cycle = env.level().hazard_cycle().max(1);
    let start = env.state();
    let mut states: Vec<(MzState, u32, u8)> = vec![(start, u32::MAX, 0)];
    let mut seen: HashSet<MzState> = HashSet::new();
    seen.insert(key(&start, cycle));
    let mut head = 0;
    while head < states.len() {
        if states.len() > max_states {
            return Plan::BudgetExhausted;
        }
        let (s, _, _) = states[head];
        for a in 1..5u8 {
            sim.set_state(s);
            let lives = s.lives;
            let (_, terminated, level_done) = sim.advance(a);
            if level_done {
                let mut plan = vec![a];
                let mut i = head;
                while states[i].1 != u32::MAX {
                    plan.push(states[i].2);
                    i = states[i].1 as usize;
                }
                plan.reverse();
                return Plan::Solved(plan);
            }
            let n = sim.state();
            if n.lives < lives || terminated {
                continue;
            }
            if seen.insert(key(&n, cycle)) {
                states.push((n, head as u32, a));
            }
        }
        head += 1;
    }
    Plan::Unsolvable { states: states.len() }
}
