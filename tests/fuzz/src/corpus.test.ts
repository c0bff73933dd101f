import { describe, expect, test } from 'vitest';
import { CORPUS_DIR, REGRESSIONS_DIR, readInputs } from './corpus';
import { replay } from './engine/fuzzer';
import { TARGET_NAMES } from './target-names';
import { TARGETS } from './targets/index';

// Every checked-in input, corpus and past findings alike, replayed through its target: a defect
// fixed once stays fixed, and the corpora stay valid inputs as the code moves.
describe.each(TARGET_NAMES)('fuzz target %s', (name) => {
  test('replays its corpus and regression inputs without a finding', async () => {
    const corpus = readInputs(CORPUS_DIR, name);
    const regressions = readInputs(REGRESSIONS_DIR, name);
    expect(corpus.length).toBeGreaterThan(0);
    const target = TARGETS[name]();
    const findings = await replay(target, [...corpus, ...regressions]);
    expect(
      findings.map((f) => `${f.message} (input ${Buffer.from(f.input).toString('hex').slice(0, 80)})`),
    ).toEqual([]);
  });
});
