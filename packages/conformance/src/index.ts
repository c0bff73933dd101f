/**
 * @vfu/conformance: checks a vfio-user server (or client) against the protocol specification,
 * each check citing the section of QEMU's docs/interop/vfio-user.rst it comes from.
 */
export { type Check, type CheckResult, type Outcome, type SpecRef, type Summary, summarize } from './check';
export { type ConformanceIo, main } from './cli-main';
export { type ClientRun, clientChecks, runClientScenario, runClientSuite } from './client-suite';
export { ConformanceError, type ConformanceErrorCode } from './errors';
export { countLine, formatJunit, formatSummary, formatTap, parseExpectFile } from './report';
export { type Discovery, ServerContext, type ServerRunOptions } from './server-context';
export { runServerSuite, type ServerSuiteOptions, serverChecks } from './server-suite';
