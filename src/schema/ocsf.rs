//! One Mimecast TTP record as an OCSF 1.8.0 Email Activity event: class 4009, activity 3 Scan,
//! with the `security_control` profile (action, disposition, `is_alert`, policy) for all three
//! log types. Record members not mapped to an attribute stay in `unmapped` under their own names,
//! so nothing is lost. Pure. Tables and reasons: `docs/schemas.md`; checked against the resolved
//! official class in `tests/fixtures/schema/ocsf-1.8.0-email_activity.json`.

use serde_json::{json, Map, Value};

use super::url_parts::UrlParts;
use super::{
    extension, in_range, is_ip, is_sha256, members, peek, push_unique, put, take, take_if,
    take_time, to_line, verdict, Options, Record, Verdict, LABEL_REPAIRED, LABEL_VERBATIM,
};
use crate::log_type::LogType;

/// The OCSF version the events follow (`metadata.version`).
pub const VERSION: &str = "1.8.0";
/// Email Activity.
pub const CLASS_UID: i64 = 4009;
/// Network Activity, the category of Email Activity.
pub const CATEGORY_UID: i64 = 4;
/// Scan: "Email being scanned (example: security scanning)".
pub const ACTIVITY_SCAN: i64 = 3;

/// The record as one line of OCSF JSON. Never fails: a member with an unexpected type or value
/// stays in `unmapped`, and a record serde_json cannot read is delivered in `raw_data` with
/// the label [`LABEL_VERBATIM`] in `metadata.labels`.
pub fn document(r: &Record, o: Options) -> String {
    to_line(build(r, o))
}

/// The event as a JSON object (what [`document`] serialises).
fn build(r: &Record, o: Options) -> Map<String, Value> {
    let mut ev = Map::new();
    for (key, value) in [
        ("class_uid", json!(CLASS_UID)),
        ("class_name", json!("Email Activity")),
        ("category_uid", json!(CATEGORY_UID)),
        ("category_name", json!("Network Activity")),
        ("activity_id", json!(ACTIVITY_SCAN)),
        ("activity_name", json!("Scan")),
        ("type_uid", json!(CLASS_UID * 100 + ACTIVITY_SCAN)),
        ("type_name", json!("Email Activity: Scan")),
    ] {
        ev.insert(key.to_string(), value);
    }
    let feature = match r.log_type {
        LogType::UrlProtect => "TTP URL Protect",
        LogType::ImpersonationProtect => "TTP Impersonation Protect",
        LogType::AttachmentProtect => "TTP Attachment Protect",
    };
    put(
        &mut ev,
        "metadata",
        json!({
            "version": VERSION,
            "product": {"vendor_name": "Mimecast", "name": "Mimecast Email Security",
                        "feature": {"name": feature}},
            "uid": r.event_id,
            "log_name": r.log_type.as_str(),
            "tenant_uid": r.tenant,
            "profiles": ["security_control"],
        }),
    );
    let mut email = Map::new();
    let time = match members(r.raw) {
        Some(mut rest) => {
            let field = r.log_type.time_field();
            // `original_time` keeps the time as sent, readable or not.
            let original = take(&mut rest, field);
            let time = take_time(&mut rest, r.log_type, r.time);
            if let Some(original) = original {
                put(&mut ev, "metadata.original_time", Value::from(original));
            }
            let verdict = verdict(r.log_type, &rest);
            mapped(&mut ev, &mut email, &mut rest, r.log_type, verdict);
            if !rest.is_empty() {
                ev.insert("unmapped".to_string(), Value::Object(rest));
            }
            time
        }
        None => {
            ev.insert("raw_data".to_string(), Value::from(r.raw.get()));
            push_unique(&mut ev, "metadata.labels", LABEL_VERBATIM);
            enumerated(&mut ev, "severity", 0, None);
            enumerated(&mut ev, "direction", 0, None);
            r.time.and_then(in_range)
        }
    };
    ev.insert("email".to_string(), Value::Object(email));
    // `time` is required; a record without a readable time gets the epoch, and its time
    // member, if any, is in `metadata.original_time`.
    ev.insert(
        "time".to_string(),
        Value::from(time.map_or(0, |t| t.saturating_mul(1000))),
    );
    if o.original {
        ev.insert("raw_data".to_string(), Value::from(r.raw.get()));
    }
    if r.repaired {
        push_unique(&mut ev, "metadata.labels", LABEL_REPAIRED);
    }
    ev
}

