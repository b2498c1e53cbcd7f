// Profile -> Plan: every decision made once, with defaults filled in. Artifacts read only the plan;
// the profile checks (profile/load.ts) read the same filled values through sociSettings().
import { ProfileError, UsageError } from './errors.js';
import { MODE_TRAITS, type ModeTraits } from './modes.js';
import type { AmiVariant, Auth, ContainerdLine, Mode, NodeArch, Profile, ReleaseArch, SelectorTerm, SshInterface, Source, Wiring } from './profile/schema.js';
import { GENERATOR_VERSION } from './version.js';

export const DEFAULTS = {
  kubernetesVersion: '1.35',
  mode: 'lazy' as Mode,
  source: 'auto' as Source,
  version: '0.15.0',
  releaseBaseUrl: 'https://github.com/awslabs/soci-snapshotter/releases/download',
  auth: 'ecr-credential-helper' as Auth,
  wiring: 'drop-in' as Wiring,
  daemonset: {
    namespace: 'soci-installer',
    // Debian's slim image: bash, nsenter (util-linux) and cp, nothing more.
    image: 'public.ecr.aws/docker/library/debian:bookworm-slim',
    pauseImage: 'public.ecr.aws/docker/library/busybox:1.37',
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    maxUnavailable: 1 as number | string,
  },
  ami: {
    variant: 'standard' as AmiVariant,
    instanceType: { x86_64: 'm6i.large', arm64: 'm7g.large' } as Record<NodeArch, string>,
    amiName: 'soci-eks-al2023-{arch}-{variant}-{kubernetesVersion}-{timestamp}',
    // The EKS AL2023 AMI's own root volume size.
    volumeSize: 20,
  },
  karpenterName: 'soci',
  karpenterAmiAlias: 'al2023@latest',
  eksctlNodeGroupName: 'soci',
  // IMDSv2 only; hop limit 2 so a pod behind one network hop still reaches IMDS.
  metadataOptions: { httpTokens: 'required' as 'required' | 'optional', httpPutResponseHopLimit: 2 },
  // AWS guidance for ECR: 8-16mb chunks, 10-20 downloads per image.
  parallel: {
    chunkSize: '16mb',
    maxConcurrentDownloads: -1,
    maxConcurrentDownloadsPerImage: 20,
    maxConcurrentUnpacks: -1,
    maxConcurrentUnpacksPerImage: 12,
    discardUnpackedLayers: true,
  },
};

/** Fixed node paths: the AMI's, upstream's, and ours. */
export const PATHS = {
  sociSocket: '/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock',
  sociRoot: '/var/lib/soci-snapshotter-grpc',
  sociConfig: '/etc/soci-snapshotter-grpc/config.toml',
  amiSociBinary: '/usr/bin/soci-snapshotter-grpc',
  releaseSociBinary: '/usr/local/bin/soci-snapshotter-grpc',
  /** The soci CLI of the same release archive. */
  releaseSociCli: '/usr/local/bin/soci',
  containerdSocket: '/run/containerd/containerd.sock',
  pauseTar: '/etc/eks/pause.tar',
  containerdVersionFile: '/etc/eks/containerd-version.txt',
  nodeadmDropIn: '/etc/eks/nodeadm.d/50-soci-installer.yaml',
  stateDir: '/var/lib/soci-installer',
  ecrHelperBinary: '/usr/local/bin/docker-credential-ecr-login',
  /** Our docker credential helper that asks the AMI's kubelet ECR credential provider. */
  ecrBridge: '/usr/local/bin/docker-credential-soci-ecr',
  ecrCredentialProvider: '/etc/eks/image-credential-provider/ecr-credential-provider',
  nodeadmDropInDir: '/etc/eks/nodeadm.d',
  containerdHostsDir: '/etc/containerd/certs.d',
} as const;

export interface ReleaseArchive {
  arch: ReleaseArch;
  file: string;
  url: string;
  sha256: string;
}

