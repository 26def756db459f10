//! Delivery tied to the checkpoint: a batch goes to the sink, becomes durable, and only then is
//! its checkpoint committed, together with the sink's new length where the sink has one. One
//! `Pipeline` serves all tenants, owned by the delivery task (`delivery`), which runs each
//! deliver-then-commit pair whole before the next, so a committed sink length always covers
//! exactly the batches whose checkpoints are committed.

use crate::delivery::batch_check::{Shape, MAX_BATCH_BYTES, MAX_BATCH_EVENTS};
use crate::delivery::sink::{Batch, Sink, SinkError};
use crate::state::{Commit, StateError, StateStore, Status, Trouble};

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The sink did not take the batch, but may on a retry; nothing was committed.
    #[error("the sink refused the batch")]
    Sink(#[source] std::io::Error),
    /// The sink refused the batch for a reason retrying cannot fix (its message names the fix);
    /// nothing was committed, and the run must stop.
    #[error("the sink refused the batch: {0}")]
    Refused(String),
    /// The checkpoint could not be committed; the batch was removed from the sink again where
    /// the sink allows it (otherwise it will be repeated, with the same event ids).
    #[error("the checkpoint could not be committed")]
    State(#[source] StateError),
    /// The sink can take no more batches (a failed cut left it in an unknown state); the run
    /// must stop, and nothing more is written.
    #[error("the sink is unusable: {0}")]
    Unusable(String),
    /// The process reading the sink (stdout, or a FIFO) has gone: nothing more can be
    /// delivered there, and the checkpoints of what was not delivered did not move.
    #[error("the process reading the sink has gone; nothing more can be delivered there")]
    ReaderGone,
    /// The checkpoints of the batches delivered together with this one could not be committed
    /// (the words say why); nothing was committed.
    #[error("the checkpoint could not be committed: {0}")]
    Together(String),
}

impl DeliveryError {
    /// Whether the run must stop: retrying cannot help and writing on would corrupt the sink.
    pub fn is_fatal(&self) -> bool {
        matches!(self, DeliveryError::Unusable(_) | DeliveryError::Refused(_))
    }

    /// The same failure for another batch delivered together with this one: as fatal or not,
    /// in the same words.
    pub fn for_another_batch(&self) -> DeliveryError {
        match self {
            DeliveryError::Sink(e) => {
                DeliveryError::Sink(std::io::Error::new(e.kind(), e.to_string()))
            }
            DeliveryError::Refused(why) => DeliveryError::Refused(why.clone()),
            DeliveryError::Unusable(why) => DeliveryError::Unusable(why.clone()),
            DeliveryError::ReaderGone => DeliveryError::ReaderGone,
            DeliveryError::State(e) => DeliveryError::Together(crate::error_chain::one_line(e)),
            DeliveryError::Together(why) => DeliveryError::Together(why.clone()),
        }
    }
}

/// One batch of [`Pipeline::deliver_all`]: its events and the checkpoint that follows them.
#[derive(Debug, Clone, Copy)]
pub struct Item<'a> {
    /// The tenant polled.
    pub tenant: &'a str,
    /// The log type polled.
    pub log_type: &'a str,
    /// The events.
    pub events: &'a [String],
    /// The checkpoint after them.
    pub checkpoint: &'a str,
    /// The cursor after them, if known.
    pub cursor: Option<i64>,
}

/// Bytes `events` take in the sink (one line each).
fn batch_bytes(events: &[String]) -> u64 {
    events.iter().map(|e| e.len() as u64 + 1).sum()
}

/// Most bytes one uncommitted batch can leave at the end of the sink: its events, at most
/// [`MAX_BATCH_BYTES`], and one newline per event. A longer tail cannot come from a crash.
pub const MAX_UNCOMMITTED_TAIL: u64 = MAX_BATCH_BYTES as u64 + MAX_BATCH_EVENTS as u64;

/// What recovery found at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recovery {
    /// Bytes of uncommitted events cut from the end of the sink (they will be fetched again).
    pub cut_bytes: u64,
    /// The sink was shorter than its committed length (rotated or truncated by someone else).
    pub sink_shrank: bool,
    /// A disagreement between the state and the sink that [`OpenPolicy::accept_state_loss`]
    /// let pass: the sink was kept as it is. For a warning.
    pub accepted: Option<String>,
}

