//! The checks a batch from a component passes before anything of it is delivered: bounded
//! size, every event one line holding one JSON object, and every event owned, where its shape
//! says, by the polled tenant and log type. A broken or hostile component can thus neither
//! corrupt the NDJSON stream, flood the sink, nor pass its events off as another tenant's.

use std::borrow::Cow;

use crate::log_type::LogType;

/// Most events one batch may carry.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Most bytes one batch may carry (events and checkpoint).
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// The shape of the events a component emits: what the host must know of it to check whose
/// an event is. A new output shape (ECS, OCSF) is a new variant saying where its events name
/// their tenant and log type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// `{"log_type", "tenant", "event_time", "event_id", "record"}`: the owner at the top.
    #[default]
    Raw,
    /// Elastic Common Schema: the tenant in `organization.id`, the log type in
    /// `event.dataset` (`mimecast.ttp_url_logs`, `mimecast.ttp_ip_logs`, `mimecast.ttp_ap_logs`).
    Ecs,
    /// OCSF: the tenant in `metadata.tenant_uid`, the log type in `metadata.log_name`.
    Ocsf,
}

/// Whose an event says it is. Unset fields are `None`.
struct Owner<'a> {
    tenant: Option<Cow<'a, str>>,
    log_type: Option<Cow<'a, str>>,
}

/// The owner fields of a [`Shape::Raw`] event; everything else is skipped unread, and a field
/// given twice makes the event unreadable (so no reader can see another owner than the host).
#[derive(serde::Deserialize)]
struct RawOwner<'a> {
    #[serde(borrow, default)]
    tenant: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    log_type: Option<Cow<'a, str>>,
}

/// The owner fields of a [`Shape::Ecs`] event (a field given twice makes it unreadable; other
/// spellings, such as a dotted `"organization.id"`, are refused by [`foreign_owner_key`]).
#[derive(serde::Deserialize)]
struct EcsOwner<'a> {
    #[serde(borrow, default)]
    organization: Option<EcsOrganization<'a>>,
    #[serde(borrow, default)]
    event: Option<EcsEvent<'a>>,
}

#[derive(serde::Deserialize)]
struct EcsOrganization<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct EcsEvent<'a> {
    #[serde(borrow, default)]
    dataset: Option<Cow<'a, str>>,
}

/// The owner fields of a [`Shape::Ocsf`] event (as for ECS).
#[derive(serde::Deserialize)]
struct OcsfOwner<'a> {
    #[serde(borrow, default)]
    metadata: Option<OcsfMetadata<'a>>,
}

#[derive(serde::Deserialize)]
struct OcsfMetadata<'a> {
    #[serde(borrow, default)]
    tenant_uid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    log_name: Option<Cow<'a, str>>,
}

impl Shape {
    /// Reads whose `event` (one JSON object) says it is; `None` if it is not such an object,
    /// its owner fields are not strings, or it gives an owner field twice.
    fn owner(self, event: &str) -> Option<Owner<'_>> {
        match self {
            Shape::Raw => serde_json::from_str::<RawOwner<'_>>(event)
                .ok()
                .map(|o| Owner {
                    tenant: o.tenant,
                    log_type: o.log_type,
                }),
            Shape::Ecs => serde_json::from_str::<EcsOwner<'_>>(event)
                .ok()
                .map(|o| Owner {
                    tenant: o.organization.and_then(|g| g.id),
                    log_type: o.event.and_then(|e| e.dataset),
                }),
            Shape::Ocsf => serde_json::from_str::<OcsfOwner<'_>>(event).ok().map(|o| {
                let (tenant, log_type) = o
                    .metadata
                    .map_or((None, None), |m| (m.tenant_uid, m.log_name));
                Owner { tenant, log_type }
            }),
        }
    }

    /// The tenant of a line that is an event of this shape (its owner fields both set, the log
    /// type one this shape writes), whatever the tenant; `None` for anything else.
    pub fn event_tenant(self, line: &str) -> Option<String> {
        let owner = self.owner(line)?;
        let log_type = owner.log_type?;
        LogType::ALL
            .iter()
            .any(|&t| self.log_type_value(t) == log_type)
            .then(|| owner.tenant.map(Cow::into_owned))
            .flatten()
    }

    /// The value this shape's events carry for `log_type`.
    fn log_type_value(self, log_type: LogType) -> &'static str {
        match self {
            Shape::Raw | Shape::Ocsf => log_type.name(),
            Shape::Ecs => match log_type {
                LogType::Url => "mimecast.ttp_url_logs",
                LogType::Impersonation => "mimecast.ttp_ip_logs",
                LogType::Attachment => "mimecast.ttp_ap_logs",
            },
        }
    }
}

