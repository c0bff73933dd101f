import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  commandAvailable,
  makeTempDir,
  referenceServerAvailable,
  referenceServerSkipReason,
  startReferenceServer,
} from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type AppIo, main } from '../src/index';

const serverAvailable = referenceServerAvailable();

/** vfu-server serving `devices`, stopped (and its sockets removed) when the test finishes. */
const startServer = (devices: readonly string[]) =>
  startReferenceServer(devices, { cleanup: onTestFinished });

function capture(stdin?: AsyncIterable<string>) {
  let out = '';
  let err = '';
  const io: AppIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    ...(stdin === undefined ? {} : { stdin }),
  };
  return { io, out: () => out, err: () => err };
}

async function run(argv: string[], stdin?: AsyncIterable<string>) {
  const c = capture(stdin);
  const status = await main(argv, c.io);
  return { status, out: c.out(), err: c.err() };
}

if (!serverAvailable) console.warn(`vfu-client e2e skipped: ${referenceServerSkipReason()}`);

describe.skipIf(!serverAvailable)('vfu-client against vfu-server', () => {
  it('info prints an lspci -vv-like description and the vfio-user view', async () => {
    const { sockets } = await startServer(['edu,id=edu0']);
    const r = await run(['info', sockets.edu0 as string]);
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('00:00.0 Unclassified device [00ff]: Device [1234:11e8] (rev 10)');
    expect(r.out).toContain(
      '\tRegion 0: Memory at <unassigned> (32-bit, non-prefetchable) [disabled] [size=1M]\n',
    );
    expect(r.out).toContain('\tCapabilities: [40] MSI: Enable- Count=1/1 Maskable- 64bit+\n');
    expect(r.out).toContain('\tvfio region 0 (BAR0): size=1M flags=READ|WRITE\n');
    expect(r.out).toContain('Guest RAM: 16M memfd at DMA address 0x0 (fd passed)');
  });

  it('info --assign shows the device as firmware leaves it', async () => {
    const { sockets } = await startServer(['pci-testdev,id=t0']);
    const r = await run(['info', sockets.t0 as string, '--assign']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('\tControl: I/O+ Mem+ BusMaster-');
    expect(r.out).toContain('\tRegion 0: Memory at e0000000 (32-bit, non-prefetchable) [size=4K]\n');
    expect(r.out).toContain('\tRegion 1: I/O ports at c000 [size=256]\n');
  });

  it.skipIf(!commandAvailable('lspci'))('info --hex is decoded by the real lspci -F', async () => {
    const { sockets } = await startServer(['pci-serial,id=ser0']);
    const r = await run(['info', sockets.ser0 as string, '--hex', '--assign']);
    expect(r.status).toBe(0);
    const dir = makeTempDir('vfu-client-hex-');
    onTestFinished(() => dir.remove());
    const file = join(dir.path, 'dump');
    writeFileSync(file, r.out);
    const decoded = execFileSync('lspci', ['-F', file, '-nn', '-vv'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    expect(decoded).toMatch(
      /^00:00\.0 Serial controller \[0700\]: .*\[1b36:0002\] \(rev 01\) \(prog-if 02 \[16550\]\)/,
    );
    expect(decoded).toContain('Region 0: I/O ports at c000');
  });

  it('info --json is machine-readable, on the message DMA path too', async () => {
    const { sockets } = await startServer(['pci-idio-16,id=gpio0']);
    const r = await run(['info', sockets.gpio0 as string, '--json', '--no-fds']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.device).toMatchObject({ pci: true, numRegions: 9 });
    expect(report.bars).toEqual([
      expect.objectContaining({ index: 2, kind: 'io', size: '0x100', regionSize: '0x100' }),
    ]);
    expect(report.config.slice(0, 8)).toBe('4f49c80d');
    expect(report.guestRam).toMatchObject({ path: 'message', iova: '0x0' });
  });

  for (const noFds of [false, true]) {
    it(`demo edu runs every step${noFds ? ' without fds' : ''}`, async () => {
      const { sockets } = await startServer(['edu,id=edu0,x-dma-delay-ns=1000000']);
      const r = await run(['demo', 'edu', sockets.edu0 as string, ...(noFds ? ['--no-fds'] : [])]);
      expect(r.err).toBe('');
      expect(r.status).toBe(0);
      expect(r.out).toContain('identification: 0x010000ed (edu version 1.0)');
      expect(r.out).toContain('factorial(10) = 3628800');
      expect(r.out).toMatch(/DMA: 256 bytes .*: identical/);
      expect(r.out).toContain(noFds ? 'MSI: skipped' : 'MSI: 1 vector enabled, vector 0 fired');
    });
  }

  it('demo serial loops a script back', async () => {
    const { sockets } = await startServer(['pci-serial,id=ser0']);
    const r = await run(['demo', 'serial', sockets.ser0 as string, '--script', 'ping 123']);
    expect(r.status).toBe(0);
    expect(r.out).toBe('loopback: sent "ping 123" (8 bytes), received "ping 123"\n');
  });

  it('demo serial --interactive relays stdin to the line and the line to stdout', async () => {
    const dir = makeTempDir('vfu-client-tty-');
    onTestFinished(() => dir.remove());
    const tty = join(dir.path, 'tty.sock');
    const { sockets } = await startServer([`pci-serial,id=ser0,chardev=socket:${tty}`]);
    // The far end of the serial line: answers "pong" once it has seen "ping".
    let line = '';
    const peer: Socket = await new Promise((resolve, reject) => {
      const s = connect(tty, () => resolve(s));
      s.once('error', reject);
    });
    onTestFinished(() => void peer.destroy());
    peer.setEncoding('utf8');
    peer.on('data', (d: string) => {
      line += d;
      if (line.includes('ping\n')) peer.write('pong\n');
    });
    async function* stdin() {
      yield 'ping\n';
      // Keep input open until the answer can arrive.
      await new Promise((r) => setTimeout(r, 300));
    }
    const r = await run(['demo', 'serial', sockets.ser0 as string, '--interactive'], stdin());
    expect(r.status).toBe(0);
    expect(line).toBe('ping\n');
    expect(r.out).toBe('pong\n');
  });

  it('demo gpio walks the outputs and reads the inputs', async () => {
    const { sockets } = await startServer(['pci-idio-16,id=gpio0,inputs=0xa55a']);
    const r = await run(['demo', 'gpio', sockets.gpio0 as string]);
    expect(r.status).toBe(0);
    expect(r.out).toContain('outputs: walked a bit across OUT0-OUT15, each read back');
    expect(r.out).toContain('inputs: IIN0-IIN15 = 0xa55a');
  });

  it('demo testdev runs all six tests', async () => {
    const { sockets } = await startServer(['pci-testdev,id=t0']);
    const r = await run(['demo', 'testdev', sockets.t0 as string]);
    expect(r.status).toBe(0);
    expect(r.out).toContain('BAR0 test 0 mmio-no-eventfd: 1-byte writes of 0xfa at 0x800 -> count 3');
    expect(r.out).toContain('BAR1 test 3 portio-no-eventfd: 1-byte writes of 0xfa at 0x83 -> count 3');
    expect(r.out.trim().split('\n').length).toBe(6);
  });

  it('a demo on the wrong device fails with exit status 1', async () => {
    const { sockets } = await startServer(['pci-testdev,id=t0']);
    const r = await run(['demo', 'edu', sockets.t0 as string]);
    expect(r.status).toBe(1);
    expect(r.err).toContain('vfu-client: demo failed: not an edu device (0x1b36:0x0005)');
  });
});
