//! `spelunk-core`: the contracts every Spelunk environment, learner and tool leans on.
//!
//! - [`space`]: Gymnasium-style spaces (`Discrete`, `MultiDiscrete`, `Box`, `MultiBinary`,
//!   `Text`, `Dict`) with sampling, `contains` and a flat storage layout.
//! - [`env`](mod@env): the [`Env`] trait with Gymnasium semantics. Observations are written into
//!   caller-provided buffers so that stepping allocates nothing in steady state; `info` is a
//!   typed, `Copy` struct ([`Info`]) with the fields exploration needs.
//! - [`snapshot`]: exact save/restore of an environment's state as tagged bytes.
//! - [`vec_env`]: [`VecEnv`], N environments stepped on T named worker threads into
//!   contiguous preallocated buffers, with Gymnasium's three autoreset modes.
//! - [`registry`]: versioned environment ids built from typed serde configs.
//! - [`rng`]: the seeded generator environments draw from (xoshiro256++).
//! - [`np_random`]: numpy's default generator bit for bit, for envs ported from Python.
//! - [`demo`]: demonstrations (env id, config, seed, actions) as files.
//! - [`episode`]: recorded episodes as files with a checksum per state, replayed and checked.
//! - [`events`]: the run-event seam — typed events and the [`Observer`] trait.
//! - [`scene`]: how an env describes itself to recorders and viewers (3D primitives with
//!   poses and colours, camera views, where the agent is drawn).
//! - [`digest`]: a stable 64-bit digest for golden determinism tests.
//! - [`provenance`]: the command, commit and machine a published report carries.
//!
//! This crate has no heavy dependencies (serde, `serde_json`, thiserror, crossbeam-utils) and
//! never will:
//! CI checks that it pulls no GPU, GUI or visualisation crate.

pub mod demo;
pub mod digest;
pub mod env;
pub mod episode;
pub mod error;
pub mod events;
pub mod files;
pub mod np_random;
pub mod provenance;
pub mod registry;
pub mod rng;
pub mod scene;
pub mod snapshot;
pub mod space;
pub mod vec_env;

pub use demo::{Demo, DemoAction};
pub use digest::Digest;
pub use env::{Action, Env, Image, Info, ObsBuf, ObsMut, ObsRef, Step};
pub use episode::{state_checksum, EpisodeFile, EPISODE_FORMAT};
pub use error::{Error, Result};
pub use events::{
    ArchiveUpdate, BudgetUnit, Checkpoint, EnvStep, EpisodeFinished, EpisodeStarted, Frame,
    IterationMetrics, Observer, ObserverError, ObserverResult, Observers, RunFinished, RunStarted,
    Scalar,
};
pub use np_random::NpRandom;
pub use provenance::Provenance;
pub use registry::{EnvEntry, EnvFactory, Registry};
pub use rng::Rng;
pub use scene::{CameraView, Pose, Scene, SceneBody, SceneClass, Shape};
pub use snapshot::{ByteReader, ByteWriter, Snapshot};
pub use space::{DType, Space};
pub use vec_env::{Actions, AutoReset, VecEnv, VecEnvConfig};
