//! The wasmtime side: compiles the component once (cached on disk), pre-instantiates it, and
//! gives each tenant its own sandboxed instance from a pooling allocator: own `Store`, memory
//! cap, wall-clock deadline per call (epoch interruption while the guest runs, a host timer
//! while it waits in a host call; an abandoned call's instance is never entered again), WASI
//! with no files or environment, and an outbound policy (one origin, bounded requests and
//! response sizes). A broken limit ends that call with an error naming the limit and the
//! tenant; nothing else is affected.
//! The component and this host meet only through `wit/source.wit`.

pub mod session;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::limits::Limits;
use crate::config::{self, Origin, Tenant};
use crate::net::{HttpClient, ProxySetting};
use crate::runtime::session::SessionCache;
use crate::sandbox::memory_budget::MemoryBudget;
use crate::sandbox::redact::Redactor;
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
    EventSchema, ImpersonationFilter, NextPoll, PollError, UrlFilter,
};
pub use bindings::mimecast::source::types::LogLevel;
use bindings::mimecast::source::types::LogType as WitLogType;

use crate::config::small_file;
use crate::delivery::batch_check::Shape;
use crate::log_type::LogType;
use bindings::{mimecast, Collector, CollectorPre};

/// The component as bundled into this binary at build time.
pub const BUNDLED_COMPONENT: &[u8] = include_bytes!(env!("MIMECAST_SOURCE_WASM"));

/// How often the engine's epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much longer than `poll_timeout` the host-side timer waits before it abandons a call.
/// Epoch interruption stops a guest that runs; this timer stops one that waits inside a host
/// call (a clock subscription, an HTTP body), where no epoch check runs.
const HOST_DEADLINE_MARGIN: Duration = Duration::from_secs(1);

/// How many epoch ticks a running guest may hold its executor thread before it yields to the
/// other tasks (one tick: 10 ms), so a guest that spins cannot starve the other tenants of a
/// host with few worker threads.
const YIELD_TICKS: u64 = 1;

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Where compiled code is cached between starts (`None`: compile at every start).
    pub cache_dir: Option<std::path::PathBuf>,
    /// Instances alive at once (the pooling allocator's size); the runner keeps at most one
    /// per poll in flight.
    pub max_instances: u32,
    /// Where the components' outbound connections go.
    pub proxy: ProxySetting,
    /// CA certificates trusted beside the built-in and system roots (`ca_file`).
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            cache_dir: None,
            max_instances: crate::config::limits::DEFAULT_MAX_CONCURRENT_POLLS + 4,
            proxy: ProxySetting::default(),
            extra_roots: Vec::new(),
        }
    }
}

/// Why a component cannot be loaded: the engine cannot be set up, or the bytes are not a
/// component of the `collector` world.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither memory layout can be set up in this process.
    #[error(
        "cannot set up the component engine: {pooled}; nor in the compact memory layout: {compact}"
    )]
    Engine {
        /// Why the pooled layout failed.
        pooled: String,
        /// Why the compact layout failed.
        compact: String,
    },
    /// The WASI or WASI-HTTP imports cannot be linked (a host build problem).
    #[error("cannot link the host's imports: {0}")]
    Link(String),
    /// The bytes do not parse or compile as a component.
    #[error("the component does not load; is it a component build of mimecast-source?: {0}")]
    NotAComponent(String),
    /// The component imports what this host does not provide, or exports another world.
    #[error("the component needs imports this host does not provide: {0}")]
    Imports(String),
    /// A component file (`--component`, or a tenant's own) cannot be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: crate::config::small_file::SmallFileError,
    },
    /// A component file (`--component`, or a tenant's own) is not a usable component.
    #[error("component {path}: {source}")]
    Extra {
        /// The file.
        path: String,
        /// Why.
        source: Box<LoadError>,
    },
}

