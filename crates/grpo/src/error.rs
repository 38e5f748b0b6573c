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
    /// From candle.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
}

/// `Result` with the GRPO [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
