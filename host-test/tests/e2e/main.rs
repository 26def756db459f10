//! End-to-end: the real `mcsource` binary with the bundled real component, against the mock
//! Mimecast on loopback. Every test starts its own mock and compares what reached the sink with
//! what the mock holds: every record exactly once.

#![allow(clippy::unwrap_used)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use common::{
    assert_connections_reused, assert_exactly_once, assert_success, Harness, OutputWithin, BIN,
};
use mimecast_mock::{
    generate_records, Credential, Dataset, Fault, LogType, MockConfig, PagingEnd, RateLimit,
};
use serde_json::Value;

/// Runs `mcsource ARGS` (a demo), reads the first line of its stdout and closes the pipe, as
/// `mcsource demo | head -1` does; returns that line and how the process ended.
fn first_line_then_hang_up(args: &[&str]) -> (String, std::process::Output) {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(args)
        .env("MCSOURCE_CACHE_DIR", common::shared_cache_dir())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The pipe's read end is closed here.
    (first, child.wait_with_output().unwrap())
}

/// The harness's tenant `acme` (collecting `url` every second) as a `[[tenant]]` table renamed
/// `id`, optionally with more keys.
fn good_tenant(h: &Harness, id: &str, extra: &str) -> String {
    let text =
        std::fs::read_to_string(h.config("interval = \"1s\"\nlog_types = [\"url\"]")).unwrap();
    let table = &text[text.find("[[tenant]]").unwrap()..];
    format!(
        "{}{extra}\n\n",
        table.replace("id = \"acme\"", &format!("id = \"{id}\""))
    )
}

mod collect;
mod engine;
mod faults;
mod isolation;
mod lifecycle;
mod metrics;
mod schemas;
mod setup;