/// What [`Pipeline::open_with`] may take for granted about the sink and the state.
#[derive(Debug, Clone, Default)]
pub struct OpenPolicy {
    /// The configured tenant ids: a sink whose last line is an event of one of them was
    /// written by mcsource, so a state with no record of that sink has lost it.
    pub tenants: Vec<String>,
    /// `run --accept-state-loss`: where the state cannot vouch for what the sink holds, keep
    /// the sink as it is, record its length, and go on (what the state does not cover is
    /// collected again, with the same event ids).
    pub accept_state_loss: bool,
}

/// Longest rate-limit pause, jitter included; a stored pause further away than this from now
/// (damaged, or from a clock that was wrong) holds a tenant only this long.
pub const MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The flag that lets a run go on although its state and its sink disagree.
pub const ACCEPT_STATE_LOSS_FLAG: &str = "--accept-state-loss";

/// What to do with the sink at start, given its committed length and its real length.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reconcile {
    /// Nothing to do.
    Keep,
    /// Record the sink's length as committed (a sink first used, or a shrunken one).
    Adopt {
        /// The sink is shorter than its committed length.
        shrank: bool,
    },
    /// Cut the uncommitted tail back to this length.
    Cut(u64),
    /// The state cannot vouch for the sink: stop (this says why), or, if allowed, adopt.
    Disagree(String),
}

/// Decides how to bring the sink `id` of `length` bytes and its committed length together.
/// `ours` is the tenant of the sink's last line if that line is an mcsource event of a
/// configured tenant.
fn reconcile(id: &str, length: u64, committed: Option<u64>, ours: Option<&str>) -> Reconcile {
    match committed {
        Some(c) if length > c && length - c > MAX_UNCOMMITTED_TAIL => Reconcile::Disagree(format!(
            "the state records {c} committed bytes for the sink file {id}, which is {length} \
             bytes long: the {} bytes after the committed length are more than one batch can \
             leave uncommitted ({MAX_UNCOMMITTED_TAIL} bytes), so the state is damaged or belongs \
             to another file, and cutting them would destroy delivered events",
            length - c
        )),
        Some(c) if length > c => Reconcile::Cut(c),
        Some(c) if length < c => Reconcile::Adopt { shrank: true },
        Some(_) => Reconcile::Keep,
        None => match ours {
            Some(tenant) => Reconcile::Disagree(format!(
                "the sink file {id} ({length} bytes) holds events mcsource delivered (its last \
                 line is an event of tenant {tenant:?}), but the state has no record of this \
                 file: the state database was lost, emptied or replaced, and collecting now \
                 would deliver those events again"
            )),
            None => Reconcile::Adopt { shrank: false },
        },
    }
}

/// The configured tenant whose mcsource event `head` (the start of a sink's last line) is, in
/// any output shape, if it is one. A raw event names its tenant before its record, so the start
/// of the line is enough; an ECS or OCSF document is read whole when the head holds it whole.
fn mcsource_event_tenant<'t>(head: &[u8], tenants: &'t [String]) -> Option<&'t str> {
    #[derive(serde::Deserialize)]
    struct Head {
        log_type: Option<String>,
        tenant: Option<String>,
        event_id: Option<String>,
    }
    let text = String::from_utf8_lossy(head);
    let text = text.trim_end_matches(['\n', '\r']);
    let raw = || {
        let parsed = serde_json::from_str::<Head>(text).ok().or_else(|| {
            let before_record = &text[..text.find(r#","record":"#)?];
            serde_json::from_str::<Head>(&format!("{before_record}}}")).ok()
        })?;
        parsed.log_type?;
        parsed.event_id?;
        parsed.tenant
    };
    let tenant = raw()
        .or_else(|| Shape::Ecs.event_tenant(text))
        .or_else(|| Shape::Ocsf.event_tenant(text))?;
    tenants.iter().find(|t| **t == tenant).map(String::as_str)
}

/// The sink and the state store, used together.
pub struct Pipeline {
    sink: Box<dyn Sink>,
    store: Box<dyn StateStore>,
    /// Set when an uncommitted batch could not be removed from the sink: nothing more is
    /// delivered.
    broken: Option<String>,
    /// The last sink failure logged, so a failure repeated by every retry is logged once.
    last_sink_failure: Option<String>,
    /// The process reading the sink has gone (a write met a broken pipe).
    reader_gone: bool,
}

/// Why the sink and the state cannot be joined.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The state store cannot be read or written.
    #[error(transparent)]
    State(StateError),
    /// The end of the sink cannot be read (to tell whose events it holds).
    #[error("cannot read the end of the sink file {sink}: {source}")]
    ReadSinkEnd {
        /// The sink.
        sink: String,
        /// Why.
        source: std::io::Error,
    },
    /// The uncommitted tail of the sink cannot be cut.
    #[error("cannot cut the uncommitted tail of {sink}: {source}")]
    CutSink {
        /// The sink.
        sink: String,
        /// Why.
        source: std::io::Error,
    },
    /// The state cannot vouch for what the sink holds; nothing was changed.
    #[error(
        "{0}. Nothing was changed. To go on, keeping the sink file as it is and collecting what \
         the state does not cover again (with the same event ids), run again with \
         {ACCEPT_STATE_LOSS_FLAG}; or restore state_dir from a backup; or point [sink] path at a \
         new file"
    )]
    Disagree(String),
}

