//! Scheduling: one task per tenant polls each of its log types when due, delivers each batch to
//! the sink and only then commits the batch's checkpoint. A log type's batch is delivered while
//! the tenant polls its other log types (one delivery in flight per log type, its next poll only
//! after the commit), so one tenant's three logs overlap network, sandbox and sink work.
//! Backoff, rate-limit waits and the
//! `--once` stopping rule live here; the component decides nothing about timing beyond its
//! `next-poll` hint.
//!
//! Fairness: a bounded worker pool (`max_concurrent_polls` permits) limits polls in flight
//! across all tenants. A tenant holds a permit, and a component instance, only for a short
//! session of consecutive polls; when it goes idle or has used its session, both are given
//! back, so a slow, failing or rate-limited tenant never holds up others beyond its own slot,
//! and an idle tenant keeps no instance. At start, tenants are spread over their interval so
//! many tenants do not hit the API in one burst.

pub mod diagnose;
pub mod discover;
pub mod leases;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::Tenant;
use crate::delivery::batch_check;
use crate::delivery::pipeline::DeliveryError;
use crate::delivery::pipeline::MAX_PAUSE;
use crate::delivery::Delivery;
use crate::log_type::LogType;
use crate::runtime::session::SessionCache;
use crate::runtime::{self, Instance, NextPoll, PollError, Runtime};
use crate::state::Trouble;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// First retry delay after a transient failure; doubles per failure.
const BACKOFF_START: Duration = Duration::from_secs(1);
/// Longest delay between retries of a failing log type.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// Least wait after the second 429 in a row, doubling with each further one.
const RATE_LIMIT_FLOOR_START: Duration = Duration::from_millis(500);
/// Cap of that least wait (a longer `X-RateLimit-Reset` is still honoured in full).
const RATE_LIMIT_FLOOR_CAP: Duration = Duration::from_secs(60);
/// Longest wait the runner schedules; a component's `after-ms` or rate-limit reset asking for
/// more is cut to this, so no guest value can overflow the clock arithmetic.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);
/// In `--once` mode, give up on a log type after this many failed polls in a row.
const ONCE_MAX_FAILURES: u32 = 6;
/// In `--once` mode, give up after this many rate-limit waits in a row.
const ONCE_MAX_RATE_LIMITS: u32 = 20;

/// How the runner behaves.
#[derive(Debug, Clone, Copy)]
pub struct RunMode {
    /// Stop each log type once it is caught up (or has failed), instead of polling forever.
    pub once: bool,
    /// Polls in flight at once across all tenants.
    pub max_concurrent_polls: u32,
    /// Poll a tenant's other log types while a batch of one is delivered (what `run` and
    /// `demo` do). False waits for each delivery before the tenant's next poll, as the runner
    /// did before; the benchmark uses it to measure what the overlap is worth.
    pub overlap_deliveries: bool,
}

/// Consecutive polls a tenant may make before it gives its worker slot back.
const SESSION_POLLS: u32 = 20;
/// A tenant whose next poll is further away than this gives back its slot and instance.
const IDLE_AFTER: Duration = Duration::from_millis(250);

/// What happened to one tenant's log type.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Events delivered in this run.
    pub delivered: u64,
    /// Successful polls.
    pub polls: u64,
    /// The last error, if the log type ended (in `--once` mode) or is failing.
    pub error: Option<String>,
}

/// Per `(tenant, log type)` progress.
pub type Summary = BTreeMap<(String, LogType), Progress>;

struct Slot {
    log_type: LogType,
    due: Instant,
    failures: u32,
    rate_limits: u32,
    done: bool,
    progress: Progress,
    /// A batch of this log type is being delivered: no poll until its commit is answered.
    delivering: Option<InFlight>,
    /// The checkpoint this run last committed for the log type, kept while the tenant is busy
    /// so its next poll need not read it back from the store (a read that would queue behind
    /// the other log types' deliveries). Dropped when the tenant goes idle or a delivery fails.
    committed: Option<String>,
}

/// What the runner keeps of a batch while it is delivered.
struct InFlight {
    events: usize,
    next_poll: NextPoll,
    /// The batch's checkpoint: the committed one once the delivery is answered.
    checkpoint: String,
}

/// Deliveries in flight, each answered with its slot's index.
type Deliveries = tokio::task::JoinSet<(usize, Result<(), DeliveryError>)>;

