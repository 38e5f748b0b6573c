//! Noisy-TV mazes for testing curiosity under stochasticity, after the experiments of
//! *Curiosity in Hindsight* (Jarrett et al. 2022) and the noisy TV of Burda et al. (2018).
//!
//! A 15×15 maze with four reward trackers in its corners (+1 the first time each is
//! reached; the episode ends when all four are found) and a TV nook. The observation is a
//! 5×5 window of tile codes around the agent (`0` outside, `1` floor, `2` wall, `3` unfound
//! tracker, `4` TV nook, `5` agent) and a 16-value TV screen. The screen shows something only
//! while the agent *watches* the TV, and what it shows depends on the noise setting:
//!
//! | setting | watching means | the screen shows |
//! |---|---|---|
//! | `none` | standing in the TV nook | a fixed test pattern |
//! | `brownian` | standing in the TV nook | 16 Brownian oscillators, `x ← clip(x + N(0, 16²), 0, 255)` every step |
//! | `pixel_noise` | standing in the TV nook | i.i.d. pixels, 255 with probability p = 0.25, else 0 |
//! | `remote` | pressing the remote (action 4), anywhere | i.i.d. uniform values |
//!
//! Actions: 0 up, 1 right, 2 down, 3 left, 4 remote (a no-op move; it only switches the TV
//! on in the `remote` setting). `info.inventory` is the bit set of trackers found and
//! `info.watching_tv` is true while the agent watches the TV, so experiments can count
//! trackers found and the fraction of steps spent watching. The maze has no goal:
//! `info.is_success` is `None`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spelunk_core::{
    Action, ByteWriter, DType, Env, Error, Info, ObsMut, Registry, Result, Rng, Snapshot, Space,
    Step,
};

const SNAPSHOT_KIND: &str = "noisy-tv/1";
/// The maze: `#` wall, `T` tracker, `V` TV nook, `@` start.
pub const MAZE: [&str; 15] = [
    "###############",
    "#T....#......T#",
    "#.###.#.####..#",
    "#.#...#....#..#",
    "#.#.#####..#..#",
    "#...#...#.....#",
    "###.#.#.#.#####",
    "#.....#@......#",
    "#.#####.###.#.#",
    "#.#VVV#...#.#.#",
    "#.#VVV#.#.#.#.#",
    "#.#...#.#...#.#",
    "#.###.#.#####.#",
    "#T....#......T#",
    "###############",
];
const SIZE: i32 = 15;
const RADIUS: i32 = 2;
const VIEW: usize = (2 * RADIUS + 1) as usize;
const SCREEN: usize = 16;
/// Action names, by index.
pub const ACTION_NAMES: [&str; 5] = ["up", "right", "down", "left", "remote"];
const MOVES: [(i32, i32); 5] = [(0, -1), (1, 0), (0, 1), (-1, 0), (0, 0)];

/// Tile codes.
pub mod tile {
    /// Outside the maze.
    pub const OUTSIDE: u8 = 0;
    /// Floor.
    pub const FLOOR: u8 = 1;
    /// Wall.
    pub const WALL: u8 = 2;
    /// A tracker not yet found.
    pub const TRACKER: u8 = 3;
    /// The TV nook.
    pub const TV: u8 = 4;
    /// The agent.
    pub const AGENT: u8 = 5;
}

/// The noise setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Noise {
    /// A fixed pattern.
    #[default]
    None,
    /// Brownian oscillators.
    Brownian,
    /// I.i.d. pixel noise.
    PixelNoise,
    /// Noise the agent switches on with the remote.
    Remote,
}

/// Configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoisyTvConfig {
    /// The noise setting.
    pub noise: Noise,
    /// Time limit.
    pub max_steps: u32,
    /// Probability of an on pixel (`pixel_noise`).
    pub pixel_p: f64,
    /// Standard deviation of an oscillator step (`brownian`).
    pub brownian_std: f64,
}

