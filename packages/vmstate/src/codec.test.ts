import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { loadVmState, loadVmStream, saveVmState, saveVmStream } from './codec';
import { crc32 } from './crc32';
import { describeVmStream } from './describe';
import { VmStateError } from './errors';
import { defineVmState, vm } from './schema';

const queue = vm.struct({ id: vm.u16(), base: vm.u64(), size: vm.u32(), head: vm.u32(), phase: vm.bool() });
const ctrlFields = {
  cc: vm.u32(),
  csts: vm.u32(),
  asq: vm.u64(),
  serial: vm.string({ maxLength: 20 }),
  buffer: vm.bytes({ maxLength: 64 }),
  queues: vm.array(queue, { maxLength: 4 }),
  temperature: vm.i32({ since: 2, default: 273 }),
};
const aer = {
  aer: {
    version: 1,
    fields: { outstanding: vm.u8({ check: (v: number) => (v > 4 ? `${v} > 4` : undefined) }) },
  },
};
/** The schema without its whole-state check, for variants saved by "other versions" of the code. */
const ctrlBase = { name: 'ctrl', version: 2, minimumVersion: 1, fields: ctrlFields, subsections: aer };
const ctrlV2 = defineVmState({
  ...ctrlBase,
  validate: (s) => (s.queues.some((q) => q.head >= q.size) ? 'a queue head is past its size' : undefined),
});
type Ctrl = Parameters<typeof saveVmState<typeof ctrlV2>>[1];

const sample: Ctrl = {
  cc: 0x460001,
  csts: 1,
  asq: 0x1_0000_2000n,
  serial: 'vfu-0001',
  buffer: new Uint8Array([1, 2, 3]),
  queues: [{ id: 0, base: 0x8000n, size: 64, head: 3, phase: true }],
  temperature: -5,
  subsections: { aer: { outstanding: 2 } },
};

function expectRefused(fn: () => unknown, code: string, field?: string): VmStateError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VmStateError);
    const err = e as VmStateError;
    expect(err.code).toBe(code);
    if (field !== undefined) expect(err.context.field).toBe(field);
    return err;
  }
  throw new Error(`expected a ${code} refusal`);
}

