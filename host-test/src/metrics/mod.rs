//! Prometheus metrics: what each tenant's log types delivered, how far behind they are, what
//! failed, and what each sink did, kept in a `prometheus-client` registry and written in the
//! OpenMetrics text format by the `/metrics` endpoint (`server`). Names follow Prometheus'
//! conventions (`mcsource_` prefix, `_total` for counters, `_seconds`, `_bytes`). Every record
//! goes through the delivery task's handle (deliveries and troubles) or a sink (requests,
//! retries), so the runner itself records nothing.

pub mod server;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::state::Trouble;

/// A tenant's log type.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LogLabels {
    /// The tenant (empty when tenant labels are off).
    pub tenant: String,
    /// `url`, `impersonation` or `attachment`.
    pub log_type: String,
}

/// A tenant's log type and a kind of failure.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The tenant (empty when tenant labels are off).
    pub tenant: String,
    /// The log type.
    pub log_type: String,
    /// `transient` (retried with backoff), `rate_limit` (waited for the reset) or `stopped`
    /// (stopped until the setup is fixed).
    pub kind: String,
}

/// A tenant.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    /// The tenant (empty when tenant labels are off).
    pub tenant: String,
}

/// A sink.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// The sink's name.
    pub sink: String,
}

/// What the runtime reports at each scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostFigures {
    /// Component instances alive.
    pub instances_live: usize,
    /// Compiled modules found in and missing from the compiled-code cache since start
    /// (`None` without a cache).
    pub compile_cache: Option<(u64, u64)>,
}