impl Pipeline {
    /// Joins a sink and a store, cutting from the sink whatever a crash left uncommitted; with
    /// the default [`OpenPolicy`] (no tenants known, nothing accepted).
    ///
    /// # Errors
    /// See [`Pipeline::open_with`].
    pub fn open(
        sink: Box<dyn Sink>,
        store: Box<dyn StateStore>,
    ) -> Result<(Pipeline, Recovery), OpenError> {
        Pipeline::open_with(sink, store, &OpenPolicy::default())
    }

    /// Joins a sink and a store, cutting from the sink whatever a crash left uncommitted.
    /// Where the state cannot vouch for what the sink holds (its committed length is damaged,
    /// the tail after it is longer than a batch, or the sink holds mcsource events of a
    /// configured tenant but the state has no record of it), the sink is left untouched and
    /// this fails, unless `policy.accept_state_loss`.
    ///
    /// # Errors
    /// The store cannot be read or written, the sink cannot be read or cut, or the state and
    /// the sink disagree; the message names the file, the lengths and what the operator can do.
    pub fn open_with(
        mut sink: Box<dyn Sink>,
        mut store: Box<dyn StateStore>,
        policy: &OpenPolicy,
    ) -> Result<(Pipeline, Recovery), OpenError> {
        let mut recovery = Recovery::default();
        if let Some((id, length)) = sink.position() {
            let id = id.to_string();
            let action = match store.sink_length(&id) {
                Ok(committed) => {
                    let head = if committed.is_none() && length > 0 && !policy.tenants.is_empty() {
                        sink.last_line_head()
                            .map_err(|source| OpenError::ReadSinkEnd {
                                sink: id.clone(),
                                source,
                            })?
                    } else {
                        None
                    };
                    let ours = head
                        .as_deref()
                        .and_then(|h| mcsource_event_tenant(h, &policy.tenants));
                    reconcile(&id, length, committed, ours)
                }
                Err(StateError::Damaged(why)) => Reconcile::Disagree(why),
                Err(e) => return Err(OpenError::State(e)),
            };
            match action {
                Reconcile::Keep => {}
                Reconcile::Cut(c) => {
                    sink.truncate(c).map_err(|source| OpenError::CutSink {
                        sink: id.clone(),
                        source,
                    })?;
                    recovery.cut_bytes = length - c;
                }
                Reconcile::Adopt { shrank } => {
                    recovery.sink_shrank = shrank;
                    store
                        .set_sink_length(&id, length)
                        .map_err(OpenError::State)?;
                }
                Reconcile::Disagree(why) if policy.accept_state_loss => {
                    store
                        .set_sink_length(&id, length)
                        .map_err(OpenError::State)?;
                    recovery.accepted = Some(why);
                }
                Reconcile::Disagree(why) => return Err(OpenError::Disagree(why)),
            }
        }
        let pipeline = Pipeline {
            sink,
            store,
            broken: None,
            last_sink_failure: None,
            reader_gone: false,
        };
        Ok((pipeline, recovery))
    }

