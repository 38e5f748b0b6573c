//! Level generators, written after MiniGrid's `_gen_grid` of each family so that the
//! structure (and thus the distribution of layouts) is the same; the draws come from
//! Spelunk's generator. Scratch vectors are kept in the env so resets do not allocate in
//! steady state.

use spelunk_core::{Error, Result};

use super::cell::{Cell, BALL, BLUE, BOX, CLOSED, GREEN, GREY, KEY, LOCKED, YELLOW};
use super::{Family, MiniGrid, Objective, DIR_TO_VEC};

/// Colour indices in MiniGrid's `COLOR_NAMES` order (sorted names).
const COLOR_ORDER: [u8; 6] = [BLUE, GREEN, GREY, super::cell::PURPLE, super::cell::RED, YELLOW];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RoomRect {
    pub top: (i32, i32),
    pub size: (i32, i32),
}

#[derive(Clone, Copy, Debug, Default)]
struct MultiRoomPlan {
    top: (i32, i32),
    size: (i32, i32),
    entry_door: (i32, i32),
}

#[derive(Clone, Copy, Debug, Default)]
struct GridRoom {
    top: (i32, i32),
    size: (i32, i32),
    /// 0 no door, 1 door, 2 wall removed.
    doors: [u8; 4],
    door_pos: [Option<(i32, i32)>; 4],
    neighbors: [Option<(usize, usize)>; 4],
    locked: bool,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    pub rooms: Vec<RoomRect>,
    plan: Vec<MultiRoomPlan>,
    best: Vec<MultiRoomPlan>,
    grid_rooms: Vec<GridRoom>,
    cols: usize,
    rows: usize,
    reach: Vec<bool>,
    stack: Vec<usize>,
}

const MAX_TRIES: u32 = 100_000;

impl MiniGrid {
    /// MiniGrid's `_rand_int`: `np_random.integers(low, high)`.
    fn rand_int(&mut self, low: i32, high: i32) -> i32 {
        self.rng.integers(i64::from(low), i64::from(high)) as i32
    }

    /// A uniform index in `0..n`, drawn as `_rand_elem` draws it.
    fn rand_index(&mut self, n: usize) -> usize {
        self.rng.integers(0, n as i64) as usize
    }

    fn rand_color(&mut self) -> u8 {
        COLOR_ORDER[self.rand_index(6)]
    }

    fn gen_error(&self, what: &str) -> Error {
        Error::Config { what: self.id.clone(), message: format!("level generation failed: {what}") }
    }

    fn clear_grid(&mut self) {
        for y in 0..self.height {
            for x in 0..self.width {
                self.set(x, y, Cell::EMPTY);
            }
        }
    }

    fn horz_wall(&mut self, x: i32, y: i32, len: i32) {
        for i in 0..len {
            if self.in_grid(x + i, y) {
                self.set(x + i, y, Cell::WALL);
            }
        }
    }

    fn vert_wall(&mut self, x: i32, y: i32, len: i32) {
        for j in 0..len {
            if self.in_grid(x, y + j) {
                self.set(x, y + j, Cell::WALL);
            }
        }
    }

    fn wall_rect(&mut self, x: i32, y: i32, w: i32, h: i32) {
        self.horz_wall(x, y, w);
        self.horz_wall(x, y + h - 1, w);
        self.vert_wall(x, y, h);
        self.vert_wall(x + w - 1, y, h);
    }

    /// MiniGrid's `place_obj`: a random empty cell in the rectangle, not the agent's.
    fn place_obj(
        &mut self,
        obj: Option<Cell>,
        top: (i32, i32),
        size: (i32, i32),
        reject_next_to_agent: bool,
    ) -> Result<(i32, i32)> {
        let top = (top.0.max(0), top.1.max(0));
        for _ in 0..MAX_TRIES {
            let x = self.rand_int(top.0, (top.0 + size.0).min(self.width));
            let y = self.rand_int(top.1, (top.1 + size.1).min(self.height));
            if self.get(x, y) != Cell::EMPTY || (x, y) == self.agent_pos {
                continue;
            }
            if reject_next_to_agent
                && (self.agent_pos.0 - x).abs() + (self.agent_pos.1 - y).abs() < 2
            {
                continue;
            }
            if let Some(o) = obj {
                self.set(x, y, o);
            }
            return Ok((x, y));
        }
        Err(self.gen_error("no free cell to place an object"))
    }

