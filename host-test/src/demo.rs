//! `mcsource demo` and `mcsource mock`: the bundled mock Mimecast on loopback, and a tenant
//! configured to collect from it with the mock's demo credentials.

use std::time::Duration;

use mimecast_mock::{Credential, MockConfig, MockServer};

use crate::config::limits::Limits;
use crate::config::secret::Secret;
use crate::config::{self, Credentials, Filters, Keys, Tenant};
use crate::log_type::LogType;

/// Tenant id used by the demo.
pub const DEMO_TENANT: &str = "demo";

/// Starts the mock with its demo dataset (about 300 records per log type over the two hours
/// before now).
///
/// # Errors
/// No loopback port could be bound.
pub async fn start_mock() -> std::io::Result<MockServer> {
    MockServer::start(MockConfig::demo(chrono::Utc::now())).await
}

/// A tenant that collects all three log types from `server` with the demo credentials.
///
/// # Errors
/// The mock's URL is not a loopback origin (cannot happen for a started mock).
pub fn demo_tenant(server: &MockServer) -> Result<Tenant, config::BadBaseUrl> {
    let base_url = server.base_url();
    let c = Credential::demo();
    Ok(Tenant {
        id: DEMO_TENANT.to_string(),
        allowed_origin: config::parse_origin(&base_url)?,
        base_url,
        credentials: Credentials::Api1(Keys {
            app_id: Secret::new(c.app_id),
            app_key: Secret::new(c.app_key),
            access_key: Secret::new(c.access_key),
            secret_key: Secret::new(c.secret_key),
        }),
        discover: None,
        log_types: LogType::ALL.to_vec(),
        interval: Duration::from_secs(60),
        lookback: Duration::from_secs(3 * 3600),
        lag: Duration::from_secs(60),
        overlap: Duration::from_secs(300),
        page_size: 100,
        request_timeout: Duration::from_secs(10),
        filters: Filters::default(),
        limits: Limits::default(),
        component: None,
        schema: crate::delivery::batch_check::Shape::Raw,
        keep_original: false,
    })
}

/// A config file that points `mcsource run` at a running mock (for `mcsource mock`).
pub fn mock_config_toml(server: &MockServer, state_dir: &str) -> String {
    let c = Credential::demo();
    format!(
        r#"# Written by `mcsource mock`: collects from the mock Mimecast at {url}.
state_dir = "{state_dir}"

[sink]
type = "stdout"

[[tenant]]
id = "{DEMO_TENANT}"
base_url = "{url}"
app_id = "{app_id}"
app_key = "{app_key}"
access_key = "{access_key}"
secret_key = "{secret_key}"
lookback = "3h"
"#,
        url = server.base_url(),
        app_id = c.app_id,
        app_key = c.app_key,
        access_key = c.access_key,
        secret_key = c.secret_key,
    )
}
