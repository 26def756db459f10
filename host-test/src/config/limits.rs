//! Sandbox limits: what one tenant's component instance may use, and how many polls the host
//! runs at once. Written in human units in the config (`memory_mib`, `"120s"`), checked here,
//! converted to bytes and durations for the runtime. Pure.

use std::time::Duration;

use serde::Deserialize;

/// Limits as written in the config: top-level `[limits]` (defaults for every tenant) or a
/// tenant's `[tenant.limits]` (overrides). Every field is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Linear memory one instance may grow to, in MiB (default 64).
    pub memory_mib: Option<u32>,
    /// Wall-clock deadline of one call into the component, e.g. `"120s"` (default 120 s);
    /// enforced by epoch interruption, so a guest that spins is stopped, and by a host timer
    /// (1 s later), so a guest waiting inside a host call is stopped too.
    #[serde(default, with = "humantime_serde::option")]
    pub poll_timeout: Option<Duration>,
    /// Outbound HTTP requests one instance may have in flight (default 2).
    pub max_concurrent_requests: Option<u32>,
    /// Largest response body one request may return, in MiB (default 8; at most an eighth of
    /// `memory_mib`, see [`MEMORY_PER_RESPONSE_BYTE`]).
    pub max_response_mib: Option<u32>,
}

/// Checked limits of one tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap in bytes.
    pub memory_bytes: usize,
    /// Deadline of one call into the component.
    pub poll_timeout: Duration,
    /// Outbound requests in flight.
    pub max_concurrent_requests: u32,
    /// Response body cap in bytes.
    pub max_response_bytes: u64,
}

const MIB: usize = 1024 * 1024;
/// Largest `memory_mib`: the whole 32-bit address space of a linear memory.
pub const MAX_MEMORY_MIB: u32 = 4096;
/// Largest `memory_mib` in bytes: what the engine's memory slots are sized for, so that any
/// tenant's limit, also one raised by a reload, fits.
pub const MAX_MEMORY_BYTES: usize = MAX_MEMORY_MIB as usize * MIB;

/// Bytes of component memory a response may need per byte of its body: the component holds the
/// body, and while it turns a page into events, each record again as an event and as the
/// canonical JSON its `event_id` is hashed from (a buffer that grows by doubling), on top of
/// its own working memory. Measured with the default `memory_mib` of 64: a page of one 12 MiB
/// record is read, one of 15 MiB is not; 8 leaves room for allocator fragmentation.
/// `max_response_mib` may be at most `memory_mib` divided by this, so that a response the host
/// lets through cannot run the component out of memory (which would hide the cause, a
/// response that is too large).
pub const MEMORY_PER_RESPONSE_BYTE: u32 = 8;

/// Longest `poll_timeout` accepted.
pub const MAX_POLL_TIMEOUT: Duration = Duration::from_secs(3600);
/// How much longer than `request_timeout` the poll deadline must be.
const POLL_TIMEOUT_HEADROOM: Duration = Duration::from_secs(5);

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 64 * MIB,
            poll_timeout: Duration::from_secs(120),
            max_concurrent_requests: 2,
            max_response_bytes: 8 * MIB as u64,
        }
    }
}

impl LimitsConfig {
    /// This tenant's limits: its own values, else the top-level ones, else the defaults.
    /// Problems are appended to `out` with the path `at` (e.g. `tenant[2].limits`).
    pub fn resolve(
        &self,
        defaults: &LimitsConfig,
        request_timeout: Duration,
        at: &str,
        out: &mut Vec<String>,
    ) -> Limits {
        let d = Limits::default();
        let memory_mib = self
            .memory_mib
            .or(defaults.memory_mib)
            .unwrap_or((d.memory_bytes / MIB) as u32);
        let poll_timeout = self
            .poll_timeout
            .or(defaults.poll_timeout)
            .unwrap_or(d.poll_timeout);
        let requests = self
            .max_concurrent_requests
            .or(defaults.max_concurrent_requests)
            .unwrap_or(d.max_concurrent_requests);
        // Unset, it is the default, or less where memory_mib is too small for the default.
        let response_mib = self
            .max_response_mib
            .or(defaults.max_response_mib)
            .unwrap_or_else(|| {
                ((d.max_response_bytes / MIB as u64) as u32)
                    .min(memory_mib / MEMORY_PER_RESPONSE_BYTE)
                    .max(1)
            });
        if !(16..=MAX_MEMORY_MIB).contains(&memory_mib) {
            out.push(format!(
                "{at}.memory_mib: {memory_mib} is outside 16..={MAX_MEMORY_MIB} (the component needs about 16 MiB)"
            ));
        }
        if poll_timeout > MAX_POLL_TIMEOUT {
            out.push(format!(
                "{at}.poll_timeout: {} is too long; use at most {}",
                crate::config::units::show_duration(poll_timeout),
                crate::config::units::show_duration(MAX_POLL_TIMEOUT)
            ));
        } else if poll_timeout < request_timeout.saturating_add(POLL_TIMEOUT_HEADROOM) {
            out.push(format!(
                "{at}.poll_timeout: {} must exceed request_timeout ({}) by at least 5s; raise \
                 poll_timeout ([limits] or [tenant.limits]) or lower request_timeout",
                crate::config::units::show_duration(poll_timeout),
                crate::config::units::show_duration(request_timeout)
            ));
        }
        if !(1..=64).contains(&requests) {
            out.push(format!(
                "{at}.max_concurrent_requests: {requests} is outside 1..=64"
            ));
        }
        if !(1..=1024).contains(&response_mib) {
            out.push(format!(
                "{at}.max_response_mib: {response_mib} is outside 1..=1024"
            ));
        } else if (16..=MAX_MEMORY_MIB).contains(&memory_mib)
            && response_mib.saturating_mul(MEMORY_PER_RESPONSE_BYTE) > memory_mib
        {
            out.push(format!(
                "{at}.max_response_mib: {response_mib} MiB does not fit in memory_mib = \
                 {memory_mib}: the component needs about {MEMORY_PER_RESPONSE_BYTE} times a \
                 response's size to read it; lower max_response_mib to at most {} or raise \
                 memory_mib to at least {}",
                memory_mib / MEMORY_PER_RESPONSE_BYTE,
                response_mib.saturating_mul(MEMORY_PER_RESPONSE_BYTE)
            ));
        }
        Limits {
            memory_bytes: memory_mib as usize * MIB,
            poll_timeout,
            max_concurrent_requests: requests,
            max_response_bytes: response_mib as u64 * MIB as u64,
        }
    }
}

