//! Canonical JSON of a record, the bytes its identity is hashed from: object keys sorted, no
//! whitespace, strings and numbers as serde_json writes them. The output is byte-for-byte what
//! `serde_json::to_vec(&serde_json::from_str::<Value>(json)?)` gives (so event ids stay what they
//! were), but it is written while the record is read, without building a `Value`: strings without
//! escapes (nearly all of them) are copied as they are, and only objects collect their members
//! (as borrowed slices) to sort them. Pure.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Objects and arrays nested this deep or deeper are refused, as serde_json refuses them (its
/// recursion limit of 128 admits 127 levels).
const MAX_DEPTH: usize = 128;

/// Writes the canonical form of the JSON text `json` to `out` (appending) and returns the
/// top-level member `field` when `json` is an object whose `field` is a string. A top-level
/// member named `skip` is left out of the output (it is still read, and refused like any
/// other when it is not valid).
///
/// # Errors
/// `json` is not one valid JSON value, or nests deeper than 128 levels.
pub fn write<'a>(
    json: &'a str,
    field: &str,
    skip: Option<&str>,
    out: &mut Vec<u8>,
) -> Result<Option<Cow<'a, str>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let picked = Canonical {
        out,
        pick: Some(field),
        skip,
        depth: 0,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(picked)
}

fn write_nested<'a>(
    json: &'a str,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<Option<Cow<'a, str>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(json);
    let picked = Canonical {
        out,
        pick: None,
        skip: None,
        depth,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(picked)
}

