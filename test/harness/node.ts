// A booted fake EKS AL2023 node: systemd 252 as PID 1 in a Debian bookworm rootfs under
// systemd-nspawn, running the real upstream programs (nodeadm, soci-snapshotter-grpc v0.15.0, containerd
// 2.2.4 or 1.7.27, bound in from .cache/upstream/bin) under the AMI's own units, with stand-ins only for
// IMDS and kubelet (test/standins/); cloud-init is Debian's own.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  NodeCgroups,
  enterScript,
  mountsUnder,
  mustRun,
  pidAlive,
  removeTree,
  sleep,
  spawnDetached,
  unmountAll,
} from './host.js';
import { log, seconds } from './log.js';
import { REPO, RUN_DIR, ensureHarness, type HarnessPaths } from './setup.js';

export type ContainerdLine = '1.7' | '2';

export type FileSpec = string | Buffer | { content: string | Buffer; mode?: number };

export interface NodeOptions {
  /** which real containerd is bound over /usr/bin/containerd: '2' = 2.2.4, '1.7' = 1.7.27 (ctr is 2.2.4's for both) */
  containerd: ContainerdLine;
  /** a short name for logs and the hostname; a unique suffix is added */
  name: string;
  /** files placed in the node before its first boot (absolute node paths) */
  files?: Record<string, FileSpec>;
  /**
   * The instance's user data as the launch template gives it: a shell script, a NodeConfig YAML or MIME
   * multipart. The IMDS stand-in serves it with the cluster's NodeConfig appended as a last MIME part
   * (`CLUSTER_NODECONFIG`), the way EKS managed node groups append theirs, since nodeadm refuses a node
   * without a cluster block. The real nodeadm reads its application/node.eks.aws parts; Debian's real
   * cloud-init runs its shell parts once per instance in cloud-final.service.
   */
  userData?: string | Buffer;
  /** the AMI's soci-snapshotter package: the real v0.15.0 binaries at /usr/bin, the AMI's units */
  soci?: {
    /** false: an AMI without soci (before v20250813): no binaries, no units. Default true. */
    installed?: boolean;
    /**
     * Break the real daemon's start with a drop-in (/etc/systemd/system/soci-snapshotter.service.d/
     * 99-harness-fault.conf): 'never-ready' holds the start before the daemon runs, so the start job
     * times out (Result=timeout); 'exit' gives the daemon a log level it refuses, so it exits 1 at once.
     */
    fail?: 'never-ready' | 'exit';
  };
  /** the Kubernetes minor in /etc/eks/kubelet-version.txt (what nodeadm reads). Default 1.29 on '1.7', 1.33 on '2'. */
  kubernetesVersion?: string;
  /** the whole line in /etc/eks/containerd-version.txt. Default: the AMI's line for the node's containerd (test/fixtures/ami/containerd-version/). */
  containerdVersionLine?: string;
  /** systemd's DefaultTimeoutStartSec in the node (a start job that never gets READY=1 fails after it). Default 30. */
  defaultTimeoutStartSec?: number;
  /** how long boot may take until `systemctl is-system-running` says running or degraded. Default 120 s. */
  bootTimeoutMs?: number;
}

