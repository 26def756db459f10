//! Smoke run of `mimecast-bench` at tiny sizes, so the benchmark harness cannot rot: every
//! section runs, the component and native paths agree, and the report has every table.
//! The figures of a debug build mean nothing and are not checked.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn bench_smoke_run_writes_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("benchmarks.md");
    let output = Command::new(env!("CARGO_BIN_EXE_mimecast-bench"))
        .args(["--smoke", "--out", out.to_str().unwrap()])
        .env(
            "MCSOURCE_CACHE_DIR",
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("mcsource-compiled"),
        )
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "bench --smoke failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(&out).unwrap();
    for heading in [
        "## Goals",
        "## 1. Parse and transform throughput",
        "## 2. End to end",
        "## 3. Instantiation and cold start",
        "## 4. Resident memory",
        "## 5. Component size and compile time",
        "## 6. How cost grows",
        "## 7. Outbound connections",
        "## 8. Checkpoint size",
        "## 10. Sinks",
        "## 11. A sink down",
        "## 12. Several hosts: checkpoint commits",
        "## 13. Several hosts: when a host dies",
        "cores",
        "mimecast-bench -- --out",
    ] {
        assert!(
            report.contains(heading),
            "missing {heading:?} in:\n{report}"
        );
    }
    for row in [
        "| url |",
        "| impersonation |",
        "| attachment |",
        "| 1 tenant, file sink |",
        "| 3 tenants, file sink |",
        "| ceiling on 1 connection",
        "| 3 |",
        "| new connection per request",
        "| kept-alive connections",
        "| 1 | 1800 |",
        "| elasticsearch |",
        "| splunk_hec, ack |",
        "| syslog tls → rsyslog |",
        "| syslog tcp → syslog-ng |",
        "| 3 | 6 | 20 |",
        "| 3s | 2s | 6 |",
    ] {
        assert!(report.contains(row), "missing row {row:?} in:\n{report}");
    }
    assert!(
        report.contains(String::from_utf8_lossy(&output.stdout).as_ref()),
        "the file does not hold the printed report"
    );
}
