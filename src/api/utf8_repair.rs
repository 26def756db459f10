//! Repairing a response body that is not UTF-8: a server whose text encoding is broken can put
//! one invalid byte into one record's string, and JSON must be UTF-8. Rather than refuse the
//! whole page (and so every record after it, for as long as the server sends it), each invalid
//! byte sequence is replaced by U+FFFD, as `String::from_utf8_lossy` does, and the records that
//! held one are told apart so that their events can say so. Pure.
//!
//! Invalid bytes can stand only inside JSON strings (anywhere else the page is not JSON at all),
//! so a repair never changes the page's structure, and the same bytes are always repaired the
//! same way: a repaired record keeps a stable identity across re-reads.

/// The `repaired` member of an event whose record held invalid UTF-8.
pub const REPAIRED_NOTE: &str = "invalid UTF-8 replaced by U+FFFD";

/// A body in which invalid UTF-8 was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The body, now UTF-8.
    pub body: Vec<u8>,
    /// Offsets in `body` of each U+FFFD put in place of an invalid sequence, ascending.
    pub spots: Vec<usize>,
}

/// `body` with each invalid UTF-8 sequence replaced by U+FFFD, or `None` when it is UTF-8
/// already (the usual case, which costs one validation pass and no copy).
pub fn repair(body: &[u8]) -> Option<Repaired> {
    if std::str::from_utf8(body).is_ok() {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut spots = Vec::new();
    for chunk in body.utf8_chunks() {
        out.extend_from_slice(chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            spots.push(out.len());
            out.extend_from_slice(char::REPLACEMENT_CHARACTER.to_string().as_bytes());
        }
    }
    Some(Repaired { body: out, spots })
}

/// Whether `part`, a slice of `body`, holds one of the repairs at `spots` (offsets in `body`,
/// ascending). A `part` that does not lie inside `body` holds none.
pub fn touches(body: &[u8], part: &str, spots: &[usize]) -> bool {
    let base = body.as_ptr() as usize;
    let Some(start) = (part.as_ptr() as usize).checked_sub(base) else {
        return false;
    };
    let end = start + part.len();
    if end > body.len() {
        return false;
    }
    let first = spots.partition_point(|&s| s < start);
    spots.get(first).is_some_and(|&s| s < end)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn utf8_is_left_alone() {
        assert_eq!(repair("{\"a\":\"é \u{FFFD}\"}".as_bytes()), None);
    }

    #[test]
    fn each_invalid_sequence_becomes_one_replacement_character() {
        let body = b"[\"a\xFFb\",\"c\xE2\x82d\",\"ok\"]";
        let r = repair(body).unwrap();
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert_eq!(text, String::from_utf8_lossy(body));
        assert_eq!(text, "[\"a\u{FFFD}b\",\"c\u{FFFD}d\",\"ok\"]");
        assert_eq!(r.spots, vec![3, 11]);
        for &s in &r.spots {
            assert_eq!(&r.body[s..s + 3], "\u{FFFD}".as_bytes());
        }
        // The same bytes, the same repair.
        assert_eq!(repair(body), Some(r));
    }

    #[test]
    fn only_the_parts_holding_a_repair_are_touched() {
        let r = repair(b"[\"a\xFF\",\"b\",\"\xC0\"]").unwrap();
        let text = std::str::from_utf8(&r.body).unwrap();
        let parts: Vec<&str> = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(text)
            .unwrap()
            .into_iter()
            .map(|v| v.get())
            .collect();
        let marked: Vec<bool> = parts
            .iter()
            .map(|p| touches(&r.body, p, &r.spots))
            .collect();
        assert_eq!(marked, vec![true, false, true]);
        // A string elsewhere is never touched.
        assert!(!touches(&r.body, "\"a\u{FFFD}\"", &r.spots));
    }
}
