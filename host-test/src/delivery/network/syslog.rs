//! `type = "syslog"`: each event as one RFC 5424 message (APP-NAME `mcsource`, MSGID the log
//! type, structured data `[mcsource@32473 tenant="…" event_id="…"]`, MSG the event's JSON)
//! over TCP with octet-counting framing (RFC 6587 §3.4.1), TLS (RFC 5425, same framing) or UDP
//! (RFC 5426, one datagram per message).
//!
//! The message is formatted by the `fasyslog` crate (PRI, header, SD-ID and PARAM-NAME checks,
//! PARAM-VALUE escaping). Its senders are not used: they block, frame TCP with a newline
//! (which a receiver cannot tell from a newline inside a message) and have no timeouts; the
//! transport here is tokio's, with the host's TLS settings (`tokio-rustls`), and the framing is
//! the one line RFC 6587 needs (`MSG-LEN SP SYSLOG-MSG`).
//!
//! What syslog can acknowledge: nothing at the application level. Over TCP and TLS a batch
//! counts as delivered once it is written, flushed, and the connection still stands
//! afterwards (no FIN or RST came back); otherwise the batch is sent again on a new
//! connection, so a receiver that went away mid-batch may see its start twice. Messages the
//! receiver's kernel accepted but the daemon never read (it was killed) are lost; a daemon
//! stopped cleanly reads what it has. UDP is lossy: nothing tells a datagram arrived, and a
//! message larger than a datagram (65,507 bytes) cannot be sent at all (it is logged and
//! skipped). The syslog sink connects directly; HTTP proxies do not apply.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use fasyslog::format::SyslogContext;
use fasyslog::{Facility, SDElement, Severity};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::http::BuildError;
use super::{NetContext, Retrier};
use crate::config::sinks::{SyslogSpec, SyslogTransport};
use crate::delivery::event_meta;
use crate::delivery::sink::{all_events, Batch, Sink, SinkError};
use crate::net::client_config;

/// The SD-ID of mcsource's structured data (32473 is the private enterprise number RFC 5612
/// reserves for documentation and examples).
pub const SD_ID: &str = "mcsource@32473";

/// The largest message a UDP datagram over IPv4 can carry.
pub const MAX_UDP_MESSAGE: usize = 65_507;

/// An open connection.
enum Connection {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Udp(UdpSocket),
}

/// The syslog sink.
pub struct SyslogSink {
    name: String,
    spec: SyslogSpec,
    cx: NetContext,
    context: SyslogContext,
    tls: Option<TlsConnector>,
    connection: Option<Connection>,
}

impl SyslogSink {
    /// A sink named `name` with `spec`; it connects when the first batch comes.
    ///
    /// # Errors
    /// Its TLS settings cannot be used.
    pub fn new(name: &str, spec: SyslogSpec, cx: NetContext) -> Result<SyslogSink, BuildError> {
        let built = |why: String| BuildError {
            sink: name.to_string(),
            why,
        };
        let facility = Facility::try_from(spec.facility)
            .map_err(|()| built(format!("facility {} is not 0 to 23", spec.facility)))?;
        let mut context = SyslogContext::const_new();
        context
            .facility(facility)
            .hostname(spec.hostname.clone())
            .appname("mcsource")
            .procid(std::process::id().to_string());
        let tls = match spec.transport {
            SyslogTransport::Tls => {
                let config = client_config(&spec.network.roots, spec.network.identity.as_ref())
                    .map_err(|e| built(format!("TLS setup failed: {e}")))?;
                Some(TlsConnector::from(Arc::new(config)))
            }
            _ => None,
        };
        Ok(SyslogSink {
            name: name.to_string(),
            spec,
            cx,
            context,
            tls,
            connection: None,
        })
    }

    /// One event as an RFC 5424 message.
    fn message(&self, tenant: &str, log_type: &str, event: &str) -> Result<String, SinkError> {
        let meta = event_meta::read(event);
        let severity = self
            .spec
            .severity
            .unwrap_or(if meta.malicious { 4 } else { 5 });
        let severity = Severity::try_from(severity).unwrap_or(Severity::NOTICE);
        let bad = |e: String| SinkError::Permanent(format!("sink {}: {e}", self.name));
        let mut sd = SDElement::new(SD_ID).map_err(bad)?;
        sd.add_param("tenant", tenant).map_err(bad)?;
        if let Some(id) = meta.id {
            sd.add_param("event_id", id).map_err(bad)?;
        }
        Ok(self
            .context
            .format_rfc5424(severity, Some(log_type), vec![sd], Some(event))
            .to_string())
    }

    /// Opens a connection of the configured transport.
    async fn connect(&self) -> io::Result<Connection> {
        let timeout = self.spec.network.timeout;
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connecting timed out");
        if self.spec.transport == SyslogTransport::Udp {
            let addr = tokio::net::lookup_host(&self.spec.address)
                .await?
                .next()
                .ok_or_else(|| io::Error::other("the address does not resolve"))?;
            let local: std::net::SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(local).await?;
            socket.connect(addr).await?;
            return Ok(Connection::Udp(socket));
        }
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(&self.spec.address))
            .await
            .map_err(|_| timed_out())??;
        tcp.set_nodelay(true)?;
        let Some(tls) = &self.tls else {
            return Ok(Connection::Tcp(tcp));
        };
        let name = rustls::pki_types::ServerName::try_from(self.spec.host.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let stream = tokio::time::timeout(timeout, tls.connect(name, tcp))
            .await
            .map_err(|_| timed_out())??;
        Ok(Connection::Tls(Box::new(stream)))
    }

