/**
 * Checks a soci-snapshotter config.toml against every key soci-snapshotter v0.15.0 reads
 * (schemas/upstream/soci-config-defaults-v0.15.0.toml, its config/config.toml, copied unchanged).
 * soci ignores unknown keys silently, so an unknown key here is a typo no node would report.
 *
 * API:
 *   sociConfigUnknownKeys(tomlText: string): string[]
 *     every key path in tomlText that the defaults file does not have, e.g. 'fuse.attr_timout' or
 *     'resolver.host."docker.io".mirrors[0].hots'. Throws if tomlText is not valid TOML.
 *     Besides the defaults file, these map-valued tables are allowed (soci's config types; a defaults
 *     file cannot list them):
 *       resolver.host."<registry host>".mirrors = [{ host, insecure, request_timeout_sec }, ...]
 *       pull_modes.parallel_pull_unpack.decompress_streams."<name>" = { path, args }
 *     Only key names are checked, not value types.
 *   SOCI_DEFAULTS_FILE: string                      absolute path of the defaults file
 *   sociDefaults(): Record<string, unknown>         the defaults file, parsed
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load as tomlLoad } from 'js-toml';
import { REPO_ROOT } from './exec.js';

export const SOCI_DEFAULTS_FILE = join(REPO_ROOT, 'schemas', 'upstream', 'soci-config-defaults-v0.15.0.toml');

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

let defaults: Table | undefined;
export function sociDefaults(): Table {
  defaults ??= tomlLoad(readFileSync(SOCI_DEFAULTS_FILE, 'utf8'));
  return defaults;
}

function keyText(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}

function join2(prefix: string, k: string): string {
  return prefix ? `${prefix}.${keyText(k)}` : keyText(k);
}

const MIRROR_KEYS = new Set(['host', 'insecure', 'request_timeout_sec']);
const DECOMPRESS_KEYS = new Set(['path', 'args']);

function checkAllowedKeys(obj: unknown, allowed: Set<string>, path: string, out: string[]): void {
  if (!isTable(obj)) return;
  for (const k of Object.keys(obj)) if (!allowed.has(k)) out.push(join2(path, k));
}

/** Keys of `given` not in `known`, recursing into tables both sides have. */
function diff(given: Table, known: Table, path: string, out: string[]): void {
  for (const [k, v] of Object.entries(given)) {
    const p = join2(path, k);
    // map-valued tables soci reads but a defaults file cannot list
    if (path === 'resolver' && k === 'host' && isTable(v)) {
      for (const [host, hostTable] of Object.entries(v)) {
        const hp = join2(p, host);
        if (!isTable(hostTable)) {
          out.push(hp);
          continue;
        }
        for (const [hk, hv] of Object.entries(hostTable)) {
          if (hk !== 'mirrors') {
            out.push(join2(hp, hk));
            continue;
          }
          const mirrors = Array.isArray(hv) ? hv : [hv];
          mirrors.forEach((m, i) => checkAllowedKeys(m, MIRROR_KEYS, `${join2(hp, 'mirrors')}[${i}]`, out));
        }
      }
      continue;
    }
    if (path === 'pull_modes.parallel_pull_unpack' && k === 'decompress_streams' && isTable(v)) {
      for (const [name, table] of Object.entries(v)) {
        if (isTable(table)) checkAllowedKeys(table, DECOMPRESS_KEYS, join2(p, name), out);
        else out.push(join2(p, name));
      }
      continue;
    }
    if (!(k in known)) {
      out.push(p);
      continue;
    }
    const kv = known[k];
    if (isTable(v) && isTable(kv)) diff(v, kv, p, out);
  }
}

export function sociConfigUnknownKeys(tomlText: string): string[] {
  const given = tomlLoad(tomlText);
  const out: string[] = [];
  diff(given, sociDefaults(), '', out);
  return out;
}