/// The attributes read from a record serde_json can read.
fn mapped(
    ev: &mut Map<String, Value>,
    email: &mut Map<String, Value>,
    rest: &mut Map<String, Value>,
    log_type: LogType,
    verdict: Verdict,
) {
    let mut observables = Vec::new();
    let (sender, recipient, policy, ip) = match log_type {
        LogType::UrlProtect => (
            "fromUserEmailAddress",
            "userEmailAddress",
            "ttpDefinition",
            Some("sendingIp"),
        ),
        LogType::ImpersonationProtect => (
            "senderAddress",
            "recipientAddress",
            "definition",
            Some("senderIpAddress"),
        ),
        LogType::AttachmentProtect => ("senderAddress", "recipientAddress", "definition", None),
    };
    if let Some(from) = take_if(rest, sender, is_email_t) {
        observables.push(observable("email.from", 5, &from));
        email.insert("from".to_string(), Value::from(from));
    }
    if let Some(to) = take_if(rest, recipient, is_email_t) {
        observables.push(observable("email.to", 5, &to));
        if log_type == LogType::UrlProtect {
            // The clicking user.
            put(ev, "actor.user", json!({"name": to, "email_addr": to}));
            push_unique(ev, "metadata.profiles", "host");
        }
        email.insert("to".to_string(), Value::from(vec![to]));
    }
    if let Some(subject) = take(rest, "subject") {
        email.insert("subject".to_string(), Value::from(subject));
    }
    if let Some(id) = take(rest, "messageId") {
        put(ev, "metadata.correlation_uid", Value::from(id.as_str()));
        email.insert("message_uid".to_string(), Value::from(id));
    }
    if let Some(name) = take(rest, policy) {
        put(ev, "policy.name", Value::from(name));
    }
    if let Some(addr) = ip.and_then(|key| take_if(rest, key, is_ip)) {
        observables.push(observable("src_endpoint.ip", 2, &addr));
        put(ev, "src_endpoint.ip", Value::from(addr));
    }
    direction(ev, rest);
    match log_type {
        LogType::UrlProtect => {
            url(email, rest, &mut observables);
            url_control(ev, rest, verdict);
        }
        LogType::ImpersonationProtect => {
            if let Some(id) = take(rest, "id") {
                put(ev, "metadata.original_event_uid", Value::from(id));
            }
            impersonation_control(ev, rest);
        }
        LogType::AttachmentProtect => {
            file(email, rest, &mut observables);
            attachment_control(ev, rest, verdict);
        }
    }
    if !observables.is_empty() {
        ev.insert("observables".to_string(), Value::Array(observables));
    }
}

/// `email.urls[0]` from URL Protect's `url` and `category`.
fn url(
    email: &mut Map<String, Value>,
    rest: &mut Map<String, Value>,
    observables: &mut Vec<Value>,
) {
    let Some(text) = take(rest, "url") else {
        return;
    };
    let parts = UrlParts::parse(&text);
    let mut url = Map::new();
    for (key, value) in [
        ("scheme", parts.scheme),
        ("hostname", parts.host),
        ("path", parts.path),
        ("query_string", parts.query),
    ] {
        if let Some(v) = value {
            url.insert(key.to_string(), Value::from(v));
        }
    }
    if let Some(port) = parts.port {
        url.insert("port".to_string(), Value::from(port));
    }
    if let Some(raw) = peek(rest, "category").filter(|c| !c.is_empty()) {
        // A category OCSF names gets its id and caption, and the member stays in `unmapped`;
        // another is `99 Other` with Mimecast's name as the caption.
        let (id, caption) = match url_category(raw) {
            Some((id, caption)) => (id, caption.to_string()),
            None => (99, raw.to_string()),
        };
        if id == 99 {
            rest.remove("category");
        }
        url.insert("category_ids".to_string(), json!([id]));
        url.insert("categories".to_string(), json!([caption]));
    }
    observables.push(observable("email.urls.url_string", 6, &text));
    url.insert("url_string".to_string(), Value::from(text));
    email.insert("urls".to_string(), json!([url]));
}

/// OCSF URL categories for the Mimecast categories that match one (reference §3.1).
fn url_category(mimecast: &str) -> Option<(i64, &'static str)> {
    Some(match mimecast.to_ascii_lowercase().as_str() {
        "phishing & fraud" | "phishing" => (18, "Phishing"),
        "malware" => (43, "Malicious Sources/Malnets"),
        "search engines" | "search engines & portals" => (40, "Search Engines/Portals"),
        "news" | "news & media" => (46, "News/Media"),
        "business" => (21, "Business/Economy"),
        "uncategorized" => (90, "Uncategorized"),
        "spam" => (101, "Spam"),
        "suspicious" => (92, "Suspicious"),
        _ => return None,
    })
}

/// `email.files[0]` from Attachment Protect's `fileName`, `fileType`, `fileHash`. `name` is
/// required in a file, so without a name the other two stay in `unmapped`.
fn file(
    email: &mut Map<String, Value>,
    rest: &mut Map<String, Value>,
    observables: &mut Vec<Value>,
) {
    let Some(name) = take(rest, "fileName") else {
        return;
    };
    let mut file = Map::new();
    file.insert("type_id".to_string(), json!(1));
    file.insert("type".to_string(), json!("Regular File"));
    if let Some(ext) = extension(&name) {
        file.insert("ext".to_string(), Value::from(ext));
    }
    if let Some(mime) = take(rest, "fileType") {
        file.insert("mime_type".to_string(), Value::from(mime));
    }
    if let Some(hash) = take_if(rest, "fileHash", is_sha256) {
        observables.push(observable("email.files.hashes.value", 8, &hash));
        file.insert(
            "hashes".to_string(),
            json!([{"algorithm_id": 3, "algorithm": "SHA-256", "value": hash}]),
        );
    }
    observables.push(observable("email.files.name", 7, &name));
    file.insert("name".to_string(), Value::from(name));
    email.insert("files".to_string(), json!([file]));
}

