import { describe, expect, it } from 'vitest';
import { expectProtocolError } from '../test/helpers';
import {
  CAPABILITY_DEFAULTS,
  negotiateCapabilities,
  negotiateClient,
  negotiateServer,
  parseCapabilities,
  receiveLimits,
  serializeCapabilities,
} from './capabilities';
import { Errno } from './errors';

const QEMU_PROPOSAL =
  '{"capabilities":{"max_msg_fds":16,"max_data_xfer_size":1048576,"pgsizes":4096,"max_dma_maps":65535,"write_multiple":true,"migration":{"pgsize":4096,"max_bitmap_size":268435456}}}';
const LVU_REPLY =
  '{ "capabilities": { "max_msg_fds": 8, "max_data_xfer_size": 1048576, "migration": { "pgsize": 4096 } } }';

describe('parseCapabilities', () => {
  it("reads QEMU's proposal", () => {
    expect(parseCapabilities(QEMU_PROPOSAL)).toEqual({
      maxMsgFds: 16,
      maxDataXferSize: 1048576,
      pgsizes: 4096,
      maxDmaMaps: 65535,
      writeMultiple: true,
      migration: { pgsize: 4096, maxBitmapSize: 268435456 },
    });
  });

  it('accepts an empty object and a missing capabilities member', () => {
    expect(parseCapabilities('{}')).toEqual({});
    expect(parseCapabilities('{"capabilities":{}}')).toEqual({});
  });

  it('lists unknown keys instead of failing', () => {
    expect(parseCapabilities('{"capabilities":{"frobnicate":1}}')).toEqual({ unknownKeys: ['frobnicate'] });
  });

  it('round-trips through serializeCapabilities', () => {
    const caps = parseCapabilities(QEMU_PROPOSAL);
    expect(parseCapabilities(serializeCapabilities(caps))).toEqual(caps);
  });

  it.each([
    ['not JSON', '{"capabilities":', 'bad-json'],
    ['not an object', '[1,2]', 'bad-json'],
    ['capabilities not an object', '{"capabilities":3}', 'bad-capability'],
    ['negative max_msg_fds', '{"capabilities":{"max_msg_fds":-1}}', 'bad-capability'],
    ['fractional xfer size', '{"capabilities":{"max_data_xfer_size":1.5}}', 'bad-capability'],
    ['zero xfer size', '{"capabilities":{"max_data_xfer_size":0}}', 'bad-capability'],
    ['string number', '{"capabilities":{"max_dma_maps":"10"}}', 'bad-capability'],
    ['pgsizes below 4 KiB', '{"capabilities":{"pgsizes":512}}', 'bad-capability'],
    ['migration not an object', '{"capabilities":{"migration":true}}', 'bad-capability'],
    [
      'migration pgsize not a power of two',
      '{"capabilities":{"migration":{"pgsize":3000}}}',
      'bad-capability',
    ],
    [
      'twin_socket.supported not boolean',
      '{"capabilities":{"twin_socket":{"supported":1}}}',
      'bad-capability',
    ],
    ['fd_index without supported', '{"capabilities":{"twin_socket":{"fd_index":0}}}', 'bad-capability'],
    ['write_multiple not boolean', '{"capabilities":{"write_multiple":"yes"}}', 'bad-capability'],
  ] as const)('rejects %s with EINVAL', (_, json, code) => {
    expectProtocolError(() => parseCapabilities(json), Errno.EINVAL, code);
  });
});

