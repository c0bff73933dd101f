import { describe, expect, it } from 'vitest';
import { decodeMessage, encodeMessage, encodeReplyPayload, encodeRequestPayload } from './codec';
import { Command } from './command';
import { decodeHeader, HEADER_SIZE } from './header';
import { dataMessageSize, StructSize } from './sizes';

function decodePayload(payload: Uint8Array, command: Command, type: 'command' | 'reply') {
  const header = decodeHeader(
    encodeMessage(
      type === 'command'
        ? { kind: 'request', command: Command.DeviceReset, msgId: 7, body: {} }
        : { kind: 'reply', command: Command.DeviceReset, msgId: 7, body: {} },
    ),
  );
  return decodeMessage({
    header: { ...header, command, msgSize: HEADER_SIZE + payload.length },
    payload,
    fds: [],
  });
}

describe('payload-only encoding', () => {
  it('encodes a request payload that decodes back to the same body, sized by the struct', () => {
    const body = { argsz: StructSize.DmaUnmap, flags: 0, addr: 0x1000n, size: 0x2000n };
    const payload = encodeRequestPayload(Command.DmaUnmap, body);
    expect(payload.length).toBe(StructSize.DmaUnmap);
    const whole = encodeMessage({ kind: 'request', command: Command.DmaUnmap, msgId: 0, body });
    expect(payload).toEqual(whole.subarray(HEADER_SIZE));
    const decoded = decodePayload(payload, Command.DmaUnmap, 'command');
    expect(decoded).toMatchObject({ kind: 'request', command: Command.DmaUnmap, body });
  });

  it('encodes a reply payload', () => {
    const body = { argsz: StructSize.IrqInfo, flags: 1, index: 1, count: 32 };
    const payload = encodeReplyPayload(Command.DeviceGetIrqInfo, body);
    expect(payload.length).toBe(StructSize.IrqInfo);
    expect(decodePayload(payload, Command.DeviceGetIrqInfo, 'reply')).toMatchObject({ kind: 'reply', body });
  });

  it('sizes a data message as header, access struct and data', () => {
    const data = new Uint8Array(100);
    const whole = encodeMessage({
      kind: 'request',
      command: Command.RegionWrite,
      msgId: 0,
      body: { offset: 0n, region: 0, count: data.length, data },
    });
    expect(whole.length).toBe(dataMessageSize(data.length));
  });

  it('refuses a field out of range with a ProtocolError', () => {
    expect(() => encodeRequestPayload(Command.DeviceGetInfo, { argsz: -1 })).toThrow(/argsz/);
  });
});
