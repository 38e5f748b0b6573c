//! Go-Explore, then robustification, on a level file given on the command line, with a custom
//! observer that prints one line per iteration.
//!
//! ```sh
//! cargo run --release -p spelunk-experiments --example go_explore_robustify -- \
//!     examples/two_rooms.txt [FRAMES] [ITERATIONS]
//! ```
//!
//! Phase 1 explores the level (Montezuma-Lite's rules, your rooms) until it solves it or
//! spends FRAMES (default 2M); the demo it finds is shortened, then PPO with privileged starts
//! from the demo trains a policy that solves the level from the real start under sticky
//! actions (ITERATIONS, default 40). Files go to `runs/example-go-explore/`.

use spelunk_core::{Checkpoint, IterationMetrics, Observer, ObserverResult, RunStarted};
use spelunk_experiments::explore::go_explore::{
    robustify_observed, run_single, GoExploreSpec, RobustifyConfig, SingleRun,
};

/// Prints a line per iteration: the run's kind, the iteration and a few metrics.
struct PrintLines {
    kind: String,
}

impl Observer for PrintLines {
    fn run_started(&mut self, e: &RunStarted) -> ObserverResult {
        self.kind.clone_from(&e.kind);
        println!(
            "{} on {} (seed {}), budget {} {}",
            e.kind,
            e.env_id.as_deref().unwrap_or("?"),
            e.seed,
            e.budget,
            e.budget_unit
        );
        Ok(())
    }
    fn iteration(&mut self, m: &IterationMetrics, _: &dyn Checkpoint) -> ObserverResult {
        let shown: Vec<String> =
            ["cells", "rooms", "max_score", "charts/success_rate", "charts/demo_start"]
                .iter()
                .filter_map(|k| m.get(k).map(|v| format!("{k} {v:.2}")))
                .collect();
        println!(
            "{} iteration {} ({} env steps): {}",
            self.kind,
            m.iteration,
            m.env_steps,
            shown.join(", ")
        );
        Ok(())
    }
    fn message(&mut self, text: &str) -> ObserverResult {
        println!("{text}");
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let level = args.next().unwrap_or_else(|| "examples/two_rooms.txt".into());
    let frames: u64 = args.next().map_or(Ok(2_000_000), |s| s.parse())?;
    let iterations: usize = args.next().map_or(Ok(40), |s| s.parse())?;
    let dir = std::path::PathBuf::from("runs/example-go-explore");
    let run = SingleRun {
        spec: GoExploreSpec {
            env: "Montezuma-Lite-v0".into(),
            env_config: Some(serde_json::json!({ "level": level })),
            threads: 1,
            ..GoExploreSpec::default()
        },
        budget_frames: frames,
        stop_on_solve: true,
        dir: dir.clone(),
        resume: false,
        force: true,
    };
    let mut printer = PrintLines { kind: String::new() };
    let outcome = run_single(&run, &mut printer)?;
    let Some((found, short)) = outcome.demos else {
        println!("not solved in {frames} frames; nothing to robustify");
        return Ok(());
    };
    println!("demo: {} actions, {} after shortening", found.actions.len(), short.actions.len());
    let cfg = RobustifyConfig { iterations, eval_episodes: 100, ..RobustifyConfig::default() };
    let r = robustify_observed(&short, &dir, &cfg, &mut printer)?;
    println!(
        "robustified: start at demo step {} of {}, success from the real start {:.1}% over {} episodes",
        r.final_start,
        r.demo_length,
        100.0 * r.eval_success,
        r.eval_episodes
    );
    Ok(())
}
