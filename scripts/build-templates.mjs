// Writes dist/render/templates.json: every template parsed by mustache, so the CLI does not parse
// them at each start (see src/render/template.ts). Run by `npm run build` after tsc.
import { writeFileSync } from 'node:fs';
import { PARSED_TEMPLATES } from '../dist/package/locations.js';
import { parsedTemplates } from '../dist/render/template.js';

writeFileSync(PARSED_TEMPLATES, `${JSON.stringify(parsedTemplates())}\n`);