export interface ExecOptions {
  /** stdin */
  input?: string | Buffer;
  /** extra environment (the command otherwise gets only PATH, HOME, LANG) */
  env?: Record<string, string>;
  /** working directory in the node (default /) */
  cwd?: string;
  /** kill the command after this long (default 120 s) */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface HttpServer {
  /** http://127.0.0.1:PORT (no trailing slash), reachable from inside this node only */
  url: string;
  port: number;
  /** request lines seen so far: "GET /path 200 1234" */
  requests(): string[];
  stop(): Promise<void>;
}

export interface KubeletStatus {
  ok: boolean;
  /** why the node is not Ready */
  reason?: string;
  /** the snapshotter containerd's CRI uses, and the sandbox image's chain id there */
  snapshotter?: string;
  sandboxImage?: string;
  chainId?: string;
  /** from kubelet's effective configuration (--config plus the --config-dir drop-ins nodeadm writes) */
  imageServiceEndpoint?: string | null;
  maxPods?: number | null;
  checkedAt: number;
}

const NODE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The real programs of each containerd line (node path -> file in .cache/upstream/bin). */
const CONTAINERD_BINARIES: Record<ContainerdLine, Record<string, string>> = {
  '2': { '/usr/bin/containerd': 'containerd-v2.2.4', '/usr/bin/ctr': 'ctr-v2.2.4' },
  // no ctr is built from 1.7.27: 2.2.4's ctr speaks the same API (runc and the shim are Debian's)
  '1.7': { '/usr/bin/containerd': 'containerd-v1.7.27', '/usr/bin/ctr': 'ctr-v2.2.4' },
};
const CONTAINERD_VERSION: Record<ContainerdLine, string> = { '2': '2.2.4', '1.7': '1.7.27' };
const AMI_FIXTURES = path.join(REPO, 'test/fixtures/ami');

/**
 * The cluster's NodeConfig the IMDS stand-in appends to every node's user data (as EKS managed node
 * groups append theirs): the cluster block nodeadm requires, and the InstanceIdNodeName feature gate, so
 * nodeadm names the node after its instance id instead of asking the EC2 API for its private DNS name
 * (amazon-eks-ami nodeadm/internal/api/status.go; this nodeadm build cannot read EC2 API answers).
 */
export const CLUSTER_NODECONFIG = `apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: harness
    apiServerEndpoint: https://harness.eks.test
    certificateAuthority: ${Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAAMB4XDTI2MDEwMTAwMDAwMFoX\n-----END CERTIFICATE-----\n').toString('base64')}
    cidr: 10.100.0.0/16
  featureGates:
    InstanceIdNodeName: true
`;

/** The user data IMDS serves: the test's, with the cluster NodeConfig as the last MIME part. */
export function withClusterNodeConfig(userData: string | Buffer | undefined): Buffer {
  const part = `Content-Type: application/node.eks.aws\n\n${CLUSTER_NODECONFIG}`;
  const text = userData === undefined ? '' : Buffer.isBuffer(userData) ? userData.toString('utf8') : userData;
  const head = /^MIME-Version:[^\n]*\n(?:[^\n]+\n)*?Content-Type:\s*multipart\/[^;\n]+;\s*boundary="?([^"\n;]+)"?/i.exec(text);
  if (head) {
    const close = `--${head[1]}--`;
    const at = text.lastIndexOf(close);
    if (at < 0) throw new Error('user data: MIME multipart without its closing boundary');
    return Buffer.from(`${text.slice(0, at)}--${head[1]}\n${part}\n${text.slice(at)}`);
  }
  const boundary = 'harness-cluster-part';
  const first = !text.trim()
    ? ''
    : `--${boundary}\nContent-Type: ${text.startsWith('#!') ? 'text/x-shellscript' : 'application/node.eks.aws'}\n\n${text.replace(/\n?$/, '\n')}`;
  return Buffer.from(`MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="${boundary}"\n\n${first}--${boundary}\n${part}\n--${boundary}--\n`);
}

const SOCI_FAULTS = {
  'never-ready': '# test harness fault: the start never gets to the daemon, so READY=1 never comes\n[Service]\nExecStartPre=/bin/sleep infinity\n',
  exit: '# test harness fault: the real daemon refuses this log level and exits 1 at start\n[Service]\nExecStart=\nExecStart=/usr/bin/soci-snapshotter-grpc --address fd:// --log-level harness-fault\n',
};

export class FakeNode {
  readonly id: string;
  /** machine name and hostname */
  readonly machine: string;
  /** the node's containerd version, e.g. 2.2.4 (its whole `--version` line is in /etc/eks/containerd-version.txt) */
  readonly containerdVersion: string;
  readonly runDir: string;
  /** the overlay's upper dir: exactly the files changed in the node's root since it was created */
  readonly upperDir: string;
  /** the node's root filesystem seen from the host (read it, do not follow symlinks out of it) */
  readonly rootfs: string;
  bootCount = 0;

