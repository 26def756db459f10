//! API 1.0 region discovery (reference §2.2) for `mcsource discover` and `base_url = "discover"`.
//! The request itself is built and read by the component (`discover` in `wit/source.wit`), in an
//! instance that may call only the discovery host; this module only drives it.

use std::time::Duration;

use crate::config::{self, Credentials, Tenant};
use crate::runtime::{self, PollError, Runtime};

/// Instance name used in logs for a discovery call.
const DISCOVER_INSTANCE: &str = "discover";

/// Why a region discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DiscoveryError {
    /// What went wrong and what to fix.
    pub message: String,
    /// A network problem, timeout or rate limit that may pass by itself (a DNS blip); otherwise
    /// an answer that only a change of setup fixes (an unknown address or application).
    pub transient: bool,
}

impl DiscoveryError {
    fn permanent(message: String) -> DiscoveryError {
        DiscoveryError {
            message,
            transient: false,
        }
    }
}

/// Asks `discover_url` for the regional API base URL of `email`.
///
/// # Errors
/// The discovery host is not a usable origin, the component could not run, or Mimecast answered
/// with an error (unknown application, unknown address, ...). The text says what to fix, and
/// [`DiscoveryError::transient`] whether it may pass by itself.
pub async fn discover_base_url(
    runtime: &Runtime,
    discover_url: &str,
    app_id: &str,
    email: &str,
    timeout: Duration,
) -> Result<String, DiscoveryError> {
    let origin = config::parse_origin(discover_url)
        .map_err(|e| DiscoveryError::permanent(format!("discover URL: {e}")))?;
    let mut instance = runtime
        .instantiate_for(
            DISCOVER_INSTANCE,
            &origin,
            timeout,
            &crate::config::limits::Limits::default(),
        )
        .await
        .map_err(|e| DiscoveryError::permanent(format!("{e:#}")))?;
    match instance
        .discover(
            discover_url.trim().trim_end_matches('/'),
            app_id,
            email,
            timeout,
        )
        .await
    {
        Ok(Ok(base_url)) => Ok(base_url),
        Ok(Err(e)) => Err(DiscoveryError {
            message: runtime::describe(&e),
            transient: matches!(e, PollError::Transient(_) | PollError::RateLimited(_)),
        }),
        Err(trap) => Err(DiscoveryError::permanent(format!("{trap:#}"))),
    }
}

/// Runs discovery for a tenant with `base_url = "discover"` and sets its base URL; does nothing
/// for other tenants.
///
/// # Errors
/// The discovery failed; the message names the tenant, the address and what to fix.
pub async fn resolve_tenant(runtime: &Runtime, tenant: &mut Tenant) -> Result<(), DiscoveryError> {
    let Some(d) = tenant.discover.clone() else {
        return Ok(());
    };
    let Credentials::Api1(keys) = &tenant.credentials else {
        return Err(DiscoveryError::permanent(format!(
            "tenant {}: discovery is for API 1.0 tenants only",
            tenant.id
        )));
    };
    let app_id = keys.app_id.expose().to_string();
    let found = discover_base_url(runtime, &d.url, &app_id, &d.email, tenant.request_timeout)
        .await
        .and_then(|url| {
            tenant
                .set_discovered(&url)
                .map(|()| url)
                .map_err(|e| DiscoveryError::permanent(e.to_string()))
        });
    match found {
        Ok(url) => {
            tracing::info!(tenant = %tenant.id, base_url = %url, "region discovered");
            Ok(())
        }
        Err(e) => {
            let fix = if e.transient {
                "check discover_url, DNS, and the route to it (directly, or through `proxy` or HTTPS_PROXY)"
            } else {
                "check discover_email (the service user's address), discover_url and app_id"
            };
            Err(DiscoveryError {
                message: format!(
                    "tenant {}: region discovery for {} at {} failed: {}; {fix}, or set base_url \
                     to the region (`mcsource discover` prints it)",
                    tenant.id, d.email, d.url, e.message
                ),
                transient: e.transient,
            })
        }
    }
}
