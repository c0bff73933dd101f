/**
 * The server suite against vfu-server (built, in another process): every zoo device, with fds and
 * without, passes every check except the divergences listed in expect/vfu-server.txt; the CLI
 * exits non-zero when a check fails and writes TAP and JUnit.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  makeTempDir,
  referenceServerAvailable,
  referenceServerSkipReason,
  startReferenceServer,
} from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { main, parseExpectFile, runServerSuite, serverChecks, summarize } from '../src/index';

const available = referenceServerAvailable();
if (!available) {
  if (process.env.CI) throw new Error(referenceServerSkipReason());
  console.warn(`server suite e2e skipped: ${referenceServerSkipReason()}`);
}

const EXPECT_FILE = fileURLToPath(new URL('../expect/vfu-server.txt', import.meta.url));
const expected = parseExpectFile(readFileSync(EXPECT_FILE, 'utf8'), EXPECT_FILE);
const ZOO = ['edu,id=edu0', 'pci-testdev,id=td0', 'pci-serial,id=ser0', 'pci-idio-16,id=gpio0'];

function capture() {
  let out = '';
  let err = '';
  return {
    io: { stdout: (t: string) => (out += t), stderr: (t: string) => (err += t) },
    out: () => out,
    err: () => err,
  };
}

it('has at least 150 checks, each with a unique id and a cited spec section', () => {
  const checks = serverChecks();
  expect(checks.length).toBeGreaterThanOrEqual(150);
  expect(new Set(checks.map((c) => c.id)).size).toBe(checks.length);
  for (const c of checks)
    expect(c.spec.section, c.id).toMatch(
      /^(VFIO_USER_[A-Z_]+|Header|Connection Initiation|Command Concurrency|Socket Disconnection Behavior)$/,
    );
  for (const id of expected.keys()) expect(checks.map((c) => c.id)).toContain(id);
});

describe.skipIf(!available)('against vfu-server', () => {
  it('every zoo device, with fds and without, passes all but the listed divergences', async () => {
    const server = await startReferenceServer(ZOO, { cleanup: onTestFinished });
    for (const id of ['edu0', 'td0', 'ser0', 'gpio0']) {
      for (const fds of [true, false]) {
        const results = await runServerSuite(server.sockets[id] as string, { fds, expected });
        const s = summarize(results);
        const failed = results.filter((r) => r.outcome.status === 'fail' && r.expected === undefined);
        expect(
          failed.map((r) => `${r.id}: ${r.outcome.status === 'fail' ? r.outcome.detail : ''}`),
          `${id} fds=${fds}`,
        ).toEqual([]);
        expect(s.expectedFailures, `${id} fds=${fds}: the listed divergences still occur`).toBe(
          expected.size,
        );
        expect(s.passed).toBeGreaterThan(150);
      }
    }
  });

  it('the CLI exits 1 on a failing check, 0 with the expect file, and writes TAP and JUnit', async () => {
    const server = await startReferenceServer(['pci-testdev,id=td0'], { cleanup: onTestFinished });
    const dir = makeTempDir('vfu-conf-');
    onTestFinished(() => dir.remove());
    const socket = server.sockets.td0 as string;
    const strict = capture();
    expect(await main(['server', socket, '--only', 'disconnect.'], strict.io)).toBe(1);
    expect(strict.out()).toMatch(/FAIL {2}disconnect\.device-state-kept/);
    const junit = dir.join('results.xml');
    const tap = capture();
    expect(await main(['server', socket, '--tap', '--expect', EXPECT_FILE, '--junit', junit], tap.io)).toBe(
      0,
    );
    const plan = /^1\.\.(\d+)$/m.exec(tap.out());
    expect(Number(plan?.[1])).toBe(serverChecks().length);
    expect(tap.out()).toMatch(
      /^not ok \d+ - disconnect\.device-state-kept: .* # TODO vfu-server warm-resets/m,
    );
    expect(tap.out()).not.toMatch(/^not ok \d+ - [^#]*$/m);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(new RegExp(`<testsuite name="[^"]*" tests="${serverChecks().length}" failures="0"`));
  });

  it('a bad expect file line is a usage error', async () => {
    const dir = makeTempDir('vfu-conf-');
    onTestFinished(() => dir.remove());
    const file = dir.join('bad.txt');
    (await import('node:fs')).writeFileSync(file, 'version.reply-caps-subset\n');
    const run = capture();
    expect(await main(['server', '/nonexistent.sock', '--expect', file], run.io)).toBe(2);
    expect(run.err()).toMatch(/bad\.txt:1: expected 'CHECK-ID: reason'/);
  });
});
