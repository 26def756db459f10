//! Per-access-key fixed-window quota and the `X-RateLimit-*` headers (§4.3). Pure: the caller
//! supplies the clock. Also remembers announced resets so clients that ignore them are counted.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::config::RateLimit;

/// Limit advertised when no quota is configured.
const NOMINAL_LIMIT: u32 = 1000;

/// Values for `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateHeaders {
    /// Quota per window.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// Milliseconds until at least one request is added back.
    pub reset_ms: u64,
}

impl RateHeaders {
    /// The three headers as name/value pairs.
    pub(crate) fn to_pairs(self) -> [(&'static str, String); 3] {
        [
            ("X-RateLimit-Limit", self.limit.to_string()),
            ("X-RateLimit-Remaining", self.remaining.to_string()),
            ("X-RateLimit-Reset", self.reset_ms.to_string()),
        ]
    }
}

/// Outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// `false`: answer 429.
    pub allowed: bool,
    /// Headers to send.
    pub headers: RateHeaders,
    /// The request came while a reset announced earlier to this key was still pending.
    pub violation: bool,
}

#[derive(Debug, Clone, Default)]
struct KeyState {
    window_start: Option<DateTime<Utc>>,
    count: u32,
    announced_until: Option<DateTime<Utc>>,
}

/// Per-key windows and announced resets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limiter {
    config: Option<RateLimit>,
    keys: HashMap<String, KeyState>,
}

fn millis_between(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    let d = to - from;
    let ms = d.num_milliseconds();
    // Round up so a client that waits exactly this long is never early.
    let extra = i64::from((d - TimeDelta::milliseconds(ms)) > TimeDelta::zero());
    u64::try_from(ms + extra).unwrap_or(0)
}

impl Limiter {
    /// A limiter enforcing `config` (none: never throttles).
    pub(crate) fn new(config: Option<RateLimit>) -> Self {
        Limiter {
            config,
            keys: HashMap::new(),
        }
    }

    fn window(&self) -> TimeDelta {
        let w = self.config.map_or(Duration::ZERO, |c| c.window);
        TimeDelta::from_std(w).unwrap_or(TimeDelta::MAX)
    }

    /// Headers for a request that is not counted (unauthenticated, 404, …).
    pub(crate) fn peek(&self, key: Option<&str>, now: DateTime<Utc>) -> RateHeaders {
        let Some(cfg) = self.config else {
            return RateHeaders {
                limit: NOMINAL_LIMIT,
                remaining: NOMINAL_LIMIT,
                reset_ms: 0,
            };
        };
        let state = key.and_then(|k| self.keys.get(k));
        match state.and_then(|s| s.window_start.map(|w| (s, w + self.window()))) {
            Some((s, end)) if now < end => RateHeaders {
                limit: cfg.limit,
                remaining: cfg.limit.saturating_sub(s.count),
                reset_ms: millis_between(now, end),
            },
            _ => RateHeaders {
                limit: cfg.limit,
                remaining: cfg.limit,
                reset_ms: 0,
            },
        }
    }

    /// Counts one authenticated request of `key`.
    pub(crate) fn check(&mut self, key: &str, now: DateTime<Utc>) -> Verdict {
        let window = self.window();
        let state = self.keys.entry(key.to_string()).or_default();
        let violation = state.announced_until.is_some_and(|until| now < until);
        let Some(cfg) = self.config else {
            let h = RateHeaders {
                limit: NOMINAL_LIMIT,
                remaining: NOMINAL_LIMIT,
                reset_ms: 0,
            };
            return Verdict {
                allowed: true,
                headers: h,
                violation,
            };
        };
        let start = match state.window_start {
            Some(s) if now < s + window => s,
            _ => {
                state.count = 0;
                state.window_start = Some(now);
                now
            }
        };
        let end = start + window;
        let reset_ms = millis_between(now, end);
        if state.count < cfg.limit {
            state.count += 1;
            let remaining = cfg.limit - state.count;
            Verdict {
                allowed: true,
                headers: RateHeaders {
                    limit: cfg.limit,
                    remaining,
                    reset_ms,
                },
                violation,
            }
        } else {
            state.announced_until = Some(end);
            let headers = RateHeaders {
                limit: cfg.limit,
                remaining: 0,
                reset_ms: reset_ms.max(1),
            };
            Verdict {
                allowed: false,
                headers,
                violation,
            }
        }
    }

    /// Records that a 429 told `key` to wait `reset_ms` (used by injected faults).
    pub(crate) fn announce(&mut self, key: &str, now: DateTime<Utc>, reset_ms: u64) -> RateHeaders {
        let until = now + TimeDelta::milliseconds(i64::try_from(reset_ms).unwrap_or(i64::MAX / 2));
        let state = self.keys.entry(key.to_string()).or_default();
        state.announced_until = Some(state.announced_until.map_or(until, |u| u.max(until)));
        let limit = self.config.map_or(NOMINAL_LIMIT, |c| c.limit);
        RateHeaders {
            limit,
            remaining: 0,
            reset_ms,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::signing::parse_api_time;

    fn t0() -> DateTime<Utc> {
        parse_api_time("2026-11-24T10:00:00+0000").unwrap()
    }

    fn ms(n: i64) -> TimeDelta {
        TimeDelta::milliseconds(n)
    }

    #[test]
    fn unlimited_never_throttles() {
        let mut l = Limiter::new(None);
        for _ in 0..5000 {
            assert!(l.check("k", t0()).allowed);
        }
        assert_eq!(l.peek(None, t0()).limit, NOMINAL_LIMIT);
    }

    #[test]
    fn quota_window_reset_and_violations() {
        let mut l = Limiter::new(Some(RateLimit {
            limit: 2,
            window: Duration::from_secs(1),
        }));
        let v = l.check("k", t0());
        assert_eq!(
            (v.allowed, v.headers.remaining, v.headers.reset_ms),
            (true, 1, 1000)
        );
        let v = l.check("k", t0() + ms(100));
        assert_eq!(
            (v.allowed, v.headers.remaining, v.headers.reset_ms),
            (true, 0, 900)
        );
        let v = l.check("k", t0() + ms(200));
        assert_eq!(
            (v.allowed, v.headers.reset_ms, v.violation),
            (false, 800, false)
        );
        // Other keys have their own quota.
        assert!(l.check("other", t0() + ms(200)).allowed);
        // Coming back before the announced reset is a violation.
        let v = l.check("k", t0() + ms(500));
        assert_eq!((v.allowed, v.violation), (false, true));
        // Waiting the announced time is fine.
        let v = l.check("k", t0() + ms(1000));
        assert_eq!(
            (v.allowed, v.violation, v.headers.remaining),
            (true, false, 1)
        );
        assert_eq!(l.peek(Some("k"), t0() + ms(1500)).remaining, 1);
    }

    #[test]
    fn announced_fault_resets_count_violations() {
        let mut l = Limiter::new(None);
        assert_eq!(l.announce("k", t0(), 2000).reset_ms, 2000);
        assert!(l.check("k", t0() + ms(1999)).violation);
        assert!(!l.check("k", t0() + ms(2000)).violation);
    }

    #[test]
    fn reset_rounds_up() {
        assert_eq!(
            millis_between(t0(), t0() + TimeDelta::microseconds(1500)),
            2
        );
        assert_eq!(millis_between(t0() + ms(5), t0()), 0);
    }
}