describe('negotiateCapabilities', () => {
  it("applies the spec's defaults to absent members", () => {
    const n = negotiateCapabilities({ role: 'server', local: {}, peer: undefined });
    expect(n).toEqual({
      maxSendFds: CAPABILITY_DEFAULTS.maxMsgFds,
      maxRecvFds: 1,
      maxSendDataXferSize: 1048576,
      maxRecvDataXferSize: 1048576,
      pgsizes: 4096,
      maxDmaMaps: 65535,
      twinSocket: false,
      writeMultiple: false,
    });
  });

  it('keeps each direction its own limits', () => {
    const n = negotiateCapabilities({
      role: 'client',
      local: { maxMsgFds: 32, maxDataXferSize: 1024 },
      peer: LVU_REPLY,
    });
    expect(n).toMatchObject({
      maxSendFds: 8,
      maxRecvFds: 32,
      maxSendDataXferSize: 1048576,
      maxRecvDataXferSize: 1024,
    });
    // libvfio-user adds migration although the client did not propose it: tolerated, not agreed.
    expect(n.migration).toBeUndefined();
  });

  it('agrees migration when both sides sent it, with the smaller bitmap limit', () => {
    const n = negotiateCapabilities({
      role: 'client',
      local: parseCapabilities(QEMU_PROPOSAL),
      peer: LVU_REPLY,
    });
    expect(n.migration).toEqual({ pgsize: 4096, maxBitmapSize: 268435456 });
    expect(n.writeMultiple).toBe(false);
  });

  it('intersects page sizes and rejects an empty intersection', () => {
    expect(
      negotiateCapabilities({ role: 'server', local: { pgsizes: 0x201000 }, peer: { pgsizes: 0x200000 } })
        .pgsizes,
    ).toBe(0x200000);
    expectProtocolError(
      () => negotiateCapabilities({ role: 'server', local: { pgsizes: 0x200000 }, peer: {} }),
      Errno.EINVAL,
      'bad-capability',
    );
  });

  it('rejects different migration page sizes', () => {
    expectProtocolError(
      () =>
        negotiateCapabilities({
          role: 'server',
          local: { migration: { pgsize: 4096 } },
          peer: { migration: { pgsize: 65536 } },
        }),
      Errno.EINVAL,
      'bad-capability',
    );
  });

  it('enables twin-socket only when both sides support it', () => {
    const on = { twinSocket: { supported: true } };
    expect(negotiateCapabilities({ role: 'server', local: on, peer: on }).twinSocket).toBe(true);
    expect(negotiateCapabilities({ role: 'server', local: {}, peer: on }).twinSocket).toBe(false);
    expectProtocolError(
      () =>
        negotiateCapabilities({
          role: 'server',
          local: on,
          peer: { twinSocket: { supported: true, fdIndex: 0 } },
        }),
      Errno.EINVAL,
      'bad-capability',
    );
    expectProtocolError(
      () =>
        negotiateCapabilities({
          role: 'client',
          local: {},
          peer: { twinSocket: { supported: true, fdIndex: 0 } },
        }),
      Errno.EINVAL,
      'bad-capability',
    );
    expectProtocolError(
      () => negotiateCapabilities({ role: 'client', local: on, peer: { twinSocket: { supported: true } } }),
      Errno.EINVAL,
      'bad-capability',
    );
  });

  it('passes JSON errors through', () => {
    expectProtocolError(
      () => negotiateCapabilities({ role: 'server', local: {}, peer: 'nope' }),
      Errno.EINVAL,
      'bad-json',
    );
  });
});

describe('negotiateServer / negotiateClient', () => {
  it("answers QEMU's 0.0 proposal and the client accepts the answer", () => {
    const proposal = { major: 0, minor: 0, capabilities: parseCapabilities(QEMU_PROPOSAL) };
    const { reply, negotiated } = negotiateServer(
      { capabilities: { maxMsgFds: 8, maxDataXferSize: 1 << 20, migration: { pgsize: 4096 } } },
      proposal,
    );
    expect(reply).toEqual({
      major: 0,
      minor: 0,
      capabilities: {
        maxMsgFds: 8,
        maxDataXferSize: 1 << 20,
        pgsizes: 4096,
        maxDmaMaps: 65535,
        migration: { pgsize: 4096, maxBitmapSize: 268435456 },
      },
    });
    expect(negotiated.maxSendFds).toBe(16);
    const client = negotiateClient(proposal, reply, 0);
    expect(client).toMatchObject({ maxSendFds: 8, maxRecvFds: 16, migration: { pgsize: 4096 } });
  });

  it('grants twin-socket with fd_index 0 and the client checks the fd came', () => {
    const on = { twinSocket: { supported: true } };
    const proposal = { major: 0, minor: 2, capabilities: { maxMsgFds: 4, ...on } };
    const { reply, negotiated } = negotiateServer({ capabilities: on }, proposal);
    expect(negotiated.twinSocket).toBe(true);
    expect(reply.capabilities.twinSocket).toEqual({ supported: true, fdIndex: 0 });
    expect(negotiateClient(proposal, reply, 1).twinSocket).toBe(true);
    expectProtocolError(() => negotiateClient(proposal, reply, 0), Errno.EINVAL, 'bad-capability');
  });

  it('takes the lower minor and refuses another major', () => {
    expect(negotiateServer({ minor: 2, capabilities: {} }, { major: 0, minor: 5 }).reply.minor).toBe(2);
    expectProtocolError(
      () => negotiateServer({ capabilities: {} }, { major: 1, minor: 0 }),
      Errno.ENOTSUP,
      'unsupported-version',
    );
    expectProtocolError(
      () => negotiateClient({ major: 0, minor: 0 }, { major: 1, minor: 0 }, 0),
      Errno.ENOTSUP,
    );
    expectProtocolError(
      () => negotiateClient({ major: 0, minor: 0 }, { major: 0, minor: 1 }, 0),
      Errno.EINVAL,
    );
  });

  it('derives framer limits from the agreement', () => {
    const n = negotiateCapabilities({
      role: 'server',
      local: { maxMsgFds: 8, maxDataXferSize: 4096 },
      peer: {},
    });
    expect(receiveLimits(n)).toEqual({ maxMessageSize: 16 + 16 + 4096, maxFdsPerMessage: 8 });
    const m = negotiateCapabilities({
      role: 'client',
      local: { migration: { maxBitmapSize: 1 << 20 } },
      peer: { migration: {} },
    });
    expect(receiveLimits(m).maxMessageSize).toBe(16 + 32 + (1 << 20));
  });
});
