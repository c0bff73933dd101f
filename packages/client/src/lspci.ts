import { PCI_CAP_ID_MSI, PCI_CAP_ID_MSIX } from '@vfu/pci-regs';
import {
  capabilityName,
  cfg8,
  cfg16,
  cfg32,
  type PciBar,
  parseConfigHeader,
  parseMsiCapability,
  parseMsixCapability,
  walkCapabilities,
} from './pci-config';

const CLASS_NAMES: Record<number, string> = {
  0: 'Unclassified device',
  1: 'Mass storage controller',
  2: 'Network controller',
  3: 'Display controller',
  4: 'Multimedia controller',
  5: 'Memory controller',
  6: 'Bridge',
  7: 'Communication controller',
  8: 'Generic system peripheral',
  9: 'Input device controller',
  10: 'Docking station',
  11: 'Processor',
  12: 'Serial bus controller',
  13: 'Wireless controller',
  14: 'Intelligent controller',
  15: 'Satellite communications controller',
  16: 'Encryption controller',
  17: 'Signal processing controller',
  18: 'Processing accelerators',
  19: 'Non-Essential Instrumentation',
  255: 'Unassigned class',
};

/** Subclass names (base << 8 | sub) as pci.ids spells them, for the classes met here most. */
const SUBCLASS_NAMES: Record<number, string> = {
  0: 'Non-VGA unclassified device',
  1: 'VGA compatible unclassified device',
  256: 'SCSI storage controller',
  257: 'IDE interface',
  262: 'SATA controller',
  264: 'Non-Volatile memory controller',
  512: 'Ethernet controller',
  640: 'Network controller',
  768: 'VGA compatible controller',
  896: 'Display controller',
  1536: 'Host bridge',
  1537: 'ISA bridge',
  1540: 'PCI bridge',
  1664: 'Bridge',
  1792: 'Serial controller',
  1793: 'Parallel controller',
  1920: 'Communication controller',
  2176: 'System peripheral',
  3075: 'USB controller',
  3077: 'SMBus',
  4480: 'Signal processing controller',
};

const PROG_IF_NAMES: Record<number, string> = {
  458752: '8250',
  458753: '16450',
  458754: '16550',
  458755: '16650',
  458756: '16750',
  458757: '16850',
  458758: '16950',
  67586: 'NVM Express',
};

/** The class description lspci prints: subclass name, else base-class name, else `Class xxxx`. */
export function className(classCode: number): string {
  const base = (classCode >> 16) & 0xff;
  const sub = (classCode >> 8) & 0xff;
  // lspci shows "Unclassified device" for 00ff-style codes that pci.ids does not list.
  return (
    SUBCLASS_NAMES[(base << 8) | sub] ??
    CLASS_NAMES[base] ??
    `Class ${((base << 8) | sub).toString(16).padStart(4, '0')}`
  );
}

/** Bare hex digits, zero-padded, as lspci prints ids (no `0x`). */
function hexDigits(n: number | bigint, width: number): string {
  return n.toString(16).padStart(width, '0');
}

function flag(name: string, on: boolean): string {
  return `${name}${on ? '+' : '-'}`;
}

/** Size as lspci prints it: `[size=1M]`, `[size=256]`. */
export function formatSize(size: bigint): string {
  const units: [bigint, string][] = [
    [1n << 40n, 'T'],
    [1n << 30n, 'G'],
    [1n << 20n, 'M'],
    [1n << 10n, 'K'],
  ];
  for (const [unit, suffix] of units)
    if (size >= unit && size % unit === 0n) return `${size / unit}${suffix}`;
  return size.toString();
}

/** The first line of an lspci entry: `00:04.0 Unclassified device [00ff]: Device 1234:11e8 (rev 10)`. */
export function formatTitle(slot: string, config: Uint8Array): string {
  const h = parseConfigHeader(config);
  const cls = (h.classCode >> 8) & 0xffff;
  const progName = PROG_IF_NAMES[h.classCode];
  let line = `${slot} ${className(h.classCode)} [${hexDigits(cls, 4)}]: Device [${hexDigits(h.vendorId, 4)}:${hexDigits(h.deviceId, 4)}]`;
  if (h.revision !== 0) line += ` (rev ${hexDigits(h.revision, 2)})`;
  if (h.progIf !== 0)
    line += ` (prog-if ${hexDigits(h.progIf, 2)}${progName === undefined ? '' : ` [${progName}]`})`;
  return line;
}

