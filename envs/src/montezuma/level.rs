//! The plain-text level format of Montezuma-style levels, and its parser.
//!
//! A level file has a header of `key = value` lines, then one block per room:
//!
//! ```text
//! ; comment lines start with ';'
//! name = Montezuma-Lite
//! room_size = 15x11        ; every room: width x height in tiles, walls included
//! lives = 5                ; lives at the start (losing the last ends the episode)
//! max_steps = 2000         ; time limit of an episode
//! reward_collectible = 1   ; reward of a jewel `$`
//! reward_treasure = 10     ; reward of the treasure `T` (ends the level)
//! barrier_period = 8       ; laser barriers `|` are deadly the first barrier_on steps
//! barrier_on = 4           ;   of every barrier_period steps
//! enemy_period = 2         ; enemies move one tile every enemy_period steps
//! next_level = level2.txt  ; optional; path relative to this file
//!
//! room 2 0                 ; the room at column 2, row 0 of the room map
//! ###############
//! #..@..........#
//! ...
//! ```
//!
//! Tiles: `#` wall, `.` floor, `@` start (floor), `H` ladder, `r g b y` keys, `R G B Y`
//! locked doors of the same colours (a door takes one key of its colour and opens for good),
//! `$` jewel, `T` treasure, `~` lava, `|` timed laser barrier, `E` an enemy that patrols its
//! row between the nearest walls (it starts moving right).
//!
//! Rooms connect through their edges: a walkable tile on the left or right edge leads to
//! the neighbouring room's opposite edge in the same row; the top and bottom edges are left
//! only by ladders, onto a ladder in the same column of the room above or below. The parser
//! checks that every opening has a matching opening next door and reports the line and
//! column of the first problem.

use std::path::{Path, PathBuf};

use crate::error::LevelError;

/// Static tile codes; the same numbers appear in symbolic observations.
pub mod tile {
    /// Outside the level.
    pub const VOID: u8 = 0;
    /// Floor.
    pub const FLOOR: u8 = 1;
    /// Wall.
    pub const WALL: u8 = 2;
    /// Ladder.
    pub const LADDER: u8 = 3;
    /// Locked doors: red, green, blue, yellow (`DOOR + colour`).
    pub const DOOR: u8 = 4;
    /// Keys: red, green, blue, yellow (`KEY + colour`).
    pub const KEY: u8 = 8;
    /// Jewel.
    pub const JEWEL: u8 = 12;
    /// Treasure.
    pub const TREASURE: u8 = 13;
    /// Lava.
    pub const LAVA: u8 = 14;
    /// Laser barrier, deadly now.
    pub const BARRIER_ON: u8 = 15;
    /// Laser barrier, passable now.
    pub const BARRIER_OFF: u8 = 16;
    /// Enemy (observations only).
    pub const ENEMY: u8 = 17;
    /// The agent (observations only).
    pub const AGENT: u8 = 18;
    /// Number of codes.
    pub const COUNT: u8 = 19;
}

/// Colour names of keys and doors.
pub const KEY_COLORS: [&str; 4] = ["red", "green", "blue", "yellow"];

/// An enemy patrolling a row segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enemy {
    /// Row.
    pub y: i32,
    /// Leftmost column of the patrol.
    pub lo: i32,
    /// Rightmost column of the patrol.
    pub hi: i32,
    /// Column at time 0.
    pub start: i32,
}

impl Enemy {
    /// Column at hazard time `t` with one move every `period` steps (ping-pong).
    #[inline]
    pub fn x_at(&self, t: u32, period: u32) -> i32 {
        let len = (self.hi - self.lo) as u32;
        if len == 0 {
            return self.lo;
        }
        let cycle = 2 * len;
        let p = ((self.start - self.lo) as u32 + t / period.max(1)) % cycle;
        if p <= len {
            self.lo + p as i32
        } else {
            self.lo + (cycle - p) as i32
        }
    }
}

