//! `/metrics`, `/healthz` and `/readyz` of a running `mcsource run`: scraped over HTTP and
//! parsed by the reference OpenMetrics parser (the Prometheus project's Python client), so the
//! exposition format itself is checked, not only the numbers.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use mimecast_mock::{Credential, LogType, MockConfig};

use crate::common::Harness;

/// Samples by metric name: each sample's labels and value.
type Samples = HashMap<String, Vec<(HashMap<String, String>, f64)>>;

/// `GET path` on `addr`: status and body.
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: mcsource\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

/// The samples of an OpenMetrics text, as the reference parser reads it: name → list of
/// (labels, value). Fails the test with the parser's words if the text is not valid.
fn parse_openmetrics(text: &str) -> Samples {
    const SCRIPT: &str = "import sys, json\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        out = [[s.name, s.labels, s.value] for f in text_string_to_metric_families(sys.stdin.read()) for s in f.samples]\n\
        print(json.dumps(out))\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with prometheus_client (installed by .ci/run)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, HashMap<String, String>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    let mut by_name = Samples::new();
    for (name, labels, value) in samples {
        by_name.entry(name).or_default().push((labels, value));
    }
    by_name
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .get(name)
        .and_then(|s| {
            s.iter().find(|(l, _)| {
                labels
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
        })
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no {name} {labels:?} in {:?}", samples.get(name)))
}

#[test]
fn metrics_and_health_endpoints_tell_what_was_delivered() {
    let h = Harness::start(MockConfig::demo(Utc::now()));
    let tenant = h.tenant_table("acme", &Credential::demo(), "lookback = \"3h\"");
    let config = h.dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = \"state\"\nmetrics_listen = \"127.0.0.1:0\"\n[sink]\ntype = \"file\"\npath = \"events.ndjson\"\n\n{tenant}"
        ),
    )
    .unwrap();
    let log = h.dir.path().join("run.log");
    let mut run = h.spawn_run(&config, std::fs::File::create(&log).unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    let addr = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("metrics and health endpoints listening"))
        {
            let at = line.find("addr=").unwrap() + 5;
            break line[at..].split_whitespace().next().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no metrics address in the log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let served: usize = LogType::ALL
        .into_iter()
        .map(|t| h.server.records(t).len())
        .sum();
    while h.events().len() < served && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(get(&addr, "/readyz").0, 200);
    assert_eq!(get(&addr, "/nope").0, 404);
    let (status, text) = get(&addr, "/metrics");
    // SIGTERM stops the run cleanly although the endpoint is still up.
    assert!(Command::new("kill")
        .args(["-TERM", &run.id().to_string()])
        .status()
        .unwrap()
        .success());
    let stopping = Instant::now();
    let exit = loop {
        if let Some(exit) = run.try_wait().unwrap() {
            break exit;
        }
        if stopping.elapsed() > Duration::from_secs(60) {
            run.kill().unwrap();
            panic!(
                "no exit within 60 s of SIGTERM:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert_eq!(status, 200);
    let samples = parse_openmetrics(&text);
    for t in LogType::ALL {
        let labels = [("tenant", "acme"), ("log_type", t.as_str())];
        let delivered = value(&samples, "mcsource_events_delivered_total", &labels);
        assert_eq!(delivered as usize, h.server.records(t).len(), "{t:?}");
        let lag = value(&samples, "mcsource_lag_seconds", &labels);
        assert!((0.0..3.0 * 3600.0).contains(&lag), "lag {lag}");
        assert!(value(&samples, "mcsource_checkpoint_bytes", &labels) > 0.0);
        assert!(value(&samples, "mcsource_last_success_timestamp_seconds", &labels) > 1.7e9);
    }
    assert_eq!(
        value(&samples, "mcsource_sink_events_total", &[("sink", "file")]) as usize,
        served
    );
    assert_eq!(value(&samples, "mcsource_tenants", &[]), 1.0);
    assert!(samples.contains_key("mcsource_sink_delivery_seconds_bucket"));
    assert!(samples.contains_key("mcsource_delivery_queue_depth"));
    // One tenant: at most its one instance alive. The component's modules came from the
    // compiled-code cache or went into it.
    assert!(value(&samples, "mcsource_instances_live", &[]) <= 1.0);
    let cache = value(&samples, "mcsource_compile_cache_hits_total", &[])
        + value(&samples, "mcsource_compile_cache_misses_total", &[]);
    assert!(cache >= 1.0, "no compiled-code cache lookups counted");
}
