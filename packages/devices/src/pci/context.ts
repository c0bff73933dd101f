import type { CharBackend } from '../chardev/char-backend';
import type { DeviceClock, DeviceLog } from '../interfaces';

/**
 * What the application gives the device zoo once, at registration: shared clock and log, and how
 * `chardev=<id>` references resolve. Everything is optional; devices then use the host clock, a
 * silent log and only the built-in chardev kinds.
 */
export interface ZooContext {
  /** Time source of every device created (default: the host event loop). */
  clock?: DeviceClock;
  /** Where devices report guest errors (default: nowhere; pass `consoleDeviceLog` for stderr). */
  log?: DeviceLog;
  /** Resolves `chardev=<id>` to a backend the application created (`-chardev ...,id=<id>`). */
  resolveChardev?: (id: string) => CharBackend | undefined;
}
