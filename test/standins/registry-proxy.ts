/**
 * A small loopback HTTP proxy in front of the real docker-registry: the only stand-in in the registry
 * path. It forwards every request unchanged, except that it can answer 429 Too Many Requests with
 * Retry-After (what Docker Hub and ECR do under their pull rate limits: distribution's error code
 * TOOMANYREQUESTS, docs/spec/api.md), and it records what passed: paths, bytes and requests in flight.
 *
 * API:
 *   startProxy(target: 'host:port', opts?): Promise<Proxy>
 *     opts.rateLimit?: (path) => boolean     answer 429 (Retry-After: 30) for these requests
 *   Proxy { host, seen: { method, path, status, bytes }[], maxInFlight, stop() }
 */
import { createServer, request } from 'node:http';

export interface Proxy {
  host: string;
  seen: { method: string; path: string; status: number; bytes: number }[];
  maxInFlight: number;
  stop(): Promise<void>;
}

export async function startProxy(target: string, opts: { rateLimit?: (path: string) => boolean } = {}): Promise<Proxy> {
  const [thost, tport] = target.split(':');
  const proxy: Proxy = { host: '', seen: [], maxInFlight: 0, stop: async () => undefined };
  let inFlight = 0;
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    inFlight++;
    proxy.maxInFlight = Math.max(proxy.maxInFlight, inFlight);
    const done = (status: number, bytes: number) => {
      inFlight--;
      proxy.seen.push({ method: req.method ?? 'GET', path, status, bytes });
    };
    if (opts.rateLimit?.(path)) {
      const body = '{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit exceeded"}]}';
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '30' }).end(body);
      done(429, body.length);
      return;
    }
    const up = request({ host: thost, port: Number(tport), method: req.method, path, headers: { ...req.headers, host: target } }, (ures) => {
      let bytes = 0;
      ures.on('data', (b: Buffer) => (bytes += b.length));
      ures.on('end', () => done(ures.statusCode ?? 0, bytes));
      res.writeHead(ures.statusCode ?? 502, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => {
      res.writeHead(502).end();
      done(502, 0);
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  proxy.stop = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}
