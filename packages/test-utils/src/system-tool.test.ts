import { describe, expect, it } from 'vitest';
import { LSPCI, systemToolCommand, systemToolSkipReason } from './system-tool';

const node = { name: process.execPath, envVar: 'VFU_TEST_TOOL', debianPackage: 'nodejs' };

describe('system tools a suite needs', () => {
  it('runs when the tool is there', () => {
    expect(systemToolSkipReason(node, {}, () => {})).toBeUndefined();
  });

  it('names the binary from its environment variable', () => {
    expect(systemToolCommand(LSPCI, {})).toBe('lspci');
    expect(systemToolCommand(LSPCI, { VFU_LSPCI: '/opt/pciutils/bin/lspci' })).toBe(
      '/opt/pciutils/bin/lspci',
    );
  });

  it('outside CI: skips with one line naming the Debian package', () => {
    const lines: string[] = [];
    const reason = systemToolSkipReason(LSPCI, { VFU_LSPCI: 'vfu-no-such-lspci' }, (l) => lines.push(l));
    expect(reason).toMatch(/vfu-no-such-lspci not found: install the Debian package pciutils/);
    expect(lines).toEqual([`skipped: ${reason}`]);
  });

  it('under CI: a missing tool is an error', () => {
    const lines: string[] = [];
    expect(() =>
      systemToolSkipReason(LSPCI, { VFU_LSPCI: 'vfu-no-such-lspci', CI: 'true' }, (l) => lines.push(l)),
    ).toThrow(
      /vfu-no-such-lspci not found: install the Debian package pciutils.*CI runs the suites that need it/,
    );
    expect(lines).toEqual([]);
  });
});
