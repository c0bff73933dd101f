/** The server suite: every check, in the order they run, and a runner. */
import { type CheckResult, runChecks } from './check';
import { accessChecks } from './checks/access';
import { dmaChecks, irqSetChecks, resetFeatureChecks } from './checks/dma-irq';
import { handshakeChecks } from './checks/handshake';
import { infoChecks } from './checks/info';
import { type ServerCheck, ServerContext, type ServerRunOptions } from './server-context';

/** Every server check. Their number does not depend on the device: checks that do not apply skip. */
export function serverChecks(): ServerCheck[] {
  return [
    ...handshakeChecks(),
    ...infoChecks(),
    ...accessChecks(),
    ...dmaChecks(),
    ...irqSetChecks(),
    ...resetFeatureChecks(),
  ];
}

/** Options of {@link runServerSuite}. */
export interface ServerSuiteOptions extends ServerRunOptions {
  /** Known divergences, by check id, with their reasons. */
  expected?: ReadonlyMap<string, string>;
  /** Only checks whose id starts with one of these. */
  only?: readonly string[];
  onResult?: (r: CheckResult, index: number, total: number) => void;
}

/** Runs the server suite against the server listening at `socketPath`. */
export async function runServerSuite(
  socketPath: string,
  options: ServerSuiteOptions = {},
): Promise<CheckResult[]> {
  const ctx = new ServerContext(socketPath, options);
  try {
    await ctx.discover();
    const checks = serverChecks().filter(
      (c) => options.only === undefined || options.only.some((p) => c.id.startsWith(p)),
    );
    return await runChecks(checks, ctx, options.expected ?? new Map(), (r, i) =>
      options.onResult?.(r, i, checks.length),
    );
  } finally {
    await ctx.close();
  }
}
