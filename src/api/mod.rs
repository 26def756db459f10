//! The Mimecast API as this component speaks it: request signing (API 1.0) and tokens (API 2.0),
//! request bodies, reading pages, rate limits, time formats, network error words, and the
//! repairs and scrubbing applied to what comes back.

pub mod auth;
pub(crate) mod lenient;
pub mod net_error;
pub mod page;
pub mod rate_limit;
pub mod request;
pub mod scrub;
pub mod signing;
pub mod timefmt;
pub mod utf8_repair;
