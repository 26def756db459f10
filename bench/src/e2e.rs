//! Section 2: end to end from the loopback mock, against a ceiling measured the same way in the
//! same rounds. One tenant is compared with a plain native client that pages through the same
//! records as that tenant does (three log types at once, one kept-alive connection and one
//! request in flight each, every page parsed; no sandbox, sink or state); many tenants with the
//! mock's own limit (4 connections asking for full pages). Both sides run interleaved, after a
//! warm-up, over several rounds; the rows give the median and the spread (lowest to highest).
//! Two variants of the one-tenant run say where its time goes: into a sink that keeps nothing
//! (no write, no fsync), and the ceiling on one connection (one request in flight in all).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use http_body_util::{BodyExt as _, Full};
use mimecast_host::delivery::sink::{Batch, Sink, SinkError};
use mimecast_mock::{Credential, Dataset, MockConfig, MockServer};
use mimecast_source::api::{page, request};
use mimecast_source::io::HttpResponse;
use mimecast_source::log_type::LogType as SourceLogType;
use mimecast_source::settings::{self, ApiVersion, Auth, Settings, SourceConfig};

use super::{bundled_runtime, e2e_run_into, rate, Sizes, Spread};

/// The sink of a one-tenant run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SinkKind {
    /// `FileSink`: write and fsync per batch.
    File,
    /// [`Discard`].
    Discard,
    /// [`Slow`].
    Slow(Duration),
}

/// A sink that takes every batch and keeps nothing.
pub(crate) struct Discard;

