// Packing step of @vfu/sys: builds the Node-API binary with prebuildify into
// prebuilds/<platform>-<arch>/ (stripped), so installs from the tarball need no compiler. Node's
// headers come from the running node's prefix, as in build-native.mjs (nothing is downloaded).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
const result = spawnSync(process.execPath, [prebuildify, '--napi', '--strip', `--node-gyp=${nodeGyp}`], {
  cwd: packageDir,
  env,
  stdio: 'inherit',
});
if (result.error) throw result.error;
process.exit(result.status ?? 1);
