//! The MiniGrid family with MiniGrid's exact semantics.
//!
//! What matches the Python package (`minigrid` 3.x) one to one:
//! - the observation: `image`, the egocentric 7×7×3 `(object, colour, state)` encoding in
//!   numpy's `(column, row, channel)` order with MiniGrid's integer tables, the visibility
//!   propagation of `Grid.process_vis` (see-through-walls off, except `Empty` where MiniGrid
//!   turns it on), the carried object shown in the agent's cell; then `direction`. The
//!   flat layout is 147 image bytes followed by one direction byte; the mission string is
//!   [`Env::mission`].
//! - actions 0–6: left, right, forward, pickup, drop, toggle, done;
//! - reward `1 − 0.9 · step_count / max_steps` on success, else 0; lava terminates with 0;
//!   `truncated` when `step_count ≥ max_steps` (both flags can be set on the same step);
//! - each family's default `max_steps` and its generator's structure (room placement, door
//!   and key rules, `connect_all`, rejection rules).
//!
//! - the layouts themselves: the generators make the same draws in the same order from
//!   [`spelunk_core::NpRandom`], numpy's generator bit for bit, seeded as Gymnasium seeds
//!   `env.np_random`, so `reset(seed = 3)` here builds the grid that `reset(seed=3)` builds in
//!   Python. The cross-check test compares layouts for recorded seeds and replays the
//!   recorded episodes step for step.
//!
//! What differs: an env never seeded starts from seed 0 (Gymnasium draws fresh OS entropy).
//! A grid made elsewhere can be imported from MiniGrid's full-grid encoding with [`Layout`]
//! and [`MiniGrid::from_layout`].
//!
//! The grid is stored with a border of `agent_view_size − 1` walls on every side, so the
//! view is gathered by fixed offsets with no bounds checks (cells outside MiniGrid's grid
//! also read as grey walls there).

pub mod cell;
mod gen;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spelunk_core::{
    Action, ByteReader, ByteWriter, DType, Env, Error, Info, NpRandom, ObsMut, Result, Snapshot,
    Space,
};

pub use cell::Cell;
use cell::{BOX, DOOR, EMPTY, GOAL, KEY, LAVA, LOCKED, OPEN};

/// Action names, by index.
pub const ACTION_NAMES: [&str; 7] =
    ["left", "right", "forward", "pickup", "drop", "toggle", "done"];

const SNAPSHOT_KIND: &str = "minigrid/2";

/// Which MiniGrid family an env is, with its parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum Family {
    /// `EmptyEnv(size, agent_start_pos)`; `random_start` puts the agent anywhere.
    Empty {
        /// Grid size.
        size: i32,
        /// Random agent position and direction.
        random_start: bool,
    },
    /// `FourRoomsEnv` (19×19).
    FourRooms,
    /// `DoorKeyEnv(size)`.
    DoorKey {
        /// Grid size.
        size: i32,
    },
    /// `MultiRoomEnv(minNumRooms, maxNumRooms, maxRoomSize)` on a 25×25 grid.
    MultiRoom {
        /// Fewest rooms.
        min_rooms: i32,
        /// Most rooms.
        max_rooms: i32,
        /// Largest room side.
        max_room_size: i32,
    },
    /// `KeyCorridorEnv(num_rows, room_size)`, 3 columns of rooms.
    KeyCorridor {
        /// Rows of rooms.
        num_rows: i32,
        /// Room side, walls included.
        room_size: i32,
    },
    /// `ObstructedMaze_1Dlhb(key_in_box, blocked)`: two rooms, a locked door.
    ObstructedMaze1 {
        /// The key is hidden in a box.
        key_in_box: bool,
        /// A ball blocks the door.
        blocked: bool,
    },
    /// A fixed layout imported from MiniGrid's encoding.
    Fixed(Box<Layout>),
}

