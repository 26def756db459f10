#!/usr/bin/env node
// Collects one Mimecast tenant's logs with the mimecast-source component under Node.js until
// every configured log type is caught up, appending the events to an NDJSON file exactly once.
// Usage: node collect.mjs CONFIG.json (see README.md). Exit codes: 0 caught up, 1 a permanent
// error from Mimecast or the component, 2 an unusable configuration or checkpoints file.
//
// The instance runs on a worker thread (`worker.mjs`), as WASI-HTTP under preview2-shim blocks
// the thread that calls it; this thread delivers, stores checkpoints and keeps the deadlines.

import { setTimeout as sleep } from 'node:timers/promises';

import { ConfigError, loadConfig } from './config.mjs';
import { Delivery, DeliveryError } from './delivery.mjs';
import { writeLog } from './host.mjs';
import { Instance } from './instance.mjs';

/** First wait after a transient failure; doubled on each retry, up to `MAX_BACKOFF_MS`. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;

/** A failure that ends the run; `code` is the exit code. */
class Fatal extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** Describes a `poll-error` (`{ tag, val }`) for people. */
function describe(error) {
  const val = error.tag === 'rate-limited' ? `${error.val.message} (wait ${error.val.afterMs} ms)` : error.val;
  return `${error.tag}: ${val}`;
}

/** The tenant's instance: made and configured on first use, and again after one was stopped. */
class Tenant {
  #config;
  #instance;

  constructor(config) {
    this.#config = config;
  }

  log(level, message, logType) {
    writeLog(level, this.#config.source.tenant, logType, message);
  }

  /** Polls `logType` from `checkpoint`: `{ ok }`, `{ err }` or `{ timeout }`; a trap is fatal. */
  async poll(logType, checkpoint) {
    const instance = await this.#instanceReady();
    const result = await instance.call('poll', [logType, checkpoint], this.#config.pollTimeoutMs);
    if (result.timeout !== undefined) this.#instance = undefined;
    if (result.trap !== undefined) throw new Fatal(`${this.#config.source.tenant}/${logType}: the component trapped: ${result.trap}`, 1);
    return result;
  }

  async #instanceReady() {
    if (this.#instance !== undefined) return this.#instance;
    const { component, source } = this.#config;
    let instance;
    try {
      instance = await Instance.start(component, source, (...line) => this.log(...line));
    } catch (e) {
      throw new Fatal(`${e.message}; transpile with: npx jco transpile mimecast_source.wasm -o out --instantiation async`, 2);
    }
    const configured = await instance.call('configure', [source], this.#config.pollTimeoutMs);
    if (configured.ok === undefined) {
      await instance.stop();
      const why = configured.err !== undefined ? describe(configured.err) : configured.trap ?? configured.timeout;
      throw new Fatal(`${source.tenant}: ${why}`, 2);
    }
    this.#instance = instance;
    return instance;
  }

  async stop() {
    await this.#instance?.stop();
  }
}

/** Polls `logType` until caught up, delivering each batch before storing its checkpoint. */
async function collect(tenant, logType, delivery, config) {
  const log = (level, message) => tenant.log(level, message, logType);
  let failures = 0;
  let delivered = 0;
  for (;;) {
    const result = await tenant.poll(logType, delivery.checkpoint(logType));
    if (result.ok === undefined) {
      const error = result.err ?? { tag: 'transient', val: result.timeout };
      if (error.tag === 'rate-limited') {
        log('warn', `rate limited; waiting ${error.val.afterMs} ms`);
        await sleep(Number(error.val.afterMs));
        continue;
      }
      if (error.tag === 'transient' && failures < config.transientRetries) {
        const wait = Math.min(FIRST_BACKOFF_MS * 2 ** failures, MAX_BACKOFF_MS);
        failures += 1;
        log('warn', `${describe(error)}; retry ${failures} of ${config.transientRetries} in ${wait} ms`);
        await sleep(wait);
        continue;
      }
      throw new Fatal(`${config.source.tenant}/${logType}: ${describe(error)}`, 1);
    }
    failures = 0;
    const batch = result.ok;
    await delivery.deliver(logType, batch.events, batch.checkpoint);
    delivered += batch.events.length;
    if (batch.nextPoll.tag === 'interval') break;
    if (batch.nextPoll.tag === 'after-ms') await sleep(Number(batch.nextPoll.val));
  }
  log('info', `caught up: ${delivered} events delivered`);
}

async function main(argv) {
  if (argv.length !== 1 || argv[0].startsWith('-')) {
    throw new Fatal('usage: node collect.mjs CONFIG.json', 2);
  }
  const config = loadConfig(argv[0]);
  const tenant = new Tenant(config);
  const delivery = await Delivery.open(config.output, config.checkpoints, config.source.tenant, (m) => tenant.log('warn', m));
  try {
    for (const logType of config.logTypes) {
      await collect(tenant, logType, delivery, config);
    }
  } finally {
    await tenant.stop();
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e) => {
    const known = e instanceof Fatal || e instanceof ConfigError || e instanceof DeliveryError;
    const code = e instanceof Fatal ? e.code : known ? 2 : 1;
    process.stderr.write(`mimecast-source (node): ${known ? e.message : (e?.stack ?? e)}\n`);
    process.exit(code);
  },
);
