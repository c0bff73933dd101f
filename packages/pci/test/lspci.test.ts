import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryRegion } from '@vfu/memory';
import { LSPCI, makeTempDir, systemToolCommand, systemToolSkipReason } from '@vfu/test-utils';
import { describe, expect, test } from 'vitest';
import { formatLspciDump, regs } from '../src/index';
import { singleDevice } from './helpers';

// Needs lspci (pciutils): skipped with one line naming the package where it is missing, an error
// under CI. VFU_LSPCI names another binary.
const skipReason = systemToolSkipReason(LSPCI);
const LSPCI_COMMAND = systemToolCommand(LSPCI);

function lspci(dump: string, ...args: string[]): string {
  const dir = makeTempDir();
  const file = join(dir.path, 'dump.txt');
  writeFileSync(file, dump);
  try {
    return execFileSync(LSPCI_COMMAND, ['-F', file, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } finally {
    dir.remove();
  }
}

describe.skipIf(skipReason !== undefined)('lspci -F decodes the config-space dump', () => {
  test('header, BARs, ROM and capabilities', () => {
    const { dev } = singleDevice(
      (d) => {
        d.registerBar(0, { kind: 'mem32', region: MemoryRegion.ram('m', 0x1000n) });
        d.registerBar(1, { kind: 'io', region: MemoryRegion.ram('io', 0x20n) });
        d.registerBar(2, { kind: 'mem64', prefetchable: true, region: MemoryRegion.ram('m64', 0x100000n) });
        d.registerRom(MemoryRegion.rom('rom', 0x10000n));
        d.pmInit();
        d.msiInit({ vectors: 4, perVectorMask: true });
        d.pcieInit();
        d.msixInitExclusiveBar(16, 4);
        d.pcieAddDeviceSerialNumber(0x0123456789abcdefn);
      },
      { express: true, vendorId: 0x1b36, deviceId: 0x0005, classCode: 0x00ff00 },
    );
    dev.configWrite(0x10, 0xfebc0000, 4);
    dev.configWrite(0x14, 0xc040, 4);
    dev.configWrite(0x18, 0x0000000c, 4);
    dev.configWrite(0x1c, 0x00000008, 4);
    dev.configWrite(0x20, 0xfebd0000, 4);
    dev.configWrite(regs.PCI_ROM_ADDRESS, 0xfeb00000, 4);
    dev.configWrite(
      regs.PCI_COMMAND,
      regs.PCI_COMMAND_MEMORY | regs.PCI_COMMAND_IO | regs.PCI_COMMAND_MASTER,
      2,
    );
    const dump = formatLspciDump(dev);
    expect(dump.split('\n')[1]).toBe('00: 36 1b 05 00 07 00 10 00 01 00 ff 00 00 00 00 00');
    const out = lspci(dump, '-vvv', '-n');
    expect(out).toContain('00:00.0 00ff: 1b36:0005 (rev 01)');
    expect(out).toContain('Region 0: Memory at febc0000 (32-bit, non-prefetchable)');
    expect(out).toContain('Region 1: I/O ports at c040');
    expect(out).toContain('Region 2: Memory at 800000000 (64-bit, prefetchable)');
    expect(out).toContain('Region 4: Memory at febd0000 (32-bit, non-prefetchable)');
    expect(out).toMatch(/Expansion ROM at feb00000 \[disabled\]/);
    expect(out).toMatch(/Capabilities: \[[0-9a-f]+\] Power Management version 3/);
    expect(out).toMatch(/Capabilities: \[[0-9a-f]+\] MSI: Enable- Count=1\/4 Maskable\+ 64bit\+/);
    expect(out).toMatch(/Capabilities: \[[0-9a-f]+\] Express \(v2\) Endpoint/);
    expect(out).toMatch(/Capabilities: \[[0-9a-f]+\] MSI-X: Enable- Count=16 Masked-/);
    expect(out).toContain('Vector table: BAR=4 offset=00000000');
    expect(out).toContain('PBA: BAR=4 offset=00000800');
    expect(out).toContain('Capabilities: [100 v1] Device Serial Number 01-23-45-67-89-ab-cd-ef');
  });

  test('enable bits and several functions in one dump', () => {
    const { dev, tree } = singleDevice((d) => d.msiInit({ vectors: 2 }));
    const other = tree.deviceAdd({ driver: 'test-dev', id: 'd1', addr: '04.0' });
    const msi = dev.msi?.offset as number;
    dev.configWrite(msi + regs.PCI_MSI_FLAGS, regs.PCI_MSI_FLAGS_ENABLE | (1 << 4), 2);
    const out = lspci(formatLspciDump([dev, other as typeof dev], { domain: 1 }), '-vv');
    expect(out).toContain('0001:00:00.0 ');
    expect(out).toContain('0001:00:04.0 ');
    expect(out).toMatch(/MSI: Enable\+ Count=2\/2 Maskable- 64bit\+/);
  });
});
