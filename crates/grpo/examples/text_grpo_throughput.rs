//! Tokens per second of a text-policy GRPO step, for the comparison with TRL
//! (`scripts/peers/trl_grpo.sh` runs both in one script).
//!
//! ```text
//! cargo run --release -p spelunk-grpo --example text_grpo_throughput -- \
//!     [iterations per window] [device] [model folder] [windows]
//! ```
//!
//! The device is `cpu` (the default) or `cuda` in a build with the `cuda` feature; the model
//! folder defaults to the fixture in this checkout (`scripts/gpu-check.sh` names it, since its
//! copy of the binary runs in another checkout).
//!
//! The tiny Llama of `tests/fixtures/tiny-llama` answers `Bandit-Bernoulli-5-Text-v0` (one pull
//! per episode): one group of 8 episodes per iteration, 3 generated tokens each, one Adam step.
//! After one warm-up iteration, `windows` (default 1) timed windows of `iterations` each — the
//! protocol of `scripts/peers/`. Prints `tokens_per_sec` (prompt + generated tokens of every
//! episode, over whole iterations: generation and update; the median window),
//! `tokens_per_sec_windows` (every window, as JSON) and `peak_rss_mb`.

use spelunk_grpo::{TextConfig, TextTrainer};

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    spelunk_models::keep_freed_heap();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let iterations: usize = args.first().map_or(Ok(20), |s| s.parse())?;
    let windows: usize = args.get(3).map_or(Ok(1), |s| s.parse())?;
    if iterations == 0 || windows == 0 {
        return Err("iterations and windows must be at least 1".into());
    }
    let device = args.get(1).cloned().unwrap_or_else(|| "cpu".into());
    let dir = args.get(2).map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tiny-llama"),
        std::path::PathBuf::from,
    );
    let config = TextConfig {
        device,
        pretrained: Some(dir),
        group_size: 8,
        groups_per_step: 1,
        epochs: 1,
        max_new_tokens: 3,
        ..TextConfig::default()
    };
    let env_config = serde_json::json!({"horizon": 1});
    let reg = spelunk_envs::registry();
    let mut t = TextTrainer::new(
        config,
        Box::new(move |_| reg.make_with("Bandit-Bernoulli-5-Text-v0", &env_config)),
    )?;
    // The prompt of the first pull, to count tokens.
    let prompt = "You face a bandit with 5 arms, numbered 0 to 4. You have not pulled yet. Total reward so far 0.000. Each episode has 1 pulls. Answer with an arm number.";
    let per_episode = t.lm.encode(prompt)?.len() + 3;
    t.iterate()?; // warm-up
    let mut rates = Vec::new();
    for _ in 0..windows {
        let start = std::time::Instant::now();
        for _ in 0..iterations {
            t.iterate()?;
        }
        rates.push((iterations * 8 * per_episode) as f64 / start.elapsed().as_secs_f64());
    }
    let mut sorted = rates.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median =
        if n % 2 == 1 { sorted[n / 2] } else { f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]) };
    println!("tokens_per_sec {median}");
    println!("tokens_per_sec_windows {rates:?}");
    println!("peak_rss_mb {}", peak_rss_mb());
    Ok(())
}
