//! `mcsource check --online`: one minimal real request per tenant and log type (the component's
//! `probe`), reported as a table of OK or exactly what to fix.

use crate::config::Tenant;
use crate::discover;
use crate::runtime::{self, PollError, Runtime};
use crate::session::SessionCache;

/// The verdict for one tenant and log type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Tenant id.
    pub tenant: String,
    /// `url`, `impersonation`, `attachment`, or `-` for tenant-wide problems.
    pub log_type: String,
    /// `None` when the probe succeeded; otherwise the problem and its fix.
    pub problem: Option<String>,
}

impl Row {
    /// Whether the probe succeeded.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Probes every log type of every tenant. Region discovery runs first where configured.
///
/// # Errors
/// Never for Mimecast answers (they become rows); only when the component cannot be instantiated.
pub async fn probe_all(runtime: &Runtime, tenants: &[Tenant]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for tenant in tenants {
        let mut tenant = tenant.clone();
        if let Err(e) = discover::resolve_tenant(runtime, &mut tenant).await {
            rows.push(Row {
                tenant: tenant.id.clone(),
                log_type: "-".into(),
                problem: Some(e.message),
            });
            continue;
        }
        let mut instance = runtime.instantiate(&tenant, &SessionCache::new()).await?;
        if let Err(e) = instance.configure(&runtime::source_config(&tenant)).await? {
            rows.push(Row {
                tenant: tenant.id.clone(),
                log_type: "-".into(),
                problem: Some(runtime::describe(&e)),
            });
            continue;
        }
        for name in &tenant.log_types {
            let Some(log_type) = runtime::log_type(name) else {
                continue;
            };
            let problem = match instance.probe(log_type).await? {
                Ok(()) => None,
                Err(e) => Some(explain(&e)),
            };
            rows.push(Row {
                tenant: tenant.id.clone(),
                log_type: name.clone(),
                problem,
            });
        }
    }
    Ok(rows)
}

/// The tenant as the offline `check` gives it to `configure`: before discovery, a tenant with
/// `base_url = "discover"` has no base URL yet, so the discovery host stands in for it.
pub fn offline_view(tenant: &Tenant) -> Tenant {
    let mut t = tenant.clone();
    if let Some(d) = &tenant.discover {
        // parse_origin accepted this URL during validation, so this cannot fail.
        let _ = t.set_discovered(&d.url);
    }
    t
}

/// The component's message, with the category a human needs first.
fn explain(e: &PollError) -> String {
    match e {
        PollError::Transient(m) => format!(
            "cannot reach Mimecast ({m}); check base_url (region or gateway), DNS and proxies"
        ),
        other => runtime::describe(other),
    }
}

/// Renders `rows` as a plain-text table: tenant, log type, then OK or the fix.
pub fn table(rows: &[Row]) -> String {
    let mut table = vec![["TENANT".to_string(), "LOG TYPE".into(), "RESULT".into()]];
    for r in rows {
        let result = match &r.problem {
            None => "OK".to_string(),
            Some(p) => format!("FIX: {}", p.replace('\n', "; ")),
        };
        table.push([r.tenant.clone(), r.log_type.clone(), result]);
    }
    crate::text_table::render(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_flattens_messages() {
        let rows = vec![
            Row {
                tenant: "acme".into(),
                log_type: "url".into(),
                problem: None,
            },
            Row {
                tenant: "globex-eu".into(),
                log_type: "attachment".into(),
                problem: Some("a\nb".into()),
            },
        ];
        let t = table(&rows);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines[0], "TENANT     LOG TYPE    RESULT");
        assert_eq!(lines[1], "acme       url         OK");
        assert_eq!(lines[2], "globex-eu  attachment  FIX: a; b");
    }
}
