// The two imports the component needs beyond WASI, written in JavaScript for jco's
// `instantiate`: `mimecast:source/host-log` (lines to stderr, tagged with tenant and log type)
// and `mimecast:source/session-cache` (memory for the API 2.0 token; never persisted or logged).
// jco turns kebab-case WIT names into camelCase JS names (`ttl-ms` -> `ttlMs`), `u64` into
// BigInt, `option<T>` into `T | undefined` and enums into their kebab-case strings.

/** Rank of each `log-level`, for the threshold set by `MCSOURCE_NODE_LOG`. */
const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 };

/** The bundled host's limits (wit/source.wit): 8 names of at most 64 bytes, values of 16 KiB. */
const CACHE_MAX_ENTRIES = 8;
const CACHE_MAX_NAME_BYTES = 64;
const CACHE_MAX_VALUE_BYTES = 16 * 1024;

/** One tenant's session cache: names to values with an expiry, in this process's memory. */
export class SessionCache {
  #entries = new Map();

  /** The value under `name` unless it expired; `undefined` is WIT's `none`. */
  get(name) {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    if (Date.now() >= entry.expiresAt) {
      this.#entries.delete(name);
      return undefined;
    }
    return entry.value;
  }

  /** Stores `value` for `ttlMs` (a BigInt) milliseconds; refuses entries beyond the limits. */
  put(name, value, ttlMs) {
    this.#dropExpired();
    const tooMany = !this.#entries.has(name) && this.#entries.size >= CACHE_MAX_ENTRIES;
    if (
      tooMany ||
      Buffer.byteLength(name) > CACHE_MAX_NAME_BYTES ||
      Buffer.byteLength(value) > CACHE_MAX_VALUE_BYTES
    ) {
      return; // allowed by the WIT: a component copes with `get` answering `none`
    }
    const ttl = Number(ttlMs > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : ttlMs);
    this.#entries.set(name, { value, expiresAt: Date.now() + ttl });
  }

  /** Drops the value under `name`, if any. */
  remove(name) {
    this.#entries.delete(name);
  }

  #dropExpired() {
    const now = Date.now();
    for (const [name, entry] of this.#entries) {
      if (now >= entry.expiresAt) this.#entries.delete(name);
    }
  }
}

/** Writes one log line to stderr: time, level, tenant, log type, message. */
export function writeLog(level, tenant, logType, message) {
  const threshold = LEVELS[process.env.MCSOURCE_NODE_LOG ?? 'info'] ?? LEVELS.info;
  if ((LEVELS[level] ?? LEVELS.error) < threshold) return;
  const where = logType ? `${tenant}/${logType}` : tenant;
  process.stderr.write(`${new Date().toISOString()} ${level.toUpperCase()} ${where}: ${message}\n`);
}

/**
 * The import object entries for `mimecast:source/host-log` and `mimecast:source/session-cache`.
 * `log(level, message)` receives the component's lines (the caller adds tenant and log type);
 * `cache` is the [`SessionCache`] of the instance's tenant.
 */
export function hostImports(log, cache) {
  return {
    'mimecast:source/host-log': { log },
    'mimecast:source/session-cache': {
      get: (name) => cache.get(name),
      put: (name, value, ttlMs) => cache.put(name, value, ttlMs),
      remove: (name) => cache.remove(name),
    },
  };
}
