/** `vfu-trace`: decode, stats and replay of vfio-user pcapng captures. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { captureStats, decodeLine, formatStats, matchesFilter } from './decode';
import { isTraceError, TraceError } from './errors';
import { type CapturedMessage, readCapture } from './read-capture';
import { replayAgainstServer } from './replay';

/** Where output goes. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const USAGE = `Usage:
  vfu-trace decode FILE [--endpoint ID]... [--command NAME]... [--connection N]
      one line per message: time, endpoint#connection, direction, decoded summary
  vfu-trace stats FILE [--endpoint ID]... [--connection N]
      per-command counts, bytes and request-to-reply latency (p50, p99)
  vfu-trace replay FILE --server SOCKET [--endpoint ID] [--connection N]
      play the client side of one captured connection against a server; report the first
      reply that differs (msg_ids and fd numbers are not compared)
Exit status: 0 on success, 1 when a replay differs or fails, 2 for a usage error.
The Wireshark dissector is wireshark/vfio-user.lua in this package (copy it to
~/.local/lib/wireshark/plugins/).`;

function load(file: string): CapturedMessage[] {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (cause) {
    throw new TraceError('invalid-argument', `cannot read ${file}: ${(cause as Error).message}`, {
      path: file,
      cause,
    });
  }
  return readCapture(bytes);
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit status. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (e) {
    io.stderr(`vfu-trace: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [sub, file, ...extra] = positionals;
  if (values.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  if (
    sub === undefined ||
    file === undefined ||
    extra.length > 0 ||
    !['decode', 'stats', 'replay'].includes(sub)
  ) {
    io.stderr(`vfu-trace: expected a command (decode, stats, replay) and one FILE\n${USAGE}\n`);
    return 2;
  }
  const connection = values.connection === undefined ? undefined : Number(values.connection);
  if (connection !== undefined && !(Number.isInteger(connection) && connection > 0)) {
    io.stderr(`vfu-trace: --connection expects a number from 1, got '${values.connection}'\n`);
    return 2;
  }
  try {
    const messages = load(file);
    const filter = {
      endpoints: values.endpoint ?? [],
      commands: values.command ?? [],
      ...(connection === undefined ? {} : { connection }),
    };
    if (sub === 'decode') {
      const start = messages[0]?.timeMicros ?? 0n;
      for (const m of messages) if (matchesFilter(m, filter)) io.stdout(`${decodeLine(m, start)}\n`);
      return 0;
    }
    if (sub === 'stats') {
      const selected = messages.filter((m) => matchesFilter(m, { ...filter, commands: [] }));
      io.stdout(`${selected.length} messages\n${formatStats(captureStats(selected))}\n`);
      return 0;
    }
    if (values.server === undefined) {
      io.stderr('vfu-trace: replay needs --server SOCKET\n');
      return 2;
    }
    const result = await replayAgainstServer(messages, values.server, {
      ...(values.endpoint?.[0] === undefined ? {} : { endpoint: values.endpoint[0] }),
      ...(connection === undefined ? {} : { connection }),
    });
    const head = `replayed ${result.endpoint}#${result.connection}: ${result.commands} commands, ${result.matched} replies equal, ${result.served} server commands answered`;
    if (result.difference === undefined) {
      io.stdout(`${head}; every reply as captured\n`);
      return 0;
    }
    const d = result.difference;
    io.stdout(
      `${head}\nfirst difference, at message ${d.index} (${d.command}):\n  captured: ${d.expected}\n  replayed: ${d.actual}\n`,
    );
    return 1;
  } catch (e) {
    io.stderr(`vfu-trace: ${isTraceError(e) ? e.message : String((e as Error).message ?? e)}\n`);
    return 1;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      endpoint: { type: 'string', multiple: true },
      command: { type: 'string', multiple: true },
      connection: { type: 'string' },
      server: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}
