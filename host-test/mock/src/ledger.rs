//! What the mock did: every request with its outcome, and every record served per log type, for
//! comparing a collector's output with what the server handed out.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::log_type::LogType;

/// One handled request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLog {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Log type of the path, if it is a log endpoint.
    pub log_type: Option<LogType>,
    /// Access key (API 1.0) or client id (API 2.0 token and log requests), once verified.
    pub access_key: Option<String>,
    /// HTTP status sent; 0 when the connection was reset before any response
    /// ([`crate::Fault::ConnectionReset`]).
    pub status: u16,
    /// First `fail[]` code of the answer, if any.
    pub fail_code: Option<String>,
    /// Number of records in the answer (0 for errors, truncated pages and pages cut by a reset).
    pub records: usize,
    /// Kind of injected fault that shaped the answer ([`crate::Fault::kind`]), if any.
    pub fault: Option<&'static str>,
    /// The request came while a reset announced to its key was still pending.
    pub violation: bool,
}

/// Snapshot of everything the server did so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    requests: Vec<RequestLog>,
    served: BTreeMap<LogType, Vec<Value>>,
    violations: u64,
}

impl Ledger {
    /// Every handled request, in order of completion.
    pub fn requests(&self) -> &[RequestLog] {
        &self.requests
    }

    /// Every record delivered in a complete page of type `t`, in serving order (repeats included).
    pub fn served(&self, t: LogType) -> &[Value] {
        self.served.get(&t).map_or(&[], Vec::as_slice)
    }

    /// Requests that arrived while a previously announced `X-RateLimit-Reset` was still pending for their key.
    pub fn violations(&self) -> u64 {
        self.violations
    }

    /// Number of requests answered with `status` (0: reset before any response).
    pub fn count_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }

    /// Requests to the endpoint of `t`.
    pub fn requests_for(&self, t: LogType) -> impl Iterator<Item = &RequestLog> {
        self.requests.iter().filter(move |r| r.log_type == Some(t))
    }

    pub(crate) fn push(&mut self, entry: RequestLog, served: Option<(LogType, Vec<Value>)>) {
        if entry.violation {
            self.violations += 1;
        }
        if let Some((t, records)) = served {
            self.served.entry(t).or_default().extend(records);
        }
        self.requests.push(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn push_accumulates() {
        let mut l = Ledger::default();
        let entry = RequestLog {
            method: "POST".into(),
            path: LogType::Url.path().into(),
            log_type: Some(LogType::Url),
            access_key: None,
            status: 200,
            fail_code: None,
            records: 1,
            fault: None,
            violation: true,
        };
        l.push(entry.clone(), Some((LogType::Url, vec![json!(1)])));
        l.push(entry, Some((LogType::Url, vec![json!(1)])));
        assert_eq!(l.served(LogType::Url), &[json!(1), json!(1)]);
        assert!(l.served(LogType::Attachment).is_empty());
        assert_eq!(
            (
                l.violations(),
                l.count_status(200),
                l.requests_for(LogType::Url).count()
            ),
            (2, 2, 2)
        );
    }
}
