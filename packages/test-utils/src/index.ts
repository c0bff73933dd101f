export { type BenchCase, type BenchRow, type BenchSuite, printTable, runBenchSuite } from './bench';
export { type BenchPeer, pinToCpu0, startBenchPeer } from './bench-peer';
export { EDU_SPEC, EDU_SPEC_BUFFER } from './edu-spec';
export { expectNoFdLeaks, type FdLeakHooks, leakedFds, ownFds } from './fd-leaks';
export {
  loadSharedVectors,
  loadVectorDir,
  loadVectorFile,
  recordPayload,
  SHARED_VECTORS_DIR,
  sharedVectorsSkipReason,
  type VectorRecord,
} from './golden-vectors';
export { connectQmp, type QmpMessage, type QmpTestClient } from './qmp-client';
export {
  pointImportsAt,
  type ReadmeExampleOptions,
  type ReadmeExampleRun,
  readmeExamples,
  runReadmeExample,
} from './readme-example';
export {
  REFERENCE_SERVER_SCRIPT,
  type ReferenceServerDevices,
  type ReferenceServerOptions,
  type RunningReferenceServer,
  referenceServerAvailable,
  referenceServerDeviceArgs,
  referenceServerSkipReason,
  startReferenceServer,
} from './reference-server';
export {
  commandAvailable,
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
export {
  LSPCI,
  type SystemTool,
  systemToolCommand,
  systemToolSkipReason,
} from './system-tool';
export { makeTempDir, type TempDir } from './temp-dir';
