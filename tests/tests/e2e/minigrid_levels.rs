//! Every generated MiniGrid layout is solvable and has its family's structure: over many
//! seeds of every registered MiniGrid id, the goal (or the object to pick up) is reachable
//! from the start, opening locked doors only with keys that are themselves reachable first.

use std::collections::VecDeque;

use spelunk_core::{Env, ObsBuf};
use spelunk_envs::minigrid::cell::{BALL, BOX, DOOR, GOAL, KEY, LAVA, LOCKED, WALL};
use spelunk_envs::minigrid::{MiniGrid, MiniGridConfig, Objective};

/// Fixed point of: flood fill from the agent through anything but walls, lava and locked
/// doors (objects can be picked up and moved, closed doors opened); then unlock every
/// locked door whose key colour lies in the reached region, and fill again.
fn reachable(env: &MiniGrid) -> Vec<bool> {
    let (w, h) = (env.width(), env.height());
    let idx = |x: i32, y: i32| (y * w + x) as usize;
    let mut unlocked = vec![false; (w * h) as usize];
    loop {
        let mut seen = vec![false; (w * h) as usize];
        let (ax, ay) = env.agent_pos();
        let mut q = VecDeque::from([(ax, ay)]);
        seen[idx(ax, ay)] = true;
        let mut keys = [false; 6];
        while let Some((x, y)) = q.pop_front() {
            let c = env.get(x, y);
            if c.kind == KEY {
                keys[c.color as usize] = true;
            }
            if let Some(inner) = c.content().filter(|_| c.kind == BOX) {
                if inner.kind == KEY {
                    keys[inner.color as usize] = true;
                }
            }
            for (dx, dy) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w || ny >= h || seen[idx(nx, ny)] {
                    continue;
                }
                let n = env.get(nx, ny);
                let blocked = n.kind == WALL
                    || n.kind == LAVA
                    || (n.kind == DOOR && n.state == LOCKED && !unlocked[idx(nx, ny)]);
                if !blocked {
                    seen[idx(nx, ny)] = true;
                    q.push_back((nx, ny));
                }
            }
        }
        let mut changed = false;
        for y in 0..h {
            for x in 0..w {
                let c = env.get(x, y);
                let adjacent = [(1, 0), (-1, 0), (0, 1), (0, -1)].iter().any(|(dx, dy)| {
                    let (nx, ny) = (x + dx, y + dy);
                    nx >= 0 && ny >= 0 && nx < w && ny < h && seen[idx(nx, ny)]
                });
                if c.kind == DOOR
                    && c.state == LOCKED
                    && !unlocked[idx(x, y)]
                    && adjacent
                    && keys[c.color as usize]
                {
                    unlocked[idx(x, y)] = true;
                    changed = true;
                }
            }
        }
        if !changed {
            return seen;
        }
    }
}

#[test]
fn generated_layouts_are_solvable_and_well_formed() {
    let reg = spelunk_envs::registry();
    let ids: Vec<String> =
        reg.entries().filter(|e| e.family == "minigrid").map(|e| e.id.clone()).collect();
    assert!(ids.len() >= 20, "{ids:?}");
    for id in &ids {
        for seed in 0..40 {
            // Build through the typed constructor to reach the grid.
            let mut env = typed(id);
            let mut obs = ObsBuf::for_space(env.observation_space());
            env.reset(Some(seed), None, obs.as_mut())
                .unwrap_or_else(|e| panic!("{id} seed {seed}: {e}"));
            let start = env.get(env.agent_pos().0, env.agent_pos().1);
            assert!(start.can_overlap(), "{id} seed {seed}: agent starts on {start:?}");
            let seen = reachable(&env);
            let w = env.width();
            let targets: Vec<(i32, i32)> = (0..env.height())
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .filter(|&(x, y)| {
                    let c = env.get(x, y);
                    match env.task() {
                        Objective::ReachGoal => c.kind == GOAL,
                        Objective::PickUp { kind, color } => c.kind == kind && c.color == color,
                    }
                })
                .collect();
            assert_eq!(
                targets.len(),
                1,
                "{id} seed {seed}: exactly one target, found {targets:?}\n{}",
                env.pprint_grid()
            );
            let (tx, ty) = targets[0];
            assert!(
                seen[(ty * w + tx) as usize],
                "{id} seed {seed}: target unreachable\n{}",
                env.pprint_grid()
            );
            if id.contains("DoorKey") {
                let count = |k: u8| {
                    (0..env.height())
                        .flat_map(|y| (0..w).map(move |x| (x, y)))
                        .filter(|&(x, y)| env.get(x, y).kind == k)
                        .count()
                };
                assert_eq!((count(KEY), count(DOOR)), (1, 1), "{id} seed {seed}");
            }
            if id.contains("KeyCorridor") || id.contains("ObstructedMaze") {
                assert!(
                    matches!(env.task(), Objective::PickUp { kind: BALL, .. }),
                    "{id}: pick up a ball"
                );
                let mission = env.mission().expect("mission");
                assert!(
                    mission.starts_with("pick up the ") && mission.ends_with(" ball"),
                    "{mission}"
                );
            }
        }
    }
}

fn typed(id: &str) -> MiniGrid {
    let family = spelunk_envs::minigrid::family(id).expect("a MiniGrid id");
    MiniGrid::new(id, family, &MiniGridConfig::default()).expect("env")
}
