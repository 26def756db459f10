//! The delivery task: one thread owns the [`Pipeline`] (the sinks and the state store) and
//! serves every tenant's requests in the order they arrive, through a bounded channel with a
//! reply per request. Blocking I/O (the sinks' writes and requests, SQLite's commit) thus runs
//! off the async workers, and no tenant holds a lock while it waits: a slow sink delays the
//! batches queued behind it, never a tokio worker thread. Because a single owner does every
//! deliver-then-commit, a committed sink length still covers exactly the batches whose
//! checkpoints are committed.
//!
//! Batches that queued up while a delivery was in flight are delivered together: one call to
//! the sinks (fewer, fuller requests) and one transaction for their checkpoints (one fsync),
//! up to [`Coalesce`]'s bounds; `linger` may wait a little for more. Under load this batches
//! across tenants by itself, and adds no wait when there is none.

pub mod batch_check;
pub mod build;
pub mod event_meta;
pub mod fan_out;
pub mod measured;
pub mod network;
pub mod pipeline;
pub mod sink;

use tokio::sync::{mpsc, oneshot};

use std::time::{Duration, Instant};

use crate::delivery::batch_check::MAX_BATCH_BYTES;
use crate::delivery::pipeline::{DeliveryError, Item, Pipeline};
use crate::state::{Status, Trouble};

/// Requests waiting for the delivery thread at most; a tenant that finds the queue full waits
/// for room (backpressure), it never drops a request.
const QUEUE: usize = 64;

/// One request: a batch to deliver, or other work on the pipeline, and where its answer goes.
enum Job {
    /// A batch to deliver and commit (delivered together with others queued beside it).
    Deliver(DeliverJob),
    /// Anything else (reads, failure records).
    Other(Box<dyn FnOnce(&mut Pipeline) + Send>),
}

/// A batch waiting for delivery.
struct DeliverJob {
    tenant: String,
    log_type: String,
    events: Vec<String>,
    checkpoint: String,
    cursor: Option<i64>,
    reply: oneshot::Sender<Result<(), DeliveryError>>,
}

/// How many queued batches the delivery thread joins into one delivery.
#[derive(Debug, Clone, Copy)]
pub struct Coalesce {
    /// How long to wait for more batches after the first (zero: take only those already
    /// queued).
    pub linger: Duration,
    /// Most events in one joined delivery.
    pub max_events: usize,
    /// Most bytes of events in one joined delivery.
    pub max_bytes: usize,
}

impl Default for Coalesce {
    fn default() -> Coalesce {
        Coalesce {
            linger: Duration::ZERO,
            max_events: 20_000,
            max_bytes: MAX_BATCH_BYTES,
        }
    }
}

/// The delivery thread is gone (it panicked, or the run is over); nothing more is delivered.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the delivery task has stopped; nothing more can be delivered or committed")]
pub struct DeliveryGone;

/// What stops a run on the sink's side; see [`Delivery::sink_state`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkState {
    /// The process reading the sink has gone; see [`Pipeline::reader_gone`].
    pub reader_gone: bool,
    /// Why the sink can take no more batches, if it cannot; see [`Pipeline::unusable`].
    pub unusable: Option<String>,
}

/// A handle to the delivery task; cloned into every tenant's task.
#[derive(Clone)]
pub struct Delivery {
    jobs: mpsc::Sender<Job>,
    /// Where deliveries and troubles are counted, when metrics are on.
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delivery")
    }
}

/// The thread that owns the pipeline; [`DeliveryThread::finish`] returns it once every
/// [`Delivery`] handle is dropped.
pub struct DeliveryThread {
    thread: std::thread::JoinHandle<Pipeline>,
}

impl DeliveryThread {
    /// Waits (off the async workers) until every handle is dropped and the queue is drained,
    /// and returns the pipeline.
    ///
    /// # Errors
    /// The delivery thread panicked.
    pub async fn finish(self) -> Result<Pipeline, DeliveryGone> {
        tokio::task::spawn_blocking(move || self.thread.join())
            .await
            .map_err(|_| DeliveryGone)?
            .map_err(|_| DeliveryGone)
    }
}

