//! Hard-exploration coverage: reward-free runs on `MiniGrid-MultiRoom-N6-v0` and
//! `Montezuma-Lite-v0`, for each bonus and a random-action baseline, same budget and seeds.
//! The measure is what each env visits over the whole run: distinct cells (MultiRoom: grid
//! positions; Montezuma: room and position) and distinct rooms, mean over the 8 envs.
//!
//! MultiRoom generates a new layout at every reset, so each env resets with its own fixed
//! seed (`1000·seed + env`) and keeps one layout for the run; the 8 envs give 8 layouts.
//! Montezuma-Lite is one fixed level.

use std::collections::HashSet;

use crate::error::{bail, write_file, Result};
use serde::Serialize;
use spelunk_core::{Digest, Info};

use super::{one_hot, run_agent, ExploreConfig, Method, Probe, NUM_ENVS};
use crate::report::{mean_curve, mean_std, raster, svg::Series};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Setting {
    Multiroom,
    Montezuma,
}

const SETTINGS: [(Setting, &str, &str); 2] = [
    (Setting::Multiroom, "multiroom", "MiniGrid-MultiRoom-N6-v0"),
    (Setting::Montezuma, "montezuma", "Montezuma-Lite-v0"),
];

// MultiRoom: 7×7×3 image and direction, on a 25×25 grid.
const MR_RAW: usize = 148;
const MR_GRID: usize = 25;
// Montezuma-Lite: 9×9 view (tile codes ≤ 18) and 9 status bytes; rooms ≤ 16, positions < 32.
const MZ_VIEW: usize = 81;
const MZ_RAW: usize = 90;
const MZ_ROOMS: usize = 16;
const MZ_POS: usize = 32;

#[derive(Serialize)]
struct Run {
    method: Method,
    setting: Setting,
    seed: u64,
    /// Distinct cells visited during the run, mean over the 8 envs.
    cells: f64,
    /// Distinct rooms visited during the run, mean over the 8 envs.
    rooms: f64,
    /// (env steps, distinct cells so far, mean over the envs).
    curve: Vec<(usize, f64)>,
    /// (env steps, distinct rooms so far, mean over the envs).
    rooms_curve: Vec<(usize, f64)>,
    /// Some env took the treasure.
    treasure: bool,
    /// The most rooms one env visited.
    max_rooms: usize,
}

/// How far a bonus agent gets on Montezuma-Lite with a budget.
#[derive(Serialize)]
pub(super) struct Reach {
    pub method: &'static str,
    pub seed: u64,
    /// The most rooms one of the 8 envs visited.
    pub rooms: usize,
    /// Some env took the treasure.
    pub treasure: bool,
}

/// Run a bonus agent on Montezuma-Lite for `steps` env steps (over its 8 envs).
pub(super) fn montezuma_reach(method: Method, seed: u64, steps: usize) -> Result<Reach> {
    let r = run_one(method, Setting::Montezuma, "Montezuma-Lite-v0", None, seed, steps)?;
    Ok(Reach { method: method.label(), seed, rooms: r.max_rooms, treasure: r.treasure })
}

struct Coverage {
    setting: Setting,
    id: &'static str,
    seed: u64,
    cells: Vec<HashSet<u64>>,
    rooms: Vec<HashSet<u32>>,
    curve: Vec<(usize, f64)>,
    rooms_curve: Vec<(usize, f64)>,
    /// Some env took the treasure (Montezuma) or reached the goal.
    treasure: bool,
}

impl Coverage {
    fn mean_cells(&self) -> f64 {
        self.cells.iter().map(HashSet::len).sum::<usize>() as f64 / NUM_ENVS as f64
    }
    fn mean_rooms(&self) -> f64 {
        self.rooms.iter().map(HashSet::len).sum::<usize>() as f64 / NUM_ENVS as f64
    }
}

fn pos(info: &Info) -> (u64, u64) {
    (info.x.unwrap_or(0).max(0) as u64, info.y.unwrap_or(0).max(0) as u64)
}

