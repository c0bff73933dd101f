import { vfuVitestConfig } from '../../vitest.shared.ts';

export default vfuVitestConfig();
