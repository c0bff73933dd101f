/**
 * The error base class of every vfu package, and the two helpers their messages share.
 *
 * Each package keeps its own error class (`MemoryError`, `PciError`, `ProtocolError`, ...) with a
 * closed union of codes; this base holds what they have in common so that none of them copies
 * context fields one by one, and so that callers can handle any vfu error through one shape.
 */

/** Context every vfu error may carry; each package's error narrows it with its own fields. */
export interface VfuErrorContext {
  /** The lower-level error, passed on to `Error.cause`. */
  cause?: unknown;
  /** Positive errno that an error reply or a caller should use for this failure. */
  errno?: number;
}

/**
 * Base class of vfu's typed errors: a `code` from the subclass's closed union, a human message
 * that already names the numbers (hex for addresses), and the structured `context` as one field.
 *
 * ```ts
 * class PciError extends VfuError<'bad-bar', { bar?: number }> {
 *   override readonly name = 'PciError';
 * }
 * throw new PciError('bad-bar', `BAR ${bar} is not implemented`, { bar });
 * ```
 */
export class VfuError<
  Code extends string = string,
  Context extends VfuErrorContext = VfuErrorContext,
> extends Error {
  override readonly name: string = 'VfuError';
  /** What went wrong, from the subclass's closed list; callers switch on it. */
  readonly code: Code;
  /** Structured facts about the failure (ids, offsets, errno); `cause` is also `Error.cause`. */
  readonly context: Readonly<Context>;

  constructor(code: Code, message: string, context: Context = {} as Context) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.context = context;
  }

  /** The context's errno, when the failure maps to one. */
  get errno(): number | undefined {
    return this.context.errno;
  }
}

/**
 * True for any vfu error, by shape rather than `instanceof`, so it holds when two copies of a
 * package are loaded. Pass `name` to check for one package's class (`'PciError'`).
 */
export function isVfuError(e: unknown, name?: string): e is VfuError {
  if (!(e instanceof Error)) return false;
  const candidate = e as { code?: unknown; context?: unknown };
  if (typeof candidate.code !== 'string') return false;
  if (typeof candidate.context !== 'object' || candidate.context === null) return false;
  return name === undefined || e.name === name;
}

/**
 * Formats a number as QEMU and the kernel print addresses: `0x` and lower-case hex, padded with
 * zeros to `width` digits when given. Negative numbers keep their sign (`-0x10`).
 */
export function hex(value: number | bigint, width = 0): string {
  const negative = value < 0;
  const magnitude = negative ? -value : value;
  return `${negative ? '-' : ''}0x${magnitude.toString(16).padStart(width, '0')}`;
}

/** Largest value Linux uses for an errno (`MAX_ERRNO`). */
const MAX_ERRNO = 4095;

function validErrno(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value === 0) return undefined;
  // libuv reports system errors negated (-2 for ENOENT); vfio-user and errno(3) use positive ones.
  const errno = Math.abs(value);
  return errno <= MAX_ERRNO ? errno : undefined;
}

/**
 * The positive errno that describes `e`: a vfu error's context errno, or a Node system error's
 * `errno` (libuv's negative value made positive). Undefined when `e` carries none, which for an
 * endpoint means an unexpected failure (a bug) rather than a request the peer got wrong.
 */
export function errnoOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  if (isVfuError(e)) {
    const fromContext = validErrno(e.context.errno);
    if (fromContext !== undefined) return fromContext;
  }
  return validErrno((e as { errno?: unknown }).errno);
}
