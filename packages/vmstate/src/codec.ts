/**
 * Saving and loading with a schema. Saving writes every field with its name and type; loading
 * parses the whole stream first, then binds it to the schema and runs every check, and only then
 * returns the value: a caller that applies the returned value (and nothing before) never
 * half-applies a bad stream.
 */
import { hex } from '@vfu/errors';
import { crc32 } from './crc32';
import { VmStateError } from './errors';
import type { VmField, VmFields, VmStateSchema, VmStateValue, VmSubsection } from './schema';
import { VmType } from './schema';
import {
  parseVmStream,
  StreamWriter,
  VM_STREAM_FORMAT,
  VM_STREAM_MAGIC,
  type VmNodeField,
  type VmNodeSection,
  type VmNodeValue,
} from './stream';

// biome-ignore lint/suspicious/noExplicitAny: a schema of any shape; values are checked at run time.
type AnySchema = VmStateSchema<any, any>;

/** One section to save: its schema and its value. */
export interface VmSectionToSave<S extends AnySchema = AnySchema> {
  readonly schema: S;
  readonly value: VmStateValue<S>;
}

/** Saves several sections (e.g. the PCI part and the device part) as one stream. */
export function saveVmStream(sections: readonly VmSectionToSave[]): Uint8Array {
  const w = new StreamWriter();
  w.raw(new TextEncoder().encode(VM_STREAM_MAGIC));
  w.u16(VM_STREAM_FORMAT);
  w.u16(0);
  w.u32(0); // the length, patched below
  w.u32(sections.length);
  for (const { schema, value } of sections) {
    w.name(schema.name);
    w.u32(schema.version);
    writeBody(w, schema.fields, schema.subsections ?? {}, value as Record<string, unknown>, schema.name);
  }
  const body = w.bytes();
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  const view = new DataView(out.buffer);
  view.setUint32(VM_STREAM_MAGIC.length + 4, out.length, true);
  view.setUint32(body.length, crc32(out.subarray(0, body.length)), true);
  return out;
}

/** Saves one section as a stream. */
export function saveVmState<S extends AnySchema>(schema: S, value: VmStateValue<S>): Uint8Array {
  return saveVmStream([{ schema, value }]);
}

/** Loads a stream of exactly one section, which must be `schema`'s. */
export function loadVmState<S extends AnySchema>(schema: S, data: Uint8Array): VmStateValue<S> {
  return loadVmStream(data, [schema])[0] as VmStateValue<S>;
}

/**
 * Loads a stream holding exactly the given sections, in that order; returns their values in the
 * same order. Throws {@link VmStateError} naming the section and field at fault.
 */
export function loadVmStream(data: Uint8Array, schemas: readonly AnySchema[]): unknown[] {
  const sections = parseVmStream(data);
  if (sections.length !== schemas.length) {
    throw new VmStateError(
      sections.length > schemas.length ? 'unknown-field' : 'missing-field',
      `state stream has ${sections.length} sections (${sections.map((s) => s.name).join(', ')}), expected ${schemas.length} (${schemas.map((s) => s.name).join(', ')})`,
    );
  }
  return schemas.map((schema, i) => bindSection(schema, sections[i] as VmNodeSection));
}

