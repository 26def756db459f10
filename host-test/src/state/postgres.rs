//! The shared store: the same checkpoints, sink lengths, pauses and health as the SQLite
//! store, in PostgreSQL (`[state] type = "postgres"`), so the state outlives the machine and
//! can later be shared by several hosts. Same semantics: a commit is one transaction, all or
//! nothing; a batch's checkpoint moves only after the batch is delivered. The schema is made
//! (or brought up to date) at start. One host holds the database at a time (a session
//! advisory lock) until tenant leases exist. The connection is made again after it broke (a
//! restart of the server): the call that found it broken fails, and is retried by its caller
//! like any other. Connecting times out after 10 s, and TCP keep-alives find a dead server
//! (or let the server drop this host's dead session, and with it the lock) within a minute.
//!
//! Client: the `postgres` crate (the synchronous face of `tokio-postgres`), with TLS through
//! the host's trust roots (`tokio-postgres-rustls`): as libpq, `sslmode=prefer` (the default)
//! uses TLS when the server offers it, `sslmode=require` insists, `sslmode=disable` never. The
//! client runs a small runtime of its own, which cannot run inside the host's async runtime,
//! so the connection lives on a thread of its own and every call is handed to it.

use std::cell::RefCell;
use std::str::FromStr as _;
use std::sync::mpsc;

use postgres::{Client, Config, NoTls};

use super::{Checkpoints, Commit, Health, Pauses, SinkLengths, StateError, Status, Trouble};
use crate::config::secret::Secret;

/// The schema, applied at start (idempotent).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mcsource_checkpoint (
    tenant      TEXT NOT NULL,
    log_type    TEXT NOT NULL,
    checkpoint  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, log_type)
);
CREATE TABLE IF NOT EXISTS mcsource_sink_length (
    sink        TEXT PRIMARY KEY,
    length      BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS mcsource_pause (
    tenant      TEXT PRIMARY KEY,
    until_ms    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS mcsource_status (
    tenant            TEXT NOT NULL,
    log_type          TEXT NOT NULL,
    delivered         BIGINT NOT NULL DEFAULT 0,
    cursor            BIGINT,
    last_success      BIGINT,
    retries           BIGINT NOT NULL DEFAULT 0,
    rate_limit_waits  BIGINT NOT NULL DEFAULT 0,
    last_error        TEXT,
    last_error_at     BIGINT,
    PRIMARY KEY (tenant, log_type)
);
";

/// Makes the tables, one host at a time (PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe
/// against another session doing the same at once).
fn apply_schema(client: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = client.transaction()?;
    // Not a NOTICE per table that exists already at every start.
    tx.batch_execute("SET LOCAL client_min_messages = warning")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(HOST_LOCK + 1)])?;
    tx.batch_execute(SCHEMA)?;
    tx.batch_execute(LEASE_SCHEMA)?;
    tx.commit()
}

/// The advisory lock key one host holds while it uses the database ("mcsrc" in ASCII).
const HOST_LOCK: i64 = 0x006d_6373_7263;

/// One call for the connection's thread.
type Call = Box<dyn FnOnce(&Conn) + Send>;

/// How a host holds a PostgreSQL state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Alone: the one-host advisory lock (`run`, `reset`).
    Exclusive,
    /// Shared with other hosts by tenant leases, as the host with this id; every commit is
    /// fenced by the lease's epoch.
    Shared(String),
    /// To read only (`status`).
    Reader,
}

/// PostgreSQL as the state store: a handle to the thread that owns the connection.
#[derive(Clone)]
pub struct PostgresStore {
    calls: mpsc::Sender<Call>,
}

/// The connection and what it takes to make it again, owned by its thread.
struct Conn {
    config: Config,
    tls: rustls::ClientConfig,
    client: RefCell<Option<Client>>,
    /// How this host holds the state.
    hold: Hold,
    /// With [`Hold::Shared`]: the epoch of each tenant lease held.
    epochs: RefCell<std::collections::HashMap<String, i64>>,
}

fn db(action: &'static str) -> impl FnOnce(postgres::Error) -> StateError {
    move |cause| StateError::Database {
        action,
        cause: crate::error_chain::one_line(&cause),
    }
}

