//! Mock Elasticsearch/OpenSearch `_bulk` endpoint: NDJSON action/source pairs, per-index
//! document store with `create` conflicts, API-key or basic authentication, data streams, and
//! per-item failures a test can steer.
//!
//! Sources: Elasticsearch reference, "Bulk API" (`POST /_bulk`, `POST /{index}/_bulk`; the body
//! must end with a newline; `create` fails with 409 `version_conflict_engine_exception` when the
//! id exists; item statuses and `errors`), "Data streams" (only `op_type` `create`), "Security
//! settings / API keys" (`Authorization: ApiKey base64(id:key)`) and the 401
//! `security_exception` body with `WWW-Authenticate`; thread pool rejections are 429
//! `es_rejected_execution_exception`. Mapping failures are `document_parsing_exception`
//! (Elasticsearch 8) or `mapper_parsing_exception` (Elasticsearch 7, OpenSearch).
//!
//! Not modelled: `update` and `delete` actions (400), `refresh`, routing, pipelines, versioning
//! parameters (accepted and ignored).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use hyper::Method;
use serde_json::{json, Map, Value};

use crate::receivers::exchange::{Reply, SinkRequest};
use crate::receivers::listener::{lock, sealed, Protocol, Receiver, DEFAULT_BODY_LIMIT_BYTES};

/// A running mock Elasticsearch.
pub type ElasticsearchReceiver = Receiver<Elasticsearch>;

/// Which server's words the mock uses where Elasticsearch and OpenSearch differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EsFlavor {
    /// Elasticsearch 8: a rejected document is `document_parsing_exception`.
    #[default]
    Elasticsearch8,
    /// Elasticsearch 7 and OpenSearch: `mapper_parsing_exception`.
    OpenSearch,
}

/// How the mock Elasticsearch is set up. `EsConfig::default()` requires no authentication.
#[derive(Debug, Clone)]
pub struct EsConfig {
    /// Accepted `Authorization: ApiKey <value>` values (see [`encode_api_key`]).
    pub api_keys: Vec<String>,
    /// Accepted `Authorization: Basic` users and passwords.
    pub basic_users: Vec<(String, String)>,
    /// Index names starting with one of these are data streams: only `create` is allowed.
    pub data_stream_prefixes: Vec<String>,
    /// Words for mapping failures.
    pub flavor: EsFlavor,
    /// Largest body (413 beyond; Elasticsearch's `http.max_content_length`).
    pub body_limit_bytes: usize,
}

impl Default for EsConfig {
    fn default() -> EsConfig {
        EsConfig {
            api_keys: Vec::new(),
            basic_users: Vec::new(),
            data_stream_prefixes: Vec::new(),
            flavor: EsFlavor::default(),
            body_limit_bytes: DEFAULT_BODY_LIMIT_BYTES,
        }
    }
}

impl EsConfig {
    /// Whether any credential is required.
    fn requires_auth(&self) -> bool {
        !self.api_keys.is_empty() || !self.basic_users.is_empty()
    }
}

/// The value a client sends after `Authorization: ApiKey `: base64 of `id:api_key`, as the
/// create-API-key response's `encoded` field.
pub fn encode_api_key(id: &str, api_key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{id}:{api_key}"))
}

/// A test's rule for documents the mapping refuses.
type DocumentPredicate = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

/// The state of the mock Elasticsearch: configuration, indices and steering.
pub struct Elasticsearch {
    config: EsConfig,
    state: Mutex<EsState>,
}

impl fmt::Debug for Elasticsearch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Elasticsearch").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct EsState {
    indices: BTreeMap<String, Index>,
    /// `create`/`index` actions per (index, id), counted before any outcome.
    attempts: HashMap<(String, String), usize>,
    reject_items: usize,
    reject_documents: Option<DocumentPredicate>,
    next_auto_id: u64,
    next_seq_no: u64,
}

