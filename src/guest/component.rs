//! wit-bindgen glue: converts between the WIT types of `wit/source.wit` and the pure modules.
//! No logic lives here beyond the conversions and, on entry, setting the panic hook.

use std::cell::RefCell;

use crate::api::auth::{TokenCache, TokenShelf};
use crate::api::scrub::Scrubber;
use crate::collect::poll::{self, NextPoll};
use crate::error::SourceError;
use crate::guest::panic_message;
use crate::guest::transport::{WasiClock, WasiTransport};
use crate::log_type::LogType;
use crate::schema::Schema;
use crate::settings::{self, Settings, SourceConfig};

wit_bindgen::generate!({
    world: "collector",
    path: "wit",
});

use exports::mimecast::source::source as wit;
use mimecast::source::types::{LogLevel, LogType as WitLogType};
use mimecast::source::{host_log, session_cache};

thread_local! {
    /// The settings given to `configure`; a component instance is single-threaded.
    static SETTINGS: RefCell<Option<Settings>> = const { RefCell::new(None) };
    /// The API 2.0 bearer token: in instance memory and the host's session cache, never in a
    /// checkpoint or a log line.
    static TOKENS: RefCell<TokenCache> = RefCell::new(TokenCache::with_shelf(Box::new(HostShelf)));
    /// The credentials given to `configure` and the bearer tokens used since, removed from
    /// every text that leaves the component.
    static SCRUBBER: RefCell<Scrubber> = RefCell::new(Scrubber::default());
}

/// `text` without any credential or bearer token (see [`crate::api::scrub`]).
fn scrubbed(text: &str) -> String {
    SCRUBBER.with(|s| s.borrow().scrub(text))
}

/// Logs `message` through the host, scrubbed.
fn log_scrubbed(level: LogLevel, message: &str) {
    host_log::log(level, &scrubbed(message));
}

/// `error` with its text scrubbed.
fn scrub_error(error: wit::PollError) -> wit::PollError {
    use wit::PollError as E;
    match error {
        E::InvalidConfig(m) => E::InvalidConfig(scrubbed(&m)),
        E::Unauthorized(m) => E::Unauthorized(scrubbed(&m)),
        E::Forbidden(m) => E::Forbidden(scrubbed(&m)),
        E::RateLimited(r) => E::RateLimited(wit::RateLimit {
            after_ms: r.after_ms,
            message: scrubbed(&r.message),
        }),
        E::Transient(m) => E::Transient(scrubbed(&m)),
        E::Protocol(m) => E::Protocol(scrubbed(&m)),
    }
}

/// The credential values of `credentials`, to scrub (an API 1.0 application id is no secret).
fn credential_values(credentials: &settings::Credentials) -> Vec<&str> {
    match credentials {
        settings::Credentials::Api1(k) => vec![&k.app_key, &k.access_key, &k.secret_key],
        settings::Credentials::Api2(c) => vec![&c.client_id, &c.client_secret],
    }
}

/// The token's place in the host's `session-cache`, so the tenant's next instance reuses it.
struct HostShelf;

/// The `session-cache` name of the API 2.0 token.
const TOKEN_NAME: &str = "api2-token";

impl TokenShelf for HostShelf {
    fn load(&self) -> Option<String> {
        session_cache::get(TOKEN_NAME)
    }

    fn store(&self, value: &str, ttl_ms: u64) {
        session_cache::put(TOKEN_NAME, value, ttl_ms);
    }

    fn clear(&self) {
        session_cache::remove(TOKEN_NAME);
    }
}

struct Component;

impl From<SourceError> for wit::PollError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::InvalidConfig(m) => wit::PollError::InvalidConfig(m),
            SourceError::Unauthorized(m) => wit::PollError::Unauthorized(m),
            SourceError::Forbidden(m) => wit::PollError::Forbidden(m),
            SourceError::RateLimited { after_ms, message } => {
                wit::PollError::RateLimited(wit::RateLimit { after_ms, message })
            }
            SourceError::Transient(m) => wit::PollError::Transient(m),
            SourceError::Protocol(m) => wit::PollError::Protocol(m),
        }
    }
}

fn log_type(t: WitLogType) -> LogType {
    match t {
        WitLogType::Url => LogType::UrlProtect,
        WitLogType::Impersonation => LogType::ImpersonationProtect,
        WitLogType::Attachment => LogType::AttachmentProtect,
    }
}

