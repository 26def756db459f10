//! Test records for the mappings: shaped like the Elastic integration's published sample events
//! and like the test mock's records (`host-test/mock/src/dataset/records.rs`: unicode, CRLF in
//! values, `Internal IP`, missing members), plus odd ones (wrong types, nulls, an indented record,
//! records serde_json cannot read), and a proptest strategy for arbitrary records. Test-only.

use proptest::prelude::*;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::Record;
use crate::collect::event;
use crate::log_type::LogType;

/// The tenant of every sample.
pub(crate) const TENANT: &str = "acme-ltd";
/// The event id of every sample.
pub(crate) const EVENT_ID: &str = "92bb6424d44396fa03246581340c68a1";

/// One record as the collector hands it to a mapping.
pub(crate) struct Sample {
    pub name: &'static str,
    pub log_type: LogType,
    pub raw: Box<RawValue>,
    pub time: Option<i64>,
    pub verbatim: bool,
    pub repaired: bool,
}

impl Sample {
    /// A sample from the record's text; time and `verbatim` as the collector finds them.
    pub(crate) fn new(name: &'static str, log_type: LogType, text: &str) -> Sample {
        let raw = RawValue::from_string(text.to_string()).expect("sample is JSON text");
        let info = event::inspect(log_type, &raw, &mut Vec::new());
        Sample {
            name,
            log_type,
            raw,
            time: info.time,
            verbatim: info.verbatim,
            repaired: false,
        }
    }

    /// The record as the mappings take it.
    pub(crate) fn record(&self) -> Record<'_> {
        Record {
            tenant: TENANT,
            log_type: self.log_type,
            event_id: EVENT_ID,
            time: self.time,
            raw: &self.raw,
            repaired: self.repaired,
        }
    }

    /// The record's members, when serde_json can read them.
    pub(crate) fn members(&self) -> Option<Map<String, Value>> {
        super::members(&self.raw)
    }
}

/// The record the examples in `examples/events/` are made from, per log type.
pub(crate) fn example(log_type: LogType) -> Sample {
    let name = match log_type {
        LogType::UrlProtect => "mock_url_malicious",
        LogType::ImpersonationProtect => "mock_impersonation_hold",
        LogType::AttachmentProtect => "mock_attachment_malicious",
    };
    all()
        .into_iter()
        .find(|s| s.name == name)
        .expect("example sample exists")
}

