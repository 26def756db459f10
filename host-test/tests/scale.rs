//! Scale: many tenants (three log types each) in one host against the mock on loopback, all
//! caught up exactly once; and many configured tenants idling between polls, for resident
//! memory per idle tenant. Sizes come from `SCALE_TENANTS` (default 200) and `SCALE_IDLE`
//! (default 2,000) so the CI run stays short; the figures in docs/benchmarks.md come from
//! `SCALE_TENANTS=1000 SCALE_IDLE=10000`. Figures are printed, never asserted.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::{assert_success, Harness};
use mimecast_mock::{Credential, Dataset, LogType, MockConfig};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tenants(h: &Harness, n: usize, extra: &str) -> String {
    let c = Credential::demo();
    (0..n)
        .map(|i| {
            h.tenant_table(
                &format!("t{i:05}"),
                &c,
                &format!("lookback = \"2h\"\n{extra}"),
            )
        })
        .collect()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn peak_from_log(stderr: &str) -> Option<u64> {
    let at = stderr.find("peak_rss_kib=")? + "peak_rss_kib=".len();
    stderr[at..].split_whitespace().next()?.parse().ok()
}

#[test]
fn many_tenants_catch_up_exactly_once() {
    let n = env_usize("SCALE_TENANTS", 200);
    let now = Utc::now();
    let h = Harness::start(MockConfig::new(
        vec![Credential::demo()],
        Dataset::generate(
            5,
            now - TimeDelta::hours(1),
            now - TimeDelta::minutes(2),
            20,
        ),
    ));
    let cfg = h.write_config(&tenants(&h, n, ""));
    let started = Instant::now();
    let out = h.run_once(&cfg);
    let wall = started.elapsed();
    assert_success(&out);
    // Every tenant got every record of every type exactly once: per tenant, the multiset of
    // delivered records equals the mock's (which holds some identical records).
    let mut served: BTreeMap<(String, String), usize> = BTreeMap::new();
    for t in LogType::ALL {
        for r in h.server.records(t) {
            *served
                .entry((t.as_str().to_string(), r.to_string()))
                .or_default() += 1;
        }
    }
    let mut delivered: BTreeMap<String, BTreeMap<(String, String), usize>> = BTreeMap::new();
    let events = h.events();
    for e in &events {
        let key = (
            e["log_type"].as_str().unwrap().to_string(),
            e["record"].to_string(),
        );
        *delivered
            .entry(e["tenant"].as_str().unwrap().to_string())
            .or_default()
            .entry(key)
            .or_default() += 1;
    }
    assert_eq!(delivered.len(), n, "every tenant delivers");
    for (tenant, got) in &delivered {
        assert!(*got == served, "tenant {tenant}: delivered != served");
    }
    let peak = peak_from_log(&String::from_utf8_lossy(&out.stderr));
    eprintln!(
        "scale: {n} tenants x 3 log types, {} events, caught up in {:.2}s ({:.0} events/s), peak RSS {} KiB",
        events.len(),
        wall.as_secs_f64(),
        events.len() as f64 / wall.as_secs_f64(),
        peak.map_or("?".into(), |k| k.to_string())
    );
}

#[test]
fn idle_tenants_cost_little_memory() {
    let idle = env_usize("SCALE_IDLE", 2000);
    let h = Harness::start(MockConfig::new(vec![Credential::demo()], Dataset::empty()));
    let measure = |n: usize| -> u64 {
        // A long interval spreads first polls over an hour: after start-up, nearly all idle.
        let cfg = h.write_config(&tenants(&h, n, "interval = \"1h\""));
        let mut child = h
            .command(&["run", "--config", cfg.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the resident size settles (start-up done), bounded in time.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = 0;
        let mut stable = 0;
        while Instant::now() < deadline && stable < 5 {
            std::thread::sleep(Duration::from_millis(200));
            let now = rss_kib(child.id()).unwrap_or(0);
            if now > 0 && now.abs_diff(last) * 100 <= now {
                stable += 1;
            } else {
                stable = 0;
            }
            last = now;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        last
    };
    let one = measure(1);
    let many = measure(idle);
    assert!(one > 0 && many > 0, "could not read resident memory");
    let per = (many.saturating_sub(one)) as f64 / (idle - 1) as f64;
    eprintln!("idle: 1 tenant {one} KiB, {idle} tenants {many} KiB, {per:.1} KiB per idle tenant");
}
