//! `spelunk._spelunk`: the Rust half of the Python package. It holds environments and vector
//! environments and hands their buffers to numpy; the Gymnasium classes, the spaces and the
//! argument checks are Python (`python/spelunk/`), which calls only what is here.
//!
//! Every error from the Rust side arrives as a Python exception with the library's message.

use std::sync::Mutex;

mod go_explore;
mod trainer;

use numpy::ndarray::{ArrayView1, ArrayView2};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use spelunk_core::{
    Action, Actions, AutoReset, Env, Info, ObsBuf, Registry, Snapshot, VecEnv, VecEnvConfig,
};

fn err(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Every environment: gridworlds, bandits, text views and the physics tasks.
fn registry() -> Registry {
    let mut reg = spelunk_envs::registry();
    spelunk_sims::register(&mut reg);
    reg
}

fn parse_config(config: &str) -> PyResult<serde_json::Value> {
    serde_json::from_str(config).map_err(|e| err(format!("config is not JSON: {e}")))
}

fn make(id: &str, config: &serde_json::Value) -> PyResult<Box<dyn Env>> {
    registry().make_with(id, config).map_err(err)
}

/// The ids of every registered environment, sorted.
#[pyfunction]
fn env_ids() -> Vec<String> {
    let mut ids: Vec<String> = registry().ids().map(str::to_owned).collect();
    ids.sort();
    ids
}

/// A space as JSON (serde's layout of `spelunk_core::Space`).
fn space_json(space: &spelunk_core::Space) -> PyResult<String> {
    serde_json::to_string(space).map_err(err)
}

/// The typed info as a dict of the fields the env sets.
fn info_dict<'py>(py: Python<'py>, info: &Info) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    macro_rules! put {
        ($($field:ident),*) => {$(
            if let Some(v) = info.$field {
                d.set_item(stringify!($field), v)?;
            }
        )*};
    }
    put!(x, y, room, level, inventory, score, lives, direction, optimal_action, regret);
    put!(is_success, watching_tv);
    Ok(d)
}

/// One environment (Gymnasium's `Env` wraps it).
#[pyclass(module = "spelunk._spelunk")]
struct RawEnv {
    inner: Mutex<(Box<dyn Env>, ObsBuf)>,
}

fn obs_array<'py>(py: Python<'py>, obs: &ObsBuf) -> Bound<'py, PyAny> {
    match obs {
        ObsBuf::U8(b) => PyArray1::from_slice(py, b).into_any(),
        ObsBuf::F32(f) => PyArray1::from_slice(py, f).into_any(),
    }
}

impl RawEnv {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, (Box<dyn Env>, ObsBuf)>> {
        self.inner.lock().map_err(|_| PyRuntimeError::new_err("the env panicked earlier"))
    }
}

#[pymethods]
impl RawEnv {
    #[new]
    fn new(id: &str, config: &str) -> PyResult<Self> {
        let env = make(id, &parse_config(config)?)?;
        let space = env.observation_space();
        let obs = ObsBuf::zeros(space.dtype(), space.flat_len());
        Ok(Self { inner: Mutex::new((env, obs)) })
    }

    fn id(&self) -> PyResult<String> {
        Ok(self.lock()?.0.id().to_owned())
    }

    fn observation_space(&self) -> PyResult<String> {
        space_json(self.lock()?.0.observation_space())
    }

    fn action_space(&self) -> PyResult<String> {
        space_json(self.lock()?.0.action_space())
    }

    /// The observation buffer's element type: `u8` or `f32`.
    fn obs_dtype(&self) -> PyResult<String> {
        Ok(self.lock()?.0.observation_space().dtype().to_string())
    }

