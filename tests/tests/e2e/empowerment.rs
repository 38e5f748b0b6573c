//! Exact n-step empowerment on a deterministic grid equals `log2` of the number of cells
//! reachable in n steps, which a breadth-first count gives independently.

use spelunk_core::{Action, Env, ObsBuf};
use spelunk_envs::montezuma::{level, Montezuma, MontezumaConfig, MzState};
use spelunk_intrinsic::empowerment::{self, NStepConfig};

/// A 15×15 room of floor: cells 1..=13 on each axis.
fn open_room() -> Montezuma {
    let mut text =
        String::from("room_size = 15x15\nmax_steps = 100000\n\nroom 0 0\n###############\n");
    for y in 1..14 {
        text.push('#');
        for x in 1..14 {
            text.push(if (x, y) == (7, 7) { '@' } else { '.' });
        }
        text.push_str("#\n");
    }
    text.push_str("###############\n");
    let l = level::parse(&text, "<open room>", None).expect("level");
    Montezuma::from_levels("open", vec![l], MontezumaConfig::default()).expect("env")
}

/// Cells within `n` steps of (x, y) inside 1..=13, by breadth-first search.
fn reachable(x: i32, y: i32, n: i32) -> usize {
    let mut seen = std::collections::HashSet::from([(x, y)]);
    let mut frontier = vec![(x, y)];
    for _ in 0..n {
        let mut next = Vec::new();
        for (cx, cy) in frontier {
            for (dx, dy) in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)] {
                let p = (cx + dx, cy + dy);
                if (1..=13).contains(&p.0) && (1..=13).contains(&p.1) && seen.insert(p) {
                    next.push(p);
                }
            }
        }
        frontier = next;
    }
    seen.len()
}

#[test]
fn empowerment_in_a_grid_is_log2_of_reachable_cells() {
    let mut env = open_room();
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let base: MzState = env.state();
    let config = NStepConfig { horizon: 5, ..NStepConfig::default() };
    let mut snapshots = Vec::new();
    let mut want = Vec::new();
    for (x, y) in [(7, 7), (1, 1), (1, 7), (3, 2)] {
        env.set_state(MzState { x, y, entry: (0, x, y), ..base });
        snapshots.push(env.snapshot().expect("snapshot"));
        want.push((reachable(x, y, 5) as f64).log2());
    }
    assert_eq!(reachable(7, 7, 5), 61, "the open cell reaches 61 cells");
    let bits =
        empowerment::map(&mut env, &snapshots, &config, &empowerment::position_key).expect("map");
    for (b, w) in bits.iter().zip(&want) {
        assert!((b - w).abs() < 1e-6, "{bits:?} vs {want:?}");
    }
    assert!((bits[0] - 5.930_737).abs() < 1e-5, "log2(61) = 5.93 bits, got {}", bits[0]);
    // The env is back where it was.
    env.restore(&snapshots[3]).expect("restore");
    let s = env.step(Action::Discrete(0), obs.as_mut()).expect("step");
    assert_eq!((s.info.x, s.info.y), (Some(3), Some(2)));
}

#[test]
fn sampled_sequences_give_a_lower_bound() {
    let mut env = open_room();
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let snap = env.snapshot().expect("snapshot");
    let exact = empowerment::n_step(
        &mut env,
        &snap,
        &NStepConfig { horizon: 4, ..NStepConfig::default() },
        &empowerment::position_key,
    )
    .expect("exact");
    let sampled = empowerment::n_step(
        &mut env,
        &snap,
        &NStepConfig { horizon: 4, max_sequences: 100, seed: 3, ..NStepConfig::default() },
        &empowerment::position_key,
    )
    .expect("sampled");
    assert!((exact.bits - (reachable(7, 7, 4) as f64).log2()).abs() < 1e-6);
    assert!(
        sampled.bits <= exact.bits + 1e-9 && sampled.bits > exact.bits - 1.5,
        "{} vs {}",
        sampled.bits,
        exact.bits
    );
}
