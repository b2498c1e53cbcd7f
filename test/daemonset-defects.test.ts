// Issue 10's DaemonSet defects (D4, D23, D8b) as the manifest and the CLI show them. What the
// manifest does on a node: node-live.test.ts and daemonset-node.test.ts.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { render } from '../src/index.js';
import { REPO_ROOT, run } from './support/exec.js';

const BIN = join(REPO_ROOT, 'dist', 'bin.js');
const cli = (args: string[], cwd: string) => run(process.execPath, [BIN, ...args], { cwd, env: { ...process.env } });

beforeAll(async () => {
  // The CLI tests run the compiled CLI: build it so they never test stale output.
  const res = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', REPO_ROOT], { timeoutMs: 110_000 });
  expect(res.stdout + res.stderr).toBe('');
}, 120_000);

describe('D4: the DaemonSet for soci.wiring user-data', () => {
  // As test/cases/lazy-user-data-wiring-*, in a mode that draws no warning.
  const profile = 'node: { kubernetesVersion: "1.31" }\nsoci: { mode: parallel, source: ami, auth: none, wiring: user-data }\n';

  it('D4: render writes no DaemonSet for wiring user-data and says why', async () => {
    const r = render(profile);
    expect(r.artifacts.map((a) => a.path)).not.toContain('daemonset.yaml');
    expect(r.artifacts.map((a) => a.path)).not.toContain('daemonset-uninstall.yaml');
    const cwd = mkdtempSync(join(tmpdir(), 'soci-d4-'));
    writeFileSync(join(cwd, 'p.yaml'), profile);
    const res = await cli(['render', '-c', 'p.yaml', '-o', 'out'], cwd);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/^note: daemonset\.yaml and daemonset-uninstall\.yaml not written: soci\.wiring: "user-data" cannot be applied by a DaemonSet: .*allowed for the DaemonSet: drop-in/m);
    expect(readdirSync(join(cwd, 'out'))).not.toContain('daemonset.yaml');
  });

  it('D4: the daemonset command refuses wiring user-data in one line, exit 2, nothing printed', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'soci-d4-'));
    writeFileSync(join(cwd, 'p.yaml'), profile);
    for (const args of [['daemonset'], ['daemonset', '--uninstall']]) {
      const res = await cli([...args, '-c', 'p.yaml'], cwd);
      expect(res.code).toBe(2);
      expect(res.stdout).toBe('');
      expect(res.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(/^soci-installer: soci\.wiring: "user-data" cannot be applied by a DaemonSet: a running node keeps the user data it was launched with/)]);
    }
  });

  it('drop-in wiring still gets its DaemonSet', () => {
    expect(render(profile.replace(/wiring: user-data/, 'wiring: drop-in')).artifacts.map((a) => a.path)).toContain('daemonset.yaml');
  });
});
