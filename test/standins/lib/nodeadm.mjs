// nodeadm TEST STAND-IN: what nodeadm does with the files our installer writes, and nothing more.
//
//   nodeadm-standin init --skip run      config phase (nodeadm-config.service): NodeConfigs from the user
//                                        data only (drop-ins are not read in this phase)
//   nodeadm-standin init --skip config   run phase (nodeadm-run.service): user data plus, when a
//                                        --config-source names it (AMIs from v20251023),
//                                        /etc/eks/nodeadm.d/*.yaml|yml|json (sorted, later wins), config
//                                        again, then starts containerd, then kubelet
//
// Config = /etc/containerd/config.toml: nodeadm's own base config for the node's containerd (1.x:
// version 2, 2.x: version 3; /usr/share/nodeadm-standin/), merged key by key with each NodeConfig's
// spec.containerd.config TOML. On containerd 2.x a user config without v3 keys
// (io.containerd.cri.v1.images / io.containerd.cri.v1.runtime) is merged over the v2 base and then
// converted with `containerd config migrate`; v3 keys on a containerd 1.x node are an error. Also
// writes /etc/containerd/base-runtime-spec.json (spec.containerd.baseRuntimeSpec over the default) and
// /etc/kubernetes/kubelet/config.json (spec.kubelet.config, e.g. imageServiceEndpoint, over a minimal
// KubeletConfiguration) and /etc/eks/kubelet/environment (spec.kubelet.flags).
//
// Not done here (say so in a test that needs it): the FastImagePull feature gate's own SOCI wiring,
// instance-size checks, cluster/IMDS lookups, the cluster block being required, local storage.
import fs from 'node:fs';
import path from 'node:path';
import { parse as loadToml, stringify as dumpToml } from 'smol-toml';
import YAML from 'yaml';
import { deepMerge, plain, readIfExists, readUserDataParts, run, say, writeFileWithDir } from './common.mjs';

const TOOL = 'nodeadm-standin';
const SHARE = '/usr/share/nodeadm-standin';
const DROP_IN_DIR = '/etc/eks/nodeadm.d';
const CONTAINERD_CONFIG = '/etc/containerd/config.toml';
const BASE_RUNTIME_SPEC = '/etc/containerd/base-runtime-spec.json';
const KUBELET_CONFIG = '/etc/kubernetes/kubelet/config.json';
const KUBELET_ENV = '/etc/eks/kubelet/environment';
const SANDBOX_IMAGE = 'localhost/kubernetes/pause:latest';
const PAUSE_TAR = '/etc/eks/pause.tar';

class NodeadmError extends Error {}

function parseNodeConfigs(text, source) {
  const docs = YAML.parseAllDocuments(text);
  const out = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new NodeadmError(`${source}: ${doc.errors[0].message}`);
    const obj = doc.toJS();
    if (obj == null) continue;
    if (obj.apiVersion !== 'node.eks.aws/v1alpha1' || obj.kind !== 'NodeConfig') {
      throw new NodeadmError(`${source}: not a node.eks.aws/v1alpha1 NodeConfig (apiVersion=${obj.apiVersion}, kind=${obj.kind})`);
    }
    out.push({ source, spec: obj.spec ?? {} });
  }
  return out;
}

function userDataConfigs() {
  return readUserDataParts()
    .filter((p) => p.contentType === 'application/node.eks.aws')
    .flatMap((p, i) => parseNodeConfigs(p.body.toString('utf8'), `user data part ${i + 1}`));
}

