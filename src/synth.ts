// synth: Plan -> every artifact in memory (pure). writeArtifacts: the only place that writes them.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ProfileError, UsageError } from './errors.js';
import { daemonSetYaml } from './artifacts/daemonset.js';
import { installScript } from './artifacts/install-script.js';
import { nodeFiles } from './artifacts/node-files.js';
import { packerFiles } from './artifacts/packer.js';
import { bottlerocketToml } from './artifacts/bottlerocket.js';
import { eksctlYaml } from './artifacts/eksctl.js';
import { ec2NodeClassYaml } from './artifacts/karpenter.js';
import { USER_DATA_LIMIT, USER_DATA_WARN, userDataMime, userDataNodeConfigYaml } from './artifacts/user-data.js';
import type { Plan } from './plan.js';

export interface Artifact {
  /** Path relative to the output directory. */
  path: string;
  content: string;
  mode: number;
}

export interface Synthesis {
  artifacts: Artifact[];
  warnings: string[];
  /** Outputs not written for this profile, and why (render prints them as notes). */
  skipped: { path: string; reason: string }[];
}

/** Paths of the outputs for other tools (written when the profile allows them). */
export const OUTPUT_PATHS = {
  karpenter: 'karpenter/ec2nodeclass.yaml',
  eksctl: 'eksctl/nodegroup.yaml',
  bottlerocket: 'bottlerocket/settings.toml',
} as const;

const MARKER = '.soci-installer';

export function synth(plan: Plan): Synthesis {
  const warnings: string[] = [];
  const mime = userDataMime(plan);
  const size = Buffer.byteLength(mime);
  if (size > USER_DATA_LIMIT) {
    throw new ProfileError([`user data is ${size} bytes, over EC2's limit of ${USER_DATA_LIMIT}: remove mirrors or proxy settings, or bake an AMI`]);
  }
  if (size > USER_DATA_WARN) {
    warnings.push(`user data is ${size} bytes: EKS, Karpenter and eksctl append their own NodeConfig, and EC2 refuses more than ${USER_DATA_LIMIT}`);
  }
  const nodeConfig = userDataNodeConfigYaml(plan);
  const script: Artifact = { path: 'install.sh', content: installScript(plan), mode: 0o755 };
  const rootfs = nodeFiles(plan).map((f) => ({ path: `rootfs${f.path}`, content: f.content, mode: parseInt(f.mode, 8) }));
  const artifacts: Artifact[] = [
    { path: 'user-data.mime', content: mime, mode: 0o644 },
    { path: 'nodeconfig.yaml', content: nodeConfig, mode: 0o644 },
    script,
    ...rootfs,
    // fast-image-pull acts at boot through nodeadm: nothing for a DaemonSet to install.
    ...(plan.installs
      ? [
          { path: 'daemonset.yaml', content: daemonSetYaml(plan), mode: 0o644 },
          { path: 'daemonset-uninstall.yaml', content: daemonSetYaml(plan, { uninstall: true }), mode: 0o644 },
        ]
      : []),
  ];
  if (plan.ami) {
    // packer/ is self-contained: the HCL, the profile's values, and under files/ the same
    // install.sh and rootfs/ as above, which the build uploads and runs with --bake.
    artifacts.push(
      ...packerFiles(plan).map((f) => ({ path: `packer/${f.path}`, content: f.content, mode: 0o644 })),
      ...[script, ...rootfs].map((a) => ({ ...a, path: `packer/files/${a.path}` })),
    );
  }
  const skipped: Synthesis['skipped'] = [];
  const karpenter = ec2NodeClassYaml(plan, mime);
  if (karpenter) artifacts.push({ path: OUTPUT_PATHS.karpenter, content: karpenter, mode: 0o644 });
  else skipped.push({ path: OUTPUT_PATHS.karpenter, reason: 'the profile has no karpenter: section' });
  const eksctl = eksctlYaml(plan, script.content, nodeConfig);
  if (eksctl) {
    artifacts.push({ path: OUTPUT_PATHS.eksctl, content: eksctl, mode: 0o644 });
  } else skipped.push({ path: OUTPUT_PATHS.eksctl, reason: 'the profile has no eksctl: section' });
  const bottlerocket = bottlerocketToml(plan);
  if (bottlerocket) {
    artifacts.push({ path: OUTPUT_PATHS.bottlerocket, content: bottlerocket, mode: 0o644 });
    const unused = (['mirrors', 'proxy', 'metricsAddress'] as const).filter((k) => (k === 'mirrors' ? plan.mirrors.length > 0 : plan[k] !== undefined));
    if (unused.length) warnings.push(`bottlerocket/settings.toml carries the SOCI settings only; soci.${unused.join(', soci.')} are not translated to Bottlerocket settings`);
  } else skipped.push({ path: OUTPUT_PATHS.bottlerocket, reason: `mode ${plan.mode}: Bottlerocket has parallel pull only, no lazy loading` });
  return { artifacts, warnings, skipped };
}

/**
 * Writes the artifacts into `dir` as a whole: first into a sibling temp directory, then swapped in,
 * so a failure leaves either the old output or the new one, never half of each.
 */
export function writeArtifacts(dir: string, artifacts: Artifact[]): void {
  const target = resolve(dir);
  if (existsSync(target) && readdirSync(target).length > 0 && !existsSync(join(target, MARKER))) {
    throw new UsageError(`${dir} exists and was not written by soci-installer; choose an empty or new directory (-o)`);
  }
  mkdirSync(dirname(target), { recursive: true });
  const stamp = `${process.pid}-${Date.now()}`;
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${stamp}`);
  const old = join(dirname(target), `.${basename(target)}.old-${stamp}`);
  try {
    mkdirSync(tmp);
    writeFileSync(join(tmp, MARKER), 'This directory is written by soci-installer render and replaced as a whole.\n');
    for (const a of artifacts) {
      const file = join(tmp, a.path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, a.content, { mode: a.mode });
      chmodSync(file, a.mode); // umask must not change what the node receives
    }
    if (existsSync(target)) renameSync(target, old);
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
}
