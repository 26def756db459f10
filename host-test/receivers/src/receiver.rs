//! [`Receiver`]: one real daemon as a child process.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::config::{self, Common, NetworkSetup};
use crate::{ReceivedMessage, ReceiverError, TestCa};

/// Which syslog daemon a [`Receiver`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Daemon {
    /// rsyslogd, from the Debian package (`/usr/sbin/rsyslogd`).
    Rsyslog,
    /// syslog-ng, unpacked from Debian's syslog-ng-core into `target/receivers/syslog-ng`.
    SyslogNg,
}

impl Daemon {
    /// Both daemons, for tests that run against each.
    pub const ALL: [Daemon; 2] = [Daemon::Rsyslog, Daemon::SyslogNg];

    /// `rsyslog` or `syslog-ng`.
    pub fn name(self) -> &'static str {
        match self {
            Daemon::Rsyslog => "rsyslog",
            Daemon::SyslogNg => "syslog-ng",
        }
    }
}

impl std::fmt::Display for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a [`Receiver`] is set up.
#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    /// TLS input only: refuse clients without a certificate signed by the [`TestCa`] (rsyslog
    /// `streamDriver.authMode="x509/certvalid"`, syslog-ng `peer-verify(required-trusted)`).
    /// Default `false`: any client, no client certificate asked for.
    pub require_client_cert: bool,
    /// How long [`Receiver::start`] waits for the daemon to listen on all ports. Default 20 s.
    pub startup_timeout: Duration,
    /// The largest message (and octet-counted frame, and program output line) the daemon
    /// accepts whole, in bytes. Default 16 MiB.
    pub max_message_size: usize,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self {
            require_client_cert: false,
            startup_timeout: Duration::from_secs(20),
            max_message_size: 16 * 1024 * 1024,
        }
    }
}

enum Mode {
    Network {
        tcp_port: u16,
        tls_port: u16,
        udp_port: u16,
        ca_pem: PathBuf,
        server_cert: PathBuf,
        server_key: PathBuf,
    },
    Program {
        command: Vec<String>,
    },
}

