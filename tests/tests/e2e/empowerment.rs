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

#[test]
fn the_variational_estimate_tracks_the_exact_map() {
    use spelunk_intrinsic::empowerment::variational::{
        StateOutcomes, Variational, VariationalConfig,
    };
    use spelunk_models::AdamConfig;
    // A 9x7 room with a few walls, so empowerment varies from cell to cell.
    let text = "room_size = 9x7\nmax_steps = 100000\n\nroom 0 0\n#########\n#@..#...#\n#.#.#.#.#\n#.#...#.#\n#...#...#\n#.#...#.#\n#########\n";
    let l = level::parse(text, "<maze>", None).expect("level");
    let mut env = Montezuma::from_levels("maze", vec![l], MontezumaConfig::default()).expect("env");
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut()).expect("reset");
    let base = env.state();
    let horizon = 2;
    let config = NStepConfig { horizon, ..NStepConfig::default() };
    let cells: Vec<(i32, i32)> = (1..6)
        .flat_map(|y| (1..8).map(move |x| (x, y)))
        .filter(|&(x, y)| env.tile_at(0, x, y) != level::tile::WALL)
        .collect();
    let one_hot = |x: i32, y: i32| {
        let mut v = vec![0f32; 63];
        v[(y * 9 + x) as usize] = 1.0;
        v
    };
    let mut exact = Vec::new();
    let mut data = Vec::new();
    for &(x, y) in &cells {
        env.set_state(MzState { x, y, entry: (0, x, y), ..base });
        let snap = env.snapshot().expect("snapshot");
        exact.push(
            empowerment::n_step(&mut env, &snap, &config, &empowerment::position_key)
                .expect("exact")
                .bits,
        );
        // The same sequences in the same order as n_step enumerates them.
        let outcomes = (0..25usize)
            .map(|code| {
                env.restore(&snap).expect("restore");
                let (a0, a1) = (code % 5, code / 5);
                for a in [a0, a1] {
                    env.step(Action::Discrete(a as i64), obs.as_mut()).expect("step");
                }
                let i = env.info();
                one_hot(i.x.unwrap_or(0), i.y.unwrap_or(0))
            })
            .collect();
        data.push(StateOutcomes { state: one_hot(x, y), outcomes });
    }
    let mut v = Variational::new(VariationalConfig {
        obs_dim: 63,
        sequences: 25,
        hidden: vec![64],
        optimizer: AdamConfig { lr: 1e-2, ..AdamConfig::default() },
        seed: 1,
    })
    .expect("variational");
    let s = data[..4].to_vec();
    let loss = v.bound(&s).expect("bound").mean_all().expect("mean");
    assert!(spelunk_models::params_without_gradient(v.params(), &loss).expect("grads").is_empty());
    v.fit(&data, 1500).expect("fit");
    let est = v.bits(&data).expect("bits");
    for (e, x) in est.iter().zip(&exact) {
        assert!(*e <= x + 1e-3, "the bound cannot exceed the capacity: {e} > {x}");
    }
    let r = pearson(&est, &exact);
    let gap = exact.iter().zip(&est).map(|(x, e)| x - e).sum::<f64>() / exact.len() as f64;
    println!("variational vs exact 2-step empowerment over {} cells: Pearson r = {r:.3}, mean gap {gap:.3} bits", cells.len());
    assert!(r > 0.9, "Pearson r = {r}");
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}
