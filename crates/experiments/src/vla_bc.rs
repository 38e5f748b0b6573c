//! `spelunk train --experiment vla-bc`: the VLA head as VLA practice trains one — supervised
//! on demonstrations first, then fine-tuned by RL.
//!
//! 1. The scripted controller's episodes of the task (seeds 2,000,000,000 + k, apart from
//!    training's and evaluation's) are written as a LeRobot dataset (`--data`; an existing
//!    dataset there is read as it is, so the same demonstrations serve every run).
//! 2. The dataset is read back and checked against the env ([`spelunk_dataset::Dataset`]);
//!    the head is behaviour-cloned on it ([`spelunk_grpo::Trainer::behaviour_clone`]).
//! 3. It is evaluated on the usual unseen seeds (behaviour cloning alone), fine-tuned with the
//!    config's algorithm for its `iterations`, and evaluated again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use spelunk_grpo::{BcConfig, BcEpoch, TrainConfig};

use crate::error::{bail, create_dir, write_file, Context as _, Result};
use crate::report::{raster, svg::Series};

/// The experiment's settings.
#[derive(Clone, Debug)]
pub struct VlaBcConfig {
    /// A run config file (default: the built-in `examples/vla_bc.toml`).
    pub config: Option<PathBuf>,
    /// `--set key=value` overrides over it.
    pub sets: Vec<String>,
    /// Folder for the report: `vla_bc.{json,md}` and `vla_bc_*.png` on Reach, `vla_bc_push.*`
    /// on Push, `vla_bc_fetch7_joint_deltas.*` with that arm ([`stem`]).
    pub out: PathBuf,
    /// The demonstrations' LeRobot dataset: read when it exists, else recorded there.
    pub data: PathBuf,
    /// Episodes to record when the dataset does not exist.
    pub demos: usize,
    /// DART's noise on the demonstrations' executed motion (action units; 0: none).
    pub noise: f32,
    /// Seeds (each clones and fine-tunes its own head from the same dataset).
    pub seeds: u64,
    /// Behaviour cloning's settings.
    pub bc: BcConfig,
}

/// The built-in run config (`examples/vla_bc.toml`).
const BASE: &str = include_str!("../../../examples/vla_bc.toml");

/// The report's file stem for an env and its config: `vla_bc` for Reach, `vla_bc_<task>` for
/// the others (`vla_bc_push`), then the URDF arm's name and its control when not end-effector
/// (`vla_bc_fetch7_joint_deltas`), so runs of different tasks and arms can share a folder.
pub fn stem(env: &str, config: Option<&serde_json::Value>) -> String {
    let mut out = match env.strip_prefix("Arm-").and_then(|t| t.strip_suffix("-v0")) {
        None | Some("Reach") => "vla_bc".to_owned(),
        Some(task) => format!("vla_bc_{}", task.to_lowercase()),
    };
    if let Some(robot) = config.and_then(|c| c.get("robot")) {
        let urdf = robot.get("urdf").and_then(|u| u.as_str()).unwrap_or("fetch7");
        let name = Path::new(urdf).file_stem().and_then(|n| n.to_str()).unwrap_or("arm");
        let name: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        out = format!("{out}_{name}");
        match robot.get("control").and_then(|c| c.as_str()) {
            None | Some("end_effector") => {}
            Some(control) => out = format!("{out}_{control}"),
        }
    }
    out
}

/// Where the demonstrations' seeds start.
pub const DEMO_SEEDS: u64 = 2_000_000_000;

#[derive(Serialize, Deserialize)]
struct BcRun {
    seed: u64,
    bc: Vec<BcEpoch>,
    bc_success: f64,
    bc_success_greedy: f64,
    bc_seconds: f64,
    /// The process's CPU time (all threads) cloning took, in seconds.
    #[serde(default)]
    bc_cpu_seconds: Option<f64>,
    /// (env steps, sampled success) per RL iteration.
    rl_curve: Vec<(f64, f64)>,
    final_success: f64,
    final_success_greedy: f64,
    rl_seconds: f64,
    /// The process's CPU time (all threads) fine-tuning took, in seconds.
    #[serde(default)]
    rl_cpu_seconds: Option<f64>,
    /// The same demonstrations cloned into an MLP head that reads the state (the target's
    /// position in `desired_goal` included) instead of seeing it: sampled and greedy success.
    state_success: f64,
    state_success_greedy: f64,
}

