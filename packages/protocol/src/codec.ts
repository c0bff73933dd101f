import type { CommandCodec, DecodeOptions } from './codec-types';
import { Command, commandName, commandSender, isCommand } from './command';
import {
  type DeviceFeatureReply,
  type DeviceFeatureRequest,
  deviceFeatureCodec,
} from './commands/device-feature';
import {
  type DeviceGetInfoReply,
  type DeviceGetInfoRequest,
  deviceGetInfoCodec,
} from './commands/device-get-info';
import {
  type DeviceGetIrqInfoReply,
  type DeviceGetIrqInfoRequest,
  deviceGetIrqInfoCodec,
} from './commands/device-get-irq-info';
import {
  type DeviceGetRegionInfoReply,
  type DeviceGetRegionInfoRequest,
  deviceGetRegionInfoCodec,
} from './commands/device-get-region-info';
import {
  type DeviceGetRegionIoFdsReply,
  type DeviceGetRegionIoFdsRequest,
  deviceGetRegionIoFdsCodec,
} from './commands/device-get-region-io-fds';
import { type DeviceResetReply, type DeviceResetRequest, deviceResetCodec } from './commands/device-reset';
import {
  type DeviceSetIrqsReply,
  type DeviceSetIrqsRequest,
  deviceSetIrqsCodec,
} from './commands/device-set-irqs';
import { type DmaMapReply, type DmaMapRequest, dmaMapCodec } from './commands/dma-map';
import { type DmaReadReply, type DmaReadRequest, dmaReadCodec } from './commands/dma-read';
import { type DmaUnmapReply, type DmaUnmapRequest, dmaUnmapCodec } from './commands/dma-unmap';
import { type DmaWriteReply, type DmaWriteRequest, dmaWriteCodec } from './commands/dma-write';
import { type MigDataReadReply, type MigDataReadRequest, migDataReadCodec } from './commands/mig-data-read';
import {
  type MigDataWriteReply,
  type MigDataWriteRequest,
  migDataWriteCodec,
} from './commands/mig-data-write';
import { type RegionReadReply, type RegionReadRequest, regionReadCodec } from './commands/region-read';
import { type RegionWriteReply, type RegionWriteRequest, regionWriteCodec } from './commands/region-write';
import {
  type RegionWriteMultiReply,
  type RegionWriteMultiRequest,
  regionWriteMultiCodec,
} from './commands/region-write-multi';
import { type VersionReply, type VersionRequest, versionCodec } from './commands/version';
import { Errno, isProtocolError, ProtocolError } from './errors';
import type { FramedMessage } from './framer';
import { HEADER_SIZE, type MessageHeader, writeHeader } from './header';
import { PayloadReader, PayloadWriter } from './wire';

/** Request and reply body types of every command. */
export interface CommandPayloads {
  [Command.Version]: { request: VersionRequest; reply: VersionReply };
  [Command.DmaMap]: { request: DmaMapRequest; reply: DmaMapReply };
  [Command.DmaUnmap]: { request: DmaUnmapRequest; reply: DmaUnmapReply };
  [Command.DeviceGetInfo]: { request: DeviceGetInfoRequest; reply: DeviceGetInfoReply };
  [Command.DeviceGetRegionInfo]: { request: DeviceGetRegionInfoRequest; reply: DeviceGetRegionInfoReply };
  [Command.DeviceGetRegionIoFds]: { request: DeviceGetRegionIoFdsRequest; reply: DeviceGetRegionIoFdsReply };
  [Command.DeviceGetIrqInfo]: { request: DeviceGetIrqInfoRequest; reply: DeviceGetIrqInfoReply };
  [Command.DeviceSetIrqs]: { request: DeviceSetIrqsRequest; reply: DeviceSetIrqsReply };
  [Command.RegionRead]: { request: RegionReadRequest; reply: RegionReadReply };
  [Command.RegionWrite]: { request: RegionWriteRequest; reply: RegionWriteReply };
  [Command.DmaRead]: { request: DmaReadRequest; reply: DmaReadReply };
  [Command.DmaWrite]: { request: DmaWriteRequest; reply: DmaWriteReply };
  [Command.DeviceReset]: { request: DeviceResetRequest; reply: DeviceResetReply };
  [Command.RegionWriteMulti]: { request: RegionWriteMultiRequest; reply: RegionWriteMultiReply };
  [Command.DeviceFeature]: { request: DeviceFeatureRequest; reply: DeviceFeatureReply };
  [Command.MigDataRead]: { request: MigDataReadRequest; reply: MigDataReadReply };
  [Command.MigDataWrite]: { request: MigDataWriteRequest; reply: MigDataWriteReply };
}

/** Request body type of command `C`. */
export type RequestOf<C extends Command> = CommandPayloads[C]['request'];
/** Reply body type of command `C`. */
export type ReplyOf<C extends Command> = CommandPayloads[C]['reply'];

/** The codec table type: one codec per command, typed by its payloads. */
export type CommandCodecTable = { readonly [C in Command]: CommandCodec<RequestOf<C>, ReplyOf<C>> };

