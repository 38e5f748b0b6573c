//! `spelunk play ENV`: play an environment in the terminal.
//!
//! On a terminal, keys act at once (arrows turn/move, `p` pick up, `d` drop, `t` toggle,
//! Enter done, space no-op, digits pick an action by index, `r` reset, `q` quit). Without a
//! terminal (a pipe or a script), each input line holds action names or indices separated by
//! spaces, plus `reset` and `quit`, and the state is printed after each action.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use spelunk_core::{Action, Env, EnvStep, EpisodeStarted, ObsBuf, Observer as _, Step};

/// Arguments of `spelunk play`.
#[derive(Args)]
pub struct PlayArgs {
    /// Environment id (see `spelunk envs`).
    env: String,
    /// Seed of the first episode.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Env config file (TOML or JSON).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Config overrides, `key=value` (repeatable), e.g. `--set level=my_level.txt`.
    #[arg(long = "set")]
    sets: Vec<String>,
    /// Write a picture of the state after reset (and after `--actions`) to this PNG file and
    /// exit instead of playing.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Actions (names or indices, space separated) to take before `--png`.
    #[arg(long, default_value = "")]
    actions: String,
    /// Every step played, to Rerun.
    #[command(flatten)]
    rerun: crate::record::RerunArgs,
}

fn key_for(name: &str) -> Option<KeyCode> {
    Some(match name {
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        "forward" | "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "pickup" => KeyCode::Char('p'),
        "drop" => KeyCode::Char('d'),
        "toggle" => KeyCode::Char('t'),
        "done" => KeyCode::Enter,
        "noop" => KeyCode::Char(' '),
        "remote" => KeyCode::Char('v'),
        _ => return None,
    })
}

fn key_label(k: KeyCode) -> String {
    match k {
        KeyCode::Left => "←".into(),
        KeyCode::Right => "→".into(),
        KeyCode::Up => "↑".into(),
        KeyCode::Down => "↓".into(),
        KeyCode::Enter => "Enter".into(),
        KeyCode::Char(' ') => "space".into(),
        KeyCode::Char(c) => c.to_string(),
        _ => "?".into(),
    }
}

struct Session {
    env: Box<dyn Env>,
    obs: ObsBuf,
    seed: u64,
    episode: u64,
    steps: u64,
    last: Option<Step>,
    over: bool,
    recorder: Option<crate::record::Recorder>,
}

impl Session {
    fn reset(&mut self) -> Result<()> {
        let seed = self.seed + self.episode;
        self.env.reset(Some(seed), None, self.obs.as_mut())?;
        if let Some(r) = self.recorder.as_mut() {
            r.episode_started(&EpisodeStarted {
                env: self.env.as_ref(),
                episode: self.episode,
                seed,
                iteration: None,
            })
            .map_err(|e| anyhow::anyhow!("recording: {e}"))?;
        }
        self.episode += 1;
        self.steps = 0;
        self.last = None;
        self.over = false;
        Ok(())
    }
    fn act(&mut self, a: usize) -> Result<()> {
        if self.over {
            return Ok(());
        }
        let s = self.env.step(Action::Discrete(a as i64), self.obs.as_mut())?;
        self.steps += 1;
        if let Some(r) = self.recorder.as_mut() {
            r.env_step(&EnvStep {
                env: self.env.as_ref(),
                episode: self.episode - 1,
                step: self.steps,
                action: Action::Discrete(a as i64),
                obs: self.obs.view(),
                reward: f64::from(s.reward),
                bonuses: &[],
                terminated: s.terminated,
                truncated: s.truncated,
                info: s.info,
            })
            .map_err(|e| anyhow::anyhow!("recording: {e}"))?;
        }
        self.over = s.terminated || s.truncated;
        self.last = Some(s);
        Ok(())
    }
    fn screen(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "{}  (episode {}, seed {})\n",
            self.env.id(),
            self.episode,
            self.seed + self.episode - 1
        ));
        if let Some(m) = self.env.mission() {
            out.push_str(&format!("mission: {m}\n"));
        }
        out.push_str(&self.env.render_text().unwrap_or_else(|| "(no text rendering)".into()));
        out.push('\n');
        let info = self.env.info();
        let mut status = Vec::new();
        if let Some(s) = &self.last {
            status.push(format!("reward {:+.3}", s.reward));
        }
        if let Some(v) = info.score {
            status.push(format!("score {v:.3}"));
        }
        if let Some(v) = info.room {
            status.push(format!("room {v}"));
        }
        if let Some(v) = info.lives {
            status.push(format!("lives {v}"));
        }
        if let Some(v) = info.inventory {
            status.push(format!("inventory {v:#x}"));
        }
        out.push_str(&status.join("  "));
        out.push('\n');
        if let Some(s) = &self.last {
            if s.terminated {
                out.push_str("*** terminated — press r (or type reset) for a new episode ***\n");
            } else if s.truncated {
                out.push_str("*** time limit reached — press r (or type reset) ***\n");
            }
        }
        out
    }
}