    /// The committed checkpoint of a tenant's log type.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn checkpoint(&self, tenant: &str, log_type: &str) -> Result<Option<String>, StateError> {
        self.store.load(tenant, log_type)
    }

    /// Delivers a batch and commits its checkpoint.
    ///
    /// # Errors
    /// See [`DeliveryError`]; in every case the committed checkpoint is unchanged.
    pub fn deliver(
        &mut self,
        tenant: &str,
        log_type: &str,
        events: &[String],
        checkpoint: &str,
        cursor: Option<i64>,
    ) -> Result<(), DeliveryError> {
        self.deliver_all(&[Item {
            tenant,
            log_type,
            events,
            checkpoint,
            cursor,
        }])
    }

    /// Delivers several batches together (one call to the sink, one transaction for their
    /// checkpoints): all of them, or none.
    ///
    /// # Errors
    /// See [`DeliveryError`]; in every case no committed checkpoint of them moved.
    pub fn deliver_all(&mut self, items: &[Item<'_>]) -> Result<(), DeliveryError> {
        if self.reader_gone {
            return Err(DeliveryError::ReaderGone);
        }
        if let Some(why) = self.unusable() {
            return Err(DeliveryError::Unusable(why.to_string()));
        }
        let batches: Vec<Batch<'_>> = items
            .iter()
            .filter(|i| !i.events.is_empty())
            .map(|i| Batch {
                tenant: i.tenant,
                log_type: i.log_type,
                events: i.events,
            })
            .collect();
        let bytes: u64 = items.iter().map(|i| batch_bytes(i.events)).sum();
        if !batches.is_empty() {
            if let Err(e) = self.sink.deliver_all(&batches) {
                let err = match (e, self.sink.unusable()) {
                    (SinkError::ReaderGone, _) => {
                        self.reader_gone = true;
                        return Err(DeliveryError::ReaderGone);
                    }
                    (_, Some(why)) => DeliveryError::Unusable(why.to_string()),
                    (SinkError::Retryable(e), None) => DeliveryError::Sink(e),
                    (SinkError::Permanent(why), None) => {
                        // Every later batch would be refused too: the run stops.
                        self.broken = Some(format!("the sink refused a batch: {why}"));
                        DeliveryError::Refused(why)
                    }
                };
                for i in items {
                    self.sink_failed(i.tenant, i.log_type, &err);
                }
                return Err(err);
            }
            if self.last_sink_failure.take().is_some() {
                tracing::info!("the sink takes batches again");
            }
        }
        let position = self.sink.position();
        let before = position.map(|(_, len)| len.saturating_sub(bytes));
        let commits: Vec<Commit<'_>> = items
            .iter()
            .map(|i| Commit {
                tenant: i.tenant,
                log_type: i.log_type,
                checkpoint: i.checkpoint,
                delivered: i.events.len() as u64,
                cursor: i.cursor,
                sink: position,
                // One host: its lock on state_dir is the only lease.
                lease: None,
            })
            .collect();
        if let Err(e) = self.store.commit_all(&commits) {
            if let StateError::Busy(why) = &e {
                // Another mcsource took the state: nothing more may be committed here.
                self.broken = Some(why.clone());
                return Err(DeliveryError::Unusable(why.clone()));
            }
            if let StateError::CommitUnknown(_) = &e {
                match self.read_back(items) {
                    Ok(true) => {
                        tracing::warn!(error = %e, "the commit's answer was lost, but the state holds it: the batches count as delivered");
                        return Ok(());
                    }
                    Ok(false) => {}
                    Err(read) => {
                        // Neither cut (the commit may be in the state) nor go on (it may not):
                        // the start-up check of the next run tells which from the sink length.
                        let why = format!(
                            "{e}, and the state cannot be read back to tell ({read}); nothing \
                             more is delivered. Restart mcsource once the state store is \
                             reachable: its start-up check settles the sink against the state"
                        );
                        self.broken = Some(why.clone());
                        return Err(DeliveryError::Unusable(why));
                    }
                }
            }
            if let Some(len) = before.filter(|_| bytes > 0) {
                // An uncut batch would be committed with the next one: a duplicate.
                if let Err(cut) = self.sink.truncate(len) {
                    let why = self.sink.unusable().map_or_else(
                        || format!("cannot remove an uncommitted batch from the sink: {cut}"),
                        str::to_string,
                    );
                    self.broken = Some(why.clone());
                    return Err(DeliveryError::Unusable(why));
                }
            }
            return Err(DeliveryError::State(e));
        }
        Ok(())
    }

    /// Whether the store holds every item's new checkpoint (a commit whose answer was lost was
    /// made), asking a few times over about 30 s while the store is unreachable.
    fn read_back(&self, items: &[Item<'_>]) -> Result<bool, StateError> {
        let mut wait = std::time::Duration::from_millis(500);
        let mut tries = 0;
        loop {
            let read: Result<bool, StateError> = items.iter().try_fold(true, |all, i| {
                Ok(all && self.store.load(i.tenant, i.log_type)?.as_deref() == Some(i.checkpoint))
            });
            match read {
                Err(e) if tries < 6 => {
                    tracing::warn!(error = %e, "cannot read the state back yet");
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(std::time::Duration::from_secs(8));
                    tries += 1;
                }
                other => return other,
            }
        }
    }

    /// Logs a sink failure (error level, once for as long as the same failure repeats), and
    /// records one that stops the run in the state, for `status` (the runner records the
    /// others as retries).
    fn sink_failed(&mut self, tenant: &str, log_type: &str, err: &DeliveryError) {
        let text = match err {
            DeliveryError::Sink(e) => e.to_string(),
            other => other.to_string(),
        };
        if self.last_sink_failure.as_deref() != Some(text.as_str()) {
            tracing::error!(error = %text, "the sink cannot be written");
            self.last_sink_failure = Some(text);
        }
        if err.is_fatal() {
            self.trouble(tenant, log_type, Trouble::Error, &err.to_string());
        }
    }

    /// Whether the process reading the sink has gone (`mcsource demo | head`); the run then
    /// stops, and that is no failure of the run.
    pub fn reader_gone(&self) -> bool {
        self.reader_gone
    }

    /// Why the sink can take no more batches, if it cannot; the run must then stop.
    pub fn unusable(&self) -> Option<&str> {
        self.broken.as_deref().or_else(|| self.sink.unusable())
    }

    /// Persists a rate-limit pause for `tenant` until `until` (best effort: logged on failure).
    pub fn pause_tenant(&mut self, tenant: &str, until: std::time::SystemTime) {
        let ms = until
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        if let Err(e) = self.store.set_pause(tenant, ms) {
            tracing::warn!(tenant, error = %format!("{e:#}"), "cannot record the rate-limit pause");
        }
    }

    /// How long `tenant` must still wait after a rate limit seen before (also by an earlier run),
    /// at most [`MAX_PAUSE`].
    pub fn pending_pause(&self, tenant: &str) -> std::time::Duration {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        match self.store.pause(tenant) {
            Ok(Some(until)) => {
                let wait = std::time::Duration::from_millis(until.saturating_sub(now));
                if wait > MAX_PAUSE {
                    tracing::warn!(
                        tenant,
                        stored_ms = wait.as_millis() as u64,
                        "the stored rate-limit pause is longer than an hour (a damaged state or a \
                         wrong clock); waiting an hour at most"
                    );
                }
                wait.min(MAX_PAUSE)
            }
            Ok(None) => std::time::Duration::ZERO,
            Err(e) => {
                tracing::warn!(tenant, error = %format!("{e:#}"), "cannot read the rate-limit pause");
                std::time::Duration::ZERO
            }
        }
    }

    /// Counts a failed or throttled poll.
    pub fn trouble(&mut self, tenant: &str, log_type: &str, trouble: Trouble, message: &str) {
        if let Err(e) = self
            .store
            .record_trouble(tenant, log_type, trouble, message)
        {
            tracing::warn!(tenant, log_type, error = %format!("{e:#}"), "cannot record the failure in the state store");
        }
    }

    /// Health of every tenant's log types.
    ///
    /// # Errors
    /// The store cannot be read.
    pub fn statuses(&self) -> Result<Vec<Status>, StateError> {
        self.store.statuses()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::sink::FileSink;
    use crate::state::{Checkpoints, Health, Pauses, SinkLengths, SqliteStore};

    const GOOD: &str = r#"{"log_type":"url","tenant":"acme","record":{"a":1}}"#;

    fn open(dir: &std::path::Path) -> (Pipeline, Recovery) {
        let sink = FileSink::open(&dir.join("out.ndjson")).unwrap();
        let store = SqliteStore::open(&dir.join("state")).unwrap();
        Pipeline::open(Box::new(sink), Box::new(store)).unwrap()
    }

    #[test]
    fn uncommitted_tail_is_cut_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, rec) = open(dir.path());
        assert_eq!(rec, Recovery::default());
        p.deliver("t", "url", &["{\"n\":1}".into()], "cp1", Some(1))
            .unwrap();
        drop(p);
        // A crash after the sink write but before the commit leaves a tail.
        let path = dir.path().join("out.ndjson");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"n\":2}\n");
        std::fs::write(&path, &text).unwrap();
        let (p, rec) = open(dir.path());
        assert_eq!(rec.cut_bytes, 8);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":1}\n");
        assert_eq!(p.checkpoint("t", "url").unwrap().as_deref(), Some("cp1"));
    }

    #[test]
    fn first_use_of_an_existing_file_keeps_its_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("out.ndjson"), "old line\n").unwrap();
        let (mut p, rec) = open(dir.path());
        assert_eq!(rec.cut_bytes, 0);
        drop(p);
        let (mut p2, rec) = open(dir.path());
        assert_eq!(rec.cut_bytes, 0);
        p2.deliver("t", "url", &["{}".into()], "cp", None).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.ndjson")).unwrap(),
            "old line\n{}\n"
        );
        p = p2;
        assert_eq!(p.statuses().unwrap()[0].delivered, 1);
    }

    fn open_policy(dir: &std::path::Path, accept: bool) -> Result<(Pipeline, Recovery), String> {
        let sink = FileSink::open(&dir.join("out.ndjson")).unwrap();
        let store = SqliteStore::open(&dir.join("state")).unwrap();
        let policy = OpenPolicy {
            tenants: vec!["acme".into()],
            accept_state_loss: accept,
        };
        Pipeline::open_with(Box::new(sink), Box::new(store), &policy).map_err(|e| e.to_string())
    }

    /// Sets the committed length of the sink file in `dir` directly in the database.
    fn set_committed(dir: &std::path::Path, length: i64) {
        let db = rusqlite::Connection::open(dir.join("state").join(crate::state::DATABASE_FILE))
            .unwrap();
        db.execute("UPDATE sink_length SET length = ?1", [length])
            .unwrap();
    }

    #[test]
    fn a_negative_committed_length_stops_without_touching_the_sink() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, _) = open_policy(dir.path(), false).unwrap();
        p.deliver("acme", "url", &[GOOD.into(), GOOD.into()], "cp", None)
            .unwrap();
        drop(p);
        set_committed(dir.path(), -5);
        let path = dir.path().join("out.ndjson");
        let before = std::fs::read(&path).unwrap();
        let err = open_policy(dir.path(), false).err().unwrap();
        assert!(
            err.contains("-5 bytes")
                && err.contains(&*path.canonicalize().unwrap().to_string_lossy())
                && err.contains(ACCEPT_STATE_LOSS_FLAG),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Accepted: the file is kept whole and its length recorded.
        let (mut p, rec) = open_policy(dir.path(), true).unwrap();
        assert!(rec.accepted.unwrap().contains("-5 bytes"));
        assert_eq!(rec.cut_bytes, 0);
        p.deliver("acme", "url", &[GOOD.into()], "cp2", None)
            .unwrap();
        drop(p);
        assert_eq!(std::fs::read(&path).unwrap().len(), before.len() * 3 / 2);
        assert!(open_policy(dir.path(), false).is_ok());
    }

    #[test]
    fn a_tail_longer_than_a_batch_is_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, _) = open_policy(dir.path(), false).unwrap();
        p.deliver("acme", "url", &[GOOD.into()], "cp", None)
            .unwrap();
        drop(p);
        let path = dir.path().join("out.ndjson");
        let committed = std::fs::metadata(&path).unwrap().len();
        // One byte more than a batch can leave: sparse, so it costs no disk.
        let long = committed + MAX_UNCOMMITTED_TAIL + 1;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(long)
            .unwrap();
        let err = open_policy(dir.path(), false).err().unwrap();
        assert!(
            err.contains(&format!("records {committed} committed bytes"))
                && err.contains(&format!("{long} bytes long")),
            "{err}"
        );
        assert_eq!(std::fs::metadata(&path).unwrap().len(), long);
        // A tail of exactly one largest batch is still cut.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(long - 1)
            .unwrap();
        let (_, rec) = open_policy(dir.path(), false).unwrap();
        assert_eq!(rec.cut_bytes, MAX_UNCOMMITTED_TAIL);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), committed);
    }

    #[test]
    fn a_sink_of_our_events_without_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, _) = open_policy(dir.path(), false).unwrap();
        p.deliver("acme", "url", &[GOOD.into()], "cp", None)
            .unwrap();
        drop(p);
        let event = r#"{"log_type":"url","tenant":"acme","event_time":null,"event_id":"ab12","record":{"a":1}}"#;
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, format!("old line\n{event}\n")).unwrap();
        // The state is lost.
        std::fs::remove_dir_all(dir.path().join("state")).unwrap();
        let err = open_policy(dir.path(), false).err().unwrap();
        assert!(
            err.contains("holds events mcsource delivered")
                && err.contains("\"acme\"")
                && err.contains(ACCEPT_STATE_LOSS_FLAG),
            "{err}"
        );
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .ends_with(&format!("{event}\n")));
        let (_, rec) = open_policy(dir.path(), true).unwrap();
        assert!(rec.accepted.is_some());
        // Recorded now: the next start agrees.
        let (_, rec) = open_policy(dir.path(), false).unwrap();
        assert_eq!(rec, Recovery::default());
    }

    #[test]
    fn events_are_recognised_by_their_head() {
        let tenants = vec!["acme".to_string()];
        let event =
            r#"{"log_type":"url","tenant":"acme","event_time":null,"event_id":"ab","record":{"x":"#;
        assert_eq!(
            mcsource_event_tenant(event.as_bytes(), &tenants),
            Some("acme")
        );
        let whole = format!("{event}1}}}}\n");
        assert_eq!(
            mcsource_event_tenant(whole.as_bytes(), &tenants),
            Some("acme")
        );
        for other in [
            r#"{"log_type":"url","tenant":"other","event_id":"ab","record":{}}"#,
            r#"{"log_type":"url","tenant":"acme","record":{}}"#,
            r#"{"tenant":"acme","event_id":"ab"}"#,
            r#"{"event":{"dataset":"other.logs"},"organization":{"id":"acme"}}"#,
            r#"{"metadata":{"log_name":"url","tenant_uid":"other"}}"#,
            "old line",
            "",
        ] {
            assert_eq!(
                mcsource_event_tenant(other.as_bytes(), &tenants),
                None,
                "{other}"
            );
        }
        // ECS and OCSF documents name their tenant after other fields; they are read whole.
        let ecs = r#"{"@timestamp":"2026-01-01T00:00:00Z","event":{"dataset":"mimecast.ttp_ap_logs","id":"ab"},"mimecast":{"x":1},"organization":{"id":"acme"}}"#;
        let ocsf = r#"{"class_uid":4009,"email":{},"metadata":{"log_name":"impersonation","tenant_uid":"acme","uid":"ab"}}"#;
        for doc in [ecs, ocsf] {
            assert_eq!(
                mcsource_event_tenant(format!("{doc}\n").as_bytes(), &tenants),
                Some("acme"),
                "{doc}"
            );
        }
    }

    #[test]
    fn a_stored_pause_holds_a_tenant_an_hour_at_most() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, _) = open(dir.path());
        let now = std::time::SystemTime::now();
        p.pause_tenant("acme", now + std::time::Duration::from_secs(60));
        let wait = p.pending_pause("acme");
        assert!(
            wait > std::time::Duration::from_secs(55) && wait <= std::time::Duration::from_secs(60)
        );
        // A reset of 1e15 ms, stored by an earlier run or a damaged state.
        p.store.set_pause("acme", 1_000_000_000_000_000).unwrap();
        assert_eq!(p.pending_pause("acme"), MAX_PAUSE);
        assert_eq!(p.pending_pause("other"), std::time::Duration::ZERO);
    }

    /// A sink that answers every batch with one error.
    struct Answering(fn() -> SinkError);

    impl Sink for Answering {
        fn deliver(&mut self, _batch: Batch<'_>) -> Result<(), SinkError> {
            Err((self.0)())
        }
    }

    /// What a sink says decides what the runner does: retry, stop the run, or stop because the
    /// reader went away; in no case does the checkpoint move.
    #[test]
    fn a_sink_error_says_whether_retrying_can_help_and_nothing_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        for (answer, fatal, reader_gone) in [
            (
                (|| SinkError::Retryable(std::io::Error::other("receiver down"))) as fn() -> _,
                false,
                false,
            ),
            (
                || SinkError::Permanent("token refused: set [sink] token".into()),
                true,
                false,
            ),
            (|| SinkError::ReaderGone, false, true),
        ] {
            let store = SqliteStore::open(&dir.path().join("state")).unwrap();
            let (mut p, _) = Pipeline::open(Box::new(Answering(answer)), Box::new(store)).unwrap();
            let e = p
                .deliver("acme", "url", &[GOOD.into()], "cp", None)
                .unwrap_err();
            assert_eq!(e.is_fatal(), fatal, "{e}");
            assert_eq!(matches!(e, DeliveryError::ReaderGone), reader_gone, "{e}");
            assert_eq!(p.reader_gone(), reader_gone);
            assert_eq!(p.checkpoint("acme", "url").unwrap(), None);
            if fatal {
                assert!(e.to_string().contains("set [sink] token"), "{e}");
                assert!(p.unusable().is_some(), "the run must stop");
            }
        }
    }

    /// A file sink whose cuts fail, and a store whose commits fail on demand.
    struct UncuttableSink(FileSink);

    impl Sink for UncuttableSink {
        fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
            self.0.deliver(batch)
        }
        fn position(&self) -> Option<(&str, u64)> {
            self.0.position()
        }
        fn truncate(&mut self, _length: u64) -> std::io::Result<()> {
            Err(std::io::Error::other("read-only file system"))
        }
    }

    struct FailingCommits(SqliteStore);

    impl Checkpoints for FailingCommits {
        fn load(&self, t: &str, l: &str) -> Result<Option<String>, StateError> {
            self.0.load(t, l)
        }

        fn commit(&mut self, _c: &Commit<'_>) -> Result<(), StateError> {
            Err(StateError::Query {
                action: "commit",
                cause: rusqlite::Error::InvalidQuery,
            })
        }

        fn forget(&mut self, t: &str, l: &str) -> Result<bool, StateError> {
            self.0.forget(t, l)
        }
    }

    impl SinkLengths for FailingCommits {
        fn sink_length(&self, sink: &str) -> Result<Option<u64>, StateError> {
            self.0.sink_length(sink)
        }

        fn set_sink_length(&mut self, sink: &str, length: u64) -> Result<(), StateError> {
            self.0.set_sink_length(sink, length)
        }
    }

    impl Pauses for FailingCommits {
        fn set_pause(&mut self, t: &str, until_ms: u64) -> Result<(), StateError> {
            self.0.set_pause(t, until_ms)
        }

        fn pause(&self, t: &str) -> Result<Option<u64>, StateError> {
            self.0.pause(t)
        }
    }

    impl Health for FailingCommits {
        fn record_trouble(
            &mut self,
            t: &str,
            l: &str,
            trouble: Trouble,
            m: &str,
        ) -> Result<(), StateError> {
            self.0.record_trouble(t, l, trouble, m)
        }

        fn statuses(&self) -> Result<Vec<Status>, StateError> {
            self.0.statuses()
        }
    }

    #[test]
    fn a_batch_that_cannot_be_cut_after_a_failed_commit_stops_all_delivery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let sink = UncuttableSink(FileSink::open(&path).unwrap());
        let store = FailingCommits(SqliteStore::open(&dir.path().join("state")).unwrap());
        let (mut p, _) = Pipeline::open(Box::new(sink), Box::new(store)).unwrap();
        let err = p
            .deliver("t", "url", &["{\"n\":1}".into()], "cp", None)
            .unwrap_err();
        assert!(err.is_fatal(), "{err}");
        assert!(err.to_string().contains("read-only file system"), "{err}");
        assert!(p.unusable().is_some());
        // Nothing more reaches the sink.
        let again = p
            .deliver("t", "url", &["{\"n\":2}".into()], "cp", None)
            .unwrap_err();
        assert!(again.is_fatal());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":1}\n");
    }

    #[test]
    fn a_failed_commit_removes_its_batch_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        std::fs::write(&path, "old\n").unwrap();
        let sink = FileSink::open(&path).unwrap();
        let store = FailingCommits(SqliteStore::open(&dir.path().join("state")).unwrap());
        let (mut p, _) = Pipeline::open(Box::new(sink), Box::new(store)).unwrap();
        let err = p
            .deliver("t", "url", &["{\"n\":1}".into()], "cp", None)
            .unwrap_err();
        assert!(!err.is_fatal(), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        assert!(p.unusable().is_none());
    }

    #[test]
    fn shrunken_sink_is_accepted_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let (mut p, _) = open(dir.path());
        p.deliver(
            "t",
            "url",
            &["{\"n\":1}".into(), "{\"n\":2}".into()],
            "cp",
            None,
        )
        .unwrap();
        drop(p);
        std::fs::write(dir.path().join("out.ndjson"), "").unwrap();
        let (_, rec) = open(dir.path());
        assert!(rec.sink_shrank);
    }
}