/** What {@link formatLspciVerbose} prints. */
export interface LspciInput {
  /** Bus address shown, e.g. `00:00.0`. */
  slot: string;
  /** Config-space snapshot (256 or 4096 bytes). */
  config: Uint8Array;
  /** BARs with sizes (from sizing); without them regions print without `[size=]`. */
  bars?: readonly PciBar[];
  /** IRQ number to show for INTx (default: the interrupt line register, when set). */
  irq?: number;
}

/** An `lspci -vv -nn`-like description of one device from its config space. */
export function formatLspciVerbose(input: LspciInput): string {
  const { config } = input;
  const h = parseConfigHeader(config);
  const lines = [formatTitle(input.slot, config)];
  if (h.subsystemVendorId !== 0 || h.subsystemId !== 0) {
    lines.push(`\tSubsystem: Device [${hexDigits(h.subsystemVendorId, 4)}:${hexDigits(h.subsystemId, 4)}]`);
  }
  const c = h.command;
  lines.push(
    `\tControl: ${[
      flag('I/O', (c & 0x1) !== 0),
      flag('Mem', (c & 0x2) !== 0),
      flag('BusMaster', (c & 0x4) !== 0),
      flag('SpecCycle', (c & 0x8) !== 0),
      flag('MemWINV', (c & 0x10) !== 0),
      flag('VGASnoop', (c & 0x20) !== 0),
      flag('ParErr', (c & 0x40) !== 0),
      flag('Stepping', (c & 0x80) !== 0),
      flag('SERR', (c & 0x100) !== 0),
      flag('FastB2B', (c & 0x200) !== 0),
      flag('DisINTx', (c & 0x400) !== 0),
    ].join(' ')}`,
  );
  const s = h.status;
  const devsel = ['fast', 'medium', 'slow', '??'][(s >> 9) & 3];
  lines.push(
    `\tStatus: ${[
      flag('Cap', (s & 0x10) !== 0),
      flag('66MHz', (s & 0x20) !== 0),
      flag('UDF', (s & 0x40) !== 0),
      flag('FastB2B', (s & 0x80) !== 0),
      flag('ParErr', (s & 0x100) !== 0),
      `DEVSEL=${devsel}`,
      flag('>TAbort', (s & 0x800) !== 0),
      flag('<TAbort', (s & 0x1000) !== 0),
      flag('<MAbort', (s & 0x2000) !== 0),
      flag('>SERR', (s & 0x4000) !== 0),
      flag('<PERR', (s & 0x8000) !== 0),
      flag('INTx', (s & 0x8) !== 0),
    ].join(' ')}`,
  );
  if ((c & 0x4) !== 0) lines.push(`\tLatency: ${h.latencyTimer}`);
  if (h.interruptPin !== 0) {
    const pin = String.fromCharCode(0x40 + Math.min(h.interruptPin, 4));
    // lspci shows the interrupt line register when nothing better is known (as `lspci -F` does).
    const irq =
      input.irq ?? (h.interruptLine !== 0 && h.interruptLine !== 0xff ? h.interruptLine : undefined);
    lines.push(`\tInterrupt: pin ${pin}${irq === undefined ? '' : ` routed to IRQ ${irq}`}`);
  }
  for (const bar of input.bars ?? barsFromConfig(config)) {
    const size = bar.size > 0n ? ` [size=${formatSize(bar.size)}]` : '';
    const disabled = bar.kind === 'io' ? (c & 0x1) === 0 : (c & 0x2) === 0;
    const state = disabled ? ' [disabled]' : '';
    // As lspci: an address of 0 with decode off has never been assigned.
    const unassigned = bar.address === 0n && disabled;
    if (bar.kind === 'io') {
      const at = unassigned ? '<unassigned>' : hexDigits(bar.address, 4);
      lines.push(`\tRegion ${bar.index}: I/O ports at ${at}${state}${size}`);
    } else {
      const width = bar.kind === 'mem64' ? '64-bit' : '32-bit';
      const pf = bar.prefetchable ? 'prefetchable' : 'non-prefetchable';
      const at = unassigned ? '<unassigned>' : hexDigits(bar.address, 8);
      lines.push(`\tRegion ${bar.index}: Memory at ${at} (${width}, ${pf})${state}${size}`);
    }
  }
  if (h.romAddress !== 0 && h.romAddress !== 0xffffffff) {
    const enabled = (h.romAddress & 1) !== 0;
    lines.push(
      `\tExpansion ROM at ${hexDigits(h.romAddress & 0xfffff800, 8)}${enabled ? '' : ' [disabled]'}`,
    );
  }
  for (const cap of walkCapabilities(config))
    lines.push(...formatCapability(config, cap.id, cap.offset, cap.extended, cap.version));
  return `${lines.join('\n')}\n`;
}

