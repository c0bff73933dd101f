#!/usr/bin/env node
/** The `vfu-conformance` executable. */
import { main } from './cli-main';

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
    process.stderr.write(`vfu-conformance: ${String(e)}\n`);
    process.exitCode = 1;
  },
);
