// Profile YAML -> checked Profile. Every problem is collected and reported together, one per line,
// naming the field, the value and what is allowed.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { ProfileError } from '../errors.js';
import { limit, parseProfileText, shorten } from './parse.js';
import { KARPENTER_MAX_TAGS, type ContainerdLine, type Profile } from './schema.js';
import { sociStartupProblems } from './soci-startup.js';
import { installingModes, modeTraits, MODES } from '../modes.js';
import { BAKE_TAG_KEYS, containerdLines, servedArches, sociSettings } from '../plan.js';
import { numberProblems, textProblems, valueProblems } from './values.js';
import { profileValidator } from './validator.js';

let compiled: ValidateFunction | undefined;
function validator(): ValidateFunction {
  compiled ??= profileValidator();
  return compiled;
}

/** Parses and checks a profile. `origin` names the file in messages. Bytes are read as strict UTF-8. */
export function loadProfile(text: string, origin = 'profile'): Profile {
  const data = parseProfileText(text, origin);
  const problems = checkProfile(data);
  if (problems.length > 0) throw new ProfileError(limit(problems.map((p) => `${origin}: ${p}`)));
  return data as Profile;
}

/** The same checks on an object (for library users who build profiles in code). Returns problems. */
export function checkProfile(data: unknown): string[] {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return ['the profile must be a YAML mapping (cluster:, node:, soci:)'];
  }
  const text = textProblems(data);
  // The schema coerces numbers in place: keep the text as written to check how they were written.
  const raw = structuredClone(data);
  const validate = validator();
  const valid = validate(data);
  const numbers = numberProblems(raw, data);
  // A field with a control character gets that one message, not a pattern error as well.
  const fieldOfMessage = (m: string) => m.slice(0, m.indexOf(': '));
  const textFields = new Set(text.map(fieldOfMessage));
  const schema = valid ? [] : schemaErrors(validate.errors ?? []).map(describe).filter((m) => m !== '' && !textFields.has(fieldOfMessage(m)));
  const first = dedupe([...text, ...schema, ...numbers]);
  if (first.length) return first;
  return [...valueProblems(data as Profile), ...semanticProblems(data as Profile)];
}

/** An anyOf says what is allowed once; the errors of its branches only repeat it, garbled. */
function schemaErrors(errors: ErrorObject[]): ErrorObject[] {
  const anyOf = errors.filter((e) => e.keyword === 'anyOf');
  return errors.filter((e) => e.keyword === 'anyOf' || !anyOf.some((a) => e.schemaPath.startsWith(`${a.schemaPath}/`)));
}

function dedupe(list: string[]): string[] {
  return [...new Set(list)];
}

function fieldOf(e: ErrorObject): string {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  return path.length ? path.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : (i ? '.' : '') + p)).join('') : '(top level)';
}

// Values are echoed cut short: a 1 MiB value makes a useless message.
const show = (v: unknown) => shorten(JSON.stringify(v) ?? String(v));

