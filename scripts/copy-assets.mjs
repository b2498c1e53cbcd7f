// Copies the text that sits beside the modules (mustache templates, the default profile) from src/
// into dist/, where the built modules read it. Run by `npm run build` after tsc.
import { cpSync, statSync } from 'node:fs';

cpSync(new URL('../src/', import.meta.url), new URL('../dist/', import.meta.url), {
  recursive: true,
  filter: (path) => statSync(path).isDirectory() || /\.(mustache|yaml)$/.test(path),
});