impl Family {
    /// MiniGrid's default `max_steps` for this family.
    pub fn default_max_steps(&self) -> u32 {
        match self {
            Family::Empty { size, .. } => 4 * (size * size) as u32,
            Family::FourRooms => 100,
            Family::DoorKey { size } => 10 * (size * size) as u32,
            Family::MultiRoom { max_rooms, .. } => 20 * *max_rooms as u32,
            Family::KeyCorridor { room_size, .. } => 30 * (room_size * room_size) as u32,
            Family::ObstructedMaze1 { .. } => 4 * 2 * 36,
            Family::Fixed(l) => l.max_steps,
        }
    }
    fn dims(&self) -> (i32, i32) {
        match self {
            Family::Empty { size, .. } | Family::DoorKey { size } => (*size, *size),
            Family::FourRooms => (19, 19),
            Family::MultiRoom { .. } => (25, 25),
            Family::KeyCorridor { num_rows, room_size } => {
                ((room_size - 1) * 3 + 1, (room_size - 1) * num_rows + 1)
            }
            Family::ObstructedMaze1 { .. } => (5 * 2 + 1, 5 + 1),
            Family::Fixed(l) => (l.width, l.height),
        }
    }
    fn see_through_walls(&self) -> bool {
        match self {
            Family::Empty { .. } => true,
            Family::Fixed(l) => l.see_through_walls,
            _ => false,
        }
    }
}

/// What ends an episode with reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Step onto the goal square.
    ReachGoal,
    /// Pick up the object of this kind and colour (`KeyCorridor`, `ObstructedMaze`).
    PickUp {
        /// Object index.
        kind: u8,
        /// Colour index.
        color: u8,
    },
}

/// A layout in MiniGrid's full-grid encoding (`env.unwrapped.grid.encode()`), plus the agent
/// and episode fields, so a grid made by the Python package can be replayed here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Grid width (columns).
    pub width: i32,
    /// Grid height (rows).
    pub height: i32,
    /// `width * height * 3` bytes in numpy `(column, row, channel)` order.
    pub encoding: Vec<u8>,
    /// Agent column and row.
    pub agent_pos: (i32, i32),
    /// Agent direction (0 right, 1 down, 2 left, 3 up).
    pub agent_dir: u8,
    /// Mission string.
    pub mission: String,
    /// Time limit.
    pub max_steps: u32,
    /// MiniGrid's `see_through_walls` for this env.
    #[serde(default)]
    pub see_through_walls: bool,
    /// Success condition.
    pub task: Objective,
    /// Box contents, which the encoding does not show: `(column, row, kind, colour)`.
    #[serde(default)]
    pub box_contents: Vec<(i32, i32, u8, u8)>,
}

/// Knobs a config may set on any MiniGrid id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiniGridConfig {
    /// Episode time limit; `None` keeps MiniGrid's default for the family.
    pub max_steps: Option<u32>,
    /// Side of the egocentric view (odd, ≥ 3); `None` keeps MiniGrid's 7.
    pub agent_view_size: Option<u32>,
}

/// Direction vectors: right, down, left, up (MiniGrid's `DIR_TO_VEC`).
pub const DIR_TO_VEC: [(i32, i32); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];

/// Pixels a side of a tile in [`MiniGrid::render_image`].
const RENDER_TILE: usize = 8;

/// One MiniGrid environment.
#[derive(Clone, Debug)]
pub struct MiniGrid {
    id: String,
    family: Family,
    width: i32,
    height: i32,
    pad: i32,
    stride: i32,
    /// Padded cells, row-major.
    cells: Vec<Cell>,
    view: usize,
    /// Padded-grid offset from the agent of each view cell, per direction (shared by
    /// clones, which keeps a vector of envs small in cache).
    view_offsets: std::sync::Arc<[Vec<i32>; 4]>,
    see_through_walls: bool,
    max_steps: u32,
    agent_pos: (i32, i32),
    agent_dir: u8,
    carrying: Option<Cell>,
    step_count: u32,
    task: Objective,
    mission: String,
    rng: NpRandom,
    done: bool,
    started: bool,
    score: f32,
    observation_space: Space,
    action_space: Space,
    scratch: gen::Scratch,
}