/// The batch a tenant's poll of one log type is expected to return.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The polled tenant's id.
    pub tenant: &'a str,
    /// The polled log type.
    pub log_type: LogType,
    /// The shape the tenant's events are configured to have.
    pub shape: Shape,
}

/// Checks a batch from the component before anything of it is delivered: bounded size, every
/// event one line holding one JSON object, and every event's `tenant` and `log_type` those of
/// the poll, so a broken or hostile component can neither corrupt the NDJSON stream, flood the
/// sink, nor pass its events off as another tenant's or log type's.
///
/// # Errors
/// What is wrong, naming the first offending event.
pub fn check_batch(
    events: &[String],
    checkpoint: &str,
    expected: Expected<'_>,
) -> Result<(), BatchRejected> {
    if events.len() > MAX_BATCH_EVENTS {
        return Err(BatchRejected::TooManyEvents(events.len()));
    }
    let bytes: usize = events.iter().map(String::len).sum::<usize>() + checkpoint.len();
    if bytes > MAX_BATCH_BYTES {
        return Err(BatchRejected::TooManyBytes(bytes));
    }
    for (i, e) in events.iter().enumerate() {
        check_event(e, expected).map_err(|problem| BatchRejected::Event { index: i, problem })?;
    }
    Ok(())
}

/// Why a component's batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchRejected {
    /// More events than a batch may hold.
    #[error("the batch has {0} events; at most {MAX_BATCH_EVENTS} are accepted")]
    TooManyEvents(usize),
    /// More bytes (events and checkpoint) than a batch may hold.
    #[error("the batch has {0} bytes; at most {MAX_BATCH_BYTES} are accepted")]
    TooManyBytes(usize),
    /// One event is not acceptable.
    #[error("event {index} of the batch {problem}")]
    Event {
        /// Its place in the batch.
        index: usize,
        /// What is wrong with it.
        problem: BadEvent,
    },
}

/// What is wrong with one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadEvent {
    /// A key that names an owner the way another shape does, or this shape's owner in another
    /// spelling (case, dots, `data_stream`): a reader of that shape could see another owner.
    #[error("has the key {key:?}, which names an owner the way only another output shape or spelling does")]
    ForeignOwnerKey {
        /// The key, quoted and cut short.
        key: String,
    },
    /// Not one line, or not a JSON object (or its shape's owner fields cannot be read).
    #[error("is not a one-line JSON object")]
    NotOneLineObject,
    /// It names another tenant, or none.
    #[error("has tenant {found} instead of {expected:?}")]
    Tenant {
        /// What it names, quoted and cut short.
        found: String,
        /// The tenant polled.
        expected: String,
    },
    /// It names another log type, or none.
    #[error("has log_type {found} instead of {expected:?}")]
    LogType {
        /// What it names, quoted and cut short.
        found: String,
        /// The log type polled, as the shape writes it.
        expected: String,
    },
}

