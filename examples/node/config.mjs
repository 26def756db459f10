// The driver's JSON configuration, read and checked: where the transpiled component, the output
// and the checkpoints live, and `source`, the component's `config` record in jco's shape
// (camelCase fields, variants as `{ "tag", "val" }`, `option` as an absent field). Every
// problem is reported at once, each with its path; nothing here talks to Mimecast.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The three log types, as the WIT `log-type` enum spells them. */
export const LOG_TYPES = ['url', 'impersonation', 'attachment'];

/** Defaults of the `source` fields that have one; the same as `mcsource`'s. */
const SOURCE_DEFAULTS = {
  pageSize: 100,
  lookbackSecs: 24 * 3600,
  lagSecs: 60,
  overlapSecs: 300,
  requestTimeoutMs: 30_000,
  urlFilter: {},
  impersonationFilter: {},
  attachmentFilter: {},
  schema: 'raw',
  keepOriginal: false,
};

/** A configuration that cannot be used; the message lists every problem. */
export class ConfigError extends Error {}

/** Collects problems, each prefixed with the path of the value it is about. */
class Problems {
  list = [];
  add(path, text) {
    this.list.push(`${path}: ${text}`);
  }
  /** Reports keys of `obj` not in `known`. */
  unknownKeys(path, obj, known) {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.add(`${path}.${key}`, `unknown key; expected one of ${known.join(', ')}`);
    }
  }
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A string, or a secret read from the environment as `{ "env": "NAME" }`. */
function text(problems, path, value, env) {
  if (typeof value === 'string') return value;
  if (isObject(value) && Object.keys(value).length === 1 && typeof value.env === 'string') {
    const found = env[value.env];
    if (found === undefined || found === '') {
      problems.add(path, `environment variable ${value.env} is not set`);
      return '';
    }
    return found;
  }
  problems.add(path, 'expected a string or { "env": "NAME" }');
  return '';
}

/** An optional string (`option<string>`): absent or `null` is `none`. */
function optionalText(problems, path, value) {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  problems.add(path, 'expected a string');
  return undefined;
}

/** A whole number from `min` (0) to `max`, as a Number (`u32`) or a BigInt (`u64`). */
function integer(problems, path, value, { min = 0, max, big }) {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    problems.add(path, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return big ? 0n : 0;
  }
  return big ? BigInt(value) : value;
}

function stringList(problems, path, value) {
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  problems.add(path, 'expected a list of strings');
  return [];
}

function credentials(problems, path, value, env) {
  const shapes = {
    api1: ['appId', 'appKey', 'accessKey', 'secretKey'],
    api2: ['clientId', 'clientSecret'],
  };
  if (!isObject(value) || !(value.tag in shapes) || !isObject(value.val)) {
    problems.add(path, 'expected { "tag": "api1", "val": { appId, appKey, accessKey, secretKey } } or { "tag": "api2", "val": { clientId, clientSecret } }');
    return { tag: 'api1', val: {} };
  }
  problems.unknownKeys(path, value, ['tag', 'val']);
  const fields = shapes[value.tag];
  problems.unknownKeys(`${path}.val`, value.val, fields);
  const val = {};
  for (const field of fields) {
    if (value.val[field] === undefined) problems.add(`${path}.val.${field}`, 'missing');
    else val[field] = text(problems, `${path}.val.${field}`, value.val[field], env);
  }
  return { tag: value.tag, val };
}

function filter(problems, path, value, fields) {
  if (!isObject(value)) {
    problems.add(path, 'expected an object');
    return {};
  }
  problems.unknownKeys(path, value, Object.keys(fields));
  const out = {};
  for (const [field, kind] of Object.entries(fields)) {
    const at = `${path}.${field}`;
    if (kind === 'text') out[field] = optionalText(problems, at, value[field]);
    else if (kind === 'list') out[field] = stringList(problems, at, value[field]);
    else if (value[field] !== undefined && value[field] !== null && typeof value[field] !== 'boolean') {
      problems.add(at, 'expected true, false or null');
    } else out[field] = value[field] ?? undefined;
  }
  return out;
}

