//! The dead-letter file of a sink: events its receiver refused for good (an Elasticsearch
//! mapping error, say) are appended here with the reason, and made durable, before the batch
//! counts as delivered; nothing is dropped silently. One JSON object per line:
//! `{"time","sink","tenant","log_type","status","error","event"}`, with `event` the event
//! itself (as JSON).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// One refused event.
pub struct Refused<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The log type.
    pub log_type: &'a str,
    /// The receiver's status for it.
    pub status: u16,
    /// The receiver's reason, as it gave it (JSON).
    pub error: serde_json::Value,
    /// The event line.
    pub event: &'a str,
}

/// An append-only dead-letter file, opened on first use.
pub struct DeadLetter {
    sink: String,
    path: PathBuf,
    file: Option<File>,
}

impl DeadLetter {
    /// The dead-letter file of the sink `sink` at `path` (created when first needed).
    pub fn new(sink: &str, path: &Path) -> DeadLetter {
        DeadLetter {
            sink: sink.to_string(),
            path: path.to_path_buf(),
            file: None,
        }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `refused` and syncs the file.
    ///
    /// # Errors
    /// The file cannot be opened or written; the message names it.
    pub fn write(&mut self, refused: &[Refused<'_>]) -> io::Result<()> {
        if refused.is_empty() {
            return Ok(());
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut buf = Vec::new();
        for r in refused {
            let head = serde_json::json!({
                "time": now,
                "sink": self.sink,
                "tenant": r.tenant,
                "log_type": r.log_type,
                "status": r.status,
                "error": r.error,
            })
            .to_string();
            // The event as it was, unless it is not JSON (impossible after batch_check): then
            // as a string.
            let is_json = serde_json::from_str::<serde::de::IgnoredAny>(r.event).is_ok()
                && !r.event.contains(['\n', '\r']);
            let event = if is_json {
                r.event.to_string()
            } else {
                serde_json::Value::from(r.event).to_string()
            };
            buf.extend_from_slice(&head.as_bytes()[..head.len() - 1]);
            buf.extend_from_slice(b",\"event\":");
            buf.extend_from_slice(event.as_bytes());
            buf.extend_from_slice(b"}\n");
        }
        let named = |e: io::Error| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot write the dead-letter file {}: {e}",
                    self.path.display()
                ),
            )
        };
        if self.file.is_none() {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(named)?;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other("the dead-letter file is not open"));
        };
        file.write_all(&buf)
            .and_then(|()| file.sync_data())
            .map_err(named)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refused_events_are_appended_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dl.ndjson");
        let mut dl = DeadLetter::new("es", &path);
        dl.write(&[]).unwrap();
        assert!(!path.exists());
        let refused = Refused {
            tenant: "acme",
            log_type: "url",
            status: 400,
            error: serde_json::json!({"type": "mapper_parsing_exception"}),
            event: r#"{"a":"ü"}"#,
        };
        dl.write(&[refused]).unwrap();
        let line: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(line["event"]["a"], "ü");
        assert_eq!(line["error"]["type"], "mapper_parsing_exception");
        assert_eq!(
            (line["sink"].as_str(), line["status"].as_u64()),
            (Some("es"), Some(400))
        );
    }
}
