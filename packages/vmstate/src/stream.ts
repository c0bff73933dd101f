/**
 * The stream format, self-describing so that any stream can be listed without its schema and a
 * loader can name the field at fault. Little-endian throughout:
 *
 *   stream     := "VFUSTATE" u16 format(=1) u16 reserved(=0) u32 length u32 sections section* u32 crc32
 *   section    := name version:u32 body
 *   body       := u16 fields field* u16 subsections (name version:u32 body)*
 *   field      := name type:u8 value
 *   name       := u8 length, UTF-8 bytes
 *   value      := u8 | u16 | u32 | i32 | u64 | bool (u8 0 or 1)
 *               | bytes/string: u32 length, bytes
 *               | array: element type:u8, u32 count, count values
 *               | struct: u16 fields, (name type:u8 value)*
 *
 * `length` is the whole stream's, checksum included, so a cut stream is told from a damaged one.
 * The CRC-32 (IEEE) covers every byte before it. Lengths are checked against what remains before
 * anything is allocated, so a hostile stream cannot make the loader allocate more than its size.
 */
import { hex } from '@vfu/errors';
import { crc32 } from './crc32';
import { VmStateError } from './errors';
import { VmType, type VmTypeName } from './schema';

export const VM_STREAM_MAGIC = 'VFUSTATE';
export const VM_STREAM_FORMAT = 1;
const MAX_DEPTH = 16;

const TYPE_NAMES = new Map<number, VmTypeName>(
  Object.entries(VmType).map(([name, code]) => [code, name as VmTypeName]),
);

/** A decoded value, before it is bound to a schema. */
export type VmNodeValue =
  | { type: 'u8' | 'u16' | 'u32' | 'i32'; value: number }
  | { type: 'u64'; value: bigint }
  | { type: 'bool'; value: boolean }
  | { type: 'bytes'; value: Uint8Array }
  | { type: 'string'; value: string }
  | { type: 'array'; element: VmTypeName; value: VmNodeValue[] }
  | { type: 'struct'; value: VmNodeField[] };

export interface VmNodeField {
  name: string;
  node: VmNodeValue;
  /** Offset of the field's name in the stream. */
  offset: number;
}

export interface VmNodeBody {
  fields: VmNodeField[];
  subsections: VmNodeSection[];
}

export interface VmNodeSection extends VmNodeBody {
  name: string;
  version: number;
  offset: number;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Appends little-endian values to a growing buffer. */
export class StreamWriter {
  #buf = new Uint8Array(256);
  #view = new DataView(this.#buf.buffer);
  #len = 0;

