/**
 * The doorbell as its users run it: `vfu-server --load dist/doorbell.js` in its own process,
 * driven over vfio-user by @vfu/client from this one, interrupt included.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PciDeviceHandle, VfioPciIrq, VfioUserClient } from '@vfu/client';
import { makeTempDir, runProcess, startServerProcess } from '@vfu/test-utils';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DoorbellRegister as R } from '../src/doorbell';

const CLI = join(
  dirname(createRequire(import.meta.url).resolve('@vfu/server-app/package.json')),
  'dist',
  'cli.js',
);
const MODULE = new URL('../dist/doorbell.js', import.meta.url).pathname;

function tempDir() {
  const dir = makeTempDir('vfu-doorbell-');
  onTestFinished(() => dir.remove());
  return dir;
}

describe('vfu-server --load dist/doorbell.js', () => {
  it('serves the doorbell; a ring raises MSI 0 and the mailbox holds the value', async () => {
    const socket = tempDir().join('doorbell.sock');
    await startServerProcess({
      script: CLI,
      args: ['--load', MODULE, '-device', `doorbell,id=db0,socket=${socket}`],
      cleanup: (fn) => onTestFinished(async () => void (await fn())),
    });
    const c = await VfioUserClient.connect(socket);
    onTestFinished(() => c.close());
    const pci = new PciDeviceHandle(c);
    expect(await pci.header()).toMatchObject({ vendorId: 0x1234, deviceId: 0x1ee7 });
    await pci.assignBars();
    await pci.enable();
    expect(await pci.setupMsi(1)).toBe(1);
    const irq = new Promise((resolve) => c.once('irq', resolve));
    await c.write32(0, R.Doorbell, 0x5eed);
    expect(await irq).toMatchObject({ kind: 'msi', index: VfioPciIrq.Msi, vector: 0 });
    expect(await c.read32(0, R.Mailbox)).toBe(0x5eed);
    expect(await c.read32(0, R.Rings)).toBe(1);
  });

  it('lists the doorbell in --help and -device doorbell,help', async () => {
    const help = await runProcess(process.execPath, [CLI, '--load', MODULE, '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('name "doorbell", bus PCI');
    const props = await runProcess(process.execPath, [CLI, '-device', 'doorbell,help', '--load', MODULE]);
    expect(props.stdout).toContain('doorbell options:');
  });
});
