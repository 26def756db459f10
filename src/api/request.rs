//! Building Mimecast requests (reference §1.1, §3.0–3.3, §5): the `data[0]` item of a window,
//! the page body, and the authenticated POST (API 1.0 signed, API 2.0 bearer). Pure: time,
//! randomness and tokens come from the caller.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::api::signing;
use crate::api::timefmt;
use crate::io::HttpRequest;
use crate::log_type::LogType;
use crate::settings::{Api1Auth, ApiVersion, Settings};

/// The `data[0]` item for a window: times, `oldestFirst: true`, and the configured filters.
/// It is stored with the window so every page of that window sends the very same item (§6.6 #7).
/// API 1.0 gets `2026-11-24T09:00:00+0000`, API 2.0 RFC 3339 `2026-11-24T09:00:00Z` (§3.4).
pub fn window_item(
    log_type: LogType,
    settings: &Settings,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Value {
    let format = match settings.auth.version() {
        ApiVersion::V1 => timefmt::format_mimecast,
        ApiVersion::V2 => timefmt::format_rfc3339,
    };
    let mut item = Map::new();
    item.insert("from".into(), format(from).into());
    item.insert("to".into(), format(to).into());
    item.insert("oldestFirst".into(), true.into());
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            item.insert(key.into(), v.clone().into());
        }
    };
    match log_type {
        LogType::UrlProtect => {
            put("route", &settings.url_filter.route);
            put("scanResult", &settings.url_filter.scan_result);
        }
        LogType::AttachmentProtect => {
            put("route", &settings.attachment_filter.route);
            put("result", &settings.attachment_filter.result);
        }
        LogType::ImpersonationProtect => {
            let f = &settings.impersonation_filter;
            put("searchField", &f.search_field);
            put("query", &f.query);
            // Omitted unless configured: the docs' example `true` silently drops records (§3.2).
            if let Some(tagged) = f.tagged_malicious {
                item.insert("taggedMalicious".into(), tagged.into());
            }
            if !f.identifiers.is_empty() {
                item.insert("identifiers".into(), json!(f.identifiers));
            }
            if !f.actions.is_empty() {
                item.insert("actions".into(), json!(f.actions));
            }
        }
    }
    Value::Object(item)
}

/// The JSON body of one page request.
pub fn page_body(item: &Value, page_size: u32, page_token: Option<&str>) -> Vec<u8> {
    let mut pagination = Map::new();
    pagination.insert("pageSize".into(), page_size.into());
    if let Some(token) = page_token {
        pagination.insert("pageToken".into(), token.into());
    }
    json!({"meta": {"pagination": pagination}, "data": [item]})
        .to_string()
        .into_bytes()
}

/// A signed API 1.0 POST of `body` to `path` on `base_url` (§1.1).
pub fn signed_post(
    base_url: &str,
    keys: &Api1Auth,
    path: &str,
    body: Vec<u8>,
    now: DateTime<Utc>,
    random: [u8; 16],
) -> HttpRequest {
    let date = signing::mc_date(now);
    let request_id = signing::request_id(random);
    let authorization = signing::authorization(
        &keys.access_key,
        &keys.secret,
        &keys.app_key,
        &date,
        &request_id,
        path,
    );
    HttpRequest {
        url: format!("{base_url}{path}"),
        headers: vec![
            ("authorization", authorization),
            ("x-mc-app-id", keys.app_id.clone()),
            ("x-mc-date", date),
            ("x-mc-req-id", request_id),
            ("content-type", "application/json".into()),
            ("accept", "application/json".into()),
        ],
        body,
    }
}

/// An API 2.0 POST of `body` to `path` on the gateway, with `bearer` (`Bearer …`, from the
/// token) as `Authorization` and no signing headers (§5).
pub fn bearer_post(gateway: &str, bearer: String, path: &str, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        url: format!("{gateway}{path}"),
        headers: vec![
            ("authorization", bearer),
            ("content-type", "application/json".into()),
            ("accept", "application/json".into()),
        ],
        body,
    }
}

/// The unsigned discover-authentication request for `email` (§2.2): `x-mc-app-id`,
/// `x-mc-date` and `x-mc-req-id`, no `Authorization`.
pub fn discover_post(
    discover_url: &str,
    app_id: &str,
    email: &str,
    now: DateTime<Utc>,
    random: [u8; 16],
) -> HttpRequest {
    HttpRequest {
        url: format!(
            "{}{DISCOVER_PATH}",
            discover_url.trim().trim_end_matches('/')
        ),
        headers: vec![
            ("x-mc-app-id", app_id.trim().to_string()),
            ("x-mc-date", signing::mc_date(now)),
            ("x-mc-req-id", signing::request_id(random)),
            ("content-type", "application/json".into()),
            ("accept", "application/json".into()),
        ],
        body: json!({"data": [{"emailAddress": email.trim()}]})
            .to_string()
            .into_bytes(),
    }
}

