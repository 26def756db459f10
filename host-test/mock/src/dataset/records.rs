//! Builders for realistic TTP records, one per log type, with fields exactly as in
//! shared/reference/mimecast-api.md §3.1–3.3. Pure: randomness comes from the caller's seeded [`Rng`].

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::rng::Rng;
use crate::signing::format_api_time;

/// Subjects, including non-ASCII ones (German, Chinese, Russian, emoji).
pub(crate) const SUBJECTS: &[&str] = &[
    "Rechnung Nr. 4711 – fällig",
    "请查收发票",
    "Your parcel is waiting 📦",
    "Réunion d'équipe – ordre du jour",
    "Счёт на оплату",
    "Q3 report",
    "Password expiry notice",
    "Invoice INV-2026-0042",
    "Re: Lunch?",
    "Urgent wire transfer request",
    "Shared document: Budget 2027.xlsx",
    "Meeting notes",
];

/// File names, including non-ASCII ones.
pub(crate) const FILE_NAMES: &[(&str, &str)] = &[
    ("Rechnung_4711_fällig.pdf", "application/pdf"),
    (
        "发票.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("photo 😀.jpg", "image/jpeg"),
    (
        "report-Q3.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("invoice.zip", "application/zip"),
    ("scan_0042.pdf", "application/pdf"),
    ("setup.exe", "application/x-msdownload"),
    ("notes.txt", "text/plain"),
];

const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol.jones",
    "dmitri",
    "elena.garcia",
    "fatima",
    "gustav",
    "hiro.tanaka",
    "dl-finance",
];
const INTERNAL_DOMAIN: &str = "example.com";
const EXTERNAL_DOMAINS: &[&str] = &[
    "supplier-example.net",
    "contoso-mail.org",
    "bank-secure.example",
    "parcel-notify.example",
    "examp1e.com",
];
const URL_HOSTS: &[&str] = &[
    "https://docs.supplier-example.net/share/",
    "http://login-verify.bank-secure.example/session?id=",
    "https://www.example.org/news/",
    "https://cdn.parcel-notify.example/track/",
    "https://drive.contoso-mail.org/d/",
];

fn internal_address(rng: &mut Rng) -> String {
    format!("{}@{INTERNAL_DOMAIN}", rng.pick(USERS))
}

fn external_address(rng: &mut Rng) -> String {
    let local = rng.pick(&["billing", "noreply", "ceo", "support", "j.smith", "invoice"]);
    format!("{local}@{}", rng.pick(EXTERNAL_DOMAINS))
}

fn ip(rng: &mut Rng) -> String {
    let net = rng.pick(&["198.51.100", "203.0.113", "192.0.2"]);
    format!("{net}.{}", 1 + rng.below(254))
}

fn message_id(rng: &mut Rng) -> String {
    format!(
        "<{}.{}@{}>",
        rng.hex(16),
        rng.hex(8),
        rng.pick(EXTERNAL_DOMAINS)
    )
}

fn route(rng: &mut Rng) -> &'static str {
    match rng.below(10) {
        0..=6 => "inbound",
        7 | 8 => "outbound",
        _ => "internal",
    }
}

/// A TTP URL Protect click log (§3.1).
pub(crate) fn url_record(rng: &mut Rng, at: DateTime<Utc>) -> Value {
    let malicious = rng.chance(200);
    let link = format!("{}{}", rng.pick(URL_HOSTS), rng.hex(10));
    let route = route(rng);
    let sending_ip = if route == "internal" || rng.chance(80) {
        "Internal IP".to_string()
    } else {
        ip(rng)
    };
    let (action, actions, category, tag_map) = if malicious {
        let category = *rng.pick(&[
            "Phishing & Fraud",
            "Malware",
            "Compromised",
            "Dangerous file extension",
        ]);
        let tag_map = json!({
            "UrlReputationScan": {
                "Status": ["Block"],
                "Type": ["url"],
                "Url": [link],
                "Reason": [category],
                "Inspect:FileExts": ["exe", "js"]
            },
            "DangerousFileExt": {
                "ContentCheck_ContentScannersBlocked": ["False"],
                "FileExt": ["exe"],
                "FileHash": [rng.hex(64)],
                "Status": ["dangerous"],
                "UrlFileDownloadScanTimeout": ["False"]
            }
        });
        ("block", "Block", category, tag_map)
    } else {
        let category = *rng.pick(&["Business", "News", "Search Engines", "Uncategorized"]);
        let tag_map = json!({
            "UrlReputationScan": {
                "Status": ["Allow"],
                "Type": ["url"],
                "Url": [link],
                "Inspect:FileExts": []
            }
        });
        let action = *rng.pick(&["allow", "allow", "warn"]);
        (action, "None", category, tag_map)
    };
    let parts = if rng.chance(150) {
        json!(["Attachment"])
    } else if rng.chance(100) {
        json!(["Body", "Subject"])
    } else {
        json!(["Body"])
    };
    json!({
        "date": format_api_time(at),
        "userEmailAddress": internal_address(rng),
        "fromUserEmailAddress": external_address(rng),
        "url": link,
        "ttpDefinition": rng.pick(&["Default Inbound URL Protect Definition", "Executives - strict URL Protect"]),
        "action": action,
        "adminOverride": "N/A",
        "userOverride": if action == "warn" { "Continue" } else { "None" },
        "userAwarenessAction": "N/A",
        "scanResult": if malicious { "malicious" } else { "clean" },
        "category": category,
        "route": route,
        "emailPartsDescription": parts,
        "messageId": message_id(rng),
        "subject": rng.pick(SUBJECTS),
        "sendingIp": sending_ip,
        "actions": actions,
        "creationMethod": rng.pick(&["Entry Scan", "User Click", "Entry Scan"]),
        "tagMap": tag_map
    })
}

