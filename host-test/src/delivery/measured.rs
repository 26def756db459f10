//! A sink that counts what it does in the metrics: deliveries acknowledged and failed, their
//! events and how long each took, per sink name. Everything else passes through.

use std::sync::Arc;
use std::time::Instant;

use crate::delivery::sink::{Batch, Sink, SinkError};
use crate::metrics::Metrics;

/// `inner`, counted under `name`.
pub struct Measured {
    name: String,
    inner: Box<dyn Sink>,
    metrics: Arc<Metrics>,
}

impl Measured {
    /// Counts `inner`'s deliveries under `name` in `metrics`.
    pub fn new(name: &str, inner: Box<dyn Sink>, metrics: Arc<Metrics>) -> Measured {
        Measured {
            name: name.to_string(),
            inner,
            metrics,
        }
    }
}

impl Sink for Measured {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        let started = Instant::now();
        let outcome = self.inner.deliver_all(batches);
        let events = batches.iter().map(|b| b.events.len()).sum();
        self.metrics
            .sink_delivery(&self.name, events, outcome.is_ok(), started.elapsed());
        outcome
    }

    fn position(&self) -> Option<(&str, u64)> {
        self.inner.position()
    }

    fn truncate(&mut self, length: u64) -> std::io::Result<()> {
        self.inner.truncate(length)
    }

    fn unusable(&self) -> Option<&str> {
        self.inner.unusable()
    }

    fn last_line_head(&self) -> std::io::Result<Option<Vec<u8>>> {
        self.inner.last_line_head()
    }
}
