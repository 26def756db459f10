//! Where delivered events go. A `Sink` accepts a batch and returns only once the batch is as
//! durable as that sink can make it. A sink that can be cut back (the file sink) also reports
//! its length, which is committed with the checkpoint: after a crash the uncommitted tail is cut
//! and fetched again, so the file gets every event exactly once. Other sinks (stdout, network)
//! are at-least-once; events carry a stable `event_id` for downstream de-duplication.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Why a sink did not take a batch. Whatever the kind, the batch's checkpoint does not move.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying with backoff: a full disk, a receiver that is down, slow or overloaded.
    #[error(transparent)]
    Retryable(io::Error),
    /// Retrying cannot help until the operator acts (credentials refused, a format the
    /// receiver rejects); the message names the sink and the fix. The run stops.
    #[error("{0}")]
    Permanent(String),
    /// The process reading the sink (stdout, a FIFO) has gone: nothing more can be delivered
    /// there. Not a failure of the run, which stops.
    #[error("the process reading the sink has gone; nothing more can be delivered there")]
    ReaderGone,
}

impl From<io::Error> for SinkError {
    /// A broken pipe is the reader gone; any other I/O error is worth retrying.
    fn from(e: io::Error) -> SinkError {
        if e.kind() == io::ErrorKind::BrokenPipe {
            SinkError::ReaderGone
        } else {
            SinkError::Retryable(e)
        }
    }
}

/// One batch as a sink gets it: whose events they are, and the events (one JSON object each,
/// checked by `batch_check`).
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The tenant polled.
    pub tenant: &'a str,
    /// The log type polled (`url`, `impersonation`, `attachment`).
    pub log_type: &'a str,
    /// The events.
    pub events: &'a [String],
}

/// A destination for NDJSON event lines. The delivery task calls it from a thread of its own,
/// one batch at a time, so a sink may block: a network sink may wait for its receiver's
/// acknowledgement there (`tokio::runtime::Handle::block_on` on the runtime it was built on),
/// and returns only once the receiver has acknowledged the batch.
pub trait Sink: Send {
    /// Writes the batch's events (one JSON object each, no newline) and makes them durable
    /// (for a network sink: acknowledged by the receiver). On error nothing of the batch may
    /// remain (or the sink is at-least-once).
    ///
    /// # Errors
    /// The events were not taken; [`SinkError`] says whether retrying can help.
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError>;

    /// Delivers several batches as one (the delivery task joins batches that queued up behind
    /// a request in flight): all of them or, on error, none counts as delivered. By default
    /// one after the other; sinks that can send them in fewer requests or writes do.
    ///
    /// # Errors
    /// As for [`Sink::deliver`], for all the batches.
    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        batches.iter().try_for_each(|b| self.deliver(*b))
    }

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

    /// Why the sink can take no more batches, if it cannot: e.g. a file that could not be cut
    /// back after a failed write holds a partial batch, and appending after it would corrupt
    /// the stream and the committed length.
    fn unusable(&self) -> Option<&str> {
        None
    }

    /// For a sink that can be read back: the start (at most [`LINE_HEAD_BYTES`]) of its last
    /// line, `None` if it is empty or has no line short enough to be an event.
    ///
    /// # Errors
    /// The sink could not be read.
    fn last_line_head(&self) -> io::Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

/// How much of the sink's last line [`Sink::last_line_head`] returns: enough for the fields
/// a raw event has before its record, and for most ECS and OCSF documents whole (read once, at
/// start).
pub const LINE_HEAD_BYTES: usize = 1024 * 1024;

/// How far back [`Sink::last_line_head`] looks for the start of the last line; a longer line
/// is no event (a batch is at most 64 MiB).
const LINE_SCAN_LIMIT: u64 = 65 * 1024 * 1024;

/// NDJSON on standard output, flushed after each batch (at-least-once).
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        // A broken pipe becomes `SinkError::ReaderGone`.
        Ok(out
            .write_all(&batch_lines(batches))
            .and_then(|()| out.flush())?)
    }
}