/// Runs every tenant until `--once` completes or `shutdown` turns true. Each new tenant list
/// arriving on `reload` (a re-read configuration) is applied without a restart: tenants that
/// are gone are stopped, new ones started, changed ones (credentials, settings, limits)
/// restarted; the others go on untouched. A stopped tenant finishes its poll in flight, and
/// its checkpoints stay in the state store.
pub async fn run(
    runtime: Arc<Runtime>,
    tenants: Vec<Tenant>,
    pipeline: Delivery,
    mode: RunMode,
    mut shutdown: watch::Receiver<bool>,
    mut reload: Option<tokio::sync::mpsc::Receiver<Vec<Tenant>>>,
) -> Summary {
    let workers = Arc::new(Semaphore::new(mode.max_concurrent_polls.max(1) as usize));
    let spread = !mode.once && tenants.len() > 1;
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut summary = Summary::new();
    let start = |tenant: Tenant, spread: bool| {
        let (stop, stopped) = watch::channel(false);
        let settings = tenant.clone();
        let (rt, pipeline, workers) = (runtime.clone(), pipeline.clone(), workers.clone());
        let first = if spread {
            let ms = u64::try_from(tenant.interval.as_millis())
                .unwrap_or(u64::MAX)
                .max(1);
            after(Duration::from_millis(rand::rng().random_range(0..ms)))
        } else {
            Instant::now()
        };
        let task = tokio::spawn(async move {
            run_tenant(&rt, tenant, pipeline, workers, first, mode, stopped).await
        });
        Running {
            settings,
            stop,
            task,
        }
    };
    for tenant in tenants {
        running.insert(tenant.id.clone(), start(tenant, spread));
    }
    loop {
        let sink = pipeline.sink_state().await;
        if sink.reader_gone {
            tracing::info!("the process reading the sink has gone; stopping");
            break;
        }
        if let Some(why) = sink.unusable {
            tracing::error!(error = %why, "stopping the run: the sink is unusable");
            break;
        }
        let all_done = running.values().all(|r| r.task.is_finished());
        if all_done && (mode.once || reload.is_none()) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.wait_for(|stop| *stop) => break,
            next = async { match reload.as_mut() { Some(r) => r.recv().await, None => std::future::pending().await } } => {
                let Some(next) = next else {
                    reload = None;
                    continue;
                };
                let wanted: BTreeMap<String, Tenant> = next.into_iter().map(|t| (t.id.clone(), t)).collect();
                let ids: Vec<String> = running.keys().cloned().collect();
                for id in ids {
                    let keep = wanted.get(&id).is_some_and(|t| running.get(&id).is_some_and(|r| r.settings == *t));
                    if !keep {
                        if let Some(r) = running.remove(&id) {
                            tracing::info!(tenant = %id, "configuration changed: stopping tenant");
                            summary.extend(r.finish().await);
                            tracing::info!(tenant = %id, "tenant stopped");
                        }
                    }
                }
                for (id, tenant) in wanted {
                    if let std::collections::btree_map::Entry::Vacant(slot) = running.entry(id) {
                        tracing::info!(tenant = %slot.key(), "configuration changed: starting tenant");
                        slot.insert(start(tenant, false));
                    }
                }
            }
        }
    }
    for (_, r) in std::mem::take(&mut running) {
        summary.extend(r.finish().await);
    }
    summary
}

/// A tenant task and the means to stop it.
struct Running {
    /// The tenant as configured when it started: a reload restarts it when this differs
    /// from the new configuration's (credentials, settings, limits, component).
    settings: Tenant,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Summary>,
}

impl Running {
    /// Asks the task to stop after its poll in flight, and waits for it.
    async fn finish(self) -> Summary {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok(part) => part,
            Err(e) => {
                tracing::error!(error = %e, "a tenant task panicked");
                Summary::new()
            }
        }
    }
}

/// `base` plus 0–10 % of it (at least up to 1 ms), saturating instead of overflowing.
fn jitter(base: Duration) -> Duration {
    let spread = u64::try_from(base.as_millis() / 10)
        .unwrap_or(u64::MAX)
        .max(1);
    base.saturating_add(Duration::from_millis(rand::rng().random_range(0..=spread)))
}

/// The instant `wait` from now, `wait` cut to [`MAX_WAIT`].
fn after(wait: Duration) -> Instant {
    Instant::now() + wait.min(MAX_WAIT)
}