function bindSection(schema: AnySchema, section: VmNodeSection): unknown {
  const ctx = { section: schema.name, offset: section.offset };
  if (section.name !== schema.name) {
    throw new VmStateError('foreign', `state section '${section.name}' is not '${schema.name}'`, ctx);
  }
  checkVersion(schema.name, section.version, schema.version, schema.minimumVersion ?? 1, ctx);
  const value = bindFields(
    schema.fields,
    section.fields,
    section.version,
    schema.name,
    section.offset,
    schema.name,
  );
  const known = (schema.subsections ?? {}) as Record<string, VmSubsection>;
  const subsections: Record<string, unknown> = {};
  for (const sub of section.subsections) {
    const path = `${schema.name}/${sub.name}`;
    const subSchema = known[sub.name];
    if (subSchema === undefined) {
      throw new VmStateError('unknown-field', `unknown subsection ${path}`, {
        ...ctx,
        field: path,
        offset: sub.offset,
      });
    }
    checkVersion(path, sub.version, subSchema.version, subSchema.minimumVersion ?? 1, {
      section: schema.name,
      field: path,
      offset: sub.offset,
    });
    subsections[sub.name] = bindFields(
      subSchema.fields,
      sub.fields,
      sub.version,
      path,
      sub.offset,
      schema.name,
    );
  }
  if (section.subsections.length > 0) value.subsections = subsections;
  const problem = schema.validate?.(value as never);
  if (problem !== undefined) {
    throw new VmStateError('bad-value', `${schema.name}: ${problem}`, ctx);
  }
  return value;
}

function checkVersion(
  what: string,
  version: number,
  current: number,
  minimum: number,
  ctx: { section: string; field?: string; offset: number },
): void {
  if (version > current) {
    throw new VmStateError('too-new', `${what} state version ${version} is newer than ${current}`, ctx);
  }
  if (version < minimum) {
    throw new VmStateError(
      'too-old',
      `${what} state version ${version} is older than the minimum ${minimum}`,
      ctx,
    );
  }
}

function bindFields(
  fields: VmFields,
  nodes: readonly VmNodeField[],
  version: number,
  path: string,
  offset: number,
  section: string,
): Record<string, unknown> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(fields)) {
    const node = byName.get(name);
    byName.delete(name);
    const fieldPath = `${path}.${name}`;
    if (node === undefined) {
      if (field.since !== undefined && version < field.since && field.default !== undefined) {
        out[name] = structuredClone(field.default);
        continue;
      }
      throw new VmStateError('missing-field', `${fieldPath} is missing from a version ${version} stream`, {
        section,
        field: fieldPath,
        offset,
      });
    }
    out[name] = bindValue(field, node.node, fieldPath, node.offset, section, version);
  }
  const extra = byName.values().next();
  if (!extra.done) {
    const fieldPath = `${path}.${extra.value.name}`;
    throw new VmStateError('unknown-field', `unknown field ${fieldPath}`, {
      section,
      field: fieldPath,
      offset: extra.value.offset,
    });
  }
  return out;
}

function bindValue(
  field: VmField,
  node: VmNodeValue,
  path: string,
  offset: number,
  section: string,
  version: number,
): unknown {
  const fail = (code: 'type-mismatch' | 'bad-value', message: string) =>
    new VmStateError(code, `${path}: ${message}`, { section, field: path, offset });
  if (node.type !== field.kind) throw fail('type-mismatch', `saved as ${node.type}, expected ${field.kind}`);
  let value: unknown;
  switch (field.kind) {
    case 'bytes': {
      const bytes = node.value as Uint8Array;
      if (bytes.length > field.maxLength)
        throw fail('bad-value', `${bytes.length} bytes, at most ${field.maxLength}`);
      if (field.length !== undefined && bytes.length !== field.length) {
        throw fail('bad-value', `${bytes.length} bytes, expected ${field.length}`);
      }
      value = bytes;
      break;
    }
    case 'string': {
      const s = node.value as string;
      if (s.length > field.maxLength)
        throw fail('bad-value', `string of ${s.length}, at most ${field.maxLength}`);
      value = s;
      break;
    }
    case 'array': {
      const arr = node as Extract<VmNodeValue, { type: 'array' }>;
      if (arr.value.length > field.maxLength) {
        throw fail('bad-value', `${arr.value.length} elements, at most ${field.maxLength}`);
      }
      if (field.length !== undefined && arr.value.length !== field.length) {
        throw fail('bad-value', `${arr.value.length} elements, expected ${field.length}`);
      }
      if (arr.element !== field.of.kind)
        throw fail('type-mismatch', `elements saved as ${arr.element}, expected ${field.of.kind}`);
      value = arr.value.map((el, i) => bindValue(field.of, el, `${path}[${i}]`, offset, section, version));
      break;
    }
    case 'struct':
      value = bindFields(field.fields, node.value as VmNodeField[], version, path, offset, section);
      break;
    default:
      value = node.value;
  }
  const problem = field.check?.(value as never);
  if (problem !== undefined) throw fail('bad-value', problem);
  return value;
}