  #reserve(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      const next = new Uint8Array(Math.max(this.#buf.length * 2, at + n));
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    this.#len += n;
    return at;
  }
  u8(v: number): void {
    const at = this.#reserve(1);
    this.#view.setUint8(at, v);
  }
  u16(v: number): void {
    const at = this.#reserve(2);
    this.#view.setUint16(at, v, true);
  }
  u32(v: number): void {
    const at = this.#reserve(4);
    this.#view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.#reserve(4);
    this.#view.setInt32(at, v, true);
  }
  u64(v: bigint): void {
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, v, true);
  }
  raw(data: Uint8Array): void {
    // Reserve first: it may replace the buffer.
    const at = this.#reserve(data.length);
    this.#buf.set(data, at);
  }
  name(name: string): void {
    const bytes = utf8.encode(name);
    if (bytes.length === 0 || bytes.length > 255) {
      throw new VmStateError('invalid-value', `name '${name}' must be 1..255 UTF-8 bytes`);
    }
    this.u8(bytes.length);
    this.raw(bytes);
  }
  string(s: string): void {
    const bytes = utf8.encode(s);
    this.u32(bytes.length);
    this.raw(bytes);
  }
  bytes(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** Reads a stream with a bounds check on every access, naming the position on failure. */
class StreamReader {
  readonly #view: DataView;
  readonly #data: Uint8Array;
  offset = 0;
  path = '';
  section = '';

  constructor(data: Uint8Array) {
    this.#data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }
  get remaining(): number {
    return this.#data.length - this.offset;
  }
  #need(n: number, what: string): number {
    if (n > this.remaining) {
      throw new VmStateError(
        'truncated',
        `state stream ends at ${hex(this.#data.length)} inside ${what}${this.path ? ` of ${this.path}` : ''}`,
        { section: this.section, field: this.path, offset: this.offset },
      );
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }
  u8(what: string): number {
    return this.#view.getUint8(this.#need(1, what));
  }
  u16(what: string): number {
    return this.#view.getUint16(this.#need(2, what), true);
  }
  u32(what: string): number {
    return this.#view.getUint32(this.#need(4, what), true);
  }
  i32(what: string): number {
    return this.#view.getInt32(this.#need(4, what), true);
  }
  u64(what: string): bigint {
    return this.#view.getBigUint64(this.#need(8, what), true);
  }
  raw(n: number, what: string): Uint8Array {
    const at = this.#need(n, what);
    return this.#data.slice(at, at + n);
  }
  name(what: string): string {
    const n = this.u8(`${what} name length`);
    return this.text(this.raw(n, `${what} name`), what);
  }
  text(bytes: Uint8Array, what: string): string {
    try {
      return fromUtf8.decode(bytes);
    } catch (cause) {
      throw this.fail('corrupted', `${what} is not valid UTF-8`, cause);
    }
  }
  fail(code: 'corrupted' | 'bad-value', message: string, cause?: unknown): VmStateError {
    return new VmStateError(code, `${message}${this.path ? ` (${this.path})` : ''} at ${hex(this.offset)}`, {
      section: this.section,
      field: this.path,
      offset: this.offset,
      cause,
    });
  }
}

/** Parses a whole stream into sections of self-describing nodes; checks magic, format and CRC. */
export function parseVmStream(data: Uint8Array): VmNodeSection[] {
  const headerSize = VM_STREAM_MAGIC.length + 12;
  if (data.length >= 8 && new TextDecoder().decode(data.subarray(0, 8)) !== VM_STREAM_MAGIC) {
    throw new VmStateError('foreign', 'not a vfu state stream (no VFUSTATE magic)', { offset: 0 });
  }
  if (data.length < headerSize + 4) {
    throw new VmStateError('truncated', `state stream of ${data.length} bytes is shorter than its header`, {
      offset: 0,
    });
  }
  const head = new DataView(data.buffer, data.byteOffset, headerSize);
  const format = head.getUint16(8, true);
  if (format > VM_STREAM_FORMAT) {
    throw new VmStateError('too-new', `state stream format ${format} is newer than ${VM_STREAM_FORMAT}`, {
      offset: 8,
    });
  }
  const length = head.getUint32(12, true);
  if (data.length < length) {
    throw new VmStateError('truncated', `state stream of ${data.length} bytes, its header says ${length}`, {
      offset: data.length,
    });
  }
  if (data.length > length) {
    throw new VmStateError(
      'corrupted',
      `${data.length - length} bytes after the ${length}-byte state stream`,
      {
        offset: length,
      },
    );
  }
  const stored = new DataView(data.buffer, data.byteOffset + data.length - 4, 4).getUint32(0, true);
  const actual = crc32(data.subarray(0, data.length - 4));
  if (stored !== actual) {
    throw new VmStateError(
      'corrupted',
      `state stream checksum ${hex(actual, 8)} differs from the stored ${hex(stored, 8)}`,
      { offset: data.length - 4 },
    );
  }
  const r = new StreamReader(data.subarray(0, data.length - 4));
  r.raw(10, 'header');
  if (format !== VM_STREAM_FORMAT) throw r.fail('corrupted', `format ${format} is not ${VM_STREAM_FORMAT}`);
  if (r.u16('reserved') !== 0) throw r.fail('corrupted', 'reserved header field is not zero');
  r.u32('length');
  const count = r.u32('section count');
  const sections: VmNodeSection[] = [];
  for (let i = 0; i < count; i++) {
    const offset = r.offset;
    const name = r.name('section');
    r.section = name;
    r.path = name;
    const version = r.u32('section version');
    sections.push({ name, version, offset, ...parseBody(r, 0) });
  }
  if (r.remaining !== 0) throw r.fail('corrupted', `${r.remaining} bytes after the last section`);
  return sections;
}

function parseBody(r: StreamReader, depth: number): VmNodeBody {
  const base = r.path;
  const fields = parseFields(r, depth, base);
  const subsections: VmNodeSection[] = [];
  const count = r.u16('subsection count');
  for (let i = 0; i < count; i++) {
    const offset = r.offset;
    r.path = base;
    const name = r.name('subsection');
    r.path = `${base}/${name}`;
    const version = r.u32('subsection version');
    if (depth >= 1) throw r.fail('corrupted', 'subsections nest one level only');
    subsections.push({ name, version, offset, ...parseBody(r, depth + 1) });
  }
  r.path = base;
  return { fields, subsections };
}

function parseFields(r: StreamReader, depth: number, base: string): VmNodeField[] {
  const count = r.u16('field count');
  const fields: VmNodeField[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    r.path = base;
    const offset = r.offset;
    const name = r.name('field');
    r.path = `${base}.${name}`;
    if (seen.has(name)) throw r.fail('corrupted', `field '${name}' appears twice`);
    seen.add(name);
    const type = typeName(r, r.u8('field type'));
    fields.push({ name, offset, node: parseValue(r, type, depth) });
  }
  r.path = base;
  return fields;
}

function typeName(r: StreamReader, code: number): VmTypeName {
  const name = TYPE_NAMES.get(code);
  if (name === undefined) throw r.fail('corrupted', `unknown type code ${code}`);
  return name;
}

function parseValue(r: StreamReader, type: VmTypeName, depth: number): VmNodeValue {
  if (depth > MAX_DEPTH) throw r.fail('corrupted', `nesting deeper than ${MAX_DEPTH}`);
  switch (type) {
    case 'u8':
    case 'u16':
    case 'u32':
    case 'i32':
      return { type, value: r[type](type) };
    case 'u64':
      return { type, value: r.u64('u64') };
    case 'bool': {
      const b = r.u8('bool');
      if (b > 1) throw r.fail('corrupted', `bool byte ${b} is neither 0 nor 1`);
      return { type, value: b === 1 };
    }
    case 'bytes':
      return { type, value: r.raw(r.u32('length'), 'bytes') };
    case 'string': {
      const bytes = r.raw(r.u32('length'), 'string');
      return { type, value: r.text(bytes, 'string') };
    }
    case 'array': {
      const element = typeName(r, r.u8('array element type'));
      const count = r.u32('array length');
      // Every element takes at least one byte: a count past what remains is a lie.
      if (count > r.remaining)
        throw r.fail('corrupted', `array of ${count} elements in ${r.remaining} bytes`);
      const base = r.path;
      const value: VmNodeValue[] = [];
      for (let i = 0; i < count; i++) {
        r.path = `${base}[${i}]`;
        value.push(parseValue(r, element, depth + 1));
      }
      r.path = base;
      return { type, element, value };
    }
    case 'struct':
      return { type, value: parseFields(r, depth + 1, r.path) };
  }
}
