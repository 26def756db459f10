//! The wasmtime side: compiles the component once, and gives each tenant its own sandboxed
//! instance (own `Store`, memory cap, WASI with no files or environment, outbound policy).
//! The component and this host meet only through `wit/source.wit`.

use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::{self, Origin, Tenant};
use crate::sandbox::OutboundPolicy;

/// Bindings generated from `wit/source.wit`.
mod bindings {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "collector",
        exports: { default: async },
    });
}

pub use bindings::exports::mimecast::source::source::{
    Api1Keys, Api2Credentials, AttachmentFilter, Batch, Config as SourceConfig, Credentials,
    ImpersonationFilter, NextPoll, PollError, UrlFilter,
};
pub use bindings::mimecast::source::types::{LogLevel, LogType};
use bindings::{mimecast, Collector, CollectorPre};

/// The component as bundled into this binary at build time.
pub const BUNDLED_COMPONENT: &[u8] = include_bytes!(env!("MIMECAST_SOURCE_WASM"));

/// Memory one tenant's instance may use.
const MEMORY_LIMIT_BYTES: usize = 256 * 1024 * 1024;

/// Per-store state: WASI, WASI-HTTP and the tenant's limits.
pub struct HostState {
    tenant: String,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    policy: OutboundPolicy,
    limits: StoreLimits,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.policy,
        }
    }
}

impl mimecast::source::types::Host for HostState {}

impl mimecast::source::host_log::Host for HostState {
    fn log(&mut self, level: LogLevel, message: String) {
        let tenant = self.tenant.as_str();
        match level {
            LogLevel::Debug => tracing::debug!(tenant, source = "component", "{message}"),
            LogLevel::Info => tracing::info!(tenant, source = "component", "{message}"),
            LogLevel::Warn => tracing::warn!(tenant, source = "component", "{message}"),
            LogLevel::Error => tracing::error!(tenant, source = "component", "{message}"),
        }
    }
}

/// The compiled component, ready to instantiate for any number of tenants.
pub struct Runtime {
    engine: Engine,
    pre: CollectorPre<HostState>,
}

impl Runtime {
    /// Compiles `wasm` (a component binary) and links WASI, WASI-HTTP and the host log. With
    /// `cache_dir`, the compiled code is kept there and reused by the next start.
    ///
    /// # Errors
    /// The bytes are not a component of the `collector` world.
    pub fn new(wasm: &[u8], cache_dir: Option<&std::path::Path>) -> anyhow::Result<Runtime> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        if let Some(dir) = cache_dir {
            let mut cache = wasmtime::CacheConfig::new();
            cache.with_directory(dir);
            match wasmtime::Cache::new(cache) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(e) => tracing::warn!(dir = %dir.display(), error = %format!("{e:?}"),
                    "cannot use the compiled-component cache; compiling at every start"),
            }
        }
        let engine = Engine::new(&config).map_err(anyhow_from)?;
        let component = Component::new(&engine, wasm).map_err(anyhow_from).context(
            "the component does not load; is it a wasm32-wasip2 build of mimecast-source?",
        )?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(anyhow_from)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(anyhow_from)?;
        Collector::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(anyhow_from)?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow_from)
            .context("the component needs imports this host does not provide")?;
        let pre = CollectorPre::new(instance_pre).map_err(anyhow_from)?;
        Ok(Runtime { engine, pre })
    }

    /// Creates a sandboxed instance for `tenant`.
    ///
    /// # Errors
    /// Instantiation failed (e.g. the memory limit is too small for the component).
    pub async fn instantiate(&self, tenant: &Tenant) -> anyhow::Result<Instance> {
        self.instantiate_for(&tenant.id, &tenant.allowed_origin, tenant.request_timeout)
            .await
    }

    /// Creates a sandboxed instance named `id` that may call only `allowed` (e.g. the region
    /// discovery host before a tenant's base URL is known).
    ///
    /// # Errors
    /// Instantiation failed (e.g. the memory limit is too small for the component).
    pub async fn instantiate_for(
        &self,
        id: &str,
        allowed: &Origin,
        timeout: Duration,
    ) -> anyhow::Result<Instance> {
        let state = HostState {
            tenant: id.to_string(),
            // No preopened files, no environment, no arguments: the guest sees only the clock,
            // randomness and the outbound HTTP the policy allows.
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            policy: OutboundPolicy {
                tenant: id.to_string(),
                allowed: allowed.clone(),
                timeout,
            },
            limits: StoreLimitsBuilder::new()
                .memory_size(MEMORY_LIMIT_BYTES)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let bindings = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow_from)
            .with_context(|| format!("cannot instantiate the component for tenant {id}"))?;
        Ok(Instance { store, bindings })
    }
}

/// One tenant's live component instance.
pub struct Instance {
    store: Store<HostState>,
    bindings: Collector,
}

