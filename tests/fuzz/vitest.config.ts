import { vfuVitestConfig } from '../../vitest.shared.ts';

// The corpus replay runs real endpoints and monitors; the engine test fuzzes for a few seconds.
export default vfuVitestConfig({ include: ['src/**/*.test.ts'], testTimeout: 120_000 });
