//! `[[sink]]`: where events go, as written in the config and as validated. One `[sink]` table
//! is still accepted as a single sink. Every entry has a `type`; network sinks share the
//! `batch`, `retry` and `tls` tables, so each kind's own keys stay few. Validation resolves
//! credentials, reads certificates and reports every problem with its path (`sink[1].url`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

use crate::config::secret::{Secret, SecretSource};
use crate::config::small_file::{self, MAX_CA_FILE_BYTES};
use crate::net::ClientIdentity;

/// One `[[sink]]` entry as written, by `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkEntry {
    /// NDJSON on standard output.
    Stdout(StdoutEntry),
    /// NDJSON appended to a file, exactly once (its length is committed with the checkpoint).
    File(FileEntry),
    /// NDJSON POSTed to an HTTP endpoint.
    Http(HttpEntry),
    /// Elasticsearch or OpenSearch `_bulk`.
    Elasticsearch(ElasticsearchEntry),
    /// RFC 5424 syslog over TCP, TLS or UDP.
    Syslog(SyslogEntry),
    /// Splunk HTTP Event Collector, optionally with indexer acknowledgement.
    SplunkHec(SplunkHecEntry),
    /// OTLP/HTTP logs (OpenTelemetry Collector, Vector, Fluent Bit).
    Otlp(OtlpEntry),
}

/// `type = "stdout"`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutEntry {
    /// Name in logs and errors (default: the type).
    pub name: Option<String>,
}

/// `type = "file"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Name in logs and errors (default: the type).
    pub name: Option<String>,
    /// The file (relative to the config file); created if missing.
    pub path: PathBuf,
}

/// How a network sink cuts a batch into requests.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchEntry {
    /// Most events in one request.
    pub max_events: Option<usize>,
    /// Most bytes of events in one request.
    pub max_bytes: Option<usize>,
    /// Requests of one batch on their way at once.
    pub max_in_flight: Option<usize>,
    /// How long to wait for more tenants' batches to send with one that is ready (default 0:
    /// only batches already waiting are joined, which happens by itself under load).
    #[serde(default, with = "humantime_serde")]
    pub linger: Option<Duration>,
}

/// How a network sink retries a failure retrying can fix.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryEntry {
    /// First wait (default 1 s); each further wait doubles, with jitter.
    #[serde(default, with = "humantime_serde")]
    pub initial: Option<Duration>,
    /// Longest wait (default 60 s).
    #[serde(default, with = "humantime_serde")]
    pub max: Option<Duration>,
    /// Give the batch back after trying this long (its checkpoint does not move; the tenant
    /// fetches it again later). Default: keep trying until the run stops.
    #[serde(default, with = "humantime_serde")]
    pub give_up_after: Option<Duration>,
}

/// TLS settings of a network sink.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsEntry {
    /// PEM file of CA certificates to trust for this receiver (beside the built-in and system
    /// roots and the top-level `ca_file`).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain, for a receiver that requires mutual TLS.
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

/// `type = "http"`: generic NDJSON ingest (Vector `http_server`, Fluent Bit `http`, Logstash
/// `http`, Cribl).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpEntry {
    /// Name in logs and errors (default: the type).
    pub name: Option<String>,
    /// Where batches are POSTed.
    pub url: String,
    /// Extra request headers; values may be secrets (`{ env = "…" }`, `{ file = "…" }`).
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// Compress request bodies with gzip (`Content-Encoding: gzip`).
    #[serde(default)]
    pub gzip: bool,
    /// Statuses that mean "taken" (default: any 2xx).
    #[serde(default)]
    pub success_status: Vec<u16>,
    /// Time for one request, from connecting to the end of the answer (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Request sizes.
    #[serde(default)]
    pub batch: BatchEntry,
    /// Retries.
    #[serde(default)]
    pub retry: RetryEntry,
    /// TLS.
    #[serde(default)]
    pub tls: TlsEntry,
}

/// `type = "elasticsearch"` (also OpenSearch).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchEntry {
    /// Name in logs and errors (default: the type).
    pub name: Option<String>,
    /// The cluster, e.g. `https://es.example.com:9200`.
    pub url: String,
    /// Index or data stream, with `{tenant}`, `{log_type}` and `{date}` (the event's UTC date,
    /// `YYYY.MM.DD`) filled in per event. Default `mimecast-{log_type}-{date}`.
    pub index: Option<String>,
    /// An API key as Elasticsearch gives it (the Base64 `encoded` value).
    pub api_key: Option<SecretSource>,
    /// Basic authentication user.
    pub username: Option<SecretSource>,
    /// Basic authentication password.
    pub password: Option<SecretSource>,
    /// Ingest pipeline to run the documents through.
    pub pipeline: Option<String>,
    /// Where documents Elasticsearch refuses for good (mapping errors) are written, with the
    /// reason (relative to the config file). Default: `<state_dir>/dead-letter-<name>.ndjson`.
    pub dead_letter: Option<PathBuf>,
    /// Time for one request (default 60 s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Request sizes.
    #[serde(default)]
    pub batch: BatchEntry,
    /// Retries.
    #[serde(default)]
    pub retry: RetryEntry,
    /// TLS.
    #[serde(default)]
    pub tls: TlsEntry,
}