/// The wait after the `consecutive`-th 429 in a row that asked for `after_ms`: at least what
/// Mimecast asked for; from the second one in a row, also at least half a second doubling to a
/// minute, so a 429 that asks for no wait (or too short a one) is not answered by hammering.
fn rate_limit_wait(after_ms: u64, consecutive: u32) -> Duration {
    let asked = Duration::from_millis(after_ms);
    if consecutive <= 1 {
        return asked;
    }
    let floor = RATE_LIMIT_FLOOR_START.saturating_mul(1u32 << (consecutive - 2).min(16));
    asked.max(floor.min(RATE_LIMIT_FLOOR_CAP))
}

/// The pause after the `consecutive`-th 429 in a row that asked for `after_ms`: the
/// [`rate_limit_wait`] with jitter, and never more than [`MAX_PAUSE`], jitter included.
fn rate_limit_pause(after_ms: u64, consecutive: u32) -> Duration {
    jitter(rate_limit_wait(after_ms, consecutive)).min(MAX_PAUSE)
}

fn backoff(failures: u32) -> Duration {
    let exp = BACKOFF_START.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    jitter(exp.min(BACKOFF_CAP))
}

#[tracing::instrument(skip_all, fields(tenant = %tenant.id))]
async fn run_tenant(
    runtime: &Runtime,
    mut tenant: Tenant,
    pipeline: Delivery,
    workers: Arc<Semaphore>,
    start: Instant,
    mode: RunMode,
    mut shutdown: watch::Receiver<bool>,
) -> Summary {
    let mut slots: Vec<Slot> = tenant
        .log_types
        .iter()
        .map(|&log_type| Slot {
            log_type,
            due: start,
            failures: 0,
            rate_limits: 0,
            done: false,
            progress: Progress::default(),
            delivering: None,
            committed: None,
        })
        .collect();
    if !discover_region(
        runtime,
        &mut tenant,
        &mut slots,
        &pipeline,
        &workers,
        mode,
        &mut shutdown,
    )
    .await
    {
        return summarize(&tenant.id, slots);
    }
    // A rate limit announced to an earlier run, or to another host, still holds.
    let pending = pipeline.pending_pause(&tenant.id).await;
    if !pending.is_zero() {
        tracing::info!(
            wait_ms = pending.as_millis() as u64,
            "waiting for a rate-limit reset seen before (by an earlier run, or by the host that held this tenant before)"
        );
        for s in slots.iter_mut() {
            s.due = after(pending);
        }
    }
    // Outlives the instances, which are dropped whenever the tenant goes idle: the API 2.0
    // token is reused until it is due for refresh. New with every (re)start of the tenant.
    let session = SessionCache::new();
    let mut instance: Option<Instance> = None;
    let mut permit: Option<OwnedSemaphorePermit> = None;
    let mut session_polls = 0;
    let mut deliveries = Deliveries::new();
    // No call to the tenant before this instant (a 429 pauses all its log types).
    let mut paused_until = Instant::now();
    loop {
        let may_poll = mode.overlap_deliveries || deliveries.is_empty();
        let next = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| may_poll && !s.done && s.delivering.is_none())
            .min_by_key(|(_, s)| s.due)
            .map(|(i, s)| (i, s.due));
        if next.is_none() && deliveries.is_empty() {
            break;
        }
        // All log types delivering is not idle: the next poll is due at the first commit.
        let idle = next.is_some_and(|(_, due)| due > Instant::now() + IDLE_AFTER);
        if idle {
            for s in slots.iter_mut() {
                s.committed = None;
            }
        }
        if idle || session_polls >= SESSION_POLLS {
            // Going idle, or others may be waiting: give back the instance and the slot.
            instance = None;
            permit = None;
            session_polls = 0;
        }
        let due = next.map(|(_, due)| due);
        tokio::select! {
            Some(joined) = deliveries.join_next(), if !deliveries.is_empty() => {
                let stop = delivered(joined, &mut slots, &tenant, &pipeline, mode, paused_until).await;
                if stop {
                    break;
                }
                continue;
            }
            _ = sleep_until_some(due) => {}
            _ = stop_asked(&mut shutdown) => break,
        }
        if *shutdown.borrow() {
            break;
        }
        let Some((index, _)) = next else { continue };
        if permit.is_none() {
            tokio::select! {
                acquired = workers.clone().acquire_owned() => match acquired {
                    Ok(p) => permit = Some(p),
                    Err(_) => break,
                },
                _ = stop_asked(&mut shutdown) => break,
            }
        }
        session_polls += 1;
        let inst = match instance.take() {
            Some(i) => i,
            None => match start_instance(runtime, &tenant, &session).await {
                Ok(i) => i,
                Err(message) => {
                    // A configuration the component rejects stops every log type of the tenant.
                    tracing::error!(error = %message, "tenant cannot start");
                    for s in slots.iter_mut().filter(|s| s.delivering.is_none()) {
                        pipeline
                            .trouble(&tenant.id, s.log_type.name(), Trouble::Error, &message)
                            .await;
                        s.progress.error = Some(message.clone());
                        if mode.once {
                            s.done = true;
                        } else {
                            s.due = after(BACKOFF_CAP);
                        }
                    }
                    continue;
                }
            },
        };
        let slot = &mut slots[index];
        let (inst, outcome) = poll_slot(inst, slot, &tenant, &pipeline, mode).await;
        if let Some(Handover {
            events,
            checkpoint,
            cursor,
        }) = outcome.delivery
        {
            let (pipeline, tenant_id, log_type) =
                (pipeline.clone(), tenant.id.clone(), slot.log_type.name());
            deliveries.spawn(async move {
                let outcome = pipeline
                    .deliver(&tenant_id, log_type, events, checkpoint, cursor)
                    .await;
                (index, outcome)
            });
        }
        match outcome.then {
            Then::Continue => instance = Some(inst),
            Then::Discard => {}
            Then::PauseTenant(until) => {
                // Mimecast's quota is per user, so a 429 pauses every log type of the tenant.
                paused_until = paused_until.max(until);
                for s in slots.iter_mut() {
                    s.due = s.due.max(until);
                }
                instance = Some(inst);
            }
        }
    }
    // Stopping: the batches already handed over are delivered and committed (or not) before
    // the tenant's summary is made, so they are counted and no commit is left behind.
    drop(instance);
    drop(permit);
    while let Some(joined) = deliveries.join_next().await {
        delivered(joined, &mut slots, &tenant, &pipeline, mode, paused_until).await;
    }
    summarize(&tenant.id, slots)
}

