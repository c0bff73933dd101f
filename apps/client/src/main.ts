import { isClientError, VfioUserClient } from '@vfu/client';
import { CaptureWriter } from '@vfu/trace/capture';
import pkg from '../package.json' with { type: 'json' };
import { type Command, type DemoName, HELP, parseCommandLine } from './args';
import type { DemoContext } from './demos/context';
import { eduDemo } from './demos/edu';
import { gpioDemo } from './demos/gpio';
import { serialDemo } from './demos/serial';
import { testdevDemo } from './demos/testdev';
import { isClientAppError } from './errors';
import { collectReport, formatReportHex, formatReportJson, formatReportText } from './info';
import type { AppIo } from './io';

/** The app's version, as published. */
export const VERSION: string = pkg.version;

/** Every demo by name. */
export const DEMO_RUNNERS: Record<DemoName, (ctx: DemoContext) => Promise<void>> = {
  edu: eduDemo,
  serial: serialDemo,
  gpio: gpioDemo,
  testdev: testdevDemo,
};

async function run(command: Exclude<Command, { kind: 'help' | 'version' }>, io: AppIo): Promise<void> {
  const capture =
    command.traceFile === undefined
      ? undefined
      : CaptureWriter.open(command.traceFile, {
          application: `vfu-client ${VERSION}`,
          onError: (e) => io.stderr.write(`vfu-client: capture stopped: ${e.message}\n`),
        });
  let client: VfioUserClient;
  try {
    client = await VfioUserClient.connect(command.socket, {
      passFds: !command.noFds,
      mmap: !command.noFds,
      requestTimeoutMs: command.timeoutMs,
      ...(capture === undefined ? {} : { tap: capture.endpoint('vfu-client', command.socket, 'client')(1) }),
    });
  } catch (e) {
    capture?.close();
    throw e;
  }
  try {
    const ram = client.allocateMemory(command.ramSize, { name: 'vfu-client-ram' });
    if (command.kind === 'info') {
      const report = await collectReport(client, command.socket, ram, { assign: command.assign });
      const text =
        command.format === 'hex'
          ? formatReportHex(report)
          : command.format === 'json'
            ? formatReportJson(report)
            : formatReportText(report);
      io.stdout.write(text);
      return;
    }
    await DEMO_RUNNERS[command.demo]({
      client,
      ram,
      io,
      fds: !command.noFds,
      script: command.script,
      interactive: command.interactive,
    });
  } finally {
    await client.close();
    capture?.close();
  }
}

/**
 * Runs `vfu-client` with `argv` (without node and script) and returns the exit status: 0 done,
 * 1 the device or connection failed, 2 bad arguments. Never throws.
 */
export async function main(argv: readonly string[], io: AppIo): Promise<number> {
  let command: Command;
  try {
    command = parseCommandLine(argv);
  } catch (e) {
    io.stderr.write(`vfu-client: ${(e as Error).message}\nTry 'vfu-client --help' for more information.\n`);
    return 2;
  }
  if (command.kind === 'help') {
    io.stdout.write(HELP);
    return 0;
  }
  if (command.kind === 'version') {
    io.stdout.write(`vfu-client ${VERSION}\n`);
    return 0;
  }
  try {
    await run(command, io);
    return 0;
  } catch (e) {
    if (isClientAppError(e) && e.code === 'usage') {
      io.stderr.write(`vfu-client: ${e.message}\n`);
      return 2;
    }
    const what = isClientAppError(e) ? 'demo failed' : isClientError(e) ? `error (${e.code})` : 'error';
    io.stderr.write(`vfu-client: ${what}: ${(e as Error)?.message ?? String(e)}\n`);
    return 1;
  }
}
