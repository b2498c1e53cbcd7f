#!/usr/bin/env node
// Writes the hostile-profile corpus: one small profile per case, <NNN>-<name>.yaml beside this script.
// Each starts with "# expect: refused <field>" (the field an error line must name) or "# expect: accepted".
// test/hostile-corpus.test.ts runs every file. Regenerate: node test/cases-hostile/generate.mjs
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const q = (s) => JSON.stringify(s); // a YAML double-quoted scalar (JSON escapes are YAML escapes)
const CA = 'LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUMvakNDQWVhZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=';
const b64 = (s) => Buffer.from(s).toString('base64');
const SHA = { amd64: '1'.repeat(64), arm64: '2'.repeat(64) };

// Building blocks (each a valid profile fragment when its values are).
const base = 'node: { arch: x86_64 }\nsoci: { mode: lazy, source: ami }\n';
const cluster = (o = {}) =>
  `cluster:\n  name: ${q(o.name ?? 'demo')}\n  apiServerEndpoint: ${q(o.endpoint ?? 'https://ABCD.gr7.us-west-2.eks.amazonaws.com')}\n  certificateAuthority: ${q(o.ca ?? CA)}\n  cidr: ${q(o.cidr ?? '10.100.0.0/16')}\n`;
const withCluster = (o) => `${cluster(o)}${base}`;
const release = (extra = '', mode = 'parallel') =>
  `node: { arch: x86_64 }\nsoci:\n  mode: ${mode}\n  source: release\n  version: 0.15.0\n  sha256: { amd64: ${SHA.amd64} }\n${extra}`;
const parallel = (fields) => release(`  parallel:\n${Object.entries(fields).map(([k, v]) => `    ${k}: ${v}\n`).join('')}`);
const karpenter = (o = {}) =>
  `${base}karpenter:\n  name: ${q(o.name ?? 'soci')}\n  role: KarpenterNodeRole-demo\n  subnetSelectorTerms:\n    - tags: { ${q(o.tagKey ?? 'karpenter.sh/discovery')}: ${q(o.tagValue ?? 'demo')} }\n  securityGroupSelectorTerms:\n    - name: ${q(o.sgName ?? 'nodes')}\n`;
const eksctl = (o = {}) =>
  `${base}eksctl: { region: us-west-2, clusterName: ${q(o.clusterName ?? 'demo')}, nodeGroupName: ${q(o.nodeGroupName ?? 'ng-1')} }\n`;
const daemonset = (fields) => `${base}daemonset:\n${Object.entries(fields).map(([k, v]) => `  ${k}: ${v}\n`).join('')}`;
const amiTags = (tags, extra = '') =>
  `node: { arch: x86_64, kubernetesVersion: "1.33" }\nsoci: { mode: lazy, source: ami }\nami:\n  region: us-west-2\n${extra}  tags:\n${Object.entries(tags).map(([k, v]) => `    ${q(k)}: ${q(v)}\n`).join('')}`;
const amiName = (name) => `node: { arch: x86_64, kubernetesVersion: "1.33" }\nsoci: { mode: lazy, source: ami }\nami:\n  amiName: ${q(name)}\n`;
const mirrors = (registry, host) => `${base.replace('source: ami', 'source: ami')}`.replace('soci: { mode: lazy, source: ami }\n', `soci:\n  mode: lazy\n  source: ami\n  mirrors:\n    - registry: ${q(registry)}\n      endpoints: [{ host: ${q(host)} }]\n`);
const sociKey = (key, value) => base.replace('soci: { mode: lazy, source: ami }\n', `soci:\n  mode: lazy\n  source: ami\n  ${key}: ${value}\n`);

const cases = [];
const refused = (name, field, text) => cases.push({ name, expect: `refused ${field}`, text });
const accepted = (name, text) => cases.push({ name, expect: 'accepted', text });

