//! `mcsource run`: collect from the configured tenants into the sink, until stopped or, with
//! `--once`, until every log type is caught up; and the collecting loop `demo` shares.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context as _};

use mimecast_host::config::{MetricsSpec, StateSpec, Tenant};
use mimecast_host::delivery::build::open_sinks;
use mimecast_host::delivery::network::NetContext;
use mimecast_host::delivery::pipeline::{OpenPolicy, Pipeline, ACCEPT_STATE_LOSS_FLAG};
use mimecast_host::delivery::sink::Sink;
use mimecast_host::delivery::{Coalesce, Delivery};
use mimecast_host::metrics::server::{self, Readiness};
use mimecast_host::metrics::{HostFigures, Metrics};
use mimecast_host::runner::leases::keep_leases;
use mimecast_host::runner::{self, RunMode, Summary};
use mimecast_host::runtime::{Runtime, RuntimeOptions};
use mimecast_host::state::postgres::Hold;
use mimecast_host::state::{SqliteStore, StateError, StateStore};

use crate::console::Console;
use crate::setup::{
    connect_postgres, env_cache_dir, load_components, load_config, load_runtime, log_proxy,
};
use crate::signals::{reload_on_sighup, shutdown_on_signal};

/// `mcsource run [--once]`: collects from the tenants of the config at `config_path`.
pub(crate) async fn run(
    console: Console,
    config_path: &Path,
    once: bool,
    component: Option<&Path>,
    accept_state_loss: bool,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    // Held until this function returns: a second `run` on the same state would deliver twice.
    let state_lock = mimecast_host::state::lock_state_dir(&config.state_dir)?;
    // With a shared state: the store's handle and the lease time, for the lease keeper.
    let mut shared = None;
    let store: Box<dyn StateStore> = match &config.state {
        StateSpec::Sqlite => {
            // Opened first, so a state_dir with a lock file but no database was not left so
            // by a run that stopped before opening it.
            let (store, accepted) = SqliteStore::open_for_run(
                &config.state_dir,
                state_lock.used_before(),
                accept_state_loss,
            )
            .map_err(|e| state_refusal(&e, &config.state_dir))?;
            state_lock.record_database().with_context(|| {
                format!(
                    "cannot write the lock file in {}",
                    config.state_dir.display()
                )
            })?;
            if let Some(why) = accepted {
                tracing::warn!(state_dir = %config.state_dir.display(), "{why}; going on with a new state ({ACCEPT_STATE_LOSS_FLAG})");
            }
            Box::new(store)
        }
        StateSpec::Postgres {
            url,
            lease_ttl: None,
        } => Box::new(
            connect_postgres(url, &config.extra_roots, Hold::Exclusive)
                .context("cannot use the PostgreSQL state ([state] url)")?,
        ),
        StateSpec::Postgres {
            url,
            lease_ttl: Some(ttl),
        } => {
            if once {
                bail!(
                    "run --once is for one host; with [state] shared = true, run continuously: \
                     each host collects the tenants it leases"
                );
            }
            let me = host_id();
            let store = connect_postgres(url, &config.extra_roots, Hold::Shared(me.clone()))
                .context("cannot use the PostgreSQL state ([state] url)")?;
            tracing::info!(host = %me, lease_ttl = %humantime::format_duration(*ttl), "sharing the tenants with the other hosts of this state by leases");
            shared = Some((store.clone(), *ttl));
            Box::new(store)
        }
    };
    let cache = env_cache_dir().unwrap_or_else(|| config.state_dir.join("compiled"));
    let options = RuntimeOptions {
        cache_dir: Some(cache),
        max_instances: config.max_concurrent_polls + 4,
        proxy: config.proxy.clone(),
        extra_roots: config.extra_roots.clone(),
    };
    log_proxy(&config.proxy);
    let runtime = load_runtime(component, &options)?;
    let max_concurrent_polls = config.max_concurrent_polls;
    load_components(&runtime, &config.tenants);
    let stop = shutdown_on_signal();
    let observed = match config.metrics {
        Some(spec) => Some(Observed::listen(spec, config.tenants.len()).await?),
        None => None,
    };
    if let Some(o) = &observed {
        let runtime = runtime.clone();
        o.metrics.sample_host(move || HostFigures {
            instances_live: runtime.instances_live(),
            compile_cache: runtime.compile_cache(),
        });
    }
    let (done, leases_done) = tokio::sync::watch::channel(false);
    let (reload, first_tenants, keeper) = match shared {
        // The runner starts with no tenant; the lease keeper hands it those this host holds.
        Some((store, ttl)) => {
            let (owned, leased) = tokio::sync::mpsc::channel(4);
            let keeper = tokio::spawn(keep_leases(
                store,
                config.tenants.clone(),
                ttl,
                owned,
                (stop.clone(), leases_done),
                observed
                    .as_ref()
                    .map(|o| (o.metrics.clone(), o.readiness.clone())),
            ));
            (Some(leased), Vec::new(), Some(keeper))
        }
        None => {
            if let Some(o) = &observed {
                o.readiness.set(true);
            }
            (
                (!once).then(|| reload_on_sighup(config_path.to_path_buf(), runtime.clone())),
                config.tenants.clone(),
                None,
            )
        }
    };
    let net = NetContext {
        runtime: tokio::runtime::Handle::current(),
        stop: stop.clone(),
        proxy: config.proxy.clone(),
        metrics: observed.as_ref().map(|o| o.metrics.clone()),
    };
    let sink = open_sinks(&config.sinks, &net)?;
    let coalesce = Coalesce {
        linger: mimecast_host::config::sinks::linger(&config.sinks),
        ..Coalesce::default()
    };
    let mode = RunMode {
        once,
        max_concurrent_polls,
        overlap_deliveries: true,
    };
    let policy = OpenPolicy {
        tenants: config.tenants.iter().map(|t| t.id.clone()).collect(),
        accept_state_loss,
    };
    let collected = collect(
        runtime,
        first_tenants,
        (sink, store, coalesce, observed),
        &policy,
        mode,
        (stop, reload),
    )
    .await;
    // The run is over: give the leases back (after the last commit).
    let _ = done.send(true);
    if let Some(keeper) = keeper {
        let _ = keeper.await;
    }
    let collected = collected?;
    let code = report(console, &collected.summary, once)?;
    if collected.reader_gone {
        bail!(
            "stdout was closed by the process reading it; the events not delivered are fetched \
             again on the next start (their checkpoints did not move)"
        );
    }
    Ok(code)
}