/// NDJSON appended to a file; each batch is written whole and fsynced before it counts. Its
/// length is read from the file itself before each write and after each cut, never just
/// counted; a cut that fails makes the sink unusable for good.
pub struct FileSink {
    id: String,
    path: std::path::PathBuf,
    file: File,
    length: u64,
    unusable: Option<String>,
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
        Ok(FileSink {
            id,
            path: path.to_path_buf(),
            file,
            length,
            unusable: None,
        })
    }

    /// The error to return once the sink is unusable.
    fn refuse(&self) -> Option<io::Error> {
        self.unusable
            .as_ref()
            .map(|why| io::Error::other(why.clone()))
    }

    /// Cuts the file to `length` and reads its real length back.
    fn cut(&mut self, length: u64) -> io::Result<()> {
        self.file.set_len(length)?;
        self.file.sync_all()?;
        self.length = self.file.metadata()?.len();
        if self.length != length {
            return Err(io::Error::other(format!(
                "the file is {} bytes long after being cut to {length}",
                self.length
            )));
        }
        Ok(())
    }

    /// Records that a cut failed: from now on every batch is refused with this reason.
    fn give_up(&mut self, length: u64, e: &io::Error) -> io::Error {
        let why = format!(
            "the sink file {} could not be cut back to {length} bytes ({e}); it may hold a \
             partial or uncommitted batch, so nothing more is written to it. Fix the file system \
             and restart: the uncommitted tail is cut at start and fetched again",
            self.id
        );
        self.unusable = Some(why.clone());
        io::Error::other(why)
    }
}

impl Sink for FileSink {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    /// All the batches in one write and one fsync.
    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        if let Some(refused) = self.refuse() {
            return Err(refused.into());
        }
        let buf = batch_lines(batches);
        let before = self.file.metadata()?.len();
        self.length = before;
        let written = self
            .file
            .write_all(&buf)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => {
                self.length = before + buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                let failed = format!(
                    "writing {} bytes to the sink file {} failed: {e}",
                    buf.len(),
                    self.id
                );
                // Leave no partial batch behind: the next batch must start on a line boundary.
                if let Err(cut) = self.cut(before) {
                    let why = self.give_up(before, &io::Error::other(format!("{failed}; {cut}")));
                    return Err(why.into());
                }
                Err(io::Error::new(e.kind(), failed).into())
            }
        }
    }

    fn position(&self) -> Option<(&str, u64)> {
        Some((&self.id, self.length))
    }

    fn truncate(&mut self, length: u64) -> io::Result<()> {
        if let Some(refused) = self.refuse() {
            return Err(refused);
        }
        self.cut(length).map_err(|e| self.give_up(length, &e))
    }

    fn unusable(&self) -> Option<&str> {
        self.unusable.as_deref()
    }

    fn last_line_head(&self) -> io::Result<Option<Vec<u8>>> {
        use std::os::unix::fs::FileExt as _;
        let file = File::open(&self.path)?;
        let mut end = self.length;
        let mut last = [0u8; 1];
        if end > 0 {
            file.read_exact_at(&mut last, end - 1)?;
            if last[0] == b'\n' {
                end -= 1;
            }
        }
        if end == 0 {
            return Ok(None);
        }
        let mut chunk = vec![0u8; 64 * 1024];
        let mut start = None;
        let mut pos = end;
        while pos > 0 && end - pos < LINE_SCAN_LIMIT {
            let n = pos.min(chunk.len() as u64) as usize;
            let from = pos - n as u64;
            file.read_exact_at(&mut chunk[..n], from)?;
            if let Some(i) = chunk[..n].iter().rposition(|&c| c == b'\n') {
                start = Some(from + i as u64 + 1);
                break;
            }
            pos = from;
        }
        let Some(start) = start.or((pos == 0).then_some(0)) else {
            return Ok(None);
        };
        let mut head = vec![0u8; (end - start).min(LINE_HEAD_BYTES as u64) as usize];
        file.read_exact_at(&mut head, start)?;
        Ok(Some(head))
    }
}

