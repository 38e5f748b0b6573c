//! Text views: any registered env seen through an observation space `Text`, for
//! language-model policies.
//!
//! [`TextView`] wraps an env and replaces its observation by a UTF-8 description (zero-padded
//! to `max_length` bytes, cut at a character boundary if longer). The description is
//! family-specific where that reads better than a grid:
//! - MiniGrid: the mission, the facing direction, what is carried, and every visible object
//!   with its egocentric offset, read from the 7×7 observation (`a locked yellow door 2 steps
//!   ahead and 1 to the right`);
//! - bandits: the pull count, the last pull and its reward;
//! - anything else: the env's own `render_text`.
//!
//! Actions pass through unchanged; `action_names` tells a text policy what they mean.

use std::fmt::Write as _;

use serde_json::Value;
use spelunk_core::{
    Action, DType, Env, Info, ObsBuf, ObsMut, Registry, Result, Snapshot, Space, Step,
};

use crate::minigrid::cell::{COLOR_NAMES, DOOR, EMPTY, LOCKED, OBJECT_NAMES, OPEN, UNSEEN, WALL};

/// How an env's state is put into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Describer {
    /// From MiniGrid's egocentric encoding.
    MiniGrid,
    /// Bandit pull history.
    Bandit,
    /// The env's `render_text`.
    Render,
}

/// An env observed as text.
pub struct TextView {
    id: String,
    inner: Box<dyn Env>,
    inner_obs: ObsBuf,
    describer: Describer,
    max_length: usize,
    text: String,
    last: Option<(i64, f32)>,
    observation_space: Space,
}

impl TextView {
    /// Wrap `inner`; descriptions longer than `max_length` bytes are cut.
    pub fn new(id: &str, inner: Box<dyn Env>, describer: Describer, max_length: usize) -> Self {
        let inner_obs = ObsBuf::for_space(inner.observation_space());
        Self {
            id: id.to_owned(),
            inner,
            inner_obs,
            describer,
            max_length,
            text: String::with_capacity(max_length),
            last: None,
            observation_space: Space::Text { max_length },
        }
    }

    /// The latest description.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn describe(&mut self) {
        self.text.clear();
        match self.describer {
            Describer::MiniGrid => {
                if let Some(img) = self.inner_obs.as_u8() {
                    describe_minigrid(&mut self.text, self.inner.mission().unwrap_or(""), img);
                }
            }
            Describer::Bandit => {
                let n = self.inner.action_space().n().unwrap_or(0);
                let horizon = self.inner.max_episode_steps().unwrap_or(0);
                let _ = write!(
                    self.text,
                    "You face a bandit with {n} arms, numbered 0 to {}. ",
                    n.saturating_sub(1)
                );
                match self.last {
                    Some((a, r)) => {
                        let _ = write!(self.text, "Your last pull was arm {a}, reward {r:.3}. ");
                    }
                    None => self.text.push_str("You have not pulled yet. "),
                }
                if let Some(score) = self.inner.info().score {
                    let _ = write!(self.text, "Total reward so far {score:.3}. ");
                }
                let _ = write!(
                    self.text,
                    "Each episode has {horizon} pulls. Answer with an arm number."
                );
            }
            Describer::Render => {
                if let Some(r) = self.inner.render_text() {
                    self.text.push_str(&r);
                }
            }
        }
    }

    fn write_obs(&self, obs: ObsMut<'_>) -> Result<()> {
        let out = obs.expect_u8(&self.id, self.max_length)?;
        let mut end = self.text.len().min(self.max_length);
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        out[..end].copy_from_slice(&self.text.as_bytes()[..end]);
        out[end..].fill(0);
        Ok(())
    }
}

const DIRS: [&str; 4] = ["east", "south", "west", "north"];