impl MiniGrid {
    /// Build an env of a family with a config.
    pub fn new(id: &str, family: Family, config: &MiniGridConfig) -> Result<Self> {
        let view = config.agent_view_size.unwrap_or(7);
        if view < 3 || view % 2 == 0 || view > 31 {
            return Err(Error::Config {
                what: id.to_owned(),
                message: format!("agent_view_size must be odd and in 3..=31, got {view}"),
            });
        }
        let max_steps = config.max_steps.unwrap_or_else(|| family.default_max_steps());
        if max_steps == 0 {
            return Err(Error::Config { what: id.to_owned(), message: "max_steps is 0".into() });
        }
        let (width, height) = family.dims();
        if !(3..=512).contains(&width) || !(3..=512).contains(&height) {
            return Err(Error::Config {
                what: id.to_owned(),
                message: format!("grid {width}x{height} is outside 3..=512"),
            });
        }
        let view = view as usize;
        let pad = view as i32 - 1;
        let stride = width + 2 * pad;
        let cells = vec![Cell::WALL; (stride * (height + 2 * pad)) as usize];
        let view_offsets = std::array::from_fn(|d| {
            let (dx, dy) = DIR_TO_VEC[d];
            let (rx, ry) = (-dy, dx);
            let hs = (view / 2) as i32;
            // Flat obs index (vx * view + vy) -> padded-grid offset from the agent.
            let mut offs = vec![0i32; view * view];
            for vx in 0..view as i32 {
                for vy in 0..view as i32 {
                    let fwd = view as i32 - 1 - vy;
                    let side = vx - hs;
                    let wx = dx * fwd + rx * side;
                    let wy = dy * fwd + ry * side;
                    offs[(vx * view as i32 + vy) as usize] = wy * stride + wx;
                }
            }
            offs
        });
        let view_offsets = std::sync::Arc::new(view_offsets);
        let see_through_walls = family.see_through_walls();
        let task = match &family {
            Family::Fixed(l) => l.task,
            _ => Objective::ReachGoal,
        };
        let observation_space = Space::Dict(vec![
            ("image".into(), Space::uniform_box(&[view, view, 3], 0.0, 255.0, DType::U8)),
            ("direction".into(), Space::discrete(4)),
        ]);
        Ok(Self {
            id: id.to_owned(),
            family,
            width,
            height,
            pad,
            stride,
            cells,
            view,
            view_offsets,
            see_through_walls,
            max_steps,
            agent_pos: (1, 1),
            agent_dir: 0,
            carrying: None,
            step_count: 0,
            task,
            mission: String::with_capacity(64),
            rng: NpRandom::new(0),
            done: false,
            started: false,
            score: 0.0,
            observation_space,
            action_space: Space::discrete(7),
            scratch: gen::Scratch::default(),
        })
    }

    /// An env that replays one fixed layout on every reset.
    pub fn from_layout(id: &str, layout: Layout, config: &MiniGridConfig) -> Result<Self> {
        validate_layout(&layout)
            .map_err(|message| Error::Config { what: id.to_owned(), message })?;
        let config = MiniGridConfig {
            max_steps: config.max_steps.or(Some(layout.max_steps)),
            ..config.clone()
        };
        Self::new(id, Family::Fixed(Box::new(layout)), &config)
    }

    /// Grid width.
    pub fn width(&self) -> i32 {
        self.width
    }
    /// Grid height.
    pub fn height(&self) -> i32 {
        self.height
    }
    /// Agent column and row.
    pub fn agent_pos(&self) -> (i32, i32) {
        self.agent_pos
    }
    /// Agent direction.
    pub fn agent_dir(&self) -> u8 {
        self.agent_dir
    }
    /// Steps taken this episode.
    pub fn step_count(&self) -> u32 {
        self.step_count
    }
    /// The carried object.
    pub fn carrying(&self) -> Option<Cell> {
        self.carrying
    }
    /// What ends the episode with reward.
    pub fn task(&self) -> Objective {
        self.task
    }

    #[inline]
    fn idx(&self, x: i32, y: i32) -> usize {
        ((y + self.pad) * self.stride + x + self.pad) as usize
    }
    /// The cell at a column and row (walls outside the grid).
    #[inline]
    pub fn get(&self, x: i32, y: i32) -> Cell {
        if x < -self.pad
            || y < -self.pad
            || x >= self.width + self.pad
            || y >= self.height + self.pad
        {
            return Cell::WALL;
        }
        self.cells[self.idx(x, y)]
    }
    #[inline]
    fn set(&mut self, x: i32, y: i32, c: Cell) {
        let i = self.idx(x, y);
        self.cells[i] = c;
    }
    fn in_grid(&self, x: i32, y: i32) -> bool {
        x >= 0 && y >= 0 && x < self.width && y < self.height
    }