/// One index: documents in first-write order.
#[derive(Default)]
struct Index {
    order: Vec<String>,
    docs: HashMap<String, Doc>,
}

struct Doc {
    source: Value,
    version: u64,
}

/// The two write actions the mock takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Index,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Index => "index",
        }
    }
}

/// One parsed action with its source line.
struct Item {
    op: Op,
    index: String,
    id: Option<String>,
    source: Result<Value, String>,
}

/// A whole-request failure of the bulk parser: status, error type, reason.
#[derive(Debug)]
struct BulkError(u16, &'static str, String);

/// Metadata keys an action line may carry (others are 400 like Elasticsearch).
const ACTION_KEYS: &[&str] = &[
    "_index",
    "_id",
    "routing",
    "pipeline",
    "require_alias",
    "require_data_stream",
    "dynamic_templates",
    "if_seq_no",
    "if_primary_term",
    "version",
    "version_type",
    "list_executed_pipelines",
];

impl Protocol for Elasticsearch {
    type Config = EsConfig;
    const NAME: &'static str = "elasticsearch";

    fn new(config: EsConfig) -> Elasticsearch {
        Elasticsearch {
            config,
            state: Mutex::new(EsState::default()),
        }
    }
}

impl sealed::Answer for Elasticsearch {
    fn body_limit(&self) -> usize {
        self.config.body_limit_bytes
    }

    fn is_ingest(&self, _method: &Method, path: &str) -> bool {
        bulk_index(path).is_some()
    }

    fn answer(&self, request: &SinkRequest) -> Reply {
        let reply = if request.path == "/" && request.method == Method::GET {
            self.authenticate(request)
                .err()
                .unwrap_or_else(cluster_info)
        } else if let Some(default_index) = bulk_index(&request.path) {
            if request.method != Method::POST && request.method != Method::PUT {
                no_handler(request)
            } else {
                match self.authenticate(request) {
                    Err(reply) => reply,
                    Ok(()) => self.bulk(default_index, request),
                }
            }
        } else {
            no_handler(request)
        };
        reply.with_header("X-elastic-product", "Elasticsearch")
    }

    fn failure(&self, status: u16, reason: &str, _request: &SinkRequest) -> Reply {
        let (kind, reason) = match status {
            429 => (
                "es_rejected_execution_exception",
                format!("rejected execution of coordinating operation ({reason})"),
            ),
            503 => (
                "cluster_block_exception",
                format!("blocked by: [SERVICE_UNAVAILABLE/2/no master]; ({reason})"),
            ),
            413 => ("content_too_long_exception", reason.to_string()),
            415 | 406 => ("illegal_argument_exception", reason.to_string()),
            400 => ("parse_exception", reason.to_string()),
            _ => ("exception", reason.to_string()),
        };
        es_error(status, kind, &reason).with_header("X-elastic-product", "Elasticsearch")
    }
}

impl Elasticsearch {
    /// Checks `Authorization` when credentials are configured; the 401 otherwise.
    fn authenticate(&self, request: &SinkRequest) -> Result<(), Reply> {
        if !self.config.requires_auth() {
            return Ok(());
        }
        let path = &request.path;
        let Some(value) = request.header("authorization") else {
            return Err(unauthorized(&format!(
                "missing authentication credentials for REST request [{path}]"
            )));
        };
        let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
        let credentials = credentials.trim();
        if scheme.eq_ignore_ascii_case("ApiKey") {
            if self.config.api_keys.iter().any(|k| k == credentials) {
                return Ok(());
            }
            return Err(unauthorized(
                "unable to authenticate with provided credentials and anonymous access is not allowed for this request",
            ));
        }
        if scheme.eq_ignore_ascii_case("Basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credentials)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let (user, password) = decoded
                .as_deref()
                .and_then(|d| d.split_once(':'))
                .unwrap_or(("", ""));
            if self
                .config
                .basic_users
                .iter()
                .any(|(u, p)| u == user && p == password)
            {
                return Ok(());
            }
            return Err(unauthorized(&format!(
                "unable to authenticate user [{user}] for REST request [{path}]"
            )));
        }
        Err(unauthorized(&format!(
            "missing authentication credentials for REST request [{path}]"
        )))
    }

    /// Runs one `_bulk` request.
    fn bulk(&self, default_index: Option<&str>, request: &SinkRequest) -> Reply {
        let started = Instant::now();
        let media = request.media_type();
        let accepted = media.as_deref().is_some_and(|m| {
            matches!(
                m,
                "application/x-ndjson"
                    | "application/json"
                    | "application/vnd.elasticsearch+x-ndjson"
                    | "application/vnd.elasticsearch+json"
            )
        });
        if !accepted {
            let shown = request.header("content-type").unwrap_or("");
            return Reply::json(
                406,
                &json!({"error": format!("Content-Type header [{shown}] is not supported"), "status": 406}),
            );
        }
        let items = match parse_bulk(&request.body, default_index) {
            Ok(items) => items,
            Err(BulkError(status, kind, reason)) => return es_error(status, kind, &reason),
        };
        let mut state = lock(&self.state);
        let mut stored = 0;
        let results: Vec<Value> = items
            .into_iter()
            .map(|item| {
                let (result, was_stored) = self.execute(&mut state, item);
                stored += usize::from(was_stored);
                result
            })
            .collect();
        drop(state);
        let errors = results.iter().any(|r| {
            r.as_object()
                .and_then(|o| o.values().next())
                .is_some_and(|v| v.get("error").is_some())
        });
        Reply::json(
            200,
            &json!({
                "took": started.elapsed().as_millis() as u64,
                "errors": errors,
                "items": results,
            }),
        )
        .with_stored(stored)
    }

    /// One item's result, and whether it stored a document.
    fn execute(&self, state: &mut EsState, item: Item) -> (Value, bool) {
        let id = match &item.id {
            Some(id) => id.clone(),
            None => {
                state.next_auto_id += 1;
                format!("mock{:016}", state.next_auto_id)
            }
        };
        *state
            .attempts
            .entry((item.index.clone(), id.clone()))
            .or_default() += 1;
        let is_data_stream = self
            .config
            .data_stream_prefixes
            .iter()
            .any(|p| item.index.starts_with(p.as_str()));
        let fail = |status: u16, kind: &str, reason: String| {
            let error = json!({
                "type": kind,
                "reason": reason,
                "index_uuid": "mockindexuuid000000000",
                "shard": "0",
                "index": item.index,
            });
            let body = json!({"_index": item.index, "_id": id, "status": status, "error": error});
            (json!({ item.op.name(): body }), false)
        };
        if state.reject_items > 0 {
            state.reject_items -= 1;
            return fail(
                429,
                "es_rejected_execution_exception",
                "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=0, max_coordinating_and_primary_bytes=0] (mock: item rejection)".to_string(),
            );
        }
        if is_data_stream && item.op == Op::Index {
            return fail(
                400,
                "illegal_argument_exception",
                format!(
                    "only write ops with an op_type of create are allowed in data streams [{}]",
                    item.index
                ),
            );
        }
        let parsing = match self.config.flavor {
            EsFlavor::Elasticsearch8 => "document_parsing_exception",
            EsFlavor::OpenSearch => "mapper_parsing_exception",
        };
        let source = match item.source {
            Ok(source) => source,
            Err(reason) => return fail(400, parsing, reason),
        };
        if state.reject_documents.as_ref().is_some_and(|p| p(&source)) {
            return fail(
                400,
                parsing,
                format!("[1:1] failed to parse: document with id '{id}' rejected by the mapping (mock predicate)"),
            );
        }
        let index = state.indices.entry(item.index.clone()).or_default();
        let (version, result, status) = match (index.docs.get_mut(&id), item.op) {
            (Some(existing), Op::Create) => {
                let current = existing.version;
                return fail(
                    409,
                    "version_conflict_engine_exception",
                    format!(
                        "[{id}]: version conflict, document already exists (current version [{current}])"
                    ),
                );
            }
            (Some(existing), Op::Index) => {
                existing.version += 1;
                existing.source = source;
                (existing.version, "updated", 200)
            }
            (None, _) => {
                index.order.push(id.clone());
                index.docs.insert(id.clone(), Doc { source, version: 1 });
                (1, "created", 201)
            }
        };
        let seq_no = state.next_seq_no;
        state.next_seq_no += 1;
        let shown_index = if is_data_stream {
            format!(
                ".ds-{}-{}-000001",
                item.index,
                chrono::Utc::now().format("%Y.%m.%d")
            )
        } else {
            item.index.clone()
        };
        let body = json!({
            "_index": shown_index,
            "_id": id,
            "_version": version,
            "result": result,
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": seq_no,
            "_primary_term": 1,
            "status": status,
        });
        (json!({ item.op.name(): body }), true)
    }
}

/// The index named by a `_bulk` path: `Some(None)` for `/_bulk`, `Some(Some(index))` for
/// `/{index}/_bulk`, `None` for other paths.
fn bulk_index(path: &str) -> Option<Option<&str>> {
    let trimmed = path.trim_end_matches('/');
    if trimmed == "/_bulk" {
        return Some(None);
    }
    let index = trimmed.strip_prefix('/')?.strip_suffix("/_bulk")?;
    (!index.is_empty() && !index.contains('/')).then_some(Some(index))
}

/// Parses the NDJSON body into items; any malformed line fails the whole request, as in
/// Elasticsearch's `BulkRequestParser`.
fn parse_bulk(body: &[u8], default_index: Option<&str>) -> Result<Vec<Item>, BulkError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BulkError(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;".into(),
        ));
    }
    if body.last() != Some(&b'\n') {
        return Err(BulkError(
            400,
            "illegal_argument_exception",
            "The bulk request must be terminated by a newline [\\n]".into(),
        ));
    }
    let mut lines = body[..body.len() - 1]
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(n, line)| (n + 1, line.strip_suffix(b"\r").unwrap_or(line)));
    let mut items = Vec::new();
    while let Some((number, line)) = lines.next() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let action: Map<String, Value> = serde_json::from_slice(line).map_err(|err| {
            BulkError(
                400,
                "x_content_parse_exception",
                format!(
                    "[{number}:{}] Malformed action/metadata line [{number}]: {err}",
                    err.column()
                ),
            )
        })?;
        let mut entries = action.into_iter();
        let (Some((name, meta)), None) = (entries.next(), entries.next()) else {
            return Err(BulkError(
                400,
                "illegal_argument_exception",
                format!("Malformed action/metadata line [{number}], expected a simple value for field [_index] but found [START_OBJECT]"),
            ));
        };
        let op = match name.as_str() {
            "create" => Op::Create,
            "index" => Op::Index,
            "update" | "delete" => {
                return Err(BulkError(
                    400,
                    "illegal_argument_exception",
                    format!("mock Elasticsearch does not support the [{name}] action (line [{number}])"),
                ))
            }
            _ => {
                return Err(BulkError(
                    400,
                    "illegal_argument_exception",
                    format!("Malformed action/metadata line [{number}], expected one of [create, delete, index, update] but found [{name}]"),
                ))
            }
        };
        let Value::Object(meta) = meta else {
            return Err(BulkError(
                400,
                "illegal_argument_exception",
                format!("Malformed action/metadata line [{number}], expected START_OBJECT but found [VALUE]"),
            ));
        };
        if let Some(unknown) = meta.keys().find(|k| !ACTION_KEYS.contains(&k.as_str())) {
            return Err(BulkError(
                400,
                "illegal_argument_exception",
                format!(
                    "Action/metadata line [{number}] contains an unknown parameter [{unknown}]"
                ),
            ));
        }
        let index = match meta.get("_index") {
            Some(Value::String(index)) => index.clone(),
            None => match default_index {
                Some(index) => index.to_string(),
                None => {
                    return Err(BulkError(
                        400,
                        "action_request_validation_exception",
                        "Validation Failed: 1: index is missing;".into(),
                    ))
                }
            },
            Some(_) => {
                return Err(BulkError(
                    400,
                    "illegal_argument_exception",
                    format!("Malformed action/metadata line [{number}], [_index] must be a string"),
                ))
            }
        };
        let id = match meta.get("_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(other) => Some(other.to_string()),
        };
        let Some((source_number, source_line)) = lines.next() else {
            return Err(BulkError(
                400,
                "action_request_validation_exception",
                format!(
                    "Validation Failed: 1: source is missing for the action on line [{number}];"
                ),
            ));
        };
        let source = match serde_json::from_slice::<Value>(source_line) {
            Ok(Value::Object(map)) => Ok(Value::Object(map)),
            Ok(_) => Err(format!(
                "[{source_number}:1] failed to parse: the document on line [{source_number}] is not an object"
            )),
            Err(err) => Err(format!(
                "[{source_number}:{}] failed to parse: {err}",
                err.column()
            )),
        };
        items.push(Item {
            op,
            index,
            id,
            source,
        });
    }
    if items.is_empty() {
        return Err(BulkError(
            400,
            "action_request_validation_exception",
            "Validation Failed: 1: no requests added;".into(),
        ));
    }
    Ok(items)
}

