import { describe, expect, it } from 'vitest';
import { encodeQmp, parseQmpRequest, QmpError, qmpErrorReply, qmpEvent, qmpGreeting, qmpReturn } from './qmp';

describe('parseQmpRequest', () => {
  it('accepts execute with optional arguments and id', () => {
    expect(parseQmpRequest({ execute: 'query-pci' })).toEqual({
      ok: true,
      request: { execute: 'query-pci', arguments: {}, hasId: false },
    });
    expect(parseQmpRequest({ execute: 'device_del', arguments: { id: 'e0' }, id: 'x1' })).toEqual({
      ok: true,
      request: { execute: 'device_del', arguments: { id: 'e0' }, id: 'x1', hasId: true },
    });
  });

  it.each([
    [{ arguments: {} }, "QMP input member 'execute' is missing"],
    [{ execute: 1 }, "QMP input member 'execute' must be a string"],
    [{ execute: 'x', arguments: [] }, "QMP input member 'arguments' must be an object"],
    [{ execute: 'x', exec: 1 }, "QMP input member 'exec' is unexpected"],
  ])('rejects %j with QEMU message and echoes no id', (value, desc) => {
    const r = parseQmpRequest(value);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.message).toBe(desc);
      expect(qmpErrorReply(r.error, r)).toEqual({ error: { class: 'GenericError', desc } });
    }
  });

  it('echoes the id of a malformed request', () => {
    const r = parseQmpRequest({ id: 7, arguments: {} });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(qmpErrorReply(r.error, r)).toMatchObject({ id: 7 });
  });

  it('rejects a non-object', () => {
    expect(parseQmpRequest([1])).toMatchObject({
      ok: false,
      error: { message: 'QMP input must be a JSON object' },
    });
  });
});

describe('QMP messages', () => {
  it('builds greeting, replies and events', () => {
    expect(qmpGreeting('1.2.3')).toEqual({
      QMP: {
        version: { qemu: { major: 1, minor: 2, micro: 3 }, package: 'vfu-server 1.2.3' },
        capabilities: [],
      },
    });
    expect(qmpReturn({}, { hasId: true, id: null })).toEqual({ return: {}, id: null });
    expect(qmpErrorReply(new QmpError('CommandNotFound', 'nope'), { hasId: false })).toEqual({
      error: { class: 'CommandNotFound', desc: 'nope' },
    });
    expect(qmpEvent('SHUTDOWN', { guest: false }, 1_700_000_000_123.456)).toEqual({
      event: 'SHUTDOWN',
      data: { guest: false },
      timestamp: { seconds: 1_700_000_000, microseconds: 123_456 },
    });
  });

  it('encodes one CRLF-terminated line with bigints as numbers or hex', () => {
    expect(encodeQmp({ return: { size: 4096n, top: 0xffff_ffff_ffff_ffffn } })).toBe(
      '{"return":{"size":4096,"top":"0xffffffffffffffff"}}\r\n',
    );
  });
});