/// Why an instance could not be made for a tenant.
#[derive(Debug, thiserror::Error)]
pub enum InstantiateError {
    /// The tenant names its own component, which [`Runtime::load_extra`] did not load.
    #[error("tenant {tenant}: its component {path} is not loaded (load_extra first)")]
    NotLoaded {
        /// Tenant id.
        tenant: String,
        /// The component file.
        path: String,
    },
    /// The component's start code ran past the deadline.
    #[error(transparent)]
    Call(#[from] CallError),
    /// wasmtime refused (e.g. the memory limit is too small for the component).
    #[error("cannot instantiate the component for tenant {tenant}: {detail}")]
    Refused {
        /// Tenant id.
        tenant: String,
        /// wasmtime's description.
        detail: String,
    },
}

/// Why a call into the component failed without an answer from it.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The call ran past the tenant's `poll_timeout`.
    #[error("tenant {tenant}: the component ran past its poll deadline of {} (limits.poll_timeout) and was stopped", humantime::format_duration(*.limit))]
    Deadline {
        /// Tenant id.
        tenant: String,
        /// The deadline.
        limit: Duration,
    },
    /// The call was still waiting inside a host call (e.g. a clock subscription) past the
    /// tenant's `poll_timeout`; the host abandoned it and the instance is unusable.
    #[error("tenant {tenant}: the component ran past its poll deadline of {} (limits.poll_timeout) while waiting in a host call and was stopped", humantime::format_duration(*.limit))]
    Stalled {
        /// Tenant id.
        tenant: String,
        /// The deadline.
        limit: Duration,
    },
    /// An earlier call of this instance was abandoned ([`CallError::Stalled`]); a store whose
    /// call was cancelled must not run again.
    #[error("tenant {tenant}: the component instance was stopped after an earlier deadline and cannot be used again")]
    Abandoned {
        /// Tenant id.
        tenant: String,
    },
    /// The instance tried to grow its memory beyond the tenant's cap.
    #[error("tenant {tenant}: the component tried to use more than {} MiB of memory (limits.memory_mib) and was stopped", .limit_bytes / (1024 * 1024))]
    Memory {
        /// Tenant id.
        tenant: String,
        /// The cap.
        limit_bytes: usize,
    },
    /// Any other trap: a bug in the component.
    #[error("tenant {tenant}: the component trapped in {call}: {detail}")]
    Trap {
        /// Tenant id.
        tenant: String,
        /// Which export.
        call: &'static str,
        /// wasmtime's description.
        detail: String,
    },
}

/// Per-store state: WASI, WASI-HTTP and the tenant's limits.
pub struct HostState {
    tenant: String,
    tenant_limits: Limits,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    policy: OutboundPolicy,
    /// The tenant's memory cap, over all of the instance's linear memories.
    memory: MemoryBudget,
    session: SessionCache,
    /// Refused `session-cache` puts of this instance; only the first is logged as a warning,
    /// so a guest cannot flood the log.
    session_refusals: u64,
    /// The credentials this instance was configured with, scrubbed from every text it hands
    /// the host.
    redactor: Redactor,
    /// When the call in progress must stop (`poll_timeout` after it started); checked at each
    /// epoch tick while the guest runs.
    call_deadline: std::time::Instant,
    /// The last bytes the guest wrote to stderr in the current call: a panic's message, which
    /// a trap's error then quotes.
    stderr: StderrTail,
}

/// Most bytes of a guest's stderr kept for a trap's error (the last ones written).
const STDERR_TAIL_BYTES: usize = 2048;

/// The guest's stderr, kept in memory: only its last [`STDERR_TAIL_BYTES`] bytes, so a chatty
/// guest costs no more than that, and nothing reaches the host's own stderr.
#[derive(Clone, Default)]
struct StderrTail(Arc<std::sync::Mutex<Vec<u8>>>);

impl StderrTail {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock leaves only bytes of text behind.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets what was written so far (at the start of each call).
    fn clear(&self) {
        self.lock().clear();
    }