/// Checks one event: a one-line JSON object whose tenant and log type, where its shape names
/// them, are the expected ones.
fn check_event(event: &str, expected: Expected<'_>) -> Result<(), BadEvent> {
    let one_line = !event.contains(['\n', '\r']);
    let owner = (event.starts_with('{') && event.ends_with('}'))
        .then(|| expected.shape.owner(event))
        .flatten();
    let Some(owner) = owner.filter(|_| one_line) else {
        return Err(BadEvent::NotOneLineObject);
    };
    if let Some(key) = foreign_owner_key(event, expected.shape) {
        return Err(BadEvent::ForeignOwnerKey { key });
    }
    if owner.tenant.as_deref() != Some(expected.tenant) {
        return Err(BadEvent::Tenant {
            found: shown(owner.tenant.as_deref()),
            expected: expected.tenant.to_string(),
        });
    }
    let log_type = expected.shape.log_type_value(expected.log_type);
    if owner.log_type.as_deref() != Some(log_type) {
        return Err(BadEvent::LogType {
            found: shown(owner.log_type.as_deref()),
            expected: log_type.to_string(),
        });
    }
    Ok(())
}

/// The top-level keys that name an event's owner, by shape, with the keys inside them that do.
/// The shapes share none, so an event may carry only its own shape's.
const OWNER_KEYS: [(&str, Shape, &[&str]); 5] = [
    ("tenant", Shape::Raw, &[]),
    ("log_type", Shape::Raw, &[]),
    ("organization", Shape::Ecs, &["id"]),
    ("event", Shape::Ecs, &["dataset"]),
    ("metadata", Shape::Ocsf, &["tenant_uid", "log_name"]),
];

/// Top-level names no shape writes that readers route by: Elasticsearch data streams pick
/// their target from `data_stream.*`, where tenants are commonly kept apart.
const ROUTING_KEYS: [&str; 1] = ["data_stream"];

/// `key` folded for a comparison without regard to case, as readers that match keys so do
/// (Go's `encoding/json`, Hive's JSON SerDe): `Tenant`, `TENANT` and `ſ` for `s` alike.
fn fold(key: &str) -> String {
    key.to_uppercase().to_lowercase()
}

/// The first key of `event` (a JSON object) by which some reader could take it for another
/// owner than the one `shape` checks: another shape's owner key, this shape's in another
/// spelling (other case, dotted), a routing key, or such a spelling inside this shape's owner
/// objects. `None` when there is none (or `event` is no object: checked elsewhere).
fn foreign_owner_key(event: &str, shape: Shape) -> Option<String> {
    let keys = serde_json::from_str::<TopKeys>(event).ok()?;
    let cut = |k: &str| k.chars().take(64).collect::<String>();
    for key in &keys.top {
        let root = fold(key.split('.').next().unwrap_or(key));
        if ROUTING_KEYS.contains(&root.as_str()) {
            return Some(cut(key));
        }
        let Some((exact, owner_shape, _)) = OWNER_KEYS.iter().find(|(k, _, _)| *k == root) else {
            continue;
        };
        if *owner_shape != shape || key != exact {
            return Some(cut(key));
        }
    }
    for (root, inner) in &keys.owner_objects {
        let Some((_, owner_shape, leaves)) = OWNER_KEYS.iter().find(|(k, _, _)| k == root) else {
            continue;
        };
        if *owner_shape != shape {
            continue;
        }
        for key in inner {
            let leaf = fold(key.split('.').next().unwrap_or(key));
            if leaves.iter().any(|l| *l == leaf && key != l) {
                return Some(cut(key));
            }
        }
    }
    None
}

/// An event's top-level keys, and the keys of its objects under an owner key spelt exactly.
#[derive(Default)]
struct TopKeys {
    top: Vec<String>,
    owner_objects: Vec<(String, Vec<String>)>,
}

