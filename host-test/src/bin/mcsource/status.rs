//! `mcsource status`: the health of every tenant's log types, from the state store, as an
//! aligned text table ([`render`] is pure: rows and the current time in, text out).

use std::path::Path;
use std::process::ExitCode;

use mimecast_host::config::FileConfig;
use mimecast_host::state::Status;

use crate::setup::state_dir_of;

/// Renders the status rows as an aligned text table.
pub fn render(rows: &[Status], now: i64) -> String {
    let ago = |t: Option<i64>| match t {
        Some(t) => {
            let secs = u64::try_from(now.saturating_sub(t)).unwrap_or(0);
            humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
        }
        None => "-".to_string(),
    };
    let mut table = vec![[
        "TENANT".to_string(),
        "LOG TYPE".into(),
        "DELIVERED".into(),
        "LAG".into(),
        "LAST OK".into(),
        "RETRIES".into(),
        "429 WAITS".into(),
        "STATE".into(),
        "LAST ERROR".into(),
    ]];
    for r in rows {
        table.push([
            r.tenant.clone(),
            r.log_type.clone(),
            r.delivered.to_string(),
            ago(r.cursor),
            r.last_success
                .map_or("-".into(), |_| format!("{} ago", ago(r.last_success))),
            r.retries.to_string(),
            r.rate_limit_waits.to_string(),
            r.checkpoint_bytes.map_or_else(|| "-".into(), bytes),
            r.last_error.as_deref().map_or_else(|| "-".into(), one_line),
        ]);
    }
    mimecast_host::text_table::render(&table)
}

/// A size as people read it: `812 B`, `14.2 KiB`, `3.1 MiB`.
fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{:.1} KiB", n as f64 / 1024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// `text` on one line: line breaks and other control characters become spaces, runs of
/// white space one space, so a multi-line error keeps the table intact.
fn one_line(text: &str) -> String {
    text.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `mcsource status`: the table of every tenant's log types, from the state store.
pub(crate) fn status(config: &Path) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(config)?;
    let state_dir = state_dir_of(config, &file);
    let Some(store) = crate::setup::open_existing_state(config, &file, false)? else {
        println!(
            "no state in {} yet: nothing has been collected",
            state_dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    print!("{}", render(&store.statuses()?, now));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lag_and_errors() {
        let rows = vec![Status {
            tenant: "acme".into(),
            log_type: "url".into(),
            delivered: 42,
            cursor: Some(1000),
            last_success: Some(1030),
            retries: 3,
            rate_limit_waits: 1,
            last_error: Some("forbidden: add the permission".into()),
            last_error_at: Some(1040),
            checkpoint_bytes: Some(14_540),
        }];
        let text = render(&rows, 1090);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TENANT"));
        assert!(
            lines[1].contains("42") && lines[1].contains("1m 30s") && lines[1].contains("1m ago")
        );
        assert!(lines[0].contains("STATE"));
        assert!(lines[1].contains("14.2 KiB"), "{text}");
        assert!(lines[1].ends_with("forbidden: add the permission"));
    }

    #[test]
    fn multi_line_errors_and_extreme_times_keep_the_table_intact() {
        let rows = vec![Status {
            tenant: "acme".into(),
            log_type: "url".into(),
            cursor: Some(i64::MIN),
            last_success: Some(i64::MAX),
            last_error: Some("tenant[0]: first\n  - second\r\n\tthird".into()),
            ..Status::default()
        }];
        let text = render(&rows, 1090);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[1].ends_with("tenant[0]: first - second third"),
            "{text}"
        );
        // A cursor in the future shows no lag instead of wrapping round.
        assert!(lines[1].contains("0s ago"), "{text}");
    }
}
