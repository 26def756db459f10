//! The loopback HTTP/1.1 server under every sink receiver: binds `127.0.0.1`, optionally with
//! TLS or mutual TLS, goes down and comes back on the same port, applies the queued
//! whole-request faults and the steady delay, undoes `Content-Encoding: gzip`, enforces the body
//! limit, keeps the request ledger, and hands each request to its [`Protocol`].

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use crate::receivers::exchange::{Reply, SinkRequest};
use crate::receivers::fault::{retry_after_secs, SinkFault};
use crate::receivers::ledger::ReceivedRequest;
use crate::server::{ResetSwitch, ResettableStream};

/// Default largest request body, before and after `Content-Encoding` is undone: 64 MiB.
pub const DEFAULT_BODY_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// A sink protocol a [`Receiver`] serves: [`crate::Elasticsearch`], [`crate::SplunkHec`],
/// [`crate::OtlpLogs`] or [`crate::HttpIngest`]. Sealed: the answering methods are internal.
pub trait Protocol: sealed::Answer + Send + Sync + 'static {
    /// What a test configures (tokens, limits, …).
    type Config;
    /// The protocol's name in logs, e.g. `elasticsearch`.
    const NAME: &'static str;
    /// The protocol's empty state for `config`.
    fn new(config: Self::Config) -> Self;
}

pub(crate) mod sealed {
    use hyper::Method;

    use crate::receivers::exchange::{Reply, SinkRequest};

    /// How a protocol answers; implemented by the four protocol modules only.
    pub trait Answer {
        /// Largest body accepted, before and after `Content-Encoding` is undone.
        fn body_limit(&self) -> usize;
        /// Whether `method path` delivers data: only such requests take queued faults and the
        /// steady delay.
        fn is_ingest(&self, method: &Method, path: &str) -> bool;
        /// The answer to one request.
        fn answer(&self, request: &SinkRequest) -> Reply;
        /// The protocol's error answer with `status` (a queued fault, a body over the limit, a
        /// body that cannot be decoded), `reason` in words.
        fn failure(&self, status: u16, reason: &str, request: &SinkRequest) -> Reply;
    }
}

/// Locks `mutex`, also after a panic elsewhere (test state stays readable).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running (or stopped) mock sink on `127.0.0.1`; dropping it stops the server. Its state can
/// be read and steered from the test while a client delivers to it.
pub struct Receiver<P> {
    protocol: Arc<P>,
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: Option<ServerTls>,
    running: Mutex<Option<Running>>,
}

/// The TLS side of a receiver: the acceptor and the certificate it presents.
struct ServerTls {
    acceptor: TlsAcceptor,
    certificate: CertificateDer<'static>,
    pem: String,
}

/// What every protocol shares: the fault queue, the delay, the ledger.
#[derive(Default)]
struct Shared {
    faults: Mutex<VecDeque<SinkFault>>,
    delay: Mutex<Duration>,
    ledger: Mutex<Vec<ReceivedRequest>>,
    connections: AtomicU64,
}

