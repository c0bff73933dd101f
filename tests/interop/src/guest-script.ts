/**
 * Building the shell script a guest runs. A script is the scenario's lines after the helpers in
 * `guest/vfu-interop.sh` are sourced; the step functions below emit those lines so that a scenario
 * reads as a list of checks. A step that needs a PCI function refers to it by a shell variable set
 * by {@link findDevice} (`findDevice('edu', '1234:11e8')` sets `$edu` to its BDF).
 */
import { readFileSync } from 'node:fs';
import { InteropError } from './errors';

/** One or more lines of guest shell. */
export type GuestStep = string;

const NAME = /^[A-Za-z0-9_.:+-]+$/;
const VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const VENDOR_DEVICE = /^[0-9a-f]{4}:[0-9a-f]{4}$/;

function checkName(name: string): string {
  if (!NAME.test(name)) {
    throw new InteropError(
      'invalid-argument',
      `check name '${name}' must match ${NAME} (one word on the console)`,
    );
  }
  return name;
}

function checkVariable(variable: string): string {
  if (!VARIABLE.test(variable) || variable.startsWith('vfu_')) {
    throw new InteropError('invalid-argument', `'${variable}' is not a usable shell variable name`);
  }
  return variable;
}

function checkWidth(width: number): number {
  if (width !== 1 && width !== 2 && width !== 4 && width !== 8) {
    throw new InteropError('invalid-argument', `access width must be 1, 2, 4 or 8 bytes, got ${width}`);
  }
  return width;
}

/** Quotes `text` for a POSIX shell. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/** Formats `value` as the helpers print a register of `width` bytes: `0x` + 2×width hex digits. */
export function formatRegister(value: number | bigint, width: number): string {
  return `0x${BigInt(value)
    .toString(16)
    .padStart(checkWidth(width) * 2, '0')}`;
}

/** The guest helper library (sourced by every run's script). */
export function readGuestHelpers(): string {
  // src/ and dist/ both sit one level below the package root, beside guest/.
  return readFileSync(new URL('../guest/vfu-interop.sh', import.meta.url), 'utf8');
}

/** Joins steps into the body of a run script; the run ends with `vfu_finish` (status = failures). */
export function guestScript(...steps: ReadonlyArray<GuestStep | readonly GuestStep[]>): string {
  return `${steps.flat().join('\n')}\nvfu_finish\n`;
}

/**
 * Finds the `index`th (1-based) PCI function `vendorDevice` (`'494f:0dc8'`), sets `$variable` to its
 * BDF and reports it as value `bdf.<variable>`. With `waitSeconds`, rescans the bus until it shows
 * up (hot-add). Stops the script when it is not found, since every later step would fail.
 */
export function findDevice(
  variable: string,
  vendorDevice: string,
  options: { readonly index?: number; readonly waitSeconds?: number } = {},
): GuestStep {
  checkVariable(variable);
  if (!VENDOR_DEVICE.test(vendorDevice)) {
    throw new InteropError('invalid-argument', `'${vendorDevice}' is not a lowercase vvvv:dddd PCI id`);
  }
  const find =
    options.waitSeconds === undefined
      ? `vfu_find_device ${vendorDevice} ${options.index ?? 1}`
      : `vfu_wait_device ${vendorDevice} ${options.waitSeconds}`;
  return [
    `if ${variable}="$(${find})"; then`,
    `  vfu_ok found-${variable}; vfu_value bdf.${variable} "$${variable}"`,
    `else`,
    `  vfu_fail found-${variable} ${shellQuote(`no PCI function ${vendorDevice}`)}; vfu_finish`,
    `fi`,
  ].join('\n');
}

/** Checks that `lspci <flags> -s $variable` prints `pattern` (a fixed string). */
export function expectLspci(name: string, variable: string, pattern: string, flags = '-nn -vv'): GuestStep {
  return `vfu_expect_match ${checkName(name)} "$(lspci ${flags} -s "$${checkVariable(variable)}")" ${shellQuote(pattern)}`;
}

/** Kinds of BAR as the helpers report them (`+pf` when prefetchable). */
export type BarKind = 'io' | 'mem32' | 'mem64' | 'mem32+pf' | 'mem64+pf' | 'none';

/** Checks BAR `bar`'s kind and size (bytes) as the guest kernel sized it. */
export function expectBar(
  name: string,
  variable: string,
  bar: number,
  kind: BarKind,
  size: number,
): GuestStep {
  const expected = kind === 'none' ? 'none 0x0' : `${kind} 0x${size.toString(16)}`;
  return `vfu_expect_eq ${checkName(name)} "$(vfu_bar "$${checkVariable(variable)}" ${bar} | cut -d' ' -f1,3)" ${shellQuote(expected)}`;
}

/** Reports BAR `bar` as value `<key>` = "KIND START SIZE" (to compare across guests on the host). */
export function reportBar(key: string, variable: string, bar: number): GuestStep {
  return `vfu_value ${checkName(key)} "$(vfu_bar "$${checkVariable(variable)}" ${bar})"`;
}

/** Reports the output of a shell command as value `<key>` (newlines become `|`). */
export function reportCommand(key: string, command: string): GuestStep {
  return `vfu_value ${checkName(key)} "$( { ${command} ; } 2>&1 | tr '\\n' '|')"`;
}

/** Sets memory/IO decoding on (sysfs `enable`), as a driver's probe would. */
export function enableDevice(variable: string): GuestStep {
  return `vfu_pci_enable "$${checkVariable(variable)}"`;
}

