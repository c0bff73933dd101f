import type { CommandCodec, DescribedField } from '../codec-types';
import { Command } from '../command';
import { DeviceFeatureFlags, DeviceFeatureIndex, MigrationFlags, migDeviceStateName } from '../constants';
import { dirtyBitmapSize } from '../migration';
import { encodeError, flagNames, hex, hexBytes, type PayloadReader, type PayloadWriter } from '../wire';

/** An IOVA range of DMA logging. */
export interface IovaRange {
  iova: bigint;
  length: bigint;
}

/**
 * Feature data of DEVICE_FEATURE, by feature index. Which form applies is decided by the
 * feature index; features this package does not know stay `raw`.
 */
export type DeviceFeatureData =
  /** MIGRATION (1): `VFIO_MIGRATION_*` flags. */
  | { kind: 'migration'; flags: bigint }
  /** MIG_DEVICE_STATE (2): `data_fd` is unused by vfio-user (-1 or 0 on the wire). */
  | { kind: 'mig-device-state'; deviceState: number; dataFd: number }
  /** DMA_LOGGING_START (6) / STOP (7): `ranges` empty = log everything. */
  | { kind: 'dma-logging-control'; pageSize: bigint; ranges: IovaRange[] }
  /** DMA_LOGGING_REPORT (8): the request range; the reply adds the bitmap (a view). */
  | { kind: 'dma-logging-report'; iova: bigint; length: bigint; pageSize: bigint; bitmap?: Uint8Array }
  | { kind: 'raw'; bytes: Uint8Array };

/**
 * DEVICE_FEATURE request or reply: `feature` index, GET / SET / PROBE, then optional data.
 * In a request `argsz` is the largest reply the client accepts; in a reply, the reply's size.
 */
export interface DeviceFeaturePayload {
  argsz: number;
  feature: number;
  get: boolean;
  set: boolean;
  probe: boolean;
  data?: DeviceFeatureData;
}

/** DEVICE_FEATURE request. */
export type DeviceFeatureRequest = DeviceFeaturePayload;
/** DEVICE_FEATURE reply (SET and PROBE echo the request; GET returns the data). */
export type DeviceFeatureReply = DeviceFeaturePayload;

const FEATURE_NAMES: Record<number, string> = {
  0: 'PCI_VF_TOKEN',
  1: 'MIGRATION',
  2: 'MIG_DEVICE_STATE',
  6: 'DMA_LOGGING_START',
  7: 'DMA_LOGGING_STOP',
  8: 'DMA_LOGGING_REPORT',
};

/** Spec name of a feature index. */
export function deviceFeatureName(feature: number): string {
  return FEATURE_NAMES[feature] ?? `FEATURE(${feature})`;
}

const KNOWN_FLAGS =
  DeviceFeatureFlags.Mask | DeviceFeatureFlags.Get | DeviceFeatureFlags.Set | DeviceFeatureFlags.Probe;

