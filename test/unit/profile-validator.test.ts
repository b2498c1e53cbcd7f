// The precompiled profile validator (ajv standalone, written into dist/ by `npm run build`) judges
// every profile as the schema compiled at run time does: same verdict, same errors, same coercions.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ValidateFunction } from 'ajv';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { profileValidator, schemaHash, standaloneValidatorSource } from '../../src/profile/validator.js';

const SRC = join(import.meta.dirname, '../../src/profile/validator.ts');

function precompiled(): ValidateFunction & { schemaHash?: string } {
  const module = { exports: {} as ValidateFunction & { schemaHash?: string } };
  new Function('module', 'exports', 'require', standaloneValidatorSource())(module, module.exports, createRequire(SRC));
  return module.exports;
}

const read = (text: string): unknown => parseDocument(text, { schema: 'failsafe' }).toJS() ?? {};

describe('precompiled profile validator', () => {
  it('names the schema it was built from', () => {
    expect(precompiled().schemaHash).toBe(schemaHash());
  });

  it('is a function expression in parentheses, so V8 compiles it at load and the compile cache keeps it', () => {
    // If ajv changes the shape of its output, the build falls back to ajv's form (correct, but
    // compiled at each first call): this fails so that the fallback is noticed.
    const source = standaloneValidatorSource();
    expect(source).toMatch(/\bconst (validate\d+) = \(function \1\(/);
    expect(source).not.toMatch(/^function validate|[;}]function validate/m);
    expect(source).toMatch(/\}\);\nmodule\.exports = validate\d+;module\.exports\.default = validate\d+;\nmodule\.exports\.schemaHash = /);
  });

  it('judges every golden and refused profile as the validator compiled at run time', () => {
    const pre = precompiled();
    const runtime = profileValidator(); // src/ has no profile-validator.cjs: compiled now
    const dirs = ['cases', 'cases-invalid'].map((d) => join(import.meta.dirname, '..', d));
    let seen = 0;
    for (const dir of dirs) {
      for (const name of readdirSync(dir)) {
        const file = join(dir, name, 'profile.yaml');
        if (!existsSync(file)) continue;
        const text = readFileSync(file, 'utf8');
        const [a, b] = [read(text), read(text)];
        expect(pre(a), name).toBe(runtime(b));
        expect(pre.errors ?? null, name).toEqual(runtime.errors ?? null);
        expect(a, `${name}: coerced alike`).toEqual(b);
        seen++;
      }
    }
    expect(seen).toBeGreaterThan(20);
  });
});