    /// Reset; returns (flat observation copy, info).
    #[pyo3(signature = (seed=None, options=None))]
    fn reset<'py>(
        &self,
        py: Python<'py>,
        seed: Option<u64>,
        options: Option<&str>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
        let options = options.map(parse_config).transpose()?;
        let mut g = self.lock()?;
        let (env, obs) = &mut *g;
        let info = env.reset(seed, options.as_ref(), obs.as_mut()).map_err(err)?;
        Ok((obs_array(py, obs), info_dict(py, &info)?))
    }

    /// One step with a discrete action.
    fn step_discrete<'py>(&self, py: Python<'py>, action: i64) -> PyResult<StepOut<'py>> {
        self.step(py, Action::Discrete(action))
    }

    /// One step with a multi-discrete action.
    fn step_multi<'py>(
        &self,
        py: Python<'py>,
        action: PyReadonlyArray1<'py, i64>,
    ) -> PyResult<StepOut<'py>> {
        self.step(py, Action::MultiDiscrete(action.as_slice().map_err(err)?))
    }

    /// One step with a continuous action.
    fn step_continuous<'py>(
        &self,
        py: Python<'py>,
        action: PyReadonlyArray1<'py, f32>,
    ) -> PyResult<StepOut<'py>> {
        self.step(py, Action::Continuous(action.as_slice().map_err(err)?))
    }

    /// The current observation, without stepping (after `restore`).
    fn observe<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut g = self.lock()?;
        let (env, obs) = &mut *g;
        env.observe(obs.as_mut()).map_err(err)?;
        Ok(obs_array(py, obs))
    }

    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        info_dict(py, &self.lock()?.0.info())
    }

    /// The full state as (kind, bytes).
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<(String, Bound<'py, PyBytes>)> {
        let s = self.lock()?.0.snapshot().map_err(err)?;
        Ok((s.kind.into_owned(), PyBytes::new(py, &s.bytes)))
    }

    fn restore(&self, kind: String, bytes: &[u8]) -> PyResult<()> {
        let s = Snapshot { kind: kind.into(), bytes: bytes.to_vec() };
        self.lock()?.0.restore(&s).map_err(err)
    }

    /// An RGB frame `(height, width, 3)`, or None where the env draws none.
    fn render_rgb<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(img) = self.lock()?.0.render_rgb() else { return Ok(None) };
        let a = PyArray1::from_vec(py, img.rgb);
        Ok(Some(a.reshape([img.height, img.width, 3])?.into_any()))
    }

    fn render_text(&self) -> PyResult<Option<String>> {
        Ok(self.lock()?.0.render_text())
    }

    fn mission(&self) -> PyResult<Option<String>> {
        Ok(self.lock()?.0.mission().map(str::to_owned))
    }
}

type StepOut<'py> = (Bound<'py, PyAny>, f32, bool, bool, Bound<'py, PyDict>);

impl RawEnv {
    fn step<'py>(&self, py: Python<'py>, action: Action<'_>) -> PyResult<StepOut<'py>> {
        let mut g = self.lock()?;
        let (env, obs) = &mut *g;
        let s = env.step(action, obs.as_mut()).map_err(err)?;
        Ok((obs_array(py, obs), s.reward, s.terminated, s.truncated, info_dict(py, &s.info)?))
    }
}

/// Many environments stepped together on worker threads (Gymnasium's `VectorEnv` wraps it).
/// Its observation, reward and flag arrays are numpy views of the vector env's own buffers:
/// each step rewrites them in place.
#[pyclass(module = "spelunk._spelunk")]
struct RawVecEnv {
    inner: Mutex<VecEnv>,
}

impl RawVecEnv {
    fn lock(&self) -> PyResult<std::sync::MutexGuard<'_, VecEnv>> {
        self.inner.lock().map_err(|_| PyRuntimeError::new_err("the env panicked earlier"))
    }

    /// One step of every env with the GIL released.
    fn step_actions(&self, py: Python<'_>, actions: &Actions) -> PyResult<()> {
        let mut g = self.lock()?;
        let v: &mut VecEnv = &mut g;
        py.detach(|| v.step(actions)).map_err(err)
    }
}