const IDENTIFIERS: &[&str] = &[
    "newly_observed_domain",
    "internal_user_name",
    "reply_address_mismatch",
    "targeted_threat_dictionary",
    "similar_internal_domain",
    "custom_external_domain",
];

/// A TTP Impersonation Protect log (§3.2).
pub(crate) fn impersonation_record(rng: &mut Rng, at: DateTime<Utc>) -> Value {
    let mut identifiers: Vec<&str> = Vec::new();
    let wanted = 1 + rng.below(3);
    for _ in 0..wanted {
        let id = *rng.pick(IDENTIFIERS);
        if !identifiers.contains(&id) {
            identifiers.push(id);
        }
    }
    let hits = identifiers.len();
    let (definition, action) = match hits {
        1 => ("IP - 1 hit (Tag email)", "none"),
        2 => ("IP - 2 hits (Hold)", *rng.pick(&["hold", "none"])),
        _ => ("IP - 3 hits (Bounce)", "bounce"),
    };
    let results: Vec<Value> = identifiers
        .iter()
        .filter(|i| i.ends_with("_domain"))
        .map(|i| {
            json!({
                "impersonationDomainSource": i,
                "similarDomain": "examp1e.com",
                "stringSimilarToDomain": INTERNAL_DOMAIN,
                "checkerResult": rng.pick(&["hit", "similar"]),
            })
        })
        .collect();
    json!({
        "eventTime": format_api_time(at),
        "id": format!("MTOKEN:eNq{}", rng.base64url(60)),
        "senderAddress": external_address(rng),
        "recipientAddress": internal_address(rng),
        "subject": rng.pick(SUBJECTS),
        "definition": definition,
        "hits": hits,
        "identifiers": identifiers,
        "action": action,
        "taggedExternal": rng.chance(700),
        "taggedMalicious": hits >= 2,
        "senderIpAddress": ip(rng),
        "messageId": message_id(rng),
        "impersonationResults": results
    })
}

/// A TTP Attachment Protection log (§3.3); `details` has `\r\n` line ends and padding.
pub(crate) fn attachment_record(rng: &mut Rng, at: DateTime<Utc>) -> Value {
    let (file_name, file_type) = *rng.pick(FILE_NAMES);
    let result = match rng.below(100) {
        0..=69 => "safe",
        70..=94 => "malicious",
        95..=97 => "timeout",
        _ => "error",
    };
    let file_hash = if rng.chance(80) {
        String::new()
    } else {
        rng.hex(64)
    };
    let verdict = match result {
        "safe" => "Safe",
        "malicious" => "Malicious",
        "timeout" => "Timeout",
        _ => "Error",
    };
    let details = format!(
        "{verdict:<80}\r\nTime taken: 0 hrs, 0 min, {} sec\r\nFile type: {file_type}\r\nFile name: {file_name}\r\n",
        1 + rng.below(40)
    );
    let (sender, recipient) = match route(rng) {
        "outbound" => (internal_address(rng), external_address(rng)),
        "internal" => (internal_address(rng), internal_address(rng)),
        _ => (external_address(rng), internal_address(rng)),
    };
    let route = if sender.ends_with(INTERNAL_DOMAIN) && recipient.ends_with(INTERNAL_DOMAIN) {
        "internal"
    } else if sender.ends_with(INTERNAL_DOMAIN) {
        "outbound"
    } else {
        "inbound"
    };
    json!({
        "date": format_api_time(at),
        "senderAddress": sender,
        "recipientAddress": recipient,
        "fileName": file_name,
        "fileType": file_type,
        "fileHash": file_hash,
        "result": result,
        "actionTriggered": if result == "malicious" { "sandbox, hold" } else { "none, none" },
        "details": details,
        "route": route,
        "messageId": message_id(rng),
        "subject": rng.pick(SUBJECTS),
        "definition": rng.pick(&["Default Attachment Protect Definition", "Safe file with on-demand sandbox"])
    })
}
