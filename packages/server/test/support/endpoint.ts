/** Builds an endpoint with the test device on it, and cleans up after the test. */
import { onTestFinished } from 'vitest';
import { type TraceEvent, VfioUserServer, type VfioUserServerOptions } from '../../src/index';
import { TestClient } from './client';
import { type TestDevice, testTree } from './device';

export interface TestEndpoint {
  server: VfioUserServer;
  device: TestDevice;
  traces: TraceEvent[];
  logs: string[];
}

/** A server `s0` (not listening) with a TestDevice on its bus. */
export function makeEndpoint(opts: Partial<VfioUserServerOptions> = {}): TestEndpoint {
  const tree = opts.tree ?? testTree();
  const traces: TraceEvent[] = [];
  const logs: string[] = [];
  const log = (level: string) => (msg: string) => logs.push(`${level}: ${msg}`);
  const server = new VfioUserServer({
    id: 's0',
    socketPath: `/nonexistent/vfu-${process.pid}.sock`,
    onTrace: (e) => traces.push(e),
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    ...opts,
    tree,
  });
  const device = tree.deviceAdd({ driver: 'vfu-test', id: `${server.id}-dev`, bus: server.id }) as TestDevice;
  onTestFinished(() => server.close());
  return { server, device, traces, logs };
}

/** An endpoint and a negotiated in-process client. */
export async function connected(opts: Partial<VfioUserServerOptions> = {}) {
  const ep = makeEndpoint(opts);
  const client = TestClient.attach(ep.server);
  onTestFinished(() => client.close());
  await client.negotiate();
  return { ...ep, client };
}
