// render -o DIR: the only code that writes artifacts to disk.
//
// The folder itself is never renamed or removed: it may be a mount point (a container's bind
// mount), a symlink the user wants kept, or the shell's working directory (-o .). Everything
// happens inside it:
//   1. the new files are written to DIR/.soci-installer.staging/ (explicit modes, umask ignored);
//   2. that folder is renamed to DIR/.soci-installer.commit/: the commit point;
//   3. each file is renamed into place, the files of the last render that are no longer produced
//      are removed, and the new list replaces DIR/.soci-installer; the commit folder goes.
// A render interrupted before 2 is undone by the next one (staging removed: the old output stays);
// one interrupted after 2 is finished by the next one (roll forward: the new output). Files the
// last render did not write (listed in DIR/.soci-installer) are never removed or overwritten.
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { ExternalError, UsageError } from './errors.js';

export interface OutputFile {
  /** Path relative to the output directory. */
  path: string;
  content: string;
  mode: number;
}

export const MANIFEST = '.soci-installer';
const STAGING = '.soci-installer.staging';
const COMMIT = '.soci-installer.commit';
const HEADER = '# soci-installer render wrote these files here; the next render replaces them and leaves every other file alone.\n';
const DIR_MODE = 0o755;

/** Writes `files` into `dir` (see the top of this file). Errors are one line, naming -o. */
export function writeOutputDir(dir: string, files: OutputFile[]): void {
  const target = resolve(dir);
  try {
    prepare(dir, target);
    recover(target);
    const previous = readManifest(dir, target);
    preflight(dir, target, files, previous);
    try {
      stage(target, files);
    } catch (err) {
      rmSync(join(target, STAGING), { recursive: true, force: true }); // before the commit point: undo
      throw err;
    }
    renameSync(join(target, STAGING), join(target, COMMIT));
    rollForward(target);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ExternalError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (typeof e.code !== 'string') throw err;
    const where = e.path ? ` ${relativeTo(target, e.path)}` : '';
    throw new ExternalError(`-o ${dir}: cannot write${where}: ${e.code} (${e.syscall ?? 'fs'}); nothing was changed, or the next render finishes the change`);
  }
}

function relativeTo(target: string, path: string): string {
  return path.startsWith(target + sep) ? path.slice(target.length + 1) : path;
}

/** The folder exists (created if missing) and is a directory, following a symlink to it. */
function prepare(dir: string, target: string): void {
  if (!existsSync(target)) {
    mkdirSync(target, { recursive: true, mode: DIR_MODE });
    chmodSync(target, DIR_MODE);
    return;
  }
  if (!statSync(target).isDirectory()) throw new UsageError(`-o ${dir}: is not a directory; choose a directory (new or empty, or one render wrote)`);
}

/** Undoes a render stopped before its commit point, or finishes one stopped after it. */
function recover(target: string): void {
  rmSync(join(target, STAGING), { recursive: true, force: true });
  if (existsSync(join(target, COMMIT))) rollForward(target);
}

function parseManifest(text: string): string[] | undefined {
  if (!text.startsWith(HEADER)) return undefined;
  return text.slice(HEADER.length).split('\n').filter((l) => l !== '');
}

/** The files our last render wrote here: [] for an empty folder; refuses a folder it did not write. */
function readManifest(dir: string, target: string): string[] {
  const file = join(target, MANIFEST);
  if (!existsSync(file)) {
    const entries = readdirSync(target);
    if (entries.length === 0) return [];
    throw new UsageError(`-o ${dir}: exists and was not written by soci-installer; choose an empty or new directory`);
  }
  const list = parseManifest(readFileSync(file, 'utf8'));
  if (!list) {
    throw new UsageError(`-o ${dir}: was written by an older soci-installer, which kept no list of its files; remove it (or choose another -o) and render again`);
  }
  return list;
}

/** Refuses, before anything is written, to overwrite what is not ours or to write through a symlink. */
function preflight(dir: string, target: string, files: OutputFile[], previous: string[]): void {
  const ours = new Set(previous);
  for (const f of files) {
    if (f.path.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new Error(`bad artifact path ${f.path}`);
    const parts = f.path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const st = lstatSync(join(target, rel), { throwIfNoEntry: false });
      if (!st) break;
      const last = i === parts.length;
      if (!last && !st.isDirectory()) {
        throw new UsageError(`-o ${dir}: ${rel} is in the way (${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}); render writes a directory there. Move it away and render again`);
      }
      if (last && !ours.has(rel)) {
        throw new UsageError(`-o ${dir}: ${rel} exists and was not written by the last render; move it away and render again (render never overwrites files it did not write)`);
      }
      if (last && !st.isFile() && !st.isSymbolicLink()) throw new UsageError(`-o ${dir}: ${rel} is in the way (a directory); move it away and render again`);
    }
  }
}

/** Creates each missing directory of `rel` inside `root` with an explicit mode. */
function ensureDirs(root: string, rel: string): void {
  let path = root;
  for (const part of rel.split('/').filter((p) => p !== '' && p !== '.')) {
    path = join(path, part);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) {
      mkdirSync(path, { mode: DIR_MODE });
      chmodSync(path, DIR_MODE); // the umask must not change what the node receives
    } else if (!st.isDirectory()) {
      throw new UsageError(`-o: ${path} is in the way (${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}); move it away and render again`);
    }
  }
}

function stage(target: string, files: OutputFile[]): void {
  const staging = join(target, STAGING);
  mkdirSync(staging, { mode: DIR_MODE });
  mkdirSync(join(staging, 'files'), { mode: DIR_MODE });
  for (const f of files) {
    ensureDirs(join(staging, 'files'), dirname(f.path));
    const file = join(staging, 'files', f.path);
    writeFileSync(file, f.content, { mode: f.mode });
    chmodSync(file, f.mode); // the umask must not change what the node receives
  }
  const manifest = join(staging, 'manifest');
  writeFileSync(manifest, HEADER + files.map((f) => `${f.path}\n`).join(''), { mode: 0o644 });
  chmodSync(manifest, 0o644);
}

/** Moves a committed render into place; safe to run again after an interruption at any step. */
function rollForward(target: string): void {
  const commit = join(target, COMMIT);
  const manifest = join(commit, 'manifest');
  if (existsSync(manifest)) {
    const next = parseManifest(readFileSync(manifest, 'utf8')) ?? [];
    for (const rel of next) {
      const from = join(commit, 'files', rel);
      if (!existsSync(from)) continue; // moved before an interruption
      ensureDirs(target, dirname(rel));
      renameSync(from, join(target, rel));
    }
    const current = join(target, MANIFEST);
    const previous = existsSync(current) ? (parseManifest(readFileSync(current, 'utf8')) ?? []) : [];
    const keep = new Set(next);
    for (const rel of previous.filter((p) => !keep.has(p))) {
      rmSync(join(target, rel), { force: true });
      removeEmptyParents(target, rel);
    }
    renameSync(manifest, current);
  }
  rmSync(commit, { recursive: true, force: true });
}

/** Removes the directories of `rel` that are now empty, up to (not including) `root`. */
function removeEmptyParents(root: string, rel: string): void {
  let d = dirname(rel);
  while (d !== '.' && d !== '') {
    try {
      rmdirSync(join(root, d));
    } catch {
      return; // not empty (the user's files, or other outputs) or already gone
    }
    d = dirname(d);
  }
}
