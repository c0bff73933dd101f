// Builds the native addon with node-gyp from the shipped sources (runs at install time).
// node-gyp needs Node's headers. When npm/pnpm config names no nodedir, use the headers installed
// next to the running node (Debian's nodejs package and the official tarballs both ship them under
// <prefix>/include/node) so that nothing has to be downloaded; otherwise node-gyp falls back to its
// usual download.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');

// `--incremental` (used by the package's build script) re-runs make when already configured.
const incremental = process.argv.includes('--incremental');
const configured = existsSync(join(packageDir, 'build', 'Makefile'));
const args = [nodeGyp, incremental && configured ? 'build' : 'rebuild'];

if (!process.env.npm_config_nodedir) {
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) args.push(`--nodedir=${prefix}`);
}

// The block I/O helpers were once a second addon; node-gyp-build loads the first .node it finds in
// build/Release, so a leftover of it must not stay beside vfu_sys.node.
rmSync(join(packageDir, 'build', 'Release', 'vfu_block_io.node'), { force: true });

const result = spawnSync(process.execPath, args, { cwd: packageDir, stdio: 'inherit' });
if (result.error) throw result.error;
process.exit(result.status ?? 1);