/// `direction_id` from `route` (required: 0 Unknown when absent, as in Impersonation logs).
fn direction(ev: &mut Map<String, Value>, rest: &mut Map<String, Value>) {
    let raw = peek(rest, "route")
        .filter(|r| !r.is_empty())
        .map(String::from);
    let id = match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => 0,
        Some("inbound") => 1,
        Some("outbound") => 2,
        Some("internal") => 3,
        Some(_) => 99,
    };
    if raw.is_some() {
        rest.remove("route");
    }
    enumerated(ev, "direction", id, raw.as_deref());
}

/// URL Protect: `action` gives action and disposition, `scanResult` severity and `is_alert`.
fn url_control(ev: &mut Map<String, Value>, rest: &Map<String, Value>, verdict: Verdict) {
    let action = peek(rest, "action").map(str::to_ascii_lowercase);
    let (action_id, disposition_id) = match action.as_deref() {
        None | Some("") => (0, 0),
        Some("allow") => (1, 1),
        Some("block") => (2, 2),
        // The user was shown a warning page and could go on.
        Some("warn") => (3, 19),
        Some(_) => (99, 99),
    };
    let severity = match verdict {
        Verdict::Malicious if action_id == 2 => 3,
        Verdict::Malicious => 4,
        Verdict::Clean => 1,
        Verdict::Failed | Verdict::Unknown => 0,
    };
    control(
        ev,
        rest,
        "action",
        action_id,
        disposition_id,
        severity,
        verdict,
    );
}

/// Impersonation Protect: `action` and the tags give action and disposition,
/// `taggedMalicious` and `hits` severity and `is_alert`.
fn impersonation_control(ev: &mut Map<String, Value>, rest: &Map<String, Value>) {
    let tagged = |key| rest.get(key) == Some(&Value::Bool(true));
    let malicious = tagged("taggedMalicious");
    let action = peek(rest, "action").map(str::to_ascii_lowercase);
    let (action_id, disposition_id) = match action.as_deref() {
        None | Some("") => (0, 0),
        Some("none") if malicious || tagged("taggedExternal") => (4, 18),
        Some("none") => (1, 16),
        Some("hold") => (2, 3),
        Some("bounce") => (2, 25),
        Some(_) => (99, 99),
    };
    let hits = rest.get("hits").and_then(Value::as_f64).unwrap_or(0.0);
    let verdict = verdict(LogType::ImpersonationProtect, rest);
    let severity = match verdict {
        Verdict::Malicious => 3,
        _ if hits > 0.0 => 2,
        Verdict::Clean => 1,
        _ => 0,
    };
    control(
        ev,
        rest,
        "action",
        action_id,
        disposition_id,
        severity,
        verdict,
    );
}

