//! `mcsource status`: the health of every tenant's log types, from the state store, as an
//! aligned text table. Pure: rows and the current time in, text out.

use crate::state::Status;

/// Renders the status rows as an aligned text table.
pub fn render(rows: &[Status], now: i64) -> String {
    let ago = |t: Option<i64>| match t {
        Some(t) => {
            humantime::format_duration(std::time::Duration::from_secs((now - t).max(0) as u64))
                .to_string()
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
            r.last_error.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    crate::text_table::render(&table)
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
        }];
        let text = render(&rows, 1090);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TENANT"));
        assert!(
            lines[1].contains("42") && lines[1].contains("1m 30s") && lines[1].contains("1m ago")
        );
        assert!(lines[1].ends_with("forbidden: add the permission"));
    }
}
