/**
 * The harness itself, with no vfio-user server: a guest boots, runs lspci, reports; and every way a
 * run can go wrong is reported as such, with QEMU gone afterwards.
 */
import { readFileSync } from 'node:fs';
import { makeTempDir } from '@vfu/test-utils';
import { describe, expect, onTestFinished, test } from 'vitest';
import {
  assertGuestPassed,
  check,
  expectLspci,
  findDevice,
  formatGuestReport,
  guestScript,
  guestValue,
  isInteropError,
  reportCommand,
  resolveInteropCache,
  runGuest,
} from '../src/index';

function qemuGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('guest boot (no vfio-user device)', () => {
  test('the guest enumerates q35 with the real lspci and reports its kernel', async () => {
    const cache = resolveInteropCache();
    const result = await runGuest({
      name: 'plain',
      cache,
      script: guestScript(
        findDevice('host', '8086:29c0'),
        expectLspci(
          'lspci-host-bridge',
          'host',
          'Host bridge [0600]: Intel Corporation 82G33/G31/P35/P31 Express DRAM Controller [8086:29c0]',
        ),
        check('pci-ids-present', 'test -s /usr/share/misc/pci.ids'),
        check('lspci-vv-no-kmod-warning', '! lspci -vv 2>&1 | grep -q "Unable to load libkmod"'),
        reportCommand('uname', 'uname -r'),
      ),
    });
    assertGuestPassed(result);
    expect(result.checks.map((c) => c.name)).toEqual([
      'found-host',
      'lspci-host-bridge',
      'pci-ids-present',
      'lspci-vv-no-kmod-warning',
    ]);
    expect(guestValue(result, 'uname')).toBe(`${cache.kernelRelease}|`);
    expect(guestValue(result, 'bdf.host')).toBe('0000:00:00.0');
    // QEMU's mounts lived in its own namespace; none leaked into ours.
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(cache.rootfs);
    expect(qemuGone(result.qemuPid)).toBe(true);
  });

  test('a failed check fails the run, and the report names it with what was seen', async () => {
    const result = await runGuest({
      name: 'failing',
      script: guestScript(
        findDevice('host', '8086:29c0'),
        expectLspci('wrong-vendor', 'host', '[dead:beef]'),
      ),
    });
    expect(result.status).toBe('failed');
    expect(result.rc).toBe(1);
    const error = (() => {
      try {
        assertGuestPassed(result, [{ name: 'fake-server', log: () => 'server line 1\nserver line 2' }]);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(isInteropError(error) && error.code).toBe('guest-failed');
    const report = formatGuestReport(result, [{ name: 'fake-server', log: () => 'server line 2' }]);
    expect(report).toContain("wrong-vendor: '[dead:beef]' not in:");
    expect(report).toContain('--- server fake-server log');
    expect(report).toContain('server line 2');
  });

  test('a guest that hangs is killed at the time limit', async () => {
    const result = await runGuest({
      name: 'hanging',
      // Long enough for a TCG boot to reach the script on a loaded 2-core machine (about 5 s idle).
      timeoutMs: 25_000,
      script: guestScript('vfu_mark sleeping', 'sleep 600'),
    });
    expect(result.status).toBe('timeout');
    expect(result.console).toContain('@@vfu-interop mark sleeping');
    expect(qemuGone(result.qemuPid)).toBe(true);
  });

  test('QEMU refusing to start (no server on the socket) is a no-result run with its stderr', async () => {
    const dir = makeTempDir('vfu-nos-');
    onTestFinished(() => dir.remove());
    const result = await runGuest({
      name: 'no-server',
      devices: [{ socketPath: dir.join('absent.sock') }],
      script: guestScript(),
    });
    expect(result.status).toBe('no-result');
    expect(result.initSeen).toBe(false);
    expect(formatGuestReport(result)).toContain('never reached its /init');
    expect(result.qemuStderr).toMatch(/vfio-user|absent\.sock|No such file/);
  });

  test('a throwing host hook fails the run and stops the guest', async () => {
    const result = await runGuest({
      name: 'hook',
      script: guestScript('vfu_mark now', 'sleep 600'),
      timeoutMs: 60_000,
      onEvent: (event) => {
        if (event.kind === 'mark') throw new Error('host side gave up');
      },
    });
    expect(result.status).toBe('hook-failed');
    expect(formatGuestReport(result)).toContain('host side gave up');
  });
});
