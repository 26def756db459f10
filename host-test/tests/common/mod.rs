//! Shared harness for the end-to-end tests: a mock Mimecast on loopback per test, a temporary
//! directory with a config pointing at it, the real `mcsource` binary, and assertions that
//! compare the sink with what the mock holds.

#![allow(clippy::unwrap_used, dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use chrono::Utc;
use mimecast_mock::{Credential, LogType, MockConfig, MockServer, OAuthClient};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_mcsource");

/// Longest an `mcsource` command of a test may take. Every one finishes in seconds; a hang
/// must fail its test with the command's log, not run the suite into CI's time limit.
pub const COMMAND_LIMIT: std::time::Duration = std::time::Duration::from_secs(300);

/// [`Command::output`] that kills the command and fails the test, showing the command's
/// output so far, when it runs longer than [`COMMAND_LIMIT`].
pub trait OutputWithin {
    /// Runs the command to its end (stdin closed, stdout and stderr captured), or kills it
    /// after [`COMMAND_LIMIT`] and panics.
    fn output_within(&mut self) -> Output;
}

impl OutputWithin for Command {
    fn output_within(&mut self) -> Output {
        use std::io::Read;
        let mut child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let drain = |mut pipe: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                let _ = pipe.read_to_end(&mut bytes);
                bytes
            })
        };
        let stdout = drain(Box::new(child.stdout.take().unwrap()));
        let stderr = drain(Box::new(child.stderr.take().unwrap()));
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > COMMAND_LIMIT {
                let _ = child.kill();
                let _ = child.wait();
                let log = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
                let tail: String = log
                    .chars()
                    .rev()
                    .take(8000)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!(
                    "{self:?} still ran after {COMMAND_LIMIT:?} and was killed; its log ends:\n{tail}"
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }
}

pub struct Harness {
    pub _rt: tokio::runtime::Runtime,
    pub server: MockServer,
    pub dir: tempfile::TempDir,
}

impl Harness {
    pub fn start(config: MockConfig) -> Harness {
        Harness::serve(config, false)
    }

    /// The mock over HTTPS, with a certificate made for it (`server.certificate_pem()`).
    pub fn start_tls(config: MockConfig) -> Harness {
        Harness::serve(config, true)
    }