function decodeData(r: PayloadReader, feature: number, reply: boolean): DeviceFeatureData | undefined {
  const n = r.length - 8;
  if (n === 0) return undefined;
  switch (feature) {
    case DeviceFeatureIndex.Migration:
      r.exact(16, 'MIGRATION data');
      return { kind: 'migration', flags: r.u64(8, 'migration_flags') };
    case DeviceFeatureIndex.MigDeviceState: {
      r.exact(16, 'MIG_DEVICE_STATE data');
      const deviceState = r.u32(8, 'device_state');
      if (deviceState > 7)
        throw r.error('bad-field', `device_state ${deviceState} is not a state`, 'device_state', 8);
      return { kind: 'mig-device-state', deviceState, dataFd: r.i32(12, 'data_fd') };
    }
    case DeviceFeatureIndex.DmaLoggingStart:
    case DeviceFeatureIndex.DmaLoggingStop: {
      r.need(24, 'the DMA logging control');
      const pageSize = r.u64(8, 'page_size');
      const num = r.u32(16, 'num_ranges');
      r.zero(20, 4, 'reserved');
      if (BigInt(r.length) !== 24n + 16n * BigInt(num)) {
        throw r.error('bad-field', `num_ranges ${num} but ${r.length - 24} range bytes`, 'num_ranges', 16);
      }
      if (feature === DeviceFeatureIndex.DmaLoggingStart && pageSize === 0n) {
        throw r.error('bad-field', 'page_size is 0', 'page_size', 8);
      }
      const ranges: IovaRange[] = [];
      for (let at = 24; at < r.length; at += 16) {
        const iova = r.u64(at, 'range.iova');
        const length = r.u64(at + 8, 'range.length');
        if (iova + length > 1n << 64n)
          throw r.error('bad-field', `range ${hex(iova)}+${hex(length)} wraps`, 'range', at);
        ranges.push({ iova, length });
      }
      return { kind: 'dma-logging-control', pageSize, ranges };
    }
    case DeviceFeatureIndex.DmaLoggingReport: {
      r.need(32, 'the DMA logging report range');
      const iova = r.u64(8, 'iova');
      const length = r.u64(16, 'length');
      const pageSize = r.u64(24, 'page_size');
      if (pageSize === 0n || (pageSize & (pageSize - 1n)) !== 0n) {
        throw r.error('bad-field', `page_size ${pageSize} is not a power of two`, 'page_size', 24);
      }
      if (iova + length > 1n << 64n)
        throw r.error('bad-field', `range ${hex(iova)}+${hex(length)} wraps`, 'length', 16);
      if (!reply) {
        r.exact(32, 'the DMA logging report range');
        return { kind: 'dma-logging-report', iova, length, pageSize };
      }
      const expected = dirtyBitmapSize(length, pageSize);
      if (BigInt(r.length - 32) !== expected) {
        throw r.error(
          'bad-field',
          `bitmap is ${r.length - 32} bytes, the range needs ${expected}`,
          'bitmap',
          32,
        );
      }
      return {
        kind: 'dma-logging-report',
        iova,
        length,
        pageSize,
        bitmap: r.view8(32, r.length - 32, 'bitmap'),
      };
    }
    default:
      return { kind: 'raw', bytes: r.view8(8, n, 'data') };
  }
}

function dataSize(d: DeviceFeatureData | undefined): number {
  if (d === undefined) return 0;
  switch (d.kind) {
    case 'migration':
    case 'mig-device-state':
      return 8;
    case 'dma-logging-control':
      return 16 + 16 * d.ranges.length;
    case 'dma-logging-report':
      return 24 + (d.bitmap?.length ?? 0);
    case 'raw':
      return d.bytes.length;
  }
}

const KIND_BY_FEATURE: Record<number, DeviceFeatureData['kind']> = {
  [DeviceFeatureIndex.Migration]: 'migration',
  [DeviceFeatureIndex.MigDeviceState]: 'mig-device-state',
  [DeviceFeatureIndex.DmaLoggingStart]: 'dma-logging-control',
  [DeviceFeatureIndex.DmaLoggingStop]: 'dma-logging-control',
  [DeviceFeatureIndex.DmaLoggingReport]: 'dma-logging-report',
};

function encodeData(w: PayloadWriter, p: DeviceFeaturePayload): void {
  const d = p.data;
  if (d === undefined) return;
  if ((KIND_BY_FEATURE[p.feature] ?? 'raw') !== d.kind) {
    throw encodeError(
      'DEVICE_FEATURE',
      `${d.kind} data does not belong to ${deviceFeatureName(p.feature)}`,
      'data',
    );
  }
  switch (d.kind) {
    case 'migration':
      w.u64(8, d.flags, 'migration_flags');
      return;
    case 'mig-device-state':
      w.u32(8, d.deviceState, 'device_state');
      w.i32(12, d.dataFd, 'data_fd');
      return;
    case 'dma-logging-control':
      w.u64(8, d.pageSize, 'page_size');
      w.u32(16, d.ranges.length, 'num_ranges');
      w.u32(20, 0, 'reserved');
      d.ranges.forEach((g, i) => {
        w.u64(24 + 16 * i, g.iova, 'range.iova');
        w.u64(32 + 16 * i, g.length, 'range.length');
      });
      return;
    case 'dma-logging-report':
      w.u64(8, d.iova, 'iova');
      w.u64(16, d.length, 'length');
      w.u64(24, d.pageSize, 'page_size');
      if (d.bitmap) w.bytesAt(32, d.bitmap);
      return;
    case 'raw':
      w.bytesAt(8, d.bytes);
      return;
  }
}

