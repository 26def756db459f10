//! Signals: Ctrl-C and SIGTERM stop a run (the polls in flight finish), SIGHUP reloads the
//! configuration.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;

use mimecast_host::config::Tenant;
use mimecast_host::runtime::Runtime;

use crate::setup::{load_components, load_config};

/// Waits for Ctrl-C (SIGINT) or SIGTERM, the signal systemd, Kubernetes and `docker stop` send;
/// returns the signal's name, or `None` if no handler could be installed.
pub(crate) async fn stop_signal() -> Option<&'static str> {
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
pub(crate) fn shutdown_on_signal() -> watch::Receiver<bool> {
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

/// On SIGHUP, re-reads the config and hands the new tenant list to the runner. A config that
/// does not validate is reported and ignored; the running tenants go on. A tenant whose own
/// component or region discovery fails does not hold back the others.
pub(crate) fn reload_on_sighup(
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
                    tracing::error!(error = %mimecast_host::error_chain::one_line(e.as_ref()), "configuration reload failed; keeping the running configuration")
                }
            }
        }
    });
    rx
}
