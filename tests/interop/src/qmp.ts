/**
 * A minimal QMP client (QEMU Machine Protocol, JSON over a UNIX socket): reads the greeting,
 * negotiates capabilities, then sends one command at a time and returns its `return` value.
 * Asynchronous events are kept so a test can wait for one (e.g. `DEVICE_DELETED`).
 */
import { createConnection, type Socket } from 'node:net';
import { InteropError } from './errors';

/** An asynchronous QMP event. */
export interface QmpEvent {
  readonly event: string;
  readonly data?: unknown;
}

/** A connected QMP session. */
export interface QmpClient {
  /** Runs `command` and resolves with its `return` value; a QMP error becomes `qmp-failed`. */
  execute(command: string, args?: Record<string, unknown>): Promise<unknown>;
  /** Events received so far. */
  events(): readonly QmpEvent[];
  close(): void;
}

/** Connects to a QMP socket, retrying until `timeoutMs` (QEMU creates it while starting). */
export async function connectQmp(path: string, timeoutMs = 10_000): Promise<QmpClient> {
  const deadline = Date.now() + timeoutMs;
  let socket: Socket | undefined;
  while (socket === undefined) {
    try {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = createConnection(path, () => resolve(s));
        s.once('error', reject);
      });
    } catch (cause) {
      if (Date.now() > deadline) {
        throw new InteropError('qmp-failed', `cannot connect to QMP at ${path}: ${String(cause)}`, {
          path,
          cause,
        });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const connected: Socket = socket;
  const events: QmpEvent[] = [];
  const pending: Array<{ resolve: (v: Record<string, unknown>) => void; reject: (e: unknown) => void }> = [];
  let buffered = '';
  let greeted: (() => void) | undefined;
  const greeting = new Promise<void>((resolve) => {
    greeted = resolve;
  });
  connected.setEncoding('utf8');
  connected.on('data', (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf('\n');
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf('\n');
      if (line === '') continue;
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if ('QMP' in message) greeted?.();
      else if ('event' in message) events.push(message as unknown as QmpEvent);
      else pending.shift()?.resolve(message);
    }
  });
  const failAll = (cause: unknown): void => {
    for (const p of pending.splice(0)) p.reject(cause);
  };
  connected.on('error', failAll);
  connected.on('close', () => failAll(new Error('QMP connection closed')));

  const execute = (command: string, args?: Record<string, unknown>): Promise<unknown> =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      pending.push({ resolve, reject });
      connected.write(
        `${JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args })}\n`,
      );
    }).then(
      (reply) => {
        if ('error' in reply) {
          const error = reply.error as { class?: string; desc?: string };
          throw new InteropError('qmp-failed', `QMP ${command} failed: ${error.class}: ${error.desc}`, {
            command,
            path,
          });
        }
        return reply.return;
      },
      (cause: unknown) => {
        if (cause instanceof InteropError) throw cause;
        throw new InteropError('qmp-failed', `QMP ${command}: ${String(cause)}`, { command, path, cause });
      },
    );

  await greeting;
  await execute('qmp_capabilities');
  return { execute, events: () => events, close: () => connected.destroy() };
}
