// A NodeConfig part of user data as nodeadm decodes it, or, where nodeadm cannot, what it would say.
// Why it matters: nodeadm's config chain tolerates a decoding error in user data by ignoring ALL of the
// user data, every NodeConfig part in it, the cluster block too (amazon-eks-ami
// nodeadm/internal/configprovider/chain.go at 81fec2e8; other errors of the user-data provider stop
// nodeadm). Measured verdicts: test/validators.test.ts feeds every case through nodeadm itself.
//
// The steps, as nodeadm takes them (configprovider/mime.go, encoding.go and api/bridge/decode.go):
// the body base64-decoded when it decodes, gunzipped when it is gzip; JSON when it starts with '{',
// else YAML 1.1 (sigs.k8s.io/yaml over go.yaml.in/yaml/v2: only the first document counts, a repeated
// key's last value wins, .inf/.nan have no JSON form), then apiVersion and kind (matched in any letter
// case) against what the scheme registers (api/bridge/scheme.go: v1alpha1 and the internal version),
// then the fields into Go types, which is checked here as JSON types against the CRD's
// openAPIV3Schema (schemas/upstream/node.eks.aws_nodeconfigs.yaml; unknown fields are accepted, null
// leaves the zero value). Where the yaml package reads YAML differently from go-yaml, the answer is
// unsure, and unsure is never a refusal.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { isAlias, isMap, isSeq, parse, parseAllDocuments, Scalar, visit, type Document, type ScalarTag, type Tags, type YAMLError, type YAMLMap } from 'yaml';
import { NODECONFIG_CRD } from '../package/locations.js';
import { CONTENT_TYPES, type Part } from './archive.js';
import { GO_SPACE, parseMediaType } from './media-type.js';

export interface NodeConfigView {
  spec?: { cluster?: { name?: unknown; apiServerEndpoint?: unknown }; containerd?: { config?: unknown }; featureGates?: Record<string, unknown> };
}

/** doc: as nodeadm decodes it; problem: why nodeadm cannot (one short clause). */
export type DecodedPart = { doc: NodeConfigView } | { problem: string };

// Go's base64.StdEncoding.Decode: padded standard alphabet; it skips CR and LF.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const isBase64 = (s: string) => BASE64.test(s.replace(/[\r\n]/g, ''));

