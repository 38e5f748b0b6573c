//! Go-Explore from Python: `spelunk_experiments`' explorer (phase 1 over any env id, level file
//! or config) with its archive open to reading — cells, scores, visits, the actions that reach
//! each cell and its exact snapshot — and resumable checkpoints.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use spelunk_experiments::explore::go_explore::{parse_downscale, Cells, GoExploreSpec};
use spelunk_intrinsic::goexplore::{Entry, GoExplore, Stats};

use crate::{err, parse_config};

/// A Go-Explore run (phase 1): an archive of cells, grown one batch of explorations per
/// `iterate`.
#[pyclass(module = "spelunk._spelunk")]
pub(crate) struct RawGoExplore {
    inner: Mutex<(GoExploreSpec, GoExplore)>,
}

fn stats_dict<'py>(py: Python<'py>, s: &Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("iteration", s.iteration)?;
    d.set_item("frames", s.frames)?;
    d.set_item("cells", s.cells)?;
    d.set_item("rooms", s.rooms)?;
    d.set_item("max_score", s.max_score)?;
    d.set_item("solved", s.solved)?;
    Ok(d)
}

/// Archive cell `i`, or an error saying how many there are.
fn entry(entries: &[Entry], i: usize) -> PyResult<&Entry> {
    entries.get(i).ok_or_else(|| err(format!("cell {i}: the archive has {} cells", entries.len())))
}

impl RawGoExplore {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, (GoExploreSpec, GoExplore)>> {
        self.inner.lock().map_err(|_| PyRuntimeError::new_err("the explorer panicked earlier"))
    }
}

#[pymethods]
impl RawGoExplore {
    /// `cells`: `domain` (level, room, position in `cell_size` tiles, items, from `info`) or
    /// `pixels` (downscaled grey frames; `downscale` `WxHxLEVELS`, else chosen and re-fitted
    /// as the run goes). `batch`, `explore_steps` and `repeat_prob` are the explorer's.
    #[new]
    #[pyo3(signature = (id, config, cells, cell_size, downscale, seed, threads, batch,
                        explore_steps, repeat_prob))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        id: &str,
        config: &str,
        cells: &str,
        cell_size: i32,
        downscale: Option<&str>,
        seed: u64,
        threads: usize,
        batch: usize,
        explore_steps: u32,
        repeat_prob: f64,
    ) -> PyResult<Self> {
        let config = parse_config(config)?;
        let cells: Cells = cells.parse().map_err(err)?;
        let downscale = downscale.map(parse_downscale).transpose().map_err(err)?;
        if cell_size < 1 {
            return Err(err(format!("cell_size must be at least 1, got {cell_size}")));
        }
        if batch == 0 || explore_steps == 0 || !(0.0..=1.0).contains(&repeat_prob) {
            return Err(err(format!(
                "batch ({batch}) and explore_steps ({explore_steps}) must be positive, \
                 repeat_prob ({repeat_prob}) in [0, 1]"
            )));
        }
        let spec = GoExploreSpec {
            env: id.to_owned(),
            env_config: config.as_object().is_some_and(|o| !o.is_empty()).then_some(config),
            cells,
            cell_size,
            downscale,
            seed,
            threads,
            ..GoExploreSpec::default()
        };
        let mut ge = py.detach(|| spec.build()).map_err(err)?;
        ge.config.batch = batch;
        ge.config.explore_steps = explore_steps;
        ge.config.repeat_prob = repeat_prob;
        Ok(Self { inner: Mutex::new((spec, ge)) })
    }

    /// One iteration (a batch of returns and explorations, on worker threads with the GIL
    /// released); returns the run's figures after it.
    fn iterate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = py.detach(|| self.lock()?.1.iterate().map_err(err))?;
        stats_dict(py, &s)
    }

    /// The run's figures: iteration, frames, cells, rooms, max_score, solved.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.lock()?.1.stats())
    }

    /// The cell representation's name (`domain/1`, `pixels/11x8x8`, ...).
    fn cell_fn(&self) -> PyResult<String> {
        Ok(self.lock()?.1.cell_fn().name())
    }

    /// The archive, one dict per cell in the order cells were admitted.
    fn cells<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let g = self.lock()?;
        g.1.archive()
            .entries()
            .iter()
            .map(|e| {
                let d = PyDict::new(py);
                d.set_item("level", e.cell.level)?;
                d.set_item("position", e.cell.pos.map(|[r, x, y]| (r, x, y)))?;
                d.set_item("items", e.cell.items)?;
                d.set_item("key", PyBytes::new(py, &e.cell.key))?;
                d.set_item("score", e.score)?;
                d.set_item("trajectory_len", e.trajectory.len())?;
                d.set_item("times_chosen", e.times_chosen)?;
                d.set_item("times_chosen_since_new", e.times_chosen_since_new)?;
                d.set_item("times_seen", e.times_seen)?;
                d.set_item("done", e.done)?;
                d.set_item("room", e.room)?;
                d.set_item("found_at", e.found_at)?;
                Ok(d)
            })
            .collect()
    }

    /// The actions that reach cell `i` from `reset(seed=reset_seed)`.
    fn trajectory(&self, i: usize) -> PyResult<Vec<u8>> {
        Ok(entry(self.lock()?.1.archive().entries(), i)?.trajectory.to_vec())
    }

    /// Cell `i`'s state as `(kind, bytes)`, for `SpelunkEnv.restore` on the same env.
    fn snapshot<'py>(&self, py: Python<'py>, i: usize) -> PyResult<(String, Bound<'py, PyBytes>)> {
        let g = self.lock()?;
        let s = &entry(g.1.archive().entries(), i)?.snapshot;
        Ok((s.kind.to_string(), PyBytes::new(py, &s.bytes)))
    }

    /// The seed of the start state (`reset(seed=...)`) every trajectory begins from.
    fn reset_seed(&self) -> PyResult<u64> {
        Ok(self.lock()?.1.config.reset_seed)
    }

    /// The best successful episode so far: `(score, actions, frames)`, or None.
    fn solved(&self) -> PyResult<Option<(f64, Vec<u8>, u64)>> {
        Ok(self.lock()?.1.solved().map(|s| (s.score, s.trajectory.clone(), s.frames)))
    }

    /// The solving episode as a demo file (`spelunk train`'s privileged starts, `spelunk
    /// replay`), written to `path`; False when nothing is solved yet.
    fn save_demo(&self, path: PathBuf) -> PyResult<bool> {
        let g = self.lock()?;
        let Some(demo) = g.0.demo_of(&g.1) else { return Ok(false) };
        demo.save(&path).map_err(err)?;
        Ok(true)
    }

    /// Write a checkpoint of the whole run (archive, snapshots, generator) to `path`.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.lock()?.1.save(&path).map_err(err))
    }

    /// Continue from a checkpoint `save` wrote with the same env, cells and seed.
    fn load(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| self.lock()?.1.load(&path).map_err(err))
    }
}
