/** Output formats: a readable summary, TAP 14, JUnit XML; and the `--expect` file. */

import { type CheckResult, type Summary, summarize } from './check';
import { ConformanceError } from './errors';

function cite(r: CheckResult): string {
  return `vfio-user.rst "${r.spec.section}"${r.spec.practice === undefined ? '' : `; ${r.spec.practice}`}`;
}

/** One line per check that did not simply pass, then the counts. */
export function formatSummary(title: string, results: readonly CheckResult[]): string {
  const s = summarize(results);
  const lines = [title];
  for (const r of results) {
    const o = r.outcome;
    if (o.status === 'pass' && r.expected === undefined) continue;
    // Skips are checks that do not apply to this device (an absent BAR); TAP and JUnit list them.
    if (o.status === 'skip') continue;
    const tag = o.status === 'pass' ? 'XPASS' : r.expected !== undefined ? 'XFAIL' : 'FAIL ';
    lines.push(`  ${tag} ${r.id}: ${r.title} [${cite(r)}]`);
    if (o.detail !== undefined) lines.push(`        ${o.detail}`);
    if (r.expected !== undefined) lines.push(`        expected divergence: ${r.expected}`);
  }
  lines.push(countLine(s));
  return `${lines.join('\n')}\n`;
}

export function countLine(s: Summary): string {
  return `${s.total} checks: ${s.passed} passed, ${s.failed} failed, ${s.expectedFailures} expected failures, ${s.skipped} skipped${s.unexpectedPasses ? `, ${s.unexpectedPasses} listed as divergences but passed` : ''}`;
}

/** TAP version 14; known divergences are `# TODO` with their reason, checks that do not apply `# SKIP`. */
export function formatTap(results: readonly CheckResult[]): string {
  const lines = ['TAP version 14', `1..${results.length}`];
  for (const [i, r] of results.entries()) {
    const o = r.outcome;
    // TAP's TODO: a known failure stays `not ok`, and harnesses do not count it as failing.
    const ok = o.status !== 'fail';
    let directive = '';
    if (o.status === 'skip') directive = ` # SKIP ${o.detail}`;
    else if (r.expected !== undefined) directive = ` # TODO ${r.expected}`;
    lines.push(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${r.id}: ${r.title.replace(/#/g, '')}${directive}`);
    if (o.status === 'fail') {
      lines.push(
        '  ---',
        `  message: ${JSON.stringify(o.detail)}`,
        `  spec: ${JSON.stringify(cite(r))}`,
        '  ...',
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** JUnit XML: one testcase per check; expected failures are reported as skipped with their reason. */
export function formatJunit(suite: string, results: readonly CheckResult[]): string {
  const s = summarize(results);
  const cases = results.map((r) => {
    const o = r.outcome;
    const head = `    <testcase classname="${xml(suite)}" name="${xml(`${r.id}: ${r.title}`)}" time="${(r.ms / 1000).toFixed(3)}">`;
    let body = '';
    if (o.status === 'skip') body = `<skipped message="${xml(o.detail)}"/>`;
    else if (o.status === 'fail' && r.expected !== undefined)
      body = `<skipped message="${xml(`expected divergence: ${r.expected}; ${o.detail}`)}"/>`;
    else if (o.status === 'fail') body = `<failure message="${xml(o.detail)}">${xml(cite(r))}</failure>`;
    return `${head}${body}</testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites tests="${s.total}" failures="${s.failed}" skipped="${s.skipped + s.expectedFailures}">`,
    `  <testsuite name="${xml(suite)}" tests="${s.total}" failures="${s.failed}" skipped="${s.skipped + s.expectedFailures}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

/**
 * Parses an `--expect` file: one `CHECK-ID: reason` per line (`#` comments and blank lines
 * ignored). Throws for a line without a reason: every known divergence says why.
 */
export function parseExpectFile(text: string, path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Za-z0-9_.\-[\]*]+)\s*:\s*(\S.*)$/.exec(line);
    if (!m)
      throw new ConformanceError(
        'bad-expect-file',
        `${path}:${n + 1}: expected 'CHECK-ID: reason', got '${line}'`,
        { path },
      );
    out.set(m[1] as string, m[2] as string);
  }
  return out;
}
