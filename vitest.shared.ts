import { defineConfig, type ViteUserConfig } from 'vitest/config';

/**
 * The one vitest configuration every package uses. Tests import sibling packages through the
 * `@vfu/source` export condition, so they run against TypeScript sources and need no prior build.
 * `node`/`import`/`default` follow so that third-party packages resolve as Node would.
 */
export function vfuVitestConfig(overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  const conditions = ['@vfu/source', 'node', 'import', 'module', 'default'];
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['node', 'import', 'default'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      restoreMocks: true,
      clearMocks: true,
      testTimeout: 20_000,
      hookTimeout: 20_000,
      ...overrides,
    },
  });
}