impl Default for NoisyTvConfig {
    fn default() -> Self {
        Self { noise: Noise::None, max_steps: 1000, pixel_p: 0.25, brownian_std: 16.0 }
    }
}

/// The noisy-TV maze.
#[derive(Clone, Debug)]
pub struct NoisyTvMaze {
    id: String,
    config: NoisyTvConfig,
    tiles: [[u8; SIZE as usize]; SIZE as usize],
    trackers: [(i32, i32); 4],
    start: (i32, i32),
    pos: (i32, i32),
    found: u8,
    oscillators: [f64; SCREEN],
    screen: [u8; SCREEN],
    watching: bool,
    steps: u32,
    rng: Rng,
    score: f32,
    started: bool,
    done: bool,
    observation_space: Space,
    action_space: Space,
}

impl NoisyTvMaze {
    /// Build the maze.
    pub fn new(id: &str, config: NoisyTvConfig) -> Result<Self> {
        let bad = |m: String| Error::Config { what: id.to_owned(), message: m };
        if config.max_steps == 0 {
            return Err(bad("max_steps is 0".into()));
        }
        if !(0.0..=1.0).contains(&config.pixel_p) {
            return Err(bad(format!("pixel_p must be in [0, 1], got {}", config.pixel_p)));
        }
        if !(config.brownian_std >= 0.0 && config.brownian_std.is_finite()) {
            return Err(bad(format!(
                "brownian_std must be finite and ≥ 0, got {}",
                config.brownian_std
            )));
        }
        let mut tiles = [[tile::WALL; SIZE as usize]; SIZE as usize];
        let mut trackers = Vec::new();
        let mut start = (1, 1);
        for (y, row) in MAZE.iter().enumerate() {
            for (x, ch) in row.bytes().enumerate() {
                tiles[y][x] = match ch {
                    b'#' => tile::WALL,
                    b'T' => {
                        trackers.push((x as i32, y as i32));
                        tile::TRACKER
                    }
                    b'V' => tile::TV,
                    b'@' => {
                        start = (x as i32, y as i32);
                        tile::FLOOR
                    }
                    _ => tile::FLOOR,
                };
            }
        }
        let trackers = [trackers[0], trackers[1], trackers[2], trackers[3]];
        let observation_space = Space::Dict(vec![
            ("view".into(), Space::uniform_box(&[VIEW, VIEW], 0.0, 5.0, DType::U8)),
            ("screen".into(), Space::uniform_box(&[SCREEN], 0.0, 255.0, DType::U8)),
        ]);
        Ok(Self {
            id: id.to_owned(),
            config,
            tiles,
            trackers,
            start,
            pos: start,
            found: 0,
            oscillators: [128.0; SCREEN],
            screen: [0; SCREEN],
            watching: false,
            steps: 0,
            rng: Rng::seed_from_u64(0),
            score: 0.0,
            started: false,
            done: false,
            observation_space,
            action_space: Space::discrete(5),
        })
    }

    /// Trackers found so far (bit set).
    pub fn found(&self) -> u8 {
        self.found
    }
    /// Whether the agent watched the TV on the last step.
    pub fn watching(&self) -> bool {
        self.watching
    }
    /// Agent position.
    pub fn pos(&self) -> (i32, i32) {
        self.pos
    }

    fn tile(&self, x: i32, y: i32) -> u8 {
        if x < 0 || y < 0 || x >= SIZE || y >= SIZE {
            return tile::OUTSIDE;
        }
        let t = self.tiles[y as usize][x as usize];
        if t == tile::TRACKER {
            let i = self.trackers.iter().position(|&p| p == (x, y)).unwrap_or(0);
            if self.found >> i & 1 == 1 {
                return tile::FLOOR;
            }
        }
        t
    }

