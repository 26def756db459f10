//! The component in a plain wasmtime host, written from the WIT alone as a third party would:
//! WASI and WASI-HTTP with wasmtime's default hooks (its own HTTP client, which times only what
//! the request options ask; no `mcsource` timeout around the request), the two host imports in
//! a few lines. A server that stalls before its headers, right after them, mid-body, or that
//! trickles its body cannot hold a poll much longer than `request_timeout`: the component's
//! own timeouts end it as `transient`, naming the phase that stalled.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use chrono::Utc;
use mimecast_mock::{Credential, Fault, MockConfig, MockServer};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "collector",
        exports: { default: async },
    });
}

use bindings::exports::mimecast::source::source::{
    Api1Keys, AttachmentFilter, Config as SourceConfig, Credentials, EventSchema,
    ImpersonationFilter, PollError, UrlFilter,
};
use bindings::mimecast::source::types::{LogLevel, LogType};
use bindings::Collector;

/// The `request_timeout` of every poll here.
const TIMEOUT_MS: u64 = 2_000;

/// A poll that takes longer than this hung: without the component's own timeouts, wasmtime's
/// default client waits 600 s for a first byte.
const HUNG: Duration = Duration::from_secs(20);

/// What a plain host keeps per instance.
struct Plain {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for Plain {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Plain {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

impl bindings::mimecast::source::types::Host for Plain {}

impl bindings::mimecast::source::host_log::Host for Plain {
    fn log(&mut self, level: LogLevel, message: String) {
        eprintln!("component {level:?}: {message}");
    }
}

/// A host that keeps nothing: every instance asks for its own token (allowed by the WIT).
impl bindings::mimecast::source::session_cache::Host for Plain {
    fn get(&mut self, _name: String) -> Option<String> {
        None
    }
    fn put(&mut self, _name: String, _value: String, _ttl_ms: u64) {}
    fn remove(&mut self, _name: String) {}
}

fn source_config(base_url: &str) -> SourceConfig {
    let c = Credential::demo();
    SourceConfig {
        tenant: "plain".into(),
        base_url: base_url.into(),
        credentials: Credentials::Api1(Api1Keys {
            app_id: c.app_id,
            app_key: c.app_key,
            access_key: c.access_key,
            secret_key: c.secret_key,
        }),
        page_size: 100,
        lookback_secs: 3 * 3600,
        lag_secs: 60,
        overlap_secs: 300,
        request_timeout_ms: TIMEOUT_MS,
        url_filter: UrlFilter {
            route: None,
            scan_result: None,
        },
        impersonation_filter: ImpersonationFilter {
            tagged_malicious: None,
            search_field: None,
            query: None,
            identifiers: Vec::new(),
            actions: Vec::new(),
        },
        attachment_filter: AttachmentFilter {
            route: None,
            result: None,
        },
        schema: EventSchema::Raw,
        keep_original: false,
    }
}

/// The engine and the bundled component, compiled once for the tests of this binary.
fn compiled() -> &'static (Engine, Component) {
    static COMPILED: std::sync::OnceLock<(Engine, Component)> = std::sync::OnceLock::new();
    COMPILED.get_or_init(|| {
        let engine = Engine::new(&Config::new()).unwrap();
        let component = Component::new(&engine, mimecast_host::runtime::BUNDLED_COMPONENT).unwrap();
        (engine, component)
    })
}

/// One URL Protect poll from a fresh instance, and how long it took.
async fn poll_once(
    engine: &Engine,
    linker: &Linker<Plain>,
    component: &Component,
    base_url: &str,
) -> (Result<usize, PollError>, Duration) {
    let mut store = Store::new(
        engine,
        Plain {
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        },
    );
    let collector = Collector::instantiate_async(&mut store, component, linker)
        .await
        .unwrap();
    let source = collector.mimecast_source_source();
    source
        .call_configure(&mut store, &source_config(base_url))
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let result = source
        .call_poll(&mut store, LogType::Url, None)
        .await
        .unwrap();
    (result.map(|b| b.events.len()), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_cannot_hold_a_poll_in_a_plain_wasmtime_host() {
    let server = MockServer::start(MockConfig::demo(Utc::now()))
        .await
        .unwrap();
    let (engine, component) = compiled();
    let mut linker = Linker::<Plain>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).unwrap();
    Collector::add_to_linker::<Plain, HasSelf<Plain>>(&mut linker, |s| s).unwrap();
    let base_url = server.base_url();

    // The plain host collects at all.
    let (events, _) = poll_once(engine, &linker, component, &base_url).await;
    assert!(events.unwrap() > 0, "no events from the mock");

    let cases: [(Fault, &str); 4] = [
        // No status line: wasmtime's first-byte timeout, from the request options.
        (
            Fault::Delay(Duration::from_secs(120)),
            "status and headers did not arrive within request_timeout",
        ),
        // Headers, then nothing: its between-bytes timeout.
        (
            Fault::StallBody { after_bytes: 0 },
            "stalled while its body was read: 0 of",
        ),
        (
            Fault::StallBody { after_bytes: 100 },
            "stalled while its body was read: 100 of",
        ),
        // A byte every 200 ms: no single wait is long; the component's own deadline ends it.
        (
            Fault::TrickleBody(Duration::from_millis(200)),
            "stalled while its body was read",
        ),
    ];
    for (fault, says) in cases {
        let name = fault.kind();
        server.push_fault(fault);
        let (result, took) = poll_once(engine, &linker, component, &base_url).await;
        match result {
            Err(PollError::Transient(message)) => {
                assert!(message.contains(says), "{name}: {message}");
            }
            other => panic!("{name}: not a transient error: {other:?}"),
        }
        assert!(took < HUNG, "{name}: the poll took {took:?}");
        assert!(
            took >= Duration::from_millis(TIMEOUT_MS) - Duration::from_millis(100),
            "{name}: ended before request_timeout ({took:?})"
        );
    }
    server.shutdown().await;
}

/// README.md lists the interfaces the component imports, between these markers, one a line.
const IMPORTS_BEGIN: &str = "<!-- component imports: from here -->";
const IMPORTS_END: &str = "<!-- component imports: up to here -->";

#[test]
fn the_readme_lists_exactly_the_interfaces_the_component_imports() {
    let (engine, component) = compiled();
    let mut imported: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    imported.sort();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let (_, rest) = readme
        .split_once(IMPORTS_BEGIN)
        .expect("no import list in README.md");
    let (list, _) = rest
        .split_once(IMPORTS_END)
        .expect("unfinished import list in README.md");
    let mut listed: Vec<String> = list
        .lines()
        .map(|l| l.trim().trim_start_matches("* ").trim_matches('`'))
        .filter(|l| l.contains(':') && !l.starts_with("```"))
        .map(|l| {
            l.split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_matches('`')
                .to_string()
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        imported,
        "README.md's import list differs from the component's imports; update it to:\n{}",
        imported.join("\n")
    );
}
