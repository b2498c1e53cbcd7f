// A tiny static HTTP server, TEST STAND-IN for a release download site (GitHub releases). The harness
// starts it inside a node's network namespace (with --private-network the host's 127.0.0.1 is not the
// node's), so the node reaches it at http://127.0.0.1:PORT/.
//   node http-server.mjs DIR [PORT]    prints "listening PORT", then one line per request:
//                                      "GET /path 200 1234"
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const [dir, portArg = '0'] = process.argv.slice(2);
if (!dir) {
  process.stderr.write('usage: http-server.mjs DIR [PORT]\n');
  process.exit(2);
}
const root = path.resolve(dir);

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const file = path.join(root, decodeURIComponent(url.pathname));
  let status = 200;
  let body;
  if (!file.startsWith(root + path.sep) || req.method !== 'GET' && req.method !== 'HEAD') {
    status = 403;
  } else {
    try {
      body = fs.readFileSync(file);
    } catch {
      status = 404;
    }
  }
  process.stdout.write(`${req.method} ${url.pathname} ${status} ${body?.length ?? 0}\n`);
  if (status !== 200) {
    res.writeHead(status, { 'content-type': 'text/plain' }).end(`${status}\n`);
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
});

server.listen(Number(portArg), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
