//! Montezuma-style levels: rooms, keys and locked doors, ladders, jewels, a treasure,
//! patrolling enemies, timed laser barriers, lives, and an optional next level.
//!
//! The level format is documented in [`level`] and `docs/montezuma.md`. The built-in
//! `Montezuma-Lite-v0` has eleven rooms laid out as a pyramid like the first level of the
//! Atari game; reaching its treasure needs the yellow key of the start room and the red key
//! of a lava maze two rooms away.
//!
//! Dynamics (top-down, one tile per step):
//! - actions: 0 no-op, 1 up, 2 right, 3 down, 4 left; with `sticky_action_prob` p the
//!   previous action repeats instead (Machado et al. 2018; 0 by default, 0.25 in
//!   Go-Explore's robustification);
//! - walking into a door with a key of its colour uses the key and opens the door for good;
//!   keys and jewels are picked up by walking onto them;
//! - leaving a room through a side opening, or through the top/bottom edge on a ladder,
//!   enters the neighbouring room;
//! - lava, an active barrier or an enemy on the agent's tile costs a life; the agent
//!   restarts where it entered the room; no lives left ends the episode (`terminated`);
//! - hazards are functions of the episode clock, so the state is small and snapshots exact.
//!
//! Reward is sparse: `reward_collectible` per jewel, `reward_treasure` for the treasure,
//! which ends the level (and the episode, unless the level names a next level).
//!
//! Observations (config `obs`): `local` — a `(2r+1)²` window of tile codes centred on the
//! agent (r = `view_radius`, 4 by default) and a status vector `[room, x, y, keys red,
//! green, blue, yellow, lives, level]`; `grid` — the whole level's room map as tile codes,
//! then the status; `pixels` — the current room as RGB, `pixels_per_tile` pixels a side,
//! row-major `(height, width, 3)`, with a HUD row of held keys and lives under the room (as the
//! Atari screen shows them; `hud = false` drops it). Tile codes are [`level::tile`].

pub mod level;
pub mod solve;

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spelunk_core::{
    Action, ByteWriter, DType, Env, Error, Info, ObsMut, Registry, Result, Rng, Snapshot, Space,
    Step,
};

use level::{tile, Level};

const SNAPSHOT_KIND: &str = "montezuma/1";
/// Action names, by index.
pub const ACTION_NAMES: [&str; 5] = ["noop", "up", "right", "down", "left"];
const MOVES: [(i32, i32); 5] = [(0, 0), (0, -1), (1, 0), (0, 1), (-1, 0)];
/// The built-in Montezuma-Lite level text.
pub const MONTEZUMA_LITE: &str = include_str!("../../levels/montezuma_lite.txt");

/// Observation kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObsKind {
    /// Local window of tile codes plus status.
    #[default]
    Local,
    /// Whole level of tile codes plus status.
    Grid,
    /// RGB pixels of the current room.
    Pixels,
}

/// Configuration of a Montezuma-style env.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MontezumaConfig {
    /// A level file to play instead of the built-in level.
    pub level: Option<PathBuf>,
    /// Observation kind.
    pub obs: ObsKind,
    /// Half-width of the local view.
    pub view_radius: u32,
    /// Pixels per tile side for `pixels`.
    pub pixels_per_tile: u32,
    /// With `pixels`: a status row under the room, as the Atari game's HUD shows held items
    /// and lives (one tile per held key in its colour from the left, one white tile per life
    /// from the right).
    pub hud: bool,
    /// Probability of repeating the previous action.
    pub sticky_action_prob: f64,
    /// Whether the status vector (`local`, `grid`) shows the lives left (0 in its place
    /// otherwise; the pixel HUD is `hud`'s). A policy
    /// robustified from a demonstration only ever starts with full lives; hiding them keeps
    /// the states after a lost life from looking new to it.
    pub obs_lives: bool,
    /// Time limit; `None` keeps the level's `max_steps`.
    pub max_steps: Option<u32>,
}

impl Default for MontezumaConfig {
    fn default() -> Self {
        Self {
            level: None,
            obs: ObsKind::Local,
            view_radius: 4,
            pixels_per_tile: 4,
            hud: true,
            sticky_action_prob: 0.0,
            obs_lives: true,
            max_steps: None,
        }
    }
}

