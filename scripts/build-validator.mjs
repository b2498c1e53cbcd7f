// Run by `npm run build` after tsc: writes the profile schema's compiled validator as plain code
// (dist/profile/profile-validator.cjs), so the CLI does not compile the schema at every start.
import { writeFileSync } from 'node:fs';
import { PRECOMPILED_VALIDATOR } from '../dist/package/locations.js';
import { standaloneValidatorSource } from '../dist/profile/validator.js';

writeFileSync(PRECOMPILED_VALIDATOR, standaloneValidatorSource());
