//! Section 7 of the benchmark: what keeping connections open saves. A TLS server on loopback
//! (rustls, with a self-signed certificate made for the run) answers every request with a
//! 100-record page; the host's HTTP client fetches it once with a new connection per request
//! (a TCP connect and a TLS handshake each time, which is what wasmtime's default WASI-HTTP
//! sender does) and once with its pooled keep-alive connections.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;

use super::{duration, median_secs, rate};
use mimecast_host::net::{HttpClient, ProxySetting};

/// A TLS server on `127.0.0.1` that answers every request with `page`.
struct TlsServer {
    url: http::Uri,
    cert: CertificateDer<'static>,
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    async fn start(page: Vec<u8>) -> anyhow::Result<TlsServer> {
        let tls = mimecast_mock::self_signed_tls(&["127.0.0.1"])
            .context("cannot make a certificate for the TLS benchmark")?;
        let (acceptor, cert) = (tls.acceptor, tls.certificate);
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!(
            "https://127.0.0.1:{}/api/ttp/url/get-logs",
            listener.local_addr()?.port()
        )
        .parse()?;
        let accepted = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&accepted);
        let page = Bytes::from(page);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                // As web servers do: without it, Nagle's algorithm holds the handshake's
                // later writes for the client's delayed acknowledgement.
                let _ = stream.set_nodelay(true);
                let (acceptor, page) = (acceptor.clone(), page.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service =
                        service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                            let page = page.clone();
                            async move {
                                // Read the request body, as the API does, before answering.
                                let _ = request.into_body().collect().await;
                                Ok::<_, Infallible>(hyper::Response::new(Full::new(page)))
                            }
                        });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(TlsServer {
            url,
            cert,
            accepted,
            task,
        })
    }
}

/// One request for the page; its body is read to the end.
async fn fetch(client: &HttpClient, url: &http::Uri) -> anyhow::Result<()> {
    let body = Bytes::from_static(br#"{"data":[{"oldestFirst":true}]}"#);
    let request = http::Request::post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)?;
    let response = client
        .send(request, Duration::from_secs(10))
        .await
        .map_err(|e| anyhow::anyhow!("benchmark request failed: {e}"))?;
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("benchmark response failed: {e}"))?;
    Ok(())
}

/// The rows of section 7: `requests` sequential requests per round, `rounds` rounds per mode.
pub(super) async fn rows(
    rounds: usize,
    requests: usize,
    page: Vec<u8>,
) -> anyhow::Result<Vec<String>> {
    let page_kib = page.len() as f64 / 1024.0;
    let server = TlsServer::start(page).await?;
    let requests = requests.max(1);
    let modes = [
        (
            "new connection per request (TCP + TLS 1.3 handshake each time)",
            false,
        ),
        ("kept-alive connections (`HttpClient`, pooled)", true),
    ];
    let mut rows = Vec::new();
    let mut per_request = Vec::new();
    for (name, reuse) in modes {
        let client = HttpClient::build(
            &ProxySetting::Direct,
            std::slice::from_ref(&server.cert),
            reuse,
        );
        // One request first, so the pooled client starts with an open connection, as it does
        // from the second page of a poll on.
        fetch(&client, &server.url).await?;
        let before = server.accepted.load(Ordering::Relaxed);
        let secs = median_secs(rounds, || async {
            for _ in 0..requests {
                fetch(&client, &server.url).await?;
            }
            Ok(())
        })
        .await?;
        let opened = server.accepted.load(Ordering::Relaxed) - before;
        let each = secs / requests as f64;
        per_request.push(each);
        rows.push(format!(
            "| {name} | {page_kib:.1} KiB | {} | {} requests/s | {:.0} |",
            duration(each),
            rate(1.0 / each),
            opened as f64 * 100.0 / (requests * rounds.max(1)) as f64
        ));
    }
    if let [fresh, pooled] = per_request[..] {
        rows.push(format!(
            "| saved per request by reuse (on loopback: the handshake's CPU work, client and server) | - | {} | {:.1}x | - |",
            duration(fresh - pooled),
            fresh / pooled
        ));
    }
    Ok(rows)
}