    fn update_screen(&mut self, remote_pressed: bool) {
        // Oscillators evolve whether watched or not, so the process is stationary.
        if self.config.noise == Noise::Brownian {
            for x in &mut self.oscillators {
                *x = (*x + self.config.brownian_std * self.rng.normal()).clamp(0.0, 255.0);
            }
        }
        let in_nook = self.tiles[self.pos.1 as usize][self.pos.0 as usize] == tile::TV;
        self.watching = match self.config.noise {
            Noise::Remote => remote_pressed,
            _ => in_nook,
        };
        if !self.watching {
            self.screen = [0; SCREEN];
            return;
        }
        match self.config.noise {
            Noise::None => {
                for (i, s) in self.screen.iter_mut().enumerate() {
                    *s = if (i / 4 + i % 4) % 2 == 0 { 200 } else { 50 };
                }
            }
            Noise::Brownian => {
                for (s, x) in self.screen.iter_mut().zip(&self.oscillators) {
                    *s = x.round() as u8;
                }
            }
            Noise::PixelNoise => {
                for s in &mut self.screen {
                    *s = if self.rng.bernoulli(self.config.pixel_p) { 255 } else { 0 };
                }
            }
            Noise::Remote => {
                for s in &mut self.screen {
                    *s = self.rng.below(256) as u8;
                }
            }
        }
    }

    fn write_obs(&self, obs: ObsMut<'_>) -> Result<()> {
        let out = obs.expect_u8(&self.id, VIEW * VIEW + SCREEN)?;
        let mut k = 0;
        for dy in -RADIUS..=RADIUS {
            for dx in -RADIUS..=RADIUS {
                out[k] = self.tile(self.pos.0 + dx, self.pos.1 + dy);
                k += 1;
            }
        }
        out[(RADIUS as usize) * VIEW + RADIUS as usize] = tile::AGENT;
        out[VIEW * VIEW..].copy_from_slice(&self.screen);
        Ok(())
    }

    fn make_info(&self) -> Info {
        Info {
            x: Some(self.pos.0),
            y: Some(self.pos.1),
            room: Some(u32::from(self.pos.1 >= SIZE / 2) * 2 + u32::from(self.pos.0 >= SIZE / 2)),
            inventory: Some(u64::from(self.found)),
            score: Some(self.score),
            watching_tv: Some(self.watching),
            ..Info::default()
        }
    }

    /// The maze as text: `@` agent, `T` unfound trackers, `V` the TV nook.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for y in 0..SIZE {
            for x in 0..SIZE {
                s.push(if (x, y) == self.pos {
                    '@'
                } else {
                    match self.tile(x, y) {
                        tile::WALL => '#',
                        tile::TRACKER => 'T',
                        tile::TV => 'V',
                        _ => '.',
                    }
                });
            }
            s.push('\n');
        }
        s.push_str(&format!(
            "trackers found {}/4, watching TV: {}, step {}/{}",
            self.found.count_ones(),
            if self.watching { "yes" } else { "no" },
            self.steps,
            self.config.max_steps
        ));
        s
    }
}

