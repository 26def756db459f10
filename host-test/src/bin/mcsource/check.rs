//! `mcsource check`: every problem of a configuration at once, offline (the host's checks and
//! the component's) and, with `--online`, one real request per tenant and log type.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;

use mimecast_host::config::{FileConfig, Tenant, Validated};
use mimecast_host::runner::diagnose;
use mimecast_host::runtime::session::SessionCache;
use mimecast_host::runtime::{self, Runtime, RuntimeOptions};

use crate::setup::{config_dir, default_options, load_runtime};

/// `mcsource check [--online]`: every problem of the configuration, or a table of probes.
pub(crate) async fn check(
    config: &Path,
    online: bool,
    component: Option<&Path>,
) -> anyhow::Result<ExitCode> {
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
