/** Runs the shipped Lua dissector through tshark and derives the same fields from @vfu/protocol. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeMessage, HEADER_SIZE } from '@vfu/protocol';
import { commandAvailable } from '@vfu/test-utils';
import { rawHeader } from '../src/decode';
import type { CapturedMessage } from '../src/read-capture';

const LUA = fileURLToPath(new URL('../wireshark/vfio-user.lua', import.meta.url));

/** True when tshark runs; under CI a missing tshark fails, elsewhere the test skips with one line. */
export const tshark = commandAvailable('tshark', ['--version']);
if (!tshark) {
  if (process.env.CI)
    throw new Error('tshark not found (Debian package tshark; scripts/install-system-deps.sh installs it)');
  console.warn('dissector check skipped: tshark not found (install Debian package tshark)');
}

const FIELDS = [
  'cmd',
  'msg_id',
  'type',
  'no_reply',
  'error',
  'errno',
  'argsz',
  'index',
  'offset',
  'addr',
  'size',
  'count',
  'version.major',
  'version.minor',
  'version.json',
  'feature.index',
];

/** One record per packet: field name (without `vfio_user.`) to tshark's text. */
export async function dissect(file: string): Promise<Record<string, string>[]> {
  const args = [
    '-X',
    `lua_script:${LUA}`,
    '-r',
    file,
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=f',
  ];
  for (const f of FIELDS) args.push('-e', `vfio_user.${f}`);
  const { stdout } = await promisify(execFile)('tshark', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => Object.fromEntries(line.split('\t').map((v, i) => [FIELDS[i] as string, v])));
}

/** tshark's text for a number (hex or decimal) or bool, as a decimal string; text as is. */
export function normalize(text: string): string {
  if (/^(0x[0-9a-f]+|\d+)$/i.test(text)) return BigInt(text).toString();
  if (text === 'True' || text === 'False') return text === 'True' ? '1' : '0';
  return text;
}

const num = (v: unknown): string | undefined =>
  typeof v === 'number' || typeof v === 'bigint' ? BigInt(v).toString() : undefined;

/** The fields @vfu/protocol decodes from the message, under the dissector's names. */
export function expectedFields(m: CapturedMessage): Record<string, string> {
  const h = rawHeader(m.bytes);
  if (h === undefined) return {};
  const out: Record<string, string> = {
    cmd: String(h.command),
    msg_id: String(h.msgId),
    type: String(h.flags & 0xf),
    no_reply: h.noReply ? '1' : '0',
    error: h.error ? '1' : '0',
    errno: String(h.errorNo),
  };
  if (h.error || m.truncated) return out;
  const decoded = decodeMessage({
    header: h,
    payload: m.bytes.subarray(HEADER_SIZE),
    fds: Array.from({ length: m.fds }, () => -1),
  });
  if (decoded.kind === 'error') return out;
  const body = decoded.body as Record<string, unknown>;
  const put = (name: string, v: unknown) => {
    const s = num(v);
    if (s !== undefined) out[name] = s;
  };
  if (decoded.command === 1) {
    put('version.major', body.major);
    put('version.minor', body.minor);
    if (typeof body.json === 'string') out['version.json'] = body.json;
    return out;
  }
  if (decoded.command === 16) {
    put('argsz', body.argsz);
    put('feature.index', body.feature);
    return out;
  }
  put('argsz', body.argsz);
  put('index', body.index ?? body.region);
  put('offset', body.offset);
  put('addr', body.addr ?? body.address);
  put('size', body.size);
  put('count', body.count);
  return out;
}
