// Issue 10's DaemonSet defects (D4, D23, D8b) as the manifest and the CLI show them. What the
// manifest does on a node: node-live.test.ts and daemonset-node.test.ts.
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { render } from '../src/index.js';
import { startKubeApi, type KubeApi, type StandinNode } from './support/kube-api-standin.js';
import { buildCli, CLI, run } from './support/exec.js';

const cli = (args: string[], cwd: string) => run(process.execPath, [CLI, ...args], { cwd, env: { ...process.env } });

beforeAll(async () => {
  // The CLI tests run the compiled CLI: build it so they never test stale output.
  expect(await buildCli()).toBe('');
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

describe('D23: the first rollout of the DaemonSet', () => {
  const profile = 'node: { kubernetesVersion: "1.33" }\nsoci: { mode: parallel, source: ami, auth: none }\ndaemonset: { nodeSelector: { pool: apps } }\n';
  const daemonSetOf = (uninstall = false) =>
    parseAllDocuments(render(profile).artifacts.find((a) => a.path === (uninstall ? 'daemonset-uninstall.yaml' : 'daemonset.yaml'))!.content)
      .map((d) => d.toJS() as any)
      .find((o) => o.kind === 'DaemonSet');
  const AL2023 = 'Amazon Linux 2023.8.20260720';
  const nodes = (fail?: string): StandinNode[] => [
    ...['n1', 'n2', 'n3', 'n4', 'n5'].map((name) => ({ name, labels: { pool: 'apps', 'kubernetes.io/os': 'linux' }, osImage: AL2023, ms: 300, ...(name === fail ? { fail: 'soci-snapshotter did not become ready within 60s' } : {}) })),
    { name: 'br1', labels: { pool: 'apps', 'kubernetes.io/os': 'linux' }, osImage: 'Bottlerocket OS 1.44.0 (aws-k8s-1.33)', ms: 300 },
    { name: 'other', labels: { pool: 'batch', 'kubernetes.io/os': 'linux' }, osImage: AL2023, ms: 300 },
  ];
  /** The most installs that ran at the same moment. */
  const mostAtOnce = (runs: { start: number; end: number }[]) => Math.max(0, ...runs.map((r) => runs.filter((o) => o.start <= r.start && r.start < o.end).length));
  const rolloutCli = (api: KubeApi, ...args: string[]) => {
    const cwd = mkdtempSync(join(tmpdir(), 'soci-d23-'));
    writeFileSync(join(cwd, 'p.yaml'), profile);
    return cli(['rollout', '-c', 'p.yaml', '--api', api.url, '--interval', '0.05', ...args], cwd);
  };

  it('D23: the DaemonSet selects only nodes labelled soci-installer.io/install=true, so applying it converts no node by itself', async () => {
    for (const uninstall of [false, true]) {
      expect(daemonSetOf(uninstall).spec.template.spec.nodeSelector).toEqual({ pool: 'apps', 'soci-installer.io/install': 'true' });
    }
    // Creating the DaemonSet (the stand-in's controller places pods at once) starts no install.
    const api = await startKubeApi(nodes(), daemonSetOf());
    try {
      await fetch(`${api.url}/api/v1/nodes`);
      expect(api.installs()).toEqual([]);
    } finally {
      await api.close();
    }
  });

  it('D23: rollout converts the selected EKS AL2023 nodes --batch at a time, each batch Ready before the next', async () => {
    const api = await startKubeApi(nodes(), daemonSetOf());
    try {
      const res = await rolloutCli(api, '--batch', '2', '--timeout', '20');
      expect(res.code, res.stdout + res.stderr).toBe(0);
      const runs = api.installs();
      expect(runs.map((r) => r.node).sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
      expect(mostAtOnce(runs)).toBe(2);
      expect(api.nodes.filter((n) => n.labels['soci-installer.io/install'] === 'true').map((n) => n.name)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
      expect(res.stdout).toMatch(/^br1: not labelled: Bottlerocket OS 1\.44\.0 \(aws-k8s-1\.33\) is not EKS AL2023$/m);
      expect(res.stdout).toMatch(/^done: 5 node\(s\) converted, 1 not EKS AL2023 left unlabelled$/m);
      // Run again: nothing left to do.
      const again = await rolloutCli(api);
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/^0 node\(s\) to convert/m);
    } finally {
      await api.close();
    }
  });

  it('D23: rollout stops at the first node whose install fails; the nodes after it stay unlabelled', async () => {
    const api = await startKubeApi(nodes('n3'), daemonSetOf());
    try {
      const res = await rolloutCli(api, '--timeout', '20');
      expect(res.code).toBe(1);
      expect(res.stderr).toBe('soci-installer: n3: the install failed: soci-snapshotter did not become ready within 60s; stopped, 2 node(s) left unlabelled (fix, then run rollout again)\n');
      expect(api.installs().map((r) => r.node).sort()).toEqual(['n1', 'n2', 'n3']);
      expect(mostAtOnce(api.installs())).toBe(1);
      // Run again without fixing it: the labelled node that failed stops it before any other node.
      const again = await rolloutCli(api, '--timeout', '20');
      expect(again.code).toBe(1);
      expect(again.stderr).toBe(res.stderr);
      expect(api.installs().map((r) => r.node).sort()).toEqual(['n1', 'n2', 'n3']);
    } finally {
      await api.close();
    }
  });

  it('rollout needs the DaemonSet of this version applied first', async () => {
    const none = await startKubeApi(nodes(), undefined);
    try {
      const res = await rolloutCli(none);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/^soci-installer: no DaemonSet soci-installer\/soci-installer: apply the manifest first/);
    } finally {
      await none.close();
    }
    const old = daemonSetOf();
    delete old.spec.template.spec.nodeSelector['soci-installer.io/install'];
    const api = await startKubeApi(nodes(), old);
    try {
      const res = await rolloutCli(api);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/does not wait for the soci-installer\.io\/install label/);
      expect(api.nodes.some((n) => 'soci-installer.io/install' in n.labels)).toBe(false);
    } finally {
      await api.close();
    }
  });
});
