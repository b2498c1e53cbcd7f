// `launch-template`: put our user data into an EC2 launch template. A new template is created; an
// existing one gets a new version based on its current default version (SourceVersion), so the
// user's other settings survive, with our MIME parts merged into the user data already there
// (replacing only parts an earlier run generated). Optionally made the default, and optionally rolled
// out to a managed node group. --dry-run prints the requests and calls nothing (with
// --user-data-file, it shows the merge into that user data, checked as a run checks it).
import type { RequestLaunchTemplateData } from '@aws-sdk/client-ec2';
import { ProfileError, UsageError } from './errors.js';
import { call } from './aws/errors.js';
import { AMI_ID } from './aws/names.js';
import type { Ec2Api } from './aws/ec2.js';
import type { EksApi } from './aws/eks.js';
import { staleCriProblem } from './containerd-cri-keys.js';
import { mergeUserData, type MergeResult } from './mime/merge.js';
import { USER_DATA_LIMIT, USER_DATA_WARN } from './artifacts/user-data.js';
import { eksAmiParameter, nodeArchOf, plan as makePlan, type Plan } from './plan.js';
import type { Profile } from './profile/schema.js';
import { synth } from './synth.js';

export interface LaunchTemplateOptions {
  name: string;
  /** The profile with its cluster block resolved (cluster.fromEks already read). */
  profile: Profile;
  /** --ami ID */
  ami?: string;
  /** --ami-from-ssm: the EKS AL2023 AMI's public SSM parameter, resolved by EC2 at launch. */
  amiFromSsm?: boolean;
  setDefault?: boolean;
  dryRun?: boolean;
  /** --rollout NODEGROUP, with the cluster it belongs to. */
  rollout?: { nodegroup: string; cluster?: string };
  /** --user-data-file FILE (with --dry-run): user data to merge ours into, as a run merges into the template's. */
  userData?: { bytes: Buffer; path: string };
}

export interface LaunchTemplateDeps {
  ec2: () => Promise<Ec2Api>;
  eks: () => Promise<EksApi>;
}

export interface LaunchTemplateResult {
  launchTemplateId: string;
  launchTemplateName: string;
  version: number;
  created: boolean;
  sourceVersion?: number;
  defaultVersion: number;
  imageId?: string;
  keptParts: number;
  replacedParts: number;
  rollout?: { cluster: string; nodegroup: string; updateId: string };
  warnings: string[];
}

export type DryRun = {
  dryRun: true;
  ifTemplateIsNew: { CreateLaunchTemplate: Record<string, unknown> };
  ifTemplateExists: {
    DescribeLaunchTemplates: Record<string, unknown>;
    CreateLaunchTemplateVersion: Record<string, unknown>;
    ModifyLaunchTemplate?: Record<string, unknown>;
    note: string;
    /** With --user-data-file: the merged user data as text, and what a run would warn about it. */
    mergedUserData?: string;
    warnings?: string[];
  };
  UpdateNodegroupVersion?: Record<string, unknown>;
};

const NAME = /^[A-Za-z0-9().\/_-]{3,128}$/;
const AMI = new RegExp(AMI_ID);
export const TAG_GENERATOR = 'soci-installer:generated-by';
export const TAG_MODE = 'soci-installer:mode';

export function ssmImageId(plan: Plan): string {
  if (plan.arches.length !== 1) {
    throw new UsageError('--ami-from-ssm: set node.arch in the profile (x86_64 or arm64): the SSM parameter names one architecture');
  }
  // The profile's variant (nvidia, neuron): GPU and Neuron nodes need the AMI with their drivers.
  return `resolve:ssm:${eksAmiParameter(plan.kubernetesVersion, nodeArchOf(plan.arches[0]!), plan.variant)}`;
}

/** What imageIdOf returns for ami.tags: resolved with DescribeImages when the command runs. */
export interface ImageByTags {
  tags: Record<string, string>;
}

function imageIdOf(opts: LaunchTemplateOptions, plan: Plan): string | ImageByTags | undefined {
  if (opts.ami !== undefined && opts.amiFromSsm) throw new UsageError('--ami and --ami-from-ssm: give one of them');
  if (opts.ami !== undefined) {
    if (!AMI.test(opts.ami)) throw new UsageError(`--ami: "${opts.ami}" is not an AMI id such as ami-0123456789abcdef0`);
    return opts.ami;
  }
  if (opts.amiFromSsm) return ssmImageId(plan);
  if (plan.nodeAmi && 'id' in plan.nodeAmi) return plan.nodeAmi.id;
  if (plan.nodeAmi) return { tags: plan.nodeAmi.tags };
  return undefined;
}

