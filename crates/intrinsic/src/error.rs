//! Errors of the intrinsic-reward crate.

/// What can go wrong computing or training a bonus.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A batch whose shape does not fit the module.
    #[error("{module}: {message}")]
    Shape {
        /// Module name.
        module: &'static str,
        /// What did not fit.
        message: String,
    },
    /// NaN or infinity in an input.
    #[error("{module}: non-finite value {value} in {what} at index {index}")]
    NonFinite {
        /// Module name.
        module: &'static str,
        /// Which input.
        what: &'static str,
        /// Flat index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
    /// A checkpoint written by another module or version, or corrupt.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A configuration value out of range.
    #[error("invalid config for {module}: {message}")]
    Config {
        /// Module name.
        module: &'static str,
        /// What was wrong.
        message: String,
    },
    /// An environment error while probing (empowerment).
    #[error(transparent)]
    Env(#[from] spelunk_core::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