impl Delivery {
    /// Starts the delivery thread with `pipeline`, joining queued batches by the default
    /// [`Coalesce`] (no lingering).
    ///
    /// # Errors
    /// No thread could be started.
    pub fn start(pipeline: Pipeline) -> std::io::Result<(Delivery, DeliveryThread)> {
        Delivery::start_with(pipeline, Coalesce::default())
    }

    /// Starts the delivery thread with `pipeline`, joining queued batches by `coalesce`.
    ///
    /// # Errors
    /// No thread could be started.
    pub fn start_with(
        pipeline: Pipeline,
        coalesce: Coalesce,
    ) -> std::io::Result<(Delivery, DeliveryThread)> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("mcsource-delivery".into())
            .spawn(move || {
                let mut pipeline = pipeline;
                while let Some(job) = queue.blocking_recv() {
                    match job {
                        Job::Other(work) => work(&mut pipeline),
                        Job::Deliver(first) => {
                            let joined = gather(first, &mut queue, &mut pipeline, coalesce);
                            deliver_joined(&mut pipeline, joined);
                        }
                    }
                }
                pipeline
            })?;
        Ok((
            Delivery {
                jobs,
                metrics: None,
            },
            DeliveryThread { thread },
        ))
    }

    /// This handle, counting deliveries and troubles in `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Delivery {
        self.metrics = Some(metrics);
        self
    }

    /// Requests waiting for the delivery thread.
    pub fn queue_depth(&self) -> usize {
        self.jobs.max_capacity() - self.jobs.capacity()
    }

    /// Reads [`Delivery::queue_depth`] without keeping the delivery task alive (0 once every
    /// handle is gone), for what outlives the run's handles, such as the metrics endpoint.
    pub fn queue_depth_reader(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let jobs = self.jobs.downgrade();
        move || {
            jobs.upgrade()
                .map_or(0, |jobs| jobs.max_capacity() - jobs.capacity())
        }
    }

    /// Runs `work` on the pipeline in the delivery thread and returns its answer.
    async fn call<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Pipeline) -> R + Send + 'static,
    ) -> Result<R, DeliveryGone> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Other(Box::new(move |pipeline| {
            // The asker may have gone (its tenant stopped); the work is done all the same.
            let _ = reply.send(work(pipeline));
        }));
        self.jobs.send(job).await.map_err(|_| DeliveryGone)?;
        answer.await.map_err(|_| DeliveryGone)
    }

    /// The committed checkpoint of a tenant's log type.
    ///
    /// # Errors
    /// The store cannot be read, or the delivery task has stopped.
    pub async fn checkpoint(&self, tenant: &str, log_type: &str) -> Result<Option<String>, String> {
        let (tenant, log_type) = (tenant.to_string(), log_type.to_string());
        match self.call(move |p| p.checkpoint(&tenant, &log_type)).await {
            Ok(Ok(cp)) => Ok(cp),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(gone) => Err(gone.to_string()),
        }
    }

    /// Delivers a batch and commits its checkpoint; see [`Pipeline::deliver`].
    ///
    /// # Errors
    /// See [`DeliveryError`]; in every case the committed checkpoint is unchanged.
    pub async fn deliver(
        &self,
        tenant: &str,
        log_type: &str,
        events: Vec<String>,
        checkpoint: String,
        cursor: Option<i64>,
    ) -> Result<(), DeliveryError> {
        let (count, bytes) = (events.len(), checkpoint.len());
        let (reply, answer) = oneshot::channel();
        let job = Job::Deliver(DeliverJob {
            tenant: tenant.to_string(),
            log_type: log_type.to_string(),
            events,
            checkpoint,
            cursor,
            reply,
        });
        let gone = || DeliveryError::Unusable(DeliveryGone.to_string());
        self.jobs.send(job).await.map_err(|_| gone())?;
        let outcome = answer.await.map_err(|_| gone())?;
        if let Some(m) = &self.metrics {
            match &outcome {
                Ok(()) => m.delivered(tenant, log_type, count, bytes, cursor),
                Err(e) if e.is_fatal() => m.trouble(tenant, log_type, Trouble::Error),
                // The runner records the others as retries.
                Err(_) => {}
            }
        }
        outcome
    }

    /// Records a failure or wait for `status`; see [`Pipeline::trouble`].
    pub async fn trouble(&self, tenant: &str, log_type: &str, trouble: Trouble, message: &str) {
        if let Some(m) = &self.metrics {
            m.trouble(tenant, log_type, trouble);
        }
        let (tenant, log_type, message) = (
            tenant.to_string(),
            log_type.to_string(),
            message.to_string(),
        );
        if self
            .call(move |p| p.trouble(&tenant, &log_type, trouble, &message))
            .await
            .is_err()
        {
            tracing::debug!("trouble not recorded: the delivery task has stopped");
        }
    }

    /// Stores a rate-limit pause; see [`Pipeline::pause_tenant`].
    pub async fn pause_tenant(&self, tenant: &str, until: std::time::SystemTime) {
        if let Some(m) = &self.metrics {
            let wait = until
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            m.rate_limited(tenant, wait);
        }
        let tenant = tenant.to_string();
        let _ = self.call(move |p| p.pause_tenant(&tenant, until)).await;
    }

    /// How long `tenant` must still wait; see [`Pipeline::pending_pause`].
    pub async fn pending_pause(&self, tenant: &str) -> std::time::Duration {
        let tenant = tenant.to_string();
        self.call(move |p| p.pending_pause(&tenant))
            .await
            .unwrap_or_default()
    }

    /// Whether the run must stop for the sink's sake, asked in one round trip: its reader
    /// has gone, or it can take no more batches (the delivery task having stopped is such a
    /// reason).
    pub async fn sink_state(&self) -> SinkState {
        self.call(|p| SinkState {
            reader_gone: p.reader_gone(),
            unusable: p.unusable().map(str::to_string),
        })
        .await
        .unwrap_or_else(|gone| SinkState {
            reader_gone: false,
            unusable: Some(gone.to_string()),
        })
    }

    /// What `status` shows; see [`Pipeline::statuses`].
    ///
    /// # Errors
    /// The store cannot be read, or the delivery task has stopped.
    pub async fn statuses(&self) -> Result<Vec<Status>, String> {
        match self.call(|p| p.statuses()).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(gone) => Err(gone.to_string()),
        }
    }
}