impl Probe for Coverage {
    fn env_id(&self) -> &str {
        self.id
    }
    fn obs_dim(&self) -> usize {
        match self.setting {
            Setting::Multiroom => MR_RAW + 2 * MR_GRID,
            Setting::Montezuma => MZ_RAW + MZ_ROOMS + 2 * MZ_POS,
        }
    }
    fn features(&self, raw: &[u8], info: &Info, out: &mut [f32]) {
        let (x, y) = (i64::from(info.x.unwrap_or(0)), i64::from(info.y.unwrap_or(0)));
        match self.setting {
            Setting::Multiroom => {
                for (i, (o, &b)) in out.iter_mut().zip(raw).enumerate() {
                    *o = if i < MR_RAW - 1 { f32::from(b) / 10.0 } else { f32::from(b) / 3.0 };
                }
                one_hot(&mut out[MR_RAW..MR_RAW + MR_GRID], x);
                one_hot(&mut out[MR_RAW + MR_GRID..], y);
            }
            Setting::Montezuma => {
                for (i, (o, &b)) in out.iter_mut().zip(raw).enumerate() {
                    *o = if i < MZ_VIEW { f32::from(b) / 18.0 } else { f32::from(b) / 255.0 };
                }
                let room = i64::from(info.room.unwrap_or(0));
                one_hot(&mut out[MZ_RAW..MZ_RAW + MZ_ROOMS], room);
                one_hot(&mut out[MZ_RAW + MZ_ROOMS..MZ_RAW + MZ_ROOMS + MZ_POS], x);
                one_hot(&mut out[MZ_RAW + MZ_ROOMS + MZ_POS..], y);
            }
        }
    }
    fn key(&self, env: usize, raw: &[u8], info: &Info) -> u64 {
        let (x, y) = pos(info);
        match self.setting {
            // Each env keeps its own layout, so the env is part of the state; the view tells
            // which doors in sight are open, which position and direction alone do not.
            Setting::Multiroom => {
                let mut d = Digest::new();
                d.u64(
                    (env as u64) << 40 | u64::from(info.direction.unwrap_or(0)) << 32 | y << 16 | x,
                );
                d.bytes(raw);
                d.value()
            }
            Setting::Montezuma => {
                u64::from(info.level.unwrap_or(0)) << 56
                    | (info.inventory.unwrap_or(0) & 0xFFFF) << 40
                    | u64::from(info.room.unwrap_or(0)) << 32
                    | y << 16
                    | x
            }
        }
    }
    fn reset_seed(&self, env: usize) -> Option<u64> {
        match self.setting {
            Setting::Multiroom => Some(self.seed * 1000 + env as u64),
            Setting::Montezuma => None,
        }
    }
    fn record(&mut self, env: usize, info: &Info) {
        let (x, y) = pos(info);
        let room = info.room.unwrap_or(0);
        self.cells[env].insert(u64::from(room) << 32 | y << 16 | x);
        self.rooms[env].insert(room);
        self.treasure |= info.is_success == Some(true);
    }
    fn sample(&mut self, t: usize) {
        self.curve.push((t, self.mean_cells()));
        self.rooms_curve.push((t, self.mean_rooms()));
    }
}

fn run_one(
    method: Method,
    setting: Setting,
    id: &'static str,
    env_config: Option<&serde_json::Value>,
    seed: u64,
    steps: usize,
) -> Result<Run> {
    let mut task = Coverage {
        setting,
        id,
        seed,
        cells: vec![HashSet::new(); NUM_ENVS],
        rooms: vec![HashSet::new(); NUM_ENVS],
        curve: Vec::new(),
        rooms_curve: Vec::new(),
        treasure: false,
    };
    run_agent(&mut task, env_config, method, seed, steps)?;
    Ok(Run {
        treasure: task.treasure,
        max_rooms: task.rooms.iter().map(HashSet::len).max().unwrap_or(0),
        method,
        setting,
        seed,
        cells: task.mean_cells(),
        rooms: task.mean_rooms(),
        curve: task.curve,
        rooms_curve: task.rooms_curve,
    })
}

