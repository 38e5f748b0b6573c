//! `spelunk train` and `spelunk eval`: GRPO with the MLP policy head on any registered env
//! with a discrete or bounded continuous action space.
//!
//! ```sh
//! spelunk train --config run.toml --out runs/empty      # metrics.jsonl, checkpoint/
//! spelunk train --config run.toml --out runs/empty --resume
//! spelunk eval --run runs/empty --episodes 100
//! ```
//!
//! `run.toml` holds the fields of `spelunk_grpo::TrainConfig` (every field optional):
//!
//! ```toml
//! env = "MiniGrid-Empty-5x5-v0"
//! group_size = 8
//! groups_per_step = 16
//! iterations = 50
//! [loss]
//! clip_low = 0.2
//! clip_high = 0.28
//! ```

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use spelunk_grpo::{TrainConfig, Trainer};

/// `spelunk train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// TOML file with the run's settings (defaults for everything left out).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Override one setting, `key=value` in TOML syntax (repeatable), e.g. `--set iterations=5`.
    #[arg(long = "set")]
    pub(crate) sets: Vec<String>,
    /// Output folder: `metrics.jsonl`, `checkpoint/`, `config.toml`.
    #[arg(long, default_value = "runs/grpo")]
    pub(crate) out: PathBuf,
    /// Continue the run in `--out` from its checkpoint.
    #[arg(long)]
    resume: bool,
    /// Evaluate (sampled actions, unseen seeds) every this many iterations.
    #[arg(long, default_value_t = 10)]
    eval_every: usize,
    /// Run an experiment instead of one run: `sparse` trains on each of `--envs` with and
    /// without an RDD intrinsic stream, `--seeds` seeds each, the same budget, and writes
    /// `grpo_sparse.{json,md,png}` into `--out`; `vla` trains the VLA head on instruction
    /// following Reach (`examples/vla_reach.toml`, or `--config`) with 1 and 3 targets, PPO
    /// and GRPO, and writes `vla_reach.{json,md}` and PNGs.
    #[arg(long)]
    experiment: Option<String>,
    /// Environments of the experiment.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "MiniGrid-DoorKey-5x5-v0,MiniGrid-DoorKey-8x8-v0"
    )]
    envs: Vec<String>,
    /// Seeds per setting in the experiment.
    #[arg(long, default_value_t = 3)]
    pub(crate) seeds: u64,
    /// Target counts of the `vla` experiment (each writes `vla_reach_t<n>.json`; the table in
    /// `vla_reach.md` is made from every such file in `--out`, so counts can run in parallel).
    #[arg(long, value_delimiter = ',', default_value = "1,3")]
    pub(crate) targets: Vec<u64>,
}

/// `spelunk eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run folder written by `spelunk train`.
    #[arg(long)]
    run: PathBuf,
    /// Episodes.
    #[arg(long, default_value_t = 100)]
    episodes: usize,
    /// Take the most likely action instead of sampling.
    #[arg(long)]
    greedy: bool,
}

/// Merge `over` into `base`, table by table, so `--set policy.head=…` and
/// `--set policy.hidden=…` both land in `[policy]` rather than the second replacing it.
fn merge_tables(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

pub(crate) fn load_config(path: Option<&Path>, sets: &[String]) -> Result<TrainConfig> {
    let table: toml::Table = match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("{}", p.display()))?
        }
        None => toml::Table::new(),
    };
    config_from(table, path, sets)
}

/// A config from a table (a file's, or built in) with `--set`s merged over it.
pub(crate) fn config_from(
    mut table: toml::Table,
    path: Option<&Path>,
    sets: &[String],
) -> Result<TrainConfig> {
    for s in sets {
        let Some((k, v)) = s.split_once('=') else { bail!("--set {s}: expected key=value") };
        let parsed: toml::Table = toml::from_str(&format!("{k} = {v}"))
            .or_else(|_| toml::from_str(&format!("{k} = \"{v}\"")))
            .with_context(|| format!("--set {s}"))?;
        merge_tables(&mut table, parsed);
    }
    let cfg: TrainConfig = toml::Value::Table(table).try_into().with_context(|| {
        format!("config {}", path.map_or("<defaults>".into(), |p| p.display().to_string()))
    })?;
    cfg.validate()?;
    Ok(cfg)
}

