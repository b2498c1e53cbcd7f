// The profile's public contract: TypeScript types and the JSON Schema that checks them.
// schemas/profile.schema.json is written from PROFILE_SCHEMA (npm run schema) so editors can use it;
// a test keeps the two in step.

import { MODES, type Mode } from '../modes.js';
import { AMI_ID as AMI_ID_PATTERN, AMI_ID_HINT, CLUSTER_NAME as CLUSTER_NAME_PATTERN, CLUSTER_NAME_HINT, REGION, REGION_HINT } from '../aws/names.js';

// The modes and their traits live in src/modes.ts; the enum below is its list.
export { MODES, type Mode };
export const SOURCES = ['auto', 'ami', 'release'] as const;
export const AUTHS = ['ecr-credential-helper', 'ecr-credential-helper-package', 'cri-keychain', 'none'] as const;
export const NODE_ARCHES = ['x86_64', 'arm64'] as const;
export const CONTAINERD_LINES = ['1.7', '2'] as const;
export const WIRINGS = ['drop-in', 'user-data'] as const;
export const AMI_VARIANTS = ['standard', 'nvidia', 'neuron'] as const;
export const SSH_INTERFACES = ['public_ip', 'private_ip', 'public_dns', 'private_dns', 'session_manager'] as const;

export type Source = (typeof SOURCES)[number];
export type Auth = (typeof AUTHS)[number];
export type NodeArch = (typeof NODE_ARCHES)[number];
export type ContainerdLine = (typeof CONTAINERD_LINES)[number];
export type Wiring = (typeof WIRINGS)[number];
export type AmiVariant = (typeof AMI_VARIANTS)[number];
export type SshInterface = (typeof SSH_INTERFACES)[number];
/** Release archives are named by Go's arch names. */
export type ReleaseArch = 'amd64' | 'arm64';

export interface PerArch<T> {
  amd64?: T;
  arm64?: T;
}

export interface SelectorTerm {
  id?: string;
  name?: string;
  tags?: Record<string, string>;
}

export interface Profile {
  /** All four fields, or fromEks (and optionally cidr, which then wins over EKS's answer). */
  cluster?: {
    name?: string;
    apiServerEndpoint?: string;
    certificateAuthority?: string;
    cidr?: string;
    fromEks?: string;
  };
  karpenter?: {
    name?: string;
    role?: string;
    instanceProfile?: string;
    amiAlias?: string;
    subnetSelectorTerms: SelectorTerm[];
    securityGroupSelectorTerms: SelectorTerm[];
  };
  eksctl?: {
    clusterName?: string;
    region: string;
    nodeGroupName?: string;
    instanceType?: string;
  };
  launchTemplate?: {
    metadataOptions?: { httpTokens?: 'required' | 'optional'; httpPutResponseHopLimit?: number };
  };
  node?: {
    kubernetesVersion?: string;
    arch?: NodeArch;
    containerd?: ContainerdLine;
  };
  soci?: {
    mode?: Mode;
    source?: Source;
    version?: string;
    releaseBaseUrl?: string;
    sha256?: PerArch<string>;
    auth?: Auth;
    parallel?: {
      chunkSize?: string;
      maxConcurrentDownloads?: number;
      maxConcurrentDownloadsPerImage?: number;
      maxConcurrentUnpacks?: number;
      maxConcurrentUnpacksPerImage?: number;
      discardUnpackedLayers?: boolean;
    };
    mirrors?: { registry: string; endpoints: { host: string; insecure?: boolean; requestTimeoutSec?: number }[] }[];
    proxy?: { http?: string; https?: string; noProxy?: string[] };
    metricsAddress?: string;
    wiring?: Wiring;
    ecrCredentialHelper?: { url: PerArch<string>; sha256: PerArch<string> };
  };
  daemonset?: {
    namespace?: string;
    createNamespace?: boolean;
    image?: string;
    pauseImage?: string;
    nodeSelector?: Record<string, string>;
    maxUnavailable?: number | string;
  };
  /**
   * The Packer AMI bake (render writes packer/), and the AMI the nodes run when it is not the
   * EKS-optimized AL2023 AMI: id (launch template, eksctl, Karpenter) or, with baked, the tags.
   */
  ami?: {
    id?: string;
    region?: string;
    variant?: AmiVariant;
    sourceAmiId?: Partial<Record<NodeArch, string>>;
    instanceType?: Partial<Record<NodeArch, string>>;
    amiName?: string;
    volumeSize?: number;
    tags?: Record<string, string>;
    subnetId?: string;
    vpcId?: string;
    securityGroupId?: string;
    sshInterface?: SshInterface;
    baked?: boolean;
  };
}