impl Env for NoisyTvMaze {
    fn id(&self) -> &str {
        &self.id
    }
    fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    fn action_space(&self) -> &Space {
        &self.action_space
    }
    fn reset(
        &mut self,
        seed: Option<u64>,
        _options: Option<&Value>,
        obs: ObsMut<'_>,
    ) -> Result<Info> {
        obs.check(&self.id, DType::U8, VIEW * VIEW + SCREEN)?;
        if let Some(s) = seed {
            self.rng = Rng::seed_from_u64(s);
        }
        self.pos = self.start;
        self.found = 0;
        self.steps = 0;
        self.score = 0.0;
        self.oscillators = [128.0; SCREEN];
        self.update_screen(false);
        self.started = true;
        self.done = false;
        self.write_obs(obs)?;
        Ok(self.make_info())
    }
    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> Result<Step> {
        let a = action.discrete_in(&self.id, 5)? as usize;
        obs.check(&self.id, DType::U8, VIEW * VIEW + SCREEN)?;
        if self.done || !self.started {
            return Err(Error::NeedsReset { env: self.id.clone() });
        }
        self.steps += 1;
        let (dx, dy) = MOVES[a];
        let next = (self.pos.0 + dx, self.pos.1 + dy);
        if self.tile(next.0, next.1) != tile::WALL && self.tile(next.0, next.1) != tile::OUTSIDE {
            self.pos = next;
        }
        let mut reward = 0.0;
        if let Some(i) = self.trackers.iter().position(|&p| p == self.pos) {
            if self.found >> i & 1 == 0 {
                self.found |= 1 << i;
                reward = 1.0;
            }
        }
        self.update_screen(a == 4);
        self.score += reward;
        let terminated = self.found == 0b1111;
        let truncated = self.steps >= self.config.max_steps;
        self.done = terminated || truncated;
        self.write_obs(obs)?;
        Ok(Step { reward, terminated, truncated, info: self.make_info() })
    }
    fn observe(&self, obs: ObsMut<'_>) -> Result<()> {
        self.write_obs(obs)
    }
    fn info(&self) -> Info {
        self.make_info()
    }
    fn snapshot(&self) -> Result<Snapshot> {
        let mut w = ByteWriter::new();
        w.i32(self.pos.0);
        w.i32(self.pos.1);
        w.u8(self.found);
        self.oscillators.iter().for_each(|x| w.f64(*x));
        self.screen.iter().for_each(|x| w.u8(*x));
        w.bool(self.watching);
        w.u32(self.steps);
        w.rng(&self.rng);
        w.f32(self.score);
        w.bool(self.started);
        w.bool(self.done);
        Ok(w.finish(SNAPSHOT_KIND))
    }
    fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        let mut r = snapshot.expect_kind(SNAPSHOT_KIND)?;
        let pos = (r.i32()?, r.i32()?);
        if self.tile(pos.0, pos.1) == tile::WALL || self.tile(pos.0, pos.1) == tile::OUTSIDE {
            return Err(Error::Snapshot(format!(
                "corrupt snapshot: agent at {pos:?} is not on the maze floor"
            )));
        }
        let found = r.u8()?;
        let mut osc = [0.0; SCREEN];
        for x in &mut osc {
            *x = r.f64()?;
        }
        let mut screen = [0u8; SCREEN];
        for x in &mut screen {
            *x = r.u8()?;
        }
        let (watching, steps, rng, score, started, done) =
            (r.bool()?, r.u32()?, r.rng()?, r.f32()?, r.bool()?, r.bool()?);
        r.finish()?;
        self.pos = pos;
        self.found = found & 0b1111;
        self.oscillators = osc;
        self.screen = screen;
        self.watching = watching;
        self.steps = steps;
        self.rng = rng;
        self.score = score;
        self.started = started;
        self.done = done;
        Ok(())
    }
    fn render_text(&self) -> Option<String> {
        Some(self.render())
    }
    fn action_names(&self) -> &[&'static str] {
        &ACTION_NAMES
    }
    fn max_episode_steps(&self) -> Option<u32> {
        Some(self.config.max_steps)
    }
}

/// Register the four settings.
pub fn register(reg: &mut Registry) {
    for (id, noise) in [
        ("NoisyTV-Maze-None-v0", Noise::None),
        ("NoisyTV-Maze-Brownian-v0", Noise::Brownian),
        ("NoisyTV-Maze-PixelNoise-v0", Noise::PixelNoise),
        ("NoisyTV-Maze-Remote-v0", Noise::Remote),
    ] {
        reg.register(id, "noisy-tv", "maze with 4 reward trackers and a noisy TV", move |cfg| {
            let config = spelunk_core::registry::merge_config(
                id,
                &NoisyTvConfig { noise, ..NoisyTvConfig::default() },
                cfg,
            )?;
            Ok(Box::new(NoisyTvMaze::new(id, config)?) as Box<dyn Env>)
        });
    }
}
