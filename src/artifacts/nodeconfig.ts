// The NodeConfig documents: the one in user data (cluster block, the FastImagePull gate) and the
// wiring drop-in the install script writes to /etc/eks/nodeadm.d/ only after soci is verified,
// so a failed install leaves a node that joins on plain overlayfs.
import { PATHS, type Plan } from '../plan.js';
import { containerdToml } from './containerd.js';
import { yamlText } from '../render/escape.js';

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
  const body = yamlText(doc);
  return comment
    .split('\n')
    .map((l) => `# ${l}`.trimEnd())
    .join('\n')
    .concat('\n', body);
}
