//! Cell representations: the map from a state to the archive's key.
//!
//! - [`DomainCells`]: from the env's typed `info` — level, room, the agent's position in
//!   `cell_size`-tile squares, and the keys held (Go-Explore's domain-knowledge cells,
//!   Ecoffet et al. 2019).
//! - [`PixelCells`]: the frame in grey, area-averaged down to `width × height` and quantised
//!   to `levels` intensities (Go-Explore's generic cells; 11 × 8 × 8 by default), with the
//!   published automatic choice of those three numbers ([`choose_downscale`], Ecoffet et al.
//!   2021): over a sample of recent frames, pick the parameters that maximise
//!   `O = H_n(p) / L(n, T)`, where `n` is the number of distinct cells the sample falls into,
//!   `H_n(p) = −Σ p_i ln p_i / ln n` the normalised entropy of how the frames spread over them,
//!   and `L(n, T) = √(|n/T − 1| + 1)` the penalty for missing the target count `T =
//!   target_fraction × frames` — so cells stay few, evenly used, and near the target.
//!
//! A cell function must be a function of the state: the explorer checks, each time it returns
//! to a cell by restoring its snapshot, that the cell function gives the same cell again.

use std::collections::HashMap;
use std::fmt;

use spelunk_core::{Info, ObsBuf, Space};

use crate::{Error, Result};

/// An archive key. `pos` (room, x, y in cell units) is set by cell functions with a spatial
/// layout, so selection can favour cells with unexplored neighbours.
#[derive(Clone, Debug, Eq, PartialOrd, Ord)]
pub struct Cell {
    /// Level (selection prefers the highest level reached).
    pub level: u32,
    /// Room and coarse position, when the representation has them.
    pub pos: Option<[i32; 3]>,
    /// Held items (the env's `info.inventory`), 0 when the representation has none.
    pub items: u64,
    /// Everything else (downscaled pixels); empty for domain cells, so building and hashing
    /// one allocates nothing.
    pub key: Vec<u8>,
}

impl PartialEq for Cell {
    fn eq(&self, other: &Self) -> bool {
        // Field by field as derived, but empty keys (every domain cell) skip the byte
        // comparison, which would call into libc once per archive lookup.
        self.level == other.level
            && self.pos == other.pos
            && self.items == other.items
            && self.key.len() == other.key.len()
            && (self.key.is_empty() || self.key == other.key)
    }
}

impl std::hash::Hash for Cell {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Packed into four words (the derived form feeds the hasher ten, byte by byte for
        // the position, and the explorer hashes a cell on most frames). Equal cells write
        // equal words; the key's length keeps `[1] ++ []` and `[] ++ [1]`-style splits apart.
        let [r, x, y] = self.pos.unwrap_or([0; 3]);
        state.write_u64(u64::from(self.level) | u64::from(self.pos.is_some()) << 32);
        state.write_u64(u64::from(r as u32) << 32 | u64::from(x as u32));
        state.write_u64(u64::from(y as u32) << 32 | self.key.len() as u64);
        state.write_u64(self.items);
        if !self.key.is_empty() {
            state.write(&self.key);
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {}", self.level)?;
        if let Some([r, x, y]) = self.pos {
            write!(f, " room {r} ({x}, {y})")?;
        }
        if self.items != 0 {
            write!(f, " items {:#x}", self.items)?;
        }
        match self.key.len() {
            0 => Ok(()),
            1..=8 => write!(f, " key {:?}", self.key),
            n => write!(f, " key of {n} bytes"),
        }
    }
}

/// A cell representation.
pub trait CellFn: Send + Sync {
    /// A name for checkpoints and reports (a checkpoint from another representation is refused).
    fn name(&self) -> String;
    /// The cell of the state whose observation and info are given.
    fn cell(&self, obs: &ObsBuf, info: &Info) -> Result<Cell>;
    /// Write the cell of the state into `cell`, which holds the previous frame's; `true` when
    /// it changed. The explorer calls this once per frame: implementations compare in place
    /// and reuse `cell`'s buffer, so a frame that stays in its cell costs no allocation and no
    /// copy. The default builds the cell with [`CellFn::cell`] and compares.
    fn update(&self, obs: &ObsBuf, info: &Info, cell: &mut Cell) -> Result<bool> {
        let c = self.cell(obs, info)?;
        if *cell == c {
            Ok(false)
        } else {
            *cell = c;
            Ok(true)
        }
    }
    /// Whether [`CellFn::cell`] reads the observation. When `false` the explorer does not ask
    /// the env to draw one for a restored state (it still checks the restored state's cell,
    /// from `info`).
    fn reads_obs(&self) -> bool {
        true
    }
    /// Whether the explorer should keep a sample of recent frames for [`CellFn::adapt`].
    fn wants_frames(&self) -> bool {
        false
    }
    /// Re-fit the representation to recent frames; `true` when it changed (the explorer then
    /// re-keys its archive).
    fn adapt(&mut self, frames: &[Vec<u8>]) -> bool {
        let _ = frames;
        false
    }
    /// The representation's parameters, for checkpoints.
    fn params(&self) -> Vec<u32> {
        Vec::new()
    }
    /// Restore parameters written by [`CellFn::params`].
    fn set_params(&mut self, params: &[u32]) -> Result<()> {
        if params.is_empty() {
            Ok(())
        } else {
            Err(Error::Checkpoint(format!("{} takes no parameters", self.name())))
        }
    }
}

/// Domain-knowledge cells from `info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainCells {
    /// Tiles per cell side.
    pub cell_size: i32,
}

