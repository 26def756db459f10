//! Where delivered events go. A `Sink` accepts a batch and returns only once the batch is as
//! durable as that sink can make it. A sink that can be cut back (the file sink) also reports
//! its length, which is committed with the checkpoint: after a crash the uncommitted tail is cut
//! and fetched again, so the file gets every event exactly once. Other sinks (stdout, network)
//! are at-least-once; events carry a stable `event_id` for downstream de-duplication.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// A destination for NDJSON event lines.
pub trait Sink: Send {
    /// Writes `events` (one JSON object each, no newline) and makes them durable. On error
    /// nothing of the batch may remain (or the sink is at-least-once).
    ///
    /// # Errors
    /// The events could not be written; the checkpoint will not move.
    fn deliver(&mut self, events: &[String]) -> io::Result<()>;

    /// For a sink that can be cut back: its stable id and current length in bytes.
    fn position(&self) -> Option<(&str, u64)> {
        None
    }

    /// Cuts the sink back to `length` bytes (only called when `position` is `Some`).
    ///
    /// # Errors
    /// The sink could not be cut.
    fn truncate(&mut self, length: u64) -> io::Result<()> {
        let _ = length;
        Ok(())
    }
}

/// NDJSON on standard output, flushed after each batch (at-least-once).
pub struct StdoutSink;

/// Set once a write to stdout found it closed by its reader.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

impl StdoutSink {
    /// Whether the process reading stdout has gone (e.g. `mcsource demo | head`): nothing more
    /// can be delivered there, and the checkpoints of what was not delivered did not move.
    pub fn reader_gone() -> bool {
        STDOUT_CLOSED.load(Ordering::Relaxed)
    }
}

impl Sink for StdoutSink {
    fn deliver(&mut self, events: &[String]) -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        let written = out.write_all(&lines(events)).and_then(|()| out.flush());
        written.map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::Relaxed);
                io::Error::new(
                    e.kind(),
                    "stdout was closed by the process reading it; nothing more can be delivered there",
                )
            } else {
                e
            }
        })
    }
}

/// NDJSON appended to a file; each batch is written whole and fsynced before it counts.
pub struct FileSink {
    id: String,
    file: File,
    length: u64,
}

impl FileSink {
    /// Opens (creating if needed) `path` for appending.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path) -> io::Result<FileSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let length = file.metadata()?.len();
        let id = std::fs::canonicalize(path)?.display().to_string();
        Ok(FileSink { id, file, length })
    }
}

impl Sink for FileSink {
    fn deliver(&mut self, events: &[String]) -> io::Result<()> {
        let buf = lines(events);
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.length += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Leave no partial batch behind: the next batch must start on a line boundary.
                let _ = self.truncate(self.length);
                Err(e)
            }
        }
    }

    fn position(&self) -> Option<(&str, u64)> {
        Some((&self.id, self.length))
    }

    fn truncate(&mut self, length: u64) -> io::Result<()> {
        self.file.set_len(length)?;
        self.file.sync_all()?;
        self.length = length;
        Ok(())
    }
}

fn lines(events: &[String]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum());
    for e in events {
        buf.extend_from_slice(e.as_bytes());
        buf.push(b'\n');
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sink_appends_tracks_length_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let mut sink = FileSink::open(&path).unwrap();
        sink.deliver(&["{\"a\":1}".into(), "{\"b\":2}".into()])
            .unwrap();
        assert_eq!(sink.position().unwrap().1, 16);
        drop(sink);
        let mut sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.position().unwrap().1, 16);
        sink.deliver(&["{\"c\":3}".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
        sink.truncate(8).unwrap();
        sink.deliver(&["{\"d\":4}".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"d\":4}\n"
        );
    }
}
