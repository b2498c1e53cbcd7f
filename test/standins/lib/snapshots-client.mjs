// A direct client of a snapshots gRPC socket (the soci stand-in's, by default), for tests that want to
// see what the snapshotter itself answers, without containerd's metadata layer in between.
//   node snapshots-client.mjs [--address SOCK] METHOD [JSON-REQUEST]
// Prints one JSON line: {"ok":true,"response":...} or {"ok":false,"code":5,"codeName":"NOT_FOUND","details":"..."}.
import { grpc, SnapshotsClient } from './snapshots-api.mjs';

let args = process.argv.slice(2);
let address = '/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock';
if (args[0] === '--address') {
  address = args[1];
  args = args.slice(2);
}
const [method, json = '{}'] = args;
if (!method) {
  process.stderr.write('usage: snapshots-client.mjs [--address SOCK] METHOD [JSON-REQUEST]\n');
  process.exit(2);
}
const client = new SnapshotsClient(`unix://${address}`, grpc.credentials.createInsecure());
const request = { snapshotter: 'soci', ...JSON.parse(json) };
const deadline = new Date(Date.now() + 20_000);
const codeName = (code) => Object.keys(grpc.status).find((k) => grpc.status[k] === code);

function finish(err, response) {
  const out = err ? { ok: false, code: err.code, codeName: codeName(err.code), details: err.details } : { ok: true, response };
  process.stdout.write(JSON.stringify(out) + '\n');
  client.close();
}

if (method === 'List') {
  const infos = [];
  const call = client.List(request, { deadline });
  call.on('data', (m) => infos.push(...m.info));
  call.on('error', (err) => finish(err));
  call.on('end', () => finish(null, { info: infos }));
} else if (typeof client[method] === 'function') {
  client[method](request, { deadline }, finish);
} else {
  process.stderr.write(`unknown method ${method}\n`);
  process.exit(2);
}