/// A real rsyslogd or syslog-ng running in the foreground as a child process, with a
/// configuration, pid file and state files of its own in a temporary directory, writing every
/// message it receives as one JSON object per line to [`Receiver::output_path`].
///
/// Dropping it stops the daemon (SIGTERM, then SIGKILL after 10 s). Do not keep one in a
/// `static`: statics are never dropped, so the daemon would outlive the test process.
pub struct Receiver {
    daemon: Daemon,
    opts: ReceiverOptions,
    mode: Mode,
    work: tempfile::TempDir,
    config_path: PathBuf,
    output: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
    /// Where the current run's part of the log starts.
    log_offset: u64,
    child: Option<Child>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("daemon", &self.daemon)
            .field("work_dir", &self.work.path())
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

const SIGTERM_GRACE: Duration = Duration::from_secs(10);

impl Receiver {
    /// Starts `daemon` listening on 127.0.0.1 on three free ports: TCP (RFC 6587 octet
    /// counting, RFC 5424 messages), TLS (RFC 5425, with `tls`'s server certificate) and UDP
    /// (RFC 5426). Returns once the daemon listens on all three.
    pub fn start(
        daemon: Daemon,
        tls: &TestCa,
        opts: ReceiverOptions,
    ) -> Result<Self, ReceiverError> {
        let mut last_error = None;
        for _attempt in 0..5 {
            let (tcp_port, tls_port, udp_port) = free_ports()?;
            let mode = Mode::Network {
                tcp_port,
                tls_port,
                udp_port,
                ca_pem: tls.ca_pem().to_path_buf(),
                server_cert: tls.server_cert().to_path_buf(),
                server_key: tls.server_key().to_path_buf(),
            };
            let mut receiver = Self::prepare(daemon, mode, opts.clone())?;
            match receiver.launch() {
                Ok(()) => return Ok(receiver),
                // Another process took a port between our probe and the daemon's bind.
                Err(e @ ReceiverError::PortTaken { .. }) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(ReceiverError::Io {
            what: "finding free ports".into(),
            source: std::io::Error::other("no attempt made"),
        }))
    }

    /// Starts `daemon` with a program input running `command` (`command[0]` is the program,
    /// the rest its arguments): every line the program prints on stdout becomes one message
    /// (transport [`crate::Transport::Program`], the line as `msg`). See the crate docs for how
    /// each daemon restarts and stops the program.
    ///
    /// rsyslog needs its `improg` module, which Debian's rsyslog does not build: then this
    /// returns [`ReceiverError::Unsupported`].
    pub fn start_program(
        daemon: Daemon,
        command: &[String],
        opts: ReceiverOptions,
    ) -> Result<Self, ReceiverError> {
        if command.is_empty() {
            return Err(ReceiverError::Unsupported(
                "an empty program command line".into(),
            ));
        }
        if daemon == Daemon::Rsyslog && rsyslog_module("improg.so").is_none() {
            return Err(ReceiverError::Unsupported(
                "rsyslog's improg input module (improg.so) is not installed: Debian's rsyslog \
                 package is built without it (upstream builds it with --enable-improg)"
                    .into(),
            ));
        }
        let mode = Mode::Program {
            command: command.to_vec(),
        };
        let mut receiver = Self::prepare(daemon, mode, opts)?;
        receiver.launch()?;
        Ok(receiver)
    }

    fn prepare(daemon: Daemon, mode: Mode, opts: ReceiverOptions) -> Result<Self, ReceiverError> {
        // Fail early, with the install hint, if the daemon is missing.
        Binary::locate(daemon)?;
        let work = tempfile::Builder::new()
            .prefix(&format!("mcsource-{}-", daemon.name()))
            .tempdir()
            .map_err(|e| ReceiverError::io("creating the receiver's temporary directory", e))?;
        let dir = work.path().to_path_buf();
        let receiver = Self {
            daemon,
            opts,
            mode,
            config_path: dir.join(match daemon {
                Daemon::Rsyslog => "rsyslog.conf",
                Daemon::SyslogNg => "syslog-ng.conf",
            }),
            output: dir.join("received.jsonl"),
            log: dir.join("daemon.log"),
            pid_file: dir.join("daemon.pid"),
            work,
            log_offset: 0,
            child: None,
        };
        let config = receiver.config_text();
        fs::write(&receiver.config_path, config).map_err(|e| {
            ReceiverError::io(format!("writing {}", receiver.config_path.display()), e)
        })?;
        // Both daemons create the output file on the first message; create it now so that
        // `messages()` reads an empty file rather than failing before.
        File::create(&receiver.output)
            .map_err(|e| ReceiverError::io(format!("creating {}", receiver.output.display()), e))?;
        Ok(receiver)
    }

    fn config_text(&self) -> String {
        let common = Common {
            output: &self.output,
            work_dir: self.work.path(),
            max_message_size: self.opts.max_message_size,
        };
        match &self.mode {
            Mode::Network {
                tcp_port,
                tls_port,
                udp_port,
                ca_pem,
                server_cert,
                server_key,
            } => {
                let net = NetworkSetup {
                    tcp_port: *tcp_port,
                    tls_port: *tls_port,
                    udp_port: *udp_port,
                    ca_pem,
                    server_cert,
                    server_key,
                    require_client_cert: self.opts.require_client_cert,
                };
                match self.daemon {
                    Daemon::Rsyslog => config::rsyslog_network(&common, &net),
                    Daemon::SyslogNg => config::syslog_ng_network(&common, &net),
                }
            }
            Mode::Program { command } => match self.daemon {
                Daemon::Rsyslog => config::rsyslog_program(&common, command),
                Daemon::SyslogNg => config::syslog_ng_program(&common, command),
            },
        }
    }

    /// Spawns the daemon and waits until it is ready.
    fn launch(&mut self) -> Result<(), ReceiverError> {
        let binary = Binary::locate(self.daemon)?;
        let _ = fs::remove_file(&self.pid_file);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| ReceiverError::io(format!("opening {}", self.log.display()), e))?;
        self.log_offset = log.metadata().map(|m| m.len()).unwrap_or(0);
        let log_err = log
            .try_clone()
            .map_err(|e| ReceiverError::io("duplicating the log file handle", e))?;
        let mut cmd = Command::new(&binary.program);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .current_dir(self.work.path());
        match self.daemon {
            Daemon::Rsyslog => {
                cmd.arg("-n")
                    .arg("-f")
                    .arg(&self.config_path)
                    .arg("-i")
                    .arg(&self.pid_file);
            }
            Daemon::SyslogNg => {
                let mut ld = OsString::from(binary.lib_dir.as_os_str());
                if let Some(old) = std::env::var_os("LD_LIBRARY_PATH") {
                    if !old.is_empty() {
                        ld.push(":");
                        ld.push(old);
                    }
                }
                let dir = self.work.path();
                cmd.env("LD_LIBRARY_PATH", ld)
                    .arg("-F")
                    .arg("-e")
                    .arg("--no-caps")
                    .arg("-f")
                    .arg(&self.config_path)
                    .arg(flag("--module-path=", &binary.module_dir))
                    .arg(flag("--persist-file=", &dir.join("syslog-ng.persist")))
                    .arg(flag("--pidfile=", &self.pid_file))
                    .arg(flag("--control=", &dir.join("syslog-ng.ctl")));
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| ReceiverError::io(format!("starting {}", binary.program.display()), e))?;
        self.child = Some(child);
        match self.wait_ready() {
            Ok(()) => Ok(()),
            Err(e) => {
                self.kill_quietly();
                Err(e)
            }
        }
    }

    fn wait_ready(&mut self) -> Result<(), ReceiverError> {
        let deadline = Instant::now() + self.opts.startup_timeout;
        loop {
            let pid = match self.child.as_mut() {
                None => return Err(self.start_failed("the daemon was not started")),
                Some(child) => match child.try_wait() {
                    Ok(Some(status)) => {
                        return Err(self.start_failed(&format!("the daemon exited ({status})")))
                    }
                    Ok(None) => child.id(),
                    Err(e) => return Err(ReceiverError::io("waiting for the daemon", e)),
                },
            };
            let log = self.current_log();
            // rsyslog: "Error while binding tcp socket: Address already in use", "imudp: Could
            // not create udp listener"; syslog-ng: "Error binding socket; … Address already in
            // use".
            if log.contains("Address already in use")
                || log.contains("Could not create udp listener")
            {
                return Err(ReceiverError::PortTaken {
                    daemon: self.daemon,
                    log,
                });
            }
            let ready = match &self.mode {
                Mode::Network {
                    tcp_port,
                    tls_port,
                    udp_port,
                    ..
                } => listens(pid, &[*tcp_port, *tls_port], &[*udp_port]),
                Mode::Program { .. } => self.pid_file.exists(),
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(
                    self.start_failed(&format!("not ready within {:?}", self.opts.startup_timeout))
                );
            }
            sleep(Duration::from_millis(20));
        }
    }

    fn start_failed(&self, why: &str) -> ReceiverError {
        ReceiverError::StartFailed {
            daemon: self.daemon,
            why: why.to_string(),
            config: self.config_path.clone(),
            log: self.current_log(),
        }
    }

    /// The daemon's stdout/stderr since its latest start.
    pub fn current_log(&self) -> String {
        log_since(&self.log, self.log_offset)
    }

    /// Which daemon this is.
    pub fn daemon(&self) -> Daemon {
        self.daemon
    }

    /// The plain TCP port (RFC 6587 octet counting); 0 for a program receiver.
    pub fn tcp_port(&self) -> u16 {
        match self.mode {
            Mode::Network { tcp_port, .. } => tcp_port,
            Mode::Program { .. } => 0,
        }
    }

    /// The TLS port (RFC 5425); 0 for a program receiver.
    pub fn tls_port(&self) -> u16 {
        match self.mode {
            Mode::Network { tls_port, .. } => tls_port,
            Mode::Program { .. } => 0,
        }
    }

    /// The UDP port (RFC 5426); 0 for a program receiver.
    pub fn udp_port(&self) -> u16 {
        match self.mode {
            Mode::Network { udp_port, .. } => udp_port,
            Mode::Program { .. } => 0,
        }
    }

    /// The daemon's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the daemon process is still running (`false` after it died, was stopped or
    /// killed).
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(child) => matches!(child.try_wait(), Ok(None)),
        }
    }