/// What each of a tenant's log types did, for the run's summary.
fn summarize(tenant: &str, slots: Vec<Slot>) -> Summary {
    slots
        .into_iter()
        .map(|s| ((tenant.to_string(), s.log_type), s.progress))
        .collect()
}

/// Region discovery for a tenant with `base_url = "discover"`, before its first poll (does
/// nothing for other tenants). A failure stops only this tenant: it is logged, recorded as the
/// last error of each of its log types (`mcsource status`) and retried with backoff while the
/// other tenants collect. In `--once` mode the tenant fails after an answer that will not
/// change by itself (an unknown address, say), or after [`ONCE_MAX_FAILURES`] transient ones.
/// Returns whether the tenant may go on to poll.
async fn discover_region(
    runtime: &Runtime,
    tenant: &mut Tenant,
    slots: &mut [Slot],
    pipeline: &Delivery,
    workers: &Arc<Semaphore>,
    mode: RunMode,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut failures = 0;
    while tenant.discover.is_some() {
        let permit = tokio::select! {
            acquired = workers.clone().acquire_owned() => match acquired {
                Ok(p) => p,
                Err(_) => return false,
            },
            _ = shutdown.wait_for(|stop| *stop) => return false,
        };
        let outcome = crate::runner::discover::resolve_tenant(runtime, tenant).await;
        drop(permit);
        let Err(e) = outcome else {
            continue;
        };
        failures += 1;
        let give_up = mode.once && (!e.transient || failures >= ONCE_MAX_FAILURES);
        let trouble = if give_up {
            Trouble::Error
        } else {
            Trouble::Retry
        };
        for s in slots.iter_mut() {
            pipeline
                .trouble(&tenant.id, s.log_type.name(), trouble, &e.message)
                .await;
            s.progress.error = Some(e.message.clone());
            s.done |= give_up;
        }
        if give_up {
            tracing::error!(error = %e.message, "tenant stopped: region discovery failed");
            return false;
        }
        let wait = backoff(failures);
        tracing::error!(error = %e.message, retry_in_ms = wait.as_millis() as u64,
            "region discovery failed; this tenant tries again, the others go on");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|stop| *stop) => return false,
        }
    }
    true
}