    /// What was written, on one line (lines joined with ` | `), or `None` if nothing was.
    fn text(&self) -> Option<String> {
        let bytes = self.lock();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        (!lines.is_empty()).then(|| lines.join(" | "))
    }

    fn append(&self, data: &[u8]) {
        let mut kept = self.lock();
        kept.extend_from_slice(data);
        let excess = kept.len().saturating_sub(STDERR_TAIL_BYTES);
        kept.drain(..excess);
    }
}

impl wasmtime_wasi::cli::IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for StderrTail {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(data);
        std::task::Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
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

impl mimecast::source::session_cache::Host for HostState {
    fn get(&mut self, name: String) -> Option<String> {
        self.session.get(&name)
    }

    fn put(&mut self, name: String, value: String, ttl_ms: u64) {
        if let Err(refused) = self
            .session
            .put(&name, value, Duration::from_millis(ttl_ms))
        {
            // The name only: the value may be a secret.
            self.session_refusals += 1;
            // A refused name may be huge: log its start only.
            let name: String = name.chars().take(64).collect();
            if self.session_refusals == 1 {
                tracing::warn!(tenant = %self.tenant, name, "session-cache: not stored: {refused}");
            } else {
                tracing::debug!(tenant = %self.tenant, name, "session-cache: not stored: {refused}");
            }
        }
    }

    fn remove(&mut self, name: String) {
        self.session.remove(&name);
    }
}

/// Longest component log message the host writes, in bytes; the rest is cut.
const MAX_LOG_MESSAGE: usize = 4 * 1024;

/// A component's log message made safe for one log line: cut to [`MAX_LOG_MESSAGE`] bytes (on
/// a character boundary, marked with `…`) and every control character (newlines included)
/// escaped, so a guest can neither flood the log nor forge log lines.
fn sanitize_log_message(message: &str) -> String {
    let mut end = message.len().min(MAX_LOG_MESSAGE);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 8);
    for c in message[..end].chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if end < message.len() {
        out.push_str("… (cut)");
    }
    out
}

impl mimecast::source::host_log::Host for HostState {
    fn log(&mut self, level: LogLevel, message: String) {
        let tenant = self.tenant.as_str();
        let message = sanitize_log_message(&self.redactor.scrub(&message));
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
    linker: Linker<HostState>,
    pre: CollectorPre<HostState>,
    /// Other component builds some tenants run with (`component = "…"`), by path.
    extra:
        std::sync::RwLock<std::collections::HashMap<std::path::PathBuf, CollectorPre<HostState>>>,
    ticker: Arc<AtomicBool>,
    /// Sends every instance's outbound requests; its connections outlive the instances.
    client: HttpClient,
    /// The compiled-code cache, for its hit and miss counts.
    cache: Option<wasmtime::Cache>,
    /// Instances alive (each holds a [`LiveInstance`]).
    live: Arc<AtomicUsize>,
}

/// Counts an instance in [`Runtime::instances_live`] for as long as it lives.
struct LiveInstance(Arc<AtomicUsize>);

impl LiveInstance {
    fn new(live: &Arc<AtomicUsize>) -> LiveInstance {
        live.fetch_add(1, Ordering::Relaxed);
        LiveInstance(live.clone())
    }
}

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker.store(false, Ordering::Relaxed);
    }
}

/// Advances the engine's epoch every `EPOCH_TICK` while `running` holds.
fn start_epoch_ticker(engine: Engine) -> Arc<AtomicBool> {
    let running = Arc::new(AtomicBool::new(true));
    let flag = running.clone();
    let spawned = std::thread::Builder::new()
        .name("mcsource-epoch".into())
        .spawn(move || {
            while flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the epoch ticker; poll deadlines will not be enforced");
    }
    running
}

/// How instances' memories are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Instances from a pre-reserved pool, each memory in a large reserved slot, so guest code
    /// needs no bounds checks: fast, but reserves hundreds of GiB of address space (not
    /// memory) at start.
    Pooled,
    /// Instances made on demand, memories reserved as they grow and bounds-checked: for a
    /// process whose address space is limited (`ulimit -v`).
    Compact,
}

