//! A real PostgreSQL server as a throwaway child process on loopback, for tests that write to
//! PostgreSQL: [`PgServer`].
//!
//! Each [`PgServer`] has a data directory of its own in a temporary directory (nothing
//! system-wide: no `/var/lib/postgresql`, no system cluster, no `pg_ctlcluster`), listens only
//! on 127.0.0.1 on a free port, and is stopped when dropped.
//!
//! ```no_run
//! use mimecast_receivers::PgServer;
//!
//! # fn main() -> Result<(), mimecast_receivers::ReceiverError> {
//! let mut pg = PgServer::start()?;
//! // ... point the code under test at pg.url():
//! //     postgres://mcsource:<password>@127.0.0.1:<port>/mcsource ...
//! pg.psql("create table t (x int)")?;
//! assert_eq!(pg.psql("select count(*) from t")?, "0");
//! pg.restart()?; // same port, same data
//! pg.kill()?; // SIGKILL: a crash
//! pg.start_again()?; // crash recovery
//! # Ok(()) }
//! ```
//!
//! # What [`PgServer::start`] runs
//!
//! With `<bin>` the newest `/usr/lib/postgresql/<version>/bin` (override: `MCSOURCE_PG_BIN`)
//! and `<tmp>` a fresh temporary directory `mcsource-postgres-XXXX`:
//!
//! ```text
//! <bin>/initdb -D <tmp>/data -U postgres --auth=trust -E UTF8 --locale=C --no-sync
//! (pg_hba.conf replaced, see below)
//! <bin>/postgres -D <tmp>/data -p <port> -c listen_addresses=127.0.0.1 -k <tmp>/socket \
//!     -c max_connections=100          (foreground, a child process; output in <tmp>/postgres.log)
//! <bin>/pg_isready -q -h 127.0.0.1 -p <port> -U postgres -d postgres   (polled, up to 20 s)
//! <bin>/psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p <port> -U postgres -d postgres \
//!     -c "CREATE ROLE mcsource LOGIN PASSWORD '<random>'" -c "CREATE DATABASE mcsource OWNER mcsource"
//! ```
//!
//! `fsync` stays on (the default): [`PgServer::kill`] followed by [`PgServer::start_again`] is
//! a real crash recovery. (`--no-sync` only skips initdb's final flush of the fresh cluster.)
//! `pg_hba.conf`:
//!
//! ```text
//! local all postgres                trust
//! host  all postgres 127.0.0.1/32   trust
//! local all all                     scram-sha-256
//! host  all all      127.0.0.1/32   scram-sha-256
//! ```
//!
//! So [`PgServer::url`] (role `mcsource`, owner of database `mcsource`, with a random password,
//! stored as SCRAM-SHA-256, PostgreSQL's default `password_encryption`) exercises password
//! authentication, while [`PgServer::superuser_url`] and [`PgServer::psql`] (role `postgres`)
//! need none.
//!
//! * [`PgServer::stop`] is a *fast* shutdown: SIGINT to the postmaster, what
//!   `pg_ctl stop -m fast -D <tmp>/data` sends (active transactions are rolled back, clients
//!   disconnected, a shutdown checkpoint written); SIGKILL after 20 s.
//! * [`PgServer::kill`] stops the postmaster (SIGSTOP, so it cannot fork meanwhile), then
//!   SIGKILLs it and every child process it has (backends, checkpointer, WAL writer, …) and
//!   waits until they are gone: the whole server dies at once, with nothing written out, as in
//!   a crash. (A postmaster killed alone leaves backends running until they notice, and those
//!   hold its shared memory, which would make the next start fail.)
//! * [`PgServer::restart`] / [`PgServer::start_again`] start `postgres` again on the same data
//!   directory and the same port (retrying for up to 20 s while the port is still taken).
//!
//! # Why a non-root user
//!
//! `initdb` and `postgres` refuse to run as root ("cannot be run as root"). When the test
//! process is root (as on CI), both run as the `postgres` system user the Debian package
//! creates (override: `MCSOURCE_PG_USER`): the child sets its uid and gid to that user's
//! (and drops supplementary groups) before exec, the equivalent of
//! `setpriv --reuid=postgres --regid=postgres --clear-groups -- <command>` (unlike `runuser`,
//! no intermediate process, so the child *is* the postmaster). The temporary directory is then
//! made mode 0711 (traversable, not listable), and `data` (mode 0700, as PostgreSQL requires)
//! and `socket` are owned by that user; every directory above the temporary directory must be
//! traversable by it (checked: set `TMPDIR` elsewhere if not). When the test process is not
//! root, everything runs as the current user. `psql` runs as the test process's user: it
//! connects over TCP, so the OS user does not matter.
//!
//! # Installing PostgreSQL
//!
//! `bash .ci/install-postgres.sh` (from the repository root) installs Debian's `postgresql`
//! package (PostgreSQL 15 on Debian 12) and makes sure the system cluster it creates
//! (`15/main`, port 5432) is not running and does not start with the machine. Without it,
//! [`PgServer::start`] fails with [`ReceiverError::PostgresNotInstalled`] naming that command.
//! Verified with PostgreSQL 15.18 (Debian 12).

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::receiver::listens;
use crate::ReceiverError;

