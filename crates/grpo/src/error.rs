//! Errors of the GRPO core.

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting that does not fit.
    #[error("invalid GRPO config: {0}")]
    Config(String),
    /// Inputs whose shapes or values do not fit together.
    #[error("GRPO inputs: {0}")]
    Shape(String),
    /// From the models crate (tensors, checkpoints).
    #[error(transparent)]
    Models(#[from] spelunk_models::Error),
    /// From an intrinsic-reward module.
    #[error(transparent)]
    Intrinsic(#[from] spelunk_intrinsic::Error),
    /// From an environment (a failed step, reset or restore mid-rollout).
    #[error(transparent)]
    Env(#[from] spelunk_core::Error),
    /// A file that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// From candle.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

/// `Result` with the GRPO [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
