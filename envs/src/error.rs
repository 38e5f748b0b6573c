//! Errors of the environment crate.
//!
//! Environments report through [`spelunk_core::Error`] so that every env behind `dyn Env`
//! fails the same way; this module adds the level-file error, which carries line and column
//! and converts into [`spelunk_core::Error::Parse`].

pub use spelunk_core::{Error, Result};

/// A malformed level or layout file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}:{column}: {message}")]
pub struct LevelError {
    /// File path or `<builtin name>`.
    pub source_name: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

impl From<LevelError> for Error {
    fn from(e: LevelError) -> Self {
        Error::Parse {
            source_name: e.source_name,
            line: e.line,
            column: e.column,
            message: e.message,
        }
    }
}
