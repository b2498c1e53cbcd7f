// cloud-init TEST STAND-IN for the final stage (cloud-final.service, between nodeadm-config and
// nodeadm-run): runs the shell-script parts of the user data (/var/lib/standin-imds/user-data: a
// script, or MIME with text/x-shellscript parts) in order, once per instance, like cloud-init's
// scripts_user module (canonical/cloud-init cloudinit/config/cc_scripts_user.py, parts written by
// cloudinit/handlers/shell_script.py, gzip parts unpacked by cloudinit/user_data.py). Scripts are kept in /var/lib/cloud/instance/scripts/, their output goes to the
// journal and /var/log/cloud-init-output.log; on a reboot nothing runs again. Other part types
// (cloud-config, application/node.eks.aws, ...) are left alone: nodeadm reads its own.
// Exits 1 when a script failed, so cloud-final.service shows the failure.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { instanceId, readUserDataParts, say, writeFileWithDir } from './common.mjs';

const TOOL = 'cloud-init-standin';
const iid = instanceId();
const instanceDir = path.join('/var/lib/cloud/instances', iid);
const sem = path.join(instanceDir, 'sem', 'config_scripts_user');
const OUTPUT_LOG = '/var/log/cloud-init-output.log';

if (fs.existsSync(sem)) {
  say(TOOL, `user scripts already ran for instance ${iid}: nothing to do`);
  process.exit(0);
}

const scripts = readUserDataParts().filter((p) => p.contentType === 'text/x-shellscript');
fs.mkdirSync(path.join(instanceDir, 'scripts'), { recursive: true });
fs.rmSync('/var/lib/cloud/instance', { force: true, recursive: true });
fs.symlinkSync(instanceDir, '/var/lib/cloud/instance');

let failed = 0;
scripts.forEach((part, i) => {
  const file = path.join(instanceDir, 'scripts', `part-${String(i + 1).padStart(3, '0')}`);
  writeFileWithDir(file, part.body, 0o700);
  const out = fs.openSync(OUTPUT_LOG, 'a');
  say(TOOL, `running ${file}`);
  const r = spawnSync(file, [], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: '/root' } });
  const text = Buffer.concat([r.stdout ?? Buffer.alloc(0), r.stderr ?? Buffer.alloc(0)]);
  fs.writeSync(out, text);
  fs.closeSync(out);
  process.stdout.write(text);
  const code = r.error ? `error ${r.error.message}` : r.status === null ? `signal ${r.signal}` : r.status;
  if (code !== 0) {
    failed++;
    say(TOOL, `${file} failed: ${code}`);
  }
});
writeFileWithDir(sem, `${new Date().toISOString()}\n`);
writeFileWithDir('/run/cloud-init-standin/result.json', JSON.stringify({ instanceId: iid, scripts: scripts.length, failed }) + '\n');
say(TOOL, `ran ${scripts.length} user script(s) for instance ${iid}, ${failed} failed`);
process.exit(failed ? 1 : 0);
