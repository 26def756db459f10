//! The three TTP log types the mock serves, with their paths, array names and cursor fields.
//! Spec: shared/reference/mimecast-api.md §3.1–3.3. Pure: no I/O.

use std::fmt;

/// One of the three TTP log endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogType {
    /// TTP URL Protect click logs (`/api/ttp/url/get-logs`).
    Url,
    /// TTP Impersonation Protect logs (`/api/ttp/impersonation/get-logs`).
    Impersonation,
    /// TTP Attachment Protection logs (`/api/ttp/attachment/get-logs`).
    Attachment,
}

impl LogType {
    /// All three log types, in a fixed order.
    pub const ALL: [LogType; 3] = [LogType::Url, LogType::Impersonation, LogType::Attachment];

    /// The endpoint path, e.g. `/api/ttp/url/get-logs`.
    pub fn path(self) -> &'static str {
        match self {
            LogType::Url => "/api/ttp/url/get-logs",
            LogType::Impersonation => "/api/ttp/impersonation/get-logs",
            LogType::Attachment => "/api/ttp/attachment/get-logs",
        }
    }

    /// The name of the record array inside `data[0]` (`clickLogs`, `impersonationLogs`, `attachmentLogs`).
    pub fn array_name(self) -> &'static str {
        match self {
            LogType::Url => "clickLogs",
            LogType::Impersonation => "impersonationLogs",
            LogType::Attachment => "attachmentLogs",
        }
    }

    /// The record field holding the event time (`date`, or `eventTime` for impersonation).
    pub fn time_field(self) -> &'static str {
        match self {
            LogType::Impersonation => "eventTime",
            LogType::Url | LogType::Attachment => "date",
        }
    }

    /// Short name: `url`, `impersonation` or `attachment`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::Url => "url",
            LogType::Impersonation => "impersonation",
            LogType::Attachment => "attachment",
        }
    }

    /// The permission a credential needs for this endpoint, as Mimecast names it.
    pub fn permission(self) -> &'static str {
        match self {
            LogType::Url => "Monitoring | URL Protection | Read",
            LogType::Impersonation => "Monitoring | Impersonation Protection | Read",
            LogType::Attachment => "Monitoring | Attachment Protection | Read",
        }
    }

    /// The log type served at `path`, if any.
    pub fn from_path(path: &str) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.path() == path)
    }

    /// Parses `url`, `impersonation` or `attachment`.
    pub fn parse(s: &str) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for LogType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for t in LogType::ALL {
            assert_eq!(LogType::from_path(t.path()), Some(t));
            assert_eq!(LogType::parse(t.as_str()), Some(t));
        }
        assert_eq!(LogType::from_path("/api/ttp/url/get-logs/"), None);
    }

    #[test]
    fn impersonation_uses_event_time() {
        assert_eq!(LogType::Impersonation.time_field(), "eventTime");
        assert_eq!(LogType::Url.time_field(), "date");
    }
}
