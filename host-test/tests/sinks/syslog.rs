//! The syslog sink into real rsyslog and syslog-ng daemons: RFC 5424 over TCP (octet
//! counting), TLS and UDP; the receiver down and back; mutual TLS; and syslog-ng's
//! `program()` source running `mcsource run` as its input.

use std::time::Duration;

use mimecast_receivers::{Daemon, ReceivedMessage, Receiver, ReceiverOptions, TestCa, Transport};

use crate::common::{assert_success, BIN};
use crate::{awkward_harness, config_with_sinks, file_lines, same_multiset, served};

const WAIT: Duration = Duration::from_secs(120);

/// The messages that came in over `transport`.
fn over(messages: &[ReceivedMessage], transport: Transport) -> Vec<&ReceivedMessage> {
    messages
        .iter()
        .filter(|m| m.transport == transport)
        .collect()
}

/// Checks the header and structured data of a message against the event it carries.
fn check_header(m: &ReceivedMessage, verdict_severity: bool) {
    let event: serde_json::Value = serde_json::from_str(&m.msg)
        .unwrap_or_else(|e| panic!("MSG is not the event JSON ({e}): {:.200}", m.msg));
    assert_eq!(m.app_name.as_deref(), Some("mcsource"));
    assert_eq!(m.msgid.as_deref(), event["log_type"].as_str());
    let sd = m.structured_data.as_deref().unwrap_or_default();
    let id = event["event_id"].as_str().unwrap();
    assert!(
        sd.contains("[mcsource@32473 ")
            && sd.contains("tenant=\"acme\"")
            && sd.contains(&format!("event_id=\"{id}\"")),
        "{sd}"
    );
    assert_eq!(m.facility(), 16, "local0");
    let malicious = event["record"]["scanResult"] == "malicious"
        || event["record"]["taggedMalicious"] == true
        || event["record"]["result"] == "malicious";
    let expected = if verdict_severity && malicious { 4 } else { 5 };
    assert_eq!(m.severity(), expected, "{:.200}", m.msg);
}

/// All three log types through TCP, TLS and UDP at once into `daemon`; TCP and TLS carry every
/// event exactly once and byte for byte (Unicode, CR LF, a tab, records over 64 KiB); UDP
/// carries whole events only (and none over a datagram's size). Then the daemon is stopped,
/// more records arrive, and `mcsource run` waits for the daemon to come back: nothing lost.
fn every_transport_into(daemon: Daemon) {
    let h = awkward_harness();
    let ca = TestCa::new().unwrap();
    let mut rx = Receiver::start(daemon, &ca, ReceiverOptions::default()).unwrap();
    let sinks = format!(
        "[[sink]]\ntype = \"syslog\"\nname = \"tcp\"\naddress = \"127.0.0.1:{}\"\n\n\
         [[sink]]\ntype = \"syslog\"\nname = \"tls\"\naddress = \"localhost:{}\"\ntransport = \"tls\"\n\
         severity = \"verdict\"\ntls = {{ ca_file = {:?} }}\n\n\
         [[sink]]\ntype = \"syslog\"\nname = \"udp\"\naddress = \"127.0.0.1:{}\"\ntransport = \"udp\"\n",
        rx.tcp_port(),
        rx.tls_port(),
        ca.ca_pem(),
        rx.udp_port()
    );
    let config = config_with_sinks(&h, &sinks, "");
    let out = h.run_once(&config);
    assert_success(&out);
    let lines = file_lines(&h);
    assert_eq!(
        lines.len(),
        served(&h),
        "the file sink got every record once"
    );
    let messages = rx.wait_for(2 * lines.len(), WAIT).unwrap();
    for (transport, verdict) in [(Transport::Tcp, false), (Transport::Tls, true)] {
        let got = over(&messages, transport);
        let msgs: Vec<String> = got.iter().map(|m| m.msg.clone()).collect();
        same_multiset(&msgs, &lines, &format!("{daemon} over {transport:?}"));
        for m in got {
            check_header(m, verdict);
        }
    }
    // UDP: lossy by nature; what came is whole, and the one event per log type larger than a
    // datagram was not sent.
    std::thread::sleep(Duration::from_millis(500));
    let messages = rx.messages().unwrap();
    let udp = over(&messages, Transport::Udp);
    let fits = lines.iter().filter(|l| l.len() < 60_000).count();
    assert!(
        !udp.is_empty() && udp.len() <= fits,
        "{} over UDP of {fits}",
        udp.len()
    );
    for m in &udp {
        assert!(
            lines.contains(&m.msg),
            "a UDP message is not an event: {:.200}",
            m.msg
        );
    }

    // The receiver goes down; records arrive; mcsource retries until it is back.
    rx.stop().unwrap();
    h.arrive_late(mimecast_mock::LogType::Url, 77, 40);
    let tcp_only = format!(
        "[[sink]]\ntype = \"syslog\"\nname = \"tcp\"\naddress = \"127.0.0.1:{}\"\nretry = {{ initial = \"200ms\", max = \"1s\" }}\n",
        rx.tcp_port()
    );
    let config = config_with_sinks(&h, &tcp_only, "");
    let log = std::fs::File::create(h.dir.path().join("run.log")).unwrap();
    let mut run = h.spawn_run(&config, log);
    std::thread::sleep(Duration::from_secs(3));
    let before = rx.messages().unwrap().len();
    rx.start_again().unwrap();
    let total = served(&h);
    let deadline = std::time::Instant::now() + WAIT;
    while file_lines(&h).len() < total && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let messages = rx.wait_for(before + 40, WAIT).unwrap();
    run.kill().unwrap();
    run.wait().unwrap();
    let log = std::fs::read_to_string(h.dir.path().join("run.log")).unwrap();
    assert!(log.contains("sink failed; retrying"), "{log}");
    let lines = file_lines(&h);
    assert_eq!(lines.len(), total);
    let tcp: Vec<String> = over(&messages, Transport::Tcp)
        .iter()
        .map(|m| m.msg.clone())
        .collect();
    same_multiset(
        &tcp,
        &lines,
        &format!("{daemon} over TCP after it came back"),
    );
}

