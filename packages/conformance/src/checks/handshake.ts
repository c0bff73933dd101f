/** VERSION negotiation, the message header and reply rules, No_reply, ordering, disconnection. */
import { expectThat, skip } from '../check';
import { FLAG_ERROR, FLAG_NO_REPLY, FLAG_REPLY, le, message } from '../peer';
import {
  CLIENT_JSON,
  Cmd,
  describeReceived,
  E,
  expectError,
  expectOk,
  isReply,
  type ServerCheck,
  type ServerContext,
  versionPayload,
} from '../server-context';

const VERSION = { section: 'VFIO_USER_VERSION', practice: 'notes §4' };
const HEADER = { section: 'Header', practice: 'notes §2' };
const INIT = { section: 'Connection Initiation', practice: 'notes §4' };
const ORDER = { section: 'Command Concurrency', practice: 'notes §18' };
const DISCONNECT = { section: 'Socket Disconnection Behavior', practice: 'notes §1' };

const GET_INFO = () => le(['u32', 16], ['u32', 0], ['u32', 0], ['u32', 0]);

/** A VERSION with `payload` on a fresh connection must fail (error reply or a closed connection). */
function versionRejected(id: string, title: string, payload: () => Uint8Array, fds = 0): ServerCheck {
  return {
    id,
    title,
    spec: VERSION,
    async run(ctx) {
      const peer = await ctx.fresh();
      try {
        const r = await peer.call(Cmd.Version, payload(), {
          fds: Array.from({ length: fds }, () => ctx.eventfd()),
          timeoutMs: ctx.timeoutMs,
        });
        if (r === 'closed') return 'closed the connection';
        // The spec names no errno for a refused VERSION: EINVAL is libvfio-user's.
        return expectError(r, [E.EINVAL, E.ENOTSUP], 'VERSION');
      } finally {
        peer.close();
      }
    },
  };
}

/** A command sent before VERSION must be refused. */
function beforeVersion(command: number, name: string, payload: Uint8Array): ServerCheck {
  return {
    id: `init.${name.toLowerCase()}-before-version`,
    title: `${name} before VERSION is refused`,
    spec: INIT,
    async run(ctx) {
      const peer = await ctx.fresh();
      try {
        const r = await peer.call(command, payload, { timeoutMs: ctx.timeoutMs });
        if (r === 'closed') return 'closed the connection';
        return expectError(r, [E.EINVAL], name);
      } finally {
        peer.close();
      }
    },
  };
}

async function negotiated(ctx: ServerContext, json?: string) {
  const peer = await ctx.fresh();
  const r = await ctx.negotiate(peer, json);
  return { peer, r };
}

function capsOf(payload: Uint8Array): Record<string, unknown> | undefined {
  const text = new TextDecoder().decode(payload.subarray(4));
  if (!text.endsWith('\0')) return undefined;
  const body = text.slice(0, -1);
  if (body === '') return {};
  return (JSON.parse(body) as { capabilities?: Record<string, unknown> }).capabilities ?? {};
}

