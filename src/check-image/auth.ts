// Where registry credentials come from, in docker's order (docker/cli at 28f75608, v29.7.2+:
// cli/config/configfile/file.go GetCredentialsStore/getConfiguredCredentialStore, credentials/native_store.go,
// credentials/file_store.go ConvertToHostname):
//   1. credHelpers[host] -> run docker-credential-<helper> get;
//   2. else credsStore   -> run docker-credential-<store> get (the file's auths entry is then not used);
//   3. else auths[host].auth (base64 user:password) or identitytoken;
//   4. nothing found and an ECR host -> ECR GetAuthorizationToken through the AWS SDK, loaded only then.
// The config is $DOCKER_CONFIG/config.json, else ~/.docker/config.json. Docker Hub's key is
// "https://index.docker.io/v1/".
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { call } from '../aws/errors.js';
import { clientConfig, type ClientConfig } from '../aws/config.js';
import { REGION } from '../aws/names.js';

export type Credential = { username: string; password: string } | { identityToken: string };

export interface CredentialLookup {
  /** what was tried, for "unauthorized" lines: "~/.docker/config.json auths", "credHelpers: docker-credential-ecr-login" */
  source: string;
  credential?: Credential;
  /** a helper or the SDK failed: the check goes on anonymously, and says this if the registry refuses */
  failure?: string;
}

/** ECR's GetAuthorizationToken, behind an interface so tests run without AWS. */
export interface EcrTokenProvider {
  token(region: string, registryId: string): Promise<{ username: string; password: string }>;
}

export interface AuthDeps {
  env?: NodeJS.ProcessEnv;
  /** runs `docker-credential-<name> get` with serverUrl on stdin */
  runHelper?: (name: string, serverUrl: string) => Promise<{ code: number; stdout: string; stderr: string }>;
  ecr?: EcrTokenProvider;
}

const HUB_KEY = 'https://index.docker.io/v1/';