/** The component's `config` record from `source`, with defaults filled in. */
function sourceConfig(problems, value, env) {
  const path = 'source';
  if (!isObject(value)) {
    problems.add(path, 'expected an object (the component\'s config record)');
    return undefined;
  }
  const known = ['tenant', 'baseUrl', 'credentials', ...Object.keys(SOURCE_DEFAULTS)];
  problems.unknownKeys(path, value, known);
  const s = { ...SOURCE_DEFAULTS, ...value };
  for (const field of ['tenant', 'baseUrl', 'credentials']) {
    if (s[field] === undefined) problems.add(`${path}.${field}`, 'missing');
  }
  const u64 = { max: Number.MAX_SAFE_INTEGER, big: true };
  if (!['raw', 'ecs', 'ocsf'].includes(s.schema)) problems.add(`${path}.schema`, 'expected "raw", "ecs" or "ocsf"');
  if (typeof s.keepOriginal !== 'boolean') problems.add(`${path}.keepOriginal`, 'expected true or false');
  return {
    tenant: typeof s.tenant === 'string' ? s.tenant : (problems.add(`${path}.tenant`, 'expected a string'), ''),
    baseUrl: typeof s.baseUrl === 'string' ? s.baseUrl : (problems.add(`${path}.baseUrl`, 'expected a string'), ''),
    credentials: credentials(problems, `${path}.credentials`, s.credentials, env),
    pageSize: integer(problems, `${path}.pageSize`, s.pageSize, { max: 0xffff_ffff, big: false }),
    lookbackSecs: integer(problems, `${path}.lookbackSecs`, s.lookbackSecs, u64),
    lagSecs: integer(problems, `${path}.lagSecs`, s.lagSecs, u64),
    overlapSecs: integer(problems, `${path}.overlapSecs`, s.overlapSecs, u64),
    requestTimeoutMs: integer(problems, `${path}.requestTimeoutMs`, s.requestTimeoutMs, u64),
    urlFilter: filter(problems, `${path}.urlFilter`, s.urlFilter, { route: 'text', scanResult: 'text' }),
    impersonationFilter: filter(problems, `${path}.impersonationFilter`, s.impersonationFilter, {
      taggedMalicious: 'bool',
      searchField: 'text',
      query: 'text',
      identifiers: 'list',
      actions: 'list',
    }),
    attachmentFilter: filter(problems, `${path}.attachmentFilter`, s.attachmentFilter, { route: 'text', result: 'text' }),
    schema: s.schema,
    keepOriginal: s.keepOriginal,
  };
}

/**
 * Reads and checks the configuration file at `file`. Paths in it are relative to its folder.
 * Throws [`ConfigError`] naming every problem.
 */
export function loadConfig(file, env = process.env) {
  let raw;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read the configuration ${file}: ${e.message}`);
  }
  const problems = new Problems();
  if (!isObject(raw)) throw new ConfigError(`${file}: expected a JSON object`);
  problems.unknownKeys('config', raw, ['component', 'output', 'checkpoints', 'logTypes', 'transientRetries', 'pollTimeoutMs', 'source']);
  const base = dirname(resolve(file));
  const path = (key) => {
    if (typeof raw[key] === 'string' && raw[key] !== '') return resolve(base, raw[key]);
    problems.add(`config.${key}`, 'expected a file path');
    return '';
  };
  const logTypes = raw.logTypes ?? LOG_TYPES;
  if (!Array.isArray(logTypes) || logTypes.length === 0 || !logTypes.every((t) => LOG_TYPES.includes(t))) {
    problems.add('config.logTypes', `expected a non-empty list of ${LOG_TYPES.join(', ')}`);
  }
  const config = {
    component: path('component'),
    output: path('output'),
    checkpoints: path('checkpoints'),
    logTypes,
    transientRetries: integer(problems, 'config.transientRetries', raw.transientRetries ?? 5, { max: 100, big: false }),
    pollTimeoutMs: integer(problems, 'config.pollTimeoutMs', raw.pollTimeoutMs ?? 120_000, { min: 1000, max: 3_600_000, big: false }),
    source: sourceConfig(problems, raw.source, env),
  };
  if (problems.list.length > 0) {
    throw new ConfigError(`${file} has ${problems.list.length} problem(s):\n  ${problems.list.join('\n  ')}`);
  }
  return config;
}
