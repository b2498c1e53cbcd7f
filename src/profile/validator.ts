// The profile schema's validator. Compiling the schema with ajv took about a third of every CLI
// start, so `npm run build` also writes the compiled validator as plain code (ajv standalone) into
// dist/profile/profile-validator.cjs (scripts/build-validator.mjs). Without that file (tests run
// src/), or when it was written for another schema (a `tsc` without the build step), the schema
// is compiled here at first use, as before. ajv is loaded only then.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ajv, Options, ValidateFunction } from 'ajv';
import { PRECOMPILED_VALIDATOR } from '../package/locations.js';
import { PROFILE_SCHEMA } from './schema.js';

const require = createRequire(import.meta.url);

// The YAML is read with the failsafe schema (every scalar a string, as written: 1.30 stays "1.30",
// a digits-only sha256 stays a string); ajv turns the numbers and booleans the schema asks for
// back into numbers and booleans.
const OPTIONS: Options = { allErrors: true, verbose: true, strict: true, coerceTypes: true };

/** Names the schema and options a precompiled validator was built from. */
export function schemaHash(): string {
  return createHash('sha256').update(JSON.stringify([OPTIONS, PROFILE_SCHEMA])).digest('hex');
}

function newAjv(options: Options = {}): Ajv {
  const { Ajv } = require('ajv') as typeof import('ajv');
  const ajv = new Ajv({ ...OPTIONS, ...options });
  ajv.addKeyword('x-hint');
  return ajv;
}

/** The validator: the precompiled one when it matches the schema, else compiled now. */
export function profileValidator(): ValidateFunction {
  try {
    const pre = require(fileURLToPath(PRECOMPILED_VALIDATOR)) as ValidateFunction & { schemaHash?: string };
    if (pre.schemaHash === schemaHash()) return pre;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
  }
  return newAjv().compile(PROFILE_SCHEMA);
}

/** The CommonJS source of the precompiled validator (what the build writes). */
export function standaloneValidatorSource(): string {
  const ajv = newAjv({ code: { source: true, esm: false } });
  const standaloneCode = (require('ajv/dist/standalone/index.js') as { default: (ajv: Ajv, v: ValidateFunction) => string }).default;
  return `${eager(standaloneCode(ajv, ajv.compile(PROFILE_SCHEMA)))}\nmodule.exports.schemaHash = ${JSON.stringify(schemaHash())};\n`;
}

// ajv writes `module.exports = validateN; ...; function validateN(...) {...}`, its one function last.
// V8 compiles a function declaration only when it is first called, so Node's compile cache (which
// keeps what was compiled at load) never holds it: the first check of every CLI run compiled 150 KB
// of code, about a tenth of `render`. A function expression in parentheses is compiled at load
// (V8's heuristic for functions called at once), so it lands in the cache. Any other shape is
// written as ajv gave it: still correct, only compiled lazily (test/unit/profile-validator.test.ts
// checks that the build got the eager form).
const AJV_SHAPE = /^"use strict";module\.exports = (validate\d+);module\.exports\.default = \1;([^]*)\bfunction \1\(([^]*)\}$/;

function eager(code: string): string {
  const m = AJV_SHAPE.exec(code.trimEnd());
  if (!m || /\bfunction validate\d+\(/.test(m[2]!)) return code;
  const [, name, before, rest] = m;
  return `"use strict";${before}const ${name} = (function ${name}(${rest}});\nmodule.exports = ${name};module.exports.default = ${name};`;
}
