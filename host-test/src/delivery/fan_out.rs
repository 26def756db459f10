//! Several sinks as one: a batch counts as delivered only once every sink took it. Network
//! sinks go first and the file sink, whose length is committed with the checkpoint, last: if a
//! network sink fails, nothing of the batch is in the file yet; if the file fails, it cuts its
//! own partial write, and the network sinks that took the batch get it again on the retry (at
//! least once for them, with the same event ids; Elasticsearch's `_id` makes that once).
//! A sink that retries (every network sink does, until its receiver takes the batch or the run
//! stops) holds the batch here, so the sinks that already took it are not sent it again.

use crate::delivery::sink::{Batch, Sink, SinkError};

/// Sinks delivered to in order; the one with a position (a file), if any, last.
pub struct FanOut {
    sinks: Vec<(String, Box<dyn Sink>)>,
}

impl FanOut {
    /// Joins `sinks` (name, sink); the one that reports a position is moved to the end.
    pub fn new(mut sinks: Vec<(String, Box<dyn Sink>)>) -> FanOut {
        sinks.sort_by_key(|(_, s)| s.position().is_some());
        FanOut { sinks }
    }

    /// The sink with a position, if any (the last).
    fn positioned(&self) -> Option<&dyn Sink> {
        self.sinks
            .last()
            .map(|(_, s)| s.as_ref())
            .filter(|s| s.position().is_some())
    }
}

impl Sink for FanOut {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        for (name, sink) in &mut self.sinks {
            if let Err(e) = sink.deliver_all(batches) {
                tracing::debug!(sink = name.as_str(), error = %e, "a sink did not take the batch");
                return Err(e);
            }
        }
        Ok(())
    }

    fn position(&self) -> Option<(&str, u64)> {
        self.positioned().and_then(|s| s.position())
    }

    fn truncate(&mut self, length: u64) -> std::io::Result<()> {
        match self.sinks.last_mut() {
            Some((_, s)) if s.position().is_some() => s.truncate(length),
            _ => Ok(()),
        }
    }

    fn unusable(&self) -> Option<&str> {
        self.sinks.iter().find_map(|(_, s)| s.unusable())
    }

    fn last_line_head(&self) -> std::io::Result<Option<Vec<u8>>> {
        self.positioned().map_or(Ok(None), |s| s.last_line_head())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::delivery::sink::FileSink;
    use std::sync::{Arc, Mutex};

    /// Records what it took; fails while `fail` is set.
    struct Recording {
        took: Arc<Mutex<Vec<String>>>,
        fail: Arc<Mutex<bool>>,
    }

    impl Sink for Recording {
        fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
            if *self.fail.lock().unwrap() {
                return Err(SinkError::Retryable(std::io::Error::other("down")));
            }
            self.took
                .lock()
                .unwrap()
                .extend(batch.events.iter().cloned());
            Ok(())
        }
    }

    #[test]
    fn the_file_goes_last_and_a_failing_sink_keeps_the_batch_out_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let took = Arc::new(Mutex::new(Vec::new()));
        let fail = Arc::new(Mutex::new(true));
        let net = Recording {
            took: took.clone(),
            fail: fail.clone(),
        };
        let mut fan = FanOut::new(vec![
            ("file".into(), Box::new(FileSink::open(&path).unwrap())),
            ("net".into(), Box::new(net)),
        ]);
        assert_eq!(fan.position().unwrap().1, 0);
        let events = ["{\"a\":1}".to_string()];
        let batch = Batch {
            tenant: "acme",
            log_type: "url",
            events: &events,
        };
        assert!(fan.deliver(batch).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        *fail.lock().unwrap() = false;
        fan.deliver(batch).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"a\":1}\n");
        assert_eq!(*took.lock().unwrap(), events);
        assert_eq!(fan.position().unwrap().1, 8);
        fan.truncate(0).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
    }
}