export function handshakeChecks(): ServerCheck[] {
  const checks: ServerCheck[] = [
    {
      id: 'version.reply-major-equal',
      title: 'VERSION reply has the proposed major version',
      spec: VERSION,
      async run(ctx) {
        const { peer, r } = await negotiated(ctx);
        peer.close();
        const ok = expectOk(r, 'VERSION');
        expectThat(
          new DataView(ok.payload.buffer, ok.payload.byteOffset).getUint16(0, true) === 0,
          'reply major is not 0',
        );
      },
    },
    {
      id: 'version.reply-minor-not-above',
      title: 'VERSION reply minor is not above the proposed minor',
      spec: VERSION,
      async run(ctx) {
        const peer = await ctx.fresh();
        const r = await peer.call(Cmd.Version, versionPayload(0, 0, CLIENT_JSON(1)), {
          timeoutMs: ctx.timeoutMs,
        });
        peer.close();
        const ok = expectOk(r, 'VERSION 0.0');
        const minor = new DataView(ok.payload.buffer, ok.payload.byteOffset).getUint16(2, true);
        expectThat(minor === 0, `proposed 0.0, server replied minor ${minor}`);
      },
    },
    {
      id: 'version.higher-minor-accepted',
      title: 'a higher proposed minor is accepted and answered with a minor the server supports',
      spec: VERSION,
      async run(ctx) {
        const peer = await ctx.fresh();
        const r = await peer.call(Cmd.Version, versionPayload(0, 999, CLIENT_JSON(1)), {
          timeoutMs: ctx.timeoutMs,
        });
        peer.close();
        const ok = expectOk(r, 'VERSION 0.999');
        const minor = new DataView(ok.payload.buffer, ok.payload.byteOffset).getUint16(2, true);
        expectThat(minor <= 999, `minor ${minor} above the proposal`);
        return `server minor ${minor}`;
      },
    },
    versionRejected('version.major-mismatch', 'an unsupported major version is refused', () =>
      versionPayload(1, 0, CLIENT_JSON(1)),
    ),
    versionRejected(
      'version.json-not-terminated',
      'version JSON without its terminating NUL is refused',
      () => le(['u16', 0], ['u16', 0], ['bytes', new TextEncoder().encode(CLIENT_JSON(1))]),
    ),
    versionRejected('version.json-invalid', 'malformed version JSON is refused', () =>
      versionPayload(0, 0, '{"capabilities":'),
    ),
    versionRejected('version.json-not-object', 'version JSON that is not an object is refused', () =>
      versionPayload(0, 0, '[1,2]'),
    ),
    versionRejected('version.max-msg-fds-not-number', 'a non-numeric max_msg_fds is refused', () =>
      versionPayload(0, 0, '{"capabilities":{"max_msg_fds":"8"}}'),
    ),
    versionRejected('version.max-data-xfer-not-number', 'a non-numeric max_data_xfer_size is refused', () =>
      versionPayload(0, 0, '{"capabilities":{"max_data_xfer_size":true}}'),
    ),
    versionRejected(
      'version.capabilities-not-object',
      'a capabilities member that is not an object is refused',
      () => versionPayload(0, 0, '{"capabilities":7}'),
    ),
    versionRejected(
      'version.short-payload',
      'a VERSION payload shorter than major and minor is refused',
      () => le(['u16', 0]),
    ),
    versionRejected(
      'version.with-fd',
      'a VERSION carrying an fd is refused',
      () => versionPayload(0, 0, CLIENT_JSON(1)),
      1,
    ),
    {
      id: 'version.no-json',
      title: 'a VERSION without version data is accepted (every capability takes its default)',
      spec: VERSION,
      async run(ctx) {
        const peer = await ctx.fresh();
        const r = await peer.call(Cmd.Version, versionPayload(0, 0, undefined), { timeoutMs: ctx.timeoutMs });
        peer.close();
        expectOk(r, 'VERSION without JSON');
      },
    },
    {
      id: 'version.unknown-capability',
      title: 'an unknown capability is ignored',
      spec: VERSION,
      async run(ctx) {
        const { peer, r } = await negotiated(
          ctx,
          '{"capabilities":{"max_msg_fds":1,"x_vendor_feature":{"a":[1]}}}',
        );
        peer.close();
        expectOk(r, 'VERSION with an unknown capability');
      },
    },
    {
      id: 'version.reply-json-terminated',
      title: 'the reply JSON is NUL-terminated',
      spec: VERSION,
      async run(ctx) {
        const { peer, r } = await negotiated(ctx);
        peer.close();
        const ok = expectOk(r, 'VERSION');
        expectThat(
          ok.payload.byteLength === 4 || ok.payload.at(-1) === 0,
          'reply version data does not end with NUL',
        );
      },
    },
    {
      id: 'version.reply-json-valid',
      title: 'the reply JSON parses as an object',
      spec: VERSION,
      async run(ctx) {
        const { peer, r } = await negotiated(ctx);
        peer.close();
        const ok = expectOk(r, 'VERSION');
        let caps: unknown;
        try {
          caps = capsOf(ok.payload);
        } catch (e) {
          expectThat(false, `reply JSON: ${(e as Error).message}`);
        }
        expectThat(typeof caps === 'object' && caps !== null, 'reply capabilities are not an object');
      },
    },
    {
      id: 'version.reply-caps-subset',
      title: 'reply capabilities are a subset of those proposed',
      spec: VERSION,
      async run(ctx) {
        const { peer, r } = await negotiated(ctx, '{"capabilities":{"max_msg_fds":1}}');
        peer.close();
        const caps = capsOf(expectOk(r, 'VERSION').payload) ?? {};
        const extra = Object.keys(caps).filter((k) => !['max_msg_fds', 'max_data_xfer_size'].includes(k));
        expectThat(extra.length === 0, `proposed only max_msg_fds, reply adds ${extra.join(', ')}`);
      },
    },
    {
      id: 'version.reply-max-data-xfer-sane',
      title: 'the reply max_data_xfer_size, when given, is a positive integer',
      spec: VERSION,
      async run(ctx) {
        const v = ctx.discovery.capabilities.max_data_xfer_size;
        if (v === undefined) return 'absent (default 1 MiB)';
        expectThat(Number.isSafeInteger(v) && (v as number) > 0, `max_data_xfer_size ${String(v)}`);
        return undefined;
      },
    },
    {
      id: 'version.reply-max-msg-fds-sane',
      title: 'the reply max_msg_fds, when given, is a non-negative integer',
      spec: VERSION,
      async run(ctx) {
        const v = ctx.discovery.capabilities.max_msg_fds;
        if (v === undefined) return 'absent (default 1)';
        expectThat(Number.isSafeInteger(v) && (v as number) >= 0, `max_msg_fds ${String(v)}`);
        return undefined;
      },
    },
    {
      id: 'version.twin-socket-not-unsolicited',
      title: 'no twin socket is granted to a client that did not ask for one',
      spec: VERSION,
      async run(ctx) {
        const { peer, r } = await negotiated(ctx);
        peer.close();
        const ok = expectOk(r, 'VERSION');
        const fds = ok.fds.length;
        for (const fd of ok.fds) fd.close();
        const twin = capsOf(ok.payload)?.twin_socket as { supported?: boolean } | undefined;
        expectThat(fds === 0 && twin?.supported !== true, `reply grants a twin socket (${fds} fds)`);
      },
    },
    {
      id: 'version.second-version-refused',
      title: 'a second VERSION on a negotiated connection is refused',
      spec: INIT,
      async run(ctx) {
        const { peer, r } = await negotiated(ctx);
        expectOk(r, 'first VERSION');
        const again = await peer.call(Cmd.Version, versionPayload(0, 0, CLIENT_JSON(1)), {
          timeoutMs: ctx.timeoutMs,
        });
        peer.close();
        if (again === 'closed') return 'closed the connection';
        return expectError(again, [E.EINVAL], 'second VERSION');
      },
    },
    beforeVersion(Cmd.GetInfo, 'DEVICE_GET_INFO', GET_INFO()),
    beforeVersion(Cmd.RegionRead, 'REGION_READ', le(['u64', 0], ['u32', 7], ['u32', 4])),
    beforeVersion(
      Cmd.DmaMap,
      'DMA_MAP',
      le(['u32', 32], ['u32', 3], ['u64', 0], ['u64', 0x1000_0000], ['u64', 0x1000]),
    ),
    beforeVersion(Cmd.Reset, 'DEVICE_RESET', new Uint8Array(0)),
  ];
  return [...checks, ...headerChecks(), ...orderingChecks()];
}