/// `type = "syslog"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogEntry {
    /// Name in logs and errors (default: the type).
    pub name: Option<String>,
    /// The receiver, `host:port`.
    pub address: String,
    /// `"tcp"` (default; RFC 6587 octet counting), `"tls"` (RFC 5425) or `"udp"` (RFC 5426;
    /// lossy: nothing acknowledges a datagram).
    #[serde(default)]
    pub transport: SyslogTransport,
    /// Facility name (`kern` … `local7`) or number; default `local0`.
    pub facility: Option<FacilityEntry>,
    /// A severity name (`emerg` … `debug`), or `"verdict"`: `warning` for events Mimecast
    /// judged malicious, `notice` for the others. Default `notice`.
    pub severity: Option<String>,
    /// HOSTNAME of the messages (default: this machine's name).
    pub hostname: Option<String>,
    /// Time to connect and to write one batch (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Retries.
    #[serde(default)]
    pub retry: RetryEntry,
    /// TLS (with `transport = "tls"`).
    #[serde(default)]
    pub tls: TlsEntry,
}

/// `type = "splunk_hec"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecEntry {
    /// Name in logs and errors (default: the type).
    pub name: Option<String>,
    /// The HEC base URL, e.g. `https://splunk.example.com:8088`
    /// (`/services/collector/event` is added).
    pub url: String,
    /// The HEC token.
    pub token: SecretSource,
    /// Splunk index (default: the token's default index).
    pub index: Option<String>,
    /// Sourcetype, with `{log_type}` filled in (default `mimecast:ttp:{log_type}`).
    pub sourcetype: Option<String>,
    /// Source, with `{tenant}` filled in (default `mcsource:{tenant}`).
    pub source: Option<String>,
    /// Host field (default: this machine's name).
    pub host: Option<String>,
    /// Wait for indexer acknowledgement before a batch counts as delivered (the token must
    /// have it enabled).
    #[serde(default)]
    pub ack: bool,
    /// With `ack`: how long to wait for an acknowledgement before sending the events again
    /// (default 2 min).
    #[serde(default, with = "humantime_serde")]
    pub ack_timeout: Option<Duration>,
    /// Time for one request (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Request sizes (HEC's default `max_content_length` is 1 MB; default `max_bytes` here is
    /// 800 KiB).
    #[serde(default)]
    pub batch: BatchEntry,
    /// Retries.
    #[serde(default)]
    pub retry: RetryEntry,
    /// TLS.
    #[serde(default)]
    pub tls: TlsEntry,
}

/// `type = "otlp"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpEntry {
    /// Name in logs and errors (default: the type).
    pub name: Option<String>,
    /// The logs endpoint, e.g. `http://collector:4318/v1/logs`.
    pub url: String,
    /// `"protobuf"` (default) or `"json"`.
    #[serde(default)]
    pub encoding: OtlpEncoding,
    /// The log record's body: `"string"` (default: the event's JSON text, byte for byte) or
    /// `"map"` (the event as an OTLP map of values).
    #[serde(default)]
    pub body: OtlpBody,
    /// Compress request bodies with gzip.
    #[serde(default)]
    pub gzip: bool,
    /// Extra request headers; values may be secrets.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretSource>,
    /// Time for one request (default 30 s).
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Request sizes.
    #[serde(default)]
    pub batch: BatchEntry,
    /// Retries.
    #[serde(default)]
    pub retry: RetryEntry,
    /// TLS.
    #[serde(default)]
    pub tls: TlsEntry,
}

/// How OTLP requests are encoded.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OtlpEncoding {
    /// `application/x-protobuf`.
    #[default]
    Protobuf,
    /// `application/json` (OTLP's JSON mapping).
    Json,
}

/// What an OTLP log record's body holds.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OtlpBody {
    /// The event's JSON text.
    #[default]
    String,
    /// The event as a map.
    Map,
}

/// The transport of a syslog sink.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SyslogTransport {
    /// TCP with octet-counting framing (RFC 6587 §3.4.1).
    #[default]
    Tcp,
    /// TLS with octet-counting framing (RFC 5425).
    Tls,
    /// One datagram per message (RFC 5426): nothing acknowledges it.
    Udp,
}

/// A facility as written: a name or a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FacilityEntry {
    /// `0` … `23`.
    Number(i64),
    /// `kern`, `user`, … `local7`.
    Name(String),
}

/// `sink` as written: one table (`[sink]`) or an array of tables (`[[sink]]`).
#[derive(Debug, Clone)]
pub struct SinkEntries(pub Vec<SinkEntry>);

impl Default for SinkEntries {
    fn default() -> SinkEntries {
        SinkEntries(vec![SinkEntry::Stdout(StdoutEntry::default())])
    }
}

impl<'de> Deserialize<'de> for SinkEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SinkEntries, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = SinkEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a [sink] table or [[sink]] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SinkEntries, A::Error> {
                let one =
                    SinkEntry::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(SinkEntries(vec![one]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<SinkEntries, A::Error> {
                let many = Vec::<SinkEntry>::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(SinkEntries(many))
            }
        }
        d.deserialize_any(Entries)
    }
}

/// A validated sink.
#[derive(Debug, Clone)]
pub struct SinkSpec {
    /// Its name (unique among the sinks).
    pub name: String,
    /// What it is.
    pub kind: SinkKind,
}

/// A validated sink's kind and settings.
#[derive(Debug, Clone)]
pub enum SinkKind {
    /// Standard output.
    Stdout,
    /// A file (absolute, or relative to the working directory).
    File {
        /// The file.
        path: PathBuf,
    },
    /// Generic HTTP.
    Http(HttpSpec),
    /// Elasticsearch.
    Elasticsearch(ElasticsearchSpec),
    /// Syslog.
    Syslog(SyslogSpec),
    /// Splunk HEC.
    SplunkHec(SplunkHecSpec),
    /// OTLP/HTTP logs.
    Otlp(OtlpSpec),
}

