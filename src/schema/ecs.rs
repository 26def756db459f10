//! One Mimecast TTP record as an Elastic Common Schema document, close to Elastic's own
//! `mimecast` integration (data streams `ttp_url_logs`, `ttp_ip_logs`, `ttp_ap_logs`) and
//! filling its gaps: `event.kind`, `event.type`, `threat.*` and `file.*`. Every record member not
//! mapped to an ECS field stays under `mimecast.<original name>`, so nothing is lost. Pure.
//! Tables and reasons: `docs/schemas.md`; checked against the official ECS field list in
//! `tests/fixtures/schema/ecs-9.4.0-flat.json`.

use serde_json::{Map, Value};

use super::url_parts::UrlParts;
use super::{
    extension, in_range, is_ip, is_sha256, members, push_unique, put, take, take_if, take_time,
    to_line, verdict, Options, Record, Verdict, LABEL_REPAIRED, LABEL_VERBATIM,
};
use crate::api::timefmt;
use crate::log_type::LogType;

/// The ECS release the documents follow (`ecs.version`).
pub const ECS_VERSION: &str = "9.4.0";

/// `event.module` of every document, as in Elastic's integration.
pub const MODULE: &str = "mimecast";

/// `event.dataset`: the dataset of Elastic's integration for the log type, so dashboards and
/// rules written for it apply. The host reads it, with `organization.id`, to check ownership.
pub fn dataset(log_type: LogType) -> &'static str {
    match log_type {
        LogType::UrlProtect => "mimecast.ttp_url_logs",
        LogType::ImpersonationProtect => "mimecast.ttp_ip_logs",
        LogType::AttachmentProtect => "mimecast.ttp_ap_logs",
    }
}

/// The record as one line of ECS JSON. Never fails: a member with an unexpected type or value
/// stays under `mimecast.*`, and a record serde_json cannot read is delivered in
/// `event.original` with the tag [`LABEL_VERBATIM`].
pub fn document(r: &Record, o: Options) -> String {
    to_line(build(r, o))
}

/// The document as a JSON object (what [`document`] serialises).
fn build(r: &Record, o: Options) -> Map<String, Value> {
    let mut doc = Map::new();
    put(&mut doc, "ecs.version", Value::from(ECS_VERSION));
    put(&mut doc, "event.module", Value::from(MODULE));
    put(&mut doc, "event.dataset", Value::from(dataset(r.log_type)));
    put(&mut doc, "event.id", Value::from(r.event_id));
    put(&mut doc, "organization.id", Value::from(r.tenant));
    put(&mut doc, "observer.vendor", Value::from("Mimecast"));
    put(
        &mut doc,
        "observer.product",
        Value::from("Mimecast Email Security"),
    );
    put(&mut doc, "event.type", Value::from(vec!["info"]));

    let parsed = members(r.raw);
    let verdict = parsed
        .as_ref()
        .map_or(Verdict::Unknown, |m| verdict(r.log_type, m));
    let malicious = verdict == Verdict::Malicious;
    put(
        &mut doc,
        "event.kind",
        Value::from(if malicious { "alert" } else { "event" }),
    );
    // ECS expects `event.type: info` for both `email` and `malware`; Impersonation Protect is
    // social engineering, not malware, so it stays `email` alone.
    let mut category = vec!["email"];
    if malicious && r.log_type != LogType::ImpersonationProtect {
        category.push("malware");
    }
    put(&mut doc, "event.category", Value::from(category));

    let time = match parsed {
        Some(mut rest) => {
            // The time member is mapped only when it reads as a time; else it is kept as sent.
            let time = take_time(&mut rest, r.log_type, r.time);
            match r.log_type {
                LogType::UrlProtect => url_protect(&mut doc, &mut rest),
                LogType::ImpersonationProtect => impersonation(&mut doc, &mut rest),
                LogType::AttachmentProtect => attachment(&mut doc, &mut rest, verdict),
            }
            if malicious {
                threat(&mut doc, r.log_type);
            }
            if !rest.is_empty() {
                doc.insert(MODULE.to_string(), Value::Object(rest));
            }
            time
        }
        None => {
            put(&mut doc, "event.original", Value::from(r.raw.get()));
            push_unique(&mut doc, "tags", LABEL_VERBATIM);
            r.time.and_then(in_range)
        }
    };
    if let Some(t) = time.and_then(timefmt::from_unix) {
        put(
            &mut doc,
            "@timestamp",
            Value::from(timefmt::format_rfc3339(t)),
        );
    }
    if o.original {
        put(&mut doc, "event.original", Value::from(r.raw.get()));
    }
    if r.repaired {
        push_unique(&mut doc, "tags", LABEL_REPAIRED);
    }
    doc
}