/// A configured instance for `tenant`, run by its own `component` build if it has one (loaded
/// again from the file if it could not be loaded before, so fixing the file recovers).
async fn start_instance(
    runtime: &Runtime,
    tenant: &Tenant,
    session: &SessionCache,
) -> Result<Instance, String> {
    if let Some(path) = &tenant.component {
        runtime.load_extra(path).map_err(|e| {
            format!(
                "tenant {}: its component cannot be loaded: {e:#}; fix the file or the \
                 tenant's component key (a running mcsource tries the file again every {} min)",
                tenant.id,
                BACKOFF_CAP.as_secs() / 60
            )
        })?;
    }
    let mut inst = runtime
        .instantiate(tenant, session)
        .await
        .map_err(|e| format!("{e:#}"))?;
    match inst.configure(&runtime::source_config(tenant)).await {
        Ok(Ok(())) => Ok(inst),
        Ok(Err(e)) => Err(runtime::describe(&e)),
        Err(trap) => Err(trap.to_string()),
    }
}

/// What the tenant loop does after a poll.
enum Then {
    /// Keep the instance and go on.
    Continue,
    /// Drop the instance: it trapped and its state cannot be trusted.
    Discard,
    /// Rate limited: no call to this tenant before the instant.
    PauseTenant(Instant),
}

/// A poll's outcome: what the tenant loop does next, and the batch to deliver, if any.
struct Polled {
    then: Then,
    delivery: Option<Handover>,
}

/// A batch the component returned, checked, for the delivery task.
struct Handover {
    events: Vec<String>,
    checkpoint: String,
    cursor: Option<i64>,
}

impl From<Then> for Polled {
    fn from(then: Then) -> Polled {
        Polled {
            then,
            delivery: None,
        }
    }
}

/// Polls one slot once and says what the tenant loop should do next. A batch is checked and
/// handed back for delivery; the slot then waits for it ([`delivered`]).
async fn poll_slot(
    mut inst: Instance,
    slot: &mut Slot,
    tenant: &Tenant,
    pipeline: &Delivery,
    mode: RunMode,
) -> (Instance, Polled) {
    let log_type = slot.log_type.name();
    let read = match slot.committed.take() {
        Some(committed) => Ok(Some(committed)),
        None => pipeline.checkpoint(&tenant.id, log_type).await,
    };
    let checkpoint = match read {
        Ok(cp) => cp,
        Err(e) => {
            // The state store is unreachable (a PostgreSQL restart, say): retried with backoff
            // like any transient failure, not parked until the setup is fixed.
            slot.failures += 1;
            let message = format!("cannot read the checkpoint: {e}");
            let wait = backoff(slot.failures);
            tracing::warn!(log_type, error = %message, retry_in_ms = wait.as_millis() as u64, "state store failed; retrying");
            pipeline
                .trouble(&tenant.id, log_type, Trouble::Retry, &message)
                .await;
            slot.due = after(wait);
            if mode.once && slot.failures >= ONCE_MAX_FAILURES {
                fail(slot, message, mode);
            }
            return (inst, Then::Continue.into());
        }
    };
    let outcome = inst.poll(slot.log_type, checkpoint.as_deref()).await;
    // Still the committed one, whatever the poll returned: a retry starts from it.
    slot.committed = checkpoint;
    let batch = match outcome {
        Err(broken) => {
            tracing::error!(log_type, error = %broken, "poll stopped by the sandbox");
            let then = sandbox_break(slot, &tenant.id, pipeline, mode, broken.to_string()).await;
            return (inst, then.into());
        }
        Ok(Err(PollError::RateLimited(limit))) => {
            slot.rate_limits += 1;
            pipeline
                .trouble(&tenant.id, log_type, Trouble::RateLimitWait, &limit.message)
                .await;
            let wait = rate_limit_pause(limit.after_ms, slot.rate_limits);
            tracing::warn!(log_type, wait_ms = wait.as_millis() as u64, message = %limit.message, "rate limited; waiting");
            let until = after(wait);
            pipeline
                .pause_tenant(&tenant.id, std::time::SystemTime::now() + wait)
                .await;
            slot.due = until;
            if mode.once && slot.rate_limits > ONCE_MAX_RATE_LIMITS {
                fail(
                    slot,
                    format!("still rate limited after {ONCE_MAX_RATE_LIMITS} waits"),
                    mode,
                );
            }
            return (inst, Then::PauseTenant(until).into());
        }
        Ok(Err(e @ PollError::Transient(_))) => {
            slot.failures += 1;
            pipeline
                .trouble(&tenant.id, log_type, Trouble::Retry, &runtime::describe(&e))
                .await;
            let wait = backoff(slot.failures);
            tracing::warn!(log_type, error = %runtime::describe(&e), retry_in_ms = wait.as_millis() as u64, "poll failed; retrying");
            slot.due = after(wait);
            if mode.once && slot.failures >= ONCE_MAX_FAILURES {
                fail(
                    slot,
                    format!(
                        "{} (gave up after {} attempts)",
                        runtime::describe(&e),
                        slot.failures
                    ),
                    mode,
                );
            }
            return (inst, Then::Continue.into());
        }
        Ok(Err(e)) => {
            let message = runtime::describe(&e);
            pipeline
                .trouble(&tenant.id, log_type, Trouble::Error, &message)
                .await;
            fail(slot, message, mode);
            return (inst, Then::Continue.into());
        }
        Ok(Ok(batch)) => batch,
    };
    if let Err(problem) = batch_check::check_batch(
        &batch.events,
        &batch.checkpoint,
        batch_check::Expected {
            tenant: &tenant.id,
            log_type: slot.log_type,
            shape: tenant.schema,
        },
    ) {
        let message = format!("tenant {}: the component returned a malformed batch ({problem}); nothing of it was delivered", tenant.id);
        tracing::error!(log_type, error = %message, "batch refused");
        let then = sandbox_break(slot, &tenant.id, pipeline, mode, message).await;
        return (inst, then.into());
    }
    slot.delivering = Some(InFlight {
        events: batch.events.len(),
        next_poll: batch.next_poll,
        checkpoint: batch.checkpoint.clone(),
    });
    let delivery = Handover {
        events: batch.events,
        checkpoint: batch.checkpoint,
        cursor: batch.cursor,
    };
    (
        inst,
        Polled {
            then: Then::Continue,
            delivery: Some(delivery),
        },
    )
}

