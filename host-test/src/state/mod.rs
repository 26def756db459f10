//! Durable collector state: checkpoints, the committed length of the file sink, and per-log-type
//! health counters for `mcsource status`. `StateStore` is the seam where a shared store (e.g.
//! PostgreSQL, for several hosts) can replace the embedded one. `SqliteStore` keeps everything in
//! one SQLite database (WAL, `synchronous = FULL`): a checkpoint and the sink length it belongs to
//! are committed in one transaction, so a `kill -9` at any instant leaves a consistent pair.
//! `postgres::PostgresStore` keeps the same in PostgreSQL (`[state] type = "postgres"`).

pub mod postgres;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

/// A state-store failure. The cause is part of the message (not a `source`), so it shows
/// however the error is formatted, also with a plain `{e}` or `{e:#}`.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The database could not be opened or created.
    #[error("cannot open the state database {path}: {cause}")]
    Open {
        /// Database file.
        path: String,
        /// Cause.
        cause: rusqlite::Error,
    },
    /// The database holds something that cannot be right (a negative sink length), or is
    /// empty, truncated or corrupt: it cannot vouch for what was delivered. The message names
    /// the file and what was found.
    #[error("{0}")]
    Damaged(String),
    /// A read or write failed.
    #[error("state database {action} failed: {cause}")]
    Query {
        /// What was being done.
        action: &'static str,
        /// Cause.
        cause: rusqlite::Error,
    },
    /// A PostgreSQL state store's connection, read or write failed (retried like any other
    /// failure; a broken connection is made again).
    #[error("PostgreSQL state {action} failed: {cause}")]
    Database {
        /// What was being done.
        action: &'static str,
        /// Cause, in words (never the connection URL).
        cause: String,
    },
    /// Another process holds the state.
    #[error("{0}")]
    Busy(String),
    /// A commit was sent but its answer was lost (the connection broke): it may or may not
    /// have been made; read the checkpoint back to tell.
    #[error("the answer to a PostgreSQL state commit was lost ({0}); it may have been made")]
    CommitUnknown(String),
    /// Another host holds this tenant's lease now (a newer claim): this host's batch is not
    /// committed, and the tenant moves to the other host.
    #[error("tenant {0}'s lease is held by another host now (a newer claim); this host's batch is not committed")]
    Fenced(String),
}

