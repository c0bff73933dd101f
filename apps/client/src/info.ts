import {
  formatLspciHex,
  formatLspciVerbose,
  formatSize,
  type GuestMemory,
  type IrqInfo,
  type PciCapability,
  PciDeviceHandle,
  type RegionInfo,
  type SizedBar,
  type VfioUserClient,
  walkCapabilities,
} from '@vfu/client';

/** Slot shown for the device: vfio-user has no bus address, so it is the first function of bus 0. */
export const SLOT = '00:00.0';

/** Everything `vfu-client info` finds out. */
export interface DeviceReport {
  socket: string;
  version: { major: number; minor: number };
  negotiated: VfioUserClient['negotiated'];
  device: VfioUserClient['device'];
  regions: readonly RegionInfo[];
  irqs: readonly IrqInfo[];
  config: Uint8Array;
  bars: SizedBar[];
  capabilities: PciCapability[];
  guestRam: { size: number; iova: bigint; path: 'fd' | 'message' } | { error: string };
}

/** Guest RAM goes at DMA address 0, as a VM's low memory does. */
const RAM_IOVA = 0n;

/**
 * Maps guest RAM, sizes the BARs and reads config space and capabilities. With `assign`, BAR
 * addresses are programmed and memory/IO decode enabled first, as firmware does.
 */
export async function collectReport(
  client: VfioUserClient,
  socket: string,
  ram: GuestMemory,
  options: { assign?: boolean } = {},
): Promise<DeviceReport> {
  let guestRam: DeviceReport['guestRam'];
  try {
    const mapping = await client.mapDma(ram, RAM_IOVA);
    guestRam = { size: ram.size, iova: mapping.iova, path: mapping.viaFd ? 'fd' : 'message' };
  } catch (e) {
    guestRam = { error: (e as Error).message };
  }
  const pci = new PciDeviceHandle(client);
  if (options.assign === true) {
    await pci.assignBars();
    await pci.enable({ busMaster: false });
  }
  const bars = await pci.sizeBars();
  const config = await pci.readConfig();
  return {
    socket,
    version: client.version,
    negotiated: client.negotiated,
    device: client.device,
    regions: client.regions,
    irqs: client.irqs,
    config,
    bars,
    capabilities: walkCapabilities(config),
    guestRam,
  };
}

function regionFlags(r: RegionInfo): string {
  return (
    [r.readable ? 'READ' : '', r.writable ? 'WRITE' : '', r.mmappable ? 'MMAP' : '']
      .filter(Boolean)
      .join('|') || '-'
  );
}

function irqFlags(i: IrqInfo): string {
  return (
    [
      i.eventfd ? 'EVENTFD' : '',
      i.maskable ? 'MASKABLE' : '',
      i.automasked ? 'AUTOMASKED' : '',
      i.noResize ? 'NORESIZE' : '',
    ]
      .filter(Boolean)
      .join('|') || '-'
  );
}

/** The `lspci -vv`-like text followed by what the vfio-user server reported. */
export function formatReportText(r: DeviceReport): string {
  const n = r.negotiated;
  const lines = [
    formatLspciVerbose({ slot: SLOT, config: r.config, bars: r.bars }).trimEnd(),
    `\tvfio-user: ${r.socket} version ${r.version.major}.${r.version.minor} max_data_xfer_size=${n.maxSendDataXferSize} max_msg_fds=${n.maxSendFds} write_multiple${n.writeMultiple ? '+' : '-'} twin_socket${n.twinSocket ? '+' : '-'}`,
    `\tDevice: flags=${[r.device.reset ? 'RESET' : '', r.device.pci ? 'PCI' : ''].filter(Boolean).join('|') || '-'} regions=${r.device.numRegions} irqs=${r.device.numIrqs}`,
  ];
  for (const region of r.regions) {
    if (region.size === 0n) continue;
    const areas = region.mmapAreas
      .map((a) => `0x${a.offset.toString(16)}+0x${a.size.toString(16)}`)
      .join(',');
    lines.push(
      `\tvfio region ${region.index} (${region.name}): size=${formatSize(region.size)} flags=${regionFlags(region)}${areas ? ` mmap=${areas}` : ''}${region.type ? ` type=0x${region.type.type.toString(16)}/0x${region.type.subtype.toString(16)}` : ''}`,
    );
  }
  for (const irq of r.irqs) {
    if (irq.count === 0) continue;
    lines.push(`\tvfio irq ${irq.index} (${irq.name}): count=${irq.count} flags=${irqFlags(irq)}`);
  }
  lines.push(
    'error' in r.guestRam
      ? `\tGuest RAM: not mapped: ${r.guestRam.error}`
      : `\tGuest RAM: ${formatSize(BigInt(r.guestRam.size))} memfd at DMA address 0x${r.guestRam.iova.toString(16)} (${r.guestRam.path === 'fd' ? 'fd passed' : 'DMA_READ/DMA_WRITE messages'})`,
  );
  return `${lines.join('\n')}\n`;
}

/** The `lspci -xxx` hex dump (lspci -F decodes it). */
export function formatReportHex(r: DeviceReport): string {
  return formatLspciHex(SLOT, r.config);
}

/** JSON for scripts: u64 values as `0x` strings, config space as hex. */
export function formatReportJson(r: DeviceReport): string {
  const big = (v: bigint) => `0x${v.toString(16)}`;
  const out = {
    socket: r.socket,
    version: r.version,
    negotiated: r.negotiated,
    device: r.device,
    regions: r.regions.map((x) => ({
      index: x.index,
      name: x.name,
      size: big(x.size),
      offset: big(x.offset),
      flags: x.flags,
      readable: x.readable,
      writable: x.writable,
      mmappable: x.mmappable,
      mmapAreas: x.mmapAreas.map((a) => ({ offset: big(a.offset), size: big(a.size) })),
      ...(x.type ? { type: x.type } : {}),
    })),
    irqs: r.irqs,
    config: Array.from(r.config, (b) => b.toString(16).padStart(2, '0')).join(''),
    bars: r.bars.map((b) => ({
      index: b.index,
      kind: b.kind,
      prefetchable: b.prefetchable,
      size: big(b.size),
      address: big(b.address),
      regionSize: big(b.regionSize),
    })),
    capabilities: r.capabilities,
    guestRam: 'error' in r.guestRam ? r.guestRam : { ...r.guestRam, iova: big(r.guestRam.iova) },
  };
  return `${JSON.stringify(out, null, 2)}\n`;
}