/** Reads `width` bytes at `offset` of BAR `bar` and checks the value. */
export function expectBarRead(
  name: string,
  variable: string,
  bar: number,
  offset: number,
  width: number,
  expected: number | bigint,
): GuestStep {
  return `vfu_expect_eq ${checkName(name)} "$(vfu_bar_read "$${checkVariable(variable)}" ${bar} ${offset} ${width})" ${formatRegister(expected, width)}`;
}

/** Reads `width` bytes at `offset` of BAR `bar` and reports them as value `<key>`. */
export function reportBarRead(
  key: string,
  variable: string,
  bar: number,
  offset: number,
  width: number,
): GuestStep {
  return `vfu_value ${checkName(key)} "$(vfu_bar_read "$${checkVariable(variable)}" ${bar} ${offset} ${checkWidth(width)})"`;
}

/** Writes `value` (`width` bytes) at `offset` of BAR `bar`. */
export function barWrite(
  variable: string,
  bar: number,
  offset: number,
  width: number,
  value: number | bigint,
): GuestStep {
  return `vfu_bar_write "$${checkVariable(variable)}" ${bar} ${offset} ${checkWidth(width)} ${formatRegister(value, width)}`;
}

/** Polls a BAR register until `(value & mask) === expected`, up to `seconds`; checks the outcome. */
export function waitBarRead(
  name: string,
  variable: string,
  bar: number,
  offset: number,
  width: number,
  mask: number,
  expected: number,
  seconds = 5,
): GuestStep {
  const v = checkVariable(variable);
  return [
    `i=0; while [ $i -lt ${seconds * 10} ]; do`,
    `  r="$(vfu_bar_read "$${v}" ${bar} ${offset} ${checkWidth(width)})"`,
    `  [ $((r & ${mask})) -eq ${expected} ] && break; usleep 100000; i=$((i + 1)); done`,
    `vfu_expect_eq ${checkName(name)} "$(( $(vfu_bar_read "$${v}" ${bar} ${offset} ${width}) & ${mask} ))" ${expected}`,
  ].join('\n');
}

/** Loads a kernel module (modprobe, dependencies included); a failure is a failed check. */
export function loadModule(module: string): GuestStep {
  return `vfu_load_module ${checkName(module)}`;
}

/** Checks the driver bound to the function (`'none'` for no driver). */
export function expectDriver(name: string, variable: string, driver: string): GuestStep {
  return `vfu_expect_eq ${checkName(name)} "$(vfu_driver "$${checkVariable(variable)}")" ${shellQuote(driver)}`;
}

/** Finds the tty an 8250 driver made for the function, sets `$ttyVariable` (e.g. `ttyS4`). */
export function findTty(name: string, variable: string, ttyVariable: string): GuestStep {
  const tty = checkVariable(ttyVariable);
  return [
    `if ${tty}="$(vfu_find_tty "$${checkVariable(variable)}" | head -n1)"; then`,
    `  vfu_ok ${checkName(name)}; vfu_value tty.${tty} "$${tty}"`,
    `else vfu_fail ${name} 'no tty below the function'; fi`,
  ].join('\n');
}

/** Finds the gpiochip registered below the function, sets `$chipVariable` (e.g. `gpiochip0`). */
export function findGpiochip(name: string, variable: string, chipVariable: string): GuestStep {
  const chip = checkVariable(chipVariable);
  return [
    `if ${chip}="$(vfu_find_gpiochip "$${checkVariable(variable)}")"; then`,
    `  vfu_ok ${checkName(name)}; vfu_value gpiochip.${chip} "$${chip}"`,
    `else vfu_fail ${name} 'no gpiochip below the function'; fi`,
  ].join('\n');
}

/** Checks the value (0/1) of GPIO `line` of `$chipVariable`, read through the character device. */
export function expectGpioLine(name: string, chipVariable: string, line: number, expected: 0 | 1): GuestStep {
  return `vfu_expect_eq ${checkName(name)} "$(vfu_gpio_get "$${checkVariable(chipVariable)}" ${line})" ${expected}`;
}

/** Drives GPIO output `line` of `$chipVariable` to `value`; a failure is a failed check. */
export function setGpioLine(name: string, chipVariable: string, line: number, value: 0 | 1): GuestStep {
  return `vfu_check ${checkName(name)} vfu_gpio_set "$${checkVariable(chipVariable)}" ${line} ${value}`;
}

/** Prints a rendezvous mark; the script goes on at once (see {@link waitForHost} to block). */
export function mark(name: string): GuestStep {
  return `vfu_mark ${checkName(name)}`;
}

/** Prints mark `name` and blocks until the host calls `RunningGuest.release()`. */
export function waitForHost(name: string): GuestStep {
  return `vfu_wait_host ${checkName(name)}`;
}

/**
 * A raw check: passes when `command` exits 0. It is evaluated in the script's own shell (in a
 * subshell), so it sees the variables earlier steps set (`$edu` from {@link findDevice}).
 */
export function check(name: string, command: string): GuestStep {
  return `vfu_check ${checkName(name)} eval ${shellQuote(command)}`;
}

/** Checks that `command`'s output (evaluated in the script's shell) is exactly `expected`. */
export function expectOutput(name: string, command: string, expected: string): GuestStep {
  return `vfu_expect_eq ${checkName(name)} "$(eval ${shellQuote(command)} 2>&1)" ${shellQuote(expected)}`;
}
