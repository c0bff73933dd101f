/**
 * Command-line parsing: argv in, a {@link CommandLine} out, or an {@link AppError} `usage`. Pure:
 * files named by `--config` are read later.
 *
 * Flags take QEMU's single-dash form and the GNU double-dash form (`-device` / `--device`); a
 * value is the next argument or follows `=` (`--log-level=debug`).
 */
import { parseBlockdevOptions } from '@vfu/block';
import { checkCap } from './caps';
import {
  emptyConfig,
  LOG_LEVELS,
  type LoadSpec,
  type LogLevel,
  type MonitorSpec,
  type ServerConfig,
  VFIO_USER_SERVER_TYPE,
} from './config';
import { AppError, errorMessage } from './errors';
import { deviceFromOptions, endpointFromOptions, parseJsonObject, splitOptions } from './specs';

/** What the command line asks for. */
export type CommandLine =
  | { kind: 'help'; loads: LoadSpec[] }
  | { kind: 'version' }
  /** `-device help` (every driver) or `-device DRIVER,help` (its properties). */
  | { kind: 'device-help'; driver: string | undefined; loads: LoadSpec[] }
  /** `-object help` or `-object vfio-user-server,help`. */
  | { kind: 'object-help' }
  | {
      kind: 'run';
      /** `--config FILE`, read and merged before the flags' own settings. */
      configFile: string | undefined;
      config: ServerConfig;
    };

/** Description of one flag, for parsing and for `--help`. */
interface FlagDef {
  readonly name: string;
  readonly value?: string;
  readonly help: string;
}

/** Every flag, in `--help` order. */
export const FLAGS: readonly FlagDef[] = [
  {
    name: 'object',
    value: `${VFIO_USER_SERVER_TYPE},id=ID,socket=PATH`,
    help: 'create a vfio-user endpoint with its own PCI root bus ID listening on PATH (JSON accepted)',
  },
  {
    name: 'device',
    value: 'DRIVER[,id=ID][,bus=ID|socket=PATH][,PROP=VALUE...]',
    help: 'add a device on endpoint bus ID; socket=PATH instead creates an endpoint for it (JSON accepted)',
  },
  {
    name: 'blockdev',
    value: 'driver=file|null-co|nbd,node-name=NAME[,OPTION=VALUE...]',
    help: 'open a block node for drive=NAME (QEMU -blockdev syntax; JSON accepted)',
  },
  { name: 'config', value: 'FILE', help: 'read endpoints, devices and settings from a JSON file' },
  {
    name: 'load',
    value: 'MODULE',
    help: 'import a driver module (a .js file path or an installed package name) that exports device types; repeatable',
  },
  { name: 'monitor', value: '[unix:]PATH', help: 'serve a QMP monitor on a UNIX socket at PATH' },
  { name: 'qmp', value: 'unix:PATH[,server][,wait=off]', help: 'same as -monitor, in QEMU -qmp syntax' },
  { name: 'trace', help: 'print every vfio-user message, decoded, on stderr' },
  {
    name: 'require-sealed-dma-fds',
    help: 'refuse DMA_MAP memory not sealed against shrinking (F_SEAL_SHRINK) with EPERM',
  },
  {
    name: 'cap',
    value: 'NAME=VALUE',
    help: 'set a resource cap (see the server README; e.g. max-pending-connections=8); repeatable',
  },
  {
    name: 'trace-file',
    value: 'FILE.pcapng',
    help: 'capture every vfio-user message of every endpoint to a pcapng file (vfu-trace, Wireshark)',
  },
  {
    name: 'trace-file-size',
    value: 'MIB',
    help: 'rotate the capture at this size, keeping FILE and FILE.1 (default 64)',
  },
  {
    name: 'log-level',
    value: LOG_LEVELS.join('|'),
    help: 'least severe messages logged on stderr (default info)',
  },
  {
    name: 'runtime-dir',
    value: 'DIR',
    help: "directory for the default set's sockets (default $XDG_RUNTIME_DIR/vfu, else a new temp dir)",
  },
  { name: 'help', help: 'print this help, with every device driver and its properties, and exit' },
  { name: 'version', help: 'print the version and exit' },
];