/// Settings every network sink has.
#[derive(Debug, Clone)]
pub struct NetworkSpec {
    /// Time for one request or write.
    pub timeout: Duration,
    /// Most events in one request.
    pub max_events: usize,
    /// Most bytes of events in one request.
    pub max_bytes: usize,
    /// Requests on their way at once.
    pub max_in_flight: usize,
    /// How long a ready batch waits for others to join it.
    pub linger: Duration,
    /// First retry wait.
    pub retry_initial: Duration,
    /// Longest retry wait.
    pub retry_max: Duration,
    /// Give a batch back after trying this long; `None`: until the run stops.
    pub give_up_after: Option<Duration>,
    /// Extra CA certificates to trust.
    pub roots: Vec<CertificateDer<'static>>,
    /// Client certificate for mutual TLS.
    pub identity: Option<ClientIdentity>,
}

/// A validated `type = "http"` sink.
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// Where batches go.
    pub url: http::Uri,
    /// Extra headers (values resolved).
    pub headers: Vec<(http::HeaderName, Secret)>,
    /// gzip request bodies.
    pub gzip: bool,
    /// Statuses that mean "taken"; empty: any 2xx.
    pub success_status: Vec<u16>,
    /// Shared network settings.
    pub network: NetworkSpec,
}

/// How an Elasticsearch sink authenticates.
#[derive(Debug, Clone)]
pub enum EsAuth {
    /// No `Authorization` header.
    None,
    /// `Authorization: ApiKey …`.
    ApiKey(Secret),
    /// `Authorization: Basic …`.
    Basic {
        /// User.
        username: Secret,
        /// Password.
        password: Secret,
    },
}

/// A validated `type = "elasticsearch"` sink.
#[derive(Debug, Clone)]
pub struct ElasticsearchSpec {
    /// The cluster's base URL (no trailing slash).
    pub url: String,
    /// The index template.
    pub index: String,
    /// Authentication.
    pub auth: EsAuth,
    /// Ingest pipeline.
    pub pipeline: Option<String>,
    /// Dead-letter file.
    pub dead_letter: PathBuf,
    /// Shared network settings.
    pub network: NetworkSpec,
}

/// A validated `type = "syslog"` sink.
#[derive(Debug, Clone)]
pub struct SyslogSpec {
    /// `host:port`.
    pub address: String,
    /// The host part of `address`, for TLS.
    pub host: String,
    /// Transport.
    pub transport: SyslogTransport,
    /// Facility number.
    pub facility: u8,
    /// Fixed severity number, or `None` for "by verdict".
    pub severity: Option<u8>,
    /// HOSTNAME.
    pub hostname: String,
    /// Shared network settings (batch sizes unused).
    pub network: NetworkSpec,
}

/// A validated `type = "splunk_hec"` sink.
#[derive(Debug, Clone)]
pub struct SplunkHecSpec {
    /// The HEC base URL (no trailing slash).
    pub url: String,
    /// The token.
    pub token: Secret,
    /// Index.
    pub index: Option<String>,
    /// Sourcetype template.
    pub sourcetype: String,
    /// Source template.
    pub source: String,
    /// Host field.
    pub host: String,
    /// Indexer acknowledgement: how long to wait for it, if on.
    pub ack_timeout: Option<Duration>,
    /// Shared network settings.
    pub network: NetworkSpec,
}

/// A validated `type = "otlp"` sink.
#[derive(Debug, Clone)]
pub struct OtlpSpec {
    /// The logs endpoint.
    pub url: http::Uri,
    /// Encoding.
    pub encoding: OtlpEncoding,
    /// Body.
    pub body: OtlpBody,
    /// gzip.
    pub gzip: bool,
    /// Extra headers (values resolved).
    pub headers: Vec<(http::HeaderName, Secret)>,
    /// Shared network settings.
    pub network: NetworkSpec,
}

impl SinkKind {
    /// The network settings, for a network sink.
    pub fn network(&self) -> Option<&NetworkSpec> {
        match self {
            SinkKind::Stdout | SinkKind::File { .. } => None,
            SinkKind::Http(s) => Some(&s.network),
            SinkKind::Elasticsearch(s) => Some(&s.network),
            SinkKind::Syslog(s) => Some(&s.network),
            SinkKind::SplunkHec(s) => Some(&s.network),
            SinkKind::Otlp(s) => Some(&s.network),
        }
    }
}

/// The longest `batch.linger` of `sinks` (zero without network sinks).
pub fn linger(sinks: &[SinkSpec]) -> Duration {
    sinks
        .iter()
        .filter_map(|s| s.kind.network())
        .map(|n| n.linger)
        .max()
        .unwrap_or(Duration::ZERO)
}

/// The default index of an Elasticsearch sink.
pub const DEFAULT_ES_INDEX: &str = "mimecast-{log_type}-{date}";

/// Syslog facility names, by number (RFC 5424 §6.2.1).
pub const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// Syslog severity names, by number.
pub const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// What validating the sinks needs from the rest of the config.
pub struct SinkContext<'a> {
    /// The config file's directory.
    pub base_dir: &'a Path,
    /// The state directory (for default dead-letter files).
    pub state_dir: &'a Path,
    /// The top-level `ca_file`'s certificates.
    pub extra_roots: &'a [CertificateDer<'static>],
}

/// Collects the problems of one sink, each prefixed with its path.
struct Problems<'a> {
    at: &'a str,
    list: &'a mut Vec<String>,
}

impl Problems<'_> {
    /// Records a problem of the key `key` (empty: of the whole entry).
    fn push(&mut self, key: &str, what: impl std::fmt::Display) {
        if key.is_empty() {
            self.list.push(format!("{}: {what}", self.at));
        } else {
            self.list.push(format!("{}.{key}: {what}", self.at));
        }
    }
}

