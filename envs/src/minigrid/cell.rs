//! MiniGrid's object, colour and state tables, and the packed cell type.
//!
//! The integer tables are MiniGrid's (`minigrid/core/constants.py`), so an encoded
//! observation here is byte-for-byte the Python package's.

/// Object index of a cell the agent cannot see.
pub const UNSEEN: u8 = 0;
/// Object index of an empty cell.
pub const EMPTY: u8 = 1;
/// Wall.
pub const WALL: u8 = 2;
/// Floor tile.
pub const FLOOR: u8 = 3;
/// Door (state: 0 open, 1 closed, 2 locked).
pub const DOOR: u8 = 4;
/// Key.
pub const KEY: u8 = 5;
/// Ball.
pub const BALL: u8 = 6;
/// Box (may contain an object, revealed by toggling).
pub const BOX: u8 = 7;
/// Goal square.
pub const GOAL: u8 = 8;
/// Lava.
pub const LAVA: u8 = 9;
/// Agent (only in full-grid renderings).
pub const AGENT: u8 = 10;

/// Colour indices.
pub const RED: u8 = 0;
/// Green.
pub const GREEN: u8 = 1;
/// Blue.
pub const BLUE: u8 = 2;
/// Purple.
pub const PURPLE: u8 = 3;
/// Yellow.
pub const YELLOW: u8 = 4;
/// Grey.
pub const GREY: u8 = 5;

/// Door open.
pub const OPEN: u8 = 0;
/// Door closed.
pub const CLOSED: u8 = 1;
/// Door locked.
pub const LOCKED: u8 = 2;

/// Colour names by index.
pub const COLOR_NAMES: [&str; 6] = ["red", "green", "blue", "purple", "yellow", "grey"];
/// Object names by index.
pub const OBJECT_NAMES: [&str; 11] =
    ["unseen", "empty", "wall", "floor", "door", "key", "ball", "box", "goal", "lava", "agent"];

/// One grid cell: MiniGrid's `(object, colour, state)` triple plus the packed content of a
/// box (`kind << 4 | colour`, 0 when empty), which the 3-byte encoding does not show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    /// Object index.
    pub kind: u8,
    /// Colour index.
    pub color: u8,
    /// State (doors only).
    pub state: u8,
    /// Packed box content.
    pub contains: u8,
}

impl Cell {
    /// An empty cell (encodes as `(1, 0, 0)`).
    pub const EMPTY: Cell = Cell { kind: EMPTY, color: 0, state: 0, contains: 0 };
    /// A grey wall.
    pub const WALL: Cell = Cell { kind: WALL, color: GREY, state: 0, contains: 0 };
    /// The green goal.
    pub const GOAL: Cell = Cell { kind: GOAL, color: GREEN, state: 0, contains: 0 };
    /// Lava (red).
    pub const LAVA: Cell = Cell { kind: LAVA, color: RED, state: 0, contains: 0 };

    /// An object of a kind and colour with state 0.
    pub const fn obj(kind: u8, color: u8) -> Cell {
        Cell { kind, color, state: 0, contains: 0 }
    }
    /// A door.
    pub const fn door(color: u8, state: u8) -> Cell {
        Cell { kind: DOOR, color, state, contains: 0 }
    }
    /// MiniGrid's 3-byte encoding.
    #[inline]
    pub fn encode(self) -> [u8; 3] {
        [self.kind, self.color, self.state]
    }
    /// Decode MiniGrid's encoding; `None` for values outside its tables.
    pub fn decode(kind: u8, color: u8, state: u8) -> Option<Cell> {
        if kind > AGENT || color > GREY || state > LOCKED {
            return None;
        }
        match kind {
            UNSEEN | EMPTY | AGENT => Some(Cell::EMPTY),
            DOOR => Some(Cell::door(color, state)),
            _ => Some(Cell { kind, color, state: 0, contains: 0 }),
        }
    }
    /// Whether the agent can stand here.
    #[inline]
    pub fn can_overlap(self) -> bool {
        match self.kind {
            EMPTY | GOAL | FLOOR | LAVA => true,
            DOOR => self.state == OPEN,
            _ => false,
        }
    }
    /// Whether the agent can pick it up.
    #[inline]
    pub fn can_pickup(self) -> bool {
        matches!(self.kind, KEY | BALL | BOX)
    }
    /// Whether sight passes through.
    #[inline]
    pub fn see_behind(self) -> bool {
        match self.kind {
            WALL => false,
            DOOR => self.state == OPEN,
            _ => true,
        }
    }
    /// The object inside a box, if any.
    pub fn content(self) -> Option<Cell> {
        (self.contains != 0).then(|| Cell::obj(self.contains >> 4, self.contains & 0xF))
    }
    /// Two-character text form (MiniGrid's `pprint_grid`).
    pub fn glyph(self) -> [char; 2] {
        let c = COLOR_NAMES
            .get(self.color as usize)
            .map_or('?', |n| n.chars().next().unwrap_or('?').to_ascii_uppercase());
        match self.kind {
            EMPTY | UNSEEN => [' ', ' '],
            WALL => ['W', c],
            FLOOR => ['F', c],
            DOOR if self.state == OPEN => ['_', '_'],
            DOOR if self.state == LOCKED => ['L', c],
            DOOR => ['D', c],
            KEY => ['K', c],
            BALL => ['A', c],
            BOX => ['B', c],
            GOAL => ['G', c],
            LAVA => ['V', c],
            _ => ['?', '?'],
        }
    }
}