impl Default for DomainCells {
    fn default() -> Self {
        Self { cell_size: 3 }
    }
}

impl DomainCells {
    /// Level, (room, x, y) in cells, and items of the state.
    fn parts(self, info: &Info) -> Result<(u32, [i32; 3], u64)> {
        let (Some(x), Some(y)) = (info.x, info.y) else {
            return Err(Error::Config {
                module: "go-explore",
                message: "domain cells need the agent's position in info (x, y); this env does \
                          not report it — use pixel cells"
                    .into(),
            });
        };
        let c = self.cell_size.max(1);
        let room = info.room.unwrap_or(0) as i32;
        // Size 1 (the default for Montezuma-Lite) skips two integer divisions per frame.
        let (cx, cy) = if c == 1 { (x, y) } else { (x.div_euclid(c), y.div_euclid(c)) };
        Ok((info.level.unwrap_or(0), [room, cx, cy], info.inventory.unwrap_or(0)))
    }
}

impl CellFn for DomainCells {
    fn name(&self) -> String {
        format!("domain/{}", self.cell_size)
    }
    fn reads_obs(&self) -> bool {
        false
    }
    fn cell(&self, _obs: &ObsBuf, info: &Info) -> Result<Cell> {
        let (level, pos, items) = self.parts(info)?;
        Ok(Cell { level, pos: Some(pos), items, key: Vec::new() })
    }
    fn update(&self, _obs: &ObsBuf, info: &Info, cell: &mut Cell) -> Result<bool> {
        let (level, pos, items) = self.parts(info)?;
        let same = cell.level == level
            && cell.pos == Some(pos)
            && cell.items == items
            && cell.key.is_empty();
        if !same {
            cell.level = level;
            cell.pos = Some(pos);
            cell.items = items;
            cell.key.clear();
        }
        Ok(!same)
    }
}

/// Settings of the automatic choice of downscaling parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptConfig {
    /// Target number of cells as a fraction of the sampled frames.
    pub target_fraction: f64,
    /// Largest width and height tried.
    pub max_side: usize,
    /// Largest number of intensity levels tried.
    pub max_levels: u8,
}

impl Default for AdaptConfig {
    fn default() -> Self {
        Self { target_fraction: 0.25, max_side: 12, max_levels: 16 }
    }
}

/// Downscaled grey frames.
#[derive(Clone, Debug, PartialEq)]
pub struct PixelCells {
    /// Source frame width and height (pixels, RGB).
    pub src: (usize, usize),
    /// Cell width, height and intensity levels.
    pub width: usize,
    /// Cell height.
    pub height: usize,
    /// Intensity levels.
    pub levels: u8,
    /// Re-fit the parameters to recent frames (`None`: fixed).
    pub adapt: Option<AdaptConfig>,
}