/// The superuser role (trust authentication).
pub const PG_SUPERUSER: &str = "postgres";
/// The role with a password, owner of [`PG_DATABASE`].
pub const PG_USER: &str = "mcsource";
/// The database created for the tests.
pub const PG_DATABASE: &str = "mcsource";

const INSTALL_HINT: &str = "run `bash .ci/install-postgres.sh` from the repository root";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

const PG_HBA: &str = "\
# Written by mimecast-receivers' PgServer: the superuser without a password, everyone else with one.
local all postgres                trust
host  all postgres 127.0.0.1/32   trust
local all all                     scram-sha-256
host  all all      127.0.0.1/32   scram-sha-256
";

/// A real PostgreSQL server (`postgres` in the foreground, a child process) with a data
/// directory of its own in a temporary directory, listening on 127.0.0.1 on a free port, with
/// a database [`PG_DATABASE`] owned by role [`PG_USER`] (password authentication) and the
/// superuser [`PG_SUPERUSER`] (trust). See the [module docs](crate::postgres).
///
/// Dropping it stops the server (fast shutdown) and removes its files. Do not keep one in a
/// `static`: statics are never dropped, so the server would outlive the test process.
pub struct PgServer {
    bin: PathBuf,
    run_as: Option<OsUser>,
    work: tempfile::TempDir,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    /// Where the current run's part of the log starts.
    log_offset: u64,
    port: u16,
    password: String,
    child: Option<Child>,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgServer")
            .field("port", &self.port)
            .field("data_dir", &self.data)
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

/// The unprivileged OS user the server runs as when the test process is root.
#[derive(Debug, Clone)]
struct OsUser {
    name: String,
    uid: u32,
    gid: u32,
}

/// What one `postgres` launch came to.
enum Launch {
    Ready,
    /// Another process holds the port.
    PortTaken(String),
}

impl PgServer {
    /// initdb's a fresh cluster, starts it on 127.0.0.1 on a free port, and creates role
    /// [`PG_USER`] with a random password and database [`PG_DATABASE`]. Returns once the server
    /// accepts connections (at most 20 s, else [`ReceiverError::Postgres`] with its log).
    pub fn start() -> Result<Self, ReceiverError> {
        let bin = pg_bin_dir()?;
        let run_as = if is_root() {
            Some(OsUser::lookup(&pg_os_user())?)
        } else {
            None
        };
        let work = tempfile::Builder::new()
            .prefix("mcsource-postgres-")
            .tempdir()
            .map_err(|e| ReceiverError::io("creating the PostgreSQL temporary directory", e))?;
        let dir = work.path().to_path_buf();
        let data = dir.join("data");
        let socket_dir = dir.join("socket");
        for d in [&data, &socket_dir] {
            fs::create_dir(d)
                .map_err(|e| ReceiverError::io(format!("creating {}", d.display()), e))?;
            set_mode(d, 0o700)?;
        }
        if let Some(user) = &run_as {
            set_mode(&dir, 0o711)?;
            check_traversable(&dir, user)?;
            for d in [&data, &socket_dir] {
                std::os::unix::fs::chown(d, Some(user.uid), Some(user.gid)).map_err(|e| {
                    ReceiverError::io(format!("chown {} to {}", d.display(), user.name), e)
                })?;
            }
        }
        let mut server = Self {
            password: random_password()?,
            log: dir.join("postgres.log"),
            bin,
            run_as,
            work,
            data,
            socket_dir,
            log_offset: 0,
            port: 0,
            child: None,
        };
        server.initdb()?;

        let mut last_log = String::new();
        let mut ready = false;
        for _attempt in 0..5 {
            server.port = free_port()?;
            match server.launch()? {
                Launch::Ready => {
                    ready = true;
                    break;
                }
                // Another process took the port between our probe and the server's bind.
                Launch::PortTaken(log) => last_log = log,
            }
        }
        if !ready {
            return Err(ReceiverError::Postgres {
                what: "no free port after 5 attempts (address already in use)".into(),
                log: last_log,
            });
        }
        server.psql_in(
            "postgres",
            &[
                &format!("CREATE ROLE {PG_USER} LOGIN PASSWORD '{}'", server.password),
                &format!("CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}"),
            ],
        )?;
        Ok(server)
    }