/// This process's id among the hosts sharing a state: the machine's name, the pid and a random
/// part (a restarted host is a new one).
fn host_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    format!(
        "{name}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// The error that stops `run` when the state cannot be used: a damaged or lost state says
/// how to go on.
fn state_refusal(e: &StateError, state_dir: &Path) -> anyhow::Error {
    match e {
        StateError::Damaged(why) => anyhow::anyhow!(
            "{why}. Starting afresh would deliver everything in the look-back again. Restore \
             state_dir from a backup, or run again with {ACCEPT_STATE_LOSS_FLAG} to start with a \
             new state (a damaged database is kept aside; events already in the file sink are \
             kept, and collected again with the same event ids)"
        ),
        other => anyhow::anyhow!("cannot use state_dir {}: {other:#}", state_dir.display()),
    }
}

/// Runs `tenants` into the sink and store until `mode` says stop, then waits for the last
/// batch to be committed.
pub(crate) async fn collect(
    runtime: Arc<Runtime>,
    tenants: Vec<Tenant>,
    (sink, store, coalesce, observed): (
        Box<dyn Sink>,
        Box<dyn StateStore>,
        Coalesce,
        Option<Observed>,
    ),
    policy: &OpenPolicy,
    mode: RunMode,
    (stop, reload): (
        tokio::sync::watch::Receiver<bool>,
        Option<tokio::sync::mpsc::Receiver<Vec<Tenant>>>,
    ),
) -> anyhow::Result<Collected> {
    let (pipeline, recovery) = Pipeline::open_with(sink, store, policy)?;
    if let Some(why) = &recovery.accepted {
        tracing::warn!("{why}; keeping the sink file as it is ({ACCEPT_STATE_LOSS_FLAG})");
    }
    if recovery.cut_bytes > 0 {
        tracing::warn!(
            bytes = recovery.cut_bytes,
            "cut uncommitted events from the end of the sink file; they will be fetched again"
        );
    }
    if recovery.sink_shrank {
        tracing::warn!(
            "the sink file is shorter than recorded (rotated or truncated?); appending at its end"
        );
    }
    let (mut delivery, delivery_thread) =
        Delivery::start_with(pipeline, coalesce).context("cannot start the delivery task")?;
    if let Some(observed) = observed {
        delivery = delivery.with_metrics(observed.metrics.clone());
        observed.serve(&delivery, stop.clone());
    }
    let summary = runner::run(runtime, tenants, delivery.clone(), mode, stop, reload).await;
    let sink = delivery.sink_state().await;
    drop(delivery);
    // Every batch handed over has been delivered and committed once the thread ends.
    if delivery_thread.finish().await.is_err() {
        bail!("stopped: the delivery task failed; the last batch may not have been committed");
    }
    if let Some(why) = sink.unusable {
        bail!("stopped: the sink is unusable: {why}");
    }
    Ok(Collected {
        summary,
        reader_gone: sink.reader_gone,
    })
}

/// The metrics of a run and where they are served.
pub(crate) struct Observed {
    metrics: Arc<Metrics>,
    listener: tokio::net::TcpListener,
    /// Ready from the start, or, with a shared state, while the lease keeper takes part.
    readiness: Arc<Readiness>,
}

impl Observed {
    /// Binds `spec.listen` for the metrics and health endpoints.
    async fn listen(spec: MetricsSpec, tenants: usize) -> anyhow::Result<Observed> {
        let listener = tokio::net::TcpListener::bind(spec.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on metrics_listen {} (another process on the port?)",
                    spec.listen
                )
            })?;
        let metrics = Arc::new(Metrics::new(spec.tenant_labels));
        metrics.set_tenants(tenants);
        Ok(Observed {
            metrics,
            listener,
            readiness: Arc::new(Readiness::default()),
        })
    }

    /// Serves the endpoints; ready from now until `stop`.
    fn serve(self, delivery: &Delivery, mut stop: tokio::sync::watch::Receiver<bool>) {
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "metrics and health endpoints listening (/metrics, /healthz, /readyz)");
        }
        let readiness = self.readiness;
        let not_ready = readiness.clone();
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            not_ready.set(false);
        });
        // Not a handle: one held by the endpoint would keep the delivery task, and so the
        // run, from ever finishing after SIGTERM.
        server::spawn(
            self.listener,
            self.metrics,
            readiness,
            Arc::new(delivery.queue_depth_reader()),
        );
    }
}

/// What a collecting run ended with.
pub(crate) struct Collected {
    /// Per tenant and log type: what was delivered, what failed.
    pub(crate) summary: Summary,
    /// The process reading the sink (stdout) went away, which stopped the run.
    pub(crate) reader_gone: bool,
}

/// Says per tenant and log type what was delivered or what failed; in `--once` mode a failed
/// log type fails the command.
pub(crate) fn report(console: Console, summary: &Summary, once: bool) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for ((tenant, log_type), p) in summary {
        match &p.error {
            None => console.say(&format!(
                "{tenant}/{log_type}: {} events delivered",
                p.delivered
            )),
            Some(e) => {
                failed += 1;
                console.say(&format!(
                    "{tenant}/{log_type}: FAILED after {} events: {e}",
                    p.delivered
                ));
            }
        }
    }
    if let Some(kib) = peak_rss_kib() {
        tracing::info!(peak_rss_kib = kib, "resource use");
    }
    if once && failed > 0 {
        bail!("{failed} log type(s) failed; see the messages above");
    }
    Ok(ExitCode::SUCCESS)
}

/// Peak resident memory of this process in KiB (Linux `VmHWM`), if the system tells.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
