import { vfuVitestConfig } from '../../vitest.shared.ts';

// --expose-gc lets the mapping test prove that forgotten regions are unmapped by their finalizer.
export default vfuVitestConfig({ execArgv: ['--expose-gc'] });