pub fn run(args: &PlayArgs) -> Result<()> {
    let reg = spelunk_experiments::registry();
    let config = spelunk_experiments::config::env_config(args.config.as_deref(), &args.sets)?;
    let mut env = reg.make_with(&args.env, &config)?;
    let Some(n) = env.action_space().n() else {
        // Continuous actions cannot be typed; a picture of the first state still can be had.
        if let (Some(path), true) = (&args.png, args.actions.trim().is_empty()) {
            let mut obs = ObsBuf::for_space(env.observation_space());
            env.reset(Some(args.seed), None, obs.as_mut())?;
            let Some(img) = env.render_rgb() else { bail!("{} has no picture to write", args.env) };
            spelunk_experiments::report::png::write(path, &img)?;
            outln!("wrote {} ({}x{})", path.display(), img.width, img.height);
            return Ok(());
        }
        bail!(
            "{} has a continuous action space; play needs discrete actions (--png without \
             actions writes a picture of the first state)",
            args.env
        )
    };
    let obs = ObsBuf::for_space(env.observation_space());
    let recorder = args.rerun.recorder()?;
    let mut s = Session {
        env,
        obs,
        seed: args.seed,
        episode: 0,
        steps: 0,
        last: None,
        over: false,
        recorder,
    };
    s.reset()?;
    let result = play_session(&mut s, args, n);
    crate::record::finish(s.recorder.take(), &args.rerun)?;
    result
}

fn play_session(s: &mut Session, args: &PlayArgs, n: u64) -> Result<()> {
    if let Some(path) = &args.png {
        let names = s.env.action_names().to_vec();
        for tok in args.actions.split_whitespace() {
            let a = tok
                .parse::<usize>()
                .ok()
                .filter(|&a| a < n as usize)
                .or_else(|| names.iter().position(|nm| *nm == tok));
            let Some(a) = a else {
                bail!("unknown action `{tok}`; {}", legend(s.env.as_ref(), n as usize))
            };
            s.act(a)?;
        }
        let Some(img) = s.env.render_rgb() else { bail!("{} has no picture to write", args.env) };
        spelunk_experiments::report::png::write(path, &img)?;
        outln!("wrote {} ({}x{})", path.display(), img.width, img.height);
        return Ok(());
    }
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        play_terminal(s, n as usize)
    } else {
        play_lines(s, n as usize)
    }
}

fn legend(env: &dyn Env, n: usize) -> String {
    let names = env.action_names();
    let mut parts: Vec<String> = (0..n)
        .map(|i| {
            let Some(name) = names.get(i).copied() else { return i.to_string() };
            let key = key_for(name).map_or(String::new(), |k| format!("{}/", key_label(k)));
            format!("{key}{i}={name}")
        })
        .collect();
    parts.push("r=reset".into());
    parts.push("q=quit".into());
    parts.join("  ")
}

fn play_terminal(s: &mut Session, n: usize) -> Result<()> {
    let mut out = std::io::stdout();
    terminal::enable_raw_mode()?;
    let result = (|| -> Result<()> {
        loop {
            execute!(out, terminal::Clear(terminal::ClearType::All), cursor::MoveTo(0, 0))?;
            let screen = format!("{}\n{}\n", s.screen(), legend(s.env.as_ref(), n));
            out.write_all(screen.replace('\n', "\r\n").as_bytes())?;
            out.flush()?;
            let Event::Key(k) = event::read()? else { continue };
            if k.kind != KeyEventKind::Press {
                continue;
            }
            if k.code == KeyCode::Char('q')
                || k.code == KeyCode::Esc
                || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL))
            {
                return Ok(());
            }
            if k.code == KeyCode::Char('r') {
                s.reset()?;
                continue;
            }
            let names = s.env.action_names().to_vec();
            let by_name = (0..n).find(|&i| names.get(i).and_then(|nm| key_for(nm)) == Some(k.code));
            let by_digit = match k.code {
                KeyCode::Char(c) => c.to_digit(10).map(|d| d as usize).filter(|&d| d < n),
                _ => None,
            };
            if let Some(a) = by_name.or(by_digit) {
                s.act(a)?;
            }
        }
    })();
    terminal::disable_raw_mode()?;
    outln!();
    result
}

fn play_lines(s: &mut Session, n: usize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}\n{}", s.screen(), legend(s.env.as_ref(), n))?;
    let names = s.env.action_names().to_vec();
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        for tok in line.split_whitespace() {
            match tok {
                "quit" | "q" => return Ok(()),
                "reset" | "r" => s.reset()?,
                _ => {
                    let a = tok
                        .parse::<usize>()
                        .ok()
                        .filter(|&a| a < n)
                        .or_else(|| names.iter().position(|nm| *nm == tok));
                    if let Some(a) = a {
                        s.act(a)?;
                    } else {
                        writeln!(out, "unknown action `{tok}`; {}", legend(s.env.as_ref(), n))?;
                        continue;
                    }
                }
            }
            writeln!(out, "{}", s.screen())?;
        }
    }
    Ok(())
}
