//! One decoded request as the protocol modules see it, and the reply they return: plain values,
//! no I/O, so each protocol answers a request in one synchronous call.

use bytes::Bytes;
use hyper::header::HeaderMap;
use hyper::Method;
use serde_json::Value;

/// A request with its whole body, `Content-Encoding` already undone.
#[derive(Debug)]
pub struct SinkRequest {
    /// HTTP method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Request headers.
    pub headers: HeaderMap,
    /// Decoded body.
    pub body: Bytes,
}

impl SinkRequest {
    /// The value of header `name`, if present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The value of query parameter `name` (not percent-decoded: the values the mocks read are
    /// GUIDs and tokens).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }

    /// The media type of `Content-Type`, lowercase, without parameters (`application/json`).
    pub fn media_type(&self) -> Option<String> {
        let value = self.header("content-type")?;
        let media = value.split(';').next().unwrap_or(value).trim();
        Some(media.to_ascii_lowercase())
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of `body`; none is sent when empty.
    pub content_type: &'static str,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
    /// Items the request stored, for the ledger.
    pub stored: usize,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::bytes(status, "application/json", body.to_string().into_bytes())
    }

    /// A reply with any body.
    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type,
            headers: Vec::new(),
            body,
            stored: 0,
        }
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Records how many items the request stored.
    pub fn with_stored(mut self, stored: usize) -> Reply {
        self.stored = stored;
        self
    }
}
