//! The three Mimecast TTP log types and the API facts that differ between them
//! (reference §3.1–3.3). Pure data, no I/O.

use std::fmt;

/// One of the three TTP log endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogType {
    /// URL Protect click logs.
    UrlProtect,
    /// Impersonation Protect logs.
    ImpersonationProtect,
    /// Attachment Protect logs.
    AttachmentProtect,
}

impl LogType {
    /// All log types, in the order a configuration lists them by default.
    pub const ALL: [LogType; 3] = [
        LogType::UrlProtect,
        LogType::ImpersonationProtect,
        LogType::AttachmentProtect,
    ];

    /// The short name used in events and configuration: `url`, `impersonation`, `attachment`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogType::UrlProtect => "url",
            LogType::ImpersonationProtect => "impersonation",
            LogType::AttachmentProtect => "attachment",
        }
    }

    /// The endpoint path, which is also the `{uri}` part of the API 1.0 signature (§1.2).
    pub fn path(self) -> &'static str {
        match self {
            LogType::UrlProtect => "/api/ttp/url/get-logs",
            LogType::ImpersonationProtect => "/api/ttp/impersonation/get-logs",
            LogType::AttachmentProtect => "/api/ttp/attachment/get-logs",
        }
    }

    /// The array in `data[0]` that holds the records.
    pub fn array_name(self) -> &'static str {
        match self {
            LogType::UrlProtect => "clickLogs",
            LogType::ImpersonationProtect => "impersonationLogs",
            LogType::AttachmentProtect => "attachmentLogs",
        }
    }

    /// The record field that carries the record's time (`eventTime` for impersonation, §3.2).
    pub fn time_field(self) -> &'static str {
        match self {
            LogType::ImpersonationProtect => "eventTime",
            LogType::UrlProtect | LogType::AttachmentProtect => "date",
        }
    }

    /// A record member left out of the record's identity: Impersonation Protect's `id` is
    /// "a token that can be used to retrieve this log again" (§3.2), and a token may differ
    /// each time the same log is served. Records that differ only there still each count, as
    /// occurrences of one identity.
    pub fn volatile_member(self) -> Option<&'static str> {
        match self {
            LogType::ImpersonationProtect => Some("id"),
            LogType::UrlProtect | LogType::AttachmentProtect => None,
        }
    }

    /// The role permission the service user needs, as the Administration Console names it.
    pub fn permission(self) -> &'static str {
        match self {
            LogType::UrlProtect => "Monitoring | URL Protection | Read",
            LogType::ImpersonationProtect => "Monitoring | Impersonation Protection | Read",
            LogType::AttachmentProtect => "Monitoring | Attachment Protection | Read",
        }
    }

    /// Parses the short name (`url`, `impersonation`, `attachment`).
    pub fn parse(name: &str) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.as_str() == name)
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
    fn names_round_trip() {
        for t in LogType::ALL {
            assert_eq!(LogType::parse(t.as_str()), Some(t));
        }
        assert_eq!(LogType::parse("URL"), None);
    }

    #[test]
    fn impersonation_uses_event_time() {
        assert_eq!(LogType::ImpersonationProtect.time_field(), "eventTime");
        assert_eq!(LogType::UrlProtect.time_field(), "date");
    }
}
