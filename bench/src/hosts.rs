//! Section 12: several hosts sharing one PostgreSQL state. How many checkpoint commits the
//! store takes per second (fenced by the lease epochs, as `run` commits them), and how long the
//! tenants of a host that dies wait before another host leases them and polls them again.
//!
//! PostgreSQL is Debian's, started for the run in a temporary directory (`fsync` on); the
//! hosts of the takeover rows are real `mcsource run` processes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use chrono::{TimeDelta, Utc};
use mimecast_host::config::secret::Secret;
use mimecast_host::state::postgres::{Hold, PostgresStore};
use mimecast_host::state::{Checkpoints as _, Commit};
use mimecast_mock::{Credential, Dataset, MockConfig, MockServer};
use mimecast_receivers::PgServer;

use super::Sizes;

/// The size of each committed checkpoint: what one log type keeps at one record a second
/// (section 8).
const CHECKPOINT_BYTES: usize = 11 * 1024;

/// Lease time of the commit rows: long enough that no lease lapses while they run.
const COMMIT_LEASE: Duration = Duration::from_secs(600);

/// Tenants, hosts and batches per transaction of each commit row.
const COMMIT_SHAPES: [(usize, usize); 4] = [(1, 1), (1, 20), (3, 1), (3, 20)];

/// The rows of section 12: the store's commit rate, then the takeover after a host dies.
///
/// # Errors
/// PostgreSQL or the mock cannot start, `mcsource` is missing, or a host fails.
pub(crate) async fn rows(
    sizes: &Sizes,
    cache_dir: &Path,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let tenants = sizes.hosts_tenants;
    let span = sizes.store_commit_time;
    let commits = tokio::task::spawn_blocking(move || commit_rows(tenants, span)).await??;
    let mut takeovers = Vec::new();
    for &ttl in &sizes.takeover_ttls {
        takeovers.push(takeover_row(sizes, ttl, cache_dir).await?);
    }
    Ok((commits, takeovers))
}

// ---------------------------------------------------------------------------------------------
// Commits per second