function describe(e: ErrorObject): string {
  const field = fieldOf(e);
  const schema = e.parentSchema as Record<string, unknown> | undefined;
  // Under propertyNames, ajv reports the key's own error with the key as data and propertyName set.
  const isKey = (e as ErrorObject & { propertyName?: string }).propertyName !== undefined;
  const what = () => `${isKey ? 'key ' : ''}${show(e.data)}`; // only when used: data may be a huge mapping
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const allowed = Object.keys((schema?.properties as object) ?? {}).join(', ');
      const at = field === '(top level)' ? key : `${field}.${key}`;
      return `${at}: unknown key; allowed here: ${allowed}`;
    }
    case 'enum':
      return `${field}: ${show(e.data)} is not allowed; allowed: ${(schema?.enum as unknown[]).map(String).join(' | ')}`;
    case 'propertyNames':
      return ''; // the key's own 'pattern' error (below) says what is wrong
    case 'pattern':
      return `${field}: ${what()} is not valid; expected ${String(schema?.['x-hint'] ?? e.params)}`;
    case 'type': {
      const want = (e.params as { type: string }).type;
      const hint = want === 'string' && typeof e.data === 'number' ? ` (quote it: "${String(e.data)}")` : '';
      return `${field}: ${show(e.data)} must be ${want === 'object' ? 'a mapping' : want === 'array' ? 'a list' : want === 'integer' ? 'a whole number' : `a ${want}`}${hint}`;
    }
    case 'required':
      return `${field === '(top level)' ? '' : `${field}.`}${(e.params as { missingProperty: string }).missingProperty}: missing (required when ${field} is given)`;
    case 'minimum':
      return `${field}: ${show(e.data)} is too small; minimum ${String((e.params as { limit: number }).limit)}${schema?.description ? ` (${String(schema.description)})` : ''}`;
    case 'maximum':
      return `${field}: ${show(e.data)} is too large; maximum ${String((e.params as { limit: number }).limit)}${schema?.description ? ` (${String(schema.description)})` : ''}`;
    case 'minProperties':
      return `${field}: must not be empty${schema?.description ? ` (${String(schema.description)})` : ''}`;
    case 'maxLength':
      return `${field}: ${what()} is too long; at most ${String((e.params as { limit: number }).limit)} characters`;
    case 'minLength':
      return `${field}: ${isKey ? `${what()} ` : ''}must not be empty`;
    case 'anyOf':
      return `${field}: ${show(e.data)} is not allowed; allowed: ${String(schema?.['x-hint'] ?? schema?.description)}`;
    case 'minItems':
      return `${field}: must list at least ${String((e.params as { limit: number }).limit)} item(s)`;
    case 'maxItems':
      return `${field}: must list at most ${String((e.params as { limit: number }).limit)} item(s)`;
    case 'maxProperties':
      return `${field}: at most ${String((e.params as { limit: number }).limit)} key(s)${schema?.description ? ` (${String(schema.description)})` : ''}`;
    default:
      return `${field}: ${e.message ?? 'invalid'}`;
  }
}

// Releases that fail to start without a config file, or are otherwise known bad.
export const BAD_SOCI_VERSIONS = ['0.10.0', '0.11.0'];

export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map(Number);
  const b = min.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) > (b[i] ?? 0);
  }
  return true;
}

/** Cross-field rules of the ami: block (the Packer bake and baked-AMI user data). */
function amiProblems(p: Profile): string[] {
  const out: string[] = [];
  const ami = p.ami;
  if (!ami) return out;
  const { mode, traits } = sociSettings(p);
  if (!traits.installs) {
    out.push(`ami: not allowed with soci.mode "${mode}": nothing is installed, so there is nothing to bake; remove ami: or choose mode ${installingModes()}`);
  }
  if (ami.baked === true && !p.cluster) {
    out.push('cluster: missing, and required with ami.baked: true: a launch template with an ImageId makes EKS merge nothing, so user data must carry name, apiServerEndpoint, certificateAuthority and cidr');
  }
  if (p.node?.arch) {
    for (const key of ['sourceAmiId', 'instanceType'] as const) {
      for (const arch of Object.keys(ami[key] ?? {})) {
        if (arch !== p.node.arch) out.push(`ami.${key}.${arch}: node.arch is "${p.node.arch}", so no ${arch} AMI is built; remove it or omit node.arch`);
      }
    }
  }
  if (ami.amiName !== undefined) {
    const unknown = [...ami.amiName.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]!).filter((t) => !AMI_NAME_PLACEHOLDERS.includes(t));
    if (unknown.length) out.push(`ami.amiName: ${JSON.stringify(ami.amiName)} uses unknown placeholder(s) ${unknown.map((t) => `{${t}}`).join(', ')}; allowed: ${AMI_NAME_PLACEHOLDERS.map((t) => `{${t}}`).join(' ')}`);
    if (!ami.amiName.includes('{timestamp}')) out.push(`ami.amiName: ${JSON.stringify(ami.amiName)} lacks {timestamp}: AMI names are unique per region, so a second build would fail`);
    if (servedArches(p).length > 1 && !ami.amiName.includes('{arch}')) out.push(`ami.amiName: ${JSON.stringify(ami.amiName)} lacks {arch}: both architectures are built at once and their names would collide`);
  }
  return out;
}

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export const AMI_NAME_PLACEHOLDERS = ['arch', 'kubernetesVersion', 'variant', 'timestamp'];