/// Waits until `shutdown` turns true (or its sender is gone). The guard `wait_for` returns is
/// dropped here, so it is never held across the tenant loop's later awaits.
async fn stop_asked(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Waits until `due`, or forever without one.
async fn sleep_until_some(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// A delivery finished: the slot is scheduled again (its batch committed) or retried (nothing
/// committed). Returns true when the run must stop (the sink is unusable). No poll of the tenant
/// is scheduled before `paused_until`.
async fn delivered(
    joined: Result<(usize, Result<(), DeliveryError>), tokio::task::JoinError>,
    slots: &mut [Slot],
    tenant: &Tenant,
    pipeline: &Delivery,
    mode: RunMode,
    paused_until: Instant,
) -> bool {
    let (index, outcome) = match joined {
        Ok(answer) => answer,
        Err(e) => {
            // Cannot happen short of a panic in the delivery handle; nothing is known of the
            // batch, so the run stops rather than guess.
            tracing::error!(error = %e, "a delivery task failed; the run stops");
            for s in slots.iter_mut() {
                s.delivering = None;
                s.done = true;
            }
            return true;
        }
    };
    let Some(slot) = slots.get_mut(index) else {
        return false;
    };
    let Some(InFlight {
        events,
        next_poll,
        checkpoint,
    }) = slot.delivering.take()
    else {
        return false;
    };
    let log_type = slot.log_type.name();
    if let Err(e) = outcome {
        // The store is the authority again: the next poll reads the checkpoint back.
        slot.committed = None;
        if matches!(e, DeliveryError::ReaderGone) {
            // `mcsource … | head`: the reader left, so nothing more can be delivered; the
            // command says so once when it stops. The checkpoint did not move.
            tracing::debug!(log_type, error = %e, "batch not delivered: stdout closed by its reader");
            slot.done = true;
            return true;
        }
        if e.is_fatal() {
            let message = e.to_string();
            tracing::error!(log_type, error = %message, "batch not delivered; the run stops");
            slot.progress.error = Some(message);
            slot.done = true;
            return true;
        }
        slot.failures += 1;
        let message = crate::error_chain::one_line(&e);
        tracing::error!(log_type, error = %message, "batch not delivered; checkpoint not moved");
        pipeline
            .trouble(&tenant.id, log_type, Trouble::Retry, &message)
            .await;
        slot.due = after(backoff(slot.failures)).max(paused_until);
        if mode.once && slot.failures >= ONCE_MAX_FAILURES {
            fail(slot, message, mode);
        }
        return false;
    }
    slot.committed = Some(checkpoint);
    slot.progress.delivered += events as u64;
    slot.progress.polls += 1;
    slot.progress.error = None;
    slot.failures = 0;
    slot.rate_limits = 0;
    let caught_up = matches!(next_poll, NextPoll::Interval);
    slot.due = match next_poll {
        NextPoll::Now => Instant::now(),
        NextPoll::AfterMs(ms) => after(jitter(Duration::from_millis(ms))),
        NextPoll::Interval if mode.once => {
            slot.done = true;
            Instant::now()
        }
        NextPoll::Interval => after(jitter(tenant.interval)),
    }
    .max(paused_until);
    // A poll that found nothing new is routine: with a thousand tenants it would be most of
    // the log at `info`.
    if events > 0 {
        tracing::info!(log_type, events, caught_up, "poll finished");
    } else {
        tracing::debug!(log_type, events, caught_up, "poll finished");
    }
    false
}

/// A broken limit, a trap or a malformed batch: the instance is dropped, the tenant gets a
/// fresh one after a backoff, and no other tenant notices. In `--once` mode it is final: the
/// same poll would break the same way again.
async fn sandbox_break(
    slot: &mut Slot,
    tenant: &str,
    pipeline: &Delivery,
    mode: RunMode,
    message: String,
) -> Then {
    pipeline
        .trouble(tenant, slot.log_type.name(), Trouble::Error, &message)
        .await;
    slot.failures += 1;
    slot.progress.error = Some(message);
    slot.due = after(backoff(slot.failures));
    slot.done |= mode.once;
    Then::Discard
}

/// Records a failure that retrying soon will not fix.
fn fail(slot: &mut Slot, message: String, mode: RunMode) {
    tracing::error!(log_type = slot.log_type.name(), error = %message, "log type stopped");
    slot.progress.error = Some(message);
    if mode.once {
        slot.done = true;
    } else {
        // Keep trying now and then, so fixing the setup on Mimecast's side recovers by itself.
        slot.due = after(BACKOFF_CAP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert!(backoff(1) >= Duration::from_secs(1) && backoff(1) <= Duration::from_millis(1100));
        assert!(backoff(3) >= Duration::from_secs(4));
        assert!(backoff(30) <= BACKOFF_CAP + BACKOFF_CAP / 10);
    }

    #[test]
    fn jitter_adds_zero_to_ten_percent() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(60));
            assert!(
                j >= Duration::from_secs(60) && j <= Duration::from_secs(66),
                "{j:?}"
            );
        }
    }

    #[test]
    fn huge_waits_saturate_instead_of_panicking() {
        assert_eq!(jitter(Duration::MAX), Duration::MAX);
        let far = after(Duration::MAX);
        assert!(far <= Instant::now() + MAX_WAIT);
        assert!(after(jitter(Duration::from_millis(u64::MAX))) > Instant::now());
    }

    #[test]
    fn no_rate_limit_pause_exceeds_an_hour_jitter_included() {
        for asked in [3_600_000, 3_600_001, u64::MAX] {
            for _ in 0..50 {
                assert!(rate_limit_pause(asked, 1) <= MAX_PAUSE);
            }
        }
        assert_eq!(MAX_PAUSE, Duration::from_secs(3600));
        let short = rate_limit_pause(1000, 1);
        assert!(short >= Duration::from_secs(1) && short <= Duration::from_millis(1100));
    }

    #[test]
    fn rate_limit_waits_honour_the_ask_and_stop_hammering() {
        assert_eq!(rate_limit_wait(0, 1), Duration::ZERO);
        assert_eq!(rate_limit_wait(1500, 1), Duration::from_millis(1500));
        assert_eq!(rate_limit_wait(0, 2), Duration::from_millis(500));
        assert_eq!(rate_limit_wait(0, 4), Duration::from_secs(2));
        assert_eq!(rate_limit_wait(0, 40), RATE_LIMIT_FLOOR_CAP);
        assert_eq!(rate_limit_wait(90_000, 40), Duration::from_secs(90));
    }
}
