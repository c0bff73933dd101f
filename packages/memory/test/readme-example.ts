import { MemoryContext, MemoryRegion } from '@vfu/memory';

// One context per PCI root bus: its address spaces share nothing with any other bus.
const bus = new MemoryContext('bus0');
const pciMem = MemoryRegion.container('pci-mem', 1n << 64n);
const as = bus.createAddressSpace('pci-mem', pciMem);

const ram = MemoryRegion.ram('ram', 0x1000n);
let doorbell = 0;
const bar0 = MemoryRegion.io('bar0', 0x100n, {
  read: (offset) => (offset === 0 ? doorbell : 0xffffffff),
  write: (offset, value) => {
    if (offset === 0) doorbell = value;
  },
  valid: { minAccessSize: 4, maxAccessSize: 4 },
});

// Both changes land in one FlatView render and one listener update.
bus.transaction(() => {
  pciMem.addSubregion(0x1_0000_0000n, ram); // above 4 GiB
  pciMem.addSubregionOverlap(0x1_0000_0800n, bar0, 1); // over the middle of the RAM
});

as.writeU32(0x1_0000_0800n, 0x1234);
console.log(doorbell.toString(16)); // -> 1234
console.log(as.readU8(0x1_0000_0800n)); // -> 0
console.log(as.write(0x1_0000_0900n, new Uint8Array([1, 2]))); // -> ok
console.log(ram.ramBuffer?.[0x900]); // -> 1
console.log(as.read(0x2_0000_0000n, new Uint8Array(4))); // -> decode-error
console.log(as.dumpFlatView());