/// A trainer whose envs come from the registry with the run's `env_config` (or the override
/// a demonstration carries).
pub(crate) fn trainer(cfg: TrainConfig) -> Result<Trainer<'static>> {
    let reg = crate::registry();
    let id = cfg.env.clone();
    let env_cfg = cfg.env_config.clone();
    let make = move |over: Option<&serde_json::Value>| match over.or(env_cfg.as_ref()) {
        Some(c) => reg.make_with(&id, c),
        None => reg.make(&id),
    };
    Ok(Trainer::new(cfg, Box::new(make))?)
}

/// Run `spelunk train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    if let Some(e) = &args.experiment {
        return match e.as_str() {
            "sparse" => sparse(args),
            "vla" => crate::vla::run(args),
            _ => bail!("unknown experiment `{e}`; there are: sparse, vla"),
        };
    }
    let ckpt = args.out.join("checkpoint");
    let cfg = if args.resume {
        let p = args.out.join("config.toml");
        load_config(Some(&p), &args.sets)
            .with_context(|| format!("resuming from {}", args.out.display()))?
    } else {
        load_config(args.config.as_deref(), &args.sets)?
    };
    let mut t = trainer(cfg.clone())?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if args.resume {
        t.resume(&ckpt).with_context(|| format!("loading {}", ckpt.display()))?;
    } else {
        std::fs::write(args.out.join("config.toml"), toml::to_string(&cfg)?)?;
        let _ = std::fs::remove_file(args.out.join("metrics.jsonl"));
    }
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.out.join("metrics.jsonl"))?;
    let pb = crate::progress_bar(cfg.iterations as u64);
    pb.set_position(t.iteration as u64);
    while t.iteration < cfg.iterations {
        let mut m = t.iterate()?;
        if t.iteration % args.eval_every.max(1) == 0 || t.iteration == cfg.iterations {
            let (ret, success) = t.evaluate(cfg.eval_episodes, false)?;
            m.insert("eval/episodic_return".into(), ret);
            m.insert("eval/success_rate".into(), success);
        }
        writeln!(metrics, "{}", serde_json::to_string(&m)?)?;
        t.save(&ckpt)?;
        let msg = format!(
            "return {:.3} success {:.2} kl {:.4}",
            m["charts/episodic_return"], m["charts/success_rate"], m["losses/approx_kl"]
        );
        // Without a terminal the bar is hidden: say something every 10 iterations instead.
        if !std::io::stderr().is_terminal() && t.iteration % 10 == 0 {
            eprintln!("iteration {}/{}: {msg}", t.iteration, cfg.iterations);
        }
        pb.set_message(msg);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let (ret, success) = t.evaluate(cfg.eval_episodes, false)?;
    println!(
        "{}: {} iterations, {} env steps; eval over {} unseen seeds: return {ret:.3}, success {:.1}%",
        cfg.env,
        t.iteration,
        t.env_steps,
        cfg.eval_episodes,
        success * 100.0
    );
    println!("metrics: {}", args.out.join("metrics.jsonl").display());
    Ok(())
}

/// Run `spelunk eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let cfg = load_config(Some(&args.run.join("config.toml")), &[])?;
    let mut t = trainer(cfg.clone())?;
    t.resume(&args.run.join("checkpoint"))
        .with_context(|| format!("loading {}", args.run.join("checkpoint").display()))?;
    let (ret, success) = t.evaluate(args.episodes, args.greedy)?;
    println!(
        "{} after {} iterations ({}): {} unseen seeds: return {ret:.3}, success {:.1}%",
        cfg.env,
        t.iteration,
        if args.greedy { "greedy" } else { "sampled" },
        args.episodes,
        success * 100.0
    );
    Ok(())
}

#[derive(serde::Serialize)]
struct SparseRun {
    env: String,
    method: &'static str,
    seed: u64,
    /// (env steps, sampled success rate) per iteration.
    curve: Vec<(f64, f64)>,
    final_eval_success: f64,
}

/// Train one run of an experiment to its last iteration, with progress: the trainer and the
/// (env steps, sampled success rate) curve, one point per iteration.
pub(crate) fn train_curve(
    cfg: &TrainConfig,
    what: &str,
    pb: &indicatif::ProgressBar,
) -> Result<(Trainer<'static>, Vec<(f64, f64)>)> {
    let mut t = trainer(cfg.clone())?;
    let mut curve = Vec::new();
    for _ in 0..cfg.iterations {
        let m = t.iterate()?;
        curve.push((m["charts/env_steps"], m["charts/success_rate"]));
        let msg = format!("{what}: success {:.2}", m["charts/success_rate"]);
        if !std::io::stderr().is_terminal() && t.iteration % 10 == 0 {
            eprintln!("iteration {}/{}: {msg}", t.iteration, cfg.iterations);
        }
        pb.set_message(msg);
        pb.inc(1);
    }
    Ok((t, curve))
}