/// Polls the host runs at once, across all tenants (the worker pool), by default.
pub const DEFAULT_MAX_CONCURRENT_POLLS: u32 = 16;

/// Checks `max_concurrent_polls`.
pub fn check_concurrent_polls(n: u32, out: &mut Vec<String>) {
    if !(1..=1024).contains(&n) {
        out.push(format!("max_concurrent_polls: {n} is outside 1..=1024"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_overrides_top_level_overrides_defaults() {
        let top = LimitsConfig {
            memory_mib: Some(128),
            max_response_mib: Some(8),
            ..Default::default()
        };
        let tenant = LimitsConfig {
            memory_mib: Some(64),
            ..Default::default()
        };
        let mut out = Vec::new();
        let l = tenant.resolve(&top, Duration::from_secs(30), "tenant[0].limits", &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(l.memory_bytes, 64 * MIB);
        assert_eq!(l.max_response_bytes, 8 * MIB as u64);
        assert_eq!(l.max_concurrent_requests, 2);
        assert_eq!(l.poll_timeout, Duration::from_secs(120));
    }

    #[test]
    fn reports_each_bad_value_with_its_path() {
        let bad = LimitsConfig {
            memory_mib: Some(1),
            poll_timeout: Some(Duration::from_secs(10)),
            max_concurrent_requests: Some(0),
            max_response_mib: Some(5000),
        };
        let mut out = Vec::new();
        bad.resolve(
            &LimitsConfig::default(),
            Duration::from_secs(30),
            "limits",
            &mut out,
        );
        assert_eq!(out.len(), 4, "{out:?}");
        assert!(out.iter().all(|p| p.starts_with("limits.")));
        let huge = LimitsConfig {
            poll_timeout: Some(Duration::MAX),
            ..Default::default()
        };
        let mut out = Vec::new();
        huge.resolve(&LimitsConfig::default(), Duration::MAX, "limits", &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].contains("limits.poll_timeout") && out[0].contains("at most 1h"),
            "{out:?}"
        );
        let mut out = Vec::new();
        check_concurrent_polls(0, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn max_response_mib_must_fit_in_memory_mib() {
        let d = Limits::default();
        assert!(
            d.max_response_bytes * u64::from(MEMORY_PER_RESPONSE_BYTE) <= d.memory_bytes as u64,
            "the defaults do not fit: {d:?}"
        );
        let resolve = |memory_mib, max_response_mib| {
            let mut out = Vec::new();
            LimitsConfig {
                memory_mib: Some(memory_mib),
                max_response_mib: Some(max_response_mib),
                ..Default::default()
            }
            .resolve(
                &LimitsConfig::default(),
                Duration::from_secs(30),
                "limits",
                &mut out,
            );
            out
        };
        assert!(resolve(64, 8).is_empty());
        // Unset, it shrinks with a small memory_mib.
        let mut out = Vec::new();
        let small = LimitsConfig {
            memory_mib: Some(32),
            ..Default::default()
        }
        .resolve(
            &LimitsConfig::default(),
            Duration::from_secs(30),
            "limits",
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(small.max_response_bytes, 4 * MIB as u64);
        assert!(resolve(512, 64).is_empty());
        let out = resolve(64, 32);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].starts_with("limits.max_response_mib: 32")
                && out[0].contains("at most 8")
                && out[0].contains("memory_mib to at least 256"),
            "{out:?}"
        );
    }
}
