//! Spelunk's GRPO/PPO trainer from Python: the Rust core (rollouts on its own vector envs,
//! group-relative or GAE advantages, the clipped loss, Adam) driven one iteration at a time,
//! with the same settings, checkpoints and run folders as `spelunk train`.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use spelunk_grpo::Trainer;

use crate::err;

/// A training run (`spelunk_grpo::Trainer`).
#[pyclass(module = "spelunk._spelunk")]
pub(crate) struct RawTrainer {
    inner: Mutex<Trainer<'static>>,
}

fn metrics_dict(
    py: Python<'_>,
    m: std::collections::BTreeMap<String, f64>,
) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in m {
        d.set_item(k, v)?;
    }
    Ok(d)
}

impl RawTrainer {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, Trainer<'static>>> {
        self.inner.lock().map_err(|_| PyRuntimeError::new_err("the trainer panicked earlier"))
    }
}

#[pymethods]
impl RawTrainer {
    /// A fresh run: `config` a TOML file (or None for the defaults) with `sets`
    /// (`key=value`, `spelunk train --set`'s grammar) over it; refused, before anything large
    /// is allocated, when the settings are invalid or need more memory than the machine has.
    #[new]
    #[pyo3(signature = (config, sets))]
    fn new(py: Python<'_>, config: Option<PathBuf>, sets: Vec<String>) -> PyResult<Self> {
        let t = py.detach(|| {
            let cfg = spelunk_experiments::config::train_config(config.as_deref(), &sets)?;
            spelunk_experiments::train::trainer(cfg)
        });
        Ok(Self { inner: Mutex::new(t.map_err(err)?) })
    }

    /// The trainer of a run folder `spelunk train` (or `save_run`) wrote, at its last commit,
    /// every file checked against the folder's manifest.
    #[staticmethod]
    fn load_run(py: Python<'_>, run: PathBuf) -> PyResult<Self> {
        let (_, t) = py.detach(|| spelunk_experiments::train::load_run(&run)).map_err(err)?;
        Ok(Self { inner: Mutex::new(t) })
    }

    /// One iteration — rollouts, advantages, the update — with the GIL released; returns its
    /// metrics (CleanRL's names: `charts/success_rate`, `losses/policy_loss`, ...).
    fn iterate<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = py.detach(|| self.lock()?.iterate().map_err(err))?;
        metrics_dict(py, m)
    }

    /// `(mean return, success rate)` over `episodes` unseen seeds, sampling actions (or the
    /// most likely with `greedy`); the training run is not changed by it.
    fn evaluate(&self, py: Python<'_>, episodes: usize, greedy: bool) -> PyResult<(f64, f64)> {
        if episodes == 0 {
            return Err(err("episodes must be positive"));
        }
        py.detach(|| self.lock()?.evaluate(episodes, greedy).map_err(err))
    }

    /// The policy's parameters (safetensors bytes), for `load_policy_weights` on a rollout
    /// worker's trainer of the same settings.
    fn policy_weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let w = self.lock()?.policy_weights().map_err(err)?;
        Ok(PyBytes::new(py, &w))
    }

    /// Take the policy parameters another trainer's `policy_weights` gave.
    fn load_policy_weights(&self, py: Python<'_>, weights: Vec<u8>) -> PyResult<()> {
        py.detach(|| self.lock()?.load_policy_weights(&weights).map_err(err))
    }

    /// A rollout worker's part of `iteration`: groups `first_group .. first_group + groups`,
    /// as a batch of bytes for `learn` (a pure function of the weights and these arguments).
    fn collect<'py>(
        &self,
        py: Python<'py>,
        iteration: usize,
        first_group: usize,
        groups: usize,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| {
            let batch = self.lock()?.collect(iteration, first_group, groups).map_err(err)?;
            batch.to_bytes().map_err(err)
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The learner's part of an iteration from the workers' batches (in group order):
    /// advantages, the update; returns the iteration's metrics.
    fn learn<'py>(&self, py: Python<'py>, batches: Vec<Vec<u8>>) -> PyResult<Bound<'py, PyDict>> {
        let m = py.detach(|| {
            let batches = batches
                .iter()
                .map(|b| spelunk_grpo::Batch::from_bytes(b))
                .collect::<Result<Vec<_>, _>>()
                .map_err(err)?;
            self.lock()?.learn(batches).map_err(err)
        })?;
        metrics_dict(py, m)
    }

    /// Iterations done.
    fn iteration(&self) -> PyResult<usize> {
        Ok(self.lock()?.iteration)
    }

    /// Environment steps so far.
    fn env_steps(&self) -> PyResult<u64> {
        Ok(self.lock()?.env_steps)
    }

    /// The run's settings as JSON (every key, defaults filled in).
    fn config(&self) -> PyResult<String> {
        serde_json::to_string(&self.lock()?.config).map_err(err)
    }

    /// Write a checkpoint (policy, value head, optimiser moments, generator, statistics) into
    /// the folder `dir`.
    fn save(&self, py: Python<'_>, dir: PathBuf) -> PyResult<()> {
        py.detach(|| {
            std::fs::create_dir_all(&dir)
                .map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
            self.lock()?.save(&dir).map_err(err)
        })
    }

    /// Continue from a checkpoint `save` wrote for the same settings: the run goes on exactly
    /// as if it had not stopped.
    fn resume(&self, py: Python<'_>, dir: PathBuf) -> PyResult<()> {
        py.detach(|| self.lock()?.resume(&dir).map_err(err))
    }
}
