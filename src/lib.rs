//! mimecast-source: a WebAssembly component that collects Mimecast Targeted Threat Protection
//! logs (URL Protect, Impersonation Protect, Attachment Protect) for a host that calls `poll`.
//!
//! Everything but `guest` (the wit-bindgen glue and the WASI-HTTP transport, built for wasm32
//! only) is pure and is unit-tested natively:
//!
//! - `api`: the Mimecast protocol: signing, requests, pages, API 2.0 tokens, rate limits,
//!   times, and the repairs and scrubbing of what the server sends back;
//! - `collect`: windows, paging and dedup (`cursor`), one poll (`poll`), and events;
//! - `io`: the request, response, transport and clock types that `api` and `collect` share;
//! - `settings`, `error`, `log_type`: the validated configuration, typed errors, log types;
//! - `schema`: one record as an ECS document or an OCSF 1.8.0 event (`docs/schemas.md`).
//!
//! Facts about the API come from `shared/reference/mimecast-api.md`.

pub mod api;
pub mod collect;
pub mod error;
pub mod io;
pub mod log_type;
pub mod schema;
pub mod settings;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod guest;
