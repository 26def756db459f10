//! API 1.0 region discovery (reference §2.2) for `mcsource discover` and `base_url = "discover"`.
//! The request itself is built and read by the component (`discover` in `wit/source.wit`), in an
//! instance that may call only the discovery host; this module only drives it.

use std::time::Duration;

use crate::config::{self, Credentials, Tenant};
use crate::runtime::{self, Runtime};

/// Instance name used in logs for a discovery call.
const DISCOVER_INSTANCE: &str = "discover";

/// Asks `discover_url` for the regional API base URL of `email`.
///
/// # Errors
/// The discovery host is not a usable origin, the component could not run, or Mimecast answered
/// with an error (unknown application, unknown address, ...). The text says what to fix.
pub async fn discover_base_url(
    runtime: &Runtime,
    discover_url: &str,
    app_id: &str,
    email: &str,
    timeout: Duration,
) -> Result<String, String> {
    let origin = config::parse_origin(discover_url).map_err(|e| format!("discover URL: {e}"))?;
    let mut instance = runtime
        .instantiate_for(
            DISCOVER_INSTANCE,
            &origin,
            timeout,
            &crate::limits::Limits::default(),
        )
        .await
        .map_err(|e| format!("{e:#}"))?;
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
        Ok(Err(e)) => Err(runtime::describe(&e)),
        Err(trap) => Err(format!("{trap:#}")),
    }
}

/// Runs discovery for every tenant with `base_url = "discover"` and sets its base URL.
///
/// # Errors
/// One line per tenant whose discovery failed, naming the tenant.
pub async fn resolve_tenants(runtime: &Runtime, tenants: &mut [Tenant]) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    for tenant in tenants.iter_mut() {
        let Some(d) = tenant.discover.clone() else {
            continue;
        };
        let Credentials::Api1(keys) = &tenant.credentials else {
            problems.push(format!(
                "{}: discovery is for API 1.0 tenants only",
                tenant.id
            ));
            continue;
        };
        let app_id = keys.app_id.expose().to_string();
        let found =
            discover_base_url(runtime, &d.url, &app_id, &d.email, tenant.request_timeout).await;
        match found.and_then(|url| tenant.set_discovered(&url).map(|()| url)) {
            Ok(url) => {
                tracing::info!(tenant = %tenant.id, base_url = %url, "region discovered")
            }
            Err(e) => problems.push(format!(
                "{}: region discovery for {} failed: {e}",
                tenant.id, d.email
            )),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}
