#!/usr/bin/env node
/** The `vfu-server` executable. */
import { main } from './main';

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

// A bug in one device or connection must not take the other endpoints down: log it and serve on.
process.on('uncaughtException', (e) =>
  process.stderr.write(`vfu-server: error: uncaught exception: ${e.stack ?? e}\n`),
);
process.on('unhandledRejection', (e) =>
  process.stderr.write(
    `vfu-server: error: unhandled rejection: ${(e as Error | undefined)?.stack ?? String(e)}\n`,
  ),
);

const status = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  onStopSignal(handler) {
    let count = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      // A second signal while shutting down means "now".
      if (++count > 1) process.exit(1);
      handler(signal);
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    return () => {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    };
  },
});
process.exitCode = status;
