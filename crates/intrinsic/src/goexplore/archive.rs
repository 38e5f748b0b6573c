//! The archive: per cell the best score, the shortest trajectory to it at that score, the
//! snapshot to return to, and the counters selection uses.
//!
//! A cell's entry is replaced by a state with a higher score, or the same score and a shorter
//! trajectory (Ecoffet et al. 2019). Selection weight, with the published defaults
//! (Ecoffet et al. 2019, appendix; also in their released code):
//!
//! `W(c) = level_weight^(max_level − level) · (1 + Σ_a w_a (1/(v_a + ε₁))^{p_a} + ε₂ + N(c))`
//!
//! over the counters `a` ∈ {times chosen (w 0.1), times chosen since it last led to a new or
//! better cell (w 0), times seen (w 0.3)}, all with `p = 0.5`, `ε₁ = 0.001`, `ε₂ = 0.00001`;
//! `level_weight = 0.1`. `N(c)` adds `neighbour_weight` (0.1 here) for each of the four
//! neighbouring positions (same room, level and held items) not yet in the archive — only for
//! cells with a position. Cells whose episode ended are kept (their score counts) but never
//! selected.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use spelunk_core::{ByteReader, ByteWriter, Rng, Snapshot};

use super::cell::Cell;
use super::trajectory::Trajectory;
use crate::{Error, Result};

/// Selection weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SelectionConfig {
    /// `(w, p)` of times chosen.
    pub chosen: (f64, f64),
    /// `(w, p)` of times chosen since it last led somewhere new.
    pub chosen_since_new: (f64, f64),
    /// `(w, p)` of times seen.
    pub seen: (f64, f64),
    /// ε₁ inside the count term.
    pub eps1: f64,
    /// ε₂ added to each count term.
    pub eps2: f64,
    /// Weight of each missing neighbour.
    pub neighbour_weight: f64,
    /// Base of the level preference.
    pub level_weight: f64,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        Self {
            chosen: (0.1, 0.5),
            chosen_since_new: (0.0, 0.5),
            seen: (0.3, 0.5),
            eps1: 0.001,
            eps2: 0.00001,
            neighbour_weight: 0.1,
            level_weight: 0.1,
        }
    }
}

/// One archive entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Its cell.
    pub cell: Cell,
    /// Best score reaching it.
    pub score: f64,
    /// Actions from `reset(seed)` to the state (discrete action indices).
    pub trajectory: Trajectory,
    /// The state.
    pub snapshot: Arc<Snapshot>,
    /// Times selected to explore from.
    pub times_chosen: u64,
    /// Times selected since it last led to a new or better cell.
    pub times_chosen_since_new: u64,
    /// Times visited during exploration.
    pub times_seen: u64,
    /// The episode ended here (never selected).
    pub done: bool,
    /// Room of the state, if the env reports one (for metrics).
    pub room: Option<u32>,
    /// Frames spent when it was first found.
    pub found_at: u64,
}

/// A fast non-cryptographic hasher for cell maps (the multiply-rotate scheme of rustc's
/// FxHash): the archive is looked up several times per frame, and SipHash's cost showed.
#[derive(Clone, Copy, Debug, Default)]
pub struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        // MurmurHash3's finaliser: every input bit reaches the low bits that pick the bucket
        // (a bare multiply leaves them depending on the low input bits only, and small
        // coordinates then collide).
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_i32(&mut self, v: i32) {
        self.write_u64(u64::from(v as u32));
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
    fn write_isize(&mut self, v: isize) {
        self.write_u64(v as u64);
    }
    fn write_u8(&mut self, v: u8) {
        self.write_u64(u64::from(v));
    }
}

/// A map keyed by cells with [`CellHasher`].
pub type CellMap<V> = HashMap<Cell, V, BuildHasherDefault<CellHasher>>;

/// The archive.
#[derive(Clone, Debug, Default)]
pub struct CellArchive {
    entries: Vec<Entry>,
    /// Per cell its entry's position and the (score, trajectory length) a candidate must
    /// beat — kept beside the key so the explorer's per-frame check touches one map slot,
    /// not the entry and its trajectory (two cache misses each).
    index: CellMap<Slot>,
    /// Per entry, how many of its four neighbouring positions are not in the archive (kept
    /// up to date on admission, so selection weights cost no lookups).
    missing: Vec<u8>,
    /// Selection weights as of the last [`CellArchive::select`], the settings and top level
    /// they were computed for, and the entries changed since (recomputed on the next select,
    /// so a selection costs the changed entries, not the whole archive).
    cached: Vec<f64>,
    cached_for: Option<(SelectionConfig, u32)>,
    dirty: Vec<usize>,
    /// Cumulative weights (a buffer kept between selections).
    cum: Vec<f64>,
    max_level: u32,
    /// Distinct (level, room) pairs among the entries.
    room_set: std::collections::BTreeSet<(u32, u32)>,
    /// The highest score.
    best_score: f64,
}