/// Everything that changes during an episode; `Copy`, so planners and snapshots are cheap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MzState {
    /// Level index in the chain.
    pub level: u32,
    /// Room index within the level.
    pub room: u32,
    /// Column in the room.
    pub x: i32,
    /// Row in the room.
    pub y: i32,
    /// Where the agent entered this room (respawn point): room, column, row.
    pub entry: (u32, i32, i32),
    /// Lives left.
    pub lives: u32,
    /// Keys held per colour.
    pub keys: [u8; 4],
    /// Opened doors (bit per door).
    pub doors_open: u64,
    /// Picked-up keys (bit per key).
    pub keys_taken: u64,
    /// Picked-up jewels (bit per jewel).
    pub jewels_taken: u64,
    /// Hazard clock.
    pub t: u32,
    /// Steps this episode.
    pub steps: u32,
    /// Previous action (for sticky actions).
    pub last_action: u8,
}

/// A Montezuma-style env.
#[derive(Clone, Debug)]
pub struct Montezuma {
    id: String,
    levels: Arc<Vec<Level>>,
    config: MontezumaConfig,
    s: MzState,
    rng: Rng,
    score: f32,
    started: bool,
    done: bool,
    max_steps: u32,
    observation_space: Space,
    action_space: Space,
}

const STATUS_LEN: usize = 9;

/// RGB colour of each tile code.
pub const PALETTE: [[u8; 3]; tile::COUNT as usize] = [
    [0, 0, 0],       // void
    [24, 26, 40],    // floor
    [140, 90, 60],   // wall
    [200, 170, 60],  // ladder
    [200, 40, 40],   // door red
    [40, 170, 60],   // door green
    [50, 80, 210],   // door blue
    [220, 200, 40],  // door yellow
    [255, 90, 90],   // key red
    [90, 255, 120],  // key green
    [110, 150, 255], // key blue
    [255, 240, 90],  // key yellow
    [80, 230, 230],  // jewel
    [255, 200, 0],   // treasure
    [255, 100, 0],   // lava
    [255, 40, 200],  // barrier on
    [70, 30, 60],    // barrier off
    [230, 230, 230], // enemy
    [255, 255, 255], // agent
];

impl Montezuma {
    /// Build from a config (the built-in level unless `config.level` names a file).
    pub fn new(id: &str, config: MontezumaConfig) -> Result<Self> {
        let levels = match &config.level {
            Some(path) => level::load_chain(path)?,
            None => vec![level::parse(MONTEZUMA_LITE, "<builtin Montezuma-Lite>", None)?],
        };
        Self::from_levels(id, levels, config)
    }

    /// Build from parsed levels.
    pub fn from_levels(id: &str, levels: Vec<Level>, config: MontezumaConfig) -> Result<Self> {
        let bad = |m: String| Error::Config { what: id.to_owned(), message: m };
        if levels.is_empty() {
            return Err(bad("no levels".into()));
        }
        if !(0.0..=1.0).contains(&config.sticky_action_prob) {
            return Err(bad(format!(
                "sticky_action_prob must be in [0, 1], got {}",
                config.sticky_action_prob
            )));
        }
        if config.view_radius == 0 || config.view_radius > 32 {
            return Err(bad(format!("view_radius must be in 1..=32, got {}", config.view_radius)));
        }
        if config.pixels_per_tile == 0 || config.pixels_per_tile > 16 {
            return Err(bad(format!(
                "pixels_per_tile must be in 1..=16, got {}",
                config.pixels_per_tile
            )));
        }
        let first = &levels[0];
        if levels.iter().any(|l| {
            (l.room_w, l.room_h, l.cols, l.rows)
                != (first.room_w, first.room_h, first.cols, first.rows)
        }) {
            return Err(bad(
                "chained levels must share room_size and room-map size (one observation space)"
                    .into(),
            ));
        }
        let status =
            ("status".to_owned(), Space::uniform_box(&[STATUS_LEN], 0.0, 255.0, DType::U8));
        let codes = f32::from(tile::COUNT - 1);
        let observation_space = match config.obs {
            ObsKind::Local => {
                let side = (2 * config.view_radius + 1) as usize;
                Space::Dict(vec![
                    ("view".into(), Space::uniform_box(&[side, side], 0.0, codes, DType::U8)),
                    status,
                ])
            }
            ObsKind::Grid => Space::Dict(vec![
                (
                    "grid".into(),
                    Space::uniform_box(
                        &[
                            (first.rows * first.room_h) as usize,
                            (first.cols * first.room_w) as usize,
                        ],
                        0.0,
                        codes,
                        DType::U8,
                    ),
                ),
                status,
            ]),
            ObsKind::Pixels => {
                let p = config.pixels_per_tile as usize;
                let rows = first.room_h as usize + usize::from(config.hud);
                Space::uniform_box(&[rows * p, first.room_w as usize * p, 3], 0.0, 255.0, DType::U8)
            }
        };
        let max_steps = config.max_steps.unwrap_or(first.max_steps).max(1);
        let mut env = Self {
            id: id.to_owned(),
            levels: Arc::new(levels),
            config,
            s: MzState {
                level: 0,
                room: 0,
                x: 0,
                y: 0,
                entry: (0, 0, 0),
                lives: 0,
                keys: [0; 4],
                doors_open: 0,
                keys_taken: 0,
                jewels_taken: 0,
                t: 0,
                steps: 0,
                last_action: 0,
            },
            rng: Rng::seed_from_u64(0),
            score: 0.0,
            started: false,
            done: false,
            max_steps,
            observation_space,
            action_space: Space::discrete(5),
        };
        env.start_level(0);
        env.s.lives = env.levels[0].lives;
        Ok(env)
    }

