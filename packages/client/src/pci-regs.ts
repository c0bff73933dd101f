/**
 * PCI configuration-space offsets and bits, named as Linux `include/uapi/linux/pci_regs.h`
 * so they grep against kernel and QEMU sources.
 */
/** Vendor ID register (u16). */
export const PCI_VENDOR_ID = 0x00;
/** Device ID register (u16). */
export const PCI_DEVICE_ID = 0x02;
/** Command register (u16). */
export const PCI_COMMAND = 0x04;
/** COMMAND: respond to IO space accesses. */
export const PCI_COMMAND_IO = 0x1;
/** COMMAND: respond to memory space accesses. */
export const PCI_COMMAND_MEMORY = 0x2;
/** COMMAND: bus mastering (the device may DMA). */
export const PCI_COMMAND_MASTER = 0x4;
/** COMMAND: respond to special cycles. */
export const PCI_COMMAND_SPECIAL = 0x8;
/** COMMAND: use memory write and invalidate. */
export const PCI_COMMAND_INVALIDATE = 0x10;
/** COMMAND: VGA palette snooping. */
export const PCI_COMMAND_VGA_PALETTE = 0x20;
/** COMMAND: parity error response. */
export const PCI_COMMAND_PARITY = 0x40;
/** COMMAND: address/data stepping. */
export const PCI_COMMAND_WAIT = 0x80;
/** COMMAND: SERR# enable. */
export const PCI_COMMAND_SERR = 0x100;
/** COMMAND: fast back-to-back writes. */
export const PCI_COMMAND_FAST_BACK = 0x200;
/** COMMAND: INTx emulation disable. */
export const PCI_COMMAND_INTX_DISABLE = 0x400;
/** Status register (u16). */
export const PCI_STATUS = 0x06;
/** STATUS: INTx asserted. */
export const PCI_STATUS_INTERRUPT = 0x08;
/** STATUS: a capability list is present. */
export const PCI_STATUS_CAP_LIST = 0x10;
/** STATUS: 66 MHz capable. */
export const PCI_STATUS_66MHZ = 0x20;
/** STATUS: user-definable features (obsolete). */
export const PCI_STATUS_UDF = 0x40;
/** STATUS: fast back-to-back capable. */
export const PCI_STATUS_FAST_BACK = 0x80;
/** STATUS: master data parity error. */
export const PCI_STATUS_PARITY = 0x100;
/** STATUS: DEVSEL timing field. */
export const PCI_STATUS_DEVSEL_MASK = 0x600;
/** STATUS: signalled target abort. */
export const PCI_STATUS_SIG_TARGET_ABORT = 0x800;
/** STATUS: received target abort. */
export const PCI_STATUS_REC_TARGET_ABORT = 0x1000;
/** STATUS: received master abort. */
export const PCI_STATUS_REC_MASTER_ABORT = 0x2000;
/** STATUS: signalled system error. */
export const PCI_STATUS_SIG_SYSTEM_ERROR = 0x4000;
/** STATUS: detected parity error. */
export const PCI_STATUS_DETECTED_PARITY = 0x8000;
/** Revision ID register (u8). */
export const PCI_REVISION_ID = 0x08;
/** Programming interface byte of the class code. */
export const PCI_CLASS_PROG = 0x09;
/** Subclass and base class (u16). */
export const PCI_CLASS_DEVICE = 0x0a;
/** Cache line size register (u8). */
export const PCI_CACHE_LINE_SIZE = 0x0c;
/** Latency timer register (u8). */
export const PCI_LATENCY_TIMER = 0x0d;
/** Header type register (u8; bit 7 = multi-function). */
export const PCI_HEADER_TYPE = 0x0e;
/** Built-in self test register (u8). */
export const PCI_BIST = 0x0f;
/** First BAR register; BAR n is at 0x10 + 4n. */
export const PCI_BASE_ADDRESS_0 = 0x10;
/** BAR bit 0: an IO BAR. */
export const PCI_BASE_ADDRESS_SPACE_IO = 0x1;
/** Memory BAR type bits (32-bit, 64-bit). */
export const PCI_BASE_ADDRESS_MEM_TYPE_MASK = 0x6;
/** Memory BAR type: 64-bit (uses the next BAR register too). */
export const PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x4;
/** Memory BAR: prefetchable. */
export const PCI_BASE_ADDRESS_MEM_PREFETCH = 0x8;
/** Address bits of a memory BAR. */
export const PCI_BASE_ADDRESS_MEM_MASK = 0xfffffff0;
/** Address bits of an IO BAR. */
export const PCI_BASE_ADDRESS_IO_MASK = 0xfffffffc;
/** Subsystem vendor ID register (u16). */
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
/** Subsystem ID register (u16). */
export const PCI_SUBSYSTEM_ID = 0x2e;
/** Expansion ROM base address register. */
export const PCI_ROM_ADDRESS = 0x30;
/** Expansion ROM decode enable. */
export const PCI_ROM_ADDRESS_ENABLE = 0x1;
/** Offset of the first capability (u8). */
export const PCI_CAPABILITY_LIST = 0x34;
/** Interrupt line register (u8). */
export const PCI_INTERRUPT_LINE = 0x3c;
/** Interrupt pin register (u8; 1..4 = INTA..INTD). */
export const PCI_INTERRUPT_PIN = 0x3d;
/** Minimum grant register (u8). */
export const PCI_MIN_GNT = 0x3e;
/** Maximum latency register (u8). */
export const PCI_MAX_LAT = 0x3f;

