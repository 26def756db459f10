// One component instance on a worker thread of its own. preview2-shim answers WASI-HTTP
// synchronously (its own I/O worker does the work while this thread waits in Atomics.wait), so
// a poll blocks the thread it runs on for as long as Mimecast takes; here that is this worker,
// and the main thread stays free to deliver, and to stop this one at a deadline.
//
// Messages in: `{ id, op: 'configure' | 'poll', args }`. Out: `{ id, ok }`, `{ id, err }` (a
// `poll-error`), `{ id, trap }` (the instance is unusable) and `{ log: [level, message, logType] }`.

import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { http } from '@bytecodealliance/preview2-shim';

import { SessionCache, hostImports } from './host.mjs';

/** `origin` of `url` (scheme, host, port), or `undefined` for a URL that cannot be parsed. */
function originOf(url) {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

/**
 * preview2-shim's `wasi:http/outgoing-handler`, narrowed to what this tenant needs: requests
 * only to the origin of `baseUrl` (others get `HTTP-request-denied`). The component sets its
 * request timeout as the request options; should a build pass none, the handler sets them (else
 * the shim waits up to 600 s).
 */
function outgoingHandler(baseUrl, timeoutMs, log) {
  const allowed = originOf(baseUrl);
  const timeoutNs = timeoutMs * 1_000_000n;
  return {
    handle(request, options) {
      const scheme = request.scheme()?.tag === 'HTTP' ? 'http' : 'https';
      const origin = originOf(`${scheme}://${request.authority() ?? ''}`);
      if (origin === undefined || origin !== allowed) {
        log('warn', `outbound request to ${origin} denied: only ${allowed} is allowed`);
        throw { tag: 'HTTP-request-denied' }; // an import's `result` error is thrown as is
      }
      if (options === undefined) {
        options = new http.types.RequestOptions();
        options.setConnectTimeout(timeoutNs);
        options.setFirstByteTimeout(timeoutNs);
        options.setBetweenBytesTimeout(timeoutNs);
      }
      return http.outgoingHandler.handle(request, options);
    },
  };
}

/** Instantiates the transpiled component (`jco transpile --instantiation async`). */
async function instantiate({ component, source }, context) {
  const module = await import(pathToFileURL(component).href);
  if (typeof module.instantiate !== 'function') {
    throw new Error(`${component} exports no instantiate(); transpile with --instantiation async`);
  }
  const log = (level, message) => parentPort.postMessage({ log: [level, message, context.logType] });
  const wasi = new WASIShim({ sandbox: { preopens: {}, env: {}, args: ['mimecast-source'] } }).getImportObject();
  const imports = {
    ...wasi,
    'wasi:http/outgoing-handler': outgoingHandler(source.baseUrl, source.requestTimeoutMs, log),
    ...hostImports(log, new SessionCache()),
  };
  const folder = dirname(component);
  const instance = await module.instantiate(
    (name) => readFile(join(folder, name)).then((bytes) => WebAssembly.compile(bytes)),
    imports,
  );
  return instance.source;
}

/**
 * Runs one export call. jco returns a `result`'s `ok` value and throws a `ComponentError` whose
 * `payload` is the `err` value; anything else thrown is a trap.
 */
function call(source, context, { op, args }) {
  try {
    if (op === 'configure') {
      source.configure(args[0]);
      return { ok: true };
    }
    context.logType = args[0];
    return { ok: source.poll(args[0], args[1]) };
  } catch (e) {
    if (e?.payload?.tag !== undefined) return { err: e.payload };
    return { trap: `${e?.message ?? e}` };
  }
}

const context = { logType: undefined };
let source;
try {
  source = await instantiate(workerData, context);
} catch (e) {
  parentPort.postMessage({ id: 0, trap: `cannot instantiate ${workerData.component}: ${e?.message ?? e}` });
}
if (source !== undefined) {
  parentPort.postMessage({ id: 0, ok: true });
  parentPort.on('message', (message) => parentPort.postMessage({ id: message.id, ...call(source, context, message) }));
}
