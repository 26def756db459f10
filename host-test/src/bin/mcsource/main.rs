//! `mcsource`: run the mimecast-source component against Mimecast (`run`), try it against the
//! bundled mock (`demo`, `mock`), validate a configuration (`check`, `check --online`), or find
//! an API 1.0 account's region (`discover`).

mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use tokio::sync::watch;

use mimecast_host::config::small_file;
use mimecast_host::config::{FileConfig, SinkConfig, Tenant, Validated};
use mimecast_host::delivery::pipeline::{OpenPolicy, Pipeline, ACCEPT_STATE_LOSS_FLAG};
use mimecast_host::delivery::sink::{FileSink, Sink, StdoutSink};
use mimecast_host::delivery::Delivery;
use mimecast_host::demo;
use mimecast_host::net::ProxySetting;
use mimecast_host::runner::{self, RunMode, Summary};
use mimecast_host::runner::{diagnose, discover};
use mimecast_host::runtime::session::SessionCache;
use mimecast_host::runtime::{self, Runtime, RuntimeOptions};
use mimecast_host::state::{self, SqliteStore, StateError, StateStore};

/// Collects Mimecast TTP logs (URL, Impersonation, Attachment Protect) with a sandboxed
/// WebAssembly component.
#[derive(Parser)]
#[command(name = "mcsource", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `text` for people, `json` (one object per line)
    /// for log shippers. Verbosity comes from `RUST_LOG` (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The shape of the log lines on stderr.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines, coloured when stderr is a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `target`, `span`s.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Collect from the tenants in a config file, polling each on its interval.
    Run {
        /// TOML configuration (see examples/).
        #[arg(long)]
        config: PathBuf,
        /// Poll every tenant until caught up, then exit (non-zero if any log type failed).
        #[arg(long)]
        once: bool,
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
        /// Go on although the state cannot vouch for what the file sink holds (the state
        /// database is missing, empty or damaged, or records another length): the sink is kept
        /// as it is, and what the state does not cover is collected again (same event ids).
        #[arg(long)]
        accept_state_loss: bool,
    },
    /// Start the bundled mock Mimecast and collect all three log types from it to stdout.
    Demo {
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Validate a config file and report every problem at once.
    Check {
        /// TOML configuration.
        #[arg(long)]
        config: PathBuf,
        /// Also make one minimal real request per tenant and log type, and print a table of OK
        /// or what to fix.
        #[arg(long)]
        online: bool,
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Print the regional API 1.0 base URL of the account a service user belongs to.
    Discover {
        /// The service user's e-mail address.
        #[arg(long)]
        email: String,
        /// The API 1.0 Application ID (sent as x-mc-app-id).
        #[arg(long)]
        app_id: String,
        /// Discovery host.
        #[arg(long, default_value = mimecast_host::config::DEFAULT_DISCOVER_URL)]
        discover_url: String,
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Show each tenant's log types: events delivered, lag, retries, rate-limit waits, checkpoint
    /// size, last error.
    Status {
        /// TOML configuration (its state_dir is read).
        #[arg(long)]
        config: PathBuf,
    },
    /// Forget the checkpoints of a tenant's log types, so the next run collects them again from
    /// `lookback` (records delivered before come again, with the same event ids).
    Reset {
        /// TOML configuration (its state_dir is changed).
        #[arg(long)]
        config: PathBuf,
        /// The tenant whose checkpoints go.
        #[arg(long)]
        tenant: String,
        /// A log type to reset (repeat the flag for more); default: all three.
        #[arg(long = "log-type", value_parser = mimecast_host::log_type::LogType::NAMES)]
        log_types: Vec<String>,
    },
    /// Serve the mock Mimecast on loopback until interrupted, and write a config for `run`.
    Mock {
        /// Where to write the config that points at the mock.
        #[arg(long, default_value = "mock-config.toml")]
        write_config: PathBuf,
    },
}

/// Set by `--log-format json`: then every line this binary writes to stderr is a JSON log
/// object, including its own status lines and the final error.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes a status line for people to stderr (a log record in JSON mode).
fn say(line: &str) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::info!("{line}");
    } else {
        eprintln!("{line}");
    }
}