/// The engine for `layout`, with the compiled-code cache of `options`.
fn build_engine(
    options: &RuntimeOptions,
    layout: Layout,
) -> Result<(Engine, Option<wasmtime::Cache>), String> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    match layout {
        Layout::Pooled => {
            config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling(
                options,
            )));
        }
        Layout::Compact => {
            config
                .allocation_strategy(wasmtime::InstanceAllocationStrategy::OnDemand)
                .memory_reservation(0)
                .memory_guard_size(0)
                .memory_reservation_for_growth(1 << 20);
        }
    }
    let mut kept = None;
    if let Some(dir) = &options.cache_dir {
        let mut cache = wasmtime::CacheConfig::new();
        // wasmtime wants an absolute cache path; a config-relative state_dir may not be.
        cache.with_directory(std::path::absolute(dir).unwrap_or_else(|_| dir.clone()));
        match wasmtime::Cache::new(cache) {
            Ok(cache) => {
                kept = Some(cache.clone());
                config.cache(Some(cache));
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %format!("{e:?}"),
                    "cannot use the compiled-component cache; compiling at every start"),
        }
    }
    let engine = Engine::new(&config).map_err(|e| format!("{e:#}"))?;
    Ok((engine, kept))
}

fn pooling(options: &RuntimeOptions) -> wasmtime::PoolingAllocationConfig {
    // A component holds a few core instances (the program and the canonical ABI's shims), one
    // or two memories and a few tables; these bounds leave room for that.
    const CORE_INSTANCES: u32 = 16;
    const MEMORIES: u32 = 4;
    const TABLES: u32 = 8;
    let n = options.max_instances.max(1);
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n * CORE_INSTANCES)
        .max_core_instances_per_component(CORE_INSTANCES)
        .total_memories(n * MEMORIES)
        .max_memories_per_component(MEMORIES)
        .total_tables(n * TABLES)
        .max_tables_per_component(TABLES)
        // Async calls run on fibers; a store keeps its stack while it lives.
        .total_stacks(n)
        // Sized for the largest limit a config may give (slots are reserved address space,
        // not memory), so a reload may raise a tenant's memory_mib; each store's
        // `MemoryBudget` enforces the tenant's own limit.
        .max_memory_size(crate::config::limits::MAX_MEMORY_BYTES);
    pool
}