impl<'de> serde::Deserialize<'de> for TopKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TopKeys, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = TopKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TopKeys, A::Error> {
                let mut keys = TopKeys::default();
                while let Some(key) = map.next_key::<String>()? {
                    if OWNER_KEYS
                        .iter()
                        .any(|(k, _, leaves)| *k == key && !leaves.is_empty())
                    {
                        let value: serde_json::Value = map.next_value()?;
                        let inner = value
                            .as_object()
                            .map(|o| o.keys().cloned().collect())
                            .unwrap_or_default();
                        keys.owner_objects.push((key.clone(), inner));
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                    keys.top.push(key);
                }
                Ok(keys)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A field value from a guest, quoted and cut short for an error message.
fn shown(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("{:?}", v.chars().take(64).collect::<String>()),
        None => "(none)".to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const ACME_URL: Expected<'static> = Expected {
        tenant: "acme",
        log_type: LogType::Url,
        shape: Shape::Raw,
    };
    const GOOD: &str = r#"{"log_type":"url","tenant":"acme","record":{"a":1}}"#;

    #[test]
    fn malformed_batches_are_refused() {
        assert!(check_batch(&[GOOD.into()], "cp", ACME_URL).is_ok());
        for bad in ["not json", "{\"a\":\n1}", "[1]", "{\"a\":", ""] {
            let err = check_batch(&[GOOD.into(), bad.into()], "cp", ACME_URL)
                .unwrap_err()
                .to_string();
            assert!(err.contains("event 1"), "{bad}: {err}");
        }
        let many = vec![GOOD.to_string(); MAX_BATCH_EVENTS + 1];
        assert!(check_batch(&many, "", ACME_URL).is_err());
    }

    #[test]
    fn events_of_another_tenant_or_log_type_are_refused() {
        let escaped = r#"{"log_type":"u\u0072l","tenant":"acme"}"#;
        assert!(check_batch(&[escaped.into()], "cp", ACME_URL).is_ok());
        for (bad, needle) in [
            (r#"{"log_type":"url","tenant":"other"}"#, "tenant \"other\""),
            (r#"{"log_type":"url"}"#, "tenant (none)"),
            (
                r#"{"log_type":"url","tenant":1}"#,
                "not a one-line JSON object",
            ),
            (
                r#"{"log_type":"attachment","tenant":"acme"}"#,
                "log_type \"attachment\"",
            ),
            (r#"{"tenant":"acme"}"#, "log_type (none)"),
        ] {
            let err = check_batch(&[GOOD.into(), bad.into()], "cp", ACME_URL)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("event 1") && err.contains(needle),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_owner_field_given_twice_is_refused() {
        for twice in [
            r#"{"log_type":"url","tenant":"acme","tenant":"other"}"#,
            r#"{"log_type":"url","tenant":"other","tenant":"acme"}"#,
            r#"{"log_type":"url","log_type":"url","tenant":"acme"}"#,
        ] {
            assert!(
                check_batch(&[twice.into()], "cp", ACME_URL).is_err(),
                "{twice}"
            );
        }
    }

    #[test]
    fn ecs_and_ocsf_events_are_owned_where_their_shape_says() {
        let ecs = Expected {
            shape: Shape::Ecs,
            ..ACME_URL
        };
        let good = r#"{"@timestamp":"x","event":{"dataset":"mimecast.ttp_url_logs","id":"1"},"organization":{"id":"acme"}}"#;
        assert!(check_batch(&[good.into()], "cp", ecs).is_ok());
        for bad in [
            // Another tenant, another log type, none.
            r#"{"event":{"dataset":"mimecast.ttp_url_logs"},"organization":{"id":"other"}}"#,
            r#"{"event":{"dataset":"mimecast.ttp_ap_logs"},"organization":{"id":"acme"}}"#,
            r#"{"event":{"dataset":"mimecast.ttp_url_logs"}}"#,
            // A raw event is not an ECS one.
            GOOD,
            // The same field spelt a second way, which Elasticsearch would merge.
            r#"{"event":{"dataset":"mimecast.ttp_url_logs"},"organization":{"id":"acme"},"organization.id":"other"}"#,
            r#"{"event":{"dataset":"mimecast.ttp_url_logs"},"event.dataset":"x","organization":{"id":"acme"}}"#,
            r#"{"event":{"dataset":"mimecast.ttp_url_logs"},"organization":{"id":"acme","id":"other"}}"#,
        ] {
            assert!(check_batch(&[bad.into()], "cp", ecs).is_err(), "{bad}");
        }
        let ocsf = Expected {
            shape: Shape::Ocsf,
            ..ACME_URL
        };
        let good =
            r#"{"class_uid":4009,"metadata":{"log_name":"url","tenant_uid":"acme","uid":"1"}}"#;
        assert!(check_batch(&[good.into()], "cp", ocsf).is_ok());
        for bad in [
            r#"{"metadata":{"log_name":"url","tenant_uid":"other"}}"#,
            r#"{"metadata":{"log_name":"attachment","tenant_uid":"acme"}}"#,
            r#"{"metadata":{"log_name":"url"}}"#,
            r#"{"metadata":{"log_name":"url","tenant_uid":"acme"},"metadata.tenant_uid":"other"}"#,
            GOOD,
        ] {
            assert!(check_batch(&[bad.into()], "cp", ocsf).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_event_naming_an_owner_the_way_another_shape_or_spelling_does_is_refused() {
        let ecs = Expected {
            shape: Shape::Ecs,
            ..ACME_URL
        };
        let ocsf = Expected {
            shape: Shape::Ocsf,
            ..ACME_URL
        };
        let ecs_doc =
            r#"{"event":{"dataset":"mimecast.ttp_url_logs"},"organization":{"id":"acme"}"#;
        let ocsf_doc = r#"{"class_uid":4009,"metadata":{"log_name":"url","tenant_uid":"acme"}"#;
        for (expected, bad) in [
            // Mixed shapes: a raw reader would take these for another tenant's.
            (ecs, format!(r#"{ecs_doc},"tenant":"globex","log_type":"url"}}"#)),
            (ocsf, format!(r#"{ocsf_doc},"tenant":"globex"}}"#)),
            (ocsf, format!(r#"{ocsf_doc},"organization":{{"id":"globex"}}}}"#)),
            (ecs, format!(r#"{ecs_doc},"metadata":{{"tenant_uid":"globex"}}}}"#)),
            (
                ACME_URL,
                r#"{"log_type":"url","tenant":"acme","organization":{"id":"globex"}}"#.into(),
            ),
            // Case-insensitive readers.
            (ACME_URL, r#"{"log_type":"url","tenant":"acme","Tenant":"globex"}"#.into()),
            (ocsf, format!(r#"{ocsf_doc},"METADATA":{{"tenant_uid":"globex"}}}}"#)),
            (
                ocsf,
                r#"{"metadata":{"log_name":"url","tenant_uid":"acme","Tenant_Uid":"globex"}}"#
                    .into(),
            ),
            (
                ecs,
                r#"{"event":{"dataset":"mimecast.ttp_url_logs","data\u017fet":"x"},"organization":{"id":"acme"}}"#
                    .into(),
            ),
            // Routing: an Elasticsearch data stream of another tenant.
            (ecs, format!(r#"{ecs_doc},"data_stream":{{"namespace":"globex"}}}}"#)),
            (ecs, format!(r#"{ecs_doc},"data_stream.namespace":"globex"}}"#)),
        ] {
            let err = check_batch(std::slice::from_ref(&bad), "cp", expected)
                .expect_err(&bad)
                .to_string();
            assert!(err.contains("names an owner"), "{bad}: {err}");
        }
        // Other keys in the owner objects are fine.
        let fine = r#"{"event":{"dataset":"mimecast.ttp_url_logs","kind":"alert","id":"1"},"organization":{"id":"acme"},"mimecast":{"tenant":"x"}}"#;
        assert!(check_batch(&[fine.into()], "cp", ecs).is_ok());
    }
}