impl PixelCells {
    /// Cells for an env whose observation is an RGB image `[height, width, 3]` of bytes, with
    /// Go-Explore's default 11 × 8 × 8.
    pub fn for_space(space: &Space, adapt: Option<AdaptConfig>) -> Result<Self> {
        let bad = || Error::Config {
            module: "go-explore",
            message: format!(
                "pixel cells need an RGB byte image [height, width, 3], got {space} (the \
                 `*-Pixels-v0` envs observe one)"
            ),
        };
        let Space::Box { shape, dtype, .. } = space else { return Err(bad()) };
        if shape.len() != 3 || shape[2] != 3 || *dtype != spelunk_core::DType::U8 {
            return Err(bad());
        }
        Ok(Self { src: (shape[1], shape[0]), width: 11, height: 8, levels: 8, adapt })
    }
}

/// A grey frame with its integral image, for area averages in O(1).
struct Integral {
    w: usize,
    h: usize,
    sum: Vec<u32>,
}

impl Integral {
    fn new(rgb: &[u8], w: usize, h: usize) -> Self {
        let mut sum = vec![0u32; (w + 1) * (h + 1)];
        for y in 0..h {
            let mut row = 0u32;
            for x in 0..w {
                let i = (y * w + x) * 3;
                row += gray(rgb[i], rgb[i + 1], rgb[i + 2]);
                sum[(y + 1) * (w + 1) + x + 1] = sum[y * (w + 1) + x + 1] + row;
            }
        }
        Self { w, h, sum }
    }
    /// Mean grey of output cell (ox, oy) of an `ow × oh` grid (the same pixel spans as an
    /// area-averaging resize).
    fn mean(&self, ox: usize, oy: usize, ow: usize, oh: usize) -> u32 {
        let (x0, x1) = span(ox, ow, self.w);
        let (y0, y1) = span(oy, oh, self.h);
        let s = |x: usize, y: usize| self.sum[y * (self.w + 1) + x];
        let total = s(x1, y1) + s(x0, y0) - s(x0, y1) - s(x1, y0);
        total / ((x1 - x0) * (y1 - y0)) as u32
    }
}

/// The source pixels `[start, end)` of output cell `o` of `n` along a side of `len` pixels
/// (never empty: when `n > len` neighbouring cells share pixels).
fn span(o: usize, n: usize, len: usize) -> (usize, usize) {
    let start = o * len / n;
    (start, ((o + 1) * len / n).max(start + 1).min(len))
}

/// ITU-R BT.601 luma with integer weights.
fn gray(r: u8, g: u8, b: u8) -> u32 {
    (299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b)) / 1000
}

fn quantise(grey: u32, levels: u8) -> u8 {
    let l = u32::from(levels.max(1));
    ((grey * l) / 256).min(l - 1) as u8
}

/// Downscale a row-major RGB frame (`src_w × src_h × 3`) to `out_w × out_h` grey values
/// quantised to `levels` levels, by area averaging.
pub fn downscale(
    rgb: &[u8],
    src: (usize, usize),
    out_w: usize,
    out_h: usize,
    levels: u8,
) -> Vec<u8> {
    let mut out = Vec::new();
    downscale_into(rgb, src, out_w, out_h, levels, &mut out);
    out
}

/// [`downscale`] into `out`, reusing its buffer; `true` when `out` changed. Each cell's pixels
/// are summed directly (the same spans and integer mean as [`choose_downscale`]'s integral
/// images), so a frame costs no allocation.
pub fn downscale_into(
    rgb: &[u8],
    src: (usize, usize),
    out_w: usize,
    out_h: usize,
    levels: u8,
    out: &mut Vec<u8>,
) -> bool {
    let n = out_w * out_h;
    let mut changed = out.len() != n;
    out.resize(n, 0);
    let mut i = 0;
    for oy in 0..out_h {
        let (y0, y1) = span(oy, out_h, src.1);
        for ox in 0..out_w {
            let (x0, x1) = span(ox, out_w, src.0);
            let mut total = 0u32;
            for y in y0..y1 {
                let row = &rgb[(y * src.0 + x0) * 3..(y * src.0 + x1) * 3];
                for p in row.chunks_exact(3) {
                    total += gray(p[0], p[1], p[2]);
                }
            }
            let q = quantise(total / ((x1 - x0) * (y1 - y0)) as u32, levels);
            if out[i] != q {
                out[i] = q;
                changed = true;
            }
            i += 1;
        }
    }
    changed
}

