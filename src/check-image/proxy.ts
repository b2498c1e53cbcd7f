// Registries behind a proxy. fetch ignores HTTPS_PROXY and HTTP_PROXY unless Node's own proxy support
// is on; docker and curl honour them, so check-image switches it on where one is set. Node 24 can at
// run time (http.setGlobalProxyFromEnv, which reads NO_PROXY too); Node 22 only at start, with
// NODE_USE_ENV_PROXY=1, so there the returned note says how. The AWS SDK's call for an ECR token goes
// through the agents of aws/config.ts.
import { PROXY_VARIABLES } from '../aws/config.js';

/** Makes fetch use the proxy the environment names; a note for stderr where this Node cannot (`http`: node:http). */
export function useProxyFromEnv(env: NodeJS.ProcessEnv, http: object): string | undefined {
  const set = PROXY_VARIABLES.find((name) => env[name]);
  if (set === undefined || env.NODE_USE_ENV_PROXY === '1') return undefined;
  // Not in @types/node 22's declarations of node:http.
  if ('setGlobalProxyFromEnv' in http && typeof http.setGlobalProxyFromEnv === 'function') {
    http.setGlobalProxyFromEnv(env);
    return undefined;
  }
  return `${set} is set, but Node ${process.version} sends requests through it only when started with NODE_USE_ENV_PROXY=1 (Node 24 needs nothing): run NODE_USE_ENV_PROXY=1 soci-installer check-image ...`;
}