    fn serve(config: MockConfig, tls: bool) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = if tls {
            rt.block_on(MockServer::start_tls(config))
        } else {
            rt.block_on(MockServer::start(config))
        }
        .unwrap();
        Harness {
            _rt: rt,
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn demo() -> Harness {
        Harness::start(MockConfig::demo(Utc::now()))
    }

    pub fn sink(&self) -> PathBuf {
        self.dir.path().join("events.ndjson")
    }

    /// Writes `config.toml`: a file sink and the given `[[tenant]]` tables.
    pub fn write_config(&self, tenants: &str) -> PathBuf {
        let text = format!(
            "state_dir = \"state\"\n[sink]\ntype = \"file\"\npath = \"events.ndjson\"\n\n{tenants}"
        );
        let path = self.dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes a config with one API 1.0 tenant using the demo credentials (access key from the
    /// environment, secret key from a file); `tenant_extra` is appended to the tenant table.
    pub fn config(&self, tenant_extra: &str) -> PathBuf {
        let c = Credential::demo();
        std::fs::write(
            self.dir.path().join("secret.txt"),
            format!("{}\n", c.secret_key),
        )
        .unwrap();
        self.write_config(&format!(
            "[[tenant]]\nid = \"acme\"\nbase_url = \"{url}\"\napp_id = \"{app_id}\"\n\
             app_key = \"{app_key}\"\naccess_key = {{ env = \"E2E_ACCESS_KEY\" }}\n\
             secret_key = {{ file = \"secret.txt\" }}\nlookback = \"3h\"\n{tenant_extra}\n",
            url = self.server.base_url(),
            app_id = c.app_id,
            app_key = c.app_key,
        ))
    }

    /// An API 1.0 tenant table `id` with the binding `c` written into it, reading from this
    /// mock; `extra` is appended to the table (e.g. `lookback`, `interval`).
    pub fn tenant_table(&self, id: &str, c: &Credential, extra: &str) -> String {
        format!(
            "[[tenant]]\nid = \"{id}\"\nbase_url = \"{}\"\napp_id = \"{}\"\napp_key = \"{}\"\n\
             access_key = \"{}\"\nsecret_key = \"{}\"\n{extra}\n\n",
            self.server.base_url(),
            c.app_id,
            c.app_key,
            c.access_key,
            c.secret_key
        )
    }

    /// An API 2.0 tenant table with the demo client; the secret comes from the environment.
    pub fn api2_tenant(&self, extra: &str) -> String {
        format!(
            "[[tenant]]\nid = \"acme\"\nbase_url = \"{}\"\nclient_id = \"{}\"\n\
             client_secret = {{ env = \"E2E_CLIENT_SECRET\" }}\nlookback = \"3h\"\n{extra}\n",
            self.server.base_url(),
            OAuthClient::demo().client_id
        )
    }

    /// Requests to `path` answered with `status`.
    pub fn count(&self, path: &str, status: u16) -> usize {
        self.server
            .ledger()
            .requests()
            .iter()
            .filter(|r| r.path == path && r.status == status)
            .count()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("E2E_ACCESS_KEY", Credential::demo().access_key)
            .env("E2E_CLIENT_SECRET", OAuthClient::demo().client_secret)
            .env(
                "RUST_LOG",
                std::env::var("E2E_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("MCSOURCE_CACHE_DIR", shared_cache_dir())
            .current_dir(self.dir.path());
        cmd
    }

    /// Adds `n` records of type `t` that arrive late: their times lie 61 to 90 s back, behind
    /// the cursor of a caught-up collector (lag 60 s) but inside its overlap, so every running
    /// tenant reads them in its next window.
    pub fn arrive_late(&self, t: LogType, seed: u64, n: usize) {
        let now = Utc::now();
        let late = mimecast_mock::generate_records(
            t,
            seed,
            now - chrono::TimeDelta::seconds(90),
            now - chrono::TimeDelta::seconds(61),
            n,
        );
        self.server.append(t, late);
    }

    /// Starts `mcsource run --config CONFIG` in the background (until killed), its stdout
    /// discarded and its log to `stderr`.
    pub fn spawn_run(&self, config: &Path, stderr: impl Into<Stdio>) -> Child {
        self.command(&["run", "--config", config.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap()
    }

    pub fn run_once(&self, config: &Path) -> Output {
        let out = self
            .command(&["run", "--once", "--config", config.to_str().unwrap()])
            .output_within();
        out
    }

    pub fn events(&self) -> Vec<Value> {
        read_events(&self.sink())
    }
}

/// One compiled-component cache for all tests, so each test does not compile the component.
pub fn shared_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mcsource-compiled")
}

/// The events in a sink file. Only complete lines count: a collector that is still running
/// may be in the middle of appending the last one.
pub fn read_events(path: &Path) -> Vec<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => read_events_from(&text),
        Err(_) => Vec::new(),
    }
}

/// The events of NDJSON `text`: its complete lines.
pub fn read_events_from(text: &str) -> Vec<Value> {
    text.split_inclusive('\n')
        .filter_map(|l| l.strip_suffix('\n'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

pub fn mock_type(name: &str) -> LogType {
    LogType::parse(name).unwrap()
}

/// Multiset of records per log type.
pub fn count(
    records: impl IntoIterator<Item = (String, Value)>,
) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (t, r) in records {
        *out.entry((t, r.to_string())).or_default() += 1;
    }
    out
}

/// Asserts each record the mock holds arrived exactly once, and every event id is unique.
pub fn assert_exactly_once(events: &[Value], server: &MockServer, types: &[&str]) {
    let mut ids = HashSet::new();
    for e in events {
        assert!(
            ids.insert(e["event_id"].as_str().unwrap().to_string()),
            "duplicate event {e}"
        );
        assert_eq!(e["tenant"], "acme");
        assert!(e["event_time"].is_string(), "{e}");
    }
    let got = count(events.iter().map(|e| {
        (
            e["log_type"].as_str().unwrap().to_string(),
            e["record"].clone(),
        )
    }));
    let want = count(types.iter().flat_map(|t| {
        server
            .records(mock_type(t))
            .into_iter()
            .map(move |r| (t.to_string(), r))
    }));
    let mut wrong: Vec<String> = want
        .iter()
        .filter(|(k, n)| got.get(*k) != Some(n))
        .map(|(k, n)| {
            format!(
                "{} {} served {n}x, delivered {}x",
                k.0,
                k.1,
                got.get(k).unwrap_or(&0)
            )
        })
        .collect();
    wrong.extend(
        got.iter()
            .filter(|(k, _)| !want.contains_key(*k))
            .map(|(k, n)| format!("{} {} never served, delivered {n}x", k.0, k.1)),
    );
    assert!(
        wrong.is_empty(),
        "delivered != served for {} records (of {}), e.g.:\n{}",
        wrong.len(),
        want.len(),
        wrong.iter().take(4).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Connections are kept alive and reused: at most one per three requests (one per page).
pub fn assert_connections_reused(server: &MockServer) {
    let requests = server.ledger().requests().len() as u64;
    let connections = server.connections_accepted();
    assert!(
        requests >= 9 && connections * 3 <= requests,
        "{connections} connections for {requests} requests"
    );
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "mcsource failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the misbehaving test component (`host-test/hostile`) for wasm32-wasip2 once per test
/// binary, in its own target dir. Every guest test component is built here.
pub fn hostile_component() -> &'static PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile-build");
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--release",
                "--target=wasm32-wasip2",
                "--package=mimecast-hostile",
                "--lib",
            ])
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .current_dir(&workspace)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "cannot build the hostile component (rustup target add wasm32-wasip2?)"
        );
        target.join("wasm32-wasip2/release/mimecast_hostile.wasm")
    })
}

/// A command's log (stderr) as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
