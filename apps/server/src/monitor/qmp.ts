/**
 * QMP wire format: the greeting, request validation, replies, error replies and events. Pure.
 * See QEMU's docs/interop/qmp-spec.rst: `{"execute": NAME, "arguments": {...}, "id": ANY}` in,
 * `{"return": ..., "id": ...}` or `{"error": {"class": ..., "desc": ...}, "id": ...}` out.
 */
import { isPlainObject } from '../specs';

/** QMP error classes used by the monitor (QEMU's names). */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotFound';

/** An error a command reports to its client (never thrown past the monitor). */
export class QmpError extends Error {
  override readonly name = 'QmpError';
  /** QMP error class. */
  readonly errorClass: QmpErrorClass;

  constructor(errorClass: QmpErrorClass, desc: string, options?: { cause?: unknown }) {
    super(desc, options);
    this.errorClass = errorClass;
  }
}

/** Whether `e` is a {@link QmpError}, by shape. */
export function isQmpError(e: unknown): e is QmpError {
  return (
    e instanceof Error &&
    e.name === 'QmpError' &&
    typeof (e as { errorClass?: unknown }).errorClass === 'string'
  );
}

/** A well-formed request. */
export interface QmpRequest {
  execute: string;
  arguments: Record<string, unknown>;
  /** Echoed in the reply; absent when the client gave none. */
  id?: unknown;
  hasId: boolean;
}

/** The result of parsing one JSON object received on the monitor. */
export type QmpParseResult =
  | { ok: true; request: QmpRequest }
  | { ok: false; error: QmpError; id?: unknown; hasId: boolean };

/**
 * Validates one received object as a QMP command, with QEMU's messages for the mistakes it
 * rejects (`QMP input member 'execute' is missing`, `... must be a string`, `... must be an
 * object`, unexpected members).
 */
export function parseQmpRequest(value: unknown): QmpParseResult {
  if (!isPlainObject(value)) {
    return {
      ok: false,
      error: new QmpError('GenericError', 'QMP input must be a JSON object'),
      hasId: false,
    };
  }
  const hasId = Object.hasOwn(value, 'id');
  const withId = (error: QmpError): QmpParseResult =>
    hasId ? { ok: false, error, id: value.id, hasId } : { ok: false, error, hasId };
  for (const key of Object.keys(value)) {
    if (key !== 'execute' && key !== 'arguments' && key !== 'id') {
      return withId(new QmpError('GenericError', `QMP input member '${key}' is unexpected`));
    }
  }
  if (!Object.hasOwn(value, 'execute')) {
    return withId(new QmpError('GenericError', "QMP input member 'execute' is missing"));
  }
  if (typeof value.execute !== 'string') {
    return withId(new QmpError('GenericError', "QMP input member 'execute' must be a string"));
  }
  const args = value.arguments ?? {};
  if (!isPlainObject(args)) {
    return withId(new QmpError('GenericError', "QMP input member 'arguments' must be an object"));
  }
  const request: QmpRequest = { execute: value.execute, arguments: args, hasId };
  if (hasId) request.id = value.id;
  return { ok: true, request };
}

/** The greeting sent to every new client. */
export function qmpGreeting(version: string): object {
  const [major = 0, minor = 0, micro = 0] = version.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0);
  return {
    QMP: {
      version: { qemu: { major, minor, micro }, package: `vfu-server ${version}` },
      capabilities: [],
    },
  };
}

/** A success reply. */
export function qmpReturn(value: unknown, request: { id?: unknown; hasId: boolean }): object {
  return request.hasId ? { return: value, id: request.id } : { return: value };
}

/** An error reply. */
export function qmpErrorReply(error: QmpError, request: { id?: unknown; hasId: boolean }): object {
  const body = { error: { class: error.errorClass, desc: error.message } };
  return request.hasId ? { ...body, id: request.id } : body;
}

/** An asynchronous event, stamped with the wall-clock time as QEMU does. */
export function qmpEvent(event: string, data: object | undefined, nowMs: number): object {
  const seconds = Math.floor(nowMs / 1000);
  const microseconds = Math.floor((nowMs - seconds * 1000) * 1000);
  return { event, ...(data === undefined ? {} : { data }), timestamp: { seconds, microseconds } };
}

/** Serialises a QMP message as one line (bigints as numbers when safe, else hex strings). */
export function encodeQmp(message: object): string {
  return `${JSON.stringify(message, (_k, v) =>
    typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : `0x${v.toString(16)}`) : v,
  )}\r\n`;
}
