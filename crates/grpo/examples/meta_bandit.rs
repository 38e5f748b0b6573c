//! Meta-bandits: a transformer reads the history of its pulls and is trained with GRPO on
//! Bernoulli bandits, then compared with UCB1 and Thompson sampling on cumulative regret at the
//! training horizon and at 6× it, on unseen tasks.
//!
//! ```text
//! cargo run --release -p spelunk-grpo --example meta_bandit -- [iterations] [run-dir] [--json PATH]
//! ```
//!
//! Trains `iterations` GRPO iterations (default 300) on `Bandit-Bernoulli-5-v0` with
//! `horizon = 30` and `history = 30` (16 groups of 8 episodes; a 2-layer width-32 transformer),
//! or, given a `spelunk train` run folder made with the same settings, loads its checkpoint.
//! Then 400 unseen tasks (seeds 1,000,000…): expected cumulative regret (`Σ μ* − μ_a`) of
//! the policy (sampling its actions), UCB1 and Thompson sampling, at 30 and 180 pulls; at 180 the
//! policy sees its last 30 pulls. `--json` writes the table with the command, commit and
//! machine (`docs/results/meta_bandit.json`, from `bash scripts/reproduce.sh meta-bandit`).

use candle_core::{Device, Tensor};
use spelunk_core::{Action, Env, ObsBuf, Rng};
use spelunk_envs::bandit::baselines::{run_agent, BanditAgent, Thompson, Ucb};
use spelunk_envs::bandit::{Bandit, BanditConfig, BanditKind};
use spelunk_grpo::{TrainConfig, Trainer};
use spelunk_models::policy::Head;
use spelunk_models::{Policy, PolicyConfig, TransformerConfig};

const ARMS: usize = 5;
const TRAIN_HORIZON: u32 = 30;
const SEEDS: std::ops::Range<u64> = 1_000_000..1_000_400;

