//! Reading JSON members whose type a server may get wrong: a number written as text, text as a
//! number, `null` for a list. Such a member only steers paging, classification or token expiry,
//! so an unexpected type must not make a whole answer unreadable. Pure.

use serde::de::{Deserializer, IgnoredAny};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A JSON scalar of any kind, for the lenient readers below.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Scalar {
    /// `null`.
    Null,
    /// A whole number from 0 up.
    Whole(u64),
    /// A negative whole number.
    Negative(i64),
    /// Any other number.
    Fraction(f64),
    /// `true` or `false`.
    Flag(bool),
    /// A string.
    Text(String),
    /// An object or an array.
    Other(IgnoredAny),
}

impl Scalar {
    /// The number this is or spells, rounded down to whole units (saturating at the ends of
    /// `i64`); `None` for anything that is not a finite number.
    pub(crate) fn floor(&self) -> Option<i64> {
        let fraction = |f: f64| f.is_finite().then(|| f.floor() as i64);
        match self {
            Scalar::Whole(n) => Some(i64::try_from(*n).unwrap_or(i64::MAX)),
            Scalar::Negative(n) => Some(*n),
            Scalar::Fraction(f) => fraction(*f),
            Scalar::Text(t) => {
                let t = t.trim();
                t.parse::<i64>()
                    .ok()
                    .or_else(|| t.parse::<f64>().ok().and_then(fraction))
            }
            Scalar::Null | Scalar::Flag(_) | Scalar::Other(_) => None,
        }
    }
}

/// A list that may be written as `null`.
pub(crate) fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// A count as a whole number, a fraction or numeric text; `None` for anything else (a count is
/// only a hint).
pub(crate) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Whole(n) => Some(n),
        Scalar::Fraction(f) if f.is_finite() && f >= 0.0 => Some(f as u64),
        Scalar::Text(t) => t.trim().parse().ok(),
        _ => None,
    })
}

/// Text, or a number written as text; `None` for `null` and anything else.
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Text(t) => Some(t),
        Scalar::Whole(n) => Some(n.to_string()),
        Scalar::Negative(n) => Some(n.to_string()),
        Scalar::Fraction(f) => Some(f.to_string()),
        _ => None,
    })
}

/// A page token: text, or a number taken as its text; `null` is no token. Anything else is
/// refused, as a token that cannot be followed must not end a window early.
pub(crate) fn token<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error as _;
    match Scalar::deserialize(d)? {
        Scalar::Text(t) => Ok(Some(t)),
        Scalar::Whole(n) => Ok(Some(n.to_string())),
        Scalar::Negative(n) => Ok(Some(n.to_string())),
        Scalar::Null => Ok(None),
        Scalar::Fraction(_) | Scalar::Flag(_) | Scalar::Other(_) => Err(D::Error::custom(
            "meta.pagination.next is neither text nor a whole number",
        )),
    }
}

/// A count read leniently (see [`count`]).
pub(crate) struct Count(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        count(d).map(Count)
    }
}

/// Whether `value` is a count of zero, however written (`0`, `0.0`, `"0"`).
pub(crate) fn is_zero_count(value: &RawValue) -> bool {
    serde_json::from_str::<Count>(value.get()).is_ok_and(|c| c.0 == Some(0))
}

/// `true`, or the text `"true"`; anything else is `false`.
pub(crate) fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Scalar::deserialize(d)? {
        Scalar::Flag(b) => b,
        Scalar::Text(t) => t.trim().eq_ignore_ascii_case("true"),
        _ => false,
    })
}