function decode(r: PayloadReader, fds: readonly number[], reply: boolean): DeviceFeaturePayload {
  r.noFds(fds);
  r.need(8, 'the DEVICE_FEATURE head');
  const argsz = r.u32(0, 'argsz');
  r.argszAtLeast(argsz, 8);
  const flags = r.u32(4, 'flags');
  if ((flags & ~KNOWN_FLAGS) !== 0) throw r.error('bad-field', `unknown flags ${hex(flags)}`, 'flags', 4);
  const get = (flags & DeviceFeatureFlags.Get) !== 0;
  const set = (flags & DeviceFeatureFlags.Set) !== 0;
  const probe = (flags & DeviceFeatureFlags.Probe) !== 0;
  if (!get && !set && !probe) throw r.error('bad-field', 'none of GET, SET, PROBE is set', 'flags', 4);
  // GET and SET together only make sense in a PROBE (asks whether both are supported).
  if (get && set && !probe) throw r.error('bad-field', 'GET and SET without PROBE', 'flags', 4);
  const feature = flags & DeviceFeatureFlags.Mask;
  const data = decodeData(r, feature, reply);
  return data === undefined ? { argsz, feature, get, set, probe } : { argsz, feature, get, set, probe, data };
}

function encode(w: PayloadWriter, p: DeviceFeaturePayload): void {
  w.u32(0, p.argsz, 'argsz');
  if (!Number.isInteger(p.feature) || p.feature < 0 || p.feature > DeviceFeatureFlags.Mask) {
    throw encodeError('DEVICE_FEATURE', `feature ${p.feature} is not a 16-bit index`, 'feature');
  }
  w.u32(
    4,
    p.feature |
      (p.get ? DeviceFeatureFlags.Get : 0) |
      (p.set ? DeviceFeatureFlags.Set : 0) |
      (p.probe ? DeviceFeatureFlags.Probe : 0),
    'flags',
  );
  encodeData(w, p);
}

function describeData(d: DeviceFeatureData): DescribedField[] {
  switch (d.kind) {
    case 'migration':
      return [
        [
          'migration_flags',
          flagNames(Number(d.flags & 0xffffn), [
            [Number(MigrationFlags.StopCopy), 'STOP_COPY'],
            [Number(MigrationFlags.P2p), 'P2P'],
            [Number(MigrationFlags.PreCopy), 'PRE_COPY'],
          ]),
        ],
      ];
    case 'mig-device-state':
      return [
        ['device_state', migDeviceStateName(d.deviceState)],
        ['data_fd', String(d.dataFd)],
      ];
    case 'dma-logging-control':
      return [
        ['page_size', hex(d.pageSize)],
        ['num_ranges', String(d.ranges.length)],
        ...(d.ranges.length > 0
          ? ([['ranges', d.ranges.map((g) => `${hex(g.iova)}+${hex(g.length)}`).join(', ')]] as const)
          : []),
      ];
    case 'dma-logging-report':
      return [
        ['iova', hex(d.iova)],
        ['length', hex(d.length)],
        ['page_size', hex(d.pageSize)],
        ...(d.bitmap ? ([['bitmap', hexBytes(d.bitmap)]] as const) : []),
      ];
    case 'raw':
      return [['data', hexBytes(d.bytes)]];
  }
}

function describe(p: DeviceFeaturePayload): DescribedField[] {
  const op = [p.get && 'GET', p.set && 'SET', p.probe && 'PROBE'].filter(Boolean).join('|');
  return [
    ['argsz', String(p.argsz)],
    ['feature', deviceFeatureName(p.feature)],
    ['op', op],
    ...(p.data ? describeData(p.data) : []),
  ];
}

/** DEVICE_FEATURE (16), including migration v2 and DMA dirty logging. */
export const deviceFeatureCodec: CommandCodec<DeviceFeatureRequest, DeviceFeatureReply> = {
  command: Command.DeviceFeature,
  name: 'DEVICE_FEATURE',
  decodeRequest: (r, fds) => decode(r, fds, false),
  requestSize: (q) => 8 + dataSize(q.data),
  encodeRequest: encode,
  describeRequest: describe,
  decodeReply: (r, fds) => decode(r, fds, true),
  replySize: (p) => 8 + dataSize(p.data),
  encodeReply: encode,
  describeReply: describe,
};
