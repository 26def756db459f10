//! A damaged or lost state must not silently deliver everything again, nor destroy the sink:
//! the real `mcsource` against the mock, with the state database deleted, emptied, or edited
//! behind its back between runs.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{assert_exactly_once, assert_success, stderr, Harness, OutputWithin};

const TYPES: [&str; 3] = ["url", "impersonation", "attachment"];

fn database(h: &Harness) -> PathBuf {
    h.dir.path().join("state").join("mcsource.sqlite3")
}

/// Runs `run --once` with `--accept-state-loss`.
fn run_accepting(h: &Harness, config: &Path) -> Output {
    h.command(&[
        "run",
        "--once",
        "--accept-state-loss",
        "--config",
        config.to_str().unwrap(),
    ])
    .output_within()
}

/// Asserts `out` failed, saying `needle` and how to go on, and the sink still holds `sink`.
fn assert_refused(h: &Harness, out: &Output, needle: &str, sink: &[u8]) {
    let text = stderr(out);
    assert!(!out.status.success(), "not refused:\n{text}");
    assert!(
        text.contains(needle) && text.contains("--accept-state-loss"),
        "{needle:?} not said:\n{text}"
    );
    assert_eq!(std::fs::read(h.sink()).unwrap(), sink, "the sink changed");
}

/// Copies every file of `from` into `to` (the state directory has no subdirectories here).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_lost_or_emptied_state_is_refused_instead_of_delivering_everything_again() {
    let h = Harness::demo();
    let cfg = h.config("");
    assert_success(&h.run_once(&cfg));
    let delivered = std::fs::read(h.sink()).unwrap();
    assert!(!delivered.is_empty());
    assert_exactly_once(&h.events(), &h.server, &TYPES);
    let state = h.dir.path().join("state");
    let backup = h.dir.path().join("state-backup");
    copy_dir(&state, &backup);

    // The database file deleted: the lock file shows state_dir was used.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", database(&h).display()));
    }
    let out = h.run_once(&cfg);
    assert_refused(&h, &out, "is missing although", &delivered);

    // The database emptied (0 bytes).
    std::fs::write(database(&h), b"").unwrap();
    let out = h.run_once(&cfg);
    assert_refused(&h, &out, "is empty (0 bytes)", &delivered);

    // The database cut short.
    std::fs::remove_dir_all(&state).unwrap();
    copy_dir(&backup, &state);
    let db = std::fs::read(database(&h)).unwrap();
    std::fs::write(database(&h), &db[..db.len() / 2]).unwrap();
    let out = h.run_once(&cfg);
    assert_refused(&h, &out, "is damaged", &delivered);

    // The whole state_dir gone: the sink's last line is an event of tenant acme.
    std::fs::remove_dir_all(&state).unwrap();
    let out = h.run_once(&cfg);
    assert_refused(&h, &out, "holds events mcsource delivered", &delivered);

    // The state restored: it agrees with the sink, and nothing is delivered twice.
    std::fs::remove_dir_all(&state).unwrap();
    copy_dir(&backup, &state);
    assert_success(&h.run_once(&cfg));
    assert_exactly_once(&h.events(), &h.server, &TYPES);

    // Told to go on: the sink is kept, and the look-back is collected again after it.
    std::fs::write(database(&h), b"").unwrap();
    let out = run_accepting(&h, &cfg);
    assert_success(&out);
    assert!(stderr(&out).contains("moved aside"), "{}", stderr(&out));
    let now = std::fs::read(h.sink()).unwrap();
    assert_eq!(now.len(), delivered.len() * 2);
    assert_eq!(&now[..delivered.len()], &delivered[..]);
    // And the new state vouches for the sink from now on.
    assert_success(&h.run_once(&cfg));
}