    fn initdb(&self) -> Result<(), ReceiverError> {
        let mut cmd = self.command("initdb");
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-U", PG_SUPERUSER, "--auth=trust", "-E", "UTF8"])
            .args(["--locale=C", "--no-sync"]);
        let output = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ReceiverError::io("running initdb", e))?;
        if !output.status.success() {
            return Err(ReceiverError::Postgres {
                what: format!(
                    "initdb -D {} failed ({}){}",
                    self.data.display(),
                    output.status,
                    self.run_as
                        .as_ref()
                        .map(|u| format!(" as user {}", u.name))
                        .unwrap_or_default()
                ),
                log: output_text(&output),
            });
        }
        // Overwriting keeps the file's owner (the server's user) and mode.
        let hba = self.data.join("pg_hba.conf");
        fs::write(&hba, PG_HBA)
            .map_err(|e| ReceiverError::io(format!("writing {}", hba.display()), e))
    }

    /// A command running `<bin>/<program>` as the server's OS user, in the work directory,
    /// with no `PG*` variables from the environment.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd.current_dir(self.work.path());
        if let Some(user) = &self.run_as {
            // std drops the supplementary groups (setgroups(0)) when a root parent sets a uid.
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    /// Spawns `postgres` on `self.port` and waits until it accepts connections.
    fn launch(&mut self) -> Result<Launch, ReceiverError> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| ReceiverError::io(format!("opening {}", self.log.display()), e))?;
        self.log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|e| ReceiverError::io("duplicating the log file handle", e))?;
        let mut cmd = self.command("postgres");
        cmd.arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1", "-k"])
            .arg(&self.socket_dir)
            .args(["-c", "max_connections=100"])
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd
            .spawn()
            .map_err(|e| ReceiverError::io("starting postgres", e))?;
        self.child = Some(child);
        match self.wait_ready() {
            Ok(launch) => Ok(launch),
            Err(e) => {
                let _ = self.kill();
                Err(e)
            }
        }
    }

    fn wait_ready(&mut self) -> Result<Launch, ReceiverError> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let pid = match self.child.as_mut() {
                None => return Err(self.failed("the server was not started")),
                Some(child) => match child.try_wait() {
                    Ok(Some(status)) => {
                        self.child = None;
                        let log = self.current_log();
                        // "could not bind IPv4 address "127.0.0.1": Address already in use"
                        if log.contains("Address already in use") {
                            return Ok(Launch::PortTaken(log));
                        }
                        return Err(self.failed(&format!("postgres exited ({status})")));
                    }
                    Ok(None) => child.id(),
                    Err(e) => return Err(ReceiverError::io("waiting for postgres", e)),
                },
            };
            // Our postmaster holds the port (not some other process), and it accepts
            // connections (pg_isready says "rejecting" during startup and crash recovery).
            if listens(pid, &[self.port], &[]) && self.pg_isready() {
                return Ok(Launch::Ready);
            }
            if Instant::now() >= deadline {
                return Err(self.failed(&format!(
                    "not accepting connections on 127.0.0.1:{} within {STARTUP_TIMEOUT:?}",
                    self.port
                )));
            }
            sleep(Duration::from_millis(50));
        }
    }

    fn pg_isready(&self) -> bool {
        let mut cmd = Command::new(self.bin.join("pg_isready"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd.args(["-q", "-h", "127.0.0.1", "-t", "2", "-U", PG_SUPERUSER])
            .args(["-d", "postgres", "-p"])
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn failed(&self, why: &str) -> ReceiverError {
        ReceiverError::Postgres {
            what: format!(
                "the server (data directory {}) did not start: {why}",
                self.data.display()
            ),
            log: self.current_log(),
        }
    }

    /// The server's output (its log) since its latest start.
    pub fn current_log(&self) -> String {
        crate::receiver::log_since(&self.log, self.log_offset)
    }

    /// `postgres://mcsource:<password>@127.0.0.1:<port>/mcsource`: role [`PG_USER`], password
    /// authentication (SCRAM-SHA-256).
    pub fn url(&self) -> String {
        format!(
            "postgres://{PG_USER}:{}@127.0.0.1:{}/{PG_DATABASE}",
            self.password, self.port
        )
    }

    /// `postgres://postgres@127.0.0.1:<port>/mcsource`: the superuser, no password (trust).
    pub fn superuser_url(&self) -> String {
        format!(
            "postgres://{PG_SUPERUSER}@127.0.0.1:{}/{PG_DATABASE}",
            self.port
        )
    }

    /// The port on 127.0.0.1 (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// [`PG_USER`]'s password (random, hex).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The postmaster's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the postmaster is still running (`false` after it died, was stopped or killed).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// The data directory (`<tmp>/data`, as given to `postgres -D`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The temporary directory holding `data`, `socket` and `postgres.log`.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// The file collecting the server's output over all its runs.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The directory of `initdb`, `postgres`, `psql`, … in use.
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// The OS user the server runs as: the `postgres` system user (or `MCSOURCE_PG_USER`)
    /// when the test process is root, else `None` (the current user).
    pub fn os_user(&self) -> Option<&str> {
        self.run_as.as_ref().map(|u| u.name.as_str())
    }

    /// Runs `psql -X -At -v ON_ERROR_STOP=1 -c <sql>` as the superuser in database
    /// [`PG_DATABASE`] and returns its output without the final newline (rows one a line,
    /// columns separated by `|`). A failing statement is [`ReceiverError::Postgres`] with
    /// psql's stderr.
    pub fn psql(&self, sql: &str) -> Result<String, ReceiverError> {
        self.psql_in(PG_DATABASE, &[sql])
    }

    /// Runs `psql -X -At -v ON_ERROR_STOP=1 -c <sql> <url>` (any role, any database, with the
    /// password in the URL), e.g. with [`PgServer::url`] to check password authentication.
    pub fn psql_url(&self, url: &str, sql: &str) -> Result<String, ReceiverError> {
        self.run_psql(&[url], &[sql])
    }

    fn psql_in(&self, database: &str, statements: &[&str]) -> Result<String, ReceiverError> {
        let port = self.port.to_string();
        self.run_psql(
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                PG_SUPERUSER,
                "-d",
                database,
            ],
            statements,
        )
    }

    fn run_psql(&self, target: &[&str], statements: &[&str]) -> Result<String, ReceiverError> {
        let mut cmd = Command::new(self.bin.join("psql"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                cmd.env_remove(key);
            }
        }
        cmd.env("PGCONNECT_TIMEOUT", "10")
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]);
        for sql in statements {
            cmd.arg("-c").arg(sql);
        }
        cmd.args(target);
        let output = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ReceiverError::io("running psql", e))?;
        if !output.status.success() {
            return Err(ReceiverError::Postgres {
                what: format!("psql -c {statements:?} failed ({})", output.status),
                log: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        if text.ends_with('\n') {
            text.pop();
        }
        Ok(text)
    }

    /// Fast shutdown (SIGINT to the postmaster, as `pg_ctl stop -m fast`) and waits for it to
    /// exit; after 20 s, [`PgServer::kill`]. Does nothing if it is not running.
    pub fn stop(&mut self) -> Result<(), ReceiverError> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            self.child = None;
            return Ok(());
        }
        signal(child.id(), libc::SIGINT);
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => {
                    self.child = None;
                    return Ok(());
                }
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                _ => break,
            }
        }
        self.kill()
    }

    /// A crash: SIGKILL to the postmaster and all its child processes at once (see the module
    /// docs), waiting until they are gone. Nothing is written out; [`PgServer::start_again`]
    /// then runs crash recovery. Does nothing if it is not running.
    pub fn kill(&mut self) -> Result<(), ReceiverError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        let pid = child.id();
        // Stopped, the postmaster cannot fork new children while we look for them.
        signal(pid, libc::SIGSTOP);
        let children = children_of(pid);
        signal(pid, libc::SIGKILL);
        for &c in &children {
            signal(c, libc::SIGKILL);
        }
        child
            .wait()
            .map_err(|e| ReceiverError::io("waiting for the killed postmaster", e))?;
        // The children are no longer ours once reparented: wait until they are gone (or
        // zombies), since they hold the server's shared memory.
        let deadline = Instant::now() + Duration::from_secs(10);
        while children.iter().any(|&c| alive(c)) && Instant::now() < deadline {
            sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Stops the server (as [`PgServer::stop`]) and starts it again on the same data directory
    /// and port: "PostgreSQL restarted".
    pub fn restart(&mut self) -> Result<(), ReceiverError> {
        self.stop()?;
        self.start_again()
    }

    /// Starts the server again after [`PgServer::stop`] or [`PgServer::kill`] (or after it
    /// died), on the same data directory and port; after a kill this is crash recovery. Stops
    /// it first if it still runs. Waits until it accepts connections.
    pub fn start_again(&mut self) -> Result<(), ReceiverError> {
        self.stop()?;
        // The port may still be held for a moment (e.g. by a client's test listener): retry.
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            match self.launch()? {
                Launch::Ready => return Ok(()),
                Launch::PortTaken(log) => {
                    if Instant::now() >= deadline {
                        return Err(ReceiverError::Postgres {
                            what: format!(
                                "port {} still taken by another process after {STARTUP_TIMEOUT:?}",
                                self.port
                            ),
                            log,
                        });
                    }
                    sleep(Duration::from_millis(200));
                }
            }
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.stop().is_err() {
            let _ = self.kill();
        }
    }
}

