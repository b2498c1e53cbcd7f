// IMDS TEST STAND-IN: the EC2 instance metadata service at http://169.254.169.254 inside the node's own
// network namespace (imds-standin.service adds the address to lo first). It answers what the real
// nodeadm asks of it, the way the AWS SDK's client expects (IMDSv2 session token, then GETs):
//   PUT  /latest/api/token                          aws-sdk-go-v2 feature/ec2/imds/api_op_GetToken.go
//   GET  /latest/user-data                          .../api_op_GetUserData.go (404 when there is none)
//   GET  /latest/dynamic/instance-identity/document .../api_op_GetInstanceIdentityDocument.go
//   GET  /latest/meta-data/<path>                   .../api_op_GetMetadata.go, .../api_op_GetRegion.go
// Which metadata paths nodeadm reads: amazon-eks-ami nodeadm/internal/aws/imds/imds.go (mac, local-ipv4,
// services/domain, network/interfaces/macs/<mac>/...) and nodeadm/internal/api/status.go (identity
// document). Paths and answers as documented by EC2 ("Instance metadata categories").
// The instance: /var/lib/standin-imds/{user-data,instance-id} (written by the harness). Nothing else.
import http from 'node:http';
import crypto from 'node:crypto';
import { INSTANCE_ID_FILE, USER_DATA_FILE, readIfExists } from './common.mjs';

const ADDRESS = process.argv[2] ?? '169.254.169.254';
const PORT = Number(process.argv[3] ?? 80);
const instanceId = (readIfExists(INSTANCE_ID_FILE)?.toString() ?? 'i-0standin000000000').trim();
const MAC = '0e:00:00:00:00:01';
const IP = '10.0.0.10';
const REGION = 'us-west-2';
const identity = {
  accountId: '111122223333',
  architecture: 'x86_64',
  availabilityZone: `${REGION}a`,
  imageId: 'ami-0standin00000000',
  instanceId,
  instanceType: 'm5.xlarge',
  pendingTime: new Date(0).toISOString(),
  privateIp: IP,
  region: REGION,
  version: '2017-09-30',
};
const metadata = {
  'instance-id': instanceId,
  'instance-type': identity.instanceType,
  'local-ipv4': IP,
  'local-hostname': `ip-${IP.replaceAll('.', '-')}.${REGION}.compute.internal`,
  mac: MAC,
  'placement/region': REGION,
  'placement/availability-zone': identity.availabilityZone,
  'services/domain': 'amazonaws.com',
  'network/interfaces/macs/': `${MAC}/`,
  [`network/interfaces/macs/${MAC}/device-number`]: '0',
  [`network/interfaces/macs/${MAC}/network-card`]: '0',
  [`network/interfaces/macs/${MAC}/local-ipv4s`]: IP,
};
const tokens = new Set();

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://imds');
  const send = (code, body = '') => {
    res.writeHead(code, { 'content-type': 'text/plain' }).end(body);
    process.stdout.write(`imds-standin: ${req.method} ${url.pathname} ${code}\n`);
  };
  if (req.method === 'PUT' && url.pathname === '/latest/api/token') {
    if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return send(400);
    const token = crypto.randomBytes(16).toString('hex');
    tokens.add(token);
    res.setHeader('x-aws-ec2-metadata-token-ttl-seconds', req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
    return send(200, token);
  }
  if (req.method !== 'GET') return send(405);
  // IMDSv2 only (the AMI's launch templates require it): a GET without a valid token is refused
  if (!tokens.has(req.headers['x-aws-ec2-metadata-token'])) return send(401);
  if (url.pathname === '/latest/user-data') {
    const data = readIfExists(USER_DATA_FILE);
    if (!data) return send(404);
    res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(data);
    process.stdout.write(`imds-standin: GET ${url.pathname} 200\n`);
    return;
  }
  if (url.pathname === '/latest/dynamic/instance-identity/document') return send(200, JSON.stringify(identity, null, 2));
  const m = /^\/latest\/meta-data\/(.*)$/.exec(url.pathname);
  if (m && m[1] in metadata) return send(200, metadata[m[1]]);
  return send(404);
});
server.listen(PORT, ADDRESS, () => process.stdout.write(`imds-standin: listening on ${ADDRESS}:${PORT}\n`));
