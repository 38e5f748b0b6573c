//! [`VecEnv`]: N environments stepped on T worker threads into contiguous buffers.
//!
//! - Env *i* is seeded `seed + i` on a seeded reset, as Gymnasium's vector envs do.
//! - Envs are split into T contiguous chunks; chunk 0 runs on the calling thread, chunks
//!   1..T on named worker threads that spin briefly and then park between steps. Each env
//!   only touches its own rows of the shared buffers, so the numbers are identical for any
//!   thread count and any batch split (a `VecEnv` of envs 4..8 seeded `s + 4` reproduces
//!   rows 4..8 of one seeded `s`).
//! - Buffers (observations, rewards, terminated, truncated, infos, final observations) are
//!   allocated once; stepping allocates nothing.
//! - Autoreset modes follow Gymnasium 1.x: [`AutoReset::NextStep`] (default: the step after
//!   an episode ends resets that env, ignores its action and reports reward 0),
//!   [`AutoReset::SameStep`] (the ending step resets at once; the final observation and info
//!   are kept in [`VecEnv::final_obs`] / [`VecEnv::final_info`]), and
//!   [`AutoReset::Disabled`] (the caller resets envs with [`VecEnv::reset_env`]).
//! - Envs can idle: [`VecEnv::set_active`] leaves the inactive ones out of every step (their
//!   rows keep their last values), so a batch of episodes of different lengths runs until the
//!   last one ends; [`VecEnv::begin_env`] starts one env however the caller likes (reset,
//!   then restore a snapshot, say) and writes its observation into its row.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_utils::CachePadded;
use serde::{Deserialize, Serialize};

use crate::{Action, DType, Digest, Env, Error, Info, ObsMut, ObsRef, Result, Space};

/// When a finished env is reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoReset {
    /// On the step after the episode ended (Gymnasium's default).
    #[default]
    NextStep,
    /// In the same step; the final observation and info are kept aside.
    SameStep,
    /// Never; stepping a finished env is an error until [`VecEnv::reset_env`].
    Disabled,
}

/// How a vector env runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VecEnvConfig {
    /// Threads stepping envs, the calling thread included (1 = no worker threads).
    pub num_threads: usize,
    /// Autoreset mode.
    pub autoreset: AutoReset,
}

impl Default for VecEnvConfig {
    fn default() -> Self {
        Self { num_threads: 1, autoreset: AutoReset::NextStep }
    }
}

/// A batch of actions, one row per env.
#[derive(Clone, Debug, PartialEq)]
pub enum Actions {
    /// One discrete action per env.
    Discrete(Vec<i64>),
    /// `dims` discrete values per env, back to back.
    MultiDiscrete {
        /// Values, `num_envs * dims`.
        values: Vec<i64>,
        /// Values per env.
        dims: usize,
    },
    /// `dims` floats per env, back to back.
    Continuous {
        /// Values, `num_envs * dims`.
        values: Vec<f32>,
        /// Values per env.
        dims: usize,
    },
}

/// A heap slice shared with worker threads; each thread touches disjoint rows.
struct SharedSlice<T> {
    ptr: *mut T,
    len: usize,
}

impl<T: Clone> SharedSlice<T> {
    fn new(len: usize, value: T) -> Self {
        let boxed = vec![value; len].into_boxed_slice();
        let len = boxed.len();
        Self { ptr: Box::into_raw(boxed).cast::<T>(), len }
    }
}