#[pymethods]
impl RawVecEnv {
    #[new]
    fn new(
        id: &str,
        config: &str,
        num_envs: usize,
        threads: usize,
        autoreset: &str,
    ) -> PyResult<Self> {
        let autoreset = match autoreset {
            "next_step" => AutoReset::NextStep,
            "same_step" => AutoReset::SameStep,
            "disabled" => AutoReset::Disabled,
            other => {
                return Err(err(format!(
                    "autoreset `{other}`: expected next_step, same_step or disabled"
                )))
            }
        };
        let config = parse_config(config)?;
        let reg = registry();
        let v = VecEnv::from_fn(num_envs, VecEnvConfig { num_threads: threads, autoreset }, |_| {
            reg.make_with(id, &config)
        })
        .map_err(err)?;
        Ok(Self { inner: Mutex::new(v) })
    }

    fn observation_space(&self) -> PyResult<String> {
        space_json(self.lock()?.observation_space())
    }

    fn action_space(&self) -> PyResult<String> {
        space_json(self.lock()?.action_space())
    }

    /// The observation buffer's element type: `u8` or `f32`.
    fn obs_dtype(&self) -> PyResult<String> {
        Ok(self.lock()?.observation_space().dtype().to_string())
    }

    fn num_envs(&self) -> PyResult<usize> {
        Ok(self.lock()?.num_envs())
    }

    /// `[num_envs, obs_len]`: a view of the observations, alive as long as any view of it.
    fn obs_view(slf: Bound<'_, Self>) -> PyResult<Bound<'_, PyAny>> {
        let container = slf.clone().into_any();
        let me = slf.borrow();
        let v = me.lock()?;
        let shape = (v.num_envs(), v.obs_len());
        // SAFETY: the vector env allocates its buffers once, in `VecEnv::new`, and frees them
        // when it drops; `container` (this object, which owns it) is the array's base, so the
        // memory outlives every view. Steps rewrite the values in place, as documented.
        unsafe {
            if let Some(b) = v.obs_u8() {
                let view = ArrayView2::from_shape_ptr(shape, b.as_ptr());
                Ok(PyArray2::borrow_from_array(&view, container).into_any())
            } else if let Some(f) = v.obs_f32() {
                let view = ArrayView2::from_shape_ptr(shape, f.as_ptr());
                Ok(PyArray2::borrow_from_array(&view, container).into_any())
            } else {
                Err(PyRuntimeError::new_err("vector env without an observation buffer"))
            }
        }
    }

    /// Views of the last step's rewards, terminated and truncated flags.
    #[allow(clippy::type_complexity)]
    fn step_views(
        slf: Bound<'_, Self>,
    ) -> PyResult<(Bound<'_, PyAny>, Bound<'_, PyAny>, Bound<'_, PyAny>)> {
        let container = slf.clone().into_any();
        let me = slf.borrow();
        let v = me.lock()?;
        let n = v.num_envs();
        // SAFETY: as in `obs_view`.
        unsafe {
            let rewards = ArrayView1::from_shape_ptr(n, v.rewards().as_ptr());
            let terminated = ArrayView1::from_shape_ptr(n, v.terminated().as_ptr());
            let truncated = ArrayView1::from_shape_ptr(n, v.truncated().as_ptr());
            Ok((
                PyArray1::borrow_from_array(&rewards, container.clone()).into_any(),
                PyArray1::borrow_from_array(&terminated, container.clone()).into_any(),
                PyArray1::borrow_from_array(&truncated, container).into_any(),
            ))
        }
    }

    /// Reset every env (env i gets `seed + i`); the GIL is released meanwhile.
    #[pyo3(signature = (seed=None))]
    fn reset(&self, py: Python<'_>, seed: Option<u64>) -> PyResult<()> {
        let mut g = self.lock()?;
        let v: &mut VecEnv = &mut g;
        py.detach(|| v.reset(seed)).map_err(err)
    }

    /// Reset env `i` alone.
    #[pyo3(signature = (i, seed=None))]
    fn reset_env<'py>(
        &self,
        py: Python<'py>,
        i: usize,
        seed: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let info = self.lock()?.reset_env(i, seed).map_err(err)?;
        info_dict(py, &info)
    }

