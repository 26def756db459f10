//! Why a poll failed, in the categories the host acts on (mirrors the WIT `poll-error`).

/// A failed `configure` or `poll`. The text is for humans: it says what is wrong and what to do,
/// and never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Settings or checkpoint unusable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Credentials rejected.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A permission is missing.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Throttled; wait `after_ms` before the next call.
    #[error("rate limited for {after_ms} ms: {message}")]
    RateLimited {
        /// Milliseconds to wait.
        after_ms: u64,
        /// What was throttled.
        message: String,
    },
    /// Retry with backoff.
    #[error("temporarily unavailable: {0}")]
    Transient(String),
    /// Mimecast answered something unusable.
    #[error("protocol error: {0}")]
    Protocol(String),
}
