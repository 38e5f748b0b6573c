//! `spelunk envs`: the registered ids with their spaces.

use anyhow::Result;
use clap::Args;

/// Arguments of `spelunk envs`.
#[derive(Args)]
pub struct EnvsArgs {
    /// Only ids containing this text (case-insensitive).
    filter: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &EnvsArgs) -> Result<()> {
    let reg = spelunk_experiments::registry();
    let mut rows = Vec::new();
    for entry in reg.entries() {
        if let Some(f) = &args.filter {
            if !entry.id.to_lowercase().contains(&f.to_lowercase()) {
                continue;
            }
        }
        let env = reg.make(&entry.id)?;
        rows.push(serde_json::json!({
            "id": entry.id,
            "family": entry.family,
            "observation_space": env.observation_space().to_string(),
            "action_space": env.action_space().to_string(),
            "max_episode_steps": env.max_episode_steps(),
            "description": entry.description,
        }));
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    outln!("{:<34} {:<10} {:<14} {:>6}  observation space", "id", "family", "actions", "steps");
    for r in &rows {
        outln!(
            "{:<34} {:<10} {:<14} {:>6}  {}",
            r["id"].as_str().unwrap_or(""),
            r["family"].as_str().unwrap_or(""),
            r["action_space"].as_str().unwrap_or(""),
            r["max_episode_steps"].as_u64().map_or("-".to_owned(), |n| n.to_string()),
            r["observation_space"].as_str().unwrap_or(""),
        );
    }
    outln!("{} environments", rows.len());
    Ok(())
}
