import { describe, expect, test } from 'vitest';
import { isQdevError, QdevError } from '../errors';
import { parseDeviceOptions, parseProperty, prop, resolveProperties } from './properties';

const schema = {
  enabled: prop.bool({ default: false }),
  u8: prop.uint8({ default: 0 }),
  u16: prop.uint16({ default: 0 }),
  u32: prop.uint32({ default: 0 }),
  u64: prop.uint64({ default: 0n }),
  n: prop.int({ default: 0 }),
  name: prop.string({ default: '' }),
  mode: prop.enum(['fast', 'slow'] as const, { default: 'fast' }),
  needed: prop.uint32(),
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (isQdevError(e)) return e.code;
    throw e;
  }
  return undefined;
}

describe('properties', () => {
  test('bool accepts on/off/true/false strings and JSON booleans', () => {
    expect(parseProperty(schema, 'enabled', 'on', 'd')).toBe(true);
    expect(parseProperty(schema, 'enabled', 'off', 'd')).toBe(false);
    expect(parseProperty(schema, 'enabled', 'true', 'd')).toBe(true);
    expect(parseProperty(schema, 'enabled', 'false', 'd')).toBe(false);
    expect(parseProperty(schema, 'enabled', true, 'd')).toBe(true);
    expect(codeOf(() => parseProperty(schema, 'enabled', 'maybe', 'd'))).toBe('invalid-property-value');
  });

  test('integers accept decimal and hex, and check their range', () => {
    expect(parseProperty(schema, 'u8', '0xff', 'd')).toBe(255);
    expect(parseProperty(schema, 'u16', '4660', 'd')).toBe(4660);
    expect(parseProperty(schema, 'u32', 0xffffffff, 'd')).toBe(0xffffffff);
    expect(parseProperty(schema, 'u64', '0xffffffffffffffff', 'd')).toBe(0xffffffffffffffffn);
    expect(parseProperty(schema, 'n', '-5', 'd')).toBe(-5);
    expect(codeOf(() => parseProperty(schema, 'u8', '256', 'd'))).toBe('property-out-of-range');
    expect(codeOf(() => parseProperty(schema, 'u16', 0x10000, 'd'))).toBe('property-out-of-range');
    expect(codeOf(() => parseProperty(schema, 'u64', '-1', 'd'))).toBe('property-out-of-range');
    expect(codeOf(() => parseProperty(schema, 'n', '0x80000000', 'd'))).toBe('property-out-of-range');
    expect(codeOf(() => parseProperty(schema, 'u32', '12abc', 'd'))).toBe('invalid-property-value');
    expect(codeOf(() => parseProperty(schema, 'u32', 1.5, 'd'))).toBe('invalid-property-value');
    expect(codeOf(() => parseProperty(schema, 'u32', {}, 'd'))).toBe('invalid-property-value');
  });

  test('string and enum', () => {
    expect(parseProperty(schema, 'name', 'x,y', 'd')).toBe('x,y');
    expect(codeOf(() => parseProperty(schema, 'name', 5, 'd'))).toBe('invalid-property-value');
    expect(parseProperty(schema, 'mode', 'slow', 'd')).toBe('slow');
    expect(codeOf(() => parseProperty(schema, 'mode', 'medium', 'd'))).toBe('invalid-property-value');
  });

  test('unknown property names the driver, the property and the known ones', () => {
    try {
      parseProperty(schema, 'colour', 'red', 'mydev');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(QdevError);
      const err = e as QdevError;
      expect(err.code).toBe('unknown-property');
      expect(err.context.driver).toBe('mydev');
      expect(err.context.property).toBe('colour');
      expect(err.message).toContain('enabled');
    }
  });

  test('resolveProperties fills defaults and requires properties without one', () => {
    const v = resolveProperties(schema, { needed: '7', u8: '0x10' }, 'd');
    expect(v).toMatchObject({ needed: 7, u8: 16, enabled: false, mode: 'fast', u64: 0n });
    expect(codeOf(() => resolveProperties(schema, {}, 'd'))).toBe('invalid-property-value');
  });

  test('parseDeviceOptions splits QEMU -device syntax', () => {
    expect(parseDeviceOptions('edu,id=e0,bus=s0,addr=04.0,msi')).toEqual({
      driver: 'edu',
      options: { id: 'e0', bus: 's0', addr: '04.0', msi: 'on' },
    });
    expect(parseDeviceOptions('x,name=a,,b').options).toEqual({ name: 'a,b' });
    expect(codeOf(() => parseDeviceOptions('id=e0'))).toBe('unknown-driver');
    expect(codeOf(() => parseDeviceOptions('edu,id=a,id=b'))).toBe('invalid-property-value');
  });
});
