//! Tenant leases, for several hosts sharing one PostgreSQL state (`[state] shared = true`):
//! every third of `lease_ttl` this host renews its leases, gives back what is above its fair
//! share (the tenants divided by the live hosts) and claims free or expired tenants up to it;
//! the runner is handed the tenants it holds whenever that set changes. A host that stops
//! renewing (killed, paused, cut off) loses its tenants to the others once its leases expire,
//! and every commit is fenced by the lease's epoch, so a host that wakes up late cannot move a
//! checkpoint another host owns now. At a clean stop the host gives its tenants back at once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use std::sync::Arc;

use crate::config::Tenant;
use crate::metrics::server::Readiness;
use crate::metrics::Metrics;
use crate::state::postgres::PostgresStore;

/// Keeps this host's leases until `stop` or `done`, sending the tenants it holds to `owned`
/// whenever they change; gives them all back at the end.
/// With `observed`, it counts the tenants held (`mcsource_tenants_leased`) and says the host is
/// ready while its lease rounds succeed.
pub async fn keep_leases(
    store: PostgresStore,
    tenants: Vec<Tenant>,
    ttl: Duration,
    owned: mpsc::Sender<Vec<Tenant>>,
    (mut stop, mut done): (watch::Receiver<bool>, watch::Receiver<bool>),
    observed: Option<(Arc<Metrics>, Arc<Readiness>)>,
) {
    let ids: Vec<String> = tenants.iter().map(|t| t.id.clone()).collect();
    let mut held: BTreeSet<String> = BTreeSet::new();
    let mut last_round = Instant::now();
    loop {
        let (s, ids2) = (store.clone(), ids.clone());
        let round = tokio::task::spawn_blocking(move || s.lease_round(&ids2, ttl)).await;
        let ok = matches!(round, Ok(Ok(_)));
        if let Some((_, ready)) = &observed {
            if ok {
                ready.set(true);
            } else if last_round.elapsed() >= ttl {
                ready.set(false);
            }
        }
        let now_held = match round {
            Ok(Ok(now)) => {
                last_round = Instant::now();
                Some(now.into_iter().collect::<BTreeSet<String>>())
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "lease round failed; retrying");
                // Leases not renewed for a whole ttl are another host's by now.
                (last_round.elapsed() >= ttl).then(BTreeSet::new)
            }
            Err(e) => {
                tracing::error!(error = %e, "lease round panicked");
                None
            }
        };
        if let Some(now) = now_held.filter(|now| *now != held) {
            let gained: Vec<&String> = now.difference(&held).collect();
            let lost: Vec<&String> = held.difference(&now).collect();
            tracing::info!(?gained, ?lost, holding = now.len(), "tenant leases changed");
            held = now;
            if let Some((metrics, _)) = &observed {
                metrics.set_leased(held.len());
            }
            let mine: Vec<Tenant> = tenants
                .iter()
                .filter(|t| held.contains(&t.id))
                .cloned()
                .collect();
            if owned.send(mine).await.is_err() {
                break;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(ttl / 3) => {}
            _ = stop.wait_for(|s| *s) => break,
            _ = done.wait_for(|s| *s) => break,
        }
    }
    if let Some((_, ready)) = &observed {
        ready.set(false);
    }
    let s = store.clone();
    match tokio::task::spawn_blocking(move || s.leave()).await {
        Ok(Ok(())) => tracing::info!("tenant leases given back"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot give the tenant leases back; they expire by themselves")
        }
        Err(_) => {}
    }
}
