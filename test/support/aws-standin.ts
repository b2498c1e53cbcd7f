/**
 * A STAND-IN AWS endpoint on 127.0.0.1 (node:http) for the real AWS SDK: EC2's query protocol
 * (DescribeImages, XML replies) and SSM's JSON 1.1 protocol (GetParameter). Point the SDK at it with
 * AWS_ENDPOINT_URL_EC2 / AWS_ENDPOINT_URL_SSM = url. Written for these tests; not an emulator.
 *
 * API:
 *   startAwsStandin(handlers): Promise<{ url, requests, close() }>
 *     handlers.describeImages(params, call): { images: {id, name, created}[], nextToken? } | { error: { status, code, message } }
 *       params: the decoded form fields (Owner.1, Filter.1.Name, Filter.1.Value.1, NextToken, ...)
 *     handlers.getParameter(name): { value } | { error: { status, code, message } }
 *     requests: every request received: { service: 'ec2' | 'ssm', action, params, headers }
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandinError {
  error: { status: number; code: string; message: string };
}
export interface StandinHandlers {
  describeImages?: (params: Record<string, string>, call: number) => { images: { id: string; name: string; created: string }[]; nextToken?: string } | StandinError;
  getParameter?: (name: string) => { value: string } | StandinError;
}
export interface StandinRequest {
  service: 'ec2' | 'ssm';
  action: string;
  params: Record<string, string>;
  headers: IncomingHttpHeaders;
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export async function startAwsStandin(handlers: StandinHandlers) {
  const requests: StandinRequest[] = [];
  let ec2Calls = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      const target = req.headers['x-amz-target'];
      if (typeof target === 'string' && target.startsWith('AmazonSSM.')) {
        const params = JSON.parse(body || '{}') as Record<string, string>;
        requests.push({ service: 'ssm', action: target.slice('AmazonSSM.'.length), params, headers: req.headers });
        const out = handlers.getParameter?.(params.Name ?? '') ?? { error: { status: 400, code: 'ParameterNotFound', message: 'not found' } };
        res.setHeader('content-type', 'application/x-amz-json-1.1');
        if ('error' in out) {
          res.statusCode = out.error.status;
          res.end(JSON.stringify({ __type: out.error.code, message: out.error.message }));
        } else {
          res.end(JSON.stringify({ Parameter: { Name: params.Name, Type: 'String', Value: out.value, Version: 1, DataType: 'aws:ec2:image' } }));
        }
        return;
      }
      const params = Object.fromEntries(new URLSearchParams(body));
      requests.push({ service: 'ec2', action: params.Action ?? '', params, headers: req.headers });
      res.setHeader('content-type', 'text/xml;charset=UTF-8');
      const out = handlers.describeImages?.(params, ec2Calls++) ?? { images: [] };
      if ('error' in out) {
        res.statusCode = out.error.status;
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${out.error.code}</Code><Message>${xml(out.error.message)}</Message></Error></Errors><RequestID>standin-1</RequestID></Response>`);
        return;
      }
      const items = out.images
        .map((i) => `<item><imageId>${i.id}</imageId><name>${xml(i.name)}</name><creationDate>${i.created}</creationDate><architecture>x86_64</architecture><imageOwnerAlias>amazon</imageOwnerAlias></item>`)
        .join('');
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>standin-1</requestId><imagesSet>${items}</imagesSet>${out.nextToken ? `<nextToken>${out.nextToken}</nextToken>` : ''}</DescribeImagesResponse>`,
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}
