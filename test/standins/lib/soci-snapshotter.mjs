// soci-snapshotter-grpc TEST STAND-IN (a test double, not the real snapshotter).
//
// Speaks containerd's snapshots gRPC API (containerd.services.snapshots.v1.Snapshots, encoded by
// snapshots-wire.mjs over node:http2 so that it starts fast enough for containerd) with state,
// like a plain overlayfs snapshotter: every snapshot is a directory under --root, Prepare/View return
// real bind or overlay mounts of those directories, Commit/Remove/Stat/Update/List/Usage/Cleanup act on
// a state file (<root>/standin-state.json) that survives restarts and reboots. Unknown keys are answered
// NotFound. Every call is appended to <root>/standin-calls.jsonl so tests can see what reached it.
//
// Command line as the real daemon: --address (a socket path, or fd:// for systemd socket activation),
// --config, --root, --log-level, --version; `config dump` (>= v0.12) prints the parsed config.
// Readiness: READY=1 through `systemd-notify --ready --pid=<this pid>` when $NOTIFY_SOCKET is set.
//
// Test knobs (the real binary has none of these):
//   version   $SOCI_STANDIN_VERSION, else /etc/soci-standin/version, else v0.12.1
//   failure   $SOCI_STANDIN_FAIL, else /etc/soci-standin/fail:
//               never-ready  listen and serve, but never send READY=1
//               exit         log an error and exit 1 at once
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { parse as loadToml, stringify as dumpToml } from 'smol-toml';
import { RpcError, Status, createSnapshotsServer } from './snapshots-wire.mjs';

const Kind = Object.freeze({ UNKNOWN: 0, VIEW: 1, ACTIVE: 2, COMMITTED: 3 });

const DEFAULT_ADDRESS = '/run/soci-snapshotter-grpc/soci-snapshotter-grpc.sock';
const DEFAULT_CONFIG = '/etc/soci-snapshotter-grpc/config.toml';
const DEFAULT_ROOT = '/var/lib/soci-snapshotter-grpc';
const STANDIN_DIR = '/etc/soci-standin';
const DEFAULT_VERSION = 'v0.12.1';

function readKnob(envName, file) {
  if (process.env[envName]) return process.env[envName].trim();
  try {
    return fs.readFileSync(path.join(STANDIN_DIR, file), 'utf8').trim();
  } catch {
    return '';
  }
}

function standinVersion() {
  const v = readKnob('SOCI_STANDIN_VERSION', 'version') || DEFAULT_VERSION;
  return v.startsWith('v') ? v : `v${v}`;
}

function revisionOf(version) {
  return crypto.createHash('sha1').update(`soci-standin ${version}`).digest('hex');
}

const LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'fatal', 'panic'];
let minLevel = LEVELS.indexOf('info');

function log(level, msg, fields = {}) {
  if (LEVELS.indexOf(level) < minLevel) return;
  process.stderr.write(JSON.stringify({ level, msg, ...fields, time: new Date().toISOString() }) + '\n');
}

function fatal(msg, fields) {
  log('fatal', msg, fields);
  process.exit(1);
}

// Go's flag package: -flag, --flag, -flag=value, --flag value; bools take no value.
function parseArgs(argv) {
  const opts = { address: DEFAULT_ADDRESS, config: DEFAULT_CONFIG, root: DEFAULT_ROOT, 'log-level': 'info', version: false };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-' || arg === '--') {
      rest.push(...argv.slice(arg === '--' ? i + 1 : i));
      break;
    }
    const m = /^--?([^=]+)(?:=(.*))?$/.exec(arg);
    const name = m[1];
    if (!(name in opts)) {
      process.stderr.write(`flag provided but not defined: -${name}\n`);
      process.exit(2);
    }
    if (name === 'version') {
      opts.version = m[2] === undefined ? true : m[2] === 'true';
    } else if (m[2] !== undefined) {
      opts[name] = m[2];
    } else {
      if (i + 1 >= argv.length) {
        process.stderr.write(`flag needs an argument: -${name}\n`);
        process.exit(2);
      }
      opts[name] = argv[++i];
    }
  }
  return { opts, rest };
}