/** Capability ID: power management. */
export const PCI_CAP_ID_PM = 0x01;
/** Capability ID: MSI. */
export const PCI_CAP_ID_MSI = 0x05;
/** Capability ID: vendor specific. */
export const PCI_CAP_ID_VNDR = 0x09;
/** Capability ID: PCI Express. */
export const PCI_CAP_ID_EXP = 0x10;
/** Capability ID: MSI-X. */
export const PCI_CAP_ID_MSIX = 0x11;

/** MSI: message control (u16), relative to the capability. */
export const PCI_MSI_FLAGS = 0x02;
/** MSI control: enable. */
export const PCI_MSI_FLAGS_ENABLE = 0x1;
/** MSI control: multiple message capable (log2 of vectors). */
export const PCI_MSI_FLAGS_QMASK = 0xe;
/** MSI control: multiple message enable (log2 of vectors). */
export const PCI_MSI_FLAGS_QSIZE = 0x70;
/** MSI control: 64-bit address. */
export const PCI_MSI_FLAGS_64BIT = 0x80;
/** MSI control: per-vector masking. */
export const PCI_MSI_FLAGS_MASKBIT = 0x100;
/** MSI: message address, low dword. */
export const PCI_MSI_ADDRESS_LO = 0x04;
/** MSI: message address, high dword (64-bit capability). */
export const PCI_MSI_ADDRESS_HI = 0x08;
/** MSI: message data in a 32-bit capability. */
export const PCI_MSI_DATA_32 = 0x08;
/** MSI: message data in a 64-bit capability. */
export const PCI_MSI_DATA_64 = 0x0c;
/** MSI: mask bits in a 32-bit capability. */
export const PCI_MSI_MASK_32 = 0x0c;
/** MSI: mask bits in a 64-bit capability. */
export const PCI_MSI_MASK_64 = 0x10;

/** MSI-X: message control (u16), relative to the capability. */
export const PCI_MSIX_FLAGS = 0x02;
/** MSI-X control: table size minus one. */
export const PCI_MSIX_FLAGS_QSIZE = 0x07ff;
/** MSI-X control: function mask. */
export const PCI_MSIX_FLAGS_MASKALL = 0x4000;
/** MSI-X control: enable. */
export const PCI_MSIX_FLAGS_ENABLE = 0x8000;
/** MSI-X: table offset and BAR indicator. */
export const PCI_MSIX_TABLE = 0x04;
/** MSI-X: pending-bit array offset and BAR indicator. */
export const PCI_MSIX_PBA = 0x08;
/** MSI-X: BAR indicator bits of the table/PBA registers. */
export const PCI_MSIX_TABLE_BIR = 0x7;
/** MSI-X: bytes per table entry. */
export const PCI_MSIX_ENTRY_SIZE = 16;
/** MSI-X entry: message address, low dword. */
export const PCI_MSIX_ENTRY_LOWER_ADDR = 0x0;
/** MSI-X entry: message address, high dword. */
export const PCI_MSIX_ENTRY_UPPER_ADDR = 0x4;
/** MSI-X entry: message data. */
export const PCI_MSIX_ENTRY_DATA = 0x8;
/** MSI-X entry: vector control. */
export const PCI_MSIX_ENTRY_VECTOR_CTRL = 0xc;
/** MSI-X vector control: masked. */
export const PCI_MSIX_ENTRY_CTRL_MASKBIT = 0x1;

/** Size of conventional PCI config space. */
export const PCI_CFG_SPACE_SIZE = 256;
/** Size of PCI Express config space (extended capabilities from 0x100). */
export const PCI_CFG_SPACE_EXP_SIZE = 4096;
