/** Checks shared by the targets. */
import { isDeepStrictEqual } from 'node:util';
import { ERRNO_BY_CODE, isProtocolError } from '@vfu/protocol';
import { Finding } from '../engine/target';

/** A ProtocolError as the codec documents it (a known code, an errno for the reply) passes; anything else is a finding. */
export function expectProtocolError(e: unknown, what: string): void {
  if (!isProtocolError(e))
    throw new Finding(`${what} threw something other than a ProtocolError`, { cause: e });
  if (!(e.code in ERRNO_BY_CODE))
    throw new Finding(`${what}: ProtocolError with unknown code ${e.code}`, { cause: e });
  if (!Number.isInteger(e.errno) || e.errno <= 0 || e.errno >= 4096) {
    throw new Finding(`${what}: ProtocolError ${e.code} with errno ${e.errno}`, { cause: e });
  }
}

/** Deep equality of decoded messages (typed arrays by content, bigints by value). */
export function sameValue(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(normalize(a), normalize(b));
}

function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array)
    return { bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = normalize(x);
    return out;
  }
  return v;
}
