/**
 * System tools some suites need (lspci...). Outside CI a missing tool skips those suites with one
 * line that names the Debian package to install; under CI (`CI` set) it is an error, so CI can
 * never pass by checking nothing. An environment variable names another binary (or, pointed at a
 * missing one, exercises both paths).
 */
import { commandAvailable } from './server-process';

/** A tool a suite runs. */
export interface SystemTool {
  /** Default binary name, e.g. `lspci`. */
  name: string;
  /** Environment variable that overrides the binary, e.g. `VFU_LSPCI`. */
  envVar: string;
  /** Debian package that provides it, e.g. `pciutils`. */
  debianPackage: string;
  /** Arguments of a harmless run that exits 0 (default `--version`). */
  probeArgs?: readonly string[];
}

/** The binary to run for `tool`: `$envVar` when set, else its default name. */
export function systemToolCommand(
  tool: SystemTool,
  env: Record<string, string | undefined> = process.env,
): string {
  const override = env[tool.envVar];
  return override !== undefined && override !== '' ? override : tool.name;
}

/**
 * Why the suites that need `tool` cannot run here, or undefined when they can. Throws under CI.
 * When it returns a reason it has already printed it, once, as one `skipped: ...` line on stderr.
 */
export function systemToolSkipReason(
  tool: SystemTool,
  env: Record<string, string | undefined> = process.env,
  print: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): string | undefined {
  const command = systemToolCommand(tool, env);
  if (commandAvailable(command, tool.probeArgs ?? ['--version'])) return undefined;
  const reason = `${command} not found: install the Debian package ${tool.debianPackage} (apt-get install ${tool.debianPackage}), or name the binary in ${tool.envVar}`;
  if (env.CI) throw new Error(`${reason}; CI runs the suites that need it, so it must be there`);
  print(`skipped: ${reason}`);
  return reason;
}

/** `lspci` from pciutils, overridable with `VFU_LSPCI`. */
export const LSPCI: SystemTool = { name: 'lspci', envVar: 'VFU_LSPCI', debianPackage: 'pciutils' };
