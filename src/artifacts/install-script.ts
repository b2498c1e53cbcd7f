// install.sh: the one node script. Every path (user data, AMI bake, DaemonSet) runs this same
// script; it carries the node files inline (quoted heredocs, so nothing in them is expanded).
import { InternalError } from '../errors.js';
import { BAD_SOCI_VERSIONS } from '../profile/load.js';
import { PATHS, type Plan } from '../plan.js';
import { shellQuote } from '../render/escape.js';
import { renderTemplate } from '../render/template.js';
import { INCOMPLETE_IMAGES, NODEADM_CONFIG_PHASE, nodeFiles, PAUSE_IMPORT_UNIT, wiringDropIn, type NodeFile } from './node-files.js';

const DELIMITER = 'SOCI_INSTALLER_EOF';
/** Where nodeadm-config.service caches the user-data NodeConfig (its --config-cache, AMIs v20251023+). */
const NODEADM_CONFIG_CACHE = '/run/eks/nodeadm/config.json';

function checkedText(path: string, text: string): string {
  if (text.split('\n').includes(DELIMITER)) throw new InternalError(`${path} contains the heredoc delimiter`);
  if (!text.endsWith('\n')) throw new InternalError(`${path} must end with a newline`);
  return text;
}

function heredoc(f: NodeFile) {
  return {
    pathQ: shellQuote(f.path),
    mode: f.mode,
    delimiter: DELIMITER,
    content: checkedText(f.path, f.content),
    onlyWithRelease: f.onlyWithRelease === true,
    putFn: f.own ? 'put_own' : 'put',
    needs: f.needs ? { needsQ: shellQuote(f.needs.path), needsPath: f.needs.path, targetPath: f.path, otherwise: checkedText(f.path, f.needs.otherwise) } : false,
  };
}

function sourceText(plan: Plan): string {
  if (plan.source === 'ami') return `the AMI's ${PATHS.amiSociBinary} (${plan.minSociVersion} or later)`;
  if (plan.source === 'release') return `release ${plan.sociVersion}, downloaded and checked against its pinned sha256`;
  return `the AMI's ${PATHS.amiSociBinary} if it is ${plan.minSociVersion} or later, else release ${plan.sociVersion} (sha256-pinned)`;
}

export function installScript(plan: Plan): string {
  if (!plan.installs) return renderTemplate('install-fast-image-pull.sh.mustache', { version: plan.generatorVersion });
  const files = nodeFiles(plan);
  const proxyExports: string[] = [];
  if (plan.proxy?.http) proxyExports.push(`HTTP_PROXY=${shellQuote(plan.proxy.http)}`, `http_proxy=${shellQuote(plan.proxy.http)}`);
  if (plan.proxy?.https) proxyExports.push(`HTTPS_PROXY=${shellQuote(plan.proxy.https)}`, `https_proxy=${shellQuote(plan.proxy.https)}`);
  if (plan.proxy?.noProxy.length) {
    const v = shellQuote(plan.proxy.noProxy.join(','));
    proxyExports.push(`NO_PROXY=${v}`, `no_proxy=${v}`);
  }
  const ecr = plan.auth === 'ecr-credential-helper-package';
  return renderTemplate('install.sh.mustache', {
    version: plan.generatorVersion,
    mode: plan.mode,
    containerd: plan.containerd,
    sourceText: sourceText(plan),
    kubeletText: plan.auth === 'cri-keychain' ? ' and kubelet' : '',
    wiringText: plan.wiring === 'drop-in' ? `; wiring in ${PATHS.nodeadmDropIn}` : '; wiring in user data',
    proxyExports,
    modeQ: shellQuote(plan.mode),
    sourceQ: shellQuote(plan.source),
    containerdQ: shellQuote(plan.containerd),
    minVersionQ: shellQuote(plan.minSociVersion),
    badVersionsQ: shellQuote(BAD_SOCI_VERSIONS.join(' ')),
    sociVersionQ: shellQuote(plan.sociVersion),
    amiBinQ: shellQuote(PATHS.amiSociBinary),
    relBinQ: shellQuote(PATHS.releaseSociBinary),
    socketQ: shellQuote(PATHS.sociSocket),
    // D11: on containerd 2, a user's version 2 containerd.config would be dropped (the template says why).
    userConfigCheck: plan.containerd === '2',
    nodeadmCache: NODEADM_CONFIG_CACHE,
    nodeadmCacheQ: shellQuote(NODEADM_CONFIG_CACHE),
    sociConfig: PATHS.sociConfig,
    sociConfigQ: shellQuote(PATHS.sociConfig),
    stateQ: shellQuote(PATHS.stateDir),
    archesQ: shellQuote(plan.arches.join(' ')),
    containerdVersionFile: PATHS.containerdVersionFile,
    containerdVersionFileQ: shellQuote(PATHS.containerdVersionFile),
    dropInWiringQ: plan.wiring === 'drop-in' ? '1' : '0',
    dropInDir: PATHS.nodeadmDropInDir,
    ecrBridge: plan.auth === 'ecr-credential-helper' ? { providerQ: shellQuote(PATHS.ecrCredentialProvider), provider: PATHS.ecrCredentialProvider } : false,
    // With the wiring in user data, nodeadm has already pointed containerd at soci.
    rollbackText:
      plan.wiring === 'drop-in'
        ? 'containerd stays on its default snapshotter (overlayfs)'
        : "the NodeConfig in this node's user data still points containerd at soci: containerd runs no pods until soci runs (journalctl -u soci-snapshotter); replace the node",
    hasReleases: plan.releases.length > 0,
    releases: plan.releases.map((r) => ({ arch: r.arch, urlQ: shellQuote(r.url), sha256: r.sha256 })),
    ecrHelper: ecr
      ? {
          downloads: plan.ecrHelperDownloads.length
            ? { list: plan.ecrHelperDownloads.map((d) => ({ arch: d.arch, urlQ: shellQuote(d.url), sha256: d.sha256 })), helperBinQ: shellQuote(PATHS.ecrHelperBinary) }
            : false,
        }
      : false,
    stage: files.filter((f) => f.phase === 'stage').map(heredoc),
    wire: files.filter((f) => f.phase === 'wire').map(heredoc),
    // With wiring in user data the boot path writes no drop-in; a bake always does.
    bakeWire: plan.wiring === 'drop-in' ? [] : [heredoc(wiringDropIn(plan))],
    dropInPath: PATHS.nodeadmDropIn,
    enable: files.filter((f) => f.enable).map((f) => f.path.split('/').pop()!),
    pauseUnit: PAUSE_IMPORT_UNIT,
    nodeadmConfigPhase: NODEADM_CONFIG_PHASE,
    incompleteImages: INCOMPLETE_IMAGES,
  });
}
