//! A real PostgreSQL server for real: SQL through psql, password login, restart on the same
//! port, crash recovery after SIGKILL, two servers at once, and no process left behind.
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use mimecast_receivers::postgres::{PG_DATABASE, PG_USER};
use mimecast_receivers::PgServer;

/// Processes belonging to the server with data directory `data`: `pgrep -f <data>` (the
/// postmaster's command line holds `-D <data>`; its children rewrite theirs) plus every
/// process whose working directory is in `data` (all of them chdir there).
fn processes_of(data: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let pgrep = Command::new("pgrep")
        .arg("-a")
        .arg("-f")
        .arg(data)
        .output()
        .unwrap();
    found.extend(
        String::from_utf8_lossy(&pgrep.stdout)
            .lines()
            .map(|l| format!("pgrep: {l}")),
    );
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(cwd) = fs::read_link(entry.path().join("cwd")) {
            if cwd.starts_with(data) {
                let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "cwd {}: {pid} {}",
                    cwd.display(),
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
        }
    }
    found
}

fn uid_of(pid: u32) -> u32 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn sql_through_psql_on_loopback_as_unprivileged_user() {
    let pg = PgServer::start().unwrap();
    assert_ne!(pg.port(), 0);
    assert_eq!(pg.psql("show listen_addresses").unwrap(), "127.0.0.1");
    assert_eq!(pg.psql("show fsync").unwrap(), "on");
    assert_eq!(pg.psql("show max_connections").unwrap(), "100");
    assert_eq!(pg.psql("select current_database()").unwrap(), PG_DATABASE);
    let version = pg.psql("show server_version").unwrap();
    assert!(!version.is_empty());
    eprintln!("PostgreSQL {version} on port {}", pg.port());

    pg.psql("create table t (id int primary key, msg text)")
        .unwrap();
    pg.psql("insert into t values (1, 'one'), (2, 'zwei ✓')")
        .unwrap();
    assert_eq!(
        pg.psql("select id, msg from t order by id").unwrap(),
        "1|one\n2|zwei ✓"
    );
    let err = pg
        .psql("select * from missing_table")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing_table"), "{err}");

    // Never root: PostgreSQL refuses it.
    let uid = uid_of(pg.pid().unwrap());
    assert_ne!(uid, 0);
    if let Some(user) = pg.os_user() {
        assert_eq!(user, "postgres");
    }
    // The data directory is private to that user.
    let meta = fs::metadata(pg.data_dir()).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert_eq!(meta.uid(), uid);
}

#[test]
fn password_login_with_the_url() {
    let pg = PgServer::start().unwrap();
    let url = pg.url();
    assert_eq!(
        url,
        format!(
            "postgres://{PG_USER}:{}@127.0.0.1:{}/{PG_DATABASE}",
            pg.password(),
            pg.port()
        )
    );
    // psql "postgres://mcsource:<pw>@127.0.0.1:<port>/mcsource" -c 'select 1', as is.
    let out = Command::new(pg.bin_dir().join("psql"))
        .arg(&url)
        .args(["-X", "-At", "-c", "select 1"])
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1");

    assert_eq!(pg.psql_url(&url, "select current_user").unwrap(), PG_USER);
    // The role owns the database: it can create tables.
    pg.psql_url(
        &url,
        "create table owned (x int); insert into owned values (7)",
    )
    .unwrap();
    assert_eq!(pg.psql("select x from owned").unwrap(), "7");
    // A password is really required, and checked.
    let wrong = format!(
        "postgres://{PG_USER}:wrong@127.0.0.1:{}/{PG_DATABASE}",
        pg.port()
    );
    let err = pg.psql_url(&wrong, "select 1").unwrap_err().to_string();
    assert!(err.contains("password authentication failed"), "{err}");
    let none = format!("postgres://{PG_USER}@127.0.0.1:{}/{PG_DATABASE}", pg.port());
    assert!(pg.psql_url(&none, "select 1").is_err());
    // The superuser URL needs none.
    assert_eq!(
        pg.psql_url(&pg.superuser_url(), "select current_user")
            .unwrap(),
        "postgres"
    );
}

