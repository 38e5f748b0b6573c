//! Errors of the core contracts. Every fallible call in Spelunk's environment layer returns
//! [`Result`]; user input (configs, level files, actions) never panics.

use std::fmt;

/// Errors raised by environments, vector environments and the registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An action outside the action space.
    #[error("invalid action for {env}: {reason}")]
    InvalidAction {
        /// Environment id.
        env: String,
        /// What was wrong with the action.
        reason: String,
    },
    /// `step` was called on an episode that already ended (or was never reset).
    #[error(
        "{env}: episode is over (terminated or truncated) or was never started; call reset first"
    )]
    NeedsReset {
        /// Environment id.
        env: String,
    },
    /// The observation buffer has the wrong size or element type.
    #[error("{env}: observation buffer holds {got} {got_dtype} elements, the space needs {expected} {expected_dtype}")]
    ObsBuffer {
        /// Environment id.
        env: String,
        /// Elements the space needs.
        expected: usize,
        /// Element type the space needs.
        expected_dtype: crate::DType,
        /// Elements the caller gave.
        got: usize,
        /// Element type the caller gave.
        got_dtype: crate::DType,
    },
    /// An environment id that is not registered.
    #[error("unknown environment id `{id}`{}", Suggestions(.suggestions))]
    UnknownEnv {
        /// The id asked for.
        id: String,
        /// The closest registered ids, best first.
        suggestions: Vec<String>,
    },
    /// A configuration value that does not fit.
    #[error("invalid config for {what}: {message}")]
    Config {
        /// What was being configured (an env id, a vector env).
        what: String,
        /// What was wrong.
        message: String,
    },
    /// A text file (level, layout, config) that fails to parse.
    #[error("{source_name}:{line}:{column}: {message}")]
    Parse {
        /// File path or a name for the text.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// A snapshot that cannot be restored into this environment.
    #[error("snapshot error: {0}")]
    Snapshot(String),
    /// The environment does not support snapshots.
    #[error("{env} cannot snapshot its state")]
    NotSnapshottable {
        /// Environment id.
        env: String,
    },
    /// A worker thread failed or could not be started.
    #[error("worker thread: {0}")]
    Worker(String),
    /// A replay that is not the episode recorded (another env, another config, an edited
    /// file), or an episode file that cannot be one.
    #[error("{0}")]
    Replay(String),
    /// File system errors, with the path.
    #[error("{path}: {error}")]
    Io {
        /// The path involved.
        path: String,
        /// The underlying error (shown in the message, so not chained as a source).
        error: std::io::Error,
    },
}

/// `Result` with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

struct Suggestions<'a>(&'a [String]);

impl fmt::Display for Suggestions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return Ok(());
        }
        write!(f, "; closest ids: {}", self.0.join(", "))
    }
}