/// URL Protect click (reference §3.1).
fn url_protect(doc: &mut Map<String, Value>, rest: &mut Map<String, Value>) {
    if let Some(url) = take(rest, "url") {
        let parts = UrlParts::parse(&url);
        let fields = [
            ("url.scheme", parts.scheme),
            ("url.domain", parts.host),
            ("url.path", parts.path),
            ("url.query", parts.query),
            ("url.fragment", parts.fragment),
            ("url.extension", parts.extension()),
        ];
        for (path, value) in fields {
            if let Some(v) = value {
                put(doc, path, Value::from(v));
            }
        }
        if let Some(port) = parts.port {
            put(doc, "url.port", Value::from(port));
        }
        put(doc, "url.original", Value::from(url));
    }
    if let Some(user) = take(rest, "userEmailAddress") {
        put(doc, "user.email", Value::from(user.as_str()));
        address(doc, "email.to.address", &user);
    }
    sender_and_message(doc, rest, "fromUserEmailAddress", None);
    common(doc, rest, "ttpDefinition", "action");
    source_ip(doc, rest, "sendingIp");
}

/// Impersonation Protect (reference §3.2). `id` (a retrieval token) stays `mimecast.id`:
/// `event.id` is the collector's stable event id.
fn impersonation(doc: &mut Map<String, Value>, rest: &mut Map<String, Value>) {
    sender_and_message(doc, rest, "senderAddress", Some("recipientAddress"));
    common(doc, rest, "definition", "action");
    source_ip(doc, rest, "senderIpAddress");
}

/// Attachment Protect (reference §3.3).
fn attachment(doc: &mut Map<String, Value>, rest: &mut Map<String, Value>, verdict: Verdict) {
    sender_and_message(doc, rest, "senderAddress", Some("recipientAddress"));
    common(doc, rest, "definition", "actionTriggered");
    let mut file = Map::new();
    if let Some(name) = take(rest, "fileName") {
        if let Some(ext) = extension(&name) {
            put(&mut file, "extension", Value::from(ext));
        }
        put(&mut file, "name", Value::from(name));
    }
    if let Some(mime) = take(rest, "fileType") {
        put(&mut file, "mime_type", Value::from(mime));
    }
    if let Some(hash) = take_if(rest, "fileHash", is_sha256) {
        push_unique(doc, "related.hash", &hash);
        put(&mut file, "hash.sha256", Value::from(hash));
    }
    if !file.is_empty() {
        let attachment = Value::Object(Map::from_iter([(
            "file".to_string(),
            Value::Object(file.clone()),
        )]));
        put(doc, "email.attachments", Value::Array(vec![attachment]));
        doc.insert("file".to_string(), Value::Object(file));
    }
    // The sandbox either finished (whatever it found) or did not.
    let outcome = match verdict {
        Verdict::Malicious | Verdict::Clean => Some("success"),
        Verdict::Failed => Some("failure"),
        Verdict::Unknown => None,
    };
    if let Some(outcome) = outcome {
        put(doc, "event.outcome", Value::from(outcome));
    }
}

/// Sender, recipient (when the log type has one), subject, Message-ID and route.
fn sender_and_message(
    doc: &mut Map<String, Value>,
    rest: &mut Map<String, Value>,
    sender: &str,
    recipient: Option<&str>,
) {
    if let Some(from) = take(rest, sender) {
        address(doc, "email.from.address", &from);
    }
    if let Some(to) = recipient.and_then(|key| take(rest, key)) {
        address(doc, "email.to.address", &to);
    }
    for (key, path) in [
        ("subject", "email.subject"),
        ("messageId", "email.message_id"),
        ("route", "email.direction"),
    ] {
        if let Some(v) = take(rest, key) {
            put(doc, path, Value::from(v));
        }
    }
}

