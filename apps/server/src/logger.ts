/**
 * Leveled logging to a stream (stderr), one line per message: `vfu-server: warn: message key=value`.
 * Shaped as the endpoint library's logger (`debug`/`info`/`warn`/`error(msg, ctx?)`).
 */
import { LOG_LEVELS, type LogLevel } from './config';

/** Prefix of every line the program prints. */
export const PROGRAM = 'vfu-server';

/** A leveled logger. */
export interface AppLogger {
  readonly level: LogLevel;
  debug(msg: string, ctx?: object): void;
  info(msg: string, ctx?: object): void;
  warn(msg: string, ctx?: object): void;
  error(msg: string, ctx?: object): void;
}

/** Something lines can be written to (process.stderr, or an array in tests). */
export interface LineSink {
  write(text: string): unknown;
}

/** A logger printing messages at `level` and more severe to `sink`. */
export function createLogger(level: LogLevel, sink: LineSink): AppLogger {
  const threshold = LOG_LEVELS.indexOf(level);
  const at =
    (l: LogLevel) =>
    (msg: string, ctx?: object): void => {
      if (LOG_LEVELS.indexOf(l) > threshold) return;
      sink.write(`${PROGRAM}: ${l}: ${msg}${formatContext(ctx)}\n`);
    };
  return { level, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** ` key=value` pairs; strings with spaces quoted, bigints in hex, errors by message. */
export function formatContext(ctx: object | undefined): string {
  if (ctx === undefined) return '';
  let out = '';
  for (const [key, value] of Object.entries(ctx)) {
    if (value === undefined) continue;
    out += ` ${key}=${formatValue(value)}`;
  }
  return out;
}

function formatValue(value: unknown): string {
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
    } catch {
      return String(value);
    }
  }
  return String(value);
}