/// Validates every entry; problems go to `problems`, each with its path.
pub fn validate(
    entries: SinkEntries,
    cx: &SinkContext<'_>,
    problems: &mut Vec<String>,
) -> Vec<SinkSpec> {
    let many = entries.0.len() > 1;
    if entries.0.is_empty() {
        problems.push(
            "sink: no sink is configured; add a [[sink]] table (type = \"stdout\", \"file\", \
             \"http\", \"elasticsearch\", \"splunk_hec\", \"otlp\" or \"syslog\")"
                .into(),
        );
    }
    let files = entries
        .0
        .iter()
        .filter(|e| matches!(e, SinkEntry::File(_)))
        .count();
    if files > 1 {
        problems.push(
            "sink: more than one sink has type = \"file\"; the file's length is committed with \
             the checkpoints (that is what makes it exactly once), which works for one file: \
             keep one file sink"
                .into(),
        );
    }
    let stdouts = entries
        .0
        .iter()
        .filter(|e| matches!(e, SinkEntry::Stdout(_)))
        .count();
    if stdouts > 1 {
        problems.push(
            "sink: more than one sink has type = \"stdout\"; every event would be written to \
             standard output once per such sink: keep one"
                .into(),
        );
    }
    let mut names = HashSet::new();
    let mut specs = Vec::new();
    for (i, entry) in entries.0.into_iter().enumerate() {
        let at = if many {
            format!("sink[{i}]")
        } else {
            "sink".to_string()
        };
        let before = problems.len();
        let mut p = Problems {
            at: &at,
            list: problems,
        };
        let (name, kind) = match entry {
            SinkEntry::Stdout(e) => (
                e.name.unwrap_or_else(|| "stdout".into()),
                Some(SinkKind::Stdout),
            ),
            SinkEntry::File(e) => (
                e.name.clone().unwrap_or_else(|| "file".into()),
                file_path(&e.path, "path", cx, &mut p).map(|path| SinkKind::File { path }),
            ),
            SinkEntry::Http(e) => (
                e.name.clone().unwrap_or_else(|| "http".into()),
                http(e, cx, &mut p).map(SinkKind::Http),
            ),
            SinkEntry::Elasticsearch(e) => {
                let name = e.name.clone().unwrap_or_else(|| "elasticsearch".into());
                let spec = elasticsearch(e, &name, cx, &mut p).map(SinkKind::Elasticsearch);
                (name, spec)
            }
            SinkEntry::Syslog(e) => (
                e.name.clone().unwrap_or_else(|| "syslog".into()),
                syslog(e, cx, &mut p).map(SinkKind::Syslog),
            ),
            SinkEntry::SplunkHec(e) => (
                e.name.clone().unwrap_or_else(|| "splunk_hec".into()),
                splunk_hec(e, cx, &mut p).map(SinkKind::SplunkHec),
            ),
            SinkEntry::Otlp(e) => (
                e.name.clone().unwrap_or_else(|| "otlp".into()),
                otlp(e, cx, &mut p).map(SinkKind::Otlp),
            ),
        };
        if !is_name(&name) {
            p.push(
                "name",
                format!("{name:?} is not a usable name; use letters, digits, '.', '_' and '-'"),
            );
        } else if !names.insert(name.clone()) {
            p.push(
                "name",
                format!("another sink is named {name:?}; give each sink its own name = \"…\""),
            );
        }
        if let (Some(kind), true) = (kind, problems.len() == before) {
            specs.push(SinkSpec { name, kind });
        }
    }
    specs
}

/// Whether `name` can name a sink (it appears in logs and file names).
fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A file sink's path, checked: not empty, not a directory, in a directory that exists.
fn file_path(
    path: &Path,
    key: &str,
    cx: &SinkContext<'_>,
    p: &mut Problems<'_>,
) -> Option<PathBuf> {
    let empty = path.as_os_str().is_empty();
    let path = cx.base_dir.join(path);
    match path.parent() {
        _ if empty => p.push(key, "it is empty; name the file events are appended to"),
        _ if path.is_dir() => p.push(
            key,
            format!(
                "{} is a directory; name a file (it is created if missing)",
                path.display()
            ),
        ),
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => p.push(
            key,
            format!(
                "directory {} does not exist; create it first",
                dir.display()
            ),
        ),
        _ => return Some(path),
    }
    None
}

