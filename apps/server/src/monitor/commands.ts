/**
 * The monitor's command table: one entry per QMP command with its argument schema, checked before
 * the command runs, and a handler calling the {@link MonitorBackend}. Adding a command is adding
 * an entry here.
 */
import { isPlainObject } from '../specs';
import { QmpError } from './qmp';

/** What the commands operate on: the running server. */
export interface MonitorBackend {
  /** Program version, for the greeting and `query-version`. */
  readonly version: string;
  /** `device_add` arguments: driver, id, bus or socket, properties. */
  deviceAdd(args: Record<string, unknown>): Promise<void>;
  /** `device_del`: an id or a qdev path. */
  deviceDel(id: string): Promise<void>;
  /** `object-add` arguments (`qom-type`, `id`, `socket`). */
  objectAdd(args: Record<string, unknown>): Promise<void>;
  objectDel(id: string): Promise<void>;
  queryDevices(): unknown;
  queryEndpoints(): unknown;
  queryPci(): unknown;
  /** `info mtree`: per root bus; `flat` for the flattened views; `bus` narrows to one endpoint. */
  infoMtree(opts: { flat: boolean; bus: string | undefined }): string;
  infoQtree(): string;
  /** `qom-list`: a device's properties (type, description, whether settable now). */
  qomList(path: string): QomPropertyInfo[];
  /** `qom-get`: a property's value. */
  qomGet(path: string, property: string): unknown;
  /** `qom-set`: sets a runtime property of a realized device (or any before realize). */
  qomSet(path: string, property: string, value: unknown): void;
  /** Stops the server (after the reply is sent). */
  quit(): void;
  /** `blockdev-add`: QEMU's BlockdevOptions (`driver`, `node-name`, driver options). */
  blockdevAdd(args: Record<string, unknown>): Promise<void>;
  /** `blockdev-del`: closes a node no device uses. */
  blockdevDel(nodeName: string): Promise<void>;
  /** `query-block`: nodes attached to devices. */
  queryBlock(): unknown;
  /** `query-named-block-nodes`: every node. */
  queryNamedBlockNodes(): unknown;
}

/** One entry of `qom-list` (QEMU's ObjectPropertyInfo, plus whether it can be set now). */
export interface QomPropertyInfo {
  name: string;
  type: string;
  description: string;
  settable: boolean;
}

/** The type of one argument. */
type ArgType = 'string' | 'integer' | 'boolean' | 'array';

/** One argument of a command. */
interface ArgSpec {
  readonly type: ArgType;
  readonly required?: boolean;
}

/** A command of the table. */
export interface MonitorCommand {
  readonly name: string;
  readonly help: string;
  readonly args: Readonly<Record<string, ArgSpec>>;
  /** Extra arguments are passed through (device properties) instead of refused. */
  readonly open?: boolean;
  run(backend: MonitorBackend, args: Record<string, unknown>): unknown;
}

const HMP_HELP = [
  'info mtree [-f] [BUS]   memory tree (or, with -f, flat views) of each endpoint root bus',
  'info qtree              device tree',
  'info pci                PCI devices and their BARs',
  'help                    this text',
];