impl CellFn for PixelCells {
    fn name(&self) -> String {
        format!("pixels/{}x{}", self.src.0, self.src.1)
    }
    fn cell(&self, obs: &ObsBuf, info: &Info) -> Result<Cell> {
        let mut c = Cell { level: 0, pos: None, items: 0, key: Vec::new() };
        self.update(obs, info, &mut c)?;
        Ok(c)
    }
    fn update(&self, obs: &ObsBuf, _info: &Info, cell: &mut Cell) -> Result<bool> {
        let rgb =
            obs.as_u8().filter(|b| b.len() == self.src.0 * self.src.1 * 3).ok_or_else(|| {
                Error::Shape {
                    module: "go-explore",
                    message: format!(
                        "pixel cells expect a {}×{} RGB byte frame, got {} values",
                        self.src.0,
                        self.src.1,
                        obs.len()
                    ),
                }
            })?;
        let other = cell.level != 0 || cell.pos.is_some() || cell.items != 0;
        (cell.level, cell.pos, cell.items) = (0, None, 0);
        let key =
            downscale_into(rgb, self.src, self.width, self.height, self.levels, &mut cell.key);
        Ok(other || key)
    }
    fn wants_frames(&self) -> bool {
        self.adapt.is_some()
    }
    fn adapt(&mut self, frames: &[Vec<u8>]) -> bool {
        let Some(cfg) = self.adapt else { return false };
        let Some(best) = choose_downscale(frames, self.src, &cfg) else { return false };
        let changed =
            (best.width, best.height, best.levels) != (self.width, self.height, self.levels);
        self.width = best.width;
        self.height = best.height;
        self.levels = best.levels;
        changed
    }
    fn params(&self) -> Vec<u32> {
        vec![self.width as u32, self.height as u32, u32::from(self.levels)]
    }
    fn set_params(&mut self, p: &[u32]) -> Result<()> {
        match p {
            &[w, h, l] if w > 0 && h > 0 && (1..=255).contains(&l) => {
                self.width = w as usize;
                self.height = h as usize;
                self.levels = l as u8;
                Ok(())
            }
            _ => Err(Error::Checkpoint(format!(
                "pixel cell parameters {p:?} are not [w, h, levels]"
            ))),
        }
    }
}

/// The outcome of [`choose_downscale`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Downscale {
    /// Cell width.
    pub width: usize,
    /// Cell height.
    pub height: usize,
    /// Intensity levels.
    pub levels: u8,
    /// Distinct cells of the sample.
    pub cells: usize,
    /// The objective `H_n / L(n, T)`.
    pub objective: f64,
}

/// The objective of a split of `total` frames into cells with these counts.
pub fn downscale_objective(counts: &[usize], total: usize, target: f64) -> f64 {
    let n = counts.len();
    if n < 2 || total == 0 {
        return 0.0;
    }
    let t = total as f64;
    let h: f64 = counts
        .iter()
        .map(|&c| {
            let p = c as f64 / t;
            -p * p.ln()
        })
        .sum();
    let hn = h / (n as f64).ln();
    let l = ((n as f64 / target.max(1.0) - 1.0).abs() + 1.0).sqrt();
    hn / l
}

