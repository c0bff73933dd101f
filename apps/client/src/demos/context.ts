import type { GuestMemory, VfioUserClient } from '@vfu/client';
import { ClientAppError } from '../errors';
import type { AppIo } from '../io';

/** What a demo gets: a connected client, guest RAM, the output streams and its options. */
export interface DemoContext {
  client: VfioUserClient;
  ram: GuestMemory;
  io: AppIo;
  /** fd passing is on (eventfd interrupts available). */
  fds: boolean;
  /** serial: text to loop back. */
  script?: string | undefined;
  /** serial: talk to the line instead of looping back. */
  interactive?: boolean;
}

/** Prints one line of demo output. */
export function say(ctx: DemoContext, line: string): void {
  ctx.io.stdout.write(`${line}\n`);
}

/** Throws `demo-failed` unless `ok`. */
export function expectDevice(ok: boolean, message: string): void {
  if (!ok) throw new ClientAppError('demo-failed', message);
}

/** Polls `check` until it returns true (at most `timeoutMs`, default 5 s). */
export async function pollUntil(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new ClientAppError('demo-failed', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Resolves with the first emission of `event`, or fails with `demo-failed` after `timeoutMs`. */
export function nextEvent<T>(
  client: VfioUserClient,
  event: 'msi' | 'msix' | 'intx',
  what: string,
  timeoutMs = 5000,
): { promise: Promise<T>; cancel(): void } {
  let cancel = () => {};
  const promise = new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(event, on);
      reject(new ClientAppError('demo-failed', `no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args[0] as T);
    };
    client.once(event, on);
    cancel = () => {
      clearTimeout(timer);
      client.off(event, on);
    };
  });
  return { promise, cancel };
}

/** `0x` and `width` hex digits: the shared formatter. */
export { hex } from '@vfu/errors';
