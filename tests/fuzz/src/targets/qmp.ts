/**
 * vfu-server's QMP monitor: JSON text sent over its UNIX socket to a running ServerApp with two
 * endpoints. Strings that could reach outside the run's temporary directory (paths, file and
 * socket chardevs, stdio) are defanged first. Invariants: the greeting comes first; each JSON
 * item gets exactly one reply, in order, a `return` or an `error` with class and description,
 * echoing the item's `id`; nothing hangs; afterwards the monitor still answers, and the app's
 * endpoints still serve.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { isDeepStrictEqual } from 'node:util';
import { registerZooDevices } from '@vfu/devices';
import { DeviceTree, DeviceTypeRegistry } from '@vfu/pci';
import { leakedFds, ownFds } from '@vfu/test-utils';
import { ServerApp } from '../../../../apps/server/src/app';
import { emptyConfig } from '../../../../apps/server/src/config';
import { createLogger } from '../../../../apps/server/src/logger';
import { JsonStreamSplitter } from '../../../../apps/server/src/monitor/json-stream';
import { QmpMonitor } from '../../../../apps/server/src/monitor/monitor-server';
import { planServer } from '../../../../apps/server/src/plan';
import { Finding, type FuzzTarget } from '../engine/target';
import { HEAP_GROWTH_LIMIT, liveHeapBytes } from '../heap';
import { type JsonVocabulary, mutateJsonValue } from '../json-mutate';

const SETTLE_MS = 3000;
/** Runs between rebuilding the app, so devices the inputs add do not pile up. */
const REBUILD_EVERY = 100;

const VOCABULARY: JsonVocabulary = {
  keys: [
    'execute',
    'arguments',
    'id',
    'driver',
    'bus',
    'socket',
    'qom-type',
    'command-line',
    'value',
    'mask',
    'enable',
    'chardev',
    'dma_mask',
    'inputs',
    'addr',
    'node-name',
    'size',
    'drive',
    'serial',
    'read-zeroes',
  ],
  strings: [
    'qmp_capabilities',
    'query-commands',
    'query-version',
    'query-status',
    'device_add',
    'device_del',
    'object-add',
    'object-del',
    'query-devices',
    'query-vfio-user-servers',
    'query-pci',
    'human-monitor-command',
    'gpio-set-inputs',
    'info mtree',
    'info mtree -f s0',
    'info qtree',
    'blockdev-add',
    'blockdev-del',
    'query-block',
    'null-co',
    'nvme',
    'd0',
    'info pci',
    'vfio-user-server',
    'edu',
    'pci-testdev',
    'pci-serial',
    'pci-idio-16',
    's0',
    's1',
    'gpio0',
    'e0',
    'x.sock',
    'memory',
    'null',
    '',
    'oob',
  ],
};

/**
 * Rewrites what could reach outside the run's temp dir: `/`, file and socket chardevs, stdio, the
 * file and nbd block drivers (only null-co stays), and `\u` escapes that could spell any of them.
 */