#[test]
fn restart_on_the_same_port_keeps_the_data() {
    let mut pg = PgServer::start().unwrap();
    let port = pg.port();
    let url = pg.url();
    let pid = pg.pid().unwrap();
    pg.psql("create table t (x int); insert into t select generate_series(1, 1000)")
        .unwrap();
    pg.restart().unwrap();
    assert_eq!(pg.port(), port);
    assert_eq!(pg.url(), url);
    assert_ne!(pg.pid().unwrap(), pid);
    assert_eq!(pg.psql("select count(*) from t").unwrap(), "1000");
    assert_eq!(pg.psql_url(&url, "select 1").unwrap(), "1");

    // stop + start_again: the same.
    pg.stop().unwrap();
    assert!(!pg.is_running());
    assert!(pg.psql("select 1").is_err());
    assert!(processes_of(pg.data_dir()).is_empty());
    pg.start_again().unwrap();
    assert_eq!(pg.port(), port);
    assert_eq!(pg.psql("select sum(x) from t").unwrap(), "500500");
}

#[test]
fn kill_then_start_again_recovers() {
    let mut pg = PgServer::start().unwrap();
    let port = pg.port();
    pg.psql("create table t (x int)").unwrap();
    for i in 0..20 {
        pg.psql(&format!("insert into t values ({i})")).unwrap();
    }
    pg.kill().unwrap();
    assert!(!pg.is_running());
    let left = processes_of(pg.data_dir());
    assert!(left.is_empty(), "left after kill: {left:?}");
    assert!(pg.psql("select 1").is_err());

    pg.start_again().unwrap();
    assert_eq!(pg.port(), port);
    let log = pg.current_log();
    assert!(
        log.contains("not properly shut down") && log.contains("automatic recovery"),
        "no crash recovery in the log:\n{log}"
    );
    // Every committed row is there (fsync on, commits flushed the WAL).
    assert_eq!(pg.psql("select count(*), sum(x) from t").unwrap(), "20|190");
    pg.psql("insert into t values (100)").unwrap();
}

#[test]
fn two_servers_at_once() {
    let a = PgServer::start().unwrap();
    let b = PgServer::start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());
    assert_ne!(a.password(), b.password());
    a.psql("create table only_in_a (x int)").unwrap();
    assert!(b.psql("select * from only_in_a").is_err());
    assert_eq!(b.psql_url(&b.url(), "select 2").unwrap(), "2");
    // Each URL reaches its own server only: a's password does not work on b.
    let a_pw_on_b = format!(
        "postgres://{PG_USER}:{}@127.0.0.1:{}/{PG_DATABASE}",
        a.password(),
        b.port()
    );
    assert!(b.psql_url(&a_pw_on_b, "select 1").is_err());
}

#[test]
fn drop_leaves_no_process_and_no_files() {
    let pg = PgServer::start().unwrap();
    let data: PathBuf = pg.data_dir().to_path_buf();
    let work: PathBuf = pg.work_dir().to_path_buf();
    // A client connection open at the time: fast shutdown does not wait for it.
    let mut client = Command::new(pg.bin_dir().join("psql"))
        .arg(pg.url())
        .args(["-X", "-At", "-c", "select pg_sleep(60)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pg
        .psql("select count(*) from pg_stat_activity where query like 'select pg_sleep%'")
        .unwrap()
        != "1"
    {
        assert!(Instant::now() < deadline, "the client never connected");
        sleep(Duration::from_millis(20));
    }
    assert!(!processes_of(&data).is_empty());
    let started = Instant::now();
    drop(pg);
    assert!(started.elapsed() < Duration::from_secs(10));
    let left = processes_of(&data);
    assert!(left.is_empty(), "left after drop: {left:?}");
    assert!(!work.exists(), "{} still exists", work.display());
    // The client saw its connection end.
    assert!(!client.wait().unwrap().success());
}

#[test]
fn start_again_waits_while_the_port_is_taken() {
    let mut pg = PgServer::start().unwrap();
    pg.stop().unwrap();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", pg.port())).unwrap();
    let release = std::thread::spawn(move || {
        sleep(Duration::from_millis(700));
        drop(squatter);
    });
    let started = Instant::now();
    pg.start_again().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    release.join().unwrap();
    assert_eq!(pg.psql("select 1").unwrap(), "1");
}
