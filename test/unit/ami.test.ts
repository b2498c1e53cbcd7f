// soci-installer ami against the AWS SDK with aws-sdk-client-mock: what is asked, how pages and
// order are handled, and the one-line errors. (test/ami-endpoint.test.ts runs the real SDK over HTTP.)
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { resolveSourceAmis } from '../../src/aws/ami.js';
import { ExternalError, loadProfile, plan, UsageError } from '../../src/index.js';

process.env.AWS_EC2_METADATA_DISABLED = 'true';
process.env.AWS_ACCESS_KEY_ID = 'AKIDFAKEFORTESTS';
process.env.AWS_SECRET_ACCESS_KEY = 'fake-secret-for-tests';

const ec2 = new EC2Client({ region: 'us-west-2' });
const ssm = new SSMClient({ region: 'us-west-2' });
const ec2Mock = mockClient(ec2);
const ssmMock = mockClient(ssm);
const clients = { ec2, ssm };
const planOf = (yaml: string) => plan(loadProfile(yaml, 'p'));
const notFound = () => Object.assign(new Error('Parameter not found'), { name: 'ParameterNotFound' });

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
});

describe('ami (aws-sdk-client-mock)', () => {
  it('asks DescribeImages with the filter packer/ uses, follows every page, and picks the newest CreationDate', async () => {
    ec2Mock
      .on(DescribeImagesCommand)
      .resolvesOnce({ Images: [{ ImageId: 'ami-old', Name: 'n-v20250101', CreationDate: '2025-01-01T00:00:00.000Z' }], NextToken: 't2' })
      .resolvesOnce({
        Images: [
          { ImageId: 'ami-mid', Name: 'n-v20250601', CreationDate: '2025-06-01T00:00:00.000Z' },
          { ImageId: 'ami-new', Name: 'n-v20260714', CreationDate: '2026-07-14T00:00:00.000Z' },
          { ImageId: 'ami-older', Name: 'n-v20240101', CreationDate: '2024-01-01T00:00:00.000Z' },
        ],
        NextToken: 't3',
      })
      .resolvesOnce({ Images: [] });
    const r = await resolveSourceAmis(planOf('node: { kubernetesVersion: "1.34", arch: arm64 }\nsoci: { source: ami }\nami: { variant: nvidia }\n'), { clients });
    expect(r).toEqual({
      region: 'us-west-2',
      kubernetesVersion: '1.34',
      variant: 'nvidia',
      images: [{ arch: 'arm64', imageId: 'ami-new', name: 'n-v20260714', creationDate: '2026-07-14T00:00:00.000Z', via: 'ec2' }],
    });
    const calls = ec2Mock.commandCalls(DescribeImagesCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.NextToken)).toEqual([undefined, 't2', 't3']);
    expect(calls[0]).toMatchObject({
      Owners: ['amazon'],
      Filters: [
        { Name: 'name', Values: ['amazon-eks-node-al2023-arm64-nvidia-1.34-v*'] },
        { Name: 'architecture', Values: ['arm64'] },
        { Name: 'root-device-type', Values: ['ebs'] },
        { Name: 'virtualization-type', Values: ['hvm'] },
      ],
    });
    expect(ssmMock.calls()).toHaveLength(0);
  });

  it('--ssm reads the recommended image_id parameter per architecture', async () => {
    ssmMock.on(GetParameterCommand).callsFake((input: { Name: string }) => ({ Parameter: { Name: input.Name, Value: input.Name.includes('/arm64/') ? 'ami-arm' : 'ami-x86' } }));
    const r = await resolveSourceAmis(planOf('soci: { source: ami }\n'), { clients, via: 'ssm' });
    expect(r.images.map((i) => [i.arch, i.imageId, i.parameter])).toEqual([
      ['x86_64', 'ami-x86', '/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id'],
      ['arm64', 'ami-arm', '/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/arm64/standard/recommended/image_id'],
    ]);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it("takes ami.sourceAmiId as it is, without asking AWS", async () => {
    const r = await resolveSourceAmis(planOf('node: { arch: x86_64 }\nsoci: { source: ami }\nami: { sourceAmiId: { x86_64: ami-0123456789abcdef0 } }\n'), { clients });
    expect(r.images).toEqual([{ arch: 'x86_64', imageId: 'ami-0123456789abcdef0', via: 'profile' }]);
    expect(ec2Mock.calls().length + ssmMock.calls().length).toBe(0);
  });

  it('fast-image-pull bakes nothing: a usage error before any call', async () => {
    const err = await resolveSourceAmis(planOf('soci: { mode: fast-image-pull }\n'), { clients }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(ec2Mock.calls().length + ssmMock.calls().length).toBe(0);
  });

  const fails = async (yaml: string, opts: { via?: 'ssm' } = {}) => {
    const err = await resolveSourceAmis(planOf(yaml), { clients, ...opts }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  };

  it('an unknown Kubernetes version: no images, no parameter for it, but parameters for a known one', async () => {
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });
    ssmMock.on(GetParameterCommand).rejects(notFound());
    ssmMock.on(GetParameterCommand, { Name: '/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/image_id' }).resolves({ Parameter: { Value: 'ami-x' } });
    expect(await fails('node: { kubernetesVersion: "1.36", arch: x86_64 }\nsoci: { source: ami }\n')).toBe(
      'no EKS AL2023 standard x86_64 AMI for Kubernetes 1.36 in us-west-2: Kubernetes 1.36 is unknown to EKS there (not yet released, or no longer published); check node.kubernetesVersion',
    );
  });

  it('a variant or architecture EKS does not publish for that version', async () => {
    ssmMock.on(GetParameterCommand).rejects(notFound());
    ssmMock.on(GetParameterCommand, { Name: '/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id' }).resolves({ Parameter: { Value: 'ami-x' } });
    expect(await fails('node: { arch: arm64 }\nsoci: { source: ami }\nami: { variant: neuron }\n', { via: 'ssm' })).toMatch(
      /^no EKS AL2023 neuron arm64 AMI for Kubernetes 1\.35 in us-west-2: EKS publishes Kubernetes 1\.35 there, but not this variant and architecture/,
    );
  });

  it('a region without the parameters', async () => {
    ec2Mock.on(DescribeImagesCommand).resolves({});
    ssmMock.on(GetParameterCommand).rejects(notFound());
    expect(await fails('node: { arch: x86_64 }\nsoci: { source: ami }\n')).toBe(
      'no EKS AL2023 standard x86_64 AMI for Kubernetes 1.35 in us-west-2: the region has no EKS AL2023 AMIs (parameter /aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id is absent); check --region / ami.region',
    );
  });

  it('missing credentials', async () => {
    ec2Mock.on(DescribeImagesCommand).rejects(Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }));
    expect(await fails('soci: { source: ami }\n')).toMatch(/^ec2:DescribeImages: no AWS credentials found \(set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run aws sso login/);
  });

  it('access denied names the permission', async () => {
    ssmMock.on(GetParameterCommand).rejects(Object.assign(new Error('User is not authorized to perform: ssm:GetParameter'), { name: 'AccessDeniedException' }));
    expect(await fails('soci: { source: ami }\n', { via: 'ssm' })).toBe(
      'ssm:GetParameter: access denied for parameter /aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id in us-west-2: the caller needs ssm:GetParameter (see "IAM policies" in the README)',
    );
  });
});
