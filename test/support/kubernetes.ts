/**
 * Kubernetes object checks for generated manifests.
 *
 * API:
 *   validateK8s(obj): string[]     kubernetes-models' validate() for the object's apiVersion/kind (required
 *                                   fields, types, enums); empty = valid
 *   strictK8s(objs): Promise<string[]>
 *       kubernetes-models does not reject unknown fields (the API server does, under kubectl's default
 *       strict field validation). This writes each object as a TypeScript object literal typed with the
 *       model's interface and type-checks it with tsc: excess-property checks flag every unknown field at any
 *       depth. Returns tsc's error lines; empty = no unknown field.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, run } from './exec.js';

const MODELS: Record<string, { module: string; type: string }> = {
  'v1/Namespace': { module: 'kubernetes-models/v1/Namespace', type: 'Namespace' },
  'v1/ServiceAccount': { module: 'kubernetes-models/v1/ServiceAccount', type: 'ServiceAccount' },
  'v1/ConfigMap': { module: 'kubernetes-models/v1/ConfigMap', type: 'ConfigMap' },
  'apps/v1/DaemonSet': { module: 'kubernetes-models/apps/v1/DaemonSet', type: 'DaemonSet' },
  'node.k8s.io/v1/RuntimeClass': { module: 'kubernetes-models/node.k8s.io/v1/RuntimeClass', type: 'RuntimeClass' },
};

function modelOf(obj: { apiVersion?: unknown; kind?: unknown }) {
  const m = MODELS[`${String(obj.apiVersion)}/${String(obj.kind)}`];
  if (!m) throw new Error(`no model for ${String(obj.apiVersion)} ${String(obj.kind)}`);
  return m;
}

export async function validateK8s(obj: Record<string, unknown>): Promise<string[]> {
  const m = modelOf(obj);
  const mod = (await import(m.module)) as Record<string, new (o: unknown) => { validate(): void }>;
  try {
    new mod[m.type]!(obj).validate();
    return [];
  } catch (e) {
    return [(e as Error).message];
  }
}

export async function strictK8s(objs: Record<string, unknown>[]): Promise<string[]> {
  const dir = mkdtempSync(join(REPO_ROOT, '.cache', 'strict-k8s-'));
  try {
    const lines = objs.map((o, i) => {
      const m = modelOf(o);
      return `import type { I${m.type} as T${i} } from '${m.module}';\nexport const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`;
    });
    writeFileSync(join(dir, 'objects.ts'), lines.join('\n') + '\n');
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const res = await run(process.execPath, [tsc, '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2023', join(dir, 'objects.ts')], {
      cwd: REPO_ROOT,
    });
    return res.code === 0 ? [] : (res.stdout + res.stderr).split('\n').filter((l) => l.includes('error'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