export interface Plan {
  generatorVersion: string;
  cluster?: { name: string; apiServerEndpoint: string; certificateAuthority: string; cidr: string };
  kubernetesVersion: string;
  containerd: ContainerdLine;
  /** Architectures the nodes may run, as release archives name them. */
  arches: ReleaseArch[];
  mode: Mode;
  /** Whether we install anything (MODE_TRAITS): fast-image-pull hands everything to nodeadm. */
  installs: boolean;
  source: Source;
  minSociVersion: string;
  /** soci's content store; undefined when we install nothing (nodeadm writes soci's config). */
  contentStore: 'soci' | 'containerd' | undefined;
  sociVersion: string;
  /** Archives that may be downloaded (empty with source "ami"). */
  releases: ReleaseArchive[];
  auth: Auth;
  /** soci's parallel pull settings, defaults filled; undefined when we configure no parallel pull. */
  parallel: typeof DEFAULTS.parallel | undefined;
  mirrors: { registry: string; endpoints: { host: string; insecure: boolean; requestTimeoutSec?: number }[] }[];
  proxy: { http?: string; https?: string; noProxy: string[] } | undefined;
  metricsAddress: string | undefined;
  wiring: Wiring;
  ecrHelperDownloads: { arch: ReleaseArch; url: string; sha256: string }[];
  daemonset: {
    namespace: string;
    /** Emit the Namespace (and so delete it with the uninstall manifest): only one we own. */
    createNamespace: boolean;
    image: string;
    pauseImage: string;
    nodeSelector: Record<string, string>;
    maxUnavailable: number | string;
  };
  /** The EKS AL2023 AMI variant the nodes run, and a bake starts from. */
  variant: AmiVariant;
  /** The Packer bake; undefined when nothing is installed (fast-image-pull). */
  ami: AmiPlan | undefined;
  /** The AMI the nodes run when it is not the EKS-optimized AL2023 AMI: by id, or a baked one by its tags. */
  nodeAmi: { id: string } | { tags: Record<string, string> } | undefined;
  karpenter:
    | {
        name: string;
        identity: { role: string } | { instanceProfile: string };
        amiAlias: string;
        subnetSelectorTerms: SelectorTerm[];
        securityGroupSelectorTerms: SelectorTerm[];
      }
    | undefined;
  eksctl: { clusterName: string; region: string; nodeGroupName: string; instanceType?: string } | undefined;
  metadataOptions: typeof DEFAULTS.metadataOptions;
}

export type ClusterBlock = NonNullable<Plan['cluster']>;

/**
 * metadata.name of the eksctl fragment. No cluster block is needed, also with ami.id: for a managed
 * node group on a custom AMI eksctl writes a NodeConfig with the cluster block itself
 * (eksctl-io/eksctl pkg/nodebootstrap/al2023.go createMinimalNodeConfig, at 99984adb).
 */
function eksctlClusterName(profile: Profile): string {
  const name = profile.eksctl?.clusterName ?? profile.cluster?.name ?? profile.cluster?.fromEks;
  if (name === undefined) {
    throw new ProfileError(['eksctl.clusterName: missing (needed for metadata.name when cluster.name, cluster.fromEks and --cluster are not given)']);
  }
  return name;
}

/**
 * The names in the eksctl fragment. eksctl creates the node group as the CloudFormation stack
 * eksctl-<cluster>-nodegroup-<name> (eksctl-io/eksctl pkg/cfn/manager/nodegroup.go at 99984adb), and a
 * stack name is letters, digits and - only, at most 128: EKS allows _ in a cluster name, eksctl cannot.
 */
function eksctlNames(profile: Profile): { clusterName: string; nodeGroupName: string } {
  const clusterName = eksctlClusterName(profile);
  const nodeGroupName = profile.eksctl?.nodeGroupName ?? DEFAULTS.eksctlNodeGroupName;
  const stack = `eksctl-${clusterName}-nodegroup-${nodeGroupName}`;
  // The node group name is checked by the schema (letters, digits, -, at most 63); the cluster name may come from EKS.
  if (!/^[A-Za-z0-9-]*$/.test(clusterName)) {
    throw new ProfileError([
      `eksctl.clusterName: ${JSON.stringify(clusterName)}: eksctl names its CloudFormation stack ${stack}, and CloudFormation allows letters, digits and - only, at most 128; an EKS cluster whose name has _ cannot get node groups from eksctl`,
    ]);
  }
  if (stack.length > 128) {
    throw new ProfileError([
      `eksctl.nodeGroupName: eksctl names its CloudFormation stack eksctl-<cluster>-nodegroup-<name>, here ${stack.length} characters, and CloudFormation allows at most 128; shorten eksctl.nodeGroupName or eksctl.clusterName`,
    ]);
  }
  return { clusterName, nodeGroupName };
}

function clusterOf(profile: Profile): ClusterBlock | undefined {
  const c = profile.cluster;
  if (!c) return undefined;
  if (c.fromEks !== undefined || !c.name || !c.apiServerEndpoint || !c.certificateAuthority || !c.cidr) {
    throw new UsageError(`cluster.fromEks: ${JSON.stringify(c.fromEks)} must be read from EKS first (the CLI does this; in code, call resolveClusterFromEks)`);
  }
  return { name: c.name, apiServerEndpoint: c.apiServerEndpoint, certificateAuthority: c.certificateAuthority, cidr: c.cidr };
}

