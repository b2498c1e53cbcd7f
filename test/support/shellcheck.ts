/**
 * ShellCheck (Debian package, installed by scripts/setup-test-tools.sh) on generated shell text.
 *
 * API:
 *   shellcheck(text, opts?): Promise<ShellcheckResult>
 *     runs `shellcheck -s <shell, default bash> -f gcc [-e SCxxxx,...] -` with the text on stdin.
 *     code: 0 = clean, 1 = findings (any severity), other = shellcheck itself failed.
 *     output: shellcheck's gcc-format lines ("-:LINE:COL: LEVEL: MESSAGE [SCxxxx]").
 *     findings: those lines parsed.
 *   interface ShellcheckFinding { line: number; column: number; level: string; code: string; message: string }
 */
import { requireOnPath, run } from './exec.js';

export interface ShellcheckFinding {
  line: number;
  column: number;
  level: string;
  code: string;
  message: string;
}

export interface ShellcheckResult {
  code: number;
  output: string;
  findings: ShellcheckFinding[];
}

export interface ShellcheckOptions {
  shell?: 'bash' | 'sh' | 'dash' | 'ksh';
  /** codes to exclude, e.g. ['SC1091'] */
  exclude?: string[];
}

const GCC_LINE = /^-:(\d+):(\d+):\s+(\w+):\s+(.*?)\s+\[(SC\d+)\]$/;

export async function shellcheck(text: string, opts: ShellcheckOptions = {}): Promise<ShellcheckResult> {
  const bin = requireOnPath('shellcheck', 'shellcheck (Debian package shellcheck)');
  const args = ['-s', opts.shell ?? 'bash', '-f', 'gcc'];
  if (opts.exclude?.length) args.push('-e', opts.exclude.join(','));
  args.push('-');
  const r = await run(bin, args, { input: text, timeoutMs: 30_000 });
  const output = r.stdout + r.stderr;
  const findings: ShellcheckFinding[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = GCC_LINE.exec(line);
    if (m) findings.push({ line: Number(m[1]), column: Number(m[2]), level: m[3]!, message: m[4]!, code: m[5]! });
  }
  return { code: r.code, output, findings };
}
