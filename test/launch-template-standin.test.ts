// The built CLI against a stand-in EC2 (and EKS) endpoint on 127.0.0.1, so the real AWS SDK builds,
// signs and serialises the requests (EC2's query protocol, EKS's REST JSON), retries throttling, and
// parses the XML answers. STAND-IN: a node:http server that answers like EC2 for exactly the calls
// soci-installer makes; it records every request. Fake credentials; instance metadata disabled.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseMime } from '../src/index.js';
import { buildCli, CLI, run } from './support/exec.js';
import { startForwardProxy } from './standins/forward-proxy.js';

interface Recorded {
  method: string;
  url: string;
  params: URLSearchParams;
  authorization: string;
}

const XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
let server: Server;
let endpoint: string;
let requests: Recorded[] = [];
// Each test sets how the stand-in answers: Action -> list of [status, body] used in order (the last repeats).
let script: Record<string, [number, string][]> = {};

const ok = (action: string, inner: string): [number, string] => [200, `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${XMLNS}"><requestId>req-1</requestId>${inner}</${action}Response>`];
const fail = (status: number, code: string, message: string): [number, string] => [
  status,
  `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>req-e</RequestID></Response>`,
];

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

beforeAll(async () => {
  expect(await buildCli()).toBe('');
  server = createServer(async (req, res) => {
    const text = await body(req);
    const params = new URLSearchParams(text);
    requests.push({ method: req.method ?? '', url: req.url ?? '', params, authorization: String(req.headers.authorization ?? '') });
    if (req.url?.startsWith('/clusters/')) {
      // EKS DescribeCluster (REST JSON).
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          cluster: {
            name: 'demo',
            status: 'ACTIVE',
            endpoint: 'https://EKSSTANDIN.gr7.us-west-2.eks.amazonaws.com',
            certificateAuthority: { data: 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=' },
            kubernetesNetworkConfig: { ipFamily: 'ipv4', serviceIpv4Cidr: '172.20.0.0/16' },
          },
        }),
      );
      return;
    }
    const action = params.get('Action') ?? '';
    const answers = script[action];
    const [status, xml] = answers ? (answers.length > 1 ? answers.shift()! : answers[0]!) : fail(400, 'InvalidAction', `stand-in has no answer for ${action}`);
    res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8' });
    res.end(xml);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

beforeEach(() => {
  requests = [];
  script = {};
});

function cli(args: string[], cwd: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const env: NodeJS.ProcessEnv = {
    ...extraEnv,
    PATH: process.env.PATH,
    HOME: cwd,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKEFAKE',
    AWS_SECRET_ACCESS_KEY: 'fake-secret',
    AWS_CONFIG_FILE: join(cwd, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(cwd, 'no-aws-credentials'),
    AWS_ENDPOINT_URL_EC2: endpoint,
    AWS_ENDPOINT_URL_EKS: endpoint,
  };
  return run(process.execPath, [CLI, ...args], { cwd, env, timeoutMs: 60_000 });
}

const PROFILE = 'node: { arch: x86_64 }\nsoci: { mode: parallel, source: ami }\n';

function setup() {
  const cwd = mkdtempSync(join(tmpdir(), 'soci-lt-'));
  writeFileSync(join(cwd, 'soci.yaml'), PROFILE);
  return cwd;
}

describe('launch-template through the real SDK against a stand-in EC2 endpoint', () => {
  it('creates a template after a throttled first call (the SDK retries); UserData decodes to exactly the rendered MIME', async () => {
    const cwd = setup();
    script = {
      DescribeLaunchTemplates: [fail(503, 'RequestLimitExceeded', 'Request limit exceeded.'), fail(400, 'InvalidLaunchTemplateName.NotFoundException', 'At least one of the launch templates specified in the request does not exist.')],
      CreateLaunchTemplate: [
        ok('CreateLaunchTemplate', '<launchTemplate><launchTemplateId>lt-0standin0000001</launchTemplateId><launchTemplateName>my-nodes</launchTemplateName><defaultVersionNumber>1</defaultVersionNumber><latestVersionNumber>1</latestVersionNumber></launchTemplate>'),
      ],
    };
    const res = await cli(['launch-template', '--name', 'my-nodes', '-c', 'soci.yaml', '--region', 'us-west-2'], cwd);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('created launch template my-nodes (lt-0standin0000001), version 1 (default)\n');
    expect(requests.map((r) => r.params.get('Action'))).toEqual(['DescribeLaunchTemplates', 'DescribeLaunchTemplates', 'CreateLaunchTemplate']);
    for (const r of requests) expect(r.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAFAKEFAKEFAKEFAKE\/\d{8}\/us-west-2\/ec2\/aws4_request/);
    const create = requests[2]!.params;
    expect(create.get('LaunchTemplateName')).toBe('my-nodes');
    const mime = (await cli(['user-data', '-c', 'soci.yaml'], cwd)).stdout;
    expect(Buffer.from(create.get('LaunchTemplateData.UserData')!, 'base64').toString('utf8')).toBe(mime);
    expect(create.get('LaunchTemplateData.MetadataOptions.HttpTokens')).toBe('required');
    expect(create.get('LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit')).toBe('2');
    expect(create.get('LaunchTemplateData.MetadataOptions.HttpEndpoint')).toBe('enabled');
    expect(create.get('TagSpecification.1.ResourceType')).toBe('launch-template');
    expect(create.get('TagSpecification.1.Tag.1.Key')).toBe('soci-installer:generated-by');
    expect(create.get('LaunchTemplateData.ImageId')).toBeNull();
  });

  it('adds a version to an existing template, merged with its user data, cluster from EKS, custom AMI, --set-default --json', async () => {
    const cwd = setup();
    const theirs = '#!/bin/bash\necho theirs\n';
    script = {
      DescribeLaunchTemplates: [
        ok('DescribeLaunchTemplates', '<launchTemplates><item><launchTemplateId>lt-0standin0000002</launchTemplateId><launchTemplateName>my-nodes</launchTemplateName><defaultVersionNumber>2</defaultVersionNumber><latestVersionNumber>5</latestVersionNumber></item></launchTemplates>'),
      ],
      DescribeLaunchTemplateVersions: [
        ok(
          'DescribeLaunchTemplateVersions',
          `<launchTemplateVersionSet><item><launchTemplateId>lt-0standin0000002</launchTemplateId><versionNumber>2</versionNumber><launchTemplateData><instanceType>m7i.xlarge</instanceType><userData>${Buffer.from(theirs).toString('base64')}</userData></launchTemplateData></item></launchTemplateVersionSet>`,
        ),
      ],
      CreateLaunchTemplateVersion: [ok('CreateLaunchTemplateVersion', '<launchTemplateVersion><launchTemplateId>lt-0standin0000002</launchTemplateId><versionNumber>6</versionNumber></launchTemplateVersion>')],
      ModifyLaunchTemplate: [ok('ModifyLaunchTemplate', '<launchTemplate><launchTemplateId>lt-0standin0000002</launchTemplateId><defaultVersionNumber>6</defaultVersionNumber></launchTemplate>')],
    };
    const res = await cli(
      ['launch-template', '--name', 'my-nodes', '-c', 'soci.yaml', '--region', 'us-west-2', '--cluster', 'demo', '--ami', 'ami-0123456789abcdef0', '--set-default', '--json'],
      cwd,
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({
      launchTemplateId: 'lt-0standin0000002',
      launchTemplateName: 'my-nodes',
      version: 6,
      created: false,
      sourceVersion: 2,
      defaultVersion: 6,
      imageId: 'ami-0123456789abcdef0',
      keptParts: 1,
      replacedParts: 0,
    });
    expect(requests.map((r) => r.params.get('Action') ?? `${r.method} ${r.url}`)).toEqual([
      'GET /clusters/demo',
      'DescribeLaunchTemplates',
      'DescribeLaunchTemplateVersions',
      'CreateLaunchTemplateVersion',
      'ModifyLaunchTemplate',
    ]);
    const version = requests[3]!.params;
    expect(version.get('SourceVersion')).toBe('2');
    expect(version.get('LaunchTemplateData.ImageId')).toBe('ami-0123456789abcdef0');
    expect(version.get('LaunchTemplateData.InstanceType')).toBeNull(); // kept from the source version by EC2, not resent
    const parts = parseMime(Buffer.from(version.get('LaunchTemplateData.UserData')!, 'base64').toString('utf8'));
    expect(parts[0]).toEqual({ contentType: 'text/x-shellscript; charset="us-ascii"', body: theirs });
    // The cluster block EKS gave, in our NodeConfig (last).
    expect(String(parts.at(-1)!.body)).toContain('apiServerEndpoint: https://EKSSTANDIN.gr7.us-west-2.eks.amazonaws.com');
    expect(String(parts.at(-1)!.body)).toContain('cidr: 172.20.0.0/16');
    expect(requests[4]!.params.get('SetDefaultVersion')).toBe('6'); // EC2's query name for DefaultVersion
  });

  it('HTTP_PROXY: every SDK request goes through the proxy, as the AWS CLI sends it; NO_PROXY exempts the endpoint', async () => {
    const proxy = await startForwardProxy();
    try {
      const cwd = setup();
      const notFound = () => fail(400, 'InvalidLaunchTemplateName.NotFoundException', 'At least one of the launch templates specified in the request does not exist.');
      const created = () => ok('CreateLaunchTemplate', '<launchTemplate><launchTemplateId>lt-0standin0000009</launchTemplateId><launchTemplateName>via-proxy</launchTemplateName><defaultVersionNumber>1</defaultVersionNumber><latestVersionNumber>1</latestVersionNumber></launchTemplate>');
      script = { DescribeLaunchTemplates: [notFound()], CreateLaunchTemplate: [created()] };
      const res = await cli(['launch-template', '--name', 'via-proxy', '-c', 'soci.yaml', '--region', 'us-west-2'], cwd, { HTTP_PROXY: proxy.url });
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(requests.map((r) => r.params.get('Action'))).toEqual(['DescribeLaunchTemplates', 'CreateLaunchTemplate']);
      expect(proxy.requests).toEqual([`POST ${endpoint}/`, `POST ${endpoint}/`]);
      requests.length = 0;
      proxy.requests.length = 0;
      script = { DescribeLaunchTemplates: [notFound()], CreateLaunchTemplate: [created()] };
      const exempt = await cli(['launch-template', '--name', 'via-proxy', '-c', 'soci.yaml', '--region', 'us-west-2'], cwd, { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
      expect(exempt.code, exempt.stderr).toBe(0);
      expect(requests).toHaveLength(2);
      expect(proxy.requests).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('an AWS error is one line on stderr with exit code 1', async () => {
    const cwd = setup();
    script = { DescribeLaunchTemplates: [fail(403, 'UnauthorizedOperation', 'You are not authorized to perform this operation.')] };
    const res = await cli(['launch-template', '--name', 'my-nodes', '-c', 'soci.yaml', '--region', 'us-west-2'], cwd);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toBe(
      'soci-installer: ec2:DescribeLaunchTemplates: access denied for launch template "my-nodes": the caller needs ec2:DescribeLaunchTemplates (see "IAM policies" in the README)\n',
    );
  });

  it('render --cluster reads the cluster block from EKS into the NodeConfig and the eksctl fragment', async () => {
    const cwd = setup();
    writeFileSync(join(cwd, 'soci.yaml'), `${PROFILE}eksctl: { region: us-west-2 }\n`);
    const res = await cli(['render', '-c', 'soci.yaml', '--cluster', 'demo', '--region', 'us-west-2', '-o', 'out'], cwd);
    expect(res.code, res.stderr).toBe(0);
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /clusters/demo']);
    const nodeConfig = readFileSync(join(cwd, 'out', 'nodeconfig.yaml'), 'utf8');
    expect(nodeConfig).toContain('apiServerEndpoint: https://EKSSTANDIN.gr7.us-west-2.eks.amazonaws.com');
    expect(nodeConfig).toContain('certificateAuthority: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=');
    expect(nodeConfig).toContain('cidr: 172.20.0.0/16');
    expect(readFileSync(join(cwd, 'out', 'eksctl', 'nodegroup.yaml'), 'utf8')).toMatch(/^metadata:\n {2}name: demo\n {2}region: us-west-2$/m);
  });

  it('--dry-run prints the requests and sends nothing', async () => {
    const cwd = setup();
    const res = await cli(['launch-template', '--name', 'my-nodes', '-c', 'soci.yaml', '--dry-run', '--cluster', 'demo', '--ami-from-ssm'], cwd);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(requests).toEqual([]);
    const out = JSON.parse(res.stdout);
    expect(out.ifTemplateIsNew.CreateLaunchTemplate.LaunchTemplateData.ImageId).toBe(
      'resolve:ssm:/aws/service/eks/optimized-ami/1.35/amazon-linux-2023/x86_64/standard/recommended/image_id',
    );
    expect(out.clusterNote).toMatch(/read from EKS DescribeCluster at run time/);
  });
});
