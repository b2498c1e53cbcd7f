// The annotated default profile, as `init` writes it and as used when no profile is given.
import { readFileSync } from 'node:fs';
import { DEFAULT_PROFILE } from '../package/locations.js';

export function defaultProfileText(): string {
  return readFileSync(DEFAULT_PROFILE, 'utf8');
}
