// Writes dist/render/templates.json: every template parsed by mustache, so the CLI does not parse
// them at each start (see src/render/template.ts). Run by `npm run build` after tsc.
import { writeFileSync } from 'node:fs';
import { parsedTemplates } from '../dist/render/template.js';

writeFileSync(new URL('../dist/render/templates.json', import.meta.url), `${JSON.stringify(parsedTemplates())}\n`);