/// One room of a level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    /// Column on the room map.
    pub col: i32,
    /// Row on the room map.
    pub row: i32,
    /// Static tiles, row-major.
    pub tiles: Vec<u8>,
    /// Object index of each tile (its key, door or jewel number), 255 for none.
    pub object: Vec<u8>,
    /// Enemies.
    pub enemies: Vec<Enemy>,
    /// Whether any barrier is in the room.
    pub has_barrier: bool,
}

/// A parsed level.
#[derive(Clone, Debug, PartialEq)]
pub struct Level {
    /// Display name.
    pub name: String,
    /// Where it came from (path or `<builtin ...>`).
    pub source: String,
    /// Room width in tiles.
    pub room_w: i32,
    /// Room height in tiles.
    pub room_h: i32,
    /// Columns of the room map.
    pub cols: i32,
    /// Rows of the room map.
    pub rows: i32,
    /// Room index at each map cell (`row * cols + col`), `None` where no room is.
    pub map: Vec<Option<usize>>,
    /// Rooms in file order.
    pub rooms: Vec<Room>,
    /// Start room, column and row.
    pub start: (usize, i32, i32),
    /// Lives at the start.
    pub lives: u32,
    /// Time limit.
    pub max_steps: u32,
    /// Reward of a jewel.
    pub reward_collectible: f32,
    /// Reward of the treasure.
    pub reward_treasure: f32,
    /// Barrier cycle length.
    pub barrier_period: u32,
    /// Steps of each cycle the barrier is on.
    pub barrier_on: u32,
    /// Steps per enemy move.
    pub enemy_period: u32,
    /// Next level file, resolved against this file's folder.
    pub next_level: Option<PathBuf>,
    /// Number of keys, doors and jewels.
    pub counts: (usize, usize, usize),
}

impl Level {
    /// The room at map cell `(col, row)`.
    pub fn room_at(&self, col: i32, row: i32) -> Option<usize> {
        if col < 0 || row < 0 || col >= self.cols || row >= self.rows {
            return None;
        }
        self.map[(row * self.cols + col) as usize]
    }

    /// Least common multiple of every hazard cycle: the hazard pattern repeats after it.
    pub fn hazard_cycle(&self) -> u32 {
        let mut l = u64::from(self.barrier_period.max(1));
        for r in &self.rooms {
            for e in &r.enemies {
                let c =
                    u64::from(2 * (e.hi - e.lo).max(0) as u32 * self.enemy_period.max(1)).max(1);
                l = lcm(l, c);
            }
        }
        l.min(u64::from(u32::MAX)) as u32
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}
fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

fn err(source: &str, line: usize, column: usize, message: impl Into<String>) -> LevelError {
    LevelError { source_name: source.to_owned(), line, column, message: message.into() }
}

/// Parse a level from text. `source` names it in errors; `base_dir` resolves `next_level`.
pub fn parse(text: &str, source: &str, base_dir: Option<&Path>) -> Result<Level, LevelError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut name = String::from("level");
    let mut room_size: Option<(i32, i32)> = None;
    let mut lives = 5u32;
    let mut max_steps = 2000u32;
    let mut reward_collectible = 1.0f32;
    let mut reward_treasure = 10.0f32;
    let mut barrier_period = 8u32;
    let mut barrier_on = 4u32;
    let mut enemy_period = 2u32;
    let mut next_level = None;
    // (col, row, first line index)
    let mut blocks: Vec<(i32, i32, usize)> = Vec::new();

