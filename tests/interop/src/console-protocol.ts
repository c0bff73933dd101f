/**
 * The line protocol between the guest and the host. The guest's init and the shell helpers in
 * `guest/vfu-interop.sh` print lines starting with `@@vfu-interop ` on the serial console; everything
 * else is kernel or program output. Lines:
 *   `@@vfu-interop init nonce=N`              init started (N is the run's nonce)
 *   `@@vfu-interop check ok NAME`             a check passed
 *   `@@vfu-interop check fail NAME DETAIL`    a check failed, with what was seen
 *   `@@vfu-interop value KEY VALUE`           a value for the host to compare (e.g. a BAR address)
 *   `@@vfu-interop mark NAME`                 a rendezvous point the host may act on
 *   `@@vfu-interop result rc=RC nonce=N`      the script finished with status RC
 */

/** The prefix of every protocol line. */
export const CONSOLE_PREFIX = '@@vfu-interop ';

/** One check reported by the guest. */
export interface GuestCheck {
  readonly name: string;
  readonly ok: boolean;
  /** What was seen, for a failed check. */
  readonly detail: string;
}

/** A parsed protocol line. */
export type ConsoleEvent =
  | { readonly kind: 'init'; readonly nonce: string }
  | { readonly kind: 'check'; readonly check: GuestCheck }
  | { readonly kind: 'value'; readonly key: string; readonly value: string }
  | { readonly kind: 'mark'; readonly name: string }
  | { readonly kind: 'result'; readonly rc: number; readonly nonce: string };

/**
 * Parses one console line (CR already stripped). Returns `undefined` for ordinary output and for a
 * protocol line it cannot read, so that guest noise never breaks the host.
 */
export function parseConsoleLine(line: string): ConsoleEvent | undefined {
  const at = line.indexOf(CONSOLE_PREFIX);
  if (at < 0) return undefined;
  // Kernel messages can be interleaved before the prefix on the same line; read from the prefix.
  const rest = line.slice(at + CONSOLE_PREFIX.length).trimEnd();
  const [verb = '', ...words] = rest.split(' ');
  switch (verb) {
    case 'init': {
      const m = /^nonce=(\S+)$/.exec(words.join(' '));
      return m ? { kind: 'init', nonce: m[1]! } : undefined;
    }
    case 'check': {
      const [status, name, ...detail] = words;
      if ((status !== 'ok' && status !== 'fail') || name === undefined || name === '') return undefined;
      return { kind: 'check', check: { name, ok: status === 'ok', detail: detail.join(' ') } };
    }
    case 'value': {
      const [key, ...value] = words;
      if (key === undefined || key === '') return undefined;
      return { kind: 'value', key, value: value.join(' ') };
    }
    case 'mark': {
      const [name] = words;
      return name ? { kind: 'mark', name } : undefined;
    }
    case 'result': {
      const m = /^rc=(\d+) nonce=(\S+)$/.exec(words.join(' '));
      return m ? { kind: 'result', rc: Number(m[1]), nonce: m[2]! } : undefined;
    }
    default:
      return undefined;
  }
}

/**
 * Splits a growing stream of console text into complete lines, dropping CRs (the serial console
 * sends CRLF). `push` returns the lines completed by a chunk; `flush` returns a final partial line.
 */
export class ConsoleLineSplitter {
  #partial = '';

  push(chunk: string): string[] {
    const text = this.#partial + chunk.replaceAll('\r', '');
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    return lines;
  }

  flush(): string[] {
    const last = this.#partial;
    this.#partial = '';
    return last === '' ? [] : [last];
  }
}

/** The last `count` lines of `text`, for failure reports. */
export function tailLines(text: string, count: number): string {
  const lines = text.replaceAll('\r', '').split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-count).join('\n');
}
