// The DaemonSet manifests: every object valid for Kubernetes (kubernetes-models) with no unknown field
// (tsc excess-property checks), and the shape the issue asks for. Behaviour on a node: node-live.test.ts.
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { render } from '../src/index.js';
import { liveScript, uninstallScript } from '../src/artifacts/node-script.js';
import { caseProfile } from './golden.js';
import { strictK8s, validateK8s } from './support/kubernetes.js';

const CUSTOM = `soci: { mode: parallel, source: ami, auth: cri-keychain }
daemonset:
  namespace: node-tuning
  createNamespace: true
  image: 123456789012.dkr.ecr.us-west-2.amazonaws.com/tools/debian:12.7-slim
  pauseImage: registry.internal.example.com:5000/busybox@sha256:${'a'.repeat(64)}
  nodeSelector: { soci-installer.io/enabled: "true" }
  maxUnavailable: 10%
`;

function docs(profile: string | undefined, file: string) {
  const r = render(profile);
  const text = r.artifacts.find((a) => a.path === file)!.content;
  return parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>);
}

describe.each([
  ['default', undefined],
  ['customised', CUSTOM],
])('%s profile', (_name, profile) => {
  for (const file of ['daemonset.yaml', 'daemonset-uninstall.yaml']) {
    it(`${file}: every object validates and has no unknown field`, async () => {
      const objs = docs(profile, file);
      expect(objs.map((o) => o.kind)).toEqual(['Namespace', 'ServiceAccount', 'ConfigMap', 'DaemonSet']);
      for (const o of objs) expect(await validateK8s(o), `${o.kind}`).toEqual([]);
      expect(await strictK8s(objs)).toEqual([]);
    });
  }

  it('keeps privilege to the init container, which hands live.sh to the host as a transient unit', () => {
    const [ns, sa, cm, ds] = docs(profile, 'daemonset.yaml');
    expect(ns!.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('privileged');
    expect(sa!.automountServiceAccountToken).toBe(false);
    const pod = ds!.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.hostPID).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    const [init] = pod.initContainers;
    expect(init.securityContext).toEqual({ privileged: true });
    expect(init.command[2]).toMatch(/nsenter --target 1 .*\n/);
    expect(init.command[2]).toMatch(/systemd-run --unit=soci-installer-[0-9a-f]{12} --wait .*\/bash \/var\/lib\/soci-installer\/bundle\/[0-9a-f]{12}\/live\.sh \|\| rc=\$\?$/m);
    // A time limit that applies: a transient service is Type=simple, started once spawned, so only
    // RuntimeMaxSec bounds the script (daemonset-node.test.ts stops one for real).
    expect(init.command[2]).toMatch(/systemd-run --unit=\S+ --wait --collect --quiet --property=RuntimeMaxSec=900 \/bin\/bash /);
    expect(init.command[2]).not.toContain('TimeoutStartSec');
    const [main] = pod.containers;
    expect(main.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(main.readinessProbe.exec.command).toEqual(['/bin/sh', '-c', 'test -f /state/installed || test -f /status/not-eks-al2023']);
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect(c.image).not.toMatch(/:latest$/);
      expect(c.resources.requests).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
    }
    // The ConfigMap carries live.sh and uninstall.sh and nothing else: no copy of rootfs/, since
    // live.sh writes every node file from its own data header.
    const r = render(profile);
    const items = pod.volumes.find((v: any) => v.name === 'bundle').configMap.items as { key: string; path: string; mode?: number }[];
    expect(items).toEqual([
      { key: 'live.sh', path: 'live.sh', mode: 0o755 },
      { key: 'uninstall.sh', path: 'uninstall.sh', mode: 0o755 },
    ]);
    expect(Object.keys(cm!.data)).toEqual(['live.sh', 'uninstall.sh']);
    expect(cm!.data['live.sh']).toBe(liveScript(r.plan));
    expect(cm!.data['uninstall.sh']).toBe(uninstallScript(r.plan));
    for (const a of r.artifacts.filter((x) => x.path.startsWith('rootfs/'))) expect(cm!.data['live.sh'], a.path).toContain(a.content);
    // A new bundle rolls the pods: its hash names the ConfigMap and annotates the template.
    expect(ds!.spec.template.metadata.annotations['soci-installer/bundle']).toBe(cm!.metadata.name.replace('soci-installer-', ''));
  });
});