  private readonly cgroups: NodeCgroups;
  private nspawn?: ChildProcess;
  private nspawnExit?: Promise<number | null>;
  private pid1 = 0;
  private readonly servers = new Set<HttpServer>();

  constructor(
    readonly options: NodeOptions,
    private readonly paths: HarnessPaths,
  ) {
    const suffix = crypto.randomBytes(3).toString('hex');
    const base = options.name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'node';
    this.id = `${base}-${suffix}`;
    this.machine = this.id;
    this.runDir = path.join(RUN_DIR, this.id);
    this.upperDir = path.join(this.runDir, 'upper');
    this.rootfs = path.join(this.runDir, 'merged');
    this.cgroups = new NodeCgroups(this.id);
    this.containerdVersion = CONTAINERD_VERSION[options.containerd];
  }

  get containerd(): ContainerdLine {
    return this.options.containerd;
  }

  // ------------------------------------------------------------------------------------------
  // lifecycle

  /** Mounts the node's root (overlay of layer + base) and places the pre-boot files. */
  async create(): Promise<void> {
    for (const d of ['upper', 'work', 'merged', 'var-lib-containerd', 'var-lib-soci', 'http']) {
      fs.mkdirSync(path.join(this.runDir, d), { recursive: true });
    }
    fs.writeFileSync(path.join(this.runDir, 'owner.json'), JSON.stringify({ pid: process.pid, cgroup: this.id }) + '\n');
    mustRun('mount', [
      '-t',
      'overlay',
      'overlay',
      '-o',
      `lowerdir=${this.paths.layer}:${this.paths.base},upperdir=${this.upperDir},workdir=${path.join(this.runDir, 'work')}`,
      this.rootfs,
    ]);
    const o = this.options;
    const kubernetes = o.kubernetesVersion ?? (o.containerd === '1.7' ? '1.29' : '1.33');
    const instanceId = `i-${crypto.randomBytes(8).toString('hex')}`;
    const userData = withClusterNodeConfig(o.userData);
    const files: Record<string, FileSpec> = {
      '/etc/hostname': `${this.machine}\n`,
      // what the AMI build writes: `containerd --version | tee` (amazon-eks-ami install-worker.sh)
      '/etc/eks/containerd-version.txt':
        o.containerdVersionLine ?? fs.readFileSync(path.join(AMI_FIXTURES, 'containerd-version', `${this.containerdVersion}.txt`), 'utf8'),
      // `kubelet --version > /etc/eks/kubelet-version.txt` (install-worker.sh); nodeadm reads it
      '/etc/eks/kubelet-version.txt': `Kubernetes v${kubernetes}.0\n`,
      '/var/lib/standin-imds/instance-id': `${instanceId}\n`,
      '/var/lib/standin-imds/user-data': { content: userData, mode: 0o600 },
      // the same instance for Debian's real cloud-init, through its NoCloud seed (test/harness/rootfs/etc/cloud/)
      '/var/lib/cloud/seed/nocloud/meta-data': `instance-id: ${instanceId}\n`,
      '/var/lib/cloud/seed/nocloud/user-data': { content: userData, mode: 0o600 },
      '/etc/systemd/system.conf.d/90-harness.conf': `# test harness: start jobs that never finish fail sooner than the default 90 s\n[Manager]\nDefaultTimeoutStartSec=${o.defaultTimeoutStartSec ?? 30}s\n`,
    };
    if (o.soci?.fail) files['/etc/systemd/system/soci-snapshotter.service.d/99-harness-fault.conf'] = SOCI_FAULTS[o.soci.fail];
    Object.assign(files, o.files ?? {});
    if (o.soci?.installed === false) {
      for (const p of [
        '/usr/bin/soci-snapshotter-grpc',
        '/usr/bin/soci',
        '/etc/systemd/system/soci-snapshotter.service',
        '/etc/systemd/system/soci-snapshotter.socket',
        '/etc/systemd/system/sockets.target.wants/soci-snapshotter.socket',
      ]) {
        fs.rmSync(this.hostPath(p, { linkOk: true }), { force: true });
      }
    }
    for (const [p, spec] of Object.entries(files)) {
      const { content, mode } = typeof spec === 'string' || Buffer.isBuffer(spec) ? { content: spec, mode: 0o644 } : spec;
      const target = this.hostPath(p);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.writeFileSync(target, content);
      fs.chmodSync(target, mode ?? 0o644);
    }
  }