// go-yaml v2 reads a plain scalar as a number (resolve.go) when, underscores dropped, it is decimal
// (an optional fraction and exponent, or .5; too large for a float64 it stays a string) or Go's
// strconv.ParseInt with base prefix 0x, 0o or 0b reads it (past int64 it may stay a string: longer
// ones are strings here too). The yaml package's other 1.1 numbers (sexagesimal 1:20, '.', 0x_) and
// its timestamps are strings to go-yaml.
const GO_NUMBER: ScalarTag = {
  tag: 'tag:yaml.org,2002:float',
  default: true,
  identify: (v) => typeof v === 'number',
  test: /^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+)$/,
  resolve: (s) => {
    const plain = s.replace(/_/g, '');
    const prefixed = /^([-+]?)0([xob])(.*)$/i.exec(plain);
    if (prefixed) {
      const [, sign, base, digits] = prefixed as unknown as [string, string, string, string];
      const radix = { x: 16, o: 8, b: 2 }[base.toLowerCase() as 'x' | 'o' | 'b'];
      return digits.length > 0 && digits.length <= { 16: 15, 8: 21, 2: 63 }[radix]! ? Number.parseInt(sign + digits, radix) : s;
    }
    const n = Number(plain);
    return Number.isFinite(n) ? n : s;
  },
};
// A << key as go-yaml v2 merges it (nodeadm-render shows it: test/validators.test.ts's merge key cases): its maps' keys are set over the keys the
// mapping has so far (a key after it is set over them in turn), and of a list of maps the first
// wins. The yaml package keeps a key already there instead (the YAML 1.1 merge spec), so `name: yes`
// before `<<: {name: a}` would read as true where nodeadm reads a (seen with nodeadm-render).
type ToJSContext = Parameters<YAMLMap['toJSON']>[1];
class MergeSourceError extends Error {}
function goMerge(ctx: ToJSContext, map: Record<string, unknown> | Map<unknown, unknown>, value: unknown): typeof map {
  const resolved = (v: unknown) => (isAlias(v) && ctx ? v.resolve(ctx.doc, ctx) : v);
  const source = resolved(value);
  for (const item of isSeq(source) ? [...source.items].reverse() : [source]) {
    const from = resolved(item);
    if (!isMap(from)) throw new MergeSourceError(); // go-yaml stops too (failWantMap)
    for (const [k, v] of from.toJSON(null, ctx, Map)) {
      // A Map when the merged map is itself a merge source (toJSON above); else the plain object toJS builds.
      if (map instanceof Map) map.set(k, v);
      else Object.defineProperty(map, String(k), { value: v, writable: true, enumerable: true, configurable: true });
    }
  }
  return map;
}
const GO_MERGE: ScalarTag = {
  tag: 'tag:yaml.org,2002:merge',
  default: 'key',
  identify: (v) => v === '<<' || (typeof v === 'symbol' && v.description === '<<'),
  test: /^<<$/,
  resolve: () => Object.assign(new Scalar(Symbol('<<')), { addToJSMap: goMerge }) as unknown as string,
  stringify: () => '<<',
};
const goTags = (tags: Tags): Tags => [
  // Keeps map, seq, str, null, the bools (the same spellings as go-yaml's) and .inf/.nan.
  ...tags.filter((t) => typeof t === 'string' || !/:(int|float|timestamp|binary|omap|pairs|set|merge)$/.test(t.tag) || (t as ScalarTag).test?.test('.nan')),
  GO_NUMBER,
  GO_MERGE,
];

// Where the yaml package refuses what go-yaml reads: flow collections ([...], {...}) and quoted
// scalars continued less indented over lines; '#' right after a closing quote or bracket, or after |;
// some entries of flow collections ([-, a] and {a: b:, c}). Such an error before the end of the text
// may be one go-yaml never sees.
const GO_YAML_READS = [/^Flow (map|sequence) in block collection/, /^Missing closing .?quote/, /^Comments must be separated from other tokens/];
function unsureYamlError(err: YAMLError, text: string, flows: readonly [number, number][]): boolean {
  const at = err.pos[0];
  const lenient = GO_YAML_READS.some((re) => re.test(err.message)) || flows.some(([start, end]) => at >= start && at < end);
  return lenient && text.slice(at).trim() !== '';
}

/**
 * go-yaml v2 (a port of libyaml) reads %YAML 1.1 only ("found incompatible YAML document") and no
 * directive but %YAML and %TAG ("found unknown directive name"); the yaml package reads 1.2 too, and
 * warns (BAD_DIRECTIVE) at the others.
 */
function directiveProblem(doc: Document): string | undefined {
  if (doc.warnings.some((w) => w.code === 'BAD_DIRECTIVE')) return 'its YAML has a directive go-yaml does not read (it reads %YAML 1.1 and %TAG)';
  const { explicit, version } = doc.directives?.yaml ?? {};
  return explicit && version !== '1.1' ? `its YAML says %YAML ${version}, and go-yaml reads YAML 1.1 only` : undefined;
}

/** The source ranges of a document's flow collections. */
function flowRanges(doc: Document): [number, number][] {
  const ranges: [number, number][] = [];
  visit(doc, {
    Collection(_, node) {
      if (node.flow && node.range) ranges.push([node.range[0], node.range[1]]);
    },
  });
  return ranges;
}

