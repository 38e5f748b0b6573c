//! The noisy-TV experiment: for each bonus and a random-action baseline, in each of the four
//! noise settings of the noisy-TV maze, the distinct trackers each env finds over the run and
//! the fraction of steps spent watching the TV; a JSON file, a Markdown table and SVG plots
//! (trackers found over env steps, per setting).

use crate::error::{bail, write_file, Result};
use serde::Serialize;
use spelunk_core::Info;

use super::{one_hot, run_agent, ExploreConfig, Method, Probe, NUM_ENVS};
use crate::report::{mean_curve, raster, svg::Series};

const SETTINGS: [(&str, &str); 4] = [
    ("none", "NoisyTV-Maze-None-v0"),
    ("brownian", "NoisyTV-Maze-Brownian-v0"),
    ("pixel_noise", "NoisyTV-Maze-PixelNoise-v0"),
    ("remote", "NoisyTV-Maze-Remote-v0"),
];
const RAW_DIM: usize = 41;
const SIZE: usize = 15;

#[derive(Serialize)]
pub(super) struct Run {
    method: Method,
    setting: &'static str,
    seed: u64,
    /// Distinct trackers found during the run (of 4), mean over the 8 envs.
    trackers_found: f64,
    /// Fraction of all steps spent watching the TV.
    pub(super) watching_fraction: f64,
    /// (env steps, distinct trackers found so far, mean over the envs).
    pub(super) curve: Vec<(usize, f64)>,
}

struct NoisyTv {
    id: &'static str,
    discovered: [u64; NUM_ENVS],
    watching: usize,
    total: usize,
    curve: Vec<(usize, f64)>,
}

impl NoisyTv {
    fn found(&self) -> f64 {
        self.discovered.iter().map(|m| f64::from(m.count_ones())).sum::<f64>() / NUM_ENVS as f64
    }
}

impl Probe for NoisyTv {
    fn env_id(&self) -> &str {
        self.id
    }
    fn obs_dim(&self) -> usize {
        RAW_DIM + 2 * SIZE
    }
    fn features(&self, raw: &[u8], info: &Info, out: &mut [f32]) {
        for (i, (o, &b)) in out.iter_mut().zip(raw).enumerate() {
            *o = if i < 25 { f32::from(b) / 5.0 } else { f32::from(b) / 255.0 };
        }
        one_hot(&mut out[RAW_DIM..RAW_DIM + SIZE], i64::from(info.x.unwrap_or(0)));
        one_hot(&mut out[RAW_DIM + SIZE..], i64::from(info.y.unwrap_or(0)));
    }
    fn key(&self, _env: usize, _raw: &[u8], info: &Info) -> u64 {
        (info.y.unwrap_or(0) * SIZE as i32 + info.x.unwrap_or(0)) as u64
    }
    fn reset_seed(&self, _env: usize) -> Option<u64> {
        None
    }
    fn record(&mut self, env: usize, info: &Info) {
        self.watching += usize::from(info.watching_tv == Some(true));
        self.total += 1;
        self.discovered[env] |= info.inventory.unwrap_or(0);
    }
    fn sample(&mut self, t: usize) {
        self.curve.push((t, self.found()));
    }
}

pub(super) fn run_one(
    method: Method,
    setting: &'static str,
    id: &'static str,
    env_config: Option<&serde_json::Value>,
    seed: u64,
    steps: usize,
) -> Result<Run> {
    let mut task =
        NoisyTv { id, discovered: [0; NUM_ENVS], watching: 0, total: 0, curve: Vec::new() };
    run_agent(&mut task, env_config, method, seed, steps)?;
    Ok(Run {
        method,
        setting,
        seed,
        trackers_found: task.found(),
        watching_fraction: task.watching as f64 / task.total.max(1) as f64,
        curve: task.curve,
    })
}

pub(super) fn run(args: &ExploreConfig) -> Result<String> {
    let methods = args.methods();
    let steps = args.steps.unwrap_or(40_000);
    for s in &args.settings {
        if !SETTINGS.iter().any(|(name, _)| name == s) {
            bail!("unknown setting `{s}`; settings are none, brownian, pixel_noise, remote");
        }
    }
    let settings: Vec<(&'static str, &'static str)> = SETTINGS
        .iter()
        .copied()
        .filter(|(name, _)| args.settings.is_empty() || args.settings.iter().any(|s| s == name))
        .collect();
    let named: Vec<((&'static str, &'static str), &str)> =
        settings.iter().map(|&(name, id)| ((name, id), name)).collect();
    let runs = super::run_all(&named, &methods, args.seeds, |(setting, id), m, seed| {
        run_one(m, setting, id, args.env_config.as_ref(), seed, steps)
    })?;
    super::write_json(args, "noisy_tv", steps, &runs)?;
    let table = summary(&runs, &methods, &settings, args.seeds, steps);
    write_file(&args.out.join("noisy_tv.md"), &table)?;
    for &(setting, _) in &settings {
        let series: Vec<Series> = methods
            .iter()
            .map(|&m| {
                let curves: Vec<&Vec<(usize, f64)>> = runs
                    .iter()
                    .filter(|r| r.method == m && r.setting == setting)
                    .map(|r| &r.curve)
                    .collect();
                Series { label: m.label().to_owned(), points: mean_curve(&curves) }
            })
            .collect();
        let title = format!("Noisy-TV maze, noise: {setting}");
        let y = "distinct trackers found (of 4)";
        let png = raster::line_chart(&title, "env steps", y, &series);
        raster::write(&args.out.join(format!("noisy_tv_{setting}.png")), &png)?;
    }
    Ok(format!("{table}wrote {}/noisy_tv.{{json,md}} and noisy_tv_*.png", args.out.display()))
}

fn summary(
    runs: &[Run],
    methods: &[Method],
    settings: &[(&str, &str)],
    seeds: u64,
    steps: usize,
) -> String {
    let mut s = format!(
        "# Noisy-TV maze: trackers found and time spent watching the TV\n\n`spelunk explore --experiment noisy-tv --seeds {seeds} --steps {steps}` — mean over {seeds} seeds of the\ndistinct trackers found during the run (of 4, mean over its 8 envs) and the fraction of all\nsteps spent watching the TV.\n\n| method |"
    );
    for (setting, _) in settings {
        s.push_str(&format!(" {setting}: trackers | {setting}: watching |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|---:|".repeat(settings.len()));
    s.push('\n');
    for &m in methods {
        s.push_str(&format!("| {} |", m.label()));
        for &(setting, _) in settings {
            let rs: Vec<&Run> =
                runs.iter().filter(|r| r.method == m && r.setting == setting).collect();
            let n = rs.len().max(1) as f64;
            let tr = rs.iter().map(|r| r.trackers_found).sum::<f64>() / n;
            let w = rs.iter().map(|r| r.watching_fraction).sum::<f64>() / n;
            s.push_str(&format!(" {tr:.2} | {:.1}% |", 100.0 * w));
        }
        s.push('\n');
    }
    s
}