/// Search every width and height in `1..=max_side` and level count in `2..=max_levels` for
/// the best objective over `frames` (RGB, `src` size). `None` when there are no frames.
pub fn choose_downscale(
    frames: &[Vec<u8>],
    src: (usize, usize),
    cfg: &AdaptConfig,
) -> Option<Downscale> {
    if frames.is_empty() {
        return None;
    }
    let target = cfg.target_fraction * frames.len() as f64;
    let integrals: Vec<Integral> = frames.iter().map(|f| Integral::new(f, src.0, src.1)).collect();
    let mut best: Option<Downscale> = None;
    let mut means = vec![Vec::new(); frames.len()];
    for height in 1..=cfg.max_side.min(src.1) {
        for width in 1..=cfg.max_side.min(src.0) {
            for (m, ii) in means.iter_mut().zip(&integrals) {
                m.clear();
                for oy in 0..height {
                    for ox in 0..width {
                        m.push(ii.mean(ox, oy, width, height));
                    }
                }
            }
            for levels in 2..=cfg.max_levels.max(2) {
                let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
                for m in &means {
                    *counts.entry(m.iter().map(|&g| quantise(g, levels)).collect()).or_default() +=
                        1;
                }
                let c: Vec<usize> = counts.into_values().collect();
                let objective = downscale_objective(&c, frames.len(), target);
                if best.is_none_or(|b| objective > b.objective + 1e-12) {
                    best = Some(Downscale { width, height, levels, cells: c.len(), objective });
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_averages_areas_and_quantises() {
        // 4×2 frame: left half white, right half black.
        let mut f = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 0..2 {
                f[(y * 4 + x) * 3..(y * 4 + x) * 3 + 3].fill(255);
            }
        }
        assert_eq!(downscale(&f, (4, 2), 2, 1, 4), vec![3, 0]);
        assert_eq!(downscale(&f, (4, 2), 1, 1, 2), vec![0], "mean 127 of 255 is the lower half");
        assert_eq!(downscale(&f, (4, 2), 4, 2, 8), vec![7, 7, 0, 0, 7, 7, 0, 0]);
    }

    #[test]
    fn direct_downscale_matches_the_integral_images() {
        // The explorer's per-frame downscale and the parameter search's integral images must
        // give the same cells, also when cells are narrower than a pixel (shared pixels).
        let (w, h) = (13, 7);
        let mut rng = spelunk_core::Rng::seed_from_u64(3);
        let f: Vec<u8> = (0..w * h * 3).map(|_| rng.index(256) as u8).collect();
        let ii = Integral::new(&f, w, h);
        let mut reused = vec![9; 3];
        for (ow, oh) in [(1, 1), (4, 3), (13, 7), (20, 9)] {
            let want: Vec<u8> = (0..oh)
                .flat_map(|oy| (0..ow).map(move |ox| (ox, oy)))
                .map(|(ox, oy)| quantise(ii.mean(ox, oy, ow, oh), 16))
                .collect();
            assert_eq!(downscale(&f, (w, h), ow, oh, 16), want, "{ow}×{oh}");
            assert!(downscale_into(&f, (w, h), ow, oh, 16, &mut reused), "{ow}×{oh} changed");
            assert_eq!(reused, want);
            assert!(!downscale_into(&f, (w, h), ow, oh, 16, &mut reused), "same frame again");
        }
    }

    #[test]
    fn update_reports_changes_and_agrees_with_cell() {
        let info = |x: i32, keys: u64| Info {
            x: Some(x),
            y: Some(2),
            room: Some(1),
            inventory: Some(keys),
            ..Info::default()
        };
        let obs = ObsBuf::F32(Vec::new());
        let d = DomainCells { cell_size: 2 };
        let mut c = d.cell(&obs, &info(4, 0)).expect("cell");
        assert!(!d.update(&obs, &info(5, 0), &mut c).expect("update"), "same 2-tile square");
        assert!(d.update(&obs, &info(6, 0), &mut c).expect("update"), "next square");
        assert_eq!(c, d.cell(&obs, &info(6, 0)).expect("cell"));
        assert!(d.update(&obs, &info(6, 1), &mut c).expect("update"), "an item");
        assert_eq!(c, d.cell(&obs, &info(6, 1)).expect("cell"));
        // From a cell of another representation (a key): changed, and cleared.
        let mut c = Cell { level: 0, pos: None, items: 0, key: vec![1, 2] };
        assert!(d.update(&obs, &info(6, 1), &mut c).expect("update"));
        assert_eq!(c, d.cell(&obs, &info(6, 1)).expect("cell"));
    }

    #[test]
    fn objective_prefers_even_splits_near_the_target() {
        let even = downscale_objective(&[25, 25, 25, 25], 100, 4.0);
        assert!((even - 1.0).abs() < 1e-12, "uniform over the target count scores 1, got {even}");
        assert!(downscale_objective(&[97, 1, 1, 1], 100, 4.0) < even);
        assert!(downscale_objective(&[10; 10], 100, 4.0) < even, "too many cells");
        assert!(downscale_objective(&[100], 100, 4.0).abs() < 1e-15, "one cell scores 0");
    }
}
