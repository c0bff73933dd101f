import { VfuError } from '@vfu/errors';

/**
 * Why a state stream was refused:
 * - `foreign`: not a vfu state stream (magic), or a section of another name than expected.
 * - `truncated`: the stream ends inside a header, a field or before its checksum.
 * - `corrupted`: the checksum does not match, or bytes that the format fixes are wrong.
 * - `too-new`: saved by a newer version than this code loads.
 * - `too-old`: older than the schema's minimum loadable version.
 * - `type-mismatch`: a field saved with another type than the schema's.
 * - `missing-field`: a field the stream's version must have is absent.
 * - `unknown-field`: a field or subsection this code does not know.
 * - `bad-value`: a value out of its domain (length, range, the schema's own checks).
 * - `invalid-value`: the value handed to the encoder does not match its schema (a host bug).
 */
export type VmStateErrorCode =
  | 'foreign'
  | 'truncated'
  | 'corrupted'
  | 'too-new'
  | 'too-old'
  | 'type-mismatch'
  | 'missing-field'
  | 'unknown-field'
  | 'bad-value'
  | 'invalid-value';

export interface VmStateErrorContext {
  /** Section name. */
  section?: string;
  /** Dotted path of the field concerned (`edu.dma.src`, `nvme.sq[3].head`). */
  field?: string;
  /** Byte offset in the stream where the problem was found. */
  offset?: number;
  cause?: unknown;
  errno?: number;
}

/** A state stream that cannot be loaded (or a value that cannot be saved), naming the field. */
export class VmStateError extends VfuError<VmStateErrorCode, VmStateErrorContext> {
  override readonly name = 'VmStateError';
}
