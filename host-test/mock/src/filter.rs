//! Decides which records a validated [`Query`] selects: time window plus endpoint filters (§3.1–3.3).
//! Pure.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::dataset::record_time;
use crate::log_type::LogType;
use crate::request::{Filter, Query, SearchField};

/// `true` when `t` lies in the query window: `from <= t < to`, or `from <= t <= to` when `to_inclusive`.
pub(crate) fn in_window(q: &Query, t: DateTime<Utc>, to_inclusive: bool) -> bool {
    t >= q.from && if to_inclusive { t <= q.to } else { t < q.to }
}

/// The records of `records` selected by `q`, sorted by time (stable: ties keep dataset order),
/// oldest or newest first. Records without a parseable time are never selected. Borrowed: only
/// the page that is served gets copied.
pub(crate) fn select<'a>(
    t: LogType,
    records: &'a [Value],
    q: &Query,
    to_inclusive: bool,
) -> Vec<&'a Value> {
    let mut hits: Vec<(DateTime<Utc>, &Value)> = records
        .iter()
        .filter_map(|r| record_time(t, r).map(|at| (at, r)))
        .filter(|(at, r)| in_window(q, *at, to_inclusive) && matches(&q.filter, r))
        .collect();
    if q.oldest_first {
        hits.sort_by_key(|h| h.0);
    } else {
        hits.sort_by_key(|h| std::cmp::Reverse(h.0));
    }
    hits.into_iter().map(|(_, r)| r).collect()
}

fn str_field<'a>(r: &'a Value, field: &str) -> &'a str {
    r.get(field).and_then(Value::as_str).unwrap_or("")
}

fn eq_opt(want: &Option<String>, r: &Value, field: &str) -> bool {
    want.as_deref()
        .is_none_or(|w| str_field(r, field).eq_ignore_ascii_case(w))
}

/// `true` when record `r` passes the endpoint filters.
pub(crate) fn matches(f: &Filter, r: &Value) -> bool {
    match f {
        Filter::Url { route, scan_result } => {
            eq_opt(route, r, "route") && eq_opt(scan_result, r, "scanResult")
        }
        Filter::Attachment { route, result } => {
            eq_opt(route, r, "route") && eq_opt(result, r, "result")
        }
        Filter::Impersonation {
            tagged_malicious,
            search,
            identifiers,
            actions,
        } => {
            let malicious_ok = tagged_malicious
                .is_none_or(|want| r.get("taggedMalicious").and_then(Value::as_bool) == Some(want));
            let search_ok = search
                .as_ref()
                .is_none_or(|(field, q)| search_matches(*field, q, r));
            let ids_ok = identifiers.is_empty()
                || r.get("identifiers")
                    .and_then(Value::as_array)
                    .is_some_and(|have| {
                        have.iter()
                            .filter_map(Value::as_str)
                            .any(|h| identifiers.iter().any(|w| w == h))
                    });
            let actions_ok = actions.is_empty()
                || actions
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(str_field(r, "action")));
            malicious_ok && search_ok && ids_ok && actions_ok
        }
    }
}