/// Path of the region discovery endpoint (§2.2).
pub const DISCOVER_PATH: &str = "/api/login/discover-authentication";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::settings::tests::sample;
    use chrono::TimeZone;

    fn settings() -> Settings {
        let mut c = sample();
        c.url_filter.scan_result = Some("malicious".into());
        c.impersonation_filter.identifiers = vec!["internal_user_name".into()];
        Settings::validate(c).unwrap().0
    }

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, h, 0, 0).unwrap()
    }

    #[test]
    fn url_item_has_times_order_and_filters() {
        let item = window_item(LogType::UrlProtect, &settings(), t(9), t(10));
        assert_eq!(
            item,
            json!({"from": "2026-11-24T09:00:00+0000", "to": "2026-11-24T10:00:00+0000",
                   "oldestFirst": true, "scanResult": "malicious"})
        );
    }

    #[test]
    fn impersonation_item_omits_tagged_malicious_unless_set() {
        let item = window_item(LogType::ImpersonationProtect, &settings(), t(9), t(10));
        assert!(item.get("taggedMalicious").is_none());
        assert_eq!(item["identifiers"], json!(["internal_user_name"]));
        assert!(item.get("scanResult").is_none());
    }

    #[test]
    fn attachment_item_uses_result_not_scan_result() {
        let mut c = sample();
        c.attachment_filter.result = Some("malicious".into());
        let s = Settings::validate(c).unwrap().0;
        let item = window_item(LogType::AttachmentProtect, &s, t(9), t(10));
        assert_eq!(item["result"], "malicious");
        assert!(item.get("scanResult").is_none());
    }

    #[test]
    fn api2_items_use_rfc3339_times() {
        let s = Settings::validate(crate::settings::tests::sample_api2())
            .unwrap()
            .0;
        let item = window_item(LogType::UrlProtect, &s, t(9), t(10));
        assert_eq!(item["from"], "2026-11-24T09:00:00Z");
        assert_eq!(item["to"], "2026-11-24T10:00:00Z");
    }

    #[test]
    fn discover_request_is_unsigned() {
        let r = discover_post(
            "https://api.mimecast.com/",
            "app",
            " svc@example.com ",
            t(10),
            [2; 16],
        );
        assert_eq!(
            r.url,
            "https://api.mimecast.com/api/login/discover-authentication"
        );
        assert!(r.headers.iter().all(|(n, _)| *n != "authorization"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, json!({"data": [{"emailAddress": "svc@example.com"}]}));
    }

    #[test]
    fn body_carries_token_only_when_given() {
        let item = json!({"from": "x"});
        let first: Value = serde_json::from_slice(&page_body(&item, 100, None)).unwrap();
        assert_eq!(
            first,
            json!({"meta": {"pagination": {"pageSize": 100}}, "data": [{"from": "x"}]})
        );
        let next: Value = serde_json::from_slice(&page_body(&item, 50, Some("tok"))).unwrap();
        assert_eq!(next["meta"]["pagination"]["pageToken"], "tok");
        assert_eq!(next["data"][0], item);
    }

    #[test]
    fn signed_post_has_all_headers() {
        let s = settings();
        let crate::settings::Auth::Api1(keys) = &s.auth else {
            panic!("api1 sample")
        };
        let req = signed_post(
            &s.base_url,
            keys,
            LogType::UrlProtect.path(),
            b"{}".to_vec(),
            t(10),
            [1; 16],
        );
        assert_eq!(req.url, "https://eu-api.mimecast.com/api/ttp/url/get-logs");
        let names: Vec<_> = req.headers.iter().map(|(n, _)| *n).collect();
        for h in [
            "authorization",
            "x-mc-app-id",
            "x-mc-date",
            "x-mc-req-id",
            "content-type",
        ] {
            assert!(names.contains(&h), "{h}");
        }
        let date = &req
            .headers
            .iter()
            .find(|(n, _)| *n == "x-mc-date")
            .unwrap()
            .1;
        assert_eq!(date, "Tue, 24 Nov 2026 10:00:00 UTC");
        let auth = &req.headers[0].1;
        assert!(auth.starts_with("MC access:") && auth.len() == "MC access:".len() + 28);
    }
}
