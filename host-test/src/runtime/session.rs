//! The host side of the WIT `session-cache`: a few small values one tenant's component keeps
//! across the instances the runner creates and drops (the API 2.0 bearer token). Memory only:
//! never persisted, never logged, and scoped to one tenant's configuration, because the runner
//! makes a new cache whenever it (re)starts a tenant. Bounded, so a guest cannot grow the
//! host's memory through it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most names one tenant may store.
pub const MAX_ENTRIES: usize = 8;
/// Longest name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Longest time a value is kept, whatever the guest asks for.
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

struct Entry {
    value: String,
    expires: Instant,
}

/// One tenant's session cache, shared by its successive instances. Cloning shares it.
#[derive(Clone, Default)]
pub struct SessionCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl fmt::Debug for SessionCache {
    /// Names only: values are secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.lock();
        f.debug_struct("SessionCache")
            .field("names", &entries.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a value was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The name is longer than [`MAX_NAME_BYTES`].
    #[error("the name is longer than {MAX_NAME_BYTES} bytes")]
    NameTooLong,
    /// The value is longer than [`MAX_VALUE_BYTES`].
    #[error("the value is longer than {MAX_VALUE_BYTES} bytes")]
    ValueTooLong,
    /// [`MAX_ENTRIES`] other names are already stored.
    #[error("{MAX_ENTRIES} names are already stored")]
    Full,
}

impl SessionCache {
    /// An empty cache.
    pub fn new() -> SessionCache {
        SessionCache::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere cannot leave a map of plain values inconsistent.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value stored under `name`, unless it expired.
    pub fn get(&self, name: &str) -> Option<String> {
        let mut entries = self.lock();
        match entries.get(name) {
            Some(e) if e.expires > Instant::now() => Some(e.value.clone()),
            Some(_) => {
                entries.remove(name);
                None
            }
            None => None,
        }
    }

    /// Stores `value` under `name` for `ttl` (at most [`MAX_TTL`]).
    ///
    /// # Errors
    /// The name or value is too long, or the cache is full; nothing was stored.
    pub fn put(&self, name: &str, value: String, ttl: Duration) -> Result<(), Refused> {
        if name.len() > MAX_NAME_BYTES {
            return Err(Refused::NameTooLong);
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(Refused::ValueTooLong);
        }
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, e| e.expires > now);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(name) {
            return Err(Refused::Full);
        }
        entries.insert(
            name.to_string(),
            Entry {
                value,
                expires: now + ttl.min(MAX_TTL),
            },
        );
        Ok(())
    }

    /// Drops `name`.
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_can_be_removed() {
        let cache = SessionCache::new();
        cache.put("a", "1".into(), Duration::from_secs(60)).unwrap();
        cache.put("b", "2".into(), Duration::ZERO).unwrap();
        assert_eq!(cache.get("a").as_deref(), Some("1"));
        assert_eq!(cache.get("b"), None);
        cache.remove("a");
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn clones_share_and_new_caches_do_not() {
        let cache = SessionCache::new();
        let clone = cache.clone();
        clone.put("t", "x".into(), Duration::from_secs(60)).unwrap();
        assert_eq!(cache.get("t").as_deref(), Some("x"));
        assert_eq!(SessionCache::new().get("t"), None);
    }

    #[test]
    fn limits_hold() {
        let cache = SessionCache::new();
        let minute = Duration::from_secs(60);
        assert_eq!(
            cache.put(&"n".repeat(MAX_NAME_BYTES + 1), "v".into(), minute),
            Err(Refused::NameTooLong)
        );
        assert_eq!(
            cache.put("n", "v".repeat(MAX_VALUE_BYTES + 1), minute),
            Err(Refused::ValueTooLong)
        );
        for i in 0..MAX_ENTRIES {
            cache.put(&format!("k{i}"), "v".into(), minute).unwrap();
        }
        assert_eq!(
            cache.put("one more", "v".into(), minute),
            Err(Refused::Full)
        );
        // Replacing an existing name is always possible.
        cache.put("k0", "w".into(), minute).unwrap();
        assert_eq!(cache.get("k0").as_deref(), Some("w"));
    }

    #[test]
    fn debug_shows_names_not_values() {
        let cache = SessionCache::new();
        cache
            .put("api2-token", "SECRET".into(), Duration::from_secs(60))
            .unwrap();
        let shown = format!("{cache:?}");
        assert!(
            shown.contains("api2-token") && !shown.contains("SECRET"),
            "{shown}"
        );
    }
}