export interface AmiPlan {
  /** Undefined: Packer takes the region from AWS_REGION / AWS_DEFAULT_REGION. */
  region: string | undefined;
  /** Architectures to bake, in EC2's names. (The variant to start from is plan.variant.) */
  arches: NodeArch[];
  sourceAmiId: Record<NodeArch, string>;
  instanceType: Record<NodeArch, string>;
  amiName: string;
  volumeSize: number;
  tags: Record<string, string>;
  subnetId: string;
  vpcId: string;
  securityGroupId: string;
  sshInterface: SshInterface | '';
  /** User data carries only the cluster block (the AMI has everything else). */
  baked: boolean;
}

/** EC2 architecture name of a release (Go) architecture. */
export const nodeArchOf = (a: ReleaseArch): NodeArch => (a === 'amd64' ? 'x86_64' : 'arm64');

/** The SSM parameter that names the newest EKS AL2023 AMI. */
export function eksAmiParameter(kubernetesVersion: string, arch: NodeArch, variant: AmiVariant): string {
  return `/aws/service/eks/optimized-ami/${kubernetesVersion}/amazon-linux-2023/${arch}/${variant}/recommended/image_id`;
}

/** The DescribeImages name filter for EKS AL2023 AMIs (owner alias amazon). */
export function eksAmiNameFilter(kubernetesVersion: string, arch: NodeArch, variant: AmiVariant): string {
  return `amazon-eks-node-al2023-${arch}-${variant}-${kubernetesVersion}-v*`;
}

