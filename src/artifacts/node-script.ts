// The node scripts. The code is static bash in node/ (shellcheck-clean, shipped in the package);
// each script a path runs is one file assembled from those parts after a small generated data
// header: the profile's values, single-quoted, and the node files to write (quoted heredocs).
// SCRIPTS lists each script's parts: install.sh (user data, boot; fast-image-pull's when the mode
// installs nothing), live.sh and uninstall.sh (the DaemonSet), bake.sh (Packer).
// The parts source each other only so each can be shellchecked alone; those lines are dropped here,
// and so are their comment lines: user data must stay small (EC2 takes 16 KiB, and users add their
// own parts), the comments are read in node/ (in the package) and the node files keep theirs.
import { readFileSync } from 'node:fs';
import { CRI_MOVED, CRI_MOVED_OTHERS } from '../containerd-cri-keys.js';
import { InternalError } from '../errors.js';
import { NODE_DIR } from '../package/locations.js';
import { BAD_SOCI_VERSIONS } from '../profile/load.js';
import { PATHS, type Plan } from '../plan.js';
import { shellQuote } from '../render/escape.js';
import { GENERATOR_VERSION } from '../version.js';
import { nodeFiles, PAUSE_IMPORT_UNIT, wiringDropIn, type NodeFile } from './node-files.js';

const DELIMITER = 'SOCI_INSTALLER_EOF';

export type Part = 'log' | 'lib' | 'install' | 'boot' | 'containerd' | 'live' | 'bake' | 'uninstall' | 'fast-image-pull';

/** Each script's parts, in order; the install paths end with `main "$@"`. */
export const SCRIPTS = {
  install: { parts: ['log', 'lib', 'install', 'boot'], main: true },
  'fast-image-pull': { parts: ['log', 'fast-image-pull'], main: false },
  live: { parts: ['log', 'lib', 'install', 'containerd', 'live'], main: true },
  bake: { parts: ['log', 'lib', 'install', 'bake'], main: true },
  uninstall: { parts: ['log', 'containerd', 'uninstall'], main: false },
} as const satisfies Record<string, { parts: Part[]; main: boolean }>;
type Script = keyof typeof SCRIPTS;

const bodies = new Map<Script, string>();

/** What a script holds after its data header: the same for every profile (read once). */
function scriptBody(name: Script): string {
  let body = bodies.get(name);
  if (body === undefined) {
    const { parts, main } = SCRIPTS[name];
    bodies.set(name, (body = parts.map(scriptPart).join('') + (main ? 'main "$@"\n' : '')));
  }
  return body;
}

