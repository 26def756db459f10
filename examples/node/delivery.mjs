// Exactly-once delivery to a local NDJSON file. A batch's events are appended and fsynced, and
// only then is the checkpoint that follows them written (to a temporary file, fsynced, renamed
// over the checkpoints file, folder fsynced), together with the output's length. A crash between
// the two leaves events past that length: the next start cuts them off and polls them again.

import { open, mkdir, rename, readFile, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Checkpoints file version; another is refused rather than guessed at. */
const VERSION = 1;

/** A checkpoints or output file that cannot be used; the message says which and why. */
export class DeliveryError extends Error {}

/**
 * What the checkpoints file holds: `{ version, tenant, outputBytes, checkpoints: { url, ... } }`.
 * `outputBytes` is the output's length when the checkpoints were written; `checkpoints` maps a
 * log type to the component's opaque checkpoint string.
 */
async function readCheckpoints(file, tenant) {
  let text;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (e.code === 'ENOENT') return { checkpoints: {}, outputBytes: undefined };
    throw new DeliveryError(`cannot read the checkpoints file ${file}: ${e.message}`);
  }
  let saved;
  try {
    saved = JSON.parse(text);
  } catch (e) {
    throw new DeliveryError(`the checkpoints file ${file} is not JSON (${e.message}); restore it or remove it to start again from the look-back`);
  }
  const ok =
    saved?.version === VERSION &&
    typeof saved.checkpoints === 'object' &&
    saved.checkpoints !== null &&
    Object.values(saved.checkpoints).every((c) => typeof c === 'string') &&
    (saved.outputBytes === undefined || Number.isSafeInteger(saved.outputBytes));
  if (!ok) {
    throw new DeliveryError(`the checkpoints file ${file} is not a version ${VERSION} checkpoints file ({ "version": ${VERSION}, "tenant", "outputBytes", "checkpoints": { "url": "…" } })`);
  }
  if (saved.tenant !== tenant) {
    throw new DeliveryError(`the checkpoints file ${file} belongs to tenant ${JSON.stringify(saved.tenant)}, not ${JSON.stringify(tenant)}`);
  }
  return { checkpoints: saved.checkpoints, outputBytes: saved.outputBytes };
}

/** Writes `data` to `file` atomically: temporary file, fsync, rename, fsync of the folder. */
async function writeAtomically(file, data) {
  const temporary = `${file}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  const folder = await open(dirname(file), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** The output file and the checkpoints that follow what it holds. */
export class Delivery {
  #output;
  #checkpointsFile;
  #tenant;
  #checkpoints;
  #length;
  #warn;

  constructor(output, checkpointsFile, tenant, checkpoints, length, warn) {
    this.#output = output;
    this.#checkpointsFile = checkpointsFile;
    this.#tenant = tenant;
    this.#checkpoints = checkpoints;
    this.#length = length;
    this.#warn = warn;
  }

  /**
   * Opens the output and the checkpoints file of `tenant`; cuts the output back to the length
   * the checkpoints were written with (events a crash left after the last checkpoint).
   */
  static async open(output, checkpointsFile, tenant, warn) {
    await mkdir(dirname(output), { recursive: true });
    await mkdir(dirname(checkpointsFile), { recursive: true });
    const { checkpoints, outputBytes } = await readCheckpoints(checkpointsFile, tenant);
    const handle = await open(output, 'a');
    await handle.close();
    const actual = (await stat(output)).size;
    let length = actual;
    if (outputBytes !== undefined && actual > outputBytes) {
      warn(`${output} has ${actual - outputBytes} bytes past the last checkpoint (a run stopped between delivering and checkpointing); cutting them off, they are collected again`);
      await truncate(output, outputBytes);
      length = outputBytes;
    } else if (outputBytes !== undefined && actual < outputBytes) {
      warn(`${output} is ${outputBytes - actual} bytes shorter than when the checkpoints were written; events delivered before may be missing from it`);
    }
    return new Delivery(output, checkpointsFile, tenant, checkpoints, length, warn);
  }

  /** The last checkpoint stored for `logType`, or `undefined` (WIT `none`) if there is none. */
  checkpoint(logType) {
    return this.#checkpoints[logType];
  }

  /** Delivers `events` (one JSON text each), then stores `checkpoint` for `logType`. */
  async deliver(logType, events, checkpoint) {
    if (events.length > 0) {
      const bytes = Buffer.from(events.map((e) => `${e}\n`).join(''));
      const handle = await open(this.#output, 'a');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.#length += bytes.length;
    }
    if (events.length === 0 && this.#checkpoints[logType] === checkpoint) return;
    this.#checkpoints = { ...this.#checkpoints, [logType]: checkpoint };
    const saved = { version: VERSION, tenant: this.#tenant, outputBytes: this.#length, checkpoints: this.#checkpoints };
    await writeAtomically(this.#checkpointsFile, `${JSON.stringify(saved, null, 2)}\n`);
  }
}
