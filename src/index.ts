// The library API: the CLI is a thin layer over these.
import { readFileSync } from 'node:fs';
import { loadProfile } from './profile/load.js';
import { plan, type Plan } from './plan.js';
import { synth, type Synthesis } from './synth.js';
import type { Profile } from './profile/schema.js';

export { loadProfile, checkProfile } from './profile/load.js';
export { PROFILE_SCHEMA } from './profile/schema.js';
export type { Profile, Mode, Auth, Source } from './profile/schema.js';
export { plan, PATHS, type Plan } from './plan.js';
export { synth, writeArtifacts, OUTPUT_PATHS, type Artifact, type Synthesis } from './synth.js';
export { mergeUserData, isOurPart } from './mime/merge.js';
export { ec2NodeClass } from './artifacts/karpenter.js';
export { eksctlConfig } from './artifacts/eksctl.js';
export { bottlerocketSettings, bottlerocketRefusal } from './artifacts/bottlerocket.js';
// AWS: these modules import the SDK only when their functions run.
export { ec2Api, type Ec2Api } from './aws/ec2.js';
export { eksApi, describeClusterBlock, resolveClusterFromEks, type EksApi } from './aws/eks.js';
export { launchTemplate, dryRun as launchTemplateDryRun, type LaunchTemplateOptions, type LaunchTemplateResult } from './launch-template.js';
export { buildMime, parseMime, CONTENT_TYPES, type Part } from './mime/archive.js';
export { ProfileError, UsageError, ExternalError, InternalError } from './errors.js';
export { GENERATOR_VERSION } from './version.js';

/** The annotated default profile, as `init` writes it and as used when no profile is given. */
export function defaultProfileText(): string {
  return readFileSync(new URL('../templates/profile.yaml', import.meta.url), 'utf8');
}

/** Profile text (or the default) -> plan -> artifacts, in one call. */
export function render(profileText?: string, origin?: string): Synthesis & { plan: Plan } {
  return renderProfile(loadProfile(profileText ?? defaultProfileText(), origin ?? (profileText === undefined ? 'default profile' : 'profile')));
}

/** A checked profile (cluster.fromEks already resolved) -> plan -> artifacts. */
export function renderProfile(profile: Profile): Synthesis & { plan: Plan } {
  const p = plan(profile);
  return { plan: p, ...synth(p) };
}
