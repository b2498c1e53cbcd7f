// Protobuf wire encoding of the messages of containerd's snapshots API (see snapshots.proto, whose
// field numbers these schemas repeat), and a minimal gRPC server over node:http2. Written for the
// soci-snapshotter-grpc TEST STAND-IN so that it starts fast: containerd gives a proxy plugin about one
// second (grpc-go ConnectParams with BaseDelay 1 s and no MinConnectTimeout) to answer the HTTP/2
// handshake of a socket-activated start, and loading @grpc/grpc-js with @grpc/proto-loader doubles the
// stand-in's start time, which broke that deadline on a busy machine. The test client
// (snapshots-client.mjs) still uses grpc-js with snapshots.proto, so both encodings are checked
// against each other.
import http2 from 'node:http2';

// ---------------------------------------------------------------------------------------------
// schemas: field number -> [name, type]; a type is 'string' | 'int64' | 'enum' | 'map' | a schema
// object; a [type] array means repeated

const Timestamp = { 1: ['seconds', 'int64'], 2: ['nanos', 'int64'] };
const FieldMask = { 1: ['paths', ['string']] };
const Mount = { 1: ['type', 'string'], 2: ['source', 'string'], 3: ['target', 'string'], 4: ['options', ['string']] };
const Info = {
  1: ['name', 'string'],
  2: ['parent', 'string'],
  3: ['kind', 'enum'],
  4: ['created_at', Timestamp],
  5: ['updated_at', Timestamp],
  6: ['labels', 'map'],
};
const KeyRequest = { 1: ['snapshotter', 'string'], 2: ['key', 'string'] };
const CreateRequest = { ...KeyRequest, 3: ['parent', 'string'], 4: ['labels', 'map'] };
const MountsResponse = { 1: ['mounts', [Mount]] };
const Empty = {};

/** method -> [request schema, response schema, server-streaming?] */
export const METHODS = {
  Prepare: [CreateRequest, MountsResponse],
  View: [CreateRequest, MountsResponse],
  Mounts: [KeyRequest, MountsResponse],
  Commit: [{ 1: ['snapshotter', 'string'], 2: ['name', 'string'], 3: ['key', 'string'], 4: ['labels', 'map'], 5: ['parent', 'string'] }, Empty],
  Remove: [KeyRequest, Empty],
  Stat: [KeyRequest, { 1: ['info', Info] }],
  Update: [{ 1: ['snapshotter', 'string'], 2: ['info', Info], 3: ['update_mask', FieldMask] }, { 1: ['info', Info] }],
  List: [{ 1: ['snapshotter', 'string'], 2: ['filters', ['string']] }, { 1: ['info', [Info]] }, true],
  Usage: [KeyRequest, { 1: ['size', 'int64'], 2: ['inodes', 'int64'] }],
  Cleanup: [{ 1: ['snapshotter', 'string'] }, Empty],
};

export const SERVICE_PATH = '/containerd.services.snapshots.v1.Snapshots/';

export const Status = Object.freeze({
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
});

// ---------------------------------------------------------------------------------------------
// decoding

function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [result, pos];
    shift += 7n;
  }
}

function defaults(schema) {
  const out = {};
  for (const [name, type] of Object.values(schema)) {
    if (Array.isArray(type)) out[name] = [];
    else if (type === 'map') out[name] = {};
    else if (type === 'string') out[name] = '';
    else if (type === 'int64' || type === 'enum') out[name] = 0;
    else out[name] = null;
  }
  return out;
}