impl Instance {
    /// Calls `configure`. The outer error is a trap (a bug or a broken limit), the inner one the
    /// component's verdict on the configuration.
    ///
    /// # Errors
    /// The guest trapped.
    pub async fn configure(
        &mut self,
        config: &SourceConfig,
    ) -> anyhow::Result<Result<(), PollError>> {
        self.bindings
            .mimecast_source_source()
            .call_configure(&mut self.store, config)
            .await
            .map_err(anyhow_from)
            .context("the component trapped in configure")
    }

    /// Calls `probe` for one log type: one minimal real request (setup diagnostics).
    ///
    /// # Errors
    /// The guest trapped.
    pub async fn probe(&mut self, log_type: LogType) -> anyhow::Result<Result<(), PollError>> {
        self.bindings
            .mimecast_source_source()
            .call_probe(&mut self.store, log_type)
            .await
            .map_err(anyhow_from)
            .context("the component trapped in probe")
    }

    /// Calls `discover`: region discovery for `email` at `discover_url` (API 1.0).
    ///
    /// # Errors
    /// The guest trapped.
    pub async fn discover(
        &mut self,
        discover_url: &str,
        app_id: &str,
        email: &str,
        timeout: Duration,
    ) -> anyhow::Result<Result<String, PollError>> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.bindings
            .mimecast_source_source()
            .call_discover(&mut self.store, discover_url, app_id, email, timeout_ms)
            .await
            .map_err(anyhow_from)
            .context("the component trapped in discover")
    }

    /// Calls `poll` for one log type with the last committed checkpoint.
    ///
    /// # Errors
    /// The guest trapped.
    pub async fn poll(
        &mut self,
        log_type: LogType,
        checkpoint: Option<&str>,
    ) -> anyhow::Result<Result<Batch, PollError>> {
        self.bindings
            .mimecast_source_source()
            .call_poll(&mut self.store, log_type, checkpoint)
            .await
            .map_err(anyhow_from)
            .context("the component trapped in poll")
    }
}

/// Builds the WIT configuration of a tenant.
pub fn source_config(t: &Tenant) -> SourceConfig {
    let secs = |d: Duration| d.as_secs();
    SourceConfig {
        tenant: t.id.clone(),
        base_url: t.base_url.clone(),
        credentials: match &t.credentials {
            config::Credentials::Api1(keys) => Credentials::Api1(Api1Keys {
                app_id: keys.app_id.expose().to_string(),
                app_key: keys.app_key.expose().to_string(),
                access_key: keys.access_key.expose().to_string(),
                secret_key: keys.secret_key.expose().to_string(),
            }),
            config::Credentials::Api2 {
                client_id,
                client_secret,
            } => Credentials::Api2(Api2Credentials {
                client_id: client_id.expose().to_string(),
                client_secret: client_secret.expose().to_string(),
            }),
        },
        page_size: t.page_size,
        lookback_secs: secs(t.lookback),
        lag_secs: secs(t.lag),
        overlap_secs: secs(t.overlap),
        request_timeout_ms: u64::try_from(t.request_timeout.as_millis()).unwrap_or(u64::MAX),
        url_filter: UrlFilter {
            route: t.filters.url.route.clone(),
            scan_result: t.filters.url.scan_result.clone(),
        },
        impersonation_filter: ImpersonationFilter {
            tagged_malicious: t.filters.impersonation.tagged_malicious,
            search_field: t.filters.impersonation.search_field.clone(),
            query: t.filters.impersonation.query.clone(),
            identifiers: t.filters.impersonation.identifiers.clone(),
            actions: t.filters.impersonation.actions.clone(),
        },
        attachment_filter: AttachmentFilter {
            route: t.filters.attachment.route.clone(),
            result: t.filters.attachment.result.clone(),
        },
    }
}

/// Parses `url`/`impersonation`/`attachment`.
pub fn log_type(name: &str) -> Option<LogType> {
    match name {
        "url" => Some(LogType::Url),
        "impersonation" => Some(LogType::Impersonation),
        "attachment" => Some(LogType::Attachment),
        _ => None,
    }
}

/// The short name of a log type.
pub fn log_type_name(t: LogType) -> &'static str {
    match t {
        LogType::Url => "url",
        LogType::Impersonation => "impersonation",
        LogType::Attachment => "attachment",
    }
}

/// A human sentence for a component error (the generated `Display` shows the variant's debug form).
pub fn describe(e: &PollError) -> String {
    match e {
        PollError::InvalidConfig(m) => format!("invalid configuration: {m}"),
        PollError::Unauthorized(m) => format!("unauthorized: {m}"),
        PollError::Forbidden(m) => format!("forbidden: {m}"),
        PollError::RateLimited(r) => format!("rate limited for {} ms: {}", r.after_ms, r.message),
        PollError::Transient(m) => format!("temporarily unavailable: {m}"),
        PollError::Protocol(m) => format!("protocol error: {m}"),
    }
}

/// wasmtime 48 has its own error type; the host's library code uses anyhow.
fn anyhow_from(e: wasmtime::Error) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}
