/**
 * A scratch root that looks enough like an EKS AL2023 image build for install.sh --bake, with no
 * booted systemd (as on a Packer builder seen from a chroot, `systemctl enable` works offline).
 *
 * API:
 *   makeScratchRoot(opts): ScratchRoot
 *     opts.containerdVersion: e.g. "2.1.4", "1.7.27"; /etc/eks/containerd-version.txt gets the AMI's whole line with it
 *     opts.amiSociVersion: the AMI's /usr/bin/soci-snapshotter-grpc reports this: "0.15.0" is the real soci
 *                         v0.15.0 (upstreamBin), any other version a STAND-IN script that only prints it
 *     opts.ecrHelper: put a STAND-IN /usr/bin/docker-credential-ecr-login (as the AL2023 package would)
 *     opts.realContainerd: /usr/bin/containerd is the real containerd 2.2.4 (upstreamBin), as on the AMI
 *       (without it, the host's, if any)
 *     opts.nodeadmRunUnit: /etc/systemd/system/nodeadm-run.service (default: the AMI's own, from
 *       test/fixtures/ami/systemd/, which reads the /etc/eks/nodeadm.d/ drop-ins)
 *     Every root has a STAND-IN kubelet ECR credential provider at
 *       /etc/eks/image-credential-provider/ecr-credential-provider (the AMI ships the real one).
 *     Builds in a temp dir S:
 *       S/root        the chroot: bin, sbin, lib, lib64 -> usr/...; etc (passwd, group, machine-id,
 *                     SSH host keys, the AMI's soci units as STAND-INs, /etc/eks), var (cloud-init state,
 *                     logs, journal), root/.ssh and home/ec2-user/.ssh authorized_keys, empty run (so
 *                     the script sees no booted systemd), tmp
 *       S/usr-upper   upper layer of an overlay over the host's /usr (the stand-in binaries live here)
 *   ScratchRoot.run(script, args): Promise<RunResult>
 *     `unshare --mount --fork` a shell that mounts the /usr overlay, binds /dev and /proc, and runs
 *     `chroot S/root /bin/bash /tmp/install.sh ARGS` with a clean environment. Mounts end with it.
 *   ScratchRoot.snapshot(): string
 *     every path under S/root (but proc, dev, usr, tmp) and S/usr-upper with type, mode, size,
 *     sha256 and link target, one per line, sorted: equal snapshots mean nothing changed.
 *   ScratchRoot.path(p): S/root + p (for p under /usr/: S/usr-upper, where the script's writes to /usr land)
 *   ScratchRoot.remove()
 * Needs root, unshare (util-linux), chroot and overlayfs; a missing tool is an error, never a skip.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireOnPath, run, type RunResult } from './exec.js';
import { upstreamBin } from './upstream.js';

export interface ScratchRootOptions {
  containerdVersion: string;
  amiSociVersion: string;
  ecrHelper: boolean;
  nodeadmRunUnit?: string;
  realContainerd?: boolean;
}

const AMI_NODEADM_RUN = fileURLToPath(new URL('../fixtures/ami/systemd/nodeadm-run.service', import.meta.url));

export interface ScratchRoot {
  dir: string;
  path(p: string): string;
  run(script: string, args: string[]): Promise<RunResult>;
  snapshot(): string;
  remove(): void;
}

// STAND-INs written for these tests, shaped like the AMI's units (section 1 of soci-on-eks.md).
const AMI_SOCI_SERVICE = `# STAND-IN for the EKS AMI's soci-snapshotter.service
[Unit]
Description=soci snapshotter containerd plugin (test stand-in)
Requires=soci-snapshotter.socket
After=soci-snapshotter.socket

[Service]
Type=notify
ExecStart=/usr/bin/soci-snapshotter-grpc --address fd://
Restart=no

[Install]
WantedBy=multi-user.target
`;
const AMI_SOCI_SOCKET = `# STAND-IN for the EKS AMI's soci-snapshotter.socket
[Unit]
Description=soci snapshotter socket (test stand-in)

[Socket]
ListenStream=/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock
SocketMode=0660

[Install]
WantedBy=sockets.target
`;

function write(file: string, content: string, mode = 0o644) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content);
  chmodSync(file, mode);
}

export function makeScratchRoot(opts: ScratchRootOptions): ScratchRoot {
  for (const tool of ['unshare', 'chroot', 'mount', 'systemctl']) requireOnPath(tool);
  if (process.getuid?.() !== 0) throw new Error('the bake test needs root (mount namespaces, chroot): run the suite as root');
  // Resolved first: a missing upstream binary fails before anything is created.
  const realSoci = opts.amiSociVersion === '0.15.0' ? upstreamBin('soci-snapshotter-grpc') : undefined;
  const realContainerd = opts.realContainerd ? upstreamBin('containerd-v2.2.4') : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'soci-bake-'));
  const root = join(dir, 'root');
  const upper = join(dir, 'usr-upper');
  for (const d of ['usr', 'proc', 'dev', 'run', 'tmp', 'etc/systemd/system', 'var/lib', 'var/tmp']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  for (const l of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${l}`, join(root, l));
  mkdirSync(join(dir, 'usr-work'));
  for (const f of ['passwd', 'group']) copyFileSync(`/etc/${f}`, join(root, 'etc', f));
  write(join(root, 'etc/machine-id'), '0123456789abcdef0123456789abcdef\n', 0o444);
  write(join(root, 'etc/ssh/ssh_host_ed25519_key'), 'PRIVATE KEY OF THE BUILDER\n', 0o600);
  write(join(root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'ssh-ed25519 AAAA builder\n');
  write(join(root, 'etc/ssh/sshd_config'), '# kept\n');
  // the AMI's shape: containerd's whole --version line (test/fixtures/ami/containerd-version/)
  const pkg = `github.com/containerd/containerd${opts.containerdVersion.startsWith('1.') ? '' : '/v2'}`;
  write(join(root, 'etc/eks/containerd-version.txt'), `containerd ${pkg} ${opts.containerdVersion} 75cb2b7193e4e490e9fbdc236c0e811ccaba3376\n`);
  write(join(root, 'etc/systemd/system/soci-snapshotter.service'), AMI_SOCI_SERVICE);
  write(join(root, 'etc/systemd/system/soci-snapshotter.socket'), AMI_SOCI_SOCKET);
  write(join(root, 'etc/systemd/system/nodeadm-run.service'), opts.nodeadmRunUnit ?? readFileSync(AMI_NODEADM_RUN, 'utf8'));
  write(
    join(root, 'etc/eks/image-credential-provider/ecr-credential-provider'),
    '#!/bin/sh\n# STAND-IN for the AMI\'s kubelet ECR credential provider (never called by the install)\nexit 1\n',
    0o755,
  );
  write(join(root, 'var/lib/cloud/instances/i-0123456789abcdef0/boot-finished'), 'done\n');
  symlinkSync('/var/lib/cloud/instances/i-0123456789abcdef0', join(root, 'var/lib/cloud/instance'));
  write(join(root, 'var/lib/cloud/data/instance-id'), 'i-0123456789abcdef0\n');
  write(join(root, 'var/lib/cloud/sem/config_scripts_per_once.once'), '\n');
  write(join(root, 'var/lib/cloud/scripts/per-boot/keep.sh'), '#!/bin/sh\n', 0o755);
  for (const log of ['cloud-init.log', 'cloud-init-output.log', 'messages', 'secure', 'wtmp', 'audit/audit.log', 'journal/0123/system.journal', 'dnf.log']) {
    write(join(root, 'var/log', log), 'builder log\n');
  }
  write(join(root, 'root/.ssh/authorized_keys'), 'ssh-rsa AAAA packer\n', 0o600);
  write(join(root, 'home/ec2-user/.ssh/authorized_keys'), 'ssh-rsa AAAA packer\n', 0o600);
  // The AMI's soci and (when the auth needs it) the credential helper, in the /usr overlay.
  // 0.15.0: the real soci (install.sh --bake starts it once); other versions: a STAND-IN that only
  // reports its version (for the refusals before any start).
  if (realSoci) {
    mkdirSync(join(upper, 'bin'), { recursive: true });
    copyFileSync(realSoci, join(upper, 'bin/soci-snapshotter-grpc'));
    chmodSync(join(upper, 'bin/soci-snapshotter-grpc'), 0o755);
  } else {
    write(join(upper, 'bin/soci-snapshotter-grpc'), `#!/bin/sh\n# STAND-IN for the AMI's soci-snapshotter-grpc\necho "soci-snapshotter-grpc version v${opts.amiSociVersion} 0123abcd"\n`, 0o755);
  }
  if (realContainerd) {
    mkdirSync(join(upper, 'bin'), { recursive: true });
    copyFileSync(realContainerd, join(upper, 'bin/containerd'));
    chmodSync(join(upper, 'bin/containerd'), 0o755);
  }
  if (opts.ecrHelper) write(join(upper, 'bin/docker-credential-ecr-login'), '#!/bin/sh\n# STAND-IN for the AL2023 package amazon-ecr-credential-helper\nexit 0\n', 0o755);

  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return {
    dir,
    // /usr is an overlay mounted only while the script runs: what it wrote there is in the upper layer.
    path: (p) => (p.startsWith('/usr/') ? join(upper, p.slice('/usr/'.length)) : join(root, p)),
    async run(script, args) {
      write(join(root, 'tmp/install.sh'), script, 0o755);
      const setup = [
        'set -e',
        `mount -t overlay overlay -o lowerdir=/usr,upperdir=${q(upper)},workdir=${q(join(dir, 'usr-work'))} ${q(join(root, 'usr'))}`,
        `mount --rbind /dev ${q(join(root, 'dev'))}`,
        `mount --rbind /proc ${q(join(root, 'proc'))}`,
        `exec chroot ${q(root)} /usr/bin/env -i PATH=/usr/sbin:/usr/bin HOME=/root /bin/bash /tmp/install.sh ${args.map(q).join(' ')}`,
      ].join('\n');
      try {
        return await run('unshare', ['--mount', '--propagation', 'private', '--fork', 'bash', '-c', setup], { timeoutMs: 60_000 });
      } finally {
        rmSync(join(root, 'tmp/install.sh'), { force: true });
      }
    },
    snapshot() {
      const lines: string[] = [];
      const walk = (base: string, rel: string, skip: string[]) => {
        for (const name of readdirSync(join(base, rel)).sort()) {
          const r = rel ? `${rel}/${name}` : name;
          if (skip.includes(r)) continue;
          const full = join(base, r);
          const st = lstatSync(full);
          const mode = (st.mode & 0o7777).toString(8);
          if (st.isSymbolicLink()) lines.push(`${base === root ? '' : 'usr-upper:'}/${r} link ${readlinkSync(full)}`);
          else if (st.isDirectory()) {
            lines.push(`${base === root ? '' : 'usr-upper:'}/${r} dir ${mode}`);
            walk(base, r, skip);
          } else lines.push(`${base === root ? '' : 'usr-upper:'}/${r} file ${mode} ${st.size} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`);
        }
      };
      walk(root, '', ['proc', 'dev', 'usr', 'tmp']);
      if (existsSync(upper)) walk(upper, '', []);
      return lines.join('\n');
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