type HostSampler = Box<dyn Fn() -> HostFigures + Send + Sync>;

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// Every metric of one `mcsource run`.
pub struct Metrics {
    registry: Registry,
    tenant_labels: bool,
    events: Family<LogLabels, Counter>,
    batches: Family<LogLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    rate_limit_waits: Family<TenantLabels, Counter>,
    rate_limit_seconds: Family<TenantLabels, FloatCounter>,
    lag: Family<LogLabels, FloatGauge>,
    last_success: Family<LogLabels, FloatGauge>,
    checkpoint_bytes: Family<LogLabels, Gauge>,
    sink_batches: Family<SinkLabels, Counter>,
    sink_events: Family<SinkLabels, Counter>,
    sink_failures: Family<SinkLabels, Counter>,
    sink_retries: Family<SinkLabels, Counter>,
    sink_seconds: Family<SinkLabels, Histogram>,
    queue_depth: Gauge,
    tenants: Gauge,
    leased: Gauge,
    instances_live: Gauge,
    cache_hits: Counter,
    cache_misses: Counter,
    /// Reads the runtime's figures at each scrape, once the runtime is up.
    host: Mutex<Option<HostSampler>>,
    /// Each tenant's log types' cursors (Unix seconds, by tenant and log type, whatever the
    /// labels), for the lag written at each scrape.
    cursors: Mutex<HashMap<(String, String), i64>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Metrics {
    /// A registry with every metric; with `tenant_labels` off, the per-tenant metrics are
    /// summed over tenants (for hosts with thousands of tenants).
    pub fn new(tenant_labels: bool) -> Metrics {
        let mut registry = Registry::with_prefix("mcsource");
        let m = Metrics {
            tenant_labels,
            events: Family::default(),
            batches: Family::default(),
            errors: Family::default(),
            rate_limit_waits: Family::default(),
            rate_limit_seconds: Family::default(),
            lag: Family::default(),
            last_success: Family::default(),
            checkpoint_bytes: Family::default(),
            sink_batches: Family::default(),
            sink_events: Family::default(),
            sink_failures: Family::default(),
            sink_retries: Family::default(),
            sink_seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 4.0, 10))
            }),
            queue_depth: Gauge::default(),
            tenants: Gauge::default(),
            leased: Gauge::default(),
            instances_live: Gauge::default(),
            cache_hits: Counter::default(),
            cache_misses: Counter::default(),
            host: Mutex::new(None),
            cursors: Mutex::new(HashMap::new()),
            registry: Registry::default(),
        };
        registry.register(
            "events_delivered",
            "Events delivered and committed",
            m.events.clone(),
        );
        registry.register("batches_delivered", "Batches delivered and committed (one per poll that returned events or moved the checkpoint)", m.batches.clone());
        registry.register(
            "poll_errors",
            "Failed or throttled polls and deliveries, by kind",
            m.errors.clone(),
        );
        registry.register(
            "rate_limit_waits",
            "Waits for a Mimecast rate-limit reset",
            m.rate_limit_waits.clone(),
        );
        registry.register(
            "rate_limit_wait_seconds",
            "Time spent waiting for rate-limit resets",
            m.rate_limit_seconds.clone(),
        );
        registry.register(
            "lag_seconds",
            "Now minus the log type's cursor: how far behind delivery is",
            m.lag.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When the log type last committed a batch (Unix time)",
            m.last_success.clone(),
        );
        registry.register(
            "checkpoint_bytes",
            "Size of the log type's committed checkpoint",
            m.checkpoint_bytes.clone(),
        );
        registry.register(
            "sink_batches",
            "Deliveries a sink acknowledged (batches delivered together count once)",
            m.sink_batches.clone(),
        );
        registry.register(
            "sink_events",
            "Events a sink acknowledged",
            m.sink_events.clone(),
        );
        registry.register(
            "sink_failures",
            "Deliveries a sink did not acknowledge",
            m.sink_failures.clone(),
        );
        registry.register(
            "sink_retries",
            "Retries of a network sink's requests",
            m.sink_retries.clone(),
        );
        registry.register(
            "sink_delivery_seconds",
            "Time from handing a delivery to a sink to its acknowledgement",
            m.sink_seconds.clone(),
        );
        registry.register(
            "delivery_queue_depth",
            "Batches and other requests waiting for the delivery task",
            m.queue_depth.clone(),
        );
        registry.register("tenants", "Tenants configured", m.tenants.clone());
        registry.register(
            "tenants_leased",
            "Tenants this host holds by lease (a shared state)",
            m.leased.clone(),
        );
        registry.register(
            "instances_live",
            "Component instances alive (polling, or kept between a busy tenant's polls)",
            m.instances_live.clone(),
        );
        registry.register(
            "compile_cache_hits",
            "Compiled modules loaded from the compiled-code cache instead of compiled",
            m.cache_hits.clone(),
        );
        registry.register(
            "compile_cache_misses",
            "Compiled modules not in the compiled-code cache, so compiled (and then stored)",
            m.cache_misses.clone(),
        );
        Metrics { registry, ..m }
    }

    fn tenant(&self, tenant: &str) -> String {
        if self.tenant_labels {
            tenant.to_string()
        } else {
            String::new()
        }
    }

    fn log(&self, tenant: &str, log_type: &str) -> LogLabels {
        LogLabels {
            tenant: self.tenant(tenant),
            log_type: log_type.to_string(),
        }
    }

    /// A batch was delivered and its checkpoint committed.
    pub fn delivered(
        &self,
        tenant: &str,
        log_type: &str,
        events: usize,
        checkpoint: usize,
        cursor: Option<i64>,
    ) {
        let labels = self.log(tenant, log_type);
        self.events.get_or_create(&labels).inc_by(events as u64);
        self.batches.get_or_create(&labels).inc();
        self.last_success.get_or_create(&labels).set(unix_now());
        self.checkpoint_bytes
            .get_or_create(&labels)
            .set(i64::try_from(checkpoint).unwrap_or(i64::MAX));
        if let Some(cursor) = cursor {
            if let Ok(mut cursors) = self.cursors.lock() {
                cursors.insert((tenant.to_string(), log_type.to_string()), cursor);
            }
        }
    }

    /// A poll or delivery failed, or waited for a rate-limit reset.
    pub fn trouble(&self, tenant: &str, log_type: &str, trouble: Trouble) {
        let kind = match trouble {
            Trouble::Retry => "transient",
            Trouble::RateLimitWait => "rate_limit",
            Trouble::Error => "stopped",
        };
        self.errors
            .get_or_create(&ErrorLabels {
                tenant: self.tenant(tenant),
                log_type: log_type.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// A tenant waits `wait` for a rate-limit reset.
    pub fn rate_limited(&self, tenant: &str, wait: Duration) {
        let labels = TenantLabels {
            tenant: self.tenant(tenant),
        };
        self.rate_limit_waits.get_or_create(&labels).inc();
        self.rate_limit_seconds
            .get_or_create(&labels)
            .inc_by(wait.as_secs_f64());
    }

    /// A sink acknowledged `events` events (`ok`) or failed, after `took`.
    pub fn sink_delivery(&self, sink: &str, events: usize, ok: bool, took: Duration) {
        let labels = SinkLabels {
            sink: sink.to_string(),
        };
        if ok {
            self.sink_batches.get_or_create(&labels).inc();
            self.sink_events
                .get_or_create(&labels)
                .inc_by(events as u64);
        } else {
            self.sink_failures.get_or_create(&labels).inc();
        }
        self.sink_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A network sink retries a request.
    pub fn sink_retry(&self, sink: &str) {
        self.sink_retries
            .get_or_create(&SinkLabels {
                sink: sink.to_string(),
            })
            .inc();
    }

    /// Requests waiting for the delivery task.
    pub fn set_queue_depth(&self, depth: usize) {
        self.queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// Tenants this host holds by lease.
    pub fn set_leased(&self, n: usize) {
        self.leased.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Tenants configured.
    pub fn set_tenants(&self, n: usize) {
        self.tenants.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Reads the runtime's figures with `sample` at every scrape from now on.
    pub fn sample_host(&self, sample: impl Fn() -> HostFigures + Send + Sync + 'static) {
        if let Ok(mut host) = self.host.lock() {
            *host = Some(Box::new(sample));
        }
    }

    /// Sets the runtime's figures: the gauge, and the cache counters moved up to the totals.
    fn record_host(&self, figures: HostFigures) {
        self.instances_live
            .set(i64::try_from(figures.instances_live).unwrap_or(i64::MAX));
        if let Some((hits, misses)) = figures.compile_cache {
            for (counter, total) in [(&self.cache_hits, hits), (&self.cache_misses, misses)] {
                counter.inc_by(total.saturating_sub(counter.get()));
            }
        }
    }

    /// The registry in the OpenMetrics text format, with every lag and the runtime's figures
    /// taken now.
    ///
    /// # Errors
    /// Formatting failed (it does not, writing to a `String`).
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let figures = self.host.lock().ok().and_then(|h| h.as_ref().map(|f| f()));
        if let Some(figures) = figures {
            self.record_host(figures);
        }
        let now = unix_now();
        if let Ok(cursors) = self.cursors.lock() {
            // Without tenant labels, the tenant furthest behind gives the lag.
            let mut oldest: HashMap<LogLabels, i64> = HashMap::new();
            for ((tenant, log_type), cursor) in cursors.iter() {
                let slot = oldest.entry(self.log(tenant, log_type)).or_insert(*cursor);
                *slot = (*slot).min(*cursor);
            }
            for (labels, cursor) in oldest {
                self.lag
                    .get_or_create(&labels)
                    .set((now - cursor as f64).max(0.0));
            }
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_and_troubles_are_counted_with_their_labels() {
        let m = Metrics::new(true);
        let cursor = unix_now() as i64 - 120;
        m.delivered("acme", "url", 100, 512, Some(cursor));
        m.delivered("acme", "url", 50, 600, Some(cursor));
        m.trouble("acme", "url", Trouble::Retry);
        m.rate_limited("acme", Duration::from_secs(30));
        m.sink_delivery("es", 150, true, Duration::from_millis(20));
        m.sink_retry("es");
        let text = m.encode().unwrap();
        for line in [
            "mcsource_events_delivered_total{tenant=\"acme\",log_type=\"url\"} 150",
            "mcsource_batches_delivered_total{tenant=\"acme\",log_type=\"url\"} 2",
            "mcsource_poll_errors_total{tenant=\"acme\",log_type=\"url\",kind=\"transient\"} 1",
            "mcsource_rate_limit_wait_seconds_total{tenant=\"acme\"} 30.0",
            "mcsource_checkpoint_bytes{tenant=\"acme\",log_type=\"url\"} 600",
            "mcsource_sink_events_total{sink=\"es\"} 150",
            "mcsource_sink_retries_total{sink=\"es\"} 1",
            "# EOF",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        let lag = text
            .lines()
            .find(|l| l.starts_with("mcsource_lag_seconds{"))
            .unwrap();
        let value: f64 = lag.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((119.0..200.0).contains(&value), "{lag}");
    }

    #[test]
    fn the_runtime_figures_are_read_at_each_scrape() {
        let m = Metrics::new(true);
        let figures = std::sync::Arc::new(Mutex::new(HostFigures {
            instances_live: 3,
            compile_cache: Some((5, 1)),
        }));
        let read = figures.clone();
        m.sample_host(move || *read.lock().unwrap());
        let text = m.encode().unwrap();
        for line in [
            "mcsource_instances_live 3",
            "mcsource_compile_cache_hits_total 5",
            "mcsource_compile_cache_misses_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        *figures.lock().unwrap() = HostFigures {
            instances_live: 0,
            compile_cache: Some((9, 1)),
        };
        let text = m.encode().unwrap();
        assert!(text.lines().any(|l| l == "mcsource_instances_live 0"));
        assert!(text
            .lines()
            .any(|l| l == "mcsource_compile_cache_hits_total 9"));
        assert!(text
            .lines()
            .any(|l| l == "mcsource_compile_cache_misses_total 1"));
    }

    #[test]
    fn without_tenant_labels_tenants_are_summed() {
        let m = Metrics::new(false);
        let now = unix_now() as i64;
        m.delivered("a", "url", 1, 1, Some(now - 1000));
        m.delivered("a", "url", 1, 1, Some(now - 10));
        m.delivered("b", "url", 1, 1, Some(now - 20));
        let text = m.encode().unwrap();
        assert!(
            text.contains("mcsource_events_delivered_total{tenant=\"\",log_type=\"url\"} 3"),
            "{text}"
        );
        // The lag follows each tenant's latest cursor: b's, 20 s back, not a's first one.
        let lag = text
            .lines()
            .find(|l| l.starts_with("mcsource_lag_seconds{"))
            .unwrap();
        let value: f64 = lag.rsplit(' ').next().unwrap().parse().unwrap();
        assert!((19.0..60.0).contains(&value), "{lag}");
    }
}