    let mut i = 0;
    while i < lines.len() {
        let raw = lines[i];
        let line = raw.split(';').next().unwrap_or("").trim_end();
        let lineno = i + 1;
        if line.trim().is_empty() {
            i += 1;
            continue;
        }
        if let Some(rest) = line
            .trim_start()
            .strip_prefix("room")
            .filter(|r| r.starts_with(char::is_whitespace) || r.is_empty())
        {
            let mut parts = rest.split_whitespace();
            let col = parts.next().and_then(|p| p.parse::<i32>().ok());
            let row = parts.next().and_then(|p| p.parse::<i32>().ok());
            let (Some(col), Some(row)) = (col, row) else {
                return Err(err(
                    source,
                    lineno,
                    1,
                    "expected `room COL ROW` with two non-negative integers",
                ));
            };
            if parts.next().is_some() || !(0..64).contains(&col) || !(0..64).contains(&row) {
                return Err(err(
                    source,
                    lineno,
                    1,
                    "expected `room COL ROW` with COL and ROW in 0..64",
                ));
            }
            let Some((_, h)) = room_size else {
                return Err(err(
                    source,
                    lineno,
                    1,
                    "`room_size = WxH` must come before the first room",
                ));
            };
            if blocks.iter().any(|&(c, r, _)| (c, r) == (col, row)) {
                return Err(err(source, lineno, 1, format!("room {col} {row} is defined twice")));
            }
            blocks.push((col, row, i + 1));
            i += 1 + h as usize;
            continue;
        }
        if !blocks.is_empty() {
            return Err(err(
                source,
                lineno,
                1,
                "expected a `room COL ROW` line or a blank line after a room",
            ));
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(err(source, lineno, 1, "expected `key = value` or `room COL ROW`"));
        };
        let key = key.trim();
        let value = value.trim();
        let vcol = raw.find('=').map_or(1, |eq| {
            eq + 1 + raw[eq + 1..].find(|c: char| !c.is_whitespace()).unwrap_or(0) + 1
        });
        let num = |v: &str| -> Result<u32, LevelError> {
            v.parse::<u32>().map_err(|_| {
                err(
                    source,
                    lineno,
                    vcol,
                    format!("`{key}` needs a non-negative integer, got `{v}`"),
                )
            })
        };
        // Zero lives or a zero period would be played as something else: refused.
        let at_least_one = |n: u32, message: &str| {
            if n == 0 {
                Err(err(source, lineno, vcol, message))
            } else {
                Ok(n)
            }
        };
        match key {
            "name" => value.clone_into(&mut name),
            "room_size" => {
                let parsed = value.split_once(['x', 'X']).and_then(|(w, h)| {
                    Some((w.trim().parse::<i32>().ok()?, h.trim().parse::<i32>().ok()?))
                });
                match parsed {
                    Some((w, h)) if (3..=64).contains(&w) && (3..=64).contains(&h) => {
                        room_size = Some((w, h));
                    }
                    _ => {
                        return Err(err(
                            source,
                            lineno,
                            vcol,
                            format!("room_size must be WxH with each in 3..=64, got `{value}`"),
                        ))
                    }
                }
            }
            "lives" => lives = at_least_one(num(value)?, "lives must be at least 1")?,
            "max_steps" => {
                max_steps = num(value)?;
                if max_steps == 0 {
                    return Err(err(source, lineno, vcol, "max_steps must be at least 1"));
                }
            }
            "reward_collectible" | "reward_treasure" => {
                let v: f32 =
                    value.parse().ok().filter(|v: &f32| v.is_finite()).ok_or_else(|| {
                        err(source, lineno, vcol, format!("`{key}` needs a number, got `{value}`"))
                    })?;
                if key == "reward_collectible" {
                    reward_collectible = v;
                } else {
                    reward_treasure = v;
                }
            }
            "barrier_period" => {
                barrier_period =
                    at_least_one(num(value)?, "barrier_period must be at least 1 step")?;
            }
            "barrier_on" => barrier_on = num(value)?,
            "enemy_period" => {
                enemy_period = at_least_one(
                    num(value)?,
                    "enemy_period must be at least 1 (steps per enemy move)",
                )?;
            }
            "next_level" => {
                let p = PathBuf::from(value);
                next_level = Some(match base_dir {
                    Some(d) if p.is_relative() => d.join(p),
                    _ => p,
                });
            }
            other => {
                return Err(err(source, lineno, 1, format!("unknown key `{other}`; known: name, room_size, lives, max_steps, reward_collectible, reward_treasure, barrier_period, barrier_on, enemy_period, next_level")));
            }
        }
        i += 1;
    }
    let Some((w, h)) = room_size else {
        return Err(err(source, lines.len().max(1), 1, "missing `room_size = WxH`"));
    };
    if blocks.is_empty() {
        return Err(err(source, lines.len().max(1), 1, "the level has no rooms"));
    }
    if barrier_on > barrier_period {
        return Err(err(
            source,
            1,
            1,
            format!("barrier_on ({barrier_on}) exceeds barrier_period ({barrier_period})"),
        ));
    }
    let cols = blocks.iter().map(|b| b.0).max().unwrap_or(0) + 1;
    let rows = blocks.iter().map(|b| b.1).max().unwrap_or(0) + 1;
    let mut map = vec![None; (cols * rows) as usize];
    let mut rooms = Vec::new();
    let mut start = None;
    let (mut nk, mut nd, mut nj) = (0usize, 0usize, 0usize);
    for (idx, &(col, row, first)) in blocks.iter().enumerate() {
        map[(row * cols + col) as usize] = Some(idx);
        let mut tiles = vec![tile::WALL; (w * h) as usize];
        let mut object = vec![255u8; (w * h) as usize];
        let mut enemy_starts = Vec::new();
        let mut has_barrier = false;
        for y in 0..h {
            let li = first + y as usize;
            let Some(text) = lines.get(li) else {
                return Err(err(
                    source,
                    li + 1,
                    1,
                    format!("room {col} {row} needs {h} rows, the file ends after {y}"),
                ));
            };
            let chars: Vec<char> = text.trim_end_matches('\r').chars().collect();
            if chars.len() != w as usize {
                let c = chars.len().min(w as usize) + 1;
                return Err(err(
                    source,
                    li + 1,
                    c,
                    format!(
                        "room {col} {row} row {y} has {} tiles, room_size says {w}",
                        chars.len()
                    ),
                ));
            }
            for (x, &ch) in chars.iter().enumerate() {
                let k = (y * w) as usize + x;
                let obj = |count: &mut usize, what: &str| -> Result<u8, LevelError> {
                    if *count >= 64 {
                        return Err(err(
                            source,
                            li + 1,
                            x + 1,
                            format!("more than 64 {what} in the level"),
                        ));
                    }
                    *count += 1;
                    Ok((*count - 1) as u8)
                };
                tiles[k] = match ch {
                    '#' => tile::WALL,
                    '.' => tile::FLOOR,
                    '@' => {
                        if start.is_some() {
                            return Err(err(
                                source,
                                li + 1,
                                x + 1,
                                "a second start `@`; a level has one",
                            ));
                        }
                        start = Some((idx, x as i32, y));
                        tile::FLOOR
                    }
                    'H' => tile::LADDER,
                    'r' | 'g' | 'b' | 'y' => {
                        object[k] = obj(&mut nk, "keys")?;
                        tile::KEY + "rgby".find(ch).unwrap_or(0) as u8
                    }
                    'R' | 'G' | 'B' | 'Y' => {
                        object[k] = obj(&mut nd, "doors")?;
                        tile::DOOR + "RGBY".find(ch).unwrap_or(0) as u8
                    }
                    '$' => {
                        object[k] = obj(&mut nj, "jewels")?;
                        tile::JEWEL
                    }
                    'T' => tile::TREASURE,
                    '~' => tile::LAVA,
                    '|' => {
                        has_barrier = true;
                        tile::BARRIER_ON
                    }
                    'E' => {
                        enemy_starts.push((x as i32, y));
                        tile::FLOOR
                    }
                    other => {
                        return Err(err(source, li + 1, x + 1, format!("unknown tile `{other}`; tiles are # . @ H r g b y R G B Y $ T ~ | E")));
                    }
                };
            }
        }
        let enemies = enemy_starts
            .into_iter()
            .map(|(x, y)| {
                let row_tiles = &tiles[(y * w) as usize..((y + 1) * w) as usize];
                let blocked =
                    |t: u8| !matches!(t, tile::FLOOR | tile::LADDER | tile::JEWEL | tile::KEY..=11);
                let mut lo = x;
                while lo > 0 && !blocked(row_tiles[(lo - 1) as usize]) {
                    lo -= 1;
                }
                let mut hi = x;
                while hi < w - 1 && !blocked(row_tiles[(hi + 1) as usize]) {
                    hi += 1;
                }
                Enemy { y, lo, hi, start: x }
            })
            .collect();
        rooms.push(Room { col, row, tiles, object, enemies, has_barrier });
    }
    let Some(start) = start else { return Err(err(source, 1, 1, "the level has no start `@`")) };
    let level = Level {
        name,
        source: source.to_owned(),
        room_w: w,
        room_h: h,
        cols,
        rows,
        map,
        rooms,
        start,
        lives,
        max_steps,
        reward_collectible,
        reward_treasure,
        barrier_period,
        barrier_on,
        enemy_period,
        next_level,
        counts: (nk, nd, nj),
    };
    check_edges(&level, &blocks, source)?;
    Ok(level)
}

