import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../logger';
import type { MonitorBackend } from './commands';
import { type MonitorLimits, QmpMonitor } from './monitor-server';

const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function mode(path: string): number | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false });
  return st === undefined ? undefined : st.mode & 0o777;
}

describe('QmpMonitor socket', () => {
  it('is reachable by nobody but the owner from the moment it accepts connections', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vfu-qmp-'));
    dirs.push(dir);
    const path = join(dir, 'qmp.sock');
    const seen: {
      target: number | undefined;
      bound: string;
      boundMode: number | undefined;
      dirMode: number | undefined;
    }[] = [];
    const listen = Server.prototype.listen;
    // Node binds and listens synchronously inside listen(): what exists right after it is what a
    // connecting process could reach.
    vi.spyOn(Server.prototype, 'listen').mockImplementation(function (this: Server, ...args: unknown[]) {
      const result = (listen as (...a: unknown[]) => Server).apply(this, args);
      const bound = String(args[0]);
      seen.push({ target: mode(path), bound, boundMode: mode(bound), dirMode: mode(dirname(bound)) });
      return result;
    });
    const monitor = new QmpMonitor({
      socketPath: path,
      backend: { version: '0.0.0' } as MonitorBackend,
      logger: createLogger('error', { write: () => {} }),
    });
    await monitor.start();
    try {
      expect(seen).toHaveLength(1);
      const [at] = seen;
      // The public path does not exist yet, or exists as 0600; a private bind path sits in a
      // directory only the owner can enter.
      expect([undefined, 0o600]).toContain(at?.target);
      if (at?.bound !== path) expect(at?.dirMode).toBe(0o700);
      expect(mode(path)).toBe(0o600);
      expect(lstatSync(path).isSocket()).toBe(true);
    } finally {
      await monitor.close();
    }
    expect(mode(path)).toBeUndefined();
  });
});

async function startMonitor(limits: MonitorLimits, lines: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'vfu-qmp-'));
  dirs.push(dir);
  const monitor = new QmpMonitor({
    socketPath: join(dir, 'qmp.sock'),
    backend: { version: '1.2.3' } as MonitorBackend,
    logger: createLogger('warn', { write: (t: string) => lines.push(t) }),
    limits,
  });
  await monitor.start();
  return monitor;
}

function client(path: string): Promise<{ socket: Socket; greeting: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      const greeting = new Promise<string>((res) => {
        let text = '';
        const onData = (b: Buffer) => {
          text += b.toString();
          if (text.includes('\n')) {
            socket.off('data', onData);
            socket.pause();
            res(text);
          }
        };
        socket.on('data', onData);
        socket.once('close', () => res(text));
      });
      resolve({ socket, greeting });
    });
  });
}

describe('QmpMonitor caps', () => {
  it('disconnects a client whose unread replies pass the cap, and keeps serving others', async () => {
    const lines: string[] = [];
    const monitor = await startMonitor({ maxBufferedReplyBytes: 64 * 1024 }, lines);
    try {
      const hostile = await client(monitor.socketPath);
      await hostile.greeting;
      // Many queries, replies never read: the kernel buffers fill, then the monitor's.
      const query = '{"execute":"query-version"}\n';
      hostile.socket.write(`{"execute":"qmp_capabilities"}\n${query.repeat(40_000)}`);
      await vi.waitFor(() => expect(monitor.clients).toBe(0), { timeout: 20_000, interval: 20 });
      expect(lines.join('')).toMatch(/monitor client disconnected: it does not read its replies/);
      const other = await client(monitor.socketPath);
      expect(await other.greeting).toMatch(/"QMP"/);
      other.socket.destroy();
      hostile.socket.destroy();
    } finally {
      await monitor.close();
    }
  });

  it('closes clients past maxClients at once, with one warning', async () => {
    const lines: string[] = [];
    const monitor = await startMonitor({ maxClients: 2 }, lines);
    try {
      const a = await client(monitor.socketPath);
      const b = await client(monitor.socketPath);
      expect(await a.greeting).toMatch(/"QMP"/);
      expect(await b.greeting).toMatch(/"QMP"/);
      const refused = await Promise.all([1, 2, 3].map(() => client(monitor.socketPath)));
      for (const r of refused) expect(await r.greeting).toBe('');
      expect(lines.filter((l) => l.includes('too many clients'))).toHaveLength(1);
      expect(monitor.clients).toBe(2);
      for (const c of [a, b, ...refused]) c.socket.destroy();
    } finally {
      await monitor.close();
    }
  });

  it('answers a command longer than maxLineBytes with an error and carries on', async () => {
    const monitor = await startMonitor({ maxLineBytes: 100 });
    try {
      const c = await client(monitor.socketPath);
      await c.greeting;
      let text = '';
      c.socket.on('data', (b: Buffer) => {
        text += b.toString();
      });
      c.socket.resume();
      c.socket.write(
        `{"execute":"qmp_capabilities","arguments":{"x":"${'y'.repeat(200)}"}}\n{"execute":"query-version","id":7}\n`,
      );
      await vi.waitFor(() => expect(text).toMatch(/"id":7/), { timeout: 5000 });
      expect(text).toMatch(/message longer than 100 bytes/);
      c.socket.destroy();
    } finally {
      await monitor.close();
    }
  });

  it('rejects a limit that is not a positive integer', () => {
    expect(
      () =>
        new QmpMonitor({
          socketPath: '/nonexistent/qmp.sock',
          backend: { version: '1' } as MonitorBackend,
          logger: createLogger('error', { write: () => {} }),
          limits: { maxClients: 0 },
        }),
    ).toThrow(/maxClients must be a positive integer/);
  });
});
