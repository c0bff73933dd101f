export { type BenchCase, type BenchRow, type BenchSuite, printTable, runBenchSuite } from './bench';
export { connectQmp, type QmpMessage, type QmpTestClient } from './qmp-client';
export {
  type EndpointLine,
  type ProcessExit,
  type ProcessResult,
  parseEndpointLines,
  parseMonitorLines,
  type RunProcessOptions,
  runProcess,
  type ServerProcess,
  type ServerProcessOptions,
  startServerProcess,
} from './server-process';
export { makeTempDir, type TempDir } from './temp-dir';
