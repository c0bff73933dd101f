import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/capture.ts', 'src/cli.ts'],
  format: ['esm'],
  target: 'node20',
  dts: { entry: ['src/index.ts', 'src/capture.ts'] },
  sourcemap: true,
  clean: true,
});