fn source_config(c: wit::Config) -> SourceConfig {
    let credentials = match c.credentials {
        wit::Credentials::Api1(keys) => settings::Credentials::Api1(settings::Api1Keys {
            app_id: keys.app_id,
            app_key: keys.app_key,
            access_key: keys.access_key,
            secret_key: keys.secret_key,
        }),
        wit::Credentials::Api2(c) => settings::Credentials::Api2(settings::Api2Credentials {
            client_id: c.client_id,
            client_secret: c.client_secret,
        }),
    };
    SourceConfig {
        tenant: c.tenant,
        base_url: c.base_url,
        credentials,
        page_size: c.page_size,
        lookback_secs: c.lookback_secs,
        lag_secs: c.lag_secs,
        overlap_secs: c.overlap_secs,
        request_timeout_ms: c.request_timeout_ms,
        url_filter: settings::UrlFilter {
            route: c.url_filter.route,
            scan_result: c.url_filter.scan_result,
        },
        impersonation_filter: settings::ImpersonationFilter {
            tagged_malicious: c.impersonation_filter.tagged_malicious,
            search_field: c.impersonation_filter.search_field,
            query: c.impersonation_filter.query,
            identifiers: c.impersonation_filter.identifiers,
            actions: c.impersonation_filter.actions,
        },
        attachment_filter: settings::AttachmentFilter {
            route: c.attachment_filter.route,
            result: c.attachment_filter.result,
        },
        schema: match c.schema {
            wit::EventSchema::Raw => Schema::Raw,
            wit::EventSchema::Ecs => Schema::Ecs,
            wit::EventSchema::Ocsf => Schema::Ocsf,
        },
        keep_original: c.keep_original,
    }
}

impl wit::Guest for Component {
    fn configure(config: wit::Config) -> Result<(), wit::PollError> {
        panic_message::install();
        let config = source_config(config);
        let scrubber = Scrubber::new(credential_values(&config.credentials));
        SCRUBBER.with(|s| *s.borrow_mut() = scrubber);
        let (settings, warnings) = Settings::validate(config)
            .map_err(wit::PollError::InvalidConfig)
            .map_err(scrub_error)?;
        for w in warnings {
            log_scrubbed(LogLevel::Warn, &w);
        }
        SETTINGS.with(|s| *s.borrow_mut() = Some(settings));
        // Perhaps new credentials: the shelf only gives back a token of the same ones.
        TOKENS.with(|t| t.borrow_mut().forget());
        Ok(())
    }

    fn poll(log: WitLogType, checkpoint: Option<String>) -> Result<wit::Batch, wit::PollError> {
        panic_message::install();
        let log = log_type(log);
        with_settings("poll", |settings, tokens| {
            let outcome = poll::poll(
                settings,
                log,
                checkpoint.as_deref(),
                &mut WasiTransport,
                &mut WasiClock,
                tokens,
            )?;
            log_scrubbed(LogLevel::Debug, &outcome.summary);
            for warning in &outcome.warnings {
                log_scrubbed(LogLevel::Warn, warning);
            }
            Ok(wit::Batch {
                events: outcome.events,
                checkpoint: outcome.checkpoint,
                next_poll: match outcome.next_poll {
                    NextPoll::Now => wit::NextPoll::Now,
                    NextPoll::Interval => wit::NextPoll::Interval,
                },
                cursor: outcome.cursor,
            })
        })
    }

    fn probe(log: WitLogType) -> Result<(), wit::PollError> {
        panic_message::install();
        let log = log_type(log);
        with_settings("probe", |settings, tokens| {
            Ok(poll::probe(
                settings,
                log,
                &mut WasiTransport,
                &mut WasiClock,
                tokens,
            )?)
        })
    }

    fn discover(
        discover_url: String,
        app_id: String,
        email_address: String,
        timeout_ms: u64,
    ) -> Result<String, wit::PollError> {
        panic_message::install();
        poll::discover(
            &discover_url,
            &app_id,
            &email_address,
            timeout_ms,
            &mut WasiTransport,
            &mut WasiClock,
        )
        .map_err(|e| scrub_error(e.into()))
    }
}

/// Runs `f` with the configured settings and the token cache; its error comes back scrubbed.
fn with_settings<T>(
    call: &str,
    f: impl FnOnce(&Settings, &mut TokenCache) -> Result<T, wit::PollError>,
) -> Result<T, wit::PollError> {
    SETTINGS
        .with(|s| {
            let guard = s.borrow();
            let settings = guard.as_ref().ok_or_else(|| {
                wit::PollError::InvalidConfig(format!("{call} was called before configure"))
            })?;
            TOKENS.with(|t| {
                let result = f(settings, &mut t.borrow_mut());
                // The token in use is scrubbed from now on too.
                if let Some(token) = t.borrow().current_token() {
                    SCRUBBER.with(|s| s.borrow_mut().add(token));
                }
                result
            })
        })
        .map_err(scrub_error)
}

export!(Component);
