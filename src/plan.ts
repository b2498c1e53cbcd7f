// Profile -> Plan: every decision made once, with defaults filled in. Artifacts read only the plan.
import { ProfileError, UsageError } from './errors.js';
import type { Auth, ContainerdLine, Mode, Profile, ReleaseArch, SelectorTerm, Wiring } from './profile/schema.js';
import { minSociVersion } from './profile/load.js';
import { GENERATOR_VERSION } from './version.js';

export const DEFAULTS = {
  kubernetesVersion: '1.35',
  mode: 'lazy' as Mode,
  source: 'auto' as const,
  version: '0.15.0',
  releaseBaseUrl: 'https://github.com/awslabs/soci-snapshotter/releases/download',
  auth: 'ecr-credential-helper' as Auth,
  wiring: 'drop-in' as Wiring,
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
  containerdSocket: '/run/containerd/containerd.sock',
  pauseTar: '/etc/eks/pause.tar',
  containerdVersionFile: '/etc/eks/containerd-version.txt',
  nodeadmDropIn: '/etc/eks/nodeadm.d/50-soci-installer.yaml',
  stateDir: '/var/lib/soci-installer',
  ecrHelperBinary: '/usr/local/bin/docker-credential-ecr-login',
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
  /** Whether we install anything: fast-image-pull hands everything to nodeadm. */
  installs: boolean;
  source: 'auto' | 'ami' | 'release';
  minSociVersion: string;
  sociVersion: string;
  /** Archives that may be downloaded (empty with source "ami"). */
  releases: ReleaseArchive[];
  auth: Auth;
  parallel: typeof DEFAULTS.parallel | undefined;
  mirrors: { registry: string; endpoints: { host: string; insecure: boolean; requestTimeoutSec?: number }[] }[];
  proxy: { http?: string; https?: string; noProxy: string[] } | undefined;
  metricsAddress: string | undefined;
  wiring: Wiring;
  ecrHelperDownloads: { arch: ReleaseArch; url: string; sha256: string }[];
  /** A baked AMI, when the nodes do not run the EKS-optimized AL2023 AMI. */
  ami: { id: string } | { tags: Record<string, string> } | undefined;
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

function eksctlClusterName(profile: Profile): string {
  if (profile.ami?.id && !profile.cluster) {
    throw new ProfileError([
      'cluster: required with eksctl and ami.id: on a custom AMI EKS merges no NodeConfig, so the user data must carry the cluster block (the four fields, cluster.fromEks or --cluster NAME)',
    ]);
  }
  const name = profile.eksctl?.clusterName ?? profile.cluster?.name ?? profile.cluster?.fromEks;
  if (name === undefined) {
    throw new ProfileError(['eksctl.clusterName: missing (needed for metadata.name when cluster.name, cluster.fromEks and --cluster are not given)']);
  }
  return name;
}

function clusterOf(profile: Profile): ClusterBlock | undefined {
  const c = profile.cluster;
  if (!c) return undefined;
  if (c.fromEks !== undefined || !c.name || !c.apiServerEndpoint || !c.certificateAuthority || !c.cidr) {
    throw new UsageError(`cluster.fromEks: ${JSON.stringify(c.fromEks)} must be read from EKS first (the CLI does this; in code, call resolveClusterFromEks)`);
  }
  return { name: c.name, apiServerEndpoint: c.apiServerEndpoint, certificateAuthority: c.certificateAuthority, cidr: c.cidr };
}

export function plan(profile: Profile): Plan {
  const soci = profile.soci ?? {};
  const kubernetesVersion = profile.node?.kubernetesVersion ?? DEFAULTS.kubernetesVersion;
  const minor = Number(kubernetesVersion.split('.')[1]);
  const containerd = profile.node?.containerd ?? (minor <= 29 ? '1.7' : '2');
  const arches: ReleaseArch[] = profile.node?.arch ? [profile.node.arch === 'x86_64' ? 'amd64' : 'arm64'] : ['amd64', 'arm64'];
  const mode = soci.mode ?? DEFAULTS.mode;
  const installs = mode !== 'fast-image-pull';
  const source = soci.source ?? DEFAULTS.source;
  const sociVersion = soci.version ?? DEFAULTS.version;
  const base = (soci.releaseBaseUrl ?? DEFAULTS.releaseBaseUrl).replace(/\/+$/, '');
  const releases =
    installs && source !== 'ami'
      ? arches.map((arch) => {
          const file = `soci-snapshotter-${sociVersion}-linux-${arch}.tar.gz`;
          return { arch, file, url: `${base}/v${sociVersion}/${file}`, sha256: soci.sha256?.[arch] ?? '' };
        })
      : [];
  const usesParallel = mode === 'parallel' || mode === 'lazy-with-parallel-fallback';
  return {
    generatorVersion: GENERATOR_VERSION,
    ...(profile.cluster ? { cluster: clusterOf(profile)! } : {}),
    kubernetesVersion,
    containerd,
    arches,
    mode,
    installs,
    source,
    minSociVersion: minSociVersion(mode),
    sociVersion,
    releases,
    auth: soci.auth ?? DEFAULTS.auth,
    parallel: usesParallel ? { ...DEFAULTS.parallel, ...soci.parallel } : undefined,
    mirrors: (soci.mirrors ?? []).map((m) => ({
      registry: m.registry,
      endpoints: m.endpoints.map((e) => ({ host: e.host, insecure: e.insecure ?? false, ...(e.requestTimeoutSec ? { requestTimeoutSec: e.requestTimeoutSec } : {}) })),
    })),
    proxy: soci.proxy ? { ...soci.proxy, noProxy: soci.proxy.noProxy ?? [] } : undefined,
    metricsAddress: soci.metricsAddress,
    wiring: soci.wiring ?? DEFAULTS.wiring,
    ecrHelperDownloads: soci.ecrCredentialHelper
      ? arches.map((arch) => ({ arch, url: soci.ecrCredentialHelper!.url[arch] ?? '', sha256: soci.ecrCredentialHelper!.sha256[arch] ?? '' }))
      : [],
    ami: profile.ami?.id ? { id: profile.ami.id } : profile.ami?.tags ? { tags: { ...profile.ami.tags } } : undefined,
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
          clusterName: eksctlClusterName(profile),
          region: profile.eksctl.region,
          nodeGroupName: profile.eksctl.nodeGroupName ?? DEFAULTS.eksctlNodeGroupName,
          ...(profile.eksctl.instanceType ? { instanceType: profile.eksctl.instanceType } : {}),
        }
      : undefined,
    metadataOptions: { ...DEFAULTS.metadataOptions, ...profile.launchTemplate?.metadataOptions },
  };
}
