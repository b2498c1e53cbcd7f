// soci-installer ami, the built CLI with the real AWS SDK, against a stand-in endpoint on 127.0.0.1:
// the SDK serialises the requests and parses the replies (pagination, unsorted images, an empty
// result explained through SSM, access denied). Fake credentials; the instance metadata address is
// never probed (AWS_EC2_METADATA_DISABLED).
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, CLI, REPO_ROOT, run } from './support/exec.js';
import { startAwsStandin, type StandinHandlers } from './support/aws-standin.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

beforeAll(async () => {
  expect(await buildCli()).toBe('');
});

async function ami(handlers: StandinHandlers, args: string[]) {
  const standin = await startAwsStandin(handlers);
  close = standin.close;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: '/nonexistent',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: 'AKIDFAKEFORTESTS',
    AWS_SECRET_ACCESS_KEY: 'fake-secret-for-tests',
    AWS_ENDPOINT_URL_EC2: standin.url,
    AWS_ENDPOINT_URL_SSM: standin.url,
    AWS_MAX_ATTEMPTS: '1',
  };
  const res = await run(process.execPath, [CLI, 'ami', ...args], { env, cwd: REPO_ROOT });
  return { ...res, requests: standin.requests };
}

const PROFILE = join(REPO_ROOT, 'test/cases/packer-x86-standard/profile.yaml');

describe('soci-installer ami (real SDK, stand-in endpoint)', () => {
  it('follows NextToken over pages of unsorted images and prints the newest, as JSON', async () => {
    const res = await ami(
      {
        describeImages: (_p, call) =>
          call === 0
            ? { images: [{ id: 'ami-0000000000000000b', name: 'amazon-eks-node-al2023-x86_64-standard-1.34-v20260101', created: '2026-01-01T10:00:00.000Z' }], nextToken: 'page-2' }
            : {
                images: [
                  { id: 'ami-0000000000000000a', name: 'amazon-eks-node-al2023-x86_64-standard-1.34-v20250101', created: '2025-01-01T10:00:00.000Z' },
                  { id: 'ami-0000000000000000c', name: 'amazon-eks-node-al2023-x86_64-standard-1.34-v20260714', created: '2026-07-14T10:00:00.000Z' },
                ],
              },
      },
      ['-c', PROFILE, '--json'],
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({
      region: 'us-west-2', // ami.region of the profile
      kubernetesVersion: '1.34',
      variant: 'standard',
      images: [{ arch: 'x86_64', imageId: 'ami-0000000000000000c', name: 'amazon-eks-node-al2023-x86_64-standard-1.34-v20260714', creationDate: '2026-07-14T10:00:00.000Z', via: 'ec2' }],
    });
    expect(res.requests.map((r) => [r.service, r.action, r.params.NextToken])).toEqual([
      ['ec2', 'DescribeImages', undefined],
      ['ec2', 'DescribeImages', 'page-2'],
    ]);
    expect(res.requests[0]!.params).toMatchObject({ 'Owner.1': 'amazon', 'Filter.1.Name': 'name', 'Filter.1.Value.1': 'amazon-eks-node-al2023-x86_64-standard-1.34-v*' });
    expect(String(res.requests[0]!.headers.authorization)).toMatch(/Credential=AKIDFAKEFORTESTS\/\d{8}\/us-west-2\/ec2\/aws4_request/);
  });

  it('an empty result is explained through SSM (unknown Kubernetes version), in one line, exit 1', async () => {
    const res = await ami(
      {
        describeImages: () => ({ images: [] }),
        getParameter: (name) => (name.includes('/1.33/') ? { value: 'ami-0123456789abcdef0' } : { error: { status: 400, code: 'ParameterNotFound', message: 'not found' } }),
      },
      ['-c', PROFILE, '--region', 'eu-west-1'],
    );
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      'soci-installer: no EKS AL2023 standard x86_64 AMI for Kubernetes 1.34 in eu-west-1: Kubernetes 1.34 is unknown to EKS there (not yet released, or no longer published); check node.kubernetesVersion\n',
    );
    expect(res.requests.filter((r) => r.service === 'ssm').map((r) => r.params.Name)).toEqual([
      '/aws/service/eks/optimized-ami/1.34/amazon-linux-2023/x86_64/standard/recommended/image_id',
      '/aws/service/eks/optimized-ami/1.33/amazon-linux-2023/x86_64/standard/recommended/image_id',
    ]);
  });

  it('access denied is one line naming the permission', async () => {
    const res = await ami({ describeImages: () => ({ error: { status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.' } }) }, ['-c', PROFILE]);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe(
      'soci-installer: ec2:DescribeImages: access denied for EKS AMIs named amazon-eks-node-al2023-x86_64-standard-1.34-v* in us-west-2: the caller needs ec2:DescribeImages (see "IAM policies" in the README)\n',
    );
  });

  it('--ssm prints the recommended image per architecture (text: arch, id, name, date, source)', async () => {
    const res = await ami({ getParameter: (name) => ({ value: name.includes('/arm64/') ? 'ami-0aaaaaaaaaaaaaaaa' : 'ami-0bbbbbbbbbbbbbbbb' }) }, ['--ssm', '--region', 'us-east-2']);
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe(
      'x86_64\tami-0bbbbbbbbbbbbbbbb\t-\t-\tssm:/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id\n' +
        'arm64\tami-0aaaaaaaaaaaaaaaa\t-\t-\tssm:/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/arm64/standard/recommended/image_id\n',
    );
    expect(res.requests[0]!.headers['x-amz-target']).toBe('AmazonSSM.GetParameter');
  });

  it('no region anywhere is a one-line error', async () => {
    const res = await ami({}, []);
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('soci-installer: ec2:DescribeImages: no AWS region: pass --region, set ami.region in the profile, or set AWS_REGION\n');
  });
});
