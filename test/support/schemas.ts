/**
 * JSON Schema validators (ajv, draft-07 dialect) built from the upstream schemas in schemas/upstream/
 * (copied unchanged; sources in schemas/upstream/README.md). Nothing outside the repository is read.
 *
 * API (each returns a list of readable errors, "<instancePath> <message>"; empty = valid):
 *   validateNodeConfig(obj: unknown): string[]
 *     nodeadm's NodeConfig CRD, v1alpha1 openAPIV3Schema, made strict for tests:
 *       - additionalProperties: false wherever an object lists `properties` and says nothing about extra keys
 *         (catches typos that nodeadm would silently drop),
 *       - `type` dropped wherever x-kubernetes-preserve-unknown-fields is set (kubelet.config holds raw JSON
 *         values such as maxPods: 110),
 *       - format: byte checked as base64 (ajv-formats),
 *       - apiVersion must be node.eks.aws/v1alpha1 and kind NodeConfig (nodeadm's decoder requires them).
 *     Not checked: nodeadm's in-code validation (required cluster fields unless using auto-discovery).
 *   validateEC2NodeClass(obj: unknown): string[]
 *     Karpenter's EC2NodeClass CRD, v1 openAPIV3Schema, with the same strictness transform (the API server
 *     rejects unknown fields under kubectl's default strict field validation), and apiVersion
 *     karpenter.k8s.aws/v1, kind EC2NodeClass. CEL rules (x-kubernetes-validations) are NOT run.
 *   validateEksctlClusterConfig(obj: unknown): string[]
 *     eksctl's published ClusterConfig JSON Schema as is (its $schema line dropped in memory).
 *   strictCrdSchema(schema): Record<string, unknown>     the transform above, for other CRDs
 *   crdSchema(file, version): Record<string, unknown>   a CRD version's openAPIV3Schema from schemas/upstream
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from './exec.js';

const SCHEMA_DIR = join(REPO_ROOT, 'schemas', 'upstream');

type Json = Record<string, unknown>;

// ajv-formats is CommonJS; under NodeNext its default export is module.exports (whose .default is the function)
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  ajv: Ajv,
) => Ajv;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function crdSchema(file: string, version: string): Json {
  const doc = parseYaml(readFileSync(join(SCHEMA_DIR, file), 'utf8')) as Json;
  const versions = (doc.spec as Json | undefined)?.versions;
  if (!Array.isArray(versions)) throw new Error(`${file}: no spec.versions`);
  const v = versions.find((x) => isObject(x) && x.name === version) as Json | undefined;
  const schema = (v?.schema as Json | undefined)?.openAPIV3Schema;
  if (!isObject(schema)) throw new Error(`${file}: no openAPIV3Schema for version ${version}`);
  return schema;
}

export function strictCrdSchema(schema: unknown): Json {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!isObject(node)) return node;
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) {
      // `properties` is a map of names to schemas, not a schema: walk its values only
      if (k === 'properties' && isObject(v)) {
        out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, walk(s)]));
      } else if (k === 'enum' || k === 'default' || k === 'example') {
        out[k] = v; // data, not schemas
      } else {
        out[k] = walk(v);
      }
    }
    if (out['x-kubernetes-preserve-unknown-fields'] === true) {
      delete out.type;
    } else if (isObject(out.properties) && out.additionalProperties === undefined) {
      out.additionalProperties = false;
    }
    return out;
  };
  return walk(schema) as Json;
}

/** annotation keywords the upstream schemas use besides JSON Schema's own (eksctl: preferredOrder) */
const ANNOTATIONS = ['preferredOrder'];

function collectVendorKeywords(node: unknown, into: Set<string>): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => collectVendorKeywords(n, into));
  else if (isObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k.startsWith('x-')) into.add(k);
      if (k !== 'properties') collectVendorKeywords(v, into);
      else if (isObject(v)) Object.values(v).forEach((s) => collectVendorKeywords(s, into));
    }
  }
  return into;
}

function newAjv(schema: unknown): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictTuples: false, strictRequired: false });
  addFormats(ajv);
  ajv.addVocabulary([...collectVendorKeywords(schema, new Set(ANNOTATIONS))]);
  return ajv;
}

function formatErrors(errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((e) => {
    const where = e.instancePath || '/';
    const extra =
      e.keyword === 'additionalProperties'
        ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'`
        : e.keyword === 'enum'
          ? ` ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}`
          : '';
    return `${where} ${e.message ?? e.keyword}${extra}`;
  });
}

function lazy(build: () => ValidateFunction): (obj: unknown) => string[] {
  let fn: ValidateFunction | undefined;
  return (obj: unknown) => {
    fn ??= build();
    return fn(obj) ? [] : formatErrors(fn.errors);
  };
}

function withApiVersionKind(schema: Json, apiVersion: string, kind: string): Json {
  const properties = { ...(schema.properties as Json) };
  properties.apiVersion = { ...(properties.apiVersion as Json), enum: [apiVersion] };
  properties.kind = { ...(properties.kind as Json), enum: [kind] };
  const required = new Set([...((schema.required as string[] | undefined) ?? []), 'apiVersion', 'kind']);
  return { ...schema, properties, required: [...required] };
}

export const validateNodeConfig = lazy(() => {
  const schema = withApiVersionKind(
    strictCrdSchema(crdSchema('node.eks.aws_nodeconfigs.yaml', 'v1alpha1')),
    'node.eks.aws/v1alpha1',
    'NodeConfig',
  );
  return newAjv(schema).compile(schema);
});