// A CRD lists no fields of metadata (the API server knows them); nodeadm decodes it into ObjectMeta
// (k8s.io/apimachinery pkg/apis/meta/v1/types.go), whose string, map and list fields are these. Its
// numbers and times are not modelled (as elsewhere here: unsure is never a refusal).
const STRING: Schema = { type: 'string' };
const OBJECT_META: Schema = {
  type: 'object',
  properties: {
    ...Object.fromEntries(['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion'].map((f) => [f, STRING])),
    labels: { type: 'object', additionalProperties: STRING },
    annotations: { type: 'object', additionalProperties: STRING },
    finalizers: { type: 'array', items: STRING },
    ownerReferences: { type: 'array', items: { type: 'object' } },
    managedFields: { type: 'array', items: { type: 'object' } },
  },
};

let crd: { group: string; kind: string; versions: Map<string, Schema> } | undefined;
function nodeConfigCrd(): NonNullable<typeof crd> {
  if (crd) return crd;
  const spec = parse(readFileSync(NODECONFIG_CRD, 'utf8')).spec;
  const withMeta = (schema: Schema): Schema => ({ ...schema, properties: { ...schema.properties, metadata: OBJECT_META } });
  crd = { group: spec.group, kind: spec.names.kind, versions: new Map(spec.versions.map((v: { name: string; schema: { openAPIV3Schema: Schema } }) => [v.name, withMeta(v.schema.openAPIV3Schema)])) };
  return crd;
}

interface Schema {
  type?: string;
  format?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
}

/** The JSON type of a value, or undefined for what is not plain JSON (a Date, bytes): unsure. */
function jsonType(v: unknown): string | undefined {
  if (Array.isArray(v)) return 'array';
  if (v === null || ['string', 'boolean', 'number'].includes(typeof v)) return v === null ? 'null' : typeof v;
  return typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype ? 'object' : undefined;
}

const TYPE_NAMES: Record<string, string> = { string: 'a string', boolean: 'a boolean', number: 'a number', object: 'a map', array: 'a list' };
const MODELLED = ['string', 'boolean', 'object', 'array'];

/** The first value whose JSON type the schema's Go field cannot take, as "path is a T where nodeadm expects a U". */
function typeProblem(value: unknown, schema: Schema, path: string): string | undefined {
  if (value === null || schema['x-kubernetes-preserve-unknown-fields'] || schema['x-kubernetes-int-or-string']) return undefined;
  const actual = jsonType(value);
  if (actual === undefined || schema.type === undefined || !MODELLED.includes(schema.type)) return undefined;
  // Go's []byte (format: byte) also takes a JSON list of numbers 0-255.
  if (schema.format === 'byte' && actual === 'array') return undefined;
  if (actual !== schema.type) return `${path} is ${TYPE_NAMES[actual]} where nodeadm expects ${TYPE_NAMES[schema.type]}${schema.type === 'string' && actual !== 'object' && actual !== 'array' ? ' (quote it)' : ''}`;
  if (schema.format === 'byte' && !isBase64(value as string)) return `${path} is not base64, which nodeadm decodes it as`;
  if (actual === 'array' && schema.items) {
    for (const [i, item] of (value as unknown[]).entries()) {
      const p = typeProblem(item, schema.items, `${path}[${i}]`);
      if (p) return p;
    }
  }
  if (actual === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      const p = sub && typeProblem(v, sub, path ? `${path}.${k}` : k);
      if (p) return p;
    }
  }
  return undefined;
}

/** A .inf or .nan anywhere: sigs.k8s.io/yaml cannot turn the document into JSON. */
function nonFinite(v: unknown, path: string): string | undefined {
  if (typeof v === 'number' && !Number.isFinite(v)) return `${path} is ${Number.isNaN(v) ? '.nan' : '.inf'}, which has no JSON form`;
  if (jsonType(v) === 'array' || jsonType(v) === 'object') {
    for (const [k, x] of Object.entries(v as object)) {
      const p = nonFinite(x, Array.isArray(v) ? `${path}[${k}]` : path ? `${path}.${k}` : k);
      if (p) return p;
    }
  }
  return undefined;
}

