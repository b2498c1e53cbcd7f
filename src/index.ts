// The library API: the CLI is a thin layer over these.
import { loadProfile } from './profile/load.js';
import { defaultProfileText } from './profile/default.js';
import type { Plan } from './plan.js';
import { renderProfile, type Synthesis } from './synth.js';

export { loadProfile, checkProfile } from './profile/load.js';
export { PROFILE_SCHEMA } from './profile/schema.js';
export type { Profile, Mode, Auth, Source } from './profile/schema.js';
export { plan, PATHS, type Plan } from './plan.js';
export { synth, renderProfile, writeArtifacts, OUTPUT_PATHS, type Artifact, type Synthesis } from './synth.js';
export { defaultProfileText } from './profile/default.js';
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

/** Profile text (or the default) -> plan -> artifacts, in one call. */
export function render(profileText?: string, origin?: string): Synthesis & { plan: Plan } {
  return renderProfile(loadProfile(profileText ?? defaultProfileText(), origin ?? (profileText === undefined ? 'default profile' : 'profile')));
}
