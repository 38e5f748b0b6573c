//! `spelunk dataset DIR`: a LeRobot dataset read whole and checked, summarised; with `--env`,
//! checked against the env that is to use it.
//!
//! ```sh
//! spelunk record Arm-Reach-v0 --policy scripted --episodes 100 --lerobot demos/reach
//! spelunk dataset demos/reach --env Arm-Reach-v0
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// Arguments of `spelunk dataset`.
#[derive(Args, Debug)]
pub struct DatasetArgs {
    /// The dataset's folder (LeRobot's v3.0 layout).
    dir: PathBuf,
    /// Check every feature the env needs against it (observation members, action), with the
    /// config the dataset was recorded with when it says so.
    #[arg(long)]
    env: Option<String>,
}

/// Run `spelunk dataset`.
pub fn run(args: &DatasetArgs) -> Result<()> {
    let ds = spelunk_dataset::Dataset::open(&args.dir)?;
    let recorded = ds.env.as_ref().map_or_else(
        || "not recorded by spelunk".to_owned(),
        |(id, cfg)| match cfg {
            Some(c) => format!("{id} with {c}"),
            None => id.clone(),
        },
    );
    let mut out = format!(
        "{}: {} episodes, {} frames at {} fps, {} tasks; env: {recorded}\n",
        args.dir.display(),
        ds.episodes.len(),
        ds.len(),
        ds.fps,
        ds.tasks.len()
    );
    for (key, dtype, shape) in &ds.features {
        out.push_str(&format!("  {key:<28} {dtype:<8} {shape:?}\n"));
    }
    for (k, t) in ds.tasks.iter().enumerate().take(10) {
        out.push_str(&format!("  task {k}: {t}\n"));
    }
    if let Some(id) = &args.env {
        let config = match &ds.env {
            Some((recorded, cfg)) if recorded == id => cfg.clone(),
            _ => None,
        };
        let env = spelunk_experiments::registry()
            .make_with(id, config.as_ref().unwrap_or(&serde_json::Value::Null))?;
        let obs = ds.observations_for(env.as_ref())?;
        let actions = ds.actions_for(env.as_ref())?;
        out.push_str(&format!(
            "fits {id}: {} observation values and {} action values per frame\n",
            obs.len() / ds.len().max(1),
            actions.len() / ds.len().max(1)
        ));
    }
    out!("{out}");
    Ok(())
}
