//! `spelunk train --experiment vla`: the VLA head trained from scratch on instruction-following
//! Reach — one target (the instruction is always "red") and three (the instruction picks one
//! of three visible spheres) — with PPO and with GRPO, the same budget and seeds.

use std::path::PathBuf;

use spelunk_grpo::{Algorithm, TrainConfig};

use crate::error::{bail, create_dir, write_file, Context as _, Result};
use crate::report::{mean_points, raster, svg::Series};
use crate::train::train_curve;

/// The experiment's settings.
#[derive(Clone, Debug)]
pub struct VlaConfig {
    /// A run config file (default: the built-in `examples/vla_reach.toml`).
    pub config: Option<PathBuf>,
    /// `--set key=value` overrides over it.
    pub sets: Vec<String>,
    /// Folder for `vla_reach.{md}`, `vla_reach_t<n>.json` and charts.
    pub out: PathBuf,
    /// Seeds per setting.
    pub seeds: u64,
    /// Target counts (each writes `vla_reach_t<n>.json`; the table in `vla_reach.md` is made
    /// from every such file in `out`, so counts can run in parallel).
    pub targets: Vec<u64>,
}

/// The built-in run config (`examples/vla_reach.toml`).
const BASE: &str = include_str!("../../../examples/vla_reach.toml");

#[derive(serde::Serialize, serde::Deserialize)]
struct VlaRun {
    targets: u64,
    algorithm: String,
    seed: u64,
    /// (env steps, sampled success rate) per iteration.
    curve: Vec<(f64, f64)>,
    /// Success on unseen seeds after training, sampling actions.
    final_eval_success: f64,
    /// The same with the most likely action token per dimension.
    final_eval_success_greedy: f64,
    final_eval_return: f64,
    seconds: f64,
}