const SHORT: Readonly<Record<string, string>> = { h: 'help', V: 'version' };

function usage(message: string, flag?: string): never {
  throw new AppError('usage', message, flag === undefined ? {} : { flag });
}

/**
 * Parses `argv` (without node and script). Throws {@link AppError} `usage` naming the flag for an
 * unknown flag, a missing or malformed value, a positional argument or a bad `-object`/`-device`.
 */
export function parseCommandLine(argv: readonly string[], cwd = '.'): CommandLine {
  const config = emptyConfig();
  // Help lists the drivers of loaded modules too, so `--load` counts wherever it stands.
  const loadsFrom = (start: number): LoadSpec[] => {
    const loads = [...config.loads];
    for (let i = start; i < argv.length; i++) {
      const m = /^--?load(?:=(.*))?$/.exec(argv[i] as string);
      if (m === null) continue;
      const module = m[1] ?? argv[++i];
      if (module !== undefined && module !== '') {
        loads.push({ module, baseDir: cwd, source: `--load #${loads.length + 1}` });
      }
    }
    return loads;
  };
  let configFile: string | undefined;
  let objectCount = 0;
  let deviceCount = 0;
  let monitorCount = 0;
  let blockdevCount = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      usage(`unexpected argument '${arg}' (every setting is a flag; see --help)`);
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const rawName = eq < 0 ? body : body.slice(0, eq);
    const name = SHORT[rawName] ?? rawName;
    const def = FLAGS.find((f) => f.name === name);
    if (def === undefined) usage(`unknown flag '${arg}'${suggest(rawName)}`, arg);
    const flag = `-${def.name}`;
    let value: string | undefined;
    if (def.value !== undefined) {
      if (eq >= 0) value = body.slice(eq + 1);
      else if (i + 1 < argv.length) value = argv[++i];
      if (value === undefined) usage(`${flag} needs a value: ${flag} ${def.value}`, flag);
    } else if (eq >= 0) {
      usage(`${flag} takes no value`, flag);
    }
    switch (def.name) {
      case 'help':
        return { kind: 'help', loads: loadsFrom(i + 1) };
      case 'version':
        return { kind: 'version' };
      case 'object': {
        objectCount++;
        const v = value as string;
        if (v === 'help' || v === `${VFIO_USER_SERVER_TYPE},help`) return { kind: 'object-help' };
        const source = `-object #${objectCount}`;
        const fail = (msg: string): never => usage(`${flag} '${v}': ${msg}`, flag);
        const options = optionRecord(v, 'qom-type', fail);
        config.endpoints.push(endpointFromOptions(options, source, fail));
        break;
      }
      case 'device': {
        deviceCount++;
        const v = value as string;
        const fail = (msg: string): never => usage(`${flag} '${v}': ${msg}`, flag);
        if (v === 'help' || v === '?')
          return { kind: 'device-help', driver: undefined, loads: loadsFrom(i + 1) };
        const options = optionRecord(v, 'driver', fail);
        if (options.help === 'on' && typeof options.driver === 'string') {
          return { kind: 'device-help', driver: options.driver, loads: loadsFrom(i + 1) };
        }
        config.devices.push(deviceFromOptions(options, `-device #${deviceCount}`, fail));
        break;
      }
      case 'blockdev': {
        blockdevCount++;
        const v = value as string;
        try {
          parseBlockdevOptions(v);
        } catch (e) {
          usage(`${flag} '${v}': ${errorMessage(e)}`, flag);
        }
        config.blockdevs.push({ options: v, source: `-blockdev #${blockdevCount}` });
        break;
      }
      case 'config':
        if (configFile !== undefined) usage(`${flag} given twice ('${configFile}', '${value}')`, flag);
        if (value === '') usage(`${flag} needs a file name`, flag);
        configFile = value;
        break;
      case 'monitor':
      case 'qmp':
        monitorCount++;
        config.monitors.push(parseMonitorFlag(value as string, flag, `${flag} #${monitorCount}`));
        break;
      case 'load':
        if (value === '') usage(`${flag} needs a module path or package name`, flag);
        config.loads.push({
          module: value as string,
          baseDir: cwd,
          source: `--load #${config.loads.length + 1}`,
        });
        break;
      case 'trace':
        config.trace = true;
        break;
      case 'require-sealed-dma-fds':
        config.requireSealedDmaFds = true;
        break;
      case 'cap': {
        const eq = (value as string).indexOf('=');
        if (eq <= 0) usage(`${flag} '${value}': expected NAME=VALUE`, flag);
        const [name, n] = checkCap((value as string).slice(0, eq), (value as string).slice(eq + 1), (msg) =>
          usage(`${flag}: ${msg}`, flag),
        );
        config.caps[name] = n;
        break;
      }
      case 'trace-file':
        if (value === '') usage(`${flag} needs a file name`, flag);
        config.traceFile = value;
        break;
      case 'trace-file-size': {
        const mib = Number(value);
        if (!Number.isInteger(mib) || mib < 1 || mib > 1 << 20) {
          usage(`${flag}: expected a whole number of MiB from 1, got '${value}'`, flag);
        }
        config.traceFileSizeMib = mib;
        break;
      }
      case 'log-level':
        config.logLevel = parseLogLevel(value as string, (msg) => usage(`${flag}: ${msg}`, flag));
        break;
      case 'runtime-dir':
        if (value === '') usage(`${flag} needs a directory`, flag);
        config.runtimeDir = value;
        break;
    }
  }
  return { kind: 'run', configFile, config };
}