#[derive(Serialize)]
struct Report {
    /// The command, commit and machine.
    #[serde(flatten)]
    provenance: crate::provenance::Provenance,
    env: String,
    env_config: Option<serde_json::Value>,
    algorithm: String,
    dataset: String,
    demo_episodes: usize,
    demo_frames: usize,
    demo_success: f64,
    /// DART's noise when the demonstrations were recorded here (`None`: an existing dataset).
    demo_noise: Option<f32>,
    record_seconds: Option<f64>,
    /// The process's CPU time recording took, in seconds.
    record_cpu_seconds: Option<f64>,
    eval_episodes: usize,
    iterations: usize,
    /// RL's learning rate (the config's `adam.lr`; cloning's is `bc.lr`).
    rl_lr: f64,
    /// The KL term's weight to the cloned head during RL (the config's `loss.kl_coef`).
    rl_kl_coef: f64,
    bc: BcConfig,
    runs: Vec<BcRun>,
}

/// Run the experiment.
pub fn run(args: &VlaBcConfig) -> Result<String> {
    let base = crate::config::train_config_or(
        args.config.as_deref(),
        BASE,
        "examples/vla_bc.toml",
        &args.sets,
    )?;
    create_dir(&args.out)?;
    let cpu = spelunk_core::provenance::cpu_seconds;
    let since = |from: Option<f64>| Some(cpu()? - from?);
    let (record_seconds, record_cpu_seconds, demo_success) = if args.data.exists() {
        (None, None, None)
    } else {
        let (started, cpu_from) = (Instant::now(), cpu());
        let eps = record_demos(&base, &args.data, args.demos, args.noise)?;
        let ok = eps.iter().filter(|&&s| s).count() as f64 / eps.len().max(1) as f64;
        (Some(started.elapsed().as_secs_f64()), since(cpu_from), Some(ok))
    };
    let ds = spelunk_dataset::Dataset::open(&args.data)
        .with_context(|| format!("reading the demonstrations in {}", args.data.display()))?;
    if let Some((id, cfg)) = &ds.env {
        if *id != base.env || *cfg != base.env_config {
            bail!(
                "{} holds {id} episodes with config {}, the run is {} with {} (record it again \
                 into another folder)",
                args.data.display(),
                cfg.as_ref().map_or("{}".to_owned(), ToString::to_string),
                base.env,
                base.env_config.as_ref().map_or("{}".to_owned(), ToString::to_string)
            );
        }
    }
    let env = crate::registry()
        .make_with(&base.env, base.env_config.as_ref().unwrap_or(&serde_json::Value::Null))?;
    let obs = ds.observations_for(env.as_ref())?;
    let actions = ds.actions_for(env.as_ref())?;
    let lengths: Vec<usize> = ds.episodes.iter().map(|e| e.length).collect();
    let demo_success = demo_success.unwrap_or_else(|| {
        // The dataset's own record: an episode succeeded when its last step did.
        let Some(spelunk_dataset::Column::Numbers { values, .. }) = ds.column("next.success")
        else {
            return f64::NAN;
        };
        let ends = ds.episodes.iter().filter(|e| values[e.from + e.length - 1] > 0.5).count();
        ends as f64 / ds.episodes.len().max(1) as f64
    });
    let pb = crate::observers::progress_bar(args.seeds * (args.bc.epochs + base.iterations) as u64);
    let mut runs = Vec::new();
    for seed in 0..args.seeds {
        let cfg = TrainConfig { seed, ..base.clone() };
        let mut t = crate::train::trainer(cfg.clone())?;
        let (started, cpu_from) = (Instant::now(), cpu());
        let bc = t.behaviour_clone(&obs, &actions, &lengths, &args.bc, &mut |k, e| {
            let msg = format!(
                "seed {seed} cloning epoch {}/{}: loss {:.4}, held-out loss {:.4}, held-out \
                 accuracy {:.3}",
                k + 1,
                args.bc.epochs,
                e.train_loss,
                e.holdout_loss,
                e.holdout_accuracy
            );
            if !crate::observers::is_terminal() {
                eprintln!("{msg}");
            }
            pb.set_message(msg);
            pb.inc(1);
        })?;
        let (bc_seconds, bc_cpu_seconds) = (started.elapsed().as_secs_f64(), since(cpu_from));
        let (_, bc_success) = t.evaluate(cfg.eval_episodes, false)?;
        let (_, bc_success_greedy) = t.evaluate(cfg.eval_episodes, true)?;
        if !crate::observers::is_terminal() {
            eprintln!(
                "seed {seed} cloned: success {bc_success:.3} sampled, {bc_success_greedy:.3} greedy"
            );
        }
        if args.bc.rl_coef > 0.0 {
            t.keep_demos(&obs, &actions, args.bc.rl_coef, args.bc.rl_batch)?;
        }
        let (started, cpu_from) = (Instant::now(), cpu());
        let mut rl_curve = Vec::new();
        for _ in 0..cfg.iterations {
            let m = t.iterate()?;
            rl_curve.push((m["charts/env_steps"], m["charts/success_rate"]));
            let msg = format!(
                "seed {seed} RL iteration {}/{}: success {:.2}",
                t.iteration, cfg.iterations, m["charts/success_rate"]
            );
            if !crate::observers::is_terminal() && t.iteration % 5 == 0 {
                eprintln!("{msg}");
            }
            pb.set_message(msg);
            pb.inc(1);
        }
        let (rl_seconds, rl_cpu_seconds) = (started.elapsed().as_secs_f64(), since(cpu_from));
        let mut state = TrainConfig { seed, ..base.clone() };
        state.policy.head = spelunk_models::policy::Head::Mlp;
        let mut s = crate::train::trainer(state)?;
        s.behaviour_clone(&obs, &actions, &lengths, &args.bc, &mut |_, _| {})?;
        let (_, state_success) = s.evaluate(cfg.eval_episodes, false)?;
        let (_, state_success_greedy) = s.evaluate(cfg.eval_episodes, true)?;
        let (_, final_success) = t.evaluate(cfg.eval_episodes, false)?;
        let (_, final_success_greedy) = t.evaluate(cfg.eval_episodes, true)?;
        if seed == 0 {
            write_keypoints(&t, &base, &args.out, &stem(&base.env, base.env_config.as_ref()))?;
        }
        runs.push(BcRun {
            seed,
            bc,
            bc_success,
            bc_success_greedy,
            bc_seconds,
            bc_cpu_seconds,
            rl_curve,
            final_success,
            final_success_greedy,
            rl_seconds,
            rl_cpu_seconds,
            state_success,
            state_success_greedy,
        });
    }
    pb.finish_and_clear();
    let report = Report {
        provenance: crate::provenance::Provenance::here(),
        env: base.env.clone(),
        env_config: base.env_config.clone(),
        algorithm: format!("{:?}", base.algorithm),
        dataset: args.data.display().to_string(),
        demo_episodes: ds.episodes.len(),
        demo_frames: ds.len(),
        demo_success,
        demo_noise: record_seconds.map(|_| args.noise),
        record_seconds,
        record_cpu_seconds,
        eval_episodes: base.eval_episodes,
        iterations: base.iterations,
        rl_lr: base.adam.lr,
        rl_kl_coef: base.loss.kl_coef,
        bc: args.bc.clone(),
        runs,
    };
    let name = stem(&report.env, report.env_config.as_ref());
    let path = args.out.join(&name);
    write_file(&path.with_extension("json"), serde_json::to_string_pretty(&report)?)?;
    write_charts(&report, &args.out, &name)?;
    write_file(&path.with_extension("md"), table(&report))?;
    Ok(format!("wrote {0}/{name}.md, {name}.json and {name}_*.png", args.out.display()))
}

