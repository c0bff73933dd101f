import { vfuVitestConfig } from '../../vitest.shared.ts';

// `pnpm test`: the host-side units only (no guest is booted). Guests run under `pnpm test:interop`.
export default vfuVitestConfig({ include: ['src/**/*.test.ts'] });