export const validateEC2NodeClass = lazy(() => {
  const schema = withApiVersionKind(
    strictCrdSchema(crdSchema('karpenter.k8s.aws_ec2nodeclasses.yaml', 'v1')),
    'karpenter.k8s.aws/v1',
    'EC2NodeClass',
  );
  return newAjv(schema).compile(schema);
});

export const validateEksctlClusterConfig = lazy(() => {
  const doc = JSON.parse(readFileSync(join(SCHEMA_DIR, 'eksctl.io_v1alpha5_clusterconfig.schema.json'), 'utf8')) as Json;
  delete doc.$schema;
  return newAjv(doc).compile(doc);
});

/**
 * The CEL rules (x-kubernetes-validations) of Karpenter's EC2NodeClass CRD that concern the fields we
 * write, evaluated in TypeScript because ajv does not run CEL; the API server does, and refuses the
 * object. Each check is the rule's own text, found in schemas/upstream/karpenter.k8s.aws_ec2nodeclasses.yaml
 * (aws/karpenter-provider-aws pkg/apis/crds/, 7695b3c4) first, so a rule upstream rewrites fails this
 * loudly instead of being checked as it used to read. Returns "<path>: <the rule's message>" per breach.
 */
export function ec2NodeClassCelProblems(obj: unknown): string[] {
  const crd = readFileSync(join(SCHEMA_DIR, 'karpenter.k8s.aws_ec2nodeclasses.yaml'), 'utf8');
  const out: string[] = [];
  const rule = (text: string, message: string, path: string, holds: boolean) => {
    if (!crd.includes(text)) throw new Error(`the EC2NodeClass CRD no longer has the CEL rule ${text}`);
    if (!holds) out.push(`${path}: ${message}`);
  };
  const spec = (isObject(obj) && isObject(obj.spec) ? obj.spec : {}) as Json;
  const terms = (k: string) => (Array.isArray(spec[k]) ? (spec[k] as Json[]) : []);
  const has = (t: Json, k: string) => t[k] !== undefined;
  for (const key of ['amiSelectorTerms', 'subnetSelectorTerms', 'securityGroupSelectorTerms']) {
    terms(key).forEach((t, i) => {
      if (!isObject(t.tags)) return;
      const tags = Object.entries(t.tags);
      rule("self.all(k, k != '' && self[k] != '')", "empty tag keys or values aren't supported", `spec.${key}[${i}].tags`, tags.every(([k, v]) => k !== '' && v !== ''));
    });
  }
  const subnets = terms('subnetSelectorTerms');
  rule('self.all(x, has(x.tags) || has(x.id))', "expected at least one, got none, ['tags', 'id']", 'spec.subnetSelectorTerms', subnets.every((x) => has(x, 'tags') || has(x, 'id')));
  rule("'!self.all(x, has(x.id) && has(x.tags))'", "'id' is mutually exclusive", 'spec.subnetSelectorTerms', !subnets.every((x) => has(x, 'id') && has(x, 'tags')));
  const groups = terms('securityGroupSelectorTerms');
  rule('self.all(x, has(x.tags) || has(x.id) || has(x.name))', "expected at least one, got none, ['tags', 'id', 'name']", 'spec.securityGroupSelectorTerms', groups.every((x) => has(x, 'tags') || has(x, 'id') || has(x, 'name')));
  rule("'!self.all(x, has(x.id) && (has(x.tags) || has(x.name)))'", "'id' is mutually exclusive", 'spec.securityGroupSelectorTerms', !groups.every((x) => has(x, 'id') && (has(x, 'tags') || has(x, 'name'))));
  rule("'!self.all(x, has(x.name) && (has(x.tags) || has(x.id)))'", "'name' is mutually exclusive", 'spec.securityGroupSelectorTerms', !groups.every((x) => has(x, 'name') && (has(x, 'tags') || has(x, 'id'))));
  const amis = terms('amiSelectorTerms');
  rule("'!self.exists(x, has(x.id) && (has(x.alias) || has(x.tags) || has(x.name) || has(x.owner)))'", "'id' is mutually exclusive", 'spec.amiSelectorTerms', !amis.some((x) => has(x, 'id') && ['alias', 'tags', 'name', 'owner'].some((k) => has(x, k))));
  rule("'!(self.exists(x, has(x.alias)) && self.size() != 1)'", "'alias' is mutually exclusive", 'spec.amiSelectorTerms', !(amis.some((x) => has(x, 'alias')) && amis.length !== 1));
  for (const [i, t] of amis.entries()) {
    if (typeof t.alias === 'string') rule("self.matches('^[a-zA-Z0-9]+@.+$')", "'alias' is improperly formatted", `spec.amiSelectorTerms[${i}].alias`, /^[a-zA-Z0-9]+@.+$/.test(t.alias));
  }
  rule("'self.amiSelectorTerms.exists(x, has(x.alias)) ? true : has(self.amiFamily)'", 'must specify amiFamily if amiSelectorTerms does not contain an alias', 'spec', amis.some((x) => has(x, 'alias')) || has(spec, 'amiFamily'));
  rule("(has(self.role) && !has(self.instanceProfile)) || (!has(self.role) && has(self.instanceProfile))", "must specify exactly one of ['role', 'instanceProfile']", 'spec', has(spec, 'role') !== has(spec, 'instanceProfile'));
  if (typeof spec.role === 'string') rule('self != \'\'', 'role cannot be empty', 'spec.role', spec.role !== '');
  return out;
}