/// `first` and the batches queued behind it, up to `coalesce`'s bounds (waiting up to its
/// `linger` for more); other work found in the queue meanwhile is done at once.
fn gather(
    first: DeliverJob,
    queue: &mut mpsc::Receiver<Job>,
    pipeline: &mut Pipeline,
    coalesce: Coalesce,
) -> Vec<DeliverJob> {
    let size = |j: &DeliverJob| j.events.iter().map(|e| e.len() + 1).sum::<usize>();
    let mut events = first.events.len();
    let mut bytes = size(&first);
    let mut joined = vec![first];
    let deadline = Instant::now() + coalesce.linger;
    while events < coalesce.max_events && bytes < coalesce.max_bytes {
        match queue.try_recv() {
            Ok(Job::Other(work)) => work(pipeline),
            Ok(Job::Deliver(next)) => {
                let (n, b) = (next.events.len(), size(&next));
                if events + n > coalesce.max_events || bytes + b > coalesce.max_bytes {
                    // Too big to join: delivered alone, right after these.
                    deliver_joined(pipeline, std::mem::take(&mut joined));
                    joined.push(next);
                    events = n;
                    bytes = b;
                    continue;
                }
                events += n;
                bytes += b;
                joined.push(next);
            }
            Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1).min(deadline - Instant::now()));
            }
            Err(_) => break,
        }
    }
    joined
}

