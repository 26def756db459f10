//! Benchmark workload: the collector's pure poll path (`mimecast_source::collect::poll::poll`) driven by an
//! in-memory transport and a fixed clock. The same function runs natively (linked into
//! `mimecast-bench`) and inside this crate's own component (`wit/bench.wit`), so the two can be
//! compared in one run. Not used in production; the `collector` world does not change.

use chrono::{DateTime, Utc};
use mimecast_source::api::auth::TokenCache;
use mimecast_source::collect::poll;
use mimecast_source::error::SourceError;
use mimecast_source::io::{Clock, HttpRequest, HttpResponse, Transport};
use mimecast_source::log_type::LogType;
use mimecast_source::schema::Schema;
use mimecast_source::settings::{self, Settings, SourceConfig};

#[cfg(target_arch = "wasm32")]
mod guest;

/// Answers every request with the same page.
struct FixedPage<'a> {
    body: &'a [u8],
}

impl Transport for FixedPage<'_> {
    fn send(&mut self, _: &HttpRequest, _: u64) -> Result<HttpResponse, SourceError> {
        // A real transport also copies the body out of the network buffers.
        Ok(HttpResponse {
            status: 200,
            rate_limit_reset_ms: None,
            body: self.body.to_vec(),
        })
    }
}

/// A clock that never moves, with a counter for request ids.
struct FixedClock {
    now: DateTime<Utc>,
    counter: u128,
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.now
    }

    fn random16(&mut self) -> [u8; 16] {
        self.counter += 1;
        self.counter.to_be_bytes()
    }
}

/// Tenant settings of the workload: API 1.0, pages of up to 100, a one-day look-back, events in
/// `schema`.
fn bench_settings(schema: Schema) -> Result<Settings, SourceError> {
    let config = SourceConfig {
        tenant: "bench".into(),
        base_url: "https://eu-api.mimecast.com".into(),
        credentials: settings::Credentials::Api1(settings::Api1Keys {
            app_id: "0d5c3d8a-6f1e-4b7a-9c21-5e8f7a6b4c3d".into(),
            app_key: "b7e4a1c9-2d58-4f63-8a0e-71c9d2f5e684".into(),
            access_key: "bench-access-key".into(),
            secret_key: "LVFr28U/SwZ9sr86uobAvziEF41KiNNLvjlwPgzp+FBAYDp/TIVBeH1liJBXFbWR".into(),
        }),
        page_size: settings::MAX_PAGE_SIZE,
        lookback_secs: 24 * 3600,
        lag_secs: 60,
        overlap_secs: 300,
        request_timeout_ms: 10_000,
        url_filter: settings::UrlFilter::default(),
        impersonation_filter: settings::ImpersonationFilter::default(),
        attachment_filter: settings::AttachmentFilter::default(),
        schema,
        keep_original: false,
    };
    Settings::validate(config)
        .map(|(settings, _warnings)| settings)
        .map_err(SourceError::InvalidConfig)
}

/// Polls `iterations` times from an empty checkpoint, each poll answered with `page`, at the
/// fixed time `now_secs`, building events in `schema`; returns the total bytes of the event lines built. The records' times
/// must lie in the day before `now_secs - 60`.
///
/// # Errors
/// The poll failed (e.g. `page` is not a Mimecast page of `log_type`, or `now_secs` is out of
/// range).
pub fn run(
    log_type: LogType,
    schema: Schema,
    page: &[u8],
    now_secs: i64,
    iterations: u32,
) -> Result<u64, SourceError> {
    let settings = bench_settings(schema)?;
    let now = DateTime::from_timestamp(now_secs, 0).ok_or_else(|| {
        SourceError::InvalidConfig(format!("now_secs {now_secs} is out of range"))
    })?;
    let mut clock = FixedClock { now, counter: 0 };
    let mut transport = FixedPage { body: page };
    let mut tokens = TokenCache::new();
    let mut bytes = 0u64;
    for _ in 0..iterations {
        let outcome = poll::poll(
            &settings,
            log_type,
            None,
            &mut transport,
            &mut clock,
            &mut tokens,
        )?;
        bytes += outcome.events.iter().map(|e| e.len() as u64).sum::<u64>();
    }
    Ok(bytes)
}