/// Run the experiment.
pub fn run(args: &VlaConfig) -> Result<String> {
    let base = crate::config::train_config_or(
        args.config.as_deref(),
        BASE,
        "examples/vla_reach.toml",
        &args.sets,
    )?;
    if let Some(bad) = args.targets.iter().find(|&&n| !(1..=3).contains(&n)) {
        bail!("--targets: {bad} is not a target count (1, 2 or 3)");
    }
    create_dir(&args.out)?;
    let algorithms = [("PPO", Algorithm::Ppo), ("GRPO", Algorithm::Grpo)];
    let total =
        (args.targets.len() * algorithms.len()) as u64 * args.seeds * base.iterations as u64;
    let pb = crate::observers::progress_bar(total);
    for &n in &args.targets {
        let mut env_config = base.env_config.clone().unwrap_or_else(|| serde_json::json!({}));
        env_config["targets"] = serde_json::json!(n);
        write_pictures(&base, &env_config, n, &args.out)?;
        let mut runs = Vec::new();
        for (label, algorithm) in algorithms {
            for seed in 0..args.seeds {
                let cfg = TrainConfig {
                    seed,
                    algorithm,
                    env_config: Some(env_config.clone()),
                    ..base.clone()
                };
                let started = std::time::Instant::now();
                let (mut t, curve) =
                    train_curve(&cfg, &format!("{n} target(s) {label} seed {seed}"), &pb)?;
                let (ret, success) = t.evaluate(cfg.eval_episodes, false)?;
                let (_, greedy) = t.evaluate(cfg.eval_episodes, true)?;
                runs.push(VlaRun {
                    targets: n,
                    algorithm: label.to_owned(),
                    seed,
                    curve,
                    final_eval_success: success,
                    final_eval_success_greedy: greedy,
                    final_eval_return: ret,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
        }
        let path = args.out.join(format!("vla_reach_t{n}.json"));
        write_file(&path, serde_json::to_string_pretty(&runs)?)?;
        let series: Vec<Series> = algorithms
            .iter()
            .map(|(label, _)| {
                let rs: Vec<&VlaRun> = runs.iter().filter(|r| r.algorithm == *label).collect();
                Series {
                    label: (*label).to_owned(),
                    points: mean_points(&rs.iter().map(|r| &r.curve).collect::<Vec<_>>()),
                }
            })
            .collect();
        let png = raster::line_chart(
            &format!("VLA head, Arm-Reach-v0, {n} target(s)"),
            "env steps",
            "success rate (sampled)",
            &series,
        );
        raster::write(&args.out.join(format!("vla_reach_{n}.png")), &png)?;
    }
    pb.finish_and_clear();
    write_table(&base, args)?;
    Ok(format!("wrote {}/vla_reach.md, vla_reach_t*.json and vla_reach_*.png", args.out.display()))
}

/// `vla_reach.md` from every `vla_reach_t*.json` in the output folder.
fn write_table(base: &TrainConfig, args: &VlaConfig) -> Result<()> {
    let mut runs: Vec<VlaRun> = Vec::new();
    for n in 1..=3 {
        let path = args.out.join(format!("vla_reach_t{n}.json"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            let more: Vec<VlaRun> =
                serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
            runs.extend(more);
        }
    }
    let side =
        |key: &str| base.env_config.as_ref().and_then(|c| c["camera"][key].as_u64()).unwrap_or(64);
    let mut md = format!(
        "# The VLA head on instruction-following Reach\n\n`spelunk train --experiment vla \
         --seeds {}` (`examples/vla_reach.toml`: {} iterations of {} groups × {} episodes of \
         50 steps; a {}×{} camera image, the instruction's word ids and the gripper's state in, \
         {} bins per action dimension out). Success: the grip within 5 cm of the instructed \
         target at the last step, on {} unseen seeds after training, sampling actions or taking \
         the most likely bin per dimension (greedy).\n\n\
         | targets | algorithm | success, sampled (mean) | success, greedy (mean) | per seed \
         (sampled / greedy) | final return | env steps | minutes per run |\n\
         |---|---|---|---|---|---|---|---|\n",
        args.seeds,
        base.iterations,
        base.groups_per_step,
        base.group_size,
        side("height"),
        side("width"),
        base.policy.bins,
        base.eval_episodes,
    );
    let mut keys: Vec<(u64, String)> =
        runs.iter().map(|r| (r.targets, r.algorithm.clone())).collect();
    keys.dedup();
    for (n, label) in keys {
        let rs: Vec<&VlaRun> =
            runs.iter().filter(|r| r.targets == n && r.algorithm == label).collect();
        let k = rs.len().max(1) as f64;
        let mean = |f: &dyn Fn(&VlaRun) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / k;
        let per: Vec<String> = rs
            .iter()
            .map(|r| format!("{:.2} / {:.2}", r.final_eval_success, r.final_eval_success_greedy))
            .collect();
        md.push_str(&format!(
            "| {n} | {label} | {:.3} | {:.3} | {} | {:.2} | {:.0} | {:.1} |\n",
            mean(&|r| r.final_eval_success),
            mean(&|r| r.final_eval_success_greedy),
            per.join(", "),
            mean(&|r| r.final_eval_return),
            mean(&|r| r.curve.last().map_or(0.0, |c| c.0)),
            mean(&|r| r.seconds) / 60.0,
        ));
    }
    write_file(&args.out.join("vla_reach.md"), md)
}

/// What the policy sees (the observation's image, enlarged 8×) beside the picture for people,
/// for seed 0 of a setting: `vla_reach_{n}_view.png`.
fn write_pictures(
    cfg: &TrainConfig,
    env_config: &serde_json::Value,
    n: u64,
    out: &std::path::Path,
) -> Result<()> {
    let mut env = crate::registry().make_with(&cfg.env, env_config)?;
    let mut obs = spelunk_core::ObsBuf::for_space(env.observation_space());
    env.reset(Some(0), None, obs.as_mut())?;
    let Some(layout) = spelunk_models::ImageLayout::of(env.observation_space()) else {
        return Ok(());
    };
    let [h, w, _] = layout.shape;
    let values = obs.as_f32().context("arm observations are f32")?;
    let image = &values[layout.offset..layout.offset + h * w * 3];
    let scale = 8;
    let people = env.render_rgb();
    let (pw, ph) = people.as_ref().map_or((0, 0), |p| (p.width, p.height));
    let width = w * scale + 16 + pw;
    let height = (h * scale).max(ph);
    let mut rgb = vec![255u8; width * height * 3];
    for y in 0..h * scale {
        for x in 0..w * scale {
            let src = ((y / scale) * w + x / scale) * 3;
            let dst = (y * width + x) * 3;
            for c in 0..3 {
                rgb[dst + c] = image[src + c] as u8;
            }
        }
    }
    if let Some(p) = people {
        for y in 0..p.height {
            let dst = (y * width + w * scale + 16) * 3;
            rgb[dst..dst + p.width * 3]
                .copy_from_slice(&p.rgb[y * p.width * 3..(y + 1) * p.width * 3]);
        }
    }
    let img = spelunk_core::Image { width, height, rgb };
    crate::report::png::write(&out.join(format!("vla_reach_{n}_view.png")), &img)
}