/** Every command's codec; `satisfies` makes a missing command a compile error. */
export const COMMAND_CODECS = {
  [Command.Version]: versionCodec,
  [Command.DmaMap]: dmaMapCodec,
  [Command.DmaUnmap]: dmaUnmapCodec,
  [Command.DeviceGetInfo]: deviceGetInfoCodec,
  [Command.DeviceGetRegionInfo]: deviceGetRegionInfoCodec,
  [Command.DeviceGetRegionIoFds]: deviceGetRegionIoFdsCodec,
  [Command.DeviceGetIrqInfo]: deviceGetIrqInfoCodec,
  [Command.DeviceSetIrqs]: deviceSetIrqsCodec,
  [Command.RegionRead]: regionReadCodec,
  [Command.RegionWrite]: regionWriteCodec,
  [Command.DmaRead]: dmaReadCodec,
  [Command.DmaWrite]: dmaWriteCodec,
  [Command.DeviceReset]: deviceResetCodec,
  [Command.RegionWriteMulti]: regionWriteMultiCodec,
  [Command.DeviceFeature]: deviceFeatureCodec,
  [Command.MigDataRead]: migDataReadCodec,
  [Command.MigDataWrite]: migDataWriteCodec,
} as const satisfies CommandCodecTable;

/** The codec of `command`, with its types erased (for generic dispatch). */
export function codecFor(command: Command): CommandCodec<unknown, unknown> {
  return COMMAND_CODECS[command] as unknown as CommandCodec<unknown, unknown>;
}

/** A decoded command (request) of command `C`. */
export type RequestMessageOf<C extends Command> = {
  kind: 'request';
  command: C;
  msgId: number;
  /** The sender wants no reply. */
  noReply?: boolean;
  body: RequestOf<C>;
  /** fds that travel with the message (received, or to be sent). */
  fds?: readonly number[];
};

/** A decoded successful reply of command `C`. */
export type ReplyMessageOf<C extends Command> = {
  kind: 'reply';
  command: C;
  msgId: number;
  body: ReplyOf<C>;
  fds?: readonly number[];
};

/** Any decoded request. Narrow on `command` to get the body type. */
export type RequestMessage = { [C in Command]: RequestMessageOf<C> }[Command];
/** Any decoded successful reply. */
export type ReplyMessage = { [C in Command]: ReplyMessageOf<C> }[Command];

/** An error reply: header only, `errorNo` may be 0. `command` is raw (may be unknown). */
export interface ErrorReplyMessage {
  kind: 'error';
  command: number;
  msgId: number;
  errorNo: number;
}

/** Every vfio-user message. */
export type Message = RequestMessage | ReplyMessage | ErrorReplyMessage;

/** Options of {@link decodeMessage}. */
export interface DecodeMessageOptions extends DecodeOptions {
  /**
   * Our side. A server then rejects DMA_READ/DMA_WRITE commands and a client everything else
   * (`unexpected-command`; a client answers with ENOSYS as QEMU does).
   */
  role?: 'client' | 'server';
}

function name(msg: { command: number }): string {
  return commandName(msg.command);
}

/**
 * Decodes a framed message (header, payload, fds) into a typed {@link Message}. Every size,
 * offset, count and flag is checked; failures throw {@link ProtocolError} carrying the errno for
 * the reply. Unknown commands throw `unknown-command` (EINVAL): answer them with
 * {@link encodeErrorReply}. Data fields are views onto `framed.payload`, not copies.
 */
export function decodeMessage(framed: FramedMessage, options: DecodeMessageOptions = {}): Message {
  const { header, payload, fds } = framed;
  if (payload.byteLength !== header.msgSize - HEADER_SIZE) {
    throw new ProtocolError(
      'bad-message-size',
      `msg_size ${header.msgSize} but ${payload.byteLength} payload bytes`,
      { command: header.command, msgId: header.msgId, field: 'msg_size' },
    );
  }
  if (header.type === 'reply' && header.error) {
    if (payload.byteLength !== 0) {
      throw new ProtocolError('bad-message-size', 'error reply with a payload', {
        command: header.command,
        msgId: header.msgId,
        field: 'msg_size',
      });
    }
    if (fds.length !== 0) {
      throw new ProtocolError('bad-fds', `error reply with ${fds.length} fd(s)`, {
        command: header.command,
        msgId: header.msgId,
        field: 'fds',
      });
    }
    return { kind: 'error', command: header.command, msgId: header.msgId, errorNo: header.errorNo };
  }
  if (!isCommand(header.command)) {
    throw new ProtocolError('unknown-command', `unknown command ${header.command}`, {
      command: header.command,
      msgId: header.msgId,
    });
  }
  const command = header.command;
  const codec = codecFor(command);
  if (header.type === 'command' && options.role !== undefined) {
    const sender = commandSender(command);
    if (sender === options.role) {
      throw new ProtocolError('unexpected-command', `${codec.name} is not sent to a ${options.role}`, {
        command: header.command,
        msgId: header.msgId,
        errno: options.role === 'client' ? Errno.ENOSYS : Errno.EINVAL,
      });
    }
  }
  const kind = header.type === 'command' ? 'request' : 'reply';
  const reader = new PayloadReader(payload, { command, msgId: header.msgId, kind, name: codec.name });
  try {
    if (kind === 'request') {
      const body = codec.decodeRequest(reader, fds, options);
      const m = { kind, command, msgId: header.msgId, body, fds } as RequestMessage;
      if (header.noReply) m.noReply = true;
      return m;
    }
    const body = codec.decodeReply(reader, fds, options);
    return { kind, command, msgId: header.msgId, body, fds } as ReplyMessage;
  } catch (e) {
    if (isProtocolError(e)) throw e;
    // Decoders only throw ProtocolError; anything else is a defect, still reported as one.
    throw new ProtocolError('bad-field', `${codec.name} ${kind}: ${(e as Error)?.message ?? String(e)}`, {
      command: header.command,
      msgId: header.msgId,
      cause: e,
    });
  }
}

