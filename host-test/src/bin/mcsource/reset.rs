//! `mcsource reset`: forget a tenant's checkpoints, so the next run collects again from
//! `lookback`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};

use mimecast_host::config::FileConfig;

use crate::setup::state_dir_of;

/// `mcsource reset`: removes the checkpoints of `tenant`'s `log_types` (all three if none).
pub(crate) fn reset(config: &Path, tenant: &str, log_types: &[String]) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(config)?;
    let state_dir = state_dir_of(config, &file);
    let Some(mut store) = crate::setup::open_existing_state(config, &file, true)
        .context("mcsource reset needs the collector using this state stopped")?
    else {
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
