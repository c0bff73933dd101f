import { BlockError } from './errors';
import { type KeyvalObject, parseKeyval } from './keyval';

/** `server` of `driver=nbd`: QEMU's SocketAddress, unix and inet forms. */
export type NbdServerAddress = { type: 'unix'; path: string } | { type: 'inet'; host: string; port: string };

/** Options every node takes (QEMU's BlockdevOptions base). */
export interface BlockdevOptionsBase {
  'node-name': string;
  'read-only'?: boolean;
  cache?: { direct?: boolean; 'no-flush'?: boolean };
  discard?: 'ignore' | 'unmap';
  /** vfu's own: requests in flight at once (default 64). */
  'queue-depth'?: number;
}

/** `driver=file`. */
export interface BlockdevOptionsFile extends BlockdevOptionsBase {
  driver: 'file';
  filename: string;
  aio?: 'threads';
}

/** `driver=null-co`. */
export interface BlockdevOptionsNullCo extends BlockdevOptionsBase {
  driver: 'null-co';
  size?: number;
  'read-zeroes'?: boolean;
  'latency-ns'?: number;
}

/** `driver=nbd`. */
export interface BlockdevOptionsNbd extends BlockdevOptionsBase {
  driver: 'nbd';
  server: NbdServerAddress;
  export?: string;
  /** Seconds to wait for the connection to open (QEMU's `open-timeout`, default 0: one try). */
  'open-timeout'?: number;
  /** Seconds requests wait for a lost connection to return (QEMU's `reconnect-delay`, default 0). */
  'reconnect-delay'?: number;
}

/** One block node's options, as blockdev-add takes them (QEMU's BlockdevOptions JSON). */
export type BlockdevOptions = BlockdevOptionsFile | BlockdevOptionsNullCo | BlockdevOptionsNbd;

/** The drivers this package provides. */
export const BLOCK_DRIVERS = ['file', 'null-co', 'nbd'] as const;
export type BlockDriverName = (typeof BLOCK_DRIVERS)[number];

// ---- schema -------------------------------------------------------------------------------------

type Kind = 'string' | 'bool' | 'size' | 'int' | 'port';
interface Field {
  kind: Kind | Record<string, Field>;
  required?: boolean;
  enum?: readonly string[];
}

const CACHE: Record<string, Field> = { direct: { kind: 'bool' }, 'no-flush': { kind: 'bool' } };
const COMMON: Record<string, Field> = {
  driver: { kind: 'string', required: true },
  'node-name': { kind: 'string', required: true },
  'read-only': { kind: 'bool' },
  cache: { kind: CACHE },
  discard: { kind: 'string', enum: ['ignore', 'off', 'unmap', 'on'] },
  'queue-depth': { kind: 'int' },
};
const SCHEMAS: Record<BlockDriverName, Record<string, Field>> = {
  file: {
    ...COMMON,
    filename: { kind: 'string', required: true },
    aio: { kind: 'string', enum: ['threads'] },
  },
  'null-co': {
    ...COMMON,
    size: { kind: 'size' },
    'read-zeroes': { kind: 'bool' },
    'latency-ns': { kind: 'int' },
  },
  nbd: {
    ...COMMON,
    server: {
      kind: {
        type: { kind: 'string', required: true, enum: ['unix', 'inet'] },
        path: { kind: 'string' },
        host: { kind: 'string' },
        port: { kind: 'port' },
      },
      required: true,
    },
    export: { kind: 'string' },
    'open-timeout': { kind: 'int' },
    'reconnect-delay': { kind: 'int' },
  },
};

const SIZE_SUFFIX: Record<string, number> = {
  '': 1,
  b: 1,
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
};

function invalid(message: string, option: string): BlockError {
  return new BlockError('invalid-option', message, { option });
}

/** Converts one value; `text` is true when it came from a keyval string (all strings). */
function convert(value: unknown, field: Field, key: string, text: boolean): unknown {
  const kind = field.kind;
  if (typeof kind === 'object') {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw invalid(`Parameter '${key}' expects an object`, key);
    }
    return convertObject(value as Record<string, unknown>, kind, key, text);
  }
  switch (kind) {
    case 'string': {
      if (typeof value !== 'string') throw invalid(`Parameter '${key}' expects a string`, key);
      if (field.enum && !field.enum.includes(value)) {
        throw invalid(
          `Parameter '${key}' does not accept value '${value}' (one of: ${field.enum.join(', ')})`,
          key,
        );
      }
      return value;
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      if (text && typeof value === 'string') {
        if (value === 'on' || value === 'yes' || value === 'true') return true;
        if (value === 'off' || value === 'no' || value === 'false') return false;
      }
      throw invalid(`Parameter '${key}' expects 'on' or 'off'`, key);
    }
    case 'int':
    case 'size': {
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
      if (text && typeof value === 'string') {
        const m = kind === 'size' ? /^(\d+)([bkmgtp]?)$/i.exec(value) : /^(\d+)()$/.exec(value);
        if (m) {
          const n = Number(m[1]) * (SIZE_SUFFIX[(m[2] ?? '').toLowerCase()] ?? 1);
          if (Number.isSafeInteger(n)) return n;
        }
      }
      const what = kind === 'size' ? 'a size (bytes, or with a suffix k, M, G, T)' : 'a non-negative integer';
      throw invalid(`Parameter '${key}' expects ${what}, got ${JSON.stringify(value)}`, key);
    }
    case 'port': {
      if (typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 65536)
        return String(value);
      if (typeof value === 'string' && value !== '') return value;
      throw invalid(`Parameter '${key}' expects a port number or service name`, key);
    }
  }
}

