import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  REFERENCE_SERVER_SCRIPT,
  referenceServerAvailable,
  referenceServerDeviceArgs,
  referenceServerSkipReason,
  startReferenceServer,
} from './reference-server';
import { makeTempDir } from './temp-dir';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A stand-in server that prints its working directory and arguments as JSON, then reports ready. */
const STAND_IN = [
  'console.log(JSON.stringify({ cwd: process.cwd(), args: process.argv.slice(2) }));',
  "console.log('vfu-server: ready (stand-in)');",
  'setInterval(() => {}, 1000);',
].join('\n');

describe('referenceServerDeviceArgs', () => {
  it('gives each device a -device argument with its own socket, named after its id', () => {
    const dir = makeTempDir('vfu-args-');
    dir.remove();
    expect(referenceServerDeviceArgs(['edu,id=edu0', 'pci-idio-16,inputs=0xff,id=gpio0'], dir)).toEqual({
      args: [
        '-device',
        `edu,id=edu0,socket=${dir.join('edu0.sock')}`,
        '-device',
        `pci-idio-16,inputs=0xff,id=gpio0,socket=${dir.join('gpio0.sock')}`,
      ],
      sockets: { edu0: dir.join('edu0.sock'), gpio0: dir.join('gpio0.sock') },
    });
  });

  it('rejects a spec without an id and an id given twice', () => {
    const dir = makeTempDir('vfu-args-');
    dir.remove();
    expect(() => referenceServerDeviceArgs(['edu,x-id=1'], dir)).toThrow(
      'device spec needs an id: edu,x-id=1',
    );
    expect(() => referenceServerDeviceArgs(['edu,id=a', 'pci-testdev,id=a'], dir)).toThrow(
      'device id a given twice',
    );
  });
});

describe('the reference server', () => {
  it('is the vfu-server bin of @vfu/server-app (apps/server), built, or from source on request', () => {
    expect(REFERENCE_SERVER_SCRIPT).toBe(join(REPO_ROOT, 'apps', 'server', 'dist', 'cli.js'));
    expect(referenceServerAvailable({})).toBe(existsSync(REFERENCE_SERVER_SCRIPT));
    expect(referenceServerAvailable({ VFU_SERVER_FROM_SOURCE: '1' })).toBe(true);
    expect(referenceServerSkipReason({})).toContain(REFERENCE_SERVER_SCRIPT);
    expect(referenceServerSkipReason({ VFU_SERVER_FROM_SOURCE: '1' })).toContain(
      join(REPO_ROOT, 'apps', 'server', 'src', 'cli.ts'),
    );
  });

  it('starts from the repository root with the device arguments, and is cleaned up', async () => {
    const scriptDir = makeTempDir('vfu-stand-in-');
    onTestFinished(() => scriptDir.remove());
    const script = scriptDir.join('server.js');
    writeFileSync(script, STAND_IN);
    const teardown: (() => Promise<void>)[] = [];
    const server = await startReferenceServer(['edu,id=edu0'], {
      script,
      cleanup: (fn) => teardown.push(fn),
    });
    const printed = JSON.parse(server.process.stdout().split('\n')[0] ?? '') as {
      cwd: string;
      args: string[];
    };
    const socket = server.sockets.edu0 as string;
    expect(printed).toEqual({
      cwd: REPO_ROOT.replace(/\/$/, ''),
      args: ['-device', `edu,id=edu0,socket=${socket}`],
    });
    expect(existsSync(dirname(socket))).toBe(true);

    for (const fn of teardown.reverse()) await fn();
    expect(await server.process.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(existsSync(dirname(socket))).toBe(false);
  });

  it('rejects with the output when the server exits before it is ready', async () => {
    const scriptDir = makeTempDir('vfu-stand-in-');
    onTestFinished(() => scriptDir.remove());
    const script = scriptDir.join('server.js');
    writeFileSync(script, "console.error('vfu-server: bad device'); process.exit(1);");
    const teardown: (() => Promise<void>)[] = [];
    await expect(
      startReferenceServer(['edu,id=edu0'], { script, cleanup: (fn) => teardown.push(fn) }),
    ).rejects.toThrow(/exited \(code 1, signal null\)[\s\S]*bad device/);
    for (const fn of teardown) await fn();
  });
});
