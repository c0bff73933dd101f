/**
 * `doorbell`: the smallest useful PCI device. BAR0 is 4 KiB of MMIO; a 4-byte write to 0x0 stores
 * the value in 0x4 (the mailbox) and raises MSI vector 0, so the driver reads the value the
 * interrupt carried from 0x4. Serve it with `vfu-server --load ./doorbell.js -device doorbell`.
 */
import {
  type DeviceContext,
  defineDevice,
  defineVmState,
  deviceState,
  type RegisterBank,
  registerTable,
} from '@vfu/devices';

/** Register offsets of BAR0. */
export const DoorbellRegister = { Doorbell: 0x0, Mailbox: 0x4, Rings: 0x8 } as const;

/** The device core. Runs without PCI too: `doorbellDevice.createCore()` in a unit test. */
export class Doorbell {
  readonly regs: RegisterBank<Doorbell>;
  readonly #ctx: DeviceContext<unknown>;

  constructor(ctx: DeviceContext<unknown>) {
    this.#ctx = ctx;
    this.regs = REGISTERS.bind(this, { log: ctx.log, deviceName: 'doorbell' });
  }

  /** A write to the doorbell: latch the value, count the ring, signal MSI vector 0. */
  ring(value: number): void {
    this.regs.set('mailbox', value);
    this.regs.set('rings', this.regs.u32('rings') + 1);
    this.#ctx.irq.msi.notify(0);
  }
}

const REGISTERS = registerTable<Doorbell>({ size: 0x1000, minAccess: 4, maxAccess: 4 }, (r) => [
  r.u32(DoorbellRegister.Doorbell, 'doorbell', { access: 'wo', write: (d, v) => d.ring(v) }),
  r.u32(DoorbellRegister.Mailbox, 'mailbox', { access: 'ro', doc: 'the value of the last ring' }),
  r.u32(DoorbellRegister.Rings, 'rings', { access: 'ro', doc: 'rings since reset' }),
]);

/** The device type: what `vfu-server --load` registers. */
export const doorbellDevice = defineDevice({
  name: 'doorbell',
  description: 'Doorbell example: a write to 0x0 raises MSI 0 with the value in 0x4 (1234:1ee7)',
  identity: { vendorId: 0x1234, deviceId: 0x1ee7, classCode: 0xff0000, interruptPin: 0 },
  create: (ctx) => new Doorbell(ctx),
  bars: (d) => [{ index: 0, kind: 'mem32', registers: d.regs }],
  capabilities: { msi: { vectors: 1, address64: true } },
  reset: (d) => d.regs.reset(),
  state: deviceState({
    schema: defineVmState({ name: 'doorbell', version: 1, fields: { registers: REGISTERS.stateField() } }),
    save: (d: Doorbell) => ({ registers: d.regs.save() }),
    load: (d: Doorbell, v) => d.regs.load(v.registers),
  }),
});

/** `vfu-server --load` registers the default export (a device type or an array of them). */
export default doorbellDevice;