/// Every opening on an edge must meet an opening next door.
fn check_edges(
    level: &Level,
    blocks: &[(i32, i32, usize)],
    source: &str,
) -> Result<(), LevelError> {
    let (w, h) = (level.room_w, level.room_h);
    for (idx, room) in level.rooms.iter().enumerate() {
        let first = blocks[idx].2;
        let at = |r: &Room, x: i32, y: i32| r.tiles[(y * w + x) as usize];
        for y in 0..h {
            for (x, dcol, nx) in [(0, -1, w - 1), (w - 1, 1, 0)] {
                let t = at(room, x, y);
                if t == tile::WALL || y == 0 || y == h - 1 {
                    continue;
                }
                let ok = level
                    .room_at(room.col + dcol, room.row)
                    .is_some_and(|n| at(&level.rooms[n], nx, y) != tile::WALL);
                if !ok {
                    return Err(err(source, first + y as usize + 1, x as usize + 1, format!(
                        "opening on the {} edge of room {} {} has no open tile in room {} {} to meet it",
                        if dcol < 0 { "left" } else { "right" }, room.col, room.row, room.col + dcol, room.row
                    )));
                }
            }
        }
        for x in 0..w {
            for (y, drow, ny) in [(0, -1, h - 1), (h - 1, 1, 0)] {
                let t = at(room, x, y);
                if t == tile::WALL || x == 0 || x == w - 1 {
                    continue;
                }
                if t != tile::LADDER {
                    return Err(err(source, first + y as usize + 1, x as usize + 1, format!(
                        "the {} edge of room {} {} is open here; top and bottom edges open only with a ladder `H`",
                        if drow < 0 { "top" } else { "bottom" }, room.col, room.row
                    )));
                }
                let ok = level
                    .room_at(room.col, room.row + drow)
                    .is_some_and(|n| at(&level.rooms[n], x, ny) == tile::LADDER);
                if !ok {
                    return Err(err(source, first + y as usize + 1, x as usize + 1, format!(
                        "ladder on the {} edge of room {} {} has no ladder in room {} {} column {x} to meet it",
                        if drow < 0 { "top" } else { "bottom" }, room.col, room.row, room.col, room.row + drow
                    )));
                }
            }
        }
        // Corners must be walls: an exit there would be ambiguous.
        for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
            if at(room, x, y) != tile::WALL {
                return Err(err(
                    source,
                    first + y as usize + 1,
                    x as usize + 1,
                    "room corners must be walls `#`",
                ));
            }
        }
    }
    Ok(())
}

/// Load a level file and its chain of `next_level` files (at most 32 levels).
pub fn load_chain(path: &Path) -> crate::error::Result<Vec<Level>> {
    let mut levels = Vec::new();
    let mut next = Some(path.to_path_buf());
    while let Some(p) = next.take() {
        if levels.len() >= 32 {
            return Err(spelunk_core::Error::Config {
                what: path.display().to_string(),
                message: "more than 32 chained levels (a next_level cycle?)".into(),
            });
        }
        let text = spelunk_core::files::read_text(&p)?;
        let level = parse(&text, &p.display().to_string(), p.parent())?;
        next.clone_from(&level.next_level);
        levels.push(level);
    }
    Ok(levels)
}
