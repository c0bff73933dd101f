/**
 * The doorbell as a downstream user gets it: our packages packed with `pnpm pack`, installed with
 * plain npm into a fresh directory outside the repository, and the built `doorbell.js` served by
 * the installed `vfu-server --load ./doorbell.js` (a `.ts` module is refused with a clear message:
 * Node 20 cannot import TypeScript, so the user compiles first).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PciDeviceHandle, VfioUserClient } from '@vfu/client';
import { makeTempDir, runProcess, startServerProcess, type TempDir } from '@vfu/test-utils';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { DoorbellRegister as R } from '../src/doorbell';

const REPO = new URL('../../../', import.meta.url).pathname;

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
}

/** Workspace package directories by package name. */
function workspacePackages(): Map<string, string> {
  const out = new Map<string, string>();
  for (const group of ['packages', 'apps']) {
    for (const entry of readdirSync(join(REPO, group), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const dir = join(REPO, group, entry.name);
      try {
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
        out.set(manifest.name, dir);
      } catch {
        // not a package
      }
    }
  }
  return out;
}

/** `roots` and every workspace package they depend on at run time. */
function runtimeClosure(roots: readonly string[], dirs: Map<string, string>): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const manifest = JSON.parse(
      readFileSync(join(dirs.get(name) as string, 'package.json'), 'utf8'),
    ) as Manifest;
    for (const [dep, range] of Object.entries(manifest.dependencies ?? {})) {
      if (range.startsWith('workspace:')) visit(dep);
    }
  };
  for (const r of roots) visit(r);
  return [...seen];
}

let home: TempDir;

beforeAll(() => {
  home = makeTempDir('vfu-downstream-');
  const tarballs = join(home.path, 'tarballs');
  const dirs = workspacePackages();
  const names = runtimeClosure(['@vfu/server-app', '@vfu/devices'], dirs);
  const files: Record<string, string> = {};
  for (const name of names) {
    const out = execFileSync('corepack', ['pnpm', 'pack', '--pack-destination', tarballs], {
      cwd: dirs.get(name) as string,
      encoding: 'utf8',
    });
    const tgz = out.trim().split('\n').at(-1) as string;
    files[name] = `file:${tgz}`;
  }
  const app = join(home.path, 'app');
  execFileSync('mkdir', ['-p', app]);
  // Overrides pin every transitive @vfu/* dependency to its tarball, never to the registry.
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'doorbell-user',
      private: true,
      type: 'module',
      dependencies: files,
      overrides: files,
    }),
  );
  copyFileSync(new URL('../dist/doorbell.js', import.meta.url), join(app, 'doorbell.js'));
  writeFileSync(join(app, 'doorbell.ts'), readFileSync(new URL('../src/doorbell.ts', import.meta.url)));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: app,
    stdio: 'pipe',
  });
}, 300_000);

afterAll(() => home?.remove());

describe('a downstream project with the packed packages', () => {
  it('serves ./doorbell.js with the installed vfu-server, interrupt included', async () => {
    const app = join(home.path, 'app');
    const socket = join(home.path, 'doorbell.sock');
    await startServerProcess({
      script: join(app, 'node_modules', '@vfu', 'server-app', 'dist', 'cli.js'),
      args: ['--load', './doorbell.js', '-device', `doorbell,id=db0,socket=${socket}`],
      cwd: app,
      cleanup: (fn) => onTestFinished(async () => void (await fn())),
    });
    const c = await VfioUserClient.connect(socket);
    onTestFinished(() => c.close());
    const pci = new PciDeviceHandle(c);
    await pci.assignBars();
    await pci.enable();
    expect(await pci.setupMsi(1)).toBe(1);
    const irq = new Promise((resolve) => c.once('irq', resolve));
    await c.write32(0, R.Doorbell, 0x1ee7);
    expect(await irq).toMatchObject({ kind: 'msi', vector: 0 });
    expect(await c.read32(0, R.Mailbox)).toBe(0x1ee7);
  });

  it('the bin is installed, and a .ts module is refused with exit status 2 and the reason', async () => {
    const app = join(home.path, 'app');
    const bin = join(app, 'node_modules', '.bin', 'vfu-server');
    const help = await runProcess(bin, ['--load', './doorbell.js', '-device', 'help'], { cwd: app });
    expect(help.stdout).toContain('name "doorbell"');
    const ts = await runProcess(bin, ['--load', './doorbell.ts', '-device', 'help'], { cwd: app });
    expect(ts.code).toBe(2);
    expect(ts.stderr).toContain(
      "cannot load driver module './doorbell.ts': TypeScript modules are not loaded directly",
    );
  });
});
