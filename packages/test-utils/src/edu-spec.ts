/**
 * edu's BAR0 register offsets as QEMU's docs/specs/edu.rst gives them, for end-to-end tests that
 * drive the device over vfio-user. Written from the spec, not imported from @vfu/devices, so a
 * wrong offset in the device model fails those tests instead of agreeing with them.
 */
export const EDU_SPEC = Object.freeze({
  ident: 0x00,
  liveness: 0x04,
  factorial: 0x08,
  status: 0x20,
  irqStatus: 0x24,
  irqRaise: 0x60,
  irqAck: 0x64,
  dmaSrc: 0x80,
  dmaDst: 0x88,
  dmaCount: 0x90,
  dmaCmd: 0x98,
} as const);

/** Where edu's 4 KiB DMA buffer sits in BAR0 (edu.rst). */
export const EDU_SPEC_BUFFER = 0x40000n;