/// The settings every network sink shares, with their defaults.
fn network(
    batch: &BatchEntry,
    retry: &RetryEntry,
    tls: &TlsEntry,
    timeout: Option<Duration>,
    default_timeout: Duration,
    cx: &SinkContext<'_>,
    p: &mut Problems<'_>,
) -> NetworkSpec {
    let max_events = batch.max_events.unwrap_or(1000);
    let max_bytes = batch.max_bytes.unwrap_or(10 * 1024 * 1024);
    let max_in_flight = batch.max_in_flight.unwrap_or(2);
    let linger = batch.linger.unwrap_or(Duration::ZERO);
    if linger > Duration::from_secs(10) {
        p.push(
            "batch.linger",
            "must be at most 10s (every tenant's batch waits this long)",
        );
    }
    if !(1..=100_000).contains(&max_events) {
        p.push("batch.max_events", "must be 1 to 100000");
    }
    if !(1024..=1024 * 1024 * 1024).contains(&max_bytes) {
        p.push(
            "batch.max_bytes",
            "must be 1024 (1 KiB) to 1073741824 (1 GiB)",
        );
    }
    if !(1..=64).contains(&max_in_flight) {
        p.push("batch.max_in_flight", "must be 1 to 64");
    }
    let timeout = timeout.unwrap_or(default_timeout);
    if timeout < Duration::from_millis(100) || timeout > Duration::from_secs(3600) {
        p.push("timeout", "must be 100ms to 1h");
    }
    let retry_initial = retry.initial.unwrap_or(Duration::from_secs(1));
    let retry_max = retry.max.unwrap_or(Duration::from_secs(60));
    if retry_initial < Duration::from_millis(10) || retry_initial > Duration::from_secs(3600) {
        p.push("retry.initial", "must be 10ms to 1h");
    }
    if retry_max < retry_initial || retry_max > Duration::from_secs(3600) {
        p.push("retry.max", "must be at least retry.initial and at most 1h");
    }
    if retry.give_up_after.is_some_and(|d| d.is_zero()) {
        p.push(
            "retry.give_up_after",
            "must be more than 0 (leave it out to retry until the run stops)",
        );
    }
    let mut roots = cx.extra_roots.to_vec();
    if let Some(file) = &tls.ca_file {
        roots.extend(read_certificates(&cx.base_dir.join(file), "tls.ca_file", p));
    }
    let identity = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates(&cx.base_dir.join(cert), "tls.client_cert", p);
            let key = read_key(&cx.base_dir.join(key), p);
            match (chain.is_empty(), key) {
                (false, Some(key)) => Some(ClientIdentity { chain, key }),
                _ => None,
            }
        }
        (None, None) => None,
        _ => {
            p.push(
                "tls",
                "client_cert and client_key go together; give both (PEM files) or neither",
            );
            None
        }
    };
    if let Some(id) = &identity {
        if let Err(e) = crate::net::client_config(&[], Some(id)) {
            p.push(
                "tls.client_key",
                format!("cannot be used with tls.client_cert: {e}"),
            );
        }
    }
    NetworkSpec {
        timeout,
        max_events,
        max_bytes,
        max_in_flight,
        linger,
        retry_initial,
        retry_max,
        give_up_after: retry.give_up_after,
        roots,
        identity,
    }
}

/// The certificates of a PEM file; problems (unreadable, none in it) go to `p` under `key`.
fn read_certificates(path: &Path, key: &str, p: &mut Problems<'_>) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let bytes = match small_file::read(path, MAX_CA_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(e) => {
            p.push(key, format!("cannot read {shown}: {e}"));
            return Vec::new();
        }
    };
    match CertificateDer::pem_slice_iter(&bytes).collect::<Result<Vec<_>, _>>() {
        Ok(certs) if !certs.is_empty() => certs,
        Ok(_) => {
            p.push(
                key,
                format!("{shown} holds no certificate; it must hold PEM blocks (-----BEGIN CERTIFICATE----- …)"),
            );
            Vec::new()
        }
        Err(e) => {
            p.push(key, format!("{shown} is not valid PEM: {e}"));
            Vec::new()
        }
    }
}

/// The private key of a PEM file (never quoted in a message).
fn read_key(path: &Path, p: &mut Problems<'_>) -> Option<PrivateKeyDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    let shown = path.display();
    let bytes = match small_file::read(path, MAX_CA_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(e) => {
            p.push("tls.client_key", format!("cannot read {shown}: {e}"));
            return None;
        }
    };
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Some(key),
        Err(_) => {
            p.push(
                "tls.client_key",
                format!("{shown} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)"),
            );
            None
        }
    }
}

/// A secret, resolved; a problem goes to `p` under `key`.
fn secret(
    source: &SecretSource,
    key: &str,
    cx: &SinkContext<'_>,
    p: &mut Problems<'_>,
) -> Option<Secret> {
    match source.resolve(cx.base_dir) {
        Ok(s) => Some(s),
        Err(e) => {
            p.push(key, e);
            None
        }
    }
}

/// An `http://` or `https://` URL with a host; plain `http` is fine (receivers are often
/// on the same host or network).
fn http_url(url: &str, key: &str, p: &mut Problems<'_>) -> Option<url::Url> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            if !u.username().is_empty() || u.password().is_some() {
                p.push(
                    key,
                    "must not hold credentials; use the sink's credential keys",
                );
                return None;
            }
            Some(u)
        }
        Ok(_) => {
            p.push(key, "must be an http:// or https:// URL with a host");
            None
        }
        Err(e) => {
            p.push(key, format!("is not a URL ({e})"));
            None
        }
    }
}

/// Extra request headers, resolved; those mcsource sets itself are refused.
fn headers(
    entries: &BTreeMap<String, SecretSource>,
    cx: &SinkContext<'_>,
    p: &mut Problems<'_>,
) -> Vec<(http::HeaderName, Secret)> {
    let mut headers = Vec::new();
    for (name, value) in entries {
        let key = format!("headers.{name}");
        let Ok(header) = http::HeaderName::from_bytes(name.as_bytes()) else {
            p.push(&key, "is not a valid header name");
            continue;
        };
        if matches!(
            header.as_str(),
            "content-type" | "content-length" | "content-encoding" | "host" | "transfer-encoding"
        ) {
            p.push(&key, "is set by mcsource itself; remove it");
            continue;
        }
        if let Some(v) = secret(value, &key, cx, p) {
            if http::HeaderValue::from_str(v.expose()).is_err() {
                p.push(&key, "the value holds characters a header cannot carry");
                continue;
            }
            headers.push((header, v));
        }
    }
    headers
}

/// An endpoint URL as an `http::Uri`.
fn endpoint(url: &str, p: &mut Problems<'_>) -> Option<http::Uri> {
    http_url(url, "url", p).and_then(|u| match u.as_str().parse::<http::Uri>() {
        Ok(uri) => Some(uri),
        Err(err) => {
            p.push("url", format!("cannot be used ({err})"));
            None
        }
    })
}