function defang(text: string): string {
  return text.replace(/\//g, '_').replace(/file|nbd|socket:|stdio|\\u/gi, (m) => `${m.slice(0, -1)}_`);
}

interface Monitor {
  app: ServerApp;
  monitor: QmpMonitor;
  dir: string;
  baseline: ReadonlyMap<number, string>;
}

async function startMonitor(): Promise<Monitor> {
  const dir = mkdtempSync(`${tmpdir()}/vfu-fuzz-qmp-`);
  const registry = new DeviceTypeRegistry();
  registerZooDevices(registry);
  const logger = createLogger('error', { write: () => {} });
  const app = new ServerApp({
    tree: new DeviceTree({ registry }),
    logger,
    announce: { write: () => {} },
    trace: undefined,
    cwd: dir,
    version: '0.0.0',
    onQuit: () => {},
  });
  const config = emptyConfig();
  config.devices = [
    { driver: 'edu', id: 'e0', socket: `${dir}/e0.sock`, props: {}, source: 'fuzz' },
    { driver: 'pci-idio-16', id: 'gpio0', socket: `${dir}/g0.sock`, props: {}, source: 'fuzz' },
  ];
  await app.apply(planServer(config, { registry, cwd: dir }));
  const monitor = new QmpMonitor({ socketPath: `${dir}/qmp.sock`, backend: app, logger });
  await monitor.start();
  return { app, monitor, dir, baseline: new Map() };
}

async function stopMonitor(m: Monitor): Promise<void> {
  await m.monitor.close();
  await m.app.close();
  rmSync(m.dir, { recursive: true, force: true });
}

/** One monitor connection: lines in, parsed objects out. */
class QmpConnection {
  readonly socket: Socket;
  readonly replies: Record<string, unknown>[] = [];
  closed = false;
  #text = '';
  #waiters: (() => void)[] = [];

  constructor(path: string) {
    this.socket = createConnection(path);
    this.socket.setEncoding('utf8');
    this.socket.on('data', (chunk: string) => {
      this.#text += chunk;
      let nl = this.#text.indexOf('\n');
      while (nl >= 0) {
        const line = this.#text.slice(0, nl).trim();
        this.#text = this.#text.slice(nl + 1);
        if (line !== '') {
          let v: unknown;
          try {
            v = JSON.parse(line);
          } catch {
            v = { unparsable: line };
          }
          this.replies.push(v as Record<string, unknown>);
        }
        nl = this.#text.indexOf('\n');
      }
      this.#wake();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  /** Waits until `n` non-event messages arrived (or close, or the deadline). */
  async waitFor(n: number, deadline: number): Promise<Record<string, unknown>[]> {
    for (;;) {
      const answers = this.replies.filter((r) => !('event' in r));
      if (answers.length >= n || this.closed || Date.now() >= deadline) return answers;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

function checkReply(
  reply: Record<string, unknown>,
  item: { kind: 'value'; value: unknown } | { kind: 'error' },
  i: number,
): void {
  const where = `reply ${i} (${JSON.stringify(reply).slice(0, 200)})`;
  const hasReturn = 'return' in reply;
  const error = reply.error as { class?: unknown; desc?: unknown } | undefined;
  if (hasReturn === (error !== undefined)) throw new Finding(`${where}: not exactly one of return and error`);
  if (error !== undefined && (typeof error.class !== 'string' || typeof error.desc !== 'string')) {
    throw new Finding(`${where}: an error without class and desc strings`);
  }
  if (item.kind === 'value' && typeof item.value === 'object' && item.value !== null && 'id' in item.value) {
    const id = (item.value as { id: unknown }).id;
    if (!isDeepStrictEqual(reply.id, id)) throw new Finding(`${where}: id ${JSON.stringify(id)} not echoed`);
  }
}

export function qmpTarget(): FuzzTarget {
  let m: Monitor | undefined;
  let runs = 0;
  let heapBaseline = 0;
  const rebuild = async () => {
    if (m !== undefined) await stopMonitor(m);
    m = await startMonitor();
    m.baseline = ownFds();
  };
  const text = (...items: unknown[]) =>
    new TextEncoder().encode(items.map((i) => JSON.stringify(i)).join('\n'));
  const caps = { execute: 'qmp_capabilities' };
  return {
    name: 'qmp',
    description: 'QMP monitor over its socket: one well-formed reply per item, id echoed, still answering',
    scope: [
      '/apps/server/src/',
      '/packages/pci/src/',
      '/packages/devices/src/',
      '/packages/memory/src/',
      '/packages/server/src/',
    ],
    maxLen: 2048,
    stateless: false,
    seeds: () => [
      text(
        caps,
        { execute: 'query-pci', id: 1 },
        { execute: 'query-devices' },
        { execute: 'query-vfio-user-servers' },
      ),
      text(
        caps,
        { execute: 'human-monitor-command', arguments: { 'command-line': 'info mtree' } },
        { execute: 'human-monitor-command', arguments: { 'command-line': 'info qtree' } },
      ),
      text(
        caps,
        {
          execute: 'object-add',
          arguments: { 'qom-type': 'vfio-user-server', id: 'hot', socket: 'hot.sock' },
        },
        { execute: 'device_add', arguments: { driver: 'pci-testdev', id: 'td1', bus: 'hot' } },
        { execute: 'device_del', arguments: { id: 'td1' } },
        { execute: 'object-del', arguments: { id: 'hot' } },
      ),
      text(
        caps,
        { execute: 'blockdev-add', arguments: { driver: 'null-co', 'node-name': 'd0', size: 1 << 20 } },
        {
          execute: 'device_add',
          arguments: { driver: 'nvme', id: 'n0', socket: 'n0.sock', drive: 'd0', serial: 's' },
        },
        { execute: 'query-block' },
        { execute: 'device_del', arguments: { id: 'n0' } },
        { execute: 'blockdev-del', arguments: { 'node-name': 'd0' } },
      ),
      text(
        caps,
        {
          execute: 'device_add',
          arguments: { driver: 'edu', id: 'edu2', socket: 'edu2.sock', dma_mask: 0xffffffff },
        },
        { execute: 'device_del', arguments: { id: 'edu2' } },
      ),
      text(
        caps,
        { execute: 'gpio-set-inputs', arguments: { id: 'gpio0', value: 0x8000, mask: 0x8001 }, id: 'g' },
        { execute: 'query-status' },
        { execute: 'query-commands' },
        { execute: 'query-version' },
      ),
      new TextEncoder().encode('{"execute": 42, "id": "raw"}\n[1]\n{"execute": "query-status"'),
    ],
    async setup() {
      await rebuild();
      heapBaseline = liveHeapBytes();
    },
    async run(input) {
      if (++runs % REBUILD_EVERY === 0) await rebuild();
      const mon = m as Monitor;
      const sent = defang(new TextDecoder().decode(input));
      const reference = new JsonStreamSplitter();
      const items = reference.push(sent);
      const conn = new QmpConnection(mon.monitor.socketPath);
      try {
        const deadline = Date.now() + SETTLE_MS;
        conn.socket.write(sent);
        // Then one more command, if the text ended between items, to see the monitor still answers.
        const probe = !reference.pending;
        if (probe) conn.socket.write('\n{"execute":"query-status","id":"probe"}\n');
        const expected = 1 + items.length + (probe ? 1 : 0);
        const answers = await conn.waitFor(expected, deadline);
        if (answers.length < expected && !conn.closed) {
          throw new Finding(`${answers.length - 1} replies to ${expected - 1} items within ${SETTLE_MS} ms`);
        }
        if (conn.closed && answers.length < expected) throw new Finding('the monitor closed the connection');
        if (answers.length > expected)
          throw new Finding(`${answers.length - 1} replies to ${expected - 1} items`);
        const greeting = answers[0] as Record<string, unknown>;
        if (!('QMP' in greeting))
          throw new Finding(`no greeting first: ${JSON.stringify(greeting).slice(0, 200)}`);
        for (const [i, item] of items.entries()) {
          checkReply(answers[i + 1] as Record<string, unknown>, item, i);
        }
        if (probe && (answers[expected - 1] as { id?: unknown }).id !== 'probe')
          throw new Finding('the probe got no reply of its own');
      } finally {
        await conn.close();
      }
    },
    async check() {
      const mon = m as Monitor;
      // Endpoints the inputs add and remove come and go with their listening sockets; nothing
      // else (eventfds, memfds) may stay behind.
      const leaked = leakedFds(mon.baseline).filter(([, t]) => !t.startsWith('socket:'));
      if (leaked.length > 0) {
        throw new Finding(`fds leaked: ${leaked.map(([fd, t]) => `${fd} -> ${t}`).join(', ')}`);
      }
      const heap = liveHeapBytes();
      if (heap - heapBaseline > HEAP_GROWTH_LIMIT) {
        throw new Finding(`live heap grew from ${heapBaseline} to ${heap} bytes over the monitor sessions`);
      }
    },
    mutate(input, ctx) {
      if (ctx.rng.oneIn(4)) return undefined;
      // Mutate one JSON item of the text, keep the rest.
      const lines = new TextDecoder().decode(input).split('\n');
      const i = ctx.rng.below(lines.length);
      let value: unknown;
      try {
        value = JSON.parse(lines[i] as string);
      } catch {
        return undefined;
      }
      lines[i] = JSON.stringify(mutateJsonValue(value, ctx.rng, VOCABULARY)) ?? 'null';
      if (ctx.rng.oneIn(8)) lines.splice(ctx.rng.below(lines.length + 1), 0, lines[i] as string);
      return new TextEncoder().encode(lines.join('\n'));
    },
    async teardown() {
      if (m !== undefined) await stopMonitor(m);
      m = undefined;
    },
  };
}
