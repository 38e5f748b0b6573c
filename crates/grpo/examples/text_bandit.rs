//! A language model learns to answer the text bandit with GRPO.
//!
//! ```text
//! cargo run --release -p spelunk-grpo --example text_bandit -- [iterations] [pretrained-dir]
//! ```
//!
//! `Bandit-Bernoulli-5-Text-v0` with one pull per episode and fixed arm means
//! (0.1, 0.2, 0.3, 0.9, 0.4): the prompt is the env's text ("You face a bandit with 5 arms …
//! Answer with an arm number."), the model writes up to 3 characters, the first digit run is
//! the arm; anything else is an invalid action worth −1. The model is a fresh 2-layer
//! transformer on the character tokenizer of `tests/fixtures/tiny-llama` (or the checkpoint
//! folder given). Prints the mean return and the invalid fraction per iteration.

use spelunk_grpo::{TextConfig, TextTrainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    spelunk_models::keep_freed_heap();
    let args: Vec<String> = std::env::args().collect();
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
    for _ in 0..iterations {
        let m = t.iterate()?;
        println!(
            "iteration {:>3}: return {:+.3}  invalid {:.2}  kl {:.4}",
            m["iteration"],
            m["charts/episodic_return"],
            m["charts/invalid_fraction"],
            m["losses/approx_kl"]
        );
    }
    Ok(())
}
