//! `spelunk explore --experiment stax`: STAX against novelty search on the hand-designed
//! (ground-truth) descriptor, TAXONS alone and random search, on the deceptive maze, the
//! redundant arm and the curling table — same evaluation budget, same seeds. Writes
//! `stax.json`, `stax.md` and one coverage-over-evaluations PNG per task.

use crate::error::{bail, create_dir, write_file, Context as _, Result};
use serde::Serialize;
use spelunk_intrinsic::novelty::{self, tasks, Method, NoveltyConfig, Report};

use super::ExploreConfig;
use crate::report::{mean_std, raster, svg::Series};

/// Default evaluations per run.
pub const DEFAULT_EVALUATIONS: usize = 20_000;

#[derive(Serialize)]
struct Run {
    #[serde(flatten)]
    report: Report,
    seconds: f64,
}

/// Run the experiment.
pub fn run(args: &ExploreConfig, observer: &mut dyn spelunk_core::Observer) -> Result<String> {
    let evaluations = args.evaluations.unwrap_or(DEFAULT_EVALUATIONS);
    let names: Vec<&str> = if args.settings.is_empty() {
        tasks::NAMES.to_vec()
    } else {
        args.settings.iter().map(String::as_str).collect()
    };
    let mut task_list = Vec::new();
    for n in &names {
        match tasks::by_name(n) {
            Some(t) => task_list.push(t),
            None => bail!("unknown STAX task `{n}`; the tasks are {}", tasks::NAMES.join(", ")),
        }
    }
    let pb =
        crate::observers::progress_bar((task_list.len() * Method::ALL.len()) as u64 * args.seeds);
    let mut runs: Vec<Run> = Vec::new();
    for task in &task_list {
        for method in Method::ALL {
            for seed in 0..args.seeds {
                pb.set_message(format!("{}: {} seed {seed}", task.name(), method.name()));
                let cfg = NoveltyConfig {
                    evaluations,
                    report_every: (evaluations / 40).max(1),
                    seed,
                    threads: args.threads,
                    ..NoveltyConfig::default()
                };
                let t = std::time::Instant::now();
                if observer.wants_archive() {
                    // Each search is a run of its own to observers (its outcomes per generation).
                    observer.run_started(&spelunk_core::RunStarted {
                        kind: format!("stax/{}/{}/seed{seed}", task.name(), method.name()),
                        env_id: None,
                        config: serde_json::to_value(&cfg)?,
                        seed,
                        commit: option_env!("SPELUNK_COMMIT").map(str::to_owned),
                        start_iteration: 0,
                        budget: evaluations as u64,
                        budget_unit: spelunk_core::BudgetUnit::Iterations,
                    })?;
                }
                let report = novelty::run_observed(task.as_ref(), method, &cfg, observer)
                    .with_context(|| format!("{} on {} seed {seed}", method.name(), task.name()))?;
                runs.push(Run { report, seconds: t.elapsed().as_secs_f64() });
                pb.inc(1);
            }
        }
    }
    pb.finish_and_clear();
    create_dir(&args.out)?;
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "experiment": "stax",
        "evaluations_per_run": evaluations,
        "seeds": args.seeds,
        "config": NoveltyConfig { evaluations, ..NoveltyConfig::default() },
        "runs": runs,
    }))?;
    write_file(&args.out.join("stax.json"), json)?;

    let mut md = format!(
        "# STAX, TAXONS, novelty search and random search\n\n`spelunk explore --experiment stax --seeds {}` ({evaluations} evaluations per run; mean ± std over\nseeds). Coverage and uniformity over a 50 × 50 grid of the ground-truth outcome space\n(reachable cells), counting every evaluation a method spent; areas: reward areas reached\n(of the task's); best reward: mean over the task's areas of the best reward reached in each\n(0 where none; 1 is an area's centre). NS-GT knows the ground-truth descriptor; TAXONS and\nSTAX learn theirs from final frames.\n\n| task | method | coverage | uniformity | areas | best reward | emitter evals | seconds |\n|---|---|---:|---:|---:|---:|---:|---:|\n",
        args.seeds
    );
    for task in &task_list {
        for method in Method::ALL {
            let rs: Vec<&Run> = runs
                .iter()
                .filter(|r| r.report.task == task.name() && r.report.method == method.name())
                .collect();
            let col =
                |f: &dyn Fn(&Run) -> f64| mean_std(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
            let cov = col(&|r| r.report.last().coverage);
            let uni = col(&|r| r.report.last().uniformity);
            let areas = col(&|r| r.report.last().areas_found as f64);
            let best = col(&|r| {
                let b = &r.report.last().best_reward;
                b.iter().map(|v| f64::from(*v)).sum::<f64>() / b.len().max(1) as f64
            });
            let em = col(&|r| r.report.emitter_evaluations as f64);
            let secs = col(&|r| r.seconds);
            md.push_str(&format!(
                "| {} | {} | {:.3} ± {:.3} | {:.3} ± {:.3} | {:.1} / {} | {:.2} ± {:.2} | {:.0} | {:.1} |\n",
                task.name(),
                method.name(),
                cov.0,
                cov.1,
                uni.0,
                uni.1,
                areas.0,
                task.areas().len(),
                best.0,
                best.1,
                em.0,
                secs.0
            ));
        }
    }
    write_file(&args.out.join("stax.md"), &md)?;
    for task in &task_list {
        let series: Vec<Series> = Method::ALL
            .iter()
            .map(|m| {
                let rs: Vec<&Run> = runs
                    .iter()
                    .filter(|r| r.report.task == task.name() && r.report.method == m.name())
                    .collect();
                let len = rs.iter().map(|r| r.report.curve.len()).min().unwrap_or(0);
                let points = (0..len)
                    .map(|i| {
                        let x = rs[0].report.curve[i].evaluations as f64;
                        let y = rs.iter().map(|r| r.report.curve[i].coverage).sum::<f64>()
                            / rs.len() as f64;
                        (x, y)
                    })
                    .collect();
                Series { label: m.name().to_owned(), points }
            })
            .collect();
        let png = raster::line_chart(
            &format!("{}: coverage of the 50x50 outcome grid", task.name()),
            "evaluations",
            "coverage (mean over seeds)",
            &series,
        );
        raster::write(&args.out.join(format!("stax_{}.png", task.name())), &png)?;
    }
    Ok(md)
}
