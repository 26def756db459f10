//! `mcsource discover`: the regional API 1.0 base URL of a service user's account.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use mimecast_host::runner::discover;

use crate::setup::{default_options, load_runtime};

/// `mcsource discover`: prints the regional base URL of the account `email` belongs to.
pub(crate) async fn discover_cmd(
    email: &str,
    app_id: &str,
    discover_url: &str,
    component: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let runtime = load_runtime(component, &default_options())?;
    let timeout = Duration::from_secs(30);
    let base_url =
        discover::discover_base_url(&runtime, discover_url, app_id, email, timeout).await?;
    println!("{base_url}");
    Ok(ExitCode::SUCCESS)
}
