//! Errors of the experiments: each layer's own error kept whole (an env failure reads as one),
//! files with their paths, and what the experiment was doing when it failed.

use std::path::Path;

/// What went wrong running an experiment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An environment or registry error.
    #[error(transparent)]
    Env(#[from] spelunk_core::Error),
    /// From the training core.
    #[error(transparent)]
    Grpo(#[from] spelunk_grpo::Error),
    /// From an exploration bonus, Go-Explore or novelty search.
    #[error(transparent)]
    Intrinsic(#[from] spelunk_intrinsic::Error),
    /// From the models crate.
    #[error(transparent)]
    Models(#[from] spelunk_models::Error),
    /// A LeRobot dataset.
    #[cfg(feature = "lerobot")]
    #[error(transparent)]
    Dataset(#[from] spelunk_dataset::Error),
    /// A file that could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A setting, argument or input that does not fit.
    #[error("{0}")]
    Invalid(String),
    /// An observer of the run failed (a metrics file it could not write), or stopped it.
    #[error(transparent)]
    Observer(#[from] spelunk_core::ObserverError),
    /// JSON (de)serialisation.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Ctrl-C: the run committed what it had done and stopped.
    #[error(
        "interrupted after iteration {iteration}: committed in {}; continue with --resume",
        dir.display()
    )]
    Interrupted {
        /// The run folder.
        dir: std::path::PathBuf,
        /// The last iteration done (and committed).
        iteration: u64,
    },
    /// An error with what was being done when it happened.
    #[error("{context}: {error}")]
    Context {
        /// What was being done.
        context: String,
        /// The error (in the message, so not chained as a source: a report would print it
        /// twice).
        error: Box<Error>,
    },
}

/// `Result` with the experiments' [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io { path: path.to_owned(), source }
    }
}

/// Return early with [`Error::Invalid`] and a formatted message.
macro_rules! bail {
    ($($t:tt)*) => {
        return Err($crate::Error::Invalid(format!($($t)*)))
    };
}
pub(crate) use bail;

/// Attach what was being done to an error (or a missing value).
pub trait Context<T> {
    /// With a fixed message.
    fn context(self, context: impl Into<String>) -> Result<T>;
    /// With a message made only on error.
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::Context { context: context.into(), error: Box::new(e.into()) })
    }
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::Context { context: context().into(), error: Box::new(e.into()) })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.ok_or_else(|| Error::Invalid(context.into()))
    }
    fn with_context<S: Into<String>>(self, context: impl FnOnce() -> S) -> Result<T> {
        self.ok_or_else(|| Error::Invalid(context().into()))
    }
}

/// Create `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(dir))
}

/// Write `contents` to `path`, whole: a temporary file beside it, then renamed.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    std::fs::write(&tmp, contents).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
}
