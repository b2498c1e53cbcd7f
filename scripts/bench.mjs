// Render timings: CLI cold start, one render in process, and a 50-profile matrix. Prints figures only.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const ms = (t) => `${t.toFixed(1)} ms`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cold = [];
for (let i = 0; i < 7; i++) {
  const t = performance.now();
  execFileSync(process.execPath, ['dist/bin.js', 'user-data'], { stdio: ['ignore', 'ignore', 'inherit'] });
  cold.push(performance.now() - t);
}
console.log(`CLI 'user-data', default profile, new process each time: median ${ms(median(cold))} (min ${ms(Math.min(...cold))}, 7 runs)`);

let t = performance.now();
const lib = await import('../dist/index.js');
console.log(`library import (yaml, ajv, js-toml, mustache): ${ms(performance.now() - t)}`);
t = performance.now();
lib.render();
console.log(`first render of the default profile (schema compile, template reads): ${ms(performance.now() - t)}`);

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

// User data per golden case: what EC2 gets (limit 16384 bytes; EKS, Karpenter and eksctl append a NodeConfig).
const { existsSync, readdirSync, readFileSync } = await import('node:fs');
console.log('user-data.mime per golden case (bytes; script part: plain install.sh, or the self-extracting wrapper):');
for (const name of readdirSync('test/cases').sort()) {
  const file = `test/cases/${name}/profile.yaml`; // none: the default profile
  const r = existsSync(file) ? lib.render(readFileSync(file, 'utf8'), name) : lib.render();
  const mime = r.artifacts.find((a) => a.path === 'user-data.mime').content;
  const script = r.artifacts.find((a) => a.path === 'install.sh').content;
  const how = r.plan.ami?.baked ? 'no script (baked AMI)' : mime.includes(script) ? 'plain install.sh' : 'wrapper';
  console.log(`  ${String(Buffer.byteLength(mime)).padStart(6)}  ${name} (${how}, install.sh ${Buffer.byteLength(script)})`);
}
