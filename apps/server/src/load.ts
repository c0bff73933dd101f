/**
 * `--load MODULE`: imports driver modules that bring their own device types. A module exports
 * them as its default export (one type made with `defineDevice`, or an array), as `devices` (an
 * array), or as a `register(registry, host)` function. Every failure is an `AppError`
 * `invalid-configuration` (exit status 2) naming the module and the reason, and registers nothing
 * from that module.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HostContext } from '@vfu/devices';
import { type DeviceClass, DeviceTypeRegistry } from '@vfu/pci';
import { resolve as resolveImport } from 'import-meta-resolve';
import type { LoadSpec } from './config';
import { AppError, errorMessage } from './errors';

/** What a driver module's exports must offer, checked by shape (a module has its own copies). */
interface RegistrableType {
  readonly name: string;
  register(registry: DeviceTypeRegistry, host?: HostContext): void;
}

const EXPECTED =
  'expected a default export made with defineDevice (or an array of them), a `devices` array, or a `register(registry, host)` function';

/** Loads every module of `loads`, in order, into `registry`. */
export async function loadDriverModules(
  loads: readonly LoadSpec[],
  registry: DeviceTypeRegistry,
  host: HostContext,
): Promise<void> {
  for (const load of loads) await loadDriverModule(load, registry, host);
}

async function loadDriverModule(
  load: LoadSpec,
  registry: DeviceTypeRegistry,
  host: HostContext,
): Promise<void> {
  const fail = (reason: string, cause?: unknown): never => {
    throw new AppError(
      'invalid-configuration',
      `${load.source}: cannot load driver module '${load.module}': ${reason}`,
      {
        flag: '--load',
        ...(cause === undefined ? {} : { cause }),
      },
    );
  };
  if (/\.(c|m)?ts$/.test(load.module)) {
    fail('TypeScript modules are not loaded directly; compile it to .js (tsc, tsup) and load that');
  }
  let url: string;
  try {
    url = isPath(load.module)
      ? pathToFileURL(isAbsolute(load.module) ? load.module : resolve(load.baseDir, load.module)).href
      : resolveImport(load.module, pathToFileURL(join(load.baseDir, 'noop.js')).href);
  } catch (e) {
    return fail(`not found from ${load.baseDir} (${errorMessage(e)})`, e);
  }
  let exports: Record<string, unknown>;
  try {
    exports = (await import(url)) as Record<string, unknown>;
  } catch (e) {
    return fail(errorMessage(e), e);
  }
  // Register into a scratch registry first: a module whose types clash or throw adds nothing.
  const scratch = new DeviceTypeRegistry();
  try {
    const types = typesOf(exports);
    if (types !== undefined) {
      if (types.length === 0) fail(`it exports no device type (${EXPECTED})`);
      for (const type of types) type.register(scratch, host);
    } else if (typeof exports.register === 'function') {
      await (exports.register as (registry: DeviceTypeRegistry, host: HostContext) => unknown)(scratch, host);
      if (scratch.list().length === 0) fail('its register() registered no device type');
    } else {
      fail(`it exports nothing usable (${EXPECTED})`);
    }
  } catch (e) {
    if (e instanceof AppError) throw e;
    fail(errorMessage(e), e);
  }
  const classes: DeviceClass[] = scratch.list();
  for (const cls of classes) {
    if (registry.has(cls.name)) {
      fail(`device type '${cls.name}' is already registered (by the zoo or an earlier --load)`);
    }
  }
  for (const cls of classes) registry.register(cls);
}

/** Device types among a module's exports, or `undefined` when it offers none as values. */
function typesOf(exports: Record<string, unknown>): RegistrableType[] | undefined {
  const candidate = exports.default ?? exports.devices;
  if (candidate === undefined) return undefined;
  const list = Array.isArray(candidate) ? candidate : [candidate];
  const bad = list.find((t) => !isRegistrable(t));
  if (bad !== undefined) {
    throw new Error(`its export ${describe(bad)} is not a device type (${EXPECTED})`);
  }
  return list as RegistrableType[];
}

function isRegistrable(value: unknown): value is RegistrableType {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { name?: unknown }).name === 'string' &&
    typeof (value as { register?: unknown }).register === 'function'
  );
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value) ?? String(value)}`;
}

/** A file path rather than a package name: relative, absolute or ending in a JS extension. */
function isPath(module: string): boolean {
  return module.startsWith('.') || isAbsolute(module) || /\.(c|m)?js$/.test(module);
}