  /**
   * The host path of a node path inside the node's root, refusing paths that pass through a symlink
   * (e.g. /var/run -> /run would otherwise resolve on the host).
   */
  private hostPath(nodePath: string, opts: { linkOk?: boolean } = {}): string {
    if (!path.isAbsolute(nodePath)) throw new Error(`node paths must be absolute: ${nodePath}`);
    const parts = path.normalize(nodePath).split('/').filter(Boolean);
    let cur = this.rootfs;
    for (const [i, part] of parts.entries()) {
      cur = path.join(cur, part);
      if (opts.linkOk && i === parts.length - 1) break;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(cur);
      } catch {
        break;
      }
      if (st.isSymbolicLink()) throw new Error(`${nodePath} goes through a symlink (${cur.slice(this.rootfs.length)}); write it after boot with node.writeFile`);
    }
    return path.join(this.rootfs, ...parts);
  }

  async boot(): Promise<void> {
    const t0 = performance.now();
    this.cgroups.create();
    const bin = (name: string) => path.join(this.paths.upstreamBin, name);
    const binds: Record<string, string> = { ...CONTAINERD_BINARIES[this.options.containerd], '/usr/bin/nodeadm': 'nodeadm' };
    if (this.options.soci?.installed !== false) Object.assign(binds, { '/usr/bin/soci-snapshotter-grpc': 'soci-snapshotter-grpc', '/usr/bin/soci': 'soci' });
    const args = [
      '-q',
      '-D',
      this.rootfs,
      '-M',
      this.machine,
      '--boot',
      '--register=no',
      '--keep-unit',
      '--console=passive',
      '--private-network',
      '--link-journal=no',
      '--resolv-conf=off',
      '--timezone=off',
      // runc needs what nspawn's default seccomp filter forbids: a session keyring per container,
      // and bpf() for the cgroup v2 device filter
      '--system-call-filter=add_key keyctl request_key bpf',
      `--bind-ro=${this.paths.node}:/opt/standin-node/bin/node`,
      `--bind-ro=${this.paths.nodeModules}:/opt/standin-node/node_modules`,
      ...Object.entries(binds).map(([nodePath, name]) => `--bind-ro=${bin(name)}:${nodePath}`),
      // lazy loading mounts FUSE file systems
      '--bind=/dev/fuse',
      '--property=DeviceAllow=/dev/fuse rwm',
      `--bind=${path.join(this.runDir, 'var-lib-containerd')}:/var/lib/containerd`,
      `--bind=${path.join(this.runDir, 'var-lib-soci')}:/var/lib/soci-snapshotter-grpc`,
    ];
    const env = { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' };
    this.bootCount++;
    const consoleLog = path.join(this.runDir, `console-${this.bootCount}.log`);
    const child = spawnDetached('sh', ['-c', enterScript(this.cgroups.procsFiles('nspawn')), 'sh', 'systemd-nspawn', ...args], env, consoleLog);
    this.nspawn = child;
    this.nspawnExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    fs.writeFileSync(path.join(this.runDir, 'owner.json'), JSON.stringify({ pid: process.pid, cgroup: this.id, nspawn: child.pid }) + '\n');

    const timeoutMs = this.options.bootTimeoutMs ?? 120_000;
    const end = Date.now() + timeoutMs;
    const failed = (why: string) =>
      new Error(`node ${this.machine} (boot ${this.bootCount}): ${why}\n--- console ---\n${this.consoleTail(consoleLog)}`);
    // PID 1 is the direct child of systemd-nspawn once it has exec'd systemd
    this.pid1 = 0;
    while (!this.pid1) {
      if (child.exitCode !== null) throw failed(`systemd-nspawn exited ${child.exitCode}`);
      if (Date.now() > end) throw failed('no systemd PID 1 appeared');
      this.pid1 = this.findPid1(child.pid!);
      if (!this.pid1) await sleep(20);
    }
    // until PID 1 has its private bus socket, systemctl fails at once: poll
    let state = '';
    for (;;) {
      if (child.exitCode !== null) throw failed(`systemd-nspawn exited ${child.exitCode}`);
      if (Date.now() > end) throw failed(`not booted after ${timeoutMs} ms (state: ${state || 'no answer'})`);
      const r = await this.exec(['systemctl', 'is-system-running'], { timeoutMs: 10_000 });
      state = r.stdout.trim();
      if (state === 'running' || state === 'degraded') break;
      if (state === 'maintenance' || state === 'stopping') throw failed(`system state ${state}`);
      await sleep(50);
    }
    log(`node ${this.machine} (containerd ${this.containerdVersion}) boot ${this.bootCount}: ${state} in ${seconds(t0)}`);
  }

  private findPid1(nspawnPid: number): number {
    let children: string[];
    try {
      children = fs.readFileSync(`/proc/${nspawnPid}/task/${nspawnPid}/children`, 'utf8').split(/\s+/).filter(Boolean);
    } catch {
      return 0;
    }
    for (const c of children) {
      try {
        if (fs.readFileSync(`/proc/${c}/comm`, 'utf8').trim() === 'systemd') return Number(c);
      } catch {
        /* gone */
      }
    }
    return 0;
  }

  private consoleTail(file: string): string {
    try {
      return fs.readFileSync(file, 'utf8').split('\n').slice(-40).join('\n');
    } catch {
      return '(no console output)';
    }
  }

  /** Powers the node off (as systemd does on a shutdown) and waits for systemd-nspawn to exit. */
  private async powerOff(): Promise<void> {
    await this.stopServers();
    const child = this.nspawn;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    // systemd-nspawn turns SIGTERM into an orderly poweroff of the node
    child.kill('SIGTERM');
    const exited = await Promise.race([this.nspawnExit!.then(() => true), sleep(30_000).then(() => false)]);
    if (!exited) {
      log(`node ${this.machine}: no poweroff after 30 s, killing it`);
      child.kill('SIGKILL');
      await this.cgroups.killAll();
      await this.nspawnExit;
    }
    // anything that outlived the node (a command started with exec) goes too
    await this.cgroups.killAll();
    this.pid1 = 0;
  }

  /** Power off and boot the same root again (overlay, /var/lib/containerd and soci's root are kept). */
  async reboot(): Promise<void> {
    const t0 = performance.now();
    await this.powerOff();
    await this.cgroups.remove();
    log(`node ${this.machine}: powered off in ${seconds(t0)}`);
    await this.boot();
    log(`node ${this.machine}: reboot took ${seconds(t0)}`);
  }

  /** Powers off, kills leftovers, removes cgroups, unmounts and deletes the run dir. Checks all that. */
  async destroy(): Promise<void> {
    const t0 = performance.now();
    const problems: string[] = [];
    const step = async (what: string, fn: () => Promise<void> | void) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    await step('poweroff', () => this.powerOff());
    await step('kill leftovers', () => this.cgroups.killAll());
    await step('remove cgroups', () => this.cgroups.remove());
    await step('unmount', () => unmountAll(this.runDir));
    if (process.env.HARNESS_KEEP) log(`node ${this.machine}: HARNESS_KEEP set, keeping ${this.runDir}`);
    else await step('remove run dir', () => removeTree(this.runDir));
    if (this.nspawn?.pid && pidAlive(this.nspawn.pid) && this.nspawn.exitCode === null) problems.push(`systemd-nspawn ${this.nspawn.pid} still running`);
    if (this.cgroups.exists()) problems.push(`cgroups left: ${this.cgroups.dirs.join(' ')}`);
    if (mountsUnder(this.runDir).length) problems.push(`mounts left: ${mountsUnder(this.runDir).join(' ')}`);
    log(`node ${this.machine}: teardown ${seconds(t0)}${problems.length ? ` WITH PROBLEMS: ${problems.join('; ')}` : ''}`);
    if (problems.length) throw new Error(`teardown of node ${this.machine} left: ${problems.join('; ')}`);
  }

  /** The systemd-nspawn process of the current (or last) boot. */
  get nspawnPid(): number | undefined {
    return this.nspawn?.pid;
  }

  /** The node's cgroup directories on the host (one per hierarchy); gone after teardown. */
  get cgroupDirs(): string[] {
    return [...this.cgroups.dirs];
  }

  /** True while systemd-nspawn runs (the node is up or shutting down). */
  get running(): boolean {
    return !!this.nspawn && this.nspawn.exitCode === null && this.nspawn.signalCode === null;
  }

  // ------------------------------------------------------------------------------------------
  // driving the node

  /**
   * Runs a command in the node (all its namespaces, as root, cwd /, a clean environment). A string runs
   * with bash -c. Never throws for a non-zero exit; see `run` for that.
   */
  exec(cmd: string[] | string, opts: ExecOptions = {}): Promise<ExecResult> {
    return this.execRaw(cmd, opts).then((r) => ({ code: r.code, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') }));
  }

  /** Like exec, but throws (with the output) unless the command exits 0; returns stdout. */
  async run(cmd: string[] | string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(cmd, opts);
    if (r.code !== 0) {
      const shown = typeof cmd === 'string' ? cmd : cmd.join(' ');
      throw new Error(`[${this.machine}] \`${shown}\` exited ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
    }
    return r.stdout;
  }

  private execRaw(cmd: string[] | string, opts: ExecOptions): Promise<{ code: number; stdout: Buffer; stderr: Buffer }> {
    if (!this.pid1 || !this.running) return Promise.reject(new Error(`node ${this.machine} is not running`));
    const argv = typeof cmd === 'string' ? ['/bin/bash', '-c', cmd] : cmd;
    const env = { PATH: NODE_PATH, HOME: '/root', LANG: 'C.UTF-8', ...opts.env };
    const nsenter = [
      'nsenter',
      '-t',
      String(this.pid1),
      '-m',
      '-u',
      '-i',
      '-n',
      '-p',
      '-C',
      '-r',
      '-w',
      '--',
      'env',
      '-i',
      ...(opts.cwd ? ['-C', opts.cwd] : []),
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ...argv,
    ];
    return new Promise((resolve, reject) => {
      // the command runs in the node's exec cgroup, so teardown finds whatever it leaves behind
      const child = spawn('sh', ['-c', enterScript(this.cgroups.procsFiles('exec')), 'sh', ...nsenter], {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      const timeoutMs = opts.timeoutMs ?? 120_000;
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* gone */
        }
      }, timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const stderr = Buffer.concat(err);
        if (signal === 'SIGKILL') {
          reject(new Error(`[${this.machine}] \`${argv.join(' ')}\` timed out after ${timeoutMs} ms\n${Buffer.concat(out)}${stderr}`));
          return;
        }
        resolve({ code: code ?? 128, stdout: Buffer.concat(out), stderr });
      });
      child.stdin.on('error', () => {
        /* command did not read its input */
      });
      child.stdin.end(opts.input ?? '');
    });
  }

  /**
   * Runs cmd every intervalMs until it exits 0 (returns its stdout) or timeoutMs passes (throws with
   * the last output). E.g. containerd's connection to a snapshotter that was just restarted.
   */
  async waitFor(cmd: string[] | string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<string> {
    const end = Date.now() + (opts.timeoutMs ?? 15_000);
    for (;;) {
      const r = await this.exec(cmd, { timeoutMs: opts.timeoutMs ?? 15_000 });
      if (r.code === 0) return r.stdout;
      if (Date.now() > end) {
        const shown = typeof cmd === 'string' ? cmd : cmd.join(' ');
        throw new Error(`[${this.machine}] \`${shown}\` still exits ${r.code} after ${opts.timeoutMs ?? 15_000} ms\n${r.stdout}${r.stderr}`);
      }
      await sleep(opts.intervalMs ?? 200);
    }
  }

  /** Writes a file in the node (parents created), atomically; mode defaults to 0644. */
  async writeFile(p: string, content: string | Buffer, mode = 0o644): Promise<void> {
    const script = 'set -e; d=$(dirname "$1"); mkdir -p "$d"; t=$(mktemp "$d/.harness.XXXXXX"); cat > "$t"; chmod "$2" "$t"; mv -f "$t" "$1"';
    await this.run(['/bin/sh', '-c', script, 'sh', p, mode.toString(8)], { input: content });
  }

  async readFile(p: string): Promise<string>;
  async readFile(p: string, encoding: null): Promise<Buffer>;
  async readFile(p: string, encoding: BufferEncoding | null = 'utf8'): Promise<string | Buffer> {
    const r = await this.execRaw(['cat', '--', p], {});
    if (r.code !== 0) throw new Error(`[${this.machine}] cannot read ${p}: ${r.stderr.toString().trim()}`);
    return encoding ? r.stdout.toString(encoding) : r.stdout;
  }

  async exists(p: string): Promise<boolean> {
    return (await this.exec(['test', '-e', p])).code === 0;
  }

  /** The node's journal (all boots), or one unit's; plain text with precise timestamps. */
  async journal(unit?: string, opts: { boot?: number | 'all'; lines?: number } = {}): Promise<string> {
    const args = ['journalctl', '--no-pager', '-q', '-o', 'short-precise'];
    if (unit) args.push('-u', unit);
    if (opts.boot !== undefined && opts.boot !== 'all') args.push('-b', String(opts.boot));
    if (opts.lines) args.push('-n', String(opts.lines));
    return this.run(args);
  }

  /** A unit's properties (systemctl show), e.g. ActiveState, InvocationID, ExecMainStartTimestampMonotonic. */
  async unit(name: string, ...props: string[]): Promise<Record<string, string>> {
    const args = ['systemctl', 'show', name, ...(props.length ? [`--property=${props.join(',')}`] : [])];
    const out = await this.run(args);
    return Object.fromEntries(
      out
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }

  /** Files changed in the node's root since creation (the overlay upper dir), node paths, sorted. */
  changedFiles(): { path: string; deleted: boolean }[] {
    const out: { path: string; deleted: boolean }[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, e.name);
        const nodePath = full.slice(this.upperDir.length);
        if (e.isCharacterDevice() && fs.statSync(full).rdev === 0) out.push({ path: nodePath, deleted: true });
        else if (e.isDirectory()) walk(full);
        else out.push({ path: nodePath, deleted: false });
      }
    };
    walk(this.upperDir);
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  // ------------------------------------------------------------------------------------------
  // what the node runs

  /**
   * The kubelet stand-in's latest check (it re-checks every 2 s), once it is at least as new as
   * `since` (ms since the epoch; default: any). It never restarts anything, so reading it touches nothing.
   */
  async kubeletStatus(opts: { since?: number; timeoutMs?: number } = {}): Promise<KubeletStatus> {
    const end = Date.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      const r = await this.exec(['cat', '/run/kubelet-standin/status.json']);
      if (r.code === 0) {
        const s = JSON.parse(r.stdout) as KubeletStatus;
        if (s.checkedAt >= (opts.since ?? 0)) return s;
      }
      if (Date.now() > end) throw new Error(`[${this.machine}] no kubelet stand-in status newer than ${opts.since ?? 0} after ${opts.timeoutMs ?? 30_000} ms`);
      await sleep(250);
    }
  }

  /** Whether a unit is active, as `systemctl is-active` says (active, inactive, failed, activating, ...). */
  async isActive(unit: string): Promise<string> {
    return (await this.exec(['systemctl', 'is-active', unit])).stdout.trim();
  }

  /**
   * Serves files over HTTP inside the node's network namespace (the node sees it at url; the host
   * does not). `files` maps URL paths (e.g. "v0.12.1/soci.tar.gz") to content or to host files.
   * Stopped on reboot and teardown (a reboot gives the node a new network namespace).
   */
  async serve(files: Record<string, string | Buffer | { hostFile: string }>, opts: { port?: number } = {}): Promise<HttpServer> {
    if (!this.pid1 || !this.running) throw new Error(`node ${this.machine} is not running`);
    const dir = fs.mkdtempSync(path.join(this.runDir, 'http', 'srv-'));
    for (const [urlPath, content] of Object.entries(files)) {
      const target = path.join(dir, path.normalize(urlPath).replace(/^(\.\.(\/|$))+/, ''));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (typeof content === 'object' && !Buffer.isBuffer(content)) fs.copyFileSync(content.hostFile, target);
      else fs.writeFileSync(target, content);
    }
    const script = path.join(REPO, 'test/standins/lib/http-server.mjs');
    const child = spawn(
      'sh',
      ['-c', enterScript(this.cgroups.procsFiles('exec')), 'sh', 'nsenter', '-t', String(this.pid1), '-n', '--', this.paths.node, script, dir, String(opts.port ?? 0)],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    const lines: string[] = [];
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const m = /^listening (\d+)$/.exec(line);
          if (m) resolve(Number(m[1]));
          else lines.push(line);
        }
      });
      child.once('exit', (code) => reject(new Error(`http server exited ${code}: ${stderr}`)));
      setTimeout(() => reject(new Error(`http server did not start: ${stderr}`)), 10_000).unref();
    });
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const server: HttpServer = {
      url: `http://127.0.0.1:${port}`,
      port,
      requests: () => [...lines],
      stop: async () => {
        this.servers.delete(server);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      },
    };
    this.servers.add(server);
    return server;
  }

  private async stopServers(): Promise<void> {
    await Promise.all([...this.servers].map((s) => s.stop()));
  }
}