impl<T> SharedSlice<T> {
    /// # Safety
    /// No other live reference may overlap `range` while the result is used.
    #[expect(clippy::mut_from_ref, reason = "rows are handed out disjointly by the step protocol")]
    unsafe fn rows(&self, range: std::ops::Range<usize>) -> &mut [T] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked above); exclusivity is the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
    /// Write element `i`.
    ///
    /// # Safety
    /// No other thread may touch element `i` meanwhile.
    #[inline]
    unsafe fn set(&self, i: usize, value: T) {
        assert!(i < self.len);
        // SAFETY: in bounds (checked above); exclusivity is the caller's contract.
        unsafe { *self.ptr.add(i) = value };
    }
    /// Read element `i`.
    ///
    /// # Safety
    /// No other thread may be writing element `i` meanwhile.
    #[inline]
    unsafe fn get(&self, i: usize) -> T
    where
        T: Copy,
    {
        assert!(i < self.len);
        // SAFETY: in bounds (checked above); exclusivity is the caller's contract.
        unsafe { *self.ptr.add(i) }
    }
    /// # Safety
    /// No thread may be writing while the result is used.
    unsafe fn all(&self) -> &[T] {
        // SAFETY: the pointer and length come from a live boxed slice.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl<T> Drop for SharedSlice<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from `Box::into_raw` of a boxed slice of this length.
        unsafe { drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.ptr, self.len))) };
    }
}

enum SharedObs {
    U8(SharedSlice<u8>),
    F32(SharedSlice<f32>),
}

