/**
 * Packer HCL2 checks: the HCL parser (npm @cdktf/hcl2json, Go HCL compiled to WASM) and Debian's
 * `packer` 1.6.6 (installed by scripts/setup-test-tools.sh), which validates and evaluates offline.
 *
 * API:
 *   parseHcl(name, text): Promise<Record<string, unknown>>
 *     HCL -> JSON; throws with file:line,col on a syntax error. Expressions come back as "${...}"
 *     strings; a string literal keeps HCL's template escapes ($${ and %%{) as written.
 *   PACKER_166_UNSUPPORTED: the constructs 1.6.6 predates that our HCL uses
 *     (the `packer {}` block with required_plugins, `imds_support`, the `metadata_options` block).
 *   stripForPacker166(text): { text, removed: string[] }
 *     removes exactly those constructs (by their known shape in packer/*.pkr.hcl) and names what it removed.
 *   packerValidate(dir): Promise<RunResult>
 *     `packer validate .` in dir (no credentials, no network; amazon-ebs is built into 1.6.6).
 *   packerEval(dir, expression): Promise<unknown>
 *     `packer console` in dir with the expression on stdin, wrapped in jsonencode(): the value as real
 *     Packer evaluates it (variables, *.auto.pkrvars.hcl and locals of the folder loaded).
 *
 * A missing packer binary is an error, never a skip.
 */
import { parse } from '@cdktf/hcl2json';
import { requireOnPath, run, type RunResult } from './exec.js';

export async function parseHcl(name: string, text: string): Promise<Record<string, unknown>> {
  return (await parse(name, text)) as Record<string, unknown>;
}

export const PACKER_166_UNSUPPORTED = ['packer {} block (required_plugins, required_version)', 'imds_support', 'metadata_options block'] as const;

export function stripForPacker166(text: string): { text: string; removed: string[] } {
  const removed: string[] = [];
  let out = text;
  const cut = (re: RegExp, what: string) => {
    const n = (out.match(re) ?? []).length;
    if (n) {
      out = out.replace(re, '');
      removed.push(`${what} x${n}`);
    }
  };
  cut(/^packer \{\n[\s\S]*?\n\}\n/gm, 'packer {}');
  cut(/^ *imds_support *= *"[^"\n]*"\n/gm, 'imds_support');
  cut(/^( *)metadata_options \{\n[\s\S]*?\n\1\}\n/gm, 'metadata_options {}');
  return { text: out, removed };
}

function packerBin(): string {
  return requireOnPath('packer', 'packer (Debian package, 1.6.6)');
}

export function packerValidate(dir: string): Promise<RunResult> {
  return run(packerBin(), ['validate', '.'], { cwd: dir, env: { ...process.env, CHECKPOINT_DISABLE: '1', PACKER_CHECKPOINT_DISABLE: '1' } });
}

export async function packerEval(dir: string, expression: string): Promise<unknown> {
  const res = await run(packerBin(), ['console', '.'], {
    cwd: dir,
    input: `jsonencode(${expression})\n`,
    env: { ...process.env, CHECKPOINT_DISABLE: '1', PACKER_CHECKPOINT_DISABLE: '1', AWS_REGION: 'us-east-1' },
  });
  if (res.code !== 0 || res.stdout.trim() === '') throw new Error(`packer console ${expression}: rc ${res.code}\n${res.stdout}${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').pop()!);
}
