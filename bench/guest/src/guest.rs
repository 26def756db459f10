//! wit-bindgen glue of the benchmark component (`wit/bench.wit`): WIT types in, [`crate::run`].

use mimecast_source::log_type::LogType;
use mimecast_source::schema::Schema;

wit_bindgen::generate!({
    world: "bench",
    path: "wit",
});

use exports::mimecast::bench::workload::{Guest, LogKind, OutputSchema};

struct Bench;

impl Guest for Bench {
    fn run(
        kind: LogKind,
        schema: OutputSchema,
        page: Vec<u8>,
        now_secs: i64,
        iterations: u32,
    ) -> Result<u64, String> {
        let log_type = match kind {
            LogKind::Url => LogType::UrlProtect,
            LogKind::Impersonation => LogType::ImpersonationProtect,
            LogKind::Attachment => LogType::AttachmentProtect,
        };
        let schema = match schema {
            OutputSchema::Raw => Schema::Raw,
            OutputSchema::Ecs => Schema::Ecs,
            OutputSchema::Ocsf => Schema::Ocsf,
        };
        crate::run(log_type, schema, &page, now_secs, iterations).map_err(|e| e.to_string())
    }
}

export!(Bench);
