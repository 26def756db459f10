//! Real rsyslog and syslog-ng daemons as throwaway syslog receivers on loopback, for
//! mimecast-source's end-to-end tests; and a real PostgreSQL server the same way
//! ([`PgServer`], module [`postgres`]: initdb'd in a temporary directory, run as an
//! unprivileged user, on 127.0.0.1 on a free port).
//!
//! A [`Receiver`] runs one daemon in the foreground as a child process, with a configuration,
//! pid file and state files of its own in a temporary directory (nothing system-wide: no
//! `/var/run`, no system service), listening on 127.0.0.1 on free ports for
//!
//! * **TCP**: RFC 6587 octet counting (`<len> <RFC 5424 message>`),
//! * **TLS**: RFC 5425, server certificate from a [`TestCa`]; optionally requiring a client
//!   certificate signed by that CA ([`ReceiverOptions::require_client_cert`]),
//! * **UDP**: RFC 5426, one message per datagram (so at most 65507 bytes),
//!
//! or, with [`Receiver::start_program`], running a program and taking each line it prints as
//! one message. Every message is written to [`Receiver::output_path`] as one JSON object per
//! line, written by the daemon's own JSON template and read back by [`Receiver::messages`] /
//! [`Receiver::wait_for`] into [`ReceivedMessage`]s:
//!
//! ```text
//! {"transport":"tcp","pri":"165","hostname":"h","app_name":"mcsource","msgid":"TTP_URL","structured_data":"[x@1 a=\"b\"]","msg":"..."}
//! ```
//!
//! ```no_run
//! use std::time::Duration;
//! use mimecast_receivers::{Daemon, Receiver, ReceiverOptions, TestCa};
//!
//! # fn main() -> Result<(), mimecast_receivers::ReceiverError> {
//! let ca = TestCa::new()?;
//! let mut rx = Receiver::start(Daemon::SyslogNg, &ca, ReceiverOptions::default())?;
//! // ... point the sender at 127.0.0.1:{rx.tcp_port()} / {rx.tls_port()} / {rx.udp_port()},
//! //     trusting ca.ca_pem() ...
//! let got = rx.wait_for(3, Duration::from_secs(20))?;
//! rx.restart()?; // same ports, same output file
//! # Ok(()) }
//! ```
//!
//! # Installing the daemons
//!
//! `bash .ci/install-receivers.sh` (from the repository root) installs rsyslog and
//! rsyslog-gnutls with apt-get, and unpacks Debian's syslog-ng-core (which conflicts with
//! rsyslog as a package) into `target/receivers/syslog-ng`, installing its libraries. Without
//! them, starting a receiver fails with [`ReceiverError::NotInstalled`] naming that command.
//! rsyslogd is `/usr/sbin/rsyslogd` (override: `MCSOURCE_RSYSLOGD`); syslog-ng is
//! `<repo>/target/receivers/syslog-ng` (override: `MCSOURCE_SYSLOG_NG_DIR`), started with
//! `LD_LIBRARY_PATH=<dir>/usr/lib/syslog-ng` and `--module-path=<dir>/usr/lib/syslog-ng/3.38`.
//! Verified with rsyslog 8.2302.0 and syslog-ng 3.38.1 (Debian 12).
//!
//! # What comes through exactly
//!
//! MSG keeps any Unicode, tabs and other control characters, and messages of 200 KiB and more
//! come through whole on TCP and TLS (the tests send 200 KiB; the default limit is
//! [`ReceiverOptions::max_message_size`] = 16 MiB). What the settings below are for:
//!
//! * rsyslog replaces control characters with `#011`-style escapes on receipt unless
//!   `parser.escapeControlCharactersOnReceive="off"`; its `maxMessageSize` (default 8 KiB) must
//!   be set in `global()` *before* the input modules are loaded; and imtcp/imptcp have a frame
//!   size limit of their own, `maxFrameSize` (default 200000 bytes: a larger octet-counted frame
//!   is taken for a framing error, "frame too large … change to octet stuffing", and the
//!   message is mangled).
//! * syslog-ng needs `log-msg-size()` (default 64 KiB) on the source (or in `options`); a
//!   larger octet-counted frame makes it close the connection ("Incoming frame larger than
//!   log_msg_size()").
//! * rsyslog drops one trailing LF of a message (`parser.dropTrailingLFOnReception`, on by
//!   default). Raw CR/LF inside MSG are not tested: mimecast-source's MSG is one line of JSON.
//! * NILVALUEs: rsyslog writes `-`, syslog-ng an empty string; [`ReceivedMessage`] reads both
//!   as `None`. STRUCTURED-DATA is the received text with rsyslog and syslog-ng's re-rendering
//!   of the parsed parameters (the same text for well-formed input).
//!
//! # rsyslog configuration (network)
//!
//! imptcp for plain TCP, imtcp with the GnuTLS netstream driver (package rsyslog-gnutls) for
//! TLS, imudp for UDP. `authMode` is `"anon"` (no client certificate asked for) or, with
//! `require_client_cert`, `"x509/certvalid"` (a client certificate signed by the CA is
//! required; names are not checked).
//!
//! ```text
//! global(
//!   workDirectory="/tmp/mcsource-rsyslog-XXXX"
//!   maxMessageSize="16777216"
//!   parser.escapeControlCharactersOnReceive="off"
//!   defaultNetstreamDriver="gtls"
//!   defaultNetstreamDriverCAFile="/tmp/mcsource-test-ca-XXXX/ca.pem"
//!   defaultNetstreamDriverCertFile="/tmp/mcsource-test-ca-XXXX/server.pem"
//!   defaultNetstreamDriverKeyFile="/tmp/mcsource-test-ca-XXXX/server.key"
//! )
//!
//! template(name="mcsource_json" type="list" option.jsonf="on") {
//!   property(outname="transport" name="$.transport" format="jsonf")
//!   property(outname="pri" name="pri" format="jsonf")
//!   property(outname="hostname" name="hostname" format="jsonf")
//!   property(outname="app_name" name="app-name" format="jsonf")
//!   property(outname="msgid" name="msgid" format="jsonf")
//!   property(outname="structured_data" name="structured-data" format="jsonf")
//!   property(outname="msg" name="msg" format="jsonf")
//! }
//!
//! ruleset(name="write") {
//!   action(type="omfile" file="/tmp/mcsource-rsyslog-XXXX/received.jsonl" template="mcsource_json")
//! }
//! ruleset(name="in_tcp") { set $.transport = "tcp"; call write }
//! ruleset(name="in_tls") { set $.transport = "tls"; call write }
//! ruleset(name="in_udp") { set $.transport = "udp"; call write }
//! ruleset(name="in_program") { set $.transport = "program"; call write }
//!
//! module(load="imptcp")
//! module(load="imudp")
//! module(load="imtcp" maxFrameSize="16777216"
//!   streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
//!
//! input(type="imptcp" address="127.0.0.1" port="38719" maxFrameSize="16777216" ruleset="in_tcp")
//! input(type="imtcp" address="127.0.0.1" port="37665" ruleset="in_tls")
//! input(type="imudp" address="127.0.0.1" port="46364" ruleset="in_udp")
//! ```
//!
//! Run as `rsyslogd -n -f <config> -i <work dir>/daemon.pid`.
//!
//! # syslog-ng configuration (network)
//!
//! `syslog()` sources (RFC 5424 parsing, RFC 6587 octet counting on TCP/TLS). `peer-verify` is
//! `optional-untrusted`, or `required-trusted` with `require_client_cert`.
//!
//! ```text
//! @version: 3.38
//! options {
//!   log-msg-size(16777216);
//!   keep-hostname(yes);
//!   chain-hostnames(no);
//!   use-dns(no);
//!   use-fqdn(no);
//!   dns-cache(no);
//!   time-reopen(1);
//!   stats-freq(0);
//! };
//!
//! destination d_out {
//!   file("/tmp/mcsource-syslog-ng-XXXX/received.jsonl"
//!     template("$(format-json --scope none transport=${TRANSPORT} pri=${PRI} hostname=${HOST} app_name=${PROGRAM} msgid=${MSGID} structured_data=${SDATA} msg=${MSG})\n"));
//! };
//!
//! source s_tcp { syslog(ip("127.0.0.1") port(40031) transport("tcp") log-msg-size(16777216)); };
//! source s_tls { syslog(ip("127.0.0.1") port(38653) transport("tls") log-msg-size(16777216)
//!   tls(key-file("/tmp/mcsource-test-ca-XXXX/server.key") cert-file("/tmp/mcsource-test-ca-XXXX/server.pem")
//!       ca-file("/tmp/mcsource-test-ca-XXXX/ca.pem") peer-verify(optional-untrusted))); };
//! source s_udp { syslog(ip("127.0.0.1") port(42333) transport("udp") log-msg-size(16777216)); };
//!
//! log { source(s_tcp); rewrite { set("tcp" value("TRANSPORT")); }; destination(d_out); };
//! log { source(s_tls); rewrite { set("tls" value("TRANSPORT")); }; destination(d_out); };
//! log { source(s_udp); rewrite { set("udp" value("TRANSPORT")); }; destination(d_out); };
//! ```
//!
//! `format-json` (module json-plugin) is part of syslog-ng-core. Run as
//! `syslog-ng -F -e --no-caps -f <config> --module-path=… --persist-file=<work>/syslog-ng.persist
//! --pidfile=<work>/daemon.pid --control=<work>/syslog-ng.ctl`.
//!
//! # Program input (`mcsource run --config X` as the daemon's child)
//!
//! ## syslog-ng `program()` — works, tested
//!
//! ```text
//! source s_program { program("/usr/local/bin/mcsource run --config /etc/mcsource/config.toml"
//!   flags(no-parse) log-msg-size(16777216)); };
//! log { source(s_program); rewrite { set("program" value("TRANSPORT")); }; destination(d_out); };
//! ```
//!
//! * The command line is run with `/bin/sh -c` ([`Receiver::start_program`] single-quotes the
//!   words that need it), in a process group of its own.
//! * `flags(no-parse)`: the whole line is MSG, unparsed (PRI 13 = user.notice, HOSTNAME the
//!   local host, no APP-NAME; SDATA gets `[meta sequenceId="n"]`).
//! * **Line length**: a line up to `log-msg-size()` is one message (200 KiB tested with the
//!   16 MiB setting); a longer line is split into `log-msg-size()`-sized messages.
//! * **Program exit**: syslog-ng starts the program again after `time-reopen()` seconds
//!   (default 60; 1 here — tested: a program that prints one line and exits is run again).
//! * **Stop**: on shutdown syslog-ng sends SIGTERM to the program's process group (`killpg` in
//!   its afprogram.c; tested: the program is gone after [`Receiver::stop`]). After
//!   a SIGKILL of syslog-ng ([`Receiver::kill`]) the program is not signalled; it gets SIGPIPE
//!   (EPIPE) on its next write.
//!
//! ## rsyslog `improg` — not available in Debian
//!
//! Debian's rsyslog (8.2302) is built without `improg` (a contrib module, `--enable-improg`):
//! there is no `improg.so` in `/usr/lib/x86_64-linux-gnu/rsyslog/`, so
//! [`Receiver::start_program`] returns [`ReceiverError::Unsupported`] for rsyslog unless
//! `improg.so` is found. The configuration it would write (untested for that reason):
//!
//! ```text
//! module(load="improg")
//! input(type="improg" binary="/usr/local/bin/mcsource run --config /etc/mcsource/config.toml"
//!   tag="mcsource" facility="user" severity="notice"
//!   confirmMessages="off" signalOnClose="on" closeTimeout="5000" killUnresponsive="on"
//!   ruleset="in_program")
//! ```
//!
//! From improg's source (upstream `contrib/improg/improg.c`): `binary` is split on spaces and
//! executed directly (no shell); the program is started once when the input starts and is **not
//! restarted** if it exits; a line is read byte by byte into a growing buffer (no line limit of
//! its own; the message is then subject to `maxMessageSize`); empty lines are dropped;
//! `confirmMessages` (default **on**) writes `START`/`ACK`/`STOP` lines to the program's stdin,
//! so it is turned off here; on shutdown it sends SIGTERM only with `signalOnClose="on"`
//! (default off), closes the pipes, waits `closeTimeout` ms (default 200) and then sends SIGKILL
//! when `killUnresponsive` (default on).
//!
//! # Process hygiene
//!
//! [`Receiver::stop`] sends SIGTERM and waits (SIGKILL after 10 s); dropping a [`Receiver`]
//! stops it. [`Receiver::start`] waits until the daemon process itself holds the listening
//! sockets (checked in `/proc/<pid>/fd` against `/proc/net/{tcp,udp}`, so a port taken by
//! another process is never mistaken for the daemon's), retrying with other ports if a port was
//! taken meanwhile, and fails after [`ReceiverOptions::startup_timeout`] with the daemon's
//! output. [`Receiver::restart`] and [`Receiver::start_again`] reuse the same ports, output
//! file and state.

