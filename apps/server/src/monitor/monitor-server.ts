/**
 * A QMP monitor on a UNIX socket: any number of clients, each greeted, each in capabilities
 * negotiation until `qmp_capabilities`, each with its commands run one at a time in order. A bad
 * message gets an error reply; nothing a client sends stops the server.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { isQdevError } from '@vfu/pci';
import { isAppError } from '../errors';
import type { AppLogger } from '../logger';
import { claimSocketPath } from '../socket-path';
import { checkArguments, findCommand, type MonitorBackend } from './commands';
import { JsonStreamSplitter } from './json-stream';
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

/** Options of {@link QmpMonitor}. */
export interface QmpMonitorOptions {
  socketPath: string;
  backend: MonitorBackend;
  logger: AppLogger;
}

interface Session {
  readonly socket: Socket;
  readonly name: string;
  negotiated: boolean;
  /** Tail of this client's command queue. */
  queue: Promise<void>;
}

/** One monitor socket. */
export class QmpMonitor {
  readonly socketPath: string;
  readonly #backend: MonitorBackend;
  readonly #logger: AppLogger;
  readonly #sessions = new Set<Session>();
  #server: Server | undefined;
  #clientCount = 0;

  constructor(opts: QmpMonitorOptions) {
    this.socketPath = opts.socketPath;
    this.#backend = opts.backend;
    this.#logger = opts.logger;
  }

  /** Number of connected clients. */
  get clients(): number {
    return this.#sessions.size;
  }

  /** Listens (replacing a stale socket; `socket-in-use` for a live one). */
  async start(): Promise<void> {
    await claimSocketPath(this.socketPath, 'monitor');
    const server = createServer((socket) => this.#accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) =>
      this.#logger.error('monitor socket error', { socket: this.socketPath, error: e }),
    );
    this.#server = server;
    // The monitor can add and remove devices: owner only.
    await chmod(this.socketPath, 0o600);
  }

  /** Sends an event to every client past negotiation. */
  broadcast(event: string, data?: object): void {
    const line = encodeQmp(qmpEvent(event, data, Date.now()));
    for (const s of this.#sessions) if (s.negotiated && !s.socket.destroyed) s.socket.write(line);
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
    const session: Session = {
      socket,
      name: `monitor client ${++this.#clientCount}`,
      negotiated: false,
      queue: Promise.resolve(),
    };
    this.#sessions.add(session);
    this.#logger.debug('monitor client connected', { client: session.name, socket: this.socketPath });
    const splitter = new JsonStreamSplitter();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const item of splitter.push(chunk)) {
        session.queue = session.queue.then(() =>
          item.kind === 'value'
            ? this.#handle(session, item.value)
            : this.#send(
                session,
                qmpErrorReply(new QmpError('GenericError', item.message), { hasId: false }),
              ),
        );
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
    if (!session.socket.destroyed) session.socket.write(encodeQmp(message));
  }
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
