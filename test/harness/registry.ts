// A container registry on a booted test node's loopback (127.0.0.1:5000 inside the node, unreachable from
// the host and any network), and the tools around it that run from the host inside the node's network
// namespace only: Debian's docker-registry (distribution 2.8) serving from the node's run dir, skopeo to
// push OCI layouts into it, tc to shape the node's loopback, and kubelet's image pull over CRI.
//
// Nothing is installed into the node: the host's binaries run with `nsenter -n` (the node's network,
// the host's files), as node.serve() does. Whatever they leave is killed with the node (its exec cgroup).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { enterScript, sleep } from './host.js';
import type { FakeNode } from './node.js';
import { criImages, type CriImages } from './cri.js';

const REGISTRY_BIN = '/usr/bin/docker-registry';
const SKOPEO_BIN = '/usr/bin/skopeo';
const SETUP = 'scripts/setup-test-tools.sh installs it (apt: docker-registry, skopeo)';

export interface Registry {
  /** 127.0.0.1:5000 (the node's loopback) */
  host: string;
  /** pushes an OCI image layout directory (`oci:DIR[:tag]`) as host/name:tag, with every manifest of an index */
  push(ociRef: string, nameTag: string): Promise<void>;
  /** bytes the registry sent per blob digest (sha256:...) since the last reset, from its access log */
  blobBytes(): Map<string, number>;
  /** forgets the access log so far (blobBytes starts again from 0) */
  resetLog(): void;
  stop(): Promise<void>;
}

/** PID 1 of the node (systemd), the direct child of its systemd-nspawn. */
export function nodePid1(node: FakeNode): number {
  const nspawn = node.nspawnPid;
  if (!nspawn || !node.running) throw new Error(`node ${node.machine} is not running`);
  const children = fs.readFileSync(`/proc/${nspawn}/task/${nspawn}/children`, 'utf8').split(/\s+/).filter(Boolean);
  const pid = children.find((c) => fs.readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'systemd');
  if (!pid) throw new Error(`node ${node.machine}: no systemd PID 1 under systemd-nspawn ${nspawn}`);
  return Number(pid);
}

function requireTool(file: string): void {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch {
    throw new Error(`${file} not found: ${SETUP}`);
  }
}

/** argv that runs cmd in the node's exec cgroup and network namespace, with the host's files. */
function inNodeNetwork(node: FakeNode, cmd: string[]): string[] {
  const procs = node.cgroupDirs.map((d) => path.join(d, 'exec', 'cgroup.procs'));
  return ['sh', '-c', enterScript(procs), 'sh', 'nsenter', '-t', String(nodePid1(node)), '-n', '--', ...cmd];
}

/** Runs a host program in the node's network namespace; throws with its output unless it exits 0. */
export function runInNodeNetwork(node: FakeNode, cmd: string[], timeoutMs = 300_000): Promise<string> {
  const [bin, ...args] = inNodeNetwork(node, cmd);
  return new Promise((resolve, reject) => {
    const child = spawn(bin!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`[${node.machine} network] \`${cmd.join(' ')}\` exited ${code ?? signal}\n${out}${err}`));
    });
  });
}

/**
 * Starts Debian's docker-registry on 127.0.0.1:5000 in the node's network namespace, storing blobs in
 * the node's run dir (removed with the node). Waits until it answers /v2/.
 */
export async function startRegistry(node: FakeNode): Promise<Registry> {
  requireTool(REGISTRY_BIN);
  requireTool(SKOPEO_BIN);
  const dir = fs.mkdtempSync(path.join(node.runDir, 'registry-'));
  const config = path.join(dir, 'config.yml');
  const accessLog = path.join(dir, 'registry.log');
  fs.writeFileSync(
    config,
    [
      'version: 0.1',
      'log: { level: info, formatter: text }',
      `storage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} }, delete: { enabled: true } }`,
      'http: { addr: "127.0.0.1:5000" }',
      '',
    ].join('\n'),
  );
  const fd = fs.openSync(accessLog, 'a');
  const [bin, ...args] = inNodeNetwork(node, [REGISTRY_BIN, 'serve', config]);
  const child = spawn(bin!, args, { stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const host = '127.0.0.1:5000';
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited ${child.exitCode}:\n${fs.readFileSync(accessLog, 'utf8')}`);
    const r = await node.exec(['curl', '-sf', '-o', '/dev/null', `http://${host}/v2/`]);
    if (r.code === 0) break;
    if (i > 100) throw new Error(`docker-registry does not answer on ${host} in node ${node.machine}:\n${fs.readFileSync(accessLog, 'utf8')}`);
    await sleep(100);
  }
  let logOffset = 0;
  return {
    host,
    push: async (ociRef, nameTag) => {
      await runInNodeNetwork(node, [SKOPEO_BIN, 'copy', '--quiet', '--all', '--dest-tls-verify=false', `oci:${ociRef}`, `docker://${host}/${nameTag}`]);
    },
    blobBytes: () => {
      const text = fs.readFileSync(accessLog, 'utf8').slice(logOffset);
      const bytes = new Map<string, number>();
      // the access log's combined format: "GET /v2/NAME/blobs/sha256:HEX HTTP/1.1" STATUS BYTES
      for (const m of text.matchAll(/"GET \/v2\/\S+\/blobs\/(sha256:[0-9a-f]{64}) HTTP\/[\d.]+" (?:200|206) (\d+)/g)) {
        bytes.set(m[1]!, (bytes.get(m[1]!) ?? 0) + Number(m[2]));
      }
      return bytes;
    },
    resetLog: () => {
      logOffset = fs.statSync(accessLog).size;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * Shapes the node's loopback to `rate` (tc token bucket, e.g. "1gbit"): every byte between the registry
 * and containerd or soci passes it. netem (delay) is not in this kernel, so there is no added latency.
 */
export async function shapeLoopback(node: FakeNode, rate: string): Promise<void> {
  // burst: a few lo MTUs (65536), so single large segments pass; 50 ms of queue
  await node.run(['tc', 'qdisc', 'replace', 'dev', 'lo', 'root', 'tbf', 'rate', rate, 'burst', '512kb', 'latency', '50ms']);
}

/** kubelet's CRI image service at the node's containerd socket (reached from the host through /proc). */
export function nodeCri(node: FakeNode): CriImages {
  return criImages(`/proc/${nodePid1(node)}/root/run/containerd/containerd.sock`);
}
