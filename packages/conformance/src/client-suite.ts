/**
 * The client suite: `vfu-conformance client -- COMMAND ARGS...` serves a scripted PCI device on a
 * socket (`{socket}` in the arguments is replaced by its path), runs the client command once per
 * scenario, and checks what the client sent and how it coped: negotiation, the limits it was
 * given, error replies, delays, a malformed reply, and commands from the server.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixListener } from '@vfu/sys';
import { type Check, type CheckResult, expectThat, runChecks, skip } from './check';
import { FLAG_ERROR, FLAG_REPLY, le, message, type RawMessage, RawPeer } from './peer';
import { Cmd, E, u32 } from './server-context';

/** How the scripted server behaves in one run of the client. */
interface Scenario {
  name: string;
  maxDataXferSize: number;
  maxMsgFds: number;
  /** Reply delay in ms. */
  delayMs?: number;
  /** Commands answered with an error instead (by command, errno). */
  fail?: Partial<Record<number, number>>;
  /** Replies cut to this many payload bytes (by command). */
  cut?: Partial<Record<number, number>>;
  /** Send an unknown command and a DMA_READ to the client after its first REGION_READ. */
  serverCommands?: boolean;
}

/** What one run produced. */
export interface ClientRun {
  scenario: Scenario;
  received: RawMessage[];
  /** Replies the client sent to our commands, by our msg_id. */
  replies: Map<number, RawMessage>;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  output: string;
}

/** A scripted PCI function: 256-byte config space, BAR0 a 4 KiB memory BAR, INTx. */
class ScriptedDevice {
  readonly config = new Uint8Array(256);
  readonly bar0 = new Uint8Array(4096);
  constructor() {
    const v = new DataView(this.config.buffer);
    v.setUint16(0, 0x1b36, true); // Red Hat, Inc.
    v.setUint16(2, 0x0005, true); // PCI Test Device
    v.setUint8(8, 0); // revision
    v.setUint8(0x0b, 0x00);
    v.setUint8(0x0a, 0xff);
    v.setUint8(0x3d, 1); // INTA
  }

  configWrite(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.byteLength; i++) {
      const at = offset + i;
      if (at === 4 || at === 5 || at === 0x3c) this.config[at] = data[i] as number;
      else if (at >= 0x10 && at < 0x14) {
        // BAR0: 4 KiB memory BAR; the low 12 bits read as zero.
        this.config[at] =
          at === 0x10
            ? (data[i] as number) & 0
            : at === 0x11
              ? (data[i] as number) & 0xf0
              : (data[i] as number);
      }
    }
  }
}

function regionInfo(index: number): Uint8Array {
  const size = index === 0 ? 4096 : index === 7 ? 256 : 0;
  const flags = size === 0 ? 0 : 3;
  return le(['u32', 32], ['u32', flags], ['u32', index], ['u32', 0], ['u64', size], ['u64', 0]);
}

async function serve(
  peer: RawPeer,
  scenario: Scenario,
  run: ClientRun,
  device: ScriptedDevice,
): Promise<void> {
  let sentServerCommands = false;
  for (;;) {
    const m = await peer.receive(60_000);
    if (typeof m === 'string') return;
    if ((m.flags & 0xf) === 1) {
      run.replies.set(m.msgId, m);
      continue;
    }
    run.received.push(m);
    for (const fd of m.fds) fd.close();
    if (m.flags & 0x10) {
      if (m.command === Cmd.RegionWrite) access(m, device);
      continue;
    }
    if (scenario.delayMs) await new Promise((r) => setTimeout(r, scenario.delayMs));
    const errno = scenario.fail?.[m.command];
    const head = { msgId: m.msgId, command: m.command, flags: FLAG_REPLY };
    if (errno !== undefined) {
      await peer.send(message({ ...head, flags: FLAG_REPLY | FLAG_ERROR, errorNo: errno }));
      continue;
    }
    let payload: Uint8Array | number = reply(m, scenario, device);
    const cut = scenario.cut?.[m.command];
    if (typeof payload !== 'number' && cut !== undefined) payload = payload.subarray(0, cut);
    await peer.send(
      typeof payload === 'number'
        ? message({ ...head, flags: FLAG_REPLY | FLAG_ERROR, errorNo: payload })
        : message(head, payload),
    );
    if (scenario.serverCommands && !sentServerCommands && m.command === Cmd.RegionRead) {
      sentServerCommands = true;
      await peer.send(message({ msgId: 0x9001, command: 99 }, le(['u64', 0], ['u64', 8])));
      await peer.send(message({ msgId: 0x9002, command: Cmd.DmaRead }, le(['u64', 0xdead_0000], ['u64', 8])));
    }
  }
}

