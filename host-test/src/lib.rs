//! mcsource: the wasmtime host that runs the mimecast-source component for one or many
//! tenants, delivers its events to sinks and keeps its checkpoints. The binary
//! (`src/bin/mcsource/`) is the CLI; this library is everything else, one folder per concern:
//!
//! - `config`: the configuration file, read and validated (tenants, sinks, limits, secrets);
//! - `sandbox`: what a tenant's component may do, enforced (outbound policy, memory budget,
//!   credential redaction in its output);
//! - `runtime`: the wasmtime engine, compiled-code cache, instances and poll sessions;
//! - `net`: the shared HTTP connector (proxy, TLS, pool) with its own error type;
//! - `runner`: scheduling tenants' polls, backoff, reloads, discovery and `check`;
//! - `delivery`: the delivery task, batch checks and sinks (file, stdout, network);
//! - `metrics`: Prometheus metrics and the `/metrics`, `/healthz`, `/readyz` endpoints;
//! - `state`: checkpoints, sink lengths, pauses and health, behind traits (SQLite today).

pub mod config;
pub mod delivery;
pub mod demo;
pub mod error_chain;
pub mod log_filter;
pub mod log_type;
pub mod metrics;
pub mod net;
pub mod runner;
pub mod runtime;
pub mod sandbox;
pub mod state;
pub mod text_table;