/// The events as NDJSON: one line each.
pub fn lines<S: AsRef<str>>(events: &[S]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(events.iter().map(|e| e.as_ref().len() + 1).sum());
    for e in events {
        buf.extend_from_slice(e.as_ref().as_bytes());
        buf.push(b'\n');
    }
    buf
}

/// The events of every batch as NDJSON, in order.
pub fn batch_lines(batches: &[Batch<'_>]) -> Vec<u8> {
    let events: Vec<&str> = all_events(batches).map(|(_, e)| e).collect();
    lines(&events)
}

/// Every event of `batches` with the batch it belongs to, in order.
pub fn all_events<'a>(batches: &'a [Batch<'a>]) -> impl Iterator<Item = (Batch<'a>, &'a str)> + 'a {
    batches
        .iter()
        .flat_map(|b| b.events.iter().map(move |e| (*b, e.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(events: &[String]) -> Batch<'_> {
        Batch {
            tenant: "acme",
            log_type: "url",
            events,
        }
    }

    #[test]
    fn file_sink_appends_tracks_length_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let mut sink = FileSink::open(&path).unwrap();
        sink.deliver(batch(&["{\"a\":1}".into(), "{\"b\":2}".into()]))
            .unwrap();
        assert_eq!(sink.position().unwrap().1, 16);
        drop(sink);
        let mut sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.position().unwrap().1, 16);
        sink.deliver(batch(&["{\"c\":3}".into()])).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"
        );
        sink.truncate(8).unwrap();
        sink.deliver(batch(&["{\"d\":4}".into()])).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"a\":1}\n{\"d\":4}\n"
        );
    }

    #[test]
    fn length_is_read_from_the_file_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let mut sink = FileSink::open(&path).unwrap();
        sink.deliver(batch(&["{\"a\":1}".into()])).unwrap();
        // Bytes the sink did not count (e.g. a write it believed undone).
        let mut other = OpenOptions::new().append(true).open(&path).unwrap();
        other.write_all(b"{\"x\":0}\n").unwrap();
        sink.deliver(batch(&["{\"b\":2}".into()])).unwrap();
        let real = std::fs::metadata(&path).unwrap().len();
        assert_eq!(sink.position().unwrap().1, real);
    }

    #[test]
    fn last_line_head_reads_the_start_of_the_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.last_line_head().unwrap(), None);
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(LINE_HEAD_BYTES + 100));
        std::fs::write(&path, format!("first\n{long}\n")).unwrap();
        let sink = FileSink::open(&path).unwrap();
        let head = sink.last_line_head().unwrap().unwrap();
        assert_eq!(head, long.as_bytes()[..LINE_HEAD_BYTES]);
        std::fs::write(&path, "only line").unwrap();
        let sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.last_line_head().unwrap().unwrap(), b"only line");
        std::fs::write(&path, "a\nb\n").unwrap();
        let sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.last_line_head().unwrap().unwrap(), b"b");
    }

    /// `/dev/full` refuses every write (ENOSPC) and cannot be cut (`set_len` on a device fails):
    /// a failed write whose cut also fails.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_cut_makes_the_sink_unusable() {
        let mut sink = FileSink::open(Path::new("/dev/full")).unwrap();
        assert!(sink.unusable().is_none());
        let err = sink.deliver(batch(&["{}".into()])).unwrap_err();
        assert!(err.to_string().contains("could not be cut back"), "{err}");
        // The write's own failure is named, not only the cut's.
        assert!(
            err.to_string().contains(
                "writing 3 bytes to the sink file /dev/full failed: No space left on device"
            ),
            "{err}"
        );
        let why = sink.unusable().unwrap().to_string();
        assert!(
            why.contains("/dev/full") && why.contains("nothing more is written"),
            "{why}"
        );
        let again = sink.deliver(batch(&["{}".into()])).unwrap_err();
        assert_eq!(again.to_string(), why);
        assert!(sink.truncate(0).is_err());
    }
}