mod ca;
mod config;
mod message;
pub mod postgres;
mod receiver;

pub use ca::TestCa;
pub use message::{ReceivedMessage, Transport};
pub use postgres::PgServer;
pub use receiver::{rsyslog_module, syslog_ng_dir, Daemon, Receiver, ReceiverOptions};

use std::path::PathBuf;

/// Everything that can go wrong starting, running or reading a [`Receiver`] or a [`PgServer`].
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The daemon's files are missing.
    #[error("{daemon} is not installed ({} is missing): {hint}", missing.display())]
    NotInstalled {
        /// Which daemon.
        daemon: Daemon,
        /// The file looked for.
        missing: PathBuf,
        /// What to do about it.
        hint: &'static str,
    },
    /// The daemon exited, or did not listen on its ports, in time.
    #[error("{daemon} did not start: {why} (configuration {}); its output:\n{log}", config.display())]
    StartFailed {
        /// Which daemon.
        daemon: Daemon,
        /// What was seen.
        why: String,
        /// Its configuration file (kept until the [`Receiver`] is dropped).
        config: PathBuf,
        /// Its stdout and stderr.
        log: String,
    },
    /// A port the daemon was to listen on was taken by another process.
    #[error("{daemon} could not bind a port (address already in use); its output:\n{log}")]
    PortTaken {
        /// Which daemon.
        daemon: Daemon,
        /// Its stdout and stderr.
        log: String,
    },
    /// [`Receiver::wait_for`] saw fewer messages than wanted.
    #[error("{daemon}: waited for {wanted} messages, got {}; daemon output:\n{log}", got.len())]
    Timeout {
        /// Which daemon.
        daemon: Daemon,
        /// How many messages were waited for.
        wanted: usize,
        /// The messages that did arrive.
        got: Vec<ReceivedMessage>,
        /// The daemon's stdout and stderr since its latest start.
        log: String,
    },
    /// A line of the output file is not what the daemon's template writes.
    #[error("unexpected output line ({why}): {line}")]
    BadOutputLine {
        /// What is wrong with it.
        why: String,
        /// The line (abbreviated).
        line: String,
    },
    /// Something this daemon build cannot do.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// PostgreSQL's programs are missing.
    #[error("PostgreSQL is not installed ({} is missing): {hint}", missing.display())]
    PostgresNotInstalled {
        /// The file looked for.
        missing: PathBuf,
        /// What to do about it.
        hint: &'static str,
    },
    /// A PostgreSQL server did not start in time, or initdb or psql failed.
    #[error("PostgreSQL: {what}; output:\n{log}")]
    Postgres {
        /// What was being done and what was seen.
        what: String,
        /// The server's log since its latest start, or the program's output.
        log: String,
    },
    /// Making a certificate failed.
    #[error("making a test certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

impl ReceiverError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        ReceiverError::Io {
            what: what.into(),
            source,
        }
    }
}