    fn place_agent(&mut self, top: (i32, i32), size: (i32, i32)) -> Result<()> {
        self.agent_pos = (-1, -1);
        let pos = self.place_obj(None, top, size, false)?;
        self.agent_pos = pos;
        self.agent_dir = self.rand_int(0, 4) as u8;
        Ok(())
    }

    fn set_mission(&mut self, m: &str) {
        self.mission.clear();
        self.mission.push_str(m);
    }

    /// Build the layout for the current family from the env's generator.
    pub(crate) fn generate(&mut self) -> Result<()> {
        self.scratch.rooms.clear();
        self.task = Objective::ReachGoal;
        match self.family.clone() {
            Family::Empty { size, random_start } => {
                self.clear_grid();
                self.wall_rect(0, 0, size, size);
                self.set(size - 2, size - 2, Cell::GOAL);
                if random_start {
                    self.place_agent((0, 0), (size, size))?;
                } else {
                    self.agent_pos = (1, 1);
                    self.agent_dir = 0;
                }
                self.set_mission("get to the green goal square");
            }
            Family::FourRooms => self.gen_four_rooms()?,
            Family::DoorKey { size } => {
                self.clear_grid();
                self.wall_rect(0, 0, size, size);
                self.set(size - 2, size - 2, Cell::GOAL);
                let split = self.rand_int(2, size - 2);
                self.vert_wall(split, 0, size);
                self.place_agent((0, 0), (split, size))?;
                let door_y = self.rand_int(1, size - 2);
                self.set(split, door_y, Cell::door(YELLOW, LOCKED));
                self.place_obj(Some(Cell::obj(KEY, YELLOW)), (0, 0), (split, size), false)?;
                self.set_mission("use the key to open the door and then get to the goal");
            }
            Family::MultiRoom { min_rooms, max_rooms, max_room_size } => {
                self.gen_multi_room(min_rooms, max_rooms, max_room_size)?;
            }
            Family::KeyCorridor { num_rows, room_size } => {
                self.gen_key_corridor(num_rows, room_size)?;
            }
            Family::ObstructedMaze1 { key_in_box, blocked } => {
                self.gen_obstructed_maze_1(key_in_box, blocked)?;
            }
            Family::Fixed(layout) => {
                self.clear_grid();
                for (k, t) in layout.encoding.chunks_exact(3).enumerate() {
                    let (x, y) = (k as i32 / layout.height, k as i32 % layout.height);
                    let c = Cell::decode(t[0], t[1], t[2]).unwrap_or(Cell::EMPTY);
                    self.set(x, y, c);
                }
                for &(x, y, kind, color) in &layout.box_contents {
                    if self.in_grid(x, y) && self.get(x, y).kind == BOX {
                        let mut b = self.get(x, y);
                        b.contains = (kind << 4) | (color & 0xF);
                        self.set(x, y, b);
                    }
                }
                self.agent_pos = layout.agent_pos;
                self.agent_dir = layout.agent_dir;
                self.task = layout.task;
                self.set_mission(&layout.mission);
            }
        }
        Ok(())
    }

    fn gen_four_rooms(&mut self) -> Result<()> {
        let (w, h) = (self.width, self.height);
        self.clear_grid();
        self.horz_wall(0, 0, w);
        self.horz_wall(0, h - 1, w);
        self.vert_wall(0, 0, h);
        self.vert_wall(w - 1, 0, h);
        let (rw, rh) = (w / 2, h / 2);
        for j in 0..2 {
            for i in 0..2 {
                let (xl, yt) = (i * rw, j * rh);
                let (xr, yb) = (xl + rw, yt + rh);
                if i + 1 < 2 {
                    self.vert_wall(xr, yt, rh);
                    let y = self.rand_int(yt + 1, yb);
                    self.set(xr, y, Cell::EMPTY);
                }
                if j + 1 < 2 {
                    self.horz_wall(xl, yb, rw);
                    let x = self.rand_int(xl + 1, xr);
                    self.set(x, yb, Cell::EMPTY);
                }
            }
        }
        self.place_agent((0, 0), (w, h))?;
        self.place_obj(Some(Cell::GOAL), (0, 0), (w, h), false)?;
        self.set_mission("reach the goal");
        Ok(())
    }