/// (cells, rooms) of a short MultiRoom run, for tests.
#[cfg(test)]
pub(super) fn run_one_for_test(method: Method, seed: u64, steps: usize) -> Result<(f64, f64)> {
    let r = run_one(method, Setting::Multiroom, "MiniGrid-MultiRoom-N6-v0", None, seed, steps)?;
    Ok((r.cells, r.rooms))
}

pub(super) fn run(args: &ExploreConfig) -> Result<String> {
    let methods = args.methods();
    let steps = args.steps.unwrap_or(400_000);
    for s in &args.settings {
        if !SETTINGS.iter().any(|(_, name, _)| name == s) {
            bail!("unknown setting `{s}`; coverage settings are multiroom, montezuma");
        }
    }
    let settings: Vec<(Setting, &'static str, &'static str)> = SETTINGS
        .iter()
        .copied()
        .filter(|(_, name, _)| args.settings.is_empty() || args.settings.iter().any(|s| s == name))
        .collect();
    let named: Vec<((Setting, &'static str), &str)> =
        settings.iter().map(|&(setting, name, id)| ((setting, id), name)).collect();
    let runs = super::run_all(&named, &methods, args.seeds, |(setting, id), m, seed| {
        run_one(m, setting, id, args.env_config.as_ref(), seed, steps)
    })?;
    super::write_json(args, "coverage", steps, &runs)?;
    let mut table = format!(
        "# Reward-free coverage: distinct cells and rooms visited\n\n`spelunk explore --experiment coverage --seeds {} --steps {steps}` — mean ± standard deviation over\n{} seeds of the distinct cells and rooms each env visits during a run of {steps} env steps (8 envs,\n{} steps each), mean over the envs. Random: uniform random actions, same budget and seeds.\n\n| method |",
        args.seeds,
        args.seeds,
        steps / NUM_ENVS
    );
    for &(_, _, id) in &settings {
        table.push_str(&format!(" {id}: cells | rooms |"));
    }
    table.push_str("\n|---|");
    table.push_str(&"---:|---:|".repeat(settings.len()));
    table.push('\n');
    let stat = |xs: &[f64]| {
        let (mean, sd) = mean_std(xs);
        format!("{mean:.1} ± {sd:.1}")
    };
    for &m in &methods {
        table.push_str(&format!("| {} |", m.label()));
        for &(setting, _, _) in &settings {
            let rs: Vec<&Run> =
                runs.iter().filter(|r| r.method == m && r.setting == setting).collect();
            let cells: Vec<f64> = rs.iter().map(|r| r.cells).collect();
            let rooms: Vec<f64> = rs.iter().map(|r| r.rooms).collect();
            table.push_str(&format!(" {} | {} |", stat(&cells), stat(&rooms)));
        }
        table.push('\n');
    }
    write_file(&args.out.join("coverage.md"), &table)?;
    for &(setting, name, id) in &settings {
        let series = |rooms: bool| -> Vec<Series> {
            methods
                .iter()
                .map(|&m| {
                    let curves: Vec<&Vec<(usize, f64)>> = runs
                        .iter()
                        .filter(|r| r.method == m && r.setting == setting)
                        .map(|r| if rooms { &r.rooms_curve } else { &r.curve })
                        .collect();
                    Series { label: m.label().to_owned(), points: mean_curve(&curves) }
                })
                .collect()
        };
        let png = raster::line_chart(
            &format!("{id}: coverage"),
            "env steps",
            "distinct cells per env",
            &series(false),
        );
        raster::write(&args.out.join(format!("coverage_{name}.png")), &png)?;
        let png = raster::line_chart(
            &format!("{id}: rooms"),
            "env steps",
            "distinct rooms per env",
            &series(true),
        );
        raster::write(&args.out.join(format!("coverage_{name}_rooms.png")), &png)?;
    }
    Ok(format!("{table}wrote {}/coverage.{{json,md}} and coverage_*.png", args.out.display()))
}
