// soci-installer ami: the EKS AL2023 AMI the Packer build starts from, per architecture.
// EC2 DescribeImages with the very filter packer/sources.pkr.hcl uses (owner amazon, name
// amazon-eks-node-al2023-<arch>-<variant>-<k8s>-v*, newest CreationDate), or with `ssm` the
// recommended image_id parameter EKS publishes. When nothing is found, the SSM parameters tell an
// unknown Kubernetes version from a region without the AMI. AWS SDK clients are imported here only,
// and this module is imported only by the ami command (other commands never load the SDK).
import type { DescribeImagesCommandOutput, EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import { ExternalError, UsageError } from '../errors.js';
import { clientConfig } from './config.js';
import { awsError, call } from './errors.js';
import { eksAmiNameFilter, eksAmiParameter, type Plan } from '../plan.js';
import type { AmiVariant, NodeArch } from '../profile/schema.js';

export interface SourceAmi {
  arch: NodeArch;
  imageId: string;
  /** Absent when the id came from the profile or SSM and was not looked up. */
  name?: string;
  creationDate?: string;
  via: 'profile' | 'ec2' | 'ssm';
  /** The SSM parameter read (via ssm). */
  parameter?: string;
}

export interface AmiResult {
  region: string;
  kubernetesVersion: string;
  variant: AmiVariant;
  images: SourceAmi[];
}

export interface AmiClients {
  ec2: EC2Client;
  ssm: SSMClient;
}

export interface AmiOptions {
  /** --region, else the profile's ami.region, else the SDK's own (AWS_REGION, config file). */
  region?: string;
  via?: 'ec2' | 'ssm';
  /** Tests pass clients; otherwise real ones are made for the region. */
  clients?: AmiClients;
}

/** Known EKS versions to tell "unknown Kubernetes version" from "region without the AMIs". */
const PROBE_VERSION = '1.33';
/** Where this command takes the region from, for the message when there is none. */
const REGION_FROM = 'pass --region, set ami.region in the profile, or set AWS_REGION';

export async function resolveSourceAmis(plan: Plan, opts: AmiOptions = {}): Promise<AmiResult> {
  if (!plan.ami) throw new UsageError('ami: soci.mode "fast-image-pull" installs nothing, so there is no AMI to bake');
  const ami = plan.ami;
  const clients = opts.clients ?? (await makeClients(opts.region ?? ami.region));
  const region = await regionOf(clients.ec2);
  const images: SourceAmi[] = [];
  for (const arch of ami.arches) {
    const fixed = ami.sourceAmiId[arch];
    if (fixed) {
      images.push({ arch, imageId: fixed, via: 'profile' });
    } else if (opts.via === 'ssm') {
      const parameter = eksAmiParameter(plan.kubernetesVersion, arch, plan.variant);
      const imageId = await readParameter(clients.ssm, parameter, region);
      if (!imageId) throw new ExternalError(await diagnose(clients.ssm, plan.kubernetesVersion, arch, plan.variant, region));
      images.push({ arch, imageId, via: 'ssm', parameter });
    } else {
      const newest = await newestImage(clients.ec2, plan.kubernetesVersion, arch, plan.variant, region);
      if (!newest) throw new ExternalError(await diagnose(clients.ssm, plan.kubernetesVersion, arch, plan.variant, region));
      images.push({ arch, ...newest, via: 'ec2' });
    }
  }
  return { region, kubernetesVersion: plan.kubernetesVersion, variant: plan.variant, images };
}

async function makeClients(region: string | undefined): Promise<AmiClients> {
  const [{ EC2Client }, { SSMClient }] = await Promise.all([import('@aws-sdk/client-ec2'), import('@aws-sdk/client-ssm')]);
  const config = clientConfig(region);
  return { ec2: new EC2Client(config), ssm: new SSMClient(config) };
}

async function regionOf(client: EC2Client): Promise<string> {
  try {
    const r = client.config.region;
    return typeof r === 'function' ? await r() : String(r);
  } catch (err) {
    throw awsError(err, 'ec2:DescribeImages', 'the EKS AL2023 AMI', REGION_FROM);
  }
}

/** Newest image by CreationDate over every page (DescribeImages promises no order). */
async function newestImage(ec2: EC2Client, k8s: string, arch: NodeArch, variant: AmiVariant, region: string) {
  const { DescribeImagesCommand } = await import('@aws-sdk/client-ec2');
  const filter = eksAmiNameFilter(k8s, arch, variant);
  let best: { imageId: string; name: string; creationDate: string } | undefined;
  let token: string | undefined;
  do {
    const page: DescribeImagesCommandOutput = await call('ec2:DescribeImages', `EKS AMIs named ${filter} in ${region}`, () =>
      ec2.send(
        new DescribeImagesCommand({
          Owners: ['amazon'],
          Filters: [
            { Name: 'name', Values: [filter] },
            { Name: 'architecture', Values: [arch] },
            { Name: 'root-device-type', Values: ['ebs'] },
            { Name: 'virtualization-type', Values: ['hvm'] },
          ],
          IncludeDeprecated: false,
          MaxResults: 1000,
          ...(token ? { NextToken: token } : {}),
        }),
      ),
    );
    for (const img of page.Images ?? []) {
      if (!img.ImageId || !img.CreationDate) continue;
      if (!best || img.CreationDate > best.creationDate) best = { imageId: img.ImageId, name: img.Name ?? '', creationDate: img.CreationDate };
    }
    token = page.NextToken || undefined;
  } while (token);
  return best;
}

/** The parameter's value, or undefined when it does not exist. */
async function readParameter(ssm: SSMClient, name: string, region: string): Promise<string | undefined> {
  const { GetParameterCommand } = await import('@aws-sdk/client-ssm');
  try {
    const out = await ssm.send(new GetParameterCommand({ Name: name }));
    return out.Parameter?.Value || undefined;
  } catch (err) {
    if ((err as Error).name === 'ParameterNotFound') return undefined;
    throw awsError(err, 'ssm:GetParameter', `parameter ${name} in ${region}`);
  }
}

/** Why there is no AMI: an unknown Kubernetes version, a variant or architecture not published, or a region without any. */
async function diagnose(ssm: SSMClient, k8s: string, arch: NodeArch, variant: AmiVariant, region: string): Promise<string> {
  const what = `EKS AL2023 ${variant} ${arch} AMI for Kubernetes ${k8s}`;
  if (await readParameter(ssm, eksAmiParameter(k8s, 'x86_64', 'standard'), region)) {
    return `no ${what} in ${region}: EKS publishes Kubernetes ${k8s} there, but not this variant and architecture (ami.variant, node.arch)`;
  }
  if (await readParameter(ssm, eksAmiParameter(PROBE_VERSION, 'x86_64', 'standard'), region)) {
    return `no ${what} in ${region}: Kubernetes ${k8s} is unknown to EKS there (not yet released, or no longer published); check node.kubernetesVersion`;
  }
  return `no ${what} in ${region}: the region has no EKS AL2023 AMIs (parameter ${eksAmiParameter(k8s, arch, variant)} is absent); check --region / ami.region`;
}

/** One line per architecture: arch, id, name, creation date, how it was found. */
export function formatAmiResult(r: AmiResult): string {
  return r.images
    .map((i) => [i.arch, i.imageId, i.name ?? '-', i.creationDate ?? '-', i.via === 'ssm' ? `ssm:${i.parameter}` : i.via].join('\t') + '\n')
    .join('');
}
