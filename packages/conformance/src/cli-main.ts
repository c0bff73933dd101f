/** `vfu-conformance`: run the server suite against a live server. */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CheckResult, summarize } from './check';
import { runClientSuite } from './client-suite';
import { ConformanceError } from './errors';
import { countLine, formatJunit, formatSummary, formatTap, parseExpectFile } from './report';
import { runServerSuite, serverChecks } from './server-suite';

export interface ConformanceIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export const USAGE = `Usage:
  vfu-conformance server SOCKET [--no-fds] [--tap] [--junit FILE] [--expect FILE] [--only PREFIX]...
      run the server checks against the vfio-user server listening at SOCKET
  vfu-conformance client [--tap] [--junit FILE] [--expect FILE] -- COMMAND ARGS...
      serve a scripted device on a socket ({socket} in ARGS is replaced by its path), run the
      client command once per scenario (normal, small limits, delayed replies, an error reply,
      a malformed reply) and check what it sent and how it coped
  vfu-conformance list
      print every check: id, title and the spec section it cites
Options:
  --no-fds        negotiate max_msg_fds 0 and pass no fds (DMA by messages)
  --tap           TAP 14 on stdout instead of the summary
  --junit FILE    also write JUnit XML to FILE
  --expect FILE   known divergences, one 'CHECK-ID: reason' per line; they do not fail the run
  --only PREFIX   run only checks whose id starts with PREFIX
Exit status: 0 when no check failed (known divergences aside), 1 when one did, 2 for a usage error.`;

const OPTIONS = {
  'no-fds': { type: 'boolean' },
  tap: { type: 'boolean' },
  junit: { type: 'string' },
  expect: { type: 'string' },
  only: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function main(argv: readonly string[], io: ConformanceIo): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof OPTIONS }>
  >;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: OPTIONS,
    });
  } catch (e) {
    io.stderr(`vfu-conformance: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const [sub, socket, ...rest] = positionals;
  if (sub === 'client') {
    const command = positionals.slice(1);
    if (command.length === 0) {
      io.stderr(`vfu-conformance: client needs '-- COMMAND ARGS...'\n${USAGE}\n`);
      return 2;
    }
    try {
      const expected =
        values.expect === undefined
          ? new Map<string, string>()
          : parseExpectFile(readFileSync(values.expect, 'utf8'), values.expect);
      const results = await runClientSuite(command, expected);
      return report(`vfu-conformance client ${command.join(' ')}`, results, values, io);
    } catch (e) {
      io.stderr(`vfu-conformance: ${(e as Error)?.message ?? String(e)}\n`);
      return e instanceof ConformanceError && e.code === 'bad-expect-file' ? 2 : 1;
    }
  }
  if (sub === 'list' && socket === undefined) {
    for (const c of serverChecks())
      io.stdout(`${c.id}\t${c.title}\t${c.spec.section}${c.spec.practice ? `; ${c.spec.practice}` : ''}\n`);
    return 0;
  }
  if (sub !== 'server' || socket === undefined || rest.length > 0) {
    io.stderr(`vfu-conformance: expected 'server SOCKET' or 'list'\n${USAGE}\n`);
    return 2;
  }
  try {
    const expected =
      values.expect === undefined
        ? new Map<string, string>()
        : parseExpectFile(readFileSync(values.expect, 'utf8'), values.expect);
    const results = await runServerSuite(socket, {
      fds: values['no-fds'] !== true,
      expected,
      ...(values.only === undefined ? {} : { only: values.only }),
    });
    const known = new Set(results.map((r) => r.id));
    for (const id of expected.keys())
      if (!known.has(id)) io.stderr(`vfu-conformance: --expect names no check: ${id}\n`);
    return report(
      `vfu-conformance server ${socket}${values['no-fds'] ? ' (no fds)' : ''}`,
      results,
      values,
      io,
    );
  } catch (e) {
    const message = e instanceof ConformanceError ? e.message : String((e as Error)?.message ?? e);
    io.stderr(`vfu-conformance: ${message}\n`);
    return e instanceof ConformanceError && e.code === 'bad-expect-file' ? 2 : 1;
  }
}

/** Writes the requested outputs and returns the exit status. */
function report(
  title: string,
  results: CheckResult[],
  values: { tap?: boolean | undefined; junit?: string | undefined },
  io: ConformanceIo,
): number {
  if (values.junit !== undefined) writeFileSync(values.junit, formatJunit(title, results));
  if (values.tap) io.stdout(formatTap(results));
  else io.stdout(formatSummary(title, results));
  const s = summarize(results);
  if (values.tap) io.stderr(`${countLine(s)}\n`);
  return s.failed > 0 ? 1 : 0;
}
