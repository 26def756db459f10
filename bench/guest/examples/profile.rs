//! Runs the native workload on one realistic 100-record page many times, for a profiler:
//! `valgrind --tool=callgrind target/.../examples/profile [url|impersonation|attachment] [polls]`.

use chrono::{DateTime, TimeDelta};
use mimecast_source::log_type::LogType;

fn main() {
    let mut args = std::env::args().skip(1);
    let log_type = args
        .next()
        .and_then(|name| LogType::parse(&name))
        .unwrap_or(LogType::UrlProtect);
    let polls: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let mock_type = match log_type {
        LogType::UrlProtect => mimecast_mock::LogType::Url,
        LogType::ImpersonationProtect => mimecast_mock::LogType::Impersonation,
        LogType::AttachmentProtect => mimecast_mock::LogType::Attachment,
    };
    let now = DateTime::from_timestamp(1_795_510_800, 0).unwrap_or_default();
    let end = now - TimeDelta::hours(2);
    let records =
        mimecast_mock::generate_records(mock_type, 1, end - TimeDelta::hours(1), end, 100);
    let page = serde_json::to_vec(&serde_json::json!({
        "meta": {"status": 200, "pagination": {"pageSize": 100, "next": "x", "totalCount": 1000}},
        "data": [{ mock_type.array_name(): records }],
        "fail": [],
    }))
    .unwrap_or_default();
    let started = std::time::Instant::now();
    match mimecast_bench_guest::run(
        log_type,
        mimecast_source::schema::Schema::Raw,
        &page,
        now.timestamp(),
        polls,
    ) {
        Ok(bytes) => eprintln!(
            "{polls} polls of {} bytes: {bytes} bytes of events in {:?}",
            page.len(),
            started.elapsed()
        ),
        Err(e) => eprintln!("error: {e}"),
    }
}