/// An index slot: where the cell's entry is and what it holds.
#[derive(Clone, Copy, Debug)]
struct Slot {
    at: usize,
    score: f64,
    len: usize,
}

/// The four neighbouring positions of a cell with a position.
fn neighbours(c: &Cell) -> impl Iterator<Item = Cell> + '_ {
    let p = c.pos;
    [(1, 0), (-1, 0), (0, 1), (0, -1)].into_iter().filter_map(move |(dx, dy)| {
        p.map(|[r, x, y]| Cell {
            level: c.level,
            pos: Some([r, x + dx, y + dy]),
            items: c.items,
            key: c.key.clone(),
        })
    })
}

/// What happened to a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// A new cell.
    New,
    /// A better way to a known cell.
    Better,
    /// Nothing changed.
    Rejected,
}

impl CellArchive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of cells.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// Entries in insertion order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
    /// The entry of a cell.
    pub fn get(&self, cell: &Cell) -> Option<&Entry> {
        self.index.get(cell).map(|s| &self.entries[s.at])
    }
    /// Mutable entry by position.
    pub(crate) fn entry_mut(&mut self, i: usize) -> &mut Entry {
        self.dirty.push(i);
        &mut self.entries[i]
    }
    /// Position of a cell.
    pub fn position(&self, cell: &Cell) -> Option<usize> {
        self.index.get(cell).map(|s| s.at)
    }

    /// The cell's entry as (position, score, trajectory length), from the index alone.
    pub fn lookup(&self, cell: &Cell) -> Option<(usize, f64, usize)> {
        self.index.get(cell).map(|s| (s.at, s.score, s.len))
    }

    /// Whether `(score, len)` would improve on the cell's entry (or the cell is new).
    pub fn would_admit(&self, cell: &Cell, score: f64, len: usize) -> bool {
        match self.index.get(cell) {
            None => true,
            Some(s) => better(score, len, s.score, s.len),
        }
    }

    /// Insert or replace by the rule above.
    pub fn admit(&mut self, entry: Entry) -> Admit {
        match self.index.get_mut(&entry.cell) {
            None => {
                self.push_new(entry);
                Admit::New
            }
            Some(slot) => {
                let i = slot.at;
                let old = &mut self.entries[i];
                if better(entry.score, entry.trajectory.len(), old.score, old.trajectory.len()) {
                    (slot.score, slot.len) = (entry.score, entry.trajectory.len());
                    old.score = entry.score;
                    old.trajectory = entry.trajectory;
                    old.snapshot = entry.snapshot;
                    old.done = entry.done;
                    old.room = entry.room;
                    if let Some(r) = entry.room {
                        self.room_set.insert((old.cell.level, r));
                    }
                    self.best_score = self.best_score.max(entry.score);
                    self.dirty.push(i);
                    Admit::Better
                } else {
                    Admit::Rejected
                }
            }
        }
    }

    fn push_new(&mut self, entry: Entry) {
        let mut missing = 0u8;
        if entry.cell.pos.is_some() {
            for n in neighbours(&entry.cell) {
                match self.index.get(&n) {
                    Some(&Slot { at: j, .. }) => {
                        self.missing[j] = self.missing[j].saturating_sub(1);
                        self.dirty.push(j);
                    }
                    None => missing += 1,
                }
            }
        }
        self.max_level = self.max_level.max(entry.cell.level);
        if let Some(r) = entry.room {
            self.room_set.insert((entry.cell.level, r));
        }
        self.best_score =
            if self.entries.is_empty() { entry.score } else { self.best_score.max(entry.score) };
        self.dirty.push(self.entries.len());
        let slot = Slot { at: self.entries.len(), score: entry.score, len: entry.trajectory.len() };
        self.index.insert(entry.cell.clone(), slot);
        self.entries.push(entry);
        self.missing.push(missing);
    }

    /// Replace every cell key (after the representation changed), merging entries that now
    /// share a cell by the admission rule; counters of merged entries add up.
    pub fn rekey(&mut self, new_cells: Vec<Cell>) {
        assert_eq!(new_cells.len(), self.entries.len(), "one new cell per entry");
        let old = std::mem::take(&mut self.entries);
        self.index.clear();
        self.missing.clear();
        self.cached_for = None;
        self.max_level = 0;
        self.room_set.clear();
        for (mut e, c) in old.into_iter().zip(new_cells) {
            e.cell = c;
            match self.index.get_mut(&e.cell) {
                None => self.push_new(e),
                Some(slot) => {
                    let cur = &mut self.entries[slot.at];
                    let (c, s, n) = (cur.times_chosen, cur.times_seen, cur.times_chosen_since_new);
                    let found = cur.found_at.min(e.found_at);
                    if better(e.score, e.trajectory.len(), cur.score, cur.trajectory.len()) {
                        (slot.score, slot.len) = (e.score, e.trajectory.len());
                        *cur = e;
                    } else {
                        cur.times_chosen = e.times_chosen;
                        cur.times_seen = e.times_seen;
                        cur.times_chosen_since_new = e.times_chosen_since_new;
                    }
                    cur.times_chosen += c;
                    cur.times_seen += s;
                    cur.times_chosen_since_new = cur.times_chosen_since_new.min(n);
                    cur.found_at = found;
                }
            }
        }
    }

    /// Selection weights of every entry (0 for finished ones).
    pub fn weights(&self, cfg: &SelectionConfig) -> Vec<f64> {
        (0..self.entries.len()).map(|i| self.weight(i, cfg)).collect()
    }

    fn weight(&self, i: usize, cfg: &SelectionConfig) -> f64 {
        let (e, missing) = (&self.entries[i], self.missing[i]);
        let max_level = self.max_level;
        let count = |(w, p): (f64, f64), v: u64| {
            if w == 0.0 {
                0.0
            } else if (p - 0.5).abs() < f64::EPSILON {
                w / (v as f64 + cfg.eps1).sqrt() + cfg.eps2
            } else {
                w * (1.0 / (v as f64 + cfg.eps1)).powf(p) + cfg.eps2
            }
        };
        if e.done {
            return 0.0;
        }
        let w = 1.0
            + count(cfg.chosen, e.times_chosen)
            + count(cfg.chosen_since_new, e.times_chosen_since_new)
            + count(cfg.seen, e.times_seen)
            + cfg.neighbour_weight * f64::from(missing);
        if e.cell.level == max_level {
            w
        } else {
            w * cfg.level_weight.powi((max_level - e.cell.level) as i32)
        }
    }

    /// Draw `n` entries (with replacement) in proportion to their weights.
    pub fn select(&mut self, n: usize, cfg: &SelectionConfig, rng: &mut Rng) -> Vec<usize> {
        let key = Some((*cfg, self.max_level));
        if self.cached_for == key && self.cached.len() <= self.entries.len() {
            self.cached.resize(self.entries.len(), 0.0);
            let dirty = std::mem::take(&mut self.dirty);
            for &i in &dirty {
                self.cached[i] = self.weight(i, cfg);
            }
            self.dirty = dirty;
            self.dirty.clear();
        } else {
            self.cached = self.weights(cfg);
            self.cached_for = key;
            self.dirty.clear();
        }
        let mut cum = std::mem::take(&mut self.cum);
        cum.resize(self.cached.len(), 0.0);
        // Written in place (no push), so the running sum stays in a register.
        let mut acc = 0.0;
        for (c, x) in cum.iter_mut().zip(&self.cached) {
            acc += x;
            *c = acc;
        }
        let total = acc;
        let picks = if total <= 0.0 {
            Vec::new()
        } else {
            (0..n)
                .map(|_| {
                    let u = rng.f64() * total;
                    cum.partition_point(|&c| c <= u).min(cum.len() - 1)
                })
                .collect()
        };
        self.cum = cum;
        picks
    }

    /// Distinct rooms among the cells.
    pub fn rooms(&self) -> usize {
        self.room_set.len()
    }

    /// The highest score in the archive (−∞ when empty).
    pub fn max_score(&self) -> f64 {
        if self.entries.is_empty() {
            f64::NEG_INFINITY
        } else {
            self.best_score
        }
    }

    pub(crate) fn write(&self, w: &mut ByteWriter) {
        w.u64(self.entries.len() as u64);
        for e in &self.entries {
            write_cell(w, &e.cell);
            w.f64(e.score);
            w.bytes(&e.trajectory.to_vec());
            w.bytes(e.snapshot.kind.as_bytes());
            w.bytes(&e.snapshot.bytes);
            w.u64(e.times_chosen);
            w.u64(e.times_chosen_since_new);
            w.u64(e.times_seen);
            w.bool(e.done);
            w.bool(e.room.is_some());
            w.u32(e.room.unwrap_or(0));
            w.u64(e.found_at);
        }
    }

    pub(crate) fn read(r: &mut ByteReader<'_>) -> Result<Self> {
        let n = r.u64()?;
        let mut a = CellArchive::new();
        for _ in 0..n {
            let cell = read_cell(r)?;
            let score = r.f64()?;
            let trajectory = Trajectory::from_actions(r.bytes()?);
            let kind = String::from_utf8(r.bytes()?.to_vec())
                .map_err(|_| Error::Checkpoint("snapshot kind is not UTF-8".into()))?;
            let bytes = r.bytes()?.to_vec();
            let e = Entry {
                cell,
                score,
                trajectory,
                snapshot: Arc::new(Snapshot { kind: kind.into(), bytes }),
                times_chosen: r.u64()?,
                times_chosen_since_new: r.u64()?,
                times_seen: r.u64()?,
                done: r.bool()?,
                room: {
                    let has = r.bool()?;
                    let v = r.u32()?;
                    has.then_some(v)
                },
                found_at: r.u64()?,
            };
            if a.admit(e) != Admit::New {
                return Err(Error::Checkpoint("the archive lists one cell twice".into()));
            }
        }
        Ok(a)
    }
}