function semver(version) {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

function atLeast(version, major, minor) {
  const [a, b] = semver(version);
  return a > major || (a === major && b >= minor);
}

// Like the real daemon: an unreadable or invalid config is fatal; unknown keys are ignored.
function loadConfig(configPath, version) {
  let text;
  try {
    text = fs.readFileSync(configPath, 'utf8');
  } catch (err) {
    if (err.code !== 'ENOENT') fatal(`failed to read config ${configPath}: ${err.message}`);
    const [a, b, c] = semver(version);
    // soci v0.10.0 and v0.11.0 refuse to start without a config file
    if (a === 0 && (b === 10 || b === 11) && c === 0) fatal(`open ${configPath}: no such file or directory`);
    return {};
  }
  let cfg;
  try {
    cfg = loadToml(text);
  } catch (err) {
    fatal(`failed to load config file ${configPath}: ${err.message}`);
  }
  const streams = cfg?.pull_modes?.parallel_pull_unpack?.decompress_streams ?? {};
  for (const [name, s] of Object.entries(streams)) {
    if (s && typeof s.path === 'string' && !fs.existsSync(s.path)) {
      fatal(`decompress stream "${name}": ${s.path}: no such file or directory`);
    }
  }
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// State: one JSON file, rewritten atomically after every change.

class Store {
  constructor(root) {
    this.root = root;
    this.dir = path.join(root, 'snapshotter', 'snapshots');
    this.stateFile = path.join(root, 'standin-state.json');
    this.callsFile = path.join(root, 'standin-calls.jsonl');
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    try {
      this.state = JSON.parse(fs.readFileSync(this.stateFile, 'utf8'));
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
      this.state = { nextId: 1, snapshots: {} };
    }
  }

  save() {
    const tmp = `${this.stateFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.state, null, 1));
    fs.renameSync(tmp, this.stateFile);
  }

  record(entry) {
    fs.appendFileSync(this.callsFile, JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');
  }

  get(key) {
    return Object.hasOwn(this.state.snapshots, key) ? this.state.snapshots[key] : undefined;
  }

  fsDir(s) {
    return path.join(this.dir, String(s.id), 'fs');
  }

  workDir(s) {
    return path.join(this.dir, String(s.id), 'work');
  }

  // parents from nearest to farthest
  parentChain(s) {
    const chain = [];
    let p = s.parent;
    while (p) {
      const ps = this.get(p);
      if (!ps) break;
      chain.push(ps);
      p = ps.parent;
    }
    return chain;
  }

  // The same mounts containerd's overlayfs snapshotter hands out: an active snapshot is its own
  // directory (bind, rw) or an overlay with its parents as lower dirs; a view or a committed snapshot
  // is read-only (bind of the single layer, or an overlay with lower dirs only).
  mounts(s) {
    const parents = this.parentChain(s).map((p) => this.fsDir(p));
    if (s.kind === Kind.ACTIVE) {
      if (parents.length === 0) return [{ type: 'bind', source: this.fsDir(s), target: '', options: ['rw', 'rbind'] }];
      const options = [`workdir=${this.workDir(s)}`, `upperdir=${this.fsDir(s)}`, `lowerdir=${parents.join(':')}`];
      return [{ type: 'overlay', source: 'overlay', target: '', options }];
    }
    const layers = s.kind === Kind.COMMITTED ? [this.fsDir(s), ...parents] : parents.length ? parents : [this.fsDir(s)];
    if (layers.length === 1) return [{ type: 'bind', source: layers[0], target: '', options: ['ro', 'rbind'] }];
    return [{ type: 'overlay', source: 'overlay', target: '', options: [`lowerdir=${layers.join(':')}`] }];
  }
}

function now() {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
}

function info(name, s) {
  return { name, parent: s.parent || '', kind: s.kind, created_at: s.created, updated_at: s.updated, labels: s.labels || {} };
}

const notFound = (key) => new RpcError(Status.NOT_FOUND, `snapshot ${key} does not exist: not found`);

function du(dir) {
  let size = 0;
  let inodes = 0;
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      const st = fs.lstatSync(p);
      inodes++;
      size += st.blocks * 512;
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return { size, inodes };
}

// containerd filter syntax, the subset the stand-in understands: name|parent|kind==v, labels."k"==v, labels."k"
function matchesFilter(name, s, filter) {
  return filter.split(',').every((clause) => {
    const m = /^\s*(labels\.(?:"([^"]+)"|([\w.\-/]+))|name|parent|kind)\s*(?:(==|!=)\s*"?([^"]*)"?)?\s*$/.exec(clause);
    if (!m) return true;
    let value;
    if (m[1].startsWith('labels.')) value = (s.labels || {})[m[2] ?? m[3]];
    else if (m[1] === 'name') value = name;
    else if (m[1] === 'parent') value = s.parent || '';
    else value = ['unknown', 'view', 'active', 'committed'][s.kind];
    if (!m[4]) return value !== undefined;
    return m[4] === '==' ? value === m[5] : value !== m[5];
  });
}

function makeService(store) {
  const createSnapshot = (method, kind, { key, parent, labels }) => {
    if (!key) throw new RpcError(Status.INVALID_ARGUMENT, 'key must not be empty');
    if (store.get(key)) throw new RpcError(Status.ALREADY_EXISTS, `snapshot ${key}: already exists`);
    if (parent) {
      const p = store.get(parent);
      if (!p) throw new RpcError(Status.NOT_FOUND, `parent snapshot ${parent} does not exist: not found`);
      if (p.kind !== Kind.COMMITTED) throw new RpcError(Status.FAILED_PRECONDITION, `parent ${parent} is not committed`);
    }
    const s = { id: store.state.nextId++, kind, parent: parent || '', labels: labels || {}, created: now(), updated: now() };
    fs.mkdirSync(store.fsDir(s), { recursive: true, mode: 0o755 });
    if (kind === Kind.ACTIVE) fs.mkdirSync(store.workDir(s), { recursive: true, mode: 0o700 });
    store.state.snapshots[key] = s;
    store.save();
    log('debug', `${method} ${key}`, { parent });
    return { mounts: store.mounts(s) };
  };

  const handlers = {
    Prepare: (req) => createSnapshot('prepare', Kind.ACTIVE, req),
    View: (req) => createSnapshot('view', Kind.VIEW, req),
    Mounts: ({ key }) => {
      const s = store.get(key);
      if (!s) throw notFound(key);
      return { mounts: store.mounts(s) };
    },
    Commit: ({ name, key, labels }) => {
      const s = store.get(key);
      if (!s) throw notFound(key);
      if (s.kind !== Kind.ACTIVE) throw new RpcError(Status.FAILED_PRECONDITION, `snapshot ${key} is not active`);
      if (store.get(name)) throw new RpcError(Status.ALREADY_EXISTS, `snapshot ${name}: already exists`);
      delete store.state.snapshots[key];
      fs.rmSync(store.workDir(s), { recursive: true, force: true });
      store.state.snapshots[name] = { ...s, kind: Kind.COMMITTED, labels: { ...(s.labels || {}), ...(labels || {}) }, updated: now() };
      store.save();
      return {};
    },
    Remove: ({ key }) => {
      const s = store.get(key);
      if (!s) throw notFound(key);
      const child = Object.entries(store.state.snapshots).find(([, c]) => c.parent === key);
      if (child) throw new RpcError(Status.FAILED_PRECONDITION, `cannot remove snapshot ${key}: has child ${child[0]}`);
      delete store.state.snapshots[key];
      store.save();
      fs.rmSync(path.join(store.dir, String(s.id)), { recursive: true, force: true });
      return {};
    },
    Stat: ({ key }) => {
      const s = store.get(key);
      if (!s) throw notFound(key);
      return { info: info(key, s) };
    },
    Update: ({ info: req, update_mask }) => {
      const key = req?.name;
      const s = store.get(key);
      if (!s) throw notFound(key);
      const paths = update_mask?.paths ?? [];
      if (paths.length === 0 || paths.includes('labels')) {
        s.labels = { ...(req.labels || {}) };
      } else {
        for (const p of paths) {
          if (!p.startsWith('labels.')) throw new RpcError(Status.INVALID_ARGUMENT, `cannot update ${p}`);
          const k = p.slice('labels.'.length);
          if (req.labels && Object.hasOwn(req.labels, k)) s.labels[k] = req.labels[k];
          else delete s.labels[k];
        }
      }
      s.updated = now();
      store.save();
      return { info: info(key, s) };
    },
    Usage: ({ key }) => {
      const s = store.get(key);
      if (!s) throw notFound(key);
      return du(store.fsDir(s));
    },
    Cleanup: () => {
      const used = new Set(Object.values(store.state.snapshots).map((s) => String(s.id)));
      for (const id of fs.readdirSync(store.dir)) {
        if (!used.has(id)) fs.rmSync(path.join(store.dir, id), { recursive: true, force: true });
      }
      return {};
    },
  };

  handlers.List = ({ filters }) => {
    const infos = Object.entries(store.state.snapshots)
      .filter(([name, s]) => filters.length === 0 || filters.some((f) => matchesFilter(name, s, f)))
      .map(([name, s]) => info(name, s));
    const chunks = [];
    for (let i = 0; i < infos.length; i += 100) chunks.push({ info: infos.slice(i, i + 100) });
    return chunks;
  };

  // every call is recorded, with its result code
  const recorded = {};
  for (const [method, fn] of Object.entries(handlers)) {
    recorded[method] = (req) => {
      const entry = { method, key: req.key ?? req.info?.name, name: req.name, parent: req.parent };
      if (method === 'List') entry.filters = req.filters;
      try {
        const res = fn(req);
        store.record({ ...entry, code: Status.OK });
        return res;
      } catch (err) {
        const code = err instanceof RpcError ? err.code : Status.INTERNAL;
        store.record({ ...entry, code, error: err.message });
        if (!(err instanceof RpcError)) log('error', `${method} failed`, { error: err.stack });
        throw err;
      }
    };
  }
  return recorded;
}

// ---------------------------------------------------------------------------------------------

function listen(address) {
  const server = net.createServer();
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if (address === 'fd://') {
      if (process.env.LISTEN_FDS !== '1' || (process.env.LISTEN_PID && process.env.LISTEN_PID !== String(process.pid))) {
        reject(new Error(`fd:// needs exactly one socket from systemd (LISTEN_FDS=${process.env.LISTEN_FDS ?? ''})`));
        return;
      }
      server.listen({ fd: 3 }, () => resolve(server));
    } else {
      const sock = address.replace(/^unix:\/\//, '');
      fs.mkdirSync(path.dirname(sock), { recursive: true, mode: 0o700 });
      fs.rmSync(sock, { force: true });
      server.listen(sock, () => resolve(server));
    }
  });
}