/// Why `state_dir` cannot be claimed by this process.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the lock.
    #[error("another mcsource is using state_dir {0}; stop it first (two collectors on one state would deliver every batch twice)")]
    Busy(String),
    /// The lock file cannot be created or locked.
    #[error("cannot lock state_dir {path}: {source}")]
    Io {
        /// The lock file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}

/// File name of the lock inside `state_dir`.
pub const LOCK_FILE: &str = "lock";

/// An exclusive claim on a `state_dir`, held until dropped (or the process ends, also by
/// `kill -9`: the operating system releases the lock with the file).
#[derive(Debug)]
pub struct StateDirLock {
    file: std::fs::File,
    used_before: bool,
}

/// What [`StateDirLock::record_database`] writes into the lock file.
const LOCK_MARK: &[u8] = b"mcsource state_dir: its database was made\n";

impl StateDirLock {
    /// Whether `state_dir` shows an earlier run that made its database (the lock file was
    /// marked by [`StateDirLock::record_database`], or the compiled-code cache is there), so
    /// a database missing there was lost, not never made.
    pub fn used_before(&self) -> bool {
        self.used_before
    }

    /// Marks the lock file: the database of this `state_dir` exists (call once it is open).
    ///
    /// # Errors
    /// The lock file cannot be written.
    pub fn record_database(&self) -> std::io::Result<()> {
        use std::io::Write as _;
        if self.used_before {
            return Ok(());
        }
        let mut file = &self.file;
        file.set_len(0)?;
        file.write_all(LOCK_MARK)?;
        file.sync_data()
    }
}

/// Name of the compiled-code cache `run` keeps inside `state_dir` by default.
pub const COMPILED_DIR: &str = "compiled";

/// Claims `state_dir` (creating it if needed) for this process with an exclusive,
/// non-blocking lock on `state_dir/lock`. Readers (`mcsource status`) do not take it.
///
/// # Errors
/// [`LockError::Busy`] if another process holds it, else why it cannot be taken.
pub fn lock_state_dir(state_dir: &Path) -> Result<StateDirLock, LockError> {
    let path = state_dir.join(LOCK_FILE);
    let io_err = |source| LockError::Io {
        path: path.display().to_string(),
        source,
    };
    let used_before = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
        || state_dir.join(COMPILED_DIR).exists();
    std::fs::create_dir_all(state_dir).map_err(io_err)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err)?;
    match file.try_lock() {
        Ok(()) => Ok(StateDirLock { file, used_before }),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(LockError::Busy(state_dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io_err(e)),
    }
}

/// One delivered batch, committed atomically.
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    /// Tenant id.
    pub tenant: &'a str,
    /// `url`, `impersonation` or `attachment`.
    pub log_type: &'a str,
    /// The checkpoint that follows the batch.
    pub checkpoint: &'a str,
    /// Events in the batch.
    pub delivered: u64,
    /// Unix seconds up to which every record has been delivered, if known.
    pub cursor: Option<i64>,
    /// For a sink that can be cut back: its id and length after the batch.
    pub sink: Option<(&'a str, u64)>,
    /// The lease under which the batch was fetched, where several hosts share tenants: a
    /// fenced store commits only while this is still the tenant's current lease, so a host
    /// that lost it cannot move the checkpoint. `None` for a single host; the SQLite store,
    /// which one host holds by its file lock, accepts and ignores it.
    pub lease: Option<Lease>,
}

/// Which host held a tenant, and under which claim, when a batch was fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// The claim's number; it grows with every claim of the tenant by any host.
    pub epoch: u64,
}

/// A failed or throttled poll, for the health counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// Retried with backoff.
    Retry,
    /// Waited for a rate-limit reset.
    RateLimitWait,
    /// Stopped until the setup is fixed.
    Error,
}

/// Health of one tenant's log type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Tenant id.
    pub tenant: String,
    /// Log type.
    pub log_type: String,
    /// Events delivered since the state was created.
    pub delivered: u64,
    /// Unix seconds up to which every record has been delivered.
    pub cursor: Option<i64>,
    /// Unix seconds of the last successful poll.
    pub last_success: Option<i64>,
    /// Retries after transient failures.
    pub retries: u64,
    /// Rate-limit waits.
    pub rate_limit_waits: u64,
    /// The last error, cleared by the next success.
    pub last_error: Option<String>,
    /// Unix seconds of the last error.
    pub last_error_at: Option<i64>,
    /// Size of the committed checkpoint (window, page token and dedup digests), bytes.
    pub checkpoint_bytes: Option<u64>,
}

/// Everything a run keeps, split by concern so each can live in another store (a shared,
/// fenced one for several hosts, say): the SQLite store implements all four.
pub trait StateStore: Checkpoints + SinkLengths + Pauses + Health {}

impl<T: Checkpoints + SinkLengths + Pauses + Health> StateStore for T {}

/// Checkpoints: what each tenant's log type has delivered. A commit moves one only after its
/// batch is durable; a fenced store (several hosts) refuses a commit whose owner lost the lease.
pub trait Checkpoints: Send {
    /// The committed checkpoint of a tenant's log type.
    ///
    /// # Errors
    /// The store cannot be read.
    fn load(&self, tenant: &str, log_type: &str) -> Result<Option<String>, StateError>;

    /// Commits a delivered batch: checkpoint, counters and sink length, all or nothing.
    ///
    /// # Errors
    /// Nothing was committed.
    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StateError>;

