// Profile bytes -> plain data, with bounded cost: a size cap, strict UTF-8, a linear duplicate-key
// check (yaml's own uniqueKeys compares every key with every other one) and an alias budget.
import { isAlias, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { ProfileError } from '../errors.js';

/** A profile is a few kilobytes; anything near this is a mistake or an attack. */
export const MAX_PROFILE_BYTES = 1024 * 1024;
/** Anchors are fine for sharing a tag map; an alias bomb expands each one many times. */
const MAX_ALIAS_COUNT = 100;
/** At most this many problems are listed (a profile of 60,000 unknown keys gives 60,000). */
export const MAX_PROBLEMS = 50;

/** Bytes -> text: the size cap and strict UTF-8 (no silent U+FFFD). */
export function decodeProfile(bytes: Uint8Array, origin: string): string {
  if (bytes.length > MAX_PROFILE_BYTES) {
    throw new ProfileError([`${origin}: is ${bytes.length} bytes; a profile may have at most ${MAX_PROFILE_BYTES} bytes (1 MiB)`]);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new ProfileError([`${origin}: is not valid UTF-8 (line ${lineAt(bytes, at)}, byte ${at}); save the file as UTF-8`]);
  }
}

function firstInvalidUtf8(bytes: Uint8Array): number {
  const dec = new TextDecoder('utf-8', { fatal: true });
  // Binary search for the longest valid prefix: linear enough for 1 MiB.
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    try {
      dec.decode(bytes.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  return lo;
}

function lineAt(bytes: Uint8Array, at: number): number {
  let line = 1;
  for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
  return line;
}

/** Text -> data (every scalar a string: the failsafe schema), or a ProfileError. */
export function parseProfileText(text: string, origin: string): unknown {
  const size = Buffer.byteLength(text);
  if (size > MAX_PROFILE_BYTES) {
    throw new ProfileError([`${origin}: is ${size} bytes; a profile may have at most ${MAX_PROFILE_BYTES} bytes (1 MiB)`]);
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, schema: 'failsafe' });
  if (doc.errors.length > 0) {
    throw new ProfileError(limit(doc.errors.map((e) => `${origin}: YAML: ${e.message.split('\n')[0]}`)));
  }
  const problems: string[] = [];
  keyProblems(doc.contents, '', problems);
  if (problems.length) throw new ProfileError(limit(problems.map((p) => `${origin}: ${p}`)));
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (err) {
    // yaml throws a ReferenceError for an alias bomb.
    throw new ProfileError([`${origin}: YAML: ${(err as Error).message.split('\n')[0]} (at most ${MAX_ALIAS_COUNT} alias uses)`]);
  }
}

/** Keys must be plain strings, each once per mapping: checked with a Set, in linear time. */
function keyProblems(node: Node | null | undefined, at: string, out: string[]): void {
  if (out.length > MAX_PROBLEMS) return;
  if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const key = pair.key;
      if (!isScalar(key) || typeof key.value !== 'string') {
        out.push(`${at || '(top level)'}: a key is not a plain string (complex keys and aliases as keys are not allowed)`);
        continue;
      }
      const field = at ? `${at}.${key.value}` : key.value;
      if (seen.has(key.value)) out.push(`${shorten(field)}: appears twice in the same mapping; keep one`);
      seen.add(key.value);
      keyProblems(pair.value as Node | null, field, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => keyProblems(item as Node, `${at}[${i}]`, out));
  } else if (isAlias(node)) {
    // Checked where its anchor is.
  }
}

/** Caps a list of problems, saying how many were left off. */
export function limit(problems: string[]): string[] {
  if (problems.length <= MAX_PROBLEMS) return problems;
  return [...problems.slice(0, MAX_PROBLEMS), `... and ${problems.length - MAX_PROBLEMS} more problems`];
}

/** Characters a terminal or a log reader would act on (escape sequences, line breaks), shown as \uNNNN escapes. */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A value as messages echo it: JSON, cut to a readable length. */
export function shorten(text: string, max = 80): string {
  const safe = escapeControls(text);
  return safe.length <= max ? safe : `${safe.slice(0, max)}... (${text.length} characters)`;
}
