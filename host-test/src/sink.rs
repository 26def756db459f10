//! Where delivered events go. A `Sink` accepts a batch and returns only once the batch is as
//! durable as that sink can make it; the runner commits the checkpoint after that, so a crash
//! can repeat a batch (at-least-once) but never lose one. Events carry a stable `event_id` for
//! downstream de-duplication.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A destination for NDJSON event lines.
pub trait Sink: Send {
    /// Writes `events` (one JSON object each, no newline) and makes them durable.
    ///
    /// # Errors
    /// The events could not be written; the runner will not commit the checkpoint.
    fn deliver(&mut self, events: &[String]) -> io::Result<()>;
}

/// NDJSON on standard output, flushed after each batch.
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn deliver(&mut self, events: &[String]) -> io::Result<()> {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        write_lines(&mut out, events)?;
        out.flush()
    }
}

/// NDJSON appended to a file; each batch is written whole and fsynced before it counts.
pub struct FileSink {
    path: PathBuf,
    file: File,
}

impl FileSink {
    /// Opens (creating if needed) `path` for appending.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path) -> io::Result<FileSink> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(FileSink {
            path: path.to_path_buf(),
            file,
        })
    }

    /// The file written to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Sink for FileSink {
    fn deliver(&mut self, events: &[String]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(events.iter().map(|e| e.len() + 1).sum());
        write_lines(&mut buf, events)?;
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }
}

fn write_lines(out: &mut impl Write, events: &[String]) -> io::Result<()> {
    for e in events {
        out.write_all(e.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn file_sink_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let mut sink = FileSink::open(&path).unwrap();
        sink.deliver(&["{\"a\":1}".into(), "{\"b\":2}".into()])
            .unwrap();
        drop(sink);
        let mut sink = FileSink::open(&path).unwrap();
        sink.deliver(&["{\"c\":3}".into()]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
    }
}
