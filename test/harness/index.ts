// The booted fake EKS node harness: see test/harness/README.md.
export { withNode, FakeNode } from './node.js';
export { CLUSTER_NODECONFIG, withClusterNodeConfig } from './node.js';
export type { ContainerdLine, ExecOptions, ExecResult, FileSpec, HttpServer, KubeletStatus, NodeOptions } from './node.js';
export { ensureHarness } from './setup.js';
export { buildReleaseTarball } from '../standins/release-tarball.js';
export type { ReleaseTarball, ReleaseTarballOptions } from '../standins/release-tarball.js';
export { buildPauseImage, PAUSE_IMAGE_NAME } from '../standins/lib/pause-image.mjs';