// --- Strings YAML 1.1 readers (kubectl, nodeadm, eksctl) take for booleans, numbers or null: accepted, quoted in every output.
const MISTAKABLE = ['on', 'On', 'ON', 'off', 'yes', 'Yes', 'no', 'NO', 'y', 'Y', 'n', 'N', 'true', 'False', 'null', 'Null', '~', '1_000', '0b1', '0o17', '0x1F', '017', '1:20', '1e3', '.inf', '-.Inf', '.NaN', '+1', '12345678901234567890', '1.30', '='];
for (const v of MISTAKABLE) accepted(`karpenter-tag-value-${v}`, karpenter({ tagValue: v }));
for (const v of ['on', 'yes', 'no', 'y', 'off', 'null', '1_000', '0b1', '1:20', '~']) accepted(`karpenter-tag-key-${v}`, karpenter({ tagKey: v }));
for (const v of ['on', 'yes', 'y', 'off', 'n', 'null']) accepted(`karpenter-name-${v}`, karpenter({ name: v }));
for (const v of ['yes', 'on', 'Off', '1_000', '0x1F', '1e3', '1:20', 'True']) accepted(`ami-tag-value-${v}`, amiTags({ team: v }));
for (const v of ['on', 'no', 'y', 'NULL']) accepted(`ami-tag-key-${v}`, amiTags({ [v]: 'x' }));
for (const v of ['yes', 'on', '1_000', '1e3', '0b1', 'N', '017']) accepted(`nodeselector-value-${v}`, daemonset({ nodeSelector: `{ ${q('example.com/' + 'pool')}: ${q(v)} }` }));
for (const v of ['yes', 'on', 'y', 'off']) accepted(`nodeselector-key-${v}`, daemonset({ nodeSelector: `{ ${q(v)}: soci }` }));
// 1_000: eksctl's CloudFormation stack name (eksctl-<cluster>-nodegroup-<name>) takes no _.
for (const v of ['yes', 'on', '1_000', '1e3', 'y', 'No']) (v.includes('_') ? refused(`eksctl-nodegroup-${v}`, 'eksctl.nodeGroupName', eksctl({ nodeGroupName: v })) : accepted(`eksctl-nodegroup-${v}`, eksctl({ nodeGroupName: v })));
for (const v of ['yes', 'on', '1_000', '1e3', 'n']) accepted(`cluster-name-${v}`, withCluster({ name: v }));
// Text that YAML syntax gives meaning to, in free-text fields.
const SYNTAX = ['? x', '- x', '# x', 'a #b', 'a: b', '&anchor', '*alias', '!tag', '%YAML', '@at', '`tick`', '"double"', "'single'", '{a: b}', '[a, b]', ' lead', 'trail ', '', '---', '...', '|', '>', 'ünï©ødé ✓ 🚀', 'tab\there', 'first\nsecond'];
// An empty value is refused: Karpenter's CRD does not take it (CEL "empty tag keys or values aren't supported").
SYNTAX.forEach((v, i) =>
  v === ''
    ? refused(`karpenter-tag-syntax-${i}`, 'karpenter.subnetSelectorTerms[0].tags.karpenter.sh/discovery', karpenter({ tagValue: v }))
    : accepted(`karpenter-tag-syntax-${i}`, karpenter({ tagValue: v })),
);
SYNTAX.slice(0, 12).forEach((v, i) => accepted(`karpenter-sg-name-syntax-${i}`, karpenter({ sgName: v || 'x' })));
accepted('daemonset-own-namespace-created', daemonset({ namespace: 'soci-nodes', createNamespace: 'true' }));
accepted('daemonset-existing-namespace', daemonset({ namespace: 'kube-system' }));
accepted('ipv6-cidr', withCluster({ cidr: 'fd00:10:100::/108' }));
accepted('metrics-port-max', sociKey('metricsAddress', 'localhost:65535'));
accepted('chunk-size-max', parallel({ chunkSize: '1024gb' }));
accepted('cri-keychain-parallel', release('  auth: cri-keychain\n'));
accepted('anchors-few', `${base}karpenter:\n  role: R\n  subnetSelectorTerms: [{ tags: &t { a: "on" } }]\n  securityGroupSelectorTerms: [{ tags: *t }]\n`);

