/** The client suite against vfu-client (built, run as a process once per scenario). */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { clientChecks, main, runClientSuite, summarize } from '../src/index';

const CLIENT = fileURLToPath(new URL('../../../apps/client/dist/cli.js', import.meta.url));
const built = existsSync(CLIENT);
if (!built) {
  const why = `vfu-client not built: ${CLIENT} is missing (run \`corepack pnpm --filter @vfu/client-app build\`)`;
  if (process.env.CI) throw new Error(why);
  console.warn(`client suite e2e skipped: ${why}`);
}

it.skipIf(!built)(
  'vfu-client info passes every client check',
  async () => {
    const results = await runClientSuite([process.execPath, CLIENT, 'info', '{socket}']);
    const failed = results.filter((r) => r.outcome.status === 'fail');
    expect(failed.map((r) => `${r.id}: ${r.outcome.status === 'fail' ? r.outcome.detail : ''}`)).toEqual([]);
    expect(summarize(results).passed).toBe(clientChecks().length);
  },
  120_000,
);

it('a client that does nothing fails the suite, and the CLI says so with exit status 1', async () => {
  let out = '';
  const status = await main(['client', '--', process.execPath, '-e', 'process.exit(0)', '{socket}'], {
    stdout: (t) => (out += t),
    stderr: () => {},
  });
  expect(status).toBe(1);
  expect(out).toMatch(/FAIL {2}client\.version-first/);
}, 120_000);
