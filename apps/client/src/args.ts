import { parseArgs } from 'node:util';
import { ClientAppError } from './errors';

/** The demos `vfu-client demo` knows, one per device of the zoo. */
export const DEMOS = ['edu', 'serial', 'gpio', 'testdev'] as const;
/** A demo name. */
export type DemoName = (typeof DEMOS)[number];

/** Options shared by every command. */
export interface CommonOptions {
  socket: string;
  /** Pass no fds: DMA by messages, no eventfd interrupts, no mmap. */
  noFds: boolean;
  /** Guest RAM size in bytes. */
  ramSize: number;
  /** Request timeout in ms. */
  timeoutMs: number;
  /** `--trace-file`: pcapng capture of every message. */
  traceFile: string | undefined;
}

/** A parsed command line. */
export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | ({ kind: 'info'; format: 'text' | 'hex' | 'json'; assign: boolean } & CommonOptions)
  | ({ kind: 'demo'; demo: DemoName; script: string | undefined; interactive: boolean } & CommonOptions);

/** `vfu-client --help`. */
export const HELP = `vfu-client: a small vfio-user VMM: enumerate a device like lspci, run device demos

Usage:
  vfu-client info SOCKET [--hex | --json] [options]
  vfu-client demo edu|serial|gpio|testdev SOCKET [options]
  vfu-client --help | --version

Commands:
  info SOCKET          connect, allocate guest RAM in a memfd, size the BARs and print an
                       lspci -vv-like description plus what the vfio-user server reported
  demo edu SOCKET      identification, liveness, factorial, DMA round trip through guest RAM,
                       MSI interrupt (QEMU docs/specs/edu.rst)
  demo serial SOCKET   16550A: loopback (default, with --script TEXT) or --interactive
                       (stdin to the UART's transmitter, its receiver to stdout)
  demo gpio SOCKET     PCI-IDIO-16: walk the FET outputs, read the isolated inputs, IRQ status
  demo testdev SOCKET  pci-testdev: every MMIO and port I/O test, with its write counter

Options:
  -x, --hex            info: lspci -xxx hex dump (lspci -F FILE decodes it)
  -j, --json           info: JSON for scripts
      --assign         info: assign BAR addresses and enable decode first, as firmware
                       does (default: show the device as found)
      --no-fds         pass no file descriptors: DMA through DMA_READ/DMA_WRITE messages,
                       no eventfd interrupts, no mmap
      --ram SIZE       guest RAM size (default 16M; suffixes K, M, G)
      --timeout MS     per-request timeout (default 5000; 0 = none)
      --trace-file FILE capture every vfio-user message to a pcapng file (vfu-trace,
                       Wireshark); rotated at 64 MiB, keeping FILE and FILE.1
      --script TEXT    serial: the text to loop back (default "hello, vfio-user")
      --interactive    serial: talk to the UART's line instead of looping back
  -h, --help           this text
  -V, --version        the version

Exit status: 0 on success, 1 when the device or connection failed, 2 for bad arguments.
`;

function usage(message: string): ClientAppError {
  return new ClientAppError('usage', message);
}

/** Parses a size such as `16M`, `4096`, `1G`. */
export function parseSize(text: string): number {
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!m) throw usage(`bad size '${text}' (expected e.g. 4096, 64K, 16M, 1G)`);
  const n = Number(m[1]) * 1024 ** ' KMG'.indexOf((m[2] || ' ').toUpperCase());
  if (!Number.isSafeInteger(n) || n <= 0 || n % 4096 !== 0) {
    throw usage(`size '${text}' must be a positive multiple of 4096`);
  }
  return n;
}

/** Parses `argv` (without node and script). Throws ClientAppError `usage` on bad input. */
export function parseCommandLine(argv: readonly string[]): Command {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        hex: { type: 'boolean', short: 'x' },
        json: { type: 'boolean', short: 'j' },
        assign: { type: 'boolean' },
        'no-fds': { type: 'boolean' },
        ram: { type: 'string' },
        timeout: { type: 'string' },
        'trace-file': { type: 'string' },
        script: { type: 'string' },
        interactive: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (cause) {
    // node:util's parseArgs goes on to explain how to pass a positional starting with '-': name
    // the unknown option and leave the rest to --help.
    const text = (cause as Error).message;
    const unknown = /^Unknown option '([^']*)'/.exec(text);
    throw new ClientAppError('usage', unknown ? `unknown option '${unknown[1]}'` : text, { cause });
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help === true) return { kind: 'help' };
  if (v.version === true) return { kind: 'version' };
  const [command, ...rest] = parsed.positionals;
  if (command === undefined) throw usage('missing command (info or demo)');
  const timeoutText = typeof v.timeout === 'string' ? v.timeout : '5000';
  if (!/^\d+$/.test(timeoutText)) throw usage(`bad --timeout '${timeoutText}' (milliseconds)`);
  const common = (socket: string | undefined): CommonOptions => {
    if (socket === undefined || socket === '') throw usage(`${command}: missing SOCKET`);
    return {
      socket,
      noFds: v['no-fds'] === true,
      ramSize: typeof v.ram === 'string' ? parseSize(v.ram) : 16 << 20,
      timeoutMs: Number(timeoutText),
      traceFile: typeof v['trace-file'] === 'string' && v['trace-file'] !== '' ? v['trace-file'] : undefined,
    };
  };
  const onlyFor = (names: string[], where: string) => {
    for (const n of names) if (v[n] !== undefined) throw usage(`--${n} only applies to ${where}`);
  };
  if (command === 'info') {
    if (rest.length > 1) throw usage(`info: unexpected argument '${rest[1]}'`);
    onlyFor(['script', 'interactive'], 'demo serial');
    if (v.hex === true && v.json === true) throw usage('--hex and --json exclude each other');
    return {
      kind: 'info',
      format: v.hex === true ? 'hex' : v.json === true ? 'json' : 'text',
      assign: v.assign === true,
      ...common(rest[0]),
    };
  }
  if (command === 'demo') {
    const [demo, socket, extra] = rest;
    if (demo === undefined) throw usage(`demo: missing device (${DEMOS.join(', ')})`);
    if (!(DEMOS as readonly string[]).includes(demo))
      throw usage(`demo: unknown device '${demo}' (${DEMOS.join(', ')})`);
    if (extra !== undefined) throw usage(`demo: unexpected argument '${extra}'`);
    onlyFor(['hex', 'json', 'assign'], 'info');
    if (demo !== 'serial') onlyFor(['script', 'interactive'], 'demo serial');
    if (v.script !== undefined && v.interactive === true)
      throw usage('--script and --interactive exclude each other');
    return {
      kind: 'demo',
      demo: demo as DemoName,
      script: typeof v.script === 'string' ? v.script : undefined,
      interactive: v.interactive === true,
      ...common(socket),
    };
  }
  throw usage(`unknown command '${command}' (info or demo)`);
}
