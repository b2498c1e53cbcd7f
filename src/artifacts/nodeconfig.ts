// The NodeConfig documents: the one in user data (cluster block, the FastImagePull gate) and the
// wiring drop-in the install script writes to /etc/eks/nodeadm.d/ only after soci is verified,
// so a failed install leaves a node that joins on plain overlayfs.
import { PATHS, type Plan } from '../plan.js';
import { containerdToml } from './containerd.js';
import { yamlText } from '../render/yaml.js';

export interface NodeConfig {
  apiVersion: 'node.eks.aws/v1alpha1';
  kind: 'NodeConfig';
  spec: {
    cluster?: { name: string; apiServerEndpoint: string; certificateAuthority: string; cidr: string };
    containerd?: { config: string };
    kubelet?: { config: { imageServiceEndpoint: string } };
    featureGates?: { FastImagePull: boolean };
  };
}

// Each key a NodeConfig of ours may hold, as NodeConfig above (a nested table where the value is one).
type Keys = { [key: string]: Keys | true };
const OUR_KEYS: Keys = {
  apiVersion: true,
  kind: true,
  spec: {
    cluster: { name: true, apiServerEndpoint: true, certificateAuthority: true, cidr: true },
    containerd: { config: true },
    kubelet: { config: { imageServiceEndpoint: true } },
    featureGates: { FastImagePull: true },
  },
};

/** Whether a parsed document holds nothing a NodeConfig of ours never holds (merge.ts knows our parts by it). */
export function hasOnlyOurKeys(doc: unknown, keys: Keys = OUR_KEYS): boolean {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
  return Object.entries(doc).every(([k, v]) => Object.hasOwn(keys, k) && (keys[k] === true ? typeof v !== 'object' || v === null : hasOnlyOurKeys(v, keys[k])));
}

function wiringSpec(plan: Plan): NodeConfig['spec'] {
  return {
    containerd: { config: containerdToml(plan) },
    // The CRI keychain sees credentials only if kubelet talks to soci's image service.
    ...(plan.auth === 'cri-keychain' ? { kubelet: { config: { imageServiceEndpoint: `unix://${PATHS.sociSocket}` } } } : {}),
  };
}

export function userDataNodeConfig(plan: Plan): NodeConfig {
  return {
    apiVersion: 'node.eks.aws/v1alpha1',
    kind: 'NodeConfig',
    spec: {
      ...(plan.cluster ? { cluster: { ...plan.cluster } } : {}),
      ...(plan.installs && plan.wiring === 'user-data' ? wiringSpec(plan) : {}),
      // Where we install nothing, nodeadm's FastImagePull gate does the work (MODE_TRAITS).
      ...(!plan.installs ? { featureGates: { FastImagePull: true } } : {}),
    },
  };
}

export function wiringNodeConfig(plan: Plan): NodeConfig {
  return { apiVersion: 'node.eks.aws/v1alpha1', kind: 'NodeConfig', spec: wiringSpec(plan) };
}

export function nodeConfigYaml(doc: NodeConfig, comment: string): string {
  return yamlComment(comment) + yamlText(doc);
}

/** A comment as the lines that start a YAML document. */
export function yamlComment(comment: string): string {
  return `${comment
    .split('\n')
    .map((l) => `# ${l}`.trimEnd())
    .join('\n')}\n`;
}