fn unix_now() -> i64 {
    super::unix_now()
}

impl PostgresStore {
    /// Connects to `url` (a `postgres://` URL or a key=value connection string) on a thread
    /// of its own, applies the schema and, with `exclusive`, takes the one-host lock.
    ///
    /// # Errors
    /// The URL cannot be read, the server cannot be reached or refuses the login, the schema
    /// cannot be applied, or another mcsource holds the lock.
    pub fn connect(
        url: &Secret,
        tls: rustls::ClientConfig,
        hold: Hold,
    ) -> Result<PostgresStore, StateError> {
        let conn = Conn::connect(url, tls, hold)?;
        let (calls, queue) = mpsc::channel::<Call>();
        std::thread::Builder::new()
            .name("mcsource-postgres".into())
            .spawn(move || {
                // The connection is made on this thread: the client's own runtime must not
                // start inside the host's.
                while let Ok(call) = queue.recv() {
                    call(&conn);
                }
            })
            .map_err(|e| StateError::Busy(format!("cannot start the PostgreSQL thread: {e}")))?;
        let store = PostgresStore { calls };
        // The first call makes the connection, applies the schema and takes the lock.
        store.call(|c| c.with_client("schema", apply_schema))?;
        Ok(store)
    }

    /// One round of the lease protocol (see [`Hold::Shared`]): heartbeat, renew, give back
    /// above the fair share, claim free or expired tenants of `tenants`. Returns the tenants
    /// this host holds now.
    ///
    /// # Errors
    /// The store cannot be reached; what was held stays held until its lease expires.
    pub fn lease_round(
        &self,
        tenants: &[String],
        ttl: std::time::Duration,
    ) -> Result<Vec<String>, StateError> {
        let tenants = tenants.to_vec();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.call(move |c| c.lease_round(&tenants, ttl_ms))
    }

    /// Gives back every tenant this host holds (a clean stop), so the others take them at once.
    ///
    /// # Errors
    /// The store cannot be reached; the leases then expire by themselves.
    pub fn leave(&self) -> Result<(), StateError> {
        self.call(|c| c.leave())
    }

    /// Runs `work` on the connection's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Conn) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let (reply, answer) = mpsc::channel();
        self.calls
            .send(Box::new(move |conn| {
                let _ = reply.send(work(conn));
            }))
            .map_err(|_| StateError::Busy("the PostgreSQL thread has stopped".into()))?;
        answer
            .recv()
            .map_err(|_| StateError::Busy("the PostgreSQL thread has stopped".into()))?
    }
}

impl Conn {
    /// Reads `url` (a `postgres://` URL or a key=value connection string), applies
    /// the schema and, with `exclusive`, takes the one-host lock. Names no machine
    /// in sink ids.
    ///
    /// # Errors
    /// The URL cannot be read, the server cannot be reached or refuses the login, the schema
    /// cannot be applied, or another mcsource holds the lock.
    fn connect(url: &Secret, tls: rustls::ClientConfig, hold: Hold) -> Result<Conn, StateError> {
        let mut config = Config::from_str(url.expose()).map_err(|e| StateError::Database {
            action: "connection URL read",
            // The parser's words never quote the URL (and with it a password).
            cause: format!("{e}; write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
        })?;
        config
            .connect_timeout(std::time::Duration::from_secs(10))
            .keepalives(true)
            .keepalives_idle(std::time::Duration::from_secs(30))
            .keepalives_interval(std::time::Duration::from_secs(10))
            .keepalives_retries(3);
        Ok(Conn {
            config,
            tls,
            client: RefCell::new(None),
            hold,
            epochs: RefCell::new(std::collections::HashMap::new()),
        })
    }

    /// Opens a connection (with TLS unless `sslmode=disable`), and takes the host lock.
    fn open(&self) -> Result<Client, StateError> {
        let mut client = if self.config.get_ssl_mode() == postgres::config::SslMode::Disable {
            self.config.connect(NoTls)
        } else {
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls.clone());
            self.config.connect(tls)
        }
        .map_err(db("connect"))?;
        if self.hold == Hold::Exclusive {
            let row = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&HOST_LOCK])
                .map_err(db("host lock"))?;
            if !row.get::<_, bool>(0) {
                return Err(StateError::Busy(
                    "another mcsource is using this PostgreSQL state (it holds the host lock); \
                     stop it first: two collectors on one state would deliver every batch twice"
                        .into(),
                ));
            }
        }
        Ok(client)
    }

    /// Runs `work` on the connection, opening one if there is none or the last one broke.
    fn with_client<T>(
        &self,
        action: &'static str,
        work: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StateError> {
        let mut slot = self.client.borrow_mut();
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            *slot = Some(self.open()?);
        }
        let Some(client) = slot.as_mut() else {
            return Err(StateError::Busy("no connection".into()));
        };
        let outcome = work(client);
        if client.is_closed() {
            *slot = None;
        }
        outcome.map_err(db(action))
    }

    /// The id `sink` is kept under: its path, as with SQLite, when one host holds the state;
    /// with hosts sharing it, also the machine's name (their files may have the same path).
    fn sink_key(&self, sink: &str) -> String {
        match &self.hold {
            Hold::Shared(_) => {
                let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default();
                format!("{name}:{sink}")
            }
            _ => sink.to_string(),
        }
    }
}