impl SharedObs {
    fn new(dtype: DType, len: usize) -> Self {
        match dtype {
            DType::U8 => SharedObs::U8(SharedSlice::new(len, 0)),
            DType::F32 => SharedObs::F32(SharedSlice::new(len, 0.0)),
        }
    }
    /// # Safety: as [`SharedSlice::rows`].
    unsafe fn rows(&self, range: std::ops::Range<usize>) -> ObsMut<'_> {
        // SAFETY: forwarded contract.
        unsafe {
            match self {
                SharedObs::U8(s) => ObsMut::U8(s.rows(range)),
                SharedObs::F32(s) => ObsMut::F32(s.rows(range)),
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Cmd {
    Reset { seed: Option<u64> },
    Step,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ActKind {
    None,
    Discrete,
    MultiDiscrete,
    Continuous,
}

struct Shared {
    chunks: Vec<UnsafeCell<Vec<Box<dyn Env>>>>,
    starts: Vec<usize>,
    obs_len: usize,
    autoreset: AutoReset,
    obs: SharedObs,
    final_obs: SharedObs,
    rewards: SharedSlice<f32>,
    terminated: SharedSlice<bool>,
    truncated: SharedSlice<bool>,
    infos: SharedSlice<Info>,
    final_infos: SharedSlice<Info>,
    has_final: SharedSlice<bool>,
    needs_reset: SharedSlice<bool>,
    /// Envs that step (the rest idle).
    active: SharedSlice<bool>,
    act_i64: SharedSlice<i64>,
    act_f32: SharedSlice<f32>,
    act_kind: UnsafeCell<(ActKind, usize)>,
    cmd: UnsafeCell<Cmd>,
    // The step protocol's atomics live on their own cache lines: workers spin on `epoch`
    // while the caller counts down `pending`, and each `parked` flag has one writer.
    epoch: CachePadded<AtomicU64>,
    pending: CachePadded<AtomicUsize>,
    parked: Vec<CachePadded<AtomicBool>>,
    shutdown: AtomicBool,
    errors: Vec<Mutex<Option<(usize, Error)>>>,
}

// SAFETY: every `UnsafeCell` and `SharedSlice` is accessed under the step protocol: the
// caller writes `cmd`/actions, publishes them with a release bump of `epoch`, each worker
// touches only its own chunk and rows, and the caller reads results only after `pending`
// drops to zero (acquire). Outside a step no worker touches shared data.
unsafe impl Sync for Shared {}
// SAFETY: the envs are `Send`; the raw buffers are owned by `Shared` itself.
unsafe impl Send for Shared {}

const SPINS_BEFORE_PARK: u32 = 1 << 14;

impl Shared {
    /// Env `i` has just begun an episode with `info`: its reward and flags cleared.
    ///
    /// # Safety
    /// Only the thread that owns env `i` (its chunk during a step, the caller outside one) may
    /// call it.
    unsafe fn started(&self, i: usize, info: Info) {
        // SAFETY: env `i`'s slots belong to the calling thread (the caller's promise).
        unsafe {
            self.infos.set(i, info);
            self.rewards.set(i, 0.0);
            self.terminated.set(i, false);
            self.truncated.set(i, false);
            self.needs_reset.set(i, false);
            self.has_final.set(i, false);
        }
    }

    /// Run chunk `k` for the current command.
    ///
    /// # Safety
    /// Only the thread that owns chunk `k` for this step may call it.
    unsafe fn run_chunk(&self, k: usize) -> std::result::Result<(), (usize, Error)> {
        // SAFETY: chunk `k` and its rows belong to this thread during the step.
        unsafe {
            let envs = &mut *self.chunks[k].get();
            let start = self.starts[k];
            let cmd = *self.cmd.get();
            let (act_kind, dims) = *self.act_kind.get();
            for (j, env) in envs.iter_mut().enumerate() {
                let i = start + j;
                let rows = i * self.obs_len..(i + 1) * self.obs_len;
                let r = match cmd {
                    Cmd::Reset { seed } => {
                        let seed = seed.map(|s| s.wrapping_add(i as u64));
                        env.reset(seed, None, self.obs.rows(rows)).map(|info| self.started(i, info))
                    }
                    Cmd::Step if !self.active.get(i) => Ok(()),
                    Cmd::Step => {
                        let action = match act_kind {
                            ActKind::Discrete => Action::Discrete(self.act_i64.get(i)),
                            ActKind::MultiDiscrete => {
                                Action::MultiDiscrete(self.act_i64.rows(i * dims..(i + 1) * dims))
                            }
                            ActKind::Continuous | ActKind::None => {
                                Action::Continuous(self.act_f32.rows(i * dims..(i + 1) * dims))
                            }
                        };
                        self.step_one(env.as_mut(), i, action, rows)
                    }
                };
                if let Err(e) = r {
                    return Err((i, e));
                }
            }
            Ok(())
        }
    }

    /// # Safety: as [`Shared::run_chunk`], for env `i`.
    unsafe fn step_one(
        &self,
        env: &mut dyn Env,
        i: usize,
        action: Action<'_>,
        rows: std::ops::Range<usize>,
    ) -> Result<()> {
        // SAFETY: env `i`'s rows belong to the calling thread during the step.
        unsafe {
            self.has_final.set(i, false);
            if self.autoreset == AutoReset::NextStep && self.needs_reset.get(i) {
                let info = env.reset(None, None, self.obs.rows(rows))?;
                self.infos.set(i, info);
                self.rewards.set(i, 0.0);
                self.terminated.set(i, false);
                self.truncated.set(i, false);
                self.needs_reset.set(i, false);
                return Ok(());
            }
            let step = env.step(action, self.obs.rows(rows.clone()))?;
            self.rewards.set(i, step.reward);
            self.terminated.set(i, step.terminated);
            self.truncated.set(i, step.truncated);
            self.infos.set(i, step.info);
            let done = step.terminated || step.truncated;
            match self.autoreset {
                AutoReset::NextStep => self.needs_reset.set(i, done),
                AutoReset::SameStep if done => {
                    match (&self.obs, &self.final_obs) {
                        (SharedObs::U8(a), SharedObs::U8(b)) => {
                            b.rows(rows.clone()).copy_from_slice(a.rows(rows.clone()));
                        }
                        (SharedObs::F32(a), SharedObs::F32(b)) => {
                            b.rows(rows.clone()).copy_from_slice(a.rows(rows.clone()));
                        }
                        _ => unreachable!("final_obs has the dtype of obs"),
                    }
                    self.final_infos.set(i, step.info);
                    self.has_final.set(i, true);
                    self.infos.set(i, env.reset(None, None, self.obs.rows(rows))?);
                }
                AutoReset::SameStep | AutoReset::Disabled => {}
            }
            Ok(())
        }
    }
}

fn worker_loop(shared: &Shared, k: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        loop {
            let e = shared.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            if spins < SPINS_BEFORE_PARK {
                std::hint::spin_loop();
                spins += 1;
            } else {
                shared.parked[k].store(true, Ordering::SeqCst);
                if shared.epoch.load(Ordering::SeqCst) == seen {
                    std::thread::park();
                }
                shared.parked[k].store(false, Ordering::SeqCst);
            }
        }
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: chunk `k` belongs to this worker for the step just published.
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            shared.run_chunk(k)
        }))
        .unwrap_or_else(|_| {
            Err((shared.starts[k], Error::Worker(format!("an env in chunk {k} panicked"))))
        });
        if let Err(e) = r {
            if let Ok(mut slot) = shared.errors[k].lock() {
                *slot = Some(e);
            }
        }
        shared.pending.fetch_sub(1, Ordering::Release);
    }
}

