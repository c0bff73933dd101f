/**
 * A QMP monitor on a UNIX socket: any number of clients, each greeted, each in capabilities
 * negotiation until `qmp_capabilities`, each with its commands run one at a time in order. A bad
 * message gets an error reply; nothing a client sends stops the server.
 */
import { chmod, mkdtemp, rename, rm, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { isQdevError } from '@vfu/pci';
import { AppError, isAppError } from '../errors';
import type { AppLogger } from '../logger';
import { claimSocketPath } from '../socket-path';
import { checkArguments, findCommand, type MonitorBackend } from './commands';
import { DEFAULT_MAX_MESSAGE_BYTES, JsonStreamSplitter } from './json-stream';
import {
  encodeQmp,
  isQmpError,
  parseQmpRequest,
  QmpError,
  type QmpRequest,
  qmpErrorReply,
  qmpEvent,
  qmpGreeting,
  qmpReturn,
} from './qmp';

/**
 * What monitor clients can make the process hold. A client past a cap is disconnected with a
 * warning; the monitor and its other clients carry on.
 */
export interface MonitorLimits {
  /** Clients connected at once; more are closed at once (default 16). */
  maxClients?: number;
  /** Longest command, in bytes; a longer one gets an error reply (default 1 MiB). */
  maxLineBytes?: number;
  /** Reply bytes buffered for a client that does not read them (default 16 MiB). */
  maxBufferedReplyBytes?: number;
}

/** The defaults of {@link MonitorLimits}. */
export const MONITOR_LIMITS_DEFAULTS: Readonly<Required<MonitorLimits>> = Object.freeze({
  maxClients: 16,
  maxLineBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxBufferedReplyBytes: 16 * 1024 * 1024,
});

/** Commands of one client queued before its socket stops being read (QEMU suspends at 8). */
const MAX_QUEUED_COMMANDS = 64;
/** Refused monitor clients logged at most once per this many ms. */
const REFUSAL_LOG_INTERVAL_MS = 1000;

/** Options of {@link QmpMonitor}. */
export interface QmpMonitorOptions {
  socketPath: string;
  backend: MonitorBackend;
  logger: AppLogger;
  limits?: MonitorLimits;
}

interface Session {
  readonly socket: Socket;
  readonly name: string;
  negotiated: boolean;
  /** Tail of this client's command queue. */
  queue: Promise<void>;
  /** Commands received and not yet answered. */
  queued: number;
}

/** One monitor socket. */
export class QmpMonitor {
  readonly socketPath: string;
  readonly #backend: MonitorBackend;
  readonly #logger: AppLogger;
  readonly #sessions = new Set<Session>();
  readonly limits: Readonly<Required<MonitorLimits>>;
  #server: Server | undefined;
  #clientCount = 0;
  #refusedSinceLog = 0;
  #lastRefusalLog = -Infinity;

  constructor(opts: QmpMonitorOptions) {
    this.socketPath = opts.socketPath;
    this.#backend = opts.backend;
    this.#logger = opts.logger;
    const limits = { ...MONITOR_LIMITS_DEFAULTS, ...definedOnly(opts.limits ?? {}) };
    for (const [name, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new AppError(
          'invalid-configuration',
          `monitor limit ${name} must be a positive integer, got ${v}`,
        );
      }
    }
    this.limits = Object.freeze(limits);
  }

  /** Number of connected clients. */
  get clients(): number {
    return this.#sessions.size;
  }

  /** Listens (replacing a stale socket; `socket-in-use` for a live one). */
  async start(): Promise<void> {
    await claimSocketPath(this.socketPath, 'monitor');
    const server = createServer((socket) => this.#accept(socket));
    // The monitor can add and remove devices: owner only, from the first moment. Node cannot set
    // a mode between bind and listen, so the socket is bound in a private directory (0700),
    // chmod'ed there and renamed into place: whatever the umask, the public path never exists
    // with looser permissions.
    const dir = await mkdtemp(join(dirname(this.socketPath), '.qmp-'));
    const bound = join(dir, 's');
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(bound, () => {
          server.off('error', reject);
          resolve();
        });
      });
      await chmod(bound, 0o600);
      await rename(bound, this.socketPath);
    } catch (e) {
      server.close();
      throw e;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    server.on('error', (e) =>
      this.#logger.error('monitor socket error', { socket: this.socketPath, error: e }),
    );
    this.#server = server;
  }

  /** Sends an event to every client past negotiation. */
  broadcast(event: string, data?: object): void {
    const line = encodeQmp(qmpEvent(event, data, Date.now()));
    for (const s of this.#sessions) if (s.negotiated) this.#write(s, line);
  }

  /** Disconnects every client, stops listening and removes the socket. */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sessions) s.socket.destroy();
    this.#sessions.clear();
    if (server !== undefined) {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await unlink(this.socketPath).catch(() => {});
    }
  }

  #accept(socket: Socket): void {
    if (this.#sessions.size >= this.limits.maxClients) {
      socket.destroy();
      this.#refused();
      return;
    }
    const session: Session = {
      socket,
      name: `monitor client ${++this.#clientCount}`,
      negotiated: false,
      queue: Promise.resolve(),
      queued: 0,
    };
    this.#sessions.add(session);
    this.#logger.debug('monitor client connected', { client: session.name, socket: this.socketPath });
    const splitter = new JsonStreamSplitter(this.limits.maxLineBytes);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const item of splitter.push(chunk)) {
        session.queued++;
        // Backpressure: a client that sends faster than its commands run stops being read.
        if (session.queued >= MAX_QUEUED_COMMANDS) socket.pause();
        session.queue = session.queue
          .then(() =>
            item.kind === 'value'
              ? this.#handle(session, item.value)
              : this.#send(
                  session,
                  qmpErrorReply(new QmpError('GenericError', item.message), { hasId: false }),
                ),
          )
          .finally(() => {
            session.queued--;
            if (session.queued < MAX_QUEUED_COMMANDS / 2 && socket.isPaused() && !socket.destroyed) {
              socket.resume();
            }
          });
      }
    });
    socket.on('error', (e) => this.#logger.debug('monitor client error', { client: session.name, error: e }));
    socket.on('close', () => {
      this.#sessions.delete(session);
      this.#logger.debug('monitor client gone', { client: session.name });
    });
    this.#send(session, qmpGreeting(this.#backend.version));
  }

  async #handle(session: Session, value: unknown): Promise<void> {
    const parsed = parseQmpRequest(value);
    if (!parsed.ok) {
      this.#send(session, qmpErrorReply(parsed.error, parsed));
      return;
    }
    const request = parsed.request;
    try {
      const result = await this.#execute(session, request);
      this.#send(session, qmpReturn(result, request));
    } catch (e) {
      const error = toQmpError(e);
      if (!isQmpError(e) && !isAppError(e) && !isQdevError(e)) {
        this.#logger.warn('monitor command failed unexpectedly', { command: request.execute, error: e });
      }
      this.#send(session, qmpErrorReply(error, request));
    }
  }

  async #execute(session: Session, request: QmpRequest): Promise<unknown> {
    if (!session.negotiated) {
      if (request.execute !== 'qmp_capabilities') {
        throw new QmpError('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'");
      }
      const cmd = findCommand('qmp_capabilities');
      checkArguments(cmd, request.arguments);
      const enable = (request.arguments.enable as unknown[] | undefined) ?? [];
      const [first] = enable;
      if (first !== undefined)
        throw new QmpError('GenericError', `Capability '${String(first)}' not available`);
      session.negotiated = true;
      return {};
    }
    const cmd = findCommand(request.execute);
    checkArguments(cmd, request.arguments);
    this.#logger.debug('monitor command', { client: session.name, command: request.execute });
    return await cmd.run(this.#backend, request.arguments);
  }

  #send(session: Session, message: object): void {
    this.#write(session, encodeQmp(message));
  }

  #write(session: Session, line: string): void {
    const socket = session.socket;
    if (socket.destroyed) return;
    socket.write(line);
    if (socket.writableLength > this.limits.maxBufferedReplyBytes) {
      this.#logger.warn('monitor client disconnected: it does not read its replies', {
        client: session.name,
        buffered: socket.writableLength,
        cap: this.limits.maxBufferedReplyBytes,
      });
      socket.destroy();
    }
  }

  /** Counts a client refused for `maxClients`, logging at most once a second. */
  #refused(): void {
    this.#refusedSinceLog++;
    const now = Date.now();
    if (now - this.#lastRefusalLog < REFUSAL_LOG_INTERVAL_MS) return;
    this.#logger.warn('monitor client refused: too many clients', {
      socket: this.socketPath,
      refused: this.#refusedSinceLog,
      cap: this.limits.maxClients,
    });
    this.#refusedSinceLog = 0;
    this.#lastRefusalLog = now;
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Maps any error of a command to the QMP error its client sees. */
export function toQmpError(e: unknown): QmpError {
  if (isQmpError(e)) return e;
  if (isQdevError(e) && e.code === 'device-not-found')
    return new QmpError('DeviceNotFound', e.message, { cause: e });
  if (isAppError(e) || isQdevError(e) || e instanceof Error)
    return new QmpError('GenericError', e.message, { cause: e });
  return new QmpError('GenericError', String(e));
}