/// The tables of tenant leases, for several hosts sharing one state (`shared = true`).
const LEASE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mcsource_host (
    host          TEXT PRIMARY KEY,
    heartbeat_ms  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS mcsource_lease (
    tenant      TEXT PRIMARY KEY,
    owner       TEXT,
    epoch       BIGINT NOT NULL DEFAULT 0,
    expires_ms  BIGINT NOT NULL DEFAULT 0
);
";

/// The server's clock in Unix milliseconds: every host compares lease times on one clock.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::BIGINT";

impl Conn {
    /// One round of the lease protocol for the host `me`, sharing `tenants` with the other
    /// live hosts: heartbeat, renew what it holds, give back what is above its fair share,
    /// claim free or expired tenants up to it (`FOR UPDATE SKIP LOCKED`: two hosts never
    /// claim the same one). Returns the tenants it holds, with the epoch of each claim.
    fn lease_round(&self, tenants: &[String], ttl_ms: i64) -> Result<Vec<String>, StateError> {
        let Hold::Shared(me) = &self.hold else {
            return Err(StateError::Busy(
                "leases are for [state] shared = true".into(),
            ));
        };
        let me = me.as_str();
        let held = self.with_client("lease round", |client| {
            let mut tx = client.transaction()?;
            tx.execute(
                &format!(
                    "INSERT INTO mcsource_host (host, heartbeat_ms) VALUES ($1, {NOW_MS})
                     ON CONFLICT (host) DO UPDATE SET heartbeat_ms = {NOW_MS}"
                ),
                &[&me],
            )?;
            tx.execute(
                "INSERT INTO mcsource_lease (tenant) SELECT unnest($1::TEXT[])
                 ON CONFLICT (tenant) DO NOTHING",
                &[&tenants],
            )?;
            let mut held: Vec<(String, i64)> = tx
                .query(
                    &format!(
                        "UPDATE mcsource_lease SET expires_ms = {NOW_MS} + $2
                         WHERE owner = $1 AND tenant = ANY($3) RETURNING tenant, epoch"
                    ),
                    &[&me, &ttl_ms, &tenants],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let live: i64 = tx
                .query_one(
                    &format!(
                        "SELECT count(*) FROM mcsource_host WHERE heartbeat_ms > {NOW_MS} - $1"
                    ),
                    &[&ttl_ms],
                )?
                .get(0);
            let fair = (tenants.len() as i64 + live.max(1) - 1) / live.max(1);
            held.sort();
            while held.len() as i64 > fair {
                if let Some((tenant, _)) = held.pop() {
                    tx.execute(
                        "UPDATE mcsource_lease SET owner = NULL, expires_ms = 0
                         WHERE tenant = $1 AND owner = $2",
                        &[&tenant, &me],
                    )?;
                }
            }
            let want = fair - held.len() as i64;
            if want > 0 {
                let claimed = tx.query(
                    &format!(
                        "UPDATE mcsource_lease l SET owner = $1, epoch = l.epoch + 1,
                             expires_ms = {NOW_MS} + $2
                         FROM (SELECT tenant FROM mcsource_lease
                               WHERE tenant = ANY($3) AND (owner IS NULL OR expires_ms < {NOW_MS})
                               ORDER BY tenant LIMIT $4 FOR UPDATE SKIP LOCKED) free
                         WHERE l.tenant = free.tenant RETURNING l.tenant, l.epoch"
                    ),
                    &[&me, &ttl_ms, &tenants, &want],
                )?;
                held.extend(claimed.iter().map(|r| (r.get(0), r.get(1))));
            }
            tx.commit()?;
            Ok(held)
        })?;
        *self.epochs.borrow_mut() = held.iter().cloned().collect();
        Ok(held.into_iter().map(|(t, _)| t).collect())
    }

    /// Gives back every tenant `me` holds and leaves the hosts (a clean stop).
    fn leave(&self) -> Result<(), StateError> {
        let Hold::Shared(me) = &self.hold else {
            return Ok(());
        };
        let me = me.as_str();
        self.epochs.borrow_mut().clear();
        self.with_client("lease release", |client| {
            let mut tx = client.transaction()?;
            tx.execute(
                "UPDATE mcsource_lease SET owner = NULL, expires_ms = 0 WHERE owner = $1",
                &[&me],
            )?;
            tx.execute("DELETE FROM mcsource_host WHERE host = $1", &[&me])?;
            tx.commit()
        })
    }
}

/// A commit with everything owned, for the connection's thread.
struct OwnedCommit {
    tenant: String,
    log_type: String,
    checkpoint: String,
    delivered: i64,
    cursor: Option<i64>,
    sink: Option<(String, u64)>,
}

impl Checkpoints for PostgresStore {
    fn load(&self, tenant: &str, log_type: &str) -> Result<Option<String>, StateError> {
        let (tenant, log_type) = (tenant.to_string(), log_type.to_string());
        self.call(move |c| c.load(&tenant, &log_type))
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), StateError> {
        self.commit_all(std::slice::from_ref(commit))
    }

    fn commit_all(&mut self, commits: &[Commit<'_>]) -> Result<(), StateError> {
        let owned: Vec<OwnedCommit> = commits
            .iter()
            .map(|c| OwnedCommit {
                tenant: c.tenant.to_string(),
                log_type: c.log_type.to_string(),
                checkpoint: c.checkpoint.to_string(),
                delivered: i64::try_from(c.delivered).unwrap_or(i64::MAX),
                cursor: c.cursor,
                sink: c.sink.map(|(s, l)| (s.to_string(), l)),
            })
            .collect();
        self.call(move |c| c.commit_all(&owned))
    }

    fn forget(&mut self, tenant: &str, log_type: &str) -> Result<bool, StateError> {
        let (tenant, log_type) = (tenant.to_string(), log_type.to_string());
        self.call(move |c| c.forget(&tenant, &log_type))
    }
}

impl SinkLengths for PostgresStore {
    fn sink_length(&self, sink: &str) -> Result<Option<u64>, StateError> {
        let sink = sink.to_string();
        self.call(move |c| c.sink_length(&sink))
    }

    fn set_sink_length(&mut self, sink: &str, length: u64) -> Result<(), StateError> {
        let sink = sink.to_string();
        self.call(move |c| c.set_sink_length(&sink, length))
    }
}

impl Pauses for PostgresStore {
    fn set_pause(&mut self, tenant: &str, until_ms: u64) -> Result<(), StateError> {
        let tenant = tenant.to_string();
        self.call(move |c| c.set_pause(&tenant, until_ms))
    }

    fn pause(&self, tenant: &str) -> Result<Option<u64>, StateError> {
        let tenant = tenant.to_string();
        self.call(move |c| c.pause(&tenant))
    }
}

impl Health for PostgresStore {
    fn record_trouble(
        &mut self,
        tenant: &str,
        log_type: &str,
        trouble: Trouble,
        message: &str,
    ) -> Result<(), StateError> {
        let (tenant, log_type, message) = (
            tenant.to_string(),
            log_type.to_string(),
            message.to_string(),
        );
        self.call(move |c| c.record_trouble(&tenant, &log_type, trouble, &message))
    }

    fn statuses(&self) -> Result<Vec<Status>, StateError> {
        self.call(|c| c.statuses())
    }
}

impl Conn {
    fn load(&self, tenant: &str, log_type: &str) -> Result<Option<String>, StateError> {
        self.with_client("checkpoint read", |c| {
            c.query_opt(
                "SELECT checkpoint FROM mcsource_checkpoint WHERE tenant = $1 AND log_type = $2",
                &[&tenant, &log_type],
            )
            .map(|row| row.map(|r| r.get(0)))
        })
    }

    fn commit_all(&self, commits: &[OwnedCommit]) -> Result<(), StateError> {
        let now = unix_now();
        let keys: Vec<Option<(String, i64)>> = commits
            .iter()
            .map(|c| c.sink.as_ref().map(|(s, l)| (self.sink_key(s), *l as i64)))
            .collect();
        let mut sent_commit = false;
        let mut fenced = None;
        let me = match &self.hold {
            Hold::Shared(me) => Some(me.clone()),
            _ => None,
        };
        let epochs = self.epochs.borrow().clone();
        let outcome = self.with_client("commit", |client| {
            let mut tx = client.transaction()?;
            if let Some(me) = &me {
                for c in commits {
                    let row = tx.query_opt(
                        "SELECT owner, epoch FROM mcsource_lease WHERE tenant = $1 FOR UPDATE",
                        &[&c.tenant],
                    )?;
                    let current = row.map(|r| (r.get::<_, Option<String>>(0), r.get::<_, i64>(1)));
                    let ours = epochs.get(&c.tenant).copied();
                    if current != Some((Some(me.clone()), ours.unwrap_or(-1))) {
                        // Dropping the transaction rolls it back.
                        fenced = Some(c.tenant.clone());
                        return Ok(());
                    }
                }
            }
            for (c, sink) in commits.iter().zip(&keys) {
                tx.execute(
                    "INSERT INTO mcsource_checkpoint (tenant, log_type, checkpoint, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant, log_type) DO UPDATE SET checkpoint = $3, updated_at = $4",
                    &[&c.tenant, &c.log_type, &c.checkpoint, &now],
                )?;
                tx.execute(
                    "INSERT INTO mcsource_status (tenant, log_type, delivered, cursor, last_success)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (tenant, log_type) DO UPDATE SET
                         delivered = mcsource_status.delivered + $3,
                         cursor = COALESCE($4, mcsource_status.cursor), last_success = $5,
                         last_error = NULL, last_error_at = NULL",
                    &[&c.tenant, &c.log_type, &c.delivered, &c.cursor, &now],
                )?;
                if let Some((sink, length)) = sink {
                    tx.execute(
                        "INSERT INTO mcsource_sink_length (sink, length) VALUES ($1, $2)
                         ON CONFLICT (sink) DO UPDATE SET length = $2",
                        &[sink, length],
                    )?;
                }
            }
            sent_commit = true;
            tx.commit()
        });
        if let (Ok(()), Some(tenant)) = (&outcome, fenced) {
            return Err(StateError::Fenced(tenant));
        }
        match outcome {
            // COMMIT went out but its answer did not come back: the server may have committed.
            Err(StateError::Database { cause, .. }) if sent_commit => {
                Err(StateError::CommitUnknown(cause))
            }
            other => other,
        }
    }

    fn forget(&self, tenant: &str, log_type: &str) -> Result<bool, StateError> {
        self.with_client("checkpoint delete", |client| {
            let mut tx = client.transaction()?;
            let removed = tx.execute(
                "DELETE FROM mcsource_checkpoint WHERE tenant = $1 AND log_type = $2",
                &[&tenant, &log_type],
            )?;
            tx.execute(
                "UPDATE mcsource_status SET cursor = NULL, last_error = NULL, last_error_at = NULL
                 WHERE tenant = $1 AND log_type = $2",
                &[&tenant, &log_type],
            )?;
            tx.commit()?;
            Ok(removed > 0)
        })
    }
}

impl Conn {
    fn sink_length(&self, sink: &str) -> Result<Option<u64>, StateError> {
        let key = self.sink_key(sink);
        let length: Option<i64> = self.with_client("sink length read", |c| {
            c.query_opt(
                "SELECT length FROM mcsource_sink_length WHERE sink = $1",
                &[&key],
            )
            .map(|row| row.map(|r| r.get(0)))
        })?;
        match length {
            Some(n) if n < 0 => Err(StateError::Damaged(format!(
                "the PostgreSQL state records a negative length ({n}) for the sink file {sink}"
            ))),
            other => Ok(other.map(|n| n as u64)),
        }
    }

    fn set_sink_length(&self, sink: &str, length: u64) -> Result<(), StateError> {
        let key = self.sink_key(sink);
        self.with_client("sink length write", |c| {
            c.execute(
                "INSERT INTO mcsource_sink_length (sink, length) VALUES ($1, $2)
                 ON CONFLICT (sink) DO UPDATE SET length = $2",
                &[&key, &(length as i64)],
            )
            .map(|_| ())
        })
    }
}

impl Conn {
    fn set_pause(&self, tenant: &str, until_ms: u64) -> Result<(), StateError> {
        self.with_client("pause write", |c| {
            c.execute(
                "INSERT INTO mcsource_pause (tenant, until_ms) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET until_ms = GREATEST(mcsource_pause.until_ms, $2)",
                &[&tenant, &(until_ms as i64)],
            )
            .map(|_| ())
        })
    }

    fn pause(&self, tenant: &str) -> Result<Option<u64>, StateError> {
        self.with_client("pause read", |c| {
            c.query_opt(
                "SELECT until_ms FROM mcsource_pause WHERE tenant = $1",
                &[&tenant],
            )
            .map(|row| row.map(|r| r.get::<_, i64>(0).max(0) as u64))
        })
    }
}

impl Conn {
    fn record_trouble(
        &self,
        tenant: &str,
        log_type: &str,
        trouble: Trouble,
        message: &str,
    ) -> Result<(), StateError> {
        let (retries, waits): (i64, i64) = match trouble {
            Trouble::Retry => (1, 0),
            Trouble::RateLimitWait => (0, 1),
            Trouble::Error => (0, 0),
        };
        let now = unix_now();
        self.with_client("status write", |c| {
            c.execute(
                "INSERT INTO mcsource_status (tenant, log_type, retries, rate_limit_waits, last_error, last_error_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, log_type) DO UPDATE SET
                     retries = mcsource_status.retries + $3,
                     rate_limit_waits = mcsource_status.rate_limit_waits + $4,
                     last_error = $5, last_error_at = $6",
                &[&tenant, &log_type, &retries, &waits, &message, &now],
            )
            .map(|_| ())
        })
    }

    fn statuses(&self) -> Result<Vec<Status>, StateError> {
        self.with_client("status read", |c| {
            let rows = c.query(
                "SELECT s.tenant, s.log_type, s.delivered, s.cursor, s.last_success, s.retries,
                        s.rate_limit_waits, s.last_error, s.last_error_at,
                        octet_length(c.checkpoint)::BIGINT
                 FROM mcsource_status s LEFT JOIN mcsource_checkpoint c
                   ON c.tenant = s.tenant AND c.log_type = s.log_type
                 ORDER BY s.tenant, s.log_type",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| Status {
                    tenant: r.get(0),
                    log_type: r.get(1),
                    delivered: r.get::<_, i64>(2).max(0) as u64,
                    cursor: r.get(3),
                    last_success: r.get(4),
                    retries: r.get::<_, i64>(5).max(0) as u64,
                    rate_limit_waits: r.get::<_, i64>(6).max(0) as u64,
                    last_error: r.get(7),
                    last_error_at: r.get(8),
                    checkpoint_bytes: r.get::<_, Option<i64>>(9).map(|n| n.max(0) as u64),
                })
                .collect())
        })
    }
}
