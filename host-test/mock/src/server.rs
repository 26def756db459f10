//! The HTTP/1.1 server on loopback: accepts connections, hands requests to [`State`], and lets tests
//! inspect and steer the mock while it runs.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

use crate::config::MockConfig;
use crate::fault::Fault;
use crate::handler::{Reply, State, Step};
use crate::ledger::Ledger;
use crate::log_type::LogType;
use crate::response::error_body;

/// Largest request body the mock reads.
const MAX_BODY_BYTES: usize = 1 << 20;

/// How long [`crate::Fault::ResetMidBody`] waits after the partial body is flushed before it
/// resets, so that the client has read the headers and the bytes sent so far.
const RESET_MID_BODY_PAUSE: Duration = Duration::from_millis(50);

/// Response body: a normal one, one that is cut by a connection reset, or a slow or endless one.
type MockBody = Either<Full<Bytes>, Either<ResetBody, SlowBody>>;

/// Start of the never-ending page of [`crate::Fault::EndlessBody`].
const ENDLESS_HEAD: &[u8] = br#"{"meta":{"status":200},"data":[{"clickLogs":["#;

/// Size of each record of [`crate::Fault::EndlessBody`].
const ENDLESS_RECORD_BYTES: usize = 64 * 1024;

/// A running mock Mimecast API on `127.0.0.1`; dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    /// With TLS: the PEM certificate it serves (self-signed, for `localhost` and `127.0.0.1`).
    certificate_pem: Option<String>,
    state: Arc<State>,
    connections: Arc<AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Binds `127.0.0.1:0` and serves `config` on the current tokio runtime.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        MockServer::serve(config, None).await
    }

    /// [`MockServer::start`] over HTTPS, with a self-signed certificate made for this server
    /// (names `localhost` and `127.0.0.1`; see [`MockServer::certificate_pem`]), so that a
    /// client's TLS path can be tested end to end.
    ///
    /// # Errors
    /// When the listener cannot be bound or the certificate cannot be made.
    pub async fn start_tls(config: MockConfig) -> std::io::Result<MockServer> {
        let tls = crate::tls::self_signed_tls(&["localhost", "127.0.0.1"])?;
        MockServer::serve(config, Some((tls.acceptor, tls.pem))).await
    }

    async fn serve(
        config: MockConfig,
        tls: Option<(TlsAcceptor, String)>,
    ) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (acceptor, certificate_pem) = tls.unzip();
        let mut state = State::new(config);
        state.set_region_api(base_url(addr, certificate_pem.is_some()));
        let state = Arc::new(state);
        let (stop, stopped) = oneshot::channel();
        let connections = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            Arc::clone(&state),
            Arc::clone(&connections),
            stopped,
        ));
        tracing::info!(%addr, tls = certificate_pem.is_some(), "mock Mimecast API listening");
        Ok(MockServer {
            addr,
            certificate_pem,
            state,
            connections,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Base URL without trailing slash, e.g. `http://127.0.0.1:40123`, or with TLS
    /// `https://localhost:40123`.
    pub fn base_url(&self) -> String {
        base_url(self.addr, self.certificate_pem.is_some())
    }

    /// With TLS ([`MockServer::start_tls`]): the certificate it serves, in PEM, for a client to
    /// trust.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificate_pem.as_deref()
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every record of type `t` the mock holds, in arrival order.
    pub fn records(&self, t: LogType) -> Vec<Value> {
        self.state.records(t)
    }

    /// Adds records of type `t` while the server runs (they may carry past times: late arrivals).
    pub fn append(&self, t: LogType, records: Vec<Value>) {
        self.state.append(t, records);
    }

    /// Every API 2.0 bearer token issued so far (to check that a client never reveals one).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.state.issued_tokens()
    }

    /// Queues a fault for the next authenticated request to any log endpoint.
    pub fn push_fault(&self, f: Fault) {
        self.state.push_fault(f);
    }

    /// Queues several faults, consumed in order by the next requests.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        for f in faults {
            self.push_fault(f);
        }
    }

    /// TCP connections accepted so far (a client that keeps connections alive opens far fewer
    /// than it sends requests).
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// A snapshot of what the server did so far.
    pub fn ledger(&self) -> Ledger {
        self.state.ledger()
    }

    /// Stops accepting, closes open connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn base_url(addr: SocketAddr, tls: bool) -> String {
    if tls {
        format!("https://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    state: Arc<State>,
    accepted_count: Arc<AtomicU64>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    accepted_count.fetch_add(1, Ordering::Relaxed);
                    // As web servers do: without it, Nagle's algorithm holds a response's
                    // later writes on a kept-alive connection for the client's delayed ACK.
                    if let Err(err) = stream.set_nodelay(true) {
                        tracing::debug!(error = %err, "mock could not set TCP_NODELAY");
                    }
                    connections.spawn(serve_connection(stream, tls.clone(), Arc::clone(&state)));
                }
                Err(err) => tracing::warn!(error = %err, "mock accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// Serves one connection (after the TLS handshake, with `tls`) until the client closes it, or
/// until an injected fault resets it.
async fn serve_connection(stream: TcpStream, tls: Option<TlsAcceptor>, state: Arc<State>) {
    let reset = Arc::new(ResetSwitch::default());
    let io = ResettableStream {
        stream,
        reset: Arc::clone(&reset),
    };
    match tls {
        None => serve_http(io, reset, state).await,
        Some(acceptor) => match acceptor.accept(io).await {
            Ok(tls) => serve_http(tls, reset, state).await,
            Err(err) => tracing::debug!(error = %err, "mock TLS handshake failed"),
        },
    }
}

/// Serves HTTP/1.1 on `io`; `reset` is the switch of the TCP stream under it.
async fn serve_http<I>(io: I, reset: Arc<ResetSwitch>, state: Arc<State>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let reset = Arc::clone(&reset);
        service_fn(move |req| {
            let (state, reset) = (Arc::clone(&state), Arc::clone(&reset));
            async move { Ok::<_, Infallible>(respond(&state, &reset, req).await) }
        })
    };
    let connection = http1::Builder::new().serve_connection(TokioIo::new(io), service);
    tokio::select! {
        served = connection => {
            if let Err(err) = served {
                tracing::debug!(error = %err, "mock connection ended with an error");
            }
        }
        // Dropping the connection drops the stream, whose `SO_LINGER` is now 0: the kernel
        // discards anything unsent and answers with an RST.
        () = reset.requested.notified() => tracing::debug!("mock reset the connection (injected fault)"),
    }
}

/// Lets a request's service reset the connection it arrived on (also used by the sink
/// receivers, `crate::receivers`).
#[derive(Default)]
pub(crate) struct ResetSwitch {
    /// Set once a reset is requested; the stream then closes with `SO_LINGER` 0.
    armed: AtomicBool,
    /// Wakes the connection task, which drops the connection (and so the stream).
    pub(crate) requested: Notify,
}

impl ResetSwitch {
    /// Asks for the connection to be reset; nothing more is sent on it.
    pub(crate) fn trigger(&self) {
        self.armed.store(true, Ordering::SeqCst);
        self.requested.notify_one();
    }
}

/// The accepted TCP stream; when dropped after [`ResetSwitch::trigger`], it is closed with an RST.
pub(crate) struct ResettableStream {
    pub(crate) stream: TcpStream,
    pub(crate) reset: Arc<ResetSwitch>,
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.reset.armed.load(Ordering::SeqCst) {
            if let Err(err) = self.stream.set_zero_linger() {
                tracing::warn!(error = %err, "could not set SO_LINGER 0; the connection closes with a FIN");
            }
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// A body that announces `len` bytes, yields `head`, waits [`RESET_MID_BODY_PAUSE`] (hyper flushes
/// meanwhile) and then resets the connection instead of sending the rest.
struct ResetBody {
    head: Option<Bytes>,
    len: u64,
    pause: Option<Pin<Box<Sleep>>>,
    reset: Arc<ResetSwitch>,
}

impl Body for ResetBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(head) = self.head.take() {
            if !head.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(head))));
            }
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_MID_BODY_PAUSE)));
        ready!(pause.as_mut().poll(cx));
        self.reset.trigger();
        // The connection task drops this body together with the connection.
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        false
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// A body sent slowly ([`crate::Fault::TrickleBody`]) or without end
/// ([`crate::Fault::EndlessBody`]).
enum SlowBody {
    /// The `rest` of a body, one byte every `every`.
    Trickle {
        rest: Bytes,
        every: Duration,
        sleep: Option<Pin<Box<Sleep>>>,
    },
    /// `head`, then `record` again and again (chunked: no length is announced).
    Endless { head: Option<Bytes>, record: Bytes },
    /// `head` (when not empty), then nothing ever, of a body announced as `len` bytes.
    Stall { head: Option<Bytes>, len: u64 },
}