/// Validates a `type = "http"` entry.
fn http(e: HttpEntry, cx: &SinkContext<'_>, p: &mut Problems<'_>) -> Option<HttpSpec> {
    let network = network(
        &e.batch,
        &e.retry,
        &e.tls,
        e.timeout,
        Duration::from_secs(30),
        cx,
        p,
    );
    let url = endpoint(&e.url, p);
    let headers = headers(&e.headers, cx, p);
    for s in &e.success_status {
        if !(200..=299).contains(s) {
            p.push(
                "success_status",
                format!("{s} is not a 2xx status; only 2xx answers can mean the batch was taken"),
            );
        }
    }
    Some(HttpSpec {
        url: url?,
        headers,
        gzip: e.gzip,
        success_status: e.success_status,
        network,
    })
}

/// Characters Elasticsearch refuses in an index name.
const BAD_INDEX_CHARS: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

/// `template` with every placeholder replaced by `x`, or why a placeholder is not one of
/// `known`.
fn fill_placeholders(template: &str, known: &[&str]) -> Result<String, String> {
    let mut rest = template;
    let mut literal = String::new();
    while let Some(open) = rest.find('{') {
        literal.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err("has a '{' without '}'".into());
        };
        let name = &rest[open + 1..open + close];
        if !known.contains(&name) {
            let known: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
            return Err(format!(
                "has the placeholder {{{name}}}; the known ones are {}",
                known.join(", ")
            ));
        }
        literal.push('x');
        rest = &rest[open + close + 1..];
    }
    literal.push_str(rest);
    Ok(literal)
}

/// Why `template` has a placeholder that is not one of `known`, if it has.
fn placeholder_problem(template: &str, known: &[&str]) -> Option<String> {
    fill_placeholders(template, known).err()
}

/// Checks an index template: known placeholders, and a name Elasticsearch accepts once they
/// are filled in (lowercase, none of its forbidden characters, not starting with `-_+`).
pub fn index_problem(template: &str) -> Option<String> {
    let literal = match fill_placeholders(template, &["tenant", "log_type", "date"]) {
        Ok(literal) => literal,
        Err(why) => return Some(why),
    };
    if literal.is_empty() || literal.len() > 200 {
        return Some("must be 1 to 200 characters".into());
    }
    if literal.chars().any(|c| c.is_uppercase()) {
        return Some("must be lowercase (Elasticsearch refuses uppercase index names)".into());
    }
    if let Some(c) = literal
        .chars()
        .find(|c| BAD_INDEX_CHARS.contains(c) || c.is_control())
    {
        return Some(format!("must not contain {c:?}"));
    }
    if literal.starts_with(['-', '_', '+']) || literal == "." || literal == ".." {
        return Some("must not start with '-', '_' or '+', nor be '.' or '..'".into());
    }
    None
}

/// Validates a `type = "elasticsearch"` entry.
fn elasticsearch(
    e: ElasticsearchEntry,
    name: &str,
    cx: &SinkContext<'_>,
    p: &mut Problems<'_>,
) -> Option<ElasticsearchSpec> {
    let network = network(
        &e.batch,
        &e.retry,
        &e.tls,
        e.timeout,
        Duration::from_secs(60),
        cx,
        p,
    );
    let url = http_url(&e.url, "url", p).map(|u| u.as_str().trim_end_matches('/').to_string());
    let index = e.index.unwrap_or_else(|| DEFAULT_ES_INDEX.to_string());
    if let Some(why) = index_problem(&index) {
        p.push("index", why);
    }
    let auth = match (&e.api_key, &e.username, &e.password) {
        (Some(key), None, None) => secret(key, "api_key", cx, p).map(EsAuth::ApiKey),
        (None, Some(user), Some(password)) => {
            let username = secret(user, "username", cx, p);
            let password = secret(password, "password", cx, p);
            username
                .zip(password)
                .map(|(username, password)| EsAuth::Basic { username, password })
        }
        (None, None, None) => Some(EsAuth::None),
        (Some(_), _, _) => {
            p.push("", "give api_key, or username and password, not both");
            None
        }
        _ => {
            p.push("", "username and password go together; give both");
            None
        }
    };
    if let Some(pipeline) = &e.pipeline {
        if pipeline.is_empty()
            || !pipeline
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            p.push(
                "pipeline",
                "must be an ingest pipeline's name (letters, digits, '-', '_', '.')",
            );
        }
    }
    let dead_letter = match &e.dead_letter {
        Some(path) => file_path(path, "dead_letter", cx, p)?,
        None => cx.state_dir.join(format!("dead-letter-{name}.ndjson")),
    };
    Some(ElasticsearchSpec {
        url: url?,
        index,
        auth: auth?,
        pipeline: e.pipeline,
        dead_letter,
        network,
    })
}

