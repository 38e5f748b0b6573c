//! How closely RDD's bonus follows its pseudo-count term `σ²/n` when the predictor is
//! trained by Adam, as the exploration bonuses are.
//!
//! ```text
//! cargo run --release -p spelunk-intrinsic --example rdd_counts -- [lr ...] [--json PATH]
//! ```
//!
//! 112 one-hot states in seven groups of 16, visited 1, 2, 4, …, 64 times in a shuffled
//! order, one update per visit on a linear predictor (σ = 1, d = 64), four seeds. Prints, per
//! learning rate, `n · bonus / σ²` for each group: 1.0 everywhere would mean the bonus is
//! exactly the pseudo-count `σ²/n`, which holds for a predictor that averages the n noisy
//! targets it has seen. Adam's steps do not shrink like 1/n, so the column grows with n: the
//! bonus keeps a floor set by the step size (the discrepancy term of the RDD bound), while
//! its ordering by visit count holds. `--json` writes the table with the command, commit and
//! machine (`docs/results/rdd_counts.json`, from `bash scripts/reproduce.sh rdd-counts`).

use spelunk_core::Rng;
use spelunk_intrinsic::distill::{DistillConfig, Distillation};
use spelunk_intrinsic::{Batch, BatchActions, IntrinsicReward};
use spelunk_models::AdamConfig;

fn one_hot(k: usize, n: usize) -> Vec<f32> {
    let mut v = vec![0.0; n];
    v[k] = 1.0;
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut lrs = Vec::new();
    let mut json = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--json" {
            json = Some(args.next().ok_or("--json needs a path")?);
            continue;
        }
        lrs.push(a.parse::<f64>().map_err(|_| format!("a learning rate, not `{a}`"))?);
    }
    if lrs.is_empty() {
        lrs = vec![0.01, 0.03, 0.1];
    }
    let groups = [1usize, 2, 4, 8, 16, 32, 64];
    let per_group = 16;
    let states = groups.len() * per_group;
    let seeds = 4;
    println!("| Adam lr | {} |", groups.map(|n| format!("n = {n}")).join(" | "));
    println!("|---|{}", "---|".repeat(groups.len()));
    let mut rows = Vec::new();
    for lr in lrs {
        let mut means = vec![0.0f64; groups.len()];
        for seed in 0..seeds {
            let mut m = Distillation::new(
                "rdd",
                DistillConfig {
                    obs_dim: states,
                    predictor_hidden: vec![],
                    target_hidden: vec![],
                    sigma: 1.0,
                    update_proportion: 1.0,
                    normalize_obs: false,
                    optimizer: AdamConfig { lr, ..AdamConfig::default() },
                    seed,
                    ..DistillConfig::default()
                },
            )?;
            let mut visits: Vec<usize> =
                (0..states).flat_map(|s| std::iter::repeat_n(s, groups[s / per_group])).collect();
            Rng::seed_from_u64(9 + seed).shuffle(&mut visits);
            let a = [0i64];
            for &s in &visits {
                let o = one_hot(s, states);
                let b = Batch {
                    obs: &o,
                    actions: BatchActions::Discrete(&a),
                    next_obs: &o,
                    obs_dim: states,
                };
                m.update(&b)?;
            }
            let all: Vec<f32> = (0..states).flat_map(|s| one_hot(s, states)).collect();
            let aa = vec![0i64; states];
            let mut bonus = vec![0.0; states];
            let b = Batch {
                obs: &all,
                actions: BatchActions::Discrete(&aa),
                next_obs: &all,
                obs_dim: states,
            };
            m.compute(&b, &mut bonus)?;
            for (g, c) in bonus.chunks(per_group).enumerate() {
                means[g] += c.iter().map(|v| f64::from(*v)).sum::<f64>()
                    / (per_group * seeds as usize) as f64;
            }
        }
        let cells: Vec<String> =
            means.iter().zip(groups).map(|(m, n)| format!("{:.2}", m * n as f64)).collect();
        println!("| {lr} | {} |", cells.join(" | "));
        let scaled: Vec<f64> = means.iter().zip(groups).map(|(m, n)| m * n as f64).collect();
        rows.push(serde_json::json!({"lr": lr, "n_bonus_over_sigma2": scaled}));
    }
    if let Some(path) = json {
        let report = serde_json::json!({
            "provenance": spelunk_core::Provenance::here(),
            "visits": groups,
            "states_per_group": per_group,
            "seeds": seeds,
            "sigma": 1.0,
            "rows": rows,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
            .map_err(|e| format!("writing {path}: {e}"))?;
        println!("wrote {path}");
    }
    Ok(())
}
