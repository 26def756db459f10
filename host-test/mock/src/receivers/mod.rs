//! Mock receivers for the sinks `mcsource` delivers to: Elasticsearch/OpenSearch `_bulk`, Splunk
//! HEC, OTLP/HTTP logs and a generic NDJSON HTTP ingest. Each one enforces its protocol's
//! contract (status codes and bodies as the real server sends them), stores what it accepted
//! for assertions, and can be steered into failures while a client delivers to it.
//!
//! One loopback HTTP/1.1 server ([`Receiver`], in `listener`) carries all four: TLS and
//! mutual TLS, `stop`/`restart` on the same port, a queue of whole-request faults
//! ([`SinkFault`]), a steady delay, `Content-Encoding: gzip`, a body size limit and a ledger of
//! requests ([`ReceivedRequest`]). Each protocol module only answers one decoded request.

mod elasticsearch;
mod exchange;
mod fault;
mod header_auth;
mod http_ingest;
mod ledger;
mod listener;
mod otlp;
mod splunk_hec;
mod test_ca;

pub use elasticsearch::{encode_api_key, Elasticsearch, ElasticsearchReceiver, EsConfig, EsFlavor};
pub use fault::SinkFault;
pub use http_ingest::{HttpIngest, HttpIngestConfig, HttpIngestReceiver};
pub use ledger::ReceivedRequest;
pub use listener::{Protocol, Receiver, DEFAULT_BODY_LIMIT_BYTES};
pub use otlp::{OtlpConfig, OtlpLogRecord, OtlpLogs, OtlpLogsReceiver};
pub use splunk_hec::{AckMode, HecConfig, HecEvent, HecToken, SplunkHec, SplunkHecReceiver};
pub use test_ca::{ClientIdentity, TestCa};
