// The main thread's handle on one component instance running in `worker.mjs`: each call is a
// message with a deadline. A call past its deadline stops the worker (and with it the instance
// and any request in flight): the component times its own requests, but a host should not
// trust a guest to end every call.

import { Worker } from 'node:worker_threads';

/** Calls into one instance on its own worker thread. */
export class Instance {
  #worker;
  #pending = new Map();
  #nextId = 1;
  #exited;

  constructor(worker, log) {
    this.#worker = worker;
    worker.on('message', (message) => {
      if (message.log !== undefined) {
        log(...message.log);
        return;
      }
      this.#pending.get(message.id)?.(message);
      this.#pending.delete(message.id);
    });
    this.#exited = new Promise((resolve) => {
      const stop = (why) => {
        for (const settle of this.#pending.values()) settle({ trap: why });
        this.#pending.clear();
        resolve();
      };
      worker.on('error', (e) => stop(`the worker failed: ${e?.message ?? e}`));
      worker.on('exit', (code) => stop(`the worker exited (code ${code})`));
    });
  }

  /**
   * Starts a worker with the component transpiled at `component`, set up for `source` (its
   * `baseUrl` and `requestTimeoutMs`); `log(level, message, logType)` gets its log lines.
   * Resolves once the instance exists; rejects with the reason if it cannot be made.
   */
  static async start(component, source, log) {
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { component, source },
    });
    const instance = new Instance(worker, log);
    const ready = await instance.#request(0, undefined, 60_000);
    if (ready.ok === undefined) {
      await instance.stop();
      throw new Error(ready.trap ?? ready.timeout);
    }
    return instance;
  }

  /**
   * Calls export `op` (`configure` or `poll`) with `args`. Resolves to `{ ok }`, `{ err }` (a
   * `poll-error`), `{ trap }` or `{ timeout }`; after a trap or a timeout the instance is gone.
   */
  call(op, args, deadlineMs) {
    const id = this.#nextId++;
    this.#worker.postMessage({ id, op, args });
    return this.#request(id, op, deadlineMs);
  }

  #request(id, op, deadlineMs) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        resolve({ timeout: `${op ?? 'instantiation'} took longer than ${deadlineMs} ms; the instance was stopped` });
        this.stop();
      }, deadlineMs);
      this.#pending.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }

  /** Stops the worker; resolves once it is gone. */
  async stop() {
    await this.#worker.terminate();
    await this.#exited;
  }
}