/// Every sample serde_json can read.
pub(crate) fn all() -> Vec<Sample> {
    use LogType::{AttachmentProtect as Ap, ImpersonationProtect as Ip, UrlProtect as Url};
    let mut repaired = Sample::new(
        "url_repaired_utf8",
        Url,
        r#"{"date":"2026-11-24T09:05:00+0000","userEmailAddress":"bob@example.com","url":"https://www.example.org/news/\ufffd","subject":"Caf\ufffd menu","scanResult":"clean","action":"allow"}"#,
    );
    repaired.repaired = true;
    vec![
        // Elastic integration, ttp_url_logs/sample_event.json (`event.original`).
        Sample::new("elastic_url", Url, r#"{"action":"allow","actions":"Allow","adminOverride":"N/A","category":"Search Engines \u0026 Portals","creationMethod":"User Click","date":"2021-11-10T03:49:53+0000","emailPartsDescription":["Body"],"fromUserEmailAddress":"googlealerts-noreply@google.com","messageId":"\u003c000000000000a02a0a05d0671c06@google.com\u003e","route":"inbound","scanResult":"clean","sendingIp":"8.8.8.8","subject":"Google Alert - china","ttpDefinition":"Inbound URL 'Aggressive'","url":"https://www.google.co.za/alerts/share?hl=en\u0026gl=US\u0026ru=https://www.wsj.com/articles/u-s-tests-israels-iron-dome-in-guam-as-defense-against-chinese-cruise-missiles-11636455224\u0026ss=tw","userAwarenessAction":"Continue","userEmailAddress":"johndoe@example.com","userOverride":"None"}"#),
        // Mock-like: malicious, blocked, `Internal IP`, tagMap with `:` in sub-keys.
        Sample::new("mock_url_malicious", Url, r#"{"date":"2026-11-24T09:00:00+0000","userEmailAddress":"carol.jones@example.com","fromUserEmailAddress":"billing@bank-secure.example","url":"http://login-verify.bank-secure.example:8080/session/start.php?id=4f2a9c#login","ttpDefinition":"Default Inbound URL Protect Definition","action":"block","adminOverride":"N/A","userOverride":"None","userAwarenessAction":"N/A","scanResult":"malicious","category":"Phishing & Fraud","route":"inbound","emailPartsDescription":["Body"],"messageId":"<9f3c2a1b7d6e5f40.1a2b3c4d@bank-secure.example>","subject":"Rechnung Nr. 4711 – fällig","sendingIp":"Internal IP","actions":"Block","creationMethod":"User Click","tagMap":{"UrlReputationScan":{"Status":["Block"],"Type":["url"],"Url":["http://login-verify.bank-secure.example:8080/session/start.php?id=4f2a9c"],"Reason":["Phishing & Fraud"],"Inspect:FileExts":["exe","js"]}}}"#),
        // Mock-like: warned, user continued, IPv6 sender, Chinese subject, outbound.
        Sample::new("mock_url_warn", Url, r#"{"date":"2026-11-24T09:01:00+0000","userEmailAddress":"dl-finance@example.com","fromUserEmailAddress":"noreply@contoso-mail.org","url":"https://drive.contoso-mail.org/d/5e1f0a9b3c","ttpDefinition":"Executives - strict URL Protect","action":"warn","adminOverride":"N/A","userOverride":"Continue","userAwarenessAction":"N/A","scanResult":"clean","category":"Uncategorized","route":"outbound","emailPartsDescription":["Body","Subject"],"messageId":"<a1b2c3d4e5f60718.99887766@contoso-mail.org>","subject":"请查收发票","sendingIp":"2001:db8::25","actions":"None","creationMethod":"Entry Scan","tagMap":{"UrlReputationScan":{"Status":["Allow"],"Type":["url"],"Url":["https://drive.contoso-mail.org/d/5e1f0a9b3c"],"Inspect:FileExts":[]}}}"#),
        // Few members; a URL without a scheme.
        Sample::new("url_missing_fields", Url, r#"{"date":"2026-11-24T09:02:00+0000","url":"www.example.org/news/today","userEmailAddress":"alice@example.com"}"#),
        // Wrong types and nulls everywhere; an unreadable date.
        Sample::new("url_wrong_types", Url, r#"{"date":"yesterday","url":42,"userEmailAddress":null,"fromUserEmailAddress":["x@y.example"],"sendingIp":17,"route":{"dir":"inbound"},"subject":true,"scanResult":null,"action":"","messageId":"","emailPartsDescription":"Body","tagMap":null}"#),
        // Indented over several lines with CRLF (a pretty-printing server); CRLF inside a value.
        Sample::new("url_indented", Url, "{\r\n  \"date\" : \"2026-11-24T09:03:00+0000\",\r\n  \"url\" : \"https://cdn.parcel-notify.example/track/0a1b2c3d4e\",\r\n  \"subject\" : \"Your parcel is waiting 📦\\r\\nsecond line\",\r\n  \"scanResult\" : \"malicious\",\r\n  \"action\" : \"allow\",\r\n  \"sendingIp\" : \"203.0.113.9\",\r\n  \"route\" : \"inbound\"\r\n}"),
        repaired,
        // Elastic integration, ttp_ip_logs/sample_event.json.
        Sample::new("elastic_impersonation", Ip, r#"{"action":"none","definition":"IP - 1 hit (Tag email)","eventTime":"2021-11-12T15:27:04+0000","hits":1,"id":"MTOKEN:eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjM3MzAw0FEqSy0qzszPU7Iy1FEqyQMrNDAwV6oFAGMiEg8","identifiers":["internal_user_name"],"impersonationResults":[{"checkerResult":"hit","impersonationDomainSource":"internal_user_name","similarDomain":"John Doe \u003cjohndoe_cdw@example.com\u003e","stringSimilarToDomain":"John Doe"}],"messageId":"\u003cMN2PR16MB2719879CA4DB60C265F7FD8FB0959@MN2PR16MB2719.namprd16.prod.outlook.com\u003e","recipientAddress":"johndoe@example.com","senderAddress":"johndoe@example.com","senderIpAddress":"8.8.8.8","subject":"Don't read, just fill out!","taggedExternal":false,"taggedMalicious":true}"#),
        // Mock-like: two hits, held, Russian subject.
        Sample::new("mock_impersonation_hold", Ip, r#"{"eventTime":"2026-11-24T09:10:00+0000","id":"MTOKEN:eNqrVkouLS7Jz00tSs5PSVWyUnI2MXM0N1XSUcpMUbIyMjM3MzAw0FEqSy0qzszPU7Iy","senderAddress":"ceo@examp1e.com","recipientAddress":"elena.garcia@example.com","subject":"Счёт на оплату","definition":"IP - 2 hits (Hold)","hits":2,"identifiers":["similar_internal_domain","reply_address_mismatch"],"action":"hold","taggedExternal":true,"taggedMalicious":true,"senderIpAddress":"198.51.100.23","messageId":"<0badc0ffee123456.deadbeef@examp1e.com>","impersonationResults":[{"impersonationDomainSource":"similar_internal_domain","similarDomain":"examp1e.com","stringSimilarToDomain":"example.com","checkerResult":"similar"}]}"#),
        // API 2.0 shape: results as strings; bounced; emoji subject.
        Sample::new("impersonation_strings_bounce", Ip, r#"{"eventTime":"2026-11-24T09:11:00+0000","id":"MTOKEN:abc","senderAddress":"j.smith@parcel-notify.example","recipientAddress":"hiro.tanaka@example.com","subject":"Urgent wire transfer request 💸","definition":"IP - 3 hits (Bounce)","hits":3,"identifiers":["newly_observed_domain","internal_user_name","targeted_threat_dictionary"],"action":"bounce","taggedExternal":false,"taggedMalicious":true,"senderIpAddress":"203.0.113.200","messageId":"<1@parcel-notify.example>","impersonationResults":["newly_observed_domain","targeted_threat_dictionary"]}"#),
        // Old top-level shape, not malicious, empty sender IP, no id.
        Sample::new("impersonation_old_shape", Ip, r#"{"eventTime":"2026-11-24T09:12:00+0000","senderAddress":"support@supplier-example.net","recipientAddress":"gustav@example.com","subject":"Q3 report","definition":"IP - 1 hit (Tag email)","hits":1,"identifiers":["newly_observed_domain"],"action":"none","taggedExternal":true,"taggedMalicious":false,"senderIpAddress":"","messageId":"<2@supplier-example.net>","similarDomain":"supplier-example.net"}"#),
        Sample::new("impersonation_minimal", Ip, r#"{"eventTime":"2026-11-24T09:13:00+0000","id":"MTOKEN:min"}"#),
        // Elastic integration, ttp_ap_logs/sample_event.json: null sender `<>`, CRLF in details.
        Sample::new("elastic_attachment", Ap, r#"{"senderAddress":"<>","recipientAddress":"johndoe@example.com","fileName":"numbers.pdf","fileType":"application\/pdf","result":"safe","actionTriggered":"user release, none","date":"2021-10-14T18:54:32+0000","details":"Safe                                              \r\nTime taken: 0 hrs, 0 min, 4 sec","route":"inbound","messageId":"<20200806044148.F35F813B435@mail.brianjthronton.com>","subject":"Important Updated Numbers from the Center for Disease Control","fileHash":"eaeef09b60a59b913e9bfc0a4373e25d6182beff388957473fba517cc09345e3","definition":"Inbound - Safe file with On-Demand Sandbox"}"#),
        // Mock-like: malicious, held, unicode file name, padded CRLF details.
        Sample::new("mock_attachment_malicious", Ap, r#"{"date":"2026-11-24T09:20:00+0000","senderAddress":"invoice@supplier-example.net","recipientAddress":"fatima@example.com","fileName":"Rechnung_4711_fällig.pdf","fileType":"application/pdf","fileHash":"3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea","result":"malicious","actionTriggered":"sandbox, hold","details":"Malicious                                                                       \r\nTime taken: 0 hrs, 0 min, 17 sec\r\nFile type: application/pdf\r\nFile name: Rechnung_4711_fällig.pdf\r\n","route":"inbound","messageId":"<c0ffee0123456789.0a0b0c0d@supplier-example.net>","subject":"Rechnung Nr. 4711 – fällig","definition":"Default Attachment Protect Definition"}"#),
        // Mock-like: sandbox timeout, no hash (empty string), emoji file name, internal.
        Sample::new("mock_attachment_timeout", Ap, r#"{"date":"2026-11-24T09:21:00+0000","senderAddress":"alice@example.com","recipientAddress":"bob@example.com","fileName":"photo 😀.jpg","fileType":"image/jpeg","fileHash":"","result":"timeout","actionTriggered":"none, none","details":"Timeout                                                                         \r\nTime taken: 0 hrs, 0 min, 40 sec\r\n","route":"internal","messageId":"<3@example.com>","subject":"Réunion d'équipe – ordre du jour","definition":"Safe file with on-demand sandbox"}"#),
        // Odd values: MD5 instead of SHA-256, `unknown` result, `external` route, no file name.
        Sample::new("attachment_odd", Ap, r#"{"date":"2026-11-24T09:22:00+0000","senderAddress":"noreply@contoso-mail.org","recipientAddress":"dmitri@example.com","fileType":"application/zip","fileHash":"0cc175b9c0f1b6a831c399e269772661","result":"unknown","actionTriggered":"block, reject","route":"external","extra":{"nested":[1,2,{"x":null}]}}"#),
    ]
}

/// Records serde_json cannot read (a lone surrogate, a number beyond f64), which the collector
/// delivers as received.
pub(crate) fn verbatim() -> Vec<Sample> {
    vec![
        Sample::new(
            "url_lone_surrogate",
            LogType::UrlProtect,
            r#"{"date":"2026-11-24T09:30:00+0000","subject":"\ud800 broken","url":"https://a.example/"}"#,
        ),
        Sample::new(
            "attachment_huge_number",
            LogType::AttachmentProtect,
            "{\n \"date\": \"2026-11-24T09:31:00+0000\",\n \"size\": 1e400\n}",
        ),
    ]
}

/// Member names the mappings read, to make arbitrary records hit them with odd values.
const KNOWN: &[&str] = &[
    "date",
    "eventTime",
    "url",
    "userEmailAddress",
    "fromUserEmailAddress",
    "ttpDefinition",
    "action",
    "adminOverride",
    "userOverride",
    "userAwarenessAction",
    "scanResult",
    "category",
    "route",
    "emailPartsDescription",
    "messageId",
    "subject",
    "sendingIp",
    "actions",
    "creationMethod",
    "tagMap",
    "id",
    "senderAddress",
    "recipientAddress",
    "definition",
    "hits",
    "identifiers",
    "taggedExternal",
    "taggedMalicious",
    "senderIpAddress",
    "impersonationResults",
    "fileName",
    "fileType",
    "fileHash",
    "result",
    "actionTriggered",
    "details",
];

/// Plausible and implausible strings: the values the mappings branch on, and junk.
fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "malicious",
            "clean",
            "safe",
            "timeout",
            "block",
            "allow",
            "warn",
            "hold",
            "bounce",
            "none",
            "inbound",
            "outbound",
            "internal",
            "external",
            "Internal IP",
            "8.8.8.8",
            "2001:db8::1",
            "a@b.example",
            "<>",
            "2026-11-24T09:00:00+0000",
            "0000-01-01T00:00:00+0000",
            "9999-12-31T23:59:59Z",
            "http://[::1",
            "https://x:99999/a.b?",
            "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea",
            "a\r\nb",
            "ü😀\u{0}",
        ])
        .prop_map(String::from),
        ".{0,24}",
    ]
}

/// Arbitrary JSON values, nested a few levels.
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        arb_string().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A member name: mostly one the mappings read, sometimes anything.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KNOWN).prop_map(String::from),
        1 => ".{0,12}",
    ]
}

/// Arbitrary records: objects of known and unknown members with values of any type.
pub(crate) fn arb_record() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(arb_key(), arb_value(), 0..14).prop_map(|m| m.into_iter().collect())
}

/// Any of the three log types.
pub(crate) fn arb_log_type() -> impl Strategy<Value = LogType> {
    prop::sample::select(LogType::ALL.to_vec())
}

/// JSON equality, but floats may differ in their last digit: serde_json (without its
/// `float_roundtrip` feature, which would change how the collector reads numbers, and so event
/// ids) can read a float it wrote one unit in the last place off. TTP records carry no floats.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
