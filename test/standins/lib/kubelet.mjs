// kubelet TEST STAND-IN (kubelet.service, a oneshot started by nodeadm-run.service after containerd).
// It checks what a real kubelet plus containerd need before the node can become Ready:
//   - /etc/kubernetes/kubelet/config.json exists (nodeadm wrote it); when it sets imageServiceEndpoint,
//     that socket accepts a connection;
//   - containerd answers, and the sandbox (pause) image named in containerd's CRI config is unpacked in
//     the snapshotter containerd's CRI config names (containerd 2.2.3+ otherwise keeps the node NotReady).
// Result: exit 0/1, a line in the journal, and /run/kubelet-standin/status.json for tests.
import fs from 'node:fs';
import net from 'node:net';
import crypto from 'node:crypto';
import { parse as loadToml } from 'smol-toml';
import { plain, run, say, writeFileWithDir } from './common.mjs';

const TOOL = 'kubelet-standin';
const KUBELET_CONFIG = '/etc/kubernetes/kubelet/config.json';
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

async function check() {
  let kubelet;
  try {
    kubelet = JSON.parse(fs.readFileSync(KUBELET_CONFIG, 'utf8'));
  } catch (err) {
    throw new Failure(`cannot read ${KUBELET_CONFIG} (did nodeadm's config phase run?): ${err.message}`);
  }
  const status = { imageServiceEndpoint: kubelet.imageServiceEndpoint ?? null };
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

try {
  const status = await check();
  writeFileWithDir(STATUS, JSON.stringify({ ok: true, ...status }, null, 2) + '\n');
  say(TOOL, `ready: sandbox image ${status.sandboxImage} is unpacked in snapshotter ${status.snapshotter}`);
} catch (err) {
  const reason = err instanceof Failure ? err.message : err.stack;
  writeFileWithDir(STATUS, JSON.stringify({ ok: false, reason }, null, 2) + '\n');
  process.stderr.write(`${TOOL}: NOT READY: ${reason}\n`);
  process.exit(1);
}
