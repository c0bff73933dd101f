/**
 * AddressSpace dispatch against a plain DataView read of the same bytes, and FlatView rendering,
 * with 1,000 regions. Every case does READS accesses per iteration so the per-call overhead of
 * the harness does not hide the access cost.
 */
import { runBenchSuite } from '@vfu/test-utils';
import { type AddressSpace, MemoryContext, MemoryRegion } from '../src/index';

const REGIONS = 1000;
const REGION_SIZE = 0x1000;
const STRIDE = 0x2000n;
const READS = 1024;

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Setup {
  as: AddressSpace;
  regions: MemoryRegion[];
  addresses: bigint[];
  views: DataView[];
  offsets: number[];
}

function build(kind: 'ram' | 'io' | 'io-split' | 'io64', base: bigint): Setup {
  const ctx = new MemoryContext('bench');
  const root = MemoryRegion.container('root', 1n << 64n);
  const regions: MemoryRegion[] = [];
  ctx.transaction(() => {
    for (let i = 0; i < REGIONS; i++) {
      const r =
        kind === 'ram'
          ? MemoryRegion.ram(`ram${i}`, BigInt(REGION_SIZE))
          : kind === 'io'
            ? MemoryRegion.io(`mmio${i}`, BigInt(REGION_SIZE), {
                read: (offset) => offset,
                write: () => {},
                valid: { minAccessSize: 4, maxAccessSize: 4 },
                impl: { minAccessSize: 4, maxAccessSize: 4 },
              })
            : kind === 'io-split'
              ? MemoryRegion.io(`mmio${i}`, BigInt(REGION_SIZE), {
                  read: (offset) => offset,
                  write: () => {},
                  valid: { minAccessSize: 4, maxAccessSize: 8 },
                  impl: { minAccessSize: 4, maxAccessSize: 4 },
                })
              : MemoryRegion.io(`mmio${i}`, BigInt(REGION_SIZE), {
                  // A 64-bit register file: the value of an 8-byte read is a bigint.
                  read: (offset, size) => (size === 8 ? BigInt(offset) : offset),
                  write: () => {},
                  valid: { minAccessSize: 4, maxAccessSize: 8 },
                  impl: { minAccessSize: 4, maxAccessSize: 8 },
                });
      root.addSubregion(base + BigInt(i) * STRIDE, r);
      regions.push(r);
    }
  });
  const as = ctx.createAddressSpace('bench', root);
  const rnd = seededRandom(kind === 'ram' ? 1 : 2);
  const addresses: bigint[] = [];
  const views: DataView[] = [];
  const offsets: number[] = [];
  for (let k = 0; k < READS; k++) {
    const i = Math.floor(rnd() * REGIONS);
    // 8-byte aligned, so the same addresses serve 4- and 8-byte accesses.
    const off = Math.floor(rnd() * (REGION_SIZE / 8)) * 8;
    addresses.push(base + BigInt(i) * STRIDE + BigInt(off));
    const r = regions[i]!;
    if (r.ramBuffer) {
      r.ramBuffer.fill(i & 0xff);
      views.push(new DataView(r.ramBuffer.buffer, r.ramBuffer.byteOffset, r.ramBuffer.byteLength));
    }
    offsets.push(off);
  }
  return { as, regions, addresses, views, offsets };
}

const ram = build('ram', 0x1_0000_0000n);
const mmio = build('io', 0x2_0000_0000n);
const ramHigh = build('ram', 1n << 60n);
const mmioSplit = build('io-split', 0x3_0000_0000n);
const mmio64 = build('io64', 0x4_0000_0000n);
const scratch8 = new Uint8Array(8);
const scratch = new Uint8Array(4);
let sink = 0;

