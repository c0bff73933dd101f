/**
 * vfu-client as a library: the command-line entry (`main`), the device report behind
 * `vfu-client info`, and the demos, for harnesses that drive them in-process.
 */
export {
  type Command,
  type CommonOptions,
  DEMOS,
  type DemoName,
  HELP,
  parseCommandLine,
  parseSize,
} from './args';
export type { DemoContext } from './demos/context';
export { EduRegister, eduDemo } from './demos/edu';
export { gpioDemo, Idio16 } from './demos/gpio';
export { serialDemo, Uart } from './demos/serial';
export { TestdevHeader, testdevDemo } from './demos/testdev';
export { ClientAppError, type ClientAppErrorCode, isClientAppError } from './errors';
export {
  collectReport,
  type DeviceReport,
  formatReportHex,
  formatReportJson,
  formatReportText,
  SLOT,
} from './info';
export type { AppIo } from './io';
export { DEMO_RUNNERS, main, VERSION } from './main';
