// The command line: a table of commands and flags (read by cli-args.ts) whose actions call the
// library. No logic here beyond reading files and printing; errors are thrown, and main.ts turns
// them into exit codes.
// Each command imports the modules it needs when it runs (import() below): --help, --version and
// init start without yaml, the profile checks and the artifacts, and only the AWS commands load
// the AWS SDK.
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { command, runProgram, type FlagSpec, type Program } from './cli-args.js';
import { ExternalError, NotReadyError, ProfileError, UsageError } from './errors.js';
import { OUTPUT_PATHS } from './output-paths.js';
import type { Plan } from './plan.js';
import type { Profile } from './profile/schema.js';
import { CLUSTER_NAME as CLUSTER_NAME_PATTERN } from './aws/names.js';
import { GENERATOR_VERSION } from './version.js';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

async function readProfile(file: string | undefined): Promise<{ text?: string; origin?: string }> {
  if (!file) return {};
  const { decodeProfile, MAX_PROFILE_BYTES } = await import('./profile/parse.js');
  let bytes: Buffer;
  try {
    // The size is checked before reading: a profile is small, a device or a huge file is a mistake.
    const size = statSync(file).size;
    if (size > MAX_PROFILE_BYTES) throw new ProfileError([`${file}: is ${size} bytes; a profile may have at most ${MAX_PROFILE_BYTES} bytes (1 MiB)`]);
    bytes = readFileSync(file);
  } catch (err) {
    if (err instanceof ProfileError) throw err;
    throw new UsageError(`-c ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return { text: decodeProfile(bytes, file), origin: file };
}

/** --user-data-file FILE: user data as EC2 holds it, base64-decoded. */
function readUserDataFile(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`--user-data-file: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** -c FILE, or the embedded default profile, checked. */
async function loadProfileFile(config: string | undefined): Promise<Profile> {
  const { text, origin } = await readProfile(config);
  const [{ loadProfile }, { defaultProfileText }] = await Promise.all([import('./profile/load.js'), import('./profile/default.js')]);
  return loadProfile(text ?? defaultProfileText(), origin ?? 'default profile');
}

/** -c FILE (or the default profile), checked and turned into the plan. */
async function planFile(config: string | undefined): Promise<Plan> {
  const profile = await loadProfileFile(config);
  return (await import('./plan.js')).plan(profile);
}

const CLUSTER_NAME = new RegExp(CLUSTER_NAME_PATTERN);

/** --cluster reaches the AWS SDK and our outputs: checked like cluster.name. */
async function checkClusterFlag(cluster: string | undefined): Promise<void> {
  if (cluster !== undefined && !CLUSTER_NAME.test(cluster)) {
    const { shorten } = await import('./profile/parse.js');
    throw new UsageError(`--cluster: ${shorten(JSON.stringify(cluster))} is not an EKS cluster name; allowed: 1 to 100 of letters, digits, - and _, starting with a letter or digit`);
  }
}

interface ProfileOpts {
  config?: string;
  cluster?: string;
  region?: string;
}

/** The profile, with cluster.fromEks / --cluster read from EKS (the SDK is loaded only then). */
async function profileFrom(opts: ProfileOpts): Promise<Profile> {
  await checkClusterFlag(opts.cluster);
  const profile = await loadProfileFile(opts.config);
  if (opts.cluster === undefined && profile.cluster?.fromEks === undefined) return profile;
  const { eksApi, resolveClusterFromEks } = await import('./aws/eks.js');
  return resolveClusterFromEks(profile, await eksApi({ region: opts.region }), opts.cluster);
}

async function renderFrom(opts: ProfileOpts, io: Io) {
  const profile = await profileFrom(opts);
  const result = (await import('./synth.js')).renderProfile(profile);
  for (const w of result.warnings) io.stderr(`warning: ${w}\n`);
  return result;
}

/** Prints one output for another tool, or fails saying why this profile has none. */
async function printOutput(opts: ProfileOpts & { base64?: boolean }, path: string, why: (plan: Plan) => string | Promise<string>, io: Io) {
  const result = await renderFrom(opts, io);
  const artifact = result.artifacts.find((a) => a.path === path);
  if (!artifact) throw new ProfileError([await why(result.plan)]);
  io.stdout(opts.base64 ? `${Buffer.from(artifact.content).toString('base64')}\n` : artifact.content);
}

/**
 * --dry-run calls nothing, not even EKS: a cluster block to be read from EKS is filled with
 * placeholders, and the output says so.
 */
async function profileForDryRun(opts: ProfileOpts): Promise<{ profile: Profile; note?: string }> {
  await checkClusterFlag(opts.cluster);
  const profile = await loadProfileFile(opts.config);
  const name = opts.cluster ?? profile.cluster?.fromEks;
  if (name === undefined) return { profile };
  // As resolveClusterFromEks: a cidr counts only beside fromEks.
  const cidr = profile.cluster?.fromEks !== undefined ? profile.cluster.cidr : undefined;
  return {
    profile: {
      ...profile,
      cluster: { name, apiServerEndpoint: 'https://placeholder.invalid', certificateAuthority: 'UExBQ0VIT0xERVI=', cidr: cidr ?? '10.100.0.0/16' },
    },
    note: `the cluster block of "${name}" is read from EKS DescribeCluster at run time; the UserData above holds placeholders for its endpoint, certificate authority${cidr ? '' : ' and service CIDR'}`,
  };
}

const PROFILE: FlagSpec = { flags: '-c, --config <file>', help: 'profile (YAML); default: the embedded default profile' };
const CLUSTER: FlagSpec = { flags: '--cluster <name>', help: 'read the cluster block from EKS DescribeCluster (as cluster.fromEks)' };
const REGION: FlagSpec = { flags: '--region <region>', help: 'AWS region (default: AWS_REGION / the AWS config)' };
// Commands that render the profile: -c, and --cluster/--region for a cluster block read from EKS.
const RENDERS = [PROFILE, CLUSTER, REGION];
const BASE64: FlagSpec = { flags: '--base64', help: 'base64 on one line, as launch templates take it' };
const JSON_OUT: FlagSpec = { flags: '--json', help: 'JSON for scripts' };

export function program(io: Io): Program {
  return {
    name: 'soci-installer',
    version: GENERATOR_VERSION,
    description: 'Put the SOCI snapshotter on Amazon EKS nodes: user data, node files, and the rest, from one profile.',
    after: `
Examples:
  soci-installer init -o soci.yaml          write an annotated profile to start from
  soci-installer render -c soci.yaml -o out every file, into ./out
  soci-installer user-data --base64         user data for a launch template (default profile)
  soci-installer ami -c soci.yaml           the EKS AMI the Packer build (out/packer) starts from
  soci-installer user-data -c soci.yaml --baked --base64   user data for nodes of the baked AMI
  soci-installer checksums --version 0.15.0 --write soci.yaml

  soci-installer check-image -c soci.yaml 123456789012.dkr.ecr.us-west-2.amazonaws.com/app:1.4
  kubectl get pods -A -o json | soci-installer check-image -c soci.yaml --from-pods - --json

  soci-installer launch-template --name my-nodes -c soci.yaml --dry-run
  soci-installer karpenter -c soci.yaml | kubectl apply -f -`,
    commands: [
      command<{ output: string; force?: boolean }>({
        name: 'init',
        description: 'write an annotated profile to start from',
        flags: [
          { flags: '-o, --output <file>', help: 'where to write it', default: 'soci.yaml' },
          { flags: '--force', help: 'overwrite an existing file' },
        ],
        run: async (opts) => {
          if (opts.output === '') throw new UsageError('init: -o: the file name is empty; give the file to write, e.g. -o soci.yaml');
          if (existsSync(opts.output) && !opts.force) throw new UsageError(`${opts.output} exists; use --force to overwrite it`);
          const { defaultProfileText } = await import('./profile/default.js');
          // Written whole or not at all: a temporary file beside it, renamed over it.
          const tmp = `${opts.output}.tmp-${process.pid}`;
          try {
            writeFileSync(tmp, defaultProfileText());
            renameSync(tmp, opts.output);
          } catch (err) {
            if (existsSync(tmp)) rmSync(tmp);
            throw new ExternalError(`-o ${opts.output}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); nothing was written`);
          }
          io.stdout(`wrote ${opts.output}\n`);
        },
      }),

      command<ProfileOpts & { output: string }>({
        name: 'render',
        description: 'write user-data.mime, nodeconfig.yaml, install.sh, rootfs/ (every file the node receives) and packer/ (the AMI bake)',
        flags: [...RENDERS, { flags: '-o, --output <dir>', help: 'output directory (the files of its last render are replaced; others are kept)', default: 'out' }],
        after: 'Example:\n  soci-installer render -c soci.yaml -o out && cat out/install.sh',
        run: async (opts) => {
          const { artifacts, skipped } = await renderFrom(opts, io);
          (await import('./synth.js')).writeArtifacts(opts.output, artifacts);
          for (const s of skipped) io.stderr(`note: ${s.path} not written: ${s.reason}\n`);
          io.stdout(`wrote ${artifacts.length} files to ${opts.output}/\n`);
        },
      }),

      command<ProfileOpts & { base64?: boolean; baked?: boolean }>({
        name: 'user-data',
        description: 'print the MIME multipart user data',
        flags: [...RENDERS, BASE64, { flags: '--baked', help: 'for nodes of the AMI baked with packer/: only the cluster block (as ami.baked: true)' }],
        after: 'Example:\n  soci-installer user-data -c soci.yaml --base64 > user-data.b64',
        run: async (opts) => {
          const result = await renderFrom(opts, io);
          if (opts.baked && !result.plan.ami) throw new UsageError('--baked: soci.mode "fast-image-pull" installs nothing, so no AMI is baked; drop --baked');
          const mime = opts.baked ? (await import('./artifacts/user-data.js')).bakedUserDataMime(result.plan) : result.artifacts.find((a) => a.path === 'user-data.mime')!.content;
          io.stdout(opts.base64 ? `${Buffer.from(mime).toString('base64')}\n` : mime);
        },
      }),

      command<ProfileOpts & { uninstall?: boolean }>({
        name: 'daemonset',
        description: 'print the DaemonSet manifest that installs soci on nodes that already run (kubectl apply -f)',
        flags: [...RENDERS, { flags: '--uninstall', help: 'the manifest that puts every node back as it was' }],
        after: 'Example:\n  soci-installer daemonset -c soci.yaml | kubectl apply -f -\n  kubectl -n soci-installer rollout status ds/soci-installer',
        run: (opts) =>
          printOutput(
            opts,
            opts.uninstall ? 'daemonset-uninstall.yaml' : 'daemonset.yaml',
            async (plan) => (await import('./artifacts/daemonset.js')).daemonSetRefusal(plan) ?? 'no DaemonSet output',
            io,
          ),
      }),

      command<{ config?: string; api: string; batch: string; timeout: string; interval: string }>({
        name: 'rollout',
        description: `the DaemonSet's first rollout: label the nodes it selects with soci-installer.io/install=true, a batch at a time, each batch Ready before the next`,
        flags: [
          PROFILE,
          { flags: '--api <url>', help: 'Kubernetes API base URL (kubectl proxy)', default: 'http://127.0.0.1:8001' },
          { flags: '--batch <n>', help: 'nodes converted at once', default: '1' },
          { flags: '--timeout <seconds>', help: 'how long one batch may take to become Ready', default: '900' },
          { flags: '--interval <seconds>', help: 'poll interval', default: '5', hidden: true },
        ],
        after: 'Example:\n  soci-installer daemonset -c soci.yaml | kubectl apply -f -\n  kubectl proxy &\n  soci-installer rollout -c soci.yaml --batch 2',
        run: async (opts) => {
          const p = await planFile(opts.config);
          const refusal = (await import('./artifacts/daemonset.js')).daemonSetRefusal(p);
          if (refusal) throw new ProfileError([refusal]);
          const { rollout } = await import('./rollout.js');
          const { converted, skipped } = await rollout(p, {
            api: opts.api,
            batch: Number(opts.batch),
            timeoutSec: Number(opts.timeout),
            intervalSec: Number(opts.interval),
            log: (line) => io.stdout(`${line}\n`),
          });
          io.stdout(`done: ${converted.length} node(s) converted${skipped.length ? `, ${skipped.length} not EKS AL2023 left unlabelled` : ''}\n`);
        },
      }),

      command<ProfileOpts>({
        name: 'karpenter',
        description: `print ${OUTPUT_PATHS.karpenter}: a Karpenter EC2NodeClass whose userData carries our parts`,
        flags: RENDERS,
        after: 'Example:\n  soci-installer karpenter -c soci.yaml | kubectl apply -f -\n(changing an EC2NodeClass makes Karpenter replace its nodes: drift)',
        run: (opts) =>
          printOutput(opts, OUTPUT_PATHS.karpenter, () => 'karpenter: missing in the profile: the EC2NodeClass needs role or instanceProfile, subnetSelectorTerms and securityGroupSelectorTerms (see soci-installer init)', io),
      }),

      command<ProfileOpts>({
        name: 'eksctl',
        description: `print ${OUTPUT_PATHS.eksctl}: an eksctl ClusterConfig with one managed node group`,
        flags: RENDERS,
        after: 'Example:\n  soci-installer eksctl -c soci.yaml > nodegroup.yaml && eksctl create nodegroup -f nodegroup.yaml',
        run: (opts) => printOutput(opts, OUTPUT_PATHS.eksctl, () => 'eksctl: missing in the profile: the ClusterConfig needs eksctl.region (and a cluster name)', io),
      }),

      command<ProfileOpts & { base64?: boolean }>({
        name: 'bottlerocket',
        description: `print ${OUTPUT_PATHS.bottlerocket}: Bottlerocket's native SOCI settings (its user data; parallel pull only)`,
        flags: [...RENDERS, BASE64],
        after: 'Example:\n  soci-installer bottlerocket -c soci.yaml > user-data.toml',
        run: (opts) => printOutput(opts, OUTPUT_PATHS.bottlerocket, async (plan) => (await import('./artifacts/bottlerocket.js')).bottlerocketRefusal(plan) ?? 'no Bottlerocket output', io),
      }),

      command<ProfileOpts & { name: string; ami?: string; amiFromSsm?: boolean; setDefault?: boolean; dryRun?: boolean; userDataFile?: string; json?: boolean; rollout?: string }>({
        name: 'launch-template',
        description: 'create an EC2 launch template with our user data, or add a version to an existing one (merging into its user data)',
        flags: [
          { flags: '--name <name>', help: 'launch template name', required: true },
          PROFILE,
          REGION,
          { flags: '--ami <id>', help: 'ImageId for a custom (baked) AMI; needs the full cluster block', conflicts: 'ami-from-ssm' },
          { flags: '--ami-from-ssm', help: "ImageId resolve:ssm: of the EKS AL2023 AMI's public parameter (needs node.arch and the cluster block)" },
          { flags: '--set-default', help: 'make the new version the default version' },
          { flags: '--dry-run', help: 'print the requests as JSON and call nothing' },
          { flags: '--user-data-file <file>', help: "with --dry-run: merge ours into this user data (the template's current one, base64-decoded) and show the result" },
          { flags: '--json', help: 'print the result as JSON' },
          CLUSTER,
          { flags: '--rollout <nodegroup>', help: 'point this managed node group at the new version (eks:UpdateNodegroupVersion), so nodes roll' },
        ],
        after: 'Examples:\n  soci-installer launch-template --name my-nodes -c soci.yaml --dry-run\n  soci-installer launch-template --name my-nodes -c soci.yaml --set-default --cluster demo --rollout ng-1',
        run: async (opts) => {
          if (opts.userDataFile !== undefined && !opts.dryRun) throw new UsageError("--user-data-file: only with --dry-run (a run merges into the template's current user data)");
          const lt = await import('./launch-template.js');
          // With --dry-run nothing is called, EKS included: a cluster to be read from EKS gets placeholders.
          const dry = opts.dryRun ? await profileForDryRun(opts) : undefined;
          const ltOpts = {
            name: opts.name,
            profile: dry ? dry.profile : await profileFrom(opts),
            ...(opts.ami !== undefined ? { ami: opts.ami } : {}),
            ...(opts.amiFromSsm ? { amiFromSsm: true } : {}),
            ...(opts.setDefault ? { setDefault: true } : {}),
            ...(opts.rollout ? { rollout: { nodegroup: opts.rollout, ...(opts.cluster ? { cluster: opts.cluster } : {}) } } : {}),
            ...(opts.userDataFile !== undefined ? { userData: { bytes: readUserDataFile(opts.userDataFile), path: opts.userDataFile } } : {}),
          };
          if (opts.dryRun) {
            const requests = lt.dryRun(ltOpts);
            io.stdout(`${JSON.stringify(dry?.note ? { ...requests, clusterNote: dry.note } : requests, null, 2)}\n`);
            return;
          }
          const region = { region: opts.region };
          const result = await lt.launchTemplate(ltOpts, {
            ec2: async () => (await import('./aws/ec2.js')).ec2Api(region),
            eks: async () => (await import('./aws/eks.js')).eksApi(region),
          });
          for (const w of result.warnings) io.stderr(`warning: ${w}\n`);
          const { warnings: _w, ...out } = result;
          io.stdout(opts.json ? `${JSON.stringify(out, null, 2)}\n` : lt.describeResult(result));
        },
      }),

      command<{ version: string; baseUrl?: string; arch?: ('amd64' | 'arm64')[]; write?: string }>({
        name: 'checksums',
        description: "fetch a soci release's published sha256 sums (needs the internet or a mirror)",
        flags: [
          { flags: '--version <version>', help: 'soci-snapshotter release, e.g. 0.15.0', required: true },
          { flags: '--base-url <url>', help: 'release mirror (as soci.releaseBaseUrl)' },
          { flags: '--arch <arch...>', help: 'architectures', choices: ['amd64', 'arm64'] },
          { flags: '--write <profile>', help: 'write soci.version and soci.sha256 into this profile (comments kept)' },
        ],
        after: 'Example:\n  soci-installer checksums --version 0.15.0 --write soci.yaml',
        run: async (opts) => {
          const { fetchChecksums, writeChecksums } = await import('./checksums.js');
          const sums = await fetchChecksums({ version: opts.version, ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}), ...(opts.arch ? { arches: opts.arch } : {}) });
          if (opts.write) {
            writeChecksums(opts.write, opts.version, sums);
            io.stdout(`pinned soci ${opts.version} (${Object.keys(sums).join(', ')}) in ${opts.write}\n`);
          } else {
            io.stdout(`soci:\n  version: ${opts.version}\n  sha256:\n${Object.entries(sums).map(([a, s]) => `    ${a}: ${s}\n`).join('')}`);
          }
        },
      }),

      command<{ config?: string; region?: string; ssm?: boolean; json?: boolean }>({
        name: 'ami',
        description: 'print the EKS AL2023 AMI the Packer build starts from, per architecture (needs AWS credentials)',
        flags: [
          PROFILE,
          { flags: '--region <region>', help: 'AWS region (default: ami.region, then AWS_REGION)' },
          { flags: '--ssm', help: "read EKS's recommended image_id SSM parameter instead of the newest image by name (what packer/ uses)" },
          JSON_OUT,
        ],
        after: 'Permissions: ec2:DescribeImages, ssm:GetParameter (on arn:aws:ssm:*::parameter/aws/service/eks/*).\nExample:\n  soci-installer ami -c soci.yaml --region us-west-2 --json',
        run: async (opts) => {
          const p = await planFile(opts.config);
          // Loaded here only: no other command pulls in the AWS SDK.
          const { formatAmiResult, resolveSourceAmis } = await import('./aws/ami.js');
          const result = await resolveSourceAmis(p, { region: opts.region, via: opts.ssm ? 'ssm' : 'ec2' });
          io.stdout(opts.json ? `${JSON.stringify(result, null, 2)}\n` : formatAmiResult(result));
        },
      }),

      command<{ config?: string; platform?: string; fromPods?: string; json?: boolean }>({
        name: 'check-image',
        description: "say whether images load lazily on the profile's nodes (SOCI index v2 per platform), from the registry alone",
        args: { usage: '[ref...]', help: 'image references (a tag or @sha256:... digest)' },
        flags: [
          PROFILE,
          { flags: '--platform <list>', help: "os/arch[,os/arch...] to check (default: the profile's node.arch, both when omitted)" },
          { flags: '--from-pods <file>', help: 'also every image in `kubectl get pods -A -o json` output ("-" for stdin)' },
          { flags: '--json', help: 'JSON for CI gates' },
        ],
        after:
          'Exit code: 0 every image ready, 1 some not (or a registry error), 2 bad input.\nCredentials: ~/.docker/config.json (auths, credHelpers, credsStore; $DOCKER_CONFIG), ECR through the AWS SDK.\nExample:\n  soci-installer check-image -c soci.yaml my.registry/app:1.4 --json',
        run: async (opts, refs) => {
          const ci = await import('./check-image/index.js');
          const p = await planFile(opts.config);
          let fromPods: import('./check-image/index.js').CheckInput['fromPods'];
          if (opts.fromPods !== undefined) {
            const origin = opts.fromPods === '-' ? 'stdin' : opts.fromPods;
            let text: string;
            try {
              text = readFileSync(opts.fromPods === '-' ? 0 : opts.fromPods, 'utf8');
            } catch (err) {
              throw new UsageError(`--from-pods ${origin}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
            }
            try {
              fromPods = { images: ci.imagesFromPods(text, origin), origin };
            } catch (err) {
              throw new UsageError((err as Error).message);
            }
            if (fromPods.images.length === 0 && refs.length === 0) throw new UsageError(`--from-pods ${origin}: no pod in it names an image; give the output of kubectl get pods -A -o json`);
          }
          const input = ci.parseInput({ refs, ...(fromPods ? { fromPods } : {}), ...(opts.platform !== undefined ? { platforms: opts.platform.split(',') } : {}) }, p);
          if ('problems' in input) throw new ProfileError(input.problems);
          const proxyNote = ci.useProxyFromEnv(process.env, process.getBuiltinModule('node:http'));
          if (proxyNote) io.stderr(`note: ${proxyNote}\n`);
          const outcome = await ci.checkImages(input, p);
          io.stdout(opts.json ? `${JSON.stringify(ci.toJson(outcome), null, 2)}\n` : ci.formatTable(outcome));
          if (!ci.allReady(outcome)) throw new NotReadyError('not every image is ready (see above)');
        },
      }),

      command({
        name: 'schema',
        description: 'print the JSON Schema of the profile (for editors)',
        flags: [],
        run: async () => io.stdout(`${JSON.stringify((await import('./profile/schema.js')).PROFILE_SCHEMA, null, 2)}\n`),
      }),
    ],
  };
}

/** Runs the command line (argv without node and the script). */
export function runCli(argv: string[], io: Io): Promise<void> {
  return runProgram(program(io), argv, io.stdout, io.stderr);
}
