//! Sections 10 and 11: what the sinks deliver per second on loopback, and what memory does
//! while a sink is down and a hundred tenants keep collecting.
//!
//! Section 10 hands batches of 500 raw events straight to each sink (the delivery thread's
//! call, `Sink::deliver`, on a blocking thread) and times until every batch was acknowledged
//! as that sink counts it: the protocol mocks run in this process on the same 2 cores, the
//! syslog daemons are the real rsyslog and syslog-ng. Section 11 runs the real runner for
//! N tenants into an HTTP sink whose receiver is stopped, samples this process's `VmRSS`
//! every second, then starts the receiver again and times the catch-up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use mimecast_host::config::sinks::{self, SinkContext, SinkEntries};
use mimecast_host::delivery::build::open_sinks;
use mimecast_host::delivery::network::NetContext;
use mimecast_host::delivery::pipeline::Pipeline;
use mimecast_host::delivery::sink::Batch;
use mimecast_host::delivery::Delivery;
use mimecast_host::net::ProxySetting;
use mimecast_host::runner::{self, RunMode};
use mimecast_host::runtime::Runtime;
use mimecast_host::state::SqliteStore;
use mimecast_mock::{
    AckMode, Credential, Dataset, ElasticsearchReceiver, EsConfig, HecConfig, HecToken,
    HttpIngestConfig, HttpIngestReceiver, LogType, MockConfig, MockServer, OtlpConfig,
    OtlpLogsReceiver, SplunkHecReceiver,
};
use mimecast_receivers::{Daemon, Receiver, ReceiverOptions, TestCa};
use tokio::sync::watch;

use crate::{rate, Sizes};

/// Events per batch handed to a sink.
const BATCH: usize = 500;

/// `n` raw events of the three log types, as the component writes them.
fn events(n: usize) -> Vec<String> {
    let now = Utc::now();
    let per_type = n.div_ceil(3);
    let mut out = Vec::with_capacity(n);
    for (k, t) in LogType::ALL.into_iter().enumerate() {
        let records = mimecast_mock::generate_records(
            t,
            0x5151 + k as u64,
            now - TimeDelta::hours(2),
            now,
            per_type,
        );
        for (i, r) in records.into_iter().enumerate() {
            out.push(format!(
                r#"{{"log_type":"{}","tenant":"bench","event_time":"{}","event_id":"{k}-{i:08}","record":{r}}}"#,
                t.as_str(),
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
    }
    out.truncate(n);
    out
}

/// The sinks of `text` (`[[sink]]` tables), validated as `mcsource` does.
fn specs(text: &str, dir: &std::path::Path) -> anyhow::Result<Vec<sinks::SinkSpec>> {
    #[derive(serde::Deserialize)]
    struct Only {
        sink: SinkEntries,
    }
    let entries = toml::from_str::<Only>(text)?.sink;
    let mut problems = Vec::new();
    let cx = SinkContext {
        base_dir: dir,
        state_dir: dir,
        extra_roots: &[],
    };
    let specs = sinks::validate(entries, &cx, &mut problems);
    anyhow::ensure!(problems.is_empty(), "bench sink config: {problems:?}");
    Ok(specs)
}

fn net_context(stop: &watch::Receiver<bool>) -> NetContext {
    NetContext {
        runtime: tokio::runtime::Handle::current(),
        stop: stop.clone(),
        proxy: ProxySetting::Direct,
        metrics: None,
    }
}

/// Delivers `events` in batches to the sink of `text`; events/s.
async fn throughput(
    text: &str,
    events: &Arc<Vec<String>>,
    dir: &std::path::Path,
) -> anyhow::Result<f64> {
    let (_stop_tx, stop) = watch::channel(false);
    let mut sink = open_sinks(&specs(text, dir)?, &net_context(&stop))?;
    let batches = Arc::clone(events);
    let started = Instant::now();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for chunk in batches.chunks(BATCH) {
            let log_type = if chunk[0].contains("\"log_type\":\"url\"") {
                "url"
            } else {
                "impersonation"
            };
            sink.deliver(Batch {
                tenant: "bench",
                log_type,
                events: chunk,
            })?;
        }
        Ok(())
    })
    .await??;
    Ok(events.len() as f64 / started.elapsed().as_secs_f64())
}

/// Section 10's rows.
pub(crate) async fn throughput_rows(sizes: &Sizes) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::tempdir()?;
    let events = Arc::new(events(sizes.sink_events));
    let bytes: usize = events.iter().map(|e| e.len() + 1).sum();
    let mut rows = Vec::new();
    let per_event = bytes as f64 / events.len().max(1) as f64;
    let line = |name: &str, what: &str, eps: f64| {
        format!(
            "| {name} | {what} | {} | {:.1} MiB/s |",
            rate(eps),
            eps * per_event / (1024.0 * 1024.0)
        )
    };
    let file = format!(
        "[[sink]]\ntype = \"file\"\npath = {:?}\n",
        dir.path().join("events.ndjson")
    );
    rows.push(line(
        "file",
        "NDJSON appended, fsync per batch",
        throughput(&file, &events, dir.path()).await?,
    ));
    let http = HttpIngestReceiver::start(HttpIngestConfig::default()).await?;
    let text = format!("[[sink]]\ntype = \"http\"\nurl = \"{}/\"\n", http.url());
    rows.push(line(
        "http",
        "NDJSON POST, 2 in flight",
        throughput(&text, &events, dir.path()).await?,
    ));
    let text = format!(
        "[[sink]]\ntype = \"http\"\nurl = \"{}/\"\ngzip = true\n",
        http.url()
    );
    rows.push(line(
        "http, gzip",
        "NDJSON POST, gzip",
        throughput(&text, &events, dir.path()).await?,
    ));
    let es = ElasticsearchReceiver::start(EsConfig::default()).await?;
    let text = format!(
        "[[sink]]\ntype = \"elasticsearch\"\nurl = \"{}\"\n",
        es.url()
    );
    rows.push(line(
        "elasticsearch",
        "`_bulk` create, items read",
        throughput(&text, &events, dir.path()).await?,
    ));
    let hec = SplunkHecReceiver::start(HecConfig::new(HecToken::new("bench").with_ack())).await?;
    hec.set_ack_mode(AckMode::Immediate);
    let text = format!(
        "[[sink]]\ntype = \"splunk_hec\"\nurl = \"{}\"\ntoken = \"bench\"\nack = true\n",
        hec.url()
    );
    rows.push(line(
        "splunk_hec, ack",
        "events, then `/ack` polled",
        throughput(&text, &events, dir.path()).await?,
    ));
    let otlp = OtlpLogsReceiver::start(OtlpConfig::default()).await?;
    let text = format!(
        "[[sink]]\ntype = \"otlp\"\nurl = \"{}/v1/logs\"\n",
        otlp.url()
    );
    rows.push(line(
        "otlp",
        "protobuf, decoded by the mock",
        throughput(&text, &events, dir.path()).await?,
    ));
    let ca = TestCa::new()?;
    for daemon in [Daemon::Rsyslog, Daemon::SyslogNg] {
        let rx = match Receiver::start(daemon, &ca, ReceiverOptions::default()) {
            Ok(rx) => rx,
            Err(e) => {
                rows.push(format!("| syslog → {daemon} | not run: {e} | - | - |"));
                continue;
            }
        };
        let text = format!(
            "[[sink]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{}\"\n",
            rx.tcp_port()
        );
        rows.push(line(
            &format!("syslog tcp → {daemon}"),
            "octet counting, real daemon",
            throughput(&text, &events, dir.path()).await?,
        ));
        let text = format!(
            "[[sink]]\ntype = \"syslog\"\naddress = \"localhost:{}\"\ntransport = \"tls\"\ntls = {{ ca_file = {:?} }}\n",
            rx.tls_port(),
            ca.ca_pem()
        );
        rows.push(line(
            &format!("syslog tls → {daemon}"),
            "octet counting, real daemon",
            throughput(&text, &events, dir.path()).await?,
        ));
    }
    Ok(rows)
}

