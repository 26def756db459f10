//! The HTTP/1.1 server on loopback: accepts connections, hands requests to [`State`], and lets tests
//! inspect and steer the mock while it runs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::MockConfig;
use crate::fault::Fault;
use crate::handler::{Reply, State, Step};
use crate::ledger::Ledger;
use crate::log_type::LogType;
use crate::response::error_body;

/// Largest request body the mock reads.
const MAX_BODY_BYTES: usize = 1 << 20;

/// A running mock Mimecast API on `127.0.0.1`; dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Binds `127.0.0.1:0` and serves `config` on the current tokio runtime.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn start(config: MockConfig) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let mut state = State::new(config);
        state.set_region_api(format!("http://{addr}"));
        let state = Arc::new(state);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&state), stopped));
        tracing::info!(%addr, "mock Mimecast API listening");
        Ok(MockServer {
            addr,
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Base URL without trailing slash, e.g. `http://127.0.0.1:40123`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
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

    /// Queues a fault for the next authenticated request to any log endpoint.
    pub fn push_fault(&self, f: Fault) {
        self.state.push_fault(f);
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

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let state = Arc::clone(&state);
                    connections.spawn(async move {
                        let service = service_fn(move |req| {
                            let state = Arc::clone(&state);
                            async move { Ok::<_, Infallible>(respond(&state, req).await) }
                        });
                        if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                            tracing::debug!(error = %err, "mock connection ended with an error");
                        }
                    });
                }
                Err(err) => tracing::warn!(error = %err, "mock accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn respond(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
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
            return to_response(reply);
        }
    };
    let reply = match state.handle(&method, &path, &parts.headers, &body, Utc::now()) {
        Step::Done(reply) => reply,
        Step::Delay(wait, pending) => {
            tokio::time::sleep(wait).await;
            state.resume(pending, &body, Utc::now())
        }
    };
    to_response(reply)
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