    fn gen_multi_room(&mut self, min_rooms: i32, max_rooms: i32, max_size: i32) -> Result<()> {
        let w = self.width;
        let num_rooms = self.rand_int(min_rooms, max_rooms + 1) as usize;
        let mut best = std::mem::take(&mut self.scratch.best);
        let mut plan = std::mem::take(&mut self.scratch.plan);
        best.clear();
        let mut tries = 0;
        while best.len() < num_rooms {
            tries += 1;
            if tries > MAX_TRIES {
                return Err(self.gen_error("could not place the rooms"));
            }
            plan.clear();
            let entry = (self.rand_int(0, w - 2), self.rand_int(0, w - 2));
            self.place_room(num_rooms, &mut plan, 4, max_size, 2, entry);
            if plan.len() > best.len() {
                std::mem::swap(&mut plan, &mut best);
            }
        }
        self.clear_grid();
        // MultiRoom builds a fresh grid: cells outside rooms are empty, not walls.
        let mut prev_color: Option<u8> = None;
        for (idx, room) in best.iter().enumerate() {
            let (tx, ty) = room.top;
            let (sx, sy) = room.size;
            for i in 0..sx {
                self.set(tx + i, ty, Cell::WALL);
                self.set(tx + i, ty + sy - 1, Cell::WALL);
            }
            for j in 0..sy {
                self.set(tx, ty + j, Cell::WALL);
                self.set(tx + sx - 1, ty + j, Cell::WALL);
            }
            if idx > 0 {
                // sorted(set(COLOR_NAMES) - {prev})
                let mut choices = [0u8; 6];
                let mut n = 0;
                for &c in &COLOR_ORDER {
                    if Some(c) != prev_color {
                        choices[n] = c;
                        n += 1;
                    }
                }
                let color = choices[self.rand_index(n)];
                self.set(room.entry_door.0, room.entry_door.1, Cell::door(color, CLOSED));
                prev_color = Some(color);
            }
        }
        let first = best[0];
        let last = best[best.len() - 1];
        self.scratch.rooms.clear();
        self.scratch.rooms.extend(best.iter().map(|r| RoomRect { top: r.top, size: r.size }));
        self.scratch.best = best;
        self.scratch.plan = plan;
        self.place_agent(first.top, first.size)?;
        self.place_obj(Some(Cell::GOAL), last.top, last.size, false)?;
        self.set_mission("traverse the rooms to get to the goal");
        Ok(())
    }

    /// MiniGrid's recursive `_placeRoom`.
    fn place_room(
        &mut self,
        num_left: usize,
        rooms: &mut Vec<MultiRoomPlan>,
        min_sz: i32,
        max_sz: i32,
        entry_wall: i32,
        entry: (i32, i32),
    ) -> bool {
        let sx = self.rand_int(min_sz, max_sz + 1);
        let sy = self.rand_int(min_sz, max_sz + 1);
        let (tx, ty) = if rooms.is_empty() {
            entry
        } else {
            match entry_wall {
                0 => (entry.0 - sx + 1, self.rand_int(entry.1 - sy + 2, entry.1)),
                1 => (self.rand_int(entry.0 - sx + 2, entry.0), entry.1 - sy + 1),
                2 => (entry.0, self.rand_int(entry.1 - sy + 2, entry.1)),
                _ => (self.rand_int(entry.0 - sx + 2, entry.0), entry.1),
            }
        };
        if tx < 0 || ty < 0 {
            return false;
        }
        if tx + sx > self.width || ty + sy >= self.height {
            return false;
        }
        let n = rooms.len();
        for r in &rooms[..n.saturating_sub(1)] {
            let non_overlap = tx + sx < r.top.0
                || r.top.0 + r.size.0 <= tx
                || ty + sy < r.top.1
                || r.top.1 + r.size.1 <= ty;
            if !non_overlap {
                return false;
            }
        }
        rooms.push(MultiRoomPlan { top: (tx, ty), size: (sx, sy), entry_door: entry });
        if num_left == 1 {
            return true;
        }
        for _ in 0..8 {
            let mut walls = [0i32; 3];
            let mut k = 0;
            for wall in 0..4 {
                if wall != entry_wall {
                    walls[k] = wall;
                    k += 1;
                }
            }
            let exit_wall = walls[self.rand_index(3)];
            let next_entry_wall = (exit_wall + 2) % 4;
            let exit = match exit_wall {
                0 => (tx + sx - 1, ty + self.rand_int(1, sy - 1)),
                1 => (tx + self.rand_int(1, sx - 1), ty + sy - 1),
                2 => (tx, ty + self.rand_int(1, sy - 1)),
                _ => (tx + self.rand_int(1, sx - 1), ty),
            };
            if self.place_room(num_left - 1, rooms, min_sz, max_sz, next_entry_wall, exit) {
                break;
            }
        }
        true
    }

    // ---- RoomGrid (KeyCorridor, ObstructedMaze) ----