const rows = await runBenchSuite({
  title: `@vfu/memory: ${READS} 4-byte reads per op, ${REGIONS} regions; FlatView render of ${REGIONS} regions`,
  baseline: {
    name: 'DataView.getUint32 (same bytes)',
    fn: () => {
      const { views, offsets } = ram;
      let s = 0;
      for (let k = 0; k < READS; k++) s += views[k]!.getUint32(offsets[k]!, true);
      sink += s;
    },
  },
  cases: [
    {
      name: 'AddressSpace.readU32, RAM',
      fn: () => {
        const { as, addresses } = ram;
        let s = 0;
        for (let k = 0; k < READS; k++) s += as.readU32(addresses[k]!);
        sink += s;
      },
    },
    {
      name: 'AddressSpace.readU32, MMIO',
      fn: () => {
        const { as, addresses } = mmio;
        let s = 0;
        for (let k = 0; k < READS; k++) s += as.readU32(addresses[k]!);
        sink += s;
      },
    },
    {
      name: 'AddressSpace.read(4 bytes), RAM',
      fn: () => {
        const { as, addresses } = ram;
        for (let k = 0; k < READS; k++) as.read(addresses[k]!, scratch);
        sink += scratch[0]!;
      },
    },
    {
      // No fast path for MMIO in `read`: this is the general range walk.
      name: 'AddressSpace.read(4 bytes), MMIO',
      fn: () => {
        const { as, addresses } = mmio;
        for (let k = 0; k < READS; k++) as.read(addresses[k]!, scratch);
        sink += scratch[0]!;
      },
    },
    {
      name: 'AddressSpace.readAsync(4 bytes), MMIO',
      fn: async () => {
        const { as, addresses } = mmio;
        for (let k = 0; k < READS; k++) await as.readAsync(addresses[k]!, scratch);
        sink += scratch[0]!;
      },
    },
    {
      name: 'AddressSpace.readU64, MMIO impl 4 (two callbacks)',
      fn: () => {
        const { as, addresses } = mmioSplit;
        let s = 0n;
        for (let k = 0; k < READS; k++) s += as.readU64(addresses[k]!);
        sink += Number(s & 1n);
      },
    },
    {
      name: 'AddressSpace.read(8 bytes), MMIO impl 4',
      fn: () => {
        const { as, addresses } = mmioSplit;
        for (let k = 0; k < READS; k++) as.read(addresses[k]!, scratch8);
        sink += scratch8[0]!;
      },
    },
    {
      name: 'AddressSpace.readU64, MMIO impl 8 (one bigint callback)',
      fn: () => {
        const { as, addresses } = mmio64;
        let s = 0n;
        for (let k = 0; k < READS; k++) s += as.readU64(addresses[k]!);
        sink += Number(s & 1n);
      },
    },
    {
      name: 'AddressSpace.read(8 bytes), MMIO impl 8',
      fn: () => {
        const { as, addresses } = mmio64;
        for (let k = 0; k < READS; k++) as.read(addresses[k]!, scratch8);
        sink += scratch8[0]!;
      },
    },
    {
      name: 'AddressSpace.readU32, RAM above 2^53 (bigint path)',
      fn: () => {
        const { as, addresses } = ramHigh;
        let s = 0;
        for (let k = 0; k < READS; k++) s += as.readU32(addresses[k]!);
        sink += s;
      },
    },
    {
      name: 'FlatView lookup, float64 search',
      fn: () => {
        const { as, addresses } = ram;
        const fv = as.flatView;
        for (let k = 0; k < READS; k++) sink += fv._find(addresses[k]!);
      },
    },
    {
      name: 'FlatView lookup, bigint search',
      fn: () => {
        const { as, addresses } = ram;
        const fv = as.flatView;
        for (let k = 0; k < READS; k++) sink += fv._findBigint(addresses[k]!);
      },
    },
    {
      name: `FlatView re-render, ${REGIONS} regions (1 op)`,
      fn: () => {
        const r = ram.regions[500]!;
        r.setEnabled(!r.enabled);
      },
    },
  ],
});

if (sink === 0.5) console.log(sink);
const base = rows[0]!;
console.log(`\nbaseline per read: ${(base.meanNs / READS).toFixed(1)} ns`);
for (const r of rows.slice(1, -1)) console.log(`${r.name}: ${(r.meanNs / READS).toFixed(1)} ns per read`);