/// Writes the error that ends the command to stderr (a log record in JSON mode).
fn say_error(message: &str) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        tracing::error!("{message}");
    } else {
        eprintln!("error: {message}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(mimecast_host::log_filter::directives(
                std::env::var("RUST_LOG").ok().as_deref(),
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => {
            logs.json().with_ansi(false).init();
            JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say_error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            say_error(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            config,
            once,
            component,
            accept_state_loss,
        } => run(&config, once, component.as_deref(), accept_state_loss).await,
        Command::Demo { component } => demo_cmd(component.as_deref()).await,
        Command::Check {
            config,
            online,
            component,
        } => check(&config, online, component.as_deref()).await,
        Command::Discover {
            email,
            app_id,
            discover_url,
            component,
        } => discover_cmd(&email, &app_id, &discover_url, component.as_deref()).await,
        Command::Mock { write_config } => mock_cmd(&write_config).await,
        Command::Status { config } => status(&config),
        Command::Reset {
            config,
            tenant,
            log_types,
        } => reset(&config, &tenant, &log_types),
    }
}

fn load_runtime(
    component: Option<&Path>,
    options: &RuntimeOptions,
) -> anyhow::Result<Arc<Runtime>> {
    let runtime = match component {
        Some(path) => {
            let bytes = small_file::read(path, small_file::MAX_COMPONENT_BYTES)
                .with_context(|| format!("cannot read component {}", path.display()))?;
            Runtime::new(&bytes, options)
                .with_context(|| format!("component {}", path.display()))?
        }
        None => Runtime::new(runtime::BUNDLED_COMPONENT, options)?,
    };
    Ok(Arc::new(runtime))
}

/// Engine options for the commands that run a few instances (`demo`, `check`, `discover`):
/// compiled code cached in `MCSOURCE_CACHE_DIR`, else the per-user cache directory.
fn default_options() -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: env_cache_dir().or_else(user_cache_dir),
        ..RuntimeOptions::default()
    }
}

/// `MCSOURCE_CACHE_DIR`, if set: where every command caches compiled code.
fn env_cache_dir() -> Option<PathBuf> {
    std::env::var_os("MCSOURCE_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The per-user cache directory for compiled code (`$XDG_CACHE_HOME/mcsource` or
/// `~/.cache/mcsource`), used where no state directory is configured.
fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("mcsource"))
}

fn load_config(path: &Path) -> anyhow::Result<mimecast_host::config::ValidConfig> {
    let file = FileConfig::load(path)?;
    file.validate(config_dir(path)).map_err(|problems| {
        anyhow::anyhow!(
            "{} has {} problem(s):\n  - {}",
            path.display(),
            problems.len(),
            problems.join("\n  - ")
        )
    })
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM, the signal systemd, Kubernetes and `docker stop` send;
/// returns the signal's name, or `None` if no handler could be installed.
async fn stop_signal() -> Option<&'static str> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => Some(term),
        Err(e) => {
            tracing::warn!(error = %e, "cannot handle SIGTERM; only Ctrl-C stops the run cleanly");
            None
        }
    };
    let sigterm = async {
        match term.as_mut() {
            Some(term) => term.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.ok().map(|()| "interrupted (SIGINT)"),
        _ = sigterm => Some("terminated (SIGTERM)"),
    }
}

/// Stops the run on Ctrl-C or SIGTERM. (A sink whose reader has gone stops it too: the runner
/// learns that from the delivery task.)
fn shutdown_on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let Some(signal) = stop_signal().await else {
            return;
        };
        tracing::info!("{signal}; finishing the polls in flight");
        let _ = tx.send(true);
    });
    rx
}

/// Loads the tenants' own component builds ahead of their first poll, each build once. A build
/// that cannot be loaded stops only its tenant: the runner reports it (log, `status`, `--once`
/// result) and tries the file again when the tenant retries. Region discovery is left to the
/// runner too, which retries it with backoff while the other tenants collect.
fn load_components(runtime: &Runtime, tenants: &[Tenant]) {
    for tenant in tenants {
        if let Some(path) = &tenant.component {
            if let Err(e) = runtime.load_extra(path) {
                tracing::debug!(tenant = %tenant.id, error = %format!("{e:#}"), "tenant's component not loaded");
            }
        }
    }
}