fn describe_minigrid(s: &mut String, mission: &str, obs: &[u8]) {
    let view = 7usize;
    let n = view * view * 3;
    let dir = obs.get(n).copied().unwrap_or(0) as usize % 4;
    let _ = write!(s, "Mission: {mission}. You face {}. ", DIRS[dir]);
    let cell = |vx: usize, vy: usize| {
        let i = (vx * view + vy) * 3;
        (obs[i], obs[i + 1], obs[i + 2])
    };
    let (ck, cc, _) = cell(3, 6);
    if ck > EMPTY {
        let _ = write!(
            s,
            "You carry a {} {}. ",
            COLOR_NAMES[cc as usize % 6],
            OBJECT_NAMES[ck as usize % 11]
        );
    }
    let (fk, fc, fs) = cell(3, 5);
    if fk == WALL {
        s.push_str("A wall is right in front of you. ");
    } else if fk == DOOR {
        let st = if fs == OPEN {
            "open"
        } else if fs == LOCKED {
            "locked"
        } else {
            "closed"
        };
        let _ =
            write!(s, "An {st} {} door is right in front of you. ", COLOR_NAMES[fc as usize % 6]);
    }
    let mut seen = 0;
    for vy in (0..view).rev() {
        for vx in 0..view {
            if (vx, vy) == (3, 6) || (vx, vy) == (3, 5) {
                continue;
            }
            let (k, c, st) = cell(vx, vy);
            if k == UNSEEN || k == EMPTY || k == WALL || k > 10 {
                continue;
            }
            let ahead = 6 - vy;
            let side = vx as i32 - 3;
            let state = match (k, st) {
                (DOOR, OPEN) => "open ",
                (DOOR, LOCKED) => "locked ",
                (DOOR, _) => "closed ",
                _ => "",
            };
            let _ = write!(
                s,
                "You see a {state}{} {} ",
                COLOR_NAMES[c as usize % 6],
                OBJECT_NAMES[k as usize]
            );
            if ahead > 0 {
                let _ = write!(s, "{ahead} step{} ahead", if ahead == 1 { "" } else { "s" });
            }
            if side != 0 {
                let _ = write!(
                    s,
                    "{}{} to the {}",
                    if ahead > 0 { " and " } else { "" },
                    side.abs(),
                    if side < 0 { "left" } else { "right" }
                );
            }
            s.push_str(". ");
            seen += 1;
        }
    }
    if seen == 0 {
        s.push_str("You see nothing but walls and floor. ");
    }
    s.push_str(
        "Actions: 0 turn left, 1 turn right, 2 forward, 3 pick up, 4 drop, 5 toggle, 6 done.",
    );
}

impl Env for TextView {
    fn id(&self) -> &str {
        &self.id
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        self.inner.action_space()
    }
    fn reset(
        &mut self,
        seed: Option<u64>,
        options: Option<&Value>,
        obs: ObsMut<'_>,
    ) -> Result<Info> {
        obs.check(&self.id, DType::U8, self.max_length)?;
        let info = self.inner.reset(seed, options, self.inner_obs.as_mut())?;
        self.last = None;
        self.describe();
        self.write_obs(obs)?;
        Ok(info)
    }
    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> Result<Step> {
        obs.check(&self.id, DType::U8, self.max_length)?;
        let s = self.inner.step(action, self.inner_obs.as_mut())?;
        if let Action::Discrete(a) = action {
            self.last = Some((a, s.reward));
        }
        self.describe();
        self.write_obs(obs)?;
        Ok(s)
    }
    fn observe(&self, obs: ObsMut<'_>) -> Result<()> {
        self.write_obs(obs)
    }
    fn info(&self) -> Info {
        self.inner.info()
    }
    fn snapshot(&self) -> Result<Snapshot> {
        self.inner.snapshot()
    }
    fn reseed(&mut self, seed: u64) {
        self.inner.reseed(seed);
    }
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.inner.restore(snapshot)?;
        self.inner.observe(self.inner_obs.as_mut())?;
        self.describe();
        Ok(())
    }
    fn render_text(&self) -> Option<String> {
        Some(self.text.clone())
    }
    fn mission(&self) -> Option<&str> {
        self.inner.mission()
    }
    fn action_names(&self) -> &[&'static str] {
        self.inner.action_names()
    }
    fn max_episode_steps(&self) -> Option<u32> {
        self.inner.max_episode_steps()
    }
}

/// Register text views of a few envs: `<inner id without -vN>-Text-v0`.
pub fn register(reg: &mut Registry, base: &Registry) {
    for (inner, describer, max_length) in [
        ("MiniGrid-DoorKey-8x8-v0", Describer::MiniGrid, 1024),
        ("MiniGrid-KeyCorridorS3R3-v0", Describer::MiniGrid, 1024),
        ("MiniGrid-Empty-8x8-v0", Describer::MiniGrid, 1024),
        ("Bandit-Bernoulli-5-v0", Describer::Bandit, 256),
        ("Bandit-Bernoulli-10-v0", Describer::Bandit, 256),
        ("Montezuma-Lite-v0", Describer::Render, 512),
        ("NoisyTV-Maze-None-v0", Describer::Render, 512),
    ] {
        let id = format!("{}-Text-v0", inner.trim_end_matches("-v0"));
        let base = base.clone();
        let view_id = id.clone();
        reg.register(&id, "text", &format!("{inner} observed as text"), move |cfg| {
            let env = base.make_with(inner, cfg)?;
            Ok(Box::new(TextView::new(&view_id, env, describer, max_length)) as Box<dyn Env>)
        });
    }
}