function amiPlan(profile: Profile, arches: ReleaseArch[]): AmiPlan {
  const a = profile.ami ?? {};
  const d = DEFAULTS.ami;
  // Sorted so the generated files do not depend on the order keys were written in.
  const tags = Object.fromEntries(Object.entries(a.tags ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return {
    region: a.region,
    arches: arches.map(nodeArchOf),
    sourceAmiId: { x86_64: a.sourceAmiId?.x86_64 ?? '', arm64: a.sourceAmiId?.arm64 ?? '' },
    instanceType: { ...d.instanceType, ...a.instanceType },
    amiName: a.amiName ?? d.amiName,
    volumeSize: a.volumeSize ?? d.volumeSize,
    tags,
    subnetId: a.subnetId ?? '',
    vpcId: a.vpcId ?? '',
    securityGroupId: a.securityGroupId ?? '',
    sshInterface: a.sshInterface ?? '',
    baked: a.baked === true,
  };
}

/**
 * The architectures the nodes run (release names): node.arch, else both, except that EKS publishes
 * Neuron AMIs for x86_64 only (amazon-eks-node-al2023-x86_64-neuron-*), so ami.variant neuron serves
 * x86_64 alone. The profile checks (load.ts) ask this too.
 */
export function servedArches(profile: Profile): ReleaseArch[] {
  if (profile.node?.arch) return [profile.node.arch === 'x86_64' ? 'amd64' : 'arm64'];
  return profile.ami?.variant === 'neuron' ? ['amd64'] : ['amd64', 'arm64'];
}

/**
 * The containerd lines EKS AL2023 AMIs ship for a Kubernetes minor, the default first
 * (soci-on-eks.md section 1): 1.28/1.29 stayed on 1.7; 1.30-1.33 had 1.7 until AMI v20250807 and 2.x
 * since; 1.34 and later 2.x only. Where both exist, the profile's choice stands and install.sh checks
 * the node's containerd-version.txt. The profile checks refuse a line not listed.
 */
export function containerdLines(kubernetesVersion: string): readonly ContainerdLine[] {
  const minor = Number(kubernetesVersion.split('.')[1]);
  if (minor <= 29) return ['1.7'];
  if (minor <= 33) return ['2', '1.7'];
  return ['2'];
}

/** The soci choices with their defaults filled: plan() and the profile checks read these, never raw keys. */
export function sociSettings(profile: Profile): {
  mode: Mode;
  traits: ModeTraits;
  source: Source;
  version: string;
  auth: Auth;
  wiring: Wiring;
  parallel: Plan['parallel'];
} {
  const soci = profile.soci ?? {};
  const mode = soci.mode ?? DEFAULTS.mode;
  const traits = MODE_TRAITS[mode];
  return {
    mode,
    traits,
    source: soci.source ?? DEFAULTS.source,
    version: soci.version ?? DEFAULTS.version,
    auth: soci.auth ?? DEFAULTS.auth,
    wiring: soci.wiring ?? DEFAULTS.wiring,
    // Only where we write soci's config: with fast-image-pull nodeadm writes its own parallel settings.
    parallel: traits.installs && traits.parallel ? { ...DEFAULTS.parallel, ...soci.parallel } : undefined,
  };
}

/**
 * soci's content store. containerd's where the mode needs it, and for parallel pull that keeps
 * unpacked layers: soci v0.15.0 refuses to start with its own store then (fs/fs.go, NewFilesystem:
 * "parallel_pull_unpack mode requires containerd content store").
 */
function contentStoreOf(traits: ModeTraits, parallel: Plan['parallel']): Plan['contentStore'] {
  if (parallel && !parallel.discardUnpackedLayers) return 'containerd';
  return traits.contentStore;
}

export function plan(profile: Profile): Plan {
  const soci = profile.soci ?? {};
  const kubernetesVersion = profile.node?.kubernetesVersion ?? DEFAULTS.kubernetesVersion;
  const containerd = profile.node?.containerd ?? containerdLines(kubernetesVersion)[0]!;
  const arches = servedArches(profile);
  const { mode, traits, source, version: sociVersion, auth, wiring, parallel } = sociSettings(profile);
  const installs = traits.installs;
  const variant = profile.ami?.variant ?? DEFAULTS.ami.variant;
  const base = (soci.releaseBaseUrl ?? DEFAULTS.releaseBaseUrl).replace(/\/+$/, '');
  const releases =
    installs && source !== 'ami'
      ? arches.map((arch) => {
          const file = `soci-snapshotter-${sociVersion}-linux-${arch}.tar.gz`;
          return { arch, file, url: `${base}/v${sociVersion}/${file}`, sha256: soci.sha256?.[arch] ?? '' };
        })
      : [];
  return {
    generatorVersion: GENERATOR_VERSION,
    ...(profile.cluster ? { cluster: clusterOf(profile)! } : {}),
    kubernetesVersion,
    containerd,
    arches,
    mode,
    installs,
    source,
    minSociVersion: traits.minSociVersion,
    contentStore: contentStoreOf(traits, parallel),
    sociVersion,
    releases,
    auth,
    parallel,
    mirrors: (soci.mirrors ?? []).map((m) => ({
      registry: m.registry,
      endpoints: m.endpoints.map((e) => ({ host: e.host, insecure: e.insecure ?? false, ...(e.requestTimeoutSec ? { requestTimeoutSec: e.requestTimeoutSec } : {}) })),
    })),
    proxy: soci.proxy ? { ...soci.proxy, noProxy: soci.proxy.noProxy ?? [] } : undefined,
    metricsAddress: soci.metricsAddress,
    wiring,
    ecrHelperDownloads: soci.ecrCredentialHelper
      ? arches.map((arch) => ({ arch, url: soci.ecrCredentialHelper!.url[arch] ?? '', sha256: soci.ecrCredentialHelper!.sha256[arch] ?? '' }))
      : [],
    daemonset: {
      ...DEFAULTS.daemonset,
      ...profile.daemonset,
      // A namespace named in the profile may exist already (kube-system): ours only when asked.
      createNamespace: profile.daemonset?.createNamespace ?? (profile.daemonset?.namespace ?? DEFAULTS.daemonset.namespace) === DEFAULTS.daemonset.namespace,
    },
    variant,
    ami: installs ? amiPlan(profile, arches) : undefined,
    nodeAmi: nodeAmi(profile, mode, kubernetesVersion, variant),
    karpenter: profile.karpenter
      ? {
          name: profile.karpenter.name ?? DEFAULTS.karpenterName,
          identity: profile.karpenter.role ? { role: profile.karpenter.role } : { instanceProfile: profile.karpenter.instanceProfile! },
          amiAlias: profile.karpenter.amiAlias ?? DEFAULTS.karpenterAmiAlias,
          subnetSelectorTerms: profile.karpenter.subnetSelectorTerms,
          securityGroupSelectorTerms: profile.karpenter.securityGroupSelectorTerms,
        }
      : undefined,
    eksctl: profile.eksctl
      ? {
          ...eksctlNames(profile),
          region: profile.eksctl.region,
          ...(profile.eksctl.instanceType ? { instanceType: profile.eksctl.instanceType } : {}),
        }
      : undefined,
    metadataOptions: { ...DEFAULTS.metadataOptions, ...profile.launchTemplate?.metadataOptions },
  };
}

/** The tags our Packer build sets on a baked AMI to say what was baked; nodes select it by them. */
export const BAKE_TAG_KEYS = ['soci-installer:soci-mode', 'soci-installer:kubernetes', 'soci-installer:variant'] as const;

/**
 * The AMI the nodes run, for launch templates, Karpenter and eksctl: ami.id, or with ami.baked the
 * AMIs our Packer build tagged for this profile (newest wins), or undefined for the EKS AMI.
 */
function nodeAmi(profile: Profile, mode: Mode, kubernetesVersion: string, variant: AmiVariant): Plan['nodeAmi'] {
  const a = profile.ami;
  if (a?.id) return { id: a.id };
  if (!a?.baked) return undefined;
  const ours: Record<(typeof BAKE_TAG_KEYS)[number], string> = {
    'soci-installer:soci-mode': mode,
    'soci-installer:kubernetes': kubernetesVersion,
    'soci-installer:variant': variant,
  };
  return { tags: { ...a.tags, ...ours } };
}