impl Runtime {
    /// Compiles `wasm` (a component binary) and links WASI, WASI-HTTP and the host log. With
    /// `cache_dir`, the compiled code is kept there and reused by the next start.
    ///
    /// # Errors
    /// The bytes are not a component of the `collector` world.
    pub fn new(wasm: &[u8], options: &RuntimeOptions) -> Result<Runtime, LoadError> {
        let (engine, cache) = match build_engine(options, Layout::Pooled) {
            Ok(built) => built,
            Err(pooled) => {
                let built = build_engine(options, Layout::Compact).map_err(|compact| {
                    LoadError::Engine {
                        pooled: pooled.clone(),
                        compact,
                    }
                })?;
                tracing::warn!(error = %pooled,
                    "the pooled memory layout does not fit this process's address-space limit \
                     (ulimit -v); running in the compact memory layout: instances are made on \
                     demand with bounds-checked memories (slower to start and to run; \
                     raise or lift the limit for the pooled layout)");
                built
            }
        };
        let mut linker = Linker::<HostState>::new(&engine);
        let link = |e: wasmtime::Error| LoadError::Link(format!("{e:#}"));
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
        Collector::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(link)?;
        let pre = prepare(&engine, &linker, wasm)?;
        let ticker = start_epoch_ticker(engine.clone());
        Ok(Runtime {
            engine,
            linker,
            pre,
            extra: std::sync::RwLock::new(std::collections::HashMap::new()),
            ticker,
            client: HttpClient::build(&options.proxy, &options.extra_roots, true),
            cache,
            live: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Instances alive now (polling, or kept between the polls of a busy tenant).
    pub fn instances_live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Compiled modules found in (hits) and missing from (misses) the compiled-code cache since
    /// start; `None` without a cache.
    pub fn compile_cache(&self) -> Option<(u64, u64)> {
        self.cache
            .as_ref()
            .map(|c| (c.cache_hits() as u64, c.cache_misses() as u64))
    }

    /// [`Runtime::new`] with the component build in the file at `path` (`--component`).
    ///
    /// # Errors
    /// The file cannot be read (or is not a small regular file), or [`Runtime::new`] fails; the
    /// message names the file.
    pub fn from_file(
        path: &std::path::Path,
        options: &RuntimeOptions,
    ) -> Result<Runtime, LoadError> {
        let wasm = read_component(path)?;
        Runtime::new(&wasm, options).map_err(|e| in_file(path, e))
    }

    /// Loads another component build that tenants with `component = path` run with.
    ///
    /// # Errors
    /// The file cannot be read or is not a component of the `collector` world.
    pub fn load_extra(&self, path: &std::path::Path) -> Result<(), LoadError> {
        let loaded = |rt: &Runtime| {
            rt.extra
                .read()
                .map(|m| m.contains_key(path))
                .unwrap_or(false)
        };
        if loaded(self) {
            return Ok(());
        }
        let wasm = read_component(path)?;
        let pre = prepare(&self.engine, &self.linker, &wasm).map_err(|e| in_file(path, e))?;
        if let Ok(mut extra) = self.extra.write() {
            extra.insert(path.to_path_buf(), pre);
        }
        Ok(())
    }

    /// The pre-instantiated build loaded from `path` by [`Runtime::load_extra`], if it was.
    fn loaded_extra(&self, path: &std::path::Path) -> Option<CollectorPre<HostState>> {
        self.extra.read().ok().and_then(|m| m.get(path).cloned())
    }

    /// Creates a sandboxed instance for `tenant`, with the tenant's `session` cache (shared by
    /// its successive instances; a fresh one for a one-off call).
    ///
    /// # Errors
    /// Instantiation failed (e.g. the memory limit is too small for the component), or the
    /// tenant's own `component` was not loaded with [`Runtime::load_extra`] (it never falls
    /// back to the bundled build silently).
    pub async fn instantiate(
        &self,
        tenant: &Tenant,
        session: &SessionCache,
    ) -> Result<Instance, InstantiateError> {
        self.instantiate_component(
            &tenant.id,
            &tenant.allowed_origin,
            tenant.request_timeout,
            &tenant.limits,
            tenant.component.as_deref(),
            session.clone(),
        )
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
        limits: &Limits,
    ) -> Result<Instance, InstantiateError> {
        self.instantiate_component(id, allowed, timeout, limits, None, SessionCache::new())
            .await
    }

    async fn instantiate_component(
        &self,
        id: &str,
        allowed: &Origin,
        timeout: Duration,
        limits: &Limits,
        component: Option<&std::path::Path>,
        session: SessionCache,
    ) -> Result<Instance, InstantiateError> {
        let stderr = StderrTail::default();
        let state = HostState {
            tenant: id.to_string(),
            tenant_limits: *limits,
            // No preopened files, no environment, no arguments: the guest sees only the clock,
            // randomness and the outbound HTTP the policy allows. Its stderr is kept for a
            // trap's error (a panic message).
            wasi: WasiCtx::builder().stderr(stderr.clone()).build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            policy: OutboundPolicy::new(id, allowed.clone(), timeout, limits, self.client.clone()),
            memory: MemoryBudget::new(limits.memory_bytes),
            session,
            session_refusals: 0,
            redactor: Redactor::default(),
            // Instantiation runs the component's start code under the same deadline.
            call_deadline: deadline_after(limits.poll_timeout),
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        store.epoch_deadline_callback(yield_or_stop);
        store.set_epoch_deadline(YIELD_TICKS);
        let extra = match component {
            Some(path) => {
                Some(
                    self.loaded_extra(path)
                        .ok_or_else(|| InstantiateError::NotLoaded {
                            tenant: id.to_string(),
                            path: path.display().to_string(),
                        })?,
                )
            }
            None => None,
        };
        let pre = extra.as_ref().unwrap_or(&self.pre);
        let limit = host_deadline(limits.poll_timeout);
        let bindings = tokio::time::timeout(limit, pre.instantiate_async(&mut store))
            .await
            .map_err(|_| CallError::Stalled {
                tenant: id.to_string(),
                limit: limits.poll_timeout,
            })?
            .map_err(|e| InstantiateError::Refused {
                tenant: id.to_string(),
                detail: format!("{e:#}"),
            })?;
        Ok(Instance {
            store,
            bindings,
            abandoned: false,
            _live: LiveInstance::new(&self.live),
        })
    }
}

/// The bytes of the component file at `path`, within [`small_file::MAX_COMPONENT_BYTES`].
fn read_component(path: &std::path::Path) -> Result<Vec<u8>, LoadError> {
    small_file::read(path, small_file::MAX_COMPONENT_BYTES).map_err(|source| LoadError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// `e`, which loading the component file at `path` met, naming the file.
fn in_file(path: &std::path::Path, e: LoadError) -> LoadError {
    LoadError::Extra {
        path: path.display().to_string(),
        source: Box::new(e),
    }
}

/// Compiles (or loads from the cache) and pre-instantiates a component.
fn prepare(
    engine: &Engine,
    linker: &Linker<HostState>,
    wasm: &[u8],
) -> Result<CollectorPre<HostState>, LoadError> {
    let component = Component::new(engine, wasm).map_err(|e| {
        // The parser's message may go on with a multi-line dump of the expected bytes.
        let text = format!("{e:#}");
        let first = text.lines().next().unwrap_or_default();
        LoadError::NotAComponent(
            first
                .split(" - expected=")
                .next()
                .unwrap_or(first)
                .to_string(),
        )
    })?;
    let imports = |e: wasmtime::Error| LoadError::Imports(format!("{e:#}"));
    let instance_pre = linker.instantiate_pre(&component).map_err(imports)?;
    CollectorPre::new(instance_pre).map_err(imports)
}

/// The instant `timeout` from now (a year from now for a timeout too large to add).
fn deadline_after(timeout: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(now)
}

/// Runs at every `YIELD_TICKS` epoch ticks of a running guest: past the call's deadline the
/// guest is stopped (`Trap::Interrupt`, reported as [`CallError::Deadline`]); before it, the
/// guest yields its thread to the executor and runs on when next polled.
fn yield_or_stop(
    store: wasmtime::StoreContextMut<'_, HostState>,
) -> wasmtime::Result<wasmtime::UpdateDeadline> {
    if std::time::Instant::now() >= store.data().call_deadline {
        return Ok(wasmtime::UpdateDeadline::Interrupt);
    }
    Ok(wasmtime::UpdateDeadline::YieldCustom(
        YIELD_TICKS,
        Box::pin(tokio::task::yield_now()),
    ))
}

/// The host-side limit of one call: the poll deadline plus a margin, so that epoch
/// interruption (which names the limit precisely) wins whenever the guest is running.
fn host_deadline(poll_timeout: Duration) -> Duration {
    poll_timeout.saturating_add(HOST_DEADLINE_MARGIN)
}

/// One tenant's live component instance.
pub struct Instance {
    store: Store<HostState>,
    bindings: Collector,
    /// A call was cancelled by the host-side timer: the store must not run again.
    abandoned: bool,
    _live: LiveInstance,
}

impl Instance {
    /// Arms the deadline for the next call; refuses if an earlier call was abandoned.
    fn arm(&mut self) -> Result<Duration, CallError> {
        if self.abandoned {
            return Err(CallError::Abandoned {
                tenant: self.store.data().tenant.clone(),
            });
        }
        let timeout = self.store.data().tenant_limits.poll_timeout;
        self.store.data_mut().call_deadline = deadline_after(timeout);
        self.store.data().stderr.clear();
        self.store.set_epoch_deadline(YIELD_TICKS);
        Ok(host_deadline(timeout))
    }

    /// Turns the outcome of a call run under the host-side timer into the call's result. A
    /// timed-out call marks the instance abandoned: its store is in the middle of a call that
    /// was cancelled, so it is never entered again (the owner drops it).
    fn settle<T: Cleaned>(
        &mut self,
        call: &'static str,
        outcome: Result<wasmtime::Result<T>, tokio::time::error::Elapsed>,
    ) -> Result<T, CallError> {
        match outcome {
            Ok(result) => result
                .map_err(|e| self.classify(call, e))
                .map(|r| r.cleaned(&self.store.data().redactor)),
            Err(_elapsed) => {
                self.abandoned = true;
                let state = self.store.data();
                Err(CallError::Stalled {
                    tenant: state.tenant.clone(),
                    limit: state.tenant_limits.poll_timeout,
                })
            }
        }
    }

    /// Whether an earlier call was abandoned at the deadline (the instance must be dropped).
    pub fn is_abandoned(&self) -> bool {
        self.abandoned
    }

    /// Turns a trap into an error that names the broken limit, if one was broken.
    fn classify(&self, call: &'static str, e: wasmtime::Error) -> CallError {
        let state = self.store.data();
        let tenant = state.tenant.clone();
        let limits = state.tenant_limits;
        if matches!(
            e.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            return CallError::Deadline {
                tenant,
                limit: limits.poll_timeout,
            };
        }
        let detail = format!("{e:?}");
        if detail.contains("memory") && (detail.contains("limit") || detail.contains("grow")) {
            return CallError::Memory {
                tenant,
                limit_bytes: limits.memory_bytes,
            };
        }
        // The first line, unless it only announces a backtrace: then what caused the trap.
        let first = detail.lines().next().unwrap_or_default();
        let mut detail = if first.contains("wasm backtrace") {
            e.root_cause().to_string()
        } else {
            first.to_string()
        };
        // A panicking guest says why on its stderr before it traps.
        if let Some(said) = state.stderr.text() {
            detail = format!("{detail}; the component wrote to stderr: {said}");
        }
        let detail = sanitize_log_message(&state.redactor.scrub(&detail));
        CallError::Trap {
            tenant,
            call,
            detail,
        }
    }

    /// Calls `configure`. The outer error is a trap (a bug or a broken limit), the inner one the
    /// component's verdict on the configuration.
    ///
    /// # Errors
    /// The guest trapped.
    pub async fn configure(
        &mut self,
        config: &SourceConfig,
    ) -> Result<Result<(), PollError>, CallError> {
        self.store.data_mut().redactor = redactor_for(&config.credentials);
        let limit = self.arm()?;
        let call = self
            .bindings
            .mimecast_source_source()
            .call_configure(&mut self.store, config);
        let outcome = tokio::time::timeout(limit, call).await;
        self.settle("configure", outcome)
    }

    /// Calls `probe` for one log type: one minimal real request (setup diagnostics).
    ///
    /// # Errors
    /// The guest trapped.
    pub async fn probe(&mut self, log_type: LogType) -> Result<Result<(), PollError>, CallError> {
        let limit = self.arm()?;
        let call = self
            .bindings
            .mimecast_source_source()
            .call_probe(&mut self.store, wit_log_type(log_type));
        let outcome = tokio::time::timeout(limit, call).await;
        self.settle("probe", outcome)
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
    ) -> Result<Result<String, PollError>, CallError> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let limit = self.arm()?;
        let call = self.bindings.mimecast_source_source().call_discover(
            &mut self.store,
            discover_url,
            app_id,
            email,
            timeout_ms,
        );
        let outcome = tokio::time::timeout(limit, call).await;
        self.settle("discover", outcome)
    }

    /// Calls `poll` for one log type with the last committed checkpoint.
    ///
    /// # Errors
    /// The guest trapped.
    pub async fn poll(
        &mut self,
        log_type: LogType,
        checkpoint: Option<&str>,
    ) -> Result<Result<Batch, PollError>, CallError> {
        let limit = self.arm()?;
        let call = self.bindings.mimecast_source_source().call_poll(
            &mut self.store,
            wit_log_type(log_type),
            checkpoint,
        );
        let outcome = tokio::time::timeout(limit, call).await;
        self.settle("poll", outcome)
    }
}

/// The redactor for the credentials a component is configured with.
fn redactor_for(credentials: &Credentials) -> Redactor {
    match credentials {
        Credentials::Api1(k) => Redactor::new(
            [
                k.app_id.as_str(),
                k.app_key.as_str(),
                k.access_key.as_str(),
                k.secret_key.as_str(),
            ],
            [],
        ),
        Credentials::Api2(c) => Redactor::new(
            [c.client_id.as_str(), c.client_secret.as_str()],
            [(c.client_id.as_str(), c.client_secret.as_str())],
        ),
    }
}

/// What a call returned, with every text in it made safe to log and store: credentials
/// scrubbed, cut to [`MAX_LOG_MESSAGE`] bytes, control characters escaped.
trait Cleaned {
    fn cleaned(self, redactor: &Redactor) -> Self;
}

impl<T> Cleaned for Result<T, PollError> {
    fn cleaned(self, redactor: &Redactor) -> Self {
        let clean = |text: String| sanitize_log_message(&redactor.scrub(&text));
        self.map_err(|e| match e {
            PollError::InvalidConfig(m) => PollError::InvalidConfig(clean(m)),
            PollError::Unauthorized(m) => PollError::Unauthorized(clean(m)),
            PollError::Forbidden(m) => PollError::Forbidden(clean(m)),
            PollError::Transient(m) => PollError::Transient(clean(m)),
            PollError::Protocol(m) => PollError::Protocol(clean(m)),
            PollError::RateLimited(mut r) => {
                r.message = clean(r.message);
                PollError::RateLimited(r)
            }
        })
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
        schema: match t.schema {
            Shape::Raw => EventSchema::Raw,
            Shape::Ecs => EventSchema::Ecs,
            Shape::Ocsf => EventSchema::Ocsf,
        },
        keep_original: t.keep_original,
    }
}

/// The WIT `log-type` of a log type.
fn wit_log_type(t: LogType) -> WitLogType {
    match t {
        LogType::Url => WitLogType::Url,
        LogType::Impersonation => WitLogType::Impersonation,
        LogType::Attachment => WitLogType::Attachment,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_log_messages_are_cut_and_escaped() {
        assert_eq!(sanitize_log_message("plain text"), "plain text");
        let forged = "ok\nERROR forged line\r\u{1b}[31m\t";
        let clean = sanitize_log_message(forged);
        assert!(!clean.chars().any(char::is_control), "{clean:?}");
        assert!(clean.contains("ok\\nERROR forged line\\r"), "{clean:?}");
        // 4 KiB at most, cut on a character boundary.
        let long = "é".repeat(10_000);
        let cut = sanitize_log_message(&long);
        let body = cut.trim_end_matches("… (cut)");
        assert!(cut.ends_with("… (cut)"));
        assert!(body.len() <= MAX_LOG_MESSAGE && body.len() > MAX_LOG_MESSAGE - 4);
        assert!(body.chars().all(|c| c == 'é'));
    }

    #[test]
    fn huge_deadlines_do_not_overflow() {
        assert_eq!(host_deadline(Duration::MAX), Duration::MAX);
        assert!(deadline_after(Duration::MAX) > std::time::Instant::now());
    }
}
