/**
 * Resource caps of the whole program, one table: what one client (or monitor client) can make the
 * process hold, settable with `--cap NAME=VALUE` and the config file's `caps` object. Each goes
 * to the endpoint library (connection caps, VERSION limits, the shared connection budget) or to the
 * monitor. Unset caps keep the libraries' defaults, listed here for `--help` and the README.
 */
import { CONNECTION_CAPS_DEFAULTS, type ConnectionCaps, type ServerLimits } from '@vfu/server';
import { MONITOR_LIMITS_DEFAULTS, type MonitorLimits } from './monitor/monitor-server';

/** Where a cap applies. */
type CapTarget = 'connection' | 'limits' | 'budget' | 'monitor';

interface CapDef {
  /** Name in the config file (camelCase); `--cap` takes it or its kebab-case form. */
  readonly name: string;
  readonly target: CapTarget;
  /** Key in the target's options. */
  readonly key: string;
  readonly min: number;
  readonly max: number;
  readonly defaultValue: number;
  readonly help: string;
}

const c = CONNECTION_CAPS_DEFAULTS;
const m = MONITOR_LIMITS_DEFAULTS;
const MS = 2 ** 31 - 1;

/** Every cap, in `--help` order. */
export const CAPS: readonly CapDef[] = [
  cap(
    'maxPendingConnections',
    'connection',
    'maxPendingConnections',
    0,
    65536,
    c.maxPendingConnections,
    'refused clients held per endpoint for their EBUSY reply; more are closed at once',
  ),
  cap(
    'maxPendingConnectionsTotal',
    'budget',
    'maxPending',
    0,
    1 << 20,
    256,
    'the same, across all endpoints',
  ),
  cap(
    'handshakeTimeoutMs',
    'connection',
    'handshakeTimeoutMs',
    0,
    MS,
    c.handshakeTimeoutMs,
    'ms a client has to complete VERSION (0 = never)',
  ),
  cap(
    'messageTimeoutMs',
    'connection',
    'messageTimeoutMs',
    0,
    MS,
    c.messageTimeoutMs,
    'ms a started message has to arrive whole (0 = never)',
  ),
  cap(
    'maxQueuedReplyBytes',
    'connection',
    'maxQueuedReplyBytes',
    1,
    Number.MAX_SAFE_INTEGER,
    c.maxQueuedReplyBytes,
    'reply bytes buffered for a client that does not read them; past it the client is disconnected',
  ),
  cap(
    'maxQueuedReplies',
    'connection',
    'maxQueuedReplies',
    1,
    MS,
    c.maxQueuedReplies,
    'replies buffered for a client that does not read them',
  ),
  cap(
    'maxHeldFds',
    'connection',
    'maxHeldFds',
    0,
    65536,
    c.maxHeldFds,
    'received fds held per client for messages not yet handled',
  ),
  cap('maxDmaMaps', 'limits', 'maxDmaMaps', 1, 65535, 65535, 'DMA regions per client (max_dma_maps)'),
  cap(
    'maxDataXferSize',
    'limits',
    'maxDataXferSize',
    1,
    64 * 1024 * 1024,
    1024 * 1024,
    'largest data transfer per message, so the message size (max_data_xfer_size)',
  ),
  cap('maxMsgFds', 'limits', 'maxMsgFds', 0, 1024, 8, 'fds per message (max_msg_fds)'),
  cap(
    'maxMonitorClients',
    'monitor',
    'maxClients',
    1,
    65536,
    m.maxClients,
    'monitor clients at once per monitor socket',
  ),
  cap(
    'maxMonitorLineBytes',
    'monitor',
    'maxLineBytes',
    1,
    1 << 30,
    m.maxLineBytes,
    'longest monitor command',
  ),
  cap(
    'maxMonitorReplyBytes',
    'monitor',
    'maxBufferedReplyBytes',
    1,
    Number.MAX_SAFE_INTEGER,
    m.maxBufferedReplyBytes,
    'monitor reply bytes buffered for a client that does not read them',
  ),
];

function cap(
  name: string,
  target: CapTarget,
  key: string,
  min: number,
  max: number,
  defaultValue: number,
  help: string,
): CapDef {
  return { name, target, key, min, max, defaultValue, help };
}

/** Caps as set (by their config-file names). */
export type CapSettings = Record<string, number>;

/** The cap called `name` (camelCase or kebab-case), or undefined. */
export function findCap(name: string): CapDef | undefined {
  const camel = name.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
  return CAPS.find((d) => d.name === camel);
}

/**
 * Checks one cap value; returns its canonical name and value, or calls `fail` with a message
 * naming the cap, its range and the known caps.
 */
export function checkCap(name: string, value: unknown, fail: (msg: string) => never): [string, number] {
  const def = findCap(name);
  if (def === undefined) return fail(`unknown cap '${name}' (known: ${CAPS.map((d) => d.name).join(', ')})`);
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < def.min || n > def.max) {
    return fail(
      `cap ${def.name} must be an integer from ${def.min} to ${def.max}, got ${JSON.stringify(value)}`,
    );
  }
  return [def.name, n];
}

/** The settings split by where they apply. */
export interface ResolvedCaps {
  connection: ConnectionCaps;
  limits: ServerLimits;
  maxPendingConnectionsTotal: number;
  monitor: MonitorLimits;
}

export function resolveCaps(settings: CapSettings): ResolvedCaps {
  const out: ResolvedCaps = { connection: {}, limits: {}, maxPendingConnectionsTotal: 256, monitor: {} };
  for (const def of CAPS) {
    const v = settings[def.name];
    if (v === undefined) continue;
    if (def.target === 'budget') out.maxPendingConnectionsTotal = v;
    else (out[def.target] as Record<string, number>)[def.key] = v;
  }
  return out;
}

/** Every cap with its effective value, for `query-vfio-user-servers`. */
export function effectiveCaps(settings: CapSettings): Record<string, number> {
  return Object.fromEntries(CAPS.map((d) => [d.name, settings[d.name] ?? d.defaultValue]));
}
