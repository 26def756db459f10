//! mcsource: the wasmtime host that runs the mimecast-source component for one or many
//! tenants, delivers its events to a sink and keeps its checkpoints. `main.rs` is the CLI.

pub mod batch_check;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod diagnose;
pub mod discover;
pub mod limits;
pub mod log_filter;
pub mod log_type;
pub mod memory_budget;
pub mod net;
pub mod pipeline;
pub mod redact;
pub mod runner;
pub mod runtime;
pub mod sandbox;
pub mod secret;
pub mod session;
pub mod sink;
pub mod small_file;
pub mod state;
pub mod status;
pub mod text_table;
pub mod units;
