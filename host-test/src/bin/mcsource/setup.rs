//! What several commands share: loading the configuration, the component and the engine
//! options, and saying where outbound connections go.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mimecast_host::config::{FileConfig, StateSpec, Tenant};
use mimecast_host::net::ProxySetting;
use mimecast_host::runtime::{self, Runtime, RuntimeOptions};
use mimecast_host::state::postgres::Hold;

/// The engine with `component`'s build, or the bundled component.
pub(crate) fn load_runtime(
    component: Option<&Path>,
    options: &RuntimeOptions,
) -> anyhow::Result<Arc<Runtime>> {
    let runtime = match component {
        Some(path) => Runtime::from_file(path, options)?,
        None => Runtime::new(runtime::BUNDLED_COMPONENT, options)?,
    };
    Ok(Arc::new(runtime))
}

/// Engine options for the commands that run a few instances (`demo`, `check`, `discover`):
/// compiled code cached in `MCSOURCE_CACHE_DIR`, else the per-user cache directory.
pub(crate) fn default_options() -> RuntimeOptions {
    RuntimeOptions {
        cache_dir: env_cache_dir().or_else(user_cache_dir),
        ..RuntimeOptions::default()
    }
}

/// `MCSOURCE_CACHE_DIR`, if set: where every command caches compiled code.
pub(crate) fn env_cache_dir() -> Option<PathBuf> {
    std::env::var_os("MCSOURCE_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The per-user cache directory for compiled code (`$XDG_CACHE_HOME/mcsource` or
/// `~/.cache/mcsource`), used where no state directory is configured.
pub(crate) fn user_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("mcsource"))
}

/// The configuration at `path`, read and validated; every problem in one error.
pub(crate) fn load_config(path: &Path) -> anyhow::Result<mimecast_host::config::ValidConfig> {
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

/// The directory relative paths in the config file at `path` are taken from.
pub(crate) fn config_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// The state directory a config file names (relative paths are relative to the file).
pub(crate) fn state_dir_of(config: &Path, file: &FileConfig) -> PathBuf {
    config_dir(config).join(&file.state_dir)
}

/// Connects to the PostgreSQL state at `url`, trusting the built-in and system roots and
/// `extra_roots`, holding it as `hold` says.
pub(crate) fn connect_postgres(
    url: &mimecast_host::config::secret::Secret,
    extra_roots: &[rustls::pki_types::CertificateDer<'static>],
    hold: Hold,
) -> anyhow::Result<mimecast_host::state::postgres::PostgresStore> {
    let tls = mimecast_host::net::client_config(extra_roots, None)
        .map_err(|e| anyhow::anyhow!("TLS setup for the PostgreSQL state failed: {e}"))?;
    Ok(mimecast_host::state::postgres::PostgresStore::connect(
        url, tls, hold,
    )?)
}

/// The state store a config names, for `status` and `reset`: `None` when a SQLite state has
/// never been made. `exclusive` takes a PostgreSQL state's one-host lock.
pub(crate) fn open_existing_state(
    config: &Path,
    file: &FileConfig,
    exclusive: bool,
) -> anyhow::Result<Option<Box<dyn mimecast_host::state::StateStore>>> {
    match file
        .state
        .resolve(config_dir(config))
        .map_err(anyhow::Error::msg)?
    {
        StateSpec::Sqlite => Ok(mimecast_host::state::open_existing(&state_dir_of(
            config, file,
        ))?),
        StateSpec::Postgres { url, lease_ttl } => {
            let hold = match (exclusive, lease_ttl) {
                (true, None) => Hold::Exclusive,
                // Shared: a reset takes effect at the next poll of whichever host leases it.
                _ => Hold::Reader,
            };
            Ok(Some(Box::new(connect_postgres(&url, &[], hold)?)))
        }
    }
}

/// Loads the tenants' own component builds ahead of their first poll, each build once. A build
/// that cannot be loaded stops only its tenant: the runner reports it (log, `status`, `--once`
/// result) and tries the file again when the tenant retries. Region discovery is left to the
/// runner too, which retries it with backoff while the other tenants collect.
pub(crate) fn load_components(runtime: &Runtime, tenants: &[Tenant]) {
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
pub(crate) fn log_proxy(setting: &ProxySetting) {
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