impl Sink for Discard {
    fn deliver(&mut self, _batch: Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A sink that takes each batch after a fixed wait and keeps nothing: a network sink's round
/// trip (an ingest API a few milliseconds away) without its CPU work.
pub(crate) struct Slow(pub(crate) Duration);

impl Sink for Slow {
    fn deliver(&mut self, _batch: Batch<'_>) -> Result<(), SinkError> {
        std::thread::sleep(self.0);
        Ok(())
    }
}

/// The wait of [`Slow`] in section 2.
const SLOW_SINK: Duration = Duration::from_millis(20);

/// Events (records) per second of each round of one measurement.
#[derive(Default)]
struct Rounds(Vec<f64>);

impl Rounds {
    /// `median (lowest–highest)` as rates.
    fn show(&self) -> String {
        let s = Spread::of(&self.0);
        format!("{} ({}–{})", rate(s.median), rate(s.low), rate(s.high))
    }
}

/// `a[i] / b[i]` of each round, as `median % (lowest–highest %)`.
fn share(a: &Rounds, b: &Rounds) -> String {
    let ratios: Vec<f64> = a.0.iter().zip(&b.0).map(|(x, y)| x / y.max(1e-9)).collect();
    let s = Spread::of(&ratios);
    format!(
        "{:.0} % ({:.0}–{:.0} %)",
        s.median * 100.0,
        s.low * 100.0,
        s.high * 100.0
    )
}

/// The rows of section 2.
///
/// # Errors
/// The mock or the runtime cannot start, or a run fails.
pub(crate) async fn rows(sizes: &Sizes, cache_dir: &Path) -> anyhow::Result<Vec<String>> {
    let now = Utc::now();
    let end = now - TimeDelta::minutes(2);
    let start = end - TimeDelta::hours(2);
    let mut config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(0x6265_6e63, start, end, sizes.e2e_records_per_type),
    );
    config.max_skew = Duration::from_secs(3600);
    let server = MockServer::start(config).await?;
    let runtime = Arc::new(bundled_runtime(Some(cache_dir))?);
    let settings = Arc::new(ceiling_settings(&server)?);
    let limit = sizes.e2e_duration;
    let mut rows = Vec::new();

    // One tenant: warm up both sides, then interleave.
    let one = |kind: SinkKind, overlap: bool| {
        e2e_run_into(runtime.clone(), &server, 1, limit, kind, overlap)
    };
    one(SinkKind::File, true).await?;
    paging_ceiling(&settings, &server, false).await?;
    let [mut file, mut discard, mut ceiling, mut one_conn, mut slow, mut slow_serial] =
        <[Rounds; 6]>::default();
    let mut events = 0;
    for _ in 0..sizes.rounds {
        ceiling
            .0
            .push(paging_ceiling(&settings, &server, false).await?);
        let run = one(SinkKind::File, true).await?;
        events = run.events;
        file.0.push(run.events as f64 / run.secs);
        one_conn
            .0
            .push(paging_ceiling(&settings, &server, true).await?);
        let run = one(SinkKind::Discard, true).await?;
        discard.0.push(run.events as f64 / run.secs);
        let run = one(SinkKind::Slow(SLOW_SINK), true).await?;
        slow.0.push(run.events as f64 / run.secs);
        let run = one(SinkKind::Slow(SLOW_SINK), false).await?;
        slow_serial.0.push(run.events as f64 / run.secs);
    }
    let slow_label = format!(
        "1 tenant, a sink taking {} ms a batch",
        SLOW_SINK.as_millis()
    );
    for (label, rounds) in [
        ("1 tenant, file sink", &file),
        ("1 tenant, a sink that keeps nothing", &discard),
        ("ceiling on 1 connection (one request in flight)", &one_conn),
        (slow_label.as_str(), &slow),
        (
            "the same, each delivery awaited before the next poll (the runner before session 11)",
            &slow_serial,
        ),
    ] {
        rows.push(format!(
            "| {label} | {events} | {} | {} | {} |",
            rounds.show(),
            ceiling.show(),
            share(rounds, &ceiling)
        ));
    }

    // Many tenants: against what the mock serves at most, measured around each run.
    for &n in sizes.e2e_tenants.iter().filter(|n| **n > 1) {
        let (mut runs, mut ceilings) = (Rounds::default(), Rounds::default());
        let mut events = 0;
        for _ in 0..sizes.e2e_many_rounds {
            ceilings.0.push(
                mock_ceiling(&settings, &server, limit.min(Duration::from_secs(3)), 4).await?,
            );
            let run =
                e2e_run_into(runtime.clone(), &server, n, limit, SinkKind::File, true).await?;
            events = run.events;
            runs.0.push(run.events as f64 / run.secs);
        }
        rows.push(format!(
            "| {n} tenants, file sink | {events} | {} | {} | {} |",
            runs.show(),
            ceilings.show(),
            share(&runs, &ceilings)
        ));
    }
    server.shutdown().await;
    Ok(rows)
}

/// API 1.0 settings of the demo credentials for the native client.
fn ceiling_settings(server: &MockServer) -> anyhow::Result<Settings> {
    let c = Credential::demo();
    let (settings, _) = Settings::validate(SourceConfig {
        tenant: "ceiling".into(),
        base_url: server.base_url(),
        credentials: settings::Credentials::Api1(settings::Api1Keys {
            app_id: c.app_id,
            app_key: c.app_key,
            access_key: c.access_key,
            secret_key: c.secret_key,
        }),
        page_size: 100,
        lookback_secs: 3 * 3600,
        lag_secs: 60,
        overlap_secs: 300,
        request_timeout_ms: 10_000,
        url_filter: settings::UrlFilter::default(),
        impersonation_filter: settings::ImpersonationFilter::default(),
        attachment_filter: settings::AttachmentFilter::default(),
        schema: mimecast_source::schema::Schema::Raw,
        keep_original: false,
    })
    .map_err(anyhow::Error::msg)?;
    Ok(settings)
}

/// Records per second a native client reads paging through every record of the three log
/// types (the window a tenant reads: three hours back to a minute ago), each on its own
/// kept-alive connection at once, or with `one_connection` one after the other on one.
async fn paging_ceiling(
    settings: &Arc<Settings>,
    server: &MockServer,
    one_connection: bool,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut records = 0u64;
    if one_connection {
        let mut client = Client::connect(server.addr(), 0).await?;
        for t in SourceLogType::ALL {
            records += client.page_through(settings, t).await?;
        }
    } else {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, t) in SourceLogType::ALL.into_iter().enumerate() {
            let (settings, addr) = (settings.clone(), server.addr());
            tasks.spawn(async move {
                Client::connect(addr, i as u64)
                    .await?
                    .page_through(&settings, t)
                    .await
            });
        }
        while let Some(done) = tasks.join_next().await {
            records += done??;
        }
    }
    Ok(records as f64 / start.elapsed().as_secs_f64())
}

