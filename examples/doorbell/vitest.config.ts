import { vfuVitestConfig } from '../../vitest.shared.ts';

// Packing and installing the packages for the downstream test happens once, in the global setup.
export default vfuVitestConfig({
  globalSetup: ['test/global-setup.ts'],
  testTimeout: 60_000,
  hookTimeout: 300_000,
});