    fn room_grid(&mut self, rows: usize, cols: usize, room_size: i32) {
        self.clear_grid();
        let s = &mut self.scratch;
        s.rows = rows;
        s.cols = cols;
        s.grid_rooms.clear();
        for j in 0..rows {
            for i in 0..cols {
                s.grid_rooms.push(GridRoom {
                    top: (i as i32 * (room_size - 1), j as i32 * (room_size - 1)),
                    size: (room_size, room_size),
                    ..GridRoom::default()
                });
            }
        }
        for k in 0..rows * cols {
            let r = self.scratch.grid_rooms[k];
            self.wall_rect(r.top.0, r.top.1, r.size.0, r.size.1);
        }
        for j in 0..rows {
            for i in 0..cols {
                let k = j * cols + i;
                let r = self.scratch.grid_rooms[k];
                let (xl, yl) = (r.top.0 + 1, r.top.1 + 1);
                let (xm, ym) = (r.top.0 + r.size.0 - 1, r.top.1 + r.size.1 - 1);
                if i < cols - 1 {
                    let y = self.rand_int(yl, ym);
                    let room = &mut self.scratch.grid_rooms[k];
                    room.neighbors[0] = Some((i + 1, j));
                    room.door_pos[0] = Some((xm, y));
                }
                if j < rows - 1 {
                    let x = self.rand_int(xl, xm);
                    let room = &mut self.scratch.grid_rooms[k];
                    room.neighbors[1] = Some((i, j + 1));
                    room.door_pos[1] = Some((x, ym));
                }
                if i > 0 {
                    let left = self.scratch.grid_rooms[k - 1].door_pos[0];
                    let room = &mut self.scratch.grid_rooms[k];
                    room.neighbors[2] = Some((i - 1, j));
                    room.door_pos[2] = left;
                }
                if j > 0 {
                    let up = self.scratch.grid_rooms[k - cols].door_pos[1];
                    let room = &mut self.scratch.grid_rooms[k];
                    room.neighbors[3] = Some((i, j - 1));
                    room.door_pos[3] = up;
                }
            }
        }
        self.agent_pos = (
            (cols as i32 / 2) * (room_size - 1) + room_size / 2,
            (rows as i32 / 2) * (room_size - 1) + room_size / 2,
        );
        self.agent_dir = 0;
    }

    fn place_in_room(&mut self, i: usize, j: usize, obj: Cell) -> Result<(i32, i32)> {
        let r = self.scratch.grid_rooms[j * self.scratch.cols + i];
        self.place_obj(Some(obj), r.top, r.size, true)
    }

    fn add_door(
        &mut self,
        i: usize,
        j: usize,
        door_idx: usize,
        color: u8,
        locked: bool,
    ) -> (i32, i32) {
        let cols = self.scratch.cols;
        let k = j * cols + i;
        let room = &mut self.scratch.grid_rooms[k];
        room.locked = locked;
        let pos = room.door_pos[door_idx].unwrap_or((0, 0));
        room.doors[door_idx] = 1;
        let (ni, nj) = room.neighbors[door_idx].unwrap_or((i, j));
        self.scratch.grid_rooms[nj * cols + ni].doors[(door_idx + 2) % 4] = 1;
        self.set(pos.0, pos.1, Cell::door(color, if locked { LOCKED } else { CLOSED }));
        pos
    }

    fn remove_wall(&mut self, i: usize, j: usize, wall: usize) {
        let cols = self.scratch.cols;
        let r = self.scratch.grid_rooms[j * cols + i];
        let (tx, ty) = r.top;
        let (w, h) = r.size;
        match wall {
            0 => (1..h - 1).for_each(|k| self.set(tx + w - 1, ty + k, Cell::EMPTY)),
            1 => (1..w - 1).for_each(|k| self.set(tx + k, ty + h - 1, Cell::EMPTY)),
            2 => (1..h - 1).for_each(|k| self.set(tx, ty + k, Cell::EMPTY)),
            _ => (1..w - 1).for_each(|k| self.set(tx + k, ty, Cell::EMPTY)),
        }
        self.scratch.grid_rooms[j * cols + i].doors[wall] = 2;
        if let Some((ni, nj)) = r.neighbors[wall] {
            self.scratch.grid_rooms[nj * cols + ni].doors[(wall + 2) % 4] = 2;
        }
    }

