// What every AWS SDK client is made with: a region checked against the one region pattern (the
// schema's eksctl.region and ami.region use it too), our retries, and the proxy the environment names.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { UsageError } from '../errors.js';
import { REGION, REGION_HINT } from './names.js';

/** Attempts per call (the SDK's standard retry: throttling and 5xx are retried with backoff). */
export const MAX_ATTEMPTS = 5;

/**
 * The options of an SDK client. `region` comes from --region or the schema-checked profile; absent,
 * the SDK finds it (AWS_REGION, the AWS config file).
 */
export function clientConfig(region: string | undefined, env: NodeJS.ProcessEnv = process.env): ClientConfig {
  if (region !== undefined && !new RegExp(REGION).test(region)) {
    throw new UsageError(`--region: ${JSON.stringify(region)} is not ${REGION_HINT}`);
  }
  return { ...(region !== undefined ? { region } : {}), maxAttempts: MAX_ATTEMPTS, ...proxyHandler(env) };
}

export interface ClientConfig {
  region?: string;
  maxAttempts: number;
  requestHandler?: { httpAgent: HttpAgent; httpsAgent: HttpsAgent };
}

export const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy'];

/**
 * The SDK sends through agents of its own, which use no proxy (the AWS CLI honours HTTPS_PROXY). Where
 * one is set, ours: Node's agents read HTTPS_PROXY, HTTP_PROXY and NO_PROXY from `proxyEnv` (Node 24,
 * and 22.23 as tested; an older Node ignores the option and sends direct). keepAlive and maxSockets as
 * the SDK's own agents have them.
 */
function proxyHandler(env: NodeJS.ProcessEnv): Pick<ClientConfig, 'requestHandler'> {
  if (!PROXY_VARIABLES.some((name) => env[name])) return {};
  const options = { keepAlive: true, maxSockets: 50, proxyEnv: env };
  return { requestHandler: { httpAgent: new HttpAgent(options), httpsAgent: new HttpsAgent(options) } };
}