    /// The full grid in MiniGrid's encoding (`grid.encode()`, numpy `(column, row, channel)`
    /// order), without the agent.
    pub fn encode_grid(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.width * self.height * 3) as usize);
        for x in 0..self.width {
            for y in 0..self.height {
                out.extend_from_slice(&self.get(x, y).encode());
            }
        }
        out
    }

    /// Write the egocentric observation (image then direction).
    fn gen_obs(&self, out: &mut [u8]) {
        let view = self.view;
        let n = view * view;
        let agent = self.idx(self.agent_pos.0, self.agent_pos.1);
        let offs = &self.view_offsets[self.agent_dir as usize];
        // View cell (column i, row j) is `cell(i * view + j)`, read straight from the padded grid.
        let cell = |k: usize| self.cells[(agent as isize + offs[k] as isize) as usize];
        // Visibility as in `Grid.process_vis`, one row at a time with bit sets (bit i is
        // view column i). Its left-to-right pass spreads visibility right through cells that
        // can be seen past, then its right-to-left pass spreads it left; every cell active
        // in either pass also lights the cell above it and the one diagonally beyond. Each
        // pass's closure is exactly the sequential loop's, because a cell is only lit by its
        // neighbour on the side the pass comes from.
        let at = |i: usize, j: usize| i * view + j;
        let full = (1u32 << view) - 1;
        let mut mask = [0u32; 31];
        if self.see_through_walls {
            mask[..view].fill(full);
        } else {
            mask[view - 1] = 1 << (view / 2);
            for j in (0..view).rev() {
                let mut see = 0u32;
                for i in 0..view {
                    see |= u32::from(cell(at(i, j)).see_behind()) << i;
                }
                let mut fwd = mask[j];
                loop {
                    let next = fwd | (((fwd & see) << 1) & full);
                    if next == fwd {
                        break;
                    }
                    fwd = next;
                }
                let mut back = fwd;
                loop {
                    let next = back | ((back & see) >> 1);
                    if next == back {
                        break;
                    }
                    back = next;
                }
                mask[j] = back;
                if j > 0 {
                    let act_f = fwd & see & (full >> 1);
                    let act_b = back & see & !1;
                    mask[j - 1] |= (act_f | (act_f << 1) | act_b | (act_b >> 1)) & full;
                }
            }
        }
        let (image, dir) = out.split_at_mut(n * 3);
        let mut px = image.chunks_exact_mut(3);
        let mut k = 0;
        for i in 0..view {
            for &row in &mask[..view] {
                let Some(px) = px.next() else { break };
                let seen = row >> i & 1 == 1;
                px.copy_from_slice(&if seen { cell(k).encode() } else { [0, 0, 0] });
                k += 1;
            }
        }
        // The agent's own cell shows what it carries (always visible).
        let a = at(view / 2, view - 1) * 3;
        image[a..a + 3].copy_from_slice(&self.carrying.unwrap_or(Cell::EMPTY).encode());
        dir[0] = self.agent_dir;
    }

    fn reward(&self) -> f32 {
        (1.0 - 0.9 * (f64::from(self.step_count) / f64::from(self.max_steps))) as f32
    }

    fn room_of(&self, x: i32, y: i32) -> u32 {
        match &self.family {
            Family::FourRooms => {
                let (rw, rh) = (self.width / 2, self.height / 2);
                (u32::from(y >= rh) * 2) + u32::from(x >= rw)
            }
            Family::KeyCorridor { room_size, .. } => {
                let s = room_size - 1;
                ((y / s) * 3 + x / s) as u32
            }
            Family::ObstructedMaze1 { .. } => (x / 5) as u32,
            Family::MultiRoom { .. } => self
                .scratch
                .rooms
                .iter()
                .position(|r| {
                    x >= r.top.0 && y >= r.top.1 && x < r.top.0 + r.size.0 && y < r.top.1 + r.size.1
                })
                .map_or(0, |p| p as u32),
            _ => 0,
        }
    }

    fn make_info(&self) -> Info {
        let (x, y) = self.agent_pos;
        Info {
            x: Some(x),
            y: Some(y),
            room: Some(self.room_of(x, y)),
            level: Some(0),
            inventory: Some(
                self.carrying.map_or(0, |c| 1u64 << (u64::from(c.kind) * 6 + u64::from(c.color))),
            ),
            score: Some(self.score),
            direction: Some(self.agent_dir),
            is_success: Some(false),
            ..Info::default()
        }
    }

    /// Python's `pprint_grid`: two characters per cell, the agent as `>>`, `VV`, `<<`, `^^`.
    pub fn pprint_grid(&self) -> String {
        let mut s = String::with_capacity(((self.width * 2 + 1) * self.height) as usize);
        for y in 0..self.height {
            for x in 0..self.width {
                if (x, y) == self.agent_pos {
                    let a = ['>', 'V', '<', '^'][self.agent_dir as usize];
                    s.push(a);
                    s.push(a);
                } else {
                    let [a, b] = self.get(x, y).glyph();
                    s.push(a);
                    s.push(b);
                }
            }
            if y + 1 < self.height {
                s.push('\n');
            }
        }
        s
    }

    /// The full grid as an image (8 pixels a cell, MiniGrid's colours; the agent white with
    /// a dark mark on the side it faces; the cells it sees lightened).
    pub fn render_image(&self) -> spelunk_core::Image {
        const P: usize = RENDER_TILE;
        const COLORS: [[u8; 3]; 6] =
            [[255, 0, 0], [0, 255, 0], [0, 0, 255], [112, 39, 195], [255, 255, 0], [100, 100, 100]];
        let mut img = spelunk_core::Image::new(self.width as usize * P, self.height as usize * P);
        for y in 0..self.height {
            for x in 0..self.width {
                let c = self.get(x, y);
                let base = COLORS[c.color as usize % 6];
                let (px, py) = (x as usize * P, y as usize * P);
                match c.kind {
                    EMPTY => img.fill_square(px, py, P, [0, 0, 0]),
                    cell::WALL | GOAL | LAVA => img.fill_square(
                        px,
                        py,
                        P,
                        if c.kind == LAVA { [255, 128, 0] } else { base },
                    ),
                    DOOR if c.state == OPEN => {
                        img.fill_square(px, py, P, base);
                        img.fill_square(px + 1, py + 1, P - 2, [0, 0, 0]);
                    }
                    _ => {
                        img.fill_square(px, py, P, [0, 0, 0]);
                        img.fill_square(px + 2, py + 2, P - 4, base);
                    }
                }
            }
        }
        let (ax, ay) = (self.agent_pos.0 as usize * P, self.agent_pos.1 as usize * P);
        img.fill_square(ax + 1, ay + 1, P - 2, [255, 255, 255]);
        let (dx, dy) = DIR_TO_VEC[self.agent_dir as usize];
        let mx = (ax as i32 + 3 + dx * 2) as usize;
        let my = (ay as i32 + 3 + dy * 2) as usize;
        img.fill_square(mx, my, 2, [200, 0, 0]);
        img
    }

    fn write_snapshot(&self) -> Snapshot {
        let mut w = ByteWriter::new();
        w.i32(self.width);
        w.i32(self.height);
        for y in 0..self.height {
            for x in 0..self.width {
                let c = self.get(x, y);
                w.u8(c.kind);
                w.u8(c.color);
                w.u8(c.state);
                w.u8(c.contains);
            }
        }
        w.i32(self.agent_pos.0);
        w.i32(self.agent_pos.1);
        w.u8(self.agent_dir);
        match self.carrying {
            Some(c) => {
                w.bool(true);
                w.u8(c.kind);
                w.u8(c.color);
                w.u8(c.state);
                w.u8(c.contains);
            }
            None => w.bool(false),
        }
        w.u32(self.step_count);
        match self.task {
            Objective::ReachGoal => w.u8(0),
            Objective::PickUp { kind, color } => {
                w.u8(1);
                w.u8(kind);
                w.u8(color);
            }
        }
        w.bytes(self.mission.as_bytes());
        let (state, inc, has_uint32, uinteger) = self.rng.raw();
        for v in [state, inc] {
            w.u64((v >> 64) as u64);
            w.u64(v as u64);
        }
        w.bool(has_uint32);
        w.u32(uinteger);
        w.bool(self.done);
        w.bool(self.started);
        w.f32(self.score);
        w.u32(self.scratch.rooms.len() as u32);
        for r in &self.scratch.rooms {
            w.i32(r.top.0);
            w.i32(r.top.1);
            w.i32(r.size.0);
            w.i32(r.size.1);
        }
        w.finish(SNAPSHOT_KIND)
    }

    fn read_snapshot(&mut self, snap: &Snapshot) -> Result<()> {
        let mut r = snap.expect_kind(SNAPSHOT_KIND)?;
        let (w, h) = (r.i32()?, r.i32()?);
        if (w, h) != (self.width, self.height) {
            return Err(Error::Snapshot(format!(
                "snapshot grid is {w}x{h}, {} is {}x{}",
                self.id, self.width, self.height
            )));
        }
        let mut cells = Vec::with_capacity((w * h) as usize);
        for _ in 0..w * h {
            cells.push(read_cell(&mut r)?);
        }
        let agent_pos = (r.i32()?, r.i32()?);
        let agent_dir = r.u8()?;
        if !self.in_grid(agent_pos.0, agent_pos.1) || agent_dir > 3 {
            return Err(Error::Snapshot(format!(
                "corrupt snapshot: agent at {agent_pos:?} facing {agent_dir}"
            )));
        }
        let carrying = if r.bool()? { Some(read_cell(&mut r)?) } else { None };
        let step_count = r.u32()?;
        let task = match r.u8()? {
            0 => Objective::ReachGoal,
            1 => Objective::PickUp { kind: r.u8()?, color: r.u8()? },
            t => return Err(Error::Snapshot(format!("corrupt snapshot: task tag {t}"))),
        };
        let mission = std::str::from_utf8(r.bytes()?)
            .map_err(|_| Error::Snapshot("corrupt snapshot: mission is not UTF-8".into()))?;
        let mut words = [0u128; 2];
        for v in &mut words {
            *v = (u128::from(r.u64()?) << 64) | u128::from(r.u64()?);
        }
        let rng = NpRandom::from_raw(words[0], words[1], r.bool()?, r.u32()?);
        let done = r.bool()?;
        let started = r.bool()?;
        let score = r.f32()?;
        let n_rooms = r.u32()? as usize;
        if n_rooms > 1024 {
            return Err(Error::Snapshot(format!("corrupt snapshot: {n_rooms} rooms")));
        }
        let mut rooms = Vec::with_capacity(n_rooms);
        for _ in 0..n_rooms {
            rooms.push(gen::RoomRect { top: (r.i32()?, r.i32()?), size: (r.i32()?, r.i32()?) });
        }
        r.finish()?;
        // Only now, with everything decoded, change the env.
        for (k, c) in cells.into_iter().enumerate() {
            let (x, y) = ((k as i32) % w, (k as i32) / w);
            self.set(x, y, c);
        }
        self.agent_pos = agent_pos;
        self.agent_dir = agent_dir;
        self.carrying = carrying;
        self.step_count = step_count;
        self.task = task;
        self.mission.clear();
        self.mission.push_str(mission);
        self.rng = rng;
        self.done = done;
        self.started = started;
        self.score = score;
        self.scratch.rooms = rooms;
        Ok(())
    }
}