// Patterns double as documentation: each carries the sentence an error shows.
const HOST = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*';
const HOST_PORT = `^${HOST}(?::[0-9]{1,5})?$`;
// Every character RFC 3986 allows in a URL, and nothing else (no spaces, quotes or backslashes).
const URL = "^https?://[A-Za-z0-9._~:/?#\\[\\]@!$&'()*+,;=%-]+$";
const SHA256 = '^[0-9a-f]{64}$';
// An image reference pinned by tag or digest (never :latest, never untagged).
const IMAGE = '^[a-z0-9.-]+(?::[0-9]+)?/[a-z0-9._/-]+(?::(?!latest$)[A-Za-z0-9._-]{1,128}|@sha256:[0-9a-f]{64})$';

function str(pattern: string, hint: string, extra: Record<string, unknown> = {}) {
  return { type: 'string', pattern, 'x-hint': hint, ...extra };
}
const int = (minimum: number, description: string) => ({ type: 'integer', minimum, description });
function obj(properties: Record<string, unknown>, required: string[] = [], description?: string) {
  return { type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}), ...(description ? { description } : {}) };
}
const perNodeArch = (item: Record<string, unknown>, description: string) =>
  obj({ x86_64: item, arm64: item }, [], description);
const CLUSTER_NAME = str(CLUSTER_NAME_PATTERN, CLUSTER_NAME_HINT);
const AMI_ID = str(AMI_ID_PATTERN, AMI_ID_HINT);
// Tag keys and values go into YAML through a serializer, so any text is safe; EC2's own limits apply.
// Karpenter's EC2NodeClass CRD (aws/karpenter-provider-aws pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml
// at 7695b3c4) refuses, in its CEL rules, an empty tag value and a term that combines id, name or tags,
// and allows at most 30 terms of at most 20 tags: a selector term here is exactly one of them.
export const KARPENTER_MAX_TAGS = 20;
const TAGS = {
  type: 'object',
  minProperties: 1,
  maxProperties: KARPENTER_MAX_TAGS,
  propertyNames: { type: 'string', minLength: 1, maxLength: 128 },
  additionalProperties: { type: 'string', minLength: 1, maxLength: 256 },
  description: "EC2 tags, key: value (every tag must match; Karpenter reads a value '*' as any value)",
};
const ID_OR_TAGS = (idPattern: string, idHint: string, withName: boolean) => ({
  type: 'array',
  minItems: 1,
  maxItems: 30,
  items: {
    ...obj({ id: str(idPattern, idHint), ...(withName ? { name: str('^[^\\x00-\\x1f]{1,255}$', 'a security group name') } : {}), tags: TAGS }),
    minProperties: 1,
    maxProperties: 1,
    description: `each term: one of id${withName ? ', name' : ''} or tags, whose tags must all match`,
  },
});
const perArch = (item: Record<string, unknown>, description: string) =>
  obj({ amd64: item, arm64: item }, [], description);

