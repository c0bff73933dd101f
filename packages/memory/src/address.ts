import { hex } from '@vfu/errors';
import { MemoryError } from './errors';

/** 2^64: one past the last address of a 64-bit space. */
export const ADDRESS_LIMIT = 1n << 64n;
/** Largest bigint that converts to a number exactly. */
export const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The number form of an address for the access fast path, or -1 when it is not a bigint in
 * [0, 2^53) (then the caller takes its checked, bigint path).
 */
export function fastAddress(address: unknown): number {
  return typeof address === 'bigint' && address >= 0n && address <= MAX_SAFE ? Number(address) : -1;
}

/** Checks that `value` is a bigint address or offset in [0, 2^64) and returns it. */
export function checkAddress(value: unknown, what: string, regionName?: string): bigint {
  if (typeof value !== 'bigint') {
    throw new MemoryError(
      'invalid-address',
      `${what} must be a bigint, got ${typeof value}`,
      ctx(regionName),
    );
  }
  if (value < 0n || value >= ADDRESS_LIMIT) {
    throw new MemoryError('invalid-address', `${what} ${hex(value)} is outside [0, 2^64)`, ctx(regionName));
  }
  return value;
}

/** Checks that `value` is a bigint size in [1, 2^64] and returns it. */
export function checkSize(value: unknown, regionName: string): bigint {
  if (typeof value !== 'bigint') {
    throw new MemoryError('invalid-size', `size must be a bigint, got ${typeof value}`, { regionName });
  }
  if (value <= 0n || value > ADDRESS_LIMIT) {
    throw new MemoryError('invalid-size', `size ${hex(value)} is outside [1, 2^64]`, { regionName });
  }
  return value;
}

function ctx(regionName: string | undefined): { regionName?: string } {
  return regionName === undefined ? {} : { regionName };
}

/** Formats an address as `info mtree` does: 16 hex digits. */
export function hex16(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}