/// N environments stepped together. See the module page for the contract.
pub struct VecEnv {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    num_envs: usize,
    observation_space: Space,
    action_space: Space,
    config: VecEnvConfig,
}

impl VecEnv {
    /// Build from a factory called for env indices `0..num_envs`.
    pub fn from_fn(
        num_envs: usize,
        config: VecEnvConfig,
        mut make: impl FnMut(usize) -> Result<Box<dyn Env>>,
    ) -> Result<Self> {
        let envs = (0..num_envs).map(&mut make).collect::<Result<Vec<_>>>()?;
        Self::new(envs, config)
    }

    /// Build from envs that share one observation and action space.
    pub fn new(envs: Vec<Box<dyn Env>>, config: VecEnvConfig) -> Result<Self> {
        let num_envs = envs.len();
        if num_envs == 0 {
            return Err(Error::Config {
                what: "vector env".into(),
                message: "num_envs is 0".into(),
            });
        }
        if config.num_threads == 0 {
            return Err(Error::Config {
                what: "vector env".into(),
                message: "num_threads is 0; use 1 to step on the calling thread".into(),
            });
        }
        let observation_space = envs[0].observation_space().clone();
        let action_space = envs[0].action_space().clone();
        for (i, e) in envs.iter().enumerate() {
            if *e.observation_space() != observation_space || *e.action_space() != action_space {
                return Err(Error::Config {
                    what: "vector env".into(),
                    message: format!(
                        "env {i} ({}) has spaces {} / {}, env 0 ({}) has {} / {}",
                        e.id(),
                        e.observation_space(),
                        e.action_space(),
                        envs[0].id(),
                        observation_space,
                        action_space
                    ),
                });
            }
        }
        let threads = config.num_threads.min(num_envs);
        let starts: Vec<usize> = (0..=threads).map(|k| k * num_envs / threads).collect();
        let mut it = envs.into_iter();
        let chunks = (0..threads)
            .map(|k| UnsafeCell::new(it.by_ref().take(starts[k + 1] - starts[k]).collect()))
            .collect();
        let obs_len = observation_space.flat_len();
        let dtype = observation_space.dtype();
        let act_dims = match &action_space {
            Space::MultiDiscrete { nvec } => nvec.len(),
            Space::Discrete { .. } => 1,
            other => other.flat_len(),
        };
        let shared = Arc::new(Shared {
            chunks,
            starts,
            obs_len,
            autoreset: config.autoreset,
            obs: SharedObs::new(dtype, num_envs * obs_len),
            final_obs: SharedObs::new(
                dtype,
                if config.autoreset == AutoReset::SameStep { num_envs * obs_len } else { 0 },
            ),
            rewards: SharedSlice::new(num_envs, 0.0),
            terminated: SharedSlice::new(num_envs, false),
            truncated: SharedSlice::new(num_envs, false),
            infos: SharedSlice::new(num_envs, Info::default()),
            final_infos: SharedSlice::new(num_envs, Info::default()),
            has_final: SharedSlice::new(num_envs, false),
            needs_reset: SharedSlice::new(num_envs, false),
            active: SharedSlice::new(num_envs, true),
            act_i64: SharedSlice::new(num_envs * act_dims, 0),
            act_f32: SharedSlice::new(num_envs * act_dims, 0.0),
            act_kind: UnsafeCell::new((ActKind::None, act_dims)),
            cmd: UnsafeCell::new(Cmd::Step),
            epoch: CachePadded::new(AtomicU64::new(0)),
            pending: CachePadded::new(AtomicUsize::new(0)),
            parked: (0..threads).map(|_| CachePadded::new(AtomicBool::new(false))).collect(),
            shutdown: AtomicBool::new(false),
            errors: (0..threads).map(|_| Mutex::new(None)).collect(),
        });
        let mut workers = Vec::with_capacity(threads.saturating_sub(1));
        for k in 1..threads {
            let s = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("spelunk-vecenv-{k}"))
                .spawn(move || worker_loop(&s, k))
                .map_err(|e| Error::Worker(format!("could not start worker {k}: {e}")))?;
            workers.push(handle);
        }
        Ok(Self {
            shared,
            workers,
            num_envs,
            observation_space,
            action_space,
            config: VecEnvConfig { num_threads: threads, ..config },
        })
    }

    fn dispatch(&mut self, cmd: Cmd) -> Result<()> {
        let shared = &*self.shared;
        // SAFETY: no worker runs between steps; we are the only one touching `cmd`.
        unsafe { *shared.cmd.get() = cmd };
        shared.pending.store(self.workers.len(), Ordering::Relaxed);
        shared.epoch.fetch_add(1, Ordering::SeqCst);
        for (k, w) in self.workers.iter().enumerate() {
            if shared.parked[k + 1].load(Ordering::SeqCst) {
                w.thread().unpark();
            }
        }
        // SAFETY: chunk 0 belongs to the calling thread.
        let mut first_err = unsafe { shared.run_chunk(0) }.err();
        let mut spins = 0u32;
        while shared.pending.load(Ordering::Acquire) != 0 {
            if spins < SPINS_BEFORE_PARK {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        for slot in &shared.errors[1..] {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            if let Some((i, e)) = taken {
                if first_err.as_ref().is_none_or(|(j, _)| i < *j) {
                    first_err = Some((i, e));
                }
            }
        }
        match first_err {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Reset every env; with `Some(seed)`, env *i* gets `seed + i`.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<()> {
        self.dispatch(Cmd::Reset { seed })
    }

    /// Reset one env (for [`AutoReset::Disabled`]); returns its info.
    pub fn reset_env(&mut self, i: usize, seed: Option<u64>) -> Result<Info> {
        let obs_len = self.shared.obs_len;
        let (k, j) = self.locate(i)?;
        let shared = &*self.shared;
        // SAFETY: no step is running (`&mut self`), so env `i` and its rows are ours.
        unsafe {
            let env = &mut (&mut *shared.chunks[k].get())[j];
            let info = env.reset(seed, None, shared.obs.rows(i * obs_len..(i + 1) * obs_len))?;
            shared.infos.set(i, info);
            shared.needs_reset.set(i, false);
            shared.has_final.set(i, false);
            Ok(info)
        }
    }

    /// Start env `i` with `begin` (given the env and its observation row; it returns the
    /// env's info), as [`VecEnv::reset_env`] does with a plain reset: the info is stored, the
    /// reward and flags cleared.
    pub fn begin_env(
        &mut self,
        i: usize,
        begin: impl FnOnce(&mut dyn Env, ObsMut<'_>) -> Result<Info>,
    ) -> Result<Info> {
        let obs_len = self.shared.obs_len;
        let (k, j) = self.locate(i)?;
        let shared = &*self.shared;
        // SAFETY: no step is running (`&mut self`), so env `i` and its rows are ours.
        unsafe {
            let env = &mut (&mut *shared.chunks[k].get())[j];
            let info = begin(env.as_mut(), shared.obs.rows(i * obs_len..(i + 1) * obs_len))?;
            shared.started(i, info);
            Ok(info)
        }
    }

    /// Which envs step from now on (`true`: steps; `false`: idles, its rows unchanged). All
    /// envs are active until this is called.
    pub fn set_active(&mut self, active: &[bool]) -> Result<()> {
        if active.len() != self.num_envs {
            return Err(Error::Config {
                what: "vector env".into(),
                message: format!("{} activity flags for {} envs", active.len(), self.num_envs),
            });
        }
        // SAFETY: no step is running (`&mut self`); the flags are only read during steps.
        unsafe { self.shared.active.rows(0..self.num_envs).copy_from_slice(active) };
        Ok(())
    }

    /// The observation row of env `i`.
    pub fn obs_row(&self, i: usize) -> Option<ObsRef<'_>> {
        let n = self.shared.obs_len;
        if i >= self.num_envs {
            return None;
        }
        match (self.obs_u8(), self.obs_f32()) {
            (Some(b), _) => Some(ObsRef::U8(&b[i * n..(i + 1) * n])),
            (_, Some(f)) => Some(ObsRef::F32(&f[i * n..(i + 1) * n])),
            _ => None,
        }
    }

    fn locate(&self, i: usize) -> Result<(usize, usize)> {
        if i >= self.num_envs {
            return Err(Error::Config {
                what: "vector env".into(),
                message: format!("env index {i} out of range 0..{}", self.num_envs),
            });
        }
        let k = self.shared.starts.partition_point(|&s| s <= i) - 1;
        Ok((k, i - self.shared.starts[k]))
    }

    /// Step every env with one discrete action each.
    pub fn step_discrete(&mut self, actions: &[i64]) -> Result<()> {
        self.check_len(actions.len(), self.num_envs)?;
        // SAFETY: no step is running; the action buffer is ours.
        unsafe {
            self.shared.act_i64.rows(0..self.num_envs).copy_from_slice(actions);
            (*self.shared.act_kind.get()).0 = ActKind::Discrete;
        }
        self.dispatch(Cmd::Step)
    }

    /// Step every env with a batch of actions.
    pub fn step(&mut self, actions: &Actions) -> Result<()> {
        // SAFETY: no step is running; `act_kind` is only written between steps.
        let dims = unsafe { (*self.shared.act_kind.get()).1 };
        match actions {
            Actions::Discrete(a) => self.step_discrete(a),
            Actions::MultiDiscrete { values, dims: d } => {
                self.check_dims(*d, dims)?;
                self.check_len(values.len(), self.num_envs * dims)?;
                // SAFETY: no step is running; the action buffer is ours.
                unsafe {
                    self.shared.act_i64.rows(0..values.len()).copy_from_slice(values);
                    (*self.shared.act_kind.get()).0 = ActKind::MultiDiscrete;
                }
                self.dispatch(Cmd::Step)
            }
            Actions::Continuous { values, dims: d } => {
                self.check_dims(*d, dims)?;
                self.check_len(values.len(), self.num_envs * dims)?;
                // SAFETY: no step is running; the action buffer is ours.
                unsafe {
                    self.shared.act_f32.rows(0..values.len()).copy_from_slice(values);
                    (*self.shared.act_kind.get()).0 = ActKind::Continuous;
                }
                self.dispatch(Cmd::Step)
            }
        }
    }

    fn check_len(&self, got: usize, want: usize) -> Result<()> {
        if got == want {
            Ok(())
        } else {
            Err(Error::InvalidAction {
                env: "vector env".into(),
                reason: format!("got {got} action values for {} envs, need {want}", self.num_envs),
            })
        }
    }

    fn check_dims(&self, got: usize, want: usize) -> Result<()> {
        if got == want {
            Ok(())
        } else {
            Err(Error::InvalidAction {
                env: "vector env".into(),
                reason: format!(
                    "actions have {got} dims, the action space {} has {want}",
                    self.action_space
                ),
            })
        }
    }

    /// Number of envs.
    pub fn num_envs(&self) -> usize {
        self.num_envs
    }
    /// Threads in use (the calling thread included).
    pub fn num_threads(&self) -> usize {
        self.config.num_threads
    }
    /// Autoreset mode.
    pub fn autoreset(&self) -> AutoReset {
        self.config.autoreset
    }
    /// Observation space of one env.
    pub fn observation_space(&self) -> &Space {
        &self.observation_space
    }
    /// Action space of one env.
    pub fn action_space(&self) -> &Space {
        &self.action_space
    }
    /// Elements per observation row.
    pub fn obs_len(&self) -> usize {
        self.shared.obs_len
    }
    /// All observations as bytes, row-major `[num_envs, obs_len]` (byte spaces only).
    pub fn obs_u8(&self) -> Option<&[u8]> {
        match &self.shared.obs {
            // SAFETY: no step is running while `&self` is borrowed.
            SharedObs::U8(s) => Some(unsafe { s.all() }),
            SharedObs::F32(_) => None,
        }
    }
    /// All observations as floats (float spaces only).
    pub fn obs_f32(&self) -> Option<&[f32]> {
        match &self.shared.obs {
            // SAFETY: no step is running while `&self` is borrowed.
            SharedObs::F32(s) => Some(unsafe { s.all() }),
            SharedObs::U8(_) => None,
        }
    }
    /// Feed env `i`'s observation into a digest.
    pub fn digest_obs(&self, i: usize, d: &mut Digest) {
        let r = i * self.obs_len()..(i + 1) * self.obs_len();
        match (self.obs_u8(), self.obs_f32()) {
            (Some(b), _) => d.bytes(&b[r]),
            (_, Some(f)) => d.f32s(&f[r]),
            _ => {}
        }
    }
    /// Rewards of the last step.
    pub fn rewards(&self) -> &[f32] {
        // SAFETY: no step is running while `&self` is borrowed.
        unsafe { self.shared.rewards.all() }
    }
    /// Terminated flags of the last step.
    pub fn terminated(&self) -> &[bool] {
        // SAFETY: as above.
        unsafe { self.shared.terminated.all() }
    }
    /// Truncated flags of the last step.
    pub fn truncated(&self) -> &[bool] {
        // SAFETY: as above.
        unsafe { self.shared.truncated.all() }
    }
    /// Infos of the last step (after a same-step autoreset: the new episode's reset info).
    pub fn infos(&self) -> &[Info] {
        // SAFETY: as above.
        unsafe { self.shared.infos.all() }
    }
    /// Final observation of env `i` if its episode ended in the last step
    /// ([`AutoReset::SameStep`] only), as bytes or floats.
    pub fn final_obs(&self, i: usize) -> Option<crate::ObsBuf> {
        // SAFETY: as above.
        let has = unsafe { self.shared.has_final.all() }.get(i).copied().unwrap_or(false);
        if !has {
            return None;
        }
        let r = i * self.obs_len()..(i + 1) * self.obs_len();
        // SAFETY: as above.
        Some(unsafe {
            match &self.shared.final_obs {
                SharedObs::U8(s) => crate::ObsBuf::U8(s.all()[r].to_vec()),
                SharedObs::F32(s) => crate::ObsBuf::F32(s.all()[r].to_vec()),
            }
        })
    }
    /// Final info of env `i` if its episode ended in the last step ([`AutoReset::SameStep`]).
    pub fn final_info(&self, i: usize) -> Option<Info> {
        // SAFETY: as above.
        let has = unsafe { self.shared.has_final.all() }.get(i).copied().unwrap_or(false);
        // SAFETY: as above.
        has.then(|| unsafe { self.shared.final_infos.all()[i] })
    }
    /// Run a closure on env `i` between steps (snapshots, rendering).
    pub fn with_env<R>(&mut self, i: usize, f: impl FnOnce(&mut dyn Env) -> R) -> Result<R> {
        let (k, j) = self.locate(i)?;
        // SAFETY: no step is running (`&mut self`), so every env is ours.
        let env = unsafe { &mut (&mut *self.shared.chunks[k].get())[j] };
        Ok(f(env.as_mut()))
    }
}

impl Drop for VecEnv {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::Release);
        self.shared.epoch.fetch_add(1, Ordering::SeqCst);
        for w in &self.workers {
            w.thread().unpark();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