/** A `--log-level` value, or a failure listing the valid ones. */
export function parseLogLevel(value: unknown, fail: (msg: string) => never): LogLevel {
  if (typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value))
    return value as LogLevel;
  return fail(`expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
}

/**
 * `-monitor` / `-qmp` value: `PATH`, `unix:PATH`, optionally followed by QEMU's `,server`,
 * `,server=on`, `,wait=off`, `,nowait` (the monitor always listens and never waits for a client).
 */
export function parseMonitorFlag(value: string, flag: string, source: string): MonitorSpec {
  const fail = (msg: string): never => usage(`${flag} '${value}': ${msg}`, flag);
  const { first, options } = splitOptions(value, fail);
  let path = first;
  if (/^[a-z]+:/.test(path) && !path.startsWith('unix:')) {
    fail(`only UNIX sockets are supported ('unix:PATH')`);
  }
  if (path.startsWith('unix:')) path = path.slice('unix:'.length);
  if (path === '') fail('missing socket path');
  for (const [key, v] of Object.entries(options)) {
    if (key === 'server' && (v === 'on' || v === 'true')) continue;
    if ((key === 'wait' && (v === 'off' || v === 'false')) || (key === 'nowait' && v === 'on')) continue;
    if (key === 'server' || key === 'wait') fail(`${key}=${v} is not supported: the monitor always listens`);
    fail(`unknown option '${key}' (known: server, wait=off)`);
  }
  return { path, source };
}

/** `-object`/`-device` value: JSON when it starts with `{`, else QEMU option syntax. */
function optionRecord(
  value: string,
  firstKey: string,
  fail: (msg: string) => never,
): Record<string, unknown> {
  if (value.trimStart().startsWith('{')) return parseJsonObject(value, fail);
  const { first, options } = splitOptions(value, fail);
  if (first === '') {
    if (!Object.hasOwn(options, firstKey))
      fail(`must start with the ${firstKey === 'driver' ? 'driver name' : 'object type'}`);
    return options;
  }
  if (Object.hasOwn(options, firstKey)) fail(`${firstKey} given twice`);
  return { [firstKey]: first, ...options };
}

function suggest(name: string): string {
  const close = FLAGS.map((f) => f.name).filter((n) => distance(n, name) <= 2);
  return close.length > 0 ? ` (did you mean -${close[0]}?)` : ' (see --help)';
}

/** Levenshtein distance, for "did you mean" hints. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] as number;
}