    /// Writes `frames` (TCP, TLS) or sends `datagrams` (UDP) on the open connection, then
    /// checks that the connection still stands.
    async fn write(&mut self, frames: &[u8], datagrams: &[String]) -> io::Result<()> {
        let timeout = self.spec.network.timeout;
        let Some(connection) = self.connection.as_mut() else {
            return Err(io::Error::other("not connected"));
        };
        let written = async {
            match connection {
                Connection::Tcp(tcp) => {
                    tcp.write_all(frames).await?;
                    tcp.flush().await?;
                    peek(tcp).map(|_| ())
                }
                Connection::Tls(tls) => {
                    tls.write_all(frames).await?;
                    tls.flush().await?;
                    if peek(tls.get_ref().0)? {
                        read_pending(tls).await
                    } else {
                        Ok(())
                    }
                }
                Connection::Udp(udp) => {
                    for d in datagrams {
                        udp.send(d.as_bytes()).await?;
                    }
                    Ok(())
                }
            }
        };
        tokio::time::timeout(timeout, written)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "writing the batch timed out"))?
    }
}

/// Whether bytes wait to be read on `tcp`; an error if the peer closed (FIN) or reset it.
fn peek(tcp: &TcpStream) -> io::Result<bool> {
    let mut byte = [std::mem::MaybeUninit::<u8>::uninit(); 1];
    match socket2::SockRef::from(tcp).peek(&mut byte) {
        Ok(0) => Err(closed()),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) => Err(e),
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the receiver closed the connection",
    )
}

/// Reads, briefly, the bytes that wait on a TLS connection after a write (a session ticket,
/// a close_notify): an error if they close it.
async fn read_pending(tls: &mut TlsStream<TcpStream>) -> io::Result<()> {
    let mut buf = [0u8; 512];
    match tokio::time::timeout(Duration::from_millis(5), tls.read(&mut buf)).await {
        Ok(Ok(0)) => Err(closed()),
        Ok(Err(e)) => Err(e),
        Ok(Ok(_)) | Err(_) => Ok(()),
    }
}

impl Sink for SyslogSink {
    fn deliver(&mut self, batch: Batch<'_>) -> Result<(), SinkError> {
        self.deliver_all(&[batch])
    }

    fn deliver_all(&mut self, batches: &[Batch<'_>]) -> Result<(), SinkError> {
        let mut frames = Vec::new();
        let mut datagrams = Vec::new();
        for (batch, event) in all_events(batches) {
            let message = self.message(batch.tenant, batch.log_type, event)?;
            if self.spec.transport == SyslogTransport::Udp {
                if message.len() > MAX_UDP_MESSAGE {
                    tracing::error!(sink = self.name, tenant = batch.tenant, log_type = batch.log_type, bytes = message.len(),
                        "an event is too large for a UDP datagram and is not sent (use transport = \"tcp\" or \"tls\")");
                    continue;
                }
                datagrams.push(message);
            } else {
                frames.extend_from_slice(format!("{} ", message.len()).as_bytes());
                frames.extend_from_slice(message.as_bytes());
            }
        }
        let runtime = self.cx.runtime.clone();
        let cx = self.cx.clone();
        let network = self.spec.network.clone();
        let name = self.name.clone();
        runtime.block_on(async {
            let mut retrier = Retrier::new(&name, &network, &cx);
            loop {
                let attempt = async {
                    // A connection the receiver closed since the last batch (a restart, an
                    // idle timeout) is replaced before anything is written to it.
                    let stale = match &self.connection {
                        Some(Connection::Tcp(tcp)) => peek(tcp).is_err(),
                        Some(Connection::Tls(tls)) => peek(tls.get_ref().0).is_err(),
                        _ => false,
                    };
                    if stale {
                        self.connection = None;
                    }
                    if self.connection.is_none() {
                        self.connection = Some(self.connect().await?);
                    }
                    self.write(&frames, &datagrams).await
                };
                match attempt.await {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        self.connection = None;
                        let why = format!("{} ({}): {e}", self.spec.address, transport_name(self.spec.transport));
                        if e.kind() == io::ErrorKind::InvalidData {
                            return Err(SinkError::Permanent(format!(
                                "sink {name}: {why}; check tls.ca_file (the receiver's certificate must be trusted and valid for its name)"
                            )));
                        }
                        retrier.wait(&why, None).await?;
                    }
                }
            }
        })
    }
}

/// The transport's name as configured.
fn transport_name(t: SyslogTransport) -> &'static str {
    match t {
        SyslogTransport::Tcp => "tcp",
        SyslogTransport::Tls => "tls",
        SyslogTransport::Udp => "udp",
    }
}