function access(m: RawMessage, device: ScriptedDevice): Uint8Array | number {
  const offset = Number(new DataView(m.payload.buffer, m.payload.byteOffset).getBigUint64(0, true));
  const index = u32(m.payload, 8);
  const count = u32(m.payload, 12);
  const space = index === 7 ? device.config : index === 0 ? device.bar0 : undefined;
  if (space === undefined || offset + count > space.byteLength) return E.EINVAL;
  if (m.command === Cmd.RegionRead)
    return le(['bytes', m.payload.subarray(0, 16)], ['bytes', space.subarray(offset, offset + count)]);
  const data = m.payload.subarray(16, 16 + count);
  if (index === 7) device.configWrite(offset, data);
  else space.set(data, offset);
  return m.payload.subarray(0, 16);
}

function reply(m: RawMessage, scenario: Scenario, device: ScriptedDevice): Uint8Array | number {
  switch (m.command) {
    case Cmd.Version: {
      const json = `{"capabilities":{"max_msg_fds":${scenario.maxMsgFds},"max_data_xfer_size":${scenario.maxDataXferSize}}}\0`;
      return le(['u16', 0], ['u16', 0], ['bytes', new TextEncoder().encode(json)]);
    }
    case Cmd.GetInfo:
      return le(['u32', 16], ['u32', 3], ['u32', 9], ['u32', 5]);
    case Cmd.RegionInfo:
      return u32(m.payload, 8) < 9 ? regionInfo(u32(m.payload, 8)) : E.EINVAL;
    case Cmd.IrqInfo: {
      const index = u32(m.payload, 8);
      if (index >= 5) return E.EINVAL;
      return le(['u32', 16], ['u32', 1], ['u32', index], ['u32', index === 0 || index >= 3 ? 1 : 0]);
    }
    case Cmd.RegionRead:
    case Cmd.RegionWrite:
      return access(m, device);
    case Cmd.DmaMap:
    case Cmd.SetIrqs:
    case Cmd.Reset:
      return new Uint8Array(0);
    case Cmd.DmaUnmap:
      return m.payload.subarray(0, 24);
    default:
      return E.EINVAL;
  }
}

/** Runs the client command once against a scripted server playing `scenario`. */
export async function runClientScenario(
  argv: readonly string[],
  scenario: Scenario,
  timeoutMs = 20_000,
): Promise<ClientRun> {
  const dir = mkdtempSync(join(tmpdir(), 'vfu-cc-'));
  const socketPath = join(dir, 'device.sock');
  const listener = UnixListener.listen(socketPath);
  const run: ClientRun = {
    scenario,
    received: [],
    replies: new Map(),
    exitCode: null,
    signal: null,
    timedOut: false,
    output: '',
  };
  const served: Promise<void>[] = [];
  const peers: RawPeer[] = [];
  listener.onConnection((socket) => {
    const peer = RawPeer.over(socket);
    peers.push(peer);
    served.push(serve(peer, scenario, run, new ScriptedDevice()));
  });
  try {
    const [command, ...args] = argv.map((a) => a.replaceAll('{socket}', socketPath));
    if (command === undefined) throw new Error('no client command');
    await new Promise<void>((resolve) => {
      const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', (b: Buffer) => (run.output += b.toString()));
      child.stderr.on('data', (b: Buffer) => (run.output += b.toString()));
      const timer = setTimeout(() => {
        run.timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', (e) => {
        run.output += String(e);
        clearTimeout(timer);
        resolve();
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        run.exitCode = code;
        run.signal = signal;
        resolve();
      });
    });
  } finally {
    listener.close();
    for (const p of peers) p.close();
    await Promise.all(served);
    rmSync(dir, { recursive: true, force: true });
  }
  return run;
}

type ScenarioName = 'normal' | 'limits' | 'delay' | 'error-reply' | 'malformed';

const SCENARIOS: Record<ScenarioName, Scenario> = {
  normal: { name: 'normal', maxDataXferSize: 1 << 20, maxMsgFds: 8, serverCommands: true },
  limits: { name: 'limits', maxDataXferSize: 16, maxMsgFds: 0 },
  delay: { name: 'delay', maxDataXferSize: 1 << 20, maxMsgFds: 8, delayMs: 150 },
  'error-reply': {
    name: 'error-reply',
    maxDataXferSize: 1 << 20,
    maxMsgFds: 8,
    fail: { [Cmd.IrqInfo]: E.EINVAL },
  },
  malformed: { name: 'malformed', maxDataXferSize: 1 << 20, maxMsgFds: 8, cut: { [Cmd.GetInfo]: 8 } },
};

