/** Errors of the NVMe host driver. */

/** Why a driver operation failed. */
export type NvmeDriverErrorCode =
  /** The controller did not reach the expected state (CSTS.RDY, shutdown) in time. */
  | 'timeout'
  /** The controller reported Controller Fatal Status. */
  | 'controller-fatal'
  /** A command completed with an error status: see `status`. */
  | 'command-failed'
  /** The command was outstanding when the controller was reset or the driver closed. */
  | 'aborted'
  /** The device is not an NVMe controller, or lacks what the driver needs. */
  | 'unsupported'
  /** A caller passed a value the driver cannot use. */
  | 'invalid-argument';

/** Context of an {@link NvmeDriverError}. */
export interface NvmeDriverErrorContext {
  /** Queue the command went to (0: admin). */
  qid?: number;
  /** Opcode of the failed command. */
  opcode?: number;
  /** Status field of the completion (SCT << 8 | SC, DNR 0x4000, as QEMU encodes it). */
  status?: number;
  cause?: unknown;
}

/** The one error class the driver throws. */
export class NvmeDriverError extends Error {
  override readonly name = 'NvmeDriverError';
  readonly code: NvmeDriverErrorCode;
  readonly context: NvmeDriverErrorContext;

  constructor(code: NvmeDriverErrorCode, message: string, context: NvmeDriverErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.code = code;
    this.context = context;
  }

  /** Status Code Type of a failed command (bits 10:8 of `status`). */
  get statusCodeType(): number | undefined {
    return this.context.status === undefined ? undefined : (this.context.status >> 8) & 0x7;
  }

  /** Status Code of a failed command (bits 7:0 of `status`). */
  get statusCode(): number | undefined {
    return this.context.status === undefined ? undefined : this.context.status & 0xff;
  }
}

/** Whether `e` is an {@link NvmeDriverError} (by shape, so two copies of the package agree). */
export function isNvmeDriverError(e: unknown): e is NvmeDriverError {
  return (
    e instanceof Error && e.name === 'NvmeDriverError' && typeof (e as { code?: unknown }).code === 'string'
  );
}