/// The scripted controller's episodes of `base`'s task into a LeRobot dataset at `dir`, with
/// DART's noise (Laskey et al., 2017): the env steps with the controller's action plus
/// Gaussian noise of standard deviation `noise` on the motion (clipped to the action space),
/// while the dataset keeps the controller's own action in the state it was asked in. Cloned
/// on noise-free demonstrations, a policy meets states off the controller's path that it has
/// never seen corrected, and the arm's velocity in the state tells it the last action — a
/// policy that copies it stands still once it has stopped. Returns each episode's success.
fn record_demos(base: &TrainConfig, dir: &Path, episodes: usize, noise: f32) -> Result<Vec<bool>> {
    use spelunk_core::{Action, Env as _, ObsBuf, Rng};
    use spelunk_sims::arm::{ArmTask, Scripted};
    use spelunk_sims::robot::Control;
    let task = match base.env.as_str() {
        "Arm-Reach-v0" => ArmTask::Reach,
        "Arm-Push-v0" => ArmTask::Push,
        "Arm-PickAndPlace-v0" => ArmTask::PickAndPlace,
        other => bail!("{other} has no scripted controller to demonstrate it"),
    };
    let mut env = spelunk_sims::arm::make(
        &base.env,
        base.env_config.as_ref().unwrap_or(&serde_json::Value::Null),
    )?;
    // A URDF arm in joint-space control is demonstrated by the same controller, its
    // end-effector actions turned into joint targets through the arm's inverse kinematics.
    let joints = env.robot().is_some_and(|r| r.config.control != Control::EndEffector);
    let mut writer = crate::record::lerobot_writer_for(&env, base.env_config.clone(), dir, None)?;
    let limit = env.max_episode_steps().unwrap_or(50);
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut rng = Rng::seed_from_u64(DEMO_SEEDS ^ 0xda27);
    let mut out = Vec::with_capacity(episodes);
    for k in 0..episodes as u64 {
        env.reset(Some(DEMO_SEEDS + k), None, obs.as_mut())?;
        writer.begin_episode(&env)?;
        // Push is demonstrated by the rule of the present observation (no phase the policy
        // could not see); Reach and PickAndPlace are the same either way.
        let mut ctl = Scripted::memoryless();
        let mut success = false;
        for _ in 0..limit {
            let flat = obs.as_f32().context("arm observations are f32")?;
            let ee = ctl.act(task, flat);
            let mut noised = ee;
            for a in &mut noised[..3] {
                *a = (*a + noise * rng.normal() as f32).clamp(-1.0, 1.0);
            }
            let (expert, executed) = if joints {
                let convert = |a: &[f32]| {
                    env.joint_action_for(a).context("the joint-space arm's action for a step")
                };
                (convert(&ee)?, convert(&noised)?)
            } else {
                (ee.to_vec(), noised.to_vec())
            };
            let s = env.step(Action::Continuous(&executed), obs.as_mut())?;
            let done = s.terminated || s.truncated;
            success = s.info.is_success == Some(true);
            writer.step(
                Action::Continuous(&expert),
                f64::from(s.reward),
                done,
                success,
                obs.view(),
            )?;
            if done {
                break;
            }
        }
        writer.end_episode();
        out.push(success);
    }
    writer.finish()?;
    Ok(out)
}

