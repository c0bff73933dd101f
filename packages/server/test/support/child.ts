/** Runs test/fixtures/client-process.ts in another process and returns its JSON output. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../fixtures/client-process.ts', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('../..', import.meta.url));

export interface ChildResult {
  code: number | null;
  output: Record<string, unknown> | undefined;
  stderr: string;
}

export function runClientProcess(socketPath: string, scenario: string): Promise<ChildResult> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@vfu/source', SCRIPT, socketPath, scenario],
    {
      cwd: PACKAGE_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const line = stdout.trim().split('\n').pop();
      let output: Record<string, unknown> | undefined;
      try {
        output = line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
      } catch {
        output = undefined;
      }
      resolve({ code, output, stderr });
    });
  });
}