/** node/<part>.sh without its shebang, its `. sibling.sh` lines and its comment lines (shellcheck directives stay). */
export function scriptPart(name: Part): string {
  return readFileSync(new URL(`${name}.sh`, NODE_DIR), 'utf8')
    .replace(/^# shellcheck source=.*\n\. .*\n/gm, '')
    .replace(/^[ \t]*#(?! shellcheck ).*\n/gm, '');
}

function checkedText(path: string, text: string): string {
  if (text.split('\n').includes(DELIMITER)) throw new InternalError(`${path} contains the heredoc delimiter`);
  if (!text.endsWith('\n')) throw new InternalError(`${path} must end with a newline`);
  return text;
}

/** The shell that writes one node file: put (or put_own) with the content as a quoted heredoc. */
function writer(f: NodeFile): string {
  const put = (fn: string, content: string) => `${fn} ${shellQuote(f.path)} ${f.mode} <<'${DELIMITER}'\n${checkedText(f.path, content)}${DELIMITER}\n`;
  const fn = f.own ? 'put_own' : 'put';
  if (f.onlyWithRelease) return `if [ "$USE_RELEASE" = 1 ]; then\n${put(fn, f.content)}else\nunput ${shellQuote(f.path)}\nfi\n`;
  if (f.needs) {
    const missing = `log info ${shellQuote(`${f.needs.path} is missing: ${f.path} is written without it`)}\n`;
    return `if [ -x ${shellQuote(f.needs.path)} ]; then\n${put('put', f.content)}else\n${missing}${put('put', f.needs.otherwise)}fi\n`;
  }
  return put(fn, f.content);
}

function writers(name: string, files: NodeFile[]): string {
  return `${name}() {\n${files.map(writer).join('') || ':\n'}}\n`;
}

/** The profile's values the install paths read, by shell variable name. */
export interface ScriptValues {
  VERSION: string;
  MODE: string;
  SOURCE: Plan['source'];
  CONTAINERD_LINE: Plan['containerd'];
  MIN_VERSION: string;
  BAD_VERSIONS: string;
  SOCI_VERSION: string;
  ARCHES: string;
  AUTH: Plan['auth'];
  AMI_BIN: string;
  REL_BIN: string;
  REL_CLI: string;
  SOCKET: string;
  STATE: string;
  CONTAINERD_VERSION_FILE: string;
  ECR_PROVIDER: string;
  ECR_HELPER_BIN: string;
  ENABLE_UNITS: string;
  /** 1: check that nodeadm-run reads the drop-in directory (the wiring is written there). */
  DROP_IN_WIRING: '0' | '1';
  WIRING_IN: string;
  ROLLBACK_TEXT: string;
}

function scriptValues(plan: Plan, path: 'boot' | 'bake', files: readonly NodeFile[]): ScriptValues {
  // A bake always writes the wiring as the nodeadm drop-in; at boot it is where the profile says.
  const dropIn = path === 'bake' || plan.wiring === 'drop-in';
  return {
    VERSION: plan.generatorVersion,
    MODE: plan.mode,
    SOURCE: plan.source,
    CONTAINERD_LINE: plan.containerd,
    MIN_VERSION: plan.minSociVersion,
    BAD_VERSIONS: BAD_SOCI_VERSIONS.join(' '),
    SOCI_VERSION: plan.sociVersion,
    ARCHES: plan.arches.join(' '),
    AUTH: plan.auth,
    AMI_BIN: PATHS.amiSociBinary,
    REL_BIN: PATHS.releaseSociBinary,
    REL_CLI: PATHS.releaseSociCli,
    SOCKET: PATHS.sociSocket,
    STATE: PATHS.stateDir,
    CONTAINERD_VERSION_FILE: PATHS.containerdVersionFile,
    ECR_PROVIDER: PATHS.ecrCredentialProvider,
    ECR_HELPER_BIN: PATHS.ecrHelperBinary,
    ENABLE_UNITS: files
      .filter((f) => f.enable)
      .map((f) => f.path.split('/').pop()!)
      .join(' '),
    DROP_IN_WIRING: dropIn ? '1' : '0',
    WIRING_IN: dropIn ? PATHS.nodeadmDropIn : 'user data',
    // With the wiring in user data, nodeadm has already pointed containerd at soci.
    ROLLBACK_TEXT:
      plan.wiring === 'drop-in'
        ? 'containerd stays on its default snapshotter (overlayfs)'
        : "the NodeConfig in this node's user data still points containerd at soci: containerd runs no pods until soci runs (journalctl -u soci-snapshotter); replace the node",
  };
}

function assign(name: string, value: string): string {
  return `${name}=${shellQuote(value)}\n`;
}

function byArch(name: string, entries: { arch: string; value: string }[]): string {
  return declareMap(name, entries.map((e) => [e.arch, e.value]));
}

/** A bash associative array; its keys are plain words (architectures, TOML keys). */
function declareMap(name: string, entries: [string, string][]): string {
  return `declare -A ${name}=(${entries.map(([k, v]) => `[${k}]=${shellQuote(v)}`).join(' ')})\n`;
}

// Where containerd 2 runs, the paths that read user data check a user's containerd.config
// (refuse_v2_user_config, node/install.sh): the node's containerd names the keys it would drop, this
// table where each lives now (containerd-cri-keys.ts).
function criMovedTable(plan: Plan, path: 'boot' | 'live' | 'bake'): string {
  if (path === 'bake' || plan.containerd !== '2') return '';
  return declareMap('CRI_MOVED', Object.entries(CRI_MOVED)) + assign('CRI_MOVED_OTHERS', CRI_MOVED_OTHERS);
}

function proxyExports(plan: Plan): string {
  const lines: string[] = [];
  const exp = (names: string[], v: string) => names.forEach((n) => lines.push(`export ${n}=${shellQuote(v)}\n`));
  if (plan.proxy?.http) exp(['HTTP_PROXY', 'http_proxy'], plan.proxy.http);
  if (plan.proxy?.https) exp(['HTTPS_PROXY', 'https_proxy'], plan.proxy.https);
  if (plan.proxy?.noProxy.length) exp(['NO_PROXY', 'no_proxy'], plan.proxy.noProxy.join(','));
  return lines.join('');
}

// The third line of a script's head: which parts follow its data header.
const partsLine = (script: Script) => `# This data header, then soci-installer's ${SCRIPTS[script].parts.map((p) => `node/${p}.sh`).join(', ')} without their comment lines:`;

function head(plan: Plan, what: string, script: Script): string {
  return (
    '#!/bin/bash\n' +
    `# soci-installer ${plan.generatorVersion}: ${what}\n` +
    `${partsLine(script)}\n` +
    `# read those files, commented, in the soci-installer package (node_modules/soci-installer/node/) or its repository.\n` +
    '# Profile values below are single-quoted on purpose: nothing in them is expanded.\n' +
    '# shellcheck disable=SC2016\n' +
    'set -euo pipefail\n' +
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n'
  );
}

function installPathScript(plan: Plan, path: 'boot' | 'live' | 'bake', what: string): string {
  const script = path === 'boot' ? 'install' : path;
  const files = nodeFiles(plan);
  const values = scriptValues(plan, path === 'bake' ? 'bake' : 'boot', files);
  const wire = files.filter((f) => f.phase === 'wire');
  // With wiring in user data the boot path writes no drop-in; a bake always does.
  if (path === 'bake' && plan.wiring !== 'drop-in') wire.push(wiringDropIn(plan));
  const data =
    head(plan, what, script) +
    proxyExports(plan) +
    Object.entries(values)
      .map(([k, v]) => assign(k, v))
      .join('') +
    // What only one path reads: the unit live.sh restarts, the config bake.sh starts soci with.
    (path === 'live' ? assign('PAUSE_UNIT', PAUSE_IMPORT_UNIT) : '') +
    (path === 'bake' ? assign('SOCI_CONFIG', PATHS.sociConfig) : '') +
    criMovedTable(plan, path) +
    byArch('RELEASE_URL', plan.releases.map((r) => ({ arch: r.arch, value: r.url }))) +
    byArch('RELEASE_SHA', plan.releases.map((r) => ({ arch: r.arch, value: r.sha256 }))) +
    byArch('ECR_HELPER_URL', plan.ecrHelperDownloads.map((d) => ({ arch: d.arch, value: d.url }))) +
    byArch('ECR_HELPER_SHA', plan.ecrHelperDownloads.map((d) => ({ arch: d.arch, value: d.sha256 }))) +
    '# The node files, in the order they are written: stage before soci starts, wire once it runs.\n' +
    writers('stage_files', files.filter((f) => f.phase === 'stage')) +
    writers('wire_files', wire);
  return data + scriptBody(script);
}

function bootWhat(plan: Plan): string {
  return plan.installs
    ? `SOCI snapshotter in ${plan.mode} mode on an EKS AL2023 node at boot (containerd ${plan.containerd}).`
    : 'mode fast-image-pull: logs whether the FastImagePull gate can take effect.';
}

// The third line of any version's head: that version's parts may differ from this one's.
const ANY_PARTS_LINE = /^# This data header, then soci-installer's node\/[a-z-]+\.sh(?:, node\/[a-z-]+\.sh)* without their comment lines:$/;

/**
 * Whether a script starts with our head (its first three lines) and, where it is of this version,
 * holds after its data header exactly the code of the parts its head names: 'edited' where not. A
 * script of another version is known by its head alone (its code, and the parts it names, are that
 * version's).
 */
export function scriptOrigin(text: string): 'ours' | 'edited' | undefined {
  const [shebang, marker, parts] = text.split('\n', 3);
  const version = /^# soci-installer (\d+\.\d+\.\d+): ./.exec(marker ?? '')?.[1];
  if (shebang !== '#!/bin/bash' || version === undefined || !ANY_PARTS_LINE.test(parts ?? '')) return undefined;
  if (version !== GENERATOR_VERSION) return 'ours';
  const script = (Object.keys(SCRIPTS) as Script[]).find((s) => partsLine(s) === parts);
  return script !== undefined && text.endsWith(scriptBody(script)) ? 'ours' : 'edited';
}

/** install.sh: the boot path, the script part of user data. */
export function installScript(plan: Plan): string {
  if (!plan.installs) return head(plan, bootWhat(plan), 'fast-image-pull') + scriptBody('fast-image-pull');
  return installPathScript(plan, 'boot', bootWhat(plan));
}

/**
 * What install.sh does, in a few comment lines for the self-extracting wrapper: where the script is
 * packed, a reviewer (of a launch template, an EC2NodeClass) still sees what it installs, what it
 * downloads against which sha256, and every file it writes.
 */
export function installSummary(plan: Plan): string[] {
  const lines = [`It installs: ${bootWhat(plan)}`];
  if (!plan.installs) return lines;
  const when = plan.source === 'release' ? '' : ", only where the AMI's soci cannot run the mode";
  for (const r of plan.releases) lines.push(`It downloads${when}: ${r.url} (sha256 ${r.sha256})`);
  const noHelper = 'where the node has no docker-credential-ecr-login';
  for (const d of plan.ecrHelperDownloads) lines.push(`It downloads, ${noHelper}: ${d.url} (sha256 ${d.sha256})`);
  if (!plan.releases.length && !plan.ecrHelperDownloads.length) lines.push('It downloads nothing.');
  if (plan.auth === 'ecr-credential-helper-package' && !plan.ecrHelperDownloads.length) {
    lines.push(`It installs the AL2023 package amazon-ecr-credential-helper, ${noHelper}.`);
  }
  const written = [
    ...nodeFiles(plan).map((f) => f.path),
    ...(plan.releases.length ? [`${PATHS.releaseSociBinary} and ${PATHS.releaseSociCli} (from the download${when})`] : []),
    ...(plan.ecrHelperDownloads.length ? [`${PATHS.ecrHelperBinary} (from the download)`] : []),
    `${PATHS.stateDir}/ (what it installed, and the files it replaced, for uninstall)`,
  ];
  return [...lines, 'It writes, where they differ:', ...written.map((f) => `  ${f}`)];
}

/** live.sh: install.sh on a running node (the DaemonSet), applying the wiring at once. */
export function liveScript(plan: Plan): string {
  return installPathScript(plan, 'live', `SOCI snapshotter in ${plan.mode} mode on a running EKS AL2023 node (containerd ${plan.containerd}).`);
}

/** bake.sh: install.sh on the Packer image builder, then the EKS cleanup. */
export function bakeScript(plan: Plan): string {
  return installPathScript(plan, 'bake', `SOCI snapshotter in ${plan.mode} mode baked into an EKS AL2023 AMI (containerd ${plan.containerd}).`);
}

/** uninstall.sh: puts a node back as it was before any of the above (the uninstall DaemonSet). */
export function uninstallScript(plan: Plan): string {
  return (
    head(plan, 'puts this node back as it was before soci-installer.', 'uninstall') +
    assign('STATE', PATHS.stateDir) +
    assign('PAUSE_UNIT', PAUSE_IMPORT_UNIT) +
    assign('NAMESPACE', plan.daemonset.namespace) +
    scriptBody('uninstall')
  );
}