/** Every command, by name. */
export const MONITOR_COMMANDS: readonly MonitorCommand[] = [
  {
    name: 'qmp_capabilities',
    help: 'leave capabilities negotiation mode (must come first)',
    args: { enable: { type: 'array' } },
    // The session handles negotiation; reaching here means it is already done.
    run: () => {
      throw new QmpError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
    },
  },
  {
    name: 'query-commands',
    help: 'list the commands',
    args: {},
    run: () => MONITOR_COMMANDS.map((c) => ({ name: c.name })),
  },
  {
    name: 'query-version',
    help: 'program version',
    args: {},
    run: (b) => {
      const [major = 0, minor = 0, micro = 0] = b.version
        .split(/[.-]/)
        .map((n) => Number.parseInt(n, 10) || 0);
      return { qemu: { major, minor, micro }, package: `vfu-server ${b.version}` };
    },
  },
  {
    name: 'query-status',
    help: 'run state',
    args: {},
    run: () => ({ status: 'running', running: true }),
  },
  {
    name: 'device_add',
    help: 'add a device: {"driver", "id"?, "bus"? | "socket"?, properties...}',
    args: { driver: { type: 'string', required: true }, id: { type: 'string' }, bus: { type: 'string' } },
    open: true,
    run: async (b, args) => {
      await b.deviceAdd(args);
      return {};
    },
  },
  {
    name: 'device_del',
    help: 'remove a device: {"id"} (an id or a qdev path)',
    args: { id: { type: 'string', required: true } },
    run: async (b, args) => {
      await b.deviceDel(args.id as string);
      return {};
    },
  },
  {
    name: 'object-add',
    help: 'create a vfio-user endpoint: {"qom-type": "vfio-user-server", "id", "socket"}',
    args: { 'qom-type': { type: 'string', required: true }, id: { type: 'string', required: true } },
    open: true,
    run: async (b, args) => {
      await b.objectAdd(args);
      return {};
    },
  },
  {
    name: 'object-del',
    help: 'close a vfio-user endpoint and remove its devices: {"id"}',
    args: { id: { type: 'string', required: true } },
    run: async (b, args) => {
      await b.objectDel(args.id as string);
      return {};
    },
  },
  {
    name: 'blockdev-add',
    help: 'open a block node: {"driver": "file"|"null-co"|"nbd", "node-name", driver options...}',
    args: { driver: { type: 'string', required: true }, 'node-name': { type: 'string', required: true } },
    open: true,
    run: async (b, args) => {
      await b.blockdevAdd(args);
      return {};
    },
  },
  {
    name: 'blockdev-del',
    help: 'close a block node no device uses: {"node-name"}',
    args: { 'node-name': { type: 'string', required: true } },
    run: async (b, args) => {
      await b.blockdevDel(args['node-name'] as string);
      return {};
    },
  },
  {
    name: 'query-block',
    help: 'block nodes in use by devices (QEMU query-block shape)',
    args: {},
    run: (b) => b.queryBlock(),
  },
  {
    name: 'query-named-block-nodes',
    help: 'every block node',
    args: {},
    run: (b) => b.queryNamedBlockNodes(),
  },
  {
    name: 'query-devices',
    help: 'every device: id, driver, endpoint, address',
    args: {},
    run: (b) => b.queryDevices(),
  },
  {
    name: 'query-vfio-user-servers',
    help: 'every endpoint: id, socket, client connected, device, message counters',
    args: {},
    run: (b) => b.queryEndpoints(),
  },
  {
    name: 'query-pci',
    help: 'PCI devices per endpoint root bus, with ids and BARs (QEMU query-pci shape)',
    args: {},
    run: (b) => b.queryPci(),
  },
  {
    name: 'human-monitor-command',
    help: `run a human monitor command: {"command-line"}: ${HMP_HELP.map((l) => l.split(/\s{2,}/)[0]).join('; ')}`,
    args: { 'command-line': { type: 'string', required: true }, 'cpu-index': { type: 'integer' } },
    run: (b, args) => runHumanCommand(b, args['command-line'] as string),
  },
  {
    name: 'qom-list',
    help: 'list the properties of a device: {"path"} (an id, a qdev path or /machine/peripheral/ID)',
    args: { path: { type: 'string', required: true } },
    run: (b, args) => b.qomList(args.path as string),
  },
  {
    name: 'qom-get',
    help: 'read a device property: {"path", "property"}',
    args: { path: { type: 'string', required: true }, property: { type: 'string', required: true } },
    run: (b, args) => b.qomGet(args.path as string, args.property as string),
  },
  {
    name: 'qom-set',
    help: 'set a runtime device property: {"path", "property", "value"}',
    args: { path: { type: 'string', required: true }, property: { type: 'string', required: true } },
    open: true,
    run: (b, args) => {
      if (!('value' in args)) throw new QmpError('GenericError', "Parameter 'value' is missing");
      b.qomSet(args.path as string, args.property as string, args.value);
      return {};
    },
  },
  {
    name: 'gpio-set-inputs',
    help: 'alias of qom-set on "inputs": {"id", "value", "mask"?} (bits of value under mask); returns inputs and outputs',
    args: {
      id: { type: 'string', required: true },
      value: { type: 'integer', required: true },
      mask: { type: 'integer' },
    },
    run: (b, args) => {
      const id = args.id as string;
      const value = args.value as number;
      const mask = (args.mask as number | undefined) ?? 0xffff;
      for (const [name, v] of [
        ['value', value],
        ['mask', mask],
      ] as const) {
        if (v < 0 || v > 0xffff) {
          throw new QmpError('GenericError', `Parameter '${name}' must be within 0..0xffff, got ${v}`);
        }
      }
      const has = (name: string) => b.qomList(id).some((p) => p.name === name);
      if (!has('inputs') || !has('outputs')) {
        throw new QmpError('GenericError', `device '${id}' has no GPIO inputs`);
      }
      const inputs = Number(b.qomGet(id, 'inputs'));
      b.qomSet(id, 'inputs', (inputs & ~mask) | (value & mask));
      return { inputs: b.qomGet(id, 'inputs'), outputs: b.qomGet(id, 'outputs') };
    },
  },
  {
    name: 'quit',
    help: 'stop the server (sockets removed)',
    args: {},
    run: (b) => {
      b.quit();
      return {};
    },
  },
];

/** The command called `name`, or `CommandNotFound`. */
export function findCommand(name: string): MonitorCommand {
  const cmd = MONITOR_COMMANDS.find((c) => c.name === name);
  if (cmd === undefined) throw new QmpError('CommandNotFound', `The command ${name} has not been found`);
  return cmd;
}

