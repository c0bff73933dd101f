import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceTree, DeviceTypeRegistry } from '@vfu/pci';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ServerApp } from './app';
import { parseCommandLine } from './args';
import { CAPS, effectiveCaps, resolveCaps } from './caps';
import { parseConfigFile } from './config-file';
import { createLogger } from './logger';
import { planServer } from './plan';

function runConfig(argv: string[]) {
  const cmd = parseCommandLine(argv);
  if (cmd.kind !== 'run') throw new Error('expected a run');
  return cmd.config;
}

describe('resource caps', () => {
  it('--cap takes kebab-case or camelCase names, last one wins, and reaches each library', () => {
    const config = runConfig([
      '--cap',
      'max-pending-connections=3',
      '--cap=maxMonitorClients=2',
      '--cap',
      'max-dma-maps=100',
      '--cap',
      'max-pending-connections=4',
      '--cap',
      'max-pending-connections-total=9',
    ]);
    expect(config.caps).toEqual({
      maxPendingConnections: 4,
      maxMonitorClients: 2,
      maxDmaMaps: 100,
      maxPendingConnectionsTotal: 9,
    });
    const r = resolveCaps(config.caps);
    expect(r.connection).toEqual({ maxPendingConnections: 4 });
    expect(r.limits).toEqual({ maxDmaMaps: 100 });
    expect(r.monitor).toEqual({ maxClients: 2 });
    expect(r.maxPendingConnectionsTotal).toBe(9);
    expect(effectiveCaps(config.caps)).toMatchObject({ maxPendingConnections: 4, maxMsgFds: 8 });
    expect(Object.keys(effectiveCaps({}))).toEqual(CAPS.map((c) => c.name));
  });

  it('bad --cap values are usage errors naming the cap and its range', () => {
    expect(() => runConfig(['--cap', 'max-dma-maps=0'])).toThrow(
      /cap maxDmaMaps must be an integer from 1 to 65535, got "0"/,
    );
    expect(() => runConfig(['--cap', 'nonsense=1'])).toThrow(
      /unknown cap 'nonsense' \(known: maxPendingConnections/,
    );
    expect(() => runConfig(['--cap', 'max-dma-maps'])).toThrow(/expected NAME=VALUE/);
  });

  it('the config file takes a caps object, checked by JSON path', () => {
    const config = parseConfigFile(
      '{"caps": {"maxQueuedReplyBytes": 1048576, "max-msg-fds": 4}}',
      'c.json',
      '/',
    );
    expect(config.caps).toEqual({ maxQueuedReplyBytes: 1048576, maxMsgFds: 4 });
    expect(() => parseConfigFile('{"caps": {"maxMsgFds": 5000}}', 'c.json', '/')).toThrow(
      /c\.json: \$\.caps\.maxMsgFds: cap maxMsgFds must be an integer from 0 to 1024/,
    );
    expect(() => parseConfigFile('{"caps": 3}', 'c.json', '/')).toThrow(/\$\.caps: expected an object/);
  });

  it('query-vfio-user-servers shows the effective caps and the usage of each endpoint', async () => {
    const registry = new DeviceTypeRegistry();
    const dir = mkdtempSync(join(tmpdir(), 'vfu-caps-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const app = new ServerApp({
      tree: new DeviceTree({ registry }),
      logger: createLogger('error', { write: () => {} }),
      announce: { write: () => {} },
      trace: undefined,
      caps: { maxPendingConnections: 2 },
      cwd: dir,
      version: '0.0.0',
      onQuit: () => {},
    });
    onTestFinished(() => app.close());
    const config = runConfig(['-object', `vfio-user-server,id=s0,socket=${join(dir, 's0.sock')}`]);
    await app.apply(planServer(config, { registry, cwd: dir }));
    const servers = app.queryEndpoints() as { caps: Record<string, number>; usage: Record<string, number> }[];
    expect(servers).toHaveLength(1);
    expect(servers[0]?.caps).toMatchObject({ maxPendingConnections: 2, maxDmaMaps: 65535 });
    expect(servers[0]?.usage).toEqual({
      dmaRegions: 0,
      dmaBytesMapped: 0,
      pendingConnections: 0,
      pendingConnectionsTotal: 0,
      refusedConnections: 0,
    });
  });
});