function headerChecks(): ServerCheck[] {
  const raw = (
    id: string,
    title: string,
    build: (msgId: number) => Uint8Array,
    allowClose: boolean,
  ): ServerCheck => ({
    id,
    title,
    spec: HEADER,
    async run(ctx) {
      const peer = await ctx.session();
      const msgId = peer.nextId();
      await peer.send(build(msgId));
      const r = await peer.reply(msgId, ctx.timeoutMs);
      if (r === 'closed' && allowClose) return 'closed the connection';
      // The spec names no errno here: EINVAL is libvfio-user's, ENOSYS and E2BIG QEMU's.
      const detail = expectError(r, [E.EINVAL, E.ENOSYS, E.E2BIG], title);
      // The server must go on serving after a refused message.
      if (!peer.closed)
        expectOk(
          await peer.call(Cmd.GetInfo, GET_INFO(), { timeoutMs: ctx.timeoutMs }),
          'DEVICE_GET_INFO after it',
        );
      return detail;
    },
  });
  const unknown = (command: number, why: string) =>
    raw(
      `header.command-${command}-refused`,
      `command ${command} (${why}) gets an error reply`,
      (msgId) => message({ msgId, command }, GET_INFO()),
      false,
    );
  return [
    unknown(0, 'unassigned'),
    unknown(14, 'unassigned, was DIRTY_PAGES'),
    unknown(19, 'past the last command'),
    unknown(0xffff, 'largest u16'),
    unknown(Cmd.DmaRead, 'DMA_READ flows server to client only'),
    unknown(Cmd.DmaWrite, 'DMA_WRITE flows server to client only'),
    raw(
      'header.type-2-refused',
      'a message of type 2 gets an error reply',
      (msgId) => message({ msgId, command: Cmd.GetInfo, flags: 2 }, GET_INFO()),
      true,
    ),
    raw(
      'header.type-15-refused',
      'a message of type 15 gets an error reply',
      (msgId) => message({ msgId, command: Cmd.GetInfo, flags: 15 }, GET_INFO()),
      true,
    ),
    raw(
      'header.oversize-refused',
      'a message larger than the server accepts gets an error reply and the server resynchronises',
      (msgId) => message({ msgId, command: Cmd.RegionWrite }, new Uint8Array(16 + 1024 * 1024 + 4096)),
      true,
    ),
    raw(
      'header.get-info-no-payload',
      'DEVICE_GET_INFO without a payload gets an error reply',
      (msgId) => message({ msgId, command: Cmd.GetInfo }),
      false,
    ),
    {
      id: 'header.reply-echoes-id-and-command',
      title: 'a reply echoes msg_id and cmd, has type reply and msg_size equal to its length',
      spec: HEADER,
      async run(ctx) {
        const peer = await ctx.session();
        for (const msgId of [0, 0x1234, 0xffff]) {
          await peer.send(message({ msgId, command: Cmd.GetInfo }, GET_INFO()));
          const r = expectOk(await peer.reply(msgId, ctx.timeoutMs), `DEVICE_GET_INFO msg_id ${msgId}`);
          expectThat(r.command === Cmd.GetInfo, `reply cmd ${r.command}`);
          expectThat((r.flags & 0xf) === FLAG_REPLY, `reply type ${r.flags & 0xf}`);
          expectThat(r.msgSize === 16 + r.payload.byteLength, `msg_size ${r.msgSize}`);
        }
      },
    },
    {
      id: 'header.reply-reserved-flags-zero',
      title: 'a success reply has no Error flag, no reserved flag bits and error_no 0',
      spec: HEADER,
      async run(ctx) {
        const r = expectOk(await ctx.call(Cmd.GetInfo, GET_INFO()), 'DEVICE_GET_INFO');
        expectThat((r.flags & ~0xf) === 0, `flags 0x${r.flags.toString(16)}`);
        expectThat(r.errorNo === 0, `error_no ${r.errorNo}`);
      },
    },
    {
      id: 'header.error-reply-header-only',
      title: 'an error reply is header-only with a non-zero errno',
      spec: HEADER,
      async run(ctx) {
        const r = await ctx.call(Cmd.IrqInfo, le(['u32', 16], ['u32', 0], ['u32', 0xffff], ['u32', 0]));
        expectThat(isReply(r) && (r.flags & FLAG_ERROR) !== 0, `bad index: ${describeReceived(r)}`);
        expectThat(r.msgSize === 16 && r.errorNo !== 0, `msg_size ${r.msgSize} errno ${r.errorNo}`);
      },
    },
    {
      id: 'header.unsolicited-reply-ignored',
      title: 'a reply the server never asked for does not disturb the connection',
      spec: HEADER,
      async run(ctx) {
        const peer = await ctx.session();
        await peer.send(
          message({ msgId: 0x7777, command: Cmd.DmaRead, flags: FLAG_REPLY }, le(['u64', 0], ['u64', 0])),
        );
        expectOk(
          await peer.call(Cmd.GetInfo, GET_INFO(), { timeoutMs: ctx.timeoutMs }),
          'DEVICE_GET_INFO after it',
        );
      },
    },
    {
      id: 'header.fds-on-get-info-refused',
      title: 'an fd attached to a command that takes none is refused',
      spec: { section: 'Header', practice: 'notes §1 (libvfio-user, QEMU)' },
      async run(ctx) {
        if (!ctx.fds) skip('run without fds');
        return expectError(
          await ctx.call(Cmd.GetInfo, GET_INFO(), { fds: [ctx.eventfd()] }),
          [E.EINVAL],
          'DEVICE_GET_INFO with an fd',
        );
      },
    },
    {
      id: 'header.truncated-message-then-reconnect',
      title: 'a client vanishing in the middle of a message leaves the server serving the next client',
      spec: DISCONNECT,
      async run(ctx) {
        const peer = await ctx.fresh();
        expectOk(await ctx.negotiate(peer), 'VERSION');
        const whole = message({ msgId: 9, command: Cmd.RegionWrite }, new Uint8Array(4096));
        await peer.send(whole.subarray(0, 100));
        peer.close();
        await new Promise((r) => setTimeout(r, 20));
        expectOk(await ctx.call(Cmd.GetInfo, GET_INFO()), 'DEVICE_GET_INFO on a new connection');
      },
    },
  ];
}

