#!/usr/bin/env node
/** The `vfu-trace` executable. */
import { main } from './cli-main';

// `vfu-trace decode FILE | head`: a closed pipe ends the output, not the program with a trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`vfu-trace: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
