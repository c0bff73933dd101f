/**
 * Byte-level mutations in libFuzzer's manner: erase, insert, overwrite, flip, shuffle, copy and
 * cross over parts, integers nudged or set to boundary values in every width and both byte orders,
 * ASCII numbers changed, and dictionary words inserted. Several are stacked per input.
 */
import type { Rng } from './rng';

/** What a byte mutation may use besides the input. */
export interface MutationContext {
  rng: Rng;
  /** Largest output length. */
  maxLen: number;
  /** Another corpus input, for cross-over and splicing. */
  other: () => Uint8Array;
  /** Words worth inserting (keywords, magic numbers). */
  dictionary: readonly Uint8Array[];
}

const INTERESTING_8 = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40, 0x64];
const INTERESTING_32 = [
  0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 24, 31, 32, 40, 63, 64, 127, 128, 255, 256, 512, 1000, 1024, 4095, 4096,
  4097, 0x7fff, 0x8000, 0xffff, 0x1_0000, 0x10_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fff0, 0xffff_ffff,
];

type Mutator = (data: Uint8Array, ctx: MutationContext) => Uint8Array;

function clampLen(data: Uint8Array, maxLen: number): Uint8Array {
  return data.length > maxLen ? data.subarray(0, maxLen) : data;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const eraseBytes: Mutator = (d, { rng }) => {
  if (d.length <= 1) return d;
  const n = 1 + rng.below(Math.min(d.length - 1, rng.oneIn(4) ? d.length : 8));
  const at = rng.below(d.length - n + 1);
  return concat(d.subarray(0, at), d.subarray(at + n));
};

const insertBytes: Mutator = (d, { rng }) => {
  const n = rng.oneIn(2) ? 1 : 1 + rng.below(16);
  const at = rng.below(d.length + 1);
  const fill = rng.oneIn(2) ? rng.below(256) : -1;
  const ins = new Uint8Array(n).map(() => (fill >= 0 ? fill : rng.below(256)));
  return concat(d.subarray(0, at), ins, d.subarray(at));
};

const changeByte: Mutator = (d, { rng }) => {
  if (d.length === 0) return d;
  const out = d.slice();
  out[rng.below(out.length)] = rng.oneIn(2) ? rng.below(256) : rng.pick(INTERESTING_8);
  return out;
};

const flipBit: Mutator = (d, { rng }) => {
  if (d.length === 0) return d;
  const out = d.slice();
  const i = rng.below(out.length);
  out[i] = (out[i] as number) ^ (1 << rng.below(8));
  return out;
};

const shuffleBytes: Mutator = (d, { rng }) => {
  if (d.length < 2) return d;
  const out = d.slice();
  const n = 2 + rng.below(Math.min(8, out.length - 1));
  const at = rng.below(out.length - n + 1);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.below(i + 1);
    const t = out[at + i] as number;
    out[at + i] = out[at + j] as number;
    out[at + j] = t;
  }
  return out;
};

/** Adds, subtracts or sets a boundary value on an integer of 1, 2, 4 or 8 bytes, LE or BE. */
const changeInteger: Mutator = (d, { rng }) => {
  const width = rng.pick([1, 2, 4, 8]);
  if (d.length < width) return d;
  const out = d.slice();
  const at = rng.below(out.length - width + 1);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const le = !rng.oneIn(4);
  if (width === 8) {
    const cur = view.getBigUint64(at, le);
    const next = rng.oneIn(2)
      ? cur + BigInt(rng.below(33)) - 16n
      : rng.pick([0n, 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n, (1n << 64n) - 4096n, 1n << 32n]);
    view.setBigUint64(at, BigInt.asUintN(64, next), le);
    return out;
  }
  const mask = width === 4 ? 0xffff_ffff : (1 << (8 * width)) - 1;
  const cur = width === 1 ? view.getUint8(at) : width === 2 ? view.getUint16(at, le) : view.getUint32(at, le);
  const next = (rng.oneIn(2) ? cur + rng.below(33) - 16 : rng.pick(INTERESTING_32)) & mask;
  if (width === 1) view.setUint8(at, next);
  else if (width === 2) view.setUint16(at, next, le);
  else view.setUint32(at, next >>> 0, le);
  return out;
};