/// Says at start where outbound connections go, and warns about a proxy variable of the
/// environment that is set but cannot be used (it would otherwise be skipped without a word).
fn log_proxy(setting: &ProxySetting) {
    if *setting == ProxySetting::Environment {
        let problems = mimecast_host::net::environment_proxy_problems(|n| std::env::var(n).ok());
        for problem in problems {
            tracing::warn!("proxy from the environment: {problem}");
        }
    }
    match (setting, mimecast_host::net::environment_proxy()) {
        (ProxySetting::Environment, Ok(Some(proxy))) => tracing::info!(%proxy,
            "outbound connections go through the proxy from the environment (HTTPS_PROXY or ALL_PROXY; NO_PROXY applies; loopback hosts direct)"),
        (ProxySetting::Environment, Ok(None)) => {
            tracing::info!("outbound connections go direct (no usable proxy in the environment)")
        }
        (ProxySetting::Environment, Err(proxy)) => tracing::warn!(%proxy,
            "the environment's proxy is not http:// and is not used; connections go direct (set proxy = \"http://host:port\" in the config to use one)"),
        (other, _) => tracing::info!(proxy = %other, "outbound connections"),
    }
}

/// On SIGHUP, re-reads the config and hands the new tenant list to the runner. A config that
/// does not validate is reported and ignored; the running tenants go on. A tenant whose own
/// component or region discovery fails does not hold back the others.
fn reload_on_sighup(
    path: PathBuf,
    runtime: Arc<Runtime>,
) -> tokio::sync::mpsc::Receiver<Vec<Tenant>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot listen for SIGHUP; configuration reload is off");
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!(config = %path.display(), "SIGHUP: reloading the configuration");
            let loaded = load_config(&path);
            if let Ok(config) = &loaded {
                load_components(&runtime, &config.tenants);
            }
            match loaded {
                Ok(config) => {
                    tracing::info!(tenants = config.tenants.len(), "configuration reloaded (sink, state_dir, proxy, ca_file and limits of the pool apply after a restart)");
                    if tx.send(config.tenants).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "configuration reload failed; keeping the running configuration")
                }
            }
        }
    });
    rx
}