/**
 * Checks `args` against the command's schema: required arguments present, types right, no
 * unknown argument unless the command is open. Throws `GenericError` naming the parameter.
 */
export function checkArguments(cmd: MonitorCommand, args: Record<string, unknown>): void {
  for (const [name, spec] of Object.entries(cmd.args)) {
    const value = args[name];
    if (value === undefined) {
      if (spec.required === true) throw new QmpError('GenericError', `Parameter '${name}' is missing`);
      continue;
    }
    if (!hasType(value, spec.type)) {
      throw new QmpError('GenericError', `Invalid parameter type for '${name}', expected: ${spec.type}`);
    }
  }
  if (cmd.open !== true) {
    for (const name of Object.keys(args)) {
      if (!Object.hasOwn(cmd.args, name))
        throw new QmpError('GenericError', `Parameter '${name}' is unexpected`);
    }
  }
}

function hasType(value: unknown, type: ArgType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
  }
}

/** A parsed human monitor command line. */
export type HumanCommand =
  | { kind: 'info-mtree'; flat: boolean; bus: string | undefined }
  | { kind: 'info-qtree' }
  | { kind: 'info-pci' }
  | { kind: 'help' };

/** Parses the human monitor commands the server knows; `GenericError` for anything else. */
export function parseHumanCommand(line: string): HumanCommand {
  const words = line
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  const [verb, what, ...rest] = words;
  if (verb === 'help' || verb === '?') return { kind: 'help' };
  if (verb === 'info' && what === 'mtree') {
    let flat = false;
    let bus: string | undefined;
    for (const w of rest) {
      if (w === '-f') flat = true;
      else if (w.startsWith('-'))
        throw new QmpError('GenericError', `info mtree: unknown option '${w}' (known: -f)`);
      else if (bus === undefined) bus = w;
      else throw new QmpError('GenericError', `info mtree: unexpected argument '${w}'`);
    }
    return { kind: 'info-mtree', flat, bus };
  }
  if (verb === 'info' && (what === 'qtree' || what === 'pci') && rest.length === 0) {
    return { kind: what === 'qtree' ? 'info-qtree' : 'info-pci' };
  }
  if (verb === 'info') {
    throw new QmpError(
      'GenericError',
      `info ${what ?? ''}: unknown or malformed (known: info mtree [-f] [BUS], info qtree, info pci)`.replace(
        'info :',
        'info:',
      ),
    );
  }
  throw new QmpError('GenericError', `unknown command: '${verb ?? ''}' (known: info, help)`);
}

function runHumanCommand(b: MonitorBackend, line: string): string {
  const cmd = parseHumanCommand(line);
  switch (cmd.kind) {
    case 'help':
      return `${HMP_HELP.join('\n')}\n`;
    case 'info-mtree':
      return b.infoMtree({ flat: cmd.flat, bus: cmd.bus });
    case 'info-qtree':
      return b.infoQtree();
    case 'info-pci':
      return formatInfoPci(b.queryPci());
  }
}

/** `info pci`-style text from `query-pci` data. */
function formatInfoPci(data: unknown): string {
  const out: string[] = [];
  for (const bus of Array.isArray(data) ? data : []) {
    if (!isPlainObject(bus)) continue;
    out.push(`Endpoint ${String(bus.endpoint)}:`);
    for (const dev of Array.isArray(bus.devices) ? bus.devices : []) {
      if (!isPlainObject(dev) || !isPlainObject(dev.id) || !isPlainObject(dev.class_info)) continue;
      const hex4 = (v: unknown) => Number(v).toString(16).padStart(4, '0');
      out.push(
        `  Bus ${dev.bus}, device ${String(dev.slot).padStart(3)}, function ${dev.function}:` +
          `\n    ${String(dev.class_info.desc ?? 'Class')} ${hex4(dev.class_info.class)}: PCI device ${hex4(dev.id.vendor)}:${hex4(dev.id.device)}`,
      );
      if (dev.irq !== undefined)
        out.push(`      IRQ ${String(dev.irq)}, pin ${String.fromCharCode(64 + Number(dev.irq_pin))}.`);
      for (const r of Array.isArray(dev.regions) ? dev.regions : []) {
        if (!isPlainObject(r)) continue;
        const addr =
          typeof r.address === 'number' && r.address >= 0 ? `0x${r.address.toString(16)}` : 'unmapped';
        const kindText =
          r.type === 'io'
            ? 'I/O at'
            : `${r.mem_type_64 ? '64' : '32'} bit${r.prefetch ? ' prefetchable' : ''} memory at`;
        out.push(`      BAR${String(r.bar)}: ${kindText} ${addr} [size 0x${Number(r.size).toString(16)}].`);
      }
      out.push(`      id "${String(dev.qdev_id ?? '')}"`);
    }
  }
  return `${out.join('\n')}\n`;
}
