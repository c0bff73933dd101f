/**
 * The `--config FILE` schema: JSON text in, a {@link ServerConfig} out, or an {@link AppError}
 * `config` naming the file and the JSON path at fault (`$.devices[1].driver`). Pure: the caller
 * reads the file.
 *
 * ```json
 * {
 *   "load": ["./doorbell.js"],
 *   "objects": [{ "qom-type": "vfio-user-server", "id": "s0", "socket": "edu.sock" }],
 *   "devices": [{ "driver": "edu", "id": "edu0", "bus": "s0", "dma_mask": "0xffffffff" }],
 *   "monitors": ["qmp.sock"],
 *   "trace": false,
 *   "requireSealedDmaFds": false,
 *   "caps": { "maxPendingConnections": 8, "maxQueuedReplyBytes": 67108864 },
 *   "logLevel": "info"
 * }
 * ```
 * Relative paths (sockets, `load` modules) are relative to the file's directory.
 */

import { isAbsolute, resolve } from 'node:path';
import { parseBlockdevOptions } from '@vfu/block';
import { parseLogLevel } from './args';
import { checkCap } from './caps';
import { emptyConfig, type MonitorSpec, type ServerConfig } from './config';
import { AppError, errorMessage } from './errors';
import { deviceFromOptions, endpointFromOptions, isPlainObject } from './specs';

/** Top-level keys of a config file. */
export const CONFIG_KEYS = [
  '$schema',
  'load',
  'objects',
  'blockdevs',
  'devices',
  'monitors',
  'trace',
  'requireSealedDmaFds',
  'caps',
  'logLevel',
  'runtimeDir',
] as const;

/**
 * Parses and validates a config file's text. `fileName` appears in messages; relative socket paths
 * and `runtimeDir` are resolved against `baseDir` (the file's directory).
 */
export function parseConfigFile(text: string, fileName: string, baseDir: string): ServerConfig {
  const fail: (path: string, message: string) => never = (path, message) => {
    throw new AppError('config', `${fileName}: ${path}: ${message}`, { path });
  };
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (e) {
    return fail('$', `not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(root)) return fail('$', `expected an object, got ${kind(root)}`);
  for (const key of Object.keys(root)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      fail(`$.${key}`, `unknown key (known: ${CONFIG_KEYS.filter((k) => k !== '$schema').join(', ')})`);
    }
  }
  const config = emptyConfig();
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));

  arrayAt(root, 'load', fail).forEach((item, i) => {
    const path = `$.load[${i}]`;
    if (typeof item !== 'string' || item === '')
      fail(path, `expected a module path or package name, got ${kind(item)}`);
    config.loads.push({ module: item, baseDir, source: path });
  });
  arrayAt(root, 'objects', fail).forEach((item, i) => {
    const path = `$.objects[${i}]`;
    if (!isPlainObject(item)) fail(path, `expected an object, got ${kind(item)}`);
    const endpoint = endpointFromOptions(item, path, (msg, field) => fail(fieldPath(path, field), msg));
    config.endpoints.push({ ...endpoint, socket: abs(endpoint.socket) });
  });
  arrayAt(root, 'blockdevs', fail).forEach((item, i) => {
    const path = `$.blockdevs[${i}]`;
    if (!isPlainObject(item) && typeof item !== 'string') {
      fail(path, `expected an object or a -blockdev string, got ${kind(item)}`);
    }
    let options = item as string | Record<string, unknown>;
    try {
      const parsed = parseBlockdevOptions(options);
      // Relative file names are relative to the config file, as socket paths are.
      if (parsed.driver === 'file' && !isAbsolute(parsed.filename)) {
        options = {
          ...(typeof item === 'string' ? parsed : (item as Record<string, unknown>)),
          filename: abs(parsed.filename),
        };
      }
    } catch (e) {
      fail(path, errorMessage(e));
    }
    config.blockdevs.push({ options, source: path });
  });
  arrayAt(root, 'devices', fail).forEach((item, i) => {
    const path = `$.devices[${i}]`;
    if (!isPlainObject(item)) fail(path, `expected an object, got ${kind(item)}`);
    const device = deviceFromOptions(item, path, (msg, field) => fail(fieldPath(path, field), msg));
    if (device.socket !== undefined) device.socket = abs(device.socket);
    config.devices.push(device);
  });
  arrayAt(root, 'monitors', fail).forEach((item, i) => {
    const path = `$.monitors[${i}]`;
    config.monitors.push(monitorAt(item, path, fail, abs));
  });
  if (root.trace !== undefined) {
    if (typeof root.trace !== 'boolean') fail('$.trace', `expected true or false, got ${kind(root.trace)}`);
    config.trace = root.trace;
  }
  if (root.requireSealedDmaFds !== undefined) {
    if (typeof root.requireSealedDmaFds !== 'boolean') {
      fail('$.requireSealedDmaFds', `expected true or false, got ${kind(root.requireSealedDmaFds)}`);
    }
    config.requireSealedDmaFds = root.requireSealedDmaFds;
  }
  if (root.caps !== undefined) {
    if (!isPlainObject(root.caps)) fail('$.caps', `expected an object, got ${kind(root.caps)}`);
    for (const [key, value] of Object.entries(root.caps as Record<string, unknown>)) {
      const [name, n] = checkCap(key, value, (msg) => fail(`$.caps.${key}`, msg));
      config.caps[name] = n;
    }
  }
  if (root.logLevel !== undefined) {
    config.logLevel = parseLogLevel(root.logLevel, (msg) => fail('$.logLevel', msg));
  }
  if (root.runtimeDir !== undefined) {
    if (typeof root.runtimeDir !== 'string' || root.runtimeDir === '') {
      fail('$.runtimeDir', `expected a non-empty string, got ${kind(root.runtimeDir)}`);
    }
    config.runtimeDir = abs(root.runtimeDir);
  }
  return config;
}

function monitorAt(
  item: unknown,
  path: string,
  fail: (path: string, message: string) => never,
  abs: (p: string) => string,
): MonitorSpec {
  if (typeof item === 'string') {
    if (item === '') fail(path, 'empty socket path');
    return { path: abs(item.replace(/^unix:/, '')), source: path };
  }
  if (isPlainObject(item)) {
    const { path: socketPath, ...rest } = item;
    const extra = Object.keys(rest);
    if (extra.length > 0) fail(`${path}.${extra[0]}`, 'unknown key (known: path)');
    if (typeof socketPath !== 'string' || socketPath === '') {
      fail(`${path}.path`, `expected a non-empty string, got ${kind(socketPath)}`);
    }
    return { path: abs(socketPath), source: path };
  }
  return fail(path, `expected a socket path or {"path": ...}, got ${kind(item)}`);
}

function arrayAt(
  root: Record<string, unknown>,
  key: string,
  fail: (path: string, message: string) => never,
): unknown[] {
  const value = root[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) return fail(`$.${key}`, `expected an array, got ${kind(value)}`);
  return value;
}

function fieldPath(base: string, field: string | undefined): string {
  if (field === undefined) return base;
  return /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(field)
    ? `${base}.${field}`
    : `${base}[${JSON.stringify(field)}]`;
}

/** How a JSON value is described in messages. */
export function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  return `${typeof value} ${String(value)}`;
}
