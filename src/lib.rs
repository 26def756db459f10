//! mimecast-source: a WebAssembly component that collects Mimecast Targeted Threat Protection
//! logs (URL Protect, Impersonation Protect, Attachment Protect) for a host that calls `poll`.
//!
//! Everything but `component` (the wit-bindgen glue and the WASI-HTTP transport) is pure and is
//! unit-tested natively. Facts about the API come from `shared/reference/mimecast-api.md`.

pub mod auth;
pub mod canonical;
pub mod cursor;
pub mod error;
pub mod event;
pub mod io;
mod lenient;
pub mod log_type;
pub mod net_error;
pub mod page;
pub mod poll;
pub mod rate_limit;
pub mod request;
pub mod scrub;
pub mod settings;
pub mod signing;
pub mod timefmt;
pub mod utf8_repair;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod component;
#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod transport;
