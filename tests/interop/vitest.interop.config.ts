import { vfuVitestConfig } from '../../vitest.shared.ts';

// `pnpm test:interop`: scenarios that boot QEMU guests. Files run one after another because the
// machines have two cores and a TCG guest keeps one busy; a scenario that needs two guests at once
// starts them itself.
export default vfuVitestConfig({
  include: ['test/**/*.test.ts'],
  fileParallelism: false,
  testTimeout: 180_000,
  hookTimeout: 60_000,
  reporters: ['default', './test/summary-reporter.ts'],
});
