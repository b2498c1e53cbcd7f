// Runs scripts/setup-harness.sh (idempotent, fast when everything is cached) once per process and
// returns the paths it prints.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { log } from './log.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// the real path: in a git worktree .cache may be a symlink, and /proc/self/mountinfo names real paths
fs.mkdirSync(path.join(REPO, '.cache'), { recursive: true });
export const HARNESS_CACHE = path.join(fs.realpathSync(path.join(REPO, '.cache')), 'harness');
export const RUN_DIR = path.join(HARNESS_CACHE, 'run');

export interface HarnessPaths {
  /** the debootstrapped Debian rootfs (read-only lower layer) */
  base: string;
  /** the AMI units and stand-ins (read-only lower layer above base) */
  layer: string;
  /** Node 24 binary, bound into every node at /opt/standin-node/bin/node */
  node: string;
  /** the project's node_modules, bound read-only at /opt/standin-node/node_modules */
  nodeModules: string;
  /** the real upstream programs (.cache/upstream/bin): nodeadm, soci-snapshotter-grpc, soci, containerd-v2.2.4, ctr-v2.2.4, containerd-v1.7.27 */
  upstreamBin: string;
}

let pending: Promise<HarnessPaths> | undefined;

export function ensureHarness(): Promise<HarnessPaths> {
  pending ??= runSetup();
  return pending;
}

function runSetup(): Promise<HarnessPaths> {
  if (process.getuid?.() !== 0) {
    return Promise.reject(new Error('the node harness needs root (mounts, cgroups, systemd-nspawn)'));
  }
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO, 'scripts/setup-harness.sh')], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => {
      err += d;
      process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`scripts/setup-harness.sh failed (exit ${code}):\n${err.slice(-4000)}`));
        return;
      }
      const kv = Object.fromEntries(
        out
          .split('\n')
          .filter((l) => l.includes('='))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      const need = ['BASE', 'LAYER', 'NODE', 'NODE_MODULES', 'UPSTREAM_BIN'];
      const missing = need.filter((k) => !kv[k]);
      if (missing.length) {
        reject(new Error(`scripts/setup-harness.sh did not print ${missing.join(', ')}:\n${out}`));
        return;
      }
      log(`setup-harness.sh ${((performance.now() - t0) / 1000).toFixed(1)}s`);
      resolve({
        base: kv.BASE!,
        layer: kv.LAYER!,
        node: kv.NODE!,
        nodeModules: kv.NODE_MODULES!,
        upstreamBin: kv.UPSTREAM_BIN!,
      });
    });
  });
}