function orderingChecks(): ServerCheck[] {
  return [
    {
      id: 'no-reply.honoured',
      title: 'a command with No_reply gets no reply',
      spec: HEADER,
      async run(ctx) {
        const peer = await ctx.session();
        await peer.send(message({ msgId: 0x4001, command: Cmd.GetInfo, flags: FLAG_NO_REPLY }, GET_INFO()));
        await peer.send(message({ msgId: 0x4002, command: Cmd.GetInfo }, GET_INFO()));
        const first = await peer.receive(ctx.timeoutMs);
        expectThat(isReply(first), `after the No_reply command: ${describeReceived(first)}`);
        expectThat(
          first.msgId === 0x4002,
          `a reply to msg_id 0x${first.msgId.toString(16)} arrived first; No_reply was not honoured`,
        );
      },
    },
    {
      id: 'no-reply.error-silent',
      title: 'a failing command with No_reply gets no error reply',
      spec: HEADER,
      async run(ctx) {
        const peer = await ctx.session();
        await peer.send(
          message(
            { msgId: 0x4101, command: Cmd.IrqInfo, flags: FLAG_NO_REPLY },
            le(['u32', 16], ['u32', 0], ['u32', 0xffff], ['u32', 0]),
          ),
        );
        await peer.send(message({ msgId: 0x4102, command: Cmd.GetInfo }, GET_INFO()));
        const first = await peer.receive(ctx.timeoutMs);
        expectThat(
          isReply(first) && first.msgId === 0x4102,
          `first message after it: ${describeReceived(first)} msg_id ${isReply(first) ? first.msgId : '-'}`,
        );
      },
    },
    {
      id: 'ordering.pipelined-replies-in-order',
      title: 'pipelined commands are answered in arrival order',
      spec: ORDER,
      async run(ctx) {
        const peer = await ctx.session();
        const ids = Array.from({ length: 32 }, (_, i) => 0x5000 + i);
        for (const msgId of ids) await peer.send(message({ msgId, command: Cmd.GetInfo }, GET_INFO()));
        for (const msgId of ids) {
          const r = await peer.receive(ctx.timeoutMs);
          expectThat(
            isReply(r) && r.msgId === msgId,
            `expected the reply to 0x${msgId.toString(16)}, got ${describeReceived(r)} ${isReply(r) ? `0x${r.msgId.toString(16)}` : ''}`,
          );
        }
      },
    },
    {
      id: 'ordering.posted-write-then-read',
      title: 'a posted (No_reply) config write is seen by the next read',
      spec: ORDER,
      async run(ctx) {
        const peer = await ctx.session();
        // Interrupt Line (0x3c) is a read-write scratch byte in every PCI function's header.
        for (const value of [0x5a, 0xa5]) {
          await peer.send(
            message(
              { msgId: peer.nextId(), command: Cmd.RegionWrite, flags: FLAG_NO_REPLY },
              le(['u64', 0x3c], ['u32', 7], ['u32', 1], ['u8', value]),
            ),
          );
          const r = expectOk(
            await peer.call(Cmd.RegionRead, le(['u64', 0x3c], ['u32', 7], ['u32', 1]), {
              timeoutMs: ctx.timeoutMs,
            }),
            'REGION_READ 0x3c',
          );
          expectThat(
            r.payload[16] === value,
            `read 0x${r.payload[16]?.toString(16)} after posting 0x${value.toString(16)}`,
          );
        }
      },
    },
    {
      id: 'ordering.repeated-msg-id',
      title: 'a msg_id reused by consecutive commands is answered each time',
      spec: HEADER,
      async run(ctx) {
        const peer = await ctx.session();
        for (let i = 0; i < 3; i++)
          await peer.send(message({ msgId: 0x6000, command: Cmd.GetInfo }, GET_INFO()));
        for (let i = 0; i < 3; i++) expectOk(await peer.reply(0x6000, ctx.timeoutMs), `reply ${i + 1} of 3`);
      },
    },
    {
      id: 'disconnect.second-client-refused',
      title: 'a second client while one is served is refused without disturbing the first',
      spec: { section: 'Connection Initiation', practice: 'notes §1: one connection serves one client' },
      async run(ctx) {
        const first = await ctx.session();
        const { RawPeer } = await import('../peer');
        const second = await RawPeer.connect(ctx.socketPath);
        const r = await second.call(Cmd.Version, versionPayload(0, 0, CLIENT_JSON(1)), { timeoutMs: 500 });
        second.close();
        const refused = r === 'closed' || r === 'timeout' || (isReply(r) && (r.flags & FLAG_ERROR) !== 0);
        expectThat(refused, `second client got ${describeReceived(r)}`);
        expectOk(
          await first.call(Cmd.GetInfo, GET_INFO(), { timeoutMs: ctx.timeoutMs }),
          'first client afterwards',
        );
        return r === 'timeout' ? 'left the second client waiting' : describeReceived(r);
      },
    },
    {
      id: 'disconnect.dma-forgotten',
      title: 'after a disconnect the DMA mappings of the old client are gone',
      spec: DISCONNECT,
      async run(ctx) {
        const map = le(['u32', 32], ['u32', 3], ['u64', 0], ['u64', 0x7000_0000], ['u64', 0x1000]);
        expectOk(await ctx.call(Cmd.DmaMap, map), 'DMA_MAP');
        await ctx.dropShared();
        const r = await ctx.call(
          Cmd.DmaUnmap,
          le(['u32', 24], ['u32', 0], ['u64', 0x7000_0000], ['u64', 0x1000]),
        );
        return expectError(r, [E.ENOENT, E.EINVAL], 'DMA_UNMAP of the old mapping');
      },
    },
    {
      id: 'disconnect.device-state-kept',
      title: 'device state survives a disconnect for a reconnecting client',
      spec: DISCONNECT,
      async run(ctx) {
        expectOk(
          await ctx.call(Cmd.RegionWrite, le(['u64', 0x3c], ['u32', 7], ['u32', 1], ['u8', 0x42])),
          'write 0x3c',
        );
        await ctx.dropShared();
        const r = expectOk(
          await ctx.call(Cmd.RegionRead, le(['u64', 0x3c], ['u32', 7], ['u32', 1])),
          'read 0x3c after reconnecting',
        );
        expectThat(
          r.payload[16] === 0x42,
          `Interrupt Line reads 0x${r.payload[16]?.toString(16)} after reconnecting, was 0x42`,
        );
      },
    },
  ];
}
