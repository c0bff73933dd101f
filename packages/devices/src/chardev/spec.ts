import { DeviceError } from '../errors';
import type { CharBackend } from './char-backend';
import { FileCharBackend } from './file';
import { MemoryCharBackend, NullCharBackend } from './memory';
import { SocketCharBackend } from './socket';
import { StdioCharBackend } from './stdio';

/**
 * A character backend described by the `chardev` property:
 * `null`, `memory`, `stdio`, `file:PATH` (`file:PATH,append`), `socket:PATH` (alias `unix:PATH`).
 * Any other value is taken as the id of a backend the application created (`-chardev ...,id=c0`).
 */
export type ChardevSpec =
  | { kind: 'null' }
  | { kind: 'memory' }
  | { kind: 'stdio' }
  | { kind: 'file'; path: string; append: boolean }
  | { kind: 'socket'; path: string }
  | { kind: 'id'; id: string };

/** Parse a `chardev` property value; throws `DeviceError` `invalid-property` when malformed. */
export function parseChardevSpec(value: string): ChardevSpec {
  const bad = (why: string) =>
    new DeviceError('invalid-property', `chardev '${value}': ${why}`, { property: 'chardev', value });
  if (value === 'null' || value === 'memory' || value === 'stdio') return { kind: value };
  const colon = value.indexOf(':');
  if (colon < 0) {
    if (!/^[A-Za-z][A-Za-z0-9._-]*$/.test(value))
      throw bad('expected null, memory, stdio, file:PATH, socket:PATH or an id');
    return { kind: 'id', id: value };
  }
  const scheme = value.slice(0, colon);
  const rest = value.slice(colon + 1);
  if (scheme === 'file') {
    const append = rest.endsWith(',append');
    const path = append ? rest.slice(0, -',append'.length) : rest;
    if (path === '') throw bad('file: needs a path');
    return { kind: 'file', path, append };
  }
  if (scheme === 'socket' || scheme === 'unix') {
    if (rest === '') throw bad(`${scheme}: needs a path`);
    return { kind: 'socket', path: rest };
  }
  throw bad(`unknown backend '${scheme}'`);
}

/**
 * Create the backend `spec` describes. Ids are resolved through `resolveId` (the application's
 * `-chardev` table); an unknown id throws `DeviceError` `invalid-property`. A socket backend is
 * returned at once; await its `ready` to know it listens.
 */
export function createCharBackend(
  spec: ChardevSpec,
  resolveId?: (id: string) => CharBackend | undefined,
): CharBackend {
  switch (spec.kind) {
    case 'null':
      return new NullCharBackend();
    case 'memory':
      return new MemoryCharBackend();
    case 'stdio':
      return new StdioCharBackend();
    case 'file':
      return new FileCharBackend(spec.path, { append: spec.append });
    case 'socket':
      return new SocketCharBackend(spec.path);
    case 'id': {
      const found = resolveId?.(spec.id);
      if (found === undefined) {
        throw new DeviceError('invalid-property', `chardev '${spec.id}': no character backend with that id`, {
          property: 'chardev',
          value: spec.id,
        });
      }
      return found;
    }
  }
}
