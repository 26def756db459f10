//! `mcsource`: run the mimecast-source component against Mimecast (`run`), try it against the
//! bundled mock (`demo`, `mock`), validate a configuration (`check`, `check --online`), or find
//! an API 1.0 account's region (`discover`).

mod check;
mod console;
mod demo;
mod discover;
mod reset;
mod run;
mod setup;
mod signals;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use console::Console;

/// `mcsource --version`: the host, the bundled component and its WIT package, so a bug report
/// says which guest ran.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (component mimecast-source ",
    env!("MIMECAST_SOURCE_VERSION"),
    ", WIT ",
    env!("MIMECAST_SOURCE_WIT"),
    ")"
);

/// Collects Mimecast TTP logs (URL, Impersonation, Attachment Protect) with a sandboxed
/// WebAssembly component.
#[derive(Parser)]
#[command(name = "mcsource", version, long_version = LONG_VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `text` for people, `json` (one object per line)
    /// for log shippers. Verbosity comes from `RUST_LOG` (default `info`).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

/// The shape of the log lines on stderr.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines, coloured when stderr is a terminal.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields`, `target`, `span`s.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Collect from the tenants in a config file, polling each on its interval.
    Run {
        /// TOML configuration (see examples/).
        #[arg(long)]
        config: PathBuf,
        /// Poll every tenant until caught up, then exit (non-zero if any log type failed).
        #[arg(long)]
        once: bool,
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
        /// Go on although the state cannot vouch for what the file sink holds (the state
        /// database is missing, empty or damaged, or records another length): the sink is kept
        /// as it is, and what the state does not cover is collected again (same event ids).
        #[arg(long)]
        accept_state_loss: bool,
    },
    /// Start the bundled mock Mimecast and collect all three log types from it to stdout.
    Demo {
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Validate a config file and report every problem at once.
    Check {
        /// TOML configuration.
        #[arg(long)]
        config: PathBuf,
        /// Also make one minimal real request per tenant and log type, and print a table of OK
        /// or what to fix.
        #[arg(long)]
        online: bool,
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Print the regional API 1.0 base URL of the account a service user belongs to.
    Discover {
        /// The service user's e-mail address.
        #[arg(long)]
        email: String,
        /// The API 1.0 Application ID (sent as x-mc-app-id).
        #[arg(long)]
        app_id: String,
        /// Discovery host.
        #[arg(long, default_value = mimecast_host::config::DEFAULT_DISCOVER_URL)]
        discover_url: String,
        /// Use this component instead of the bundled one.
        #[arg(long)]
        component: Option<PathBuf>,
    },
    /// Show each tenant's log types: events delivered, lag, retries, rate-limit waits, checkpoint
    /// size, last error.
    Status {
        /// TOML configuration (its state_dir is read).
        #[arg(long)]
        config: PathBuf,
    },
    /// Forget the checkpoints of a tenant's log types, so the next run collects them again from
    /// `lookback` (records delivered before come again, with the same event ids).
    Reset {
        /// TOML configuration (its state_dir is changed).
        #[arg(long)]
        config: PathBuf,
        /// The tenant whose checkpoints go.
        #[arg(long)]
        tenant: String,
        /// A log type to reset (repeat the flag for more); default: all three.
        #[arg(long = "log-type", value_parser = mimecast_host::log_type::LogType::NAMES)]
        log_types: Vec<String>,
    },
    /// Serve the mock Mimecast on loopback until interrupted, and write a config for `run`.
    Mock {
        /// Where to write the config that points at the mock.
        #[arg(long, default_value = "mock-config.toml")]
        write_config: PathBuf,
    },
    /// Write the man page (`man`) or a shell's completions (`bash`, `zsh`, `fish`, `elvish`,
    /// `powershell`) to stdout, for packaging.
    #[command(hide = true)]
    Generate {
        /// `man`, or a shell name.
        what: Generated,
    },
}

/// What `mcsource generate` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Generated {
    /// The man page, mcsource(1), in roff.
    Man,
    /// bash completions.
    Bash,
    /// zsh completions.
    Zsh,
    /// fish completions.
    Fish,
    /// elvish completions.
    Elvish,
    /// PowerShell completions.
    Powershell,
}

/// Writes the man page or completions of the CLI to stdout.
fn generate(what: Generated) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    use clap_complete::Shell;
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    let shell = match what {
        Generated::Man => {
            clap_mangen::Man::new(command).render(&mut out)?;
            return Ok(ExitCode::SUCCESS);
        }
        Generated::Bash => Shell::Bash,
        Generated::Zsh => Shell::Zsh,
        Generated::Fish => Shell::Fish,
        Generated::Elvish => Shell::Elvish,
        Generated::Powershell => Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut command, "mcsource", &mut out);
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(mimecast_host::log_filter::directives(
                std::env::var("RUST_LOG").ok().as_deref(),
            ))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        );
    match cli.log_format {
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    let console = Console::new(cli.log_format == LogFormat::Json);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            console.error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(console, cli.command)) {
        Ok(code) => code,
        Err(e) => {
            console.error(&mimecast_host::error_chain::one_line(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// Runs `command`.
async fn dispatch(console: Console, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            config,
            once,
            component,
            accept_state_loss,
        } => {
            run::run(
                console,
                &config,
                once,
                component.as_deref(),
                accept_state_loss,
            )
            .await
        }
        Command::Demo { component } => demo::demo_cmd(console, component.as_deref()).await,
        Command::Check {
            config,
            online,
            component,
        } => check::check(&config, online, component.as_deref()).await,
        Command::Discover {
            email,
            app_id,
            discover_url,
            component,
        } => discover::discover_cmd(&email, &app_id, &discover_url, component.as_deref()).await,
        Command::Mock { write_config } => demo::mock_cmd(console, &write_config).await,
        Command::Status { config } => status::status(&config),
        Command::Reset {
            config,
            tenant,
            log_types,
        } => reset::reset(&config, &tenant, &log_types),
        Command::Generate { what } => generate(what),
    }
}