interface DockerConfig {
  auths?: Record<string, { auth?: string; identitytoken?: string; username?: string; password?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** 123456789012.dkr.ecr.us-west-2.amazonaws.com (also -fips, .cn, and the dual-stack dkr-ecr ... on.aws). */
const ECR_HOST = new RegExp(`^(\\d{12})\\.dkr[.-]ecr(?:-fips)?\\.(${REGION.slice(1, -1)})\\.(?:amazonaws\\.com(?:\\.cn)?|on\\.aws)$`);

export function ecrHost(host: string): { registryId: string; region: string } | undefined {
  const m = ECR_HOST.exec(host);
  return m ? { registryId: m[1]!, region: m[2]! } : undefined;
}

function configPath(env: NodeJS.ProcessEnv): string {
  return join(env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker'), 'config.json');
}

function readDockerConfig(path: string): DockerConfig | { failure: string } | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined; // no file: anonymous, as docker
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (e) {
    return { failure: `${path} is not valid JSON (${(e as Error).message})` };
  }
}

/** The host part of an auths key ("https://host:5000/v2/" -> "host:5000"), as docker's ConvertToHostname. */
function hostOfKey(key: string): string {
  const rest = key.includes('://') ? key.slice(key.indexOf('://') + 3) : key;
  return rest.split('/')[0]!;
}

function defaultRunHelper(name: string, serverUrl: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(`docker-credential-${name}`, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', (e) => resolve({ code: 127, stdout, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.on('error', () => undefined); // a helper that exits without reading its stdin
    child.stdin.end(serverUrl);
  });
}

async function fromHelper(name: string, serverUrl: string, source: string, deps: AuthDeps): Promise<CredentialLookup> {
  const r = await (deps.runHelper ?? defaultRunHelper)(name, serverUrl);
  if (r.code !== 0) {
    const msg = `${r.stdout}${r.stderr}`.trim();
    // docker-credential-helpers' client: this text means "nothing stored", not a failure.
    if (/credentials not found/i.test(msg)) return { source: `${source} (no credentials stored for ${serverUrl})` };
    return { source, failure: `docker-credential-${name} failed: ${msg.split('\n')[0] || `exit ${r.code}`}` };
  }
  try {
    const out = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    if (!out.Secret) return { source: `${source} (no credentials stored for ${serverUrl})` };
    // The helper protocol marks an identity (refresh) token with the username "<token>".
    return { source, credential: out.Username === '<token>' ? { identityToken: out.Secret } : { username: out.Username ?? '', password: out.Secret } };
  } catch {
    return { source, failure: `docker-credential-${name} printed something other than JSON` };
  }
}

/** Credentials for one registry host (as named in references: "docker.io", "host:5000"). */
export async function credentialsFor(registry: string, deps: AuthDeps = {}): Promise<CredentialLookup> {
  const env = deps.env ?? process.env;
  const path = configPath(env);
  const key = registry === 'docker.io' ? HUB_KEY : registry;
  const config = readDockerConfig(path);
  if (config && 'failure' in config) return { source: path, failure: config.failure };
  const helper = config?.credHelpers?.[key] ?? config?.credsStore;
  let found: CredentialLookup | undefined;
  if (helper) {
    const which = config?.credHelpers?.[key] ? 'credHelpers' : 'credsStore';
    found = await fromHelper(helper, key, `${path} ${which}: docker-credential-${helper}`, deps);
  } else {
    const auths = config?.auths ?? {};
    const entryKey = key in auths ? key : Object.keys(auths).find((k) => hostOfKey(k) === hostOfKey(key));
    const entry = entryKey !== undefined ? auths[entryKey] : undefined;
    const source = `${path} auths["${entryKey ?? key}"]`;
    if (entry?.identitytoken) found = { source, credential: { identityToken: entry.identitytoken } };
    else if (entry?.auth) {
      const plain = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = plain.indexOf(':');
      found = colon > 0 ? { source, credential: { username: plain.slice(0, colon), password: plain.slice(colon + 1).replace(/\0+$/, '') } } : { source, failure: `${source}.auth is not base64 of user:password` };
    } else if (entry?.username && entry.password) found = { source, credential: { username: entry.username, password: entry.password } };
  }
  if (found?.credential || found?.failure) return found;
  const ecr = ecrHost(registry);
  if (ecr) {
    const source = `ECR GetAuthorizationToken (${ecr.region}, AWS SDK default credentials)`;
    try {
      return { source, credential: await (deps.ecr ?? sdkEcrTokens).token(ecr.region, ecr.registryId) };
    } catch (e) {
      return { source, failure: `${source} failed: ${(e as Error).message}` };
    }
  }
  return found ?? { source: `anonymous (no entry for ${key} in ${path})` };
}

// The ECR client is not a type dependency: the module name is held in a variable so TypeScript does not
// resolve it, and it is imported only here, only for ECR hosts.
const ECR_SDK = '@aws-sdk/client-ecr';
interface EcrSdk {
  ECRClient: new (cfg: ClientConfig) => { send(cmd: unknown): Promise<{ authorizationData?: { authorizationToken?: string }[] }> };
  GetAuthorizationTokenCommand: new (input: Record<string, never>) => unknown;
}

export const sdkEcrTokens: EcrTokenProvider = {
  async token(region, registryId) {
    let sdk: EcrSdk;
    try {
      sdk = (await import(ECR_SDK)) as EcrSdk;
    } catch {
      throw new Error(`${ECR_SDK} is not installed (npm ci installs it; or log in with docker-credential-ecr-login)`);
    }
    const out = await call('ecr:GetAuthorizationToken', `registry ${registryId} in ${region}`, () => new sdk.ECRClient(clientConfig(region)).send(new sdk.GetAuthorizationTokenCommand({})));
    const token = out.authorizationData?.[0]?.authorizationToken;
    if (!token) throw new Error('GetAuthorizationToken returned no token');
    // The token is base64 of "AWS:<password>", used as basic auth (ECR's documented docker login).
    const plain = Buffer.from(token, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    return { username: plain.slice(0, colon), password: plain.slice(colon + 1) };
  },
};