/// The directory of PostgreSQL's programs: `$MCSOURCE_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` holding `initdb`, `postgres`, `pg_isready` and `psql`.
pub fn pg_bin_dir() -> Result<PathBuf, ReceiverError> {
    if let Some(dir) = std::env::var_os("MCSOURCE_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        check_bin_dir(&dir)?;
        return Ok(dir);
    }
    pg_bin_dir_under(Path::new("/usr/lib/postgresql"))
}

fn pg_bin_dir_under(root: &Path) -> Result<PathBuf, ReceiverError> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let version: Option<Vec<u32>> =
                        name.split('.').map(|p| p.parse::<u32>().ok()).collect();
                    version.map(|v| (v, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    match versions.pop() {
        Some((_, dir)) => {
            check_bin_dir(&dir)?;
            Ok(dir)
        }
        None => Err(ReceiverError::PostgresNotInstalled {
            missing: root.join("<version>/bin/postgres"),
            hint: INSTALL_HINT,
        }),
    }
}

fn check_bin_dir(dir: &Path) -> Result<(), ReceiverError> {
    for program in ["initdb", "postgres", "pg_isready", "psql"] {
        let path = dir.join(program);
        if !path.is_file() {
            return Err(ReceiverError::PostgresNotInstalled {
                missing: path,
                hint: INSTALL_HINT,
            });
        }
    }
    Ok(())
}

/// `$MCSOURCE_PG_USER`, else `postgres`.
fn pg_os_user() -> String {
    std::env::var("MCSOURCE_PG_USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres".to_string())
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

impl OsUser {
    /// Looks the user up with `id -u` / `id -g` (NSS, as the system sees it).
    fn lookup(name: &str) -> Result<Self, ReceiverError> {
        let id = |flag: &str| -> Result<u32, ReceiverError> {
            let output = Command::new("id")
                .arg(flag)
                .arg("--")
                .arg(name)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| ReceiverError::io(format!("running id {flag} {name}"), e))?;
            let text = String::from_utf8_lossy(&output.stdout);
            match text.trim().parse::<u32>() {
                Ok(n) if output.status.success() => Ok(n),
                _ => Err(ReceiverError::Postgres {
                    what: format!(
                        "the test process is root and PostgreSQL refuses to run as root, but \
                         OS user {name:?} (to run it as; MCSOURCE_PG_USER) does not exist; {INSTALL_HINT}"
                    ),
                    log: output_text(&output),
                }),
            }
        };
        Ok(Self {
            name: name.to_string(),
            uid: id("-u")?,
            gid: id("-g")?,
        })
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), ReceiverError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| ReceiverError::io(format!("chmod {mode:o} {}", path.display()), e))
}