/** Removes what killed test runs left behind: nodes whose owning process is gone. */
async function sweepStaleNodes(): Promise<void> {
  let entries: string[];
  try {
    entries = fs.readdirSync(RUN_DIR);
  } catch {
    return;
  }
  for (const name of entries) {
    const dir = path.join(RUN_DIR, name);
    let owner: { pid?: number; cgroup?: string; nspawn?: number } = {};
    try {
      owner = JSON.parse(fs.readFileSync(path.join(dir, 'owner.json'), 'utf8'));
    } catch {
      /* half-created */
    }
    if (owner.pid && pidAlive(owner.pid)) continue;
    // a node being created right now has no owner.json for a moment
    if (!owner.pid && Date.now() - fs.statSync(dir).mtimeMs < 60_000) continue;
    log(`sweeping stale node ${name} (owner ${owner.pid ?? '?'} is gone)`);
    if (owner.nspawn && pidAlive(owner.nspawn)) {
      try {
        if (fs.readFileSync(`/proc/${owner.nspawn}/comm`, 'utf8').trim() === 'systemd-nspawn') process.kill(owner.nspawn, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    const cg = new NodeCgroups(owner.cgroup ?? name);
    await cg.killAll();
    await cg.remove();
    await unmountAll(dir);
    if (!process.env.HARNESS_KEEP) removeTree(dir);
  }
}

let swept: Promise<void> | undefined;

/**
 * Creates and boots a fake EKS node, runs fn with it, and always tears it down (poweroff, kill what is
 * left, cgroups removed, overlay unmounted, run dir deleted), whether fn returns or throws. When fn
 * throws, the tail of the node's journal is printed to stderr first.
 */
export async function withNode<T>(options: NodeOptions, fn: (node: FakeNode) => Promise<T>): Promise<T> {
  const paths = await ensureHarness();
  swept ??= sweepStaleNodes();
  await swept;
  const node = new FakeNode(options, paths);
  let failed = false;
  try {
    await node.create();
    await node.boot();
    return await fn(node);
  } catch (err) {
    failed = true;
    if (node.running) {
      const tail = await node.journal(undefined, { lines: 80 }).catch((e: Error) => `(journal unavailable: ${e.message})`);
      const clipped = tail
        .split('\n')
        .map((l) => (l.length > 400 ? `${l.slice(0, 400)}...` : l))
        .join('\n');
      process.stderr.write(`[harness] node ${node.machine} failed; last journal lines:\n${clipped}\n`);
    }
    throw err;
  } finally {
    try {
      await node.destroy();
    } catch (err) {
      if (!failed) throw err;
      log(String(err));
    }
  }
}
