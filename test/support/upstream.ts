/**
 * The real upstream programs (nodeadm, nodeadm-render, soci v0.15.0, containerd 2.2.4 and 1.7.27), unpacked
 * by scripts/setup-upstream.sh into .cache/upstream/bin/. A missing one fails the test with the fix.
 *
 * API:
 *   type UpstreamName = 'nodeadm' | 'nodeadm-render' | 'soci-snapshotter-grpc' | 'soci' | 'soci-config-strict'
 *                     | 'containerd-v2.2.4' | 'ctr-v2.2.4' | 'containerd-v1.7.27'
 *   upstreamBin(name): string          absolute path, or throws "<name> not found ...: run ... setup-upstream.sh"
 *   UPSTREAM_HINT: string
 */
import { join } from 'node:path';
import { REPO_ROOT, requireExecutable } from './exec.js';

export type UpstreamName =
  | 'nodeadm'
  | 'nodeadm-render'
  | 'soci-snapshotter-grpc'
  | 'soci'
  | 'soci-config-strict'
  | 'containerd-v2.2.4'
  | 'ctr-v2.2.4'
  | 'containerd-v1.7.27';

export const UPSTREAM_BIN = join(REPO_ROOT, '.cache', 'upstream', 'bin');
export const UPSTREAM_HINT =
  'run SOCI_INSTALLER_UPSTREAM=../shared/upstream bash scripts/setup-upstream.sh (or scripts/fetch-upstream.sh on a machine with internet)';

export function upstreamBin(name: UpstreamName): string {
  try {
    return requireExecutable(join(UPSTREAM_BIN, name), name);
  } catch {
    throw new Error(`${name} not found in ${UPSTREAM_BIN}: ${UPSTREAM_HINT}`);
  }
}