/** apiVersion or kind as encoding/json reads them (any letter case); undefined when two spellings disagree. */
function typeMetaField(doc: Record<string, unknown>, name: string): { value: unknown } | undefined {
  const values = new Set(Object.keys(doc).filter((k) => k.toLowerCase() === name.toLowerCase()).map((k) => doc[k]));
  return values.size > 1 ? undefined : { value: [...values][0] ?? null };
}

const JSON_START = new RegExp(`^[${GO_SPACE}]*\\{`);

/** A part as nodeadm decodes it when its media type is NodeConfig's (parameters and letter case aside); undefined when it is not one, or when unsure. */
export function decodeNodeConfigPart(part: Part): DecodedPart | undefined {
  const media = parseMediaType(part.contentType);
  if (!('type' in media) || media.type !== CONTENT_TYPES.nodeConfig) return undefined;
  let bytes = isBase64(part.body) ? Buffer.from(part.body.replace(/[\r\n]/g, ''), 'base64') : Buffer.from(part.body);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      return { problem: `its body is gzip data that does not decompress (${(err as Error).message})` };
    }
  }
  const text = bytes.toString('utf8');
  let doc: unknown;
  // JSON when it starts with '{' after unicode.IsSpace characters (k8s.io/apimachinery util/yaml IsJSONBuffer).
  if (JSON_START.test(text)) {
    try {
      doc = JSON.parse(text);
    } catch (err) {
      return { problem: `it is JSON that does not parse: ${(err as Error).message}` };
    }
  } else {
    const first = parseAllDocuments(text, { version: '1.1', uniqueKeys: false, customTags: goTags, logLevel: 'error' })[0];
    const errors = first?.errors ?? [];
    if (first && errors.some((e) => unsureYamlError(e, text, flowRanges(first)))) return undefined;
    if (errors.length > 0) return { problem: `its YAML does not parse: ${errors[0]!.message.split('\n')[0]!.replace(/:$/, '')}` };
    const directive = first && directiveProblem(first);
    if (directive) return { problem: directive };
    try {
      doc = first ? first.toJS() : null;
    } catch (err) {
      if (err instanceof MergeSourceError) return { problem: 'a << (merge) key has a value other than a map or a list of maps' };
      // go-yaml too reads an anchor only before its aliases ("unknown anchor ... referenced").
      const alias = err instanceof ReferenceError && /^Unresolved alias .*: (.*)$/.exec(err.message)?.[1];
      if (alias) return { problem: `its YAML has an alias, *${alias}, with no anchor &${alias} before it` };
      return undefined;
    }
    const inf = nonFinite(doc, '');
    if (inf) return { problem: inf };
  }
  if (jsonType(doc) !== 'object') return { problem: `it is ${doc === null ? 'empty' : (TYPE_NAMES[jsonType(doc) ?? ''] ?? 'a value')}, not a NodeConfig map` };
  const fields = doc as Record<string, unknown>;
  const apiVersion = typeMetaField(fields, 'apiVersion');
  const kind = typeMetaField(fields, 'kind');
  if (!apiVersion || !kind) return undefined;
  for (const [name, f] of [['apiVersion', apiVersion], ['kind', kind]] as const) {
    if (f.value !== null && typeof f.value !== 'string') return { problem: `its ${name} is not a string` };
    if (!f.value) return { problem: `it has no ${name}` };
  }
  const { group, kind: known, versions } = nodeConfigCrd();
  const gv = (apiVersion.value as string).split('/');
  const registered = gv.length === 2 && gv[0] === group && (versions.has(gv[1]!) || gv[1] === '__internal') && kind.value === known;
  if (!registered) return { problem: `nodeadm knows no kind ${kind.value} of apiVersion ${apiVersion.value as string} (it reads ${known} of ${group}/${[...versions.keys()].join(', ')})` };
  const schema = versions.get(gv[1]!);
  const wrongType = schema && typeProblem(doc, schema, '');
  return wrongType ? { problem: wrongType } : { doc: doc as NodeConfigView };
}
