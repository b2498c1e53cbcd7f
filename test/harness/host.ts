// Host-side plumbing of the node harness: cgroups, mounts, processes. Everything here acts only on
// what the harness itself created (paths under .cache/harness/run/, cgroups under soci-harness/).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const CGROUP_PARENT = 'soci-harness';

interface MountInfo {
  mountPoint: string;
  fsType: string;
  superOptions: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function mounts(): MountInfo[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right = ''] = line.split(' - ');
      const f = left!.split(' ');
      const r = right.split(' ');
      return { mountPoint: unescapeMount(f[4]!), fsType: r[0]!, superOptions: r[2] ?? '' };
    });
}

/** Mount points at or below dir, deepest first. */
export function mountsUnder(dir: string): string[] {
  // mountinfo names mount points by their real path, and .cache may be a symlink (a git worktree's).
  if (fs.existsSync(dir)) dir = fs.realpathSync(dir);
  return mounts()
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** The cgroup hierarchies a node's processes are kept in: the v2 one, and v1 name=systemd if mounted. */
export function cgroupRoots(): string[] {
  const ms = mounts();
  const roots = ms.filter((m) => m.fsType === 'cgroup2').map((m) => m.mountPoint);
  roots.push(...ms.filter((m) => m.fsType === 'cgroup' && /(^|,)name=systemd(,|$)/.test(m.superOptions)).map((m) => m.mountPoint));
  if (!roots.some((r) => ms.find((m) => m.mountPoint === r)?.fsType === 'cgroup2')) {
    throw new Error('no cgroup2 hierarchy is mounted on this host: systemd-nspawn cannot give the node cgroup v2');
  }
  return [...new Set(roots)];
}

export function run(cmd: string, args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

export function mustRun(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (cond()) return true;
    if (Date.now() > end) return false;
    await sleep(stepMs);
  }
}

/** All processes in a cgroup subtree. */
function cgroupPids(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    try {
      pids.push(
        ...fs
          .readFileSync(path.join(d, 'cgroup.procs'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map(Number),
      );
    } catch {
      /* gone meanwhile */
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(d, e.name));
  };
  walk(dir);
  return pids;
}

/** A node's cgroup in every hierarchy: <root>/soci-harness/<id>/{nspawn,exec}. */
export class NodeCgroups {
  readonly dirs: string[];

  constructor(readonly id: string) {
    this.dirs = cgroupRoots().map((r) => path.join(r, CGROUP_PARENT, id));
  }

  create(): void {
    for (const d of this.dirs) {
      for (const sub of ['nspawn', 'exec']) {
        // another node's teardown may remove the shared soci-harness/ parent in between: retry
        for (let i = 0; ; i++) {
          try {
            fs.mkdirSync(path.join(d, sub), { recursive: true });
            break;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || i >= 20) throw err;
          }
        }
      }
    }
  }

  /** cgroup.procs files a process writes its pid to before it execs (see `enterScript`). */
  procsFiles(sub: 'nspawn' | 'exec'): string[] {
    return this.dirs.map((d) => path.join(d, sub, 'cgroup.procs'));
  }

  pids(): number[] {
    return [...new Set(this.dirs.flatMap((d) => cgroupPids(d)))];
  }

  /** Kills every process left in the node's cgroups (they are all the node's). */
  async killAll(timeoutMs = 10_000): Promise<void> {
    for (const d of this.dirs) {
      const killFile = path.join(d, 'cgroup.kill');
      if (fs.existsSync(killFile)) fs.writeFileSync(killFile, '1');
    }
    for (const pid of this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (!(await waitFor(() => this.pids().length === 0, timeoutMs))) {
      throw new Error(`processes left in cgroup ${this.id}: ${this.pids().join(' ')}`);
    }
  }

  /** Removes the node's cgroups depth-first (and soci-harness/ when it is empty). */
  async remove(): Promise<void> {
    for (const d of this.dirs) {
      const rmTree = (dir: string) => {
        if (!fs.existsSync(dir)) return;
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) rmTree(path.join(dir, e.name));
        // rmdir of an emptied cgroup can fail with EBUSY for a moment
        for (let i = 0; ; i++) {
          try {
            fs.rmdirSync(dir);
            return;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
            if (i >= 100) throw err;
            spawnSync('sleep', ['0.05']);
          }
        }
      };
      rmTree(d);
      try {
        fs.rmdirSync(path.dirname(d));
      } catch {
        /* other nodes still there */
      }
    }
  }

  exists(): boolean {
    return this.dirs.some((d) => fs.existsSync(d));
  }
}

/** A shell prefix that moves the shell into the given cgroups, then execs "$@". */
export function enterScript(procsFiles: string[]): string {
  return `for f in ${procsFiles.map((f) => `'${f}'`).join(' ')}; do echo $$ > "$f" || exit 125; done; exec "$@"`;
}

export async function unmountAll(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const ms = mountsUnder(dir);
    if (ms.length === 0) return;
    for (const m of ms) {
      const r = run('umount', attempt < 20 ? [m] : ['-l', m]);
      if (r.code !== 0 && attempt >= 25) throw new Error(`cannot unmount ${m}: ${r.stderr.trim()}`);
    }
    await sleep(50);
  }
}

/** rm -rf that refuses to run while anything below dir is mounted, and never crosses filesystems. */
export function removeTree(dir: string): void {
  if (mountsUnder(dir).length) throw new Error(`refusing to remove ${dir}: mounts below it: ${mountsUnder(dir).join(' ')}`);
  mustRun('rm', ['-rf', '--one-file-system', dir]);
}

export function spawnDetached(cmd: string, args: string[], env: NodeJS.ProcessEnv, logFile: string) {
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd], detached: true });
  fs.closeSync(fd);
  return child;
}
