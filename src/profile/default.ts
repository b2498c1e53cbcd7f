// The annotated default profile, as `init` writes it and as used when no profile is given.
import { readFileSync } from 'node:fs';

export function defaultProfileText(): string {
  return readFileSync(new URL('./default-profile.yaml', import.meta.url), 'utf8');
}
