//! Where the commands' own lines for people go: plain lines on stderr, or, with
//! `--log-format json`, log records like every other line mcsource writes there.

/// The commands' status lines and final error, in the chosen log format.
#[derive(Clone, Copy)]
pub(crate) struct Console {
    /// Lines go out as JSON log records.
    json: bool,
}

impl Console {
    /// A console writing JSON log records when `json`, plain lines otherwise.
    pub(crate) fn new(json: bool) -> Console {
        Console { json }
    }

    /// Writes a status line for people to stderr (a log record in JSON mode).
    pub(crate) fn say(&self, line: &str) {
        if self.json {
            tracing::info!("{line}");
        } else {
            eprintln!("{line}");
        }
    }

    /// Writes the error that ends the command to stderr (a log record in JSON mode).
    pub(crate) fn error(&self, message: &str) {
        if self.json {
            tracing::error!("{message}");
        } else {
            eprintln!("error: {message}");
        }
    }
}
