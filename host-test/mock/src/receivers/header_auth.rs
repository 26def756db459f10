//! Required request headers (e.g. `Authorization: Bearer x`, `X-Api-Key`) for the receivers
//! whose real counterparts authenticate with a configured header: OTLP and the NDJSON ingest.

use crate::receivers::exchange::SinkRequest;

/// Why the required headers refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderRefusal {
    /// The header is absent: HTTP 401.
    Missing(String),
    /// The header has another value: HTTP 403.
    Wrong(String),
}

impl HeaderRefusal {
    /// HTTP status for the refusal.
    pub fn status(&self) -> u16 {
        match self {
            HeaderRefusal::Missing(_) => 401,
            HeaderRefusal::Wrong(_) => 403,
        }
    }

    /// Words for the response body; they name the header, never its expected value.
    pub fn reason(&self) -> String {
        match self {
            HeaderRefusal::Missing(name) => format!("required header {name} is missing"),
            HeaderRefusal::Wrong(name) => format!("header {name} has a wrong value"),
        }
    }
}

/// Checks that `request` carries every `(name, value)` of `required` exactly (names are
/// case-insensitive, values are not).
pub fn check_headers(
    required: &[(String, String)],
    request: &SinkRequest,
) -> Result<(), HeaderRefusal> {
    for (name, expected) in required {
        match request.header(name) {
            None => return Err(HeaderRefusal::Missing(name.clone())),
            Some(value) if value != expected => return Err(HeaderRefusal::Wrong(name.clone())),
            Some(_) => {}
        }
    }
    Ok(())
}