describe('profile settings reach the manifest', () => {
  it('namespace, images, node selector and maxUnavailable', () => {
    const ds = docs(CUSTOM, 'daemonset.yaml')[3]!;
    expect(ds.metadata.namespace).toBe('node-tuning');
    expect(ds.spec.updateStrategy.rollingUpdate.maxUnavailable).toBe('10%');
    expect(ds.spec.template.spec.nodeSelector).toEqual({ 'soci-installer.io/enabled': 'true', 'soci-installer.io/install': 'true' });
    expect(ds.spec.template.spec.initContainers[0].image).toBe('123456789012.dkr.ecr.us-west-2.amazonaws.com/tools/debian:12.7-slim');
    expect(ds.spec.template.spec.containers[0].image).toMatch(/@sha256:a{64}$/);
  });
  it('uninstall: same objects, the init container runs uninstall.sh, Ready on its marker', () => {
    const ds = docs(undefined, 'daemonset-uninstall.yaml')[3]!;
    expect(ds.metadata.name).toBe('soci-installer');
    expect(ds.spec.template.spec.initContainers[0].command[2]).toMatch(/\/uninstall\.sh/);
    expect(ds.spec.template.spec.containers[0].readinessProbe.exec.command[2]).toBe('test -f /run-host/uninstalled || test -f /status/not-eks-al2023');
  });
  it('refuses :latest and unpinned images', () => {
    expect(() => render('soci: { source: ami }\ndaemonset: { image: debian:latest }\n')).toThrow(/daemonset\.image: "debian:latest" is not valid/);
    expect(() => render('soci: { source: ami }\ndaemonset: { pauseImage: public.ecr.aws/docker/library/busybox }\n')).toThrow(/daemonset\.pauseImage/);
  });
  it('fast-image-pull has nothing for a DaemonSet to do', () => {
    expect(render(caseProfile('fast-image-pull-cluster')).artifacts.map((a) => a.path)).not.toContain('daemonset.yaml');
  });
});

describe('the strict check itself', () => {
  it('flags an unknown field deep inside a DaemonSet, and a wrong type', async () => {
    const ds = docs(undefined, 'daemonset.yaml')[3]!;
    ds.spec.template.spec.containers[0].readinessProbe.exec.comand = ['x'];
    const errors = await strictK8s([ds]);
    expect(errors.join('\n')).toMatch(/'"comand"' does not exist in type 'IExecAction'/);
    ds.spec.template.spec.hostPID = 'yes';
    expect(await validateK8s(ds)).toEqual([expect.stringMatching(/hostPID must be boolean/)]);
  });
});

describe('live.sh and uninstall.sh', () => {
  it('are shellcheck-clean', async () => {
    const { shellcheck } = await import('./support/shellcheck.js');
    const cm = docs(undefined, 'daemonset.yaml')[2]!;
    for (const key of ['live.sh', 'uninstall.sh']) {
      const res = await shellcheck(cm.data[key]);
      expect(res.output, key).toBe('');
      expect(res.code, key).toBe(0);
    }
  });
});

describe('the init container command', () => {
  it('is shellcheck-clean (install and uninstall)', async () => {
    const { shellcheck } = await import('./support/shellcheck.js');
    for (const file of ['daemonset.yaml', 'daemonset-uninstall.yaml']) {
      const ds = docs(undefined, file)[3]!;
      const res = await shellcheck(`#!/bin/bash\n${ds.spec.template.spec.initContainers[0].command[2]}\n`);
      expect(res.output, file).toBe('');
      expect(res.code).toBe(0);
    }
  });
});