fn config(iterations: usize) -> TrainConfig {
    TrainConfig {
        env: "Bandit-Bernoulli-5-v0".into(),
        env_config: Some(serde_json::json!({"history": TRAIN_HORIZON, "horizon": TRAIN_HORIZON})),
        iterations,
        groups_per_step: 16,
        policy: PolicyConfig {
            head: Head::Transformer,
            transformer: TransformerConfig {
                vocab: 2 * ARMS + 1,
                d_model: 32,
                layers: 2,
                heads: 2,
                ffn: 64,
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn bandit(horizon: u32) -> Bandit {
    let cfg = BanditConfig {
        arms: ARMS,
        horizon,
        history: Some(TRAIN_HORIZON),
        ..BanditConfig::default()
    };
    Bandit::new("Bandit-Bernoulli-5-v0", BanditKind::Bernoulli, cfg).expect("bandit")
}

/// Mean expected cumulative regret of the policy over `SEEDS`, all tasks in lockstep.
fn policy_regret(policy: &dyn Policy, horizon: u32) -> Result<f64, Box<dyn std::error::Error>> {
    let mut envs: Vec<(Bandit, ObsBuf)> = SEEDS
        .map(|s| {
            let mut e = bandit(horizon);
            let mut o = ObsBuf::for_space(e.observation_space());
            e.reset(Some(s), None, o.as_mut()).expect("reset");
            (e, o)
        })
        .collect();
    let mut rng = Rng::seed_from_u64(7);
    let mut total = 0.0;
    let w = TRAIN_HORIZON as usize;
    for _ in 0..horizon {
        let rows: Vec<f32> =
            envs.iter().flat_map(|(_, o)| o.as_f32().expect("f32").to_vec()).collect();
        let x = Tensor::from_vec(rows, (envs.len(), w), &Device::Cpu)?;
        let logits: Vec<Vec<f32>> = policy.logits(&x)?.squeeze(1)?.to_vec2()?;
        for ((env, obs), l) in envs.iter_mut().zip(&logits) {
            let max = l.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let p: Vec<f64> = l.iter().map(|v| f64::from(v - max).exp()).collect();
            let mut u = rng.f64() * p.iter().sum::<f64>();
            let mut a = p.len() - 1;
            for (i, pi) in p.iter().enumerate() {
                if u < *pi {
                    a = i;
                    break;
                }
                u -= pi;
            }
            let s = env.step(Action::Discrete(a as i64), obs.as_mut())?;
            total += f64::from(s.info.regret.unwrap_or(0.0));
        }
    }
    Ok(total / SEEDS.count() as f64)
}

fn baseline(agent: &mut dyn BanditAgent, horizon: u32) -> Result<f64, Box<dyn std::error::Error>> {
    let mut env = bandit(horizon);
    let curves = run_agent(&mut env, agent, SEEDS)?;
    Ok(curves.iter().map(|c| c.last().copied().unwrap_or(0.0)).sum::<f64>() / curves.len() as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    spelunk_models::keep_freed_heap();
    let mut args: Vec<String> = std::env::args().collect();
    let json = match args.iter().position(|a| a == "--json") {
        Some(i) if i + 1 < args.len() => {
            let path = args.remove(i + 1);
            args.remove(i);
            Some(path)
        }
        Some(_) => return Err("--json needs a path".into()),
        None => None,
    };
    let iterations: usize = args.get(1).map_or(Ok(300), |s| s.parse())?;
    let reg = spelunk_envs::registry();
    let cfg = config(iterations);
    let env_cfg = cfg.env_config.clone().expect("config");
    let mut t =
        Trainer::new(cfg, Box::new(move |_| reg.make_with("Bandit-Bernoulli-5-v0", &env_cfg)))?;
    // Mean episodic return per iteration (empty when a checkpoint is loaded).
    let mut returns = Vec::with_capacity(iterations);
    if let Some(dir) = args.get(2) {
        t.resume(std::path::Path::new(dir))?;
        eprintln!("loaded {dir} (iteration {})", t.iteration);
    } else {
        for i in 0..iterations {
            let m = t.iterate()?;
            returns.push(m["charts/episodic_return"]);
            if (i + 1) % 25 == 0 {
                eprintln!("iteration {:>4}: return {:.2}", i + 1, m["charts/episodic_return"]);
            }
        }
    }
    let p = t.policy.as_ref();
    let mut ucb = Ucb::default();
    let mut ts = Thompson::new(BanditKind::Bernoulli, 1.0);
    let long = 6 * TRAIN_HORIZON;
    let rows = [
        ("transformer (GRPO)", policy_regret(p, TRAIN_HORIZON)?, policy_regret(p, long)?),
        ("UCB1", baseline(&mut ucb, TRAIN_HORIZON)?, baseline(&mut ucb, long)?),
        ("Thompson sampling", baseline(&mut ts, TRAIN_HORIZON)?, baseline(&mut ts, long)?),
    ];
    println!("| agent | regret at {TRAIN_HORIZON} pulls | regret at {long} pulls |");
    println!("|---|---:|---:|");
    for (agent, short, far) in rows {
        println!("| {agent} | {short:.2} | {far:.2} |");
    }
    if let Some(path) = json {
        let report = serde_json::json!({
            "provenance": spelunk_core::Provenance::here(),
            "env": "Bandit-Bernoulli-5-v0",
            "arms": ARMS,
            "train_horizon": TRAIN_HORIZON,
            "long_horizon": long,
            "iterations": t.iteration,
            "tasks": SEEDS.end - SEEDS.start,
            "returns": returns,
            "regret": rows.iter().map(|(agent, short, far)| serde_json::json!({
                "agent": agent,
                "at_train_horizon": short,
                "at_long_horizon": far,
            })).collect::<Vec<_>>(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
            .map_err(|e| format!("writing {path}: {e}"))?;
        println!("wrote {path}");
    }
    Ok(())
}
