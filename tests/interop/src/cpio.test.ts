import { describe, expect, test } from 'vitest';
import { encodeCpioNewc } from './cpio';
import { isInteropError } from './errors';

interface Parsed {
  name: string;
  mode: number;
  data: string;
}

/** A newc reader written from the format description, to check what the writer produced. */
function parseNewc(bytes: Uint8Array): Parsed[] {
  const text = new TextDecoder('latin1');
  const out: Parsed[] = [];
  let at = 0;
  for (;;) {
    const header = text.decode(bytes.subarray(at, at + 110));
    expect(header.slice(0, 6)).toBe('070701');
    const field = (i: number) => Number.parseInt(header.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1);
    const fileSize = field(6);
    const nameSize = field(11);
    const name = text.decode(bytes.subarray(at + 110, at + 110 + nameSize - 1));
    expect(bytes[at + 110 + nameSize - 1]).toBe(0);
    at += 110 + nameSize;
    at += (4 - (at % 4)) % 4;
    const data = text.decode(bytes.subarray(at, at + fileSize));
    at += fileSize;
    at += (4 - (at % 4)) % 4;
    if (name === 'TRAILER!!!') break;
    out.push({ name, mode, data });
  }
  expect(bytes.subarray(at).every((b) => b === 0)).toBe(true);
  return out;
}

describe('encodeCpioNewc', () => {
  test('entries round-trip through a newc reader with their modes and contents', () => {
    const archive = encodeCpioNewc([
      { kind: 'directory', path: 'etc' },
      { kind: 'file', path: 'etc/run.sh', data: 'echo hi\n', mode: 0o755 },
      { kind: 'file', path: 'etc/odd', data: new Uint8Array([1, 2, 3]) },
    ]);
    expect(parseNewc(archive)).toEqual([
      { name: 'etc', mode: 0o040755, data: '' },
      { name: 'etc/run.sh', mode: 0o100755, data: 'echo hi\n' },
      { name: 'etc/odd', mode: 0o100644, data: '\x01\x02\x03' },
    ]);
  });

  test('the archive is padded to 512 bytes so another archive can follow it', () => {
    expect(encodeCpioNewc([]).length % 512).toBe(0);
    expect(encodeCpioNewc([{ kind: 'file', path: 'a', data: 'x'.repeat(1000) }]).length % 512).toBe(0);
  });

  test('the same entries give the same bytes (no timestamps)', () => {
    const entries = [{ kind: 'file', path: 'a', data: 'b' }] as const;
    expect(encodeCpioNewc(entries)).toEqual(encodeCpioNewc(entries));
  });

  test.each(['/etc/x', '', '../x', 'a/../../b'])('path %j is rejected as invalid-argument', (path) => {
    try {
      encodeCpioNewc([{ kind: 'file', path, data: '' }]);
      expect.unreachable();
    } catch (e) {
      expect(isInteropError(e) && e.code).toBe('invalid-argument');
    }
  });
});