/** A node.containerd the AMIs for the Kubernetes version do not ship (containerdLines in plan.ts). */
function containerdLineProblem(kubernetesVersion: string, line: ContainerdLine): string | undefined {
  const lines = containerdLines(kubernetesVersion);
  if (lines.includes(line)) return undefined;
  const only = lines[0]!;
  return `does not match Kubernetes ${kubernetesVersion}: EKS AL2023 AMIs for it ship containerd ${only === '2' ? '2.x' : only}; use "${only}" or omit the key`;
}

/** Rules that span fields, which a JSON Schema states poorly. */
function semanticProblems(p: Profile): string[] {
  const out: string[] = [];
  const soci = p.soci ?? {};
  const { mode, traits, source, version, auth } = sociSettings(p);
  const k8s = p.node?.kubernetesVersion;
  if (k8s !== undefined) {
    const minor = Number(k8s.split('.')[1]);
    if (minor < 28 || minor > 36) {
      out.push(`node.kubernetesVersion: "${k8s}" has no EKS AL2023 AMI with nodeadm; supported: "1.28" to "1.36"`);
    } else if (p.node?.containerd) {
      const problem = containerdLineProblem(k8s, p.node.containerd);
      if (problem) out.push(`node.containerd: "${p.node.containerd}" ${problem}`);
    }
  }

  out.push(...amiProblems(p));
  const ns = p.daemonset?.namespace;
  if (p.daemonset?.createNamespace === true && ns !== undefined && SYSTEM_NAMESPACES.includes(ns)) {
    out.push(`daemonset.createNamespace: true with namespace "${ns}", which Kubernetes owns: the uninstall manifest would delete it; remove createNamespace or choose another namespace`);
  }
  out.push(...outputProblems(p));

  const refused = traits.refusedSociKeys;
  if (refused) {
    for (const key of refused.keys) {
      if (key in soci) out.push(`soci.${key}: not allowed with soci.mode "${mode}": ${refused.why}; remove the key or choose mode ${installingModes()}`);
    }
  }
  if (!traits.installs) return out;

  out.push(...sociStartupProblems(p));
  if (!traits.parallel && soci.parallel) {
    const parallelModes = MODES.filter((m) => modeTraits(m).installs && modeTraits(m).parallel);
    out.push(`soci.parallel: has no effect with soci.mode "${mode}"; remove it or choose ${parallelModes.join(' or ')}`);
  }
  if (source !== 'ami') {
    const min = traits.minSociVersion;
    if (!versionAtLeast(version, min)) {
      out.push(`soci.version: ${version} does not support mode "${mode}" (needs ${min} or later)`);
    }
    if (BAD_SOCI_VERSIONS.includes(version)) {
      out.push(`soci.version: ${version} fails to start without a config file upstream; use ${version.replace(/\.0$/, '.1')} or later`);
    }
    const arches = servedArches(p);
    const missing = arches.filter((a) => !soci.sha256?.[a as 'amd64' | 'arm64']);
    if (missing.length) {
      out.push(
        `soci.sha256: missing for ${missing.join(', ')}: soci.source "${source}" may download soci ${version}, and nothing is downloaded unverified. ` +
          `Run: soci-installer checksums --version ${version} --write PROFILE (or set node.arch to narrow the architectures, or soci.source: ami to use only the AMI's soci)`,
      );
    }
  } else {
    for (const key of ['version', 'releaseBaseUrl', 'sha256'] as const) {
      if (key in soci) out.push(`soci.${key}: has no effect with soci.source "ami" (nothing is downloaded); remove it or use source auto or release`);
    }
  }
  if (soci.ecrCredentialHelper && auth !== 'ecr-credential-helper-package') {
    out.push(`soci.ecrCredentialHelper: only used with soci.auth "ecr-credential-helper-package" (auth is "${auth}")`);
  }
  if (soci.ecrCredentialHelper) {
    const arches = servedArches(p);
    for (const a of arches as ('amd64' | 'arm64')[]) {
      if (!soci.ecrCredentialHelper.url[a]) out.push(`soci.ecrCredentialHelper.url.${a}: missing (nodes of that architecture would have no helper)`);
      if (!soci.ecrCredentialHelper.sha256[a]) out.push(`soci.ecrCredentialHelper.sha256.${a}: missing (nothing is downloaded unverified)`);
    }
  }
  // Host names are case-insensitive: Docker.io and docker.io are one registry.
  const registries = (soci.mirrors ?? []).map((m) => m.registry.toLowerCase());
  const dup = registries.findIndex((r, i) => registries.indexOf(r) !== i);
  if (dup >= 0) out.push(`soci.mirrors[${dup}].registry: ${show(soci.mirrors![dup]!.registry)} is listed twice (host names ignore letter case); put all its endpoints under one entry`);
  // D9 and any other auth a mode refuses (MODE_TRAITS).
  const authRefusal = traits.refusedAuths[auth];
  if (authRefusal) out.push(`soci.auth: "${auth}" is not allowed with soci.mode "${mode}": ${authRefusal}`);
  return out;
}

