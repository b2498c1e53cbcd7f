/**
 * A real OCI registry on 127.0.0.1: Debian's docker-registry (distribution 2.8), started as a child with its
 * storage in a temp dir; images pushed into it with Debian's skopeo. Installed by
 * scripts/setup-test-tools.sh; missing tools fail with that hint.
 *
 * distribution 2.8 has no referrers API (GET /v2/<name>/referrers/<digest> answers 404), so referrers
 * pushed to it (soci push, through oras-go) land under the OCI tag schema (tag sha256-<hex>).
 *
 * API:
 *   startRegistry(opts?): Promise<Registry>
 *       opts.htpasswd: { user, password }    basic auth (bcrypt entry made with htpasswd -B)
 *       opts.token: { realm, service, issuer, certPem }   token auth (docker's bearer flow) against a token server
 *       opts.dataDir: storage shared with another registry (not removed by stop())
 *   Registry { host: '127.0.0.1:PORT', dir, dataDir, logs(): string, requests(): { method, path, status }[], stop() }
 *       requests() reads the registry's own access log: what clients asked for, as the registry saw it
 *   pushLayout(dir, dest, opts?): Promise<void>      skopeo copy --all oci:DIR docker://DEST (plain HTTP)
 *       opts.creds 'user:password'
 *   freePort(): Promise<number>
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireOnPath, run } from './exec.js';

export interface Registry {
  host: string;
  dir: string;
  dataDir: string;
  logs(): string;
  requests(): { method: string; path: string; status: number }[];
  stop(): Promise<void>;
}

export interface RegistryOptions {
  htpasswd?: { user: string; password: string };
  token?: { realm: string; service: string; issuer: string; certPem: string };
  dataDir?: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const bin = requireOnPath('docker-registry', 'docker-registry (Debian package docker-registry)');
  const dir = mkdtempSync(join(tmpdir(), 'registry-'));
  const port = await freePort();
  const dataDir = opts.dataDir ?? join(dir, 'data');
  let auth = '';
  if (opts.htpasswd) {
    const htpasswd = requireOnPath('htpasswd', 'htpasswd (Debian package apache2-utils)');
    const r = await run(htpasswd, ['-nbB', opts.htpasswd.user, opts.htpasswd.password]);
    if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    writeFileSync(join(dir, 'htpasswd'), r.stdout.trim() + '\n');
    auth = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (opts.token) {
    writeFileSync(join(dir, 'token-ca.pem'), opts.token.certPem);
    auth = `auth:\n  token:\n    realm: ${opts.token.realm}\n    service: ${opts.token.service}\n    issuer: ${opts.token.issuer}\n    rootcertbundle: ${join(dir, 'token-ca.pem')}\n`;
  }
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: info\n  formatter: json\nstorage:\n  filesystem:\n    rootdirectory: ${dataDir}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`,
  );
  const child = spawn(bin, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let log = '';
  const append = (b: Buffer) => {
    if (log.length < 20_000_000) log += b.toString();
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  let exited = false;
  const exit = new Promise<void>((r) =>
    child.on('exit', () => {
      exited = true;
      running.delete(child);
      r();
    }),
  );
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) throw new Error(`docker-registry exited early:\n${log.slice(-4000)}`);
    const ok = await fetch(`http://${host}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${host}:\n${log.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host,
    dir,
    dataDir,
    logs: () => log,
    requests: () =>
      log
        .split('\n')
        .flatMap((l) => {
          try {
            const j = JSON.parse(l) as Record<string, unknown>;
            // distribution's access log: one "response completed" line per request ("... with error" for 4xx/5xx)
            if (j['http.request.method'] && j['http.response.status'] !== undefined && (j.msg === 'response completed' || j.msg === 'response completed with error')) {
              return [{ method: String(j['http.request.method']), path: String(j['http.request.uri']), status: Number(j['http.response.status']) }];
            }
          } catch {
            /* not JSON */
          }
          return [];
        }),
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        await exit;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function pushLayout(dir: string, dest: string, opts: { creds?: string } = {}): Promise<void> {
  const skopeo = requireOnPath('skopeo', 'skopeo (Debian package skopeo)');
  const r = await run(
    skopeo,
    ['copy', '--quiet', '--all', '--dest-tls-verify=false', ...(opts.creds ? ['--dest-creds', opts.creds] : []), `oci:${dir}`, `docker://${dest}`],
    { timeoutMs: 120_000, env: { ...process.env, REGISTRY_AUTH_FILE: join(dir, '..', 'no-auth.json') } },
  );
  if (r.code !== 0) throw new Error(`skopeo copy oci:${dir} docker://${dest} failed (${r.code}):\n${r.stderr}`);
}