function writeBody(
  w: StreamWriter,
  fields: VmFields,
  subsections: Readonly<Record<string, VmSubsection>>,
  value: Record<string, unknown>,
  path: string,
): void {
  writeFields(w, fields, value, path);
  const present = (value.subsections ?? {}) as Record<string, unknown>;
  const names = Object.keys(present).filter((n) => present[n] !== undefined);
  w.u16(names.length);
  for (const name of names) {
    const sub = subsections[name];
    if (sub === undefined)
      throw new VmStateError('invalid-value', `${path}: no subsection '${name}' in the schema`);
    w.name(name);
    w.u32(sub.version);
    writeFields(w, sub.fields, present[name] as Record<string, unknown>, `${path}/${name}`);
    w.u16(0);
  }
}

function writeFields(w: StreamWriter, fields: VmFields, value: Record<string, unknown>, path: string): void {
  if (typeof value !== 'object' || value === null) {
    throw new VmStateError('invalid-value', `${path}: expected an object, got ${typeof value}`);
  }
  const names = Object.keys(fields);
  if (names.length > 0xffff) throw new VmStateError('invalid-value', `${path}: more than 65535 fields`);
  w.u16(names.length);
  for (const name of names) {
    w.name(name);
    writeValue(w, fields[name] as VmField, value[name], `${path}.${name}`, true);
  }
}

function writeValue(w: StreamWriter, field: VmField, v: unknown, path: string, withType: boolean): void {
  const bad = (what: string) => new VmStateError('invalid-value', `${path}: ${what}, got ${describe(v)}`);
  if (withType) w.u8(VmType[field.kind]);
  switch (field.kind) {
    case 'u8':
    case 'u16':
    case 'u32': {
      const max = field.kind === 'u8' ? 0xff : field.kind === 'u16' ? 0xffff : 0xffffffff;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max)
        throw bad(`expected a ${field.kind}`);
      w[field.kind](v);
      return;
    }
    case 'i32':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
        throw bad('expected an i32');
      w.i32(v);
      return;
    case 'u64':
      if (typeof v !== 'bigint' || v < 0n || v > 0xffff_ffff_ffff_ffffn) throw bad('expected a u64 bigint');
      w.u64(v);
      return;
    case 'bool':
      if (typeof v !== 'boolean') throw bad('expected a boolean');
      w.u8(v ? 1 : 0);
      return;
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw bad('expected a Uint8Array');
      if (v.length > field.maxLength || (field.length !== undefined && v.length !== field.length)) {
        throw bad(`expected ${field.length ?? `at most ${field.maxLength}`} bytes`);
      }
      w.u32(v.length);
      w.raw(v);
      return;
    case 'string':
      if (typeof v !== 'string' || v.length > field.maxLength)
        throw bad(`expected a string of at most ${field.maxLength}`);
      w.string(v);
      return;
    case 'array':
      if (
        !Array.isArray(v) ||
        v.length > field.maxLength ||
        (field.length !== undefined && v.length !== field.length)
      ) {
        throw bad(`expected an array of ${field.length ?? `at most ${field.maxLength}`} elements`);
      }
      w.u8(VmType[field.of.kind]);
      w.u32(v.length);
      v.forEach((el, i) => {
        writeValue(w, field.of, el, `${path}[${i}]`, false);
      });
      return;
    case 'struct':
      writeFields(w, field.fields, v as Record<string, unknown>, path);
      return;
  }
}

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${hex(v)}n`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return typeof v === 'object' ? String(v) : `${typeof v} ${String(v)}`;
}