/// Elasticsearch's error envelope.
fn es_error(status: u16, kind: &str, reason: &str) -> Reply {
    let cause = json!({"type": kind, "reason": reason});
    Reply::json(
        status,
        &json!({"error": {"root_cause": [cause], "type": kind, "reason": reason}, "status": status}),
    )
}

/// The 401 of Elasticsearch security, with its `WWW-Authenticate` challenges.
fn unauthorized(reason: &str) -> Reply {
    let challenges = [r#"Basic realm="security", charset="UTF-8""#, "ApiKey"];
    let cause = json!({
        "type": "security_exception",
        "reason": reason,
        "header": {"WWW-Authenticate": challenges},
    });
    let mut error = cause.clone();
    if let Value::Object(map) = &mut error {
        map.insert("root_cause".into(), json!([cause]));
    }
    let mut reply = Reply::json(401, &json!({"error": error, "status": 401}));
    for challenge in challenges {
        reply = reply.with_header("WWW-Authenticate", challenge);
    }
    reply
}

/// `GET /`: what clients read to learn the version.
fn cluster_info() -> Reply {
    Reply::json(
        200,
        &json!({
            "name": "mock-node",
            "cluster_name": "mock",
            "cluster_uuid": "mockclusteruuid0000000",
            "version": {"number": "8.15.0", "build_flavor": "default", "lucene_version": "9.11.1",
                        "minimum_wire_compatibility_version": "7.17.0",
                        "minimum_index_compatibility_version": "7.0.0"},
            "tagline": "You Know, for Search",
        }),
    )
}

fn no_handler(request: &SinkRequest) -> Reply {
    Reply::json(
        400,
        &json!({
            "error": format!("no handler found for uri [{}] and method [{}]", request.path, request.method),
        }),
    )
}

/// Inspection and steering of a mock Elasticsearch.
impl Receiver<Elasticsearch> {
    /// Documents of `index` (a data stream's name for data streams) as `(id, source)`, in
    /// first-write order, with their latest source.
    pub fn documents(&self, index: &str) -> Vec<(String, Value)> {
        let state = lock(&self.protocol().state);
        state.indices.get(index).map_or_else(Vec::new, |i| {
            i.order
                .iter()
                .filter_map(|id| i.docs.get(id).map(|d| (id.clone(), d.source.clone())))
                .collect()
        })
    }

    /// Every stored document as `(index, id, source)`, by index name, then first-write order.
    pub fn all_documents(&self) -> Vec<(String, String, Value)> {
        let state = lock(&self.protocol().state);
        state
            .indices
            .iter()
            .flat_map(|(name, i)| {
                i.order.iter().filter_map(move |id| {
                    i.docs
                        .get(id)
                        .map(|d| (name.clone(), id.clone(), d.source.clone()))
                })
            })
            .collect()
    }

    /// Names of the indices that hold at least one document, sorted.
    pub fn indices(&self) -> Vec<String> {
        lock(&self.protocol().state)
            .indices
            .keys()
            .cloned()
            .collect()
    }

    /// Number of stored documents over all indices.
    pub fn document_count(&self) -> usize {
        lock(&self.protocol().state)
            .indices
            .values()
            .map(|i| i.docs.len())
            .sum()
    }

    /// The stored version of a document (1 after a create, +1 per `index` overwrite).
    pub fn version(&self, index: &str, id: &str) -> Option<u64> {
        lock(&self.protocol().state)
            .indices
            .get(index)
            .and_then(|i| i.docs.get(id))
            .map(|d| d.version)
    }

    /// How many `create`/`index` actions named `(index, id)`, whatever their outcome (to prove
    /// a retry was sent without being indexed twice).
    pub fn create_attempts(&self, index: &str, id: &str) -> usize {
        lock(&self.protocol().state)
            .attempts
            .get(&(index.to_string(), id.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Number of `_bulk` requests received (answered or reset, faults included).
    pub fn bulk_requests(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| bulk_index(&r.path).is_some())
            .count()
    }

    /// The next `n` items (over all requests) fail with 429 `es_rejected_execution_exception`
    /// and are not stored.
    pub fn reject_next_items(&self, n: usize) {
        lock(&self.protocol().state).reject_items = n;
    }

    /// From now on, every document for which `predicate` holds fails with 400
    /// `document_parsing_exception` (or `mapper_parsing_exception`, [`EsFlavor`]) and is never
    /// stored.
    pub fn reject_documents(&self, predicate: impl Fn(&Value) -> bool + Send + Sync + 'static) {
        lock(&self.protocol().state).reject_documents = Some(Arc::new(predicate));
    }

    /// [`Self::reject_documents`] for every source whose JSON text contains `marker`.
    pub fn reject_documents_containing(&self, marker: &str) {
        let marker = marker.to_string();
        self.reject_documents(move |source| source.to_string().contains(&marker));
    }

    /// Ends [`Self::reject_documents`].
    pub fn accept_all_documents(&self) {
        lock(&self.protocol().state).reject_documents = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_paths_name_their_default_index() {
        assert_eq!(bulk_index("/_bulk"), Some(None));
        assert_eq!(bulk_index("/logs/_bulk"), Some(Some("logs")));
        assert_eq!(bulk_index("/a/b/_bulk"), None);
        assert_eq!(bulk_index("/_search"), None);
    }

    #[test]
    fn parser_reports_the_missing_newline_and_unknown_actions() {
        let Err(BulkError(400, kind, _)) = parse_bulk(b"{\"create\":{}}\n{}", Some("x")) else {
            panic!("no newline must fail");
        };
        assert_eq!(kind, "illegal_argument_exception");
        let Err(BulkError(400, _, reason)) = parse_bulk(b"{\"upsert\":{}}\n{}\n", Some("x")) else {
            panic!("unknown action must fail");
        };
        assert!(reason.contains("expected one of"), "{reason}");
        let items = parse_bulk(b"{\"create\":{\"_id\":\"1\"}}\n{\"a\":1}\n", Some("x")).unwrap();
        assert_eq!(
            (items[0].index.as_str(), items[0].id.as_deref()),
            ("x", Some("1"))
        );
    }
}