/// Writes a string the way serde_json does. A string serde_json could borrow from the input
/// (`had_escapes` false) had no escapes, so it holds no quote, backslash or control character
/// and goes out as it is.
fn write_str(s: &str, had_escapes: bool, out: &mut Vec<u8>) {
    if had_escapes {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Writes the value it is deserialized from in canonical form; yields the member `pick` of a
/// top-level object when that member is a string, and leaves out its member `skip`.
struct Canonical<'o, 'p> {
    out: &'o mut Vec<u8>,
    pick: Option<&'p str>,
    skip: Option<&'p str>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Canonical<'_, '_> {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canonical<'_, '_> {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        self.out.extend_from_slice(b"null");
        Ok(None)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        let _ = serde_json::to_writer(&mut *self.out, &v);
        Ok(None)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        let _ = serde_json::to_writer(&mut *self.out, &v);
        Ok(None)
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // `Value` keeps a finite float as a number and anything else as null; serde_json writes
        // both that way.
        let _ = serde_json::to_writer(&mut *self.out, &v);
        Ok(None)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        write_str(v, false, self.out);
        Ok(None)
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        write_str(v, true, self.out);
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth + 1;
        if depth >= MAX_DEPTH {
            return Err(A::Error::custom("recursion limit exceeded"));
        }
        self.out.push(b'[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(b',');
            }
            let element = Canonical {
                out: &mut *self.out,
                pick: None,
                skip: None,
                depth,
            };
            if seq.next_element_seed(element)?.is_none() {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth + 1;
        if depth >= MAX_DEPTH {
            return Err(A::Error::custom("recursion limit exceeded"));
        }
        let mut members: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
        while let Some(key) = map.next_key_seed(Key)? {
            members.push((key, map.next_value()?));
        }
        // `Value`'s map is a BTreeMap: keys in byte order, and the last of repeated keys wins.
        // The sort is stable, so of equal keys the last one stays last.
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut picked = None;
        self.out.push(b'{');
        let mut first = true;
        for (i, (key, value)) in members.iter().enumerate() {
            let overwritten = members.get(i + 1).is_some_and(|next| next.0 == *key);
            if overwritten || self.skip.is_some_and(|s| s == key) {
                // Not written, but `Value` parses it all the same: a value it would refuse
                // (a number out of range, a lone surrogate, too deep) fails here too.
                write_nested(value.get(), &mut Vec::new(), depth).map_err(A::Error::custom)?;
                continue;
            }
            if !first {
                self.out.push(b',');
            }
            first = false;
            write_str(key, matches!(key, Cow::Owned(_)), self.out);
            self.out.push(b':');
            write_nested(value.get(), self.out, depth).map_err(A::Error::custom)?;
            if self.pick.is_some_and(|p| p == key) {
                // A string, or nothing: `Key` refuses any other value.
                let mut de = serde_json::Deserializer::from_str(value.get());
                picked = Key.deserialize(&mut de).ok();
            }
        }
        self.out.push(b'}');
        Ok(picked)
    }
}

/// An object key (or any string), borrowed from the input when it has no escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// What the canonical form must equal: serde_json's own `Value` round trip.
    fn oracle(json: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::from_str::<Value>(json).unwrap()).unwrap()
    }

    fn canonical(json: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write(json, "date", None, &mut out).unwrap();
        out
    }

    #[test]
    fn matches_serde_json_on_tricky_values() {
        for json in [
            r#"{"b":1,"a":2}"#,
            r#" { "z" : [ 1 , 2.50 , -0 , -3 , 1e3 , 1E-7 , 18446744073709551615 , -9223372036854775808 ] , "a" : { } } "#,
            r#"{"s":"caf\u00e9 \"q\" \\ \/ \n\r\t\b\f \u0001 \ud83d\ude00","k\u00e9y":"x"}"#,
            r#"{"dup":1,"dup":2,"a":"1","dup":3}"#,
            r#"{"é":1,"e":2,"E":3,"":4,"ee":5}"#,
            r#"[true,false,null,[],[[]],{"a":[{"b":null}]}]"#,
            r#""plain""#,
            "123456789012345678901234567890",
            "-0.0",
            r#"{"details":"line1\r\nline2","sendingIp":"Internal IP","subject":"Rechnung – fällig 😀"}"#,
        ] {
            assert_eq!(
                String::from_utf8(canonical(json)).unwrap(),
                String::from_utf8(oracle(json)).unwrap(),
                "{json}"
            );
        }
    }

    #[test]
    fn picks_the_string_member_and_the_last_of_repeats() {
        let mut out = Vec::new();
        let t = write(
            r#"{"date":"a","x":1,"date":"b\u0041"}"#,
            "date",
            None,
            &mut out,
        )
        .unwrap();
        assert_eq!(t.as_deref(), Some("bA"));
        assert_eq!(
            write(r#"{"date":5}"#, "date", None, &mut out).unwrap(),
            None
        );
        assert_eq!(
            write(r#"{"other":"x"}"#, "date", None, &mut out).unwrap(),
            None
        );
        assert_eq!(write(r#"["date"]"#, "date", None, &mut out).unwrap(), None);
        // Only the top level counts.
        assert_eq!(
            write(r#"{"o":{"date":"x"}}"#, "date", None, &mut out).unwrap(),
            None
        );
    }

    #[test]
    fn leaves_out_the_skipped_top_level_member_only() {
        for json in [
            r#"{"id":"MTOKEN:x","eventTime":"t","n":{"id":1}}"#,
            r#"{"id":1,"id":2,"a":[{"id":3}]}"#,
            r#"{"a":1}"#,
            r#"[{"id":1}]"#,
        ] {
            let mut value: Value = serde_json::from_str(json).unwrap();
            if let Some(map) = value.as_object_mut() {
                map.remove("id");
            }
            let mut out = Vec::new();
            write(json, "eventTime", Some("id"), &mut out).unwrap();
            assert_eq!(out, serde_json::to_vec(&value).unwrap(), "{json}");
        }
        // A skipped member is still read: what `Value` refuses is refused.
        let mut out = Vec::new();
        assert!(write(r#"{"id":"\ud800","a":1}"#, "date", Some("id"), &mut out).is_err());
    }

    /// Accepted exactly where serde_json's `Value` accepts, with the same bytes.
    fn agrees(json: &str) {
        let expected = serde_json::from_str::<Value>(json).map(|v| serde_json::to_vec(&v).unwrap());
        let mut out = Vec::new();
        let got = write(json, "date", None, &mut out).map(|_| out);
        match (expected, got) {
            (Ok(e), Ok(g)) => assert_eq!(g, e, "{json:.80}"),
            (Err(_), Err(_)) => {}
            (e, g) => panic!("{json:.80}: Value says {e:?}, canonical says {g:?}"),
        }
    }

    #[test]
    fn accepts_and_refuses_what_value_does() {
        for depth in 125..=130 {
            agrees(&format!(
                "{}1{}",
                r#"{"a":"#.repeat(depth),
                "}".repeat(depth)
            ));
            agrees(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)));
            agrees(&format!(
                r#"{{"a":{}{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            ));
            let half = depth / 2;
            agrees(&format!(
                "{}1{}",
                r#"[{"a":"#.repeat(half),
                "}]".repeat(half)
            ));
        }
        for json in [
            r#"{"a":1e400,"a":1}"#,
            r#"{"a":"\ud800","a":1}"#,
            r#"{"date":1e400,"date":"x"}"#,
            r#"{"a":1,"a":"\ud800"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":1e400}"#,
        ] {
            agrees(json);
        }
        agrees(&format!(
            r#"{{"a":{}{},"a":1}}"#,
            "[".repeat(200),
            "]".repeat(200)
        ));
    }

    #[test]
    fn refuses_invalid_json_and_deep_nesting() {
        let mut out = Vec::new();
        for bad in ["", "{", r#"{"a":}"#, "[1,]", "{} {}", "\"\u{1}\""] {
            assert!(write(bad, "date", None, &mut out).is_err(), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(write(&deep, "date", None, &mut out).is_err());
        let deep_objects = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
        assert!(write(&deep_objects, "date", None, &mut out).is_err());
    }

    /// A JSON text for `v` with its members in a shuffled order, random spacing, and strings
    /// escaped more than needed, so the canonical form has real work to do.
    fn messy(v: &Value, seed: &mut u64, out: &mut String) {
        fn next(seed: &mut u64) -> u64 {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *seed >> 33
        }
        let space = |n: u64, out: &mut String| {
            for _ in 0..(n % 3) {
                out.push(if n.is_multiple_of(2) { ' ' } else { '\n' });
            }
        };
        match v {
            Value::Object(m) => {
                let mut members: Vec<_> = m.iter().collect();
                let len = members.len();
                for i in 0..len {
                    let j = (next(seed) as usize) % len;
                    members.swap(i, j);
                }
                out.push('{');
                for (i, (k, v)) in members.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    space(next(seed), out);
                    messy_str(k, next(seed), out);
                    out.push(':');
                    space(next(seed), out);
                    messy(v, seed, out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    space(next(seed), out);
                    messy(v, seed, out);
                }
                out.push(']');
            }
            Value::String(s) => messy_str(s, next(seed), out),
            other => out.push_str(&other.to_string()),
        }
    }

    fn messy_str(s: &str, how: u64, out: &mut String) {
        if how.is_multiple_of(2) {
            out.push_str(&serde_json::to_string(s).unwrap());
            return;
        }
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '/' => out.push_str("\\/"),
                c if (c as u32) < 0x20 || !c.is_ascii() => {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::String),
            "[a-c/\"\\\\\u{0}-\u{1f}é😀]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-dé_]{0,4}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn equals_the_value_round_trip(v in json_value(), seed in any::<u64>()) {
            let mut text = String::new();
            let mut s = seed;
            messy(&v, &mut s, &mut text);
            prop_assert_eq!(canonical(&text), oracle(&text));
        }

        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let mut out = Vec::new();
            let _ = write(&s, "date", None, &mut out);
        }
    }
}
