import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { defineVmState, describeVmStream, loadVmState, saveVmState, vm } from '../src/index';

// A schema with every field type, saved by format 1. The stream checked in next to this file must
// keep loading, and saving the same value must keep giving the same bytes: that is the format.
const schema = defineVmState({
  name: 'format-v1',
  version: 3,
  minimumVersion: 1,
  fields: {
    a: vm.u8(),
    b: vm.u16(),
    c: vm.u32(),
    d: vm.i32(),
    e: vm.u64(),
    f: vm.bool(),
    g: vm.bytes({ maxLength: 8 }),
    h: vm.string({ maxLength: 8 }),
    i: vm.array(vm.u16(), { maxLength: 4 }),
    j: vm.array(vm.struct({ x: vm.u32(), y: vm.u64() }), { maxLength: 2 }),
  },
  subsections: { extra: { version: 1, fields: { z: vm.u32() } } },
});
const value = {
  a: 0xab,
  b: 0xbeef,
  c: 0xdeadbeef,
  d: -2,
  e: 0xfedc_ba98_7654_3210n,
  f: true,
  g: new Uint8Array([1, 2, 3]),
  h: 'vfu',
  i: [1, 2, 3],
  j: [{ x: 7, y: 1n << 40n }],
  subsections: { extra: { z: 42 } },
};
const fixture = fileURLToPath(new URL('./fixtures/format-v1.vmstate', import.meta.url));

it('a stream saved by format 1 still loads, and the same value saves to the same bytes', () => {
  if (process.env.VFU_REGENERATE_FIXTURES === '1') writeFileSync(fixture, saveVmState(schema, value));
  const golden = new Uint8Array(readFileSync(fixture));
  expect(loadVmState(schema, golden)).toEqual(value);
  expect(saveVmState(schema, value)).toEqual(golden);
  expect(describeVmStream(golden)).toMatchInlineSnapshot(`
    "format-v1 v3
      a: 0xab
      b: 0xbeef
      c: 0xdeadbeef
      d: -2
      e: 0xfedcba9876543210
      f: true
      g: 3 bytes 010203
      h: "vfu"
      i: [0x1, 0x2, 0x3]
      j: [{ x: 0x7, y: 0x10000000000 }]
      [extra v1]
        z: 0x2a"
  `);
});