fn read_cell(r: &mut ByteReader<'_>) -> Result<Cell> {
    let (kind, color, state, contains) = (r.u8()?, r.u8()?, r.u8()?, r.u8()?);
    let mut c = Cell::decode(kind, color, state).ok_or_else(|| {
        Error::Snapshot(format!("corrupt snapshot: cell ({kind}, {color}, {state})"))
    })?;
    c.contains = contains;
    Ok(c)
}

fn validate_layout(l: &Layout) -> std::result::Result<(), String> {
    if l.width < 3 || l.height < 3 || l.width > 512 || l.height > 512 {
        return Err(format!("layout is {}x{}; MiniGrid grids are at least 3x3", l.width, l.height));
    }
    let want = (l.width * l.height * 3) as usize;
    if l.encoding.len() != want {
        return Err(format!(
            "encoding has {} bytes, a {}x{} grid needs {want}",
            l.encoding.len(),
            l.width,
            l.height
        ));
    }
    for (k, t) in l.encoding.chunks_exact(3).enumerate() {
        if Cell::decode(t[0], t[1], t[2]).is_none() {
            let (x, y) = (k as i32 / l.height, k as i32 % l.height);
            return Err(format!("cell ({x}, {y}) has encoding {t:?}, outside MiniGrid's tables"));
        }
    }
    let (ax, ay) = l.agent_pos;
    if ax < 0 || ay < 0 || ax >= l.width || ay >= l.height || l.agent_dir > 3 {
        return Err(format!("agent at ({ax}, {ay}) facing {} is outside the grid", l.agent_dir));
    }
    if l.max_steps == 0 {
        return Err("max_steps is 0".into());
    }
    Ok(())
}

