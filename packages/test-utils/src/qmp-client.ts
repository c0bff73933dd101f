import { connect, type Socket } from 'node:net';

/** A QMP reply or event as received. */
export type QmpMessage = Record<string, unknown>;

/** A minimal QMP client for tests: one request at a time, events collected on the side. */
export interface QmpTestClient {
  /** The greeting (`{"QMP": ...}`). */
  readonly greeting: QmpMessage;
  /** Events received so far. */
  readonly events: QmpMessage[];
  /** Sends `{"execute": command, "arguments": args, "id"?: id}` and resolves with the reply. */
  execute(command: string, args?: Record<string, unknown>, id?: unknown): Promise<QmpMessage>;
  /** Sends raw text (for malformed-input tests) and resolves with the next reply. */
  sendRaw(text: string): Promise<QmpMessage>;
  /** Sends raw text without waiting for anything (e.g. the first half of a message). */
  write(text: string): void;
  /** Resolves with the first event named `name` (already received or future). */
  waitForEvent(name: string, timeoutMs?: number): Promise<QmpMessage>;
  close(): void;
}

/**
 * Connects to a QMP monitor socket and waits for its greeting. Messages are newline-delimited
 * JSON objects, as QEMU and vfu-server send them.
 */
export function connectQmp(path: string, timeoutMs = 10_000): Promise<QmpTestClient> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ path });
    socket.setEncoding('utf8');
    let buffer = '';
    const events: QmpMessage[] = [];
    const replies: QmpMessage[] = [];
    let replyWaiter: ((m: QmpMessage) => void) | undefined;
    const eventWaiters = new Set<() => void>();
    let greeting: QmpMessage | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no QMP greeting on ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as QmpMessage;
        if (greeting === undefined) {
          greeting = msg;
          clearTimeout(timer);
          resolve(client);
        } else if ('event' in msg) {
          events.push(msg);
          for (const w of [...eventWaiters]) w();
        } else if (replyWaiter !== undefined) {
          const w = replyWaiter;
          replyWaiter = undefined;
          w(msg);
        } else {
          replies.push(msg);
        }
      }
    });
    const nextReply = () =>
      new Promise<QmpMessage>((res, rej) => {
        const queued = replies.shift();
        if (queued !== undefined) return res(queued);
        const t = setTimeout(() => rej(new Error('no QMP reply within 10 s')), 10_000);
        replyWaiter = (m) => {
          clearTimeout(t);
          res(m);
        };
      });
    const client: QmpTestClient = {
      get greeting() {
        return greeting as QmpMessage;
      },
      events,
      execute(command, args, id) {
        const msg: Record<string, unknown> = { execute: command };
        if (args !== undefined) msg.arguments = args;
        if (id !== undefined) msg.id = id;
        socket.write(`${JSON.stringify(msg)}\n`);
        return nextReply();
      },
      write(text) {
        socket.write(text);
      },
      sendRaw(text) {
        socket.write(text);
        return nextReply();
      },
      waitForEvent(name, ms = 10_000) {
        return new Promise((res, rej) => {
          const check = () => {
            const found = events.find((e) => e.event === name);
            if (found !== undefined) {
              clearTimeout(t);
              eventWaiters.delete(check);
              res(found);
            }
          };
          const t = setTimeout(() => {
            eventWaiters.delete(check);
            rej(new Error(`no ${name} event within ${ms} ms`));
          }, ms);
          eventWaiters.add(check);
          check();
        });
      },
      close: () => socket.destroy(),
    };
  });
}