function dropInConfigs() {
  let names;
  try {
    names = fs.readdirSync(DROP_IN_DIR);
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  return names
    .filter((n) => /\.(ya?ml|json)$/.test(n))
    .sort()
    .flatMap((n) => parseNodeConfigs(fs.readFileSync(path.join(DROP_IN_DIR, n), 'utf8'), path.join(DROP_IN_DIR, n)));
}

/** nodeadm's merge rules: later wins; containerd TOML key by key; kubelet flags appended. */
function mergeSpecs(configs) {
  const merged = { spec: {}, containerdTomls: [], kubeletFlags: [] };
  for (const { source, spec } of configs) {
    const { containerd = {}, kubelet = {}, ...rest } = spec;
    const { config: tomlText, ...containerdRest } = containerd;
    const { flags = [], ...kubeletRest } = kubelet;
    if (tomlText) {
      let parsed;
      try {
        parsed = plain(loadToml(tomlText));
      } catch (err) {
        throw new NodeadmError(`${source}: spec.containerd.config is not valid TOML: ${err.message}`);
      }
      if ('version' in parsed) say(TOOL, `warning: ${source} sets 'version' in containerd.config`);
      merged.containerdTomls.push({ source, text: tomlText, parsed });
    }
    merged.kubeletFlags.push(...flags);
    merged.spec = deepMerge(merged.spec, { ...rest, containerd: containerdRest, kubelet: kubeletRest });
  }
  return merged;
}

function containerdMajor() {
  const text = readIfExists('/etc/eks/containerd-version.txt')?.toString().trim();
  if (!text) throw new NodeadmError('/etc/eks/containerd-version.txt is missing');
  const m = /(\d+)\.(\d+)/.exec(text);
  if (!m) throw new NodeadmError(`cannot read a containerd version from /etc/eks/containerd-version.txt: ${text}`);
  return Number(m[1]);
}

const V3_MARKERS = /io\.containerd\.cri\.v1\.(images|runtime)/;

function renderContainerdConfig(merged) {
  const major = containerdMajor();
  const userHasV3 = merged.containerdTomls.some((t) => V3_MARKERS.test(t.text));
  const user = merged.containerdTomls.reduce((acc, t) => deepMerge(acc, t.parsed), {});
  if (major < 2) {
    if (userHasV3) throw new NodeadmError('containerd.config uses config version 3 keys, but this node runs containerd 1.x');
    return { text: dumpToml(deepMerge(loadBase('v2'), user)), version: 2, migrated: false };
  }
  if (userHasV3 || merged.containerdTomls.length === 0) {
    return { text: dumpToml(deepMerge(loadBase('v3'), user)), version: 3, migrated: false };
  }
  // a v2 user config on containerd 2.x: render the v2 template, then let containerd migrate it
  const tmp = `/run/nodeadm-standin/config-v2-${process.pid}.toml`;
  writeFileWithDir(tmp, dumpToml(deepMerge(loadBase('v2'), user)));
  const r = run('/usr/bin/containerd', ['--config', tmp, 'config', 'migrate']);
  fs.rmSync(tmp, { force: true });
  if (r.code !== 0) throw new NodeadmError(`containerd config migrate failed: ${r.stderr.trim()}`);
  return { text: r.stdout, version: 3, migrated: true };
}

function loadBase(v) {
  return plain(loadToml(fs.readFileSync(path.join(SHARE, `containerd-config-${v}.toml`), 'utf8')));
}

function writeIfChanged(file, content, mode = 0o644) {
  const old = readIfExists(file);
  if (old && old.equals(Buffer.from(content))) return false;
  writeFileWithDir(file, content, mode);
  return true;
}

function configure(configs, phase) {
  const merged = mergeSpecs(configs);
  const containerd = renderContainerdConfig(merged);
  const changed = [];
  if (writeIfChanged(CONTAINERD_CONFIG, containerd.text)) changed.push(CONTAINERD_CONFIG);

  const spec = JSON.parse(fs.readFileSync(path.join(SHARE, 'base-runtime-spec.json'), 'utf8'));
  const runtimeSpec = deepMerge(spec, merged.spec.containerd?.baseRuntimeSpec ?? {});
  if (writeIfChanged(BASE_RUNTIME_SPEC, JSON.stringify(runtimeSpec, null, 2) + '\n')) changed.push(BASE_RUNTIME_SPEC);

  const kubelet = deepMerge(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      containerRuntimeEndpoint: 'unix:///run/containerd/containerd.sock',
    },
    merged.spec.kubelet?.config ?? {},
  );
  if (writeIfChanged(KUBELET_CONFIG, JSON.stringify(kubelet, null, 2) + '\n')) changed.push(KUBELET_CONFIG);
  const env = `NODEADM_KUBELET_ARGS="${merged.kubeletFlags.join(' ')}"\n`;
  if (writeIfChanged(KUBELET_ENV, env)) changed.push(KUBELET_ENV);

  const summary = {
    phase,
    sources: configs.map((c) => c.source),
    containerdConfigVersion: containerd.version,
    migrated: containerd.migrated,
    sandboxImage: SANDBOX_IMAGE,
    changed,
    featureGates: merged.spec.featureGates ?? {},
  };
  writeFileWithDir(`/run/nodeadm-standin/${phase}.json`, JSON.stringify(summary, null, 2) + '\n');
  say(TOOL, `${phase}: ${configs.length} NodeConfig(s) [${summary.sources.join(', ')}] -> containerd config version ${containerd.version}${containerd.migrated ? ' (migrated from v2)' : ''}; changed: ${changed.join(' ') || 'nothing'}`);
  if (Object.keys(summary.featureGates).length) say(TOOL, `feature gates ignored by the stand-in: ${JSON.stringify(summary.featureGates)}`);
}

