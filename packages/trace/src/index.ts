/**
 * @vfu/trace: vfio-user session captures. A pcapng writer (with rotation) and reader, the message
 * layout the Wireshark dissector in `wireshark/vfio-user.lua` decodes, and the `vfu-trace` tools:
 * decode, stats and replay.
 */
export * from './capture';
export { type CliIo as TraceCliIo, main as traceMain } from './cli-main';
export {
  type CommandStats,
  captureStats,
  decodeLine,
  formatStats,
  type MessageFilter,
  matchesFilter,
  rawHeader,
  summarize,
} from './decode';
export {
  type ReplayDifference,
  type ReplayOptions,
  type ReplayResult,
  type ReplaySelection,
  replayAgainstServer,
  selectConnection,
} from './replay';