/// Unseen evaluation seeds in the keypoint picture.
const PICTURED: u64 = 4;

/// What the fine-tuned head looks at, for the first [`PICTURED`] evaluation seeds: the
/// camera's image as the policy gets it, each keypoint of its encoder where the spatial
/// soft-argmax puts it at the first step, and the instruction: `{stem}_keypoints.png`. Heads
/// without a keypoint encoder write nothing.
fn write_keypoints(
    t: &spelunk_grpo::Trainer<'_>,
    base: &TrainConfig,
    out: &Path,
    stem: &str,
) -> Result<()> {
    use spelunk_core::ObsBuf;
    let cfg = base.env_config.as_ref().unwrap_or(&serde_json::Value::Null);
    let mut env = crate::registry().make_with(&base.env, cfg)?;
    let Some(layout) = spelunk_models::ImageLayout::of(env.observation_space()) else {
        return Ok(());
    };
    let [h, w, _] = layout.shape;
    let mut obs = ObsBuf::for_space(env.observation_space());
    let mut panels = Vec::new();
    for k in 0..PICTURED {
        env.reset(Some(spelunk_grpo::EVAL_SEEDS + k), None, obs.as_mut())?;
        let row = t.policy_input(obs.view())?;
        let Some(xy) = t.policy.keypoints(&row)? else {
            return Ok(());
        };
        let xy = xy
            .flatten_all()
            .and_then(|v| v.to_vec1::<f32>())
            .map_err(spelunk_models::Error::from)?;
        let values = obs.as_f32().context("arm observations are f32")?;
        panels.push(raster::KeypointPanel {
            width: w,
            height: h,
            rgb: values[layout.offset..layout.offset + h * w * 3]
                .iter()
                .map(|&v| v.clamp(0.0, 255.0) as u8)
                .collect(),
            points: xy.chunks(2).map(|p| (p[0], p[1])).collect(),
            caption: env.mission().unwrap_or_default().to_owned(),
        });
    }
    let title = format!("What the head looks at: its keypoints at the first step, {}", base.env);
    let png = raster::keypoint_panels(&title, &panels, 10);
    raster::write(&out.join(format!("{stem}_keypoints.png")), &png)
}