/// The admission rule: a higher score, or the same score by a shorter trajectory. Scores are
/// sums of the env's rewards along one trajectory, so equal means equal.
#[expect(clippy::float_cmp, reason = "scores are exact sums of the same rewards")]
pub fn better(score: f64, len: usize, old_score: f64, old_len: usize) -> bool {
    score > old_score || (score == old_score && len < old_len)
}

fn write_cell(w: &mut ByteWriter, c: &Cell) {
    w.u32(c.level);
    w.u64(c.items);
    w.bool(c.pos.is_some());
    for v in c.pos.unwrap_or_default() {
        w.i32(v);
    }
    w.bytes(&c.key);
}

fn read_cell(r: &mut ByteReader<'_>) -> Result<Cell> {
    let level = r.u32()?;
    let items = r.u64()?;
    let has = r.bool()?;
    let p = [r.i32()?, r.i32()?, r.i32()?];
    Ok(Cell { level, pos: has.then_some(p), items, key: r.bytes()?.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(x: i32, score: f64, len: usize) -> Entry {
        Entry {
            cell: Cell { level: 0, pos: Some([0, x, 0]), items: 0, key: vec![] },
            score,
            trajectory: Trajectory::from_actions(&vec![0; len]),
            snapshot: Arc::new(Snapshot { kind: "t".into(), bytes: vec![] }),
            times_chosen: 0,
            times_chosen_since_new: 0,
            times_seen: 0,
            done: false,
            room: Some(0),
            found_at: 0,
        }
    }

    #[test]
    fn higher_score_or_shorter_path_replaces() {
        let mut a = CellArchive::new();
        assert_eq!(a.admit(entry(0, 1.0, 10)), Admit::New);
        assert_eq!(a.admit(entry(0, 1.0, 12)), Admit::Rejected);
        assert_eq!(a.admit(entry(0, 1.0, 8)), Admit::Better);
        assert_eq!(a.admit(entry(0, 0.0, 2)), Admit::Rejected, "score first");
        assert_eq!(a.admit(entry(0, 2.0, 50)), Admit::Better);
        assert_eq!(a.len(), 1);
        assert_eq!(a.entries()[0].trajectory.len(), 50);
    }

    #[test]
    fn weights_follow_the_published_formula() {
        let mut a = CellArchive::new();
        a.admit(entry(0, 0.0, 1));
        a.admit(entry(1, 0.0, 1));
        a.entry_mut(0).times_chosen = 3;
        a.entry_mut(0).times_seen = 8;
        let cfg = SelectionConfig::default();
        let w = a.weights(&cfg);
        // Cell 0: neighbours missing left, up, down (3 × 0.1); cell 1 likewise (right, up, down).
        let c = |wt: f64, v: f64| wt * (1.0 / (v + 0.001)).sqrt() + 0.00001;
        let w0 = 1.0 + c(0.1, 3.0) + c(0.3, 8.0) + 0.3;
        let w1 = 1.0 + c(0.1, 0.0) + c(0.3, 0.0) + 0.3;
        assert!((w[0] - w0).abs() < 1e-12, "{} vs {w0}", w[0]);
        assert!((w[1] - w1).abs() < 1e-12, "{} vs {w1}", w[1]);
        // A higher level scales the others by 0.1.
        let mut e = entry(5, 0.0, 1);
        e.cell.level = 1;
        a.admit(e);
        let w = a.weights(&cfg);
        assert!((w[1] - 0.1 * w1).abs() < 1e-12);
    }

    #[test]
    fn rekey_merges_by_the_admission_rule() {
        let mut a = CellArchive::new();
        a.admit(entry(0, 1.0, 10));
        a.admit(entry(1, 1.0, 4));
        a.entry_mut(0).times_chosen = 5;
        let same = Cell { level: 0, pos: None, items: 0, key: vec![1] };
        a.rekey(vec![same.clone(), same.clone()]);
        assert_eq!(a.len(), 1);
        let e = a.get(&same).expect("merged");
        assert_eq!(e.trajectory.len(), 4, "the shorter way survives");
        assert_eq!(e.times_chosen, 5, "counters add up");
    }
}
