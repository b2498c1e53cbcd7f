// synth: Plan -> every artifact in memory (pure). writeArtifacts: the only place that writes them.
import { writeOutputDir } from './output-dir.js';
import { daemonSetRefusal, daemonSetYaml } from './artifacts/daemonset.js';
import { bakeScript, installScript } from './artifacts/node-script.js';
import { nodeFiles } from './artifacts/node-files.js';
import { packerFiles } from './artifacts/packer.js';
import { bottlerocketToml, bottlerocketWarnings } from './artifacts/bottlerocket.js';
import { eksctlYaml } from './artifacts/eksctl.js';
import { ec2NodeClassYaml } from './artifacts/karpenter.js';
import { userDataMime, userDataNodeConfigYaml, userDataSizeWarnings } from './artifacts/user-data.js';
import { OUTPUT_PATHS } from './output-paths.js';
import { plan as planOf, type Plan } from './plan.js';
import type { Profile } from './profile/schema.js';

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

export { OUTPUT_PATHS };

/** A checked profile (cluster.fromEks already resolved) -> plan -> artifacts. */
export function renderProfile(profile: Profile): Synthesis & { plan: Plan } {
  const p = planOf(profile);
  return { plan: p, ...synth(p) };
}

export function synth(plan: Plan): Synthesis {
  const warnings: string[] = [];
  const mime = userDataMime(plan);
  warnings.push(...userDataSizeWarnings(plan, mime));
  const nodeConfig = userDataNodeConfigYaml(plan);
  const script: Artifact = { path: 'install.sh', content: installScript(plan), mode: 0o755 };
  const artifacts: Artifact[] = [
    { path: 'user-data.mime', content: mime, mode: 0o644 },
    { path: 'nodeconfig.yaml', content: nodeConfig, mode: 0o644 },
    script,
    // rootfs/: the readable copy of every file the node receives. No path reads it: each node
    // script carries these files in its data header (node-script.ts).
    ...nodeFiles(plan).map((f) => ({ path: `rootfs${f.path}`, content: f.content, mode: parseInt(f.mode, 8) })),
  ];
  const skipped: Synthesis['skipped'] = [];
  const noDaemonSet = daemonSetRefusal(plan);
  if (noDaemonSet) {
    skipped.push({ path: 'daemonset.yaml and daemonset-uninstall.yaml', reason: noDaemonSet });
  } else {
    artifacts.push(
      { path: 'daemonset.yaml', content: daemonSetYaml(plan), mode: 0o644 },
      { path: 'daemonset-uninstall.yaml', content: daemonSetYaml(plan, { uninstall: true }), mode: 0o644 },
    );
  }
  if (plan.ami) {
    // packer/ is self-contained: the HCL, the profile's values, and under files/ bake.sh alone (the
    // install path of install.sh with the bake's hooks; the node files are in its data header).
    artifacts.push(
      ...packerFiles(plan).map((f) => ({ path: `packer/${f.path}`, content: f.content, mode: 0o644 })),
      { path: 'packer/files/bake.sh', content: bakeScript(plan), mode: 0o755 },
    );
  }
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
    warnings.push(...bottlerocketWarnings(plan));
  } else skipped.push({ path: OUTPUT_PATHS.bottlerocket, reason: `mode ${plan.mode}: Bottlerocket has parallel pull only, no lazy loading` });
  return { artifacts, warnings, skipped };
}

/** Writes the artifacts into `dir`, replacing only what the last render wrote (see output-dir.ts). */
export function writeArtifacts(dir: string, artifacts: Artifact[]): void {
  writeOutputDir(dir, artifacts);
}