/// The policy (`rule.name`) and the action taken (`event.action`, as sent).
fn common(doc: &mut Map<String, Value>, rest: &mut Map<String, Value>, rule: &str, action: &str) {
    if let Some(name) = take(rest, rule) {
        put(doc, "rule.name", Value::from(name));
    }
    if let Some(action) = take(rest, action) {
        put(doc, "event.action", Value::from(action));
    }
}

/// An address to the array at `path`, and to `related.user` when it looks like one (Attachment
/// Protect's null sender is `<>`).
fn address(doc: &mut Map<String, Value>, path: &str, address: &str) {
    push_unique(doc, path, address);
    if address.contains('@') {
        push_unique(doc, "related.user", address);
    }
}

/// `source.ip` and `related.ip` when the member is an address; text such as `Internal IP`
/// stays under `mimecast.*`.
fn source_ip(doc: &mut Map<String, Value>, rest: &mut Map<String, Value>, key: &str) {
    if let Some(ip) = take_if(rest, key, is_ip) {
        push_unique(doc, "related.ip", &ip);
        put(doc, "source.ip", Value::from(ip));
    }
}

/// `threat.*` for a malicious record: the MITRE ATT&CK technique the control stopped or saw.
fn threat(doc: &mut Map<String, Value>, log_type: LogType) {
    let (tactic, technique, sub) = match log_type {
        LogType::UrlProtect => (
            ("TA0001", "Initial Access"),
            ("T1566", "Phishing"),
            Some(("T1566.002", "Spearphishing Link")),
        ),
        LogType::AttachmentProtect => (
            ("TA0001", "Initial Access"),
            ("T1566", "Phishing"),
            Some(("T1566.001", "Spearphishing Attachment")),
        ),
        LogType::ImpersonationProtect => (
            ("TA0005", "Defense Evasion"),
            ("T1656", "Impersonation"),
            None,
        ),
    };
    let one = |s: &str| Value::from(vec![s]);
    let reference = |id: &str| {
        let path = id.replace('.', "/");
        let kind = if id.starts_with("TA") {
            "tactics"
        } else {
            "techniques"
        };
        Value::from(vec![format!("https://attack.mitre.org/{kind}/{path}/")])
    };
    put(doc, "threat.framework", Value::from("MITRE ATT&CK"));
    put(doc, "threat.tactic.id", one(tactic.0));
    put(doc, "threat.tactic.name", one(tactic.1));
    put(doc, "threat.tactic.reference", reference(tactic.0));
    put(doc, "threat.technique.id", one(technique.0));
    put(doc, "threat.technique.name", one(technique.1));
    put(doc, "threat.technique.reference", reference(technique.0));
    if let Some((id, name)) = sub {
        put(doc, "threat.technique.subtechnique.id", one(id));
        put(doc, "threat.technique.subtechnique.name", one(name));
        put(
            doc,
            "threat.technique.subtechnique.reference",
            reference(id),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schema::samples::{self, Sample, EVENT_ID, TENANT};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::OnceLock;

    /// The official ECS 9.4.0 field list (see `tests/fixtures/schema/README.md`).
    fn fields() -> &'static Map<String, Value> {
        static FIELDS: OnceLock<Map<String, Value>> = OnceLock::new();
        FIELDS.get_or_init(|| {
            serde_json::from_str(include_str!(
                "../../tests/fixtures/schema/ecs-9.4.0-flat.json"
            ))
            .unwrap()
        })
    }

    /// Every way `doc` differs from the ECS definitions: unknown fields, wrong types, arrays
    /// where ECS has none, values outside `allowed`, an `event.type` its category does not
    /// expect. `mimecast.*` (the custom fields) is left out.
    fn ecs_problems(doc: &Map<String, Value>) -> Vec<String> {
        let mut out = Vec::new();
        for (key, value) in doc {
            if key != MODULE {
                check_field(key, value, &mut out);
            }
        }
        let strings = |path: &str| -> Vec<String> {
            match super::super::get(doc, path) {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let allowed = &fields()["event.category"]["allowed"];
        for category in strings("event.category") {
            for t in strings("event.type") {
                let expected = allowed[&category].as_array().cloned().unwrap_or_default();
                if !expected.contains(&Value::from(t.as_str())) {
                    out.push(format!(
                        "event.type {t} is not expected for category {category}"
                    ));
                }
            }
        }
        out
    }

    fn check_field(path: &str, value: &Value, out: &mut Vec<String>) {
        let def = fields().get(path);
        let kind = def.and_then(|d| d["type"].as_str());
        match (value, kind) {
            // An object that is not a field itself: its members are fields.
            (Value::Object(m), None | Some("object" | "nested")) => {
                for (k, v) in m {
                    check_field(&format!("{path}.{k}"), v, out);
                }
            }
            (_, Some("flattened")) => {}
            (_, None) => out.push(format!("{path}: not an ECS field")),
            (Value::Array(items), Some(_)) => {
                if def.and_then(|d| d.get("array")) != Some(&Value::Bool(true)) {
                    out.push(format!(
                        "{path}: array, but ECS does not normalize it to one"
                    ));
                }
                for item in items {
                    match item {
                        Value::Object(m) => {
                            for (k, v) in m {
                                check_field(&format!("{path}.{k}"), v, out);
                            }
                        }
                        other => check_scalar(path, other, kind.unwrap_or_default(), out),
                    }
                }
            }
            (scalar, Some(kind)) => check_scalar(path, scalar, kind, out),
        }
    }

    fn check_scalar(path: &str, value: &Value, kind: &str, out: &mut Vec<String>) {
        let ok = match kind {
            "keyword" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => {
                value.is_string()
            }
            "ip" => value
                .as_str()
                .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok()),
            "date" => value
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            "long" | "integer" | "short" | "byte" | "unsigned_long" => {
                value.is_i64() || value.is_u64()
            }
            "float" | "double" | "scaled_float" | "half_float" => value.is_number(),
            "boolean" => value.is_boolean(),
            _ => false,
        };
        if !ok {
            out.push(format!("{path}: {value} is not a valid {kind}"));
        }
        if let (Some(allowed), Some(s)) = (fields()[path].get("allowed"), value.as_str()) {
            if allowed.get(s).is_none() {
                out.push(format!("{path}: {s} is not an allowed value"));
            }
        }
    }

    /// Where each member the mapping reads goes; when a member is not mapped (wrong type, not
    /// an IP, not a SHA-256…) it must be under `mimecast.*` instead.
    fn targets(log_type: LogType, key: &str) -> &'static [&'static str] {
        match (log_type, key) {
            (_, "date" | "eventTime") => &["@timestamp"],
            (_, "subject") => &["email.subject"],
            (_, "messageId") => &["email.message_id"],
            (_, "route") => &["email.direction"],
            (LogType::UrlProtect, "url") => &["url.original"],
            (LogType::UrlProtect, "userEmailAddress") => &["email.to.address", "user.email"],
            (LogType::UrlProtect, "fromUserEmailAddress") => &["email.from.address"],
            (LogType::UrlProtect, "ttpDefinition") => &["rule.name"],
            (LogType::UrlProtect, "action") => &["event.action"],
            (LogType::UrlProtect, "sendingIp") => &["source.ip", "related.ip"],
            (_, "senderAddress") => &["email.from.address"],
            (_, "recipientAddress") => &["email.to.address"],
            (_, "definition") => &["rule.name"],
            (LogType::ImpersonationProtect, "action") => &["event.action"],
            (LogType::ImpersonationProtect, "senderIpAddress") => &["source.ip", "related.ip"],
            (LogType::AttachmentProtect, "actionTriggered") => &["event.action"],
            (LogType::AttachmentProtect, "fileName") => &["email.attachments", "file.name"],
            (LogType::AttachmentProtect, "fileType") => &["email.attachments", "file.mime_type"],
            (LogType::AttachmentProtect, "fileHash") => {
                &["email.attachments", "file.hash.sha256", "related.hash"]
            }
            _ => &[],
        }
    }

    /// Nothing lost, nothing invented: every member is under `mimecast.*` unchanged or at its
    /// targets with its value; `mimecast.*` holds only members, unchanged.
    fn loss_problems(s: &Sample, doc: &Map<String, Value>) -> Vec<String> {
        let mut out = Vec::new();
        let members = s.members().unwrap();
        let kept = doc
            .get(MODULE)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (key, value) in &kept {
            if members.get(key) != Some(value) {
                out.push(format!("mimecast.{key} is not the record's member"));
            }
        }
        for (key, value) in &members {
            if kept.contains_key(key) {
                continue;
            }
            let targets = targets(s.log_type, key);
            if targets.is_empty() {
                out.push(format!("{key}: neither mapped nor under mimecast.*"));
            }
            for target in targets {
                let found = super::super::get(doc, target);
                let holds = match (found, value.as_str()) {
                    (Some(_), _) if matches!(key.as_str(), "date" | "eventTime") => true,
                    (Some(Value::String(t)), Some(v)) => t == v,
                    (Some(Value::Array(items)), Some(v)) => items.iter().any(|i| {
                        i.as_str() == Some(v) || i.to_string().contains(&Value::from(v).to_string())
                    }),
                    _ => false,
                };
                if !holds {
                    out.push(format!("{key}: mapped, but {target} does not hold {value}"));
                }
            }
        }
        out
    }

    fn map(s: &Sample, original: bool) -> (String, Map<String, Value>) {
        let line = document(&s.record(), Options { original });
        let doc: Map<String, Value> = serde_json::from_str(&line).unwrap();
        (line, doc)
    }

    /// The fields the host checks, and one line.
    fn ownership_problems(
        line: &str,
        doc: &Map<String, Value>,
        log_type: LogType,
        tenant: &str,
        id: &str,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if line.contains('\n') || line.contains('\r') {
            out.push("not one line".to_string());
        }
        let at = |p| super::super::get(doc, p).and_then(Value::as_str);
        if at("organization.id") != Some(tenant) {
            out.push("organization.id".into());
        }
        if at("event.dataset") != Some(dataset(log_type)) {
            out.push("event.dataset".into());
        }
        if at("event.id") != Some(id) {
            out.push("event.id".into());
        }
        if at("ecs.version") != Some(ECS_VERSION) {
            out.push("ecs.version".into());
        }
        out
    }

    #[test]
    fn every_sample_conforms_to_ecs_and_loses_nothing() {
        for s in samples::all() {
            for original in [false, true] {
                let (line, doc) = map(&s, original);
                let mut problems = ecs_problems(&doc);
                problems.extend(loss_problems(&s, &doc));
                problems.extend(ownership_problems(
                    &line, &doc, s.log_type, TENANT, EVENT_ID,
                ));
                assert!(problems.is_empty(), "{}: {problems:#?}\n{line}", s.name);
                assert_eq!(
                    doc["event"].get("original").and_then(Value::as_str),
                    original.then(|| s.raw.get()),
                    "{}",
                    s.name
                );
            }
        }
    }

    #[test]
    fn fixture_is_the_whole_ecs_field_list() {
        assert_eq!(fields().len(), 2605);
        assert_eq!(fields()["@timestamp"]["type"], "date");
        assert_eq!(fields()["email.attachments"]["type"], "nested");
    }

    #[test]
    fn checker_catches_what_ecs_forbids() {
        let bad = json!({
            "email": {"subject": ["a"], "to": {"address": "x"}, "nope": 1},
            "source": {"ip": "Internal IP"},
            "url": {"port": "80"},
            "event": {"kind": "finding", "category": ["email"], "type": ["denied"]},
            "@timestamp": "2026-11-24T09:00:00+0000",
            "mimecast": {"anything": [1, {"x": 2}]}
        });
        let problems = ecs_problems(bad.as_object().unwrap());
        assert_eq!(problems.len(), 7, "{problems:#?}");
    }

    #[test]
    fn url_click_maps_as_elastic_and_fills_the_gaps() {
        let s = samples::example(LogType::UrlProtect);
        let (_, doc) = map(&s, false);
        let v = Value::Object(doc);
        assert_eq!(v["@timestamp"], "2026-11-24T09:00:00Z");
        assert_eq!(v["event"]["kind"], "alert");
        assert_eq!(v["event"]["category"], json!(["email", "malware"]));
        assert_eq!(v["event"]["action"], "block");
        assert_eq!(v["event"].get("outcome"), None);
        assert_eq!(v["url"]["domain"], "login-verify.bank-secure.example");
        assert_eq!(v["url"]["port"], 8080);
        assert_eq!(v["url"]["path"], "/session/start.php");
        assert_eq!(v["url"]["extension"], "php");
        assert_eq!(v["url"]["query"], "id=4f2a9c");
        assert_eq!(v["url"]["fragment"], "login");
        assert_eq!(
            v["email"]["to"]["address"],
            json!(["carol.jones@example.com"])
        );
        assert_eq!(v["user"]["email"], "carol.jones@example.com");
        assert_eq!(v["rule"]["name"], "Default Inbound URL Protect Definition");
        assert_eq!(
            v["threat"]["technique"]["subtechnique"]["id"],
            json!(["T1566.002"])
        );
        // `Internal IP` is no address: no source.ip, kept as sent.
        assert_eq!(v.get("source"), None);
        assert_eq!(v["mimecast"]["sendingIp"], "Internal IP");
        assert_eq!(
            v["mimecast"]["tagMap"]["UrlReputationScan"]["Inspect:FileExts"],
            json!(["exe", "js"])
        );
        assert_eq!(v["observer"]["vendor"], "Mimecast");
    }

    #[test]
    fn clean_records_are_events_without_threat() {
        for name in [
            "elastic_url",
            "mock_url_warn",
            "impersonation_old_shape",
            "elastic_attachment",
        ] {
            let s = samples::all().into_iter().find(|s| s.name == name).unwrap();
            let v = Value::Object(map(&s, false).1);
            assert_eq!(v["event"]["kind"], "event", "{name}");
            assert_eq!(v["event"]["category"], json!(["email"]), "{name}");
            assert_eq!(v.get("threat"), None, "{name}");
        }
    }

    #[test]
    fn attachment_maps_file_hash_only_when_it_is_a_sha256() {
        let s = samples::example(LogType::AttachmentProtect);
        let v = Value::Object(map(&s, false).1);
        let file = json!({"name": "Rechnung_4711_fällig.pdf", "extension": "pdf", "mime_type": "application/pdf",
            "hash": {"sha256": "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"}});
        assert_eq!(v["email"]["attachments"], json!([{"file": file}]));
        assert_eq!(v["file"], file);
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["event"]["action"], "sandbox, hold");
        assert_eq!(
            v["mimecast"]["details"]
                .as_str()
                .unwrap()
                .matches("\r\n")
                .count(),
            4
        );

        let odd = samples::all()
            .into_iter()
            .find(|s| s.name == "attachment_odd")
            .unwrap();
        let v = Value::Object(map(&odd, false).1);
        assert_eq!(
            v["mimecast"]["fileHash"],
            "0cc175b9c0f1b6a831c399e269772661"
        );
        assert_eq!(v["file"], json!({"mime_type": "application/zip"}));
        assert_eq!(v.get("related").and_then(|r| r.get("hash")), None);
        assert_eq!(v["event"].get("outcome"), None);
        assert_eq!(v["email"]["direction"], "external");

        let timeout = samples::all()
            .into_iter()
            .find(|s| s.name == "mock_attachment_timeout")
            .unwrap();
        let v = Value::Object(map(&timeout, false).1);
        assert_eq!(v["event"]["outcome"], "failure");
        assert_eq!(v["mimecast"]["fileHash"], "");
    }

    #[test]
    fn impersonation_token_stays_under_mimecast() {
        let s = samples::example(LogType::ImpersonationProtect);
        let v = Value::Object(map(&s, false).1);
        assert_eq!(v["event"]["id"], EVENT_ID);
        assert!(v["mimecast"]["id"].as_str().unwrap().starts_with("MTOKEN:"));
        assert_eq!(v["source"]["ip"], "198.51.100.23");
        assert_eq!(
            v["related"]["user"],
            json!(["ceo@examp1e.com", "elena.garcia@example.com"])
        );
        assert_eq!(v["threat"]["technique"]["id"], json!(["T1656"]));
        assert_eq!(v["event"]["category"], json!(["email"]));
    }

    #[test]
    fn a_record_serde_json_cannot_read_is_kept_whole() {
        for s in samples::verbatim() {
            assert!(s.verbatim, "{}", s.name);
            let (line, doc) = map(&s, false);
            let v = Value::Object(doc.clone());
            assert_eq!(v["event"]["original"], s.raw.get(), "{}", s.name);
            assert_eq!(v["tags"], json!([LABEL_VERBATIM]));
            assert!(v["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-24T09:3"));
            assert!(ownership_problems(&line, &doc, s.log_type, TENANT, EVENT_ID).is_empty());
            assert!(ecs_problems(&doc).is_empty(), "{:?}", ecs_problems(&doc));
        }
    }

    #[test]
    fn repaired_records_are_tagged() {
        let s = samples::all().into_iter().find(|s| s.repaired).unwrap();
        let v = Value::Object(map(&s, false).1);
        assert_eq!(v["tags"], json!([LABEL_REPAIRED]));
        assert_eq!(v["email"]["subject"], "Caf\u{fffd} menu");
    }

    #[test]
    fn a_time_with_a_fraction_or_another_offset_is_kept_as_sent() {
        for (sent, stamp) in [
            ("2026-11-24T09:00:00.250Z", "2026-11-24T09:00:00Z"),
            ("2026-11-24T10:00:00+0100", "2026-11-24T09:00:00Z"),
        ] {
            let text = json!({"date": sent, "url": "https://a.example/"}).to_string();
            let raw = serde_json::value::RawValue::from_string(text).unwrap();
            let r = Record {
                tenant: "acme",
                log_type: LogType::UrlProtect,
                event_id: EVENT_ID,
                time: None,
                raw: &raw,
                repaired: false,
            };
            let v: Value = serde_json::from_str(&document(&r, Options::default())).unwrap();
            assert_eq!(v["@timestamp"], stamp, "{v}");
            assert_eq!(v["mimecast"]["date"], sent, "{v}");
        }
    }

    #[test]
    fn unreadable_time_is_kept_and_timestamp_left_out() {
        let s = samples::all()
            .into_iter()
            .find(|s| s.name == "url_wrong_types")
            .unwrap();
        let v = Value::Object(map(&s, false).1);
        assert_eq!(v.get("@timestamp"), None);
        assert_eq!(v["mimecast"]["date"], "yesterday");
        assert_eq!(v["mimecast"]["sendingIp"], 17);
        assert_eq!(v["mimecast"]["action"], "");
    }

    proptest! {
        #[test]
        fn arbitrary_records_map_to_valid_one_line_ecs(
            log_type in samples::arb_log_type(),
            record in samples::arb_record(),
            tenant in ".{0,12}",
            time in proptest::option::of(-100_000_000_000i64..100_000_000_000),
            repaired in any::<bool>(),
            original in any::<bool>(),
        ) {
            let text = serde_json::to_string(&record).unwrap();
            let raw = serde_json::value::RawValue::from_string(text).unwrap();
            let r = Record { tenant: &tenant, log_type, event_id: EVENT_ID, time, raw: &raw, repaired };
            let line = document(&r, Options { original });
            let doc: Map<String, Value> = serde_json::from_str(&line).unwrap();
            let mut problems = ownership_problems(&line, &doc, log_type, &tenant, EVENT_ID);
            problems.extend(ecs_problems(&doc));
            prop_assert!(problems.is_empty(), "{:?}\n{}", problems, line);
            // Whatever is not mapped is under mimecast.*, unchanged.
            let kept = doc.get(MODULE).and_then(Value::as_object).cloned().unwrap_or_default();
            for (k, v) in &kept {
                prop_assert!(record.get(k).is_some_and(|r| samples::same(r, v)), "{}", k);
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,64}", log_type in samples::arb_log_type()) {
            // Only JSON text reaches the mapping (a RawValue); anything that is, maps.
            if let Ok(raw) = serde_json::value::RawValue::from_string(text) {
                let r = Record { tenant: TENANT, log_type, event_id: EVENT_ID, time: None, raw: &raw, repaired: false };
                let line = document(&r, Options::default());
                prop_assert!(serde_json::from_str::<Map<String, Value>>(&line).is_ok());
            }
        }
    }
}
