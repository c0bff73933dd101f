import { parseCapabilities, serializeCapabilities, type VersionCapabilities } from '../capabilities';
import type { CommandCodec, DescribedField } from '../codec-types';
import { Command } from '../command';
import { encodeError, type PayloadReader, type PayloadWriter } from '../wire';

/**
 * VERSION payload, the same for request and reply: version numbers and the optional JSON
 * capabilities. `json` is the text as received (kept so a re-encode is byte-identical); when
 * encoding, `json` wins over `capabilities` if both are given.
 */
export interface VersionPayload {
  major: number;
  minor: number;
  capabilities?: VersionCapabilities;
  json?: string;
}

/** VERSION request (client proposal). */
export type VersionRequest = VersionPayload;
/** VERSION reply (server's choice); may carry the twin-socket fd. */
export type VersionReply = VersionPayload;

const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

function decode(r: PayloadReader): VersionPayload {
  r.need(4, 'major/minor');
  const major = r.u16(0, 'major');
  const minor = r.u16(2, 'minor');
  if (r.length === 4) return { major, minor };
  // Both QEMU and libvfio-user insist on the terminating NUL.
  if (r.bytes[r.length - 1] !== 0) throw r.error('bad-json', 'version data is not NUL-terminated', 'data', 4);
  const text = r.view8(4, r.length - 5, 'data');
  if (text.includes(0)) throw r.error('bad-json', 'version data has a NUL inside the JSON', 'data', 4);
  let json: string;
  try {
    json = utf8Decoder.decode(text);
  } catch {
    throw r.error('bad-json', 'version data is not UTF-8', 'data', 4);
  }
  let capabilities: VersionCapabilities;
  try {
    capabilities = parseCapabilities(json);
  } catch (e) {
    const err = r.error('bad-json', e instanceof Error ? e.message : String(e), 'data', 4);
    throw Object.assign(err, { cause: e });
  }
  return { major, minor, capabilities, json };
}

function jsonText(p: VersionPayload): string | undefined {
  if (p.json !== undefined) return p.json;
  return p.capabilities === undefined ? undefined : serializeCapabilities(p.capabilities);
}

// Encoded twice (size, then write); VERSION is sent once per connection.
function encodedJson(p: VersionPayload): Uint8Array | undefined {
  const text = jsonText(p);
  if (text === undefined) return undefined;
  const bytes = utf8Encoder.encode(text);
  if (bytes.includes(0)) throw encodeError('VERSION', 'JSON text contains a NUL', 'json');
  return bytes;
}

function size(p: VersionPayload): number {
  const j = encodedJson(p);
  return j === undefined ? 4 : 4 + j.length + 1;
}

function encode(w: PayloadWriter, p: VersionPayload): void {
  w.u16(0, p.major, 'major');
  w.u16(2, p.minor, 'minor');
  const j = encodedJson(p);
  if (j !== undefined) {
    w.bytesAt(4, j);
    w.u8(4 + j.length, 0, 'nul');
  }
}

function describe(p: VersionPayload): DescribedField[] {
  const f: DescribedField[] = [['version', `${p.major}.${p.minor}`]];
  const text = jsonText(p);
  if (text !== undefined) f.push(['json', text.replace(/\s+/g, ' ')]);
  return f;
}

/** VERSION (1): the handshake. */
export const versionCodec: CommandCodec<VersionRequest, VersionReply> = {
  command: Command.Version,
  name: 'VERSION',
  decodeRequest(r, fds) {
    // libvfio-user rejects a VERSION request with fds.
    r.noFds(fds);
    return decode(r);
  },
  requestSize: size,
  encodeRequest: encode,
  describeRequest: describe,
  decodeReply(r, fds) {
    const p = decode(r);
    const twin = p.capabilities?.twinSocket;
    if (fds.length > 1)
      throw r.error('bad-fds', `${fds.length} fds attached, at most 1 (twin socket)`, 'fds');
    if (fds.length === 1 && (twin?.supported !== true || twin.fdIndex === undefined)) {
      throw r.error('bad-fds', 'an fd is attached but twin_socket does not name it', 'fds');
    }
    if (twin?.fdIndex !== undefined && twin.supported === true && twin.fdIndex >= fds.length) {
      throw r.error(
        'bad-fds',
        `twin_socket.fd_index ${twin.fdIndex} but ${fds.length} fd(s) attached`,
        'fds',
      );
    }
    return p;
  },
  replySize: size,
  encodeReply: encode,
  describeReply: describe,
};