    /// Step every env with one discrete action each (int64, `[num_envs]`).
    fn step_discrete(&self, py: Python<'_>, actions: PyReadonlyArray1<'_, i64>) -> PyResult<()> {
        let a = actions.as_slice().map_err(err)?;
        let mut g = self.lock()?;
        let v: &mut VecEnv = &mut g;
        py.detach(|| v.step_discrete(a)).map_err(err)
    }

    /// Step with `dims` values per env, back to back (int64 for multi-discrete spaces).
    fn step_multi(
        &self,
        py: Python<'_>,
        actions: PyReadonlyArray1<'_, i64>,
        dims: usize,
    ) -> PyResult<()> {
        let values = actions.as_slice().map_err(err)?.to_vec();
        self.step_actions(py, &Actions::MultiDiscrete { values, dims })
    }

    /// Step with `dims` floats per env, back to back.
    fn step_continuous(
        &self,
        py: Python<'_>,
        actions: PyReadonlyArray1<'_, f32>,
        dims: usize,
    ) -> PyResult<()> {
        let values = actions.as_slice().map_err(err)?.to_vec();
        self.step_actions(py, &Actions::Continuous { values, dims })
    }

    /// Every env's info after the last step or reset.
    fn infos<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let v = self.lock()?;
        v.infos().iter().map(|i| info_dict(py, i)).collect()
    }

    /// The infos of every env as Gymnasium's vector envs give them: for each field some env
    /// sets, an array over envs and a `_field` mask of the envs that set it.
    fn info_arrays<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let v = self.lock()?;
        let infos = v.infos();
        let d = PyDict::new(py);
        macro_rules! field {
            ($name:ident, $t:ty, $default:expr) => {
                if infos.iter().any(|i| i.$name.is_some()) {
                    let vals: Vec<$t> = infos.iter().map(|i| i.$name.unwrap_or($default)).collect();
                    let mask: Vec<bool> = infos.iter().map(|i| i.$name.is_some()).collect();
                    d.set_item(stringify!($name), PyArray1::from_vec(py, vals))?;
                    d.set_item(concat!("_", stringify!($name)), PyArray1::from_vec(py, mask))?;
                }
            };
        }
        field!(x, i32, 0);
        field!(y, i32, 0);
        field!(room, u32, 0);
        field!(level, u32, 0);
        field!(inventory, u64, 0);
        field!(score, f32, 0.0);
        field!(lives, u32, 0);
        field!(direction, u8, 0);
        field!(optimal_action, u32, 0);
        field!(regret, f32, 0.0);
        field!(is_success, bool, false);
        field!(watching_tv, bool, false);
        Ok(d)
    }

    /// Env `i`'s final observation and info if its episode ended in the last step (same-step
    /// autoreset only).
    fn final_step<'py>(
        &self,
        py: Python<'py>,
        i: usize,
    ) -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyDict>)>> {
        let v = self.lock()?;
        match (v.final_obs(i), v.final_info(i)) {
            (Some(obs), Some(info)) => Ok(Some((obs_array(py, &obs), info_dict(py, &info)?))),
            _ => Ok(None),
        }
    }

    /// Env `i`'s full state as (kind, bytes).
    fn snapshot_env<'py>(
        &self,
        py: Python<'py>,
        i: usize,
    ) -> PyResult<(String, Bound<'py, PyBytes>)> {
        let s = self.lock()?.with_env(i, |e| e.snapshot()).map_err(err)?.map_err(err)?;
        Ok((s.kind.into_owned(), PyBytes::new(py, &s.bytes)))
    }

    /// Put env `i` back in a `snapshot_env` state (its observation row rewritten, its reward
    /// and flags cleared, as after a reset); returns its info.
    fn restore_env<'py>(
        &self,
        py: Python<'py>,
        i: usize,
        kind: String,
        bytes: &[u8],
    ) -> PyResult<Bound<'py, PyDict>> {
        let s = Snapshot { kind: kind.into(), bytes: bytes.to_vec() };
        let info = self
            .lock()?
            .begin_env(i, |env, obs| {
                env.restore(&s)?;
                env.observe(obs)?;
                Ok(env.info())
            })
            .map_err(err)?;
        info_dict(py, &info)
    }

    /// Env `i`'s RGB frame.
    fn render_rgb<'py>(&self, py: Python<'py>, i: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
        let img = self.lock()?.with_env(i, |e| e.render_rgb()).map_err(err)?;
        let Some(img) = img else { return Ok(None) };
        let a = PyArray1::from_vec(py, img.rgb);
        Ok(Some(a.reshape([img.height, img.width, 3])?.into_any()))
    }
}