    fn start_level(&mut self, level: u32) {
        let l = &self.levels[level as usize];
        let (room, x, y) = l.start;
        self.s.level = level;
        self.s.room = room as u32;
        self.s.x = x;
        self.s.y = y;
        self.s.entry = (room as u32, x, y);
        self.s.keys = [0; 4];
        self.s.doors_open = 0;
        self.s.keys_taken = 0;
        self.s.jewels_taken = 0;
    }

    /// The current level.
    pub fn level(&self) -> &Level {
        &self.levels[self.s.level as usize]
    }
    /// All levels of the chain.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }
    /// The dynamic state.
    pub fn state(&self) -> MzState {
        self.s
    }
    /// Set the dynamic state (planners). The state must come from this env's levels.
    pub fn set_state(&mut self, s: MzState) {
        self.s = s;
        self.started = true;
        self.done = false;
    }

    /// The tile at a room position now, with taken objects, opened doors and barrier phase.
    #[inline]
    pub fn tile_at(&self, room: usize, x: i32, y: i32) -> u8 {
        let l = self.level();
        if x < 0 || y < 0 || x >= l.room_w || y >= l.room_h {
            return tile::VOID;
        }
        let r = &l.rooms[room];
        let k = (y * l.room_w + x) as usize;
        let t = r.tiles[k];
        match t {
            tile::FLOOR | tile::WALL | tile::LADDER | tile::LAVA => t,
            tile::BARRIER_ON => {
                if self.barrier_on(self.s.t) {
                    tile::BARRIER_ON
                } else {
                    tile::BARRIER_OFF
                }
            }
            tile::DOOR..=7 if self.s.doors_open >> r.object[k] & 1 == 1 => tile::FLOOR,
            tile::KEY..=11 if self.s.keys_taken >> r.object[k] & 1 == 1 => tile::FLOOR,
            tile::JEWEL if self.s.jewels_taken >> r.object[k] & 1 == 1 => tile::FLOOR,
            _ => t,
        }
    }

    #[inline]
    fn barrier_on(&self, t: u32) -> bool {
        let l = self.level();
        t % l.barrier_period < l.barrier_on
    }

    fn enemy_at(&self, room: usize, x: i32, y: i32, t: u32) -> bool {
        let l = self.level();
        l.rooms[room].enemies.iter().any(|e| e.y == y && e.x_at(t, l.enemy_period) == x)
    }

    /// Tile code as observed: enemies and the agent drawn over the tiles.
    #[inline]
    fn seen(&self, room: usize, x: i32, y: i32) -> u8 {
        if (x, y) == (self.s.x, self.s.y) && room == self.s.room as usize {
            return tile::AGENT;
        }
        let t = self.tile_at(room, x, y);
        if t != tile::VOID && t != tile::WALL && self.enemy_at(room, x, y, self.s.t) {
            return tile::ENEMY;
        }
        t
    }

