//! Both daemons for real: every transport, large and odd messages, restart on the same ports,
//! mutual TLS, and the program input.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mimecast_receivers::{
    Daemon, ReceivedMessage, Receiver, ReceiverError, ReceiverOptions, TestCa, Transport,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const WAIT: Duration = Duration::from_secs(20);

/// One message to send and what should come back.
#[derive(Clone)]
struct Msg {
    pri: u8,
    hostname: &'static str,
    app_name: Option<&'static str>,
    msgid: Option<&'static str>,
    sd: Option<&'static str>,
    msg: String,
}

impl Msg {
    fn rfc5424(&self) -> String {
        format!(
            "<{}>1 2026-01-02T03:04:05.678Z {} {} 4242 {} {} {}",
            self.pri,
            self.hostname,
            self.app_name.unwrap_or("-"),
            self.msgid.unwrap_or("-"),
            self.sd.unwrap_or("-"),
            self.msg
        )
    }

    fn check(&self, got: &ReceivedMessage, transport: Transport, daemon: Daemon) {
        let what = format!("{daemon} {transport:?}");
        assert_eq!(got.transport, transport, "{what}");
        assert_eq!(got.pri, self.pri, "{what}");
        assert_eq!(got.hostname.as_deref(), Some(self.hostname), "{what}");
        assert_eq!(got.app_name.as_deref(), self.app_name, "{what}");
        assert_eq!(got.msgid.as_deref(), self.msgid, "{what}");
        assert_eq!(got.structured_data.as_deref(), self.sd, "{what}");
        assert!(
            got.msg == self.msg,
            "{what}: msg differs: got {} bytes {:?}…, sent {} bytes {:?}…",
            got.msg.len(),
            got.msg.chars().take(80).collect::<String>(),
            self.msg.len(),
            self.msg.chars().take(80).collect::<String>()
        );
    }
}

/// Messages for `transport`, tagged with `tag` so runs can be told apart.
fn messages(tag: &str, large: usize) -> Vec<Msg> {
    let json = format!(
        r#"{{"tag":"{tag}","text":"line one\r\nline two\ttabbed \"quoted\" \\ back","emoji":"😀"}}"#
    );
    vec![
        Msg {
            pri: 165,
            hostname: "mcsource.example",
            app_name: Some("mcsource"),
            msgid: Some("TTP_URL"),
            sd: Some(r#"[mcsource@32473 tenant="acme" q="a\"b\]c"]"#),
            msg: json,
        },
        Msg {
            pri: 14,
            hostname: "h2",
            app_name: Some("app"),
            msgid: None,
            sd: None,
            msg: format!("{tag} raw\ttab, unicode ünïcödé €, CJK 日本語, \u{1} control"),
        },
        Msg {
            pri: 131,
            hostname: "h3",
            app_name: None,
            msgid: Some("LARGE"),
            sd: None,
            msg: format!("{tag} {}", large_body(large)),
        },
    ]
}

fn large_body(len: usize) -> String {
    // Varied text, so a dropped or repeated chunk shows.
    let mut s = String::with_capacity(len + 16);
    let mut i = 0u64;
    while s.len() < len {
        s.push_str(&format!("{i:08x}-é\t"));
        i += 1;
    }
    s.push_str("<END>");
    s
}

fn frame(msg: &str) -> Vec<u8> {
    let mut out = format!("{} ", msg.len()).into_bytes();
    out.extend_from_slice(msg.as_bytes());
    out
}

fn send_tcp(port: u16, msgs: &[Msg]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for m in msgs {
        s.write_all(&frame(&m.rfc5424())).unwrap();
    }
    s.flush().unwrap();
}

fn send_udp(port: u16, msgs: &[Msg]) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    for m in msgs {
        s.send_to(m.rfc5424().as_bytes(), ("127.0.0.1", port))
            .unwrap();
    }
}

