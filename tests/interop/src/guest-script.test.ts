import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { isInteropError } from './errors';
import {
  barWrite,
  check,
  expectBar,
  expectBarRead,
  expectOutput,
  findDevice,
  formatRegister,
  guestScript,
  readGuestHelpers,
  shellQuote,
} from './guest-script';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isInteropError(e) ? e.code : 'not-an-interop-error';
  }
  return undefined;
}

/** Runs `script` after the helpers in the host's POSIX shell. */
function runSh(script: string): { status: number; stdout: string } {
  try {
    return {
      status: 0,
      stdout: execFileSync('sh', ['-c', `${readGuestHelpers()}\n${script}`], { encoding: 'utf8' }),
    };
  } catch (e) {
    const err = e as { status: number; stdout: string };
    return { status: err.status, stdout: err.stdout };
  }
}

describe('guest helpers (run in the host shell)', () => {
  test('checks print protocol lines and vfu_finish exits with the failure count', () => {
    const out = runSh(
      guestScript(
        'vfu_expect_eq same 0x1 0x1',
        'vfu_expect_eq differ 0x1 0x2',
        "vfu_expect_match has 'a b c' 'b c'",
        'vfu_check fails false',
      ),
    );
    expect(out.status).toBe(2);
    expect(out.stdout.split('\n').filter(Boolean)).toEqual([
      '@@vfu-interop check ok same',
      "@@vfu-interop check fail differ expected '0x2', got '0x1'",
      '@@vfu-interop check ok has',
      '@@vfu-interop check fail fails status 1 from: false',
    ]);
  });

  test('check and expectOutput see the variables earlier steps set', () => {
    const out = runSh(
      guestScript(
        'dev=0000:00:01.0',
        check('sees-variable', 'test "$dev" = 0000:00:01.0'),
        check('fails-on-variable', 'test "$dev" = other'),
        expectOutput('output-of-variable', 'echo "$dev" | cut -c6-', '00:01.0'),
      ),
    );
    expect(out.status).toBe(1);
    expect(out.stdout.split('\n').filter(Boolean)).toEqual([
      '@@vfu-interop check ok sees-variable',
      expect.stringMatching(/^@@vfu-interop check fail fails-on-variable status 1 from: eval /),
      '@@vfu-interop check ok output-of-variable',
    ]);
  });

  test('shellQuote survives quotes and spaces', () => {
    expect(runSh(`printf '%s' ${shellQuote("it's a $test")}`).stdout).toBe("it's a $test");
  });
});

describe('step builders', () => {
  test('register values are formatted at their access width', () => {
    expect(formatRegister(0xed, 4)).toBe('0x000000ed');
    expect(formatRegister(0xffn, 1)).toBe('0xff');
    expect(formatRegister(0x1122334455667788n, 8)).toBe('0x1122334455667788');
    expect(expectBarRead('ident', 'edu', 0, 0, 4, 0x010000ed)).toBe(
      'vfu_expect_eq ident "$(vfu_bar_read "$edu" 0 0 4)" 0x010000ed',
    );
    expect(barWrite('edu', 0, 8, 4, 5)).toBe('vfu_bar_write "$edu" 0 8 4 0x00000005');
    expect(expectBar('bar0', 'edu', 0, 'mem32', 1 << 20)).toContain("'mem32 0x100000'");
  });

  test('findDevice stops the script when the function is missing', () => {
    const step = findDevice('edu', '1234:11e8');
    expect(step).toContain('vfu_find_device 1234:11e8 1');
    expect(step).toContain('vfu_finish');
    expect(findDevice('edu', '1234:11e8', { waitSeconds: 20 })).toContain('vfu_wait_device 1234:11e8 20');
  });

  test('names, variables, ids and widths that would break the script are rejected', () => {
    expect(code(() => findDevice('1x', '1234:11e8'))).toBe('invalid-argument');
    expect(code(() => findDevice('vfu_x', '1234:11e8'))).toBe('invalid-argument');
    expect(code(() => findDevice('edu', '1234-11e8'))).toBe('invalid-argument');
    expect(code(() => expectBarRead('has space', 'edu', 0, 0, 4, 0))).toBe('invalid-argument');
    expect(code(() => barWrite('edu', 0, 0, 3, 0))).toBe('invalid-argument');
  });
});
