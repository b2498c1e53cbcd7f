/**
 * A loopback forward proxy, as a corporate HTTP(S) proxy is to our CLI: it opens each CONNECT tunnel it
 * is asked for (RFC 9110 9.3.6; Node's fetch tunnels plain http:// through CONNECT too) and forwards each
 * request in absolute form (what Node's http agents send for plain http://), recording both. Stands in
 * for no upstream program: it has no access rules and no authentication.
 *
 * API:
 *   startForwardProxy(): Promise<ForwardProxy>
 *   ForwardProxy { url: 'http://127.0.0.1:port', tunnels: string[] (host:port), requests: string[] ('METHOD url'), stop() }
 */
import { createServer, request } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface ForwardProxy {
  url: string;
  tunnels: string[];
  requests: string[];
  stop(): Promise<void>;
}

export async function startForwardProxy(): Promise<ForwardProxy> {
  const sockets = new Set<Socket>();
  const proxy: ForwardProxy = { url: '', tunnels: [], requests: [], stop: async () => undefined };
  const server = createServer((req, res) => {
    proxy.requests.push(`${req.method} ${req.url}`);
    const target = URL.canParse(req.url ?? '') ? new URL(req.url!) : undefined;
    if (target?.protocol !== 'http:') {
      res.writeHead(400);
      res.end('absolute http:// URLs only\n');
      return;
    }
    const up = request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers: req.headers, agent: false }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    const authority = req.url ?? '';
    proxy.tunnels.push(authority);
    const i = authority.lastIndexOf(':');
    const upstream = connect(Number(authority.slice(i + 1)), authority.slice(0, i), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('forward proxy: no port');
  proxy.url = `http://127.0.0.1:${address.port}`;
  proxy.stop = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return proxy;
}