    fn status(&self, out: &mut [u8]) {
        let s = &self.s;
        out[0] = s.room as u8;
        out[1] = s.x as u8;
        out[2] = s.y as u8;
        out[3..7].copy_from_slice(&s.keys);
        out[7] = if self.config.obs_lives { s.lives.min(255) as u8 } else { 0 };
        out[8] = s.level as u8;
    }

    fn write_obs(&self, obs: ObsMut<'_>) -> Result<()> {
        let out = obs.expect_u8(&self.id, self.observation_space.flat_len())?;
        let l = self.level();
        let room = self.s.room as usize;
        match self.config.obs {
            ObsKind::Local => {
                let r = self.config.view_radius as i32;
                let side = (2 * r + 1) as usize;
                let (view, status) = out.split_at_mut(side * side);
                // Enemies of the room are few; draw tiles first, then enemies.
                let mut k = 0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        view[k] = self.tile_at(room, self.s.x + dx, self.s.y + dy);
                        k += 1;
                    }
                }
                for e in &l.rooms[room].enemies {
                    let ex = e.x_at(self.s.t, l.enemy_period);
                    let (vx, vy) = (ex - self.s.x + r, e.y - self.s.y + r);
                    if (0..side as i32).contains(&vx) && (0..side as i32).contains(&vy) {
                        view[vy as usize * side + vx as usize] = tile::ENEMY;
                    }
                }
                view[r as usize * side + r as usize] = tile::AGENT;
                self.status(status);
            }
            ObsKind::Grid => {
                let gw = (l.cols * l.room_w) as usize;
                let (grid, status) = out.split_at_mut(gw * (l.rows * l.room_h) as usize);
                for row in 0..l.rows {
                    for col in 0..l.cols {
                        let ri = l.room_at(col, row);
                        let at = |x: i32, y: i32| {
                            ((row * l.room_h + y) as usize) * gw + (col * l.room_w + x) as usize
                        };
                        for y in 0..l.room_h {
                            for x in 0..l.room_w {
                                grid[at(x, y)] = ri.map_or(tile::VOID, |ri| self.tile_at(ri, x, y));
                            }
                        }
                        let Some(ri) = ri else { continue };
                        for e in &l.rooms[ri].enemies {
                            grid[at(e.x_at(self.s.t, l.enemy_period), e.y)] = tile::ENEMY;
                        }
                        if ri == room {
                            grid[at(self.s.x, self.s.y)] = tile::AGENT;
                        }
                    }
                }
                self.status(status);
            }
            ObsKind::Pixels => self.render_rgb(out),
        }
        Ok(())
    }

    /// Render the current room as RGB (`pixels_per_tile` pixels a side), row-major HWC.
    pub fn render_rgb(&self, out: &mut [u8]) {
        let l = self.level();
        let p = self.config.pixels_per_tile as usize;
        let w = l.room_w as usize * p;
        let room = self.s.room as usize;
        for y in 0..l.room_h {
            for x in 0..l.room_w {
                let c = PALETTE[self.seen(room, x, y) as usize];
                for py in 0..p {
                    let row = (y as usize * p + py) * w;
                    for px in 0..p {
                        let i = (row + x as usize * p + px) * 3;
                        out[i..i + 3].copy_from_slice(&c);
                    }
                }
            }
        }
        if !self.config.hud {
            return;
        }
        let cols = l.room_w as usize;
        // Held keys from the left (red, green, blue, yellow, as many tiles as keys), lives
        // from the right; at most half the row each.
        let hud = |x: usize| -> [u8; 3] {
            let mut k = 0;
            for (colour, &n) in self.s.keys.iter().enumerate() {
                for _ in 0..n {
                    if k == x && k < cols / 2 {
                        return PALETTE[tile::KEY as usize + colour];
                    }
                    k += 1;
                }
            }
            if cols - 1 - x < (self.s.lives as usize).min(cols / 2) {
                [255, 255, 255]
            } else {
                PALETTE[tile::FLOOR as usize]
            }
        };
        let top = l.room_h as usize * p;
        for x in 0..cols {
            let c = hud(x);
            for py in 0..p {
                for px in 0..p {
                    let i = ((top + py) * w + x * p + px) * 3;
                    out[i..i + 3].copy_from_slice(&c);
                }
            }
        }
    }

    /// Whether the agent may enter a tile; a locked door takes a key of its colour and opens.
    fn try_open(&mut self, room: usize, x: i32, y: i32) -> bool {
        match self.tile_at(room, x, y) {
            tile::WALL | tile::VOID => false,
            t @ tile::DOOR..=7 => {
                let c = (t - tile::DOOR) as usize;
                if self.s.keys[c] == 0 {
                    return false;
                }
                self.s.keys[c] -= 1;
                let k = (y * self.level().room_w + x) as usize;
                self.s.doors_open |= 1 << self.level().rooms[room].object[k];
                true
            }
            _ => true,
        }
    }

    fn die(&mut self) -> bool {
        self.s.lives = self.s.lives.saturating_sub(1);
        let (room, x, y) = self.s.entry;
        self.s.room = room;
        self.s.x = x;
        self.s.y = y;
        self.s.lives == 0
    }

    fn make_info(&self) -> Info {
        let s = &self.s;
        let inventory = u64::from(s.keys[0])
            | u64::from(s.keys[1]) << 8
            | u64::from(s.keys[2]) << 16
            | u64::from(s.keys[3]) << 24;
        Info {
            x: Some(s.x),
            y: Some(s.y),
            room: Some(s.room),
            level: Some(s.level),
            inventory: Some(inventory),
            score: Some(self.score),
            lives: Some(s.lives),
            is_success: Some(false),
            ..Info::default()
        }
    }

    /// Advance one step without writing an observation; returns (reward, terminated, level done).
    pub fn advance(&mut self, action: u8) -> (f32, bool, bool) {
        let mut a = action;
        if self.config.sticky_action_prob > 0.0
            && self.rng.bernoulli(self.config.sticky_action_prob)
        {
            a = self.s.last_action;
        }
        self.s.last_action = a;
        self.s.t = self.s.t.wrapping_add(1);
        self.s.steps += 1;
        let (dx, dy) = MOVES[a as usize];
        let (w, h) = (self.level().room_w, self.level().room_h);
        let (nx, ny) = (self.s.x + dx, self.s.y + dy);
        let room = self.s.room as usize;
        let mut reward = 0.0;
        let mut level_done = false;
        if a != 0 {
            if nx < 0 || nx >= w || ny < 0 || ny >= h {
                let (col, row) = (self.level().rooms[room].col, self.level().rooms[room].row);
                let vertical = ny < 0 || ny >= h;
                let can_leave = !vertical
                    || self.level().rooms[room].tiles[(self.s.y * w + self.s.x) as usize]
                        == tile::LADDER;
                if let (true, Some(next)) = (can_leave, self.level().room_at(col + dx, row + dy)) {
                    let (ex, ey) = (nx.rem_euclid(w), ny.rem_euclid(h));
                    if self.try_open(next, ex, ey) {
                        self.s.room = next as u32;
                        self.s.x = ex;
                        self.s.y = ey;
                        self.s.entry = (next as u32, ex, ey);
                    }
                }
            } else if self.try_open(room, nx, ny) {
                self.s.x = nx;
                self.s.y = ny;
            }
            // Pick up what lies here.
            let room = self.s.room as usize;
            let k = (self.s.y * w + self.s.x) as usize;
            match self.tile_at(room, self.s.x, self.s.y) {
                t @ tile::KEY..=11 => {
                    self.s.keys[(t - tile::KEY) as usize] =
                        self.s.keys[(t - tile::KEY) as usize].saturating_add(1);
                    self.s.keys_taken |= 1 << self.level().rooms[room].object[k];
                }
                tile::JEWEL => {
                    self.s.jewels_taken |= 1 << self.level().rooms[room].object[k];
                    reward += self.level().reward_collectible;
                }
                tile::TREASURE => {
                    reward += self.level().reward_treasure;
                    level_done = true;
                }
                _ => {}
            }
        }
        let mut terminated = false;
        if level_done {
            if (self.s.level as usize) + 1 < self.levels.len() {
                self.start_level(self.s.level + 1);
            } else {
                terminated = true;
            }
        } else {
            let room = self.s.room as usize;
            let here = self.tile_at(room, self.s.x, self.s.y);
            let hit = here == tile::LAVA
                || here == tile::BARRIER_ON
                || self.enemy_at(room, self.s.x, self.s.y, self.s.t);
            if hit && self.die() {
                terminated = true;
            }
        }
        self.score += reward;
        (reward, terminated, level_done)
    }

    /// The current room as text: the tiles' characters, `@` the agent, `E` enemies, `|`
    /// an active barrier and `:` an inactive one; then a status line.
    pub fn render_room(&self) -> String {
        let l = self.level();
        let room = self.s.room as usize;
        let mut s = String::new();
        for y in 0..l.room_h {
            for x in 0..l.room_w {
                s.push(match self.seen(room, x, y) {
                    tile::FLOOR => '.',
                    tile::WALL => '#',
                    tile::LADDER => 'H',
                    t @ tile::DOOR..=7 => ['R', 'G', 'B', 'Y'][(t - tile::DOOR) as usize],
                    t @ tile::KEY..=11 => ['r', 'g', 'b', 'y'][(t - tile::KEY) as usize],
                    tile::JEWEL => '$',
                    tile::TREASURE => 'T',
                    tile::LAVA => '~',
                    tile::BARRIER_ON => '|',
                    tile::BARRIER_OFF => ':',
                    tile::ENEMY => 'E',
                    tile::AGENT => '@',
                    _ => ' ',
                });
            }
            s.push('\n');
        }
        let r = &l.rooms[room];
        let keys: Vec<String> = self
            .s
            .keys
            .iter()
            .zip(level::KEY_COLORS)
            .filter(|(n, _)| **n > 0)
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        s.push_str(&format!(
            "{} — room {} {} (#{}), lives {}, keys [{}], step {}/{}",
            l.name,
            r.col,
            r.row,
            self.s.room,
            self.s.lives,
            keys.join(", "),
            self.s.steps,
            self.max_steps
        ));
        s
    }

    /// The whole level (every room on the room map) as an image, `pixels_per_tile` a side,
    /// with a one-tile gap between rooms.
    pub fn render_level(&self) -> spelunk_core::Image {
        let l = self.level();
        let p = self.config.pixels_per_tile.max(2) as usize;
        let (rw, rh) = (l.room_w as usize + 1, l.room_h as usize + 1);
        let mut img = spelunk_core::Image::new(
            (l.cols as usize * rw + 1) * p,
            (l.rows as usize * rh + 1) * p,
        );
        for row in 0..l.rows {
            for col in 0..l.cols {
                let Some(ri) = l.room_at(col, row) else { continue };
                for y in 0..l.room_h {
                    for x in 0..l.room_w {
                        let c = PALETTE[self.seen(ri, x, y) as usize];
                        let px = (col as usize * rw + 1 + x as usize) * p;
                        let py = (row as usize * rh + 1 + y as usize) * p;
                        img.fill_square(px, py, p, c);
                    }
                }
            }
        }
        img
    }

    fn write_snapshot(&self) -> Snapshot {
        let s = &self.s;
        // About 110 bytes; one allocation (Go-Explore snapshots every new cell).
        let mut w = ByteWriter::with_capacity(128);
        for v in [s.level, s.room, s.entry.0, s.lives, s.t, s.steps] {
            w.u32(v);
        }
        for v in [s.x, s.y, s.entry.1, s.entry.2] {
            w.i32(v);
        }
        for k in s.keys {
            w.u8(k);
        }
        w.u64(s.doors_open);
        w.u64(s.keys_taken);
        w.u64(s.jewels_taken);
        w.u8(s.last_action);
        w.rng(&self.rng);
        w.f32(self.score);
        w.bool(self.started);
        w.bool(self.done);
        w.finish(SNAPSHOT_KIND)
    }

    fn read_snapshot(&mut self, snap: &Snapshot) -> Result<()> {
        let mut r = snap.expect_kind(SNAPSHOT_KIND)?;
        let (level, room, entry_room, lives, t, steps) =
            (r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let (x, y, ex, ey) = (r.i32()?, r.i32()?, r.i32()?, r.i32()?);
        let keys = [r.u8()?, r.u8()?, r.u8()?, r.u8()?];
        let (doors_open, keys_taken, jewels_taken) = (r.u64()?, r.u64()?, r.u64()?);
        let last_action = r.u8()?;
        let rng = r.rng()?;
        let score = r.f32()?;
        let (started, done) = (r.bool()?, r.bool()?);
        r.finish()?;
        let Some(l) = self.levels.get(level as usize) else {
            return Err(Error::Snapshot(format!(
                "snapshot is on level {level}; {} has {}",
                self.id,
                self.levels.len()
            )));
        };
        let inside = |x: i32, y: i32| x >= 0 && y >= 0 && x < l.room_w && y < l.room_h;
        if room as usize >= l.rooms.len()
            || entry_room as usize >= l.rooms.len()
            || !inside(x, y)
            || !inside(ex, ey)
            || last_action > 4
        {
            return Err(Error::Snapshot(format!(
                "snapshot position (room {room}, {x}, {y}) does not fit level {}",
                l.name
            )));
        }
        self.s = MzState {
            level,
            room,
            x,
            y,
            entry: (entry_room, ex, ey),
            lives,
            keys,
            doors_open,
            keys_taken,
            jewels_taken,
            t,
            steps,
            last_action,
        };
        self.rng = rng;
        self.score = score;
        self.started = started;
        self.done = done;
        Ok(())
    }
}

