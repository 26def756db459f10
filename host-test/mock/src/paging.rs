//! Opaque page tokens and page slicing, like an offset pager (§3.0, §6.6 #8).
//!
//! A token is base64url(JSON `{"t": log type, "q": hash of type + canonical data[0], "o": offset,
//! "d": data[0]}`). The result set is recomputed on every request from the current dataset, so
//! records appended meanwhile shift offsets just as a real offset pager would. Pure.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

use crate::config::PagingEnd;
use crate::log_type::LogType;

/// The decoded content of a page token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PageToken {
    /// Log type the token was issued for (`url`, …).
    pub t: String,
    /// Hash of the log type and canonical `data[0]`.
    pub q: String,
    /// Offset of the page's first record in the result set.
    pub o: usize,
    /// The `data[0]` it was issued for, so a follow-up request may omit `data` (as Elastic does, §6.1).
    pub d: Map<String, Value>,
}

/// Hash identifying a query: log type + `data[0]` with keys sorted recursively.
pub(crate) fn query_hash(t: LogType, item: &Map<String, Value>) -> String {
    let mut canon = String::new();
    canonical(&Value::Object(item.clone()), &mut canon);
    let digest = Sha1::digest(format!("{}\n{canon}", t.as_str()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                if let Some(inner) = m.get(*k) {
                    canonical(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, inner) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(inner, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Encodes a token for `offset` into the result set of (`t`, `item`).
pub(crate) fn encode_token(t: LogType, item: &Map<String, Value>, offset: usize) -> String {
    let token = PageToken {
        t: t.as_str().to_string(),
        q: query_hash(t, item),
        o: offset,
        d: item.clone(),
    };
    // Serializing a struct of strings, a number and a JSON map cannot fail.
    let json = serde_json::to_vec(&token).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Decodes a token; `None` when it is not one of ours.
pub(crate) fn decode_token(s: &str) -> Option<PageToken> {
    let raw = URL_SAFE_NO_PAD.decode(s.trim()).ok()?;
    serde_json::from_slice(&raw).ok()
}

/// Why a presented token cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenProblem {
    /// Not a token this server issued.
    Garbled,
    /// Issued for another endpoint.
    OtherEndpoint,
    /// Issued for a different `data[0]` (from/to/filters changed between pages).
    OtherQuery,
}

/// Resolves the `data[0]` and offset to serve: with a token, `item` must be absent or equal to the
/// token's query; without one, offset 0.
pub(crate) fn resolve(
    t: LogType,
    item: Option<Map<String, Value>>,
    token: Option<&str>,
) -> Result<(Map<String, Value>, usize), TokenProblem> {
    let Some(raw) = token else {
        return Ok((item.unwrap_or_default(), 0));
    };
    let token = decode_token(raw).ok_or(TokenProblem::Garbled)?;
    if token.t != t.as_str() {
        return Err(TokenProblem::OtherEndpoint);
    }
    if query_hash(t, &token.d) != token.q {
        return Err(TokenProblem::Garbled);
    }
    match item {
        None => Ok((token.d, token.o)),
        Some(item) if query_hash(t, &item) == token.q => Ok((item, token.o)),
        Some(_) => Err(TokenProblem::OtherQuery),
    }
}

/// One page cut from a result set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Page {
    /// The page's records.
    pub records: Vec<Value>,
    /// Offset for `next`, if the page carries one.
    pub next: Option<usize>,
    /// Offset for `previous`, if the page carries one.
    pub previous: Option<usize>,
}

/// Cuts the page at `offset` of `size` records from a result set of `total` records.
pub(crate) fn cut<V: std::borrow::Borrow<Value>>(
    all: &[V],
    offset: usize,
    size: usize,
    end: PagingEnd,
) -> Page {
    let total = all.len();
    let size = size.max(1);
    let stop = offset.saturating_add(size).min(total);
    let records: Vec<Value> = all
        .get(offset..stop)
        .map(|page| page.iter().map(|r| r.borrow().clone()).collect())
        .unwrap_or_default();
    let next = if offset.saturating_add(size) < total {
        Some(offset + size)
    } else {
        match end {
            PagingEnd::NextAbsent => None,
            // The last page with records points at an empty page, which points at itself.
            PagingEnd::EmptyPageWithNext if records.is_empty() => Some(offset),
            PagingEnd::EmptyPageWithNext => Some(offset.saturating_add(size)),
        }
    };
    let previous = (offset > 0).then(|| offset.saturating_sub(size));
    Page {
        records,
        next,
        previous,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn hash_ignores_key_order_but_not_values_or_type() {
        let a = item(json!({"from":"a","to":"b","x":{"p":1,"q":2}}));
        let b: Map<String, Value> =
            serde_json::from_str(r#"{"x":{"q":2,"p":1},"to":"b","from":"a"}"#).unwrap();
        assert_eq!(query_hash(LogType::Url, &a), query_hash(LogType::Url, &b));
        assert_ne!(
            query_hash(LogType::Url, &a),
            query_hash(LogType::Attachment, &a)
        );
        assert_ne!(
            query_hash(LogType::Url, &a),
            query_hash(LogType::Url, &item(json!({"from":"a","to":"c"})))
        );
    }

    #[test]
    fn token_round_trips_and_checks_query() {
        let q = item(json!({"from":"2026-11-24T09:00:00+0000","oldestFirst":true}));
        let tok = encode_token(LogType::Url, &q, 40);
        assert!(tok
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_eq!(
            resolve(LogType::Url, Some(q.clone()), Some(&tok)),
            Ok((q.clone(), 40))
        );
        assert_eq!(resolve(LogType::Url, None, Some(&tok)), Ok((q.clone(), 40)));
        let other = item(json!({"from":"2026-11-24T09:00:01+0000","oldestFirst":true}));
        assert_eq!(
            resolve(LogType::Url, Some(other), Some(&tok)),
            Err(TokenProblem::OtherQuery)
        );
        assert_eq!(
            resolve(LogType::Impersonation, Some(q), Some(&tok)),
            Err(TokenProblem::OtherEndpoint)
        );
        assert_eq!(
            resolve(LogType::Url, None, Some("not-a-token")),
            Err(TokenProblem::Garbled)
        );
        assert_eq!(resolve(LogType::Url, None, None), Ok((Map::new(), 0)));
    }

    #[test]
    fn tampered_token_is_garbled() {
        let q = item(json!({"from":"a"}));
        let mut t = decode_token(&encode_token(LogType::Url, &q, 0)).unwrap();
        t.d = item(json!({"from":"b"}));
        let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&t).unwrap());
        assert_eq!(
            resolve(LogType::Url, None, Some(&forged)),
            Err(TokenProblem::Garbled)
        );
    }

    #[test]
    fn cut_next_absent() {
        let all: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let p = cut(&all, 0, 2, PagingEnd::NextAbsent);
        assert_eq!((p.records.len(), p.next, p.previous), (2, Some(2), None));
        let p = cut(&all, 4, 2, PagingEnd::NextAbsent);
        assert_eq!((p.records.len(), p.next, p.previous), (1, None, Some(2)));
        let p = cut(&all, 2, 3, PagingEnd::NextAbsent);
        assert_eq!((p.records.len(), p.next), (3, None));
        let p = cut::<Value>(&[], 0, 2, PagingEnd::NextAbsent);
        assert_eq!((p.records.len(), p.next, p.previous), (0, None, None));
    }

    #[test]
    fn cut_empty_page_with_next() {
        let all: Vec<Value> = (0..4).map(|i| json!(i)).collect();
        let p = cut(&all, 2, 2, PagingEnd::EmptyPageWithNext);
        assert_eq!((p.records.len(), p.next), (2, Some(4)));
        let p = cut(&all, 4, 2, PagingEnd::EmptyPageWithNext);
        assert_eq!((p.records.len(), p.next, p.previous), (0, Some(4), Some(2)));
        let p = cut::<Value>(&[], 0, 2, PagingEnd::EmptyPageWithNext);
        assert_eq!((p.records.len(), p.next), (0, Some(0)));
    }
}
