//! Replay a demonstration file (as `spelunk explore --method go-explore` writes it: `env`,
//! `seed`, optional `env_config`, `actions`) and print the env's text rendering at the given
//! steps, or at the last step when none are given:
//!
//! ```sh
//! cargo run -p spelunk-envs --example replay_demo -- runs/go-explore/demo.json 870 880
//! ```

use std::error::Error;

use spelunk_core::{Action, ObsBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        return Err("usage: replay_demo DEMO.json [STEP ...]".into());
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let demo: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{path}: not JSON: {e}"))?;
    let steps = args[2..]
        .iter()
        .map(|s| s.parse::<usize>().map_err(|e| format!("step `{s}`: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let id = demo["env"].as_str().ok_or(format!("{path}: no `env`"))?;
    let actions = demo["actions"].as_array().ok_or(format!("{path}: no `actions` list"))?;
    let reg = spelunk_envs::registry();
    let mut env = match demo.get("env_config").filter(|c| !c.is_null()) {
        Some(c) => reg.make_with(id, c)?,
        None => reg.make(id)?,
    };
    let mut obs = ObsBuf::for_space(env.observation_space());
    env.reset(demo["seed"].as_u64(), None, obs.as_mut())?;
    let show = |t: usize, env: &dyn spelunk_core::Env| {
        let i = env.info();
        println!(
            "step {t}: room {:?} x {:?} y {:?} score {:?}\n{}",
            i.room,
            i.x,
            i.y,
            i.score,
            env.render_text().unwrap_or_default()
        );
    };
    for (t, a) in actions.iter().enumerate() {
        if steps.contains(&t) {
            show(t, env.as_ref());
        }
        let a = a.as_i64().ok_or(format!("{path}: action {t} is not an integer"))?;
        let s = env.step(Action::Discrete(a), obs.as_mut())?;
        if s.terminated || s.truncated {
            println!("the episode ends after step {t} (success: {:?})", s.info.is_success);
            break;
        }
    }
    if steps.is_empty() {
        show(actions.len(), env.as_ref());
    }
    Ok(())
}