/// Validates a `type = "splunk_hec"` entry.
fn splunk_hec(
    e: SplunkHecEntry,
    cx: &SinkContext<'_>,
    p: &mut Problems<'_>,
) -> Option<SplunkHecSpec> {
    let mut batch = e.batch.clone();
    batch.max_bytes = batch.max_bytes.or(Some(800 * 1024));
    let network = network(
        &batch,
        &e.retry,
        &e.tls,
        e.timeout,
        Duration::from_secs(30),
        cx,
        p,
    );
    let url = http_url(&e.url, "url", p).map(|u| u.as_str().trim_end_matches('/').to_string());
    if url
        .as_deref()
        .is_some_and(|u| u.contains("/services/collector"))
    {
        p.push("url", "is the HEC base URL, e.g. https://splunk.example.com:8088 (mcsource adds /services/collector/event)");
    }
    let token = secret(&e.token, "token", cx, p);
    let ack_timeout = e.ack_timeout.unwrap_or(Duration::from_secs(120));
    if e.ack_timeout.is_some() && !e.ack {
        p.push("ack_timeout", "is only for ack = true");
    }
    if ack_timeout < Duration::from_secs(1) || ack_timeout > Duration::from_secs(3600) {
        p.push("ack_timeout", "must be 1s to 1h");
    }
    if let Some(index) = &e.index {
        if index.is_empty() || index.chars().any(|c| c.is_whitespace() || c.is_control()) {
            p.push("index", "must be a Splunk index name");
        }
    }
    let sourcetype = e
        .sourcetype
        .unwrap_or_else(|| "mimecast:ttp:{log_type}".into());
    let source = e.source.unwrap_or_else(|| "mcsource:{tenant}".into());
    for (key, value) in [("sourcetype", &sourcetype), ("source", &source)] {
        if let Some(why) = placeholder_problem(value, &["tenant", "log_type"]) {
            p.push(key, why);
        }
    }
    let host = e.host.unwrap_or_else(machine_name);
    Some(SplunkHecSpec {
        url: url?,
        token: token?,
        index: e.index,
        sourcetype,
        source,
        host,
        ack_timeout: e.ack.then_some(ack_timeout),
        network,
    })
}

/// Validates a `type = "otlp"` entry.
fn otlp(e: OtlpEntry, cx: &SinkContext<'_>, p: &mut Problems<'_>) -> Option<OtlpSpec> {
    let network = network(
        &e.batch,
        &e.retry,
        &e.tls,
        e.timeout,
        Duration::from_secs(30),
        cx,
        p,
    );
    let url = endpoint(&e.url, p);
    let headers = headers(&e.headers, cx, p);
    Some(OtlpSpec {
        url: url?,
        encoding: e.encoding,
        body: e.body,
        gzip: e.gzip,
        headers,
        network,
    })
}