impl Env for MiniGrid {
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
        let len = self.observation_space.flat_len();
        let out = obs.expect_u8(&self.id, len)?;
        if let Some(s) = seed {
            self.rng = NpRandom::new(s);
        }
        self.carrying = None;
        self.step_count = 0;
        self.score = 0.0;
        self.generate()?;
        self.done = false;
        self.started = true;
        self.gen_obs(out);
        Ok(self.make_info())
    }

    fn step(&mut self, action: Action<'_>, obs: ObsMut<'_>) -> Result<spelunk_core::Step> {
        let a = action.discrete_in(&self.id, 7)?;
        let len = self.observation_space.flat_len();
        let out = obs.expect_u8(&self.id, len)?;
        if self.done || !self.started {
            return Err(Error::NeedsReset { env: self.id.clone() });
        }
        self.step_count += 1;
        let mut reward = 0.0;
        let mut terminated = false;
        let (dx, dy) = DIR_TO_VEC[self.agent_dir as usize];
        let fwd = (self.agent_pos.0 + dx, self.agent_pos.1 + dy);
        let fwd_cell = self.get(fwd.0, fwd.1);
        match a {
            0 => self.agent_dir = (self.agent_dir + 3) % 4,
            1 => self.agent_dir = (self.agent_dir + 1) % 4,
            2 => {
                if fwd_cell.can_overlap() && self.in_grid(fwd.0, fwd.1) {
                    self.agent_pos = fwd;
                }
                if fwd_cell.kind == GOAL {
                    terminated = true;
                    reward = self.reward();
                }
                if fwd_cell.kind == LAVA {
                    terminated = true;
                }
            }
            3 if fwd_cell.can_pickup() && self.carrying.is_none() => {
                self.carrying = Some(fwd_cell);
                self.set(fwd.0, fwd.1, Cell::EMPTY);
            }
            4 if fwd_cell.kind == EMPTY && self.in_grid(fwd.0, fwd.1) => {
                if let Some(c) = self.carrying.take() {
                    self.set(fwd.0, fwd.1, c);
                }
            }
            5 => match fwd_cell.kind {
                DOOR => {
                    let mut door = fwd_cell;
                    if door.state == LOCKED {
                        if let Some(k) = self.carrying {
                            if k.kind == KEY && k.color == door.color {
                                door.state = OPEN;
                            }
                        }
                    } else {
                        door.state = if door.state == OPEN { cell::CLOSED } else { OPEN };
                    }
                    self.set(fwd.0, fwd.1, door);
                }
                BOX => {
                    let content = fwd_cell.content().unwrap_or(Cell::EMPTY);
                    self.set(fwd.0, fwd.1, content);
                }
                _ => {}
            },
            _ => {}
        }
        if a == 3 {
            if let (Objective::PickUp { kind, color }, Some(c)) = (self.task, self.carrying) {
                if c.kind == kind && c.color == color {
                    reward = self.reward();
                    terminated = true;
                }
            }
        }
        let truncated = self.step_count >= self.max_steps;
        self.done = terminated || truncated;
        self.score += reward;
        self.gen_obs(out);
        let mut info = self.make_info();
        info.is_success = Some(reward > 0.0);
        Ok(spelunk_core::Step { reward, terminated, truncated, info })
    }

    fn observe(&self, obs: ObsMut<'_>) -> Result<()> {
        let out = obs.expect_u8(&self.id, self.observation_space.flat_len())?;
        self.gen_obs(out);
        Ok(())
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
    fn render_text(&self) -> Option<String> {
        Some(self.pprint_grid())
    }
    fn render_rgb(&self) -> Option<spelunk_core::Image> {
        Some(self.render_image())
    }
    fn agent_tile(&self) -> Option<[u32; 3]> {
        let p = RENDER_TILE as u32;
        Some([self.agent_pos.0 as u32 * p, self.agent_pos.1 as u32 * p, p])
    }
    fn mission(&self) -> Option<&str> {
        Some(&self.mission)
    }
    fn action_names(&self) -> &[&'static str] {
        &ACTION_NAMES
    }
    fn max_episode_steps(&self) -> Option<u32> {
        Some(self.max_steps)
    }
}