fn search_matches(field: SearchField, query: &str, r: &Value) -> bool {
    let q = query.to_lowercase();
    let hit = |name: &str| str_field(r, name).to_lowercase().contains(&q);
    match field {
        SearchField::Sender => hit("senderAddress"),
        SearchField::Recipient => hit("recipientAddress"),
        SearchField::Subject => hit("subject"),
        SearchField::Policy => hit("definition"),
        SearchField::All => ["senderAddress", "recipientAddress", "subject", "definition"]
            .into_iter()
            .any(hit),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::signing::parse_api_time;
    use serde_json::json;

    fn at(s: &str) -> DateTime<Utc> {
        parse_api_time(s).unwrap()
    }

    fn query(filter: Filter, oldest_first: bool) -> Query {
        Query {
            from: at("2026-11-24T09:00:00+0000"),
            to: at("2026-11-24T10:00:00+0000"),
            oldest_first,
            filter,
        }
    }

    #[test]
    fn window_edge_depends_on_to_inclusive() {
        let q = query(
            Filter::Url {
                route: None,
                scan_result: None,
            },
            true,
        );
        assert!(in_window(&q, at("2026-11-24T09:00:00+0000"), false));
        assert!(!in_window(&q, at("2026-11-24T10:00:00+0000"), false));
        assert!(in_window(&q, at("2026-11-24T10:00:00+0000"), true));
        assert!(!in_window(&q, at("2026-11-24T08:59:59+0000"), true));
    }

    #[test]
    fn select_sorts_stably_both_ways() {
        let recs = vec![
            json!({"date":"2026-11-24T09:00:02+0000","n":0}),
            json!({"date":"2026-11-24T09:00:01+0000","n":1}),
            json!({"date":"2026-11-24T09:00:01+0000","n":2}),
            json!({"date":"bogus","n":3}),
            json!({"date":"2026-11-24T11:00:00+0000","n":4}),
        ];
        let n = |v: Vec<&Value>| {
            v.iter()
                .map(|r| r["n"].as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        let f = Filter::Url {
            route: None,
            scan_result: None,
        };
        assert_eq!(
            n(select(LogType::Url, &recs, &query(f.clone(), true), false)),
            vec![1, 2, 0]
        );
        assert_eq!(
            n(select(LogType::Url, &recs, &query(f, false), false)),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn impersonation_filters() {
        let r = json!({"senderAddress":"ceo@examp1e.com","recipientAddress":"bob@example.com","subject":"Urgent",
            "definition":"IP - 2 hits (Hold)","identifiers":["internal_user_name","newly_observed_domain"],
            "action":"hold","taggedMalicious":true});
        let f = |tm, search, ids: &[&str], actions: &[&str]| Filter::Impersonation {
            tagged_malicious: tm,
            search,
            identifiers: ids.iter().map(|s| s.to_string()).collect(),
            actions: actions.iter().map(|s| s.to_string()).collect(),
        };
        assert!(matches(&f(None, None, &[], &[]), &r));
        assert!(matches(&f(Some(true), None, &[], &[]), &r));
        assert!(!matches(&f(Some(false), None, &[], &[]), &r));
        assert!(matches(
            &f(
                None,
                Some((SearchField::Sender, "EXAMP1E".into())),
                &[],
                &[]
            ),
            &r
        ));
        assert!(!matches(
            &f(
                None,
                Some((SearchField::Recipient, "examp1e".into())),
                &[],
                &[]
            ),
            &r
        ));
        assert!(matches(
            &f(None, Some((SearchField::Policy, "2 hits".into())), &[], &[]),
            &r
        ));
        assert!(matches(
            &f(None, Some((SearchField::All, "urgent".into())), &[], &[]),
            &r
        ));
        assert!(matches(
            &f(None, None, &["x", "newly_observed_domain"], &[]),
            &r
        ));
        assert!(!matches(&f(None, None, &["x"], &[]), &r));
        assert!(matches(&f(None, None, &[], &["bounce", "hold"]), &r));
        assert!(!matches(&f(None, None, &[], &["none"]), &r));
    }

    #[test]
    fn url_and_attachment_filters() {
        let u = json!({"route":"inbound","scanResult":"malicious"});
        assert!(matches(
            &Filter::Url {
                route: Some("inbound".into()),
                scan_result: None
            },
            &u
        ));
        assert!(!matches(
            &Filter::Url {
                route: None,
                scan_result: Some("clean".into())
            },
            &u
        ));
        let a = json!({"route":"outbound","result":"safe"});
        assert!(matches(
            &Filter::Attachment {
                route: None,
                result: Some("safe".into())
            },
            &a
        ));
        assert!(!matches(
            &Filter::Attachment {
                route: Some("inbound".into()),
                result: None
            },
            &a
        ));
    }
}