export function decode(schema, buf) {
  const out = defaults(schema);
  let pos = 0;
  while (pos < buf.length) {
    let tag;
    [tag, pos] = readVarint(buf, pos);
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let value;
    if (wire === 0) [value, pos] = readVarint(buf, pos);
    else if (wire === 1) (value = buf.subarray(pos, pos + 8)), (pos += 8);
    else if (wire === 5) (value = buf.subarray(pos, pos + 4)), (pos += 4);
    else if (wire === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      value = buf.subarray(pos, pos + Number(len));
      pos += Number(len);
    } else throw new Error(`unsupported wire type ${wire}`);
    const spec = schema[field];
    if (!spec) continue; // unknown fields are skipped, as protobuf does
    const [name, type] = spec;
    const one = (t, v) => {
      if (t === 'string') return Buffer.from(v).toString('utf8');
      if (t === 'int64' || t === 'enum') return Number(BigInt.asIntN(64, v));
      if (t === 'map') return decode({ 1: ['key', 'string'], 2: ['value', 'string'] }, v);
      return decode(t, v);
    };
    if (Array.isArray(type)) out[name].push(one(type[0], value));
    else if (type === 'map') {
      const e = one('map', value);
      out[name][e.key] = e.value;
    } else out[name] = one(type, value);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// encoding (proto3: default values are left out)

function varint(n) {
  let v = BigInt.asUintN(64, BigInt(n));
  const bytes = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    bytes.push(b);
  } while (v);
  return Buffer.from(bytes);
}

const key = (field, wire) => varint((field << 3) | wire);
const lengthDelimited = (field, bytes) => Buffer.concat([key(field, 2), varint(bytes.length), bytes]);

export function encode(schema, msg) {
  const parts = [];
  for (const [fieldStr, [name, type]] of Object.entries(schema)) {
    const field = Number(fieldStr);
    const v = msg?.[name];
    if (v === undefined || v === null) continue;
    const one = (t, x) => {
      if (t === 'string') {
        if (x !== '' || Array.isArray(type)) parts.push(lengthDelimited(field, Buffer.from(String(x), 'utf8')));
      } else if (t === 'int64' || t === 'enum') {
        if (x) parts.push(Buffer.concat([key(field, 0), varint(x)]));
      } else parts.push(lengthDelimited(field, encode(t, x)));
    };
    if (Array.isArray(type)) for (const x of v) one(type[0], x);
    else if (type === 'map') {
      for (const [k, val] of Object.entries(v)) {
        parts.push(lengthDelimited(field, encode({ 1: ['key', 'string'], 2: ['value', 'string'] }, { key: k, value: val })));
      }
    } else one(type, v);
  }
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// gRPC over HTTP/2 (unary and server-streaming calls, no compression)

function frame(message) {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

// grpc-message is percent-encoded
const grpcMessage = (s) => String(s).replace(/[^\x20-\x24\x26-\x7e]/gu, (c) => encodeURIComponent(c));

export class RpcError extends Error {
  constructor(code, details) {
    super(details);
    this.code = code;
  }
}

/**
 * An HTTP/2 server answering the snapshots service. handlers[method](request) returns the response
 * (for List: an array of responses) or throws an RpcError. Feed it sockets with
 * `server.emit('connection', socket)`.
 */
export function createSnapshotsServer(handlers, onError = () => {}) {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const path = String(headers[':path'] ?? '');
    const method = path.startsWith(SERVICE_PATH) ? path.slice(SERVICE_PATH.length) : '';
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', (err) => onError(err));
    stream.on('end', () => {
      const fail = (code, msg) => {
        if (stream.destroyed || stream.closed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': grpcMessage(msg) }, { endStream: true });
      };
      const spec = METHODS[method];
      if (!spec || !handlers[method]) {
        fail(Status.UNIMPLEMENTED, `unknown method ${path}`);
        return;
      }
      const [reqSchema, resSchema, streaming] = spec;
      let responses;
      try {
        const body = Buffer.concat(chunks);
        if (body.length < 5 || body[0] !== 0) throw new RpcError(Status.INTERNAL, 'expected one uncompressed gRPC message');
        const request = decode(reqSchema, body.subarray(5, 5 + body.readUInt32BE(1)));
        const result = handlers[method](request);
        responses = streaming ? result : [result];
      } catch (err) {
        if (!(err instanceof RpcError)) onError(err);
        fail(err instanceof RpcError ? err.code : Status.INTERNAL, err.message);
        return;
      }
      if (stream.destroyed || stream.closed) return;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      for (const r of responses) stream.write(frame(encode(resSchema, r)));
      stream.end();
    });
  });
  server.on('sessionError', (err) => onError(err));
  return server;
}
