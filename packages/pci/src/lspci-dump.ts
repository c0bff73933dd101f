/**
 * Config-space dumps in the hex format `lspci -x`/`-xxxx` prints and `lspci -F <file>` reads back,
 * so the real pciutils can decode a model's header, BARs and capabilities.
 */
import { formatDevfn } from './pci-bus';
import type { PciDevice } from './pci-device';

/** Options for {@link formatLspciDump}. */
export interface LspciDumpOptions {
  /** PCI domain printed in the address (default 0); lets dumps of several root buses coexist. */
  domain?: number;
  /** Bus number (default 0: every root bus is bus 0 of its own domain). */
  busNumber?: number;
}

/**
 * Formats the config space of each device as `lspci -xxxx` would (`-xxx` for conventional
 * devices): an address line, then 16 bytes per line.
 */
export function formatLspciDump(
  devices: PciDevice | readonly PciDevice[],
  opts: LspciDumpOptions = {},
): string {
  const list = Array.isArray(devices) ? devices : [devices as PciDevice];
  const domain = (opts.domain ?? 0).toString(16).padStart(4, '0');
  const busNumber = (opts.busNumber ?? 0).toString(16).padStart(2, '0');
  const out: string[] = [];
  for (const dev of list) {
    const devfn = Math.max(dev.devfn, 0);
    out.push(`${domain}:${busNumber}:${formatDevfn(devfn)} ${dev.driver}`);
    const bytes = dev.config.config;
    for (let off = 0; off < dev.config.size; off += 16) {
      const row: string[] = [];
      for (let i = off; i < off + 16; i++) row.push((bytes[i] as number).toString(16).padStart(2, '0'));
      out.push(`${off.toString(16).padStart(off >= 0x100 ? 3 : 2, '0')}: ${row.join(' ')}`);
    }
    out.push('');
  }
  return `${out.join('\n')}\n`;
}