fn write_charts(r: &Report, out: &Path, stem: &str) -> Result<()> {
    let bc: Vec<Series> = r
        .runs
        .iter()
        .map(|run| Series {
            label: format!("seed {}", run.seed),
            points: run
                .bc
                .iter()
                .enumerate()
                .map(|(k, e)| ((k + 1) as f64, e.holdout_accuracy))
                .collect(),
        })
        .collect();
    let png = raster::line_chart(
        "Behaviour cloning: held-out action tokens",
        "epoch",
        "share of tokens the head's most likely",
        &bc,
    );
    raster::write(&out.join(format!("{stem}_cloning.png")), &png)?;
    let rl: Vec<Series> = r
        .runs
        .iter()
        .map(|run| Series { label: format!("seed {}", run.seed), points: run.rl_curve.clone() })
        .collect();
    let png = raster::line_chart(
        &format!("{} fine-tuning after cloning, {}", r.algorithm, r.env),
        "env steps",
        "success rate (sampled)",
        &rl,
    );
    raster::write(&out.join(format!("{stem}_rl.png")), &png)
}

fn table(r: &Report) -> String {
    let k = r.runs.len().max(1) as f64;
    let mean = |f: &dyn Fn(&BcRun) -> f64| r.runs.iter().map(f).sum::<f64>() / k;
    let mut md = format!(
        "# The VLA head: behaviour cloning, then RL\n\n`spelunk train --experiment vla-bc` \
         on {} (config {}): {} scripted episodes ({} frames; the controller succeeded in \
         {:.1}%) as a LeRobot dataset, {} epochs of behaviour cloning (batch {}, {:.0}% of \
         episodes held out), then {} iterations of {}{}. Success: {} within 5 cm of the \
         instructed target at the last step, on {} unseen seeds.\n\n\
         | seed | cloning: sampled | cloning: greedy | after RL: sampled | after RL: greedy \
         | held-out token accuracy | cloning minutes: wall / CPU | RL minutes: wall / CPU \
         | MLP on the state, cloned: sampled / greedy |\n|---|---|---|---|---|---|---|---|---|\n",
        r.env,
        r.env_config.as_ref().map_or("{}".to_owned(), ToString::to_string),
        r.demo_episodes,
        r.demo_frames,
        r.demo_success * 100.0,
        r.bc.epochs,
        r.bc.batch,
        r.bc.holdout * 100.0,
        r.iterations,
        r.algorithm,
        held_by(r),
        if r.env == "Arm-Reach-v0" { "the gripper" } else { "the object" },
        r.eval_episodes,
    );
    for run in &r.runs {
        md.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} / {} | {:.1} / {} | {:.3} / \
             {:.3} |\n",
            run.seed,
            run.bc_success,
            run.bc_success_greedy,
            run.final_success,
            run.final_success_greedy,
            run.bc.last().map_or(f64::NAN, |e| e.holdout_accuracy),
            run.bc_seconds / 60.0,
            minutes(run.bc_cpu_seconds),
            run.rl_seconds / 60.0,
            minutes(run.rl_cpu_seconds),
            run.state_success,
            run.state_success_greedy,
        ));
    }
    md.push_str(&format!(
        "| mean | {:.3} | {:.3} | {:.3} | {:.3} | | | | |\n",
        mean(&|x| x.bc_success),
        mean(&|x| x.bc_success_greedy),
        mean(&|x| x.final_success),
        mean(&|x| x.final_success_greedy),
    ));
    if let Some(s) = r.record_seconds {
        md.push_str(&format!(
            "\nRecording the demonstrations took {s:.1} s wall-clock, {} min of CPU.\n",
            minutes(r.record_cpu_seconds)
        ));
    }
    md
}

