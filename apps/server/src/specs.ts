/**
 * Turning option records (from `key=value` strings, JSON on the command line, the config file or
 * a monitor command) into endpoint and device specs. Pure: no I/O, no registry.
 */
import { type DeviceSpec, type EndpointSpec, VFIO_USER_SERVER_TYPE } from './config';

/** Reports a bad option; `field` names the option at fault. Must throw. */
export type SpecFailure = (message: string, field?: string) => never;

/**
 * Splits QEMU option syntax `first,key=value,key=value` (a doubled comma is a literal comma; a
 * bare `key` means `key=on`) into the leading word and the options. Returns `first` as `''` when
 * the string starts with `key=`.
 */
export function splitOptions(
  spec: string,
  fail: SpecFailure,
): { first: string; options: Record<string, string> } {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < spec.length; i++) {
    const ch = spec[i];
    if (ch === ',' && spec[i + 1] === ',') {
      current += ',';
      i++;
    } else if (ch === ',') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  let first = '';
  const options: Record<string, string> = {};
  parts.forEach((part, i) => {
    if (i === 0 && !part.includes('=')) {
      first = part;
      return;
    }
    if (part === '') fail(`empty option in '${spec}'`);
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? 'on' : part.slice(eq + 1);
    if (key === '') fail(`option without a name in '${spec}'`);
    if (Object.hasOwn(options, key)) fail(`option '${key}' given twice in '${spec}'`, key);
    options[key] = value;
  });
  return { first, options };
}

/** Parses a JSON object argument (`-device '{"driver":"edu"}'`); anything else is a failure. */
export function parseJsonObject(text: string, fail: SpecFailure): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(value)) return fail('expected a JSON object');
  return value;
}

/** A non-null, non-array object. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A `vfio-user-server` object from its options (`qom-type`, `id`, `socket`). `socket` is a path,
 * or QEMU's `{"type":"unix","path":...}` (flattened `socket.type`/`socket.path` in key=value form).
 * The QEMU type name `x-vfio-user-server` is accepted as an alias.
 */
export function endpointFromOptions(
  options: Record<string, unknown>,
  source: string,
  fail: SpecFailure,
): EndpointSpec {
  const rest = { ...options };
  const type = take(rest, 'qom-type');
  if (type === undefined) fail(`missing object type (expected ${VFIO_USER_SERVER_TYPE})`, 'qom-type');
  if (type !== VFIO_USER_SERVER_TYPE && type !== `x-${VFIO_USER_SERVER_TYPE}`) {
    fail(
      `unknown object type ${JSON.stringify(type)} (the only one is ${VFIO_USER_SERVER_TYPE})`,
      'qom-type',
    );
  }
  const id = take(rest, 'id');
  if (typeof id !== 'string' || id === '')
    fail(`${VFIO_USER_SERVER_TYPE} needs an id (a non-empty string)`, 'id');
  let socket = take(rest, 'socket');
  const flatType = take(rest, 'socket.type');
  const flatPath = take(rest, 'socket.path');
  if (socket === undefined && (flatType !== undefined || flatPath !== undefined)) {
    socket = { type: flatType ?? 'unix', path: flatPath };
  }
  const path = socketPathOf(socket, fail);
  if ('device' in rest) {
    fail(
      `'device' is not an option of ${VFIO_USER_SERVER_TYPE} here: put the device on the endpoint's bus with -device DRIVER,bus=${id}`,
      'device',
    );
  }
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    fail(
      `unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} of ${VFIO_USER_SERVER_TYPE} (known: id, socket)`,
      unknown[0],
    );
  }
  return { id, socket: path, source };
}

function socketPathOf(socket: unknown, fail: SpecFailure): string {
  if (typeof socket === 'string') {
    if (socket === '') fail('socket path is empty', 'socket');
    return socket;
  }
  if (isPlainObject(socket)) {
    const { type, path, ...others } = socket;
    if (type !== 'unix') fail(`socket type must be "unix", got ${JSON.stringify(type)}`, 'socket.type');
    if (typeof path !== 'string' || path === '')
      fail('socket.path must be a non-empty string', 'socket.path');
    const extra = Object.keys(others);
    if (extra.length > 0) fail(`unknown socket option '${extra[0]}'`, `socket.${extra[0]}`);
    return path;
  }
  if (socket === undefined) return fail(`${VFIO_USER_SERVER_TYPE} needs socket=PATH`, 'socket');
  return fail('socket must be a path or {"type":"unix","path":...}', 'socket');
}

/**
 * A device from `device_add` options: `driver`, optional `id`, `bus` and `socket` (the one-device
 * shorthand), every other key a device property passed on to the registry.
 */
export function deviceFromOptions(
  options: Record<string, unknown>,
  source: string,
  fail: SpecFailure,
): DeviceSpec {
  const props = { ...options };
  const driver = take(props, 'driver');
  if (typeof driver !== 'string' || driver === '') fail('missing driver name', 'driver');
  const spec: DeviceSpec = { driver, props, source };
  const id = take(props, 'id');
  if (id !== undefined) {
    if (typeof id !== 'string' || id === '') fail('id must be a non-empty string', 'id');
    spec.id = id;
  }
  const bus = take(props, 'bus');
  if (bus !== undefined) {
    if (typeof bus !== 'string' || bus === '') fail('bus must be a non-empty string', 'bus');
    spec.bus = bus;
  }
  const socket = take(props, 'socket');
  if (socket !== undefined) {
    spec.socket = socketPathOf(socket, fail);
    if (spec.bus !== undefined) {
      fail(
        `give either bus= (an existing endpoint) or socket= (a new endpoint for this device), not both`,
        'socket',
      );
    }
  }
  return spec;
}

function take(record: Record<string, unknown>, key: string): unknown {
  if (!Object.hasOwn(record, key)) return undefined;
  const value = record[key];
  delete record[key];
  return value;
}