async fn run(
    config_path: &Path,
    once: bool,
    component: Option<&Path>,
    accept_state_loss: bool,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    // Held until this function returns: a second `run` on the same state would deliver twice.
    let state_lock = mimecast_host::state::lock_state_dir(&config.state_dir)?;
    // Opened first, so a state_dir with a lock file but no database was not left so by a run
    // that stopped before opening it.
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
    let reload = (!once).then(|| reload_on_sighup(config_path.to_path_buf(), runtime.clone()));
    let sink: Box<dyn Sink> = match &config.sink {
        SinkConfig::Stdout => Box::new(StdoutSink),
        SinkConfig::File { path } => Box::new(
            FileSink::open(path)
                .with_context(|| format!("cannot open sink file {}", path.display()))?,
        ),
    };
    let store: Box<dyn StateStore> = Box::new(store);
    let mode = RunMode {
        once,
        max_concurrent_polls,
    };
    let policy = OpenPolicy {
        tenants: config.tenants.iter().map(|t| t.id.clone()).collect(),
        accept_state_loss,
    };
    let collected = collect(
        runtime,
        config.tenants,
        (sink, store),
        &policy,
        mode,
        reload,
    )
    .await?;
    let code = report(&collected.summary, once)?;
    if collected.reader_gone {
        bail!(
            "stdout was closed by the process reading it; the events not delivered are fetched \
             again on the next start (their checkpoints did not move)"
        );
    }
    Ok(code)
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

async fn collect(
    runtime: Arc<Runtime>,
    tenants: Vec<Tenant>,
    (sink, store): (Box<dyn Sink>, Box<dyn StateStore>),
    policy: &OpenPolicy,
    mode: RunMode,
    reload: Option<tokio::sync::mpsc::Receiver<Vec<Tenant>>>,
) -> anyhow::Result<Collected> {
    let (pipeline, recovery) =
        Pipeline::open_with(sink, store, policy)?;
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
    let (delivery, delivery_thread) =
        Delivery::start(pipeline).context("cannot start the delivery task")?;
    let summary = runner::run(
        runtime,
        tenants,
        delivery.clone(),
        mode,
        shutdown_on_signal(),
        reload,
    )
    .await;
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

/// What a collecting run ended with.
struct Collected {
    /// Per tenant and log type: what was delivered, what failed.
    summary: Summary,
    /// The process reading the sink (stdout) went away, which stopped the run.
    reader_gone: bool,
}

fn report(summary: &Summary, once: bool) -> anyhow::Result<ExitCode> {
    let mut failed = 0;
    for ((tenant, log_type), p) in summary {
        match &p.error {
            None => say(&format!(
                "{tenant}/{log_type}: {} events delivered",
                p.delivered
            )),
            Some(e) => {
                failed += 1;
                say(&format!(
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

async fn demo_cmd(component: Option<&Path>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let runtime = load_runtime(component, &default_options())?;
    let server = demo::start_mock()
        .await
        .context("cannot start the mock Mimecast")?;
    let tenant = demo::demo_tenant(&server).map_err(anyhow::Error::msg)?;
    let state = tempfile::tempdir().context("cannot create a temporary state directory")?;
    let store: Box<dyn StateStore> = Box::new(SqliteStore::open(state.path())?);
    say(&format!(
        "demo: mock Mimecast at {}; collecting url, impersonation and attachment logs",
        server.base_url()
    ));
    let mode = RunMode {
        once: true,
        max_concurrent_polls: 4,
    };
    let collected = collect(
        runtime,
        vec![tenant],
        (Box::new(StdoutSink), store),
        &OpenPolicy::default(),
        mode,
        None,
    )
    .await?;
    if collected.reader_gone {
        // `mcsource demo | head`: the reader had enough; not a failure of the demo.
        say("demo: stdout closed by its reader; stopped");
        server.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    let code = report(&collected.summary, true)?;
    say(&format!(
        "demo: caught up in {:.2}s",
        started.elapsed().as_secs_f64()
    ));
    server.shutdown().await;
    Ok(code)
}

async fn check(config: &Path, online: bool, component: Option<&Path>) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(config)?;
    let Validated {
        config: validated,
        sound,
    } = file.validate_each(config_dir(config));
    let options = match &validated {
        Ok(valid) => RuntimeOptions {
            proxy: valid.proxy.clone(),
            extra_roots: valid.extra_roots.clone(),
            ..default_options()
        },
        Err(_) => default_options(),
    };
    let runtime = load_runtime(component, &options)?;
    // The component checks what only it knows: filter values, page size, key encoding. Each
    // tenant is checked by the build it runs with; a tenant with host problems of its own is
    // left to the next check, once they are fixed.
    let mut problems = validated.as_ref().err().cloned().unwrap_or_default();
    for (i, tenant) in &sound {
        problems.extend(check_tenant(&runtime, *i, tenant).await);
    }
    let valid = match validated {
        Ok(valid) if problems.is_empty() => valid,
        _ => bail!(
            "{} has {} problem(s):\n  - {}",
            config.display(),
            problems.len(),
            problems.join("\n  - ")
        ),
    };
    if online {
        let rows = diagnose::probe_all(&runtime, &valid.tenants).await;
        print!("{}", diagnose::table(&rows));
        let failed = rows.iter().filter(|r| !r.is_ok()).count();
        if failed > 0 {
            bail!("{failed} check(s) failed; apply the fixes in the table above");
        }
    }
    println!(
        "{}: OK ({} tenant(s))",
        config.display(),
        valid.tenants.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The offline problems of tenant `i`: its own `component` build must load, as `run` would load
/// it, and that build must accept the tenant's configuration.
async fn check_tenant(runtime: &Runtime, i: usize, tenant: &Tenant) -> Vec<String> {
    if let Some(path) = &tenant.component {
        if let Err(e) = runtime.load_extra(path) {
            return vec![format!("tenant[{i}].component: {e:#}")];
        }
    }
    let tenant = &diagnose::offline_view(tenant);
    let at = format!("tenant[{i}] ({})", tenant.id);
    let mut instance = match runtime.instantiate(tenant, &SessionCache::new()).await {
        Ok(instance) => instance,
        Err(e) => return vec![format!("{at}: {e:#}")],
    };
    match instance.configure(&runtime::source_config(tenant)).await {
        Ok(Ok(())) => Vec::new(),
        Ok(Err(e)) => runtime::describe(&e)
            .lines()
            .map(|line| format!("{at}: {line}"))
            .collect(),
        Err(trap) => vec![format!("{at}: {trap:#}")],
    }
}

async fn discover_cmd(
    email: &str,
    app_id: &str,
    discover_url: &str,
    component: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let runtime = load_runtime(component, &default_options())?;
    let timeout = Duration::from_secs(30);
    let base_url = discover::discover_base_url(&runtime, discover_url, app_id, email, timeout)
        .await
        .map_err(anyhow::Error::msg)?;
    println!("{base_url}");
    Ok(ExitCode::SUCCESS)
}

async fn mock_cmd(write_config: &Path) -> anyhow::Result<ExitCode> {
    let server = demo::start_mock()
        .await
        .context("cannot start the mock Mimecast")?;
    let text = demo::mock_config_toml(&server, "mock-state");
    write_private_new(write_config, &text)?;
    say(&format!(
        "mock Mimecast at {}; wrote {}. In another shell: mcsource run --config {} --once",
        server.base_url(),
        write_config.display(),
        write_config.display()
    ));
    let _ = stop_signal().await;
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Writes `text` to a new file at `path`, readable by its owner only (it holds credentials);
/// an existing file is left alone.
fn write_private_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "{} exists; remove it or name another file with --write-config",
            path.display()
        ),
        other => other.with_context(|| format!("cannot create {}", path.display()))?,
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The directory relative paths in the config file at `path` are taken from.
fn config_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// The state directory a config file names (relative paths are relative to the file).
fn state_dir_of(config: &Path, file: &FileConfig) -> PathBuf {
    config_dir(config).join(&file.state_dir)
}

fn status(config: &Path) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(config)?;
    let state_dir = state_dir_of(config, &file);
    let Some(store) = state::open_existing(&state_dir)? else {
        println!(
            "no state in {} yet: nothing has been collected",
            state_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    print!("{}", status::render(&store.statuses()?, now));
    Ok(ExitCode::SUCCESS)
}

fn reset(config: &Path, tenant: &str, log_types: &[String]) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(config)?;
    let state_dir = state_dir_of(config, &file);
    let Some(mut store) = state::open_existing(&state_dir)? else {
        println!("no state in {} yet: nothing to reset", state_dir.display());
        return Ok(ExitCode::SUCCESS);
    };
    // A running collector would overwrite the reset with its next commit.
    let _lock = mimecast_host::state::lock_state_dir(&state_dir)
        .context("mcsource reset needs the collector using this state_dir stopped")?;
    // A tenant no longer configured may still have state worth clearing; a typo has neither.
    let configured = file.tenant.iter().any(|t| t.id == tenant);
    if !configured && !store.statuses()?.iter().any(|s| s.tenant == tenant) {
        let known: Vec<&str> = file.tenant.iter().map(|t| t.id.as_str()).collect();
        bail!(
            "tenant {tenant:?} is neither in {} (tenants: {}) nor in the state in {}",
            config.display(),
            known.join(", "),
            state_dir.display()
        );
    }
    let chosen: Vec<&str> = if log_types.is_empty() {
        mimecast_host::log_type::LogType::NAMES.to_vec()
    } else {
        log_types.iter().map(String::as_str).collect()
    };
    for log_type in chosen {
        if store.forget(tenant, log_type)? {
            println!(
                "{tenant} {log_type}: checkpoint removed; the next run collects from lookback"
            );
        } else {
            println!("{tenant} {log_type}: no checkpoint, nothing to reset");
        }
    }
    Ok(ExitCode::SUCCESS)
}