// --- Control characters: refused at load, naming the field.
const CONTROLS = { nul: '\0', soh: '\x01', esc: '\x1b', cr: 'a\rb', lf: 'a\nb', vt: '\v', del: '\x7f', nel: '\x85', csi: '\x9b', ls: '\u2028', ps: '\u2029' };
for (const [n, c] of Object.entries(CONTROLS)) refused(`control-${n}-in-tag-key`, 'karpenter.subnetSelectorTerms[0].tags', karpenter({ tagKey: `k${c}` }));
for (const [n, c] of Object.entries(CONTROLS)) if (n !== 'lf') refused(`control-${n}-in-tag-value`, 'karpenter.subnetSelectorTerms[0].tags.karpenter.sh/discovery', karpenter({ tagValue: `v${c}` }));
for (const [n, c] of Object.entries(CONTROLS)) refused(`control-${n}-in-sg-name`, 'karpenter.securityGroupSelectorTerms[0].name', karpenter({ sgName: `g${c}` }));
for (const n of ['del', 'nel', 'ls', 'ps', 'lf']) refused(`control-${n}-in-ami-tag-key`, 'ami.tags', amiTags({ [`k${CONTROLS[n]}`]: 'v' }));
for (const n of ['del', 'nel', 'ls', 'ps', 'esc']) refused(`control-${n}-in-ami-tag-value`, 'ami.tags.k', amiTags({ k: `v${CONTROLS[n]}` }));
refused('control-in-cluster-name', 'cluster.name', withCluster({ name: 'demo\x85' }));
refused('control-in-proxy', 'soci.proxy.http', release(`  proxy: { http: ${q('http://proxy\u2028x:3128')} }\n`));

// --- Numbers: finite safe integers in decimal only.
const BAD_NUMBERS = ['Infinity', '-Infinity', '.inf', '1e308', '1e3', '9007199254740993', '-0', '0x10', '1.0', 'NaN', '1_000', '+5'];
for (const v of BAD_NUMBERS) refused(`number-${v}-maxConcurrentDownloads`, 'soci.parallel.maxConcurrentDownloads', parallel({ maxConcurrentDownloads: v }));
for (const v of ['Infinity', '1e308', '-0', '99999999999999999999']) refused(`number-${v}-requestTimeoutSec`, 'soci.mirrors[0].endpoints[0].requestTimeoutSec', base.replace('soci: { mode: lazy, source: ami }\n', `soci:\n  mode: lazy\n  source: ami\n  mirrors: [{ registry: docker.io, endpoints: [{ host: m.example.com, requestTimeoutSec: ${v} }] }]\n`));
for (const v of ['Infinity', '1e308', '-0', '0']) refused(`number-${v}-maxUnavailable`, 'daemonset.maxUnavailable', daemonset({ maxUnavailable: v }));
for (const v of ['Infinity', '1e308', '20.5']) refused(`number-${v}-volumeSize`, 'ami.volumeSize', amiTags({ a: 'b' }, `  volumeSize: ${v}\n`));
for (const v of ['0%', '101%', '-1', '"0"']) refused(`maxUnavailable-${v}`, 'daemonset.maxUnavailable', daemonset({ maxUnavailable: v }));

