import { describe, expect, it } from 'vitest';
import { checkArguments, findCommand, MONITOR_COMMANDS, parseHumanCommand } from './commands';
import { isQmpError } from './qmp';

function qmpFailure(fn: () => unknown): { errorClass: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (!isQmpError(e)) throw e;
    return { errorClass: e.errorClass, message: e.message };
  }
  throw new Error('no QmpError');
}

describe('command table', () => {
  it('has unique names including the required ones', () => {
    const names = MONITOR_COMMANDS.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    for (const n of [
      'qmp_capabilities',
      'device_add',
      'device_del',
      'object-add',
      'object-del',
      'query-devices',
      'query-pci',
      'human-monitor-command',
      'qom-list',
      'qom-get',
      'qom-set',
      'gpio-set-inputs',
      'quit',
    ]) {
      expect(names).toContain(n);
    }
  });

  it('reports an unknown command as CommandNotFound', () => {
    expect(qmpFailure(() => findCommand('device-add'))).toEqual({
      errorClass: 'CommandNotFound',
      message: 'The command device-add has not been found',
    });
  });

  it.each([
    ['device_del', {}, "Parameter 'id' is missing"],
    ['device_del', { id: 3 }, "Invalid parameter type for 'id', expected: string"],
    ['device_del', { id: 'e0', force: true }, "Parameter 'force' is unexpected"],
    ['device_add', { id: 'e0' }, "Parameter 'driver' is missing"],
    ['object-add', { id: 's1' }, "Parameter 'qom-type' is missing"],
    ['gpio-set-inputs', { id: 'g', value: 1.5 }, "Invalid parameter type for 'value', expected: integer"],
    ['gpio-set-inputs', { id: 'g', value: '1' }, "Invalid parameter type for 'value', expected: integer"],
    ['human-monitor-command', {}, "Parameter 'command-line' is missing"],
    ['qmp_capabilities', { enable: 'oob' }, "Invalid parameter type for 'enable', expected: array"],
    ['query-pci', { bus: 0 }, "Parameter 'bus' is unexpected"],
  ])('%s %j -> %s', (name, args, message) => {
    expect(qmpFailure(() => checkArguments(findCommand(name), args))).toEqual({
      errorClass: 'GenericError',
      message,
    });
  });

  it('passes device properties through open commands', () => {
    expect(() => checkArguments(findCommand('device_add'), { driver: 'edu', dma_mask: 255 })).not.toThrow();
    expect(() =>
      checkArguments(findCommand('object-add'), { 'qom-type': 'vfio-user-server', id: 's1', socket: '/a' }),
    ).not.toThrow();
  });
});

describe('parseHumanCommand', () => {
  it.each([
    ['info mtree', { kind: 'info-mtree', flat: false, bus: undefined }],
    ['  info   mtree -f  ', { kind: 'info-mtree', flat: true, bus: undefined }],
    ['info mtree -f s1', { kind: 'info-mtree', flat: true, bus: 's1' }],
    ['info qtree', { kind: 'info-qtree' }],
    ['info pci', { kind: 'info-pci' }],
    ['help', { kind: 'help' }],
  ])('%j', (line, expected) => {
    expect(parseHumanCommand(line)).toEqual(expected);
  });

  it.each([
    ['info mtree -x', /unknown option '-x'/],
    ['info mtree a b', /unexpected argument 'b'/],
    ['info registers', /info registers: unknown or malformed/],
    ['info', /info: unknown or malformed/],
    ['info qtree extra', /info qtree: unknown or malformed/],
    ['x86_64 reset', /unknown command: 'x86_64'/],
    ['', /unknown command: ''/],
  ])('rejects %j', (line, message) => {
    expect(qmpFailure(() => parseHumanCommand(line)).message).toMatch(message);
  });
});
