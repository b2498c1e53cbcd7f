/**
 * Stand-in for a registry's token service (what auth.docker.io or a Harbor/GitLab token endpoint does), so
 * the bearer flow runs against the real docker-registry configured with `auth: token`. It follows
 * distribution 2.8's token auth (docs/spec/auth/token.md and registry/auth/token/token.go: a JWT signed
 * with a key whose certificate is in `rootcertbundle`, sent in the x5c header; claims iss, aud = service,
 * exp/nbf, and `access` [{type: repository, name, actions}]). Left out: refresh tokens, offline tokens.
 *
 * API:
 *   startTokenServer(opts): Promise<TokenServer>
 *     opts.users?: Record<user, password>   basic auth, when sent, must be one of them; without it anyone gets a pull token
 *   TokenServer { realm, service, issuer, certPem, requests: { authorization?: string; scope: string }[], stop() }
 */
import { createSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireOnPath, run } from '../support/exec.js';

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  certPem: string;
  requests: { authorization?: string; scope: string }[];
  stop(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export async function startTokenServer(opts: { users?: Record<string, string> } = {}): Promise<TokenServer> {
  const openssl = requireOnPath('openssl', 'openssl (Debian package openssl)');
  const dir = mkdtempSync(join(tmpdir(), 'token-'));
  const r = await run(openssl, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=token-standin']);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  const keyPem = readFileSync(join(dir, 'key.pem'), 'utf8');
  const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8');
  rmSync(dir, { recursive: true, force: true });
  const der = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const service = 'test-registry';
  const issuer = 'token-standin';
  const requests: TokenServer['requests'] = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scope = url.searchParams.get('scope') ?? '';
    const authorization = req.headers.authorization;
    requests.push({ ...(authorization ? { authorization } : {}), scope });
    // No Authorization: an anonymous pull token (public repositories). With one, it must be right.
    if (opts.users && authorization) {
      const [user, pass] = Buffer.from((authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':');
      if (!authorization?.startsWith('Basic ') || opts.users[user ?? ''] !== pass) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
        return;
      }
    }
    const access = scope
      .split(' ')
      .filter(Boolean)
      .map((s) => {
        const [type, name, actions] = s.split(':');
        return { type, name, actions: (actions ?? '').split(',').filter((a) => a === 'pull') };
      });
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', x5c: [der.toString('base64')] };
    const claims = { iss: issuer, sub: 'anyone', aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: `${now}-${requests.length}`, access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const sig = createSign('RSA-SHA256').update(signing).sign(keyPem);
    const token = `${signing}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certPem,
    requests,
    stop: () => new Promise((r) => server.close(() => r())),
  };
}
