//! `mimecast-bench`: runs the benchmark harness and prints its markdown report; with `--out`,
//! also writes it into that file between the report's markers (the analysis around them stays).
//! `cargo run --release -p mimecast-bench -- --out docs/benchmarks.md` reproduces the published
//! figures.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use clap::Parser;
use mimecast_bench as bench;

/// Measures what the sandbox costs (component vs native, per tenant, scaling) and prints a
/// markdown report.
#[derive(Debug, Parser)]
#[command(name = "mimecast-bench", version)]
struct Cli {
    /// A markdown file to write the report into (e.g. docs/benchmarks.md): the part between the
    /// report's markers is replaced, the text around it kept. Without it, the report is only
    /// printed.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Tiny sizes: checks every section runs, in seconds; the figures mean nothing.
    #[arg(long)]
    smoke: bool,
    /// Run one section only and print it; with `--out`, replace only that section's tables.
    #[arg(long, value_enum)]
    only: Option<bench::Section>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(mimecast_host::log_filter::directives(
                std::env::var("RUST_LOG").ok().as_deref(),
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<()> {
    let sizes = if cli.smoke {
        bench::Sizes::smoke()
    } else {
        bench::Sizes::full()
    };
    let cache = std::env::var_os("MCSOURCE_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(bench::default_cache_dir);
    let report = bench::run(&sizes, &cache, cli.only).await?;
    print!("{report}");
    match (&cli.out, cli.only) {
        (None, _) => Ok(()),
        (Some(out), None) => write_report(out, &report, false),
        // Only the sections measured are replaced.
        (Some(out), Some(_)) => write_report(out, &report, true),
    }
}

/// Replaces the generated part of `out` with `report`, or with `sections_only` the sections
/// `report` has rows for.
fn write_report(out: &Path, report: &str, sections_only: bool) -> anyhow::Result<()> {
    if std::env::var_os("MCSOURCE_BENCH_GUEST").is_some() {
        // An experimental guest's figures are not the published ones.
        bail!(
            "MCSOURCE_BENCH_GUEST is set: not writing {} (that guest is an experiment; use \
             --only parse to compare it)",
            out.display()
        );
    }
    let existing = std::fs::read_to_string(out).ok();
    let text = if sections_only {
        let existing = existing
            .with_context(|| format!("--only needs an existing report in {}", out.display()))?;
        bench::splice_sections(&existing, report)?
    } else {
        bench::splice(existing.as_deref(), report)
    };
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("mimecast-bench: wrote {}", out.display());
    Ok(())
}
