//! `mcsource check --online`: one minimal real request per tenant and log type (the component's
//! `probe`), reported as a table of OK or exactly what to fix.

use crate::config::Tenant;
use crate::runner::discover;
use crate::runtime::session::SessionCache;
use crate::runtime::{self, Instance, PollError, Runtime};

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
/// Nothing one tenant does stops the others: a discovery, instantiation or configuration
/// failure, or a trap, becomes a row of that tenant (a trap in `probe`, that log type's row).
pub async fn probe_all(runtime: &Runtime, tenants: &[Tenant]) -> Vec<Row> {
    let mut rows = Vec::new();
    for tenant in tenants {
        rows.extend(probe_tenant(runtime, tenant).await);
    }
    rows
}

/// The rows of one tenant: one per log type, or one tenant-wide (`-`) row when it cannot be
/// probed at all.
async fn probe_tenant(runtime: &Runtime, tenant: &Tenant) -> Vec<Row> {
    let mut tenant = tenant.clone();
    if let Err(e) = discover::resolve_tenant(runtime, &mut tenant).await {
        return vec![row(&tenant.id, "-", Some(e.message))];
    }
    let mut instance = None;
    let mut rows = Vec::new();
    for &log_type in &tenant.log_types {
        let mut inst = match instance.take() {
            Some(inst) => inst,
            None => match configured(runtime, &tenant).await {
                Ok(inst) => inst,
                Err(problem) => return vec![row(&tenant.id, "-", Some(problem))],
            },
        };
        let problem = match inst.probe(log_type).await {
            Ok(answer) => {
                instance = Some(inst);
                answer.err().map(|e| explain(&e))
            }
            // The instance cannot be trusted after a trap; the next log type gets a new one.
            Err(trap) => Some(format!("{trap:#}")),
        };
        rows.push(row(&tenant.id, log_type.name(), problem));
    }
    rows
}

/// A new instance for `tenant`, configured; the problem as text if that fails in any way.
async fn configured(runtime: &Runtime, tenant: &Tenant) -> Result<Instance, String> {
    let mut inst = runtime
        .instantiate(tenant, &SessionCache::new())
        .await
        .map_err(|e| format!("{e:#}"))?;
    match inst.configure(&runtime::source_config(tenant)).await {
        Ok(Ok(())) => Ok(inst),
        Ok(Err(e)) => Err(runtime::describe(&e)),
        Err(trap) => Err(format!("{trap:#}")),
    }
}

fn row(tenant: &str, log_type: &str, problem: Option<String>) -> Row {
    Row {
        tenant: tenant.to_string(),
        log_type: log_type.to_string(),
        problem,
    }
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
        PollError::Transient(m) if m.contains("through the proxy") => format!(
            "cannot reach Mimecast through the proxy ({m}); fix `proxy` (or HTTPS_PROXY) or what the proxy allows"
        ),
        PollError::Transient(m) if m.contains("TLS certificate") => format!(
            "the server's TLS certificate is not trusted ({m}); check base_url, and if a proxy inspects TLS, give its CA in `ca_file` (or SSL_CERT_FILE)"
        ),
        PollError::Transient(m) => format!(
            "cannot reach Mimecast ({m}); check base_url (region or gateway), DNS, and the route to it (directly, or through `proxy` or HTTPS_PROXY)"
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