/// `--experiment sparse`: GRPO with and without an RDD stream on sparse-reward gridworlds.
fn sparse(args: &TrainArgs) -> Result<()> {
    let base = load_config(args.config.as_deref(), &args.sets)?;
    std::fs::create_dir_all(&args.out)?;
    let methods: [(&str, Option<spelunk_grpo::IntrinsicConfig>); 2] =
        [("GRPO", None), ("GRPO + RDD", Some(spelunk_grpo::IntrinsicConfig::default()))];
    let total = args.envs.len() as u64 * 2 * args.seeds * base.iterations as u64;
    let pb = crate::progress_bar(total);
    let mut runs = Vec::new();
    for env in &args.envs {
        for (label, intrinsic) in &methods {
            for seed in 0..args.seeds {
                let cfg =
                    TrainConfig { env: env.clone(), seed, intrinsic: *intrinsic, ..base.clone() };
                let (mut t, curve) = train_curve(&cfg, &format!("{env} {label} seed {seed}"), &pb)?;
                let (_, success) = t.evaluate(cfg.eval_episodes, false)?;
                runs.push(SparseRun {
                    env: env.clone(),
                    method: label,
                    seed,
                    curve,
                    final_eval_success: success,
                });
            }
        }
    }
    pb.finish_and_clear();
    std::fs::write(args.out.join("grpo_sparse.json"), serde_json::to_string_pretty(&runs)?)?;
    let mut md = format!(
        "# GRPO on sparse-reward gridworlds, with and without an RDD stream\n\n`spelunk train --experiment sparse --seeds {} --set iterations={}` ({} groups of {} per iteration, same seeds for both)\n\n| env | method | final sampled success (unseen seeds), mean over seeds | per seed | env steps |\n|---|---|---|---|---|\n",
        args.seeds, base.iterations, base.groups_per_step, base.group_size
    );
    for env in &args.envs {
        let mut series = Vec::new();
        for (label, _) in &methods {
            let rs: Vec<&SparseRun> =
                runs.iter().filter(|r| &r.env == env && r.method == *label).collect();
            let mean =
                rs.iter().map(|r| r.final_eval_success).sum::<f64>() / rs.len().max(1) as f64;
            let per: Vec<String> =
                rs.iter().map(|r| format!("{:.2}", r.final_eval_success)).collect();
            let steps = rs.iter().map(|r| r.curve.last().map_or(0.0, |c| c.0)).sum::<f64>()
                / rs.len().max(1) as f64;
            md.push_str(&format!(
                "| {env} | {label} | {mean:.3} | {} | {:.0} |\n",
                per.join(", "),
                steps
            ));
            let n = rs.iter().map(|r| r.curve.len()).min().unwrap_or(0);
            let points = (0..n)
                .map(|i| {
                    let k = rs.len() as f64;
                    (
                        rs.iter().map(|r| r.curve[i].0).sum::<f64>() / k,
                        rs.iter().map(|r| r.curve[i].1).sum::<f64>() / k,
                    )
                })
                .collect();
            series.push(crate::plot::Series { label: (*label).to_owned(), points });
        }
        let png = crate::raster::line_chart(
            &format!("{env}: GRPO"),
            "env steps",
            "success rate (sampled)",
            &series,
        );
        let name = env.trim_start_matches("MiniGrid-").trim_end_matches("-v0").to_lowercase();
        crate::raster::write(&args.out.join(format!("grpo_sparse_{name}.png")), &png)?;
    }
    std::fs::write(args.out.join("grpo_sparse.md"), md)?;
    println!("wrote {}/grpo_sparse.{{json,md}} and grpo_sparse_*.png", args.out.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_sets_under_one_table_all_apply() {
        let sets = [
            "policy.head=\"transformer\"".to_owned(),
            "policy.transformer={d_model=32,heads=2}".to_owned(),
            "policy.hidden=[8]".to_owned(),
        ];
        let cfg = load_config(None, &sets).expect("config");
        assert_eq!(cfg.policy.head, spelunk_models::policy::Head::Transformer);
        assert_eq!(cfg.policy.transformer.d_model, 32);
        assert_eq!(cfg.policy.hidden, vec![8]);
    }
}
