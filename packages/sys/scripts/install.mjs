// Install step of @vfu/sys: use the prebuilt Node-API binary shipped in prebuilds/ when one fits
// this platform and loads, else build the addon from source (build-native.mjs: g++, make, python3).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);

function prebuildLoads() {
  if (!existsSync(join(packageDir, 'prebuilds'))) return false;
  // Only prebuilds: a build/ left from an earlier source build is not what this checks.
  process.env.PREBUILDS_ONLY = '1';
  try {
    const binary = require('node-gyp-build').resolve(packageDir);
    return require(binary).platform === 'linux';
  } catch (e) {
    console.log(`@vfu/sys: no usable prebuilt binary (${e.message.split('\n')[0]}); building from source`);
    return false;
  } finally {
    delete process.env.PREBUILDS_ONLY;
  }
}

if (prebuildLoads()) {
  console.log(`@vfu/sys: using the prebuilt binary for ${process.platform}-${process.arch}`);
  process.exit(0);
}
const result = spawnSync(process.execPath, [join(packageDir, 'scripts', 'build-native.mjs')], {
  cwd: packageDir,
  stdio: 'inherit',
});
if (result.error) throw result.error;
process.exit(result.status ?? 1);
