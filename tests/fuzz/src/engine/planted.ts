/**
 * A target with a defect behind four nested byte comparisons, for testing the engine: blind
 * mutation needs about 2^32 tries to reach it, coverage guidance a few thousand.
 */
import { Finding, type FuzzTarget } from './target';

export function plantedTarget(): FuzzTarget {
  return {
    name: 'planted',
    description: 'a defect behind the bytes "vfu!"',
    scope: ['/engine/planted.'],
    maxLen: 64,
    stateless: true,
    seeds: () => [new TextEncoder().encode('hello')],
    run(input) {
      if (input.length < 4) return;
      if (input[0] === 0x76) {
        if (input[1] === 0x66) {
          if (input[2] === 0x75) {
            if (input[3] === 0x21) throw new Finding('planted defect reached');
          }
        }
      }
    },
  };
}
