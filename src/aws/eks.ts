// The narrow EKS interface: DescribeCluster (the cluster block) and UpdateNodegroupVersion (--rollout).
// The SDK is imported only when a command needs it.
import type {
  DescribeClusterCommandInput,
  DescribeClusterCommandOutput,
  EKSClient,
  UpdateNodegroupVersionCommandInput,
  UpdateNodegroupVersionCommandOutput,
} from '@aws-sdk/client-eks';
import { ExternalError } from '../errors.js';
import type { Profile } from '../profile/schema.js';
import { call } from './errors.js';
import { clientConfig } from './config.js';

export interface EksApi {
  describeCluster(input: DescribeClusterCommandInput): Promise<DescribeClusterCommandOutput>;
  updateNodegroupVersion(input: UpdateNodegroupVersionCommandInput): Promise<UpdateNodegroupVersionCommandOutput>;
}

export async function eksApi(opts: { region?: string; client?: EKSClient } = {}): Promise<EksApi> {
  const sdk = await import('@aws-sdk/client-eks');
  const client = opts.client ?? new sdk.EKSClient(clientConfig(opts.region));
  return {
    describeCluster: (input) => client.send(new sdk.DescribeClusterCommand(input)),
    updateNodegroupVersion: (input) => client.send(new sdk.UpdateNodegroupVersionCommand(input)),
  };
}

export type ClusterBlock = { name: string; apiServerEndpoint: string; certificateAuthority: string; cidr: string };

/**
 * The cluster block from EKS DescribeCluster: endpoint, certificateAuthority.data and the service CIDR
 * (serviceIpv4Cidr, or serviceIpv6Cidr on an IPv6 cluster). `cidr`, when the profile gives one, wins:
 * it is the documented fallback for a cluster whose answer carries no service CIDR.
 */
export async function describeClusterBlock(eks: EksApi, name: string, cidr?: string): Promise<ClusterBlock> {
  const out = await call('eks:DescribeCluster', `cluster "${name}"`, () => eks.describeCluster({ name }));
  const c = out.cluster;
  if (!c) throw new ExternalError(`eks:DescribeCluster: cluster "${name}": EKS returned no cluster`);
  const endpoint = c.endpoint;
  const ca = c.certificateAuthority?.data;
  if (!endpoint || !ca) {
    throw new ExternalError(`eks:DescribeCluster: cluster "${name}" has no endpoint or certificate authority yet (status ${c.status ?? 'unknown'}); wait until it is ACTIVE`);
  }
  const net = c.kubernetesNetworkConfig;
  const serviceCidr = cidr ?? (net?.ipFamily === 'ipv6' ? net.serviceIpv6Cidr : net?.serviceIpv4Cidr) ?? net?.serviceIpv4Cidr ?? net?.serviceIpv6Cidr;
  if (!serviceCidr) {
    throw new ExternalError(
      `eks:DescribeCluster: cluster "${name}" reports no service CIDR (kubernetesNetworkConfig.serviceIpv4Cidr); set cluster.cidr beside cluster.fromEks in the profile (kubectl get svc kubernetes -n default shows an address inside it)`,
    );
  }
  return { name: c.name ?? name, apiServerEndpoint: endpoint, certificateAuthority: ca, cidr: serviceCidr };
}

/** The profile with cluster.fromEks (or `override`, from --cluster) replaced by the four fields. */
export async function resolveClusterFromEks(profile: Profile, eks: EksApi, override?: string): Promise<Profile> {
  const name = override ?? profile.cluster?.fromEks;
  if (!name) return profile;
  // A cidr beside fromEks is the profile's fallback; beside four explicit fields it may be another cluster's.
  const cidr = profile.cluster?.fromEks !== undefined ? profile.cluster.cidr : undefined;
  return { ...profile, cluster: await describeClusterBlock(eks, name, cidr) };
}
