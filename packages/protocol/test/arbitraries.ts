import fc from 'fast-check';
import { Command, type DeviceFeatureData, type Message, type VersionCapabilities } from '../src/index';

const U64_MAX = (1n << 64n) - 1n;
export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
export const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
const smallU64 = fc.bigInt({ min: 0n, max: 1n << 48n });
const bytes = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max });
const fdList = (min: number, max: number) =>
  fc.array(fc.integer({ min: 3, max: 1 << 20 }), { minLength: min, maxLength: max });

/** An address and size whose sum stays within 64 bits. */
const range = fc
  .tuple(u64, u64)
  .map(([a, b]) => (a + b > 1n << 64n ? { addr: a, size: (1n << 64n) - a } : { addr: a, size: b }));

const capabilities: fc.Arbitrary<VersionCapabilities> = fc.record(
  {
    maxMsgFds: fc.integer({ min: 0, max: 1024 }),
    maxDataXferSize: fc.integer({ min: 1, max: 1 << 26 }),
    maxDmaMaps: fc.integer({ min: 0, max: 65535 }),
    pgsizes: fc.integer({ min: 1, max: 1 << 20 }).map((n) => n * 4096),
    migration: fc.record(
      {
        pgsize: fc.integer({ min: 12, max: 21 }).map((s) => 2 ** s),
        maxBitmapSize: fc.integer({ min: 0, max: 1 << 28 }),
      },
      { requiredKeys: [] },
    ),
    twinSocket: fc.record({ supported: fc.boolean() }, { requiredKeys: [] }),
    writeMultiple: fc.boolean(),
  },
  { requiredKeys: [] },
);

type Body = { body: unknown; fds?: number[] };
type Gen = { request: fc.Arbitrary<Body>; reply: fc.Arbitrary<Body> };
const empty: fc.Arbitrary<Body> = fc.constant({ body: {} });
const body = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<Body> => a.map((b) => ({ body: b }));

const regionAccess = fc.record({ offset: smallU64, region: u32, count: fc.integer({ min: 0, max: 64 }) });
const dmaAccess = fc.record({ address: smallU64, count: fc.bigInt({ min: 0n, max: 64n }) });

const featureData: fc.Arbitrary<{ feature: number; data?: DeviceFeatureData }> = fc.oneof(
  fc.record({ feature: fc.constantFrom(1, 2, 6, 7, 8, 3, 99) }),
  fc.record({ feature: fc.constant(1), data: u64.map((flags) => ({ kind: 'migration' as const, flags })) }),
  fc.record({
    feature: fc.constant(2),
    data: fc.record({
      kind: fc.constant('mig-device-state' as const),
      deviceState: fc.integer({ min: 0, max: 7 }),
      dataFd: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
    }),
  }),
  fc.record({
    feature: fc.constantFrom(6, 7),
    data: fc.record({
      kind: fc.constant('dma-logging-control' as const),
      pageSize: fc.bigInt({ min: 1n, max: 1n << 30n }),
      ranges: fc.array(
        range.map(({ addr, size }) => ({ iova: addr, length: size })),
        { maxLength: 4 },
      ),
    }),
  }),
  fc.record({
    feature: fc.constantFrom(3, 4, 1000),
    data: bytes(24, 1).map((b) => ({ kind: 'raw' as const, bytes: b })),
  }),
);

const reportRequest = fc.record({
  iova: smallU64,
  length: fc.bigInt({ min: 0n, max: 1n << 24n }),
  pageSize: fc.integer({ min: 9, max: 16 }).map((s) => 1n << BigInt(s)),
});

const feature = (reply: boolean): fc.Arbitrary<Body> =>
  fc
    .tuple(
      u32,
      fc.constantFrom(
        [true, false, false],
        [false, true, false],
        [false, false, true],
        [true, true, true],
        [true, false, true],
      ),
      fc.oneof(
        featureData,
        fc.record({
          feature: fc.constant(8),
          data: reportRequest.map((r) => {
            if (!reply) return { kind: 'dma-logging-report' as const, ...r };
            const pages = (r.length + r.pageSize - 1n) / r.pageSize;
            const n = Number(((pages + 63n) / 64n) * 8n);
            return {
              kind: 'dma-logging-report' as const,
              ...r,
              bitmap: new Uint8Array(n).map((_, i) => (i * 37) & 0xff),
            };
          }),
        }),
      ),
    )
    .map(([argsz, [get, set, probe], fd]) => ({
      body: {
        argsz: Math.max(argsz, 8),
        feature: fd.feature,
        get,
        set,
        probe,
        ...(fd.data ? { data: fd.data } : {}),
      },
    }));