/// The accept loop while the receiver is up.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl<P: Protocol> Receiver<P> {
    /// Binds `127.0.0.1:0` and serves plain HTTP on the current tokio runtime.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start(config: P::Config) -> io::Result<Receiver<P>> {
        Receiver::serve(config, None).await
    }

    /// [`Receiver::start`] over HTTPS with a self-signed certificate for `localhost` and
    /// `127.0.0.1` ([`Receiver::certificate_pem`]); [`Receiver::url`] then names `localhost`.
    ///
    /// # Errors
    /// When the listener cannot be bound or the certificate cannot be made.
    pub async fn start_tls(config: P::Config) -> io::Result<Receiver<P>> {
        Receiver::start_mtls(config, &[]).await
    }

    /// [`Receiver::start_tls`] that also requires a client certificate issued by one of
    /// `client_roots` (e.g. [`crate::TestCa::certificate`]): mutual TLS. A client without one
    /// fails the handshake and never reaches the protocol. An empty `client_roots` is plain
    /// [`Receiver::start_tls`].
    ///
    /// # Errors
    /// When the listener cannot be bound, the certificate cannot be made or a root is unusable.
    pub async fn start_mtls(
        config: P::Config,
        client_roots: &[CertificateDer<'static>],
    ) -> io::Result<Receiver<P>> {
        let tls = crate::tls::self_signed_tls_with_client_auth(
            &["localhost", "127.0.0.1"],
            client_roots,
        )?;
        let tls = ServerTls {
            acceptor: tls.acceptor,
            certificate: tls.certificate,
            pem: tls.pem,
        };
        Receiver::serve(config, Some(tls)).await
    }

    async fn serve(config: P::Config, tls: Option<ServerTls>) -> io::Result<Receiver<P>> {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = listener.local_addr()?;
        let receiver = Receiver {
            protocol: Arc::new(P::new(config)),
            shared: Arc::new(Shared::default()),
            addr,
            tls,
            running: Mutex::new(None),
        };
        receiver.listen_on(listener);
        tracing::info!(%addr, protocol = P::NAME, tls = receiver.tls.is_some(), "mock sink listening");
        Ok(receiver)
    }

    fn listen_on(&self, listener: TcpListener) {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(
            listener,
            self.tls.as_ref().map(|tls| tls.acceptor.clone()),
            Arc::clone(&self.protocol),
            Arc::clone(&self.shared),
            stopped,
        ));
        *lock(&self.running) = Some(Running { stop, task });
    }

    /// Base URL without trailing slash: `http://127.0.0.1:PORT`, or with TLS
    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        if self.tls.is_some() {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// The port; it stays the same across [`Receiver::stop`] and [`Receiver::restart`].
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// With TLS: the server certificate in PEM, for a client to trust.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.pem.as_str())
    }

    /// With TLS: the server certificate in DER, for a client to trust.
    pub fn certificate(&self) -> Option<CertificateDer<'static>> {
        self.tls.as_ref().map(|tls| tls.certificate.clone())
    }

    /// Takes the receiver down: closes the listener (new connections are refused) and every
    /// open connection, aborting requests in flight. Stored data is kept. No-op when down.
    pub async fn stop(&self) {
        let running = lock(&self.running).take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            let _ = running.task.await;
            tracing::info!(addr = %self.addr, protocol = P::NAME, "mock sink stopped");
        }
    }

    /// Listens again on the same port after [`Receiver::stop`], with the data, faults and
    /// ledger kept. No-op when up.
    ///
    /// # Errors
    /// When the port cannot be bound again (another process took it).
    pub async fn restart(&self) -> io::Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let listener = bind(self.addr)?;
        self.listen_on(listener);
        tracing::info!(addr = %self.addr, protocol = P::NAME, "mock sink restarted");
        Ok(())
    }

    /// Whether the receiver is up (not stopped).
    pub fn is_running(&self) -> bool {
        lock(&self.running).is_some()
    }

    /// Queues a fault for the next request to an ingest path ([`SinkFault`]).
    pub fn push_fault(&self, fault: SinkFault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// Queues several faults, consumed in order by the next ingest requests.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = SinkFault>) {
        lock(&self.shared.faults).extend(faults);
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// Makes every later ingest request wait `delay` before it is answered (a slow sink);
    /// `Duration::ZERO` ends it.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.shared.delay) = delay;
    }

    /// Every request handled so far, in order of completion.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.ledger).clone()
    }

    /// Number of requests answered with `status` (0: reset without an answer).
    pub fn count_status(&self, status: u16) -> usize {
        lock(&self.shared.ledger)
            .iter()
            .filter(|r| r.status == status)
            .count()
    }

    /// TCP connections accepted so far (also across restarts).
    pub fn connections_accepted(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Polls `done` every 10 ms until it holds or `timeout` passes; whether it held. For tests
    /// that wait on a client delivering in the background, without fixed sleeps.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&Receiver<P>) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The protocol state, for the protocol modules' inspection methods.
    pub(crate) fn protocol(&self) -> &P {
        &self.protocol
    }
}

impl<P> Drop for Receiver<P> {
    fn drop(&mut self) {
        if let Some(running) = lock(&self.running).take() {
            // Aborting the accept loop drops its JoinSet, which aborts every connection.
            running.task.abort();
        }
    }
}

/// A listener on `addr` with `SO_REUSEADDR`, so that a restart can take the port back while
/// connections of the previous run linger in `TIME_WAIT`.
fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

async fn accept_loop<P: Protocol>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    protocol: Arc<P>,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::Relaxed);
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(error = %err, "mock sink could not set TCP_NODELAY");
                    }
                    connections.spawn(serve_connection(
                        stream,
                        tls.clone(),
                        Arc::clone(&protocol),
                        Arc::clone(&shared),
                    ));
                }
                Err(err) => tracing::warn!(error = %err, "mock sink accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection<P: Protocol>(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    protocol: Arc<P>,
    shared: Arc<Shared>,
) {
    let reset = Arc::new(ResetSwitch::default());
    let io = ResettableStream {
        stream,
        reset: Arc::clone(&reset),
    };
    match tls {
        None => serve_http(io, reset, protocol, shared).await,
        Some(acceptor) => match acceptor.accept(io).await {
            Ok(tls) => serve_http(tls, reset, protocol, shared).await,
            Err(err) => tracing::debug!(error = %err, "mock sink TLS handshake failed"),
        },
    }
}

