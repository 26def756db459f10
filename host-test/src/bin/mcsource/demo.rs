//! `mcsource demo`: the bundled mock Mimecast on loopback, collected from to stdout; and
//! `mcsource mock`: the mock alone, with a config for `run` that points at it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};

use mimecast_host::delivery::pipeline::OpenPolicy;
use mimecast_host::delivery::sink::StdoutSink;
use mimecast_host::demo;
use mimecast_host::runner::RunMode;
use mimecast_host::state::{SqliteStore, StateStore};

use crate::console::Console;
use crate::run::{collect, report};
use crate::setup::{default_options, load_runtime};
use crate::signals::stop_signal;

/// `mcsource demo`: collects everything the bundled mock holds to stdout, then reports.
pub(crate) async fn demo_cmd(
    console: Console,
    component: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let runtime = load_runtime(component, &default_options())?;
    let server = demo::start_mock()
        .await
        .context("cannot start the mock Mimecast")?;
    let tenant = demo::demo_tenant(&server)?;
    let state = tempfile::tempdir().context("cannot create a temporary state directory")?;
    let store: Box<dyn StateStore> = Box::new(SqliteStore::open(state.path())?);
    console.say(&format!(
        "demo: mock Mimecast at {}; collecting url, impersonation and attachment logs",
        server.base_url()
    ));
    let mode = RunMode {
        once: true,
        max_concurrent_polls: 4,
        overlap_deliveries: true,
    };
    let collected = collect(
        runtime,
        vec![tenant],
        (
            Box::new(StdoutSink),
            store,
            mimecast_host::delivery::Coalesce::default(),
            None,
        ),
        &OpenPolicy::default(),
        mode,
        (crate::signals::shutdown_on_signal(), None),
    )
    .await?;
    if collected.reader_gone {
        // `mcsource demo | head`: the reader had enough; not a failure of the demo.
        console.say("demo: stdout closed by its reader; stopped");
        server.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    let code = report(console, &collected.summary, true)?;
    console.say(&format!(
        "demo: caught up in {:.2}s",
        started.elapsed().as_secs_f64()
    ));
    server.shutdown().await;
    Ok(code)
}

/// `mcsource mock`: serves the mock until interrupted, after writing a config for it.
pub(crate) async fn mock_cmd(console: Console, write_config: &Path) -> anyhow::Result<ExitCode> {
    let server = demo::start_mock()
        .await
        .context("cannot start the mock Mimecast")?;
    let text = demo::mock_config_toml(&server, "mock-state");
    write_private_new(write_config, &text)?;
    console.say(&format!(
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