/// An exploration bonus module (`spelunk_intrinsic::make_bonus`): counts, RND, RDD, ICM,
/// BYOL-Explore or Curiosity in Hindsight, fed numpy batches of transitions.
#[pyclass(module = "spelunk._spelunk")]
struct RawBonus {
    inner: Mutex<Box<dyn spelunk_intrinsic::IntrinsicReward>>,
    obs_dim: usize,
}

impl RawBonus {
    fn lock(
        &self,
    ) -> PyResult<std::sync::MutexGuard<'_, Box<dyn spelunk_intrinsic::IntrinsicReward>>> {
        self.inner.lock().map_err(|_| PyRuntimeError::new_err("the bonus module panicked earlier"))
    }

    /// Run `f` on the transitions as a [`spelunk_intrinsic::Batch`], checking their shapes.
    fn with_batch<R>(
        &self,
        obs: &PyReadonlyArray1<'_, f32>,
        next_obs: &PyReadonlyArray1<'_, f32>,
        discrete: Option<&PyReadonlyArray1<'_, i64>>,
        continuous: Option<&PyReadonlyArray1<'_, f32>>,
        dims: usize,
        f: impl FnOnce(
            &mut dyn spelunk_intrinsic::IntrinsicReward,
            &spelunk_intrinsic::Batch<'_>,
        ) -> PyResult<R>,
    ) -> PyResult<R> {
        use spelunk_intrinsic::BatchActions;
        let (obs, next_obs) = (obs.as_slice().map_err(err)?, next_obs.as_slice().map_err(err)?);
        let discrete = discrete.map(|a| a.as_slice()).transpose().map_err(err)?;
        let continuous = continuous.map(|a| a.as_slice()).transpose().map_err(err)?;
        let d = self.obs_dim;
        if obs.len() != next_obs.len() || obs.len() % d != 0 {
            return Err(err(format!(
                "obs and next_obs must both be [batch, {d}]; got {} and {} values",
                obs.len(),
                next_obs.len()
            )));
        }
        let n = obs.len() / d;
        let actions = match (discrete, continuous) {
            (Some(a), _) if a.len() == n => BatchActions::Discrete(a),
            (_, Some(v)) if dims > 0 && v.len() == n * dims => {
                BatchActions::Continuous { values: v, dims }
            }
            _ => return Err(err(format!("actions must give one row per transition ({n})"))),
        };
        let batch = spelunk_intrinsic::Batch { obs, actions, next_obs, obs_dim: d };
        f(self.lock()?.as_mut(), &batch)
    }
}

#[pymethods]
impl RawBonus {
    /// `kind`: counts, rnd, rdd, icm, byol_explore or hindsight; `actions`: the number of
    /// discrete actions, or `-dims` for continuous ones.
    #[new]
    fn new(kind: &str, obs_dim: usize, actions: i64, seed: u64) -> PyResult<Self> {
        let kind: spelunk_intrinsic::BonusKind = serde_json::from_value(serde_json::json!(kind))
            .map_err(|_| {
                err(format!(
                    "bonus `{kind}`: expected counts, rnd, rdd, icm, byol_explore or hindsight"
                ))
            })?;
        if obs_dim == 0 || actions == 0 {
            return Err(err("obs_dim and actions must not be 0"));
        }
        let spec = spelunk_intrinsic::BonusSpec {
            kind,
            obs_dim,
            actions: if actions > 0 {
                spelunk_intrinsic::icm::ActionSpec::Discrete(actions as usize)
            } else {
                spelunk_intrinsic::icm::ActionSpec::Continuous(actions.unsigned_abs() as usize)
            },
            seed,
            optimizer: None,
        };
        let module = spelunk_intrinsic::make_bonus(&spec).map_err(err)?;
        Ok(Self { inner: Mutex::new(module), obs_dim })
    }

