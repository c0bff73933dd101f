/**
 * REGION_READ request and reply: encode + decode throughput, as a ratio to the cheapest thing a
 * receiver must do anyway, reading the 16-byte header with a bare DataView.
 * Run with `corepack pnpm --filter @vfu/protocol bench`.
 */
import { runBenchSuite } from '@vfu/test-utils';
import {
  Command,
  decodeHeader,
  decodeMessage,
  encodeMessage,
  HEADER_SIZE,
  type Message,
  MessageFramer,
  messageSize,
} from '../src/index';

async function main(): Promise<void> {
  const request: Message = {
    kind: 'request',
    command: Command.RegionRead,
    msgId: 0x42,
    body: { offset: 0x10n, region: 0, count: 4 },
  };
  const reply4: Message = {
    kind: 'reply',
    command: Command.RegionRead,
    msgId: 0x42,
    body: { offset: 0x10n, region: 0, count: 4, data: Uint8Array.of(1, 2, 3, 4) },
  };
  const reply4k: Message = {
    kind: 'reply',
    command: Command.RegionRead,
    msgId: 0x42,
    body: { offset: 0n, region: 1, count: 4096, data: new Uint8Array(4096).fill(0x5a) },
  };
  const requestBytes = encodeMessage(request);
  const reply4Bytes = encodeMessage(reply4);
  const reply4kBytes = encodeMessage(reply4k);
  const out = new Uint8Array(messageSize(reply4k));
  const noFds: number[] = [];
  // Results feed this sum so no case can be optimised away.
  let sink = 0;

  const decode = (bytes: Uint8Array) => {
    const m = decodeMessage({
      header: decodeHeader(bytes),
      payload: bytes.subarray(HEADER_SIZE),
      fds: noFds,
    });
    sink += m.msgId;
  };
  const framer = new MessageFramer({ maxMessageSize: 1 << 21, maxFdsPerMessage: 8 });

  await runBenchSuite({
    title: '@vfu/protocol: REGION_READ encode + decode (messages/s)',
    timeMs: 500,
    baseline: {
      name: 'DataView read of a 16-byte header',
      fn: () => {
        const v = new DataView(requestBytes.buffer, requestBytes.byteOffset, HEADER_SIZE);
        sink +=
          v.getUint16(0, true) +
          v.getUint16(2, true) +
          v.getUint32(4, true) +
          v.getUint32(8, true) +
          v.getUint32(12, true);
      },
    },
    cases: [
      {
        name: 'REGION_READ request: encode (caller buffer)',
        fn: () => (sink += encodeMessage(request, out).length),
      },
      { name: 'REGION_READ request: decode', fn: () => decode(requestBytes) },
      {
        name: 'REGION_READ request: encode + decode',
        fn: () => decode(encodeMessage(request, out)),
      },
      {
        name: 'REGION_READ reply 4 B: encode + decode',
        fn: () => decode(encodeMessage(reply4, out)),
      },
      {
        name: 'REGION_READ reply 4 KiB: encode + decode',
        fn: () => decode(encodeMessage(reply4k, out)),
      },
      {
        name: 'REGION_READ reply 4 KiB: decode only (zero-copy)',
        fn: () => decode(reply4kBytes),
      },
      {
        name: 'framer push + next + decode, request',
        fn: () => {
          framer.push(requestBytes);
          const e = framer.next();
          if (e?.kind === 'message') sink += decodeMessage(e.message).msgId;
        },
      },
      { name: 'REGION_READ reply 4 B: decode', fn: () => decode(reply4Bytes) },
    ],
  });
  if (sink === -1) console.log(sink);
}

await main();
