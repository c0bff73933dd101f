/**
 * `pnpm fuzz`: coverage-guided fuzzing of every target (or those named), each for a time budget.
 *
 *   pnpm fuzz [--time SECONDS] [--targets a,b] [--seed N] [--update-corpus] [--findings DIR] [--quiet]
 *
 * Starts from the checked-in corpus and the targets' seeds; prints runs per second and the
 * coverage reached per target; writes each finding's input to the findings directory and exits 1
 * when there was any. `--update-corpus` merges what was found into the checked-in corpus,
 * minimised. Each target runs in a process of its own: a coverage take walks every script V8
 * holds, so code loaded for one target would slow the others down.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { CoverageTracker } from './engine/coverage';
import { TARGET_NAMES, type TargetName } from './target-names';

const { values } = parseArgs({
  options: {
    time: { type: 'string', default: '60' },
    targets: { type: 'string' },
    seed: { type: 'string' },
    'update-corpus': { type: 'boolean', default: false },
    findings: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    /** Internal: run the one named target in this process and print its report line. */
    child: { type: 'boolean', default: false },
  },
});

const REPORT_PREFIX = '@@fuzz-report ';
const COLUMNS = [
  'target',
  'runs',
  'runs/s',
  'takes',
  'ms/take',
  'corpus',
  'features',
  'blocks',
  'functions',
  'findings',
];

const seconds = Number(values.time);
if (!Number.isFinite(seconds) || seconds <= 0)
  throw new Error(`--time ${values.time}: a positive number of seconds`);
const names = (values.targets?.split(',') ?? [...TARGET_NAMES]) as TargetName[];
for (const n of names) {
  if (!TARGET_NAMES.includes(n)) throw new Error(`no fuzz target '${n}' (known: ${TARGET_NAMES.join(', ')})`);
}
const seed = values.seed === undefined ? Date.now() >>> 0 : Number(values.seed);
const findingsDir = values.findings ?? `${process.cwd()}/findings`;
const log = values.quiet ? () => {} : (line: string) => console.log(line);

/** Fuzzes one target in this process; prints its report line; resolves with whether it found anything. */
async function runHere(name: TargetName): Promise<boolean> {
  const coverage = new CoverageTracker();
  coverage.start();
  // Loaded after coverage starts, so V8 instruments all of their code.
  const { TARGETS } = await import('./targets/index');
  const { fuzz, minimizeCorpus } = await import('./engine/fuzzer');
  const { addInput, CORPUS_DIR, readInputs, REGRESSIONS_DIR, writeInputs } = await import('./corpus');
  const corpus = [...readInputs(CORPUS_DIR, name), ...readInputs(REGRESSIONS_DIR, name)];
  const report = await fuzz(TARGETS[name](), { coverage, durationMs: seconds * 1000, seed, corpus, log });
  for (const f of report.findings) {
    const path = addInput(findingsDir, name, f.input);
    console.log(`\n${name}: ${f.message}\n  input: ${path}\n${f.stack ?? ''}`);
  }
  if (values['update-corpus']) {
    const { kept, features } = await minimizeCorpus(TARGETS[name](), coverage, [
      ...readInputs(CORPUS_DIR, name),
      ...report.corpus,
    ]);
    writeInputs(CORPUS_DIR, name, kept);
    log(`${name}: corpus minimised to ${kept.length} inputs (${features} features)`);
  }
  coverage.stop();
  const row = [
    name,
    String(report.runs),
    String(Math.round(report.runsPerSecond)),
    String(report.takes),
    report.msPerTake.toFixed(2),
    String(report.corpus.length),
    String(report.features),
    String(report.blocks),
    String(report.functions),
    String(report.findings.length),
  ];
  console.log(`${REPORT_PREFIX}${JSON.stringify(row)}`);
  return report.findings.length > 0;
}

/** Runs one target in a child process, passing its output through; resolves with its table row. */
function runChild(name: TargetName): Promise<{ row: string[] | undefined; failed: boolean }> {
  const args = process.argv.slice(2).filter((a, i, all) => a !== '--targets' && all[i - 1] !== '--targets');
  const child = spawn(
    process.execPath,
    [
      ...process.execArgv,
      process.argv[1] as string,
      ...args.filter((a) => !a.startsWith('--targets=')),
      '--seed',
      String(seed),
      '--targets',
      name,
      '--child',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let row: string[] | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith(REPORT_PREFIX)) row = JSON.parse(line.slice(REPORT_PREFIX.length)) as string[];
    else console.log(line);
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ row, failed: code !== 0 })));
}

if (values.child) {
  const found = await runHere(names[0] as TargetName);
  process.exit(found ? 1 : 0);
}

console.log(`fuzzing ${names.join(', ')} for ${seconds} s each (seed ${seed})`);
const rows: string[][] = [COLUMNS];
let failed = false;
for (const name of names) {
  const result = await runChild(name);
  failed ||= result.failed;
  rows.push(result.row ?? [name, 'failed to run']);
}
const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
const table = rows.map((r) =>
  r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  '),
);
console.log(`\n${table.join('\n')}`);
process.exit(failed ? 1 : 0);