/// Attachment Protect: `actionTriggered` gives action and disposition, `result` severity,
/// `is_alert` and the scan's status.
fn attachment_control(ev: &mut Map<String, Value>, rest: &Map<String, Value>, verdict: Verdict) {
    let action = peek(rest, "actionTriggered").map(str::to_ascii_lowercase);
    let parts: Vec<&str> = action
        .as_deref()
        .map(|a| {
            a.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let has = |word: &str| parts.iter().any(|p| p.contains(word));
    let (action_id, disposition_id) = if parts.is_empty() {
        (0, 0)
    } else if has("hold") {
        (2, 3)
    } else if has("block") || has("reject") || has("bounce") || has("delete") {
        (2, 2)
    } else if has("release") {
        (1, 1)
    } else if parts.iter().all(|p| *p == "none") {
        (
            1,
            if verdict == Verdict::Malicious {
                15
            } else {
                16
            },
        )
    } else {
        (99, 99)
    };
    let result = peek(rest, "result").map(str::to_ascii_lowercase);
    let severity = match (verdict, result.as_deref()) {
        (Verdict::Malicious, _) => 4,
        (_, Some("unsafe" | "suspicious")) => 3,
        (Verdict::Failed, _) | (_, Some("unknown")) => 2,
        (Verdict::Clean, _) => 1,
        _ => 0,
    };
    control(
        ev,
        rest,
        "actionTriggered",
        action_id,
        disposition_id,
        severity,
        verdict,
    );
    match verdict {
        Verdict::Malicious | Verdict::Clean => enumerated(ev, "status", 1, None),
        Verdict::Failed => {
            enumerated(ev, "status", 2, None);
            if let Some(result) = peek(rest, "result") {
                ev.insert("status_detail".to_string(), Value::from(result));
            }
        }
        Verdict::Unknown => {}
    }
}

/// The security-control attributes. The members they come from stay in `unmapped`: the ids
/// are a judgement about them, not a copy (`docs/schemas.md`).
fn control(
    ev: &mut Map<String, Value>,
    rest: &Map<String, Value>,
    action_key: &str,
    action_id: i64,
    disposition_id: i64,
    severity_id: i64,
    verdict: Verdict,
) {
    let raw = peek(rest, action_key);
    enumerated(ev, "action", action_id, raw);
    enumerated(ev, "disposition", disposition_id, raw);
    enumerated(ev, "severity", severity_id, None);
    match verdict {
        Verdict::Malicious => {
            ev.insert("is_alert".to_string(), Value::Bool(true));
        }
        Verdict::Clean => {
            ev.insert("is_alert".to_string(), Value::Bool(false));
        }
        Verdict::Failed | Verdict::Unknown => {}
    }
}

/// Sets `<name>_id` and its caption `<name>`: OCSF's caption for the id, or for 99 (Other)
/// the source's own value when there is one.
fn enumerated(ev: &mut Map<String, Value>, name: &str, id: i64, raw: Option<&str>) {
    let caption = match (id, raw) {
        (99, Some(raw)) => Some(raw),
        _ => caption(name, id),
    };
    ev.insert(format!("{name}_id"), Value::from(id));
    if let Some(caption) = caption {
        ev.insert(name.to_string(), Value::from(caption));
    }
}

/// OCSF 1.8.0 captions of the enum values this mapping uses.
fn caption(name: &str, id: i64) -> Option<&'static str> {
    Some(match (name, id) {
        (_, 0) => "Unknown",
        (_, 99) => "Other",
        ("action", 1) => "Allowed",
        ("action", 2) => "Denied",
        ("action", 3) => "Observed",
        ("action", 4) => "Modified",
        ("disposition", 1) => "Allowed",
        ("disposition", 2) => "Blocked",
        ("disposition", 3) => "Quarantined",
        ("disposition", 15) => "Detected",
        ("disposition", 16) => "No Action",
        ("disposition", 18) => "Tagged",
        ("disposition", 19) => "Alert",
        ("disposition", 25) => "Rejected",
        ("severity", 1) => "Informational",
        ("severity", 2) => "Low",
        ("severity", 3) => "Medium",
        ("severity", 4) => "High",
        ("direction", 1) => "Inbound",
        ("direction", 2) => "Outbound",
        ("direction", 3) => "Internal",
        ("status", 1) => "Success",
        ("status", 2) => "Failure",
        _ => return None,
    })
}

/// An observable: the attribute path, the OCSF observable type and the value.
fn observable(name: &str, type_id: i64, value: &str) -> Value {
    let type_name = match type_id {
        2 => "IP Address",
        5 => "Email Address",
        6 => "URL String",
        7 => "File Name",
        8 => "Hash",
        _ => "Other",
    };
    json!({"name": name, "type_id": type_id, "type": type_name, "value": value})
}

/// `text` matches OCSF's `email_t`:
/// `^[a-zA-Z0-9!#$%&'*+-/=?^_`{|}~.]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$`, so an address that does
/// not (Attachment Protect's null sender `<>`, a non-ASCII local part) stays in `unmapped`.
fn is_email_t(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    // `+-/` in the class is the range `+ , - . /`.
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+,-./=?^_`{|}~".contains(&b));
    let Some((label, rest)) = domain.split_once('.') else {
        return false;
    };
    let label_ok = !label.is_empty()
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let rest_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    local_ok && label_ok && rest_ok
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::schema::samples::{self, Sample, EVENT_ID, TENANT};
    use proptest::prelude::*;
    use regex::Regex;
    use std::collections::HashMap;
    use std::sync::OnceLock;

    /// OCSF 1.8.0 class 4009 resolved from the official repository (see
    /// `tests/fixtures/schema/README.md`).
    fn schema() -> &'static Value {
        static SCHEMA: OnceLock<Value> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            serde_json::from_str(include_str!(
                "../../tests/fixtures/schema/ocsf-1.8.0-email_activity.json"
            ))
            .unwrap()
        })
    }

    /// The official regular expression of a type, compiled once.
    fn type_regex(name: &str) -> Option<&'static Regex> {
        static REGEXES: OnceLock<HashMap<String, Regex>> = OnceLock::new();
        REGEXES
            .get_or_init(|| {
                let types = schema()["types"].as_object().unwrap();
                types
                    .iter()
                    .filter_map(|(k, t)| {
                        Some((k.clone(), Regex::new(t["regex"].as_str()?).unwrap()))
                    })
                    .collect()
            })
            .get(name)
    }

    /// Every way `ev` breaks the class definition.
    fn ocsf_problems(ev: &Map<String, Value>) -> Vec<String> {
        let s = schema();
        let class = &s["class"];
        let mut out = Vec::new();
        let profiles: Vec<String> = ev
            .get("metadata")
            .and_then(|m| m.get("profiles"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for p in &profiles {
            if !class["profiles"]
                .as_array()
                .unwrap()
                .contains(&Value::from(p.as_str()))
            {
                out.push(format!(
                    "metadata.profiles: {p} is not a profile of the class"
                ));
            }
        }
        let cx = Cx {
            profiles: &profiles,
        };
        cx.object(
            "",
            ev,
            &class["attributes"],
            class.get("constraints"),
            &mut out,
        );
        let int = |k: &str| ev.get(k).and_then(Value::as_i64).unwrap_or(-1);
        if int("class_uid") != class["uid"].as_i64().unwrap() {
            out.push("class_uid".into());
        }
        let category = class["category"].as_str().unwrap();
        if int("category_uid") != s["categories"][category]["uid"].as_i64().unwrap() {
            out.push("category_uid".into());
        }
        if int("type_uid") != int("class_uid") * 100 + int("activity_id") {
            out.push("type_uid is not class_uid * 100 + activity_id".into());
        }
        if ev["metadata"]["version"] != s["version"] {
            out.push("metadata.version".into());
        }
        out
    }

    struct Cx<'a> {
        profiles: &'a [String],
    }

    impl Cx<'_> {
        fn applies(&self, def: &Value) -> bool {
            def.get("profile")
                .and_then(Value::as_str)
                .is_none_or(|p| self.profiles.iter().any(|q| q == p))
        }

        fn object(
            &self,
            path: &str,
            obj: &Map<String, Value>,
            attrs: &Value,
            constraints: Option<&Value>,
            out: &mut Vec<String>,
        ) {
            let attrs = attrs.as_object().unwrap();
            let at = |k: &str| {
                if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                }
            };
            for (name, def) in attrs {
                if def["requirement"] == "required" && self.applies(def) && !obj.contains_key(name)
                {
                    out.push(format!("{}: required", at(name)));
                }
            }
            for (key, value) in obj {
                let Some(def) = attrs.get(key) else {
                    out.push(format!("{}: not an attribute", at(key)));
                    continue;
                };
                if def.get("deprecated").is_some() {
                    out.push(format!("{}: deprecated", at(key)));
                }
                if !self.applies(def) {
                    out.push(format!(
                        "{}: its profile is not in metadata.profiles",
                        at(key)
                    ));
                }
                let values: Vec<&Value> = if def.get("array") == Some(&Value::Bool(true)) {
                    match value {
                        Value::Array(items) => items.iter().collect(),
                        _ => {
                            out.push(format!("{}: must be an array", at(key)));
                            continue;
                        }
                    }
                } else {
                    vec![value]
                };
                let type_name = def["type"].as_str().unwrap();
                for (i, v) in values.iter().enumerate() {
                    self.value(&at(key), v, type_name, out);
                    if let Some(e) = def.get("enum") {
                        self.enum_value(&at(key), obj, def, e, i, v, out);
                    }
                }
            }
            if let Some(c) = constraints {
                let present = |list: &Value| {
                    list.as_array().map_or(0, |l| {
                        l.iter()
                            .filter(|k| obj.contains_key(k.as_str().unwrap()))
                            .count()
                    })
                };
                if let Some(list) = c.get("at_least_one") {
                    if present(list) == 0 {
                        out.push(format!("constraint: {path} needs one of {list}"));
                    }
                }
                if let Some(list) = c.get("just_one") {
                    if present(list) != 1 {
                        out.push(format!("constraint: {path} needs exactly one of {list}"));
                    }
                }
            }
        }

        #[allow(clippy::too_many_arguments)]
        fn enum_value(
            &self,
            path: &str,
            obj: &Map<String, Value>,
            def: &Value,
            e: &Value,
            i: usize,
            v: &Value,
            out: &mut Vec<String>,
        ) {
            let id = v.as_i64().map(|n| n.to_string()).unwrap_or_default();
            let Some(caption) = e.get(&id) else {
                out.push(format!("{path}: {v} is not in the enum"));
                return;
            };
            let Some(sibling) = def.get("sibling").and_then(Value::as_str) else {
                return;
            };
            let text = match obj.get(sibling) {
                Some(Value::Array(items)) => items.get(i),
                other => other,
            };
            match text {
                None => {}
                Some(Value::String(t)) if id == "99" && t.is_empty() => {
                    out.push(format!("{path}: empty {sibling} for Other"));
                }
                Some(Value::String(_)) if id == "99" => {}
                Some(t) if t == caption => {}
                Some(t) => out.push(format!(
                    "{path}: {sibling} is {t}, the caption of {id} is {caption}"
                )),
            }
        }

        fn value(&self, path: &str, v: &Value, type_name: &str, out: &mut Vec<String>) {
            let s = schema();
            if type_name == "object" {
                if !v.is_object() {
                    out.push(format!("{path}: must be an object"));
                }
                return;
            }
            if let Some(o) = s["objects"].get(type_name) {
                match v {
                    Value::Object(m) => {
                        self.object(path, m, &o["attributes"], o.get("constraints"), out)
                    }
                    _ => out.push(format!("{path}: must be a {type_name} object")),
                }
                return;
            }
            let t = &s["types"][type_name];
            let base = t.get("type").and_then(Value::as_str).unwrap_or(type_name);
            let ok = match base {
                "string_t" => v.is_string(),
                "integer_t" | "long_t" => v.is_i64() || v.is_u64(),
                "float_t" => v.is_number(),
                "boolean_t" => v.is_boolean(),
                "json_t" => true,
                _ => false,
            };
            if !ok {
                out.push(format!("{path}: {v} is not a {type_name}"));
            }
            if let (Some(re), Some(text)) = (type_regex(type_name), v.as_str()) {
                if !re.is_match(text) {
                    out.push(format!("{path}: {text:?} does not match {type_name}"));
                }
            }
            if let (Some(range), Some(n)) = (t.get("range").and_then(Value::as_array), v.as_i64()) {
                if n < range[0].as_i64().unwrap() || n > range[1].as_i64().unwrap() {
                    out.push(format!("{path}: {n} out of range"));
                }
            }
        }
    }

    /// All values at a dotted path, through arrays.
    fn find<'v>(v: &'v Value, path: &str) -> Vec<&'v Value> {
        let mut at = vec![v];
        for part in path.split('.') {
            let mut next = Vec::new();
            for x in at {
                match x {
                    Value::Array(items) => next.extend(items.iter().filter_map(|i| i.get(part))),
                    other => next.extend(other.get(part)),
                }
            }
            at = next;
        }
        at.into_iter()
            .flat_map(|x| match x {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            })
            .collect()
    }

    /// Where each member the mapping reads goes; when it does not (wrong type, not an address,
    /// not a SHA-256…) it must be in `unmapped` instead.
    fn targets(log_type: LogType, key: &str) -> &'static [&'static str] {
        match (log_type, key) {
            (_, "date" | "eventTime") => &["metadata.original_time"],
            (_, "subject") => &["email.subject"],
            (_, "messageId") => &["email.message_uid", "metadata.correlation_uid"],
            (_, "route") => &["direction"],
            (LogType::UrlProtect, "url") => &["email.urls.url_string"],
            (LogType::UrlProtect, "category") => &["email.urls.categories"],
            (LogType::UrlProtect, "userEmailAddress") => &["email.to", "actor.user.email_addr"],
            (LogType::UrlProtect, "fromUserEmailAddress") => &["email.from"],
            (LogType::UrlProtect, "ttpDefinition") => &["policy.name"],
            (LogType::UrlProtect, "sendingIp") => &["src_endpoint.ip"],
            (LogType::ImpersonationProtect, "senderIpAddress") => &["src_endpoint.ip"],
            (LogType::ImpersonationProtect, "id") => &["metadata.original_event_uid"],
            (_, "senderAddress") => &["email.from"],
            (_, "recipientAddress") => &["email.to"],
            (_, "definition") => &["policy.name"],
            (LogType::AttachmentProtect, "fileName") => &["email.files.name"],
            (LogType::AttachmentProtect, "fileType") => &["email.files.mime_type"],
            (LogType::AttachmentProtect, "fileHash") => &["email.files.hashes.value"],
            _ => &[],
        }
    }

    /// Nothing lost, nothing invented: every member is in `unmapped` unchanged or at its
    /// targets with its value; `unmapped` holds only members, unchanged.
    fn loss_problems(s: &Sample, ev: &Map<String, Value>) -> Vec<String> {
        let mut out = Vec::new();
        let members = s.members().unwrap();
        let kept = ev
            .get("unmapped")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (key, value) in &kept {
            if members.get(key) != Some(value) {
                out.push(format!("unmapped.{key} is not the record's member"));
            }
        }
        let doc = Value::Object(ev.clone());
        for (key, value) in &members {
            if kept.contains_key(key) {
                continue;
            }
            let targets = targets(s.log_type, key);
            if targets.is_empty() {
                out.push(format!("{key}: neither mapped nor in unmapped"));
            }
            for target in targets {
                let holds =
                    find(&doc, target)
                        .iter()
                        .any(|found| match (found.as_str(), value.as_str()) {
                            (Some(f), Some(v)) => f.eq_ignore_ascii_case(v),
                            _ => false,
                        });
                if !holds {
                    out.push(format!("{key}: mapped, but {target} does not hold {value}"));
                }
            }
        }
        out
    }

    fn ownership_problems(
        line: &str,
        ev: &Map<String, Value>,
        log_type: LogType,
        tenant: &str,
        id: &str,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if line.contains('\n') || line.contains('\r') {
            out.push("not one line".to_string());
        }
        let m = &ev["metadata"];
        if m["tenant_uid"] != tenant {
            out.push("metadata.tenant_uid".into());
        }
        if m["log_name"] != log_type.as_str() {
            out.push("metadata.log_name".into());
        }
        if m["uid"] != id {
            out.push("metadata.uid".into());
        }
        if m["version"] != VERSION {
            out.push("metadata.version".into());
        }
        out
    }

    fn map(s: &Sample, original: bool) -> (String, Map<String, Value>) {
        let line = document(&s.record(), Options { original });
        let ev: Map<String, Value> = serde_json::from_str(&line).unwrap();
        (line, ev)
    }

    fn sample(name: &str) -> Sample {
        samples::all().into_iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn every_sample_conforms_to_the_class_and_loses_nothing() {
        for s in samples::all() {
            for original in [false, true] {
                let (line, ev) = map(&s, original);
                let mut problems = ocsf_problems(&ev);
                problems.extend(loss_problems(&s, &ev));
                problems.extend(ownership_problems(&line, &ev, s.log_type, TENANT, EVENT_ID));
                // Records without any usable address cannot meet `email`'s constraint.
                let no_address =
                    ["url_wrong_types", "url_indented", "impersonation_minimal"].contains(&s.name);
                problems.retain(|p| !(no_address && p.starts_with("constraint: email")));
                assert!(problems.is_empty(), "{}: {problems:#?}\n{line}", s.name);
                assert_eq!(
                    ev.get("raw_data").and_then(Value::as_str),
                    original.then(|| s.raw.get())
                );
            }
        }
    }

    #[test]
    fn fixture_is_the_resolved_class() {
        let class = &schema()["class"];
        assert_eq!(class["uid"], 4009);
        assert_eq!(schema()["version"], VERSION);
        let required: Vec<&String> = class["attributes"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, d)| d["requirement"] == "required" && d.get("profile").is_none())
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            required,
            [
                "activity_id",
                "category_uid",
                "class_uid",
                "direction_id",
                "email",
                "metadata",
                "severity_id",
                "time",
                "type_uid"
            ]
        );
        assert_eq!(
            class["attributes"]["disposition_id"]["profile"],
            "security_control"
        );
    }

    #[test]
    fn checker_catches_what_the_class_forbids() {
        let bad = json!({
            "class_uid": 4009, "category_uid": 4, "activity_id": 3, "type_uid": 400904,
            "severity_id": 7, "direction_id": 1, "direction": "Outbound", "time": "now",
            "email": {"from": "<>", "urls": {"url_string": "x"}},
            "metadata": {"version": "1.8.0", "product": {"vendor_name": "Mimecast"}},
            "disposition_id": 2, "nope": 1,
            "src_endpoint": {"ip": "Internal IP"}
        });
        let problems = ocsf_problems(bad.as_object().unwrap());
        // type_uid, severity_id, direction, time, email.from, email.urls, product constraint,
        // disposition's profile, nope, src_endpoint.ip
        assert_eq!(problems.len(), 10, "{problems:#?}");
    }

    #[test]
    fn checker_agrees_with_the_official_email_regex() {
        for text in [
            "a@b.example",
            "first.last+tag@sub.example.co",
            "<>",
            "a@b",
            "ä@b.example",
            "a@b.c",
            "@b.c",
            "a@.c",
            "a@b@c.d",
            "a@b.c d",
            "",
        ] {
            assert_eq!(
                is_email_t(text),
                type_regex("email_t").unwrap().is_match(text),
                "{text}"
            );
        }
    }

    #[test]
    fn url_click_is_a_scan_with_a_blocked_malicious_url() {
        let v = Value::Object(map(&samples::example(LogType::UrlProtect), false).1);
        assert_eq!(
            (v["action_id"].as_i64(), v["disposition_id"].as_i64()),
            (Some(2), Some(2))
        );
        assert_eq!(
            (v["severity_id"].as_i64(), v["is_alert"].as_bool()),
            (Some(3), Some(true))
        );
        assert_eq!(v["direction_id"], 1);
        assert_eq!(v["time"], 1_795_510_800_000i64);
        assert_eq!(
            v["email"]["urls"][0]["hostname"],
            "login-verify.bank-secure.example"
        );
        assert_eq!(v["email"]["urls"][0]["port"], 8080);
        assert_eq!(v["email"]["urls"][0]["category_ids"], json!([18]));
        assert_eq!(v["unmapped"]["category"], "Phishing & Fraud");
        assert_eq!(v.get("src_endpoint"), None);
        assert_eq!(v["unmapped"]["sendingIp"], "Internal IP");
        assert_eq!(v["actor"]["user"]["email_addr"], "carol.jones@example.com");
        assert_eq!(
            v["metadata"]["profiles"],
            json!(["security_control", "host"])
        );
        assert_eq!(v["metadata"]["correlation_uid"], v["email"]["message_uid"]);
        assert_eq!(v["metadata"]["original_time"], "2026-11-24T09:00:00+0000");

        let warn = Value::Object(map(&sample("mock_url_warn"), false).1);
        assert_eq!(
            (warn["action_id"].as_i64(), warn["disposition_id"].as_i64()),
            (Some(3), Some(19))
        );
        assert_eq!(
            (warn["severity_id"].as_i64(), warn["is_alert"].as_bool()),
            (Some(1), Some(false))
        );
        assert_eq!(warn["src_endpoint"]["ip"], "2001:db8::25");
        // Not an OCSF category: Other, with Mimecast's name.
        let clean = Value::Object(map(&sample("elastic_url"), false).1);
        assert_eq!(clean["email"]["urls"][0]["category_ids"], json!([40]));
        let allowed_malicious = Value::Object(map(&sample("url_indented"), false).1);
        assert_eq!(allowed_malicious["severity_id"], 4);
    }

    #[test]
    fn impersonation_actions_and_tags() {
        let v = Value::Object(map(&samples::example(LogType::ImpersonationProtect), false).1);
        assert_eq!(
            (
                v["action_id"].as_i64(),
                v["disposition_id"].as_i64(),
                v["disposition"].as_str()
            ),
            (Some(2), Some(3), Some("Quarantined"))
        );
        assert_eq!(v["severity_id"], 3);
        assert_eq!(v["direction_id"], 0);
        assert!(v["metadata"]["original_event_uid"]
            .as_str()
            .unwrap()
            .starts_with("MTOKEN:"));
        let bounce = Value::Object(map(&sample("impersonation_strings_bounce"), false).1);
        assert_eq!(bounce["disposition_id"], 25);
        assert_eq!(
            bounce["unmapped"]["impersonationResults"],
            json!(["newly_observed_domain", "targeted_threat_dictionary"])
        );
        let tagged = Value::Object(map(&sample("impersonation_old_shape"), false).1);
        assert_eq!(
            (
                tagged["action_id"].as_i64(),
                tagged["disposition_id"].as_i64()
            ),
            (Some(4), Some(18))
        );
        assert_eq!(
            (tagged["severity_id"].as_i64(), tagged["is_alert"].as_bool()),
            (Some(2), Some(false))
        );
        assert_eq!(tagged["unmapped"]["senderIpAddress"], "");
        let minimal = Value::Object(map(&sample("impersonation_minimal"), false).1);
        assert_eq!(
            (
                minimal["action_id"].as_i64(),
                minimal["severity_id"].as_i64()
            ),
            (Some(0), Some(0))
        );
    }

    #[test]
    fn attachment_files_status_and_odd_values() {
        let v = Value::Object(map(&samples::example(LogType::AttachmentProtect), false).1);
        assert_eq!(
            v["email"]["files"],
            json!([{"name": "Rechnung_4711_fällig.pdf", "ext": "pdf", "type_id": 1, "type": "Regular File",
                "mime_type": "application/pdf",
                "hashes": [{"algorithm_id": 3, "algorithm": "SHA-256", "value": "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"}]}])
        );
        assert_eq!(
            (v["action_id"].as_i64(), v["disposition_id"].as_i64()),
            (Some(2), Some(3))
        );
        assert_eq!(
            (v["severity_id"].as_i64(), v["status_id"].as_i64()),
            (Some(4), Some(1))
        );
        let timeout = Value::Object(map(&sample("mock_attachment_timeout"), false).1);
        assert_eq!(
            (
                timeout["status_id"].as_i64(),
                timeout["status_detail"].as_str()
            ),
            (Some(2), Some("timeout"))
        );
        assert_eq!(
            (timeout["severity_id"].as_i64(), timeout.get("is_alert")),
            (Some(2), None)
        );
        assert_eq!(timeout["direction_id"], 3);
        let elastic = Value::Object(map(&sample("elastic_attachment"), false).1);
        assert_eq!(elastic["unmapped"]["senderAddress"], "<>");
        assert_eq!(
            (
                elastic["action_id"].as_i64(),
                elastic["disposition_id"].as_i64()
            ),
            (Some(1), Some(1))
        );
        let odd = Value::Object(map(&sample("attachment_odd"), false).1);
        assert_eq!(
            (odd["direction_id"].as_i64(), odd["direction"].as_str()),
            (Some(99), Some("external"))
        );
        assert_eq!(
            (odd["action_id"].as_i64(), odd["disposition_id"].as_i64()),
            (Some(2), Some(2))
        );
        assert_eq!(
            odd["unmapped"]["fileHash"],
            "0cc175b9c0f1b6a831c399e269772661"
        );
        assert_eq!(odd["unmapped"]["fileType"], "application/zip");
        assert_eq!(odd["severity_id"], 2);
    }

    #[test]
    fn a_record_serde_json_cannot_read_is_kept_whole() {
        for s in samples::verbatim() {
            let (line, ev) = map(&s, false);
            assert_eq!(ev["raw_data"], s.raw.get());
            assert_eq!(ev["metadata"]["labels"], json!([LABEL_VERBATIM]));
            assert_eq!(ev["time"].as_i64(), s.time.map(|t| t * 1000));
            assert!(s.time.is_some());
            assert!(ownership_problems(&line, &ev, s.log_type, TENANT, EVENT_ID).is_empty());
            let problems: Vec<String> = ocsf_problems(&ev)
                .into_iter()
                .filter(|p| !p.starts_with("constraint: email"))
                .collect();
            assert!(problems.is_empty(), "{problems:?}");
        }
    }

    #[test]
    fn repaired_records_are_labelled() {
        let s = samples::all().into_iter().find(|s| s.repaired).unwrap();
        let v = Value::Object(map(&s, false).1);
        assert_eq!(v["metadata"]["labels"], json!([LABEL_REPAIRED]));
    }

    proptest! {
        #[test]
        fn arbitrary_records_map_to_valid_one_line_ocsf(
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
            let ev: Map<String, Value> = serde_json::from_str(&line).unwrap();
            let mut problems = ownership_problems(&line, &ev, log_type, &tenant, EVENT_ID);
            // Constraints such as "email needs from or to" cannot hold for every record.
            problems.extend(ocsf_problems(&ev).into_iter().filter(|p| !p.starts_with("constraint: email")));
            prop_assert!(problems.is_empty(), "{:?}\n{}", problems, line);
            let kept = ev.get("unmapped").and_then(Value::as_object).cloned().unwrap_or_default();
            for (k, v) in &kept {
                prop_assert!(record.get(k).is_some_and(|r| samples::same(r, v)), "{}", k);
            }
        }
    }
}