fn tls_config(ca: &TestCa, client_cert: bool) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca.ca_pem()).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = if client_cert {
        let cert = CertificateDer::from_pem_file(ca.client_cert()).unwrap();
        let key = PrivateKeyDer::from_pem_file(ca.client_key()).unwrap();
        builder.with_client_auth_cert(vec![cert], key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    Arc::new(config)
}

fn tls_stream(
    port: u16,
    ca: &TestCa,
    client_cert: bool,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let server = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(tls_config(ca, client_cert), server).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Sends over TLS (server name `localhost`), then closes cleanly (close_notify).
fn send_tls(port: u16, ca: &TestCa, client_cert: bool, msgs: &[Msg]) {
    let mut tls = tls_stream(port, ca, client_cert);
    for m in msgs {
        tls.write_all(&frame(&m.rfc5424())).unwrap();
    }
    tls.conn.send_close_notify();
    tls.flush().unwrap();
}

/// Whether the server refuses this client: the handshake fails, or (TLS 1.3, where the client
/// finishes its handshake before the server has checked its certificate) the server answers
/// the first data with an alert or a close. A server that accepted says nothing, so the read
/// times out.
fn tls_refused(port: u16, ca: &TestCa, client_cert: bool, msgs: &[Msg]) -> bool {
    let mut tls = tls_stream(port, ca, client_cert);
    for m in msgs {
        if tls.write_all(&frame(&m.rfc5424())).is_err() {
            return true;
        }
    }
    if tls.flush().is_err() {
        return true;
    }
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    match tls.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => panic!("the server sent data"),
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn of(all: &[ReceivedMessage], transport: Transport) -> Vec<ReceivedMessage> {
    all.iter()
        .filter(|m| m.transport == transport)
        .cloned()
        .collect()
}

fn check_all(daemon: Daemon, got: &[ReceivedMessage], transport: Transport, sent: &[Msg]) {
    let got = of(got, transport);
    assert_eq!(
        got.len(),
        sent.len(),
        "{daemon} {transport:?}: {} messages, sent {}",
        got.len(),
        sent.len()
    );
    for (g, s) in got.iter().zip(sent) {
        s.check(g, transport, daemon);
    }
}

/// Every transport, then a restart on the same ports, then every transport again.
fn transports_and_restart(daemon: Daemon) {
    let ca = TestCa::new().unwrap();
    let mut r = Receiver::start(daemon, &ca, ReceiverOptions::default()).unwrap();
    let ports = (r.tcp_port(), r.tls_port(), r.udp_port());

    let tcp = messages("tcp-1", 200 * 1024);
    let tls = messages("tls-1", 200 * 1024);
    // A UDP datagram holds at most 65507 bytes.
    let udp = messages("udp-1", 60 * 1024);
    send_tcp(r.tcp_port(), &tcp);
    send_tls(r.tls_port(), &ca, false, &tls);
    send_udp(r.udp_port(), &udp);
    let got = r.wait_for(9, WAIT).unwrap();
    assert_eq!(got.len(), 9);
    check_all(daemon, &got, Transport::Tcp, &tcp);
    check_all(daemon, &got, Transport::Tls, &tls);
    check_all(daemon, &got, Transport::Udp, &udp);

    // Mid-stream: a connection is open, the daemon restarts, the sender reconnects.
    let mut open = TcpStream::connect(("127.0.0.1", r.tcp_port())).unwrap();
    let before = messages("tcp-2", 1000);
    open.write_all(&frame(&before[0].rfc5424())).unwrap();
    r.wait_for(10, WAIT).unwrap();
    let started = Instant::now();
    r.restart().unwrap();
    eprintln!("{daemon}: restart took {:?}", started.elapsed());
    assert_eq!((r.tcp_port(), r.tls_port(), r.udp_port()), ports);
    // The old connection is gone: writes fail sooner or later.
    let dead = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        open.write_all(b"5 <14>1").is_err()
    });
    assert!(
        dead,
        "{daemon}: the pre-restart connection still accepts data"
    );
    drop(open);

    let tcp2 = messages("tcp-3", 200 * 1024);
    let tls2 = messages("tls-3", 200 * 1024);
    let udp2 = messages("udp-3", 60 * 1024);
    send_tcp(r.tcp_port(), &tcp2);
    send_tls(r.tls_port(), &ca, false, &tls2);
    send_udp(r.udp_port(), &udp2);
    let got = r.wait_for(19, WAIT).unwrap();
    let after = &got[10..];
    assert_eq!(after.len(), 9, "{daemon}: extra messages after the restart");
    check_all(daemon, after, Transport::Tcp, &tcp2);
    check_all(daemon, after, Transport::Tls, &tls2);
    check_all(daemon, after, Transport::Udp, &udp2);
    before[0].check(&got[9], Transport::Tcp, daemon);

    // kill + start_again: also on the same ports.
    r.kill().unwrap();
    assert!(!r.is_running());
    r.start_again().unwrap();
    let tcp4 = messages("tcp-4", 10);
    send_tcp(r.tcp_port(), &tcp4[..1]);
    let got = r.wait_for(20, WAIT).unwrap();
    tcp4[0].check(&got[19], Transport::Tcp, daemon);
    r.stop().unwrap();
    assert!(!r.is_running());
}

#[test]
fn rsyslog_transports_and_restart() {
    transports_and_restart(Daemon::Rsyslog);
}

#[test]
fn syslog_ng_transports_and_restart() {
    transports_and_restart(Daemon::SyslogNg);
}

fn mutual_tls(daemon: Daemon) {
    let ca = TestCa::new().unwrap();
    let opts = ReceiverOptions {
        require_client_cert: true,
        ..ReceiverOptions::default()
    };
    let r = Receiver::start(daemon, &ca, opts).unwrap();
    let refused = messages("no-client-cert", 10);
    assert!(
        tls_refused(r.tls_port(), &ca, false, &refused[..1]),
        "{daemon}: a client without a certificate was not refused"
    );
    let accepted = messages("client-cert", 10);
    send_tls(r.tls_port(), &ca, true, &accepted[..1]);
    let got = r.wait_for(1, WAIT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let got_later = r.messages().unwrap();
    assert_eq!(got.len(), 1, "{daemon}");
    assert_eq!(got_later.len(), 1, "{daemon}: {got_later:?}");
    accepted[0].check(&got[0], Transport::Tls, daemon);
}

#[test]
fn rsyslog_mutual_tls_refuses_a_client_without_certificate() {
    mutual_tls(Daemon::Rsyslog);
}

#[test]
fn syslog_ng_mutual_tls_refuses_a_client_without_certificate() {
    mutual_tls(Daemon::SyslogNg);
}

fn script(dir: &Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&path, perm).unwrap();
    path.to_string_lossy().into_owned()
}

/// Lines of a program, a 200 KiB one among them; stop ends the program; a program that exits
/// is started again.
fn program(daemon: Daemon) {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let long = large_body(200 * 1024);
    std::fs::write(dir.path().join("long"), &long).unwrap();
    let lines = script(
        dir.path(),
        "lines.sh",
        &format!(
            "echo $$ > '{pid}'\n\
             printf 'first\\ttab ünïcödé 😀 {{\"a\":\"x\\\\r\\\\ny\"}}\\n'\n\
             cat '{long}'; printf '\\n'\n\
             printf 'last\\n'\n\
             exec sleep 60\n",
            pid = pid_file.display(),
            long = dir.path().join("long").display(),
        ),
    );
    // An argument with a space and a quote, to exercise the command line quoting.
    let command = vec![lines, "an arg with 'quotes'".to_string()];
    let started = Receiver::start_program(daemon, &command, ReceiverOptions::default());
    let mut r = match (daemon, started) {
        (Daemon::Rsyslog, Err(ReceiverError::Unsupported(why))) => {
            eprintln!("rsyslog program input: {why}");
            return;
        }
        (_, r) => r.unwrap(),
    };
    let got = r.wait_for(3, WAIT).unwrap();
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|m| m.transport == Transport::Program));
    assert_eq!(got[0].msg, "first\ttab ünïcödé 😀 {\"a\":\"x\\r\\ny\"}");
    assert!(
        got[1].msg == long,
        "{daemon}: the long line differs ({} bytes)",
        got[1].msg.len()
    );
    assert_eq!(got[2].msg, "last");
    assert_eq!(got[0].severity(), 5);

    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    r.stop().unwrap();
    let gone = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(10));
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    assert!(gone, "{daemon}: the program outlived the daemon's stop");

    // A program that exits is run again (syslog-ng: after time-reopen(), 1 s here).
    let runs = dir.path().join("runs");
    let once = script(
        dir.path(),
        "once.sh",
        &format!(
            "echo x >> '{runs}'\nprintf 'run %s\\n' \"$(wc -l < '{runs}')\"\n",
            runs = runs.display()
        ),
    );
    let r = Receiver::start_program(daemon, &[once], ReceiverOptions::default()).unwrap();
    let got = r.wait_for(2, WAIT).unwrap();
    assert_eq!(got[0].msg, "run 1");
    assert_eq!(got[1].msg, "run 2");
}

#[test]
fn rsyslog_program_input() {
    program(Daemon::Rsyslog);
}

#[test]
fn syslog_ng_program_input() {
    program(Daemon::SyslogNg);
}

#[test]
fn test_ca_files_exist() {
    let ca = TestCa::new().unwrap();
    for p in [
        ca.ca_pem(),
        ca.server_cert(),
        ca.server_key(),
        ca.client_cert(),
        ca.client_key(),
    ] {
        assert!(std::fs::read_to_string(p)
            .unwrap()
            .starts_with("-----BEGIN"));
    }
    let (cert, key) = ca.issue_client_cert("another", "another").unwrap();
    assert!(cert.is_file() && key.is_file());
}