/** Rewrites a stream's checksum after tampering, so the tampering itself is what gets checked. */
function resealed(data: Uint8Array): Uint8Array {
  const out = data.slice();
  new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

describe('save and load', () => {
  it('round-trips every field type and a subsection', () => {
    const loaded = loadVmState(ctrlV2, saveVmState(ctrlV2, sample));
    expect(loaded).toEqual(sample);
  });

  it('loads several sections in order', () => {
    const pci = defineVmState({ name: 'pci', version: 1, fields: { config: vm.bytes({ maxLength: 4096 }) } });
    const data = saveVmStream([
      { schema: pci, value: { config: new Uint8Array(256).fill(7) } },
      { schema: ctrlV2, value: sample },
    ]);
    const [p, c] = loadVmStream(data, [pci, ctrlV2]);
    expect((p as { config: Uint8Array }).config.length).toBe(256);
    expect(c).toEqual(sample);
    expectRefused(() => loadVmStream(data, [ctrlV2, pci]), 'foreign');
    expectRefused(() => loadVmStream(data, [pci]), 'unknown-field');
  });

  it('fills a field added in a later version from its default when loading an older stream', () => {
    const { temperature: _, ...v1fields } = ctrlFields;
    const v1 = defineVmState({ name: 'ctrl', version: 1, fields: v1fields, subsections: aer });
    const { temperature: __, ...old } = sample;
    const loaded = loadVmState(ctrlV2, saveVmState(v1, old));
    expect(loaded.temperature).toBe(273);
  });

  it('lists any stream without its schema', () => {
    const text = describeVmStream(saveVmState(ctrlV2, sample));
    expect(text).toContain('ctrl v2');
    expect(text).toContain('asq: 0x100002000');
    expect(text).toContain('serial: "vfu-0001"');
    expect(text).toContain('[aer v1]');
  });
});

describe('refusals name the field and apply nothing', () => {
  const good = saveVmState(ctrlV2, sample);

  it('a foreign stream', () => {
    expectRefused(
      () => loadVmState(ctrlV2, new TextEncoder().encode('QEVM0003 and then some bytes')),
      'foreign',
    );
    const other = defineVmState({ name: 'edu', version: 1, fields: { x: vm.u32() } });
    expectRefused(() => loadVmState(other, good), 'foreign');
  });

  it('every truncation', () => {
    for (let n = 0; n < good.length; n++) {
      const cut = good.subarray(0, n);
      expect(() => loadVmState(ctrlV2, cut)).toThrow(VmStateError);
      // With a valid checksum over the cut content (all but the whole content), the parser finds it short.
      if (n >= 16 && n !== good.length - 4)
        expect(() => loadVmState(ctrlV2, resealed(new Uint8Array([...cut, 0, 0, 0, 0])))).toThrow(
          VmStateError,
        );
    }
  });

  it('a flipped bit anywhere', () => {
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice();
      bad[i] = (bad[i] as number) ^ 0x10;
      expect(() => loadVmState(ctrlV2, bad), `byte ${i}`).toThrow(VmStateError);
    }
  });

  it('too new and too old', () => {
    const v3 = defineVmState({ ...ctrlBase, version: 3 });
    expectRefused(() => loadVmState(ctrlV2, saveVmState(v3, sample)), 'too-new');
    const strict = defineVmState({ ...ctrlBase, minimumVersion: 2 });
    const { temperature: _, ...v1fields } = ctrlFields;
    const v1 = defineVmState({ name: 'ctrl', version: 1, fields: v1fields });
    const { temperature: __, subsections: ___, ...old } = sample;
    expectRefused(() => loadVmState(strict, saveVmState(v1, old)), 'too-old');
  });

  it('a field of the wrong type, a missing and an unknown field', () => {
    const wrongType = defineVmState({ ...ctrlBase, fields: { ...ctrlFields, cc: vm.u64() } });
    expectRefused(
      () => loadVmState(ctrlV2, saveVmState(wrongType, { ...sample, cc: 1n } as never)),
      'type-mismatch',
      'ctrl.cc',
    );
    const { csts: _, ...noCsts } = ctrlFields;
    const missing = defineVmState({ ...ctrlBase, fields: noCsts });
    expectRefused(
      () => loadVmState(ctrlV2, saveVmState(missing, sample as never)),
      'missing-field',
      'ctrl.csts',
    );
    const extra = defineVmState({ ...ctrlBase, fields: { ...ctrlFields, bogus: vm.u8() } });
    expectRefused(
      () => loadVmState(ctrlV2, saveVmState(extra, { ...sample, bogus: 1 } as never)),
      'unknown-field',
      'ctrl.bogus',
    );
  });

  it('values out of their domain, by field check and whole-state check', () => {
    const looser = defineVmState({
      ...ctrlBase,
      subsections: { aer: { version: 1, fields: { outstanding: vm.u8() } } },
    });
    expectRefused(
      () => loadVmState(ctrlV2, saveVmState(looser, { ...sample, subsections: { aer: { outstanding: 9 } } })),
      'bad-value',
      'ctrl/aer.outstanding',
    );
    const badQueue = { ...sample, queues: [{ id: 1, base: 0n, size: 8, head: 8, phase: false }] };
    expectRefused(() => loadVmState(ctrlV2, saveVmState(looser, badQueue)), 'bad-value');
    const bigBuffer = defineVmState({
      ...ctrlV2,
      fields: { ...ctrlV2.fields, buffer: vm.bytes({ maxLength: 1000 }) },
    });
    expectRefused(
      () => loadVmState(ctrlV2, saveVmState(bigBuffer, { ...sample, buffer: new Uint8Array(65) })),
      'bad-value',
      'ctrl.buffer',
    );
  });

  it('an array count larger than the stream is refused before allocating', () => {
    const arr = defineVmState({
      name: 'a',
      version: 1,
      fields: { xs: vm.array(vm.u8(), { maxLength: 10 }) },
    });
    const data = saveVmState(arr, { xs: [1, 2] });
    // The count sits right after the element type: find it by its value 2 and make it huge.
    const view = new DataView(data.buffer);
    let at = -1;
    for (let i = 0; i < data.length - 4; i++) if (view.getUint32(i, true) === 2 && data[i - 1] === 1) at = i;
    view.setUint32(at, 0xffffffff, true);
    expectRefused(() => loadVmState(arr, resealed(data)), 'corrupted');
  });

  it('an encoder given a value that does not fit its schema throws invalid-value', () => {
    expectRefused(() => saveVmState(ctrlV2, { ...sample, cc: -1 }), 'invalid-value');
    expectRefused(() => saveVmState(ctrlV2, { ...sample, asq: 1 as never }), 'invalid-value');
    expectRefused(() => saveVmState(ctrlV2, { ...sample, serial: 'x'.repeat(21) }), 'invalid-value');
  });
});

describe('properties', () => {
  const arbCtrl = fc.record({
    cc: fc.nat({ max: 0xffffffff }),
    csts: fc.nat({ max: 0xffffffff }),
    asq: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    serial: fc.string({ maxLength: 20 }),
    buffer: fc.uint8Array({ maxLength: 64 }),
    queues: fc.array(
      fc.record({
        id: fc.nat({ max: 0xffff }),
        base: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        size: fc.integer({ min: 1, max: 4096 }),
        head: fc.constant(0),
        phase: fc.boolean(),
      }),
      { maxLength: 4 },
    ),
    temperature: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  });

  test.prop([arbCtrl])('load(save(x)) equals x', (value) => {
    expect(loadVmState(ctrlV2, saveVmState(ctrlV2, value))).toEqual(value);
  });

  test.prop([fc.uint8Array({ maxLength: 300 })])('random bytes only ever give VmStateError', (bytes) => {
    try {
      loadVmState(ctrlV2, bytes);
    } catch (e) {
      expect(e).toBeInstanceOf(VmStateError);
    }
  });

  test.prop([arbCtrl, fc.nat(), fc.nat({ max: 255 })])(
    'a resealed mutation loads fully or is refused with a VmStateError',
    (value, at, byte) => {
      const data = saveVmState(ctrlV2, value).slice();
      data[at % (data.length - 4)] = byte;
      try {
        loadVmState(ctrlV2, resealed(data));
      } catch (e) {
        expect(e).toBeInstanceOf(VmStateError);
      }
    },
  );
});
