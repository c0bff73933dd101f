import { vfuVitestConfig } from '../../vitest.shared.ts';

// End-to-end tests spawn the built CLI; globalSetup rebuilds it when the sources are newer.
export default vfuVitestConfig({ globalSetup: ['test/global-setup.ts'] });
