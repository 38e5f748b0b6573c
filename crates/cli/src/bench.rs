//! `spelunk bench`: arguments and the printed table over `spelunk_experiments::bench`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use spelunk_experiments::bench::{self, BenchConfig, Report, Suite};

/// Which set of environments and how long each is measured.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum SuiteArg {
    /// A representative subset, 1.5 s per measurement (under a minute in all).
    Ci,
    /// Every registered id, 3 s per measurement.
    Full,
}

/// Arguments of `spelunk bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Which suite to run.
    #[arg(long, value_enum, default_value = "ci")]
    suite: SuiteArg,
    /// Benchmark only these ids (repeatable); overrides the suite's list.
    #[arg(long = "env")]
    envs: Vec<String>,
    /// Seconds per measurement, split over the timed windows (default: 1.5 for ci, 3 for
    /// full); one warm-up window of the same length comes first.
    #[arg(long)]
    seconds: Option<f64>,
    /// Timed windows per measurement; the median window is reported, with min and max.
    #[arg(long, default_value_t = 5)]
    windows: usize,
    /// Envs in the vectorized measurement.
    #[arg(long, default_value_t = 256)]
    num_envs: usize,
    /// Threads of the multi-threaded vectorized measurement.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Env config file (TOML or JSON) applied to every `--env`, e.g. a Montezuma `level`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Config overrides `key=value` applied to every `--env` (repeatable).
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Skip the bandit regret table.
    #[arg(long)]
    skip_bandits: bool,
    /// Write results as JSON to this file (`-` for stdout, which then holds only JSON).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write SVG plots (steps/s per env, bandit regret curves) into this folder.
    #[arg(long)]
    plots: Option<PathBuf>,
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// Run `spelunk bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let cfg = BenchConfig {
        suite: match args.suite {
            SuiteArg::Ci => Suite::Ci,
            SuiteArg::Full => Suite::Full,
        },
        envs: args.envs.clone(),
        seconds: args.seconds,
        windows: args.windows,
        num_envs: args.num_envs,
        threads: args.threads,
        env_config: spelunk_experiments::config::env_config(args.config.as_deref(), &args.sets)?,
        skip_bandits: args.skip_bandits,
    };
    let report = bench::run(&cfg)?;
    let json_to_stdout = args.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if !json_to_stdout {
        print_table(&report);
    }
    if let Some(dir) = &args.plots {
        bench::write_plots(dir, &report)?;
        if !json_to_stdout {
            outln!("wrote plots to {}", dir.display());
        }
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        if json_to_stdout {
            outln!("{text}");
        } else {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            outln!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn print_table(r: &Report) {
    outln!(
        "spelunk bench --suite {:?} ({} s per measurement in {} windows after a warm-up one, \
         median window; {})\n",
        r.suite,
        r.seconds_per_measurement,
        r.windows,
        r.provenance.machine
    );
    outln!(
        "{:<34} {:>12} {:>14} {:>14} {:>8}",
        "environment",
        "1 env",
        "vec 1 thread",
        "vec N threads",
        "speedup"
    );
    for e in &r.envs {
        outln!(
            "{:<34} {:>12} {:>14} {:>14} {:>7.2}x",
            e.id,
            fmt_rate(e.single_steps_per_sec),
            fmt_rate(e.vec_1t_steps_per_sec),
            format!("{} ({}t)", fmt_rate(e.vec_nt_steps_per_sec), e.threads),
            e.vec_speedup
        );
    }
    outln!(
        "\nsteps/s; vec = {} envs in one VecEnv, env-steps/s",
        r.envs.first().map_or(0, |e| e.num_envs)
    );
    if !r.bandits.is_empty() {
        outln!(
            "\n{:<26} {:<12} {:>8} {:>6} {:>16}",
            "bandit",
            "agent",
            "horizon",
            "seeds",
            "regret (± s.e.)"
        );
        for b in &r.bandits {
            outln!(
                "{:<26} {:<12} {:>8} {:>6} {:>9.1} ± {:<5.1}",
                b.env,
                b.agent,
                b.horizon,
                b.seeds,
                b.mean_regret,
                b.stderr_regret
            );
        }
    }
}