    /// The output file: one JSON object per received message.
    pub fn output_path(&self) -> &Path {
        &self.output
    }

    /// The configuration file given to the daemon.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The temporary directory holding configuration, output, log, pid and state files.
    pub fn work_dir(&self) -> &Path {
        self.work.path()
    }

    /// The file collecting the daemon's stdout and stderr over all its runs.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Every message written so far, in output order. A last line still being written (no
    /// newline yet) is left out.
    pub fn messages(&self) -> Result<Vec<ReceivedMessage>, ReceiverError> {
        let bytes = fs::read(&self.output)
            .map_err(|e| ReceiverError::io(format!("reading {}", self.output.display()), e))?;
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&rest[..end]);
            rest = &rest[end + 1..];
            if line.trim().is_empty() {
                continue;
            }
            out.push(ReceivedMessage::parse_line(&line)?);
        }
        Ok(out)
    }

    /// Polls the output until it holds at least `n` messages, and returns them all; fails with
    /// [`ReceiverError::Timeout`] (carrying what did arrive) after `timeout`.
    pub fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMessage>, ReceiverError> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages()?;
            if messages.len() >= n {
                return Ok(messages);
            }
            if Instant::now() >= deadline {
                return Err(ReceiverError::Timeout {
                    daemon: self.daemon,
                    wanted: n,
                    got: messages,
                    log: self.current_log(),
                });
            }
            sleep(Duration::from_millis(25));
        }
    }

    /// Stops the daemon: SIGTERM, then SIGKILL if it has not exited within 10 s. Both daemons
    /// write out what they have queued on SIGTERM. Does nothing if it is not running.
    pub fn stop(&mut self) -> Result<(), ReceiverError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Ok(());
        }
        signal(&child, libc::SIGTERM);
        let deadline = Instant::now() + SIGTERM_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                _ => break,
            }
        }
        let _ = child.kill();
        child
            .wait()
            .map(|_| ())
            .map_err(|e| ReceiverError::io("waiting for the killed daemon", e))
    }

    /// Kills the daemon with SIGKILL (no chance to flush anything) and reaps it.
    ///
    /// A program receiver's program is not killed with it (syslog-ng runs it in a process
    /// group of its own); it dies of SIGPIPE on its next write.
    pub fn kill(&mut self) -> Result<(), ReceiverError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = child.kill();
        child
            .wait()
            .map(|_| ())
            .map_err(|e| ReceiverError::io("waiting for the killed daemon", e))
    }

    fn kill_quietly(&mut self) {
        let _ = self.kill();
    }

    /// Stops the daemon (as [`Receiver::stop`]) and starts it again with the same
    /// configuration: the same ports, the same output file (appended to) and state files.
    pub fn restart(&mut self) -> Result<(), ReceiverError> {
        self.stop()?;
        self.start_again()
    }

    /// Starts the daemon again after [`Receiver::stop`] or [`Receiver::kill`] (or after it
    /// died), on the same ports and output file. Stops it first if it still runs.
    pub fn start_again(&mut self) -> Result<(), ReceiverError> {
        self.stop()?;
        // A port may still be held for a moment (the old daemon's sockets, or a client's
        // connection in TIME_WAIT with a listener that does not set SO_REUSEADDR): retry.
        let deadline = Instant::now() + self.opts.startup_timeout;
        loop {
            match self.launch() {
                Err(ReceiverError::PortTaken { .. }) if Instant::now() < deadline => {
                    sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn flag(name: &str, value: &Path) -> OsString {
    let mut s = OsString::from(name);
    s.push(value.as_os_str());
    s
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) with the pid of our own child, which has not been reaped yet (we
        // hold its `Child` and only `wait` through it), so the pid cannot have been reused.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Three ports free on 127.0.0.1 at the moment: (TCP, TLS, UDP).
fn free_ports() -> Result<(u16, u16, u16), ReceiverError> {
    let io = |e| ReceiverError::io("binding 127.0.0.1:0 to find a free port", e);
    let a = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    let b = TcpListener::bind("127.0.0.1:0").map_err(io)?;
    // The UDP port is also kept free for TCP, so nothing is confused by a shared number.
    let c = UdpSocket::bind("127.0.0.1:0").map_err(io)?;
    let ports = (
        a.local_addr().map_err(io)?.port(),
        b.local_addr().map_err(io)?.port(),
        c.local_addr().map_err(io)?.port(),
    );
    Ok(ports)
}

/// Whether process `pid` holds a listening TCP socket on each of `tcp` and a bound UDP socket
/// on each of `udp` (127.0.0.1), per /proc: so a port taken by another process is not
/// mistaken for the daemon's.
pub(crate) fn listens(pid: u32, tcp: &[u16], udp: &[u16]) -> bool {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let mut inodes = HashSet::new();
    for entry in entries.flatten() {
        if let Ok(target) = fs::read_link(entry.path()) {
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            {
                inodes.insert(inode);
            }
        }
    }
    let has = |table: &str, port: u16, state: &str| -> bool {
        let Ok(text) = fs::read_to_string(table) else {
            return false;
        };
        let local = format!("0100007F:{port:04X}");
        text.lines().skip(1).any(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() > 9
                && cols[1] == local
                && cols[3] == state
                && cols[9].parse::<u64>().is_ok_and(|i| inodes.contains(&i))
        })
    };
    tcp.iter().all(|&p| has("/proc/net/tcp", p, "0A"))
        && udp.iter().all(|&p| has("/proc/net/udp", p, "07"))
}

/// Where a daemon's files are.
struct Binary {
    program: PathBuf,
    /// syslog-ng only: the directory of libsyslog-ng (for LD_LIBRARY_PATH).
    lib_dir: PathBuf,
    /// syslog-ng only: its plugin modules (`--module-path`).
    module_dir: PathBuf,
}

const INSTALL_HINT: &str = "run `bash .ci/install-receivers.sh` from the repository root";

impl Binary {
    fn locate(daemon: Daemon) -> Result<Self, ReceiverError> {
        match daemon {
            Daemon::Rsyslog => {
                let program = std::env::var_os("MCSOURCE_RSYSLOGD")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/usr/sbin/rsyslogd"));
                if !program.is_file() {
                    return Err(ReceiverError::NotInstalled {
                        daemon,
                        missing: program,
                        hint: INSTALL_HINT,
                    });
                }
                Ok(Self {
                    program,
                    lib_dir: PathBuf::new(),
                    module_dir: PathBuf::new(),
                })
            }
            Daemon::SyslogNg => Self::syslog_ng_at(&syslog_ng_dir()),
        }
    }

    /// syslog-ng unpacked (as by `dpkg-deb -x`) under `root`.
    fn syslog_ng_at(root: &Path) -> Result<Self, ReceiverError> {
        let daemon = Daemon::SyslogNg;
        let program = root.join("usr/sbin/syslog-ng");
        if !program.is_file() {
            return Err(ReceiverError::NotInstalled {
                daemon,
                missing: program,
                hint: INSTALL_HINT,
            });
        }
        let lib_dir = root.join("usr/lib/syslog-ng");
        // The versioned module directory, e.g. usr/lib/syslog-ng/3.38.
        let module_dir = fs::read_dir(&lib_dir)
            .ok()
            .and_then(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .find(|p| p.join("libafsocket.so").is_file())
            })
            .ok_or_else(|| ReceiverError::NotInstalled {
                daemon,
                missing: lib_dir.join("<version>/libafsocket.so"),
                hint: INSTALL_HINT,
            })?;
        Ok(Self {
            program,
            lib_dir,
            module_dir,
        })
    }
}

/// The unpacked syslog-ng-core: `$MCSOURCE_SYSLOG_NG_DIR`, else `<repo>/target/receivers/syslog-ng`.
pub fn syslog_ng_dir() -> PathBuf {
    match std::env::var_os("MCSOURCE_SYSLOG_NG_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/receivers/syslog-ng"),
    }
}

/// An rsyslog module file (e.g. `improg.so`) in the first rsyslog module directory holding it.
pub fn rsyslog_module(file: &str) -> Option<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/lib/rsyslog")];
    if let Ok(entries) = fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("rsyslog")));
    }
    dirs.into_iter().map(|d| d.join(file)).find(|p| p.is_file())
}

/// The text of the log file `path` from byte `offset` on (empty if it cannot be read): what a
/// daemon or server wrote since its latest start.
pub(crate) fn log_since(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_syslog_ng_names_the_install_script() {
        let Err(e) = Binary::syslog_ng_at(Path::new("/nonexistent/syslog-ng")) else {
            panic!("found syslog-ng in /nonexistent");
        };
        let text = e.to_string();
        assert!(text.contains("bash .ci/install-receivers.sh"), "{text}");
        assert!(
            text.contains("/nonexistent/syslog-ng/usr/sbin/syslog-ng"),
            "{text}"
        );
    }
}