    /// Commits batches delivered together. A store that can (SQLite) commits them all or
    /// nothing in one transaction; by default one after the other, stopping at the first
    /// failure.
    ///
    /// # Errors
    /// A commit failed; with the default, the ones before it stay committed.
    fn commit_all(&mut self, commits: &[Commit<'_>]) -> Result<(), StateError> {
        commits.iter().try_for_each(|c| self.commit(c))
    }

    /// Forgets the checkpoint of a tenant's log type (`mcsource reset`), so the next run starts
    /// again from the look-back; its cursor and last error go too, its counters stay. Returns
    /// whether there was a checkpoint.
    ///
    /// # Errors
    /// Nothing was changed.
    fn forget(&mut self, tenant: &str, log_type: &str) -> Result<bool, StateError>;
}

/// Committed lengths of sinks that can be cut back (the file sink), so a restart cuts what a
/// crash left uncommitted.
pub trait SinkLengths: Send {
    /// The committed length of a sink, if one was ever committed.
    ///
    /// # Errors
    /// The store cannot be read.
    fn sink_length(&self, sink: &str) -> Result<Option<u64>, StateError>;

    /// Sets a sink's committed length outside a batch (when a sink is first used or was found
    /// shorter than recorded).
    ///
    /// # Errors
    /// The store cannot be written.
    fn set_sink_length(&mut self, sink: &str, length: u64) -> Result<(), StateError>;
}

/// Rate-limit pauses per tenant, kept so a restart honours them.
pub trait Pauses: Send {
    /// Remembers that no call may be made for `tenant` before `until_ms` (Unix milliseconds),
    /// so a restart honours a pending `X-RateLimit-Reset` too.
    ///
    /// # Errors
    /// The store cannot be written.
    fn set_pause(&mut self, tenant: &str, until_ms: u64) -> Result<(), StateError>;

    /// The pause set for `tenant`, if any (it may be in the past).
    ///
    /// # Errors
    /// The store cannot be read.
    fn pause(&self, tenant: &str) -> Result<Option<u64>, StateError>;
}

/// Health counters and last errors per tenant and log type, for `status`.
pub trait Health: Send {
    /// Counts a failed or throttled poll and remembers its message.
    ///
    /// # Errors
    /// The store cannot be written.
    fn record_trouble(
        &mut self,
        tenant: &str,
        log_type: &str,
        trouble: Trouble,
        message: &str,
    ) -> Result<(), StateError>;

    /// Health of every tenant's log types, sorted.
    ///
    /// # Errors
    /// The store cannot be read.
    fn statuses(&self) -> Result<Vec<Status>, StateError>;
}

/// The embedded store: one SQLite file.
pub struct SqliteStore {
    conn: Connection,
}

/// File name of the database inside `state_dir`.
pub const DATABASE_FILE: &str = "mcsource.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS checkpoint (
    tenant      TEXT NOT NULL,
    log_type    TEXT NOT NULL,
    checkpoint  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant, log_type)
);
CREATE TABLE IF NOT EXISTS sink_length (
    sink        TEXT PRIMARY KEY,
    length      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_pause (
    tenant      TEXT PRIMARY KEY,
    until_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS status (
    tenant            TEXT NOT NULL,
    log_type          TEXT NOT NULL,
    delivered         INTEGER NOT NULL DEFAULT 0,
    cursor            INTEGER,
    last_success      INTEGER,
    retries           INTEGER NOT NULL DEFAULT 0,
    rate_limit_waits  INTEGER NOT NULL DEFAULT 0,
    last_error        TEXT,
    last_error_at     INTEGER,
    PRIMARY KEY (tenant, log_type)
);
";

const SET_SINK_LENGTH: &str = "INSERT INTO sink_length (sink, length) VALUES (?1, ?2)
     ON CONFLICT (sink) DO UPDATE SET length = ?2";

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Makes a new database at `path` whole or not at all: under another name first, then
/// renamed into place, so a crash while it is made never leaves an empty or partial file at
/// `path` (which would be taken for a damaged one).
fn create_database(path: &Path) -> Result<(), rusqlite::Error> {
    let mut new = path.as_os_str().to_owned();
    new.push(".new");
    let new = std::path::PathBuf::from(new);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut stale = new.as_os_str().to_owned();
        stale.push(suffix);
        let _ = std::fs::remove_file(stale);
    }
    let conn = Connection::open(&new)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch(SCHEMA)?;
    conn.close().map_err(|(_, e)| e)?;
    std::fs::rename(&new, path)
        .map_err(|e| rusqlite::Error::InvalidPath(format!("{} ({e})", path.display()).into()))
}

/// Whether `path` is an existing file of 0 bytes.
fn is_empty_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == 0)
}