const ioFdsReply: fc.Arbitrary<Body> = fc.oneof(
  // Truncated or empty: no entries, no fds.
  fc.record({ argsz: fc.integer({ min: 16, max: 4096 }), index: u32, count: u32 }).map((b) => ({
    body: { ...b, subRegions: [] },
  })),
  fc
    .tuple(
      fc.constantFrom(40 as const, 48 as const),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 4 }),
    )
    .chain(([entrySize, nfds, n]) =>
      fc
        .record({
          index: u32,
          extra: fc.integer({ min: 0, max: 64 }),
          fds: fdList(nfds, nfds),
          subRegions: fc.array(
            fc
              .record({
                offset: u64,
                size: u64,
                fdIndex: fc.integer({ min: 0, max: nfds - 1 }),
                type: fc.integer({ min: 0, max: entrySize === 40 ? 1 : 2 }),
                flags: u32,
                datamatch: u64,
                shadowMemFdIndex: fc.integer({ min: 0, max: nfds - 1 }),
                shadowOffset: u64,
              })
              .map((s) => {
                if (entrySize === 48) return s;
                const { shadowMemFdIndex: _a, shadowOffset: _b, ...rest } = s;
                return rest;
              }),
            { minLength: n, maxLength: n },
          ),
        })
        .map((r) => ({
          fds: r.fds,
          body: {
            argsz: 16 + n * entrySize + r.extra,
            index: r.index,
            count: n,
            subRegions: r.subRegions,
            entrySize,
          },
        })),
    ),
);

const regionInfoReply: fc.Arbitrary<Body> = fc
  .record({
    flags: fc.integer({ min: 0, max: 7 }),
    index: u32,
    size: fc.bigInt({ min: 0n, max: 1n << 40n }),
    offset: u64,
    extra: fc.integer({ min: 0, max: 64 }),
    caps: fc.array(
      fc.oneof(
        fc.record({ id: fc.constant(2), version: u16, type: u32, subtype: u32 }),
        fc.record({ id: fc.integer({ min: 3, max: 0xffff }), version: u16, data: bytes(16) }),
        fc.record({
          id: fc.constant(1),
          version: u16,
          areas: fc.array(fc.record({ offset: fc.constant(0n), size: fc.constant(0n) }), { maxLength: 3 }),
        }),
      ),
      { maxLength: 3 },
    ),
    withFd: fc.boolean(),
  })
  .map((r) => {
    const capabilities = r.caps.map((c) =>
      'areas' in c
        ? { ...c, areas: c.areas.map((_, i) => ({ offset: (r.size * BigInt(i)) / 4n, size: r.size / 4n })) }
        : c,
    );
    const capBytes = capabilities.reduce(
      (n, c) => n + ('areas' in c ? 16 + 16 * c.areas.length : 'data' in c ? 8 + c.data.length : 16),
      0,
    );
    const flags = r.flags | (capabilities.length > 0 ? 8 : 0);
    const fds = r.withFd && (flags & 4) !== 0 ? [77] : [];
    return {
      fds,
      body: {
        argsz: 32 + capBytes + r.extra,
        flags,
        index: r.index,
        size: r.size,
        offset: r.offset,
        capabilities,
      },
    };
  });

