/** The fuzz targets, in the order `pnpm fuzz` runs them (kept apart so listing them loads nothing). */
export const TARGET_NAMES = ['codec', 'framer', 'session', 'client', 'config', 'cli', 'qmp', 'nvme'] as const;

export type TargetName = (typeof TARGET_NAMES)[number];
