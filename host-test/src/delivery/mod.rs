//! The delivery task: one thread owns the [`Pipeline`] (the sink and the state store) and
//! serves every tenant's requests one at a time, in the order they arrive, through a bounded
//! channel with a reply per request. Blocking I/O (the sink's write and fsync, SQLite's
//! commit) thus runs off the async workers, and no tenant holds a lock while it waits: a slow
//! sink delays the batches queued behind it, never a tokio worker thread. Because a single
//! owner does every deliver-then-commit pair, a committed sink length still covers exactly
//! the batches whose checkpoints are committed.

pub mod batch_check;
pub mod build;
pub mod event_meta;
pub mod fan_out;
pub mod network;
pub mod pipeline;
pub mod sink;

use tokio::sync::{mpsc, oneshot};

use crate::delivery::pipeline::{DeliveryError, Pipeline};
use crate::state::{Status, Trouble};

/// Requests waiting for the delivery thread at most; a tenant that finds the queue full waits
/// for room (backpressure), it never drops a request.
const QUEUE: usize = 64;

/// One request: work to do on the pipeline, and where its answer goes.
type Job = Box<dyn FnOnce(&mut Pipeline) + Send>;

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
    /// Starts the delivery thread with `pipeline`.
    ///
    /// # Errors
    /// No thread could be started.
    pub fn start(pipeline: Pipeline) -> std::io::Result<(Delivery, DeliveryThread)> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("mcsource-delivery".into())
            .spawn(move || {
                let mut pipeline = pipeline;
                while let Some(job) = queue.blocking_recv() {
                    job(&mut pipeline);
                }
                pipeline
            })?;
        Ok((Delivery { jobs }, DeliveryThread { thread }))
    }

    /// Runs `work` on the pipeline in the delivery thread and returns its answer.
    async fn call<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Pipeline) -> R + Send + 'static,
    ) -> Result<R, DeliveryGone> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |pipeline| {
            // The asker may have gone (its tenant stopped); the work is done all the same.
            let _ = reply.send(work(pipeline));
        });
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
        let (tenant, log_type) = (tenant.to_string(), log_type.to_string());
        self.call(move |p| p.deliver(&tenant, &log_type, &events, &checkpoint, cursor))
            .await
            .unwrap_or_else(|gone| Err(DeliveryError::Unusable(gone.to_string())))
    }

    /// Records a failure or wait for `status`; see [`Pipeline::trouble`].
    pub async fn trouble(&self, tenant: &str, log_type: &str, trouble: Trouble, message: &str) {
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

    /// Once the task is gone, requests fail instead of hanging.
    #[tokio::test]
    async fn a_stopped_task_refuses_instead_of_hanging() {
        let (jobs, queue) = mpsc::channel::<Job>(1);
        drop(queue);
        let delivery = Delivery { jobs };
        let refused = delivery
            .deliver("t", "url", vec![], "cp".into(), None)
            .await;
        assert!(matches!(refused, Err(DeliveryError::Unusable(_))));
        assert!(delivery.sink_state().await.unusable.is_some());
        assert!(delivery.checkpoint("t", "url").await.is_err());
    }
}
