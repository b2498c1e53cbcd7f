// Render timings: CLI start against Node's own, one render in process, and a 50-profile matrix. Prints figures only.
// --startup: the first block only (render against node -e 0).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const ms = (t) => `${t.toFixed(1)} ms`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// `render` against `node -e 0`, side by side: paired runs in turn, so load on the machine hits both
// alike; the ratio of the medians is the figure (issue 11: at most 2). Peak memory (maxRSS) in a
// separate pass, reported by the child itself (a hook that adds time, so not in the timed pass).
const out = mkdtempSync(join(tmpdir(), 'soci-bench-'));
const startup = {
  'node -e 0': ['-e', '0'],
  render: ['dist/cli/bin.js', 'render', '-o', join(out, 'out')],
};
const RUNS = 11;
const wall = Object.fromEntries(Object.keys(startup).map((k) => [k, []]));
const rss = Object.fromEntries(Object.keys(startup).map((k) => [k, []]));
const maxRss = "data:text/javascript,import{writeSync}from'node:fs';process.on('exit',()=>writeSync(3,String(process.resourceUsage().maxRSS)))";
execFileSync(process.execPath, startup.render, { stdio: 'ignore' }); // fills Node's compile cache, as any earlier run would
for (let i = 0; i < RUNS; i++) {
  for (const [name, args] of Object.entries(startup)) {
    const t = performance.now();
    const r = spawnSync(process.execPath, args, { stdio: 'ignore' });
    wall[name].push(performance.now() - t);
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
  }
  for (const [name, args] of Object.entries(startup)) {
    const r = spawnSync(process.execPath, ['--import', maxRss, ...args], { stdio: ['ignore', 'ignore', 'ignore', 'pipe'] });
    rss[name].push(Number(r.output[3]) / 1024);
  }
}
rmSync(out, { recursive: true, force: true });
const [base, cli] = Object.keys(startup).map((k) => median(wall[k]));
console.log(`render (default profile, new process) against node -e 0, ${RUNS} paired runs, medians, Node ${process.version}:`);
for (const k of Object.keys(startup)) console.log(`  ${k.padEnd(10)} ${ms(median(wall[k]))}  peak ${median(rss[k]).toFixed(0)} MiB`);
console.log(`  ratio ${(cli / base).toFixed(2)} (target <= 2.0)`);
if (process.argv.includes('--startup')) process.exit(0);

let t = performance.now();
const lib = await import('../dist/index.js');
console.log(`library import (yaml, mustache; ajv only if dist has no precompiled validator): ${ms(performance.now() - t)}`);
t = performance.now();
lib.render();
console.log(`first render of the default profile (template reads, cold code): ${ms(performance.now() - t)}`);

const warm = [];
for (let i = 0; i < 50; i++) {
  t = performance.now();
  lib.render();
  warm.push(performance.now() - t);
}
console.log(`default profile, warm: median ${ms(median(warm))} (50 runs)`);

const modes = ['lazy', 'parallel', 'lazy-with-parallel-fallback', 'fast-image-pull'];
const versions = ['1.29', '1.33', '1.36'];
const sha = { amd64: 'a'.repeat(64), arm64: 'b'.repeat(64) };
const profiles = [];
for (let i = 0; profiles.length < 50; i++) {
  const mode = modes[i % modes.length];
  const soci = mode === 'fast-image-pull' ? { mode } : { mode, source: ['auto', 'ami', 'release'][i % 3], ...(i % 3 === 1 ? {} : { sha256: sha }) };
  if (mode !== 'fast-image-pull' && i % 5 === 0) soci.proxy = { http: 'http://proxy.example:3128', noProxy: ['169.254.169.254'] };
  profiles.push(`node: { kubernetesVersion: "${versions[i % 3]}" }\nsoci: ${JSON.stringify(soci)}\n`);
}
t = performance.now();
let bytes = 0;
for (const p of profiles) bytes += lib.render(p).artifacts.reduce((n, a) => n + a.content.length, 0);
const total = performance.now() - t;
console.log(`50-profile matrix: ${ms(total)} total, ${ms(total / 50)} per profile, ${(bytes / 1024).toFixed(0)} KiB generated`);

// User data per golden case: what EC2 gets (limit 16384 bytes; EKS, Karpenter and eksctl append a
// NodeConfig), as emitted and as it would be with install.sh plain (issue 11: richest <= 6144, no base64).
const { existsSync, readdirSync, readFileSync } = await import('node:fs');
const rows = [];
for (const name of readdirSync('test/cases').sort()) {
  const file = `test/cases/${name}/profile.yaml`; // none: the default profile
  const r = existsSync(file) ? lib.render(readFileSync(file, 'utf8'), name) : lib.render();
  const mime = r.artifacts.find((a) => a.path === 'user-data.mime').content;
  const script = r.artifacts.find((a) => a.path === 'install.sh').content;
  const nodeConfig = r.artifacts.find((a) => a.path === 'nodeconfig.yaml').content;
  const baked = Boolean(r.plan.ami?.baked);
  const plain = baked ? mime : lib.buildMime([{ contentType: lib.CONTENT_TYPES.shell, body: script }, { contentType: lib.CONTENT_TYPES.nodeConfig, body: nodeConfig }]);
  const how = baked ? 'no script (baked AMI)' : mime === plain ? 'plain install.sh' : 'self-extracting wrapper';
  // A part header line of its own (no script or NodeConfig line starts so); and every byte 7-bit.
  const base64Part = /^Content-Transfer-Encoding:[ \t]*base64/im.test(mime) || !/^[\x01-\x7f]*$/.test(mime);
  rows.push({ name, emitted: Buffer.byteLength(mime), plain: Buffer.byteLength(plain), how, base64Part, script: Buffer.byteLength(script) });
}
const richest = Math.max(...rows.map((r) => r.emitted));
console.log('user-data.mime per golden case, bytes: as emitted, with install.sh plain; how the script travels; install.sh size:');
for (const r of rows) {
  console.log(`  ${String(r.emitted).padStart(6)} ${String(r.plain).padStart(6)}  ${r.name} (${r.how}${r.base64Part ? ', A BASE64 OR 8-BIT PART' : ''}, install.sh ${r.script})${r.emitted === richest ? '  <- richest' : ''}`);
}
console.log(`  richest as emitted: ${richest} bytes (target <= 6144); base64 or 8-bit parts: ${rows.some((r) => r.base64Part) ? 'YES' : 'none'}`);