/// One row per shape of [`COMMIT_SHAPES`]: each host leases its share of `tenants`, then
/// commits checkpoints for them as fast as the store takes them for `span`.
fn commit_rows(tenants: usize, span: Duration) -> anyhow::Result<Vec<String>> {
    let mut rows = Vec::new();
    let pg = PgServer::start().context("cannot start PostgreSQL")?;
    for (hosts, joined) in COMMIT_SHAPES {
        // Each shape starts from an empty state; the hosts make the tables again.
        pg.psql(
            "DROP TABLE IF EXISTS mcsource_checkpoint, mcsource_sink_length, mcsource_pause, \
             mcsource_status, mcsource_host, mcsource_lease",
        )?;
        let url = Secret::new(pg.url());
        let ids: Vec<String> = (0..tenants).map(|i| format!("t{i:04}")).collect();
        let stores = (0..hosts)
            .map(|i| {
                let tls = mimecast_host::net::client_config(&[], None)
                    .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
                Ok(PostgresStore::connect(
                    &url,
                    tls,
                    Hold::Shared(format!("bench-{i}")),
                )?)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let shares = spread(&stores, &ids)?;
        let checkpoint = "c".repeat(CHECKPOINT_BYTES);
        let start = Instant::now();
        let results: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .into_iter()
                .zip(&shares)
                .enumerate()
                .map(|(i, (store, share))| {
                    let checkpoint = &checkpoint;
                    scope.spawn(move || commit_for(store, i, share, joined, checkpoint, span))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a commit thread panicked")))
                })
                .collect()
        });
        let secs = start.elapsed().as_secs_f64();
        let mut latencies = Vec::new();
        for r in results {
            latencies.extend(r?);
        }
        latencies.sort();
        let transactions = latencies.len();
        let pick = |q: f64| {
            latencies
                .get(((transactions as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        rows.push(format!(
            "| {hosts} | {tenants} | {joined} | {} | {} | {} | {} |",
            super::rate((transactions * joined) as f64 / secs),
            super::rate(transactions as f64 / secs),
            millis(pick(0.5)),
            millis(pick(0.99)),
        ));
    }
    Ok(rows)
}

/// Runs lease rounds until every host holds its fair share of `ids`; returns each one's tenants.
fn spread(stores: &[PostgresStore], ids: &[String]) -> anyhow::Result<Vec<Vec<String>>> {
    // Fair shares are rounded up, so the last host may hold fewer: at least what the others
    // leave it at most.
    let fair = ids.len().div_ceil(stores.len());
    let least = ids.len().saturating_sub(fair * (stores.len() - 1)).max(1);
    for _ in 0..10 {
        let mut shares = Vec::new();
        for s in stores {
            shares.push(s.lease_round(ids, COMMIT_LEASE)?);
        }
        let held: usize = shares.iter().map(Vec::len).sum();
        if held == ids.len() && shares.iter().all(|s| s.len() >= least) {
            return Ok(shares);
        }
    }
    bail!(
        "the tenants did not spread over {} hosts in 10 lease rounds",
        stores.len()
    )
}

/// Commits checkpoints for `share`'s log types, `joined` per transaction, for `span`; returns
/// each transaction's time.
fn commit_for(
    mut store: PostgresStore,
    host: usize,
    share: &[String],
    joined: usize,
    checkpoint: &str,
    span: Duration,
) -> anyhow::Result<Vec<Duration>> {
    const TYPES: [&str; 3] = ["url", "impersonation", "attachment"];
    let keys: Vec<(&str, &str)> = share
        .iter()
        .flat_map(|t| TYPES.iter().map(move |l| (t.as_str(), *l)))
        .collect();
    if keys.is_empty() {
        bail!("host {host} holds no tenant");
    }
    let sink = format!("/var/lib/mcsource/host{host}/events.ndjson");
    let mut times = Vec::new();
    let mut next = 0usize;
    let mut length = 0u64;
    let end = Instant::now() + span;
    while Instant::now() < end {
        let batch: Vec<Commit<'_>> = (0..joined)
            .map(|k| {
                let (tenant, log_type) = keys[(next + k) % keys.len()];
                length += 50_000;
                Commit {
                    tenant,
                    log_type,
                    checkpoint,
                    delivered: 100,
                    cursor: Some(Utc::now().timestamp()),
                    sink: Some((sink.as_str(), length)),
                    lease: None,
                }
            })
            .collect();
        next += joined;
        let t = Instant::now();
        store
            .commit_all(&batch)
            .with_context(|| format!("host {host}: commit"))?;
        times.push(t.elapsed());
    }
    Ok(times)
}

// ---------------------------------------------------------------------------------------------
// Takeover after a host dies

/// Three `mcsource run` hosts share `sizes.hosts_tenants` tenants with `lease_ttl = ttl`; once
/// they have collected everything, one is killed with SIGKILL and the time until its tenants
/// are leased by the others, and polled by them, is measured.
async fn takeover_row(sizes: &Sizes, ttl: Duration, cache_dir: &Path) -> anyhow::Result<String> {
    let now = Utc::now();
    let mut config = MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            0x686f_7374,
            now - TimeDelta::hours(2),
            now - TimeDelta::minutes(2),
            sizes.takeover_records_per_type,
        ),
    );
    config.max_skew = Duration::from_secs(3600);
    let server = MockServer::start(config).await?;
    let base_url = server.base_url();
    let (tenants, interval, cache) = (
        sizes.hosts_tenants,
        sizes.takeover_interval,
        cache_dir.to_path_buf(),
    );
    let row =
        tokio::task::spawn_blocking(move || takeover(&base_url, tenants, ttl, interval, &cache))
            .await?;
    server.shutdown().await;
    row
}

/// The blocking part of [`takeover_row`].
fn takeover(
    base_url: &str,
    tenants: usize,
    ttl: Duration,
    interval: Duration,
    cache_dir: &Path,
) -> anyhow::Result<String> {
    let bin = mcsource_bin()?;
    let pg = PgServer::start().context("cannot start PostgreSQL")?;
    let dir = tempfile::tempdir()?;
    let c = Credential::demo();
    let tables: String = (0..tenants)
        .map(|i| {
            format!(
                "[[tenant]]\nid = \"t{i:04}\"\nbase_url = \"{base_url}\"\napp_id = \"{}\"\n\
                 app_key = \"{}\"\naccess_key = \"{}\"\nsecret_key = \"{}\"\nlookback = \"3h\"\n\
                 interval = \"{}\"\n\n",
                c.app_id,
                c.app_key,
                c.access_key,
                c.secret_key,
                humantime::format_duration(interval)
            )
        })
        .collect();
    let mut hosts = Hosts(Vec::new());
    for i in 0..3 {
        let home = dir.path().join(format!("host{i}"));
        std::fs::create_dir_all(&home)?;
        std::fs::write(
            home.join("config.toml"),
            format!(
                "state_dir = \"state\"\n[state]\ntype = \"postgres\"\nurl = {{ env = \"BENCH_PG_URL\" }}\n\
                 shared = true\nlease_ttl = \"{}\"\n[sink]\ntype = \"file\"\npath = \"events.ndjson\"\n\n{tables}",
                humantime::format_duration(ttl)
            ),
        )?;
        let log = std::fs::File::create(home.join("run.log"))?;
        let child = Command::new(&bin)
            .args(["run", "--config", "config.toml"])
            .current_dir(&home)
            .env("BENCH_PG_URL", pg.url())
            .env("MCSOURCE_CACHE_DIR", cache_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        hosts.0.push(Some(child));
    }
    // Everything collected once, the tenants spread over the three hosts.
    let started = Instant::now();
    let all = (tenants * 3).to_string();
    wait_for(
        &mut hosts,
        Duration::from_secs(900),
        "the first collection",
        || {
            let polled =
                pg.psql("SELECT count(*) FROM mcsource_status WHERE last_success IS NOT NULL")?;
            let owners = pg.psql(&format!(
                "SELECT count(DISTINCT owner) FROM mcsource_lease WHERE expires_ms > {NOW_MS}"
            ))?;
            Ok(polled.trim() == all && owners.trim() == "3")
        },
    )?;
    let first = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));

    // kill -9 the first host; its tenants are orphans until their leases lapse.
    let victim = hosts.0[0].as_ref().map(Child::id).unwrap_or_default();
    let orphans: BTreeSet<String> = pg
        .psql(&format!(
            "SELECT tenant FROM mcsource_lease WHERE owner LIKE '%-{victim}-%'"
        ))?
        .lines()
        .map(str::to_string)
        .collect();
    if orphans.is_empty() {
        bail!("host {victim} held no tenant");
    }
    let list = orphans
        .iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(",");
    hosts.kill(0)?;
    let killed_at = Utc::now().timestamp_millis();
    let killed = Instant::now();
    let limit = ttl * 3 + interval * 2 + Duration::from_secs(60);
    let n = orphans.len().to_string();
    wait_for(&mut hosts, limit, "the orphans' leases", || {
        let taken = pg.psql(&format!(
            "SELECT count(*) FROM mcsource_lease WHERE tenant IN ({list}) \
             AND owner NOT LIKE '%-{victim}-%' AND expires_ms > {NOW_MS}"
        ))?;
        Ok(taken.trim() == n)
    })?;
    let leased = killed.elapsed();
    // Polled again: a commit for each of their log types after the kill (`last_success` is in
    // whole seconds, so "after" means in a later second).
    let all_types = (orphans.len() * 3).to_string();
    wait_for(&mut hosts, limit, "the orphans' next polls", || {
        let polled = pg.psql(&format!(
            "SELECT count(*) FROM mcsource_status WHERE tenant IN ({list}) \
             AND last_success * 1000 > {killed_at}"
        ))?;
        Ok(polled.trim() == all_types)
    })?;
    let resumed = killed.elapsed();
    Ok(format!(
        "| {} | {} | {} | {} | {} | {} | {} |",
        humantime::format_duration(ttl),
        humantime::format_duration(interval),
        tenants,
        super::duration(first.as_secs_f64()),
        orphans.len(),
        super::duration(leased.as_secs_f64()),
        super::duration(resumed.as_secs_f64()),
    ))
}

/// The PostgreSQL server's clock in Unix milliseconds, as the leases count it.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::BIGINT";

/// The `mcsource` binary beside this one (`cargo build --release -p mimecast-host` builds it),
/// or the one `MCSOURCE_BIN` names.
fn mcsource_bin() -> anyhow::Result<PathBuf> {
    let bin = match std::env::var_os("MCSOURCE_BIN") {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe()?.with_file_name("mcsource"),
    };
    if !bin.is_file() {
        bail!(
            "{} not found: the several-hosts section runs the real binary; build it with \
             `cargo build --release -p mimecast-host` (or name it with MCSOURCE_BIN)",
            bin.display()
        );
    }
    Ok(bin)
}

/// The hosts of a takeover run (`None` once killed), killed when it ends however it ends.
struct Hosts(Vec<Option<Child>>);

impl Hosts {
    /// SIGKILLs host `i`; returns its process id.
    fn kill(&mut self, i: usize) -> anyhow::Result<u32> {
        let mut child = self.0[i].take().context("that host is not running")?;
        child.kill()?;
        child.wait()?;
        Ok(child.id())
    }

    /// Fails when a host that should run has exited.
    fn check(&mut self) -> anyhow::Result<()> {
        for (i, child) in self.0.iter_mut().enumerate() {
            if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("host {i} exited ({status}); see its run.log");
            }
        }
        Ok(())
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for child in self.0.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `done` every 100 ms until it holds, for at most `limit`; fails if a host exits.
fn wait_for(
    hosts: &mut Hosts,
    limit: Duration,
    what: &str,
    mut done: impl FnMut() -> Result<bool, mimecast_receivers::ReceiverError>,
) -> anyhow::Result<()> {
    let end = Instant::now() + limit;
    loop {
        // A query that fails (the hosts have not made the tables yet, say) is not done yet.
        let last = match done() {
            Ok(true) => return Ok(()),
            Ok(false) => String::new(),
            Err(e) => format!(" ({e})"),
        };
        hosts.check()?;
        if Instant::now() >= end {
            bail!(
                "{what}: not done after {}{last}",
                humantime::format_duration(limit)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `d` in milliseconds with one decimal.
fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