/** BARs as far as config space alone tells (type and address; size unknown = 0). */
export function barsFromConfig(config: Uint8Array): PciBar[] {
  const bars: PciBar[] = [];
  for (let i = 0; i < 6; i++) {
    const low = cfg32(config, 0x10 + 4 * i);
    if (low === 0) continue;
    const isIo = (low & 1) !== 0;
    const is64 = !isIo && (low & 0x6) === 0x4 && i < 5;
    const address = isIo
      ? BigInt((low & 0xfffffffc) >>> 0)
      : BigInt((low & 0xfffffff0) >>> 0) | (is64 ? BigInt(cfg32(config, 0x14 + 4 * i)) << 32n : 0n);
    bars.push({
      index: i,
      kind: isIo ? 'io' : is64 ? 'mem64' : 'mem32',
      prefetchable: !isIo && (low & 8) !== 0,
      size: 0n,
      address,
    });
    if (is64) i++;
  }
  return bars;
}

function formatCapability(
  config: Uint8Array,
  id: number,
  offset: number,
  extended: boolean,
  version: number,
): string[] {
  const off = hexDigits(offset, extended ? 3 : 2);
  if (extended) return [`\tCapabilities: [${off} v${version}] ${capabilityName(id, true)}`];
  if (id === PCI_CAP_ID_MSI) {
    const msi = parseMsiCapability(config, offset);
    const lines = [
      `\tCapabilities: [${off}] MSI: ${flag('Enable', msi.enabled)} Count=${msi.enabledVectors}/${msi.maxVectors} ${flag('Maskable', msi.perVectorMasking)} ${flag('64bit', msi.is64Bit)}`,
    ];
    const address = msi.is64Bit
      ? hexDigits((BigInt(cfg32(config, offset + 8)) << 32n) | BigInt(cfg32(config, offset + 4)), 16)
      : hexDigits(cfg32(config, offset + 4), 8);
    lines.push(`\t\tAddress: ${address}  Data: ${hexDigits(cfg16(config, msi.dataOffset), 4)}`);
    if (msi.maskOffset !== undefined) {
      lines.push(
        `\t\tMasking: ${hexDigits(cfg32(config, msi.maskOffset), 8)}  Pending: ${hexDigits(cfg32(config, msi.maskOffset + 4), 8)}`,
      );
    }
    return lines;
  }
  if (id === PCI_CAP_ID_MSIX) {
    const m = parseMsixCapability(config, offset);
    return [
      `\tCapabilities: [${off}] MSI-X: ${flag('Enable', m.enabled)} Count=${m.tableSize} ${flag('Masked', m.functionMasked)}`,
      `\t\tVector table: BAR=${m.tableBar} offset=${hexDigits(m.tableOffset, 8)}`,
      `\t\tPBA: BAR=${m.pbaBar} offset=${hexDigits(m.pbaOffset, 8)}`,
    ];
  }
  if (id === 0x09)
    return [
      `\tCapabilities: [${off}] Vendor Specific Information: Len=${hexDigits(cfg8(config, offset + 2), 2)} <?>`,
    ];
  return [`\tCapabilities: [${off}] ${capabilityName(id)}`];
}

/**
 * An `lspci -xxx` (256 bytes) or `-xxxx` (4096 bytes) hex dump: the title line, then 16 bytes
 * per line prefixed by the offset. Real `lspci -F FILE` reads this back and decodes it.
 */
export function formatLspciHex(slot: string, config: Uint8Array): string {
  const lines = [formatTitle(slot, config)];
  for (let off = 0; off < config.length; off += 16) {
    const bytes = Array.from(config.subarray(off, off + 16), (b) => hexDigits(b, 2)).join(' ');
    lines.push(`${hexDigits(off, config.length > 256 ? 3 : 2)}: ${bytes}`);
  }
  return `${lines.join('\n')}\n\n`;
}
