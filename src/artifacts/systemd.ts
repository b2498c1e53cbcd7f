// systemd units and drop-ins. We never overwrite the AMI's units: base units go to
// /usr/local/lib/systemd/system (lower precedence than the AMI's /etc/systemd/system), and every
// change to an existing unit is a drop-in.
import { PATHS, type Plan } from '../plan.js';
import { systemdQuote } from '../render/escape.js';
import { renderTemplate } from '../render/template.js';

export function sociServiceUnit(plan: Plan): string {
  return renderTemplate('artifacts/systemd/soci-snapshotter.service.mustache', { version: plan.generatorVersion, binary: PATHS.releaseSociBinary });
}

export function sociSocketUnit(plan: Plan): string {
  return renderTemplate('artifacts/systemd/soci-snapshotter.socket.mustache', { version: plan.generatorVersion, socket: PATHS.sociSocket });
}

export function releaseBinaryDropIn(plan: Plan): string {
  return renderTemplate('artifacts/systemd/20-soci-installer-release.conf.mustache', {
    version: plan.generatorVersion,
    sociVersion: plan.sociVersion,
    binary: PATHS.releaseSociBinary,
  });
}

export function proxyDropIn(plan: Plan, service: 'soci-snapshotter' | 'containerd'): string | undefined {
  if (!plan.proxy) return undefined;
  const env: string[] = [];
  // Both spellings: Go reads either, other tools read one or the other.
  const add = (name: string, value: string | undefined) => {
    if (value) env.push(systemdQuote(`${name}=${value}`), systemdQuote(`${name.toLowerCase()}=${value}`));
  };
  add('HTTP_PROXY', plan.proxy.http);
  add('HTTPS_PROXY', plan.proxy.https);
  if (plan.proxy.noProxy.length) add('NO_PROXY', plan.proxy.noProxy.join(','));
  return renderTemplate('artifacts/systemd/30-soci-installer-proxy.conf.mustache', { version: plan.generatorVersion, service, environment: env });
}

export function containerdDropIn(plan: Plan): string {
  return renderTemplate('artifacts/systemd/20-soci-installer.conf.mustache', { version: plan.generatorVersion });
}

export function pauseImportUnit(plan: Plan): string {
  // As nodeadm does for FastImagePull (ctr 1.7 and 2.x take the same flags): keep the layers, and
  // import locally rather than through the transfer service.
  const command = `/usr/bin/ctr --namespace k8s.io images import --snapshotter soci --discard-unpacked-layers=false --local ${PATHS.pauseTar}`;
  return renderTemplate('artifacts/systemd/soci-installer-pause-import.service.mustache', { version: plan.generatorVersion, pauseTar: PATHS.pauseTar, command });
}