/// Whether the write-ahead log of the database at `path` holds anything.
fn has_wal(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).is_ok_and(|m| m.len() > 0)
}

/// SQLite's `quick_check`: `Err` with its first finding (or the error) if the database is
/// corrupt.
fn quick_check(conn: &Connection) -> Result<(), String> {
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
        .map_err(|e| e.to_string())?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(verdict)
    }
}

fn query(action: &'static str) -> impl FnOnce(rusqlite::Error) -> StateError {
    move |cause| StateError::Query { action, cause }
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `state_dir`.
    ///
    /// # Errors
    /// The directory or database cannot be created, or the schema cannot be applied.
    pub fn open(state_dir: &Path) -> Result<SqliteStore, StateError> {
        let path = state_dir.join(DATABASE_FILE);
        let open_err = |cause| StateError::Open {
            path: path.display().to_string(),
            cause,
        };
        std::fs::create_dir_all(state_dir).map_err(|e| {
            open_err(rusqlite::Error::InvalidPath(
                format!("{} ({e})", state_dir.display()).into(),
            ))
        })?;
        if is_empty_file(&path) && !has_wal(&path) {
            return Err(StateError::Damaged(format!(
                "the state database {} is empty (0 bytes): it was truncated or replaced, and \
                 the checkpoints and the sink length it held are gone",
                path.display()
            )));
        }
        if !path.exists() {
            create_database(&path).map_err(open_err)?;
        }
        let conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        if let Err(problem) = quick_check(&conn) {
            return Err(StateError::Damaged(format!(
                "the state database {} is damaged ({problem}): it cannot vouch for the \
                 checkpoints and the sink length it held",
                path.display()
            )));
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        conn.execute_batch(SCHEMA).map_err(open_err)?;
        Ok(SqliteStore { conn })
    }

    /// Opens the database in `state_dir` for `run`. Refuses, with [`StateError::Damaged`], a
    /// database that is empty or corrupt, or missing from a `state_dir` that was used before
    /// (`used_before`): starting afresh there would deliver everything again. With
    /// `accept_loss` it goes on instead: a damaged file is moved aside (to
    /// `mcsource.sqlite3.damaged-UNIXTIME`, with its `-wal` and `-shm`) and a new database is
    /// made; the second value then says what was accepted, for a warning.
    ///
    /// # Errors
    /// As [`SqliteStore::open`], and the refusals above.
    pub fn open_for_run(
        state_dir: &Path,
        used_before: bool,
        accept_loss: bool,
    ) -> Result<(SqliteStore, Option<String>), StateError> {
        let path = state_dir.join(DATABASE_FILE);
        let missing = !path.exists();
        if missing && used_before {
            let why = format!(
                "the state database {} is missing although {} was used before (its lock file \
                 or compiled-code cache is there): the checkpoints and the sink length it held \
                 are gone",
                path.display(),
                state_dir.display()
            );
            if !accept_loss {
                return Err(StateError::Damaged(why));
            }
            return SqliteStore::open(state_dir).map(|s| (s, Some(why)));
        }
        match SqliteStore::open(state_dir) {
            Err(StateError::Damaged(why)) if accept_loss => {
                let aside = format!("{DATABASE_FILE}.damaged-{}", unix_now());
                for suffix in ["", "-wal", "-shm"] {
                    let from = state_dir.join(format!("{DATABASE_FILE}{suffix}"));
                    if from.exists() {
                        std::fs::rename(&from, state_dir.join(format!("{aside}{suffix}")))
                            .map_err(|e| {
                                StateError::Damaged(format!(
                                    "{why}; it cannot be moved aside ({e})"
                                ))
                            })?;
                    }
                }
                let why = format!("{why}; moved aside to {aside}");
                SqliteStore::open(state_dir).map(|s| (s, Some(why)))
            }
            other => other.map(|s| (s, None)),
        }
    }

    /// Reads one non-negative integer selected by `key`.
    fn read_u64(
        &self,
        sql: &str,
        key: &str,
        action: &'static str,
    ) -> Result<Option<u64>, StateError> {
        self.conn
            .query_row(sql, params![key], |row| row.get::<_, i64>(0))
            .optional()
            .map(|v| v.map(|n| n.max(0) as u64))
            .map_err(query(action))
    }

    /// Opens an existing database read-only-in-spirit (for `status`); `None` if there is none.
    ///
    /// # Errors
    /// The database exists but cannot be opened.
    pub fn open_existing(state_dir: &Path) -> Result<Option<SqliteStore>, StateError> {
        if state_dir.join(DATABASE_FILE).exists() {
            SqliteStore::open(state_dir).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The state kept in `state_dir`, if a run has made one, for the commands that read or edit
/// it (`status`, `reset`): they use it only through the state traits.
///
/// # Errors
/// The database exists but cannot be opened.
pub fn open_existing(state_dir: &Path) -> Result<Option<Box<dyn StateStore>>, StateError> {
    Ok(SqliteStore::open_existing(state_dir)?.map(|s| Box::new(s) as Box<dyn StateStore>))
}

impl Checkpoints for SqliteStore {
    fn load(&self, tenant: &str, log_type: &str) -> Result<Option<String>, StateError> {
        self.conn
            .query_row(
                "SELECT checkpoint FROM checkpoint WHERE tenant = ?1 AND log_type = ?2",
                params![tenant, log_type],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("checkpoint read"))
    }

    fn commit(&mut self, c: &Commit<'_>) -> Result<(), StateError> {
        self.commit_all(std::slice::from_ref(c))
    }

    /// Every commit in one transaction (one fsync): all or nothing.
    fn commit_all(&mut self, commits: &[Commit<'_>]) -> Result<(), StateError> {
        let now = unix_now();
        let tx = self.conn.transaction().map_err(query("begin"))?;
        for c in commits {
            tx.execute(
                "INSERT INTO checkpoint (tenant, log_type, checkpoint, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant, log_type) DO UPDATE SET checkpoint = ?3, updated_at = ?4",
                params![c.tenant, c.log_type, c.checkpoint, now],
            )
            .map_err(query("checkpoint write"))?;
            tx.execute(
                "INSERT INTO status (tenant, log_type, delivered, cursor, last_success) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant, log_type) DO UPDATE SET delivered = delivered + ?3,
                     cursor = COALESCE(?4, cursor), last_success = ?5, last_error = NULL, last_error_at = NULL",
                params![c.tenant, c.log_type, c.delivered as i64, c.cursor, now],
            )
            .map_err(query("status write"))?;
            if let Some((sink, length)) = c.sink {
                tx.execute(SET_SINK_LENGTH, params![sink, length as i64])
                    .map_err(query("sink length write"))?;
            }
        }
        tx.commit().map_err(query("commit"))
    }

    fn forget(&mut self, tenant: &str, log_type: &str) -> Result<bool, StateError> {
        let tx = self.conn.transaction().map_err(query("begin"))?;
        let removed = tx
            .execute(
                "DELETE FROM checkpoint WHERE tenant = ?1 AND log_type = ?2",
                params![tenant, log_type],
            )
            .map_err(query("checkpoint delete"))?;
        tx.execute(
            "UPDATE status SET cursor = NULL, last_error = NULL, last_error_at = NULL
             WHERE tenant = ?1 AND log_type = ?2",
            params![tenant, log_type],
        )
        .map_err(query("status write"))?;
        tx.commit().map_err(query("commit"))?;
        Ok(removed > 0)
    }
}

impl SinkLengths for SqliteStore {
    fn sink_length(&self, sink: &str) -> Result<Option<u64>, StateError> {
        let length: Option<i64> = self
            .conn
            .query_row(
                "SELECT length FROM sink_length WHERE sink = ?1",
                params![sink],
                |row| row.get(0),
            )
            .optional()
            .map_err(query("sink length read"))?;
        match length {
            Some(n) if n < 0 => Err(StateError::Damaged(format!(
                "the state records a committed length of {n} bytes for the sink file {sink}, \
                 which no file can have: the state database is damaged"
            ))),
            other => Ok(other.map(|n| n as u64)),
        }
    }

    fn set_sink_length(&mut self, sink: &str, length: u64) -> Result<(), StateError> {
        self.conn
            .execute(SET_SINK_LENGTH, params![sink, length as i64])
            .map(|_| ())
            .map_err(query("sink length write"))
    }
}

impl Pauses for SqliteStore {
    fn set_pause(&mut self, tenant: &str, until_ms: u64) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT INTO tenant_pause (tenant, until_ms) VALUES (?1, ?2)
                 ON CONFLICT (tenant) DO UPDATE SET until_ms = MAX(until_ms, ?2)",
                params![tenant, until_ms as i64],
            )
            .map(|_| ())
            .map_err(query("pause write"))
    }

    fn pause(&self, tenant: &str) -> Result<Option<u64>, StateError> {
        self.read_u64(
            "SELECT until_ms FROM tenant_pause WHERE tenant = ?1",
            tenant,
            "pause read",
        )
    }
}

impl Health for SqliteStore {
    fn record_trouble(
        &mut self,
        tenant: &str,
        log_type: &str,
        trouble: Trouble,
        message: &str,
    ) -> Result<(), StateError> {
        let (retries, waits) = match trouble {
            Trouble::Retry => (1, 0),
            Trouble::RateLimitWait => (0, 1),
            Trouble::Error => (0, 0),
        };
        self.conn
            .execute(
                "INSERT INTO status (tenant, log_type, retries, rate_limit_waits, last_error, last_error_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant, log_type) DO UPDATE SET retries = retries + ?3,
                     rate_limit_waits = rate_limit_waits + ?4, last_error = ?5, last_error_at = ?6",
                params![tenant, log_type, retries, waits, message, unix_now()],
            )
            .map(|_| ())
            .map_err(query("status write"))
    }

    fn statuses(&self) -> Result<Vec<Status>, StateError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.tenant, s.log_type, s.delivered, s.cursor, s.last_success, s.retries,
                        s.rate_limit_waits, s.last_error, s.last_error_at,
                        length(CAST(c.checkpoint AS BLOB))
                 FROM status s LEFT JOIN checkpoint c
                   ON c.tenant = s.tenant AND c.log_type = s.log_type
                 ORDER BY s.tenant, s.log_type",
            )
            .map_err(query("status read"))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Status {
                    tenant: r.get(0)?,
                    log_type: r.get(1)?,
                    delivered: r.get::<_, i64>(2)?.max(0) as u64,
                    cursor: r.get(3)?,
                    last_success: r.get(4)?,
                    retries: r.get::<_, i64>(5)?.max(0) as u64,
                    rate_limit_waits: r.get::<_, i64>(6)?.max(0) as u64,
                    last_error: r.get(7)?,
                    last_error_at: r.get(8)?,
                    checkpoint_bytes: r.get::<_, Option<i64>>(9)?.map(|n| n.max(0) as u64),
                })
            })
            .map_err(query("status read"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(query("status read"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit<'a>(
        tenant: &'a str,
        lt: &'a str,
        cp: &'a str,
        sink: Option<(&'a str, u64)>,
    ) -> Commit<'a> {
        Commit {
            tenant,
            log_type: lt,
            checkpoint: cp,
            delivered: 3,
            cursor: Some(100),
            sink,
            lease: None,
        }
    }

    #[test]
    fn commit_then_load_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.load("acme", "url").unwrap(), None);
        store
            .commit(&commit("acme", "url", "one", Some(("/out", 10))))
            .unwrap();
        store
            .commit(&commit("acme", "url", "two", Some(("/out", 25))))
            .unwrap();
        store
            .commit(&commit("acme", "attachment", "three", None))
            .unwrap();
        drop(store);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.load("acme", "url").unwrap().as_deref(), Some("two"));
        assert_eq!(
            store.load("acme", "attachment").unwrap().as_deref(),
            Some("three")
        );
        assert_eq!(store.load("other", "url").unwrap(), None);
        assert_eq!(store.sink_length("/out").unwrap(), Some(25));
        assert_eq!(store.sink_length("/else").unwrap(), None);
    }

    /// One host holds the SQLite store by its lock, so a lease needs no checking there: a
    /// commit carrying one is taken like any other, whatever its epoch.
    #[test]
    fn the_sqlite_store_takes_a_commit_with_a_lease_and_ignores_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        for (epoch, cp) in [(7, "one"), (3, "two")] {
            let mut c = commit("acme", "url", cp, None);
            c.lease = Some(Lease { epoch });
            store.commit(&c).unwrap();
        }
        assert_eq!(store.load("acme", "url").unwrap().as_deref(), Some("two"));
    }

    #[test]
    fn a_state_dir_is_locked_by_one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let held = lock_state_dir(&state).unwrap();
        let err = lock_state_dir(&state).unwrap_err();
        assert!(matches!(err, LockError::Busy(_)));
        assert_eq!(
            err.to_string().split(';').next().unwrap(),
            format!("another mcsource is using state_dir {}", state.display())
        );
        // Readers still open the store.
        SqliteStore::open(&state).unwrap().statuses().unwrap();
        drop(held);
        lock_state_dir(&state).unwrap();
    }

    #[test]
    fn state_errors_name_their_cause() {
        let dir = tempfile::tempdir().unwrap();
        // The database path is taken by a directory: SQLite cannot open it.
        std::fs::create_dir(dir.path().join(DATABASE_FILE)).unwrap();
        let err = SqliteStore::open(dir.path()).err().unwrap();
        let text = format!("{err:#}");
        assert!(
            text.starts_with("cannot open the state database") && text.contains("unable to open"),
            "{text}"
        );
        let err = query("checkpoint read")(rusqlite::Error::InvalidQuery);
        assert_eq!(
            format!("{err:#}"),
            format!(
                "state database checkpoint read failed: {}",
                rusqlite::Error::InvalidQuery
            )
        );
    }

    #[test]
    fn a_negative_sink_length_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store.set_sink_length("/out", 10).unwrap();
        store
            .conn
            .execute("UPDATE sink_length SET length = -5", [])
            .unwrap();
        let err = store.sink_length("/out").unwrap_err();
        assert!(matches!(err, StateError::Damaged(_)), "{err}");
        assert!(
            err.to_string().contains("-5 bytes for the sink file /out"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_or_corrupt_database_is_not_a_fresh_one() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join(DATABASE_FILE);
        std::fs::write(&db, b"").unwrap();
        let err = SqliteStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(err, StateError::Damaged(_)) && err.to_string().contains("empty (0 bytes)"),
            "{err}"
        );
        std::fs::write(&db, vec![7u8; 8192]).unwrap();
        let err = SqliteStore::open(dir.path()).err().unwrap();
        assert!(
            matches!(err, StateError::Damaged(_)) && err.to_string().contains("damaged"),
            "{err}"
        );
        // Accepted: moved aside, and a new database made.
        let (store, why) = SqliteStore::open_for_run(dir.path(), true, true).unwrap();
        assert!(why
            .unwrap()
            .contains("moved aside to mcsource.sqlite3.damaged-"));
        assert_eq!(store.statuses().unwrap(), vec![]);
        let kept = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains(".damaged-")
            })
            .count();
        assert_eq!(kept, 1);
    }

    #[test]
    fn a_database_missing_from_a_used_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        // A run stopped before it made the database leaves no evidence.
        assert!(!lock_state_dir(&state).unwrap().used_before());
        let lock = lock_state_dir(&state).unwrap();
        assert!(!lock.used_before());
        SqliteStore::open_for_run(&state, false, false).unwrap();
        lock.record_database().unwrap();
        drop(lock);
        std::fs::remove_file(state.join(DATABASE_FILE)).unwrap();
        let lock = lock_state_dir(&state).unwrap();
        assert!(lock.used_before());
        let err = SqliteStore::open_for_run(&state, lock.used_before(), false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("is missing although"), "{err}");
        assert!(!state.join(DATABASE_FILE).exists());
        let (_, why) = SqliteStore::open_for_run(&state, true, true).unwrap();
        assert!(why.is_some());
        // Once made, it is used as it is.
        let (_, why) = SqliteStore::open_for_run(&state, true, false).unwrap();
        assert!(why.is_none());
        // A first run in a new state_dir makes its database without a word.
        let (_, why) = SqliteStore::open_for_run(&dir.path().join("new"), false, false).unwrap();
        assert!(why.is_none());
    }

    #[test]
    fn forget_removes_one_checkpoint_and_its_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store.commit(&commit("t", "url", "cp-url", None)).unwrap();
        store
            .commit(&commit("t", "attachment", "cp-att", None))
            .unwrap();
        assert!(store.forget("t", "url").unwrap());
        assert!(!store.forget("t", "url").unwrap());
        assert_eq!(store.load("t", "url").unwrap(), None);
        assert_eq!(
            store.load("t", "attachment").unwrap().as_deref(),
            Some("cp-att")
        );
        let url = store
            .statuses()
            .unwrap()
            .into_iter()
            .find(|s| s.log_type == "url")
            .unwrap();
        assert_eq!((url.delivered, url.cursor), (3, None));
    }

    #[test]
    fn pause_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.pause("t").unwrap(), None);
        store.set_pause("t", 2000).unwrap();
        store.set_pause("t", 1000).unwrap();
        assert_eq!(store.pause("t").unwrap(), Some(2000));
    }

    #[test]
    fn status_counts_deliveries_and_trouble() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store
            .record_trouble("t", "url", Trouble::Retry, "503")
            .unwrap();
        store
            .record_trouble("t", "url", Trouble::RateLimitWait, "429")
            .unwrap();
        store
            .record_trouble("t", "url", Trouble::RateLimitWait, "429")
            .unwrap();
        let s = &store.statuses().unwrap()[0];
        assert_eq!((s.retries, s.rate_limit_waits), (1, 2));
        assert_eq!(s.last_error.as_deref(), Some("429"));
        assert_eq!(s.checkpoint_bytes, None);
        store.commit(&commit("t", "url", "cp", None)).unwrap();
        store
            .commit(&commit("t", "url", "cp2 \u{e9}", None))
            .unwrap();
        let s = &store.statuses().unwrap()[0];
        assert_eq!(s.checkpoint_bytes, Some(6), "bytes, not characters");
        assert_eq!(s.delivered, 6);
        assert_eq!(s.cursor, Some(100));
        assert_eq!(s.last_error, None);
        assert!(s.last_success.is_some());
    }
}