/// This process's resident memory, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Section 11's row: `sizes.outage_tenants` tenants collect into an HTTP sink whose receiver
/// is down for `sizes.sink_outage`.
pub(crate) async fn outage_rows(
    sizes: &Sizes,
    runtime: Arc<Runtime>,
) -> anyhow::Result<Vec<String>> {
    let now = Utc::now();
    let end = now - TimeDelta::minutes(2);
    let mut config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            0x6f75_7461,
            end - TimeDelta::hours(2),
            end,
            sizes.outage_records_per_type,
        ),
    );
    config.max_skew = Duration::from_secs(3600);
    let server = MockServer::start(config).await?;
    let rx = HttpIngestReceiver::start(HttpIngestConfig::default()).await?;
    rx.stop().await;
    let dir = tempfile::tempdir()?;
    let (stop_tx, stop) = watch::channel(false);
    let text = format!(
        "[[sink]]\ntype = \"http\"\nurl = \"{}/\"\nretry = {{ initial = \"1s\", max = \"5s\" }}\n",
        rx.url()
    );
    let sink = open_sinks(&specs(&text, dir.path())?, &net_context(&stop))?;
    let store = SqliteStore::open(dir.path())?;
    let (pipeline, _) = Pipeline::open(sink, Box::new(store)).map_err(anyhow::Error::msg)?;
    let (delivery, thread) = Delivery::start(pipeline)?;
    // First polls are spread over the interval; a short one starts every tenant soon.
    let mut tenants = crate::e2e_tenants(&server, sizes.outage_tenants)?;
    for t in &mut tenants {
        t.interval = Duration::from_secs(5);
    }
    let expected = sizes.outage_tenants * 3 * sizes.outage_records_per_type;
    let before = rss_kib();
    let watch_outage = async {
        let started = Instant::now();
        let mut peak = before;
        while started.elapsed() < sizes.sink_outage {
            tokio::time::sleep(Duration::from_secs(1)).await;
            peak = peak.max(rss_kib());
        }
        let at_end = rss_kib();
        let pages_during = server.ledger().requests().len();
        rx.restart().await?;
        let back = Instant::now();
        while rx.line_count() < expected && back.elapsed() < Duration::from_secs(600) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            peak = peak.max(rss_kib());
        }
        let catch_up = back.elapsed().as_secs_f64();
        let _ = stop_tx.send(true);
        Ok::<_, anyhow::Error>((peak, at_end, pages_during, catch_up))
    };
    let run = runner::run(
        runtime,
        tenants,
        delivery.clone(),
        RunMode {
            once: false,
            max_concurrent_polls: mimecast_host::config::limits::DEFAULT_MAX_CONCURRENT_POLLS,
            overlap_deliveries: true,
        },
        stop.clone(),
        None,
    );
    let (_, watched) = tokio::join!(run, watch_outage);
    let (peak, at_end, pages_during, catch_up) = watched?;
    let delivered = rx.line_count();
    drop(delivery);
    thread.finish().await?;
    server.shutdown().await;
    Ok(vec![format!(
        "| {} | {} | {:.0} MiB | {:.0} MiB | {:.0} MiB | {pages_during} | {delivered} of {expected} | {catch_up:.1} s |",
        sizes.outage_tenants,
        mimecast_host::config::units::show_duration(sizes.sink_outage),
        before as f64 / 1024.0,
        at_end as f64 / 1024.0,
        peak as f64 / 1024.0,
    )])
}
