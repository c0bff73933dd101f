import { isVfuError, VfuError, type VfuErrorContext } from '@vfu/errors';

/**
 * What went wrong, as a closed list:
 * - `usage`: a command-line flag is unknown, misspelt, missing its value or given a bad one
 *   (exit status 2).
 * - `config`: the `--config` file cannot be read, is not JSON, or does not match the schema; the
 *   message names the JSON path at fault (exit status 2).
 * - `invalid-configuration`: the flags parse but do not make a server: an unknown driver, a bad
 *   property value, a device on a bus that does not exist, duplicate ids or socket paths (exit
 *   status 2 at start-up, an error reply on the monitor).
 * - `socket-in-use`: a socket path is held by a live listener, or is not a socket (exit status 1).
 * - `startup-failed`: an endpoint, device or monitor could not be brought up (exit status 1).
 * - `command-failed`: a monitor command was well formed but could not be carried out.
 * - `invalid-command`: a monitor message is not a valid QMP command (bad JSON, unknown command,
 *   missing or mistyped argument).
 */
export type AppErrorCode =
  | 'usage'
  | 'config'
  | 'invalid-configuration'
  | 'socket-in-use'
  | 'startup-failed'
  | 'command-failed'
  | 'invalid-command';

/** Context carried by an {@link AppError}, as its one `context` field. */
export interface AppErrorContext extends VfuErrorContext {
  /** The flag concerned (`-device`, `--log-level`...). */
  flag?: string;
  /** JSON path in the config file or in a command's arguments, e.g. `$.devices[2].driver`. */
  path?: string;
  /** Socket path concerned. */
  socketPath?: string;
  /** Monitor command concerned. */
  command?: string;
}

/** An error of the vfu-server application: bad input from the command line, a config file or a monitor. */
export class AppError extends VfuError<AppErrorCode, AppErrorContext> {
  override readonly name = 'AppError';
}

const CODES: ReadonlySet<string> = new Set<AppErrorCode>([
  'usage',
  'config',
  'invalid-configuration',
  'socket-in-use',
  'startup-failed',
  'command-failed',
  'invalid-command',
]);

/** Whether `e` is an {@link AppError}, by shape (works across copies of the module). */
export function isAppError(e: unknown): e is AppError {
  return isVfuError(e, 'AppError') && CODES.has(e.code);
}

/** Exit status for an error escaping start-up: 2 for usage and configuration errors, 1 otherwise. */
export function exitStatusFor(e: unknown): 1 | 2 {
  if (isAppError(e) && (e.code === 'usage' || e.code === 'config' || e.code === 'invalid-configuration'))
    return 2;
  return 1;
}

/** The message of any thrown value. */
export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