/// This machine's name, for the syslog HOSTNAME field.
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// Validates a `type = "syslog"` entry.
fn syslog(e: SyslogEntry, cx: &SinkContext<'_>, p: &mut Problems<'_>) -> Option<SyslogSpec> {
    let network = network(
        &BatchEntry::default(),
        &e.retry,
        &e.tls,
        e.timeout,
        Duration::from_secs(30),
        cx,
        p,
    );
    if e.transport != SyslogTransport::Tls
        && (e.tls.ca_file.is_some() || e.tls.client_cert.is_some())
    {
        p.push("tls", "is only for transport = \"tls\"");
    }
    let host = match e.address.rsplit_once(':') {
        Some((host, _)) if host.contains(':') && !host.starts_with('[') => {
            p.push(
                "address",
                format!(
                    "{:?}: write an IPv6 address in brackets, e.g. \"[::1]:6514\"",
                    e.address
                ),
            );
            None
        }
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Some(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
        ),
        _ => {
            p.push(
                "address",
                format!(
                    "{:?} is not host:port (e.g. \"syslog.example.com:6514\")",
                    e.address
                ),
            );
            None
        }
    };
    let facility = match &e.facility {
        None => Some(16),
        Some(FacilityEntry::Number(n)) if (0..24).contains(n) => Some(*n as u8),
        Some(FacilityEntry::Name(name)) => {
            FACILITIES.iter().position(|f| f == name).map(|n| n as u8)
        }
        Some(FacilityEntry::Number(_)) => None,
    };
    if facility.is_none() {
        p.push(
            "facility",
            format!("must be 0 to 23 or one of {}", FACILITIES.join(", ")),
        );
    }
    let severity = match e.severity.as_deref() {
        None => Some(Some(5)),
        Some("verdict") => Some(None),
        Some(name) => SEVERITIES
            .iter()
            .position(|s| *s == name)
            .map(|n| Some(n as u8)),
    };
    if severity.is_none() {
        p.push(
            "severity",
            format!("must be \"verdict\" or one of {}", SEVERITIES.join(", ")),
        );
    }
    let hostname = e.hostname.unwrap_or_else(machine_name);
    if hostname.is_empty()
        || hostname.len() > 255
        || !hostname.chars().all(|c| c.is_ascii_graphic())
    {
        p.push(
            "hostname",
            "must be 1 to 255 printable ASCII characters without spaces",
        );
    }
    Some(SyslogSpec {
        address: e.address,
        host: host?,
        transport: e.transport,
        facility: facility?,
        severity: severity?,
        hostname,
        network,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Result<SinkEntries, String> {
        #[derive(Deserialize)]
        struct Only {
            sink: SinkEntries,
        }
        toml::from_str::<Only>(text)
            .map(|o| o.sink)
            .map_err(|e| e.to_string())
    }

    fn validated(text: &str, dir: &Path) -> Result<Vec<SinkSpec>, Vec<String>> {
        let mut problems = Vec::new();
        let cx = SinkContext {
            base_dir: dir,
            state_dir: &dir.join("state"),
            extra_roots: &[],
        };
        let specs = validate(entries(text).map_err(|e| vec![e])?, &cx, &mut problems);
        if problems.is_empty() {
            Ok(specs)
        } else {
            Err(problems)
        }
    }

    #[test]
    fn one_table_or_many_each_with_exactly_the_keys_of_its_type() {
        let dir = tempfile::tempdir().unwrap();
        let one = validated("[sink]\ntype = \"file\"\npath = \"e.ndjson\"", dir.path()).unwrap();
        assert!(
            matches!(&one[0].kind, SinkKind::File { path } if *path == dir.path().join("e.ndjson"))
        );
        assert_eq!(one[0].name, "file");
        let many = validated(
            "[[sink]]\ntype = \"stdout\"\n[[sink]]\ntype = \"http\"\nurl = \"http://127.0.0.1:9/in\"\n",
            dir.path(),
        )
        .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[1].name, "http");
        let stray = entries("[sink]\ntype = \"stdout\"\npath = \"e.ndjson\"").unwrap_err();
        assert!(stray.contains("unknown field `path`"), "{stray}");
        let missing = entries("[sink]\ntype = \"file\"").unwrap_err();
        assert!(missing.contains("missing field `path`"), "{missing}");
        let unknown = entries("[sink]\ntype = \"kafka\"").unwrap_err();
        assert!(unknown.contains("elasticsearch"), "{unknown}");
        let problems = validated(
            &format!("[sink]\ntype = \"file\"\npath = {:?}", dir.path()),
            dir.path(),
        )
        .unwrap_err();
        assert!(
            problems[0].starts_with("sink.path: ") && problems[0].contains("is a directory"),
            "{problems:?}"
        );
    }

    #[test]
    fn every_problem_is_named_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"
[[sink]]
type = "file"
path = "a.ndjson"
[[sink]]
type = "file"
path = "b.ndjson"
name = "other"
[[sink]]
type = "elasticsearch"
url = "ftp://es"
index = "Mimecast-{kind}"
api_key = { env = "MCSOURCE_TEST_DEFINITELY_UNSET" }
batch = { max_events = 0 }
[[sink]]
type = "syslog"
address = "syslog.example.com"
facility = "local9"
severity = "loud"
tls = { ca_file = "ca.pem" }
[[sink]]
type = "http"
name = "http"
url = "http://h/"
success_status = [500]
headers = { "Content-Type" = "x", Authorization = { env = "MCSOURCE_TEST_DEFINITELY_UNSET" } }
tls = { client_cert = "c.pem" }
[[sink]]
type = "stdout"
name = "http"
[[sink]]
type = "stdout"
name = "again"
[[sink]]
type = "splunk_hec"
url = "http://splunk:8088"
token = "t"
sourcetype = "mimecast:{tenant}:{kind}"
"#;
        let problems = validated(text, dir.path()).unwrap_err();
        for expected in [
            "sink: more than one sink has type = \"file\"",
            "sink[2].url: must be an http:// or https:// URL",
            "sink[2].index: has the placeholder {kind}",
            "sink[2].api_key: environment variable MCSOURCE_TEST_DEFINITELY_UNSET is not set",
            "sink[2].batch.max_events: must be 1 to 100000",
            "sink[3].address: \"syslog.example.com\" is not host:port",
            "sink[3].facility: must be 0 to 23",
            "sink[3].severity: must be \"verdict\"",
            "sink[3].tls: is only for transport = \"tls\"",
            "sink[4].success_status: 500 is not a 2xx status",
            "sink[4].headers.Content-Type: is set by mcsource itself",
            "sink[4].headers.Authorization: environment variable",
            "sink[4].tls: client_cert and client_key go together",
            "sink[5].name: another sink is named \"http\"",
            "sink: more than one sink has type = \"stdout\"",
            "sink[7].sourcetype: has the placeholder {kind}",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected}\nin {problems:#?}"
            );
        }
    }

    /// Every mcsource config in `examples/sinks` parses (the other files there are configs of
    /// rsyslog, syslog-ng, Vector and Fluent Bit).
    #[test]
    fn the_example_configs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sinks");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !name.ends_with(".toml") || name.starts_with("vector") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if let Err(e) = toml::from_str::<crate::config::FileConfig>(&text) {
                panic!("{name}: {e}");
            }
            seen += 1;
        }
        assert!(seen >= 8, "{seen} example configs");
    }

    #[test]
    fn index_names_are_checked_as_elasticsearch_does() {
        assert_eq!(index_problem(DEFAULT_ES_INDEX), None);
        assert_eq!(index_problem("logs-mimecast.ttp-default"), None);
        assert!(index_problem("Mimecast").unwrap().contains("lowercase"));
        assert!(index_problem("a b").unwrap().contains("' '"));
        assert!(index_problem("_x").unwrap().contains("must not start"));
        assert!(index_problem("x-{date").unwrap().contains("without '}'"));
        assert!(index_problem("").is_some());
    }

    #[test]
    fn syslog_defaults_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let specs = validated(
            "[sink]\ntype = \"syslog\"\naddress = \"127.0.0.1:514\"\n",
            dir.path(),
        )
        .unwrap();
        let SinkKind::Syslog(s) = &specs[0].kind else {
            panic!("not syslog");
        };
        assert_eq!(
            (s.facility, s.severity, s.transport),
            (16, Some(5), SyslogTransport::Tcp)
        );
        assert_eq!(s.host, "127.0.0.1");
        let specs = validated(
            "[sink]\ntype = \"syslog\"\naddress = \"[::1]:6514\"\ntransport = \"udp\"\nfacility = 4\nseverity = \"verdict\"\nhostname = \"collector-1\"\n",
            dir.path(),
        )
        .unwrap();
        let SinkKind::Syslog(s) = &specs[0].kind else {
            panic!("not syslog");
        };
        let bare = validated(
            "[sink]\ntype = \"syslog\"\naddress = \"::1:514\"\n",
            dir.path(),
        )
        .unwrap_err();
        assert!(bare[0].contains("in brackets"), "{bare:?}");
        assert_eq!(
            (s.facility, s.severity, s.host.as_str(), s.hostname.as_str()),
            (4, None, "::1", "collector-1")
        );
    }
}