/// Delivers `joined` together and answers each with the outcome.
fn deliver_joined(pipeline: &mut Pipeline, joined: Vec<DeliverJob>) {
    if joined.is_empty() {
        return;
    }
    let items: Vec<Item<'_>> = joined
        .iter()
        .map(|j| Item {
            tenant: &j.tenant,
            log_type: &j.log_type,
            events: &j.events,
            checkpoint: &j.checkpoint,
            cursor: j.cursor,
        })
        .collect();
    let outcome = pipeline.deliver_all(&items);
    drop(items);
    for job in joined {
        let answer = match &outcome {
            Ok(()) => Ok(()),
            Err(e) => Err(e.for_another_batch()),
        };
        // The asker may have gone (its tenant stopped); the batch is delivered all the same.
        let _ = job.reply.send(answer);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::delivery::sink::FileSink;
    use crate::state::{SinkLengths, SqliteStore};

    /// Many tenants delivering at once through one task: every batch lands whole, every
    /// checkpoint is committed, and the committed sink length is the file's length.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_batches_are_delivered_whole_and_committed_with_the_sink_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let sink = FileSink::open(&path).unwrap();
        let store = SqliteStore::open(&dir.path().join("state")).unwrap();
        let (pipeline, _) = Pipeline::open(Box::new(sink), Box::new(store)).unwrap();
        let (delivery, thread) = Delivery::start(pipeline).unwrap();
        let mut tasks = Vec::new();
        for t in 0..20 {
            let delivery = delivery.clone();
            tasks.push(tokio::spawn(async move {
                let tenant = format!("t{t}");
                for n in 0..5 {
                    let events = (0..10).map(|i| format!("{{\"t\":{t},\"n\":{n},\"i\":{i}}}"));
                    delivery
                        .deliver(&tenant, "url", events.collect(), format!("cp{n}"), None)
                        .await
                        .unwrap();
                }
                assert_eq!(
                    delivery
                        .checkpoint(&tenant, "url")
                        .await
                        .unwrap()
                        .as_deref(),
                    Some("cp4")
                );
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(delivery.sink_state().await, SinkState::default());
        drop(delivery);
        let pipeline = thread.finish().await.unwrap();
        drop(pipeline);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 20 * 5 * 10);
        let store = SqliteStore::open(&dir.path().join("state")).unwrap();
        let committed = store.sink_length(&path.display().to_string()).unwrap();
        assert_eq!(committed, Some(text.len() as u64));
    }

    /// Batches that queue up behind a slow delivery are delivered together: fewer sink calls
    /// and commits than batches, every batch committed, none lost or repeated.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_batches_are_delivered_together() {
        use crate::delivery::sink::{Batch, Sink, SinkError};
        use std::sync::{Arc, Mutex};
        struct Slow(Arc<Mutex<Vec<usize>>>);
        impl Sink for Slow {
            fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
                self.deliver_all(&[batch])
            }
            fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
                std::thread::sleep(std::time::Duration::from_millis(20));
                self.0
                    .lock()
                    .unwrap()
                    .push(batches.iter().map(|b| b.events.len()).sum());
                Ok(())
            }
        }
        let calls = Arc::new(Mutex::new(Vec::new()));
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("state")).unwrap();
        let (pipeline, _) = Pipeline::open(Box::new(Slow(calls.clone())), Box::new(store)).unwrap();
        let (delivery, thread) = Delivery::start(pipeline).unwrap();
        let mut tasks = Vec::new();
        for t in 0..30 {
            let delivery = delivery.clone();
            tasks.push(tokio::spawn(async move {
                let events = vec!["{}".to_string(); 3];
                delivery
                    .deliver(&format!("t{t}"), "url", events, format!("cp{t}"), None)
                    .await
                    .unwrap();
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let statuses = delivery.statuses().await.unwrap();
        assert_eq!(statuses.len(), 30);
        assert!(statuses.iter().all(|s| s.delivered == 3));
        drop(delivery);
        drop(thread.finish().await.unwrap());
        let calls = calls.lock().unwrap();
        assert_eq!(calls.iter().sum::<usize>(), 90, "{calls:?}");
        assert!(calls.len() < 30, "no batch was joined: {calls:?}");
    }

    /// Once the task is gone, requests fail instead of hanging.
    #[tokio::test]
    async fn a_stopped_task_refuses_instead_of_hanging() {
        let (jobs, queue) = mpsc::channel::<Job>(1);
        drop(queue);
        let delivery = Delivery {
            jobs,
            metrics: None,
        };
        let refused = delivery
            .deliver("t", "url", vec![], "cp".into(), None)
            .await;
        assert!(matches!(refused, Err(DeliveryError::Unusable(_))));
        assert!(delivery.sink_state().await.unusable.is_some());
        assert!(delivery.checkpoint("t", "url").await.is_err());
    }
}