/** Payload size and codec of a message, computed once. */
function plan(message: Message): { size: number; codec?: CommandCodec<unknown, unknown> } {
  if (message.kind === 'error') return { size: 0 };
  if (!isCommand(message.command)) {
    throw new ProtocolError('bad-value', `cannot encode unknown command ${message.command}`, {
      command: message.command,
    });
  }
  const codec = codecFor(message.command);
  const size = message.kind === 'request' ? codec.requestSize(message.body) : codec.replySize(message.body);
  return { size, codec };
}

/** Total encoded size of `message`, header included. */
export function messageSize(message: Message): number {
  return HEADER_SIZE + plan(message).size;
}

/**
 * Encodes `message` (header and payload) into `dest` when given (it must hold
 * {@link messageSize} bytes; the returned array is a view of the written part) or into a new
 * array. fds are not part of the bytes: send `message.fds` with them.
 */
export function encodeMessage(message: Message, dest?: Uint8Array): Uint8Array {
  const { size, codec } = plan(message);
  const total = HEADER_SIZE + size;
  if (dest !== undefined && dest.byteLength < total) {
    throw new ProtocolError(
      'buffer-too-small',
      `${name(message)} needs ${total} bytes, buffer has ${dest.byteLength}`,
      {
        command: message.command,
        msgId: message.msgId,
      },
    );
  }
  const out = dest === undefined ? new Uint8Array(total) : dest.subarray(0, total);
  // One DataView for header and payload: typed-array views are a large part of a small encode.
  const view = new DataView(out.buffer, out.byteOffset, total);
  if (message.kind === 'error') {
    writeHeader(view, {
      msgId: message.msgId,
      command: message.command,
      msgSize: total,
      type: 'reply',
      error: true,
      errorNo: message.errorNo,
    });
    return out;
  }
  writeHeader(view, {
    msgId: message.msgId,
    command: message.command,
    msgSize: total,
    type: message.kind === 'request' ? 'command' : 'reply',
    noReply: message.kind === 'request' && message.noReply === true,
  });
  const writer = new PayloadWriter(out, view, HEADER_SIZE, codec?.name ?? '', message.kind);
  if (message.kind === 'request') codec?.encodeRequest(writer, message.body);
  else codec?.encodeReply(writer, message.body);
  return out;
}

/**
 * The error reply for a received command: same msg_id and command, Error flag, `errno`.
 * Pass a ProtocolError to use its errno. Returns undefined when no reply is due (the command
 * had No_reply, or the message was itself a reply).
 */
export function errorReplyFor(
  header: MessageHeader,
  error: number | ProtocolError,
): ErrorReplyMessage | undefined {
  if (header.type !== 'command' || header.noReply) return undefined;
  const errorNo = typeof error === 'number' ? error : error.errno;
  return { kind: 'error', command: header.command, msgId: header.msgId, errorNo };
}

/** {@link errorReplyFor}, encoded (16 bytes), or undefined when no reply is due. */
export function encodeErrorReply(
  header: MessageHeader,
  error: number | ProtocolError,
  dest?: Uint8Array,
): Uint8Array | undefined {
  const reply = errorReplyFor(header, error);
  return reply === undefined ? undefined : encodeMessage(reply, dest);
}

/**
 * The payload (no header) of a `command` request carrying `body`: what a transport sends after
 * the header it builds itself. Throws ProtocolError (`bad-value`) for a field out of range.
 */
export function encodeRequestPayload<C extends Command>(command: C, body: RequestOf<C>): Uint8Array {
  const codec = COMMAND_CODECS[command] as unknown as CommandCodec<RequestOf<C>, ReplyOf<C>>;
  const out = new Uint8Array(codec.requestSize(body));
  codec.encodeRequest(new PayloadWriter(out, new DataView(out.buffer), 0, codec.name, 'request'), body);
  return out;
}

/** The payload (no header) of a successful `command` reply carrying `body`. */
export function encodeReplyPayload<C extends Command>(command: C, body: ReplyOf<C>): Uint8Array {
  const codec = COMMAND_CODECS[command] as unknown as CommandCodec<RequestOf<C>, ReplyOf<C>>;
  const out = new Uint8Array(codec.replySize(body));
  codec.encodeReply(new PayloadWriter(out, new DataView(out.buffer), 0, codec.name, 'reply'), body);
  return out;
}
