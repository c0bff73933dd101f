/**
 * The embedded default set (`vfu-server` with nothing to serve, `pnpm start`): every device type
 * of the zoo, each on its own endpoint, sockets in a runtime directory, plus a monitor there.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZOO_DEVICES } from '@vfu/devices';
import { emptyConfig, type ServerConfig } from './config';
import { AppError } from './errors';

/** Device ids the default set gives each zoo type. */
const DEFAULT_DEVICE_IDS: Readonly<Record<string, string>> = {
  edu: 'edu0',
  'pci-testdev': 'testdev0',
  'pci-serial': 'serial0',
  'pci-idio-16': 'gpio0',
};

/**
 * The zoo types the default set serves: those that need nothing from the user (no required
 * property; a disk needs `serial=` and a `drive=`, so `nvme` is not among them).
 */
export const SELF_CONTAINED_ZOO_DEVICES: readonly string[] = Object.freeze(
  ZOO_DEVICES.filter((t) =>
    Object.values(t.deviceClass().properties).every((p) => p.defaultValue !== undefined),
  ).map((t) => t.name),
);

/** Socket name of the default monitor in the runtime directory. */
export const DEFAULT_MONITOR_SOCKET = 'qmp.sock';

/**
 * The default set in `runtimeDir`: device `<type>` with id `edu0`/`testdev0`/`serial0`/`gpio0`
 * on endpoint `sN` listening on `<runtimeDir>/<type>.sock`, and a monitor on `qmp.sock`.
 */
export function defaultConfig(
  runtimeDir: string,
  drivers: readonly string[] = SELF_CONTAINED_ZOO_DEVICES,
): ServerConfig {
  const config = emptyConfig();
  for (const driver of drivers) {
    config.devices.push({
      driver,
      id: DEFAULT_DEVICE_IDS[driver] ?? `${driver.replace(/[^A-Za-z0-9]/g, '')}0`,
      socket: join(runtimeDir, `${driver}.sock`),
      props: {},
      source: `default device ${driver}`,
    });
  }
  config.monitors.push({ path: join(runtimeDir, DEFAULT_MONITOR_SOCKET), source: 'default monitor' });
  return config;
}

/** A runtime directory, and whether the program created it as a temporary one (removed at exit). */
export interface RuntimeDir {
  path: string;
  temporary: boolean;
}

/**
 * `explicit` (created if missing), else `$XDG_RUNTIME_DIR/vfu`, else a fresh directory under the
 * system temp dir. Directories are created mode 0700: their sockets give access to the devices.
 */
export function chooseRuntimeDir(explicit: string | undefined, env: NodeJS.ProcessEnv): RuntimeDir {
  try {
    if (explicit !== undefined) {
      mkdirSync(explicit, { recursive: true, mode: 0o700 });
      return { path: explicit, temporary: false };
    }
    const xdg = env.XDG_RUNTIME_DIR;
    if (xdg !== undefined && xdg !== '') {
      const path = join(xdg, 'vfu');
      mkdirSync(path, { recursive: true, mode: 0o700 });
      return { path, temporary: false };
    }
    return { path: mkdtempSync(join(tmpdir(), 'vfu-')), temporary: true };
  } catch (e) {
    throw new AppError('startup-failed', `cannot create the runtime directory: ${(e as Error).message}`, {
      cause: e,
    });
  }
}
