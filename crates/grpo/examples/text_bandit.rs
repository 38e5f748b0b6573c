//! A language model learns to answer the text bandit with GRPO.
//!
//! ```text
//! cargo run --release -p spelunk-grpo --example text_bandit -- [iterations] [pretrained-dir] \
//!     [--json PATH]
//! ```
//!
//! `Bandit-Bernoulli-5-Text-v0` with one pull per episode and fixed arm means
//! (0.1, 0.2, 0.3, 0.9, 0.4): the prompt is the env's text ("You face a bandit with 5 arms …
//! Answer with an arm number."), the model writes up to 3 characters, the first digit run is
//! the arm; anything else is an invalid action worth −1. The model is a fresh 2-layer
//! transformer on the character tokenizer of `tests/fixtures/tiny-llama` (or the checkpoint
//! folder given). Prints the mean return and the invalid fraction per iteration; `--json`
//! writes them with the command, commit and machine, and the last 30 iterations' mean return
//! beside the best arm's mean and a uniform pick's
//! (`docs/results/text_bandit.json`, from `bash scripts/reproduce.sh text-bandit`).

use spelunk_grpo::{TextConfig, TextTrainer};

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
    let iterations: usize = args.get(1).map_or(Ok(40), |s| s.parse())?;
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-llama");
    let config = TextConfig {
        pretrained: args.get(2).map(Into::into),
        tokenizer: Some(fixture.join("tokenizer.json")),
        ..TextConfig::default()
    };
    let env_config = serde_json::json!({"horizon": 1, "means": [0.1, 0.2, 0.3, 0.9, 0.4]});
    let reg = spelunk_envs::registry();
    let mut t = TextTrainer::new(
        config,
        Box::new(move |_| reg.make_with("Bandit-Bernoulli-5-Text-v0", &env_config)),
    )?;
    let mut curve = Vec::new();
    for _ in 0..iterations {
        let m = t.iterate()?;
        println!(
            "iteration {:>3}: return {:+.3}  invalid {:.2}  kl {:.4}",
            m["iteration"],
            m["charts/episodic_return"],
            m["charts/invalid_fraction"],
            m["losses/approx_kl"]
        );
        curve.push(serde_json::json!({
            "iteration": m["iteration"],
            "return": m["charts/episodic_return"],
            "invalid_fraction": m["charts/invalid_fraction"],
        }));
    }
    if let Some(path) = json {
        let means = [0.1, 0.2, 0.3, 0.9, 0.4];
        let tail = &curve[curve.len().saturating_sub(30)..];
        let last: f64 = tail.iter().filter_map(|c| c["return"].as_f64()).sum::<f64>()
            / tail.len().max(1) as f64;
        let report = serde_json::json!({
            "provenance": spelunk_core::Provenance::here(),
            "env": "Bandit-Bernoulli-5-Text-v0",
            "means": means,
            "best_arm_mean": 0.9,
            "uniform_pick_mean": means.iter().sum::<f64>() / means.len() as f64,
            "iterations": iterations,
            "last_30_mean_return": last,
            "curve": curve,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&report)? + "\n")
            .map_err(|e| format!("writing {path}: {e}"))?;
        println!("wrote {path}");
    }
    Ok(())
}
