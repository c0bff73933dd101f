/**
 * The typed request layer: `call(command, body)` encodes the body with the command's codec,
 * sends it and resolves with the decoded reply, typed per command through `CommandPayloads`.
 */
import {
  type Command,
  commandName,
  decodeMessage,
  encodeRequestPayload,
  isProtocolError,
  type ReplyOf,
  type RequestOf,
} from '@vfu/protocol';
import type { OwnedFd } from '@vfu/sys';
import { TransportError } from './errors';
import type { ChannelMessage } from './received-message';

/** A decoded reply to {@link Channel.call}. */
export interface CallReply<C extends Command> {
  command: C;
  msgId: number;
  body: ReplyOf<C>;
  /** fds that came with the reply; they belong to the caller (see `takeFds`). */
  fds: readonly number[];
  /** Takes ownership of the reply's fds (idempotent). */
  takeFds(): OwnedFd[];
}

/** Decoding limits for a reply. */
export interface ReplyDecodeOptions {
  /** Largest data count accepted in the reply (our advertised `max_data_xfer_size`). */
  maxDataXferSize?: number;
}

/** The payload of a `command` request, or INVALID_ARGUMENT for a body that does not encode. */
export function requestPayload<C extends Command>(command: C, body: RequestOf<C>): Uint8Array {
  try {
    return encodeRequestPayload(command, body);
  } catch (cause) {
    throw new TransportError(
      'INVALID_ARGUMENT',
      `cannot encode ${commandName(command)}: ${String((cause as Error)?.message ?? cause)}`,
      {
        command,
        cause,
      },
    );
  }
}

/**
 * Decodes the reply to a `command` request. A malformed reply fails with PROTOCOL_VIOLATION
 * (its fds closed), carrying the ProtocolError as `cause` and its errno.
 */
export function decodeCallReply<C extends Command>(
  command: C,
  reply: ChannelMessage,
  options: ReplyDecodeOptions,
): CallReply<C> {
  const { msgId } = reply.header;
  let decoded: ReturnType<typeof decodeMessage>;
  try {
    decoded = decodeMessage(
      reply,
      options.maxDataXferSize === undefined ? {} : { maxDataXferSize: options.maxDataXferSize },
    );
  } catch (cause) {
    for (const fd of reply.takeFds()) fd.close();
    const text = isProtocolError(cause) ? cause.message : String(cause);
    throw new TransportError('PROTOCOL_VIOLATION', `malformed ${commandName(command)} reply: ${text}`, {
      command,
      msgId,
      ...(isProtocolError(cause) ? { errno: cause.errno } : {}),
      cause,
    });
  }
  if (decoded.kind !== 'reply') {
    // The channel only resolves requests with successful replies; kept for the type checker.
    throw new TransportError('PROTOCOL_VIOLATION', `${commandName(command)} answered with an error reply`, {
      command,
      msgId,
    });
  }
  return {
    command,
    msgId,
    body: decoded.body as ReplyOf<C>,
    fds: reply.fds,
    takeFds: () => reply.takeFds(),
  };
}