export const PROFILE_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/soci-installer/soci-installer/schemas/profile.schema.json',
  title: 'soci-installer profile',
  ...obj({
    cluster: obj(
      {
        fromEks: { ...CLUSTER_NAME, description: 'Read endpoint, certificate authority and service CIDR from EKS DescribeCluster (needs AWS credentials at render time). A cidr given beside it wins.' },
        name: CLUSTER_NAME,
        apiServerEndpoint: str(`^https://${HOST}(?::[0-9]{1,5})?/?$`, 'the https:// endpoint of the cluster (aws eks describe-cluster .cluster.endpoint)'),
        certificateAuthority: str('^[A-Za-z0-9+/]+={0,2}$', 'the base64 certificate authority on one line (.cluster.certificateAuthority.data)'),
        cidr: str(
          '^(?:(?:[0-9]{1,3}\\.){3}[0-9]{1,3}/[0-9]{1,2}|[0-9A-Fa-f:]+/[0-9]{1,3})$',
          'the service CIDR, e.g. 10.100.0.0/16 (.cluster.kubernetesNetworkConfig.serviceIpv4Cidr)',
        ),
      },
      [],
      'Needed when EKS does not supply it (custom AMI in a launch template, self-managed nodes): all four of name, apiServerEndpoint, certificateAuthority, cidr, or fromEks. Omit for managed node groups on the EKS AMI.',
    ),
    karpenter: obj(
      {
        name: str('^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$', 'a Kubernetes object name: lowercase letters, digits and -, at most 63'),
        role: str('^[A-Za-z0-9+=,.@_-]{1,64}$', 'an IAM role name (not an ARN)'),
        instanceProfile: str('^[A-Za-z0-9+=,.@_-]{1,128}$', 'an IAM instance profile name (not an ARN)'),
        amiAlias: str('^al2023@(?:latest|v[0-9]{8})$', 'al2023@latest or a pinned al2023@vYYYYMMDD'),
        subnetSelectorTerms: ID_OR_TAGS('^subnet-[0-9a-f]{8,17}$', 'a subnet id such as subnet-0123456789abcdef0', false),
        securityGroupSelectorTerms: ID_OR_TAGS('^sg-[0-9a-f]{8,17}$', 'a security group id such as sg-0123456789abcdef0', true),
      },
      ['subnetSelectorTerms', 'securityGroupSelectorTerms'],
      'karpenter/ec2nodeclass.yaml: an EC2NodeClass (karpenter.k8s.aws/v1). role or instanceProfile, and selector terms (each term: id, or tags that must all match).',
    ),
    eksctl: obj(
      {
        clusterName: { ...CLUSTER_NAME, description: 'metadata.name; default: cluster.name or cluster.fromEks' },
        region: str(REGION, REGION_HINT),
        // eksctl creates the node group as the CloudFormation stack eksctl-<cluster>-nodegroup-<name>
        // (eksctl-io/eksctl pkg/cfn/manager/nodegroup.go at 99984adb): no _ (plan.ts checks the whole name).
        nodeGroupName: str('^[A-Za-z0-9][A-Za-z0-9-]{0,62}$', 'a node group name for eksctl: letters, digits and -, at most 63 (eksctl names its CloudFormation stack eksctl-<cluster>-nodegroup-<name>)'),
        instanceType: str('^[a-z0-9-]+\\.[a-z0-9-]+$', 'an EC2 instance type such as m7i.xlarge'),
      },
      ['region'],
      'eksctl/nodegroup.yaml: a ClusterConfig fragment with one managed node group (eksctl create nodegroup -f).',
    ),
    launchTemplate: obj({
      metadataOptions: obj(
        {
          httpTokens: { enum: ['required', 'optional'], description: 'Default required (IMDSv2 only).' },
          httpPutResponseHopLimit: { type: 'integer', minimum: 1, maximum: 64, description: 'Default 2, so pods behind one network hop reach IMDS.' },
        },
        [],
        'Instance metadata options the launch-template command sets.',
      ),
    }),
    node: obj({
      kubernetesVersion: str('^1\\.[0-9]{2}$', 'a Kubernetes minor version in quotes, e.g. "1.33"'),
      arch: { enum: [...NODE_ARCHES], description: 'Omit to serve both architectures from one profile.' },
      containerd: { enum: [...CONTAINERD_LINES], description: 'Default: "1.7" for Kubernetes <= 1.29, else "2". "1.7" also fits 1.30-1.33 on AMIs before v20250807; the node check decides.' },
    }),
    soci: obj({
      mode: { enum: [...MODES] },
      source: { enum: [...SOURCES], description: 'auto: the AMI\'s soci when its version supports the mode, else the pinned release.' },
      version: str('^[0-9]+\\.[0-9]+\\.[0-9]+$', 'a soci-snapshotter release such as 0.15.0'),
      releaseBaseUrl: str(URL, 'an http(s) URL without spaces or quotes; <base>/v<version>/<archive> is downloaded'),
      sha256: perArch(str(SHA256, '64 lowercase hex digits'), 'sha256 of each release archive (soci-installer checksums)'),
      auth: { enum: [...AUTHS] },
      parallel: obj({
        chunkSize: str('^[1-9][0-9]*(?:b|kb|mb|gb)$', 'a size with unit b, kb, mb or gb, e.g. 16mb'),
        maxConcurrentDownloads: int(-1, '-1 for unlimited'),
        maxConcurrentDownloadsPerImage: int(-1, '-1 for unlimited'),
        maxConcurrentUnpacks: int(-1, '-1 for unlimited'),
        maxConcurrentUnpacksPerImage: int(-1, '-1 for unlimited'),
        discardUnpackedLayers: { type: 'boolean' },
      }),
      mirrors: {
        type: 'array',
        items: obj(
          {
            registry: str(HOST_PORT, 'a registry host such as docker.io or 123456789012.dkr.ecr.us-west-2.amazonaws.com'),
            endpoints: {
              type: 'array',
              minItems: 1,
              items: obj(
                {
                  host: str(HOST_PORT, 'a mirror host[:port]'),
                  insecure: { type: 'boolean' },
                  requestTimeoutSec: int(1, 'seconds'),
                },
                ['host'],
              ),
            },
          },
          ['registry', 'endpoints'],
        ),
      },
      proxy: obj({
        http: str(URL, 'an http(s) proxy URL without spaces or quotes'),
        https: str(URL, 'an http(s) proxy URL without spaces or quotes'),
        noProxy: { type: 'array', items: str('^[A-Za-z0-9.:/*_-]+$', 'a host, domain, IP or CIDR') },
      }),
      metricsAddress: str(HOST_PORT, 'host:port for soci\'s Prometheus metrics, e.g. localhost:8000'),
      wiring: { enum: [...WIRINGS], description: 'drop-in (AMI v20251023+): wired only after soci is verified. user-data: older AMIs; a failed install leaves containerd pointing at soci.' },
      ecrCredentialHelper: obj(
        {
          url: perArch(str(URL, 'an http(s) URL of the docker-credential-ecr-login binary'), 'per-arch binary URLs'),
          sha256: perArch(str(SHA256, '64 lowercase hex digits'), 'sha256 of each binary'),
        },
        ['url', 'sha256'],
        'With auth ecr-credential-helper-package: a pinned docker-credential-ecr-login binary. Omit to install the AL2023 package amazon-ecr-credential-helper when the node lacks the helper.',
      ),
    }),
    daemonset: obj(
      {
        namespace: str('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$', 'a Kubernetes namespace name (lowercase letters, digits, -)'),
        createNamespace: {
          type: 'boolean',
          description: 'Put the Namespace in daemonset.yaml, and so delete it with daemonset-uninstall.yaml. Default: true for the default namespace soci-installer, false for any other (it may exist already).',
        },
        image: str(IMAGE, 'an image with a shell, bash and nsenter, pinned by tag or digest (registry/repository:tag, not :latest)'),
        pauseImage: str(IMAGE, 'a tiny image with /bin/sh, pinned by tag or digest (registry/repository:tag, not :latest)'),
        nodeSelector: {
          type: 'object',
          propertyNames: { pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$' },
          additionalProperties: str('^(|[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$', 'a Kubernetes label value'),
        },
        maxUnavailable: {
          anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^(100|[1-9][0-9]?)%$' }],
          description: 'How many nodes restart containerd at once: a number, or a percentage such as 10%',
          'x-hint': 'a whole number from 1, or a percentage from 1% to 100% such as 10%',
        },
      },
      [],
      'The fallback DaemonSet for nodes that already run (daemonset.yaml).',
    ),
    ami: obj(
      {
        id: AMI_ID,
        region: str(REGION, REGION_HINT),
        variant: { enum: [...AMI_VARIANTS], description: 'The EKS AL2023 AMI variant to start from. Default: standard.' },
        sourceAmiId: perNodeArch(AMI_ID, 'Start from these AMIs instead of the newest EKS AL2023 AMI.'),
        instanceType: perNodeArch(
          str('^[a-z][a-z0-9-]*\\.[a-z0-9]+$', 'an EC2 instance type such as m6i.large'),
          'Builder instance per architecture. Default: m6i.large (x86_64), m7g.large (arm64).',
        ),
        amiName: str(
          "^[A-Za-z0-9()\\[\\]./'@_ {}-]{3,100}$",
          "3 to 100 of: letters, digits, ( ) [ ] . / - ' @ _ space, and the placeholders {arch} {kubernetesVersion} {variant} {timestamp}",
        ),
        volumeSize: { type: 'integer', minimum: 20, maximum: 16384, description: 'Root volume (gp3) in GiB. Default: 20.' },
        tags: {
          type: 'object',
          description: 'Tags on the AMI and its snapshots, besides the soci-installer:* tags that say what was baked.',
          propertyNames: str('^(?!aws:)(?![\\s\\S]*\\{\\{)[\\s\\S]{1,128}$', 'a tag key: 1 to 128 characters, not starting with aws:, without {{ (Packer would read it as a template)'),
          additionalProperties: str('^(?![\\s\\S]*\\{\\{)[\\s\\S]{0,256}$', 'a tag value: at most 256 characters, without {{ (Packer would read it as a template)'),
        },
        subnetId: str('^subnet-[0-9a-f]{8,17}$', 'a subnet id such as subnet-0123456789abcdef0'),
        vpcId: str('^vpc-[0-9a-f]{8,17}$', 'a VPC id such as vpc-0123456789abcdef0'),
        securityGroupId: str('^sg-[0-9a-f]{8,17}$', 'a security group id such as sg-0123456789abcdef0'),
        sshInterface: { enum: [...SSH_INTERFACES], description: 'How Packer reaches the builder: private_ip for private builds, session_manager without inbound SSH.' },
        baked: { type: 'boolean', description: 'User data for nodes of the baked AMI: only the cluster block (required then).' },
      },
      [],
      'The Packer bake of an AMI with soci inside, derived from the EKS AL2023 AMI (render writes packer/).',
    ),
  }),
} as const;