/// Every MiniGrid id with its description and family parameters.
pub fn families() -> Vec<(&'static str, &'static str, Family)> {
    let empty = "empty room, goal in the far corner";
    let doorkey = "pick up the key, unlock the door, reach the goal";
    let multi = "chain of rooms joined by closed doors; reach the goal";
    let corridor = "fetch a key from a side room to reach a ball behind a locked door";
    let mut v = vec![
        ("MiniGrid-Empty-5x5-v0", empty, Family::Empty { size: 5, random_start: false }),
        ("MiniGrid-Empty-6x6-v0", empty, Family::Empty { size: 6, random_start: false }),
        ("MiniGrid-Empty-8x8-v0", empty, Family::Empty { size: 8, random_start: false }),
        ("MiniGrid-Empty-16x16-v0", empty, Family::Empty { size: 16, random_start: false }),
        (
            "MiniGrid-Empty-Random-5x5-v0",
            "empty room, random start",
            Family::Empty { size: 5, random_start: true },
        ),
        (
            "MiniGrid-Empty-Random-6x6-v0",
            "empty room, random start",
            Family::Empty { size: 6, random_start: true },
        ),
        ("MiniGrid-FourRooms-v0", "four rooms joined by gaps; reach the goal", Family::FourRooms),
        ("MiniGrid-DoorKey-5x5-v0", doorkey, Family::DoorKey { size: 5 }),
        ("MiniGrid-DoorKey-6x6-v0", doorkey, Family::DoorKey { size: 6 }),
        ("MiniGrid-DoorKey-8x8-v0", doorkey, Family::DoorKey { size: 8 }),
        ("MiniGrid-DoorKey-16x16-v0", doorkey, Family::DoorKey { size: 16 }),
        (
            "MiniGrid-MultiRoom-N2-S4-v0",
            multi,
            Family::MultiRoom { min_rooms: 2, max_rooms: 2, max_room_size: 4 },
        ),
        // MiniGrid keeps this legacy id configured for 6 rooms; v1 has 4.
        (
            "MiniGrid-MultiRoom-N4-S5-v0",
            multi,
            Family::MultiRoom { min_rooms: 6, max_rooms: 6, max_room_size: 5 },
        ),
        (
            "MiniGrid-MultiRoom-N4-S5-v1",
            multi,
            Family::MultiRoom { min_rooms: 4, max_rooms: 4, max_room_size: 5 },
        ),
        (
            "MiniGrid-MultiRoom-N6-v0",
            multi,
            Family::MultiRoom { min_rooms: 6, max_rooms: 6, max_room_size: 10 },
        ),
        (
            "MiniGrid-ObstructedMaze-1Dl-v0",
            "unlock the door to the next room and pick up the blue ball",
            Family::ObstructedMaze1 { key_in_box: false, blocked: false },
        ),
        (
            "MiniGrid-ObstructedMaze-1Dlh-v0",
            "as 1Dl, the key hidden in a box",
            Family::ObstructedMaze1 { key_in_box: true, blocked: false },
        ),
        (
            "MiniGrid-ObstructedMaze-1Dlhb-v0",
            "as 1Dlh, a ball blocking the door",
            Family::ObstructedMaze1 { key_in_box: true, blocked: true },
        ),
    ];
    for (id, room_size, num_rows) in [
        ("MiniGrid-KeyCorridorS3R1-v0", 3, 1),
        ("MiniGrid-KeyCorridorS3R2-v0", 3, 2),
        ("MiniGrid-KeyCorridorS3R3-v0", 3, 3),
        ("MiniGrid-KeyCorridorS4R3-v0", 4, 3),
        ("MiniGrid-KeyCorridorS5R3-v0", 5, 3),
        ("MiniGrid-KeyCorridorS6R3-v0", 6, 3),
    ] {
        v.push((id, corridor, Family::KeyCorridor { num_rows, room_size }));
    }
    v
}

/// The family of a MiniGrid id.
pub fn family(id: &str) -> Option<Family> {
    families().into_iter().find(|(i, _, _)| *i == id).map(|(_, _, f)| f)
}

/// Register the MiniGrid ids.
pub fn register(reg: &mut spelunk_core::Registry) {
    for (id, desc, family) in families() {
        reg.register(id, "minigrid", desc, move |cfg| {
            let config: MiniGridConfig = spelunk_core::registry::parse_config(id, cfg)?;
            Ok(Box::new(MiniGrid::new(id, family.clone(), &config)?) as Box<dyn Env>)
        });
    }
}
