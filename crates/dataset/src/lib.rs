//! `spelunk-dataset`: episodes as LeRobot datasets, written from any env and read back checked.
//!
//! The layout is LeRobot's v3.0 (`codebase_version = "v3.0"`), so LeRobot's `LeRobotDataset`
//! reads what [`Writer`] writes and [`Dataset::open`] reads what LeRobot writes:
//!
//! ```text
//! DIR/meta/info.json                          fps, features (dtype, shape, names), totals, paths
//! DIR/meta/stats.json                         min, max, mean, std, count per feature
//! DIR/meta/tasks.parquet                      task (the index) → task_index
//! DIR/meta/episodes/chunk-000/file-000.parquet  episode_index, tasks, length, data file, frame range
//! DIR/data/chunk-000/file-000.parquet          one row per frame, one row group per episode
//! ```
//!
//! A frame is the observation an action was taken in, the action, and what the step gave
//! (`next.reward`, `next.done`, `next.success`), with LeRobot's `timestamp`, `frame_index`,
//! `episode_index`, `index` and `task_index`. An env's observation becomes features by member
//! ([`Schema::for_spaces`]): the `observation` member is `observation.state`; a `[h, w, 3]` box
//! of 0–255 values an image (`dtype = "image"`: PNG bytes in a `{bytes, path}` struct, as
//! Hugging Face's `datasets.Image` stores them — no video codec, no system library); any other
//! member `observation.<name>`. A `Box` action is `action` (float32), a discrete one int64.
//!
//! A dataset is written into `DIR.partial` and renamed to `DIR` when whole, so a writer that
//! is killed leaves no folder that reads as complete; [`Dataset::open`] names a `.partial`
//! folder for what it is. Reading checks every file against `meta/info.json` — each feature's
//! column, type and shape, every episode's frames present and in order, totals — and
//! [`Dataset::observations_for`] / [`Dataset::actions_for`] check the dataset against the env
//! that is to use it, saying which feature and where when they disagree.

mod read;
mod schema;
mod write;

pub use read::{Column, Dataset, EpisodeMeta};
pub use schema::{Kind, Schema, Slot};
pub use write::{Summary, Writer};

/// The LeRobot layout version written and read.
pub const CODEBASE_VERSION: &str = "v3.0";

/// Errors: every message says what was wrong and where (file, episode, frame, feature).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset that does not fit its own metadata or the env asked of it.
    #[error("{0}")]
    Invalid(String),
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A parquet file that could not be read or written.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// An env that failed while its observation was taken.
    #[error(transparent)]
    Env(#[from] spelunk_core::Error),
}

/// The crate's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn invalid<T>(message: impl Into<String>) -> Result<T> {
    Err(Error::Invalid(message.into()))
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

#[cfg(test)]
mod tests;
