// One test per folder in test/cases/: the profile renders to exactly the files in expected/.
// And one per folder in test/cases-invalid/: the profile is refused with exactly errors.txt.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfileError, render } from '../src/index.js';
import { caseProfile, compareWithGolden, UPDATE } from './golden.js';

const CASES = join(import.meta.dirname, 'cases');
const INVALID = join(import.meta.dirname, 'cases-invalid');


describe('golden cases', () => {
  for (const name of readdirSync(CASES).sort()) {
    it(name, () => {
      const result = render(caseProfile(name), name);
      // packer/files/ is a byte-for-byte copy of install.sh and rootfs/ (the Packer folder stands alone):
      // assert that, and keep one golden copy.
      const copies = result.artifacts.filter((a) => a.path.startsWith('packer/files/'));
      for (const c of copies) {
        expect(c.content, c.path).toBe(result.artifacts.find((a) => a.path === c.path.slice('packer/files/'.length))?.content);
      }
      compareWithGolden(
        join(CASES, name, 'expected'),
        result.artifacts.filter((a) => !copies.includes(a)),
      );
    });
  }
});

describe('refused profiles', () => {
  for (const name of readdirSync(INVALID).sort()) {
    it(name, () => {
      const text = readFileSync(join(INVALID, name, 'profile.yaml'), 'utf8');
      let error: unknown;
      try {
        render(text, 'profile.yaml');
      } catch (e) {
        error = e;
      }
      expect(error, 'the profile must be refused').toBeInstanceOf(ProfileError);
      const message = (error as ProfileError).message + '\n';
      const file = join(INVALID, name, 'errors.txt');
      if (UPDATE) writeFileSync(file, message);
      expect(message).toBe(readFileSync(file, 'utf8'));
    });
  }
});