/// Every directory above `dir` must let `user` through (search permission), or the server
/// cannot reach its data directory.
fn check_traversable(dir: &Path, user: &OsUser) -> Result<(), ReceiverError> {
    for ancestor in dir.ancestors().skip(1) {
        let Ok(meta) = fs::metadata(ancestor) else {
            continue;
        };
        let mode = meta.mode();
        let ok = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return Err(ReceiverError::Postgres {
                what: format!(
                    "{} (mode {:o}) is not traversable by OS user {}, who runs the server: \
                     set TMPDIR to a directory it can reach",
                    ancestor.display(),
                    mode & 0o7777,
                    user.name
                ),
                log: String::new(),
            });
        }
    }
    Ok(())
}

/// A port free on 127.0.0.1 at the moment.
fn free_port() -> Result<u16, ReceiverError> {
    let io = |e| ReceiverError::io("binding 127.0.0.1:0 to find a free port", e);
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    Ok(listener.local_addr().map_err(io)?.port())
}

/// 24 hex digits from /dev/urandom.
fn random_password() -> Result<String, ReceiverError> {
    let mut bytes = [0u8; 12];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ReceiverError::io("reading /dev/urandom", e))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn output_text(output: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    text
}

fn signal(pid: u32, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) has no memory-safety preconditions. The pids are our own unreaped
        // child (the postmaster) and, while it is stopped and unreaped, its children, so none
        // can have been reused.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// The processes whose parent is `pid`, per /proc.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat_of(p).is_some_and(|(_, ppid)| ppid == pid))
        .collect()
}

/// (state, parent pid) from /proc/<pid>/stat.
fn stat_of(pid: u32) -> Option<(char, u32)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    stat_of(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_postgres_names_the_install_script() {
        let Err(e) = pg_bin_dir_under(Path::new("/nonexistent/postgresql")) else {
            panic!("found PostgreSQL in /nonexistent");
        };
        let text = e.to_string();
        assert!(text.contains("bash .ci/install-postgres.sh"), "{text}");
        assert!(text.contains("/nonexistent/postgresql"), "{text}");
    }

    #[test]
    fn stat_parses_odd_command_names() {
        let me = std::process::id();
        let (state, ppid) = stat_of(me).expect("own /proc stat");
        assert_ne!(state, 'Z');
        assert!(ppid > 0);
    }
}