impl Env for Montezuma {
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
        obs.check(&self.id, DType::U8, self.observation_space.flat_len())?;
        if let Some(s) = seed {
            self.rng = Rng::seed_from_u64(s);
        }
        self.start_level(0);
        self.s.lives = self.levels[0].lives;
        self.s.t = 0;
        self.s.steps = 0;
        self.s.last_action = 0;
        self.score = 0.0;
        self.started = true;
        self.done = false;
        self.write_obs(obs)?;
        Ok(self.make_info())
    }
    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> Result<Step> {
        let a = action.discrete_in(&self.id, 5)? as u8;
        obs.check(&self.id, DType::U8, self.observation_space.flat_len())?;
        if self.done || !self.started {
            return Err(Error::NeedsReset { env: self.id.clone() });
        }
        let (reward, terminated, level_done) = self.advance(a);
        let truncated = self.s.steps >= self.max_steps;
        self.done = terminated || truncated;
        self.write_obs(obs)?;
        let mut info = self.make_info();
        info.is_success = Some(level_done);
        Ok(Step { reward, terminated, truncated, info })
    }
    fn observe(&self, obs: ObsMut<'_>) -> Result<()> {
        self.write_obs(obs)
    }
    fn info(&self) -> Info {
        self.make_info()
    }
    fn snapshot(&self) -> Result<Snapshot> {
        Ok(self.write_snapshot())
    }
    fn restore(&mut self, snapshot: &Snapshot) -> Result<()> {
        self.read_snapshot(snapshot)
    }
    fn reseed(&mut self, seed: u64) {
        self.rng = Rng::seed_from_u64(seed);
    }
    fn render_text(&self) -> Option<String> {
        Some(self.render_room())
    }
    fn render_rgb(&self) -> Option<spelunk_core::Image> {
        Some(self.render_level())
    }
    fn agent_tile(&self) -> Option<[u32; 3]> {
        // As `render_level` lays the rooms out: one tile of border around each room.
        let l = self.level();
        let p = self.config.pixels_per_tile.max(2);
        let room = l.rooms.get(self.s.room as usize)?;
        let x = room.col * (l.room_w + 1) + 1 + self.s.x;
        let y = room.row * (l.room_h + 1) + 1 + self.s.y;
        Some([x as u32 * p, y as u32 * p, p])
    }
    fn action_names(&self) -> &[&'static str] {
        &ACTION_NAMES
    }
    fn max_episode_steps(&self) -> Option<u32> {
        Some(self.max_steps)
    }
}

/// Register `Montezuma-Lite-v0` and its observation variants.
pub fn register(reg: &mut Registry) {
    for (id, obs, desc) in [
        (
            "Montezuma-Lite-v0",
            ObsKind::Local,
            "11-room Montezuma-style level, local symbolic view (or any `level` file)",
        ),
        (
            "Montezuma-Lite-Grid-v0",
            ObsKind::Grid,
            "Montezuma-Lite with the full symbolic level grid",
        ),
        (
            "Montezuma-Lite-Pixels-v0",
            ObsKind::Pixels,
            "Montezuma-Lite with RGB pixels of the current room",
        ),
    ] {
        reg.register(id, "montezuma", desc, move |cfg| {
            let config = spelunk_core::registry::merge_config(
                id,
                &MontezumaConfig { obs, ..MontezumaConfig::default() },
                cfg,
            )?;
            Ok(Box::new(Montezuma::new(id, config)?) as Box<dyn Env>)
        });
    }
}