function convertObject(
  input: Record<string, unknown>,
  schema: Record<string, Field>,
  prefix: string,
  text: boolean,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    const field = schema[k];
    if (!field) throw invalid(`Parameter '${key}' is unexpected`, key);
    if (v === undefined) continue;
    out[k] = convert(v, field, key, text);
  }
  for (const [k, field] of Object.entries(schema)) {
    const key = prefix === '' ? k : `${prefix}.${k}`;
    if (field.required && out[k] === undefined) throw invalid(`Parameter '${key}' is missing`, key);
  }
  return out;
}

/** QEMU's rule for ids and node names: a letter, then letters, digits, '-', '.', '_'; at most 31. */
export function isWellFormedNodeName(name: string): boolean {
  return /^[A-Za-z][A-Za-z0-9._-]*$/.test(name) && name.length <= 31;
}

/**
 * Validates blockdev options given as a `-blockdev` keyval string
 * (`driver=file,node-name=d0,filename=disk.img,cache.direct=on`), as a `-blockdev` JSON string
 * (`{"driver":"file",...}`, as QEMU also accepts) or as the JSON object
 * blockdev-add and `--config` take (`{"driver":"file","node-name":"d0","filename":"disk.img"}`).
 * Returns them typed and normalised (`discard=on` becomes `unmap`); throws an invalid-option
 * BlockError naming the option at fault, with QEMU's wording where QEMU has one.
 */
export function parseBlockdevOptions(input: string | Readonly<Record<string, unknown>>): BlockdevOptions {
  // As QEMU's -blockdev, a string starting with '{' is the JSON form.
  if (typeof input === 'string' && input.trimStart().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(input);
    } catch (cause) {
      throw new BlockError(
        'invalid-option',
        `blockdev options are not valid JSON: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw invalid('blockdev options must be a JSON object', '');
    }
    return parseBlockdevOptions(json as Record<string, unknown>);
  }
  const text = typeof input === 'string';
  const raw: Record<string, unknown> = text ? (parseKeyval(input) as KeyvalObject) : { ...input };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid('blockdev options must be an object', '');
  }
  const driver = raw.driver;
  if (driver === undefined) throw invalid("Parameter 'driver' is missing", 'driver');
  if (typeof driver !== 'string' || !(BLOCK_DRIVERS as readonly string[]).includes(driver)) {
    throw invalid(
      `Invalid parameter value for 'driver': unknown block driver '${String(driver)}' (known: ${BLOCK_DRIVERS.join(', ')})`,
      'driver',
    );
  }
  const out = convertObject(raw, SCHEMAS[driver as BlockDriverName], '', text);
  const nodeName = out['node-name'] as string;
  if (!isWellFormedNodeName(nodeName)) {
    throw invalid(
      `Invalid node-name: '${nodeName}' (a letter, then letters, digits, '-', '.', '_'; at most 31 characters)`,
      'node-name',
    );
  }
  if (out.discard === 'on') out.discard = 'unmap';
  if (out.discard === 'off') out.discard = 'ignore';
  const depth = out['queue-depth'];
  if (depth !== undefined && (depth as number) < 1)
    throw invalid("Parameter 'queue-depth' must be at least 1", 'queue-depth');
  if (driver === 'nbd') {
    const server = out.server as Record<string, unknown>;
    if (server.type === 'unix') {
      if (server.path === undefined) throw invalid("Parameter 'server.path' is missing", 'server.path');
      for (const k of ['host', 'port']) {
        if (server[k] !== undefined)
          throw invalid(`Parameter 'server.${k}' is unexpected with server.type=unix`, `server.${k}`);
      }
    } else {
      if (server.host === undefined) throw invalid("Parameter 'server.host' is missing", 'server.host');
      if (server.port === undefined) throw invalid("Parameter 'server.port' is missing", 'server.port');
      if (server.path !== undefined)
        throw invalid("Parameter 'server.path' is unexpected with server.type=inet", 'server.path');
    }
  }
  return out as unknown as BlockdevOptions;
}