impl Body for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut *self {
            SlowBody::Trickle {
                rest, every, sleep, ..
            } => {
                if rest.is_empty() {
                    return Poll::Ready(None);
                }
                let every = *every;
                let pause = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(every)));
                ready!(pause.as_mut().poll(cx));
                pause.as_mut().reset(tokio::time::Instant::now() + every);
                Poll::Ready(Some(Ok(Frame::data(rest.split_to(1)))))
            }
            SlowBody::Endless { head, record } => {
                let next = head.take().unwrap_or_else(|| record.clone());
                Poll::Ready(Some(Ok(Frame::data(next))))
            }
            // Never woken again: the connection stays open with the answer unfinished.
            SlowBody::Stall { head, .. } => match head.take().filter(|h| !h.is_empty()) {
                Some(head) => Poll::Ready(Some(Ok(Frame::data(head)))),
                None => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, SlowBody::Trickle { rest, .. } if rest.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SlowBody::Trickle { rest, .. } => SizeHint::with_exact(rest.len() as u64),
            SlowBody::Endless { .. } => SizeHint::default(),
            SlowBody::Stall { len, .. } => SizeHint::with_exact(*len),
        }
    }
}

async fn respond(
    state: &State,
    reset: &Arc<ResetSwitch>,
    req: Request<Incoming>,
) -> Response<MockBody> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let msg = format!("request body could not be read: {err}");
            let reply = Reply {
                status: 400,
                headers: Vec::new(),
                body: error_body(
                    400,
                    &serde_json::Map::new(),
                    "err_invalid_request_body",
                    &msg,
                    false,
                ),
            };
            return to_response(reply).map(Either::Left);
        }
    };
    let reply = match state.handle(&method, &path, &parts.headers, &body, Utc::now()) {
        Step::Done(reply) => reply,
        Step::Delay(wait, pending) => {
            tokio::time::sleep(wait).await;
            state.resume(pending, &body, Utc::now())
        }
        Step::Reset => {
            reset.trigger();
            // The connection task drops this future with the connection; nothing is answered.
            match std::future::pending::<Infallible>().await {}
        }
        Step::ResetMidBody(reply, sent) => {
            return cut_by_reset(reply, sent, reset);
        }
        Step::Trickle(mut reply, every) => {
            let body = Bytes::from(std::mem::take(&mut reply.body));
            return to_response(reply).map(|_| {
                Either::Right(Either::Right(SlowBody::Trickle {
                    rest: body,
                    every,
                    sleep: None,
                }))
            });
        }
        Step::Stall(mut reply, sent) => {
            let len = reply.body.len() as u64;
            let mut body = Bytes::from(std::mem::take(&mut reply.body));
            let head = body.split_to(sent.min(body.len()));
            return to_response(reply).map(|_| {
                Either::Right(Either::Right(SlowBody::Stall {
                    head: Some(head),
                    len,
                }))
            });
        }
        Step::Endless(reply) => {
            let mut record = br#"{"url":""#.to_vec();
            record.resize(ENDLESS_RECORD_BYTES - 3, b'a');
            record.extend_from_slice(br#""},"#);
            return to_response(Reply {
                body: Vec::new(),
                ..reply
            })
            .map(|_| {
                Either::Right(Either::Right(SlowBody::Endless {
                    head: Some(Bytes::from_static(ENDLESS_HEAD)),
                    record: Bytes::from(record),
                }))
            });
        }
    };
    to_response(reply).map(Either::Left)
}

/// The response to `reply` whose body stops after `sent` bytes with a connection reset.
fn cut_by_reset(reply: Reply, sent: usize, reset: &Arc<ResetSwitch>) -> Response<MockBody> {
    let len = reply.body.len() as u64;
    let mut body = Bytes::from(reply.body);
    let head = body.split_to(sent.min(body.len()));
    to_response(Reply {
        body: Vec::new(),
        ..reply
    })
    .map(|_| {
        Either::Right(Either::Left(ResetBody {
            head: Some(head),
            len,
            pause: None,
            reset: Arc::clone(reset),
        }))
    })
}

fn to_response(reply: Reply) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = Response::builder()
        .status(status)
        .header("Content-Type", "application/json; charset=utf-8");
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