#[test]
fn a_damaged_committed_sink_length_stops_the_run_and_keeps_the_sink() {
    let h = Harness::demo();
    let cfg = h.config("");
    assert_success(&h.run_once(&cfg));
    let delivered = std::fs::read(h.sink()).unwrap();
    let db = rusqlite::Connection::open(database(&h)).unwrap();
    db.execute("UPDATE sink_length SET length = -5", [])
        .unwrap();
    drop(db);
    let out = h.run_once(&cfg);
    assert_refused(&h, &out, "-5 bytes", &delivered);
    assert!(
        stderr(&out).contains(&*h.sink().canonicalize().unwrap().to_string_lossy()),
        "the file is not named:\n{}",
        stderr(&out)
    );
    // Told to go on: the file is kept whole, its length recorded, and nothing is due again.
    let out = run_accepting(&h, &cfg);
    assert_success(&out);
    assert!(stderr(&out).contains("keeping the sink file as it is"));
    assert_eq!(std::fs::read(h.sink()).unwrap(), delivered);
    assert_exactly_once(&h.events(), &h.server, &TYPES);
}

#[test]
fn check_reports_a_state_dir_that_is_a_file() {
    let h = Harness::demo();
    let cfg = h.config("");
    std::fs::write(h.dir.path().join("state"), "not a directory").unwrap();
    let out = h
        .command(&["check", "--config", cfg.to_str().unwrap()])
        .output_within();
    assert!(!out.status.success(), "check passed:\n{}", stderr(&out));
    assert!(
        stderr(&out).contains("state_dir: ") && stderr(&out).contains("is not a directory"),
        "{}",
        stderr(&out)
    );
}

/// `/dev/full` refuses every write with ENOSPC, as a full disk does.
#[cfg(target_os = "linux")]
#[test]
fn a_sink_write_failure_is_logged_and_shown_in_status() {
    let h = Harness::demo();
    let cfg = h.config("");
    std::os::unix::fs::symlink("/dev/full", h.sink()).unwrap();
    let out = h.run_once(&cfg);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    let logged = text
        .lines()
        .find(|l| l.contains("the sink cannot be written"))
        .unwrap_or_else(|| panic!("no sink failure logged:\n{text}"));
    assert!(
        logged.contains("ERROR")
            && logged.contains("/dev/full")
            && logged.contains("No space left on device"),
        "{logged}"
    );
    assert_eq!(
        text.matches("the sink cannot be written").count(),
        1,
        "{text}"
    );
    let status = h
        .command(&["status", "--config", cfg.to_str().unwrap()])
        .output_within();
    assert_success(&status);
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(table.contains("No space left on device"), "{table}");
}

/// Starts `run` (until killed) and returns the `wait_ms` of its first log line holding
/// `needle`, and that line.
fn wait_ms_logged(h: &Harness, config: &Path, needle: &str) -> (u64, String) {
    use std::io::BufRead as _;
    let mut child = h.spawn_run(config, std::process::Stdio::piped());
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen = Vec::new();
    let found = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(needle) => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    // The pause is stored just after it is logged.
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    let line = found.unwrap_or_else(|| panic!("{needle:?} not logged:\n{}", seen.join("\n")));
    let ms = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("wait_ms="))
        .unwrap_or_else(|| panic!("no wait_ms in {line}"))
        .parse()
        .unwrap();
    (ms, line)
}

#[test]
fn no_rate_limit_pause_holds_a_tenant_beyond_an_hour_even_across_restarts() {
    const HOUR_MS: u64 = 3_600_000;
    let h = Harness::demo();
    let cfg = h.config("log_types = [\"url\"]");
    h.server.push_fault(mimecast_mock::Fault::RateLimited {
        reset_ms: 1_000_000_000_000_000,
    });
    let (ms, line) = wait_ms_logged(&h, &cfg, "rate limited; waiting");
    assert!(ms <= HOUR_MS && ms > HOUR_MS - 60_000, "{line}");
    // The stored pause, found by the next start.
    let (ms, line) = wait_ms_logged(&h, &cfg, "rate-limit reset seen before");
    assert!(ms <= HOUR_MS && ms > HOUR_MS - 60_000, "{line}");
    // A damaged stored pause: 1e15 ms since 1970, some 31,000 years ahead.
    let db = rusqlite::Connection::open(database(&h)).unwrap();
    db.execute("UPDATE tenant_pause SET until_ms = 1000000000000000", [])
        .unwrap();
    drop(db);
    let (ms, line) = wait_ms_logged(&h, &cfg, "rate-limit reset seen before");
    assert!(ms <= HOUR_MS, "{line}");
}