// --- Ports, addresses, CIDRs, certificate authority.
for (const v of ['localhost:0', 'localhost:99999', 'localhost:65536', 'localhost:080', 'localhost']) refused(`metrics-${v}`, 'soci.metricsAddress', sociKey('metricsAddress', q(v)));
for (const v of ['m.example.com:0', 'm.example.com:99999']) refused(`mirror-host-${v}`, 'soci.mirrors[0].endpoints[0].host', mirrors('docker.io', v));
for (const v of ['docker.io:0', 'registry.example.com:70000']) refused(`mirror-registry-${v}`, 'soci.mirrors[0].registry', mirrors(v, 'm.example.com'));
refused('endpoint-port-0', 'cluster.apiServerEndpoint', withCluster({ endpoint: 'https://x.example.com:0' }));
refused('endpoint-port-99999', 'cluster.apiServerEndpoint', withCluster({ endpoint: 'https://x.example.com:99999' }));
for (const v of ['10.0.0.0/33', '256.0.0.0/16', '10.0.0/16', '010.0.0.0/16', '10.0.0.0/016', '1.2.3.4.5/8', 'fd00::/129', 'fd00:::1/64', '::ffff:1.2.3.4/96', '10.0.0.0', 'fd00::', '999.999.999.999/99']) refused(`cidr-${v.replace(/[/:]/g, '_')}`, 'cluster.cidr', withCluster({ cidr: v }));
for (const [n, v] of Object.entries({ hello: b64('hello'), key: b64('-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n'), 'not-der': b64('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), 'no-padding': CA.replace(/=+$/, ''), trailing: b64('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nextra'), empty: b64('') || 'AAAA' })) refused(`ca-${n}`, 'cluster.certificateAuthority', withCluster({ ca: v }));

// --- URLs: a host, a port in range, no fragment, no credentials.
for (const [n, v] of Object.entries({ 'no-host': 'https:///', 'no-host-path': 'https:///releases', fragment: 'https://m.example.com/soci#x', query: 'https://m.example.com/?a=b', 'port-0': 'https://m.example.com:0/', 'port-big': 'https://m.example.com:99999/', 'bad-host': 'https://-bad-.example.com/', 'empty-port': 'https://m.example.com:/' })) refused(`release-url-${n}`, 'soci.releaseBaseUrl', release(`  releaseBaseUrl: ${q(v)}\n`));
for (const [n, v] of Object.entries({ 'user-pass': 'https://user:pass@m.example.com/', user: 'https://token@m.example.com/', 'encoded': 'https://u%40x:p%3A@m.example.com/' })) refused(`release-url-credentials-${n}`, 'soci.releaseBaseUrl', release(`  releaseBaseUrl: ${q(v)}\n`));
for (const [n, v] of Object.entries({ 'user-pass': 'http://user:pass@proxy.example.com:3128', user: 'http://user@proxy.example.com:3128', 'no-host': 'http:///', fragment: 'http://proxy.example.com:3128#x' })) refused(`proxy-${n}`, 'soci.proxy.https', release(`  proxy: { https: ${q(v)} }\n`));
refused('ecr-helper-url-credentials', 'soci.ecrCredentialHelper.url.amd64', release(`  auth: ecr-credential-helper\n  ecrCredentialHelper:\n    url: { amd64: "https://u:p@h.example.com/ecr-login" }\n    sha256: { amd64: ${SHA.amd64} }\n`, 'lazy'));
refused('mime-boundary-in-url', 'soci.releaseBaseUrl', release(`  releaseBaseUrl: "https://m.example.com/--==SOCI-INSTALLER-BOUNDARY==/"\n`));
refused('mime-boundary-in-tag', 'karpenter.subnetSelectorTerms[0].tags.karpenter.sh/discovery', karpenter({ tagValue: '--==SOCI-INSTALLER-BOUNDARY==' }));

// --- Sizes, duplicates, tags, names.
for (const v of ['99999999999999999999gb', '1025gb', '1048577mb', '9007199254740993b']) refused(`chunk-size-${v}`, 'soci.parallel.chunkSize', parallel({ chunkSize: v }));
refused('mirrors-case-duplicate', 'soci.mirrors[1].registry', base.replace('soci: { mode: lazy, source: ami }\n', 'soci:\n  mode: lazy\n  source: ami\n  mirrors:\n    - { registry: docker.io, endpoints: [{ host: a.example.com }] }\n    - { registry: Docker.IO, endpoints: [{ host: b.example.com }] }\n'));
for (const k of ['aws:team', 'AWS:team', 'Aws:Name', 'aWs:x']) refused(`ami-tag-${k}`, 'ami.tags', amiTags({ [k]: 'x' }));
for (const k of ['soci-installer:soci-mode', 'SOCI-INSTALLER:variant', 'soci-installer:anything']) refused(`ami-tag-${k}`, 'ami.tags', amiTags({ [k]: 'x' }));
for (const n of ['soci-{{arch}}-{timestamp}', '{{timestamp}}-{arch}', 'soci-{arch}}-{timestamp}', 'soci-{{ .SourceAMI }}-{arch}-{timestamp}']) refused(`ami-name-${n}`, 'ami.amiName', amiName(n));
refused('lazy-cri-keychain', 'soci.auth', sociKey('auth', 'cri-keychain'));
refused('fallback-cri-keychain', 'soci.auth', release('  auth: cri-keychain\n', 'lazy-with-parallel-fallback'));
refused('create-namespace-kube-system', 'daemonset.createNamespace', daemonset({ namespace: 'kube-system', createNamespace: 'true' }));
refused('create-namespace-default', 'daemonset.createNamespace', daemonset({ namespace: 'default', createNamespace: 'true' }));
refused('merge-key-in-tags', 'karpenter.subnetSelectorTerms[0].tags', karpenter({ tagKey: '<<' }));
refused('huge-value', 'cluster.name', withCluster({ name: 'x'.repeat(100_000) }));
refused('duplicate-key', 'soci.mode', 'soci:\n  mode: lazy\n  mode: parallel\n  source: ami\n');
refused('duplicate-key-case-sensitive-ok-but-unknown', 'soci.Mode', 'soci:\n  mode: lazy\n  Mode: parallel\n  source: ami\n');
refused('alias-bomb', 'YAML', `a: &a [x, x, x, x, x, x, x, x, x, x]\n${Array.from({ length: 8 }, (_, i) => `${'bcdefghi'[i]}: &${'bcdefghi'[i]} [${Array(10).fill(`*${'abcdefgh'[i]}`).join(', ')}]`).join('\n')}\n`);
refused('complex-key', '(top level)', '? [a, b]\n: c\n');
refused('deep-nesting', 'YAML', `a: ${'['.repeat(5000)}${']'.repeat(4999)}\n`);
refused('invalid-utf8', 'UTF-8', Buffer.concat([Buffer.from('cluster:\n  name: "d'), Buffer.from([0xff, 0xfe]), Buffer.from('emo"\n')]));
refused('invalid-utf8-overlong', 'UTF-8', Buffer.concat([Buffer.from('soci: { mode: "lazy'), Buffer.from([0xc0, 0xaf]), Buffer.from('" }\n')]));

// --- What Karpenter's EC2NodeClass CRD refuses (its CEL rules and limits): a selector term is one of
// id, name or tags; a baked AMI's tags, by which Karpenter selects it, are selector tags too.
const terms = (subnet, group) => `${base}karpenter:\n  role: R\n  subnetSelectorTerms: [${subnet}]\n  securityGroupSelectorTerms: [${group}]\n`;
refused('karpenter-subnet-term-id-and-tags', 'karpenter.subnetSelectorTerms[0]', terms('{ id: subnet-0123456789abcdef0, tags: { a: b } }', '{ name: x }'));
refused('karpenter-sg-term-name-and-id', 'karpenter.securityGroupSelectorTerms[0]', terms('{ tags: { a: b } }', '{ name: x, id: sg-0123456789abcdef0 }'));
refused('karpenter-21-tags', 'karpenter.subnetSelectorTerms[0].tags', terms(`{ tags: { ${Array.from({ length: 21 }, (_, i) => `t${i}: v`).join(', ')} } }`, '{ name: x }'));
refused('karpenter-31-terms', 'karpenter.subnetSelectorTerms', terms(Array.from({ length: 31 }, (_, i) => `{ tags: { t: v${i} } }`).join(', '), '{ name: x }'));
const bakedForKarpenter = (tags) => `${cluster()}${amiTags(tags, '  baked: true\n')}karpenter:\n  role: R\n  subnetSelectorTerms: [{ tags: { a: b } }]\n  securityGroupSelectorTerms: [{ name: x }]\n`;
refused('karpenter-baked-ami-tag-empty', 'ami.tags.team', bakedForKarpenter({ team: '' }));
refused('karpenter-baked-ami-18-tags', 'ami.tags', bakedForKarpenter(Object.fromEntries(Array.from({ length: 18 }, (_, i) => [`t${i}`, 'v']))));
accepted('karpenter-baked-ami-17-tags', bakedForKarpenter(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`t${i}`, 'v']))));
accepted('ami-tag-empty-without-karpenter', amiTags({ team: '' }));

// Write: clear old files, then NNN-name.yaml.
for (const f of readdirSync(HERE)) if (f.endsWith('.yaml')) rmSync(join(HERE, f));
cases.forEach((c, i) => {
  const file = `${String(i + 1).padStart(3, '0')}-${c.name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60)}.yaml`;
  const head = Buffer.from(`# expect: ${c.expect}\n`);
  writeFileSync(join(HERE, file), Buffer.concat([head, Buffer.isBuffer(c.text) ? c.text : Buffer.from(c.text)]));
});
const n = cases.filter((c) => c.expect !== 'accepted').length;
console.log(`${cases.length} profiles: ${n} to be refused, ${cases.length - n} to be accepted`);