const setIrqs: fc.Arbitrary<Body> = fc
  .record({
    action: fc.constantFrom('mask' as const, 'unmask' as const, 'trigger' as const),
    dataType: fc.constantFrom('none' as const, 'bool' as const, 'eventfd' as const),
    index: u32,
    start: fc.integer({ min: 0, max: 1000 }),
    count: fc.integer({ min: 1, max: 8 }),
    withFds: fc.boolean(),
    extra: fc.integer({ min: 0, max: 8 }),
  })
  .map((r) => {
    const data = r.dataType === 'bool' ? new Uint8Array(r.count).map((_, i) => i & 1) : undefined;
    const fds =
      r.dataType === 'eventfd' && r.withFds ? Array.from({ length: r.count }, (_, i) => 10 + i) : [];
    const b = {
      argsz: 20 + (data?.length ?? 0) + r.extra,
      action: r.action,
      dataType: r.dataType,
      index: r.index,
      start: r.start,
      count: r.count,
    };
    return { fds, body: data ? { ...b, data } : b };
  });

/** Generators of valid request and reply bodies (with fds) for every command. */
export const GENERATORS: Record<Command, Gen> = {
  [Command.Version]: {
    request: body(fc.record({ major: u16, minor: u16, capabilities }, { requiredKeys: ['major', 'minor'] })),
    reply: body(fc.record({ major: u16, minor: u16, capabilities }, { requiredKeys: ['major', 'minor'] })),
  },
  [Command.DmaMap]: {
    request: fc
      .record({
        argsz: fc.integer({ min: 32, max: 0xffff_ffff }),
        flags: fc.integer({ min: 0, max: 3 }),
        offset: u64,
        r: range,
        fd: fc.boolean(),
        extra: fc.constantFrom(0, 4, 8),
      })
      .filter((x) => x.r.size > 0n)
      .map((x) => ({
        fds: x.fd || x.extra ? [5] : [],
        body: { argsz: x.argsz, flags: x.flags | x.extra, offset: x.offset, addr: x.r.addr, size: x.r.size },
      })),
    reply: empty,
  },
  [Command.DmaUnmap]: {
    request: fc.oneof(
      fc
        .record({ argsz: fc.integer({ min: 24, max: 1 << 20 }), flags: fc.constant(0), r: range })
        .map((x) => ({
          body: { argsz: x.argsz, flags: 0, addr: x.r.addr, size: x.r.size },
        })),
      fc
        .integer({ min: 24, max: 1 << 20 })
        .map((argsz) => ({ body: { argsz, flags: 2, addr: 0n, size: 0n } })),
      fc
        .record({ r: range, pg: fc.integer({ min: 12, max: 21 }), bm: fc.integer({ min: 0, max: 4096 }) })
        .map((x) => ({
          body: {
            argsz: 40 + x.bm,
            flags: 1,
            addr: x.r.addr,
            size: x.r.size,
            bitmap: { pgsize: 1n << BigInt(x.pg), size: BigInt(x.bm) },
          },
        })),
    ),
    reply: fc.oneof(
      fc.constant({ body: { form: 'header-only' } }),
      fc
        .record({ argsz: u32, r: range })
        .map((x) => ({ body: { argsz: x.argsz, flags: 0, addr: x.r.addr, size: x.r.size } })),
      fc.record({ argsz: u32, r: range, data: bytes(32) }).map((x) => ({
        body: {
          argsz: x.argsz,
          flags: 1,
          addr: x.r.addr,
          size: x.r.size,
          bitmap: { pgsize: 4096n, size: BigInt(x.data.length), data: x.data },
        },
      })),
    ),
  },
  [Command.DeviceGetInfo]: {
    request: body(fc.record({ argsz: fc.integer({ min: 16, max: 0xffff_ffff }) })),
    reply: body(
      fc.record({
        argsz: fc.integer({ min: 16, max: 0xffff_ffff }),
        flags: u32,
        numRegions: u32,
        numIrqs: u32,
      }),
    ),
  },
  [Command.DeviceGetRegionInfo]: {
    request: body(
      fc.record(
        { argsz: fc.integer({ min: 32, max: 0xffff_ffff }), index: u32, trailing: bytes(48, 1) },
        { requiredKeys: ['argsz', 'index'] },
      ),
    ),
    reply: regionInfoReply,
  },
  [Command.DeviceGetRegionIoFds]: {
    request: body(fc.record({ argsz: fc.integer({ min: 16, max: 0xffff_ffff }), index: u32 })),
    reply: ioFdsReply,
  },
  [Command.DeviceGetIrqInfo]: {
    request: body(fc.record({ argsz: fc.integer({ min: 16, max: 0xffff_ffff }), index: u32 })),
    reply: body(
      fc.record({
        argsz: fc.integer({ min: 16, max: 0xffff_ffff }),
        flags: fc.integer({ min: 0, max: 15 }),
        index: u32,
        count: u32,
      }),
    ),
  },
  [Command.DeviceSetIrqs]: { request: setIrqs, reply: empty },
  [Command.RegionRead]: {
    request: body(regionAccess),
    reply: fc.oneof(
      fc.constant({ body: { form: 'header-only' } }),
      regionAccess.chain((a) => bytes(a.count, a.count).map((data) => ({ body: { ...a, data } }))),
    ),
  },
  [Command.RegionWrite]: {
    request: regionAccess.chain((a) => bytes(a.count, a.count).map((data) => ({ body: { ...a, data } }))),
    reply: body(regionAccess),
  },
  [Command.DmaRead]: {
    request: body(dmaAccess),
    reply: dmaAccess.chain((a) =>
      bytes(Number(a.count), Number(a.count)).map((data) => ({ body: { ...a, data } })),
    ),
  },
  [Command.DmaWrite]: {
    request: dmaAccess.chain((a) =>
      bytes(Number(a.count), Number(a.count)).map((data) => ({ body: { ...a, data } })),
    ),
    reply: fc.oneof(
      body(dmaAccess),
      body(
        fc.record({
          form: fc.constant('short'),
          address: u64,
          count: fc.bigInt({ min: 0n, max: 0xffff_ffffn }),
        }),
      ),
      fc.constant({ body: { form: 'header-only' } }),
    ),
  },
  [Command.DeviceReset]: { request: empty, reply: empty },
  [Command.RegionWriteMulti]: {
    request: body(
      fc.record({
        writes: fc.array(fc.record({ offset: u64, region: u32, data: bytes(8) }), {
          minLength: 1,
          maxLength: 12,
        }),
      }),
    ),
    reply: body(fc.record({ wrCnt: u64 })),
  },
  [Command.DeviceFeature]: { request: feature(false), reply: feature(true) },
  [Command.MigDataRead]: {
    request: fc
      .record({ size: fc.integer({ min: 0, max: 1 << 20 }), extra: fc.integer({ min: 0, max: 100 }) })
      .map((x) => ({ body: { argsz: 8 + x.size + x.extra, size: x.size } })),
    reply: fc
      .record(
        { argsz: fc.integer({ min: 8, max: 0xffff_ffff }), data: bytes(64), trailing: bytes(64, 1) },
        { requiredKeys: ['argsz', 'data'] },
      )
      .map((x) => ({ body: { ...x, size: x.data.length } })),
  },
  [Command.MigDataWrite]: {
    request: fc
      .record({ data: bytes(64), extra: fc.integer({ min: 0, max: 100 }) })
      .map((x) => ({ body: { argsz: 8 + x.data.length + x.extra, size: x.data.length, data: x.data } })),
    reply: empty,
  },
};

const COMMANDS = Object.values(Command).filter((v): v is Command => typeof v === 'number');

/** A valid message of any command, kind and id. */
export const anyMessage: fc.Arbitrary<Message> = fc
  .tuple(fc.constantFrom(...COMMANDS), fc.boolean(), u16, fc.boolean())
  .chain(([command, isRequest, msgId, noReply]) =>
    (isRequest ? GENERATORS[command].request : GENERATORS[command].reply).map(
      (g) =>
        ({
          kind: isRequest ? 'request' : 'reply',
          command,
          msgId,
          ...(isRequest && noReply ? { noReply: true } : {}),
          body: g.body,
          fds: g.fds ?? [],
        }) as Message,
    ),
  );

/** Messages of one command. */
export function messagesOf(command: Command): fc.Arbitrary<Message> {
  return fc.tuple(fc.boolean(), u16).chain(([isRequest, msgId]) =>
    (isRequest ? GENERATORS[command].request : GENERATORS[command].reply).map(
      (g) =>
        ({
          kind: isRequest ? 'request' : 'reply',
          command,
          msgId,
          body: g.body,
          fds: g.fds ?? [],
        }) as Message,
    ),
  );
}

export { COMMANDS };