/// What holds fine-tuning near the cloned head, for the table's sentence: a KL term to it
/// and the demonstrations' token loss kept in the RL loss, with their weights.
fn held_by(r: &Report) -> String {
    let mut parts = Vec::new();
    if r.rl_kl_coef > 0.0 {
        parts.push(format!("a KL term to the cloned head (β = {})", r.rl_kl_coef));
    }
    if r.bc.rl_coef > 0.0 {
        parts.push(format!(
            "the demonstrations' token loss kept in the loss (weight {}, {} frames a step)",
            r.bc.rl_coef, r.bc.rl_batch
        ));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" with {}", parts.join(" and "))
    }
}

/// CPU seconds as minutes for the table (`n/a` where the platform gave none).
fn minutes(s: Option<f64>) -> String {
    s.map_or_else(|| "n/a".to_owned(), |s| format!("{:.1}", s / 60.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spelunk_core::{Action, Env as _, ObsBuf};
    use spelunk_sims::arm::{ArmTask, Scripted};

    /// The scripted controller's Reach episodes (three targets, a camera) written as a
    /// LeRobot dataset and read back give, frame by frame, the observations of the same
    /// episodes played again live; without noise the actions are the ones played, with
    /// DART's noise they are the controller's action in each recorded state while the states
    /// themselves move off the noise-free path.
    #[test]
    fn demonstrations_read_back_as_the_live_episodes_with_and_without_noise() {
        let table: toml::Table = toml::from_str(BASE).unwrap();
        let base = crate::config::train_config_from(table, None, &[]).unwrap();
        let cfg = base.env_config.clone().unwrap();
        let mut env = crate::registry().make_with(&base.env, &cfg).unwrap();
        let dim = env.observation_space().flat_len();
        let mut rows = Vec::new();
        for noise in [0.0, 0.5] {
            let dir =
                std::env::temp_dir().join(format!("spelunk-vla-bc-{}-{noise}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let ok = record_demos(&base, &dir, 3, noise).unwrap();
            let ds = spelunk_dataset::Dataset::open(&dir).unwrap();
            let obs = ds.observations_for(env.as_ref()).unwrap();
            let actions = ds.actions_for(env.as_ref()).unwrap();
            assert_eq!(ds.episodes.len(), 3);
            for f in 0..ds.len() {
                let want = Scripted::new().act(ArmTask::Reach, &obs[f * dim..(f + 1) * dim]);
                assert_eq!(actions[f * 4..f * 4 + 4], want, "frame {f}");
            }
            if noise == 0.0 {
                assert_eq!(ok, vec![true; 3]);
                let mut buf = ObsBuf::for_space(env.observation_space());
                for e in &ds.episodes {
                    env.reset(Some(DEMO_SEEDS + e.index as u64), None, buf.as_mut()).unwrap();
                    assert_eq!(ds.tasks[ds.task_of[e.from]], env.mission().unwrap());
                    for f in e.from..e.from + e.length {
                        assert_eq!(
                            &obs[f * dim..(f + 1) * dim],
                            buf.as_f32().unwrap(),
                            "frame {f}"
                        );
                        env.step(Action::Continuous(&actions[f * 4..f * 4 + 4]), buf.as_mut())
                            .unwrap();
                    }
                }
            }
            rows.push(obs);
            std::fs::remove_dir_all(&dir).unwrap();
        }
        // The first frames (reset) agree; the noisy episodes then leave the noise-free path.
        assert_eq!(rows[0][..dim], rows[1][..dim]);
        assert_ne!(rows[0][dim..2 * dim], rows[1][dim..2 * dim]);
    }

    /// The keypoint picture: one panel per pictured seed with the encoder's keypoints; a
    /// patch encoder has no keypoints and writes none.
    #[test]
    fn the_keypoint_picture_shows_each_seed_and_only_for_keypoint_heads() {
        let dir = std::env::temp_dir().join(format!("spelunk-vla-kp-{}", std::process::id()));
        create_dir(&dir).unwrap();
        for encoder in ["keypoints", "patches"] {
            let table: toml::Table = toml::from_str(BASE).unwrap();
            let sets = [format!("policy.vla.encoder=\"{encoder}\""), "threads=1".into()];
            let base = crate::config::train_config_from(table, None, &sets).unwrap();
            let t = crate::train::trainer(base.clone()).unwrap();
            write_keypoints(&t, &base, &dir, encoder).unwrap();
            let png = dir.join(format!("{encoder}_keypoints.png"));
            if encoder == "patches" {
                assert!(!png.exists());
                continue;
            }
            let bytes = std::fs::read(&png).unwrap();
            assert_eq!(bytes[..8], *b"\x89PNG\r\n\x1a\n");
            // Width from the header: 4 panels of 24 × 10 px with 16 px gaps.
            let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
            assert_eq!(u64::from(width), PICTURED * (240 + 16) + 16);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn report_stems_name_the_task_the_arm_and_its_control() {
        use serde_json::json;
        assert_eq!(stem("Arm-Reach-v0", None), "vla_bc");
        assert_eq!(stem("Arm-Push-v0", Some(&json!({"targets": 3}))), "vla_bc_push");
        let joints = json!({"robot": {"urdf": "fetch7", "control": "joint_deltas"}});
        assert_eq!(stem("Arm-Reach-v0", Some(&joints)), "vla_bc_fetch7_joint_deltas");
        let own = json!({"robot": {"urdf": "arms/my arm.urdf"}});
        assert_eq!(stem("Arm-Push-v0", Some(&own)), "vla_bc_push_my_arm");
    }

    /// A joint-space arm's demonstrations: each recorded action is the scripted controller's
    /// end-effector action in that state through `joint_action_for` (one value per arm joint,
    /// then the gripper), and replaying them live gives the recorded observations.
    #[test]
    fn joint_space_demonstrations_are_the_controllers_actions_through_the_ik() {
        for control in ["joints", "joint_deltas"] {
            joint_space_demonstrations(control);
        }
    }

    fn joint_space_demonstrations(control: &str) {
        let mut table: toml::Table = toml::from_str(BASE).unwrap();
        let robot: toml::Table =
            toml::from_str(&format!("urdf = \"fetch7\"\ncontrol = \"{control}\"")).unwrap();
        table["env_config"].as_table_mut().unwrap().insert("robot".into(), robot.into());
        let base = crate::config::train_config_from(table, None, &[]).unwrap();
        let cfg = base.env_config.clone().unwrap();
        let mut env = spelunk_sims::arm::make(&base.env, &cfg).unwrap();
        let dim = env.observation_space().flat_len();
        let n = env.action_space().flat_len();
        assert_eq!(n, 8, "7 joints and the gripper");
        let dir =
            std::env::temp_dir().join(format!("spelunk-vla-bc-{control}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(record_demos(&base, &dir, 2, 0.0).unwrap(), vec![true; 2], "{control}");
        let ds = spelunk_dataset::Dataset::open(&dir).unwrap();
        let obs = ds.observations_for(&env).unwrap();
        let actions = ds.actions_for(&env).unwrap();
        let mut buf = ObsBuf::for_space(env.observation_space());
        for e in &ds.episodes {
            env.reset(Some(DEMO_SEEDS + e.index as u64), None, buf.as_mut()).unwrap();
            let mut ctl = Scripted::new();
            for f in e.from..e.from + e.length {
                let live = buf.as_f32().unwrap();
                assert_eq!(&obs[f * dim..(f + 1) * dim], live, "{control} frame {f}");
                let ee = ctl.act(ArmTask::Reach, live);
                let want = env.joint_action_for(&ee).unwrap();
                assert_eq!(actions[f * n..(f + 1) * n], want[..], "{control} frame {f}");
                env.step(Action::Continuous(&want), buf.as_mut()).unwrap();
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
