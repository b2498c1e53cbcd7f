// Loads our snapshots.proto (containerd's public snapshots API) for the soci-snapshotter-grpc
// TEST STAND-IN and for the small client the tests use to talk to it directly.
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

const PROTO = fileURLToPath(new URL('./snapshots.proto', import.meta.url));

const definition = protoLoader.loadSync(PROTO, {
  keepCase: true,
  longs: Number,
  enums: Number,
  defaults: true,
  oneofs: true,
});
const pkg = grpc.loadPackageDefinition(definition);

/** The grpc-js service client class for containerd.services.snapshots.v1.Snapshots. */
export const SnapshotsClient = pkg.containerd.services.snapshots.v1.Snapshots;
/** The service definition to register on a grpc-js Server. */
export const SnapshotsService = SnapshotsClient.service;

export const Kind = Object.freeze({ UNKNOWN: 0, VIEW: 1, ACTIVE: 2, COMMITTED: 3 });
export const KindName = Object.freeze(['UNKNOWN', 'VIEW', 'ACTIVE', 'COMMITTED']);

export { grpc };