/** Finds a decimal number in the input and replaces it by a nearby or boundary value. */
const changeAsciiInteger: Mutator = (d, { rng }) => {
  const digits: number[] = [];
  for (let i = 0; i < d.length; i++) if ((d[i] as number) >= 0x30 && (d[i] as number) <= 0x39) digits.push(i);
  if (digits.length === 0) return d;
  let start = rng.pick(digits);
  while (start > 0 && (d[start - 1] as number) >= 0x30 && (d[start - 1] as number) <= 0x39) start--;
  let end = start;
  while (end < d.length && (d[end] as number) >= 0x30 && (d[end] as number) <= 0x39) end++;
  const cur = Number(new TextDecoder().decode(d.subarray(start, end)));
  const next = rng.oneIn(2)
    ? cur + rng.below(21) - 10
    : rng.pick([0, 1, -1, 255, 256, 4096, 65535, 65536, 2 ** 31, 2 ** 32, 2 ** 53, 1e21]);
  const text = new TextEncoder().encode(String(next));
  return concat(d.subarray(0, start), text, d.subarray(end));
};

/** Copies a part of the input over, or into, another place of it. */
const copyPart: Mutator = (d, { rng }) => {
  if (d.length < 2) return d;
  const n = 1 + rng.below(Math.min(d.length, 64));
  const from = rng.below(d.length - n + 1);
  const part = d.slice(from, from + n);
  const to = rng.below(d.length + 1);
  if (rng.oneIn(2)) return concat(d.subarray(0, to), part, d.subarray(to));
  const out = d.slice();
  out.set(part.subarray(0, Math.max(0, out.length - Math.min(to, out.length))), Math.min(to, out.length));
  return out;
};

/** Splices the input with another corpus input: a prefix of one and a suffix of the other. */
const crossOver: Mutator = (d, { rng, other }) => {
  const o = other();
  if (o.length === 0) return d;
  const a = rng.below(d.length + 1);
  const b = rng.below(o.length + 1);
  return rng.oneIn(2) ? concat(d.subarray(0, a), o.subarray(b)) : concat(o.subarray(0, b), d.subarray(a));
};

const insertWord: Mutator = (d, { rng, dictionary }) => {
  if (dictionary.length === 0) return d;
  const word = rng.pick(dictionary);
  const at = rng.below(d.length + 1);
  if (rng.oneIn(2) || d.length < word.length) return concat(d.subarray(0, at), word, d.subarray(at));
  const out = d.slice();
  out.set(word, Math.min(at, out.length - word.length));
  return out;
};

const MUTATORS: readonly Mutator[] = [
  eraseBytes,
  insertBytes,
  changeByte,
  flipBit,
  shuffleBytes,
  changeInteger,
  changeInteger,
  changeAsciiInteger,
  copyPart,
  crossOver,
  insertWord,
  insertWord,
];

/** One to five stacked byte mutations of `data` (never returned unchanged when it can change). */
export function mutateBytes(data: Uint8Array, ctx: MutationContext): Uint8Array {
  let out = data;
  const rounds = 1 + ctx.rng.below(5);
  for (let i = 0; i < rounds; i++) out = clampLen(ctx.rng.pick(MUTATORS)(out, ctx), ctx.maxLen);
  if (out === data) out = clampLen(insertBytes(data, ctx), ctx.maxLen);
  return out;
}

/** UTF-8 bytes of each word. */
export function words(...list: string[]): Uint8Array[] {
  const enc = new TextEncoder();
  return list.map((w) => enc.encode(w));
}
