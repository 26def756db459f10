//! The three Mimecast TTP log types, as the host knows them: one type for the config, the
//! scheduler, the summaries and `status`. Converted to the WIT `log-type` only where the host
//! calls the component (`runtime`); stored by [`LogType::name`] in the state database.

/// One of the three TTP logs a tenant collects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogType {
    /// URL Protect click logs (`/api/ttp/url/get-logs`).
    Url,
    /// Impersonation Protect logs (`/api/ttp/impersonation/get-logs`).
    Impersonation,
    /// Attachment Protect logs (`/api/ttp/attachment/get-logs`).
    Attachment,
}

impl LogType {
    /// All three, in the order they are collected and listed.
    pub const ALL: [LogType; 3] = [LogType::Url, LogType::Impersonation, LogType::Attachment];

    /// Their names as written in `log_types`, on the command line and in events.
    pub const NAMES: [&'static str; 3] = ["url", "impersonation", "attachment"];

    /// The name: `url`, `impersonation` or `attachment`.
    pub fn name(self) -> &'static str {
        match self {
            LogType::Url => "url",
            LogType::Impersonation => "impersonation",
            LogType::Attachment => "attachment",
        }
    }

    /// The log type named `name`, if it is one of [`LogType::NAMES`].
    pub fn parse(name: &str) -> Option<LogType> {
        LogType::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl std::fmt::Display for LogType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_parsing_agree() {
        for (t, name) in LogType::ALL.into_iter().zip(LogType::NAMES) {
            assert_eq!(t.name(), name);
            assert_eq!(LogType::parse(name), Some(t));
            assert_eq!(t.to_string(), name);
        }
        assert_eq!(LogType::parse("clicks"), None);
        assert_eq!(LogType::parse("URL"), None);
    }
}
