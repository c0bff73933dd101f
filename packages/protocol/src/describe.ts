import { COMMAND_CODECS, decodeMessage, type Message, messageSize } from './codec';
import type { DescribedField } from './codec-types';
import { commandName, isCommand } from './command';
import { errnoName, isProtocolError } from './errors';
import type { FramedMessage } from './framer';
import { hexBytes } from './wire';

/** Human-readable forms of a message, for traces and session recordings. */
export interface MessageDescription {
  /** One line: `DMA_MAP request #0x12 argsz=32 flags=READ|WRITE ... (+1 fd)`. */
  summary: string;
  /** Several lines: a title line, then one `  field: value` line per field. */
  detail: string;
}

function isFramed(m: Message | FramedMessage): m is FramedMessage {
  return 'header' in m && 'payload' in m;
}

function fdNote(n: number): string {
  return n === 0 ? '' : ` (+${n} fd${n === 1 ? '' : 's'})`;
}

function render(title: string, fields: readonly DescribedField[], fds: number): MessageDescription {
  const summary = `${title}${fields.length ? ' ' : ''}${fields.map(([k, v]) => `${k}=${v}`).join(' ')}${fdNote(fds)}`;
  const lines = [title, ...fields.map(([k, v]) => `  ${k}: ${v}`)];
  if (fds > 0) lines.push(`  fds: ${fds}`);
  return { summary, detail: lines.join('\n') };
}

/**
 * Describes any message: a decoded {@link Message}, or a {@link FramedMessage} as received
 * (decoded first; one that does not decode is described raw, with the reason). Never throws
 * for a framed message.
 */
export function describe(message: Message | FramedMessage): MessageDescription {
  if (isFramed(message)) {
    try {
      const decoded = decodeMessage(message);
      return describe({ ...decoded, fds: message.fds } as Message);
    } catch (e) {
      const h = message.header;
      const kind = h.type === 'command' ? 'request' : 'reply';
      const why = isProtocolError(e) ? `${e.message} [${errnoName(e.errno)}]` : String(e);
      return render(
        `${commandName(h.command)} ${kind} #0x${h.msgId.toString(16)}${h.noReply ? ' no_reply' : ''} INVALID`,
        [
          ['payload', hexBytes(message.payload, 32) || '(empty)'],
          ['reason', why],
        ],
        message.fds.length,
      );
    }
  }
  const id = `#0x${message.msgId.toString(16)}`;
  if (message.kind === 'error') {
    return render(
      `${commandName(message.command)} reply ${id} ERROR ${errnoName(message.errorNo)}(${message.errorNo})`,
      [],
      0,
    );
  }
  const fds = message.fds?.length ?? 0;
  if (!isCommand(message.command))
    return render(`${commandName(message.command)} ${message.kind} ${id}`, [], fds);
  const codec = COMMAND_CODECS[message.command] as unknown as {
    describeRequest(b: unknown): DescribedField[];
    describeReply(b: unknown): DescribedField[];
  };
  const noReply = message.kind === 'request' && message.noReply === true ? ' no_reply' : '';
  const fields =
    message.kind === 'request' ? codec.describeRequest(message.body) : codec.describeReply(message.body);
  let size = '';
  try {
    size = ` (${messageSize(message)} bytes)`;
  } catch {
    // A hand-built message that cannot be encoded is still described.
  }
  const title = `${commandName(message.command)} ${message.kind} ${id}${noReply}`;
  const d = render(title, fields, fds);
  return { summary: d.summary, detail: d.detail.replace(title, `${title}${size}`) };
}
