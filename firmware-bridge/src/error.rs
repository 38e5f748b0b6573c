//! The bridge's errors: each says what failed and where (which port, which servo, which file).

use std::path::PathBuf;

/// Result alias of the bridge.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A port could not be opened, read or written.
    #[error("{port}: {message}")]
    Port {
        /// The port (a device path, `udp:ADDR`, or the simulator's pty).
        port: String,
        /// What failed.
        message: String,
    },
    /// Nothing (or not enough) came back in time.
    #[error("{what}: no reply within {timeout_ms} ms")]
    Timeout {
        /// What was waited for (`servo 3`, `sync read of 6 servos`).
        what: String,
        /// How long.
        timeout_ms: u64,
    },
    /// Bytes that are not a valid packet of the protocol.
    #[error("{what}: {message}")]
    Protocol {
        /// Which exchange.
        what: String,
        /// What was wrong with the bytes.
        message: String,
    },
    /// A servo answered with its error bits set.
    #[error("servo {id}: {flags}")]
    Servo {
        /// The servo's bus id.
        id: u8,
        /// The error bits, decoded.
        flags: String,
    },
    /// A calibration file that cannot be used.
    #[error("{}: {message}", path.display())]
    Calibration {
        /// The file.
        path: PathBuf,
        /// What was wrong, with the joint's name.
        message: String,
    },
    /// A setting that cannot be used.
    #[error("{what}: {message}")]
    Config {
        /// Which setting.
        what: String,
        /// Why.
        message: String,
    },
    /// The safety layer refused to go on (latched e-stop, a fault, a command it cannot make
    /// safe).
    #[error("safety: {0}")]
    Safety(String),
    /// The simulated arm failed.
    #[error("simulated arm: {0}")]
    Sim(#[from] spelunk_core::Error),
}

impl Error {
    pub(crate) fn port(port: &str, message: impl std::fmt::Display) -> Self {
        Self::Port { port: port.to_owned(), message: message.to_string() }
    }
    pub(crate) fn protocol(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Protocol { what: what.into(), message: message.into() }
    }
    pub(crate) fn config(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config { what: what.into(), message: message.into() }
    }
}
