#!/usr/bin/env node
/** The `vfu-client` executable. */
import { main } from './main';

const status = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
});
process.exitCode = status;