function systemctl(...args) {
  const r = run('systemctl', args);
  say(TOOL, `systemctl ${args.join(' ')} -> ${r.code}${r.stderr.trim() ? `: ${r.stderr.trim()}` : ''}`);
  return r.code;
}

/** The AMI build leaves the pause image in containerd (overlayfs); this node starts empty, so cache it now. */
function amiPauseCache() {
  const ls = run('ctr', ['-n', 'k8s.io', 'images', 'ls', '-q', `name==${SANDBOX_IMAGE}`]);
  if (ls.code === 0 && ls.stdout.trim()) return;
  const r = run('ctr', ['-n', 'k8s.io', 'images', 'import', '--local', '--snapshotter', 'overlayfs', PAUSE_TAR]);
  say(TOOL, `AMI build stand-in: cached ${SANDBOX_IMAGE} from ${PAUSE_TAR} (overlayfs) -> ${r.code}${r.code ? `: ${r.stderr.trim()}` : ''}`);
}

// Flags as the real nodeadm takes them: init --skip run|config, and repeatable --config-source
// (imds://user-data, file:///etc/eks/nodeadm.d/). Without --config-source the config phase reads the
// user data only, as nodeadm-config.service does; soci-installer's live mode names both sources.
function parseArgs(argv) {
  const out = { skip: undefined, sources: [] };
  if (argv[0] !== 'init') return out;
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--skip') out.skip = argv[++i];
    else if (a === '--config-source') out.sources.push(argv[++i]);
    else if (a === '--console') continue;
    else if (a === '--config-cache') i++;
    else return { skip: undefined, sources: [] };
  }
  return out;
}

function main() {
  const { skip, sources } = parseArgs(process.argv.slice(2));
  if (skip !== 'run' && skip !== 'config') {
    process.stderr.write('usage: nodeadm-standin init --skip run|config [--config-source imds://user-data|file:///etc/eks/nodeadm.d/]...\n');
    process.exit(2);
  }
  // Older AMIs ran `nodeadm init --skip config` with no sources: user data only, drop-ins ignored.
  const withDropIns = sources.some((s) => s.replace(/\/+$/, '') === `file://${DROP_IN_DIR}`);
  const configs = withDropIns ? [...userDataConfigs(), ...dropInConfigs()] : userDataConfigs();
  if (skip === 'run') {
    configure(configs, 'config');
    return;
  }
  configure(configs, 'run');
  systemctl('daemon-reload');
  if (systemctl('start', 'containerd.service') !== 0) throw new NodeadmError('containerd.service did not start');
  amiPauseCache();
  // like the real kubelet start, a failing kubelet shows on kubelet.service, not here
  systemctl('start', 'kubelet.service');
}

try {
  main();
} catch (err) {
  process.stderr.write(`${TOOL}: ${err instanceof NodeadmError ? err.message : err.stack}\n`);
  process.exit(1);
}