async fn serve_http<I, P>(io: I, reset: Arc<ResetSwitch>, protocol: Arc<P>, shared: Arc<Shared>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    P: Protocol,
{
    let service = {
        let reset = Arc::clone(&reset);
        service_fn(move |req| {
            let (protocol, shared, reset) = (
                Arc::clone(&protocol),
                Arc::clone(&shared),
                Arc::clone(&reset),
            );
            async move { Ok::<_, Infallible>(respond(&*protocol, &shared, &reset, req).await) }
        })
    };
    let connection = http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::select! {
        served = connection => {
            if let Err(err) = served {
                tracing::debug!(error = %err, "mock sink connection ended with an error");
            }
        }
        // Dropping the connection drops the stream, whose `SO_LINGER` is now 0: an RST.
        () = reset.requested.notified() => tracing::debug!("mock sink reset the connection (injected fault)"),
    }
}

/// Reads, steers and answers one request, and writes its ledger entry.
async fn respond<P: Protocol>(
    protocol: &P,
    shared: &Shared,
    reset: &ResetSwitch,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let mut request = SinkRequest {
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body: Bytes::new(),
    };
    let limit = protocol.body_limit();
    let mut entry = ReceivedRequest {
        method: request.method.as_str().to_string(),
        path: request.path.clone(),
        headers: ledger_headers(&request.headers),
        body_bytes: 0,
        status: 0,
        stored: 0,
        fault: None,
    };
    let reply = match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            request.body = collected.to_bytes();
            entry.body_bytes = request.body.len();
            steer_and_answer(protocol, shared, &mut request, &mut entry).await
        }
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Some(protocol.failure(
            413,
            &format!("request body is larger than the limit of {limit} bytes"),
            &request,
        )),
        Err(err) => Some(protocol.failure(
            400,
            &format!("request body could not be read: {err}"),
            &request,
        )),
    };
    let Some(reply) = reply else {
        lock(&shared.ledger).push(entry);
        reset.trigger();
        // The connection task drops this future with the connection; nothing is answered.
        match std::future::pending::<Infallible>().await {}
    };
    entry.status = reply.status;
    entry.stored = reply.stored;
    lock(&shared.ledger).push(entry);
    to_response(reply)
}

/// Applies the delay and the next fault to an ingest request, undoes the content encoding and
/// lets the protocol answer; `None` when the connection is to be reset instead.
async fn steer_and_answer<P: Protocol>(
    protocol: &P,
    shared: &Shared,
    request: &mut SinkRequest,
    entry: &mut ReceivedRequest,
) -> Option<Reply> {
    if protocol.is_ingest(&request.method, &request.path) {
        let delay = *lock(&shared.delay);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let fault = lock(&shared.faults).pop_front();
        if let Some(fault) = fault {
            entry.fault = Some(fault.kind());
            match fault {
                SinkFault::Status {
                    status,
                    retry_after,
                } => {
                    let mut reply = protocol.failure(status, "injected fault", request);
                    if let Some(wait) = retry_after {
                        reply =
                            reply.with_header("Retry-After", retry_after_secs(wait).to_string());
                    }
                    return Some(reply);
                }
                SinkFault::Raw {
                    status,
                    headers,
                    body,
                } => {
                    return Some(Reply {
                        status,
                        content_type: "",
                        headers,
                        body: body.into_bytes(),
                        stored: 0,
                    });
                }
                SinkFault::ConnectionReset => return None,
                SinkFault::Delay(wait) => tokio::time::sleep(wait).await,
            }
        }
    }
    match decode_body(request, protocol.body_limit()) {
        Ok(()) => Some(protocol.answer(request)),
        Err((status, reason)) => Some(protocol.failure(status, &reason, request)),
    }
}

/// Undoes `Content-Encoding` (`gzip`, `identity`); an unknown encoding is 415, a broken gzip
/// stream 400, a decoded body over `limit` 413.
fn decode_body(request: &mut SinkRequest, limit: usize) -> Result<(), (u16, String)> {
    let encoding = request
        .header("content-encoding")
        .map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(()),
        Some("gzip") | Some("x-gzip") => {
            let mut decoded = Vec::new();
            let read = flate2::read::MultiGzDecoder::new(request.body.as_ref())
                .take(limit as u64 + 1)
                .read_to_end(&mut decoded);
            match read {
                Err(err) => Err((400, format!("gzip body could not be decoded: {err}"))),
                Ok(n) if n > limit => Err((
                    413,
                    format!("decoded request body is larger than the limit of {limit} bytes"),
                )),
                Ok(_) => {
                    request.body = Bytes::from(decoded);
                    Ok(())
                }
            }
        }
        Some(other) => Err((415, format!("unsupported Content-Encoding {other}"))),
    }
}

/// Request headers for the ledger, with the `Authorization` value redacted.
fn ledger_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = if name == hyper::header::AUTHORIZATION {
                "<redacted>".to_string()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.as_str().to_string(), value)
        })
        .collect()
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder().status(status);
    if !reply.content_type.is_empty() {
        builder = builder.header("Content-Type", reply.content_type);
    }
    for (name, value) in &reply.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap_or_else(|err| {
            // Only injected fault headers can be invalid; answer 500 rather than panic.
            let mut fallback = Response::new(Full::new(Bytes::from(format!(
                "invalid injected response: {err}"
            ))));
            *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}