/** The runs the checks look at, one per scenario. */
export type ClientRuns = Record<ScenarioName, ClientRun>;

type ClientCheck = Check<ClientRuns>;
const VERSION = { section: 'VFIO_USER_VERSION', practice: 'notes §4' };
const HEADER = { section: 'Header', practice: 'notes §2' };

function commands(run: ClientRun, command: number): RawMessage[] {
  return run.received.filter((m) => m.command === command);
}

function ended(run: ClientRun): string {
  return run.timedOut
    ? 'timed out'
    : run.signal !== null
      ? `killed by ${run.signal}`
      : `exit ${run.exitCode}`;
}

/** Every client check. */
export function clientChecks(): ClientCheck[] {
  return [
    {
      id: 'client.version-first',
      title: 'the first message is VERSION',
      spec: { section: 'Connection Initiation', practice: 'notes §4' },
      async run(runs) {
        expectThat(
          runs.normal.received[0]?.command === Cmd.Version,
          `first command ${runs.normal.received[0]?.command}`,
        );
      },
    },
    {
      id: 'client.version-major-zero',
      title: 'VERSION proposes major 0',
      spec: VERSION,
      async run(runs) {
        const v = commands(runs.normal, Cmd.Version)[0];
        expectThat(v !== undefined && v.payload[0] === 0 && v.payload[1] === 0, 'major is not 0');
      },
    },
    {
      id: 'client.version-json',
      title: 'the VERSION JSON is NUL-terminated and an object',
      spec: VERSION,
      async run(runs) {
        const v = commands(runs.normal, Cmd.Version)[0];
        expectThat(v !== undefined, 'no VERSION');
        if (v.payload.byteLength === 4) return 'no version data';
        expectThat(v.payload.at(-1) === 0, 'JSON not NUL-terminated');
        const parsed = JSON.parse(new TextDecoder().decode(v.payload.subarray(4, -1))) as unknown;
        expectThat(
          typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed),
          'JSON is not an object',
        );
        return undefined;
      },
    },
    {
      id: 'client.version-once',
      title: 'VERSION is sent once per connection',
      spec: VERSION,
      async run(runs) {
        expectThat(
          commands(runs.normal, Cmd.Version).length === 1,
          `${commands(runs.normal, Cmd.Version).length} VERSION commands`,
        );
      },
    },
    {
      id: 'client.header-command-type',
      title: 'every command has type 0, no Error flag, error_no 0 and msg_size equal to its length',
      spec: HEADER,
      async run(runs) {
        for (const m of runs.normal.received) {
          expectThat(
            (m.flags & 0xf) === 0 && (m.flags & FLAG_ERROR) === 0,
            `cmd ${m.command} flags 0x${m.flags.toString(16)}`,
          );
          expectThat(m.errorNo === 0, `cmd ${m.command} error_no ${m.errorNo}`);
          expectThat(m.msgSize === 16 + m.payload.byteLength, `cmd ${m.command} msg_size ${m.msgSize}`);
        }
      },
    },
    {
      id: 'client.only-client-commands',
      title: 'the client sends only client commands (never DMA_READ/DMA_WRITE or unassigned numbers)',
      spec: { section: 'Commands', practice: 'notes §3' },
      async run(runs) {
        const bad = runs.normal.received.filter(
          (m) =>
            m.command === 11 || m.command === 12 || m.command === 14 || m.command > 18 || m.command === 0,
        );
        expectThat(bad.length === 0, `commands ${bad.map((m) => m.command).join(', ')}`);
      },
    },
    {
      id: 'client.region-info-argsz',
      title: 'DEVICE_GET_REGION_INFO requests have argsz at least 32',
      spec: { section: 'VFIO_USER_DEVICE_GET_REGION_INFO', practice: 'notes §7' },
      async run(runs) {
        const all = commands(runs.normal, Cmd.RegionInfo);
        if (all.length === 0) skip('the client asked for no region info');
        for (const m of all)
          expectThat(u32(m.payload, 0) >= 32 && m.payload.byteLength >= 32, `argsz ${u32(m.payload, 0)}`);
      },
    },
    {
      id: 'client.unknown-server-command',
      title: 'an unknown command from the server gets an error reply',
      spec: { section: 'Header', practice: 'notes §3 (QEMU answers ENOSYS)' },
      async run(runs) {
        const r = runs.normal.replies.get(0x9001);
        expectThat(r !== undefined, 'no reply to command 99');
        expectThat(
          (r.flags & FLAG_ERROR) !== 0 && r.msgSize === 16,
          `reply flags 0x${r.flags.toString(16)} size ${r.msgSize}`,
        );
        return `errno ${r.errorNo}`;
      },
    },
    {
      id: 'client.dma-read-unmapped',
      title: 'a DMA_READ of an address the client never mapped gets an error reply',
      spec: { section: 'VFIO_USER_DMA_READ', practice: 'notes §11, §17' },
      async run(runs) {
        const r = runs.normal.replies.get(0x9002);
        expectThat(r !== undefined, 'no reply to DMA_READ');
        expectThat(
          (r.flags & FLAG_ERROR) !== 0,
          `success reply of ${r.payload.byteLength} bytes to a read of unmapped memory`,
        );
        return `errno ${r.errorNo}`;
      },
    },
    {
      id: 'client.normal-exit',
      title: 'the client command succeeds against a well-behaved server',
      spec: { section: 'Protocol Specification' },
      async run(runs) {
        expectThat(runs.normal.exitCode === 0, `${ended(runs.normal)}: ${runs.normal.output.slice(-300)}`);
      },
    },
    {
      id: 'client.honours-max-data-xfer',
      title: 'no REGION_READ/WRITE exceeds the server max_data_xfer_size (16 here)',
      spec: { section: 'VFIO_USER_REGION_READ', practice: 'notes §10' },
      async run(runs) {
        for (const m of [
          ...commands(runs.limits, Cmd.RegionRead),
          ...commands(runs.limits, Cmd.RegionWrite),
        ]) {
          expectThat(u32(m.payload, 12) <= 16, `count ${u32(m.payload, 12)} above 16`);
        }
      },
    },
    {
      id: 'client.honours-max-msg-fds',
      title: 'no message carries more fds than the server max_msg_fds (0 here)',
      spec: { section: 'VFIO_USER_VERSION', practice: 'notes §1' },
      async run(runs) {
        const bad = runs.limits.received.filter((m) => m.fds.length > 0);
        expectThat(bad.length === 0, `commands ${bad.map((m) => m.command).join(', ')} carried fds`);
      },
    },
    {
      id: 'client.limits-exit',
      title: 'the client works within small limits (exits 0)',
      spec: { section: 'VFIO_USER_VERSION', practice: 'notes §4' },
      async run(runs) {
        expectThat(runs.limits.exitCode === 0, `${ended(runs.limits)}: ${runs.limits.output.slice(-300)}`);
      },
    },
    {
      id: 'client.delayed-replies',
      title: 'replies delayed by 150 ms are waited for (no timeout below QEMU’s 5 s)',
      spec: { section: 'Request Retry and Response Timeout' },
      async run(runs) {
        expectThat(runs.delay.exitCode === 0, `${ended(runs.delay)}: ${runs.delay.output.slice(-300)}`);
      },
    },
    {
      id: 'client.error-reply-handled',
      title: 'an error reply ends in a clean exit (status 0 or 1), not a crash or a hang',
      spec: { section: 'Header', practice: 'notes §17' },
      async run(runs) {
        const r = runs['error-reply'];
        expectThat(!r.timedOut && r.signal === null && (r.exitCode === 0 || r.exitCode === 1), ended(r));
        return ended(r);
      },
    },
    {
      id: 'client.malformed-reply-handled',
      title: 'a DEVICE_GET_INFO reply cut to 8 bytes is refused cleanly (non-zero exit, no crash or hang)',
      spec: { section: 'VFIO_USER_DEVICE_GET_INFO', practice: 'notes §6' },
      async run(runs) {
        const r = runs.malformed;
        expectThat(!r.timedOut && r.signal === null && r.exitCode !== 0, ended(r));
        return ended(r);
      },
    },
  ];
}

/** Runs every scenario with the client command, then the checks. */
export async function runClientSuite(
  argv: readonly string[],
  expected: ReadonlyMap<string, string> = new Map(),
): Promise<CheckResult[]> {
  const runs = {} as ClientRuns;
  for (const [name, scenario] of Object.entries(SCENARIOS))
    runs[name as ScenarioName] = await runClientScenario(argv, scenario);
  return runChecks(clientChecks(), runs, expected);
}
