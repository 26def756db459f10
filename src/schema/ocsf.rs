//! One Mimecast TTP record as an OCSF 1.8.0 Email Activity event (class 4009). Pure.

use super::{Options, Record};

/// The OCSF version the events follow (`metadata.version`).
pub const VERSION: &str = "1.8.0";

/// The record as one line of OCSF JSON.
pub fn document(r: &Record, o: Options) -> String {
    let _ = (r, o);
    String::from("{}")
}