function showImage(image: string | ImageByTags): string {
  return typeof image === 'string' ? image : `<the newest AMI of this account tagged ${Object.entries(image.tags).map(([k, v]) => `${k}=${v}`).join(', ')}>`;
}

/** The newest available AMI owned by this account that carries every tag (EC2 does not order them). */
export async function findImageByTags(ec2: Ec2Api, tags: Record<string, string>): Promise<string> {
  const shown = Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(', ');
  const out = await call('ec2:DescribeImages', `AMIs tagged ${shown}`, () =>
    ec2.describeImages({
      Owners: ['self'],
      Filters: [...Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })), { Name: 'state', Values: ['available'] }],
    }),
  );
  const newest = (out.Images ?? [])
    .filter((i) => i.ImageId)
    .sort((a, b) => (a.CreationDate ?? '').localeCompare(b.CreationDate ?? '') || (a.ImageId ?? '').localeCompare(b.ImageId ?? ''))
    .at(-1);
  if (!newest?.ImageId) throw new UsageError(`ami.tags: no available AMI owned by this account is tagged ${shown}; bake one, or pass --ami ID`);
  return newest.ImageId;
}

function requireCluster(plan: Plan, why: string): void {
  if (!plan.cluster) {
    throw new ProfileError([
      `cluster: required because ${why}: with a custom AMI EKS merges no NodeConfig into the user data, so the nodes need the full cluster block; add name, apiServerEndpoint, certificateAuthority and cidr, or cluster.fromEks (or --cluster NAME)`,
    ]);
  }
}

export function launchTemplateData(plan: Plan, userDataMime: string, imageId: string | undefined): RequestLaunchTemplateData {
  return {
    ...(imageId ? { ImageId: imageId } : {}),
    UserData: Buffer.from(userDataMime).toString('base64'),
    MetadataOptions: {
      HttpEndpoint: 'enabled',
      HttpTokens: plan.metadataOptions.httpTokens,
      HttpPutResponseHopLimit: plan.metadataOptions.httpPutResponseHopLimit,
    },
  };
}

function description(plan: Plan): string {
  return `soci-installer ${plan.generatorVersion}: SOCI snapshotter, mode ${plan.mode}`;
}

function tags(plan: Plan) {
  return [
    { Key: TAG_GENERATOR, Value: `soci-installer ${plan.generatorVersion}` },
    { Key: TAG_MODE, Value: plan.mode },
  ];
}

function prepare(opts: LaunchTemplateOptions) {
  if (!NAME.test(opts.name)) throw new UsageError(`--name: "${opts.name}" is not a launch template name (3 to 128 letters, digits and ( ) . / _ -)`);
  const plan = makePlan(opts.profile);
  const { artifacts, warnings } = synth(plan);
  const mime = artifacts.find((a) => a.path === 'user-data.mime')!.content;
  const imageId = imageIdOf(opts, plan);
  if (imageId) requireCluster(plan, `the launch template sets ImageId ${showImage(imageId)}`);
  const rolloutCluster = opts.rollout ? (opts.rollout.cluster ?? plan.cluster?.name) : undefined;
  if (opts.rollout && !rolloutCluster) throw new UsageError('--rollout: name the cluster with --cluster NAME (or cluster.name / cluster.fromEks in the profile)');
  return { plan, mime, imageId, warnings, rolloutCluster };
}

export function dryRun(opts: LaunchTemplateOptions): DryRun {
  const { plan, mime, imageId, rolloutCluster } = prepare(opts);
  const shownImage = imageId === undefined ? undefined : showImage(imageId);
  const data = launchTemplateData(plan, mime, shownImage);
  // With --user-data-file, the version a run would add over that user data; without, EC2 is not read.
  const file = opts.userData && checkedMerge(plan, mime, opts.userData.bytes, `launch template "${opts.name}"`, opts.userData.path);
  return {
    dryRun: true,
    ifTemplateIsNew: {
      CreateLaunchTemplate: {
        LaunchTemplateName: opts.name,
        VersionDescription: description(plan),
        LaunchTemplateData: data,
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: tags(plan) }],
      },
    },
    ifTemplateExists: {
      DescribeLaunchTemplates: { LaunchTemplateNames: [opts.name] },
      CreateLaunchTemplateVersion: {
        LaunchTemplateId: '<the template id>',
        SourceVersion: '<its default version number>',
        VersionDescription: description(plan),
        LaunchTemplateData: file ? launchTemplateData(plan, file.merged.mime, shownImage) : data,
      },
      ...(opts.setDefault ? { ModifyLaunchTemplate: { LaunchTemplateId: '<the template id>', DefaultVersion: '<the new version number>' } } : {}),
      ...(file
        ? {
            note: `UserData is ${opts.userData!.path}'s parts with ours merged in: kept ${file.merged.kept}, replaced ${file.merged.replaced} an earlier soci-installer run wrote (a run merges into the default version's user data the same way); mergedUserData is it as text`,
            mergedUserData: file.merged.mime,
            warnings: file.warnings,
          }
        : { note: "UserData is then the default version's user data with this user data's parts merged in (parts an earlier soci-installer run wrote are replaced); --user-data-file FILE shows the merge with FILE's" }),
    },
    ...(opts.rollout
      ? { UpdateNodegroupVersion: { clusterName: rolloutCluster, nodegroupName: opts.rollout.nodegroup, launchTemplate: { id: '<the template id>', version: '<the new version number>' } } }
      : {}),
  };
}