    fn name(&self) -> PyResult<String> {
        Ok(self.lock()?.name().to_owned())
    }

    /// The bonus of each transition (flat f32 arrays; discrete or continuous actions).
    #[pyo3(signature = (obs, next_obs, discrete=None, continuous=None, dims=0))]
    fn compute<'py>(
        &self,
        py: Python<'py>,
        obs: PyReadonlyArray1<'py, f32>,
        next_obs: PyReadonlyArray1<'py, f32>,
        discrete: Option<PyReadonlyArray1<'py, i64>>,
        continuous: Option<PyReadonlyArray1<'py, f32>>,
        dims: usize,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let out = self.with_batch(
            &obs,
            &next_obs,
            discrete.as_ref(),
            continuous.as_ref(),
            dims,
            |m, b| {
                let mut out = vec![0f32; b.len()];
                m.compute(b, &mut out).map_err(err)?;
                Ok(out)
            },
        )?;
        Ok(PyArray1::from_vec(py, out))
    }

    /// Count the newest transitions (one per env, every env step): the count bonus's hook;
    /// the learned modules only check the shapes.
    #[pyo3(signature = (obs, next_obs, discrete=None, continuous=None, dims=0))]
    fn on_step<'py>(
        &self,
        obs: PyReadonlyArray1<'py, f32>,
        next_obs: PyReadonlyArray1<'py, f32>,
        discrete: Option<PyReadonlyArray1<'py, i64>>,
        continuous: Option<PyReadonlyArray1<'py, f32>>,
        dims: usize,
    ) -> PyResult<()> {
        self.with_batch(&obs, &next_obs, discrete.as_ref(), continuous.as_ref(), dims, |m, b| {
            m.on_step(b).map_err(err)
        })
    }

    /// The module's whole state (networks, optimiser moments, counts): its name, format
    /// version and bytes.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<(String, u32, Bound<'py, PyBytes>)> {
        let s = self.lock()?.save().map_err(err)?;
        Ok((s.module, s.version, PyBytes::new(py, &s.bytes)))
    }

    /// Put back a state `state` returned (a module of the same kind and size).
    fn load_state(&self, module: String, version: u32, bytes: Vec<u8>) -> PyResult<()> {
        let s = spelunk_intrinsic::ModuleState { module, version, bytes };
        self.lock()?.load(&s).map_err(err)
    }

    /// Train on the transitions; returns the module's losses by name.
    #[pyo3(signature = (obs, next_obs, discrete=None, continuous=None, dims=0))]
    fn update<'py>(
        &self,
        py: Python<'py>,
        obs: PyReadonlyArray1<'py, f32>,
        next_obs: PyReadonlyArray1<'py, f32>,
        discrete: Option<PyReadonlyArray1<'py, i64>>,
        continuous: Option<PyReadonlyArray1<'py, f32>>,
        dims: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let losses = self.with_batch(
            &obs,
            &next_obs,
            discrete.as_ref(),
            continuous.as_ref(),
            dims,
            |m, b| m.update(b).map_err(err),
        )?;
        let out = PyDict::new(py);
        for (k, v) in losses {
            out.set_item(k, v)?;
        }
        Ok(out)
    }
}

/// The compiled module's version: the Python side refuses a module built from another.
const VERSION: &str = env!("CARGO_PKG_VERSION");

#[pymodule]
fn _spelunk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", VERSION)?;
    m.add_function(wrap_pyfunction!(env_ids, m)?)?;
    m.add_class::<RawEnv>()?;
    m.add_class::<RawVecEnv>()?;
    m.add_class::<RawBonus>()?;
    m.add_class::<go_explore::RawGoExplore>()?;
    m.add_class::<trainer::RawTrainer>()?;
    Ok(())
}