function notifyReady() {
  if (!process.env.NOTIFY_SOCKET) return Promise.resolve();
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', ['--ready', `--pid=${process.pid}`], { stdio: 'inherit' });
    child.on('exit', (code) => {
      if (code !== 0) log('warning', `systemd-notify exited ${code}`);
      resolve();
    });
    child.on('error', (err) => {
      log('warning', `systemd-notify: ${err.message}`);
      resolve();
    });
  });
}

async function main() {
  const { opts, rest } = parseArgs(process.argv.slice(2));
  const version = standinVersion();
  if (opts.version) {
    process.stdout.write(`soci-snapshotter-grpc version ${version} ${revisionOf(version)}\n`);
    return;
  }
  minLevel = Math.max(0, LEVELS.indexOf(opts['log-level'] === 'warn' ? 'warning' : opts['log-level']));
  if (rest.length > 0) {
    if (rest[0] === 'config' && rest[1] === 'dump' && atLeast(version, 0, 12)) {
      process.stdout.write(dumpToml(loadConfig(opts.config, version)) + '\n');
      return;
    }
    process.stderr.write(`unknown command ${rest.join(' ')}\n`);
    process.exit(2);
  }

  log('info', 'starting soci-snapshotter-grpc', { version, revision: revisionOf(version), standin: true });
  const failure = readKnob('SOCI_STANDIN_FAIL', 'fail');
  if (failure === 'exit') fatal('stand-in told to fail: exiting at once');
  loadConfig(opts.config, version);

  const store = new Store(opts.root);
  const h2 = createSnapshotsServer(makeService(store), (err) => log('warning', `gRPC: ${err.message}`));

  let server;
  try {
    server = await listen(opts.address);
  } catch (err) {
    fatal(`failed to serve snapshotter: ${err.message}`);
  }
  server.on('connection', (sock) => h2.emit('connection', sock));

  if (failure === 'never-ready') {
    log('warning', 'stand-in told never to become ready: serving without READY=1', { address: opts.address });
  } else {
    await notifyReady();
    log('info', 'soci-snapshotter-grpc successfully started', { address: opts.address });
  }

  const stop = (signal) => {
    log('info', `Got ${signal}`);
    server.close();
    h2.close();
    log('info', 'Exiting');
    process.exit(0);
  };
  process.on('SIGTERM', () => stop('terminated'));
  process.on('SIGINT', () => stop('interrupt'));
}

main().catch((err) => fatal(err.stack || String(err)));