/// The daemon is killed (-9) and started again while mcsource, caught up, holds its connection
/// open: the next batch finds the connection closed, opens a new one, and arrives once.
fn a_closed_connection_is_replaced(daemon: Daemon) {
    let h = awkward_harness();
    let ca = TestCa::new().unwrap();
    let mut rx = Receiver::start(daemon, &ca, ReceiverOptions::default()).unwrap();
    let sinks = format!(
        "[[sink]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{}\"\nretry = {{ initial = \"200ms\", max = \"1s\" }}\n",
        rx.tcp_port()
    );
    let config = config_with_sinks(&h, &sinks, "");
    let mut run = h.spawn_run(&config, std::process::Stdio::null());
    let first = served(&h);
    rx.wait_for(first, WAIT).unwrap();
    rx.kill().unwrap();
    rx.start_again().unwrap();
    h.arrive_late(mimecast_mock::LogType::Attachment, 78, 25);
    rx.wait_for(first + 25, WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    run.kill().unwrap();
    run.wait().unwrap();
    let lines = file_lines(&h);
    assert_eq!(lines.len(), first + 25);
    let msgs: Vec<String> = rx.messages().unwrap().into_iter().map(|m| m.msg).collect();
    same_multiset(
        &msgs,
        &lines,
        &format!("{daemon} after a kill -9 and restart"),
    );
}

#[test]
fn rsyslog_killed_and_restarted_gets_the_next_batch_on_a_new_connection() {
    a_closed_connection_is_replaced(Daemon::Rsyslog);
}

#[test]
fn syslog_ng_killed_and_restarted_gets_the_next_batch_on_a_new_connection() {
    a_closed_connection_is_replaced(Daemon::SyslogNg);
}

#[test]
fn rsyslog_gets_every_event_over_tcp_tls_and_udp_and_nothing_is_lost_while_it_is_down() {
    every_transport_into(Daemon::Rsyslog);
}

#[test]
fn syslog_ng_gets_every_event_over_tcp_tls_and_udp_and_nothing_is_lost_while_it_is_down() {
    every_transport_into(Daemon::SyslogNg);
}

/// A receiver that requires a client certificate gets the events from a sink that has one.
#[test]
fn mutual_tls_presents_the_client_certificate() {
    let h = awkward_harness();
    let ca = TestCa::new().unwrap();
    let options = ReceiverOptions {
        require_client_cert: true,
        ..ReceiverOptions::default()
    };
    let rx = Receiver::start(Daemon::SyslogNg, &ca, options).unwrap();
    let sinks = format!(
        "[[sink]]\ntype = \"syslog\"\naddress = \"localhost:{}\"\ntransport = \"tls\"\n\
         tls = {{ ca_file = {:?}, client_cert = {:?}, client_key = {:?} }}\n",
        rx.tls_port(),
        ca.ca_pem(),
        ca.client_cert(),
        ca.client_key()
    );
    let out = h.run_once(&config_with_sinks(&h, &sinks, ""));
    assert_success(&out);
    let lines = file_lines(&h);
    let got: Vec<String> = rx
        .wait_for(lines.len(), WAIT)
        .unwrap()
        .into_iter()
        .map(|m| m.msg)
        .collect();
    same_multiset(&got, &lines, "mutual TLS");
}

/// The recipe: syslog-ng's `program()` source runs `mcsource run` and takes each line it
/// prints to stdout as a message; every event arrives once.
#[test]
fn syslog_ng_program_source_runs_mcsource_as_its_input() {
    let h = awkward_harness();
    let tenant = h.tenant_table(
        "acme",
        &mimecast_mock::Credential::demo(),
        "lookback = \"3h\"\ninterval = \"2s\"",
    );
    let config = h.dir.path().join("program.toml");
    std::fs::write(
        &config,
        format!("state_dir = \"state\"\n[sink]\ntype = \"stdout\"\n\n{tenant}"),
    )
    .unwrap();
    let command = vec![
        "env".to_string(),
        format!(
            "MCSOURCE_CACHE_DIR={}",
            crate::common::shared_cache_dir().display()
        ),
        "RUST_LOG=warn".to_string(),
        BIN.to_string(),
        "run".to_string(),
        "--config".to_string(),
        config.display().to_string(),
    ];
    let rx =
        Receiver::start_program(Daemon::SyslogNg, &command, ReceiverOptions::default()).unwrap();
    let messages = rx.wait_for(served(&h), WAIT).unwrap();
    let events: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| serde_json::from_str(&m.msg).unwrap())
        .collect();
    crate::common::assert_exactly_once(&events, &h.server, &["url", "impersonation", "attachment"]);
    drop(rx);
}
