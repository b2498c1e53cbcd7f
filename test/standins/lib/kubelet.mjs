// kubelet TEST STAND-IN, run by the AMI's own kubelet.service (amazon-eks-ami templates/al2023/runtime/
// rootfs/etc/systemd/system/kubelet.service, started by nodeadm-run.service after containerd). Like a
// kubelet it keeps running and keeps trying (kubernetes pkg/kubelet/kubelet.go syncLoop: the node stays
// NotReady until the runtime is ready). Every few seconds it checks what a real kubelet plus containerd
// need before the node can become Ready:
//   - its configuration, read as kubelet reads it: the file named by --config, then the *.conf drop-ins of
//     --config-dir in lexical order, each merged over it (kubernetes cmd/kubelet/app/server.go,
//     mergeKubeletConfigurations; nodeadm puts NodeConfig kubelet.config there, amazon-eks-ami
//     nodeadm/internal/kubelet/config.go); when it sets imageServiceEndpoint, that socket accepts a connection;
//   - containerd answers, and the sandbox (pause) image named in containerd's CRI config is unpacked in
//     the snapshotter containerd's CRI config names (containerd 2.2.3+ otherwise keeps the node NotReady).
// Result: a journal line whenever the answer changes, and /run/kubelet-standin/status.json (with the
// time of the check) for tests. It never starts or restarts anything.
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import { parse as loadToml } from 'smol-toml';
import { deepMerge, plain, run, say, writeFileWithDir } from './common.mjs';

const TOOL = 'kubelet-standin';
const flag = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const KUBELET_CONFIG = flag('config') ?? '/etc/kubernetes/kubelet/config.json';
const KUBELET_CONFIG_DIR = flag('config-dir');
const STATUS = '/run/kubelet-standin/status.json';

class Failure extends Error {}

function ctr(...args) {
  const r = run('ctr', ['--namespace', 'k8s.io', ...args]);
  return r;
}

function criSettings() {
  const dump = run('containerd', ['config', 'dump']);
  if (dump.code !== 0) throw new Failure(`containerd config dump failed: ${dump.stderr.trim()}`);
  const cfg = plain(loadToml(dump.stdout));
  const plugins = cfg.plugins ?? {};
  if (Number(cfg.version) >= 3) {
    const images = plugins['io.containerd.cri.v1.images'] ?? {};
    return { snapshotter: images.snapshotter || 'overlayfs', sandboxImage: images.pinned_images?.sandbox ?? '' };
  }
  const cri = plugins['io.containerd.grpc.v1.cri'] ?? {};
  return { snapshotter: cri.containerd?.snapshotter || 'overlayfs', sandboxImage: cri.sandbox_image ?? '' };
}

function contentJson(digest) {
  const r = ctr('content', 'get', digest);
  if (r.code !== 0) throw new Failure(`content ${digest} is missing: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

/** The chain ID of an image's layers: what its unpacked top snapshot is named. */
function chainIdOf(image) {
  const ls = ctr('images', 'ls', `name==${image}`);
  if (ls.code !== 0) throw new Failure(`containerd does not answer: ${ls.stderr.trim()}`);
  const line = ls.stdout.split('\n').slice(1).find((l) => l.startsWith(`${image} `));
  if (!line) throw new Failure(`sandbox image ${image} is not in containerd (namespace k8s.io)`);
  let desc = contentJson(line.trim().split(/\s+/)[2]);
  if (desc.manifests) {
    const m = desc.manifests.find((d) => !d.platform || (d.platform.os === 'linux' && d.platform.architecture === 'amd64'));
    if (!m) throw new Failure(`sandbox image ${image} has no linux/amd64 manifest`);
    desc = contentJson(m.digest);
  }
  const diffIds = contentJson(desc.config.digest).rootfs.diff_ids;
  return diffIds.reduce((chain, id) => (chain ? `sha256:${crypto.createHash('sha256').update(`${chain} ${id}`).digest('hex')}` : id), '');
}

function socketAnswers(path) {
  return new Promise((resolve) => {
    const s = net.connect(path);
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 5000).unref();
  });
}

async function check(status) {
  let kubelet;
  try {
    kubelet = JSON.parse(fs.readFileSync(KUBELET_CONFIG, 'utf8'));
    if (KUBELET_CONFIG_DIR) {
      for (const f of fs.readdirSync(KUBELET_CONFIG_DIR).filter((n) => n.endsWith('.conf')).sort()) {
        kubelet = deepMerge(kubelet, JSON.parse(fs.readFileSync(`${KUBELET_CONFIG_DIR}/${f}`, 'utf8')));
      }
    }
  } catch (err) {
    throw new Failure(`cannot read ${KUBELET_CONFIG} (did nodeadm's config phase run?): ${err.message}`);
  }
  Object.assign(status, { imageServiceEndpoint: kubelet.imageServiceEndpoint ?? null, maxPods: kubelet.maxPods ?? null });
  if (kubelet.imageServiceEndpoint) {
    const sock = kubelet.imageServiceEndpoint.replace(/^unix:\/\//, '');
    if (!(await socketAnswers(sock))) throw new Failure(`imageServiceEndpoint ${kubelet.imageServiceEndpoint} does not answer`);
  }
  Object.assign(status, criSettings());
  if (!status.sandboxImage) throw new Failure('containerd has no sandbox image configured');
  status.chainId = chainIdOf(status.sandboxImage);
  const info = ctr('snapshots', '--snapshotter', status.snapshotter, 'info', status.chainId);
  if (info.code !== 0) {
    throw new Failure(`sandbox image ${status.sandboxImage} is not unpacked in snapshotter ${status.snapshotter} (snapshot ${status.chainId}): ${info.stderr.trim()}`);
  }
  return status;
}

const INTERVAL_MS = 2000;
let last = '';
for (;;) {
  const seen = {};
  let result;
  try {
    result = { ok: true, ...(await check(seen)) };
  } catch (err) {
    result = { ok: false, ...seen, reason: err instanceof Failure ? err.message : err.stack };
  }
  writeFileWithDir(STATUS, JSON.stringify({ ...result, checkedAt: Date.now() }, null, 2) + '\n');
  const line = result.ok
    ? `ready: sandbox image ${result.sandboxImage} is unpacked in snapshotter ${result.snapshotter}`
    : `NOT READY: ${result.reason}`;
  if (line !== last) say(TOOL, line);
  last = line;
  await new Promise((r) => setTimeout(r, INTERVAL_MS));
}
