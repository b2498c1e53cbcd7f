/**
 * `systemd-analyze verify` against a throwaway root that looks enough like an EKS node for unit checks.
 *
 * API:
 *   systemdVerify(files, units, opts?): Promise<{ code: number; stderr: string; stdout: string; root: string }>
 *     files: Record<absolute node path, content>, e.g. { '/etc/systemd/system/soci-snapshotter.service': '...' }
 *     units: unit names ('soci-snapshotter.service') or absolute node paths of unit files to verify.
 *     Builds a temp root R with
 *       - a copy of the host's /usr/lib/systemd/system,
 *       - the STAND-IN units below in /usr/lib/systemd/system (replacing whatever the host has under
 *         those names, so results do not depend on the host's packages),
 *       - the given files (drop-ins included),
 *       - a stub executable (`#!/bin/sh\nexit 0`) at every ExecStart*, ExecStop*, ExecReload and
 *         ExecCondition path named in any unit in R that is not already a file there
 *         (opts.stubGivenUnits = false: no stubs for paths named only in the given files, so a unit
 *         whose script is not among `files` fails verification),
 *     then runs `systemd-analyze verify --man=no --root=R <units>`.
 *     Tests must require code 0 AND an empty stderr: most problems (unknown directives, bad values) are
 *     warnings with exit code 0. R is removed afterwards unless opts.keepRoot.
 *   STANDIN_UNITS: Record<unit name, content>
 *     kubelet.service, nodeadm-config.service, nodeadm-run.service, runtime.slice: the AMI's own
 *     (test/fixtures/ami/systemd/); cloud-init.service, cloud-final.service: the test node's (Debian's
 *     cloud-init, rendered as for AL2023: Debian's own order cycles with nodeadm-config); containerd.service: a STAND-IN approximating the containerd package's unit (the AMI
 *     takes it from the RPM, which is not among the fixtures).
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { REPO_ROOT, requireOnPath, run, SETUP_HINT } from './exec.js';

const HOST_UNIT_DIR = '/usr/lib/systemd/system';

export const STANDIN_UNITS: Record<string, string> = {
  'containerd.service': `# STAND-IN for tests (approximates an AL2023 EKS node's containerd.service)
[Unit]
Description=containerd container runtime (test stand-in)
After=network.target local-fs.target

[Service]
Type=notify
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/bin/containerd
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNOFILE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`,
  // The AMI's own units, byte for byte (test/fixtures/ami/, amazon-eks-ami 81fec2e8), and cloud-init's
  // units as the test node runs them (Debian's cloud-init 22.4.2, rendered as for AL2023).
  ...Object.fromEntries(
    ['kubelet.service', 'nodeadm-config.service', 'nodeadm-run.service', 'runtime.slice'].map((u) => [u, readFileSync(join(REPO_ROOT, 'test/fixtures/ami/systemd', u), 'utf8')]),
  ),
  ...Object.fromEntries(
    ['cloud-init.service', 'cloud-final.service'].map((u) => [u, readFileSync(join(REPO_ROOT, 'test/harness/rootfs/etc/systemd/system', u), 'utf8')]),
  ),
};

export interface SystemdVerifyResult {
  code: number;
  stdout: string;
  stderr: string;
  /** the temp root (already removed unless keepRoot) */
  root: string;
}

export interface SystemdVerifyOptions {
  keepRoot?: boolean;
  /** stub executables named only by the given files' units too (default true) */
  stubGivenUnits?: boolean;
}

const EXEC_KEY = /^\s*(ExecStart|ExecStartPre|ExecStartPost|ExecStop|ExecStopPost|ExecReload|ExecCondition)\s*=\s*(.*)$/;

/** Executable paths named by Exec*= lines of a unit file (prefixes -@:+! removed; bare names -> /usr/bin). */
export function execPathsOf(unitText: string): string[] {
  const out: string[] = [];
  // join continuation lines first
  const text = unitText.replace(/\\\r?\n/g, ' ');
  for (const line of text.split(/\r?\n/)) {
    const m = EXEC_KEY.exec(line);
    if (!m) continue;
    const value = m[2]!.trim();
    if (!value) continue;
    // several commands may be separated by " ; " (Type=oneshot); take each command's first word
    for (const cmd of value.split(/\s+;\s+/)) {
      const first = cmd.trim().split(/\s+/)[0] ?? '';
      const path = first.replace(/^[-@:+!|]+/, '');
      if (!path || path.includes('%') || path.includes('$')) continue;
      out.push(isAbsolute(path) ? path : `/usr/bin/${path}`);
    }
  }
  return out;
}

function walkFiles(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) walkFiles(p, out);
    else if (ent.isFile()) out.push(p);
  }
  return out;
}

function writeStub(root: string, path: string): void {
  const target = join(root, path);
  try {
    lstatSync(target);
    return; // already there (a given file, or a host symlink): leave it
  } catch {
    /* missing: stub it */
  }
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, '#!/bin/sh\nexit 0\n');
  chmodSync(target, 0o755);
}

export async function systemdVerify(
  files: Record<string, string>,
  units: string[],
  opts: SystemdVerifyOptions = {},
): Promise<SystemdVerifyResult> {
  const analyze = requireOnPath('systemd-analyze', 'systemd-analyze (package systemd)');
  if (!existsSync(HOST_UNIT_DIR)) throw new Error(`${HOST_UNIT_DIR} not found: ${SETUP_HINT}`);
  const root = mkdtempSync(join(tmpdir(), 'sd-verify-'));
  try {
    for (const d of ['usr/lib/systemd', 'usr/bin', 'usr/sbin', 'etc/systemd/system', 'run/systemd/system', 'var/lib']) {
      mkdirSync(join(root, d), { recursive: true });
    }
    // merged /usr, like AL2023 and Debian 12: host unit symlinks such as /lib/systemd/... must resolve in R
    for (const l of ['lib', 'bin', 'sbin', 'lib64']) symlinkSync(`usr/${l}`, join(root, l));
    mkdirSync(join(root, 'usr/lib64'), { recursive: true });
    cpSync(HOST_UNIT_DIR, join(root, HOST_UNIT_DIR), { recursive: true, verbatimSymlinks: true });
    for (const [name, text] of Object.entries(STANDIN_UNITS)) {
      const p = join(root, HOST_UNIT_DIR, name);
      rmSync(p, { force: true });
      writeFileSync(p, text);
    }

    const stubs = new Set<string>();
    for (const f of walkFiles(join(root, 'usr/lib/systemd/system'))) {
      for (const p of execPathsOf(readFileSync(f, 'utf8'))) stubs.add(p);
    }
    for (const [path, content] of Object.entries(files)) {
      if (!isAbsolute(path)) throw new Error(`systemdVerify: file paths must be absolute node paths, got ${path}`);
      const target = join(root, path);
      mkdirSync(dirname(target), { recursive: true });
      rmSync(target, { force: true });
      writeFileSync(target, content);
      if (content.startsWith('#!')) chmodSync(target, 0o755);
      if (opts.stubGivenUnits !== false) for (const p of execPathsOf(content)) stubs.add(p);
    }
    for (const p of stubs) writeStub(root, p);

    const args = ['verify', '--man=no', `--root=${root}`, ...units.map((u) => (isAbsolute(u) ? join(root, u) : u))];
    const r = await run(analyze, args, { cwd: root, timeoutMs: 30_000, env: { ...process.env, SYSTEMD_LOG_COLOR: '0', SYSTEMD_PAGER: '' } });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr, root };
  } finally {
    if (!opts.keepRoot) rmSync(root, { recursive: true, force: true });
  }
}