/**
 * Our user data merged into the user data there (parts of `from`: "version 4", or a file), refused
 * where its nodes would fail their install or EC2 would refuse it, with the size warning.
 */
function checkedMerge(plan: Plan, mime: string, existing: Buffer | undefined, subject: string, from: string): { merged: MergeResult; warnings: string[] } {
  const merged = mergeUserData(existing, mime);
  if (merged.staleCri && plan.installs && plan.containerd === '2') {
    const { parts, keys } = merged.staleCri;
    const which = parts.length === 1 ? `part ${parts[0]} of ${from}'s user data: its containerd.config` : `parts ${parts.join(', ')} of ${from}'s user data: their containerd.config, merged as nodeadm merges them,`;
    throw new UsageError(`${subject}: ${which} ${staleCriProblem(keys)}`);
  }
  if (merged.fastImagePullPart && plan.installs) {
    throw new UsageError(
      `${subject}: part ${merged.fastImagePullPart} of ${from}'s user data turns on nodeadm's FastImagePull gate: nodeadm would replace soci's config with its own (parallel pull) at every boot; remove the gate, or use soci.mode: fast-image-pull`,
    );
  }
  const size = Buffer.byteLength(merged.mime);
  const ours = Buffer.byteLength(mime);
  if (size > USER_DATA_LIMIT) {
    throw new UsageError(
      `${subject}: its user data merged with ours is ${size} bytes, over EC2's limit of ${USER_DATA_LIMIT}: ours (user-data.mime) is ${ours} bytes, the ${merged.kept} part(s) of ${from} kept beside it about ${size - ours}; shorten those parts, or bake an AMI (out/packer/) and use ami.baked: true, whose user data is the cluster block only`,
    );
  }
  // As render warns for ours alone (user-data.ts, userDataSizeWarnings): what EKS or Karpenter append may not fit.
  const mergedWarnings =
    size > USER_DATA_WARN
      ? [
          `${subject}: its user data merged with ours is ${size} bytes: EKS and Karpenter append their own NodeConfig, and EC2 refuses more than ${USER_DATA_LIMIT} (ours is ${ours} bytes, the ${merged.kept} part(s) of ${from} kept beside it about ${size - ours})`,
        ]
      : [];
  return { merged, warnings: mergedWarnings };
}

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name ?? '';
  return name === 'InvalidLaunchTemplateName.NotFoundException' || name === 'InvalidLaunchTemplateId.NotFound';
}

