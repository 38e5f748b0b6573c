//! Errors of the model crate.

/// What can go wrong building, running, training or loading a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shapes, devices).
    #[error("tensor: {0}")]
    Candle(#[from] candle_core::Error),
    /// A checkpoint that does not fit the model (another module, names, shapes), or unreadable.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What did not fit.
        message: String,
    },
    /// A configuration value out of range.
    #[error("invalid model config: {0}")]
    Config(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
