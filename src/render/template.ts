// Mustache for text formats (shell, systemd units), with two guards mustache lacks:
// no HTML escaping (values are escaped by code for their target language before they reach a
// view), and an error on any tag the view does not define (mustache would print nothing).
import { readdirSync, readFileSync } from 'node:fs';
import Mustache, { type TemplateCache, type TemplateSpans } from 'mustache';
import { InternalError } from '../errors.js';
import { PARSED_TEMPLATES, TEMPLATE_DIR } from '../package/locations.js';

// Templates sit beside the module that renders them, named after the file they produce; names are
// relative to TEMPLATE_DIR: src/ (dist/ once the build has copied them there: scripts/copy-assets.mjs).
const cache = new Map<string, string>();

// Templates parsed at build time (dist/render/templates.json, from parsedTemplates() below):
// mustache's parser makes a token of every character and then merges them, about 45 ms of CPU per
// CLI start for our templates. The entries are keyed as mustache keys its template cache (the
// template's text and tags), so a template edited after the build is not found and is parsed; a
// file written by another mustache version (its tokens may differ) is not used at all.
Mustache.templateCache = tokenCache(new Map(Object.entries(readParsed())));

interface Parsed {
  mustache: string;
  templates: Record<string, TemplateSpans>;
}

// A Map is a template cache (get, set, clear); @types/mustache types its values as strings, but
// mustache stores the token arrays there (Writer.prototype.parse in mustache 4.2).
function tokenCache(map: Map<string, TemplateSpans>): TemplateCache {
  return map as unknown as TemplateCache;
}

function readParsed(): Record<string, TemplateSpans> {
  let parsed: Parsed;
  try {
    parsed = JSON.parse(readFileSync(PARSED_TEMPLATES, 'utf8')) as Parsed;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {}; // run from src/ (tests): parsed when used
    throw err;
  }
  return parsed.mustache === Mustache.version ? parsed.templates : {};
}

/** Every **\/*.mustache under src/ (or dist/) parsed, keyed as mustache's cache keys it: what the build stores. */
export function parsedTemplates(): Parsed {
  const parsed = new Map<string, TemplateSpans>();
  const own = Mustache.templateCache;
  Mustache.templateCache = tokenCache(parsed);
  try {
    for (const name of readdirSync(TEMPLATE_DIR, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.mustache')).sort()) {
      Mustache.parse(readFileSync(new URL(name, TEMPLATE_DIR), 'utf8'));
    }
  } finally {
    Mustache.templateCache = own;
  }
  return { mustache: Mustache.version, templates: Object.fromEntries(parsed) };
}

export function loadTemplate(name: string): string {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(name, TEMPLATE_DIR), 'utf8');
    cache.set(name, text);
  }
  return text;
}

type View = Record<string, unknown>;
type Token = [string, string, number, number, Token[]?, number?];

function resolvable(name: string, stack: unknown[]): boolean {
  if (name === '.') return true;
  const [head, ...rest] = name.split('.');
  for (let i = stack.length - 1; i >= 0; i--) {
    const frame = stack[i];
    if (frame !== null && typeof frame === 'object' && head! in (frame as object)) {
      let value: unknown = (frame as Record<string, unknown>)[head!];
      for (const part of rest) {
        if (value === null || typeof value !== 'object' || !(part in (value as object))) return false;
        value = (value as Record<string, unknown>)[part];
      }
      return true;
    }
  }
  return false;
}

function lookup(name: string, stack: unknown[]): unknown {
  if (name === '.') return stack[stack.length - 1];
  const [head, ...rest] = name.split('.');
  for (let i = stack.length - 1; i >= 0; i--) {
    const frame = stack[i] as Record<string, unknown> | null;
    if (frame !== null && typeof frame === 'object' && head! in frame) {
      return rest.reduce<unknown>((v, p) => (v as Record<string, unknown>)[p], frame[head!]);
    }
  }
  return undefined;
}

function check(tokens: Token[], stack: unknown[], template: string): void {
  for (const t of tokens) {
    const [type, name] = t;
    if (type === 'text' || type === '!' || type === '=') continue;
    if (type === '>') throw new InternalError(`template ${template}: partials are not used ({{> ${name}}})`);
    if (!resolvable(name, stack)) throw new InternalError(`template ${template}: the view has no value for {{${name}}}`);
    if (type === '{' || type === '&') throw new InternalError(`template ${template}: use {{${name}}}, escaping is already off`);
    if (type === '#') {
      const value = lookup(name, stack);
      const frames = Array.isArray(value) ? value : [value];
      if (Array.isArray(value) && value.length === 0) continue;
      if (value === false || value === undefined || value === null) continue;
      for (const f of frames) check(t[4] ?? [], typeof f === 'object' ? [...stack, f] : stack, template);
    } else if (type === '^') {
      check(t[4] ?? [], stack, template);
    }
  }
}

/** Renders the template at <name> (relative to src/) with `view`. Values must already be escaped for the target language. */
export function renderTemplate(name: string, view: View): string {
  return renderText(loadTemplate(name), view, name);
}

/** The same for template text in hand; `name` is for messages. */
export function renderText(template: string, view: View, name = 'template'): string {
  check(Mustache.parse(template) as unknown as Token[], [view], name);
  return Mustache.render(template, view, {}, { escape: (s: string) => s });
}