export async function launchTemplate(opts: LaunchTemplateOptions, deps: LaunchTemplateDeps): Promise<LaunchTemplateResult> {
  const prepared = prepare(opts);
  const { plan, mime, warnings, rolloutCluster } = prepared;
  const ec2 = await deps.ec2();
  const subject = `launch template "${opts.name}"`;
  const imageId = typeof prepared.imageId === 'object' ? await findImageByTags(ec2, prepared.imageId.tags) : prepared.imageId;

  let existing: { id: string; defaultVersion: number } | undefined;
  try {
    const out = await ec2.describeLaunchTemplates({ LaunchTemplateNames: [opts.name] });
    const lt = out.LaunchTemplates?.[0];
    if (lt?.LaunchTemplateId && lt.DefaultVersionNumber !== undefined) existing = { id: lt.LaunchTemplateId, defaultVersion: lt.DefaultVersionNumber };
  } catch (err) {
    if (!isNotFound(err)) await call('ec2:DescribeLaunchTemplates', subject, () => Promise.reject(err));
  }

  let result: LaunchTemplateResult;
  if (!existing) {
    const out = await call('ec2:CreateLaunchTemplate', subject, () =>
      ec2.createLaunchTemplate({
        LaunchTemplateName: opts.name,
        VersionDescription: description(plan),
        LaunchTemplateData: launchTemplateData(plan, mime, imageId),
        TagSpecifications: [{ ResourceType: 'launch-template', Tags: tags(plan) }],
      }),
    );
    const lt = out.LaunchTemplate;
    result = {
      launchTemplateId: lt?.LaunchTemplateId ?? '',
      launchTemplateName: opts.name,
      version: lt?.LatestVersionNumber ?? 1,
      created: true,
      defaultVersion: lt?.DefaultVersionNumber ?? 1,
      ...(imageId ? { imageId } : {}),
      keptParts: 0,
      replacedParts: 0,
      warnings,
    };
  } else {
    const { id, defaultVersion } = existing;
    const versions = await call('ec2:DescribeLaunchTemplateVersions', subject, () =>
      ec2.describeLaunchTemplateVersions({ LaunchTemplateId: id, Versions: [String(defaultVersion)] }),
    );
    const source: { ImageId?: string; UserData?: string } = versions.LaunchTemplateVersions?.[0]?.LaunchTemplateData ?? {};
    const userData = source.UserData ? Buffer.from(source.UserData, 'base64') : undefined;
    const { merged, warnings: mergedWarnings } = checkedMerge(plan, mime, userData, subject, `version ${defaultVersion}`);
    // The new version inherits the source's ImageId unless we set one: a custom AMI there needs the
    // cluster block too, from the profile or from a NodeConfig of the user's that the merge keeps.
    if (!imageId && source.ImageId && !merged.keptClusterBlock) {
      requireCluster(plan, `version ${defaultVersion} of ${subject} sets ImageId ${source.ImageId}, which the new version keeps`);
    }
    const out = await call('ec2:CreateLaunchTemplateVersion', subject, () =>
      ec2.createLaunchTemplateVersion({
        LaunchTemplateId: id,
        SourceVersion: String(defaultVersion),
        VersionDescription: description(plan),
        LaunchTemplateData: launchTemplateData(plan, merged.mime, imageId),
      }),
    );
    const version = out.LaunchTemplateVersion?.VersionNumber;
    if (version === undefined) throw new UsageError(`ec2:CreateLaunchTemplateVersion: ${subject}: EC2 returned no version number`);
    let newDefault = defaultVersion;
    if (opts.setDefault) {
      await call('ec2:ModifyLaunchTemplate', subject, () => ec2.modifyLaunchTemplate({ LaunchTemplateId: id, DefaultVersion: String(version) }));
      newDefault = version;
    }
    result = {
      launchTemplateId: id,
      launchTemplateName: opts.name,
      version,
      created: false,
      sourceVersion: defaultVersion,
      defaultVersion: newDefault,
      ...(imageId ? { imageId } : {}),
      keptParts: merged.kept,
      replacedParts: merged.replaced,
      warnings: [...warnings, ...mergedWarnings],
    };
  }

  if (opts.rollout && rolloutCluster) {
    const eks = await deps.eks();
    const { nodegroup } = opts.rollout;
    const out = await call('eks:UpdateNodegroupVersion', `node group "${nodegroup}" of cluster "${rolloutCluster}"`, () =>
      eks.updateNodegroupVersion({
        clusterName: rolloutCluster,
        nodegroupName: nodegroup,
        launchTemplate: { id: result.launchTemplateId, version: String(result.version) },
      }),
    );
    result.rollout = { cluster: rolloutCluster, nodegroup, updateId: out.update?.id ?? '' };
  }
  return result;
}

/** The one-paragraph summary the command prints. */
export function describeResult(r: LaunchTemplateResult): string {
  const lines = [
    r.created
      ? `created launch template ${r.launchTemplateName} (${r.launchTemplateId}), version ${r.version} (default)`
      : `launch template ${r.launchTemplateName} (${r.launchTemplateId}): version ${r.version}, based on version ${r.sourceVersion}; ` +
        `kept ${r.keptParts} user-data part(s) of yours, replaced ${r.replacedParts} from an earlier run; default version: ${r.defaultVersion}` +
        (r.defaultVersion === r.version ? '' : ' (use --set-default to make the new version the default)'),
  ];
  if (r.imageId) lines.push(`ImageId: ${r.imageId}`);
  if (r.rollout) lines.push(`node group ${r.rollout.nodegroup} of ${r.rollout.cluster}: rolling to version ${r.version} (update ${r.rollout.updateId})`);
  return `${lines.join('\n')}\n`;
}