/// Records per second the mock serves on `connections` connections each asking for the first
/// full page of URL Protect logs again and again until `limit`: what it can serve at most.
async fn mock_ceiling(
    settings: &Arc<Settings>,
    server: &MockServer,
    limit: Duration,
    connections: usize,
) -> anyhow::Result<f64> {
    let start = Instant::now();
    let until = start + limit;
    let mut tasks = tokio::task::JoinSet::new();
    for conn in 0..connections {
        let (settings, addr) = (settings.clone(), server.addr());
        tasks.spawn(async move {
            let mut client = Client::connect(addr, conn as u64).await?;
            let mut records = 0u64;
            while Instant::now() < until {
                records += client
                    .page(&settings, SourceLogType::UrlProtect, Utc::now(), None)
                    .await?
                    .0;
            }
            anyhow::Ok(records)
        });
    }
    let mut records = 0u64;
    while let Some(done) = tasks.join_next().await {
        records += done??;
    }
    Ok(records as f64 / start.elapsed().as_secs_f64())
}

/// One kept-alive HTTP/1.1 connection to the mock, signing its requests as API 1.0 does.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<bytes::Bytes>>,
    addr: std::net::SocketAddr,
    conn: u64,
}

impl Client {
    async fn connect(addr: std::net::SocketAddr, conn: u64) -> anyhow::Result<Client> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Client { sender, addr, conn })
    }

    /// Every page of `log_type`'s window; returns the records read.
    async fn page_through(
        &mut self,
        settings: &Settings,
        log_type: SourceLogType,
    ) -> anyhow::Result<u64> {
        let mut records = 0;
        let mut token: Option<String> = None;
        // Every page of a query repeats its window exactly (the API refuses a token otherwise).
        let now = Utc::now();
        loop {
            let (n, next) = self.page(settings, log_type, now, token.as_deref()).await?;
            records += n;
            match next {
                Some(next) if n > 0 => token = Some(next),
                _ => return Ok(records),
            }
        }
    }

    /// One page of `log_type`'s window as of `now` (three hours back to a minute ago) from
    /// `token`: its record count and next token.
    async fn page(
        &mut self,
        settings: &Settings,
        log_type: SourceLogType,
        now: DateTime<Utc>,
        token: Option<&str>,
    ) -> anyhow::Result<(u64, Option<String>)> {
        let Auth::Api1(keys) = &settings.auth else {
            anyhow::bail!("the ceiling client uses API 1.0");
        };
        let item = request::window_item(
            log_type,
            settings,
            now - TimeDelta::hours(3),
            now - TimeDelta::minutes(1),
        );
        let body = request::page_body(&item, 100, token);
        // The mock refuses a request id seen within 15 minutes: one count for the whole run.
        static REQUESTS: AtomicU64 = AtomicU64::new(0);
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.conn.to_be_bytes());
        id[8..].copy_from_slice(&REQUESTS.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        let signed = request::signed_post(
            &settings.base_url,
            keys,
            log_type.path(),
            body,
            Utc::now(),
            id,
        );
        let mut builder = http::Request::builder()
            .method("POST")
            .uri(log_type.path())
            .header("host", self.addr.to_string());
        for (name, value) in &signed.headers {
            builder = builder.header(*name, value);
        }
        let req = builder.body(Full::new(bytes::Bytes::from(signed.body)))?;
        // The connection takes the next request only once it has finished the last one.
        self.sender.ready().await?;
        let response = self.sender.send_request(req).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        let parsed = HttpResponse {
            status,
            rate_limit_reset_ms: None,
            body,
        };
        let page = page::parse(ApiVersion::V1, log_type, &parsed)
            .map_err(|e| anyhow::anyhow!("the mock refused the ceiling client: {e}"))?;
        Ok((page.records.len() as u64, page.next))
    }
}
