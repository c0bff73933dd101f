// Packing step of @vfu/sys: builds the Node-API binary with prebuildify into
// prebuilds/<platform>-<arch>/ (stripped), so installs from the tarball need no compiler. Node's
// headers come from the running node's prefix, as in build-native.mjs (nothing is downloaded).
//
// prebuildify runs `node-gyp rebuild`, which empties build/ first; packing must not pull the addon
// from under processes (tests, a running server) that load it from build/Release meanwhile. So the
// binary is built in a scratch copy of the native sources inside the package (so that
// node-addon-api still resolves), and only its prebuilds/ folder is moved into place.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const prebuildify = join(dirname(require.resolve('prebuildify/package.json')), 'bin.js');
const env = { ...process.env };
if (!env.npm_config_nodedir) {
  const prefix = dirname(dirname(process.execPath));
  if (existsSync(join(prefix, 'include', 'node', 'common.gypi'))) env.npm_config_nodedir = prefix;
}
const nodeGyp = join(dirname(require.resolve('node-gyp/package.json')), 'bin', 'node-gyp.js');

const scratch = mkdtempSync(join(packageDir, '.prebuild-'));
try {
  for (const entry of ['package.json', 'binding.gyp', 'native']) {
    cpSync(join(packageDir, entry), join(scratch, entry), { recursive: true });
  }
  const result = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', `--node-gyp=${nodeGyp}`], {
    cwd: scratch,
    env,
    stdio: 'inherit',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
  rmSync(join(packageDir, 'prebuilds'), { recursive: true, force: true });
  renameSync(join(scratch, 'prebuilds'), join(packageDir, 'prebuilds'));
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