const CLUSTER_FIELDS = ['name', 'apiServerEndpoint', 'certificateAuthority', 'cidr'] as const;

/** cluster, ami, karpenter, eksctl: rules between the keys the outputs read. */
function outputProblems(p: Profile): string[] {
  const out: string[] = [];
  const c = p.cluster;
  if (c) {
    if (c.fromEks !== undefined) {
      for (const key of ['name', 'apiServerEndpoint', 'certificateAuthority'] as const) {
        if (key in c) out.push(`cluster.${key}: not allowed with cluster.fromEks (EKS supplies it); remove one of them`);
      }
    } else {
      for (const key of CLUSTER_FIELDS) {
        if (!(key in c)) out.push(`cluster.${key}: missing (required when cluster is given; or use cluster.fromEks: NAME)`);
      }
    }
  }
  const ami = p.ami;
  // The nodes run a custom AMI: ami.id, or our bake (selected by its tags).
  const customAmi = ami !== undefined && (ami.id !== undefined || ami.baked === true);
  const k = p.karpenter;
  if (k) {
    if ((k.role === undefined) === (k.instanceProfile === undefined)) {
      out.push('karpenter: give exactly one of role and instanceProfile (Karpenter creates an instance profile for a role)');
    }
    if (k.amiAlias !== undefined && customAmi) out.push(`karpenter.amiAlias: ${JSON.stringify(k.amiAlias)} cannot be combined with ami.id or ami.baked (an alias selects the EKS AMI); remove one of them`);
    // Karpenter selects a baked AMI by its tags and ours (plan.ts nodeAmi): the limits of selector
    // tags apply to them (schema.ts, TAGS).
    if (ami?.baked && ami.id === undefined) {
      const tags = Object.entries(ami.tags ?? {});
      for (const [key] of tags.filter(([, v]) => v === '')) out.push(`ami.tags.${shorten(key)}: must not be empty: Karpenter selects the baked AMI by these tags, and its EC2NodeClass refuses an empty tag value`);
      const most = KARPENTER_MAX_TAGS - BAKE_TAG_KEYS.length;
      if (tags.length > most) out.push(`ami.tags: ${tags.length} tags; at most ${most} with karpenter: Karpenter selects the baked AMI by these and the ${BAKE_TAG_KEYS.length} soci-installer:* tags, and its EC2NodeClass allows ${KARPENTER_MAX_TAGS} in a term`);
    }
  }
  const e = p.eksctl;
  if (e) {
    // A missing cluster name is checked in plan(): --cluster NAME may still supply it.
    if (e.clusterName !== undefined && (c?.name ?? c?.fromEks) !== undefined && e.clusterName !== (c?.name ?? c?.fromEks)) {
      out.push(`eksctl.clusterName: ${JSON.stringify(e.clusterName)} differs from the cluster block's ${JSON.stringify(c?.name ?? c?.fromEks)}; remove one of them`);
    }
    if (ami?.baked && !ami.id) out.push('eksctl: needs ami.id with ami.baked: eksctl selects a custom AMI by id only (the tags of the bake serve Karpenter and launch-template)');
    // eksctl with ami.id needs the cluster block: checked in plan(), since --cluster NAME may supply it.
  }
  return out;
}