    /// `RoomGrid.place_agent(i, j)`: random cell and direction until facing empty or wall.
    fn place_agent_in_room(&mut self, i: usize, j: usize) -> Result<()> {
        let r = self.scratch.grid_rooms[j * self.scratch.cols + i];
        for _ in 0..MAX_TRIES {
            self.place_agent(r.top, r.size)?;
            let (dx, dy) = DIR_TO_VEC[self.agent_dir as usize];
            let front = self.get(self.agent_pos.0 + dx, self.agent_pos.1 + dy);
            if front == Cell::EMPTY || front.kind == super::cell::WALL {
                return Ok(());
            }
        }
        Err(self.gen_error("could not place the agent"))
    }

    /// `RoomGrid.connect_all`: add unlocked doors until every room is reachable.
    fn connect_all(&mut self) -> Result<()> {
        let (rows, cols) = (self.scratch.rows, self.scratch.cols);
        let start = {
            let (x, y) = self.agent_pos;
            let s = self.scratch.grid_rooms[0].size.0 - 1;
            (y / s) as usize * cols + (x / s) as usize
        };
        for _ in 0..5000 {
            // Reachable rooms from the agent's room through doors and removed walls.
            let s = &mut self.scratch;
            s.reach.clear();
            s.reach.resize(rows * cols, false);
            s.stack.clear();
            s.stack.push(start);
            let mut count = 0;
            while let Some(k) = s.stack.pop() {
                if s.reach[k] {
                    continue;
                }
                s.reach[k] = true;
                count += 1;
                for d in 0..4 {
                    if s.grid_rooms[k].doors[d] != 0 {
                        if let Some((ni, nj)) = s.grid_rooms[k].neighbors[d] {
                            s.stack.push(nj * cols + ni);
                        }
                    }
                }
            }
            if count == rows * cols {
                return Ok(());
            }
            let i = self.rand_index(cols);
            let j = self.rand_index(rows);
            let k = self.rand_index(4);
            let room = self.scratch.grid_rooms[j * cols + i];
            if room.door_pos[k].is_none() || room.doors[k] != 0 {
                continue;
            }
            let Some((ni, nj)) = room.neighbors[k] else { continue };
            if room.locked || self.scratch.grid_rooms[nj * cols + ni].locked {
                continue;
            }
            let color = self.rand_color();
            self.add_door(i, j, k, color, false);
        }
        Err(self.gen_error("connect_all did not connect every room"))
    }

    fn gen_key_corridor(&mut self, num_rows: i32, room_size: i32) -> Result<()> {
        let rows = num_rows as usize;
        self.room_grid(rows, 3, room_size);
        for j in 1..rows {
            self.remove_wall(1, j, 3);
        }
        let room_idx = self.rand_index(rows);
        let door_color = self.rand_color();
        self.add_door(2, room_idx, 2, door_color, true);
        let ball_color = self.rand_color();
        self.place_in_room(2, room_idx, Cell::obj(BALL, ball_color))?;
        let key_row = self.rand_index(rows);
        self.place_in_room(0, key_row, Cell::obj(KEY, door_color))?;
        self.place_agent_in_room(1, rows / 2)?;
        self.connect_all()?;
        self.task = Objective::PickUp { kind: BALL, color: ball_color };
        let mut m = std::mem::take(&mut self.mission);
        m.clear();
        m.push_str("pick up the ");
        m.push_str(super::cell::COLOR_NAMES[ball_color as usize]);
        m.push_str(" ball");
        self.mission = m;
        Ok(())
    }

    fn gen_obstructed_maze_1(&mut self, key_in_box: bool, blocked: bool) -> Result<()> {
        self.room_grid(1, 2, 6);
        // door_colors = _rand_subset(COLOR_NAMES, 6): pick from the remaining list in order,
        // removing each pick; all six draws happen although only the first colour is used.
        let mut remaining = COLOR_ORDER.to_vec();
        let mut picked = [0u8; 6];
        for p in &mut picked {
            let k = self.rand_index(remaining.len());
            *p = remaining.remove(k);
        }
        let door_color = picked[0];
        let pos = self.add_door(0, 0, 0, door_color, true);
        if blocked {
            let (dx, dy) = DIR_TO_VEC[0];
            self.set(pos.0 - dx, pos.1 - dy, Cell::obj(BALL, GREEN));
        }
        let mut key = Cell::obj(KEY, door_color);
        if key_in_box {
            key = Cell { kind: BOX, color: GREY, state: 0, contains: (KEY << 4) | door_color };
        }
        self.place_in_room(0, 0, key)?;
        self.place_in_room(1, 0, Cell::obj(BALL, BLUE))?;
        self.place_agent_in_room(0, 0)?;
        self.task = Objective::PickUp { kind: BALL, color: BLUE };
        self.set_mission("pick up the blue ball");
        Ok(())
    }
}
