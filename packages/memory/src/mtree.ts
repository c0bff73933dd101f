import { hex16 } from './address';
import type { AddressSpace } from './address-space';
import type { MemoryRegion } from './memory-region';

function kindLabel(mr: MemoryRegion): string {
  const target = mr.aliasTarget;
  if (target !== undefined) return kindLabel(target);
  switch (mr.kind) {
    case 'ram':
      return mr.readonly ? 'ram, readonly' : 'ram';
    case 'rom':
      return 'rom';
    case 'io':
      return 'i/o';
    case 'async-io':
      return 'async i/o';
    case 'iommu':
      return 'iommu';
    case 'alias':
    case 'container':
      return 'container';
  }
}

function line(start: bigint, size: bigint, mr: MemoryRegion): string {
  const end = start + size - 1n;
  let text = `${hex16(start)}-${hex16(end)} (prio ${mr.priority}, ${kindLabel(mr)}): `;
  const target = mr.aliasTarget;
  if (target !== undefined) {
    text += `alias ${mr.name} @${target.name} ${hex16(mr.aliasOffset)}-${hex16(mr.aliasOffset + mr.size - 1n)}`;
  } else {
    text += mr.name;
  }
  if (!mr.enabled) text += ' [disabled]';
  return text;
}

/**
 * `info mtree`-style listing of the tree under `root` (placed at 0): one line per region with
 * its absolute range, priority, kind and name; subregions indented, by address then priority.
 * Regions that aliases point to are listed after the tree, each under a `memory-region:` heading.
 */
export function dumpMemoryTree(root: MemoryRegion): string {
  const lines: string[] = [];
  const aliased: MemoryRegion[] = [];
  const walk = (mr: MemoryRegion, start: bigint, indent: string) => {
    lines.push(`${indent}${line(start, mr.size, mr)}`);
    const target = mr.aliasTarget;
    if (target !== undefined && !aliased.includes(target)) aliased.push(target);
    // By address; at equal addresses higher priority first, then resolution order, as QEMU prints them.
    const children = mr._subregions
      .map((c, order) => ({ c, order }))
      .sort((x, y) =>
        x.c.address !== y.c.address
          ? x.c.address < y.c.address
            ? -1
            : 1
          : y.c.priority - x.c.priority || x.order - y.order,
      )
      .map((x) => x.c);
    for (const c of children) walk(c, start + c.address, `${indent}  `);
  };
  walk(root, 0n, '');
  for (let i = 0; i < aliased.length; i++) {
    const mr = aliased[i]!;
    lines.push('', `memory-region: ${mr.name}`);
    walk(mr, mr.address, '');
  }
  return `${lines.join('\n')}\n`;
}

/** `info mtree -f`-style listing of an AddressSpace's FlatView. */
export function dumpFlatView(as: AddressSpace): string {
  const lines = [`FlatView of address space "${as.name}", root: ${as.root.name}`];
  const ranges = as.flatView.ranges;
  if (ranges.length === 0) lines.push('  No rendered FlatView');
  for (const r of ranges) {
    const mr = r.region;
    let text = `  ${hex16(r.start)}-${hex16(r.start + r.size - 1n)} (prio ${mr.priority}, ${kindLabel(mr)}`;
    if (r.readonly && !mr.readonly) text += ', readonly';
    text += `): ${mr.name}`;
    if (r.offsetInRegion !== 0n) text += ` @${hex16(r.offsetInRegion)}`;
    lines.push(text);
  }
  return `${lines.join('\n')}\n`;
}
