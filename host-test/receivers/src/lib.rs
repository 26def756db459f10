//! Real rsyslog and syslog-ng daemons as throwaway syslog receivers on loopback, for
//! mimecast-source's end-to-end tests (placeholder docs; filled in below).

mod ca;
mod config;
mod message;
mod receiver;

pub use ca::TestCa;
pub use message::{ReceivedMessage, Transport};
pub use receiver::{rsyslog_module, syslog_ng_dir, Daemon, Receiver, ReceiverOptions};

use std::path::PathBuf;

/// Everything that can go wrong starting, running or reading a [`Receiver`].
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The daemon's files are missing.
    #[error("{daemon} is not installed ({} is missing): {hint}", missing.display())]
    NotInstalled {
        /// Which daemon.
        daemon: Daemon,
        /// The file looked for.
        missing: PathBuf,
        /// What to do about it.
        hint: &'static str,
    },
    /// The daemon exited, or did not listen on its ports, in time.
    #[error("{daemon} did not start: {why} (configuration {}); its output:\n{log}", config.display())]
    StartFailed {
        /// Which daemon.
        daemon: Daemon,
        /// What was seen.
        why: String,
        /// Its configuration file (kept until the [`Receiver`] is dropped).
        config: PathBuf,
        /// Its stdout and stderr.
        log: String,
    },
    /// A port the daemon was to listen on was taken by another process.
    #[error("{daemon} could not bind a port (address already in use); its output:\n{log}")]
    PortTaken {
        /// Which daemon.
        daemon: Daemon,
        /// Its stdout and stderr.
        log: String,
    },
    /// [`Receiver::wait_for`] saw fewer messages than wanted.
    #[error("{daemon}: waited for {wanted} messages, got {}; daemon output:\n{log}", got.len())]
    Timeout {
        /// Which daemon.
        daemon: Daemon,
        /// How many messages were waited for.
        wanted: usize,
        /// The messages that did arrive.
        got: Vec<ReceivedMessage>,
        /// The daemon's stdout and stderr since its latest start.
        log: String,
    },
    /// A line of the output file is not what the daemon's template writes.
    #[error("unexpected output line ({why}): {line}")]
    BadOutputLine {
        /// What is wrong with it.
        why: String,
        /// The line (abbreviated).
        line: String,
    },
    /// Something this daemon build cannot do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Making a certificate failed.
    #[error("making a test certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl ReceiverError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ReceiverError::Io {
            what: what.into(),
            source,
        }
    }
}
